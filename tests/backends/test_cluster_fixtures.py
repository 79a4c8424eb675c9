"""How the cluster fixtures find their binaries, and say why they skip when they cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.cluster import Unavailable, check_ceph_installed, postgres_bin_dir


def test_postgres_found_in_debians_directory_when_not_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not debian:
        pytest.skip("Debian's postgresql package is not installed")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert (postgres_bin_dir() / "initdb").exists()


def test_missing_binaries_give_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Unavailable, match=r"Ceph is not installed .*make test"):
        check_ceph_installed()
