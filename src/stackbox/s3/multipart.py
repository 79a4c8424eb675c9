"""Multipart uploads: Create, UploadPart, Complete, Abort, ListParts (UploadPartCopy is in copy.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import cast
from xml.etree.ElementTree import Element

from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import sse, xml
from stackbox.s3.acl import requested_object_acl
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import check_key, checksum_element, object_attrs
from stackbox.s3.list import max_keys, owner
from stackbox.s3.object_lock import requested_lock
from stackbox.s3.put import write_checks, write_preconditions, written_headers
from stackbox.s3.signature.checksums import ALGORITHMS, algorithm_of_header, combine_full_object, composite
from stackbox.s3.versioning import version_headers
from stackbox.storage import types as storage
from stackbox.storage.types import Checksum, ChecksumType, ObjectInfo, PartInfo, UploadInfo

MAX_PARTS = 10_000
MIN_PART_SIZE = 5 << 20
MAX_PART_SIZE = 5 << 30
_CHECKSUM_TYPES = ("FULL_OBJECT", "COMPOSITE")
_CRCS = ("crc32", "crc32c", "crc64nvme")
#: The initiator recorded for uploads started without credentials.
ANONYMOUS = "anonymous"


def part_number(query: Mapping[str, str]) -> int:
    raw = query.get("partNumber", "")
    number = decimal(raw)
    if number is None or not 1 <= number <= MAX_PARTS:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=raw)
    return number


async def current_upload(call: S3Call) -> UploadInfo:
    """The upload named by `?uploadId=`; NoSuchUpload unless it is an upload of this very key."""
    upload_id = call.query["uploadId"]
    upload = await call.storage.get_upload(call.account, call.bucket, upload_id)
    if upload.key != call.key:
        raise storage.NoSuchUpload(upload_id)
    return upload


async def create_upload(call: S3Call) -> Response:
    check_key(call.key)
    algorithm, checksum_type = _upload_checksum(call.headers)
    attrs = dataclasses.replace(object_attrs(call.headers), lock=await requested_lock(call),
                                acl=await requested_object_acl(call),
                                encryption=await sse.requested_encryption(call))
    upload = await call.storage.create_upload(call.account, call.bucket, call.key, attrs,
                                              checksum_algorithm=algorithm, checksum_type=checksum_type,
                                              initiator=_caller(call))
    headers = sse.encryption_headers(call, upload.sealing, written=True)
    if upload.checksum_algorithm is not None and upload.checksum_type is not None:
        headers += [("x-amz-checksum-algorithm", upload.checksum_algorithm.upper()),
                   ("x-amz-checksum-type", upload.checksum_type)]
    children = [xml.element("Bucket", call.bucket), xml.element("Key", call.key),
                xml.element("UploadId", upload.upload_id)]
    return xml.xml_response("InitiateMultipartUploadResult", children, headers=headers)


def _upload_checksum(headers: Mapping[str, str]) -> tuple[str | None, ChecksumType | None]:
    raw_algorithm = headers.get("x-amz-checksum-algorithm")
    raw_type = headers.get("x-amz-checksum-type")
    algorithm = raw_algorithm.strip().lower() if raw_algorithm else None
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported.")
    checksum_type = raw_type.strip().upper() if raw_type else None
    if checksum_type is not None and checksum_type not in _CHECKSUM_TYPES:
        raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    if algorithm is None:
        if checksum_type is not None:
            raise S3Error("InvalidRequest", "The x-amz-checksum-type header can only be used with the "
                          "x-amz-checksum-algorithm header.")
        return None, None
    # As AWS: COMPOSITE unless asked otherwise; CRC64NVME has only a FULL_OBJECT form, SHAs only COMPOSITE.
    if checksum_type is None:
        checksum_type = "FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE"
    refused = (checksum_type == "FULL_OBJECT" and algorithm not in _CRCS) \
        or (checksum_type == "COMPOSITE" and algorithm == "crc64nvme")
    if refused:
        raise S3Error("InvalidRequest", f"The {checksum_type} checksum type cannot be used with the "
                      f"{algorithm} checksum algorithm.")
    return algorithm, cast(ChecksumType, checksum_type)


async def upload_part(call: S3Call) -> Response:
    number = part_number(call.query)
    upload = await current_upload(call)
    checks = write_checks(call, max_length=MAX_PART_SIZE)
    part = await call.storage.put_part(call.account, call.bucket, upload.upload_id, number, call.payload(),
                                       checks, customer_key=sse.customer_key_of(call))
    checksum = Checksum(upload.checksum_algorithm, part.checksum) \
        if upload.checksum_algorithm and part.checksum else None
    headers = written_headers(part.etag, checksum) + sse.encryption_headers(call, upload.sealing)
    return Response(b"", 200, headers)


def _caller(call: S3Call) -> str:
    return call.context.user_id if call.context is not None else ANONYMOUS


def _check_owner_or_initiator(call: S3Call, upload: UploadInfo) -> None:
    """AbortMultipartUpload and ListParts are the bucket owner's (the project's readers and writers,
    as the route's access says) and the initiator's: anyone else a bucket ACL or policy lets in (an
    anonymous caller, another project's user) may only touch the uploads they started, as in S3."""
    context = call.context
    owner_side = context is not None and context.account == call.account
    if not owner_side and upload.initiator != _caller(call):
        raise S3Error("AccessDenied")


async def abort_upload(call: S3Call) -> Response:
    upload = await current_upload(call)
    _check_owner_or_initiator(call, upload)
    await call.storage.abort_upload(call.account, call.bucket, upload.upload_id)
    return Response(b"", 204)


async def complete_upload(call: S3Call) -> Response:
    try:
        upload = await current_upload(call)
    except storage.NoSuchUpload:
        return await _repeated_completion(call)
    upload_id = upload.upload_id
    root = await _completion_document(call)
    requested = _requested_parts(root)
    await _check_declared_checksums(call, upload, requested)
    listed = [(number, etag) for number, etag, _ in requested]
    try:
        info = await call.storage.complete_upload(call.account, call.bucket, upload_id, listed,
                                                  preconditions=write_preconditions(call),
                                                  min_part_size=MIN_PART_SIZE)
    except storage.InvalidPart as error:
        raise S3Error("InvalidPart", UploadId=upload_id, PartNumber=str(error.number),
                      ETag=dict(listed).get(error.number, "").strip().strip('"')) from None
    except storage.EntityTooSmall as error:
        raise await _too_small(call, upload_id, error.number) from None
    except storage.InvalidPartOrder:
        raise S3Error("InvalidPartOrder", UploadId=upload_id) from None
    return _completion_result(call, info)


async def _completion_document(call: S3Call) -> Element:
    """The completion's document. Its x-amz-checksum-* header is the whole object's checksum (checked
    against the parts), not one of this document, so the body reader must not verify it."""
    if call.auth is not None:
        headers = {name: value for name, value in call.auth.headers.items()
                   if algorithm_of_header(name) is None}
        call.auth = dataclasses.replace(call.auth, headers=headers)
    return await call.read_document("CompleteMultipartUpload")


def _completion_result(call: S3Call, info: ObjectInfo) -> Response:
    location = f"{call.cloud.settings.object_url}/{call.bucket}/{call.key}"
    children = [xml.element("Location", location), xml.element("Bucket", call.bucket),
                xml.element("Key", call.key), xml.element("ETag", xml.etag_header(info.etag))]
    if info.checksum is not None:
        children += [checksum_element(info.checksum),
                     xml.element("ChecksumType", info.checksum.type)]
    headers = version_headers(info) + sse.encryption_headers(call, info.sealing)
    return xml.xml_response("CompleteMultipartUploadResult", children, headers=headers)


async def _repeated_completion(call: S3Call) -> Response:
    """S3 answers a retried completion (the client lost the first answer) with the same result, as
    long as the key still holds the object those very parts made; otherwise the upload is gone."""
    upload_id = call.query["uploadId"]
    try:
        requested = _requested_parts(await _completion_document(call))
        obj = await call.storage.head_object(call.account, call.bucket, call.key)
    except (S3Error, storage.NoSuchObject):
        raise S3Error("NoSuchUpload", UploadId=upload_id) from None
    listed = [(number, etag.strip().strip('"')) for number, etag, _ in requested]
    if not obj.parts or [(part.number, part.etag) for part in obj.parts] != listed:
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    return _completion_result(call, obj)


async def _too_small(call: S3Call, upload_id: str, number: int) -> S3Error:
    part = next(part for part in await _all_parts(call, upload_id) if part.number == number)
    return S3Error("EntityTooSmall", ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE),
                   PartNumber=str(number), ETag=part.etag)


def _requested_parts(root: Element) -> list[tuple[int, str, dict[str, str]]]:
    """(number, etag, {algorithm: checksum}) of each listed part; MalformedXML if not well formed."""
    parts: list[tuple[int, str, dict[str, str]]] = []
    for node in root.findall("Part"):
        number_text = xml.required_text(node, "PartNumber").strip()
        number = decimal(number_text)
        if number is None or not 1 <= number <= MAX_PARTS:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                          ArgumentName="PartNumber", ArgumentValue=number_text)
        checksums = {algorithm: xml.child_text(node, f"Checksum{algorithm.upper()}") or ""
                     for algorithm in ALGORITHMS if node.find(f"Checksum{algorithm.upper()}") is not None}
        parts.append((number, xml.required_text(node, "ETag"), checksums))
    if not parts:
        raise S3Error("MalformedXML")
    if len(parts) > MAX_PARTS:
        raise S3Error("InvalidArgument", "Too many parts", ArgumentName="Part")
    return parts


async def _check_declared_checksums(call: S3Call, upload: UploadInfo,
                                    requested: Sequence[tuple[int, str, dict[str, str]]]) -> None:
    """Per-part checksums in the document must be the stored ones; a whole-object checksum header must
    be what completion will derive."""
    algorithm = upload.checksum_algorithm
    declared = call.headers.get(f"x-amz-checksum-{algorithm}") if algorithm else None
    if algorithm is None or (declared is None and not any(checksums for _, _, checksums in requested)):
        return
    stored = {part.number: part for part in await _all_parts(call, upload.upload_id)}
    for number, _, checksums in requested:
        part = stored.get(number)
        given = checksums.get(algorithm)
        if part is not None and given is not None and given != part.checksum:
            raise S3Error("InvalidPart", PartNumber=str(number))
    if declared is not None:
        _check_whole_checksum(upload, algorithm, declared, [stored.get(number) for number, _, _ in requested])


def _check_whole_checksum(upload: UploadInfo, algorithm: str, declared: str,
                          parts: Sequence[PartInfo | None]) -> None:
    values = [(part.checksum, part.size) for part in parts if part is not None and part.checksum]
    if len(values) != len(parts):
        return  # a missing part fails completion with InvalidPart anyway
    if upload.checksum_type == "FULL_OBJECT":
        expected = combine_full_object(algorithm, values).value
    else:
        expected = composite(algorithm, [value for value, _ in values]).value
    if declared.split("-")[0] != expected.split("-")[0]:
        raise S3Error("BadDigest", f"The {algorithm.upper()} you specified did not match the calculated "
                      "checksum.")


async def _all_parts(call: S3Call, upload_id: str) -> list[PartInfo]:
    parts, _ = await call.storage.list_parts(call.account, call.bucket, upload_id, limit=MAX_PARTS)
    return parts


async def list_parts(call: S3Call) -> Response:
    query = call.query
    call.check_object_acl(None)  # an upload has no ACL of its own that could make it public
    upload = await current_upload(call)
    _check_owner_or_initiator(call, upload)
    upload_id = upload.upload_id
    marker_raw = query.get("part-number-marker", "0")
    marker = decimal(marker_raw)
    if marker is None:
        raise S3Error("InvalidArgument", "Provided part-number-marker not an integer or within integer range",
                      ArgumentName="part-number-marker", ArgumentValue=marker_raw)
    asked, limit = max_keys(query, "max-parts")
    parts, truncated = await call.storage.list_parts(call.account, call.bucket, upload_id, marker=marker,
                                                     limit=limit)
    algorithm = upload.checksum_algorithm
    children = [xml.element("Bucket", call.bucket), xml.element("Key", call.key),
                xml.element("UploadId", upload_id), owner(call, "Initiator"), owner(call),
                "<StorageClass>STANDARD</StorageClass>", xml.element("PartNumberMarker", marker_raw),
                xml.element("NextPartNumberMarker", parts[-1].number if parts else marker_raw),
                xml.element("MaxParts", asked), xml.element("IsTruncated", truncated)]
    if algorithm:
        children += [xml.element("ChecksumAlgorithm", algorithm.upper()),
                     xml.optional("ChecksumType", upload.checksum_type)]
    children += [_part(part, algorithm) for part in parts]
    return xml.xml_response("ListPartsResult", children)


def _part(part: PartInfo, algorithm: str | None) -> str:
    checksum = ""
    if algorithm and part.checksum:
        checksum = xml.element(f"Checksum{algorithm.upper()}", part.checksum)
    return ("<Part>" + xml.element("PartNumber", part.number)
            + xml.element("LastModified", xml.iso8601(part.last_modified))
            + xml.element("ETag", xml.etag_header(part.etag)) + xml.element("Size", part.size) + checksum
            + "</Part>")
