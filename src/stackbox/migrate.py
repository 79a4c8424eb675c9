"""`stackbox migrate`: bring the configured metadata backend's schemas (the data dir's SQLite files, or
a PostgreSQL database) to this release's, and say for each what it found and what it left.

Idempotent: a current schema is left as it is. Each upgrade is one transaction (on PostgreSQL under
the cluster-wide schema lock, so nodes starting meanwhile wait for it and then find it done); a
schema a newer release wrote is refused, unchanged. `stackbox serve` upgrades on start as well:
this command lets an operator upgrade once, before starting the new release on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stackbox.config import Settings
from stackbox.identity.service import open_store
from stackbox.identity.store import SCHEMA_VERSION as IDENTITY_SCHEMA_VERSION
from stackbox.sql import open_database
from stackbox.storage import schema
from stackbox.storage.engine import catalog_target
from stackbox.storage.space import private_database


@dataclass(frozen=True)
class SchemaChange:
    component: str
    location: str
    found: int
    current: int

    def describe(self) -> str:
        if self.found == self.current:
            return f"{self.component} ({self.location}): schema {self.current}, current"
        if self.found == 0:
            return f"{self.component} ({self.location}): created at schema {self.current}"
        return f"{self.component} ({self.location}): schema {self.found} -> {self.current}"


def migrate(settings: Settings) -> list[SchemaChange]:
    return [migrate_catalog(settings), migrate_identity(settings)]


def migrate_identity(settings: Settings) -> SchemaChange:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    try:
        found = store.create_schema()
        return SchemaChange("identity", store.database.location, found, IDENTITY_SCHEMA_VERSION)
    finally:
        store.close()


def migrate_catalog(settings: Settings) -> SchemaChange:
    target = catalog_target(settings.data_dir, settings.metadata_url)
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        private_database(target)
    database = open_database(target, pool_size=1)
    location = str(target) if isinstance(target, Path) else database.location
    connection = database.connect()
    try:
        found = schema.upgrade(connection, location)
    finally:
        connection.close()
        database.close()
    return SchemaChange("catalog", location, found, schema.SCHEMA_VERSION)
