"""Account and container listings: query parameters and the json / xml / plain renderings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from xml.sax.saxutils import escape, quoteattr

from stackbox.http import Request
from stackbox.storage.types import (
    NULL_VERSION,
    ContainerInfo,
    ContainerListing,
    ObjectEntry,
    ObjectListing,
    VersionEntry,
    VersionListing,
)
from stackbox.swift.errors import html_error
from stackbox.swift.headers import LISTING_LIMIT, is_true, iso_date
from stackbox.swift.object_meta import listed_content_type

if TYPE_CHECKING:
    from stackbox.storage.contract import ObjectStore

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "text/xml": "text/xml; charset=utf-8",
    "plain": "text/plain; charset=utf-8",
}
#: Accept media types -> listing format; `text/xml` is answered as such (also XML).
_ACCEPTED = (("application/json", "json"), ("application/xml", "xml"), ("text/xml", "text/xml"))
T = TypeVar("T")
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: How Swift's object versioning lists a delete marker (zero bytes, the empty MD5).
DELETE_MARKER_CONTENT_TYPE = "application/x-deleted;swift_versions_deleted=1"
_EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@dataclass(frozen=True, slots=True)
class ListingQuery:
    prefix: str = ""
    delimiter: str = ""
    marker: str = ""
    end_marker: str = ""
    limit: int = LISTING_LIMIT
    reverse: bool = False
    #: `path=`: only the objects directly "inside" a pseudo-directory (no subdirs listed).
    path_only: bool = False


def listing_query(request: Request, *, paths: bool = True) -> ListingQuery:
    """The listing parameters; `path=` only where Swift honours it (containers, not accounts)."""
    query = request.query
    path = query.get("path") if paths else None
    if path is not None:
        prefix = path.rstrip("/") + "/" if path else ""
        return ListingQuery(prefix, "/", query.get("marker", ""), query.get("end_marker", ""),
                            _limit(query.get("limit")), is_true(query.get("reverse")), path_only=True)
    return ListingQuery(query.get("prefix", ""), query.get("delimiter", ""), query.get("marker", ""),
                        query.get("end_marker", ""),
                        _limit(query.get("limit")), is_true(query.get("reverse")))


def _limit(raw: str | None) -> int:
    """Swift ignores a limit that is not a non-negative integer, and rejects one over the maximum."""
    try:
        limit = int(raw) if raw else LISTING_LIMIT
    except ValueError:
        return LISTING_LIMIT
    if limit < 0:
        return LISTING_LIMIT
    if limit > LISTING_LIMIT:
        raise html_error(412, f"Maximum limit is {LISTING_LIMIT}")
    return limit


#: Pages of subdirectories a `path=` listing reads through at most to fill its page (each page costs
#: O(limit): the engine seeks past a subdirectory's contents), so a request's work stays bounded.
_PATH_ROUNDS = 16
_PATH_BATCH = 1000


async def list_container(storage: ObjectStore, account: str, container: str,
                         query: ListingQuery) -> ObjectListing:
    """One page of a container listing; a `path=` listing as Swift's container server makes it."""
    if query.path_only:
        return await _path_listing(storage, account, container, query)
    return await storage.list_objects(account, container, prefix=query.prefix, delimiter=query.delimiter,
                                      marker=query.marker, end_marker=query.end_marker, limit=query.limit,
                                      reverse=query.reverse)


async def _path_listing(storage: ObjectStore, account: str, container: str,
                        query: ListingQuery) -> ObjectListing:
    """The objects directly under `query.prefix`: not the directory's own marker object, nor anything
    deeper, except an object named like a subdirectory (`a/b/`) where Swift's scan meets it before
    that directory's contents. Unlike rolled-up subdirs in a delimiter listing, skipped names do not
    count against the limit, so the page is filled from further reads."""
    objects: list[ObjectEntry] = []
    marker = query.marker
    if query.limit <= 0:
        return ObjectListing([], [], False, None)
    for _ in range(_PATH_ROUNDS):
        page = await storage.list_objects(account, container, prefix=query.prefix, delimiter="/",
                                          marker=marker, end_marker=query.end_marker,
                                          limit=max(query.limit - len(objects), _PATH_BATCH),
                                          reverse=query.reverse)
        # One query tells which subdirectories have an object of their own name (rarely any).
        named = await storage.current_meta(account, container, page.prefixes) if page.prefixes else {}
        dir_objects = [await _dir_object(storage, account, container, query, prefix, marker)
                       for prefix in page.prefixes if prefix in named]
        found = [*page.objects, *(entry for entry in dir_objects if entry is not None)]
        found.sort(key=_object_key, reverse=query.reverse)
        objects += [entry for entry in found if entry.key != query.prefix]
        if len(objects) >= query.limit or not page.truncated or page.next_marker is None:
            break
        marker = page.next_marker
    return ObjectListing(objects[:query.limit], [], False, None)


async def _dir_object(storage: ObjectStore, account: str, container: str, query: ListingQuery, prefix: str,
                      marker: str) -> ObjectEntry | None:
    """The object named `prefix` if a path listing shows it: ascending, it comes before everything
    under it; descending, after, so Swift shows it only when nothing else under it is in range."""
    under = (await storage.list_objects(account, container, prefix=prefix, marker=marker,
                                        end_marker=query.end_marker, limit=2 if query.reverse else 1,
                                        reverse=query.reverse)).objects
    if not under or under[-1].key != prefix or (query.reverse and len(under) > 1):
        return None
    return under[-1]


def listing_format(request: Request) -> str:
    """`format=` wins; else the Accept header; else plain text."""
    requested = request.query.get("format", "").lower()
    if requested in CONTENT_TYPES:
        return requested
    accept = request.headers.get("accept", "")
    for media_type, fmt in _ACCEPTED:
        if media_type in accept:
            return fmt
    return "plain"


def render_objects(listing: ObjectListing, fmt: str, container: str,
                   links: dict[str, dict[str, object]] | None = None, *, reverse: bool = False) -> bytes:
    """`links`: the extra JSON keys of the symlinks listed, by name (see `symlink.listed_links`)."""
    entries = _merged(listing.objects, listing.prefixes, _object_key, reverse)
    if fmt == "json":
        extra = links or {}
        # A subdir never shares its name with a listed object (such a key rolls up into it).
        return _json([_object_json(entry) | extra.get(entry if isinstance(entry, str) else entry.key, {})
                      for entry in entries])
    if fmt != "plain":
        if not entries:
            return f"{XML_HEAD}<container name={quoteattr(container)} />".encode()
        items = "".join(_object_xml(entry) for entry in entries)
        return f"{XML_HEAD}<container name={quoteattr(container)}>{items}</container>".encode()
    return _plain(entry if isinstance(entry, str) else entry.key for entry in entries)


def render_versions(listing: VersionListing, fmt: str, container: str, *, reverse: bool = False) -> bytes:
    """A `?versions` listing: JSON gives each version `version_id` and `is_latest` (newest first
    within an object); XML and plain text list versions as objects, as Swift's formats do."""
    objects = [_version_as_object(entry) for entry in listing.versions]
    if fmt != "json":
        as_objects = ObjectListing(objects, listing.prefixes, listing.truncated, None)
        return render_objects(as_objects, fmt, container, reverse=reverse)
    pairs = list(zip(objects, listing.versions, strict=True))
    entries = _merged(pairs, listing.prefixes, lambda pair: pair[0].key, reverse)
    return _json([_version_json(entry) for entry in entries])


def _version_as_object(entry: VersionEntry) -> ObjectEntry:
    if entry.delete_marker:
        return ObjectEntry(entry.key, 0, _EMPTY_MD5, DELETE_MARKER_CONTENT_TYPE, entry.last_modified, None)
    return ObjectEntry(entry.key, entry.size, entry.etag, entry.content_type, entry.last_modified,
                       entry.manifest_type)


def _version_json(entry: tuple[ObjectEntry, VersionEntry] | str) -> dict[str, object]:
    if isinstance(entry, str):
        return {"subdir": entry}
    obj, version = entry
    document = _object_json(obj)
    # Swift lists a null version from the container itself (version_id first), the others from
    # its versions container (is_latest first).
    if version.version_id == NULL_VERSION:
        return {**document, "version_id": NULL_VERSION, "is_latest": version.latest}
    return {**document, "is_latest": version.latest, "version_id": version.version_id}


def render_containers(listing: ContainerListing, fmt: str, account: str, *, reverse: bool = False) -> bytes:
    """Account XML puts each entry on its own line, unlike container XML (as Swift does)."""
    entries = _merged(listing.containers, listing.prefixes, _container_key, reverse)
    if fmt == "json":
        return _json([_container_json(entry) for entry in entries])
    if fmt != "plain":
        lines = [f"<account name={quoteattr(account)}>", *map(_container_xml, entries), "</account>"]
        return (XML_HEAD + "\n".join(lines)).encode()
    return _plain(entry if isinstance(entry, str) else entry.name for entry in entries)


def _json(document: list[dict[str, object]]) -> bytes:
    """Python's default JSON style (`", "` separators, non-ASCII escaped), byte for byte Swift's."""
    return json.dumps(document).encode()


def _merged(items: Sequence[T], prefixes: list[str], name: Callable[[T], str],
            reverse: bool = False) -> list[T | str]:
    """Entries and common prefixes interleaved in listing order (the engine returns them apart)."""
    if not prefixes:
        return list(items)

    def sort_key(entry: T | str) -> str:
        return entry if isinstance(entry, str) else name(entry)

    return sorted([*items, *prefixes], key=sort_key, reverse=reverse)


def _object_key(entry: ObjectEntry) -> str:
    return entry.key


def _container_key(entry: ContainerInfo) -> str:
    return entry.name


def _plain(names: Iterable[str]) -> bytes:
    return "".join(f"{name}\n" for name in names).encode()


def _object_json(entry: ObjectEntry | str) -> dict[str, object]:
    if isinstance(entry, str):
        return {"subdir": entry}
    document: dict[str, object] = {
        "bytes": entry.size, "hash": entry.etag, "name": entry.key,
        "content_type": listed_content_type(entry.content_type),
        "last_modified": iso_date(entry.last_modified)}
    if entry.manifest_type == "slo":
        document["slo_etag"] = f'"{entry.etag}"'
    return document


def _container_json(entry: ContainerInfo | str) -> dict[str, object]:
    if isinstance(entry, str):
        return {"subdir": entry}
    return {"name": entry.name, "count": entry.object_count, "bytes": entry.bytes_used,
            "last_modified": iso_date(entry.created), "storage_policy": "Policy-0"}


def _object_xml(entry: ObjectEntry | str) -> str:
    if isinstance(entry, str):
        return f"<subdir name={quoteattr(entry)}><name>{escape(entry)}</name></subdir>"
    return (f"<object><name>{escape(entry.key)}</name><hash>{entry.etag}</hash><bytes>{entry.size}</bytes>"
            f"<content_type>{escape(listed_content_type(entry.content_type))}</content_type>"
            f"<last_modified>{iso_date(entry.last_modified)}</last_modified></object>")


def _container_xml(entry: ContainerInfo | str) -> str:
    if isinstance(entry, str):
        return f"<subdir name={quoteattr(entry)} />"
    return (f"<container><name>{escape(entry.name)}</name><count>{entry.object_count}</count>"
            f"<bytes>{entry.bytes_used}</bytes><last_modified>{iso_date(entry.created)}</last_modified>"
            "<storage_policy>Policy-0</storage_policy></container>")
