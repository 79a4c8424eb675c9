"""The throwaway PostgreSQL cluster: reachable with psycopg 3 and its pool, as the catalog will use it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from backends.cluster import PostgresCluster

pytestmark = pytest.mark.cluster
psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (`make test` installs it)")
psycopg_pool = pytest.importorskip("psycopg_pool",
                                   reason="psycopg_pool is not installed (`make test` installs it)")


def test_connects_and_runs_transactions(postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_cluster.dsn, autocommit=False) as connection:
        version = connection.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 150000
        assert connection.execute("SHOW fsync").fetchone() == ("off",)
        connection.execute("CREATE TABLE fixture_probe (id int PRIMARY KEY, note text NOT NULL)")
        connection.execute("INSERT INTO fixture_probe VALUES (1, 'kept')")
        connection.commit()
        connection.execute("INSERT INTO fixture_probe VALUES (2, 'rolled back')")
        connection.rollback()
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.execute("INSERT INTO fixture_probe VALUES (1, 'twice')")
        connection.rollback()
        assert connection.execute("SELECT id, note FROM fixture_probe").fetchall() == [(1, "kept")]
        connection.execute("DROP TABLE fixture_probe")
        connection.commit()


def test_a_pool_serves_concurrent_callers(postgres_cluster: PostgresCluster) -> None:
    with psycopg_pool.ConnectionPool(postgres_cluster.dsn, min_size=2, max_size=4, open=True) as pool:
        def backend_pid(_: int) -> int:
            with pool.connection() as connection:
                row = connection.execute("SELECT pg_backend_pid() FROM pg_sleep(0.05)").fetchone()
                assert row is not None
                return int(row[0])

        with ThreadPoolExecutor(8) as workers:
            pids = set(workers.map(backend_pid, range(16)))
        assert 2 <= len(pids) <= 4


def test_a_wrong_or_missing_password_is_refused(postgres_cluster: PostgresCluster) -> None:
    for dsn in (postgres_cluster.dsn.replace(postgres_cluster.password, "guessed"),
                postgres_cluster.dsn.replace(f":{postgres_cluster.password}@", "@")):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(dsn, connect_timeout=5).close()


def test_only_loopback_and_owner_only(postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_cluster.dsn) as connection:
        assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    assert (postgres_cluster.root / "data").stat().st_mode & 0o077 == 0
