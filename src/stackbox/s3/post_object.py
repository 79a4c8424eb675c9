"""PostObject: browsers upload a file straight into a bucket with an HTML form (multipart/form-data)
whose `policy` a credential signed (or, with no policy, into a public-read-write bucket).

The fields before the file are read first, bounded in size; the signature, the policy's conditions
and the caller's right to write the key are all checked when the file part starts, before any of
its bytes are read, and the file then streams into the store with the policy's length range
enforced as it flows. Fields after the file are ignored, as S3 ignores them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote, urlencode, urlsplit

from stackbox.formdata import FormDataError, FormReader, field_name, form_boundary
from stackbox.http import Response, sendable
from stackbox.s3 import authorize, grants, sse, xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import MAX_OBJECT_SIZE, MAX_OBJECT_TAGS, check_key, object_attrs
from stackbox.s3.operations import PUT_OBJECT
from stackbox.s3.post_policy import PostPolicy, parse_policy
from stackbox.s3.signature import AuthResult, PayloadMode
from stackbox.s3.signature.post import form_signer, missing_field
from stackbox.s3.signature.secrets import with_secret
from stackbox.s3.tagging import tags_of_document
from stackbox.s3.versioning import version_headers
from stackbox.storage import types as storage
from stackbox.storage.types import WriteChecks

#: S3 refuses forms whose fields before the file add up to more (MaxPostPreDataLengthExceededError).
MAX_FIELD_BYTES = 20 * 1024
#: Parts before the file; each costs a header block even when its value is empty.
MAX_FIELDS = 256
#: Form fields that become the object's headers (the form's names, lower case) -> the header.
_HEADER_FIELDS = {"content-type": "content-type", "cache-control": "cache-control",
                  "content-disposition": "content-disposition", "content-encoding": "content-encoding",
                  "content-language": "content-language", "expires": "expires", "acl": "x-amz-acl"}


def is_post_object(call: S3Call) -> bool:
    return (call.request.method == "POST" and bool(call.bucket) and not call.key and not call.query
            and call.headers.get("content-type", "").lower().startswith("multipart/form-data"))


@dataclass(slots=True)
class _Form:
    fields: dict[str, str]  #: decoded as UTF-8: what the policy's conditions compare
    raw: dict[str, bytes]  #: as sent: header-like values are stored as headers arrive (latin-1)
    file: Message | None = None


async def post_object(call: S3Call) -> Response:
    boundary = form_boundary(call.headers.get("content-type", ""))
    if boundary is None:
        raise S3Error("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                      "multipart/form-data.")
    call.body_started = True
    reader = FormReader(call.request.stream(), boundary)
    try:
        form = await _read_fields(reader)
        key, policy = await _authorize(call, form)
        info = await _store(call, form, key, policy, reader.part_data())
    except FormDataError:
        raise S3Error("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                      "multipart/form-data.") from None
    return _success(call, form, key, info)


async def _read_fields(reader: FormReader) -> _Form:
    """The fields up to the file part (whose data is read next)."""
    form = _Form({}, {})
    budget = MAX_FIELD_BYTES
    for _ in range(MAX_FIELDS + 1):
        part = await reader.next_part()
        if part is None:
            raise S3Error("IncorrectNumberOfFilesInPostRequest",
                          "POST requires exactly one file upload per request.")
        name = field_name(part)
        if name == "file":
            form.file = part
            return form
        value, cut = await reader.read_value(budget)
        budget -= len(value)
        if cut:
            break
        if name is not None and name not in form.raw:
            form.raw[name] = value
            form.fields[name] = value.decode("utf-8", "replace")
    raise S3Error("MaxPostPreDataLengthExceededError",
                  "Your POST request fields preceding the upload file were too large.")


async def _authorize(call: S3Call, form: _Form) -> tuple[str, PostPolicy | None]:
    """The object key, and the policy the upload must still satisfy (its length range), once the
    signature, the policy's conditions and the caller's right to write the key have held."""
    region = call.cloud.settings.s3_region
    signer = await with_secret(call.cloud.identity,
                               lambda lookup: form_signer(form.fields, lookup, region=region))
    key = _object_key(form)
    policy = None
    if signer is not None:
        call.auth = AuthResult(signer, 4 if "x-amz-signature" in form.fields else 2, PayloadMode.UNSIGNED,
                               call.headers)
        policy = parse_policy(form.fields["policy"])
        policy.check({**form.fields, "bucket": call.bucket, "key": key})
    call.account = (await authorize.decide(call, PUT_OBJECT, call.bucket, key, tenant=call.tenant)).account
    return key, policy


def _object_key(form: _Form) -> str:
    if "key" not in form.fields:
        raise missing_field("key")
    raw_key = form.raw["key"]
    try:
        key = raw_key.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidArgument", "The key is not valid UTF-8.", ArgumentName="key",
                      ArgumentValue="") from None
    assert form.file is not None
    key = key.replace("${filename}", form.file.get_filename() or "")
    if not key:
        raise S3Error("InvalidArgument", "User key must have a length greater than 0.", ArgumentName="key",
                      ArgumentValue="")
    if "\x00" in key:
        raise S3Error("InvalidArgument", "The key may not contain NUL.", ArgumentName="key", ArgumentValue="")
    check_key(key)
    return key


async def _store(call: S3Call, form: _Form, key: str, policy: PostPolicy | None,
                 data: AsyncIterator[bytes]) -> storage.ObjectInfo:
    low, high = policy.length_range if policy and policy.length_range else (0, MAX_OBJECT_SIZE)
    limited = _length_checked(data, low, min(high, MAX_OBJECT_SIZE))
    attrs = dataclasses.replace(object_attrs(_object_headers(form)),
                                encryption=await sse.bucket_default(call))
    if attrs.acl is not None:  # the bucket's public access block and ownership controls, as for PutObject
        await authorize.check_acl_change(call, grants.stored_grants(attrs.acl))
    if "tagging" in form.raw:
        tags = tags_of_document(xml.parse(form.raw["tagging"], "Tagging"), MAX_OBJECT_TAGS)
        attrs = dataclasses.replace(attrs, tags=tags)
    return await call.storage.put_object(call.account, call.bucket, key, limited, attrs=attrs,
                                         checks=WriteChecks(max_length=MAX_OBJECT_SIZE))


async def _length_checked(data: AsyncIterator[bytes], low: int, high: int) -> AsyncIterator[bytes]:
    """The file's data; EntityTooLarge as soon as it passes `high` (the rest of the file is read
    to tell its size, never kept), EntityTooSmall at its end if it stays under `low`."""
    size = 0
    async for chunk in data:
        size += len(chunk)
        if size > high:
            async for rest in data:
                size += len(rest)
            raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          ProposedSize=str(size), MaxSizeAllowed=str(high))
        yield chunk
    if size < low:
        raise S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                      ProposedSize=str(size), MinSizeAllowed=str(low))


def _object_headers(form: _Form) -> dict[str, str]:
    """The form's header-like fields as the request headers of a PutObject would carry them."""
    headers: dict[str, str] = {}
    for name, raw in form.raw.items():
        header = _HEADER_FIELDS.get(name, name if name.startswith("x-amz-meta-") else None)
        if header is None:
            continue
        value = raw.decode("latin-1").strip()
        if not sendable(value):
            raise S3Error("InvalidArgument", f"The form field {name} holds characters a header cannot.",
                          ArgumentName=name, ArgumentValue="")
        headers[header] = value
    # As on S3, only the Content-Type field sets the type: the file part's own header does not.
    return headers


def _success(call: S3Call, form: _Form, key: str, info: storage.ObjectInfo) -> Response:
    etag = xml.etag_header(info.etag)
    location = f"{call.request.scope.get('scheme', 'http')}://{call.request.host}/{quote(call.bucket)}/" \
               f"{quote(key)}"
    headers = [("etag", etag), ("location", location), *version_headers(info)]
    redirect = form.fields.get("success_action_redirect") or form.fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https") and sendable(redirect):
        query = urlencode({"bucket": call.bucket, "key": key, "etag": etag})
        headers[1] = ("location", f"{redirect}{'&' if '?' in redirect else '?'}{query}")
        return Response(b"", 303, headers)
    status = form.fields.get("success_action_status")
    if status == "201":
        children = [xml.element("Location", location), xml.element("Bucket", call.bucket),
                    xml.element("Key", key), xml.element("ETag", etag)]
        body = xml.document("PostResponse", children, namespace=False)
        return Response(body, 201, headers, "application/xml")
    return Response(b"", 200 if status == "200" else 204, headers)
