"""PutObject, and the body checks every data upload (PutObject, UploadPart) shares."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial

from stackbox.http import Response
from stackbox.s3 import sse, xml
from stackbox.s3.acl import requested_object_acl
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import MAX_OBJECT_SIZE, check_key, content_md5_hex, object_attrs
from stackbox.s3.lifecycle import expiration_headers
from stackbox.s3.object_lock import check_upload_integrity, requested_lock
from stackbox.s3.signature import AuthResult
from stackbox.s3.signature.checksums import (
    ALGORITHMS,
    Checksum,
    algorithm_of_header,
    checksum_from_headers,
)
from stackbox.s3.versioning import version_headers
from stackbox.storage import types as storage
from stackbox.storage.types import Preconditions, WriteChecks


async def put_object(call: S3Call) -> Response:
    check_key(call.key)
    lock = await requested_lock(call)
    await check_upload_integrity(call, lock)
    attrs = object_attrs(call.headers)
    acl, encryption = await requested_object_acl(call), await sse.requested_encryption(call)
    if lock is not None or acl != attrs.acl or encryption is not None:  # dataclasses.replace costs ~2 us
        attrs = dataclasses.replace(attrs, lock=lock, acl=acl, encryption=encryption)
    info = await call.storage.put_object(call.account, call.bucket, call.key, call.payload(), attrs=attrs,
                                         checks=write_checks(call), preconditions=write_preconditions(call))
    headers = written_headers(info.etag, info.checksum) + version_headers(info)
    headers += await expiration_headers(call, info) + sse.encryption_headers(call, info.sealing, written=True)
    return Response(b"", 200, headers)


def written_headers(etag: str, checksum: storage.Checksum | None) -> list[tuple[str, str]]:
    headers = [("etag", xml.etag_header(etag))]
    if checksum is not None:
        headers.append((f"x-amz-checksum-{checksum.algorithm}", checksum.value))
    return headers


def write_checks(call: S3Call, *, max_length: int = MAX_OBJECT_SIZE,
                 extra_algorithm: str | None = None) -> WriteChecks:
    """Length, Content-MD5 and checksum checks for a data upload; the signature package has already
    checked the checksum header or trailer of a signed request as the body streams."""
    length = call.content_length
    if length is None and "chunked" not in call.headers.get("transfer-encoding", "").lower():
        raise S3Error("MissingContentLength")
    if length is not None and length > max_length:
        raise S3Error("EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(max_length))
    declared = checksum_from_headers(call.headers)
    algorithm = requested_algorithm(call.headers, declared, call.auth.trailer if call.auth else None)
    algorithms = tuple(dict.fromkeys(filter(None, (algorithm, extra_algorithm))))
    # Anonymous uploads carry no signature, so nothing upstream verified their checksum header.
    expected = {declared.algorithm: declared.value} if declared is not None and call.auth is None else {}
    # The signature package computes a declared checksum to verify it: the engine reuses the value.
    verified_upstream = call.auth is not None and (declared is not None or call.auth.trailer is not None)
    return WriteChecks(length=length, max_length=max_length, md5_hex=content_md5_hex(call.headers),
                       algorithms=algorithms, expected_checksums=expected,
                       provided_algorithms=(algorithm,) if verified_upstream and algorithm else (),
                       provided_checksums=partial(_verified_checksum, call.auth))


def _verified_checksum(auth: AuthResult | None) -> dict[str, str]:
    """The checksum the signature package verified as the body streamed (known once it is drained)."""
    checksum = auth.checksum if auth is not None else None
    return {checksum.algorithm: checksum.value} if checksum is not None else {}


def requested_algorithm(headers: Mapping[str, str], declared: Checksum | None,
                        trailer: str | None) -> str | None:
    """The checksum algorithm of a body: its checksum header or trailer, else the SDK's announcement."""
    if declared is not None:
        return declared.algorithm
    if trailer is not None:
        return algorithm_of_header(trailer)
    announced = headers.get("x-amz-sdk-checksum-algorithm")
    if announced is None:
        return None
    algorithm = announced.strip().lower()
    if algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
    return algorithm


def write_preconditions(call: S3Call) -> Preconditions:
    """`If-None-Match: *` and `If-Match: <etag>` of a conditional write."""
    none_match = call.headers.get("if-none-match")
    if none_match is not None and none_match.strip() != "*":
        raise S3Error("NotImplemented", "A header you provided implies functionality that is not implemented",
                      Header="If-None-Match")
    if_match = call.headers.get("if-match")
    return Preconditions(if_none_match_star=none_match is not None,
                         if_match_etag=if_match.strip().strip('"') if if_match is not None else None)

