"""Swift object semantics against the reference Swift 2.38: conditionals, ranges, large objects (SLO, DLO),
COPY with ranges, POST, UTF-8 header values."""

from __future__ import annotations

import json

import pytest
import requests

from compat.conftest import Compare
from compat.harness import Side, scenario_params

OLD = "Mon, 01 Jan 2001 00:00:00 GMT"


def conditionals(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    etag = side.swift("PUT", f"/{c}/o", data=b"0123456789").headers["Etag"]
    modified = side.swift("HEAD", f"/{c}/o").headers["Last-Modified"]
    for headers in ({"If-Match": "nope", "If-None-Match": etag},
                    {"If-Match": etag, "If-Unmodified-Since": OLD},
                    {"If-None-Match": "nope", "If-Modified-Since": modified},
                    {"If-None-Match": etag, "If-Unmodified-Since": OLD},
                    {"If-Match": "nope", "If-Modified-Since": modified},
                    {"If-Modified-Since": modified, "If-Unmodified-Since": OLD},
                    {"If-Match": f"W/{etag}"}, {"If-Match": f'"{etag}", "x"'}, {"If-None-Match": "*"},
                    {"If-Modified-Since": "garbage"}, {"If-Unmodified-Since": modified}):
        side.swift("GET", f"/{c}/o", headers=headers)
        side.swift("HEAD", f"/{c}/o", headers=headers)


def ranges(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    side.swift("PUT", f"/{c}/o", data=b"0123456789", headers={"Content-Type": "text/plain"})
    side.swift("PUT", f"/{c}/empty", data=b"")
    for value in ("bytes = 1 - 2", "BYTES=1-2, 4-5", "bytes=-5", "bytes=5-", "bytes=-0", "bytes=20-",
                  "bytes=1-2,4", "bytes=3-1", "bytes=0-0,2-2,4-4", "bytes=0-5,1-6,2-7,3-8", "items=0-1",
                  "bytes=-20", "bytes=0-1,20-30"):
        side.swift("GET", f"/{c}/o", headers={"Range": value})
    for value in ("bytes=-5", "bytes=0-", "bytes=0-0"):
        side.swift("GET", f"/{c}/empty", headers={"Range": value})


def _slo_segments(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    side.swift("PUT", f"/{c}-seg")
    side.swift("PUT", f"/{c}-seg/a", data=b"a" * 5)
    side.swift("PUT", f"/{c}-seg/b", data=b"b" * 7)


def slo_parts(side: Side, c: str) -> None:
    _slo_segments(side, c)
    manifest = [{"path": f"{c}-seg/a"}, {"path": f"{c}-seg/b"}, {"path": f"{c}-seg/a", "range": "1-2"}]
    side.swift("PUT", f"/{c}/slo?multipart-manifest=put", data=json.dumps(manifest).encode())
    for number in ("1", "2", "3", "4", "0", "x"):
        side.swift("GET", f"/{c}/slo?part-number={number}")
        side.swift("HEAD", f"/{c}/slo?part-number={number}")
    side.swift("GET", f"/{c}/slo?part-number=2", headers={"Range": "bytes=1-2"})
    side.swift("GET", f"/{c}-seg/a?part-number=1")
    side.swift("GET", f"/{c}-seg/a?part-number=2")


def s3_multipart_parts(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    upload = side.s3("POST", f"/{c}/mpu?uploads", record=False)
    upload_id = upload.text.split("<UploadId>")[1].split("</UploadId>")[0]
    etags = [side.s3("PUT", f"/{c}/mpu?partNumber={n}&uploadId={upload_id}", data=body,
                     record=False).headers["ETag"] for n, body in ((1, b"a" * (5 << 20)), (2, b"bcd"))]
    parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
                    for n, etag in enumerate(etags, 1))
    side.s3("POST", f"/{c}/mpu?uploadId={upload_id}",
            data=f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode(), record=False)
    side.swift("HEAD", f"/{c}/mpu?part-number=1")
    side.swift("GET", f"/{c}/mpu?part-number=2")
    side.swift("HEAD", f"/{c}/mpu?part-number=3")


def _manifest_get(side: Side, path: str) -> None:
    """The manifest document's Etag is its MD5: it names each segment's (per cloud) Last-Modified."""
    answer = side.swift("GET", f"{path}?multipart-manifest=get", record=False)
    answer.headers.pop("Etag", None)
    side.record(f"GET {path}?multipart-manifest=get", answer)


def slo_inline_data(side: Side, c: str) -> None:
    _slo_segments(side, c)
    manifest = [{"data": "aGVsbG8g"}, {"path": f"{c}-seg/a"}, {"data": "IQ=="}]
    side.swift("PUT", f"/{c}/slo?multipart-manifest=put", data=json.dumps(manifest).encode())
    side.swift("GET", f"/{c}/slo")
    side.swift("GET", f"/{c}/slo", headers={"Range": "bytes=3-7"})
    _manifest_get(side, f"/{c}/slo")
    side.swift("GET", f"/{c}/slo?part-number=1")
    side.swift("PUT", f"/{c}/padded?multipart-manifest=put",
               data=json.dumps([{"data": "IQ==="}, {"path": f"{c}-seg/a"}]).encode())
    _manifest_get(side, f"/{c}/padded")
    segment = {"path": f"{c}-seg/a"}
    for bad in ([{"data": "!!"}, segment], [{"data": "IQ"}, segment], [{"data": ""}],
                [{"data": "aGk=", "path": f"{c}-seg/a"}], [{"data": "aGk=", "range": "0-0"}],
                [{"data": "aGk="}], [{"data": "aGk=", "etag": "x"}],
                [segment, {"path": f"{c}-seg/a", "etag": 5}, {"path": 7}]):
        side.swift("PUT", f"/{c}/bad?multipart-manifest=put", data=json.dumps(bad).encode())


def slo_refusals(side: Side, c: str) -> None:
    _slo_segments(side, c)
    side.swift("PUT", f"/{c}/self", data=b"x" * 3)
    side.swift("PUT", f"/{c}/self?multipart-manifest=put",
               data=json.dumps([{"path": f"{c}/self"}, {"path": f"{c}-seg/a"}]).encode())
    side.swift("GET", f"/{c}/self")
    side.swift("PUT", f"/{c}-seg/b?multipart-manifest=put",
               data=json.dumps([{"path": f"{c}-seg/a"}, {"path": f"{c}-seg/b"}]).encode())
    side.swift("GET", f"/{c}-seg/b")


def slo_bytes_used(side: Side, c: str) -> None:
    _slo_segments(side, c)
    manifest = [{"path": f"{c}-seg/a"}, {"path": f"{c}-seg/b"}]
    side.swift("PUT", f"/{c}/slo?multipart-manifest=put", data=json.dumps(manifest).encode())
    side.swift("HEAD", f"/{c}")
    side.swift("HEAD", f"/{c}-seg")
    side.swift("HEAD", f"/{c}/slo")
    side.swift("POST", f"/{c}/slo", headers={"X-Object-Meta-A": "b"})
    side.swift("COPY", f"/{c}/slo?multipart-manifest=get", headers={"Destination": f"{c}/slo2"})
    side.swift("HEAD", f"/{c}")
    side.swift("DELETE", f"/{c}/slo")
    side.swift("HEAD", f"/{c}")


def slo_listing_hash(side: Side, c: str) -> None:
    _slo_segments(side, c)
    manifest = [{"path": f"{c}-seg/a"}, {"path": f"{c}-seg/b"}]
    side.swift("PUT", f"/{c}/slo?multipart-manifest=put", data=json.dumps(manifest).encode())
    side.swift("GET", f"/{c}?format=json")


def dlo(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    for name, body in (("p x/1", b"aaaa"), ("p x/2", b"bbbb"), ("p x/3", b"cc")):
        side.swift("PUT", f"/{c}/{name}", data=body)
    side.swift("PUT", f"/{c}/dlo", headers={"X-Object-Manifest": f"{c}/p%20x/"})
    side.swift("GET", f"/{c}/dlo")
    side.swift("HEAD", f"/{c}/dlo")
    for value in ("bytes=2-5", "bytes=-3", "bytes=0-1,5-6", "bytes=20-", "bytes=3-1"):
        side.swift("GET", f"/{c}/dlo", headers={"Range": value})
    side.swift("PUT", f"/{c}/plain", data=b"xyz")
    side.swift("POST", f"/{c}/plain", headers={"X-Object-Manifest": f"{c}/p x/"})
    side.swift("GET", f"/{c}/plain")
    side.swift("HEAD", f"/{c}/plain")
    side.swift("POST", f"/{c}/dlo", headers={"X-Object-Meta-A": "b"})
    side.swift("GET", f"/{c}/dlo")
    side.swift("HEAD", f"/{c}/dlo")


def _anonymous(side: Side, method: str, path: str, headers: dict[str, str]) -> None:
    answer = requests.request(method, f"{side.base_url}/v1/{side.account}{path}", headers=headers, timeout=30)
    side.record(f"anonymous {method} {path} {headers}", answer)


def dlo_segment_acls(side: Side, c: str) -> None:
    for name, acl in ((f"{c}-pub", ".r:*,.rlistings"), (f"{c}-segs", ".r:*"),
                      (f"{c}-ref", ".r:.example.com,.rlistings")):
        side.swift("PUT", f"/{name}", headers={"X-Container-Read": acl})
    side.swift("PUT", f"/{c}-segs/s/1", data=b"one")
    side.swift("PUT", f"/{c}-ref/s/1", data=b"two")
    side.swift("PUT", f"/{c}-pub/dlo1", headers={"X-Object-Manifest": f"{c}-segs/s/"})
    side.swift("PUT", f"/{c}-pub/dlo2", headers={"X-Object-Manifest": f"{c}-ref/s/"})
    for path, headers in ((f"/{c}-pub/dlo1", {}), (f"/{c}-pub/dlo2", {}),
                          (f"/{c}-pub/dlo2", {"Referer": "http://www.example.com/x"}),
                          (f"/{c}-pub/dlo2", {"Referer": "http://evil.com/x"})):
        for method in ("GET", "HEAD"):
            _anonymous(side, method, path, headers)


def copy_range(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    side.swift("PUT", f"/{c}/src", data=b"0123456789", headers={"Content-Type": "text/plain"})
    side.swift("COPY", f"/{c}/src", headers={"Destination": f"{c}/dst", "Range": "bytes=2-4"})
    side.swift("GET", f"/{c}/dst")
    side.swift("PUT", f"/{c}/dst2", headers={"X-Copy-From": f"{c}/src", "Range": "bytes=-3"})
    side.swift("GET", f"/{c}/dst2")
    side.swift("COPY", f"/{c}/src", headers={"Destination": f"{c}/dst3", "Range": "bytes=20-"})
    # (several ranges: Swift stores the multipart body and then fails to read it; refused here)
    side.swift("COPY", f"/{c}/src", headers={"Destination": f"{c}/dst5", "Range": "bytes=z"})
    side.swift("GET", f"/{c}/dst5")
    side.swift("PUT", f"/{c}-seg")
    side.swift("PUT", f"/{c}-seg/a", data=b"abcde")
    side.swift("PUT", f"/{c}-seg/b", data=b"fghij")
    side.swift("PUT", f"/{c}-seg/ab", data=b"klm")
    side.swift("PUT", f"/{c}/slo?multipart-manifest=put",
               data=json.dumps([{"path": f"{c}-seg/a"}, {"path": f"{c}-seg/b"}]).encode())
    side.swift("COPY", f"/{c}/slo", headers={"Destination": f"{c}/slocopy", "Range": "bytes=3-6"})
    side.swift("GET", f"/{c}/slocopy")
    side.swift("PUT", f"/{c}/dlo", headers={"X-Object-Manifest": f"{c}-seg/"})  # no prefix: 400
    side.swift("PUT", f"/{c}/dlo", headers={"X-Object-Manifest": f"{c}-seg/?x"})
    side.swift("PUT", f"/{c}/dlo", headers={"X-Object-Manifest": f"{c}-seg//a"})
    side.swift("PUT", f"/{c}/dlo", headers={"X-Object-Manifest": f"{c}-seg/a"})
    side.swift("PUT", f"/{c}/dlocopy", headers={"X-Copy-From": f"{c}/dlo", "Range": "bytes=-7"})
    side.swift("GET", f"/{c}/dlocopy")


def utf8_headers(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    side.swift("PUT", f"/{c}/o", data=b"x", headers={
        "Content-Type": "text/plain; name=\u00e9t\u00e9".encode().decode("latin-1"),
        "X-Object-Meta-Who": "J\u00fcrgen \u2603".encode().decode("latin-1")})
    side.swift("HEAD", f"/{c}/o")
    side.swift("GET", f"/{c}?format=json")
    side.swift("GET", f"/{c}?format=xml")
    side.swift("COPY", f"/{c}/o", headers={"Destination": f"{c}/\u00e9".encode().decode("latin-1")})
    side.swift("HEAD", f"/{c}/%C3%A9")
    side.swift("PUT", f"/{c}/\u00fc2", headers={"X-Copy-From": f"{c}/o".encode().decode("latin-1")})
    side.swift("PUT", f"/{c}/%C3%BC3", headers={"X-Copy-From": f"{c}/\u00e9".encode().decode("latin-1")})
    side.swift("HEAD", f"/{c}/%C3%BC3")
    side.swift("PUT", f"/{c}/seg\u00e91", data=b"ab")
    side.swift("PUT", f"/{c}/dlo", headers={"X-Object-Manifest": f"{c}/seg\u00e9".encode().decode("latin-1")})
    side.swift("GET", f"/{c}/dlo")
    side.swift("HEAD", f"/{c}/dlo")


SCENARIOS = [conditionals, ranges, slo_parts, s3_multipart_parts, slo_inline_data, slo_refusals,
             slo_bytes_used, slo_listing_hash, dlo, dlo_segment_acls, copy_range, utf8_headers]
KNOWN = {"slo_listing_hash": "an SLO's listing hash is its data's etag here, the manifest's MD5 in Swift"}
#: An S3 multipart object keeps S3's ETag and default Content-Type through Swift here (s3api shows
#: the SLO's); the parts, ranges and counts must agree.
IGNORED = {"s3_multipart_parts": frozenset({"etag", "content-type"})}


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS, KNOWN))
def test_swift_objects(compare: Compare, scenario) -> None:  # type: ignore[no-untyped-def]
    compare(scenario, ignore_headers=IGNORED.get(scenario.__name__, frozenset()))
