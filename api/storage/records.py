"""What the storage keeps: plain dataclasses, the same for every backend."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "JOB_STATUSES",
    "ACTIVE_STATUSES",
    "LayerRecord",
    "JobRecord",
    "KeyRecord",
    "AuditRecord",
    "InstanceRecord",
    "PlanRecord",
    "new_id",
    "now",
]

JobStatus = Literal["queued", "running", "done", "failed", "interrupted"]
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "failed", "interrupted")
ACTIVE_STATUSES: tuple[JobStatus, ...] = ("queued", "running")


def new_id(prefix: str) -> str:
    """``prefix_`` + 12 hex digits; safe as a file name and a SQL identifier."""
    return f"{prefix}_{secrets.token_hex(6)}"


def now() -> str:
    """UTC time as ISO 8601 with milliseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class LayerRecord:
    id: str
    kind: str
    name: str
    filename: str
    format: str
    storage: Literal["vector", "raster"]
    crs: str  # display name, e.g. "EPSG:4326"
    crs_wkt: str
    feature_count: int | None = None
    bbox: list[float] | None = None  # lon/lat west, south, east, north
    columns: dict[str, str] = field(default_factory=dict)  # name -> int/float/bool/datetime/str
    attrs: dict[str, Any] = field(default_factory=dict)  # what the loader recorded (schema, maps used...)
    options: dict[str, Any] = field(default_factory=dict)  # upload options (mapping, as_of, units...)
    size_bytes: int = 0
    created_at: str = field(default_factory=now)
    created_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobRecord:
    id: str
    kind: str
    request: dict[str, Any]
    name: str = ""
    status: JobStatus = "queued"
    stage: str | None = None
    stage_fraction: float = 0.0
    fraction: float = 0.0
    error: str | None = None
    result: dict[str, Any] | None = None
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str = field(default_factory=now)
    instance_id: str | None = None
    created_by: str = ""
    created_by_name: str = ""
    heartbeat_at: str | None = None  # last sign of life of the server running it (claimed jobs)
    attempt: int = 0  # times queued again after its server died (VACUUM_JOB_RETRIES)


@dataclass
class KeyRecord:
    id: str
    name: str
    role: str
    salt: str
    hash: str
    created_at: str = field(default_factory=now)
    created_by: str = ""
    revoked_at: str | None = None


@dataclass
class AuditRecord:
    key_id: str
    key_name: str
    role: str
    action: str
    target: str
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=now)
    id: int | None = None


@dataclass
class InstanceRecord:
    id: str
    host: str
    pid: int
    started_at: str = field(default_factory=now)
    heartbeat_at: str = field(default_factory=now)
    stopped_at: str | None = None


@dataclass
class PlanRecord:
    """A withdrawal plan saved from the plan editor: the plan document (the YAML the CLI
    reads, as JSON), on one analysis. ``version`` rises by one on every save; each
    version is kept (``plan_versions``) with who saved it."""

    id: str
    analysis_id: str
    name: str
    plan: dict[str, Any]
    version: int = 1
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    created_by: str = ""
    updated_by: str = ""  # the key name that saved the current version
