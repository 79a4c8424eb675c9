"""Cross-origin resource sharing, evaluated once for both object APIs: which rule (if any) lets an
origin use a method with some request headers, and the `Vary` a CORS answer needs.

S3 keeps a bucket's rules (`PutBucketCors`: origins with at most one `*` wildcard, methods, allowed
and exposed headers, max age); Swift derives one rule from a container's
`X-Container-Meta-Access-Control-*` metadata (exact origins or `*`, every method, every header).
Each front end renders the answer its reference gives (s3/cors.py, swift/cors.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CorsRule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    #: Header names a preflight may ask for (as configured; compared case-insensitively, `*` wildcards).
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    rule_id: str | None = None
    #: Origins may hold a `*` wildcard (S3); otherwise only the origin `*` alone matches any (Swift).
    origin_wildcards: bool = True

    @property
    def any_origin(self) -> bool:
        return "*" in self.origins

    def allows_origin(self, origin: str) -> bool:
        if self.origin_wildcards:
            return any(wildcard_match(pattern, origin) for pattern in self.origins)
        return "*" in self.origins or origin in self.origins

    def allows_headers(self, names: Iterable[str]) -> bool:
        patterns = [pattern.lower() for pattern in self.allowed_headers]
        return all(any(wildcard_match(pattern, name) for pattern in patterns) for name in names)

    def allows(self, origin: str, method: str, headers: Sequence[str] = ()) -> bool:
        return method in self.methods and self.allows_origin(origin) and self.allows_headers(headers)


def wildcard_match(pattern: str, value: str) -> bool:
    """`value` matches `pattern`, where each `*` stands for any run of characters (S3 allows one)."""
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return pattern == value
    if not value.startswith(pieces[0]) or not value.endswith(pieces[-1]):
        return False
    if len(value) < len(pieces[0]) + len(pieces[-1]):
        return False
    position = len(pieces[0])
    end = len(value) - len(pieces[-1])
    for piece in pieces[1:-1]:
        found = value.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def first_match(rules: Iterable[CorsRule], origin: str, method: str,
                headers: Sequence[str] = ()) -> CorsRule | None:
    """The first rule that allows the request, as S3 picks it."""
    return next((rule for rule in rules if rule.allows(origin, method, headers)), None)


def requested_headers(value: str | None) -> list[str]:
    """`Access-Control-Request-Headers` as lower-case names, in the order sent, without repeats."""
    if not value:
        return []
    return list(dict.fromkeys(name.strip().lower() for name in value.split(",") if name.strip()))


def with_vary(headers: list[tuple[str, str]], *names: str) -> None:
    """Add `names` in front of the response's `Vary` (or make one)."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            headers[index] = (name, ", ".join((*names, value)))
            return
    headers.append(("Vary", ", ".join(names)))
