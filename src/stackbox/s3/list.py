"""Listings: ListBuckets, ListObjects (v1 and v2) and ListMultipartUploads."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from urllib.parse import quote

from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.grantees import display_name
from stackbox.storage.types import ContainerListing, ObjectEntry, ObjectListing, UploadInfo

MAX_KEYS = 1000
_MAX_BUCKETS = 10_000
_MAX_INT = 2**31 - 1


def owner_fields(call: S3Call) -> str:
    """`<ID>` and `<DisplayName>` of the owner: buckets and objects belong to the project holding them."""
    context = call.context
    if context is not None and context.project_id is not None and call.account == context.account:
        owner_id, name = context.project_id, context.project_name or context.project_id
    else:
        owner_id = call.account.removeprefix("AUTH_")
        name = display_name(call.cloud, owner_id)
    return xml.element("ID", owner_id) + xml.element("DisplayName", name)


def owner(call: S3Call, tag: str = "Owner") -> str:
    return f"<{tag}>{owner_fields(call)}</{tag}>"


#: ListBuckets' paging parameters: with any of them S3 pages, and names each bucket's region.
_BUCKET_PAGING = ("max-buckets", "continuation-token", "prefix", "bucket-region")


async def list_buckets(call: S3Call) -> Response:
    query = call.query
    paged = any(name in query for name in _BUCKET_PAGING)
    limit = _max_buckets(query.get("max-buckets"))
    token = query.get("continuation-token")
    marker = _decode_token(token) if token else ""
    prefix = query.get("prefix", "")
    region = call.cloud.settings.s3_region
    if query.get("bucket-region", region) != region:
        listing = ContainerListing([], [], False, None)
    else:
        listing = await call.storage.list_containers(call.account, prefix=prefix, marker=marker, limit=limit)
    region_element = xml.element("BucketRegion", region) if paged else ""
    buckets = "".join(
        "<Bucket>" + xml.element("Name", info.name) + xml.element("CreationDate", xml.iso8601(info.created))
        + region_element + "</Bucket>" for info in listing.containers)
    children = [f"<Buckets>{buckets}</Buckets>", owner(call)]
    if listing.truncated and listing.next_marker:
        children.append(xml.element("ContinuationToken", _encode_token(listing.next_marker)))
    if "prefix" in query:
        children.append(xml.element("Prefix", prefix))
    return xml.xml_response("ListAllMyBucketsResult", children)


def _max_buckets(raw: str | None) -> int:
    if raw is None:
        return _MAX_BUCKETS
    value = decimal(raw.strip())
    if value is None or not 1 <= value <= _MAX_BUCKETS:
        raise S3Error("InvalidArgument", "Argument max-buckets must be an integer between 1 and "
                      f"{_MAX_BUCKETS}", ArgumentName="max-buckets", ArgumentValue=raw)
    return value


def asked_url_encoding(query: Mapping[str, str]) -> bool:
    """Whether the client asked for URL-encoded names (`encoding-type=url`, the one value S3 knows)."""
    encoding = query.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
    return encoding is not None


def listing_encoder(asked: bool, echoed: Iterable[str], keys: Iterable[str],
             prefixes: Iterable[str]) -> Callable[[str], str]:
    """How this page writes names. A page holding a name XML 1.0 cannot carry (a control character
    stored through Swift) is URL-encoded whole even unasked, and says so in EncodingType: AWS writes
    `&#x1;`, which no XML parser reads, and encoding only that name would make it ambiguous."""
    if asked or not all(xml.carries(name) for name in chain(echoed, keys, prefixes)):
        return url_encode
    return _identity


def _identity(value: str) -> str:
    return value


def url_encode(value: str) -> str:
    return quote(value, safe="/", errors="surrogatepass")


def max_keys(query: Mapping[str, str], name: str = "max-keys") -> tuple[int, int]:
    """(the value to echo in the answer, the page size): S3 echoes what was asked, pages at most 1000."""
    raw = query.get(name)
    if raw is None:
        return MAX_KEYS, MAX_KEYS
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      ArgumentName=name, ArgumentValue=raw) from None
    if not 0 <= value <= _MAX_INT:
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between 0 and {_MAX_INT}",
                      ArgumentName=name, ArgumentValue=raw)
    return value, min(value, MAX_KEYS)


async def list_objects(call: S3Call) -> Response:
    query = call.query
    version2 = query.get("list-type") == "2"
    url_asked = asked_url_encoding(query)
    asked, limit = max_keys(query)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    if delimiter and query.get("allow-unordered", "").lower() == "true":
        # Ceph RGW's extension (s3cmd, s3-tests send it): an unordered listing cannot roll up prefixes.
        # Listings here are always ordered, which an unordered listing may be.
        raise S3Error("InvalidArgument", "allow-unordered cannot be used with a delimiter",
                      ArgumentName="allow-unordered", ArgumentValue=query["allow-unordered"])
    if version2:
        # S3 ignores start-after once a continuation token is given (MinIO's SDK sends both).
        token = query.get("continuation-token")
        marker = _decode_token(token) if token is not None else query.get("start-after", "")
    else:
        marker = query.get("marker", "")
    listing = await _page(call, prefix, delimiter, marker, limit)
    echoed = (prefix, delimiter, query.get("marker", ""), query.get("start-after", ""),
              listing.next_marker or "")
    encode = listing_encoder(url_asked, echoed, (entry.key for entry in listing.objects), listing.prefixes)
    children = [xml.element("Name", call.bucket), xml.element("Prefix", encode(prefix))]
    if version2:
        children += _v2_fields(query, listing, encode)
    else:
        children.append(xml.element("Marker", encode(marker)))
        if delimiter and listing.next_marker is not None:
            children.append(xml.element("NextMarker", encode(listing.next_marker)))
    children += page_flags(asked, delimiter, encode, listing.truncated)
    fetch_owner = not version2 or query.get("fetch-owner") == "true"
    owner_element = owner(call) if fetch_owner else ""
    children += [_contents(entry, encode, owner_element) for entry in listing.objects]
    children += [common_prefix(prefix, encode) for prefix in listing.prefixes]
    return xml.xml_response("ListBucketResult", children)


async def _page(call: S3Call, prefix: str, delimiter: str, marker: str, limit: int) -> ObjectListing:
    if limit == 0:
        await call.storage.get_container(call.account, call.bucket)
        return ObjectListing([], [], False, None)
    return await call.storage.list_objects(call.account, call.bucket, prefix=prefix, delimiter=delimiter,
                                           marker=marker, limit=limit)


def _v2_fields(query: Mapping[str, str], listing: ObjectListing, encode: Callable[[str], str]) -> list[str]:
    """The ListObjectsV2-only elements, in the order S3 writes them."""
    fields = []
    if "continuation-token" in query:
        fields.append(xml.element("ContinuationToken", query["continuation-token"]))
    if listing.next_marker is not None:
        fields.append(xml.element("NextContinuationToken", _encode_token(listing.next_marker)))
    if "start-after" in query:
        fields.append(xml.element("StartAfter", encode(query["start-after"])))
    fields.append(xml.element("KeyCount", len(listing.objects) + len(listing.prefixes)))
    return fields


def page_flags(asked: int, delimiter: str, encode: Callable[[str], str], truncated: bool) -> list[str]:
    """MaxKeys, Delimiter, EncodingType and IsTruncated, as object and version listings end their head."""
    flags = [xml.element("MaxKeys", asked)]
    if delimiter:
        flags.append(xml.element("Delimiter", encode(delimiter)))
    if encode is url_encode:
        flags.append(xml.element("EncodingType", "url"))
    flags.append(xml.element("IsTruncated", truncated))
    return flags


def common_prefix(prefix: str, encode: Callable[[str], str]) -> str:
    return f"<CommonPrefixes>{xml.element('Prefix', encode(prefix))}</CommonPrefixes>"


def _contents(entry: ObjectEntry, encode: Callable[[str], str], owner_element: str) -> str:
    return ("<Contents>" + xml.element("Key", encode(entry.key))
            + xml.element("LastModified", xml.iso8601(entry.last_modified))
            + xml.element("ETag", xml.etag_header(entry.etag)) + xml.element("Size", entry.size)
            + owner_element + "<StorageClass>STANDARD</StorageClass></Contents>")


def _encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token", ArgumentValue=token) from None


async def list_uploads(call: S3Call) -> Response:
    query = call.query
    url_asked = asked_url_encoding(query)
    asked, limit = max_keys(query, "max-uploads")
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    key_marker, id_marker = query.get("key-marker", ""), query.get("upload-id-marker", "")
    listing = await call.storage.list_uploads(call.account, call.bucket, prefix=prefix, delimiter=delimiter,
                                              key_marker=key_marker, upload_id_marker=id_marker, limit=limit)
    echoed = (prefix, delimiter, key_marker, listing.next_key_marker or "")
    encode = listing_encoder(url_asked, echoed, (upload.key for upload in listing.uploads), listing.prefixes)
    children = [xml.element("Bucket", call.bucket), xml.element("KeyMarker", encode(key_marker)),
                xml.element("UploadIdMarker", id_marker),
                xml.element("NextKeyMarker", encode(listing.next_key_marker or "")),
                xml.element("NextUploadIdMarker", listing.next_upload_id_marker or "")]
    if delimiter:
        children.append(xml.element("Delimiter", encode(delimiter)))
    if "prefix" in query:
        children.append(xml.element("Prefix", encode(prefix)))
    children.append(xml.element("MaxUploads", asked))
    if encode is url_encode:
        children.append(xml.element("EncodingType", "url"))
    children.append(xml.element("IsTruncated", listing.truncated))
    children += [_upload(call, upload, encode) for upload in listing.uploads]
    children += [common_prefix(prefix, encode) for prefix in listing.prefixes]
    return xml.xml_response("ListMultipartUploadsResult", children)


def _upload(call: S3Call, upload: UploadInfo, encode: Callable[[str], str]) -> str:
    algorithm = upload.checksum_algorithm
    return ("<Upload>" + xml.element("Key", encode(upload.key)) + xml.element("UploadId", upload.upload_id)
            + owner(call, "Initiator") + owner(call) + "<StorageClass>STANDARD</StorageClass>"
            + xml.element("Initiated", xml.iso8601(upload.initiated))
            + (xml.element("ChecksumAlgorithm", algorithm.upper()) if algorithm else "") + "</Upload>")
