"""``/keys`` and ``/audit``: API key management and the audit log (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Caller, audit, new_key, require
from api.deps import Page, ServicesDep
from api.errors import ConflictError, error_responses
from api.settings import Role
from api.storage import KeyRecord

__all__ = ["router"]

router = APIRouter(tags=["access"])


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "ops room", "role": "viewer"}]})

    name: str = Field(min_length=1, max_length=100, description="who or what holds the key")
    role: Role

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("a key name must have a character that is not a space, e.g. 'ops room'")
        return v


class KeyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0123456789ab", "name": "ops room", "role": "viewer", "created_at": "2026-11-24T10:00:00.000+00:00",
        "created_by": "bootstrap", "revoked_at": None}]})

    id: str
    name: str
    role: str
    created_at: str
    created_by: str
    revoked_at: str | None


class NewKeyOut(KeyOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0123456789ab", "name": "ops room", "role": "viewer", "created_at": "2026-11-24T10:00:00.000+00:00",
        "created_by": "bootstrap", "revoked_at": None, "key": "vk_0123456789ab_Zm9vYmFy..."}]})

    key: str = Field(description="the key itself; shown once, store it now")


class AuditOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "at": "2026-11-24T10:00:00.000+00:00", "key_id": "0123456789ab", "key_name": "planning cell",
        "role": "planner", "action": "analysis.submit", "target": "an_0123456789ab", "outcome": "ok",
        "detail": {"layers": {"bases": "ly_3f9a0c1b2d4e"}}}]})

    id: int
    at: str
    key_id: str
    key_name: str
    role: str
    action: str = Field(description="layer.upload, layer.fetch, analysis.submit, scenario.submit, export, "
                                    "key.create, key.revoke")
    target: str
    outcome: str = Field(description="ok, or rejected: <error>")
    detail: dict[str, Any]


def _out(k: KeyRecord) -> KeyOut:
    return KeyOut(id=k.id, name=k.name, role=k.role, created_at=k.created_at, created_by=k.created_by,
                  revoked_at=k.revoked_at)


@router.post("/keys", dependencies=[Depends(require("admin"))],
             status_code=201, response_model=NewKeyOut, responses=error_responses(401, 403, 422),
             summary="Create an API key (admin)")
def create_key(body: KeyIn, s: ServicesDep, who: Caller) -> JSONResponse:
    """The response holds the key itself, once; only its salted hash is stored."""
    rec, key = new_key(s.storage, body.name.strip(), body.role, created_by=who.key_id)
    audit(s.storage, who, "key.create", rec.id, name=rec.name, role=rec.role)
    return JSONResponse(NewKeyOut(**_out(rec).model_dump(), key=key).model_dump(), status_code=201)


@router.get("/keys", dependencies=[Depends(require("admin"))],
            response_model=list[KeyOut], responses=error_responses(401, 403), summary="List API keys (admin)")
def list_keys(s: ServicesDep) -> list[KeyOut]:
    return [_out(k) for k in s.storage.list_keys()]


@router.delete("/keys/{key_id}", dependencies=[Depends(require("admin"))],
               response_model=KeyOut, responses=error_responses(401, 403, 404, 409),
               summary="Revoke an API key (admin)")
def revoke_key(key_id: Annotated[str, PathParam(examples=["0123456789ab"])], s: ServicesDep, who: Caller) -> KeyOut:
    """Revoke a key (its signed tile URLs too). The last active admin key cannot be revoked
    while no bootstrap key (``VACUUM_ADMIN_KEY``) is set: nobody could manage keys after it."""
    rec = before = s.storage.get_key(key_id)
    if rec.role == "admin" and rec.revoked_at is None and s.settings.admin_key is None:
        admins = [k for k in s.storage.list_keys() if k.role == "admin" and k.revoked_at is None]
        if len(admins) <= 1:
            raise ConflictError(f"key {key_id!r} ({rec.name}) is the last active admin key and no VACUUM_ADMIN_KEY "
                                "is set: revoking it would leave nobody able to manage keys; create another admin "
                                "key first")
    if before.revoked_at is not None:
        audit(s.storage, who, "key.revoke", key_id, outcome="rejected: ConflictError", name=before.name)
        raise ConflictError(f"API key {key_id!r} ({before.name}) is already revoked (at {before.revoked_at}); "
                            "GET /keys lists the keys and their state")
    rec = s.storage.revoke_key(key_id)
    audit(s.storage, who, "key.revoke", key_id, name=rec.name)
    return _out(rec)


@router.get("/audit", dependencies=[Depends(require("admin"))],
            response_model=list[AuditOut], responses=error_responses(401, 403, 422),
            summary="Read the audit log (admin), newest first")
def read_audit(s: ServicesDep, page: Annotated[Page, Depends()],
               action: Annotated[str | None, Query(examples=["export"])] = None,
               key_id: Annotated[str | None, Query(description="only this key's entries")] = None,
               since: Annotated[str | None, Query(description="ISO 8601 time, e.g. 2026-11-24T00:00:00+00:00 "
                                                              "(any offset; without one, UTC)")]
               = None) -> list[AuditOut]:
    rows = s.storage.list_audit(action=action, key_id=key_id, since=_since_utc(since), limit=page.limit)
    return [AuditOut(id=r.id or 0, at=r.at, key_id=r.key_id, key_name=r.key_name, role=r.role, action=r.action,
                     target=r.target, outcome=r.outcome, detail=r.detail) for r in rows]


def _since_utc(since: str | None) -> str | None:
    """``since`` as the store writes times (UTC, milliseconds), so that comparing the text
    compares the instants: ``12:00+05:00`` is ``07:00`` UTC; a time without offset is UTC."""
    if since is None:
        return None
    from datetime import UTC, datetime

    from api.errors import RequestError

    try:
        t = datetime.fromisoformat(since.strip())
    except ValueError:
        raise RequestError(f"since: {since!r} is not an ISO 8601 time; use e.g. 2026-11-24T00:00:00+00:00") from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.isoformat(timespec="milliseconds")
