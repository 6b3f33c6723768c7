"""Helpers for the service's tests (``tests/test_api*.py``, ``tests/test_storage*.py``).

:func:`postgis_url` gives the URL of a PostGIS database for tests: ``VACUUM_TEST_DATABASE_URL``
when set, else the project-local server that ``scripts/postgis.sh`` installs, initialises and
starts (idempotent). When PostGIS cannot be had, PostGIS tests are skipped — except in CI
(``CI=true``), where they FAIL: a green CI never hides untested PostGIS code.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

__all__ = ["ROOT", "DEMO", "ADMIN_KEY", "postgis_url", "in_ci", "unique_schema"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "minusca"
ADMIN_KEY = "test-admin-key-Qm7xK2pV9rT4wZ8nB3cF6hJ1sD5gL0aY"

_URL: dict[str, str] = {}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def postgis_url() -> str:
    """A PostGIS URL for tests; skips (fails in CI) when none can be had."""
    import pytest

    url = os.environ.get("VACUUM_TEST_DATABASE_URL", "").strip()
    if url:
        return url
    if "url" in _URL:
        return _URL["url"]
    if "error" not in _URL:
        try:
            proc = subprocess.run(["bash", str(ROOT / "scripts" / "postgis.sh")], capture_output=True, text=True,
                                  timeout=900, stdin=subprocess.DEVNULL)
            out = proc.stdout.strip().splitlines()
            if proc.returncode == 0 and out and out[-1].startswith("postgresql://"):
                _URL["url"] = out[-1]
                return _URL["url"]
            _URL["error"] = f"scripts/postgis.sh exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            _URL["error"] = f"scripts/postgis.sh could not run: {exc}"
    msg = f"PostGIS is not available ({_URL['error']}); set VACUUM_TEST_DATABASE_URL or fix scripts/postgis.sh"
    if in_ci():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)
    raise AssertionError("unreachable")  # pragma: no cover


def unique_schema(prefix: str = "t") -> str:
    """A fresh PostgreSQL schema name, so tests never see each other's tables."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
