"""What both backends share: the metadata queries (portable SQL), the workspace files
(rasters, job folders, temporary space) and the dtype bookkeeping of stored layers.

A backend supplies :meth:`SQLStorage._query`, :meth:`SQLStorage._transaction`, its DDL
and the two vector-layer methods. SQL here is written with ``?`` placeholders; the
PostgreSQL backend turns them into ``%s``.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.errors import NotFoundError

from .records import AuditRecord, InstanceRecord, JobRecord, KeyRecord, LayerRecord, PlanRecord, now

__all__ = ["SQLStorage", "column_types", "coerce_columns", "JOB_FOLDERS"]

JOB_FOLDERS = {"analysis": "analyses", "scenario": "scenarios"}
"""Folder of each job kind's products in the workspace (other kinds: ``<kind>s``)."""

_JSON_FIELDS = {
    "layers": ("bbox", "columns", "attrs", "options"),
    "jobs": ("request", "result"),
    "audit": ("detail",),
    "plans": ("plan",),
}


def column_types(gdf: gpd.GeoDataFrame) -> dict[str, str]:
    """Each non-geometry column's type: int, float, bool, datetime or str."""
    out = {}
    for c in gdf.columns:
        if c == gdf.geometry.name:
            continue
        dt = gdf[c].dtype
        kind = getattr(dt, "kind", "O")
        out[str(c)] = {"b": "bool", "i": "int", "u": "int", "f": "float", "M": "datetime"}.get(kind, "str")
    return out


def coerce_columns(df: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Give columns read back from a store the dtypes they were stored with."""
    for c, t in types.items():
        if c not in df.columns:
            continue
        s = df[c]
        if t == "int":
            df[c] = pd.to_numeric(s).astype("int64") if not s.isna().any() else pd.to_numeric(s).astype("Int64")
        elif t == "float":
            df[c] = pd.to_numeric(s).astype("float64")
        elif t == "bool":
            df[c] = s.astype(bool)
        elif t == "datetime":
            df[c] = pd.to_datetime(s).astype("datetime64[ns]")
        else:
            df[c] = pd.Series([None if _missing(v) else str(v) for v in s.tolist()], index=df.index, dtype=object)
    return df


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and np.isnan(v)


def _json_default(o: Any) -> Any:
    from geo.export import json_safe

    if isinstance(o, datetime | date):
        return o.isoformat()
    return json_safe(o)


def dumps(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, default=_json_default, allow_nan=False)


def _ts(v: Any) -> Any:
    return v.isoformat(timespec="milliseconds") if isinstance(v, datetime) else v


_POSIX_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"():;,/]+/)+(?=[^\s'\"():;,/]+)")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\(?:[^\s'\"():;,\\]+\\)*(?=[^\s'\"():;,\\]+)")


def strip_paths(text: str) -> str:
    """``text`` with every absolute file path cut to its last component: a job's error is
    shown to viewers, who must not learn the server's folders."""
    return _WINDOWS_PATH.sub("", _POSIX_PATH.sub("", text))


class SQLStorage(abc.ABC):
    """Metadata in SQL tables, products in the workspace. Subclasses add the connection
    (SQLite: :class:`~api.storage.sqlite.SQLiteStorage`, PostGIS:
    :class:`~api.storage.postgis.PostGISStorage`) by implementing the three hooks."""

    backend = "sql"
    workspace: Path
    claims_jobs = False
    """True where servers sharing the database claim queued jobs from it (PostGIS); False where
    one server owns the store and runs the jobs it accepted (SQLite)."""
    _skip_locked = ""
    """Lock clause of the claim's inner SELECT (PostgreSQL: ``FOR UPDATE SKIP LOCKED``)."""

    # ------------------------------------------------------------------ backend hooks
    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; the number of rows it touched."""

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A context yielding an object with ``query``/``execute`` bound to one transaction."""

    # ------------------------------------------------------------------ workspace
    @property
    def layers_dir(self) -> Path:
        return self.workspace / "layers"

    def tmp_dir(self) -> Path:
        d = self.workspace / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def job_dir(self, kind: str, job_id: str) -> Path:
        return self.workspace / JOB_FOLDERS.get(kind, f"{kind}s") / job_id

    def _init_workspace(self, *, clean_tmp: bool = True) -> None:
        for d in (self.workspace, self.layers_dir, self.workspace / "analyses"):
            d.mkdir(parents=True, exist_ok=True)
        tmp = self.workspace / "tmp"
        if clean_tmp and tmp.exists():  # leftovers of writes cut short: never visible, safe to drop
            cutoff = time.time() - 3600
            for p in tmp.iterdir():
                with contextlib.suppress(OSError):
                    if p.stat().st_mtime < cutoff:
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
        tmp.mkdir(exist_ok=True)

    def _drop_orphan_layer_files(self) -> None:
        """Layer files whose metadata row never got written (a crash between the two)."""
        known = {r["id"] for r in self._query("SELECT id FROM layers")}
        for p in self.layers_dir.glob("*"):
            if p.is_file() and p.stem not in known and not p.name.startswith("."):
                with contextlib.suppress(OSError):
                    p.unlink()

    def raster_path(self, layer_id: str) -> Path:
        rec = self.get_layer(layer_id)
        if rec.storage != "raster":
            raise NotFoundError(f"layer {layer_id!r} is a vector layer ({rec.kind}); it has no raster")
        return self.layers_dir / f"{layer_id}.tif"

    def add_raster_layer(self, record: LayerRecord, path: Path) -> LayerRecord:
        final = self.layers_dir / f"{record.id}.tif"
        with self._transaction() as tx:  # the row and the file appear together, or neither
            self._insert_layer(record, tx)
            os.link(path, final)  # never replaces a stored file (FileExistsError)
        path.unlink()
        return record

    # ------------------------------------------------------------------ layers (metadata)
    def _insert_layer(self, record: LayerRecord, tx: Any = None) -> None:
        self._insert("layers", record, tx)

    def get_layer(self, layer_id: str) -> LayerRecord:
        rows = self._query("SELECT * FROM layers WHERE id = ?", (layer_id,))
        if not rows:
            raise NotFoundError(f"no layer {layer_id!r}; GET /layers lists the layers")
        return self._record(LayerRecord, "layers", rows[0])

    def list_layers(self, kind: str | None = None) -> list[LayerRecord]:
        if kind is None:
            rows = self._query("SELECT * FROM layers ORDER BY created_at, id")
        else:
            rows = self._query("SELECT * FROM layers WHERE kind = ? ORDER BY created_at, id", (kind,))
        return [self._record(LayerRecord, "layers", r) for r in rows]

    # ------------------------------------------------------------------ jobs
    def create_job(self, job: JobRecord) -> JobRecord:
        self._insert("jobs", job)
        return job

    def get_job(self, job_id: str) -> JobRecord:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise NotFoundError(f"no job {job_id!r}")
        return self._record(JobRecord, "jobs", rows[0])

    def list_jobs(self, kind: str | None = None, statuses: tuple[str, ...] | None = None,
                  limit: int = 100) -> list[JobRecord]:
        where: list[str] = []
        params: list[Any] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(int(limit))
        return [self._record(JobRecord, "jobs", r) for r in self._query(sql, params)]

    def start_job(self, job_id: str, instance_id: str) -> bool:
        t = now()
        n = self._execute(
            "UPDATE jobs SET status = 'running', started_at = ?, updated_at = ?, heartbeat_at = ?, instance_id = ? "
            "WHERE id = ? AND status = 'queued' AND (instance_id IS NULL OR instance_id = ?)",
            (t, t, t, instance_id, job_id, instance_id))
        return n == 1

    def claim_job(self, instance_id: str) -> JobRecord | None:
        """The oldest queued job, now ``running`` for ``instance_id``; None when none is queued.

        One statement: on PostgreSQL the inner SELECT locks the row it picks and skips rows
        other servers are claiming (``FOR UPDATE SKIP LOCKED``), so two servers never get
        the same job; the outer ``status = 'queued'`` re-checks it under the lock."""
        t = now()
        rows = self._query(
            "UPDATE jobs SET status = 'running', started_at = ?, updated_at = ?, heartbeat_at = ?, instance_id = ? "
            "WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1"
            f"{self._skip_locked}) AND status = 'queued' RETURNING *",
            (t, t, t, instance_id))
        return self._record(JobRecord, "jobs", rows[0]) if rows else None

    def touch_jobs(self, instance_id: str) -> int:
        """Heartbeat of the running jobs of ``instance_id``; how many."""
        return self._execute("UPDATE jobs SET heartbeat_at = ? WHERE instance_id = ? AND status = 'running'",
                             (now(), instance_id))

    def reap_jobs(self, *, stale_before: str | None, instance_ids: Sequence[str] = (), retries: int = 0,
                  reason: str = "") -> list[tuple[str, str]]:
        """Running jobs whose heartbeat is older than ``stale_before`` or whose server is in
        ``instance_ids``: back to ``queued`` (unowned, ``attempt`` + 1) while ``attempt < retries``,
        else ``interrupted``. ``(job id, new status)`` of each."""
        where, params = [], []
        if stale_before is not None:
            where.append("heartbeat_at IS NULL OR heartbeat_at < ?")
            params.append(stale_before)
        if instance_ids:
            where.append(f"instance_id IN ({', '.join('?' for _ in instance_ids)})")
            params.extend(instance_ids)
        if not where:
            return []
        t = now()
        why = reason or "the server running the job stopped before it finished"
        match = f"status = 'running' AND ({' OR '.join(f'({w})' for w in where)})"
        with self._transaction() as tx:
            again = tx.query(
                "UPDATE jobs SET status = 'queued', error = ?, started_at = NULL, instance_id = NULL, "
                f"attempt = attempt + 1, updated_at = ? WHERE {match} AND attempt < ? RETURNING id",
                (f"{why}; queued again for another server", t, *params, int(retries)))
            dead = tx.query(
                f"UPDATE jobs SET status = 'interrupted', error = ?, finished_at = ?, updated_at = ? WHERE {match} "
                "RETURNING id", (f"{why}; submit it again", t, t, *params))
        return [(r["id"], "queued") for r in again] + [(r["id"], "interrupted") for r in dead]

    def update_progress(self, job_id: str, stage: str, stage_fraction: float, fraction: float,
                        attempt: int | None = None) -> bool:
        guard, extra = self._attempt_guard(attempt)
        t = now()
        n = self._execute(
            "UPDATE jobs SET stage = ?, stage_fraction = ?, fraction = ?, updated_at = ?, heartbeat_at = ? "
            f"WHERE id = ? AND status = 'running'{guard}",
            (stage, float(stage_fraction), float(fraction), t, t, job_id, *extra))
        return n == 1

    def finish_job(self, job_id: str, status: str, *, error: str | None = None,
                   result: dict | None = None, attempt: int | None = None) -> bool:
        if status not in ("done", "failed", "interrupted"):
            raise ValueError(f"finish_job: status must be done, failed or interrupted, not {status!r}")
        guard, guard_params = self._attempt_guard(attempt)
        t = now()
        error = strip_paths(error) if error is not None else None
        extra = ", fraction = 1.0, stage_fraction = 1.0" if status == "done" else ""
        n = self._execute(
            f"UPDATE jobs SET status = ?, error = ?, result = ?, finished_at = ?, updated_at = ?{extra} "
            f"WHERE id = ? AND status IN ('queued', 'running'){guard}",
            (status, error, dumps(result), t, t, job_id, *guard_params))
        return n == 1

    @staticmethod
    def _attempt_guard(attempt: int | None) -> tuple[str, tuple[Any, ...]]:
        """A worker's writes count only for the attempt it runs: a job queued again after its
        server was taken as dead is not written by that server's late worker."""
        return ("", ()) if attempt is None else (" AND attempt = ?", (int(attempt),))

    # ------------------------------------------------------------------ instances
    def register_instance(self, instance: InstanceRecord) -> None:
        self._insert("instances", instance)

    def heartbeat(self, instance_id: str) -> None:
        self._execute("UPDATE instances SET heartbeat_at = ? WHERE id = ?", (now(), instance_id))

    def stop_instance(self, instance_id: str) -> None:
        t = now()
        self._execute("UPDATE instances SET stopped_at = ?, heartbeat_at = ? WHERE id = ?", (t, t, instance_id))

    def list_instances(self) -> list[InstanceRecord]:
        return [self._record(InstanceRecord, "instances", r)
                for r in self._query("SELECT * FROM instances ORDER BY started_at")]

    # ------------------------------------------------------------------ keys
    def add_key(self, key: KeyRecord) -> KeyRecord:
        self._insert("api_keys", key)
        return key

    def get_key(self, key_id: str) -> KeyRecord:
        rows = self._query("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            raise NotFoundError(f"no API key {key_id!r}")
        return self._record(KeyRecord, "api_keys", rows[0])

    def list_keys(self) -> list[KeyRecord]:
        return [self._record(KeyRecord, "api_keys", r)
                for r in self._query("SELECT * FROM api_keys ORDER BY created_at, id")]

    def revoke_key(self, key_id: str) -> KeyRecord:
        self.get_key(key_id)
        self._execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now(), key_id))
        return self.get_key(key_id)

    # ------------------------------------------------------------------ audit
    def add_audit(self, entry: AuditRecord) -> AuditRecord:
        values = {f.name: getattr(entry, f.name) for f in fields(entry) if f.name != "id"}
        cols = list(values)
        rows = self._query(
            f"INSERT INTO audit ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) RETURNING id",
            [dumps(v) if k in _JSON_FIELDS["audit"] else v for k, v in values.items()])
        entry.id = int(rows[0]["id"])
        return entry

    def list_audit(self, *, action: str | None = None, key_id: str | None = None,
                   since: str | None = None, limit: int = 100) -> list[AuditRecord]:
        where: list[str] = []
        params: list[Any] = []
        for col, v in (("action", action), ("key_id", key_id)):
            if v is not None:
                where.append(f"{col} = ?")
                params.append(v)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        sql = "SELECT * FROM audit" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        return [self._record(AuditRecord, "audit", r) for r in self._query(sql, params)]

    # ------------------------------------------------------------------ plans
    def add_plan(self, plan: PlanRecord) -> PlanRecord:
        with self._transaction() as tx:
            self._insert("plans", plan, tx)
            tx.execute("INSERT INTO plan_versions (plan_id, version, plan, saved_at, saved_by) VALUES (?, ?, ?, ?, ?)",
                       [plan.id, plan.version, dumps(plan.plan), plan.updated_at, plan.updated_by])
        return plan

    def get_plan(self, plan_id: str) -> PlanRecord:
        rows = self._query("SELECT * FROM plans WHERE id = ?", [plan_id])
        if not rows:
            raise NotFoundError(f"no plan {plan_id!r}")
        return self._record(PlanRecord, "plans", rows[0])

    def list_plans(self, analysis_id: str | None = None, limit: int = 100) -> list[PlanRecord]:
        sql, params = "SELECT * FROM plans", []
        if analysis_id is not None:
            sql, params = sql + " WHERE analysis_id = ?", [analysis_id]
        rows = self._query(sql + " ORDER BY updated_at DESC, id LIMIT ?", [*params, int(limit)])
        return [self._record(PlanRecord, "plans", r) for r in rows]

    def update_plan(self, plan_id: str, expected_version: int, plan: dict[str, Any], name: str,
                    saved_by: str) -> PlanRecord | None:
        """Save a new version if the stored one is still ``expected_version``; ``None`` if
        someone saved a newer one first (the caller reports it), nothing changed then."""
        at = now()
        with self._transaction() as tx:
            n = tx.execute("UPDATE plans SET plan = ?, name = ?, version = version + 1, updated_at = ?, "
                           "updated_by = ? WHERE id = ? AND version = ?",
                           [dumps(plan), name, at, saved_by, plan_id, int(expected_version)])
            if not n:
                return None
            tx.execute("INSERT INTO plan_versions (plan_id, version, plan, saved_at, saved_by) VALUES (?, ?, ?, ?, ?)",
                       [plan_id, int(expected_version) + 1, dumps(plan), at, saved_by])
        return self.get_plan(plan_id)

    def plan_versions(self, plan_id: str) -> list[dict[str, Any]]:
        """Every saved version of a plan, oldest first: version, saved_at, saved_by, plan."""
        rows = self._query("SELECT version, plan, saved_at, saved_by FROM plan_versions WHERE plan_id = ? "
                           "ORDER BY version", [plan_id])
        return [{"version": int(r["version"]), "saved_at": _ts(r["saved_at"]), "saved_by": r["saved_by"],
                 "plan": json.loads(r["plan"]) if isinstance(r["plan"], str) else r["plan"]} for r in rows]

    # ------------------------------------------------------------------ helpers
    def _insert(self, table: str, record: Any, tx: Any = None) -> None:
        values = {f.name: getattr(record, f.name) for f in fields(record)}
        json_fields = _JSON_FIELDS.get(table, ())
        cols = list(values)
        params = [dumps(v) if k in json_fields else v for k, v in values.items()]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        if tx is None:
            self._execute(sql, params)
        else:
            tx.execute(sql, params)

    @staticmethod
    def _record(cls: type, table: str, row: dict[str, Any]) -> Any:
        json_fields = _JSON_FIELDS.get(table, ())
        names = {f.name for f in fields(cls)}
        values = {}
        for k, v in row.items():
            if k not in names:
                continue
            if k in json_fields and isinstance(v, str):
                v = json.loads(v)
            values[k] = _ts(v)
        return cls(**values)
