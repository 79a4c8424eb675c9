"""`path=` listings as Swift 2.38's container server makes them (answers captured from the reference)."""

from __future__ import annotations

import swiftclient

from swift.helpers import Swift

KEYS = ["a", "a/", "a/b", "a/b/", "a/b/c", "a/c/d", "a/d", "a/e/", "b"]


def _names(admin_swift: Swift, container: str, query: str) -> list[str]:
    answer = admin_swift("GET", f"/{container}?format=json&{query}")
    assert answer.status_code in (200, 204), answer.text
    return [entry["name"] for entry in answer.json()] if answer.content else []


def test_path_lists_only_direct_children(admin_swift: Swift, conn: swiftclient.Connection,
                                         container: str) -> None:
    for key in KEYS:
        conn.put_object(container, key, key.encode())
    # Not the directory's own object (`a/`), nothing deeper; `a/b/` and `a/e/` are objects named like
    # subdirectories, met before their contents.
    assert _names(admin_swift, container, "path=a") == ["a/b", "a/b/", "a/d", "a/e/"]
    assert _names(admin_swift, container, "path=a/") == ["a/b", "a/b/", "a/d", "a/e/"]
    assert _names(admin_swift, container, "path=") == ["a", "a/", "b"]
    # Descending, Swift meets `a/b/c` first and skips the whole of `a/b/`, its own object included.
    assert _names(admin_swift, container, "path=a&reverse=true") == ["a/e/", "a/d", "a/b"]


def test_path_limit_counts_only_listed_objects(admin_swift: Swift, conn: swiftclient.Connection,
                                               container: str) -> None:
    for key in KEYS:
        conn.put_object(container, key, key.encode())
    # Skipped names (`a/`, the contents of `a/b/` and `a/c/`) do not use up the limit.
    assert _names(admin_swift, container, "path=a&limit=3") == ["a/b", "a/b/", "a/d"]
    assert _names(admin_swift, container, "path=a&limit=1&marker=a/b/") == ["a/d"]
    assert _names(admin_swift, container, "path=a&limit=2&reverse=true&marker=a/e/") == ["a/d", "a/b"]
    assert _names(admin_swift, container, "path=a&end_marker=a/d") == ["a/b", "a/b/"]
    assert _names(admin_swift, container, "path=a&limit=0") == []


def test_account_listings_ignore_path(admin_swift: Swift, container: str) -> None:
    """Swift's account server has no path listings: the parameter changes nothing."""
    plain = admin_swift("GET", f"?format=json&prefix={container}").json()
    with_path = admin_swift("GET", f"?format=json&prefix={container}&path={container}").json()
    assert [entry["name"] for entry in with_path] == [entry["name"] for entry in plain] == [container]


def test_path_reads_past_many_subdirectories(admin_swift: Swift, conn: swiftclient.Connection,
                                              container: str) -> None:
    """Subdirectories are skipped by seeking, a thousand at a time, so a short limit still finds the
    next direct object behind many of them."""
    for index in range(60):
        conn.put_object(container, f"top/d{index:03}/x", b"x")
    conn.put_object(container, "top/z", b"z")
    assert _names(admin_swift, container, "path=top&limit=1") == ["top/z"]
    assert _names(admin_swift, container, "path=top&limit=1&reverse=true") == ["top/z"]
    assert _names(admin_swift, container, "path=top&limit=1&marker=top/z") == []
