"""Bulk operations: `?bulk-delete` (POST a newline-separated list of paths) and `?extract-archive=`
(PUT a tar, tar.gz or tar.bz2 whose files become objects). Both answer 200 with a report, as Swift's
bulk middleware does, in JSON when the client accepts it and as text otherwise."""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any, Literal
from urllib.parse import unquote
from xml.sax.saxutils import escape

from stackbox.http import BodyTooLarge, Response
from stackbox.storage.types import ContainerNotEmpty, NoSuchContainer, ObjectAttrs, StorageError
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError, html_error
from stackbox.swift.headers import MAX_CONTAINER_NAME_LENGTH, MAX_FILE_SIZE, MAX_OBJECT_NAME_LENGTH
from stackbox.swift.object_meta import content_type

MAX_DELETES_PER_REQUEST = 10_000
MAX_FAILED_DELETES = 1000
MAX_CONTAINERS_PER_EXTRACTION = 10_000
MAX_FAILED_EXTRACTIONS = 1000
MAX_PATH_LIST = MAX_DELETES_PER_REQUEST * (MAX_CONTAINER_NAME_LENGTH + MAX_OBJECT_NAME_LENGTH + 2) * 3
ARCHIVE_MODES: dict[str, Literal["r:", "r:gz", "r:bz2"]] = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2"}
_READ_CHUNK = 1 << 20


def bulk_report(call: Call, fields: dict[str, Any], errors: list[list[str]], ok_status: str,
                failure: str = "") -> Response:
    """Swift's bulk report in the format the client accepts (JSON, XML, else text); `failure` is
    the Response Body of a request that failed as a whole (an unreadable archive)."""
    status = "400 Bad Request" if errors or failure else ok_status
    report = {"Response Status": status, "Response Body": failure, **fields}
    accept = call.headers.get("accept", "")
    if "application/json" in accept:
        return Response(json.dumps({**report, "Errors": errors}).encode(), 200,
                        content_type="application/json")
    for media_type in ("application/xml", "text/xml"):
        if media_type in accept:
            root = "delete" if "Number Deleted" in fields else "extract"
            return Response(_xml_report(root, report, errors), 200, content_type=media_type)
    lines = [f"{name}: {report[name]}\n" for name in sorted(report)]
    lines += ["Errors:\n", *(f"{path}, {problem}\n" for path, problem in errors)]
    return Response("".join(lines).encode(), 200, content_type="text/plain")


def _xml_report(root: str, report: dict[str, Any], errors: list[list[str]]) -> bytes:
    lines = [f"<{root}>"]
    for name in sorted(report):
        tag = name.replace(" ", "_").lower()
        lines.append(f"<{tag}>{escape(str(report[name]))}</{tag}>")
    lines.append("<errors>")
    lines += [f"<object><name>{escape(path)}</name><status>{escape(problem)}</status></object>"
              for path, problem in errors]
    lines += ["</errors>", f"</{root}>", ""]
    return "\n".join(lines).encode()


# ---------------------------------------------------------------------------------------------- delete


async def bulk_delete(call: Call) -> Response:
    try:
        raw = await call.request.body(MAX_PATH_LIST)
    except BodyTooLarge:
        raise SwiftError(413) from None
    paths = [unquote(line.strip()) for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(paths) > MAX_DELETES_PER_REQUEST:
        raise SwiftError(413, f"Maximum Bulk Deletes: {MAX_DELETES_PER_REQUEST} per request")
    if call.container:
        paths = [path if path.startswith("/") else f"/{call.container}/{path}" for path in paths]
    return deletion_report(call, paths)


def deletion_report(call: Call, paths: list[str]) -> Response:
    """Delete `/container/object` and `/container` paths of the caller's account, objects first."""
    deleted = not_found = 0
    errors: list[list[str]] = []
    for path in sorted(paths, key=lambda p: p.count("/") < 2):
        outcome = _delete_path(call, path)
        if outcome is True:
            deleted += 1
        elif outcome is False:
            not_found += 1
        else:
            errors.append([path, outcome])
            if len(errors) >= MAX_FAILED_DELETES:
                break
    return bulk_report(call, {"Number Deleted": deleted, "Number Not Found": not_found}, errors, "200 OK")


def _delete_path(call: Call, path: str) -> bool | str:
    """True if deleted, False if absent, else the failure's status line."""
    container, _, key = path.lstrip("/").partition("/")
    if not container:
        return "400 Bad Request"
    try:
        if key:
            return call.storage.delete_object(call.account, container, key)
        call.storage.delete_container(call.account, container)
        return True
    except NoSuchContainer:
        return False
    except ContainerNotEmpty:
        return "409 Conflict"


# ---------------------------------------------------------------------------------------------- extract


async def extract_archive(call: Call) -> Response:
    mode = ARCHIVE_MODES.get(call.query.get("extract-archive", ""))
    if mode is None:
        raise html_error(400, "Unsupported archive format")
    with tempfile.TemporaryFile() as spool:
        await _spool(call, spool)
        try:
            archive = tarfile.open(fileobj=spool, mode=mode)  # noqa: SIM115 (closed below)
        except (tarfile.TarError, EOFError, OSError) as error:
            return _invalid_archive(call, 0, [], error)
        with archive:
            return await _extract(call, archive)


def _invalid_archive(call: Call, created: int, errors: list[list[str]], error: Exception) -> Response:
    return bulk_report(call, {"Number Files Created": created}, errors, "201 Created",
                       failure=f"Invalid Tar File: {error}")


async def _spool(call: Call, spool: IO[bytes]) -> None:
    size = 0
    async for chunk in call.request.stream():
        size += len(chunk)
        if size > MAX_FILE_SIZE:
            raise SwiftError(413)
        spool.write(chunk)
    spool.seek(0)


async def _extract(call: Call, archive: tarfile.TarFile) -> Response:
    created = 0
    containers: set[str] = set()
    errors: list[list[str]] = []
    try:
        for member in archive:
            if not member.isfile():
                continue
            target = _target(call, member.name)
            if target is None:
                continue
            problem = await _store_member(call, archive, member, target, containers)
            if problem is None:
                created += 1
            else:
                errors.append(["/".join(target), problem])
                if len(errors) >= MAX_FAILED_EXTRACTIONS:
                    break
    except (tarfile.TarError, EOFError, OSError) as error:
        return _invalid_archive(call, created, errors, error)
    return bulk_report(call, {"Number Files Created": created}, errors, "201 Created")


def _target(call: Call, member_name: str) -> tuple[str, str] | None:
    """(container, object) for an archive path, relative to the request's container/prefix."""
    name = member_name.lstrip("./").lstrip("/")
    if call.container:
        prefix = f"{call.obj}/" if call.obj and not call.obj.endswith("/") else call.obj
        return (call.container, prefix + name) if name else None
    container, _, key = name.partition("/")
    return (container, key) if container and key else None


async def _store_member(call: Call, archive: tarfile.TarFile, member: tarfile.TarInfo,
                        target: tuple[str, str], containers: set[str]) -> str | None:
    container, key = target
    if len(key.encode()) > MAX_OBJECT_NAME_LENGTH or len(container) > MAX_CONTAINER_NAME_LENGTH:
        return "400 Bad Request"
    if container not in containers:
        if len(containers) >= MAX_CONTAINERS_PER_EXTRACTION:
            return "400 Bad Request"
        call.storage.create_container(call.account, container)
        containers.add(container)
    data = archive.extractfile(member)
    if data is None:
        return None
    try:
        attrs = ObjectAttrs(content_type=content_type({}, key))
        await call.storage.put_object(call.account, container, key, _chunks(data), attrs=attrs)
    except StorageError:
        return "400 Bad Request"
    return None


async def _chunks(data: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := data.read(_READ_CHUNK):
        yield chunk
