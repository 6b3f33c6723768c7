"""The team-server storage: metadata tables and vector layers in PostGIS.

Tables live in one schema (``VACUUM_DATABASE_SCHEMA``, default ``vacuum``): ``layers``,
``jobs``, ``api_keys``, ``audit``, ``instances``, and one table per vector layer,
``layer_<id>``, with typed columns, a ``geom geometry(Geometry, <EPSG code or 0>)`` column
(GiST-indexed) and ``vacuum_fid`` keeping the row order, so QGIS can open a layer as it is.
Rasters and job folders stay in the workspace as with the embedded storage.

A layer's table and its metadata row are written in one transaction: a failed upload
leaves neither. Connections come from a small pool (psycopg 3, autocommit outside
explicit transactions, ``TimeZone=UTC``, ``search_path=<schema>, public``).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .base import SQLStorage, coerce_columns
from .records import LayerRecord

__all__ = ["PostGISStorage"]

_DDL = """
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
);
"""

_PG_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean", "datetime": "timestamp", "str": "text"}


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _Pool:
    """A few idle connections kept for reuse; a broken or busy one is dropped."""

    def __init__(self, url: str, schema: str, size: int = 8):
        self.url, self.schema, self.size = url, schema, size
        self.idle: queue.LifoQueue = queue.LifoQueue()
        self.lock = threading.Lock()

    def _new(self):
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                               options=f"-c TimeZone=UTC -c search_path={self.schema},public")

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg

        try:
            con = self.idle.get_nowait()
        except queue.Empty:
            con = self._new()
        ok = False
        try:
            yield con
            ok = True
        finally:
            healthy = ok and not con.closed and con.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            if healthy and self.idle.qsize() < self.size:
                self.idle.put(con)
            else:
                con.close()

    def close(self) -> None:
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return


class _Tx:
    def __init__(self, cur):
        self.cur = cur

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cur.execute(_pg(sql), tuple(params))
        return list(self.cur.fetchall()) if self.cur.description else []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(_pg(sql), tuple(params))
        return self.cur.rowcount


class PostGISStorage(SQLStorage):
    backend = "postgis"

    def __init__(self, workspace: str | os.PathLike[str], url: str, *, schema: str = "vacuum"):
        self.workspace = Path(workspace)
        self.schema = schema
        self._pool = _Pool(url, schema)

    def __repr__(self) -> str:
        return f"PostGISStorage({self.workspace}, schema={self.schema})"

    # ------------------------------------------------------------------ connection
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._pool.connection() as con, con.cursor() as cur:
            cur.execute(_pg(sql), tuple(params))
            return list(cur.fetchall()) if cur.description else []

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._pool.connection() as con, con.cursor() as cur:
            cur.execute(_pg(sql), tuple(params))
            return cur.rowcount

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        with self._pool.connection() as con, con.transaction(), con.cursor() as cur:
            yield _Tx(cur)

    def init(self) -> None:
        from psycopg import sql

        self._init_workspace()
        with self._pool.connection() as con:
            with con.transaction():
                con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"vacuum-init:{self.schema}",))
                con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                has_postgis = con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
                if not has_postgis:
                    try:
                        with con.transaction():
                            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                    except Exception as exc:
                        from geo.errors import ConfigError

                        raise ConfigError(
                            f"the database has no PostGIS extension and this role may not create it ({exc}); "
                            "run CREATE EXTENSION postgis as a superuser"
                        ) from exc
                for stmt in _DDL.split(";"):
                    if stmt.strip():
                        con.execute(stmt)
        self._drop_orphan_layer_files()

    def close(self) -> None:
        self._pool.close()

    def drop_schema(self) -> None:
        """Remove every table of this storage (tests; never called by the service)."""
        from psycopg import sql

        with self._pool.connection() as con:
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    # ------------------------------------------------------------------ vector layers
    def _table(self, layer_id: str):
        from psycopg import sql

        return sql.Identifier(self.schema, f"layer_{layer_id}")

    def add_vector_layer(self, record: LayerRecord, gdf: gpd.GeoDataFrame) -> LayerRecord:
        from psycopg import sql

        types = record.columns
        crs = CRS.from_user_input(gdf.crs)
        srid = crs.to_epsg() or 0
        cols = list(types)
        table = self._table(record.id)
        ddl = sql.SQL("CREATE TABLE {} (vacuum_fid bigint PRIMARY KEY, {}, geom geometry(Geometry, {}))").format(
            table,
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_PG_TYPES[types[c]])) for c in cols),
            sql.Literal(srid),
        ) if cols else sql.SQL("CREATE TABLE {} (vacuum_fid bigint PRIMARY KEY, geom geometry(Geometry, {}))").format(
            table, sql.Literal(srid))
        geoms = shapely.set_srid(np.asarray(gdf.geometry.values, dtype=object), srid)
        wkb = shapely.to_wkb(geoms, hex=True, include_srid=True)
        columns = [_python_values(gdf[c], types[c]) for c in cols]
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            table, sql.SQL(", ").join(sql.Identifier(c) for c in ["vacuum_fid", *cols, "geom"]))
        with self._pool.connection() as con, con.transaction(), con.cursor() as cur:
            cur.execute(ddl)
            with cur.copy(copy) as cp:
                for i in range(len(gdf)):
                    cp.write_row([i, *(col[i] for col in columns), wkb[i]])
            cur.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(table))
            self._insert_layer(record, _Tx(cur))
        return record

    def read_layer(self, layer_id: str) -> gpd.GeoDataFrame:
        from psycopg import sql

        rec = self.get_layer(layer_id)
        if rec.storage != "vector":
            from api.errors import RequestError

            raise RequestError(f"layer {layer_id!r} is a raster ({rec.kind}); it has no features")
        cols = list(rec.columns)
        q = sql.SQL("SELECT {}ST_AsBinary(geom) AS vacuum_geom FROM {} ORDER BY vacuum_fid").format(
            sql.SQL("").join(sql.SQL("{}, ").format(sql.Identifier(c)) for c in cols), self._table(layer_id))
        with self._pool.connection() as con, con.cursor() as cur:
            cur.execute(q)
            rows = cur.fetchall()
        df = pd.DataFrame({c: [r[c] for r in rows] for c in cols}) if rows else pd.DataFrame(columns=cols)
        geom = shapely.from_wkb([bytes(r["vacuum_geom"]) for r in rows]) if rows else []
        gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geom, index=df.index), crs=CRS.from_wkt(rec.crs_wkt))
        gdf = coerce_columns(gdf, rec.columns)
        gdf.attrs = dict(rec.attrs)
        return gdf


def _python_values(s: pd.Series, t: str) -> list[Any]:
    """Column values as Python objects psycopg's COPY understands (None for missing)."""
    if t == "datetime":
        return [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in s.tolist()]
    if t == "int":
        return [None if pd.isna(v) else int(v) for v in s.tolist()]
    if t == "float":
        return [float(v) if v is not None and v is not pd.NA else None for v in s.tolist()]
    if t == "bool":
        return [None if v is None or v is pd.NA else bool(v) for v in s.tolist()]
    return [None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s.tolist()]
