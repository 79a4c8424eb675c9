"""Issue 7, round 2 (Swift): what a second review found, each sent as an attacker would.

- A path's account name went into the 401 challenge unquoted: a CR/LF or a character past Latin-1
  made the answer unwritable (no answer at all, a traceback per request), for anyone, unauthenticated.
- Bulk deletes and archive extraction did every sub-request unchecked against an application
  credential's access rules (Swift's bulk runs before authtoken, so each sub-request meets them).
- Account and container metadata grew without bound across POSTs, and object metadata across
  copies (Swift checks the merged total: 90 items, 4096 bytes).
- A FormPost file's Content-Type with a control character made the object unreadable.
- An archive member whose name is not UTF-8 aborted the whole extraction with a 500; a member's
  over-long container name was created before being refused; bulk-delete paths that are not UTF-8
  deleted the object named U+FFFD instead.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import socket
import tarfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from cloud import RunningCloud
from swift.conftest import MakeUser, User
from swift.helpers import Swift, unique

UserSwift = Callable[..., Swift]
JSON = {"Accept": "application/json"}


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# ---------------------------------------------------------------------------------- the 401 challenge


def test_an_account_name_is_quoted_in_the_challenge(cloud: RunningCloud) -> None:
    for raw_account, quoted in ((b"AUTH_x%0D%0ASet-Cookie:%20a=b", "AUTH_x%0D%0ASet-Cookie%3A%20a%3Db"),
                                (b"AUTH_%E2%82%AC", "AUTH_%E2%82%AC")):
        answer = _raw(cloud.object_port, b"GET /v1/" + raw_account + b"/c HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
        head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
        assert head.startswith("HTTP/1.1 401 "), answer[:200]
        # Header names compared in lower case, as HTTP does (a proxy may send them so).
        assert f'www-authenticate: swift realm="{quoted}", keystone uri='.lower() in head.lower()
        assert "set-cookie" not in head.lower().replace(quoted.lower(), "")


# ---------------------------------------------------------------------------------- access rules


def _app_cred_token(cloud: RunningCloud, user: User, rules: list[dict[str, str]]) -> str:
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user.name, "password": user.password, "domain": {"id": "default"}}}},
        "scope": {"project": {"id": user.project_id}}}
    token = requests.post(f"{cloud.auth_url}/auth/tokens", json={"auth": auth}, timeout=30)
    body = {"application_credential": {"name": unique("ac"), "access_rules": rules}}
    created = requests.post(f"{cloud.auth_url}/users/{user.user_id}/application_credentials", json=body,
                            headers={"X-Auth-Token": token.headers["X-Subject-Token"]}, timeout=30)
    app_cred = created.json()["application_credential"]
    issued = requests.post(f"{cloud.auth_url}/auth/tokens", timeout=30, json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": app_cred["id"], "secret": app_cred["secret"]}}}})
    return str(issued.headers["X-Subject-Token"])


def _rule(method: str, path: str) -> dict[str, str]:
    return {"service": "object-store", "method": method, "path": path}


def test_bulk_delete_meets_the_access_rules_of_each_path(cloud: RunningCloud, make_user: MakeUser,
                                                         user_swift: UserSwift) -> None:
    user = make_user("member")
    owner = user_swift(user)
    name = unique("kept")
    assert owner("PUT", f"/{name}").status_code == 201
    for key in ("precious", "scratch"):
        assert owner("PUT", f"/{name}/{key}", data=b"data").status_code == 201
    account = f"/v1/{user.account}"
    rules = [_rule("POST", account), _rule("DELETE", f"{account}/{name}/scratch")]
    token = _app_cred_token(cloud, user, rules)
    as_app = Swift(cloud, user.account, token)

    report = as_app("POST", "?bulk-delete", data=f"/{name}/precious\n/{name}/scratch\n/{name}\n",
                    headers=JSON).json()
    assert report["Number Deleted"] == 1
    assert sorted(report["Errors"]) == [[f"/{name}", "401 Unauthorized"],
                                        [f"/{name}/precious", "401 Unauthorized"]]
    assert owner("GET", f"/{name}/precious").content == b"data"
    assert owner("HEAD", f"/{name}/scratch").status_code == 404


def test_archive_extraction_meets_the_access_rules_of_each_object(cloud: RunningCloud, make_user: MakeUser,
                                                                  user_swift: UserSwift) -> None:
    user = make_user("member")
    owner = user_swift(user)
    name = unique("drop")
    assert owner("PUT", f"/{name}").status_code == 201
    account = f"/v1/{user.account}"
    token = _app_cred_token(cloud, user, [_rule("PUT", f"{account}/{name}/inbox"),
                                          _rule("PUT", f"{account}/{name}/inbox/allowed")])
    archive = _tar({"allowed": b"ok", "../../elsewhere": b"no", "sub/deeper": b"no"})
    report = Swift(cloud, user.account, token)("PUT", f"/{name}/inbox?extract-archive=tar", data=archive,
                                               headers=JSON).json()
    assert report["Number Files Created"] == 1
    assert sorted(report["Errors"]) == [[f"/{name}/inbox/elsewhere", "401 Unauthorized"],
                                        [f"/{name}/inbox/sub/deeper", "401 Unauthorized"]]
    assert owner("GET", f"/{name}?format=json").json()[0]["name"] == "inbox/allowed"
    assert len(owner("GET", f"/{name}?format=json").json()) == 1

    planted = unique("planted")
    account_archive = _tar({f"{planted}/x": b"no"})
    report = Swift(cloud, user.account, token)("PUT", "?extract-archive=tar", data=account_archive,
                                               headers=JSON)
    assert report.status_code == 401  # the request itself is outside the rules
    assert owner("HEAD", f"/{planted}").status_code == 404


def _tar(files: dict[str, bytes], **options: Any) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", **options) as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- metadata totals


def _items(kind: str, tag: str, count: int, value: str = "v") -> dict[str, str]:
    return {f"X-{kind}-Meta-{tag}{index}": value for index in range(count)}


def test_account_and_container_metadata_totals_are_bounded(make_user: MakeUser,
                                                           user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    name = unique("meta")
    assert owner("PUT", f"/{name}").status_code == 201
    for kind, path in (("Account", ""), ("Container", f"/{name}")):
        def meta_count(kind: str = kind, path: str = path) -> int:
            headers = owner("HEAD", path).headers
            prefix = f"x-{kind.lower()}-meta-"
            return len([header for header in headers if header.lower().startswith(prefix)])

        assert owner("POST", path, headers=_items(kind, "a", 60)).status_code == 204
        too_many = owner("POST", path, headers=_items(kind, "b", 31))
        assert (too_many.status_code, too_many.text) == (400, "Too many metadata items; max 90")
        too_big = owner("POST", path, headers={**_items(kind, "a", 30, ""),
                                               **_items(kind, "c", 20, "x" * 200)})
        assert (too_big.status_code, too_big.text) == (400, "Total metadata too large; max 4096")
        assert meta_count() == 60
        # Replaced and removed items count as the result has them, as in Swift's broker.
        replaced = owner("POST", path, headers={**_items(kind, "a", 30, ""), **_items(kind, "b", 60)})
        assert replaced.status_code == 204
        assert meta_count() == 90
    again = owner("PUT", f"/{name}", headers=_items("Container", "d", 31))
    assert (again.status_code, again.text) == (400, "Too many metadata items; max 90")


def test_copies_do_not_pile_up_object_metadata(make_user: MakeUser, user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    name = unique("copies")
    assert owner("PUT", f"/{name}").status_code == 201
    assert owner("PUT", f"/{name}/o0", data=b"x", headers=_items("Object", "k0-", 90)).status_code == 201
    put_copy = owner("PUT", f"/{name}/o1", headers={"X-Copy-From": f"{name}/o0", "Content-Length": "0",
                                                    **_items("Object", "k1-", 5)})
    assert (put_copy.status_code, put_copy.text) == (400, "Too many metadata items; max 90")
    copy = owner("COPY", f"/{name}/o0", headers={"Destination": f"{name}/o2", **_items("Object", "k2-", 1)})
    assert (copy.status_code, copy.text) == (400, "Too many metadata items; max 90")
    fresh = owner("COPY", f"/{name}/o0", headers={"Destination": f"{name}/o3", "X-Fresh-Metadata": "true",
                                                  **_items("Object", "k3-", 5)})
    assert fresh.status_code == 201
    assert owner("HEAD", f"/{name}/o1").status_code == 404


# ---------------------------------------------------------------------------------- FormPost


def _form(path: str, key: str, content_type: bytes) -> tuple[bytes, dict[str, str]]:
    expires = str(int(time.time()) + 600)
    fields = {"redirect": "", "max_file_size": "1000", "max_file_count": "5", "expires": expires}
    message = "\n".join([path, *fields.values()])
    fields["signature"] = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode()
             for field, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n'
                 .encode() + b"Content-Type: " + content_type + b"\r\n\r\nhello\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_a_form_post_content_type_with_control_characters_is_refused(make_user: MakeUser,
                                                                     user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    name = unique("form")
    assert owner("PUT", f"/{name}").status_code == 201
    assert owner("POST", f"/{name}", headers={"X-Container-Meta-Temp-URL-Key": "form-key"}).status_code == 204
    path = f"/v1/{owner.account}/{name}/"
    for content_type in (b"text/pl\x0bain", b"text/plain\x7f", b"text/pl\x00ain"):
        body, headers = _form(path, "form-key", content_type)
        posted = owner("POST", f"/{name}/", token=None, data=body, headers=headers)
        assert (posted.status_code, posted.text) == (
            400, "<html><body><p>400 Bad Request: invalid Content-Type</p></body></html>")
        assert owner("HEAD", f"/{name}/f.txt").status_code == 404
    body, headers = _form(path, "form-key", b"text/plain")
    assert owner("POST", f"/{name}/", token=None, data=body, headers=headers).status_code == 201
    assert owner("GET", f"/{name}/f.txt").headers["Content-Type"] == "text/plain"


# ---------------------------------------------------------------------------------- bulk names


def test_archive_members_that_are_not_utf8_are_refused_one_by_one(make_user: MakeUser,
                                                                  user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    name, long_name = unique("names"), "L" * 300
    assert owner("PUT", f"/{name}").status_code == 201
    archive = _tar({f"{name}/\udcff\udcfe.txt": b"x", f"{name}/ok.txt": b"ok", f"{long_name}/x": b"x"},
                   format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
    report = owner("PUT", "?extract-archive=tar", data=archive, headers=JSON).json()
    assert report["Response Status"] == "400 Bad Request"
    assert report["Number Files Created"] == 1
    assert sorted(report["Errors"]) == [[f"/{long_name}/x", "400 Bad Request"],
                                        [f"/{name}/%FF%FE.txt", "412 Precondition Failed"]]
    assert [entry["name"] for entry in owner("GET", f"/{name}?format=json").json()] == ["ok.txt"]
    assert owner("HEAD", f"/{long_name}").status_code == 404


def test_bulk_delete_paths_that_are_not_utf8_delete_nothing(make_user: MakeUser,
                                                            user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    name = unique("fffd")
    assert owner("PUT", f"/{name}").status_code == 201
    assert owner("PUT", f"/{name}/%EF%BF%BD", data=b"replacement character").status_code == 201
    report = owner("POST", "?bulk-delete", data=f"/{name}/%FF\n/{name}/a%00b\n", headers=JSON).json()
    assert sorted(report["Errors"]) == [[f"/{name}/%FF", "412 Precondition Failed"],
                                        [f"/{name}/a%00b", "412 Precondition Failed"]]
    assert owner("GET", f"/{name}/%EF%BF%BD").content == b"replacement character"


def test_bulk_delete_removes_a_container_after_its_listed_objects(make_user: MakeUser,
                                                                  user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    name = unique("emptied")
    assert owner("PUT", f"/{name}").status_code == 201
    keys = [f"k{index}" for index in range(20)]
    for key in keys:
        assert owner("PUT", f"/{name}/{key}", data=b"x").status_code == 201
    body = "".join(f"/{name}/{key}\n" for key in keys[:3]) + f"/{name}\n" + "".join(
        f"/{name}/{key}\n" for key in keys[3:])
    report = owner("POST", "?bulk-delete", data=body, headers=JSON).json()
    assert (report["Number Deleted"], report["Errors"]) == (21, [])
    assert owner("HEAD", f"/{name}").status_code == 404


# ---------------------------------------------------------------------------------- TempURL expiry


def test_an_iso8601_temp_url_is_signed_over_its_unix_time(make_user: MakeUser,
                                                         user_swift: UserSwift) -> None:
    """Compatibility: Swift signs the expiry as a Unix time whatever form the URL gives it in, so
    `swift tempurl --iso8601` URLs were refused (401), and a signature over the ISO text accepted."""
    from swiftclient.utils import generate_temp_url

    owner = user_swift(make_user("member"))
    name = unique("iso")
    assert owner("PUT", f"/{name}").status_code == 201
    assert owner("PUT", f"/{name}/o", data=b"shared").status_code == 201
    assert owner("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "iso-key"}).status_code == 204
    path = f"/v1/{owner.account}/{name}/o"
    for iso in (True, False):
        url = generate_temp_url(path, int(time.time()) + 600, "iso-key", "GET", absolute=True, iso8601=iso,
                                digest="sha256")
        assert requests.get(owner.cloud.object_url + url, timeout=30).content == b"shared", url
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    signature = hmac.new(b"iso-key", f"GET\n{expires}\n{path}".encode(), hashlib.sha256).hexdigest()
    forged = requests.get(f"{owner.cloud.object_url}{path}",
                          params={"temp_url_sig": signature, "temp_url_expires": expires}, timeout=30)
    assert forged.status_code == 401


def test_concurrent_metadata_updates_cannot_add_up_past_the_limit(make_user: MakeUser,
                                                                  user_swift: UserSwift) -> None:
    """Each POST checked the total before the write, outside its transaction: two workers' POSTs of 50
    items each both passed and left 100. The total is now checked on the merged result inside it."""
    owner = user_swift(make_user("member"))
    for attempt in range(5):
        name = unique("race")
        assert owner("PUT", f"/{name}").status_code == 201
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(
                lambda letter, path=f"/{name}": owner("POST", path, headers=_items("Container", letter, 50)),
                "abcdefgh"))
        statuses = sorted(answer.status_code for answer in answers)
        headers = owner("HEAD", f"/{name}").headers
        count = len([header for header in headers if header.startswith("X-Container-Meta-")])
        assert count <= 90, (attempt, count, statuses)
        assert statuses.count(204) == 1 and statuses.count(400) == 7, statuses
