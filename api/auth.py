"""API keys, roles and the audit trail.

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Keys look like
``vk_<key id>_<secret>``; the store keeps the key id, a random salt and
``sha256(salt + secret)`` — never the key. The bootstrap admin key comes from the settings
(``VACUUM_ADMIN_KEY``) and is not stored.

Roles, each with every right of the ones before it:

* ``viewer``: maps, tiles of the aggregated surfaces, zones, admin tables, summaries;
  never base positions.
* ``planner``: + analyses and scenarios, exports, base positions (bases and national
  forces layers, the coverage and travel-time surfaces that pinpoint them).
* ``admin``: + layer upload, key management, the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from api.settings import ROLES, Role
from api.storage import AuditRecord, KeyRecord, Storage, new_id

__all__ = [
    "Identity",
    "ANONYMOUS",
    "BOOTSTRAP_KEY_ID",
    "SENSITIVE_LAYER_KINDS",
    "SENSITIVE_SURFACES",
    "rank",
    "has_role",
    "new_key",
    "verify",
    "authenticate",
    "current_identity",
    "require",
    "require_surface_access",
    "Caller",
    "audit",
    "tile_owner",
    "tile_cache_headers",
    "tile_url",
]

BOOTSTRAP_KEY_ID = "bootstrap"
ANONYMOUS = "anonymous"

TOKEN_PARAM_NAME = "token"  # api.signing.TOKEN_PARAM

SENSITIVE_LAYER_KINDS = frozenset({"bases", "national"})
"""Layers whose features are force positions: planner and above."""

SENSITIVE_SURFACES = frozenset({"gap", "coverage", "travel_time"})
"""Surfaces that pinpoint bases (coverage plateaus and zero travel time at each base, and the
full-resolution gap, from which coverage follows given threat and exposure): planner and above.
Viewers get ``gap_public`` (:mod:`geo.public`)."""


@dataclass(frozen=True)
class Identity:
    key_id: str
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return has_role(self.role, role)


def rank(role: str) -> int:
    return ROLES.index(role)  # type: ignore[arg-type]


def has_role(have: str, need: str) -> bool:
    return rank(have) >= rank(need)


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def new_key(storage: Storage, name: str, role: Role, created_by: str = "") -> tuple[KeyRecord, str]:
    """Create and store a key; return its record and the key itself (shown once)."""
    key_id = new_id("key").removeprefix("key_")
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    rec = KeyRecord(id=key_id, name=name, role=role, salt=salt, hash=_hash(salt, secret), created_by=created_by)
    storage.add_key(rec)
    return rec, f"vk_{key_id}_{secret}"


def verify(storage: Storage, key: str, bootstrap: str | None) -> Identity:
    """The identity a key stands for; :class:`AuthenticationError` if it is unknown or revoked."""
    if bootstrap is not None and hmac.compare_digest(key.encode(), bootstrap.encode()):
        return Identity(BOOTSTRAP_KEY_ID, "bootstrap admin", "admin")
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "vk" or not parts[1] or not parts[2]:
        raise AuthenticationError("malformed API key: keys look like vk_<id>_<secret>")
    try:
        rec = storage.get_key(parts[1])
    except NotFoundError:
        raise AuthenticationError("unknown API key") from None
    if not hmac.compare_digest(_hash(rec.salt, parts[2]), rec.hash):
        raise AuthenticationError("unknown API key")
    if rec.revoked_at is not None:
        raise AuthenticationError(f"API key {rec.id!r} ({rec.name}) was revoked at {rec.revoked_at}")
    return Identity(rec.id, rec.name, rec.role)  # type: ignore[arg-type]


_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (vk_<id>_<secret>)")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


def tile_owner(request: Request) -> tuple[str, str] | None:
    """``(owner kind, owner id)`` of a tile or TileJSON route (where signed tokens are good), else None."""
    path = request.url.path
    if "/tiles/" not in path and "/tilejson/" not in path:
        return None
    params = request.path_params
    if "analysis_id" in params:
        return "analysis", str(params["analysis_id"])
    if "scenario_id" in params:
        return "scenario", str(params["scenario_id"])
    return None


def _from_token(request: Request, token: str) -> Identity:
    """The identity of a signed tile URL's token (:mod:`api.signing`): its key, as it is now."""
    from api.signing import verify_token

    owner = tile_owner(request)
    if owner is None:
        raise AuthenticationError("a tile token opens tiles and TileJSON only; send an API key")
    services = request.app.state.services
    key_id = verify_token(request.app.state.url_secret, token, *owner)
    try:
        rec = services.storage.get_key(key_id)
    except NotFoundError:
        raise AuthenticationError("tile token of an unknown API key") from None
    if rec.revoked_at is not None:
        raise AuthenticationError(f"tile token of API key {rec.id!r} ({rec.name}), revoked at {rec.revoked_at}")
    return Identity(rec.id, rec.name, rec.role)  # type: ignore[arg-type]


def authenticate(request: Request, key: str | None) -> Identity:
    services = request.app.state.services
    if not key:
        from api.signing import TOKEN_PARAM

        token = request.query_params.get(TOKEN_PARAM)
        if token:
            ident = _from_token(request, token)
            request.state.token = token
            return ident
    if key:
        s = services.settings
        bootstrap = s.admin_key.get_secret_value() if s.admin_key is not None else None
        return verify(services.storage, key.strip(), bootstrap)
    if services.settings.anonymous_role is not None:
        return Identity(ANONYMOUS, "anonymous", services.settings.anonymous_role)
    raise AuthenticationError("no API key: send it as the X-API-Key header or as Authorization: Bearer <key>")


def current_identity(
    request: Request,
    api_key: Annotated[str | None, Security(_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Identity:
    """The caller, from ``X-API-Key`` or ``Authorization: Bearer`` (or the anonymous role)."""
    key = api_key or (bearer.credentials if bearer is not None else None)
    ident = authenticate(request, key)
    request.state.identity = ident
    return ident


def require(role: Role) -> Callable[..., Identity]:
    """A dependency that admits keys of ``role`` or above."""

    def dependency(ident: Annotated[Identity, Depends(current_identity)]) -> Identity:
        if not ident.can(role):
            raise PermissionDeniedError(f"this needs the {role} role; your key {ident.name!r} has {ident.role}")
        return ident

    dependency.__name__ = f"require_{role}"
    return dependency


def require_surface_access(request: Request, ident: Annotated[Identity, Depends(current_identity)]) -> Identity:
    """The tile routes' role check (their router's ``dependencies``). Viewers may see every
    surface of an analysis but those that pinpoint bases; everything of a scenario (its
    tiles, TileJSON) needs the planner role, whatever the id. Legends show no data: viewer."""
    surface = request.path_params.get("surface")
    if surface is not None:
        surface = str(surface).split(".")[0]
    if "scenario_id" in request.path_params and not ident.can("planner"):
        raise PermissionDeniedError(
            f"scenario surfaces show a withdrawal plan; they need the planner role (your key has {ident.role})")
    served = "/tiles/" in request.url.path or "/tilejson/" in request.url.path  # legends show no data
    if served and surface in SENSITIVE_SURFACES and not ident.can("planner"):
        raise PermissionDeniedError(
            f"the {surface} surface shows where bases are; it needs the planner role (your key has {ident.role})")
    return ident


def _needed_role(request: Request, surface: str) -> Role:
    if "scenario_id" in request.path_params:
        return "planner"
    return "planner" if surface in SENSITIVE_SURFACES else "viewer"


def tile_cache_headers(request: Request, surface: str) -> dict[str, str]:
    """Cache headers of a tile or TileJSON: ``public`` only for what a caller without any key
    may see (an anonymous role that has the right); anything role-restricted is ``private``
    and varies on the key headers, so no shared cache hands it to another caller."""
    anon = request.app.state.services.settings.anonymous_role
    if anon is not None and has_role(anon, _needed_role(request, surface)) and TOKEN_PARAM_NAME not in request.query_params:
        return {"Cache-Control": "public, max-age=3600"}
    return {"Cache-Control": "private, max-age=3600", "Vary": "Authorization, X-API-Key"}


def tile_url(request: Request, path: str, owner_kind: str, owner_id: str, signed: bool, ttl_s: int | None) -> str:
    """The URL of a tile template in a TileJSON: the public base (never an untrusted ``Host``,
    :func:`api.security.public_base`) + ``path``, with a signed token when asked (``?signed=1``)
    or when the TileJSON itself was fetched with one."""
    from api.errors import RequestError
    from api.security import public_base
    from api.signing import TOKEN_PARAM, sign

    settings = request.app.state.services.settings
    url = public_base(request, settings) + path
    token = getattr(request.state, "token", None)
    if signed:
        ident: Identity = request.state.identity
        if ident.key_id in (BOOTSTRAP_KEY_ID, ANONYMOUS):
            raise RequestError(f"signed: the {ident.name} cannot sign URLs (a signed URL must die with a revocable "
                               "key); create a key (POST /keys) and ask with it")
        ttl = settings.signed_url_ttl_s if ttl_s is None else ttl_s
        if not 1 <= ttl <= settings.max_signed_url_ttl_s:
            raise RequestError(f"ttl_s: {ttl} is outside 1..{settings.max_signed_url_ttl_s} seconds "
                               "(VACUUM_MAX_SIGNED_URL_TTL_S)")
        token = sign(request.app.state.url_secret, ident.key_id, owner_kind, owner_id, ttl)
    if token:
        url += f"?{TOKEN_PARAM}={token}"
    return url


def audit(storage: Storage, ident: Identity, action: str, target: str, outcome: str = "ok",
          **detail: Any) -> None:
    """Record who did what (analysis submit, scenario, export, layer upload, key changes)."""
    storage.add_audit(AuditRecord(key_id=ident.key_id, key_name=ident.name, role=ident.role, action=action,
                                  target=target, outcome=outcome, detail=detail))


Caller = Annotated[Identity, Depends(current_identity)]
"""The caller, for a handler that uses it (audit, what to hide). It checks no role: the role
check of every route is its ``dependencies=[Depends(require(role))]``, where deleting an
unused parameter cannot remove it; ``docs/service.md`` tables each route's minimum role and
``tests/test_api.py`` calls every route with the roles below it."""
