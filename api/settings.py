"""Service settings: one pydantic-settings class, read from ``VACUUM_*`` environment variables.

Nothing is read at import time: :func:`api.app.create_app` takes a :class:`Settings`
built by the caller (``Settings()`` reads the environment; keyword arguments override it).
A placeholder secret (``changethis``, ``secret``, a short key...) fails at construction,
before the server starts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "Role", "ROLES", "PLACEHOLDER_SECRETS", "MIN_SECRET_LENGTH", "MAKE_SECRET", "weak_secret"]

Role = Literal["viewer", "planner", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "planner", "admin")
"""Roles in increasing order of rights: each has every right of the ones before it."""

PLACEHOLDER_SECRETS = frozenset({
    "changethis", "changeme", "change-me", "change_me", "secret", "password", "admin", "test",
    "example", "todo", "xxx", "replace-me", "replaceme", "your-admin-key", "admin-key", "default",
})  # fmt: skip
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 80
"""A secret must carry at least this many bits by the character-frequency estimate
(``secrets.token_hex(16)``: about 115; ``secrets.token_urlsafe(32)``: about 200)."""
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def _is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or v.strip("<>{}$ ") in PLACEHOLDER_SECRETS or len(set(v)) <= 2


def weak_secret(value: str) -> str | None:
    """Why ``value`` is too weak to be a secret, or None. Refused: placeholders, fewer than
    :data:`MIN_SECRET_LENGTH` characters, few distinct characters, runs (``abcd``, ``1234``),
    repeats (text that compresses), a character-frequency entropy under :data:`MIN_SECRET_BITS`."""
    v = value.strip()
    if _is_placeholder(v):
        return "a placeholder"
    if len(v) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(v)) < 8:
        return f"made of {len(set(v))} distinct characters"
    steps = sum(1 for a, b in zip(v, v[1:], strict=False) if abs(ord(b) - ord(a)) <= 1)
    if steps > len(v) // 2:
        return "made of runs (abc, 123) or repeated characters"
    trigrams = {v[i:i + 3] for i in range(len(v) - 2)}
    if len(trigrams) < 0.75 * (len(v) - 2):
        return "repetitive (the same pieces again and again)"
    counts = Counter(v)
    bits = -sum(c * math.log2(c / len(v)) for c in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"of low entropy (about {bits:.0f} bits, at least {MIN_SECRET_BITS} needed)"
    return None


def _origins(v):
    if isinstance(v, str):
        v = v.strip()
        if v.startswith("["):
            import json

            return json.loads(v)
        return [x.strip() for x in v.split(",") if x.strip()]
    return v


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
    # --- browsers, caches, URLs
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed to call the API from a browser (CORS), e.g. "
        "https://ops.example; comma-separated or a JSON list; default none")
    public_base_url: str | None = Field(
        None, description="the service's public URL (e.g. https://maps.example/vacuum), used in TileJSON tile URLs "
        "instead of the Host header")
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Host header values (without port) trusted to build absolute URLs when public_base_url is "
        "unset; another Host gets relative tile URLs")
    url_signing_secret: SecretStr | None = Field(
        None, description="HMAC secret of signed tile URLs (unset: a random one per server start, so signed URLs "
        "die with a restart and differ between servers)")
    signed_url_ttl_s: int = Field(86_400, ge=1, le=30 * 86_400, description="default lifetime of a signed tile URL")
    max_signed_url_ttl_s: int = Field(30 * 86_400, ge=1, description="longest lifetime a caller may ask for")
    max_body_mb: float = Field(1.0, gt=0, description="largest request body other than a layer upload (MB)")
    # --- uvicorn (vacuum serve)
    timeout_keep_alive_s: int = Field(5, ge=1, le=600, description="close idle keep-alive connections after this")
    max_header_kb: int = Field(16, ge=1, le=1024, description="largest request line + headers (KB; "
                                                              "uvicorn's h11_max_incomplete_event_size)")
    limit_concurrency: int = Field(256, ge=1, description="most connections at once; more get 503")
    # --- jobs
    max_active_jobs_per_key: int = Field(4, ge=1, description="queued or running jobs one key may have")
    max_analysis_cells: int = Field(25_000_000, ge=1, description="largest analysis grid (cells, margin included)")
    max_plan_phases: int = Field(100, ge=1, description="most phases of a withdrawal plan")
    max_plan_steps: int = Field(1000, ge=1, description="most steps (base closures, reductions, handovers) of a plan")

    @field_validator("anonymous_role", mode="before")
    @classmethod
    def _none_role(cls, v):
        return None if isinstance(v, str) and v.strip().lower() in ("", "none") else v

    @field_validator("cors_origins", "trusted_hosts", mode="before")
    @classmethod
    def _lists(cls, v):
        return _origins(v)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"VACUUM_PUBLIC_BASE_URL {v!r}: give http(s)://host[:port][/path], e.g. "
                             "https://maps.example/vacuum")
        return v.strip().rstrip("/")

    @field_validator("admin_key", "url_signing_secret")
    @classmethod
    def _real_secret(cls, v: SecretStr | None, info) -> SecretStr | None:
        if v is None:
            return None
        why = weak_secret(v.get_secret_value())
        if why is not None:
            name = f"VACUUM_{info.field_name.upper()}"
            raise ValueError(f"{name} is a placeholder or too weak ({why}); set a random one of at least "
                             f"{MIN_SECRET_LENGTH} characters: {MAKE_SECRET}")
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
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def backend(self) -> Literal["sqlite", "postgis"]:
        return "postgis" if self.database_url is not None else "sqlite"
