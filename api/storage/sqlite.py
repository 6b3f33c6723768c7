"""The embedded storage: one workspace folder, SQLite metadata, GeoPackage layers.

    workspace/
      vacuum.sqlite          metadata: layers, jobs, api_keys, audit, instances (WAL mode)
      layers/<id>.gpkg       a vector layer (GeoPackage layer "data", the layer's own CRS)
      layers/<id>.tif        a population raster, as uploaded (checked)
      analyses/<id>/         an analysis folder (geo.products.write_analysis)
      tmp/                   partial writes; renamed into place when complete

Every operation opens its own connection (cheap for SQLite), so the storage can be used
from any thread and from worker processes at once; WAL lets readers go on while a worker
writes progress.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from pyproj import CRS

from .base import SQLStorage, coerce_columns
from .records import LayerRecord

__all__ = ["SQLiteStorage"]

_DDL = """
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
);
"""


class SQLiteStorage(SQLStorage):
    backend = "sqlite"

    def __init__(self, workspace: str | os.PathLike[str]):
        self.workspace = Path(workspace)
        self.db_path = self.workspace / "vacuum.sqlite"

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        con = self._connect()
        try:
            return [dict(r) for r in con.execute(sql, tuple(params)).fetchall()]
        finally:
            con.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        con = self._connect()
        try:
            return con.execute(sql, tuple(params)).rowcount
        finally:
            con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def init(self) -> None:
        self._init_workspace()
        con = self._connect()
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(_DDL)
        finally:
            con.close()
        self._drop_orphan_layer_files()

    def close(self) -> None:
        """Nothing held open between operations."""

    # ------------------------------------------------------------------ vector layers
    def _gpkg(self, layer_id: str) -> Path:
        return self.layers_dir / f"{layer_id}.gpkg"

    def add_vector_layer(self, record: LayerRecord, gdf: gpd.GeoDataFrame) -> LayerRecord:
        final = self._gpkg(record.id)
        tmp = self.tmp_dir() / f".{record.id}-{uuid.uuid4().hex[:8]}.gpkg"
        try:
            pyogrio.write_dataframe(gdf, tmp, layer="data", driver="GPKG")
            with self._transaction() as tx:  # the row and the file appear together, or neither
                self._insert_layer(record, tx)
                os.link(tmp, final)  # never replaces a stored file (FileExistsError)
        finally:
            tmp.unlink(missing_ok=True)
        return record

    def read_layer(self, layer_id: str) -> gpd.GeoDataFrame:
        rec = self.get_layer(layer_id)
        if rec.storage != "vector":
            from api.errors import RequestError

            raise RequestError(f"layer {layer_id!r} is a raster ({rec.kind}); it has no features")
        gdf = pyogrio.read_dataframe(self._gpkg(layer_id), layer="data")
        gdf = coerce_columns(gdf, rec.columns)
        gdf = gdf[[*rec.columns, gdf.geometry.name]]
        gdf = gdf.set_crs(CRS.from_wkt(rec.crs_wkt), allow_override=True)
        gdf.attrs = dict(rec.attrs)
        return gdf
