"""Swift container and account listings page through any name set without loss, duplication or
disorder: random names (spaces, `+`, `%`, non-ASCII, astral and control characters), prefixes,
delimiters, markers, end markers, reverse order and page sizes, through python-swiftclient's full
listing and raw requests that pass the last name (or subdir) back as the marker, as Swift clients do.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from urllib.parse import quote

import pytest
import swiftclient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from swift.conftest import User
from swift.helpers import Swift, unique

ALPHABET = ["a", "b", "/", "-", " ", "+", "%", "é", "☃", "\uff5e", "😀", "\x01", "~"]
#: No shrinking: each example writes to the server (the printed blob replays a failure).
EXAMPLES = settings(max_examples=25, deadline=None, database=None, print_blob=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
roots = itertools.count()


def texts(alphabet: list[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(alphabet), min_size=1, max_size=max_size).map("".join)


def expected(names: Iterable[str], prefix: str, delimiter: str, marker: str, end_marker: str,
             reverse: bool) -> list[str]:
    """Swift's complete listing: names and subdirs; in reverse, `marker` is the upper bound."""
    lower, upper = (end_marker, marker) if reverse else (marker, end_marker)
    entries: list[str] = []
    for name in sorted(names, reverse=reverse):
        if not name.startswith(prefix) or (lower and name <= lower) or (upper and name >= upper):
            continue
        at = name.find(delimiter, len(prefix)) if delimiter else -1
        entry = name if at < 0 else name[: at + len(delimiter)]
        if entry != name and entry == marker:
            continue  # Swift never lists the subdir a client passed back as its marker
        if entry not in entries:
            entries.append(entry)
    return entries


def paged(swift: Swift, path: str, size: int, params: dict[str, str]) -> list[str]:
    """Every page of a raw JSON listing, each next marker the previous page's last entry."""
    entries: list[str] = []
    query = {**params, "format": "json", "limit": str(size)}
    for _ in range(200):
        response = swift("GET", path, params=query)
        assert response.status_code in (200, 204), response.text
        listed = response.json() if response.content else []
        page = [entry.get("name", entry.get("subdir")) for entry in listed]
        assert len(page) <= size
        if not page:
            return entries
        entries += page
        query["marker"] = page[-1]
    raise AssertionError("the listing did not end")


def query(root: str, prefix: str, delimiter: str, marker: str, end_marker: str,
          reverse: str) -> dict[str, str]:
    """The listing parameters, all names under this example's root."""
    return {"prefix": root + prefix, "delimiter": delimiter, "reverse": reverse,
            "marker": root + marker if marker else "", "end_marker": root + end_marker if end_marker else ""}


def bounds(names: list[str], data: st.DataObject) -> tuple[str, str]:
    """A marker and an end marker: absent, a listed name, or any string."""
    choice = st.one_of(st.just(""), st.sampled_from(names) if names else st.just(""), texts(ALPHABET, 3))
    return data.draw(choice), data.draw(choice)


@pytest.fixture(scope="module")
def paging_container(conn: swiftclient.Connection) -> str:
    name = unique("paging")
    conn.put_container(name)
    return name


@pytest.fixture(scope="module")
def account_owner(make_user: Callable[..., User], user_swift: Callable[[User, str | None], Swift]
                  ) -> tuple[User, Swift]:
    """A fresh account, so that only this test's containers are in it."""
    owner = make_user("member")
    return owner, user_swift(owner, None)


@EXAMPLES
@given(names=st.lists(texts(ALPHABET, 5), max_size=40, unique=True), data=st.data(),
       prefix=st.one_of(st.just(""), texts(ALPHABET, 2)),
       delimiter=st.sampled_from(["", "/", "-", "a/", "%", "😀"]), size=st.integers(1, 7),
       reverse=st.booleans())
def test_container_listings_page_through_everything(conn: swiftclient.Connection, admin_swift: Swift,
                                                    paging_container: str, names: list[str],
                                                    data: st.DataObject, prefix: str, delimiter: str,
                                                    size: int, reverse: bool) -> None:
    root = f"{next(roots)}."
    for name in names:
        conn.put_object(paging_container, root + name, b"")
    marker, end_marker = bounds(names, data)
    if not reverse and delimiter and marker.startswith(prefix) and delimiter in marker[len(prefix):]:
        marker = ""  # a marker inside a subdir: stackbox resumes past the subdir, Swift lists it again
    want = [root + entry for entry in expected(names, prefix, delimiter, marker, end_marker, reverse)]
    params = query(root, prefix, delimiter, marker, end_marker, "on" if reverse else "off")
    assert paged(admin_swift, f"/{quote(paging_container)}", size, params) == want
    if not reverse:
        _, listing = conn.get_container(paging_container, marker=params["marker"], limit=size,
                                        prefix=params["prefix"], delimiter=delimiter or None,
                                        end_marker=params["end_marker"], full_listing=True)
        assert [entry.get("name", entry.get("subdir")) for entry in listing] == want


@EXAMPLES
@given(names=st.lists(texts([c for c in ALPHABET if c != "/"], 4), max_size=15, unique=True),
       data=st.data(), prefix=st.one_of(st.just(""), texts(["a", "-", "é", "😀"], 2)),
       delimiter=st.sampled_from(["", "-", "a", "%", "😀"]), size=st.integers(1, 7), reverse=st.booleans())
def test_account_listings_page_through_everything(account_owner: tuple[User, Swift], names: list[str],
                                                  data: st.DataObject, prefix: str, delimiter: str, size: int,
                                                  reverse: bool) -> None:
    _, swift = account_owner
    root = f"{next(roots)}."
    for name in names:
        assert swift("PUT", f"/{quote(root + name)}").status_code in (201, 202)
    marker, end_marker = bounds(names, data)
    want = [root + entry for entry in expected(names, prefix, delimiter, marker, end_marker, reverse)]
    params = query(root, prefix, delimiter, marker, end_marker, "true" if reverse else "false")
    assert paged(swift, "", size, params) == want


def test_reverse_listings_keep_subdirs_in_order(admin_swift: Swift, paging_container: str,
                                                account_owner: tuple[User, Swift]) -> None:
    """Subdirs were merged in ascending order into a descending page."""
    root = f"{next(roots)}."
    for name in ("a/1", "a/2", "b", "c/1", "d"):
        assert admin_swift("PUT", f"/{paging_container}/{root}{name}", data=b"").status_code == 201
    listed = admin_swift("GET", f"/{paging_container}", params={"prefix": root, "delimiter": "/",
                                                               "reverse": "on", "format": "json"}).json()
    assert [entry.get("name", entry.get("subdir")) for entry in listed] == [
        f"{root}d", f"{root}c/", f"{root}b", f"{root}a/"]
    _, swift = account_owner
    for name in ("x-1", "x-2", "y", "z-1"):
        assert swift("PUT", f"/{root}{name}").status_code == 201
    listed = swift("GET", "", params={"prefix": root, "delimiter": "-", "reverse": "on",
                                      "format": "json"}).json()
    names = [entry.get("name", entry.get("subdir")) for entry in listed]
    assert names == [f"{root}z-", f"{root}y", f"{root}x-"]
