"""Service settings: one pydantic-settings class, read from ``VACUUM_*`` environment variables.

Nothing is read at import time: :func:`api.app.create_app` takes a :class:`Settings`
built by the caller (``Settings()`` reads the environment; keyword arguments override it).
A placeholder secret (``changethis``, ``secret``, a short key...) fails at construction,
before the server starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "Role", "ROLES", "PLACEHOLDER_SECRETS", "MIN_SECRET_LENGTH"]

Role = Literal["viewer", "planner", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "planner", "admin")
"""Roles in increasing order of rights: each has every right of the ones before it."""

PLACEHOLDER_SECRETS = frozenset({
    "changethis", "changeme", "change-me", "change_me", "secret", "password", "admin", "test",
    "example", "todo", "xxx", "replace-me", "replaceme", "your-admin-key", "admin-key", "default",
})  # fmt: skip
MIN_SECRET_LENGTH = 20

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def _is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or v.strip("<>{}$ ") in PLACEHOLDER_SECRETS or len(set(v)) <= 2


class Settings(BaseSettings):
    """Every knob of the service. Environment: ``VACUUM_`` + the field name in capitals."""

    model_config = SettingsConfigDict(env_prefix="VACUUM_", extra="ignore", validate_default=True)

    workspace: Path = Field(
        Path("vacuum-workspace"),
        description="folder holding the SQLite metadata, layer files and analysis folders; "
        "with a database URL it still holds rasters and analysis folders",
    )
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:port/db of a PostGIS database for a team "
        "server; unset: embedded SQLite in the workspace",
    )
    database_schema: str = Field("vacuum", description="PostgreSQL schema holding Vacuum's tables")
    database_pool_max: int = Field(
        10, ge=1, le=200, description="most PostgreSQL connections each server or worker process opens"
    )
    job_retries: int = Field(
        1, ge=0, le=10, description="PostGIS: times a job whose server died is queued again for another server"
    )
    admin_key: SecretStr | None = Field(
        None,
        description=f"bootstrap admin API key (at least {MIN_SECRET_LENGTH} characters, not a placeholder); "
        "use it to create the other keys",
    )
    anonymous_role: Literal["viewer", "planner"] | None = Field(
        None, description="role given to requests without a key (unset: a key is required)"
    )
    max_upload_mb: float = Field(200.0, gt=0, description="largest accepted upload (MB)")
    max_unzipped_mb: float = Field(1000.0, gt=0, description="largest total uncompressed size of a zip upload (MB)")
    max_zip_members: int = Field(64, ge=1, description="most files a zip upload may hold")
    max_raster_pixels: int = Field(400_000_000, ge=1, description="largest population raster (width x height)")
    workers: int = Field(2, ge=1, le=64, description="background worker processes running jobs")
    travel_time_jobs: int = Field(1, ge=1, le=64, description="processes each job uses for travel times")
    heartbeat_s: float = Field(10.0, gt=0, description="how often a server records that it is alive")
    stale_after_s: float = Field(
        60.0, gt=0, description="a server on another host silent this long is taken as dead (its jobs interrupted)"
    )
    demo: bool = Field(False, description="load the bundled MINUSCA demo and run its analysis at startup")
    demo_resolution_m: float = Field(1000.0, gt=0, description="grid cell size of the demo analysis (m)")

    @field_validator("anonymous_role", mode="before")
    @classmethod
    def _none_role(cls, v):
        return None if isinstance(v, str) and v.strip().lower() in ("", "none") else v

    @field_validator("admin_key")
    @classmethod
    def _real_admin_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        s = v.get_secret_value()
        if _is_placeholder(s) or len(s) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"VACUUM_ADMIN_KEY is a placeholder or shorter than {MIN_SECRET_LENGTH} characters; "
                "set a real secret, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return v

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        parts = urlsplit(v.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"VACUUM_DATABASE_URL must start with postgresql:// (got scheme {parts.scheme!r}); "
                "unset it to use the embedded SQLite storage"
            )
        if parts.password is not None and _is_placeholder(parts.password):
            raise ValueError("VACUUM_DATABASE_URL carries a placeholder password; set the real one")
        return v

    @field_validator("database_schema")
    @classmethod
    def _schema_name(cls, v: str) -> str:
        if not _SCHEMA_NAME.match(v):
            raise ValueError(f"VACUUM_DATABASE_SCHEMA {v!r}: use lowercase letters, digits and _ (e.g. vacuum)")
        return v

    @model_validator(mode="after")
    def _absolute_workspace(self) -> Settings:
        self.workspace = self.workspace.expanduser().resolve()
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_unzipped_bytes(self) -> int:
        return int(self.max_unzipped_mb * 1024 * 1024)

    @property
    def backend(self) -> Literal["sqlite", "postgis"]:
        return "postgis" if self.database_url is not None else "sqlite"
