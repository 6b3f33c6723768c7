"""The team-server storage: metadata tables and vector layers in PostGIS.

Tables live in one schema (``VACUUM_DATABASE_SCHEMA``, default ``vacuum``): ``layers``,
``jobs``, ``api_keys``, ``audit``, ``instances``, and one table per vector layer,
``layer_<id>``, with typed columns, a ``geom geometry(Geometry, <EPSG code or 0>)`` column
(GiST-indexed) and ``vacuum_fid`` keeping the row order, so QGIS can open a layer as it is.
Rasters and job folders stay in the workspace as with the embedded storage.

A layer's table and its metadata row are written in one transaction: a failed upload
leaves neither. Connections come from a bounded pool (``psycopg_pool``, at most
``pool_max`` = ``VACUUM_DATABASE_POOL_MAX`` per process; autocommit outside explicit
transactions, ``TimeZone=UTC``, ``search_path=<schema>, public``). The schema is versioned
(:mod:`api.storage.migrations`), migrated at ``init`` under an advisory lock.

Jobs are claimed from the database (``claims_jobs``): :meth:`SQLStorage.claim_job` takes
the oldest queued job with ``FOR UPDATE SKIP LOCKED``, so servers sharing the database
never take the same job and never wait on each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .base import SQLStorage, coerce_columns
from .migrations import migrate
from .records import LayerRecord

__all__ = ["PostGISStorage"]

_PG_TYPES = {"int": "bigint", "float": "double precision", "bool": "boolean", "datetime": "timestamp", "str": "text"}


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _open_pool(url: str, schema: str, max_size: int, timeout_s: float, application_name: str):
    """A bounded pool (psycopg_pool): at most ``max_size`` connections; a caller past that waits
    up to ``timeout_s`` for one to come back, then gets ``psycopg_pool.PoolTimeout``."""
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        url, min_size=1, max_size=max_size, timeout=timeout_s, open=True, name=f"vacuum-{schema}",
        check=ConnectionPool.check_connection,
        kwargs={"autocommit": True, "row_factory": dict_row, "application_name": application_name,
                "options": f"-c TimeZone=UTC -c search_path={schema},public"})


def describe_url(url: str, schema: str) -> str:
    """``host:port/db (schema s)``: the database named for messages, without the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        d = conninfo_to_dict(url)
    except Exception:
        return f"(unparsable URL) schema {schema}"
    return f"{d.get('host', 'localhost')}:{d.get('port', 5432)}/{d.get('dbname', '?')} (schema {schema})"


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

    claims_jobs = True
    _skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, workspace: str | os.PathLike[str], url: str, *, schema: str = "vacuum", pool_max: int = 10,
                 pool_timeout_s: float = 30.0, application_name: str = "vacuum"):
        self.workspace = Path(workspace)
        self.schema = schema
        self.where = describe_url(url, schema)
        self._url = url
        self._pool = _open_pool(url, schema, pool_max, pool_timeout_s, application_name)

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
        self._wait_connected()
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
                with con.cursor() as cur:
                    migrate(_Tx(cur), "postgis", self.where)
        self._drop_orphan_layer_files()

    def _wait_connected(self, timeout_s: float = 15.0) -> None:
        """Fail at startup, naming the database and why, when it cannot be reached."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            self._pool.wait(timeout=timeout_s)
        except PoolTimeout:
            from geo.errors import ConfigError

            try:
                psycopg.connect(self._url, connect_timeout=5).close()
                why = f"no connection within {timeout_s:g} s"
            except psycopg.Error as exc:
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot connect to the database {self.where}: {why}; "
                              "check VACUUM_DATABASE_URL and that the server is up") from None

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
