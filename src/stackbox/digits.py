"""Decimal numbers in requests (lengths, ranges, part numbers, markers), read strictly.

`str.isdigit()` accepts characters `int()` refuses (a latin-1 header can carry `²`), and `int()`
refuses more than 4300 digits: checked with `isdigit()` alone, either one reached a handler as a
500. No length, offset or count exceeds a signed 64-bit integer (SQLite's too), so larger numbers
are refused as well.
"""

from __future__ import annotations

MAX_VALUE = 2**63 - 1
_MAX_DIGITS = len(str(MAX_VALUE))


def decimal(text: str) -> int | None:
    """The value of `text` if it is ASCII digits only and at most MAX_VALUE; None otherwise."""
    if not text or len(text) > _MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_VALUE else None
