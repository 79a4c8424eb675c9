"""Object attributes from request headers (user metadata, content headers, tags, ACL) and back."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Mapping
from urllib.parse import parse_qsl

from stackbox.s3 import xml
from stackbox.s3.errors import S3Error
from stackbox.storage.types import Checksum, ObjectAttrs, ObjectInfo

META_PREFIX = "x-amz-meta-"
#: The engine's namespace for user metadata, shared with Swift (`X-Object-Meta-*` lands there too).
USER_META = "meta:"
#: S3 limits the user metadata (names without the prefix, plus values) to 2 KiB.
MAX_META_BYTES = 2048
MAX_KEY_BYTES = 1024
MAX_OBJECT_SIZE = 5 << 30
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
#: Content headers stored with an object (lower case, as the Swift API stores them) and returned on GET/HEAD.
STORED_HEADERS = ("content-encoding", "content-disposition", "content-language", "cache-control", "expires")
CANNED_ACLS = frozenset({"private", "public-read", "public-read-write", "authenticated-read",
                         "bucket-owner-read", "bucket-owner-full-control"})
MAX_OBJECT_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_TAG_PUNCTUATION = frozenset("+-=._:/@")


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """`x-amz-meta-*` as the engine stores user metadata (`meta:<name>`); MetadataTooLarge past 2 KiB."""
    meta = {name[len(META_PREFIX):]: value for name, value in headers.items() if name.startswith(META_PREFIX)}
    size = sum(len(name.encode()) + len(value.encode("latin-1", "replace")) for name, value in meta.items())
    if size > MAX_META_BYTES:
        raise S3Error("MetadataTooLarge", Size=str(size), MaxSizeAllowed=str(MAX_META_BYTES))
    return {USER_META + name: value for name, value in meta.items()}


def content_headers(headers: Mapping[str, str]) -> dict[str, str]:
    stored = {name: headers[name] for name in STORED_HEADERS if name in headers}
    encoding = stored.get("content-encoding")
    if encoding is not None:
        # aws-chunked only frames this request's body; it is not how the object is encoded. The other
        # codings are kept as sent (`aws-chunked, gzip` is stored as `gzip`, `gzip, br` untouched).
        parts = encoding.split(",")
        kept = [part for part in parts if part.strip().lower() != "aws-chunked"]
        if len(kept) < len(parts):
            encoding = ",".join(kept).strip()
        if encoding:
            stored["content-encoding"] = encoding
        else:
            del stored["content-encoding"]
    return stored


def canned_acl(headers: Mapping[str, str]) -> str | None:
    acl = headers.get("x-amz-acl")
    if acl is None:
        return None
    if acl not in CANNED_ACLS:
        raise S3Error("InvalidArgument", ArgumentName="x-amz-acl", ArgumentValue=acl)
    return acl


def check_storage_class(headers: Mapping[str, str]) -> None:
    """Objects are STANDARD only: another class would be a promise (of price, of retrieval) not kept."""
    asked = headers.get("x-amz-storage-class")
    if asked is not None and asked.strip() != "STANDARD":
        raise S3Error("InvalidStorageClass", StorageClassRequested=asked)


def object_attrs(headers: Mapping[str, str]) -> ObjectAttrs:
    """What a PutObject / CreateMultipartUpload / CopyObject(REPLACE) sets besides the data."""
    check_storage_class(headers)
    return ObjectAttrs(
        content_type=headers.get("content-type") or DEFAULT_CONTENT_TYPE,
        meta=user_metadata(headers),
        headers=content_headers(headers),
        tags=tags_from_header(headers.get("x-amz-tagging")),
        acl=canned_acl(headers),
    )


def tags_from_header(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    return validated_tags(parse_qsl(value, keep_blank_values=True), MAX_OBJECT_TAGS)


def validated_tags(pairs: list[tuple[str, str]], limit: int) -> dict[str, str]:
    tags = dict(pairs)
    if len(tags) != len(pairs):
        raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
    if len(tags) > limit:
        raise S3Error("BadRequest", "Object tags cannot be greater than 10" if limit == MAX_OBJECT_TAGS
                      else f"Bucket tags cannot be greater than {limit}")
    for name, value in tags.items():
        if not name or len(name) > MAX_TAG_KEY or not _tag_text(name):
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if name.lower().startswith("aws:"):
            raise S3Error("InvalidTag", "Your TagKey cannot be prefixed with aws:")
        if len(value) > MAX_TAG_VALUE:
            raise S3Error("InvalidTag", "The TagValue you have provided is too long")
        if not _tag_text(value):
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")
    return tags


def _tag_text(text: str) -> bool:
    """AWS's tag alphabet: letters, digits and spaces of any script, and `+ - = . _ : / @`."""
    return all(char in _TAG_PUNCTUATION or unicodedata.category(char)[0] in "LNZ" for char in text)


def content_md5_hex(headers: Mapping[str, str]) -> str | None:
    """The Content-MD5 header as hex; InvalidDigest unless it is the base64 of 16 bytes."""
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", ContentMD5=value)
    return raw.hex()


def check_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Size=str(len(key.encode("utf-8", "surrogatepass"))),
                      MaxSizeAllowed=str(MAX_KEY_BYTES))


def checksum_value(checksum: Checksum) -> str:
    """The value as S3 shows it: a COMPOSITE multipart checksum carries its part count (`...-3`)."""
    if checksum.type == "COMPOSITE" and checksum.part_values and "-" not in checksum.value:
        return f"{checksum.value}-{len(checksum.part_values)}"
    return checksum.value


def checksum_element(checksum: Checksum) -> str:
    return xml.element(f"Checksum{checksum.algorithm.upper()}", checksum_value(checksum))


def object_headers(obj: ObjectInfo, *, checksum: bool = False) -> list[tuple[str, str]]:
    """The headers GET and HEAD answer with for `obj` (without Content-Length / Content-Range)."""
    headers = [
        ("content-type", obj.content_type),
        ("etag", xml.etag_header(obj.etag)),
        ("last-modified", xml.http_date(obj.last_modified)),
        ("accept-ranges", "bytes"),
    ]
    headers += [(META_PREFIX + name[len(USER_META):], value) for name, value in obj.meta.items()
                if name.startswith(USER_META)]
    headers += [(name.lower(), value) for name, value in obj.headers.items()]
    if obj.tags:
        headers.append(("x-amz-tagging-count", str(len(obj.tags))))
    if checksum and obj.checksum is not None:
        headers.append((f"x-amz-checksum-{obj.checksum.algorithm}", checksum_value(obj.checksum)))
        headers.append(("x-amz-checksum-type", obj.checksum.type))
    return headers
