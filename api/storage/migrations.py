"""Versioned schema of the metadata tables, for both backends.

:data:`MIGRATIONS` is the ordered list of schema changes; each has the SQL for SQLite and
for PostgreSQL. A database records the versions applied to it in ``schema_version`` (one
row per migration). At startup :func:`migrate` (called by each backend's ``init``, inside
one transaction) reads the highest version recorded and:

* applies every newer migration in order and records it — an older database is brought up
  to date whole, or not at all (the transaction rolls back);
* refuses a database whose version is newer than :data:`SCHEMA_VERSION` (written by a newer
  Vacuum): :class:`SchemaVersionError`, one line naming the database and the fix.

A database from before versioning (tables, no ``schema_version``) counts as version 0:
migration 1 is written with ``IF NOT EXISTS`` so it keeps the tables that are there.

Adding a change: append ``Migration(n + 1, "what", sqlite=..., postgis=...)``; never edit
a migration that has shipped. Statements are separated by ``;`` (none inside a statement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from geo.errors import ConfigError

from .records import now

__all__ = ["Migration", "MIGRATIONS", "SCHEMA_VERSION", "SchemaVersionError", "migrate", "current_version"]


class SchemaVersionError(ConfigError):
    """The database was written by a newer Vacuum than this one: the server must not start."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: str
    postgis: str

    def statements(self, backend: Literal["sqlite", "postgis"]) -> list[str]:
        text = self.sqlite if backend == "sqlite" else self.postgis
        return [s.strip() for s in text.split(";") if s.strip()]


_V1_SQLITE = """
CREATE TABLE IF NOT EXISTS layers (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, filename TEXT NOT NULL,
    format TEXT NOT NULL, storage TEXT NOT NULL, crs TEXT NOT NULL, crs_wkt TEXT NOT NULL,
    feature_count INTEGER, bbox TEXT, columns TEXT, attrs TEXT, options TEXT,
    size_bytes INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS layers_kind ON layers (kind);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    request TEXT NOT NULL, stage TEXT, stage_fraction REAL NOT NULL DEFAULT 0,
    fraction REAL NOT NULL DEFAULT 0, error TEXT, result TEXT,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, updated_at TEXT NOT NULL,
    instance_id TEXT, created_by TEXT NOT NULL DEFAULT '', created_by_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_kind_created ON jobs (kind, created_at);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL,
    created_at TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT '', revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, key_id TEXT NOT NULL, key_name TEXT NOT NULL,
    role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action);
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL, stopped_at TEXT
)
"""

_V1_POSTGIS = """
CREATE TABLE IF NOT EXISTS layers (
    id text PRIMARY KEY, kind text NOT NULL, name text NOT NULL, filename text NOT NULL,
    format text NOT NULL, storage text NOT NULL, crs text NOT NULL, crs_wkt text NOT NULL,
    feature_count bigint, bbox text, columns text, attrs text, options text,
    size_bytes bigint NOT NULL DEFAULT 0, created_at timestamptz NOT NULL, created_by text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS layers_kind ON layers (kind);
CREATE TABLE IF NOT EXISTS jobs (
    id text PRIMARY KEY, kind text NOT NULL, name text NOT NULL DEFAULT '', status text NOT NULL,
    request text NOT NULL, stage text, stage_fraction double precision NOT NULL DEFAULT 0,
    fraction double precision NOT NULL DEFAULT 0, error text, result text,
    created_at timestamptz NOT NULL, started_at timestamptz, finished_at timestamptz,
    updated_at timestamptz NOT NULL, instance_id text, created_by text NOT NULL DEFAULT '',
    created_by_name text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_kind_created ON jobs (kind, created_at);
CREATE TABLE IF NOT EXISTS api_keys (
    id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, salt text NOT NULL, hash text NOT NULL,
    created_at timestamptz NOT NULL, created_by text NOT NULL DEFAULT '', revoked_at timestamptz
);
CREATE TABLE IF NOT EXISTS audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, key_id text NOT NULL,
    key_name text NOT NULL, role text NOT NULL, action text NOT NULL, target text NOT NULL,
    outcome text NOT NULL, detail text
);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action);
CREATE TABLE IF NOT EXISTS instances (
    id text PRIMARY KEY, host text NOT NULL, pid bigint NOT NULL, started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL, stopped_at timestamptz
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial tables: layers, jobs, api_keys, audit, instances", _V1_SQLITE, _V1_POSTGIS),
    Migration(
        2, "job heartbeats and attempts (jobs claimed from the database by any live server)",
        sqlite="""
            ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT;
            ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
            UPDATE jobs SET heartbeat_at = updated_at WHERE status = 'running';
            CREATE INDEX jobs_queue ON jobs (status, created_at, id)
        """,
        postgis="""
            ALTER TABLE jobs ADD COLUMN heartbeat_at timestamptz;
            ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 0;
            UPDATE jobs SET heartbeat_at = updated_at WHERE status = 'running';
            CREATE INDEX jobs_queue ON jobs (status, created_at, id)
        """,
    ),
)
MIGRATIONS = (*MIGRATIONS, Migration(
    3, "plans saved from the plan editor, every version kept",
    sqlite="""
        CREATE TABLE plans (
            id TEXT PRIMARY KEY, analysis_id TEXT NOT NULL, name TEXT NOT NULL, plan TEXT NOT NULL,
            version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            created_by TEXT NOT NULL DEFAULT '', updated_by TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX plans_analysis ON plans (analysis_id);
        CREATE TABLE plan_versions (
            plan_id TEXT NOT NULL, version INTEGER NOT NULL, plan TEXT NOT NULL, saved_at TEXT NOT NULL,
            saved_by TEXT NOT NULL DEFAULT '', PRIMARY KEY (plan_id, version)
        )
    """,
    postgis="""
        CREATE TABLE plans (
            id text PRIMARY KEY, analysis_id text NOT NULL, name text NOT NULL, plan text NOT NULL,
            version integer NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            created_by text NOT NULL DEFAULT '', updated_by text NOT NULL DEFAULT ''
        );
        CREATE INDEX plans_analysis ON plans (analysis_id);
        CREATE TABLE plan_versions (
            plan_id text NOT NULL, version integer NOT NULL, plan text NOT NULL, saved_at timestamptz NOT NULL,
            saved_by text NOT NULL DEFAULT '', PRIMARY KEY (plan_id, version)
        )
    """,
))
SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema this code reads and writes."""

_VERSION_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
              "applied_at TEXT NOT NULL)",
    "postgis": "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, "
               "applied_at timestamptz NOT NULL)",
}


class _Tx(Protocol):
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


def current_version(tx: _Tx) -> int:
    """The highest version recorded (0 for a database from before versioning, or an empty one)."""
    rows = tx.query("SELECT max(version) AS v FROM schema_version")
    return int(rows[0]["v"] or 0) if rows else 0


def migrate(tx: _Tx, backend: Literal["sqlite", "postgis"], where: str) -> list[int]:
    """Bring the database in ``tx`` to :data:`SCHEMA_VERSION`; the versions applied.

    Call inside one transaction (both backends have transactional DDL), with no other server
    migrating at the same time (PostgreSQL: an advisory lock; SQLite: ``BEGIN IMMEDIATE``).
    ``where`` names the database in the refusal message (a path, or host/db/schema: no password).
    """
    tx.execute(_VERSION_TABLE[backend])
    have = current_version(tx)
    if have > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database {where} has schema version {have}, newer than this Vacuum's {SCHEMA_VERSION}: "
            f"it was written by a newer Vacuum; upgrade Vacuum (or point it at another database), "
            f"never downgrade a database in use")
    applied = []
    for m in MIGRATIONS:
        if m.version <= have:
            continue
        for stmt in m.statements(backend):
            tx.execute(stmt)
        tx.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                   (m.version, m.name, now()))
        applied.append(m.version)
    return applied
