"""Swift middleware against Swift 2.38: staticweb, container and account quotas, /info, routing edges."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from urllib.parse import quote, urlencode

import pytest
import requests

from cloud import RunningCloud
from compat.conftest import Compare
from compat.harness import REFERENCE_AUTH_URL, REFERENCE_URL, Scenario, Side, keystone_token, scenario_params

WEBSITE = {"X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Web-Index": "index.html",
           "X-Container-Meta-Web-Listings": "true", "X-Container-Meta-Web-Error": "error.html"}


def _site(side: Side, c: str, settings: dict[str, str]) -> None:
    side.swift("PUT", f"/{c}", headers=settings, record=False)
    pages = {"index.html": b"<h1>root</h1>", "dir/a.txt": b"hello a", "dir/sub/b.txt": b"hello b",
             "dir/big.bin": b"x" * 5000, "404error.html": b"custom 404", "withindex/index.html": b"sub index",
             "it's & <odd>.html": b"odd"}
    for key, body in pages.items():
        kind = "text/html" if key.endswith(".html") else "text/plain"
        side.swift("PUT", f"/{c}/{key}", data=body, headers={"Content-Type": kind}, record=False)
    side.swift("PUT", f"/{c}/marker", headers={"Content-Type": "application/directory"}, record=False)


PATHS = ["", "/", "/dir", "/dir/", "/dir/sub/", "/dir/a.txt", "/nothing", "/nothing/", "/marker", "/marker/",
         "/withindex", "/withindex/", "/dir/nothing/"]


def staticweb_anonymous(side: Side, c: str) -> None:
    _site(side, c, WEBSITE)
    for path in PATHS:
        side.swift("GET", f"/{c}{path}", anonymous=True)


def staticweb_anonymous_head(side: Side, c: str) -> None:
    _site(side, c, WEBSITE)
    for path in PATHS:
        side.swift("HEAD", f"/{c}{path}", anonymous=True)


def staticweb_listings_only(side: Side, c: str) -> None:
    _site(side, c, {"X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Web-Listings": "true",
                    "X-Container-Meta-Web-Listings-Label": "Site",
                    "X-Container-Meta-Web-Listings-CSS": "s.css"})
    for path in PATHS:
        side.swift("GET", f"/{c}{path}", anonymous=True)


def staticweb_listings_off(side: Side, c: str) -> None:
    _site(side, c, {"X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Web-Index": "missing.html"})
    for path in ["/", "/dir/", "/dir", "/nothing", "/dir/a.txt"]:
        side.swift("GET", f"/{c}{path}", anonymous=True)


def staticweb_without_rlistings(side: Side, c: str) -> None:
    _site(side, c, {**WEBSITE, "X-Container-Read": ".r:*", "X-Container-Meta-Web-Error": ".html"})
    side.swift("PUT", f"/{c}/401.html", data=b"who are you", headers={"Content-Type": "text/html"},
               record=False)
    for path in ["", "/", "/dir", "/dir/", "/dir/a.txt", "/withindex/", "/nothing"]:
        side.swift("GET", f"/{c}{path}", anonymous=True)


def staticweb_private_and_web_mode(side: Side, c: str) -> None:
    _site(side, c, {k: v for k, v in WEBSITE.items() if k != "X-Container-Read"})
    for path in ["", "/", "/dir/", "/dir/a.txt"]:
        side.swift("GET", f"/{c}{path}", anonymous=True)
        side.swift("GET", f"/{c}{path}")
        side.swift("GET", f"/{c}{path}", headers={"X-Web-Mode": "true"})
    side.swift("PUT", f"/{c}-plain", record=False)
    side.swift("GET", f"/{c}-plain", headers={"X-Web-Mode": "true"})
    side.swift("GET", f"/{c}-plain/", headers={"X-Web-Mode": "yes"})


def staticweb_directory_type(side: Side, c: str) -> None:
    _site(side, c, {**WEBSITE, "X-Container-Meta-Web-Directory-Type": "text/directory"})
    side.swift("PUT", f"/{c}/tdir", headers={"Content-Type": "text/directory"}, record=False)
    side.swift("PUT", f"/{c}/tdir/x.txt", data=b"x", record=False)
    for path in ["/marker", "/tdir", "/tdir/"]:
        side.swift("GET", f"/{c}{path}", anonymous=True)


def container_quotas(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}", headers={"X-Container-Meta-Quota-Bytes": "x"})
    side.swift("PUT", f"/{c}", headers={"X-Container-Meta-Quota-Bytes": "10",
                                        "X-Container-Meta-Quota-Count": "3"})
    side.swift("POST", f"/{c}", headers={"X-Container-Meta-Quota-Count": "-1"})
    side.swift("POST", f"/{c}", headers={"X-Container-Meta-Quota-Count": ""})
    side.swift("HEAD", f"/{c}")
    side.swift("PUT", f"/{c}/a", data=b"12345678901")
    side.swift("PUT", f"/{c}/a", data=b"123")
    side.swift("POST", f"/{c}", headers={"X-Container-Meta-Quota-Count": "1"})
    side.swift("PUT", f"/{c}/b", data=b"1")


def account_quotas_need_the_reseller(side: Side, c: str) -> None:
    for header in ("X-Account-Quota-Bytes", "X-Account-Meta-Quota-Bytes", "X-Account-Quota-Count",
                   "X-Remove-Account-Quota-Bytes"):
        side.swift("POST", "", headers={header: "100"}, label=f"POST account {header}")


def keystoneauth_tokens(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}", headers={"X-Container-Read": ".r:*"})
    side.swift("PUT", f"/{c}/o", data=b"public")
    side.swift("PUT", f"/{c}-private")
    side.swift("PUT", f"/{c}-private/o", data=b"private")
    for path in (f"/{c}/o", f"/{c}-private/o", f"/{c}"):
        side.swift("GET", path, headers={"X-Service-Token": "garbage"}, label=f"GET {path} bad service token")
        side.swift("GET", path, headers={"X-Auth-Token": "garbage"}, anonymous=True,
                   label=f"GET {path} bad token")
        side.swift("GET", path, headers={"X-Service-Token": side.token}, label=f"GET {path} user as service")


def routing_edges(side: Side, c: str) -> None:
    for path in ["//v1/AUTH_x/c", "//info", "/v1", "/v1/", "/v1//c", "/v1//c/o"]:
        answer = requests.get(side.base_url + path, headers={"X-Auth-Token": side.token}, timeout=30)
        side.record(f"GET {path}", answer)


SCENARIOS = [staticweb_anonymous, staticweb_anonymous_head, staticweb_listings_only, staticweb_listings_off,
             staticweb_without_rlistings, staticweb_private_and_web_mode, staticweb_directory_type,
             container_quotas, account_quotas_need_the_reseller, keystoneauth_tokens, routing_edges]
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS, KNOWN))
def test_middleware_matches_swift(compare: Compare, scenario: Scenario) -> None:
    ignored = {"x-container-bytes-used"}
    if scenario is staticweb_anonymous_head:
        ignored.add("content-length")  # Swift's HEAD of an object path's 301 sends none (eventlet's artifact)
    compare(scenario, ignore_headers=frozenset(ignored))


def test_info_advertises_what_the_reference_does(cloud: RunningCloud) -> None:
    ours = requests.get(f"{cloud.object_url}/info", timeout=30).json()
    reference = requests.get(f"{REFERENCE_URL}/info", timeout=30).json()
    # formpost is ours in addition; every section the reference advertises is advertised, with its keys.
    for section, settings in reference.items():
        assert section in ours, section
        assert set(settings) <= set(ours[section]), (section, set(settings) - set(ours[section]))
    assert ours["swift"] == {**reference["swift"], "version": ours["swift"]["version"]}


# ------------------------------------------------------------------------------------------------ TempURL

EXPIRES = 2_000_000_000
EXPIRES_ISO = "2033-05-18T03:33:20Z"


def _signed(side: Side, method: str, c: str, obj: str, key: str, *, expires: int = EXPIRES,
            prefix: str | None = None, digest: str = "sha256", encoded: bool = False) -> str:
    """The query string of a TempURL for `obj` (or for every object under `prefix`)."""
    path = f"/v1/{side.account}/{c}/"
    target = f"prefix:{path}{prefix}" if prefix is not None else f"{path}{obj}"
    mac = hmac.new(key.encode(), f"{method}\n{expires}\n{target}".encode(), digest)
    sig = mac.hexdigest()
    if encoded:
        sig = f"{digest}:{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"
    query = {"temp_url_sig": sig, "temp_url_expires": str(expires)}
    if prefix is not None:
        query["temp_url_prefix"] = prefix
    return urlencode(query)


def _tempurl_container(side: Side, c: str) -> None:
    # Header values are UTF-8 on the wire, as Swift reads them.
    key = "clé un".encode()
    side.swift("PUT", f"/{c}", headers={"X-Container-Meta-Temp-URL-Key": key,  # type: ignore[dict-item]
                                        "X-Container-Meta-Temp-URL-Key-2": "two"})
    for name, extra in (("dir/file.txt", {}), ("dir/ünï côdé.txt", {}),
                        ("disp.txt", {"Content-Disposition": "inline; filename=own.txt"}),
                        ("meta.txt", {"X-Object-Meta-Secret": "s", "X-Object-Meta-Public-Color": "red"})):
        headers = {"Content-Type": "text/plain", **extra}
        side.swift("PUT", f"/{c}/{quote(name)}", data=b"data", headers=headers, record=False)


def _temp(side: Side, method: str, c: str, obj: str, query: str, label: str, **kwargs: object) -> None:
    side.swift(method, f"/{c}/{quote(obj)}?{query}", anonymous=True, label=f"{method} {obj} ({label})",
               **kwargs)  # type: ignore[arg-type]


def _get(side: Side, c: str, obj: str, label: str, *, key: str = "two", method: str = "GET",
         signed_as: str = "GET", extra: str = "", **signing: object) -> None:
    query = _signed(side, signed_as, c, obj, key, **signing)  # type: ignore[arg-type]
    _temp(side, method, c, obj, query + extra, label)


def tempurl_reads(side: Side, c: str) -> None:
    _tempurl_container(side, c)
    _get(side, c, "dir/file.txt", "utf-8 key", key="clé un")
    _get(side, c, "dir/file.txt", "second key")
    _get(side, c, "dir/file.txt", "head as get", method="HEAD")
    _get(side, c, "dir/file.txt", "head as put", method="HEAD", signed_as="PUT")
    _get(side, c, "dir/file.txt", "get as put", signed_as="PUT")
    _get(side, c, "dir/ünï côdé.txt", "utf-8 path", key="clé un")
    _get(side, c, "dir/file.txt", "sha512 base64", digest="sha512", encoded=True)
    for extra in ("filename=My+File.pdf", "inline", "inline&filename=n%C3%A9.txt", "filename="):
        _get(side, c, "dir/file.txt", extra, extra="&" + extra)
    _get(side, c, "disp.txt", "stored disposition")
    _get(side, c, "disp.txt", "inline wins", extra="&inline")
    _get(side, c, "meta.txt", "private metadata hidden")
    iso = _signed(side, "GET", c, "dir/file.txt", "two").replace(str(EXPIRES), EXPIRES_ISO)
    _temp(side, "GET", c, "dir/file.txt", iso, "iso expiry")
    _get(side, c, "dir/file.txt", "expired", expires=1_500_000_000)
    _get(side, c, "dir/file.txt", "bad key", key="wrong")
    _get(side, c, "missing", "missing")


def tempurl_prefix(side: Side, c: str) -> None:
    _tempurl_container(side, c)
    query = _signed(side, "GET", c, "", "two", prefix="dir/")
    _temp(side, "GET", c, "dir/file.txt", query, "in prefix")
    _temp(side, "GET", c, "dir/ünï côdé.txt", query, "in prefix, utf-8")
    _temp(side, "GET", c, "disp.txt", query, "outside prefix")
    everything = _signed(side, "GET", c, "", "two", prefix="")
    _temp(side, "GET", c, "meta.txt", everything, "empty prefix")


def tempurl_writes(side: Side, c: str) -> None:
    _tempurl_container(side, c)
    put = _signed(side, "PUT", c, "new.txt", "two")
    _temp(side, "PUT", c, "new.txt", put, "put", data=b"fresh", headers={"X-Object-Meta-A": "b"})
    for header, value in (("X-Object-Manifest", f"{c}/dir/"), ("X-Copy-From", f"{c}/dir/file.txt"),
                          ("X-Symlink-Target", f"{c}/dir/file.txt")):
        _temp(side, "PUT", c, "new.txt", put, header, headers={header: value})
    _temp(side, "PUT", c, "new.txt", put + "&multipart-manifest=put", "manifest query", data=b"[]")
    side.swift("GET", f"/{c}/new.txt")
    _temp(side, "POST", c, "new.txt", _signed(side, "POST", c, "new.txt", "two"), "post",
          headers={"X-Object-Meta-C": "d"})
    _temp(side, "DELETE", c, "new.txt", _signed(side, "DELETE", c, "new.txt", "two"), "delete")
    side.swift("GET", f"/{c}/new.txt")


def tempurl_manifests(side: Side, c: str) -> None:
    """A container key's URL reaches that container only: a manifest's segments elsewhere are refused."""
    _tempurl_container(side, c)
    side.swift("PUT", f"/{c}-seg", record=False)
    for container in (c, f"{c}-seg"):
        side.swift("PUT", f"/{container}/s1", data=b"a" * 10, record=False)
    for name, segments in (("near", f"/{c}/s1"), ("far", f"/{c}-seg/s1")):
        manifest = json.dumps([{"path": segments}]).encode()
        side.swift("PUT", f"/{c}/{name}?multipart-manifest=put", data=manifest, record=False)
        _get(side, c, name, f"slo {name}")
        _get(side, c, name, f"slo {name} manifest", extra="&multipart-manifest=get")
    side.swift("PUT", f"/{c}/dlo-near", headers={"X-Object-Manifest": f"{c}/s"}, record=False)
    side.swift("PUT", f"/{c}/dlo-far", headers={"X-Object-Manifest": f"{c}-seg/s"}, record=False)
    _get(side, c, "dlo-near", "dlo near")
    _get(side, c, "dlo-far", "dlo far")


def tempurl_staticweb(side: Side, c: str) -> None:
    """A private website browsed through TempURLs: prefix URLs carry themselves in the listing's links."""
    _site(side, c, {k: v for k, v in WEBSITE.items() if k != "X-Container-Read"})
    side.swift("POST", f"/{c}", headers={"X-Container-Meta-Temp-URL-Key": "two"}, record=False)
    side.swift("PUT", f"/{c}/dir/secret.txt", data=b"s", headers={"X-Object-Meta-Secret": "hidden"},
               record=False)
    for prefix, paths in (("dir/", ["dir/", "dir/sub/", "dir/a.txt", "dir/secret.txt", "dir/nothing",
                                    "dir/nothing/"]),
                          ("", ["", "dir/", "withindex/", "index.html"]),
                          ("withindex/", ["withindex/"])):
        query = _signed(side, "GET", c, "", "two", prefix=prefix)
        for path in paths:
            _temp(side, "GET", c, path, query, f"prefix {prefix!r}")
            _temp(side, "HEAD", c, path, query, f"prefix {prefix!r}")
    _get(side, c, "withindex/", "object url of a directory")
    _get(side, c, "dir/", "object url of a listing")
    encoded = _signed(side, "GET", c, "", "two", prefix="dir/", digest="sha512", encoded=True)
    _temp(side, "GET", c, "dir/", encoded + "&inline", "base64 signature")


TEMPURL_SCENARIOS = [tempurl_reads, tempurl_prefix, tempurl_writes, tempurl_manifests, tempurl_staticweb]


@pytest.mark.parametrize("scenario", scenario_params(TEMPURL_SCENARIOS, {}))
def test_tempurl_matches_swift(compare: Compare, scenario: Scenario) -> None:
    compare(scenario, ignore_headers=frozenset({"x-container-bytes-used"}))


# ------------------------------------------------------------------------------------- keystoneauth

def _other_project_login(cloud: RunningCloud, admin_token: str) -> tuple[str, str, str]:
    """(token, project id, user id) of a fresh member of a fresh project on our side."""
    base, headers = cloud.auth_url, {"X-Auth-Token": admin_token}
    name = f"cmp-{uuid.uuid4().hex[:8]}"
    project = requests.post(f"{base}/projects", headers=headers, timeout=30,
                            json={"project": {"name": name, "domain_id": "default"}}).json()["project"]
    user = requests.post(f"{base}/users", headers=headers, timeout=30, json={"user": {
        "name": name, "password": name, "domain_id": "default"}}).json()["user"]
    role = requests.get(f"{base}/roles?name=member", headers=headers, timeout=30).json()["roles"][0]
    requests.put(f"{base}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}", headers=headers,
                 timeout=30).raise_for_status()
    token, project_id = keystone_token(base, name, name, name)
    return token, project_id, user["id"]


def _reference_demo_login() -> tuple[str, str, str]:
    token, project_id = keystone_token(REFERENCE_AUTH_URL, "demo", "demopass", "demo")
    login = requests.get(f"{REFERENCE_AUTH_URL}/auth/tokens", timeout=30,
                         headers={"X-Auth-Token": token, "X-Subject-Token": token}).json()
    return token, project_id, login["token"]["user"]["id"]


def _cross_project_statuses(base: str, admin: tuple[str, str], other: tuple[str, str, str],
                            c: str) -> list[tuple[str, int]]:
    admin_token, admin_project = admin
    other_token, other_project, other_user = other
    admin_account, other_account = f"AUTH_{admin_project}", f"AUTH_{other_project}"
    seen: list[tuple[str, int]] = []

    def call(label: str, method: str, account: str, path: str, token: str, **headers: str) -> None:
        body = b"x" if method == "PUT" and "X-Copy-From" not in headers else b""
        answer = requests.request(method, f"{base}/v1/{account}{path}", timeout=30, allow_redirects=False,
                                  headers={"X-Auth-Token": token, **headers}, data=body)
        seen.append((label, answer.status_code))

    call("admin reads the other account", "GET", other_account, "", admin_token)
    call("other reads the admin account", "GET", admin_account, "", other_token)
    call("other makes a container in it", "PUT", admin_account, f"/{c}-intruder", other_token)
    grant = f"{other_project}:{other_user}"
    call("admin shares", "PUT", admin_account, f"/{c}", admin_token, **{"X-Container-Read": grant})
    call("admin writes", "PUT", admin_account, f"/{c}/o", admin_token)
    call("other reads the object", "GET", admin_account, f"/{c}/o", other_token)
    call("other lists", "GET", admin_account, f"/{c}", other_token)
    call("other writes without write ACL", "PUT", admin_account, f"/{c}/p", other_token)
    call("other sees no ACL", "HEAD", admin_account, f"/{c}", other_token)
    call("other makes its container", "PUT", other_account, f"/{c}-mine", other_token)
    call("other copies in", "COPY", admin_account, f"/{c}/o", other_token,
         Destination=f"{c}-mine/copy", **{"Destination-Account": other_account})
    call("other copies out without write", "PUT", admin_account, f"/{c}/stolen", other_token,
         **{"X-Copy-From": f"{c}-mine/copy", "X-Copy-From-Account": other_account})
    call("admin grants write", "POST", admin_account, f"/{c}", admin_token, **{"X-Container-Write": grant})
    call("other writes with write ACL", "PUT", admin_account, f"/{c}/p", other_token)
    call("other deletes the container", "DELETE", admin_account, f"/{c}", other_token)
    call("other sets account metadata", "POST", admin_account, "", other_token, **{"X-Account-Meta-A": "b"})
    return seen


def test_cross_project_access_matches_swift(cloud: RunningCloud, ours_login: tuple[str, str, object],
                                            reference_login: tuple[str, str, object]) -> None:
    c = f"cmp-{uuid.uuid4().hex[:10]}"
    ours = _cross_project_statuses(cloud.object_url, (ours_login[0], ours_login[1]),
                                   _other_project_login(cloud, ours_login[0]), c)
    theirs = _cross_project_statuses(REFERENCE_URL, (reference_login[0], reference_login[1]),
                                     _reference_demo_login(), c)
    assert ours == theirs
