"""staticweb: containers served as websites to anonymous readers (and to X-Web-Mode callers), as Swift
2.38 serves them (bodies and statuses captured from the reference); what an attacker cannot get."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from swift.conftest import MakeUser
from swift.helpers import Swift, unique

SITE = {"X-Container-Meta-Web-Index": "index.html", "X-Container-Meta-Web-Listings": "true",
        "X-Container-Meta-Web-Error": "error.html"}
PUBLIC = {"X-Container-Read": ".r:*,.rlistings"}
UserSwift = Callable[..., Swift]


def _site(owner: Swift, headers: dict[str, str]) -> str:
    name = unique("web")
    assert owner("PUT", f"/{name}", headers=headers).status_code == 201
    pages = (("index.html", b"<h1>home</h1>", "text/html"), ("dir/a.txt", b"hello", "text/plain"),
             ("dir/sub/b.txt", b"b", "text/plain"), ("404error.html", b"lost", "text/html"),
             ("docs/index.html", b"docs home", "text/html"), ("marker", b"", "application/directory"))
    for key, body, kind in pages:
        assert owner("PUT", f"/{name}/{key}", data=body, headers={"Content-Type": kind}).status_code == 201
    return name


def _anonymous(owner: Swift) -> Swift:
    return Swift(owner.cloud, owner.account, None)


def test_index_redirects_and_listing(admin_swift: Swift) -> None:
    name = _site(admin_swift, {**SITE, **PUBLIC})
    anonymous = _anonymous(admin_swift)
    root = anonymous("GET", f"/{name}", allow_redirects=False)
    assert root.status_code == 301
    assert root.headers["Location"] == f"{admin_swift.url}/{name}/"
    assert anonymous("GET", f"/{name}/").text == "<h1>home</h1>"
    assert anonymous("GET", f"/{name}/docs", allow_redirects=False).status_code == 301
    assert anonymous("GET", f"/{name}/docs/").text == "docs home"
    redirect = anonymous("GET", f"/{name}/dir", allow_redirects=False)
    assert redirect.headers["Location"].endswith(f"/{name}/dir/")
    listing = anonymous("GET", f"/{name}/dir/")
    assert listing.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert f"<title>Listing of /v1/{admin_swift.account}/{name}/dir/</title>" in listing.text
    assert '<td class="colname"><a href="./sub/">sub/</a></td>' in listing.text
    assert '<tr class="item type-text type-plain">\n    <td class="colname"><a href="./a%2Etxt">a.txt</a>' \
        in listing.text
    assert '<tr id="parent" class="item">' in listing.text
    head = anonymous("HEAD", f"/{name}/dir/")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == str(len(listing.content))
    # An object is served as itself; a missing one (and a directory marker) gets the error page.
    assert anonymous("GET", f"/{name}/dir/a.txt").text == "hello"
    for missing in ("nothing", "nothing/", "marker", "dir/nothing/"):
        lost = anonymous("GET", f"/{name}/{missing}")
        assert (lost.status_code, lost.text) == (404, "lost"), missing


def test_listing_disabled_and_labels(admin_swift: Swift) -> None:
    name = _site(admin_swift, {"X-Container-Meta-Web-Index": "missing.html", **PUBLIC})
    anonymous = _anonymous(admin_swift)
    disabled = anonymous("GET", f"/{name}/")
    assert disabled.status_code == 404
    assert "<h1>Web Listing Disabled</h1>" in disabled.text
    assert "<b>X-Container-Meta-Web-Index: missing.html</b>" in disabled.text
    labelled = _site(admin_swift, {"X-Container-Meta-Web-Listings": "on", **PUBLIC,
                                   "X-Container-Meta-Web-Listings-Label": "Mine",
                                   "X-Container-Meta-Web-Listings-CSS": "style.css"})
    page = anonymous("GET", f"/{labelled}/dir/sub/").text
    assert "<title>Listing of Mine/dir/sub/</title>" in page
    assert '<link rel="stylesheet" type="text/css" href="../../style.css" />' in page


def test_token_callers_get_the_api_unless_in_web_mode(admin_swift: Swift) -> None:
    name = _site(admin_swift, SITE)
    assert admin_swift("GET", f"/{name}/").text.splitlines()[0] == "404error.html"  # the plain listing
    assert admin_swift("GET", f"/{name}/dir/").status_code == 404
    web = {"X-Web-Mode": "true"}
    assert admin_swift("GET", f"/{name}/", headers=web).text == "<h1>home</h1>"
    assert "Listing of" in admin_swift("GET", f"/{name}/dir/", headers=web).text
    plain = unique("web")
    assert admin_swift("PUT", f"/{plain}").status_code == 201
    assert admin_swift("GET", f"/{plain}", headers=web).status_code == 404


@pytest.mark.parametrize("path", ["", "/", "/dir/", "/dir", "/dir/a.txt", "/index.html", "/nothing"])
def test_a_private_website_stays_private(admin_swift: Swift, path: str) -> None:
    name = _site(admin_swift, SITE)
    answer = _anonymous(admin_swift)("GET", f"/{name}{path}", allow_redirects=False)
    assert answer.status_code == 401
    assert "home" not in answer.text and "lost" not in answer.text


def test_read_without_rlistings_serves_pages_but_no_listing(admin_swift: Swift) -> None:
    name = _site(admin_swift, {**SITE, "X-Container-Read": ".r:*"})
    anonymous = _anonymous(admin_swift)
    assert anonymous("GET", f"/{name}/dir/a.txt").text == "hello"
    assert anonymous("GET", f"/{name}/docs/").text == "docs home"
    for path in ("/", "/dir/"):
        refused = anonymous("GET", f"/{name}{path}")
        assert refused.status_code == 401
        assert "a.txt" not in refused.text
    # Without a listing, an anonymous caller cannot even learn that a directory exists.
    assert anonymous("GET", f"/{name}/dir", allow_redirects=False).status_code == 404


def test_web_mode_grants_nothing_beyond_the_callers_rights(admin_swift: Swift, make_user: MakeUser,
                                                          user_swift: UserSwift) -> None:
    name = _site(admin_swift, SITE)
    outsider = user_swift(make_user("member"), admin_swift.account)
    for path in ("/", "/dir/", "/dir/a.txt", "/index.html"):
        answer = outsider("GET", f"/{name}{path}", headers={"X-Web-Mode": "true"}, allow_redirects=False)
        assert answer.status_code == 403, path


def test_info_advertises_staticweb(admin_swift: Swift) -> None:
    info = requests.get(f"{admin_swift.cloud.object_url}/info", timeout=10).json()
    assert {"staticweb", "account_quotas", "container_quotas", "s3api"} <= set(info)
