"""Object and bucket tagging: Get/Put/Delete ?tagging."""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree.ElementTree import Element

import orjson

from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import MAX_OBJECT_TAGS, validated_tags
from stackbox.s3.versioning import requested_version, version_headers

#: Container metadata key holding a bucket's tag set (JSON).
BUCKET_TAGS_META = "s3:tags"
MAX_BUCKET_TAGS = 50


async def get_object_tagging(call: S3Call) -> Response:
    obj = await call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
    call.check_object_acl(obj.acl)
    return _tagging(obj.tags, version_headers(obj))


async def put_object_tagging(call: S3Call) -> Response:
    tags = await _requested_tags(call, MAX_OBJECT_TAGS)
    return Response(b"", 200, await _retag(call, tags))


async def delete_object_tagging(call: S3Call) -> Response:
    return Response(b"", 204, await _retag(call, {}))


async def _retag(call: S3Call, tags: dict[str, str]) -> list[tuple[str, str]]:
    """Replace the tags of the current (or the requested) version; its version headers."""
    info = await call.storage.update_version(call.account, call.bucket, call.key, requested_version(call),
                                             {"tags": tags})
    return version_headers(info)


async def get_bucket_tagging(call: S3Call) -> Response:
    info = await call.storage.get_container(call.account, call.bucket)
    raw = info.meta.get(BUCKET_TAGS_META)
    if raw is None:
        raise S3Error("NoSuchTagSet", BucketName=call.bucket)
    return _tagging(orjson.loads(raw))


async def put_bucket_tagging(call: S3Call) -> Response:
    tags = await _requested_tags(call, MAX_BUCKET_TAGS)
    await call.storage.update_container_meta(call.account, call.bucket,
                                             {BUCKET_TAGS_META: orjson.dumps(tags).decode()})
    return Response(b"", 204)


async def delete_bucket_tagging(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[BUCKET_TAGS_META])
    return Response(b"", 204)


def _tagging(tags: Mapping[str, str] | object, headers: list[tuple[str, str]] | None = None) -> Response:
    # A tag set has no order of its own: answered sorted by key, the same whatever order it was given in.
    items = sorted(tags.items()) if isinstance(tags, Mapping) else []
    tag_set = "".join(f"<Tag>{xml.element('Key', name)}{xml.element('Value', value)}</Tag>"
                      for name, value in items)
    return xml.xml_response("Tagging", [f"<TagSet>{tag_set}</TagSet>"], headers=headers)


async def _requested_tags(call: S3Call, limit: int) -> dict[str, str]:
    return tags_of_document(await call.read_document("Tagging"), limit)


def tags_of_document(root: Element, limit: int) -> dict[str, str]:
    """The tags of a `<Tagging>` document (a request body, or a POST form's `tagging` field)."""
    tag_set = root.find("TagSet")
    if tag_set is None:
        raise S3Error("MalformedXML")
    pairs = [(xml.required_text(tag, "Key"), xml.required_text(tag, "Value"))
             for tag in tag_set.findall("Tag")]
    return validated_tags(pairs, limit)
