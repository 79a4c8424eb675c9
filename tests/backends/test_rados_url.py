"""`--blobs rados://POOL?conf=PATH&id=USER&namespace=NS`: what is accepted, and what is refused."""

from __future__ import annotations

import pytest

from stackbox.storage.rados_blobs import RadosTarget


@pytest.mark.parametrize(("url", "expected"), [
    ("rados://objects", RadosTarget("objects")),
    ("rados://objects/", RadosTarget("objects")),
    ("rados://objects?conf=/etc/ceph/ceph.conf&id=stackbox",
     RadosTarget("objects", "/etc/ceph/ceph.conf", "stackbox")),
    ("rados://objects?namespace=tenant%2F1&conf=", RadosTarget("objects", None, None, "tenant/1")),
    ("rados://my%2Epool?id=a", RadosTarget("my.pool", None, "a")),
])
def test_accepted(url: str, expected: RadosTarget) -> None:
    assert RadosTarget.parse(url) == expected


@pytest.mark.parametrize("url", [
    "objects",
    "file:///var/lib/stackbox",
    "rados://",
    "rados:///objects",
    "rados://objects/more",
    "rados://objects?conf=a&conf=b",
    "rados://objects?keyring=/etc/ceph/secret",
    "rados://objects?id",
    "rados://objects#fragment",
])
def test_refused(url: str) -> None:
    with pytest.raises(ValueError):
        RadosTarget.parse(url)
