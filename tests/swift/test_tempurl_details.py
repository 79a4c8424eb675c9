"""TempURL details as Swift 2.38's tempurl answers them (captured from the reference): UTF-8 keys,
Content-Disposition (`filename`, `inline`, the object's own), and X-Copy-From refused on writes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote

import requests

from swift.helpers import Swift, unique


def _url(swift: Swift, method: str, path: str, key: bytes, extra: str = "") -> str:
    expires = int(time.time()) + 300
    full = f"/v1/{swift.account}{path}"
    signature = hmac.new(key, f"{method}\n{expires}\n{full}".encode(), hashlib.sha256).hexdigest()
    return f"{swift.cloud.object_url}{quote(full)}?temp_url_sig={signature}&temp_url_expires={expires}{extra}"


def _container(admin_swift: Swift) -> str:
    name = unique("tu")
    # The key's UTF-8 bytes go on the wire, as Swift clients send them; Swift signs with them.
    headers = {"X-Container-Meta-Temp-URL-Key": "clé".encode()}
    assert admin_swift("PUT", f"/{name}", headers=headers).status_code == 201  # type: ignore[arg-type]
    assert admin_swift("PUT", f"/{name}/plain.txt", data=b"data").status_code == 201
    stored = {"Content-Disposition": "inline; filename=own.txt"}
    assert admin_swift("PUT", f"/{name}/ünï.txt", data=b"own", headers=stored).status_code == 201
    return name


def test_a_utf8_key_signs_utf8_paths(admin_swift: Swift) -> None:
    name = _container(admin_swift)
    answer = requests.get(_url(admin_swift, "GET", f"/{name}/ünï.txt", "clé".encode()), timeout=10)
    assert (answer.status_code, answer.content) == (200, b"own")
    # The same text's latin-1 bytes are another key.
    assert requests.get(_url(admin_swift, "GET", f"/{name}/ünï.txt", "clé".encode("latin-1")),
                        timeout=10).status_code == 401


def test_content_disposition(admin_swift: Swift) -> None:
    name = _container(admin_swift)
    key = "clé".encode()

    def disposition(path: str, extra: str = "") -> str:
        answer = requests.get(_url(admin_swift, "GET", path, key, extra), timeout=10)
        assert answer.status_code == 200
        return answer.headers["Content-Disposition"]

    assert disposition(f"/{name}/plain.txt") == \
        "attachment; filename=\"plain.txt\"; filename*=UTF-8''plain.txt"
    assert disposition(f"/{name}/ünï.txt") == "inline; filename=own.txt"  # the object's own
    assert disposition(f"/{name}/ünï.txt", "&filename=a%20b.pdf") == \
        "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf"
    assert disposition(f"/{name}/plain.txt", "&inline") == "inline"
    assert disposition(f"/{name}/plain.txt", "&inline&filename=%C3%A9") == \
        "inline; filename=\"%C3%A9\"; filename*=UTF-8''%C3%A9"


def test_a_put_url_cannot_copy_from_elsewhere(admin_swift: Swift) -> None:
    """X-Copy-From would make the URL's PUT store data the URL does not grant (Swift refuses it)."""
    name = _container(admin_swift)
    secret = unique("secret")
    assert admin_swift("PUT", f"/{secret}").status_code == 201
    assert admin_swift("PUT", f"/{secret}/s", data=b"classified").status_code == 201
    url = _url(admin_swift, "PUT", f"/{name}/copy", "clé".encode())
    refused = requests.put(url, headers={"X-Copy-From": f"{secret}/s"}, timeout=10)
    assert refused.status_code == 400
    assert refused.text == "The header 'X-Copy-From' is not allowed in this tempurl"
    assert admin_swift("GET", f"/{name}/copy").status_code == 404


def test_a_container_key_url_reaches_no_segment_elsewhere(admin_swift: Swift) -> None:
    """Swift's authorize_same_container: the URL's sub-reads stay in the container whose key signed it."""
    name = _container(admin_swift)
    other = unique("seg")
    assert admin_swift("PUT", f"/{other}").status_code == 201
    assert admin_swift("PUT", f"/{other}/s", data=b"elsewhere").status_code == 201
    assert admin_swift("PUT", f"/{name}/s", data=b"here").status_code == 201
    for manifest, segments in (("near", f"/{name}/s"), ("far", f"/{other}/s")):
        body = json.dumps([{"path": segments}])
        assert admin_swift("PUT", f"/{name}/{manifest}?multipart-manifest=put", data=body).status_code == 201
    key = "clé".encode()
    assert requests.get(_url(admin_swift, "GET", f"/{name}/near", key), timeout=10).content == b"here"
    far = requests.get(_url(admin_swift, "GET", f"/{name}/far", key), timeout=10)
    assert b"elsewhere" not in far.content
    assert far.status_code in (401, 409)
    assert admin_swift("PUT", f"/{name}/dlo", headers={"X-Object-Manifest": f"{other}/s"}).status_code == 201
    dlo = requests.get(_url(admin_swift, "GET", f"/{name}/dlo", key), timeout=10)
    assert dlo.status_code == 401 and b"elsewhere" not in dlo.content
    assert dlo.headers["Www-Authenticate"].startswith("Keystone uri=")


def _prefix_url(swift: Swift, path: str, prefix: str, key: bytes) -> str:
    expires = int(time.time()) + 300
    signed = f"prefix:/v1/{swift.account}/{path.split('/')[1]}/{prefix}"
    signature = hmac.new(key, f"GET\n{expires}\n{signed}".encode(), hashlib.sha256).hexdigest()
    return (f"{swift.cloud.object_url}/v1/{swift.account}{path}?temp_url_sig={signature}"
            f"&temp_url_expires={expires}&temp_url_prefix={quote(prefix)}")


def test_a_website_through_a_temp_url(admin_swift: Swift) -> None:
    """A private website browsed with a prefix TempURL: its listings link on with the URL's own
    parameters, served inline; private metadata stays hidden (staticweb's answers too)."""
    name = unique("tuweb")
    headers = {"X-Container-Meta-Web-Listings": "true", "X-Container-Meta-Temp-URL-Key": "k"}
    assert admin_swift("PUT", f"/{name}", headers=headers).status_code == 201
    secret = {"X-Object-Meta-Secret": "hidden", "X-Object-Meta-Public-Color": "red"}
    assert admin_swift("PUT", f"/{name}/dir/a.txt", data=b"a", headers=secret).status_code == 201
    assert admin_swift("PUT", f"/{name}/dir/sub/b.txt", data=b"b").status_code == 201
    listing = requests.get(_prefix_url(admin_swift, f"/{name}/dir/", "dir/", b"k"), timeout=10)
    assert listing.status_code == 200
    assert listing.headers["Content-Disposition"] == "inline"
    assert '<a href="./sub/?temp_url_prefix=dir/&amp;temp_url_expires=' in listing.text
    assert '<tr id="parent"' not in listing.text  # the URL reaches nothing above its prefix
    page = requests.get(_prefix_url(admin_swift, f"/{name}/dir/a.txt", "dir/", b"k"), timeout=10)
    assert page.content == b"a"
    assert "X-Object-Meta-Secret" not in page.headers
    assert page.headers["X-Object-Meta-Public-Color"] == "red"
    outside = requests.get(_prefix_url(admin_swift, f"/{name}/", "dir/", b"k"), timeout=10)
    assert outside.status_code == 401
