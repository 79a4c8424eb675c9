"""Every S3 listing pages through any key set without loss, duplication or disorder.

Hypothesis draws small key sets (spaces, `+`, `%`, non-ASCII, astral and control characters), a
prefix, a delimiter and a page size; each set is written once under a fresh root of one shared bucket
and listed page by page through boto3's paginators and through raw requests that pass the markers
and tokens back by hand (MinIO's SDK style: `start-after` beside `continuation-token`, and
`encoding-type=url` round trips). The union of the pages must be the listing computed here.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus, urlencode

import pytest
import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cloud import RunningCloud
from s3.conftest import unique

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
ALPHABET = ["a", "b", "/", "-", " ", "+", "%", "é", "☃", "\uff5e", "😀", "\x01", "~"]
DELIMITERS = ["", "/", "-", "a/", "%", "😀"]
#: No shrinking: each example writes to the server, so shrinking a failure could take minutes (the
#: printed blob replays it; add Phase.shrink locally to minimise it).
EXAMPLES = settings(max_examples=25, deadline=None, database=None, print_blob=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

names = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=5).map("".join)
key_sets = st.lists(names, max_size=40, unique=True)
prefixes = st.one_of(st.just(""), st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=2).map("".join))
page_sizes = st.integers(min_value=1, max_value=7)
roots = itertools.count()


@dataclass
class Listing:
    """What the pages said, in order: keys (or upload (key, id) pairs) and common prefixes."""

    items: list[object] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    #: Each page's entries as (name, upload id or ""), to check pages follow each other in order.
    pages: list[list[tuple[str, str]]] = field(default_factory=list)

    def add(self, items: Iterable[object], prefixes: Iterable[str],
            positions: Iterable[tuple[str, str]]) -> None:
        prefixes = list(prefixes)
        self.items += items
        self.prefixes += prefixes
        self.pages.append(sorted([*positions, *((prefix, "") for prefix in prefixes)]))

    def check(self, items: list[object], prefixes: list[str], page_size: int) -> None:
        assert self.items == items
        assert self.prefixes == prefixes
        previous = None
        for page in self.pages:
            assert len(page) <= page_size
            if page and previous is not None:
                assert page[0] > previous, "a page starts before the previous one ended"
            previous = page[-1] if page else previous


def expected(keys: Iterable[str], prefix: str, delimiter: str,
             after: str = "") -> tuple[list[str], list[str]]:
    """(keys, common prefixes) of a complete listing, in code point (= UTF-8 byte) order."""
    found, rolled = [], []
    for key in sorted(keys):
        if not key.startswith(prefix) or key <= after:
            continue
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        if at < 0:
            found.append(key)
        elif key[: at + len(delimiter)] not in rolled:
            rolled.append(key[: at + len(delimiter)])
    return found, rolled


def rolls_up(name: str, prefix: str, delimiter: str) -> bool:
    return bool(delimiter) and name.startswith(prefix) and delimiter in name[len(prefix):]


def raw_get(cloud: RunningCloud, client: BaseClient, bucket: str, params: dict[str, str]) -> ET.Element:
    """A presigned GET of the bucket with exactly these query parameters (no SDK decoding)."""
    url = f"{cloud.object_url}/{bucket}?{urlencode(params, quote_via=quote)}"
    request = AWSRequest(method="GET", url=url)
    S3SigV4QueryAuth(client._request_signer._credentials, "s3", "us-east-1", expires=300).add_auth(request)
    response = requests.get(str(request.url), timeout=30)
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content)


def texts(root: ET.Element, path: str) -> list[str]:
    decode = unquote_plus if root.findtext(f"{NS}EncodingType") == "url" else str
    return [decode(node.text or "") for node in root.iterfind("/".join(NS + tag for tag in path.split("/")))]


def text(root: ET.Element, tag: str) -> str | None:
    value = root.findtext(NS + tag)
    if value is not None and tag in ("NextMarker", "NextKeyMarker") \
            and root.findtext(f"{NS}EncodingType") == "url":
        return unquote_plus(value)
    return value


def truncated(root: ET.Element) -> bool:
    return root.findtext(f"{NS}IsTruncated") == "true"


def guard(count: int) -> Iterator[int]:
    """Page numbers, failing a listing that never ends."""
    yield from range(count + 3)
    raise AssertionError("the listing did not end")


@pytest.fixture(scope="module")
def paged_bucket(s3: BaseClient) -> str:
    name = unique("paging")
    s3.create_bucket(Bucket=name)
    return name


def write_keys(s3: BaseClient, bucket: str, keys: Iterable[str]) -> str:
    """Writes the keys under a fresh root. Roots sort before base64 text, like the keys MinIO's SDK
    lost (its `start-after` is the previous token)."""
    root = f"0{next(roots)}."
    for key in keys:
        s3.put_object(Bucket=bucket, Key=root + key, Body=b"")
    return root


# ------------------------------------------------------------------------------- ListObjects v1 / v2


def v2_paginator(s3: BaseClient, bucket: str, prefix: str, delimiter: str, size: int) -> Listing:
    listing = Listing()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": size})
    for page in pages:
        keys = [entry["Key"] for entry in page.get("Contents", [])]
        rolled = [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
        assert page["KeyCount"] == len(keys) + len(rolled)
        listing.add(keys, rolled, ((key, "") for key in keys))
    return listing


def v1_paginator(s3: BaseClient, bucket: str, prefix: str, delimiter: str, size: int) -> Listing:
    listing = Listing()
    pages = s3.get_paginator("list_objects").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": size})
    for page in pages:
        keys = [entry["Key"] for entry in page.get("Contents", [])]
        rolled = [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
        listing.add(keys, rolled, ((key, "") for key in keys))
    return listing


def v2_by_hand(cloud: RunningCloud, s3: BaseClient, bucket: str, prefix: str, delimiter: str, size: int,
               start_after: str, encoding: dict[str, str]) -> Listing:
    """As MinIO's SDK pages: every later page sends the token as `continuation-token` AND `start-after`."""
    listing, params = Listing(), {"list-type": "2", "prefix": prefix, "delimiter": delimiter,
                                  "max-keys": str(size), **encoding}
    if start_after:
        params["start-after"] = start_after
    for _ in guard(200):
        root = raw_get(cloud, s3, bucket, params)
        keys, rolled = texts(root, "Contents/Key"), texts(root, "CommonPrefixes/Prefix")
        listing.add(keys, rolled, ((key, "") for key in keys))
        if not truncated(root):
            return listing
        token = root.findtext(f"{NS}NextContinuationToken")
        assert token
        params["continuation-token"] = params["start-after"] = token
    return listing


def v1_by_hand(cloud: RunningCloud, s3: BaseClient, bucket: str, prefix: str, delimiter: str, size: int,
               marker: str, encoding: dict[str, str]) -> Listing:
    """The next marker is NextMarker, which S3 gives only with a delimiter; else the last key."""
    listing, params = Listing(), {"prefix": prefix, "delimiter": delimiter, "max-keys": str(size), **encoding}
    if marker:
        params["marker"] = marker
    for _ in guard(200):
        root = raw_get(cloud, s3, bucket, params)
        keys, rolled = texts(root, "Contents/Key"), texts(root, "CommonPrefixes/Prefix")
        listing.add(keys, rolled, ((key, "") for key in keys))
        next_marker = text(root, "NextMarker")
        if not delimiter:
            assert next_marker is None
        if not truncated(root):
            return listing
        entries = sorted(keys + rolled)
        assert next_marker == (entries[-1] if delimiter else None)
        params["marker"] = next_marker or keys[-1]
    return listing


@EXAMPLES
@given(keys=key_sets, prefix=prefixes, delimiter=st.sampled_from(DELIMITERS), size=page_sizes,
       after=st.one_of(st.just(""), names))
def test_object_listings_page_through_everything(cloud: RunningCloud, s3: BaseClient, paged_bucket: str,
                                                 keys: list[str], prefix: str, delimiter: str, size: int,
                                                 after: str) -> None:
    root = write_keys(s3, paged_bucket, keys)
    full_prefix = root + prefix
    want_keys, want_prefixes = (
        [root + key for key in found] for found in expected(keys, prefix, delimiter))
    for listing in (v2_paginator(s3, paged_bucket, full_prefix, delimiter, size),
                    v1_paginator(s3, paged_bucket, full_prefix, delimiter, size)):
        listing.check(want_keys, want_prefixes, size)
    if rolls_up(after, prefix, delimiter):
        after = ""  # a start under a common prefix: where S3 resumes is not what this test is about
    start = root + after if after else ""
    want_keys, want_prefixes = (
        [root + key for key in found] for found in expected(keys, prefix, delimiter, after))
    for encoding in ({}, {"encoding-type": "url"}):
        v2_by_hand(cloud, s3, paged_bucket, full_prefix, delimiter, size, start, encoding).check(
            want_keys, want_prefixes, size)
        v1_by_hand(cloud, s3, paged_bucket, full_prefix, delimiter, size, start, encoding).check(
            want_keys, want_prefixes, size)


def test_continuation_token_alone_decides_where_a_page_starts(cloud: RunningCloud, s3: BaseClient,
                                                              paged_bucket: str) -> None:
    """MinIO's SDK sends the token also as start-after; the token (base64) sorts after the keys."""
    root = write_keys(s3, paged_bucket, ["a", "b", "c", "d"])
    first = raw_get(cloud, s3, paged_bucket, {"list-type": "2", "prefix": root, "max-keys": "2"})
    token = first.findtext(f"{NS}NextContinuationToken")
    assert token and texts(first, "Contents/Key") == [root + "a", root + "b"]
    second = raw_get(cloud, s3, paged_bucket, {"list-type": "2", "prefix": root, "max-keys": "2",
                                               "continuation-token": token, "start-after": token})
    assert texts(second, "Contents/Key") == [root + "c", root + "d"]
    assert second.findtext(f"{NS}StartAfter") == token
    behind = raw_get(cloud, s3, paged_bucket, {"list-type": "2", "prefix": root, "continuation-token": token,
                                               "start-after": root + "c"})
    assert texts(behind, "Contents/Key") == [root + "c", root + "d"]


# ------------------------------------------------------------------------------- ListMultipartUploads


def uploads_by_hand(cloud: RunningCloud, s3: BaseClient, bucket: str, prefix: str, delimiter: str,
                    size: int) -> Listing:
    listing = Listing()
    params = {"uploads": "", "prefix": prefix, "delimiter": delimiter, "max-uploads": str(size),
              "encoding-type": "url"}
    for _ in guard(200):
        root = raw_get(cloud, s3, bucket, params)
        uploads = list(zip(texts(root, "Upload/Key"), texts(root, "Upload/UploadId"), strict=True))
        rolled = texts(root, "CommonPrefixes/Prefix")
        listing.add(uploads, rolled, uploads)
        if not truncated(root):
            return listing
        params["key-marker"] = text(root, "NextKeyMarker") or ""
        params["upload-id-marker"] = text(root, "NextUploadIdMarker") or ""
    return listing


def uploads_paginator(s3: BaseClient, bucket: str, prefix: str, delimiter: str, size: int) -> Listing:
    listing = Listing()
    pages = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter=delimiter, PaginationConfig={"PageSize": size})
    for page in pages:
        decode = unquote_plus if page.get("EncodingType") == "url" else str  # boto3 asks for no encoding
        uploads = [(decode(entry["Key"]), entry["UploadId"]) for entry in page.get("Uploads", [])]
        rolled = [decode(entry["Prefix"]) for entry in page.get("CommonPrefixes", [])]
        listing.add(uploads, rolled, uploads)
    return listing


@EXAMPLES
@given(keys=st.lists(names, max_size=12, unique=True), twice=st.sets(st.integers(0, 11), max_size=4),
       prefix=prefixes, delimiter=st.sampled_from(DELIMITERS), size=page_sizes)
def test_upload_listings_page_through_everything(cloud: RunningCloud, s3: BaseClient, paged_bucket: str,
                                                 keys: list[str], twice: set[int], prefix: str,
                                                 delimiter: str, size: int) -> None:
    root = f"u{next(roots)}."
    created: dict[str, list[str]] = {}
    for index, key in enumerate(keys * 2):
        if index < len(keys) or index - len(keys) in twice:
            upload = s3.create_multipart_upload(Bucket=paged_bucket, Key=root + key)
            created.setdefault(root + key, []).append(upload["UploadId"])
    found, rolled = expected(keys, prefix, delimiter)
    want = [(root + key, upload_id) for key in found for upload_id in created[root + key]]
    want_prefixes = [root + name for name in rolled]
    uploads_by_hand(cloud, s3, paged_bucket, root + prefix, delimiter, size).check(want, want_prefixes, size)
    if all(key.isprintable() for key in keys):
        # boto3 asks no encoding-type here: a page holding a control character comes URL-encoded
        # (XML cannot carry it) and boto3 would send that encoded NextKeyMarker back as is.
        uploads_paginator(s3, paged_bucket, root + prefix, delimiter, size).check(want, want_prefixes, size)
    for key, upload_ids in created.items():
        for upload_id in upload_ids:
            s3.abort_multipart_upload(Bucket=paged_bucket, Key=key, UploadId=upload_id)


# ------------------------------------------------------------------------------- ListParts


@settings(EXAMPLES, max_examples=8)
@given(numbers=st.sets(st.integers(1, 30), max_size=12), size=page_sizes)
def test_part_listings_page_through_everything(s3: BaseClient, paged_bucket: str, numbers: set[int],
                                               size: int) -> None:
    key = f"p{next(roots)}"
    upload_id = s3.create_multipart_upload(Bucket=paged_bucket, Key=key)["UploadId"]
    for number in numbers:
        s3.upload_part(Bucket=paged_bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x")
    listed = []
    pages = s3.get_paginator("list_parts").paginate(Bucket=paged_bucket, Key=key, UploadId=upload_id,
                                                    PaginationConfig={"PageSize": size})
    for page in pages:
        assert len(page.get("Parts", [])) <= size
        listed += [part["PartNumber"] for part in page.get("Parts", [])]
    assert listed == sorted(numbers)
    by_hand, marker = [], 0
    for _ in guard(len(numbers)):
        page = s3.list_parts(Bucket=paged_bucket, Key=key, UploadId=upload_id, MaxParts=size,
                             PartNumberMarker=marker)
        by_hand += [part["PartNumber"] for part in page.get("Parts", [])]
        if not page["IsTruncated"]:
            break
        marker = page["NextPartNumberMarker"]
    assert by_hand == sorted(numbers)
    s3.abort_multipart_upload(Bucket=paged_bucket, Key=key, UploadId=upload_id)
