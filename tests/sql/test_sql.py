"""The SQL layer on both dialects: one statement text, the same answers from SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from stackbox import sql
from stackbox.sql.translate import split_script, to_postgres

TABLE = """CREATE TABLE item (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL DEFAULT 0, weight REAL,
    body BLOB, note TEXT NOT NULL DEFAULT 'a;b ? 100%')"""


@pytest.fixture(params=[sql.SQLITE, sql.POSTGRESQL])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sql.Database]:
    target: str | Path = tmp_path / "test.db"
    if request.param == sql.POSTGRESQL:
        target = request.getfixturevalue("postgres_url")
    db = sql.open_database(target, named_rows=True)
    yield db
    db.close()


@pytest.fixture
def conn(database: sql.Database) -> Iterator[sql.Connection]:
    conn = database.connect()
    conn.execute(TABLE)
    yield conn
    conn.close()


def test_rows_answer_by_position_and_by_name(conn: sql.Connection) -> None:
    conn.execute("INSERT INTO item (name, size, weight, body) VALUES (?, ?, ?, ?)",
                 ("a", 3, 1.5, b"\x00\xff"))
    row = conn.execute("SELECT id, name, size, weight, body, note FROM item").fetchone()
    assert row[1] == row["name"] == "a"
    assert (row["size"], row["weight"], bytes(row["body"])) == (3, 1.5, b"\x00\xff")
    assert row["note"] == "a;b ? 100%"
    assert isinstance(row["id"], int)
    identifier, name, *_ = row
    assert (identifier, name) == (row[0], "a")
    assert dict(zip(row.keys(), row, strict=True))["size"] == 3
    with pytest.raises((IndexError, KeyError)):
        row["missing"]


def test_cursor_rowcount_iteration_and_executemany(conn: sql.Connection) -> None:
    conn.executemany("INSERT INTO item (name, size) VALUES (?, ?)", [(f"k{i}", i) for i in range(5)])
    listed = [row[0] for row in conn.execute("SELECT name FROM item ORDER BY size")]
    assert listed == [f"k{i}" for i in range(5)]
    assert conn.execute("UPDATE item SET size = size + 1 WHERE size >= ?", (3,)).rowcount == 2
    assert conn.execute("SELECT COUNT(*), SUM(size) FROM item").fetchone()[:] == (5, 0 + 1 + 2 + 4 + 5)
    assert conn.execute("SELECT name FROM item WHERE size > ?", (100,)).fetchone() is None
    like = conn.execute("SELECT name FROM item WHERE name LIKE 'k%' AND size = ?", (5,)).fetchall()
    assert [row[0] for row in like] == ["k4"]


def test_sum_of_integers_is_an_int_and_booleans_are_stored_as_integers(conn: sql.Connection) -> None:
    conn.execute("INSERT INTO item (name, size) VALUES (?, ?)", ("t", True))
    conn.execute("INSERT INTO item (name, size) VALUES (?, ?)", ("f", False))
    total = conn.execute("SELECT COALESCE(SUM(size), 0) FROM item").fetchone()[0]
    assert total == 1 and type(total) is int
    assert conn.execute("SELECT name FROM item WHERE size = ?", (True,)).fetchone()[0] == "t"


def test_insert_or_ignore_keeps_the_first_row(conn: sql.Connection) -> None:
    first = conn.execute("INSERT OR IGNORE INTO item (name, size) VALUES (?, ?) RETURNING id", ("a", 1))
    assert first.fetchone() is not None
    second = conn.execute("INSERT OR IGNORE INTO item (name, size) VALUES (?, ?) RETURNING id", ("a", 2))
    assert second.fetchone() is None
    conn.execute("INSERT OR IGNORE INTO item (name, size) VALUES (?, ?)", ("a", 3))
    assert [tuple(row) for row in conn.execute("SELECT size FROM item WHERE name = ?", ("a",))] == [(1,)]


def test_a_constraint_violation_is_an_integrity_error_and_the_connection_goes_on(
        conn: sql.Connection) -> None:
    conn.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    with pytest.raises(sql.IntegrityError):
        conn.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    with pytest.raises(sql.IntegrityError):
        conn.execute("INSERT INTO item (name) VALUES (?)", (None,))
    conn.execute("INSERT INTO item (name) VALUES (?)", ("b",))
    assert conn.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 2


def test_text_sorts_bytewise_as_in_sqlite(conn: sql.Connection) -> None:
    names = ["a", "B", "Z", "_", "~", "é", "e", "a b", "a-b", "ab", "A", "日本", "\U0001f600", "\uff5a"]
    conn.executemany("INSERT INTO item (name) VALUES (?)", [(name,) for name in names])
    listed = [row[0] for row in conn.execute("SELECT name FROM item ORDER BY name")]
    assert listed == sorted(names, key=lambda name: name.encode())
    after = [row[0] for row in conn.execute("SELECT name FROM item WHERE name > ? ORDER BY name", ("a",))]
    assert after == [name for name in listed if name.encode() > b"a"]


def test_a_failed_transaction_leaves_nothing(conn: sql.Connection) -> None:
    with pytest.raises(RuntimeError), sql.transaction(conn):
        conn.execute("INSERT INTO item (name) VALUES (?)", ("a",))
        raise RuntimeError("abandon")
    assert not conn.in_transaction
    with sql.transaction(conn):
        conn.execute("INSERT INTO item (name) VALUES (?)", ("b",))
    assert [row[0] for row in conn.execute("SELECT name FROM item")] == ["b"]


def test_an_error_inside_a_transaction_rolls_it_back(conn: sql.Connection) -> None:
    conn.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    with pytest.raises(sql.IntegrityError), sql.transaction(conn):
        conn.execute("INSERT INTO item (name) VALUES (?)", ("b",))
        conn.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    assert [row[0] for row in conn.execute("SELECT name FROM item ORDER BY name")] == ["a"]


def run_in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_transactions_serialize_read_then_write(database: sql.Database, conn: sql.Connection) -> None:
    """24 writers race for 5 places: a count read inside the transaction is still true at its commit."""
    quota = 5

    def claim(index: int) -> None:
        own = database.connect()
        try:
            with sql.transaction(own):
                if own.execute("SELECT COUNT(*) FROM item").fetchone()[0] < quota:
                    time.sleep(0.005)  # widens the window a broken lock would let others into
                    own.execute("INSERT INTO item (name) VALUES (?)", (f"writer{index}",))
        finally:
            own.close()

    assert run_in_threads(24, claim) == []
    assert conn.execute("SELECT COUNT(*) FROM item").fetchone()[0] == quota


def test_each_thread_has_its_connection_on_postgresql(database: sql.Database) -> None:
    seen: dict[int, object] = {}

    def use(index: int) -> None:
        conn = database.connection()
        assert database.connection() is conn
        seen[index] = conn
        assert conn.execute("SELECT ?", (index,)).fetchone()[0] in (index, str(index))

    assert run_in_threads(4, use) == []
    distinct = len({id(conn) for conn in seen.values()})
    assert distinct == (4 if database.dialect == sql.POSTGRESQL else 1)


def test_concurrent_schema_creation_happens_once(database: sql.Database) -> None:
    created: list[int] = []
    database.connect().close()  # the database exists (SQLite: in WAL mode), its schema does not

    def start(index: int) -> None:
        conn = database.connect()
        try:
            with sql.schema_transaction(conn):
                if sql.schema_version(conn, "test") == 0:
                    conn.execute(TABLE)
                    sql.set_schema_version(conn, "test", 7)
                    created.append(index)
        finally:
            conn.close()

    assert run_in_threads(6, start) == []
    assert len(created) == 1
    conn = database.connect()
    try:
        assert sql.schema_version(conn, "test") == 7
        if database.dialect == sql.POSTGRESQL:
            assert sql.schema_version(conn, "other") == 0
    finally:
        conn.close()


def test_a_failed_schema_change_leaves_the_old_version(database: sql.Database) -> None:
    conn = database.connect()
    try:
        with pytest.raises(RuntimeError), sql.schema_transaction(conn):
            sql.set_schema_version(conn, "test", 3)
            conn.execute(TABLE)
            raise RuntimeError("crash mid-upgrade")
        assert sql.schema_version(conn, "test") == 0
        conn.execute(TABLE)  # the table was not created either
    finally:
        conn.close()


def test_executescript_runs_every_statement(database: sql.Database) -> None:
    conn = database.connect()
    try:
        conn.executescript(f"{TABLE};\nCREATE INDEX item_size ON item (size);\n"
                           "INSERT INTO item (name, note) VALUES ('x', 'semi;colon');")
        assert conn.execute("SELECT note FROM item").fetchone()[0] == "semi;colon"
    finally:
        conn.close()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[sql.Database]:
    db = sql.open_database(postgres_url)
    yield db
    db.close()


def test_a_connection_the_server_dropped_is_replaced(postgres_database: sql.Database) -> None:
    database = postgres_database
    conn = database.connection()
    assert isinstance(conn, sql.PgConnection)
    conn.execute(TABLE)

    def drop_backend() -> None:
        killer = database.connect()
        try:
            killer.execute("SELECT pg_terminate_backend(?)", (conn.raw.info.backend_pid,))
        finally:
            killer.close()

    drop_backend()
    assert conn.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 0  # a read: retried on a new one
    drop_backend()
    with sql.transaction(conn):  # BEGIN too
        conn.execute("INSERT INTO item (name) VALUES (?)", ("a",))
    with pytest.raises(psycopg.OperationalError), sql.transaction(conn):
        conn.execute("INSERT INTO item (name) VALUES (?)", ("lost",))
        drop_backend()  # inside the transaction: it fails, nothing is retried
        conn.execute("INSERT INTO item (name) VALUES (?)", ("b",))
    assert [row[0] for row in conn.execute("SELECT name FROM item")] == ["a"]
    drop_backend()
    with pytest.raises(psycopg.OperationalError):  # a write outside a transaction is not retried
        conn.execute("INSERT INTO item (name) VALUES (?)", ("c",))
    assert [row[0] for row in conn.execute("SELECT name FROM item")] == ["a"]


def test_bad_input_is_refused(conn: sql.Connection) -> None:
    with pytest.raises(Exception, match=r"(?i)syntax"):
        conn.execute("SELEC name FROM item")
    with pytest.raises(Exception, match=r"(?i)(no such table|does not exist)"):
        conn.execute("SELECT name FROM missing")
    assert conn.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 0


# -- the translation, by itself -------------------------------------------------------------------

def test_placeholders_outside_literals_become_psycopg_ones() -> None:
    assert to_postgres("SELECT a FROM t WHERE b = ? AND c = '?' AND d LIKE 'x%'") == \
        "SELECT a FROM t WHERE b = %s AND c = '?' AND d LIKE 'x%%'"
    assert to_postgres("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_insert_or_ignore_becomes_on_conflict_do_nothing() -> None:
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)") == \
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING id") == \
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"


def test_sqlite_index_hints_are_dropped() -> None:
    assert to_postgres("SELECT key FROM object INDEXED BY object_listed WHERE a = ?") == \
        "SELECT key FROM object WHERE a = %s"


def test_ddl_types_become_postgresql_types() -> None:
    translated = to_postgres(TABLE)
    assert "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in translated
    assert 'name TEXT COLLATE "C" NOT NULL' in translated
    assert "weight DOUBLE PRECISION" in translated and "body BYTEA" in translated
    assert "'a;b ? 100%%'" in translated
    assert to_postgres("CREATE TABLE t (id TEXT PRIMARY KEY) WITHOUT ROWID") == \
        'CREATE TABLE t (id TEXT COLLATE "C" PRIMARY KEY)'
    assert to_postgres("ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 0") == \
        "ALTER TABLE t ADD COLUMN n BIGINT NOT NULL DEFAULT 0"
    assert to_postgres("CREATE TABLE blob (id TEXT, blob BLOB, text TEXT)") == \
        'CREATE TABLE blob (id TEXT COLLATE "C", blob BYTEA, text TEXT COLLATE "C")'
    assert to_postgres("ALTER TABLE blob ADD COLUMN real REAL") == \
        "ALTER TABLE blob ADD COLUMN real DOUBLE PRECISION"


def test_split_script_keeps_semicolons_in_literals() -> None:
    assert split_script("A 'x;y';\n B;;  ") == ["A 'x;y'", "B"]
    assert split_script("-- a comment; with 'quotes\nA;\nB -- trailing; one\n;") == ["A", "B"]
