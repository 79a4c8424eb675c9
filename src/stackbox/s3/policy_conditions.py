"""Bucket policy conditions: AWS's operators over the request's condition keys.

A condition block is `{operator: {key: value or [values]}}`; every operator and every key in it must
hold (AND); the values of one key are alternatives (OR). `...IfExists` holds when the key is absent;
`ForAnyValue:`/`ForAllValues:` compare multi-valued keys (s3:RequestObjectTagKeys).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Condition keys stackbox knows (lower case). `s3:ExistingObjectTag/<key>` and
#: `s3:RequestObjectTag/<key>` take any tag key after the slash.
GLOBAL_KEYS = frozenset({
    "aws:sourceip", "aws:securetransport", "aws:referer", "aws:useragent", "aws:currenttime",
    "aws:epochtime", "aws:principalaccount", "aws:principaltype", "aws:username", "aws:userid",
    "aws:principalarn",
})
S3_KEYS = frozenset({
    "s3:prefix", "s3:delimiter", "s3:max-keys", "s3:x-amz-acl", "s3:versionid",
    "s3:x-amz-server-side-encryption", "s3:requestobjecttagkeys", "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source", "s3:x-amz-metadata-directive", "s3:x-amz-storage-class", "s3:signatureversion",
    "s3:authtype", "s3:x-amz-grant-read", "s3:x-amz-grant-write", "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp", "s3:x-amz-grant-full-control", "s3:object-lock-mode",
    "s3:object-lock-legal-hold", "s3:object-lock-retain-until-date", "s3:resourceaccount",
})
EXISTING_TAG_KEY = "s3:existingobjecttag/"
TAG_KEY_PREFIXES = (EXISTING_TAG_KEY, "s3:requestobjecttag/")


class BadCondition(ValueError):
    """The condition block is not one AWS accepts (the message is MalformedPolicy's)."""


def known_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in GLOBAL_KEYS or lowered in S3_KEYS or (
        lowered.startswith(TAG_KEY_PREFIXES) and len(lowered) > lowered.index("/") + 1)


#: Lookup of a request's values for a (lower-case) condition key; None: the key is absent.
KeyValues = Callable[[str], Sequence[str] | None]
Matcher = Callable[[str, Any], bool]


class Wildcard:
    """AWS's `*` (any run) and `?` (any one character); nothing else is special.

    The pattern is split at its stars into fixed-length pieces, matched leftmost-first by the string
    methods (C speed: evaluating a 20-statement policy character by character in Python cost a small
    PUT ~60 us). Leftmost-first is exact for fixed-length pieces and takes time proportional to
    pattern times value at worst (a regular expression backtracks: `a*a*a*a*b` against a long key
    took seconds per request, more stars any time at all).
    """

    __slots__ = ("_first", "_ignore_case", "_last", "_middle", "_minimum", "_pattern", "_starred")

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        self._pattern = pattern.casefold() if ignore_case else pattern
        self._ignore_case = ignore_case
        pieces = [_piece(text) for text in self._pattern.split("*")]
        self._starred = len(pieces) > 1
        self._first, self._last = pieces[0], pieces[-1]
        self._middle = tuple(piece for piece in pieces[1:-1] if piece.length)
        self._minimum = sum(piece.length for piece in pieces) if self._starred else pieces[0].length

    @property
    def fixed(self) -> bool:
        """The pattern names one value only (no `*` or `?`)."""
        return "*" not in self._pattern and "?" not in self._pattern

    def fullmatch(self, value: str) -> bool:
        if self._ignore_case:
            value = value.casefold()
        if not self._starred:
            return len(value) == self._minimum and self._first.at(value, 0)
        end = len(value) - self._last.length
        if len(value) < self._minimum or not self._first.at(value, 0) or not self._last.at(value, end):
            return False
        position = self._first.length
        for piece in self._middle:
            found = piece.find(value, position, end)
            if found < 0:
                return False
            position = found + piece.length
        return True


@dataclass(frozen=True, slots=True)
class _Piece:
    """A run of a pattern between stars: literal text, or a fixed-length expression when it holds `?`."""

    text: str
    expression: re.Pattern[str] | None

    @property
    def length(self) -> int:
        return len(self.text)

    def at(self, value: str, position: int) -> bool:
        if self.expression is None:
            return value.startswith(self.text, position)
        return self.expression.match(value, position) is not None

    def find(self, value: str, start: int, end: int) -> int:
        """The first position in [start, end - length] where the piece matches; -1 if none."""
        if self.expression is None:
            return value.find(self.text, start, end)
        found = self.expression.search(value, start, end)
        return found.start() if found is not None else -1


def _piece(text: str) -> _Piece:
    if "?" not in text:
        return _Piece(text, None)
    return _Piece(text, re.compile(".".join(re.escape(part) for part in text.split("?")), re.DOTALL))


class AnyWildcard:
    """Any of several wildcard patterns (a statement's Action or Resource list). The usual shapes are
    answered by one string operation each: whole names (`arn:aws:s3:::bucket`) by a set, and names
    ending in their only star (`arn:aws:s3:::bucket/*`, `s3:Get*`) by one `startswith` of them all."""

    __slots__ = ("_exact", "_ignore_case", "_others", "_prefixes", "patterns")

    def __init__(self, patterns: Sequence[str], *, ignore_case: bool = False) -> None:
        self.patterns = tuple(patterns)
        self._ignore_case = ignore_case
        exact: set[str] = set()
        prefixes: list[str] = []
        others: list[Wildcard] = []
        for pattern in patterns:
            if ignore_case:
                pattern = pattern.casefold()
            if not _special(pattern):
                exact.add(pattern)
            elif pattern.endswith("*") and not _special(pattern[:-1]):
                prefixes.append(pattern[:-1])
            else:
                others.append(Wildcard(pattern))
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._others = tuple(others)

    def fullmatch(self, value: str) -> bool:
        if self._ignore_case:
            value = value.casefold()
        if value in self._exact or value.startswith(self._prefixes):
            return True
        return bool(self._others) and any(pattern.fullmatch(value) for pattern in self._others)


def _special(text: str) -> bool:
    return "*" in text or "?" in text


def wildcard(pattern: str, *, ignore_case: bool = False) -> Wildcard:
    return Wildcard(pattern, ignore_case=ignore_case)


def _string_like(value: str, pattern: Wildcard) -> bool:
    return pattern.fullmatch(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _compare(convert: Callable[[str], float | None], test: Callable[[float, float], bool]) -> Matcher:
    def matcher(value: str, expected: Any) -> bool:
        left = convert(value)
        return left is not None and test(left, expected)
    return matcher


def _ip_in(value: str, network: Any) -> bool:
    address = _address(value)
    return address is not None and address in network


@functools.lru_cache(maxsize=4096)
def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Client addresses repeat: parsed once each."""
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Kind:
    """One operator family: how request values compare to one condition value, and how the
    condition's values are checked and prepared when the policy is stored."""

    match: Matcher
    prepare: Callable[[str], Any]
    negated: bool = False


def _prepare_text(value: str) -> str:
    return value


def _prepare_lower(value: str) -> str:
    return value.lower()


def _prepare_number(value: str) -> float:
    number = _number(value)
    if number is None:
        raise BadCondition("Invalid numeric value in Condition")
    return number


def _prepare_date(value: str) -> float:
    moment = _date(value)
    if moment is None:
        raise BadCondition("Invalid date value in Condition")
    return moment


def _prepare_network(value: str) -> Any:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise BadCondition("Invalid IP address in Condition") from None


def _prepare_bool(value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise BadCondition("Invalid boolean value in Condition")
    return value.lower()


_EQ = _Kind(lambda value, expected: value == expected, _prepare_text)
def _prepare_pattern(value: str) -> Wildcard:
    return wildcard(value)


_LIKE = _Kind(_string_like, _prepare_pattern)
_EQ_CI = _Kind(lambda value, expected: value.lower() == expected, _prepare_lower)
_NUM = {
    "Equals": lambda a, b: a == b, "LessThan": lambda a, b: a < b, "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b, "GreaterThanEquals": lambda a, b: a >= b,
}

OPERATORS: dict[str, _Kind] = {
    "StringEquals": _EQ,
    "StringNotEquals": _Kind(_EQ.match, _prepare_text, negated=True),
    "StringEqualsIgnoreCase": _EQ_CI,
    "StringNotEqualsIgnoreCase": _Kind(_EQ_CI.match, _prepare_lower, negated=True),
    "StringLike": _LIKE,
    "StringNotLike": _Kind(_string_like, _prepare_pattern, negated=True),
    "ArnEquals": _EQ,
    "ArnNotEquals": _Kind(_EQ.match, _prepare_text, negated=True),
    "ArnLike": _LIKE,
    "ArnNotLike": _Kind(_string_like, _prepare_pattern, negated=True),
    "Bool": _Kind(lambda value, expected: value.lower() == expected, _prepare_bool),
    "BinaryEquals": _EQ,
    "IpAddress": _Kind(_ip_in, _prepare_network),
    "NotIpAddress": _Kind(_ip_in, _prepare_network, negated=True),
    "NumericNotEquals": _Kind(_compare(_number, _NUM["Equals"]), _prepare_number, negated=True),
    "DateNotEquals": _Kind(_compare(_date, _NUM["Equals"]), _prepare_date, negated=True),
    **{f"Numeric{name}": _Kind(_compare(_number, test), _prepare_number) for name, test in _NUM.items()},
    **{f"Date{name}": _Kind(_compare(_date, test), _prepare_date) for name, test in _NUM.items()},
}


@dataclass(frozen=True, slots=True)
class Condition:
    key: str  # lower case
    kind: _Kind | None  # None: Null
    expected: tuple[Any, ...]
    if_exists: bool = False
    quantifier: str = ""  # "", "ForAnyValue", "ForAllValues"

    def holds(self, lookup: KeyValues) -> bool:
        values = lookup(self.key)
        if self.kind is None:  # Null: "true" wants the key absent
            return (values is None) == (self.expected[0] == "true")
        if values is None:
            if self.quantifier == "ForAllValues":
                return True
            return self.if_exists or (self.kind.negated and self.quantifier == "")
        if self.quantifier == "ForAllValues":
            return all(self._one(value) for value in values)
        if self.quantifier == "ForAnyValue":
            return any(self._one(value) for value in values)
        return self._one(values[0]) if values else self.if_exists

    def _one(self, value: str) -> bool:
        kind = self.kind
        assert kind is not None
        found = any(kind.match(value, expected) for expected in self.expected)
        return not found if kind.negated else found


def parse_conditions(block: Any) -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        raise BadCondition("Policy has an invalid condition")
    conditions = []
    for operator, keys in block.items():
        quantifier, _, base = operator.rpartition(":")
        if quantifier not in ("", "ForAnyValue", "ForAllValues"):
            raise BadCondition(f"Invalid Condition type : {operator}")
        if_exists = base.endswith("IfExists") and base != "IfExists"
        name = base[: -len("IfExists")] if if_exists else base
        kind = OPERATORS.get(name)
        if (kind is None and name != "Null") or not isinstance(keys, dict) or not keys:
            raise BadCondition(f"Invalid Condition type : {operator}")
        for key, raw in keys.items():
            if not known_key(key):
                raise BadCondition("Policy has an invalid condition key")
            values = [_scalar(item) for item in (raw if isinstance(raw, list) else [raw])]
            if not values:
                raise BadCondition("Policy has an invalid condition")
            if kind is None:
                expected: tuple[Any, ...] = (_prepare_bool(values[0]),)
            else:
                expected = tuple(kind.prepare(value) for value in values)
            conditions.append(Condition(key.lower(), kind, expected, if_exists, quantifier))
    return tuple(conditions)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise BadCondition("Policy has an invalid condition")


#: Keys whose fixed values make an Allow to everyone non-public (AWS's IsPublic rule).
RESTRICTING_KEYS = frozenset({"aws:sourceip", "aws:principalaccount", "aws:userid", "aws:username",
                              "aws:principalarn", "aws:sourcevpc", "aws:sourcevpce"})


def restricts(condition: Condition) -> bool:
    """Whether this condition pins the caller to fixed values (so its statement is not public). An
    ...IfExists or ForAllValues condition holds when the key is absent (an anonymous caller has no
    account, user or ARN), so it pins no one."""
    if condition.key not in RESTRICTING_KEYS or condition.kind is None or condition.kind.negated:
        return False
    if condition.if_exists or condition.quantifier == "ForAllValues":
        return False
    if condition.kind.prepare is _prepare_network:
        return all(network.prefixlen > 0 for network in condition.expected)
    return all(isinstance(value, str) or value.fixed for value in condition.expected)
