"""Fuzzing `Range` header parsing (objecthttp.py), in Swift's dialect and S3's (s3/get.py).

Property: a value or the protocol's answer (Swift: None = whole object, [] = 416; S3: one range,
None = whole object, or S3Error InvalidRange), never another exception; every span lies inside the
object; the number of spans never exceeds the number of specs in the header.
"""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st

from stackbox.objecthttp import SWIFT_RANGES, parse_range
from stackbox.s3.errors import S3Error
from stackbox.s3.get import parse_range as parse_s3_range

from .strategies import latin1_text, numberish


def range_headers() -> st.SearchStrategy[str]:
    number = st.one_of(st.integers(0, 2**70).map(str), numberish(12, latin1=True), st.just(""))
    spec = st.tuples(number, st.sampled_from(["-", "", "--"]), number).map("".join)
    specs = st.lists(spec, max_size=30).map(",".join)
    prefix = st.sampled_from(["bytes=", "Bytes=", " bytes=", "bytes = ", "items=", ""])
    return st.one_of(st.tuples(prefix, specs).map("".join), latin1_text(80))


@given(range_headers(), st.integers(0, 10**12))
@example("bytes=0-\u00b2", 10)
@example("bytes=\u00b9-", 10)
@example("bytes=-\u00b3", 10)
@example("bytes=0-" + "9" * 4301, 10)
def test_swift_range(header: str, size: int) -> None:
    spans = parse_range(header, size, SWIFT_RANGES)
    if spans is None:
        return
    assert len(spans) <= header.count(",") + 1
    for start, end in spans:
        assert 0 <= start < end <= size


@given(range_headers(), st.integers(0, 10**12))
@example("bytes=0-\u00b2", 10)
@example("bytes=\u00b9-", 10)
@example("bytes=-\u00b3", 10)
@example("bytes=0-" + "9" * 4301, 10)
def test_s3_range(header: str, size: int) -> None:
    with contextlib.suppress(S3Error):
        byte_range = parse_s3_range(header, size)
        assert byte_range is None or 0 <= byte_range[0] < byte_range[1] <= size
