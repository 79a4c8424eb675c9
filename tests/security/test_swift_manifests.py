"""Large objects and TempURLs (issue 7, findings 2 and 6).

Finding 2: a DLO or SLO made in a container the attacker may write served segments from containers
they may not read, also through copies; TempURLs let through `X-Object-Manifest` and foreign query
parameters (CVE-2015-5223). Finding 6: nested SLOs expanded multiplicatively under the write lock.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from swift.conftest import MakeUser, User
from swift.helpers import Swift, unique

UserSwift = Callable[..., Swift]
SECRET = b"the private segment"
ACCOUNT_KEY, CONTAINER_KEY = "account-key", "container-key"


@dataclass
class Setup:
    owner_user: User
    owner: Swift
    attacker: Swift
    public: str
    private: str


def _setup(make_user: MakeUser, user_swift: UserSwift) -> Setup:
    """A victim account with a private container and a public one the attacker (another project)
    may read and write."""
    owner_user, attacker_user = make_user("member"), make_user("member")
    owner = user_swift(owner_user)
    public, private = unique("pub"), unique("private")
    grant = f"{attacker_user.project_id}:*"
    assert owner("PUT", f"/{public}", headers={"X-Container-Read": f".r:*,.rlistings,{grant}",
                                               "X-Container-Write": grant}).status_code == 201
    assert owner("PUT", f"/{private}").status_code == 201
    assert owner("PUT", f"/{private}/p1", data=SECRET).status_code == 201
    return Setup(owner_user, owner, user_swift(attacker_user, owner_user.account), public, private)


def _manifest(*paths: str) -> bytes:
    return json.dumps([{"path": path} for path in paths]).encode()


def _put_manifest(swift: Swift, path: str, *segments: str) -> requests.Response:
    return swift("PUT", f"{path}?multipart-manifest=put", data=_manifest(*segments))


def test_dlo_segments_are_read_as_the_requester(make_user: MakeUser, user_swift: UserSwift) -> None:
    s = _setup(make_user, user_swift)
    made = s.attacker("PUT", f"/{s.public}/dlo", data=b"", headers={"X-Object-Manifest": f"{s.private}/p"})
    assert made.status_code == 201  # Swift accepts the manifest; its reads are what is authorised
    anonymous = s.owner("GET", f"/{s.public}/dlo", token=None)
    assert (anonymous.status_code, SECRET in anonymous.content) == (401, False)
    assert s.owner("HEAD", f"/{s.public}/dlo", token=None).status_code == 401
    attacker = s.attacker("GET", f"/{s.public}/dlo")
    assert (attacker.status_code, SECRET in attacker.content) == (403, False)
    assert s.owner("GET", f"/{s.public}/dlo").content == SECRET
    copied = s.attacker("PUT", f"/{s.public}/loot", headers={"X-Copy-From": f"/{s.public}/dlo",
                                                             "Content-Length": "0"})
    assert copied.status_code == 403
    assert s.owner("GET", f"/{s.public}/loot").status_code == 404


def test_slo_segments_are_read_as_the_requester(make_user: MakeUser, user_swift: UserSwift) -> None:
    s = _setup(make_user, user_swift)
    refused = _put_manifest(s.attacker, f"/{s.public}/slo", f"/{s.private}/p1")
    assert (refused.status_code, refused.text) == (400, f"Errors:\n/{s.private}/p1, 403 Forbidden\n")

    # The owner's manifest over a private segment serves only those who may read the segment.
    assert s.owner("PUT", f"/{s.public}/big?multipart-manifest=put",
                   data=_manifest(f"/{s.private}/p1")).status_code == 201
    assert s.owner("GET", f"/{s.public}/big").content == SECRET
    for response in (s.owner("GET", f"/{s.public}/big", token=None), s.attacker("GET", f"/{s.public}/big")):
        assert (response.status_code, SECRET in response.content) == (409, False)
    assert s.owner("HEAD", f"/{s.public}/big", token=None).status_code == 200  # Swift reads no segment

    nested = _put_manifest(s.attacker, f"/{s.public}/nest", f"/{s.public}/big")
    assert (nested.status_code, nested.text) == (400, f"Errors:\n/{s.public}/big, 403 Forbidden\n")
    copy_from = s.attacker("PUT", f"/{s.public}/loot", headers={"X-Copy-From": f"/{s.public}/big",
                                                                "Content-Length": "0"})
    assert copy_from.status_code == 409
    copy = s.attacker("COPY", f"/{s.public}/big", headers={"Destination": f"/{s.public}/loot2"})
    assert copy.status_code == 409
    manifest_copy = s.attacker("COPY", f"/{s.public}/big?multipart-manifest=get",
                               headers={"Destination": f"/{s.public}/loot3"})
    assert manifest_copy.status_code == 409
    for name in ("loot", "loot2", "loot3"):
        assert s.owner("GET", f"/{s.public}/{name}").status_code == 404


def test_slo_delete_spares_segments_the_requester_may_not_delete(make_user: MakeUser,
                                                                 user_swift: UserSwift) -> None:
    s = _setup(make_user, user_swift)
    assert s.owner("PUT", f"/{s.public}/big?multipart-manifest=put",
                   data=_manifest(f"/{s.private}/p1")).status_code == 201
    report = s.attacker("DELETE", f"/{s.public}/big?multipart-manifest=delete",
                        headers={"Accept": "application/json"})
    assert report.status_code == 200
    assert report.json()["Errors"] == [[f"/{s.private}/p1", "403 Forbidden"]]
    assert s.owner("GET", f"/{s.private}/p1").content == SECRET


def _temp_url(swift: Swift, method: str, path: str, key: str, extra: str = "") -> str:
    expires = int(time.time()) + 300
    full = f"/v1/{swift.account}{path}"
    signature = hmac.new(key.encode(), f"{method}\n{expires}\n{full}".encode(), hashlib.sha256).hexdigest()
    return f"{swift.cloud.object_url}{full}?temp_url_sig={signature}&temp_url_expires={expires}{extra}"


def test_temp_url_refuses_manifests_and_foreign_parameters(make_user: MakeUser,
                                                           user_swift: UserSwift) -> None:
    """CVE-2015-5223: a TempURL PUT made a manifest over data the URL does not grant."""
    s = _setup(make_user, user_swift)
    assert s.owner("POST", "", headers={"X-Account-Meta-Temp-URL-Key": ACCOUNT_KEY}).status_code == 204
    url = _temp_url(s.owner, "PUT", f"/{s.public}/upload", ACCOUNT_KEY)

    dlo = requests.put(url, data=b"", headers={"X-Object-Manifest": f"{s.private}/p"}, timeout=10)
    refusal = "The header 'X-Object-Manifest' is not allowed in this tempurl"
    assert (dlo.status_code, dlo.text) == (400, refusal)
    assert dlo.headers["Content-Type"] == "text/html; charset=UTF-8"

    body = _manifest(f"/{s.private}/p1")
    slo = requests.put(url + "&multipart-manifest=put", data=body, timeout=10)
    assert slo.status_code == 201
    stored = s.owner("GET", f"/{s.public}/upload")
    assert (stored.content, "X-Static-Large-Object" in stored.headers) == (body, False)

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo("extracted")
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    extract = requests.put(url + "&extract-archive=tar", data=archive.getvalue(), timeout=10)
    assert extract.status_code == 201
    assert s.owner("GET", f"/{s.public}/upload").content == archive.getvalue()
    assert s.owner("GET", f"/{s.public}/extracted").status_code == 404

    delete_url = _temp_url(s.owner, "DELETE", f"/{s.public}/upload", ACCOUNT_KEY)
    assert requests.delete(delete_url + "&multipart-manifest=delete", timeout=10).status_code == 204
    assert s.owner("GET", f"/{s.private}/p1").content == SECRET


def test_container_key_temp_url_reaches_only_its_container(make_user: MakeUser,
                                                           user_swift: UserSwift) -> None:
    """Swift's tempurl authorises a container key's sub-requests in that container only."""
    s = _setup(make_user, user_swift)
    assert s.owner("PUT", f"/{s.public}/big?multipart-manifest=put",
                   data=_manifest(f"/{s.private}/p1")).status_code == 201
    assert s.owner("POST", f"/{s.public}", headers={"X-Container-Meta-Temp-URL-Key": CONTAINER_KEY}).ok
    assert s.owner("POST", "", headers={"X-Account-Meta-Temp-URL-Key": ACCOUNT_KEY}).ok
    by_container_key = requests.get(_temp_url(s.owner, "GET", f"/{s.public}/big", CONTAINER_KEY),
                                    timeout=10)
    assert (by_container_key.status_code, SECRET in by_container_key.content) == (409, False)
    by_account_key = requests.get(_temp_url(s.owner, "GET", f"/{s.public}/big", ACCOUNT_KEY), timeout=10)
    assert (by_account_key.status_code, by_account_key.content) == (200, SECRET)


def test_nested_manifests_are_bounded_before_any_write(admin_swift: Swift) -> None:
    """Finding 6: a manifest of manifests became millions of extents under the write lock."""
    name = unique("nest")
    assert admin_swift("PUT", f"/{name}").status_code == 201
    assert admin_swift("PUT", f"/{name}/seg", data=b"x").status_code == 201
    assert _put_manifest(admin_swift, f"/{name}/wide", *[f"/{name}/seg"] * 1000).status_code == 201
    started = time.monotonic()
    square = _put_manifest(admin_swift, f"/{name}/square", *[f"/{name}/wide"] * 11)
    assert (square.status_code, square.text) == (
        400, "Manifest too large: the data would span more than 10000 extents.\n")
    assert time.monotonic() - started < 2
    assert admin_swift("HEAD", f"/{name}/square").status_code == 404
    assert _put_manifest(admin_swift, f"/{name}/ten", *[f"/{name}/wide"] * 10).status_code == 201
    too_many = _put_manifest(admin_swift, f"/{name}/many", *[f"/{name}/seg"] * 1001)
    assert (too_many.status_code, too_many.text) == (400, "Too many segments; max 1000.\n")

    previous = "seg"
    for level in range(1, 11):
        made = _put_manifest(admin_swift, f"/{name}/level{level}", f"/{name}/{previous}")
        assert made.status_code == 201, (level, made.text)
        previous = f"level{level}"
    too_deep = _put_manifest(admin_swift, f"/{name}/level11", f"/{name}/level10")
    assert (too_deep.status_code, too_deep.text) == (
        400, f"Errors:\n/{name}/level10, Max recursion depth exceeded\n")
    assert admin_swift("GET", f"/{name}/level10").content == b"x"
