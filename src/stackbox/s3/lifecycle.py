"""S3 bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration and the `x-amz-expiration` header.

A configuration is validated as S3 validates it and stored as rules (`stackbox.storage.lifecycle`)
in the bucket's metadata; the housekeeping loop applies them (`stackbox.lifecycle_pass`). Only the
STANDARD storage class exists here, so a Transition or NoncurrentVersionTransition (which can only
name another class) is refused with InvalidStorageClass.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.storage.lifecycle import (
    LIFECYCLE_META,
    Filter,
    Rule,
    decode_rules,
    earliest_expiry,
    encode_rules,
)
from stackbox.storage.types import ObjectInfo

MAX_RULES = 1000
MAX_ID_CHARS = 255
MAX_PREFIX_BYTES = 1024
#: Days and counts are 32-bit signed integers in S3's schema.
MAX_DAYS = 2**31 - 1
MAX_NEWER_NONCURRENT = 100
_STATUS = {"Enabled": True, "Disabled": False}
_ACTIONS = ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload", "Transition",
            "NoncurrentVersionTransition")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]00:?00)?)?")


async def get_bucket_lifecycle(call: S3Call) -> Response:
    raw = (await call.storage.read_container_meta(call.account, call.bucket)).get(LIFECYCLE_META)
    rules = _decoded(raw) if raw else ()
    if not rules:
        raise S3Error("NoSuchLifecycleConfiguration", BucketName=call.bucket)
    return xml.xml_response("LifecycleConfiguration", [_render(rule) for rule in rules])


async def put_bucket_lifecycle(call: S3Call) -> Response:
    await call.storage.get_container(call.account, call.bucket)
    root = await call.read_document("LifecycleConfiguration")
    rules = parse_rules(root)
    await call.storage.update_container_meta(call.account, call.bucket, {LIFECYCLE_META: encode_rules(rules)})
    return Response(b"", 200)


async def delete_bucket_lifecycle(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[LIFECYCLE_META])
    return Response(b"", 204)


async def stored_rules(call: S3Call) -> list[Rule]:
    raw = (await call.bucket_meta()).get(LIFECYCLE_META)
    return list(_decoded(raw)) if raw else []


@functools.lru_cache(maxsize=256)
def _decoded(raw: str) -> tuple[Rule, ...]:
    """Rules decoded once per worker: every GET, HEAD and PUT of a bucket with rules reads them
    (a thousand rules take milliseconds to decode)."""
    return tuple(decode_rules(raw))


async def expiration_headers(call: S3Call, info: ObjectInfo) -> list[tuple[str, str]]:
    """`x-amz-expiration` for a current version a rule will expire (none otherwise)."""
    rules = await stored_rules(call)
    if not rules:
        return []
    found = earliest_expiry(rules, info.key, info.size, info.tags, info.last_modified,
                            call.cloud.settings.lifecycle_day_seconds)
    if found is None:
        return []
    due, rule_id = found
    rule = quote(rule_id, safe=_ID_SAFE)
    return [("x-amz-expiration", f'expiry-date="{xml.http_date(due)}", rule-id="{rule}"')]


_ID_SAFE = " !#$&'()*+,-./:;<=>?@[]^_`{|}~"

# ---------------------------------------------------------------------------------------------- parsing


def parse_rules(root: Element) -> list[Rule]:
    nodes = root.findall("Rule")
    if not nodes or len(nodes) > MAX_RULES:
        raise S3Error("MalformedXML")
    rules = [_rule(node) for node in nodes]
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise S3Error("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule",
                      ArgumentName="ID", ArgumentValue=next(i for i in ids if ids.count(i) > 1))
    return rules


def _rule(node: Element) -> Rule:
    rule_id = xml.child_text(node, "ID") or secrets.token_urlsafe(36)
    if len(rule_id) > MAX_ID_CHARS:
        raise S3Error("InvalidArgument", "ID length should not exceed allowed limit of 255",
                      ArgumentName="ID", ArgumentValue=rule_id)
    status = xml.child_text(node, "Status")
    if status not in _STATUS:
        raise S3Error("MalformedXML")
    rule_filter = _rule_filter(node)
    if not any(node.find(action) is not None for action in _ACTIONS):
        raise S3Error("InvalidRequest", "At least one action needs to be specified in a rule")
    for transition in ("Transition", "NoncurrentVersionTransition"):
        if node.find(transition) is not None:
            raise S3Error("InvalidStorageClass", "The storage class you specified is not valid: this "
                          "store has only STANDARD, so no transition can be made")
    rule = dataclasses.replace(Rule(rule_id, _STATUS[status], rule_filter,
                                    abort_days=_abort_days(node.find("AbortIncompleteMultipartUpload"))),
                               **_expiration(node.find("Expiration")),
                               **_noncurrent(node.find("NoncurrentVersionExpiration")))
    _check_combination(rule)
    return rule


def _rule_filter(node: Element) -> Filter:
    legacy = node.find("Prefix")
    found = node.find("Filter")
    if (legacy is None) == (found is None):
        raise S3Error("MalformedXML")
    if legacy is not None:
        return Filter(prefix=_prefix(legacy.text or ""), shape="legacy")
    assert found is not None
    children = list(found)
    if not children:
        return Filter(shape="empty")
    if len(children) > 1:
        raise S3Error("MalformedXML")
    child = children[0]
    if child.tag == "Prefix":
        return Filter(prefix=_prefix(child.text or ""), shape="prefix")
    if child.tag == "Tag":
        return Filter(tags=(_tag(child),), shape="tag")
    if child.tag == "ObjectSizeGreaterThan":
        return Filter(size_greater_than=_size(child), shape="greater")
    if child.tag == "ObjectSizeLessThan":
        return Filter(size_less_than=_size(child), shape="less")
    if child.tag == "And":
        return _and_filter(child)
    raise S3Error("MalformedXML")


def _and_filter(node: Element) -> Filter:
    prefixes = node.findall("Prefix")
    greater, less = node.findall("ObjectSizeGreaterThan"), node.findall("ObjectSizeLessThan")
    tags = tuple(_tag(tag) for tag in node.findall("Tag"))
    if len(prefixes) > 1 or len(greater) > 1 or len(less) > 1:
        raise S3Error("MalformedXML")
    if len(tags) + len(prefixes) + len(greater) + len(less) < 2:
        raise S3Error("MalformedXML")
    names = [name for name, _ in tags]
    if len(set(names)) != len(names):
        raise S3Error("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    rule_filter = Filter(prefix=_prefix(prefixes[0].text or "") if prefixes else "", tags=tags,
                         size_greater_than=_size(greater[0]) if greater else None,
                         size_less_than=_size(less[0]) if less else None, shape="and")
    low, high = rule_filter.size_greater_than, rule_filter.size_less_than
    if low is not None and high is not None and low >= high:
        raise S3Error("InvalidRequest",
                      "The maximum object size must be larger than the minimum object size.")
    return rule_filter


def _prefix(prefix: str) -> str:
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise S3Error("InvalidRequest", "The maximum size of a prefix is 1024.")
    return prefix


def _tag(node: Element) -> tuple[str, str]:
    key, value = xml.required_text(node, "Key"), xml.required_text(node, "Value")
    if not 1 <= len(key) <= 128 or len(value) > 256:
        raise S3Error("InvalidTag", "The TagKey you have provided is invalid" if len(key) > 128 or not key
                      else "The TagValue you have provided is invalid")
    return key, value


def _size(node: Element) -> int:
    value = decimal((node.text or "").strip())
    if value is None:
        raise S3Error("MalformedXML")
    return value


def _days(text: str | None, name: str, action: str) -> int:
    value = decimal((text or "").strip())
    if value is None or value > MAX_DAYS:
        raise S3Error("MalformedXML")
    if value <= 0:
        raise S3Error("InvalidArgument", f"'{name}' for {action} action must be a positive integer",
                      ArgumentName=name, ArgumentValue=text or "")
    return value


def _expiration(node: Element | None) -> dict[str, Any]:
    if node is None:
        return {}
    days, date = xml.child_text(node, "Days"), xml.child_text(node, "Date")
    marker = xml.child_text(node, "ExpiredObjectDeleteMarker")
    if sum(value is not None for value in (days, date, marker)) != 1:
        raise S3Error("MalformedXML")
    if days is not None:
        return {"expiration_days": _days(days, "Days", "Expiration")}
    if date is not None:
        return {"expiration_epoch": _midnight(date.strip())}
    flag = (marker or "").strip().lower()
    if flag not in ("true", "false"):
        raise S3Error("MalformedXML")
    return {"expired_object_delete_marker": flag == "true"}


def _midnight(text: str) -> float:
    """Epoch seconds of an ISO 8601 date that must be midnight UTC."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise S3Error("InvalidArgument", "Invalid date format: must be ISO 8601", ArgumentName="Date",
                      ArgumentValue=text)
    fields = [int(group) if group else 0 for group in match.groups()[:6]]
    try:
        moment = datetime(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], tzinfo=UTC)
    except ValueError:
        raise S3Error("InvalidArgument", "Invalid date format: must be ISO 8601", ArgumentName="Date",
                      ArgumentValue=text) from None
    if any(fields[3:6]):
        raise S3Error("InvalidArgument", "'Date' must be at midnight GMT", ArgumentName="Date",
                      ArgumentValue=text)
    return moment.timestamp()


def _noncurrent(node: Element | None) -> dict[str, Any]:
    if node is None:
        return {}
    days = xml.child_text(node, "NoncurrentDays")
    if days is None:
        raise S3Error("MalformedXML")
    found: dict[str, Any] = {"noncurrent_days": _days(days, "NoncurrentDays", "NoncurrentVersionExpiration")}
    newer = xml.child_text(node, "NewerNoncurrentVersions")
    if newer is not None:
        count = decimal(newer.strip())
        if count is None or not 1 <= count <= MAX_NEWER_NONCURRENT:
            raise S3Error("InvalidArgument", "NewerNoncurrentVersions must be between 1 and 100",
                          ArgumentName="NewerNoncurrentVersions", ArgumentValue=newer)
        found["newer_noncurrent_versions"] = count
    return found


def _abort_days(node: Element | None) -> int | None:
    if node is None:
        return None
    days = xml.child_text(node, "DaysAfterInitiation")
    if days is None:
        raise S3Error("MalformedXML")
    return _days(days, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")


def _check_combination(rule: Rule) -> None:
    tagged = bool(rule.filter.tags)
    sized = rule.filter.size_greater_than is not None or rule.filter.size_less_than is not None
    if rule.abort_days is not None and (tagged or sized):
        raise S3Error("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags or "
                      "object size filters.")
    if rule.expired_object_delete_marker is not None and tagged:
        raise S3Error("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags.")


# ---------------------------------------------------------------------------------------------- rendering


def _render(rule: Rule) -> str:
    parts = [xml.element("ID", rule.id), _render_filter(rule.filter),
             xml.element("Status", "Enabled" if rule.enabled else "Disabled")]
    if rule.expiration_days is not None:
        parts.append(f"<Expiration>{xml.element('Days', rule.expiration_days)}</Expiration>")
    elif rule.expiration_epoch is not None:
        parts.append(f"<Expiration>{xml.element('Date', xml.iso8601(rule.expiration_epoch))}</Expiration>")
    elif rule.expired_object_delete_marker is not None:
        flag = xml.element("ExpiredObjectDeleteMarker", rule.expired_object_delete_marker)
        parts.append(f"<Expiration>{flag}</Expiration>")
    if rule.noncurrent_days is not None:
        parts.append("<NoncurrentVersionExpiration>" + xml.element("NoncurrentDays", rule.noncurrent_days)
                     + xml.optional("NewerNoncurrentVersions", rule.newer_noncurrent_versions)
                     + "</NoncurrentVersionExpiration>")
    if rule.abort_days is not None:
        parts.append("<AbortIncompleteMultipartUpload>" + xml.element("DaysAfterInitiation", rule.abort_days)
                     + "</AbortIncompleteMultipartUpload>")
    return "<Rule>" + "".join(parts) + "</Rule>"


def _render_filter(rule_filter: Filter) -> str:
    shape = rule_filter.shape
    if shape == "legacy":
        return xml.element("Prefix", rule_filter.prefix)
    tags = "".join(f"<Tag>{xml.element('Key', name)}{xml.element('Value', value)}</Tag>"
                   for name, value in rule_filter.tags)
    greater = xml.optional("ObjectSizeGreaterThan", rule_filter.size_greater_than)
    less = xml.optional("ObjectSizeLessThan", rule_filter.size_less_than)
    if shape == "and":
        prefix = xml.element("Prefix", rule_filter.prefix) if rule_filter.prefix else ""
        return f"<Filter><And>{prefix}{tags}{greater}{less}</And></Filter>"
    if shape == "prefix":
        return f"<Filter>{xml.element('Prefix', rule_filter.prefix)}</Filter>"
    return f"<Filter>{tags}{greater}{less}</Filter>"
