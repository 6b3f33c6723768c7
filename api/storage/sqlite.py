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
from .migrations import migrate
from .records import LayerRecord

__all__ = ["SQLiteStorage"]


class _Tx:
    """``query``/``execute`` bound to one transaction of a connection."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.con.execute(sql, tuple(params)).fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.con.execute(sql, tuple(params)).rowcount


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
    def _transaction(self) -> Iterator[_Tx]:
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(con)
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
        finally:
            con.close()
        with self._transaction() as tx:  # the schema migrated whole, or not at all
            migrate(tx, "sqlite", str(self.db_path))
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
