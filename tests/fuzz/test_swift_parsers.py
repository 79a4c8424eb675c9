"""Fuzzing Swift's request parsers: container ACLs, SLO manifests (and their segment ranges),
TempURL/FormPost signatures, metadata headers, X-Delete-At/After, listing limits, HTTP dates.

Property: a value or SwiftError (the status Swift answers), never another exception.
"""

from __future__ import annotations

import contextlib
import json

from hypothesis import example, given
from hypothesis import strategies as st

from stackbox.swift import acl
from stackbox.swift.errors import SwiftError
from stackbox.swift.headers import delete_at, meta_update, parse_http_date
from stackbox.swift.large_objects import MAX_MANIFEST_SEGMENTS, _parse_manifest, _segment_span
from stackbox.swift.listing import _limit
from stackbox.swift.tempurl import parse_signature

from .strategies import any_text, latin1_text, numberish


def acl_values() -> st.SearchStrategy[str]:
    known = st.sampled_from([".r:*", ".r:-.example.com", ".rlistings", ".referrer:", ".r:", ".", "*:*",
                             "p1:u1", "demo:alice", "member", ":", ".x:y", "p1:*"])
    entry = st.one_of(known, latin1_text(20))
    return st.lists(entry, max_size=10).map(",".join)


@given(acl_values(), latin1_text(60), st.sampled_from(["x-container-read", "x-container-write"]))
@example(".r:", "", "x-container-read")
@example(".r:-", "http://[", "x-container-read")
def test_acls(value: str, referer: str, header: str) -> None:
    entries = acl.parse_acl(value)
    acl.referrer_allowed(entries, {"referer": referer})
    with contextlib.suppress(SwiftError):
        acl.clean_acl(header, value)
    with contextlib.suppress(SwiftError):
        acl.acl_updates({header: value, "x-remove-container-read": ""})


def manifest_entries() -> st.SearchStrategy[object]:
    path = st.one_of(any_text(40), st.sampled_from(["/c/o", "c/o", "/c/", "/c", "//", "/c/o/"]))
    spec = st.one_of(numberish(10), st.integers(-5, 10**20), st.none(), st.floats(allow_nan=True),
                     st.sampled_from(["0-", "-1", "1-0", "-", "\u00b2-", "0-\u00b3"]))
    json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), any_text(10))
    entry = st.dictionaries(st.sampled_from(["path", "etag", "size_bytes", "range", "extra", "data"]),
                            st.one_of(path, spec, json_leaf), max_size=5)
    not_a_list = st.dictionaries(any_text(5), json_leaf, max_size=3)
    return st.one_of(st.lists(entry, max_size=8), json_leaf, not_a_list)


@given(st.one_of(manifest_entries().map(lambda doc: json.dumps(doc).encode()), st.binary(max_size=200)))
@example(b'[{"path": "/c/o", "range": "\xc2\xb2-"}]')
@example(b'[{"path": "/c/o", "range": "0-\xc2\xb3"}]')
@example(json.dumps([{"path": "/c/o"}] * (MAX_MANIFEST_SEGMENTS + 1)).encode())
@example(b"[" * 5000 + b"]" * 5000)
@example(b'[{"path": "/c/o", "range": 0}, {"data": "IQ=="}, {"data": "I Q=="}, {"data": 7}]')
def test_slo_manifest(raw: bytes) -> None:
    with contextlib.suppress(SwiftError):
        entries = _parse_manifest(raw, "c/o")
        assert len(entries) <= MAX_MANIFEST_SEGMENTS
        for entry in entries:
            span = _segment_span(entry.get("range"), 1000)
            assert span is None or 0 <= span[0] < span[1] <= 1000


@given(st.one_of(latin1_text(200), st.tuples(st.sampled_from(["sha1", "sha256", "sha512", "md5", ""]),
                                               latin1_text(100)).map(":".join)))
@example("sha512:" + "=" * 7)
@example("z" * 40)
def test_signatures(raw: str) -> None:
    with contextlib.suppress(SwiftError):
        _, signature = parse_signature(raw)
        assert isinstance(signature, bytes)


def header_maps() -> st.SearchStrategy[dict[str, str]]:
    names = st.one_of(st.sampled_from(["x-delete-at", "x-delete-after", "x-object-meta-", "x-object-meta-a",
                                       "x-remove-object-meta-a", "x-container-meta-temp-url-key"]),
                      latin1_text(20).map(lambda text: "x-object-meta-" + text.lower()))
    return st.dictionaries(names, st.one_of(numberish(latin1=True), latin1_text(300)), max_size=6)


@given(header_maps())
@example({"x-delete-at": "9" * 30})
@example({"x-delete-after": "9" * 30})
@example({"x-delete-at": "\u00b2"})
def test_object_headers(headers: dict[str, str]) -> None:
    with contextlib.suppress(SwiftError):
        delete_at(headers, now=1_790_000_000.0)
    with contextlib.suppress(SwiftError):
        meta_update(headers, "object")


@given(st.one_of(st.none(), numberish(), any_text(20)))
def test_listing_limit(raw: str | None) -> None:
    with contextlib.suppress(SwiftError):
        assert _limit(raw) >= 0


ODD_DATES = ["Mon, 01 Jan 99999 00:00:00 GMT", "Mon, 01 Jan 0 00:00:00 GMT", "Mon, 01 Jan 1 00:00:00 +9999"]


@given(st.one_of(latin1_text(60), st.sampled_from(ODD_DATES)))
def test_http_dates(value: str) -> None:
    parsed = parse_http_date(value)
    assert parsed is None or isinstance(parsed, float)
