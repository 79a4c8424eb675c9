"""`stackbox migrate`: the catalog schema of either backend brought to this release's, idempotently,
saying from which version to which; a newer schema is refused and left as it is."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from backends.cluster import PostgresCluster
from stackbox.storage import schema
from storage.test_migrations import old_store, user_version

CURRENT = schema.SCHEMA_VERSION


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stackbox.cli", "migrate", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_an_embedded_store_of_the_first_release_upgrades_once(tmp_path: Path) -> None:
    data = old_store(tmp_path)
    first = migrate("--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == f"catalog ({data / 'meta.db'}): schema 1 -> {CURRENT}"
    assert user_version(data / "meta.db") == CURRENT
    again = migrate("--data-dir", str(data))
    assert again.stdout.splitlines()[0] == f"catalog ({data / 'meta.db'}): schema {CURRENT}, current"


def test_a_newer_embedded_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert migrate("--data-dir", str(data)).stdout.splitlines()[0].endswith(f"created at schema {CURRENT}")
    conn = sqlite3.connect(data / "meta.db")
    conn.execute(f"PRAGMA user_version = {CURRENT + 1}")
    conn.close()
    refused = migrate("--data-dir", str(data))
    assert refused.returncode == 1 and "newer stackbox" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert user_version(data / "meta.db") == CURRENT + 1


@pytest.mark.cluster
def test_a_postgresql_catalog_is_created_then_found_current(postgres_cluster: PostgresCluster,
                                                             tmp_path: Path) -> None:
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_cluster.dsn.rsplit("/", 1)[0] + f"/{name}"
    created = migrate("--data-dir", str(tmp_path), "--metadata", url)
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[0].endswith(f"): created at schema {CURRENT}")
    assert postgres_cluster.password not in created.stdout
    again = migrate("--data-dir", str(tmp_path), "--metadata", url)
    assert again.stdout.splitlines()[0].endswith(f"): schema {CURRENT}, current"), again.stdout
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version FROM schema_version WHERE component = %s",
                           (schema.COMPONENT,)).fetchone()
    assert row == (CURRENT,)
    assert not (tmp_path / "meta.db").exists()
