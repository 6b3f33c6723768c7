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
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from pyproj import CRS

from geo.errors import VacuumError

from .base import SQLStorage, coerce_columns
from .migrations import migrate
from .records import LayerRecord

__all__ = ["SQLiteStorage", "WorkspaceError", "check_workspace", "LIVE_HEARTBEAT_S"]

LIVE_HEARTBEAT_S = 60.0
"""A server whose heartbeat is younger than this is alive (the ``stale_after_s`` default):
the temporary files of its running jobs are kept at startup."""


class WorkspaceError(VacuumError, OSError):
    """The workspace or its database cannot be used as it is: the message names the file
    and the fix (the CLI prints it as one line)."""


def _data_files(workspace: Path) -> tuple[int, int]:
    """(stored layer files, analysis folders) in a workspace."""
    layers = workspace / "layers"
    n_layers = sum(1 for p in layers.iterdir() if p.is_file() and not p.name.startswith(".")) if layers.is_dir() else 0
    n_jobs = sum(1 for d in workspace.iterdir() if d.is_dir() and d.name not in ("layers", "tmp")
                 for p in d.iterdir() if p.is_dir()) if workspace.is_dir() else 0
    return n_layers, n_jobs


def check_workspace(workspace: str | os.PathLike[str]) -> None:
    """Refuse, in one sentence naming the file and the fix, a workspace that cannot be
    created or written, a ``vacuum.sqlite`` that is not a SQLite database, and a missing or
    empty (0-byte) one beside stored layers or analyses: starting empty there would orphan
    (and then delete) the data on disk."""
    ws = Path(workspace)
    try:
        ws.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"workspace {ws} cannot be created ({exc.strerror or exc}); create it, or choose "
                             "another with --workspace DIR (VACUUM_WORKSPACE)") from None
    if not ws.is_dir():
        raise WorkspaceError(f"workspace {ws} is not a folder; choose one with --workspace DIR (VACUUM_WORKSPACE)")
    if not os.access(ws, os.W_OK | os.X_OK):
        raise WorkspaceError(f"workspace {ws} is not writable by this user; fix its permissions "
                             f"(chmod u+w {ws}) or choose another with --workspace DIR (VACUUM_WORKSPACE)")
    db = ws / "vacuum.sqlite"
    n_layers, n_jobs = _data_files(ws)
    held = f"{n_layers} layer file(s) and {n_jobs} job folder(s)"
    if not db.exists() or db.stat().st_size == 0:
        if n_layers or n_jobs:
            state = "missing" if not db.exists() else "empty (0 bytes)"
            raise WorkspaceError(
                f"{db} is {state} but the workspace holds {held}: their metadata is lost and starting afresh "
                f"would orphan them; restore it from a backup, or move {ws} aside to start an empty workspace")
        return
    if not os.access(db, os.R_OK | os.W_OK):
        raise WorkspaceError(f"{db} is not readable and writable by this user; fix its permissions (chmod u+rw {db})")
    with open(db, "rb") as f:
        header = f.read(16)
    problem = None if header == b"SQLite format 3\x00" else "its header is not SQLite's"
    if problem is None:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30.0)
            try:
                row = con.execute("PRAGMA quick_check").fetchone()
            finally:
                con.close()
            if row is None or row[0] != "ok":
                problem = f"quick_check says {row[0] if row else 'nothing'}"
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
    if problem is not None:
        raise WorkspaceError(f"{db} is not a readable SQLite database ({problem}): corrupt? Restore it from a "
                             f"backup (the workspace holds {held}), or move {ws} aside to start afresh")



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
        check_workspace(self.workspace)
        self._init_workspace(clean_tmp=False)
        con = self._connect()
        try:
            con.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.db_path} cannot be initialised ({exc}); check the file and its folder's "
                                 "permissions, or restore it from a backup") from None
        finally:
            con.close()
        with self._transaction() as tx:  # the schema migrated whole, or not at all
            migrate(tx, "sqlite", str(self.db_path))
        self._clean_tmp()
        self._drop_orphan_layer_files()

    def _clean_tmp(self) -> None:
        """Drop what no live job owns from ``tmp/``: a job's staging folder (``<job id>-<hex>``)
        unless the job is running on a server whose heartbeat is fresh; any other entry at
        once when no other server is alive, else (its uploads may be in flight) after an hour."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=LIVE_HEARTBEAT_S)).isoformat(timespec="milliseconds")
        live = {r["id"] for r in self._query(
            "SELECT id FROM instances WHERE stopped_at IS NULL AND heartbeat_at > ?", (cutoff,))}
        jobs = {r["id"]: r["status"] == "running" and r["instance_id"] in live
                for r in self._query("SELECT id, status, instance_id FROM jobs")}
        old = time.time() - 3600
        for p in (self.workspace / "tmp").iterdir():
            owner = p.name.rsplit("-", 1)[0]
            if jobs.get(owner):
                continue
            with contextlib.suppress(OSError):
                if owner not in jobs and live and p.stat().st_mtime >= old:
                    continue
                shutil.rmtree(p) if p.is_dir() else p.unlink()

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
