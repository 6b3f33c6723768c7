"""Signed, expiring tile URLs for clients that cannot send headers (QGIS XYZ layers, plain Leaflet).

A token is ``<key id>.<expiry, unix s>.<signature>``; the signature is
``HMAC-SHA256(secret, "v1|<key id>|<owner kind>|<owner id>|<expiry>")`` in base64url, with
the server secret ``VACUUM_URL_SIGNING_SECRET`` (or a random one per server start). A token
is bound to one key, one analysis or scenario and an expiry; it is checked against the key
on every request, so revoking the key revokes its URLs, and the caller gets the key's role
of now. It opens the tile and TileJSON routes of that owner only, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from api.errors import AuthenticationError

__all__ = ["sign", "verify_token", "TOKEN_PARAM"]

TOKEN_PARAM = "token"


def _mac(secret: bytes, key_id: str, owner_kind: str, owner_id: str, exp: int) -> str:
    msg = f"v1|{key_id}|{owner_kind}|{owner_id}|{exp}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret, msg, hashlib.sha256).digest()).decode().rstrip("=")


def sign(secret: bytes, key_id: str, owner_kind: str, owner_id: str, ttl_s: int, now: float | None = None) -> str:
    exp = int(now if now is not None else time.time()) + int(ttl_s)
    return f"{key_id}.{exp}.{_mac(secret, key_id, owner_kind, owner_id, exp)}"


def verify_token(secret: bytes, token: str, owner_kind: str, owner_id: str, now: float | None = None) -> str:
    """The key id a token was signed for; :class:`AuthenticationError` if it is forged, for
    another owner, or expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        raise AuthenticationError("malformed tile token: get a signed URL from the TileJSON (?signed=1)")
    key_id, exp_s, mac = parts
    exp = int(exp_s)
    if not hmac.compare_digest(mac.encode(), _mac(secret, key_id, owner_kind, owner_id, exp).encode()):
        raise AuthenticationError(f"tile token is not valid for {owner_kind} {owner_id!r} (forged, or signed for "
                                  "another one); get a signed URL from its TileJSON (?signed=1)")
    if exp < (now if now is not None else time.time()):
        raise AuthenticationError("tile token expired; get a new signed URL from the TileJSON (?signed=1)")
    return key_id
