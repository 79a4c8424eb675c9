"""Differential checking: one raw request sequence against stackbox and the reference Swift 2.38 cloud.

Each side records, per request, the status, the headers clients read and the body, normalized so that what
legitimately differs (tokens, account ids, transaction ids, dates, timestamps, version ids, owner ids)
compares equal; the two records must then be identical.
"""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REFERENCE_HOST, REFERENCE_PORT = "127.0.0.1", 18080
REFERENCE_URL = f"http://{REFERENCE_HOST}:{REFERENCE_PORT}"
REFERENCE_AUTH_URL = "http://127.0.0.1:15000/v3"

# Headers clients read; any other header (Date, Server, X-Trans-Id, X-Openstack-Request-Id...) is ignored.
COMPARED_HEADERS = re.compile(
    r"^(content-type|content-length|etag|x-object-.*|x-container-.*|x-versions-.*|x-history-location"
    r"|x-symlink-.*|content-location|location|accept-ranges|x-amz-version-id|x-amz-delete-marker"
    r"|content-disposition|expires|www-authenticate|content-range|x-parts-count|x-static-large-object)$")
TEMP_URL_SIG = re.compile(r"temp_url_sig=[0-9a-f]+")
KEYSTONE_URI = re.compile(r'Keystone uri="[^"]*"')
PRESENCE_ONLY_HEADERS = {"last-modified", "x-timestamp", "x-object-meta-mtime", "x-manifest-etag"}
SWIFT_TIMESTAMP = re.compile(r"\d{10}\.\d{5}(?:_[0-9a-f]{16})?")
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z?")
VERSION_ID_QUERY = re.compile(r"(version-id=|versionId=)([^&\s\"<]+)")
VERSION_KEYS = {"version_id", "VersionId", "VersionIdMarker", "NextVersionIdMarker", "x-object-version-id",
                "x-amz-version-id"}
MULTIPART_BOUNDARY = re.compile(r"boundary=([0-9A-Za-z]+)")
VOLATILE_XML = {"LastModified", "ID", "DisplayName", "RequestId", "HostId"}


def reference_answers() -> bool:
    try:
        with socket.create_connection((REFERENCE_HOST, REFERENCE_PORT), timeout=2):
            pass
        return requests.get(f"{REFERENCE_URL}/info", timeout=5).ok
    except (OSError, requests.RequestException):
        return False


def keystone_token(auth_url: str, user: str, password: str, project: str) -> tuple[str, str]:
    """(token, project id) from a Keystone v3 password login scoped to `project`."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"id": "default"}}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    answer = requests.post(f"{auth_url}/auth/tokens", json=body, timeout=30)
    answer.raise_for_status()
    return answer.headers["X-Subject-Token"], answer.json()["token"]["project"]["id"]


class Normalizer:
    """Replaces per-side values by stable placeholders; version ids get ordinals by first appearance."""

    def __init__(self, base_url: str, account: str) -> None:
        self.base_url = base_url
        self.account = account
        self.version_ordinals: dict[str, str] = {}

    def version(self, value: str) -> str:
        if value in ("", "null"):
            return value
        return self.version_ordinals.setdefault(value, f"<v{len(self.version_ordinals) + 1}>")

    def text(self, value: str) -> str:
        value = value.replace(self.base_url, "<base>").replace(self.account, "AUTH_<account>")
        value = VERSION_ID_QUERY.sub(lambda m: m.group(1) + self.version(m.group(2)), value)
        value = TEMP_URL_SIG.sub("temp_url_sig=<sig>", value)
        value = SWIFT_TIMESTAMP.sub("<ts>", value)
        return ISO_DATE.sub("<date>", value)

    def headers(self, raw: requests.structures.CaseInsensitiveDict[str]) -> dict[str, str]:
        kept: dict[str, str] = {}
        for name, value in raw.items():
            lower = name.lower()
            if lower in PRESENCE_ONLY_HEADERS:
                kept[lower] = "<present>"
            elif lower in VERSION_KEYS:
                kept[lower] = self.version(value)
            elif COMPARED_HEADERS.match(lower):
                kept[lower] = KEYSTONE_URI.sub('Keystone uri="<keystone>"', self.text(value))
        return dict(sorted(kept.items()))

    def json_value(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.json_value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json_value(v) for v in value]
        if isinstance(value, str):
            return self.version(value) if key in VERSION_KEYS else self.text(value)
        return value

    def xml(self, element: ET.Element) -> Any:
        tag = element.tag.split("}")[-1]
        children = list(element)
        if not children:
            text = (element.text or "").strip()
            if tag in VOLATILE_XML:
                text = "<volatile>"
            elif tag in VERSION_KEYS:
                text = self.version(text)
            else:
                text = self.text(text)
            return {tag: text}
        return {tag: [self.xml(child) for child in children]}

    def body(self, content: bytes, content_type: str) -> Any:
        if not content:
            return ""
        if "json" in content_type:
            try:
                return self.json_value(json.loads(content))
            except ValueError:
                pass
        if "xml" in content_type or content.lstrip().startswith(b"<?xml"):
            try:
                return self.xml(ET.fromstring(content))
            except ET.ParseError:
                pass
        return self.text(content.decode("utf-8", "replace"))


@dataclass
class Exchange:
    label: str
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Side:
    """One cloud: raw requests as one account, each answer recorded normalized."""

    name: str
    base_url: str
    account: str
    token: str
    s3_credentials: Credentials | None = None
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.normalizer = Normalizer(self.base_url, self.account)

    def swift(self, method: str, path: str = "", *, headers: dict[str, str] | None = None, data: bytes = b"",
              label: str = "", record: bool = True, anonymous: bool = False) -> requests.Response:
        """`path` is relative to the account: "/container/object?query"; `anonymous` sends no token."""
        sent = {**({} if anonymous else {"X-Auth-Token": self.token}), **(headers or {})}
        answer = requests.request(method, f"{self.base_url}/v1/{self.account}{path}", headers=sent,
                                  data=data, timeout=30, allow_redirects=False)
        if record:
            self.record(label or f"{method} {path}", answer)
        return answer

    def s3(self, method: str, path: str, *, headers: dict[str, str] | None = None, data: bytes = b"",
           label: str = "", record: bool = True) -> requests.Response:
        """A SigV4-signed path-style S3 request ("/bucket/key?query")."""
        assert self.s3_credentials is not None
        request = AWSRequest(method=method, url=f"{self.base_url}{path}", data=data, headers=headers or {})
        S3SigV4Auth(self.s3_credentials, "s3", "us-east-1").add_auth(request)
        prepared = request.prepare()
        answer = requests.request(method, prepared.url, headers=dict(prepared.headers), data=data,
                                  timeout=30, allow_redirects=False)
        if record:
            self.record(label or f"S3 {method} {path}", answer)
        return answer

    def record(self, label: str, answer: requests.Response) -> None:
        normalize = self.normalizer
        content, content_type = answer.content, answer.headers.get("Content-Type", "")
        boundary = MULTIPART_BOUNDARY.search(content_type)
        if boundary:  # random per answer: compared as a placeholder
            content = content.replace(boundary.group(1).encode(), b"<boundary>")
            answer.headers["Content-Type"] = content_type.replace(boundary.group(1), "<boundary>")
        headers = normalize.headers(answer.headers)
        body = normalize.body(content, answer.headers.get("Content-Type", ""))
        if not isinstance(body, str) and "content-length" in headers:
            headers["content-length"] = "<structured>"  # serializations differ in whitespace
        self.exchanges.append(Exchange(normalize.text(label), answer.status_code, headers, body))


Scenario = Callable[[Side, str], None]


def scenario_params(scenarios: list[Scenario], known: dict[str, str]) -> list[Any]:
    """Scenarios as pytest params; those with a known, reported difference are expected to fail."""
    return [pytest.param(s, id=s.__name__, marks=[pytest.mark.xfail(reason=known[s.__name__], strict=False)]
                         if s.__name__ in known else []) for s in scenarios]


def differences(ours: list[Exchange], reference: list[Exchange],
                ignore_headers: frozenset[str] = frozenset(), ignore_body: bool = False) -> list[str]:
    """Human-readable differences, step by step."""
    found = []
    for step, (mine, theirs) in enumerate(zip(ours, reference, strict=True)):
        where = f"step {step} {theirs.label}"
        if mine.status != theirs.status:
            found.append(f"{where}: status ours {mine.status} reference {theirs.status}")
        names = (set(mine.headers) | set(theirs.headers)) - ignore_headers
        for name in sorted(names):
            if mine.headers.get(name) != theirs.headers.get(name):
                found.append(f"{where}: header {name}: ours {mine.headers.get(name)!r} "
                             f"reference {theirs.headers.get(name)!r}")
        if not ignore_body and mine.body != theirs.body:
            found.append(f"{where}: body\n    ours      {mine.body!r}\n    reference {theirs.body!r}")
    return found
