"""Fuzzing the streaming `multipart/form-data` reader (Swift FormPost, S3 POST object), FormPost's
field parsing and S3's POST policy documents.

Property: reading any body, cut into any network pieces, part by part as `form_post` does, ends or
raises FormDataError, never another exception; a field value never exceeds its cap; the reader
never holds more than a part's header block or one delimiter beyond what it yields. Any policy
document parses or is refused with S3's InvalidPolicyDocument.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from stackbox.formdata import FormDataError, FormReader, field_name, form_boundary
from stackbox.s3.errors import S3Error
from stackbox.s3.post_policy import parse_policy
from stackbox.swift.errors import SwiftError
from stackbox.swift.formpost import MAX_VALUE_LENGTH, _int_field

from .strategies import latin1_text, numberish

BOUNDARY = b"xYzZY"
TOKENS = [b"--xYzZY", b"--xYzZY--", b"\r\n", b"\r\n\r\n", b"--", b"Content-Disposition: form-data; ",
          b'name="expires"', b'name="max_file_size"', b'filename="a.txt"', b"filename*=utf-8''%ff%fe",
          b"filename*=x-unknown''a", b"Content-Type: text/plain", b'name="signature"', b"; ", b'"']


async def _pieces(body: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    """`body` in network reads cut at `cuts`; never an empty read (Request.stream() skips them)."""
    bounds = [0, *sorted(cuts), len(body)]
    for start, end in itertools.pairwise(bounds):
        if body[start:end]:
            yield body[start:end]


async def _read_form(body: bytes, cuts: list[int]) -> list[tuple[Any, Any, int]]:
    """(field name, filename, bytes read) per part, reading as `form_post` does."""
    form = FormReader(_pieces(body, cuts), BOUNDARY)
    seen = []
    while (part := await form.next_part()) is not None:
        filename = part.get_filename()
        if not filename:
            value, _ = await form.read_value(MAX_VALUE_LENGTH)
            assert len(value) <= MAX_VALUE_LENGTH
            seen.append((field_name(part), None, len(value)))
            continue
        size = 0
        async for chunk in form.part_data():
            size += len(chunk)
        seen.append((None, filename, size))
    return seen


def forms() -> st.SearchStrategy[bytes]:
    token = st.one_of(st.sampled_from(TOKENS), st.binary(max_size=30))
    return st.lists(token, max_size=40).map(b"".join)


@given(forms(), st.lists(st.integers(0, 600), max_size=6))
@example(b"--xYzZY\r\nContent-Disposition: form-data; name=\"f\"; filename*=x-unknown''a\r\n\r\n"
         b"abc\r\n--xYzZY--", [])
@example(b"--xYzZY\r\n" + b"H" * 20000, [5])
@example(b"--xYzZY", [])
def test_forms(body: bytes, cuts: list[int]) -> None:
    with contextlib.suppress(FormDataError):
        asyncio.run(_read_form(body, cuts))


@given(st.lists(st.tuples(st.sampled_from(["expires", "max_file_size", "redirect", "x"]),
                          st.binary(max_size=5000)), max_size=5),
       st.lists(st.integers(0, 30000), max_size=6))
def test_well_formed_forms(fields: list[tuple[str, bytes]], cuts: list[int]) -> None:
    body = b"".join(b"--xYzZY\r\nContent-Disposition: form-data; name=\"" + name.encode() + b"\"\r\n\r\n"
                    + value.replace(b"\r\n--", b"") + b"\r\n" for name, value in fields) + b"--xYzZY--\r\n"
    seen = asyncio.run(_read_form(body, cuts))
    assert [name for name, _, _ in seen] == [name for name, _ in fields]


CONTENT_TYPES = ["multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary="',
                 "multipart/form-data; boundary*=utf-8''%ff", "multipart/form-data; boundary=\u00e9"]


@given(st.one_of(latin1_text(100), st.sampled_from(CONTENT_TYPES)))
def test_boundary(content_type: str) -> None:
    boundary = form_boundary(content_type)
    assert boundary is None or boundary


@given(st.dictionaries(st.sampled_from(["max_file_size", "max_file_count"]), numberish(), max_size=2))
def test_int_fields(fields: dict[str, str]) -> None:
    for name in ("max_file_size", "max_file_count"):
        with contextlib.suppress(SwiftError):
            _int_field(fields, name)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
POLICY_PARTS = st.fixed_dictionaries({}, optional={
    "expiration": st.one_of(JSON_VALUES, st.sampled_from(["2099-01-01T00:00:00Z", "2099-01-01T00:00:00.000Z",
                                                          "2099-13-01T00:00:00Z", "Z"])),
    "conditions": st.one_of(JSON_VALUES, st.lists(st.one_of(
        JSON_VALUES, st.tuples(st.sampled_from(["eq", "starts-with", "content-length-range", "EQ"]),
                               JSON_VALUES, JSON_VALUES).map(list)), max_size=5))})


@given(st.one_of(POLICY_PARTS.map(lambda doc: base64.b64encode(json.dumps(doc).encode()).decode()),
                 st.text(max_size=50)))
def test_policy_documents(encoded: str) -> None:
    try:
        policy = parse_policy(encoded)
    except S3Error as error:
        assert error.code == "InvalidPolicyDocument"
        return
    with contextlib.suppress(S3Error):
        policy.check({"key": "k", "bucket": "b", "x-amz-meta-a": "v"})
