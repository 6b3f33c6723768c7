"""Where the service keeps layers, jobs, keys and the audit log.

One interface, :class:`Storage`, two implementations:

* :class:`~api.storage.sqlite.SQLiteStorage` (default, needs no server): one workspace
  folder with ``vacuum.sqlite`` (metadata) and ``layers/<id>.gpkg`` (vector layers).
* :class:`~api.storage.postgis.PostGISStorage` (team server, ``VACUUM_DATABASE_URL``):
  metadata tables and vector layers (one table per layer) in PostGIS.

In both, rasters (population layers) stay as files in ``workspace/layers/`` and each job's
products as a folder in ``workspace/analyses/<id>/`` (``geo.products.write_analysis``).
Writes are atomic: files are written under a temporary name and moved into place, folders
are built under ``workspace/tmp/`` and renamed, metadata changes are transactions. A crash
mid-write leaves the previous state readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .records import (
    ACTIVE_STATUSES,
    JOB_STATUSES,
    AuditRecord,
    InstanceRecord,
    JobRecord,
    KeyRecord,
    LayerRecord,
    PlanRecord,
    new_id,
    now,
)

if TYPE_CHECKING:
    import geopandas as gpd

    from api.settings import Settings

__all__ = [
    "Storage",
    "StorageConfig",
    "open_storage",
    "LayerRecord",
    "JobRecord",
    "KeyRecord",
    "AuditRecord",
    "InstanceRecord",
    "PlanRecord",
    "JOB_STATUSES",
    "ACTIVE_STATUSES",
    "new_id",
    "now",
]


@runtime_checkable
class Storage(Protocol):
    """Everything the service stores. Lookups of absent things raise :class:`api.errors.NotFoundError`."""

    backend: str
    workspace: Path
    claims_jobs: bool
    """True: servers sharing the database claim queued jobs from it (:meth:`claim_job`)."""

    def init(self) -> None:
        """Create folders and tables if absent; remove leftovers of interrupted writes."""

    def close(self) -> None: ...

    # --- layers
    def add_vector_layer(self, record: LayerRecord, gdf: gpd.GeoDataFrame) -> LayerRecord: ...
    def add_raster_layer(self, record: LayerRecord, path: Path) -> LayerRecord:
        """Move the file at ``path`` (in the workspace's tmp folder) into the store."""

    def get_layer(self, layer_id: str) -> LayerRecord: ...
    def list_layers(self, kind: str | None = None) -> list[LayerRecord]: ...
    def read_layer(self, layer_id: str) -> gpd.GeoDataFrame:
        """The stored vector layer, with the columns, dtypes, CRS and attrs it was stored with."""

    def raster_path(self, layer_id: str) -> Path: ...

    # --- jobs
    def create_job(self, job: JobRecord) -> JobRecord: ...
    def get_job(self, job_id: str) -> JobRecord: ...
    def list_jobs(self, kind: str | None = None, statuses: tuple[str, ...] | None = None,
                  limit: int = 100) -> list[JobRecord]: ...
    def start_job(self, job_id: str, instance_id: str) -> bool:
        """queued -> running; False if the job is no longer queued."""

    def claim_job(self, instance_id: str) -> JobRecord | None:
        """The oldest queued job, moved to running for ``instance_id`` (never given to two); None if none."""

    def touch_jobs(self, instance_id: str) -> int:
        """Heartbeat of the running jobs of a server."""

    def reap_jobs(self, *, stale_before: str | None, instance_ids: Sequence[str] = (), retries: int = 0,
                  reason: str = "") -> list[tuple[str, str]]:
        """Running jobs with a heartbeat older than ``stale_before`` or of those servers: queued
        again while ``attempt < retries``, else interrupted; ``(id, new status)`` of each."""

    def update_progress(self, job_id: str, stage: str, stage_fraction: float, fraction: float,
                        attempt: int | None = None) -> bool:
        """Record progress of a running job (of that attempt); False if it is no longer running (stop working)."""

    def finish_job(self, job_id: str, status: str, *, error: str | None = None,
                   result: dict | None = None, attempt: int | None = None) -> bool:
        """queued/running -> done/failed/interrupted (of that attempt); False if it had already finished."""

    def job_dir(self, kind: str, job_id: str) -> Path:
        """Folder of a job's products (may not exist yet)."""

    def tmp_dir(self) -> Path:
        """A folder in the workspace for partial writes (same file system as the store)."""

    # --- server instances (to tell live jobs from orphans)
    def register_instance(self, instance: InstanceRecord) -> None: ...
    def heartbeat(self, instance_id: str) -> None: ...
    def stop_instance(self, instance_id: str) -> None: ...
    def list_instances(self) -> list[InstanceRecord]: ...

    # --- API keys
    def add_key(self, key: KeyRecord) -> KeyRecord: ...
    def get_key(self, key_id: str) -> KeyRecord: ...
    def list_keys(self) -> list[KeyRecord]: ...
    def revoke_key(self, key_id: str) -> KeyRecord: ...

    # --- plans (the plan editor)
    def add_plan(self, plan: PlanRecord) -> PlanRecord: ...
    def get_plan(self, plan_id: str) -> PlanRecord: ...
    def list_plans(self, analysis_id: str | None = None, limit: int = 100) -> list[PlanRecord]: ...
    def update_plan(self, plan_id: str, expected_version: int, plan: dict[str, Any], name: str,
                    saved_by: str) -> PlanRecord | None: ...
    def plan_versions(self, plan_id: str) -> list[dict[str, Any]]: ...

    # --- audit log
    def add_audit(self, entry: AuditRecord) -> AuditRecord: ...
    def list_audit(self, *, action: str | None = None, key_id: str | None = None,
                   since: str | None = None, limit: int = 100) -> list[AuditRecord]: ...


class StorageConfig:
    """What a worker process needs to open the same storage (picklable, no secrets in repr)."""

    def __init__(self, workspace: Path, database_url: str | None, schema: str = "vacuum", pool_max: int = 10):
        self.workspace = Path(workspace)
        self.database_url = database_url
        self.schema = schema
        self.pool_max = pool_max

    def __repr__(self) -> str:
        return f"StorageConfig({self.workspace}, {'postgis' if self.database_url else 'sqlite'})"

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageConfig:
        url = settings.database_url.get_secret_value() if settings.database_url is not None else None
        return cls(settings.workspace, url, settings.database_schema, settings.database_pool_max)

    def open(self) -> Storage:
        if self.database_url:
            from .postgis import PostGISStorage

            return PostGISStorage(self.workspace, self.database_url, schema=self.schema, pool_max=self.pool_max)
        from .sqlite import SQLiteStorage

        return SQLiteStorage(self.workspace)


def open_storage(settings: Settings) -> Storage:
    """The storage the settings ask for, initialised."""
    storage = StorageConfig.from_settings(settings).open()
    storage.init()
    return storage
