"""Policy wildcards (`*`, `?`) against a reference matcher: the piecewise matcher of policy_conditions.py
must answer as a full regular-expression match would, for any pattern and value."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from stackbox.s3.policy_conditions import AnyWildcard, Wildcard

# A small alphabet makes overlapping pieces, repeated letters and empty runs common.
_PATTERNS = st.text(alphabet="ab*?.\n", max_size=10)
_VALUES = st.text(alphabet="abAB.\n", max_size=14)


@st.composite
def _pattern_and_value(draw: st.DrawFn) -> tuple[str, str]:
    """A pattern and, half the time, a value made to match it (stars and `?` filled in, then perhaps
    one character changed): random values alone rarely match patterns of several pieces."""
    pattern = draw(_PATTERNS)
    if draw(st.booleans()):
        return pattern, draw(_VALUES)
    filler = st.text(alphabet="ab.", max_size=3)
    value = "".join(draw(filler) if char == "*" else draw(st.sampled_from("ab")) if char == "?" else char
                    for char in pattern)
    if value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        value = value[:index] + draw(st.sampled_from("ab")) + value[index + 1:]
    return pattern, value


def _reference(pattern: str, value: str, ignore_case: bool = False) -> bool:
    expression = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(expression, value, flags) is not None


@settings(max_examples=1000, deadline=None)
@given(_pattern_and_value())
def test_wildcard_matches_as_a_regular_expression_would(case: tuple[str, str]) -> None:
    pattern, value = case
    assert Wildcard(pattern).fullmatch(value) == _reference(pattern, value)


@settings(max_examples=500, deadline=None)
@given(_pattern_and_value())
def test_wildcard_ignoring_case(case: tuple[str, str]) -> None:
    pattern, value = case[0], case[1].upper()
    expected = _reference(pattern, value, ignore_case=True)
    assert Wildcard(pattern, ignore_case=True).fullmatch(value) == expected


@settings(max_examples=500, deadline=None)
@given(st.lists(_PATTERNS, min_size=1, max_size=4), _VALUES, st.booleans())
def test_any_of_several_patterns(patterns: list[str], value: str, ignore_case: bool) -> None:
    """A statement's list (whole names, `prefix*` and other shapes are matched three ways)."""
    expected = any(_reference(pattern, value, ignore_case) for pattern in patterns)
    assert AnyWildcard(patterns, ignore_case=ignore_case).fullmatch(value) == expected


def test_wildcard_examples() -> None:
    resource = "arn:aws:s3:::bench/small/000123"
    assert Wildcard("arn:aws:s3:::bench/*").fullmatch(resource)
    assert not Wildcard("arn:aws:s3:::bench/locked1/*").fullmatch(resource)
    assert Wildcard("arn:aws:s3:::bench/*/0001?3").fullmatch(resource)
    assert not Wildcard("arn:aws:s3:::bench/*/0001?").fullmatch(resource)
    assert Wildcard("*").fullmatch("") and not Wildcard("?").fullmatch("")
    assert Wildcard("a*a").fullmatch("a") is False  # the two ends may not share a character
    # a middle piece found only where the last piece lies does not count
    assert not Wildcard("*a*ab").fullmatch("xab") and Wildcard("*a*ab").fullmatch("aab")
    assert not Wildcard("*a?*ab").fullmatch("baab") and Wildcard("*a?*ab").fullmatch("aaab")
    assert Wildcard("s3:Get*", ignore_case=True).fullmatch("S3:GETOBJECT")
    resources = AnyWildcard(["arn:aws:s3:::bench", "arn:aws:s3:::bench/shared/*"])
    assert resources.fullmatch("arn:aws:s3:::bench") and resources.fullmatch("arn:aws:s3:::bench/shared/k")
    assert not resources.fullmatch("arn:aws:s3:::bench/k") and not resources.fullmatch("arn:aws:s3:::benchx")
    assert AnyWildcard(["s3:Get*", "s3:ListBucket"], ignore_case=True).fullmatch("s3:listbucket")
    assert Wildcard("x?y").fixed is False and Wildcard("xy").fixed is True


def test_pathological_pattern_is_answered_piece_by_piece() -> None:
    """`a*a*...*b` against a long run of `a`: a backtracking matcher takes exponential time; this one
    scans for each piece once (proportional to pattern times value)."""
    pattern = Wildcard("a" + "*a" * 40 + "b")
    assert not pattern.fullmatch("a" * 100_000)
    assert pattern.fullmatch("a" * 100_000 + "b")
