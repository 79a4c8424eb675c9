"""Container and account listings against Swift 2.38: every combination of prefix, delimiter, marker,
end_marker, reverse, limit and path, drawn at random (a seeded property test: one key set, many
queries) and sent to both clouds; each answer (status, headers, parsed body) must be the same."""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests

from compat.conftest import Compare
from compat.harness import Exchange, Side

KEYS = ["a", "a/", "a/b", "a/b/", "a/b/c", "a/c/d", "a-b", "ab", "b", "b/x", "b/x/y", "c/", "c//d", "d",
        "e/f/g", "é/1", "é/2", "z~z"]
#: Values each parameter is drawn from: absent, listed names, names between them, and odd ones.
PREFIXES = ["", "a", "a/", "a/b", "b/", "c/", "é", "zz"]
DELIMITERS = ["", "/", "-", "b", "//"]
MARKERS = ["", "a", "a/", "a/b", "a/bb", "a/c", "b", "b/", "b/x", "c", "c/", "d", "é", "é/1", "zzz"]
LIMITS = ["", "0", "1", "2", "3", "5"]
PATHS = ["", "a", "a/", "a/b", "b", "c", "é", "nothing"]
SEED = 20261202
CASES = 150


def _queries(rng: random.Random) -> Iterator[dict[str, str]]:
    for _ in range(CASES):
        params = {"prefix": rng.choice(PREFIXES), "delimiter": rng.choice(DELIMITERS),
                  "marker": rng.choice(MARKERS), "end_marker": rng.choice(MARKERS),
                  "limit": rng.choice(LIMITS), "reverse": rng.choice(["", "true", "false", "on"])}
        if rng.random() < 0.25:
            params = {"path": rng.choice(PATHS), **{k: v for k, v in params.items() if k != "prefix"}}
        yield {key: value for key, value in params.items() if value or key == "path"}


def _fill(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}", record=False)
    for key in KEYS:
        side.swift("PUT", f"/{c}/{key}", data=key.encode(), headers={"Content-Type": "text/plain"},
                   record=False)


def container_listings(side: Side, c: str) -> None:
    _fill(side, c)
    for params in _queries(random.Random(SEED)):
        side.swift("GET", f"/{c}?{urlencode({**params, 'format': 'json'})}")


def container_listings_plain_and_xml(side: Side, c: str) -> None:
    _fill(side, c)
    rng = random.Random(SEED + 1)
    for params in _queries(rng):
        fmt = rng.choice(["plain", "xml"])
        side.swift("GET", f"/{c}?{urlencode({**params, 'format': fmt})}")


def account_listings(side: Side, c: str) -> None:
    """Containers named under this scenario's own prefix, listed with the same combinations."""
    names = [f"{c}{suffix}" for suffix in ("", "-a", "-a-b", "-b", "_x", "-a-c")]
    for name in names:
        side.swift("PUT", f"/{name}", record=False)
    rng = random.Random(SEED + 2)
    for _ in range(30):
        params = {"prefix": c + rng.choice(["", "-", "-a", "-a-", "_"]),
                  "delimiter": rng.choice(["", "-", "_"]),
                  "marker": rng.choice(["", *names]), "end_marker": rng.choice(["", *names, c + "-z"]),
                  "limit": rng.choice(LIMITS), "reverse": rng.choice(["", "true"])}
        if rng.random() < 0.2:
            params["path"] = c  # accounts have no path listings: Swift ignores it
        query = urlencode({k: v for k, v in params.items() if v} | {"format": "json"})
        answer = side.swift("GET", f"?{query}", record=False)
        # Account totals and other helpers' containers differ between the clouds: compare the names.
        side.exchanges.append(_names_only(side, f"GET ?{query}", answer))


def _names_only(side: Side, label: str, answer: requests.Response) -> Exchange:
    listed = answer.json() if answer.content else []
    names = [side.normalizer.text(entry.get("name", entry.get("subdir", ""))) for entry in listed]
    return Exchange(side.normalizer.text(label), answer.status_code, {}, names)


@pytest.mark.parametrize("scenario", [container_listings, container_listings_plain_and_xml, account_listings],
                         ids=lambda s: s.__name__)
def test_listings_match_swift(compare: Compare, scenario: object) -> None:
    compare(scenario, ignore_headers=frozenset({"x-container-bytes-used"}))
