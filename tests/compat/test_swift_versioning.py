"""Swift object versioning (X-Versions-Enabled) against the reference Swift 2.38."""

from __future__ import annotations

import pytest

from compat.conftest import Compare
from compat.harness import Side, scenario_params


def _versioned(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}", headers={"X-Versions-Enabled": "true"})
    side.swift("HEAD", f"/{c}")


def enable_on_put_post_head(side: Side, c: str) -> None:
    _versioned(side, c)
    side.swift("POST", f"/{c}", headers={"X-Versions-Enabled": "false"})
    side.swift("HEAD", f"/{c}")
    side.swift("POST", f"/{c}", headers={"X-Versions-Enabled": "true"})
    side.swift("HEAD", f"/{c}")
    side.swift("POST", f"/{c}", headers={"X-Versions-Enabled": "maybe"})
    side.swift("PUT", f"/{c}-plain")
    side.swift("POST", f"/{c}-plain", headers={"X-Versions-Enabled": "true"})
    side.swift("HEAD", f"/{c}-plain")


def versions_and_reads(side: Side, c: str) -> None:
    _versioned(side, c)
    ids = []
    for body in (b"one", b"two!", b"three"):
        ids.append(side.swift("PUT", f"/{c}/obj", data=body,
                              headers={"Content-Type": "text/plain"}).headers.get("X-Object-Version-Id", ""))
    side.swift("GET", f"/{c}/obj")
    side.swift("HEAD", f"/{c}/obj")
    side.swift("GET", f"/{c}/obj?version-id={ids[0]}")
    side.swift("HEAD", f"/{c}/obj?version-id={ids[1]}")
    side.swift("GET", f"/{c}/obj?version-id=null")
    side.swift("GET", f"/{c}/obj?version-id=nonsense")
    side.swift("GET", f"/{c}/obj?version-id=1234567890.12345")
    side.swift("POST", f"/{c}/obj?version-id={ids[0]}", headers={"X-Object-Meta-Color": "red"})
    side.swift("HEAD", f"/{c}/obj?version-id={ids[0]}")
    side.swift("PUT", f"/{c}/obj?version-id={ids[0]}", data=b"x")
    side.swift("GET", f"/{c}?format=json")
    side.swift("GET", f"/{c}?versions&format=json")


def delete_markers(side: Side, c: str) -> None:
    _versioned(side, c)
    first = side.swift("PUT", f"/{c}/obj", data=b"one").headers.get("X-Object-Version-Id", "")
    side.swift("DELETE", f"/{c}/obj")
    side.swift("GET", f"/{c}/obj")
    side.swift("HEAD", f"/{c}/obj")
    side.swift("DELETE", f"/{c}/obj")
    listing = side.swift("GET", f"/{c}?versions&format=json").json()
    side.swift("GET", f"/{c}?format=json")
    side.swift("GET", f"/{c}/obj?version-id={first}")
    marker = next(e["version_id"] for e in listing if e["content_type"].startswith("application/x-deleted"))
    side.swift("GET", f"/{c}/obj?version-id={marker}")
    side.swift("DELETE", f"/{c}/obj?version-id={marker}")
    side.swift("GET", f"/{c}/obj")
    side.swift("GET", f"/{c}?versions&format=json")
    side.swift("DELETE", f"/{c}/obj?version-id={first}")
    side.swift("GET", f"/{c}/obj")
    side.swift("GET", f"/{c}?versions&format=json")


def listings(side: Side, c: str) -> None:
    _versioned(side, c)
    for name in ("a", "b/1", "b/2", "c"):
        for body in (b"x", b"yy"):
            side.swift("PUT", f"/{c}/{name}", data=body, record=False)
    side.swift("DELETE", f"/{c}/c", record=False)
    side.swift("GET", f"/{c}?versions")
    side.swift("GET", f"/{c}?versions&format=json")
    side.swift("GET", f"/{c}?versions&format=xml")
    side.swift("GET", f"/{c}?versions&format=json&prefix=b/")
    side.swift("GET", f"/{c}?versions&format=json&delimiter=/")
    side.swift("GET", f"/{c}?versions&delimiter=/")
    side.swift("GET", f"/{c}?versions&format=xml&delimiter=/")
    side.swift("GET", f"/{c}?versions&format=json&limit=3")
    side.swift("GET", f"/{c}?versions&format=json&marker=b/1")
    listing = side.swift("GET", f"/{c}?versions&format=json", record=False).json()
    second = listing[1]
    resume = f"marker={second['name']}&version_marker={second['version_id']}"
    side.swift("GET", f"/{c}?versions&format=json&{resume}")
    side.swift("GET", f"/{c}?versions&format=json&version_marker={second['version_id']}")
    side.swift("GET", f"/{c}?versions&format=json&marker=a&version_marker=junk")


def reversed_and_end_marker_listings(side: Side, c: str) -> None:
    _versioned(side, c)
    for name in ("a", "b/1", "b/2", "c"):
        for body in (b"x", b"yy"):
            side.swift("PUT", f"/{c}/{name}", data=body, record=False)
    side.swift("DELETE", f"/{c}/c", record=False)
    # An older delete marker under a current object: Swift calls it latest when listed first.
    for step in ("PUT", "DELETE", "PUT"):
        side.swift(step, f"/{c}/d", data=b"zz" if step == "PUT" else b"", record=False)
    for query in ("reverse=true", "reverse=on&limit=3", "reverse=1&delimiter=/", "reverse=yes&prefix=b/",
                  "reverse=true&prefix=d", "reverse=junk", "reverse=false", "end_marker=b/2",
                  "end_marker=b/2&delimiter=/", "prefix=d&end_marker=d", "reverse=true&end_marker=b/1",
                  "reverse=true&marker=b/2", "reverse=true&marker=b/", "reverse=true&marker=zz",
                  "reverse=true&marker=0", "reverse=true&marker=b/2&prefix=b/", "marker=c&end_marker=b",
                  "reverse=true&delimiter=/&marker=b/2"):
        side.swift("GET", f"/{c}?versions&format=json&{query}")
    listing = side.swift("GET", f"/{c}?versions&format=json&reverse=true", record=False).json()
    for entry in (listing[3], listing[-1]):
        resume = f"marker={entry['name']}&version_marker={entry['version_id']}"
        side.swift("GET", f"/{c}?versions&format=json&reverse=true&{resume}")


def unversioned_container_versions(side: Side, c: str) -> None:
    side.swift("PUT", f"/{c}")
    side.swift("PUT", f"/{c}/obj", data=b"x")
    side.swift("GET", f"/{c}?versions&format=json")
    side.swift("GET", f"/{c}/obj?version-id=null")
    side.swift("HEAD", f"/{c}/obj?version-id=null")
    side.swift("DELETE", f"/{c}/obj?version-id=null")
    side.swift("GET", f"/{c}/obj")


def suspended(side: Side, c: str) -> None:
    _versioned(side, c)
    side.swift("PUT", f"/{c}/obj", data=b"v1")
    side.swift("POST", f"/{c}", headers={"X-Versions-Enabled": "false"})
    side.swift("PUT", f"/{c}/obj", data=b"v2")
    side.swift("PUT", f"/{c}/obj", data=b"v3")
    side.swift("GET", f"/{c}?versions&format=json")
    side.swift("GET", f"/{c}/obj?version-id=null")
    side.swift("DELETE", f"/{c}/obj")
    side.swift("GET", f"/{c}?versions&format=json")
    side.swift("GET", f"/{c}/obj")


def container_delete(side: Side, c: str) -> None:
    _versioned(side, c)
    vid = side.swift("PUT", f"/{c}/obj", data=b"v1").headers.get("X-Object-Version-Id", "")
    side.swift("DELETE", f"/{c}/obj")
    side.swift("DELETE", f"/{c}")
    side.swift("HEAD", f"/{c}")
    side.swift("POST", f"/{c}", headers={"X-Versions-Enabled": "false"})
    side.swift("DELETE", f"/{c}")
    side.swift("DELETE", f"/{c}/obj?version-id={vid}")
    listing = side.swift("GET", f"/{c}?versions&format=json").json()
    for entry in listing:
        side.swift("DELETE", f"/{c}/obj?version-id={entry['version_id']}")
    side.swift("DELETE", f"/{c}")
    side.swift("HEAD", f"/{c}")


def copy_and_versions(side: Side, c: str) -> None:
    _versioned(side, c)
    first = side.swift("PUT", f"/{c}/src", data=b"first").headers.get("X-Object-Version-Id", "")
    side.swift("PUT", f"/{c}/src", data=b"second")
    side.swift("PUT", f"/{c}/dst", headers={"X-Copy-From": f"{c}/src"})
    side.swift("GET", f"/{c}/dst")
    side.swift("PUT", f"/{c}/dst2?version-id={first}", headers={"X-Copy-From": f"{c}/src"})
    side.swift("COPY", f"/{c}/src?version-id={first}", headers={"Destination": f"{c}/old"})
    side.swift("GET", f"/{c}/old")


SCENARIOS = [enable_on_put_post_head, versions_and_reads, delete_markers, listings,
             reversed_and_end_marker_listings, unversioned_container_versions, suspended, container_delete,
             copy_and_versions]


KNOWN_DIFFERENCES = {
    "versions_and_reads": "left: Swift's listing of a versioned container shows its versioning symlinks "
                          "(symlink_path, version_symlink)",
    "listings": "left: Swift 2.38 answers ?versions without format as JSON and format=xml with 406 (ours "
                "honours the format)",
    "suspended": "left: with versioning off, Swift's DELETE removes the null object without a marker; "
                 "the engine (shared with S3, where a suspended bucket writes a null marker) keeps one",
}


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS, KNOWN_DIFFERENCES))
def test_object_versioning(compare: Compare, scenario) -> None:  # type: ignore[no-untyped-def]
    compare(scenario)
