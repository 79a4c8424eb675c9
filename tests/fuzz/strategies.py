"""Bounded hypothesis strategies for request pieces, as the server receives them.

Header names and values, paths and query strings reach the parsers as latin-1 decoded bytes (that
is how `stackbox.http.Request` decodes them), so "text" here means any latin-1 character. Every
strategy has a size cap: the fuzzers look for wrong exception types and hangs, not for how much
memory a 100 MB header takes.
"""

from __future__ import annotations

from hypothesis import strategies as st

LATIN1 = st.characters(min_codepoint=0, max_codepoint=255)
#: Characters that look like digits to `str.isdigit()` but that `int()` refuses, and Unicode
#: decimal digits that `int()` accepts: the classic traps of hand-written number parsers.
TRICKY_DIGITS = ["\u00b2", "\u00b3", "\u00b9", "\u0663", "\uff11", "\u2460"]
DIGITY = st.sampled_from(["0", "1", "9", "-", ",", " ", "+", "_", "=", *TRICKY_DIGITS])


def latin1_text(max_size: int = 200) -> st.SearchStrategy[str]:
    return st.text(LATIN1, max_size=max_size)


def any_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Any Unicode (JSON documents, decoded query parameters)."""
    return st.text(max_size=max_size)


def numberish(max_size: int = 40, *, latin1: bool = False) -> st.SearchStrategy[str]:
    """Mostly-digit strings with signs, separators, look-alike digits and an occasional long run
    (`latin1`: only characters a header can carry)."""
    alphabet = DIGITY.filter(lambda char: ord(char) < 256) if latin1 else DIGITY
    short = st.lists(alphabet, max_size=max_size).map("".join)
    long_run = st.integers(4200, 4400).map(lambda n: "9" * n)
    return st.one_of(short, st.integers(-(10**30), 10**30).map(str), long_run)


def query_string(max_pairs: int = 8) -> st.SearchStrategy[str]:
    """A raw query string: names and values with `%`, `+`, `=`, encoded and stray escapes."""
    token = st.one_of(LATIN1, st.sampled_from(["%", "%2", "%zz", "%00", "%C2%B2", "+", "="]))
    piece = st.lists(token, max_size=30).map("".join)
    pair = st.tuples(piece, st.sampled_from(["=", ""]), piece).map("".join)
    return st.lists(pair, max_size=max_pairs).map("&".join)


def header_name() -> st.SearchStrategy[str]:
    known = st.sampled_from(["host", "x-amz-date", "x-amz-content-sha256", "content-md5", "content-type",
                             "date", "x-amz-meta-a", "x-amz-acl", "authorization", "range",
                             "x-amz-decoded-content-length", "x-amz-trailer", "content-length"])
    token = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":")
    return st.one_of(known, st.text(token, min_size=1, max_size=20).map(str.lower))


def raw_headers(max_count: int = 12) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    value = latin1_text(100).map(lambda text: text.encode("latin-1"))
    return st.lists(st.tuples(header_name().map(str.encode), value), max_size=max_count)
