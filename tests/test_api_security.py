"""Attacks on the service, each a test (issue 12, sections 2 and 3): shared caches and role-
restricted tiles, CORS, signed tile URLs, a forged Host header, security headers and an
offline /docs, oversized bodies, slow clients, resource limits, job quota and cancel, weak
admin keys, revoking the last admin key. One app per module: small layers, one 10 km analysis."""

import base64
import hashlib
import json
import re
import secrets
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings
from api.testing import ADMIN_KEY, DEMO

ROOT = Path(__file__).resolve().parents[1]
CAR = [14.4, 2.2, 27.5, 11.0]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings(workspace=tmp_path_factory.mktemp("ws"), admin_key=ADMIN_KEY, workers=1,
                    cors_origins=["https://ops.example"], max_body_mb=1, max_active_jobs_per_key=1,
                    max_plan_phases=20, max_plan_steps=50, _env_file=None)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client):
    admin = {"X-API-Key": ADMIN_KEY}
    out = {"admin": admin}
    for name, role in (("viewer", "viewer"), ("planner", "planner"), ("planner2", "planner")):
        r = client.post("/keys", json={"name": f"sec {name}", "role": role}, headers=admin)
        assert r.status_code == 201, r.text
        out[name] = {"X-API-Key": r.json()["key"]}
        out[name + "_id"] = r.json()["id"]
    return out


@pytest.fixture(scope="module")
def layers(client, keys):
    ids = {}
    for kind, name, fields in (("bases", "bases_geopko_v2.1.csv", {"as_of": "2020-10-31"}),
                               ("events", "events_ged_v23.1.csv", {}),
                               ("roads", "roads_trans_african_highway.geojson", {}),
                               ("admin", "admin1_naturalearth.geojson", {}),
                               ("population", "population_worldpop2020_density.tif", {"population_units": "density"})):
        r = client.post("/layers", headers=keys["admin"], data={"kind": kind, **fields},
                        files={"file": (name, (DEMO / name).read_bytes())})
        assert r.status_code == 201, r.text
        ids[kind] = r.json()["id"]
    return ids


def wait(client, headers, path, until=("done", "failed", "interrupted"), timeout=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = client.get(path, headers=headers).json()
        if st["status"] in until:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{path} stayed {st['status']}")


@pytest.fixture(scope="module")
def analysis(client, keys, layers):
    body = {"layers": {"bases": layers["bases"], "admin": layers["admin"], "events": layers["events"],
                       "population": layers["population"]},
            "as_of": "2020-10-31",
            "params": {"resolution_m": 10000}}
    r = client.post("/analyses", json=body, headers=keys["admin"])
    assert r.status_code == 202, r.text
    st = wait(client, keys["admin"], f"/analyses/{r.json()['id']}")
    assert st["status"] == "done", st
    return st["id"]


def tile_of(tj, z=6):
    import morecantile

    w, s, e, n = tj["bounds"]
    t = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, z)
    return t.z, t.x, t.y


# ============================================================================ caching


def test_role_restricted_tiles_and_tilejson_are_private_and_vary_on_the_key(client, keys, analysis):
    tj = client.get(f"/analyses/{analysis}/tilejson/coverage.json", headers=keys["planner"])
    z, x, y = tile_of(tj.json())
    tile = client.get(f"/analyses/{analysis}/tiles/coverage/{z}/{x}/{y}.png", headers=keys["planner"])
    again = client.get(f"/analyses/{analysis}/tiles/coverage/{z}/{x}/{y}.png",
                       headers={**keys["planner"], "If-None-Match": tile.headers["etag"]})
    gap = client.get(f"/analyses/{analysis}/tiles/gap_public/{z}/{x}/{y}.png", headers=keys["viewer"])
    assert (tj.status_code, tile.status_code, again.status_code, gap.status_code) == (200, 200, 304, 200)
    for r in (tj, tile, again, gap):  # keys are required here: every tile is role-restricted
        cc = {d.strip() for d in r.headers["cache-control"].split(",")}
        assert cc == {"private", "max-age=3600"}, r.headers["cache-control"]
        vary = {v.strip().lower() for v in r.headers.get("vary", "").split(",")}
        assert {"authorization", "x-api-key"} <= vary, r.headers.get("vary")


# ============================================================================ CORS


def test_cors_answers_preflight_for_allowed_origins_only(client):
    pre = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}
    ok = client.options("/me", headers={"Origin": "https://ops.example", **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ops.example"
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    evil = client.options("/me", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in evil.headers
    r = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


# ============================================================================ signed tile URLs


def test_signed_tile_urls_work_without_headers_and_only_for_what_they_were_signed(client, keys, analysis):
    tj = client.get(f"/analyses/{analysis}/tilejson/coverage.json", params={"signed": "1"}, headers=keys["planner"])
    assert tj.status_code == 200, tj.text
    url = tj.json()["tiles"][0]
    assert "token=" in url and keys["planner"]["X-API-Key"] not in url  # the key itself never leaks
    z, x, y = tile_of(tj.json())
    path = url.split("://", 1)[-1].split("/", 1)[1] if "://" in url else url.lstrip("/")
    signed = "/" + path.format(z=z, x=x, y=y)
    r = client.get(signed)  # no header at all: QGIS, plain Leaflet
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG", r.text
    assert "public" not in r.headers["cache-control"]
    token = re.search(r"token=([^&]+)", signed).group(1)
    # bound to the analysis: the same token on another analysis id is refused
    other = client.get(signed.replace(analysis, "an_000000000000"))
    assert other.status_code == 401 and "token" in other.json()["detail"]
    # tampered: one character of the signature changed
    bad = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert client.get(signed.replace(token, bad)).status_code == 401
    # a token is no key: the rest of the API refuses it
    assert client.get("/me", params={"token": token}).status_code == 401
    assert client.get(f"/analyses/{analysis}", params={"token": token}).status_code == 401


def test_a_viewers_signed_url_never_reaches_surfaces_that_pinpoint_bases(client, keys, analysis):
    assert client.get(f"/analyses/{analysis}/tilejson/coverage.json", params={"signed": "1"},
                      headers=keys["viewer"]).status_code == 403
    tj = client.get(f"/analyses/{analysis}/tilejson/gap_public.json", params={"signed": "1"}, headers=keys["viewer"]).json()
    z, x, y = tile_of(tj)
    token = re.search(r"token=([^&]+)", tj["tiles"][0]).group(1)
    assert client.get(f"/analyses/{analysis}/tiles/gap_public/{z}/{x}/{y}.png", params={"token": token}).status_code == 200
    r = client.get(f"/analyses/{analysis}/tiles/coverage/{z}/{x}/{y}.png", params={"token": token})
    assert r.status_code == 403 and "planner" in r.json()["detail"]


def test_signed_urls_expire_and_die_with_their_key(client, keys, analysis):
    r = client.post("/keys", json={"name": "qgis laptop", "role": "planner"}, headers=keys["admin"])
    key = {"X-API-Key": r.json()["key"]}
    tj = client.get(f"/analyses/{analysis}/tilejson/gap_public.json", params={"signed": "1", "ttl_s": "1"},
                    headers=key).json()
    long = client.get(f"/analyses/{analysis}/tilejson/gap_public.json", params={"signed": "1"}, headers=key).json()
    z, x, y = tile_of(tj)
    short_token = re.search(r"token=([^&]+)", tj["tiles"][0]).group(1)
    long_token = re.search(r"token=([^&]+)", long["tiles"][0]).group(1)
    tile = f"/analyses/{analysis}/tiles/gap_public/{z}/{x}/{y}.png"
    assert client.get(tile, params={"token": long_token}).status_code == 200
    time.sleep(2.1)
    r = client.get(tile, params={"token": short_token})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert client.delete(f"/keys/{r_id(r, client, keys, 'qgis laptop')}", headers=keys["admin"]).status_code == 200
    r = client.get(tile, params={"token": long_token})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert client.get(f"/analyses/{analysis}/tilejson/gap_public.json", params={"signed": "1", "ttl_s": "99999999"},
                      headers=keys["viewer"]).status_code == 422


def r_id(_r, client, keys, name):
    return next(k["id"] for k in client.get("/keys", headers=keys["admin"]).json() if k["name"] == name)


# ============================================================================ Host header


def test_a_forged_host_header_never_reaches_tilejson_urls(client, keys, analysis):
    evil = client.get(f"/analyses/{analysis}/tilejson/gap_public.json", headers={**keys["viewer"], "Host": "evil.example:666"})
    assert evil.status_code == 200
    assert "evil.example" not in json.dumps(evil.json())
    assert evil.json()["tiles"][0].startswith(f"/analyses/{analysis}/tiles/gap_public/")
    local = client.get(f"/analyses/{analysis}/tilejson/gap_public.json", headers={**keys["viewer"], "Host": "127.0.0.1:8000"})
    assert local.json()["tiles"][0].startswith(f"http://127.0.0.1:8000/analyses/{analysis}/tiles/gap_public/")


# ============================================================================ security headers, /docs offline


def _csp(r) -> dict[str, list[str]]:
    out = {}
    for part in r.headers["content-security-policy"].split(";"):
        if part.strip():
            name, *values = part.split()
            out[name] = values
    return out


def _inline_script_hashes(page: str) -> set[str]:
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.S)
    return {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts}


def test_security_headers_on_every_response(client, keys):
    for r in (client.get("/health"), client.get("/me"), client.get("/me", headers=keys["viewer"])):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert _csp(r)["frame-ancestors"] == ["'none'"] and _csp(r)["default-src"] == ["'none'"]


def test_the_map_page_csp_allows_its_own_scripts_and_nothing_inline_else(client, keys, analysis):
    r = client.get("/", params={"analysis": analysis}, headers=keys["viewer"])
    assert r.status_code == 200
    csp = _csp(r)
    hashes = _inline_script_hashes(r.text)
    assert hashes and hashes <= set(csp["script-src"])
    assert "'unsafe-inline'" not in csp["script-src"]  # 'unsafe-eval': leaflet-measure's templates need it
    srcs = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", r.text) + re.findall(r"<link[^>]*href=\"([^\"]+)\"", r.text)
    # every asset is same-origin ('self'); the one other is the empty favicon, "data:,"
    assert {src for src in srcs if not src.startswith("/")} == {"data:,"}, srcs
    assert csp["frame-ancestors"] == ["'none'"]
    # the basemaps it draws are allowed as images
    for host in re.findall(r"https://([a-z.]+)/[^\"']*\{z\}", r.text):
        assert any(host in v for v in csp["img-src"]), host


def test_api_docs_load_nothing_from_a_cdn(client):
    assert client.get("/redoc").status_code == 404  # its bundle fetches a logo from a CDN
    r = client.get("/docs")
    assert r.status_code == 200
    refs = re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", r.text)
    assert refs and all(u.startswith("/") for u in refs), refs
    for u in refs:
        if not u.startswith("/openapi"):
            asset = client.get(u)
            assert asset.status_code == 200 and len(asset.content) > 100, u
    assert "cdn" not in r.text.lower()
    assert _inline_script_hashes(r.text) <= set(_csp(r)["script-src"])
    assert "'unsafe-inline'" not in _csp(r)["script-src"] and "'unsafe-eval'" not in _csp(r)["script-src"]


# ============================================================================ bodies, slow clients


def test_json_bodies_over_the_limit_get_413_naming_it(client, keys, layers):
    big = json.dumps({"layers": {"bases": layers["bases"]}, "bbox": CAR, "name": "x" * (2 * 1024 * 1024)})
    n = len(client.get("/analyses", headers=keys["admin"]).json())
    r = client.post("/analyses", content=big, headers={**keys["planner"], "Content-Type": "application/json"})
    assert r.status_code == 413 and "VACUUM_MAX_BODY_MB" in r.json()["detail"] and "1 MB" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while streaming
        for i in range(0, len(big), 64 * 1024):
            yield big[i:i + 64 * 1024].encode()

    r = client.post("/analyses", content=chunks(), headers={**keys["planner"], "Content-Type": "application/json"})
    assert r.status_code == 413 and "VACUUM_MAX_BODY_MB" in r.json()["detail"]
    assert len(client.get("/analyses", headers=keys["admin"]).json()) == n


def test_serve_sets_uvicorn_timeouts_and_limits_from_the_settings(tmp_path, monkeypatch):
    import uvicorn

    from cli.main import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("VACUUM_TIMEOUT_KEEP_ALIVE_S", "3")
    monkeypatch.setenv("VACUUM_MAX_HEADER_KB", "12")
    monkeypatch.setenv("VACUUM_LIMIT_CONCURRENCY", "77")
    assert main(["serve", "--workspace", str(tmp_path)]) == 0
    assert seen["host"] == "127.0.0.1"
    assert (seen["timeout_keep_alive"], seen["h11_max_incomplete_event_size"], seen["limit_concurrency"]) == (
        3, 12 * 1024, 77)


# ============================================================================ limits checked at submission


def plan(phases):
    return {"name": "big", "phases": phases}


def test_plans_over_the_limits_get_422_before_any_job(client, keys, analysis):
    n = len(client.get("/scenarios", headers=keys["admin"]).json())
    many = [{"name": f"p{i}", "date": "2021-01-01", "actions": []} for i in range(21)]
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan(many)}, headers=keys["planner"])
    assert r.status_code == 422 and "plan.phases" in r.json()["detail"] and "20" in r.json()["detail"], r.text
    steps = [{"name": "p", "date": "2021-01-01", "actions": [{"close": [f"MINUSCA:b{i}" for i in range(51)]}]}]
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan(steps)}, headers=keys["planner"])
    assert r.status_code == 422 and "steps" in r.json()["detail"] and "50" in r.json()["detail"], r.text
    huge = [{"name": "", "date": "2021-01-01", "actions": []}] * 200_000  # the reported attack: refused, never 202
    r = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan(huge)}, headers=keys["planner"])
    assert r.status_code == 413, r.text
    assert len(client.get("/scenarios", headers=keys["admin"]).json()) == n


@pytest.mark.parametrize("change, field", [
    ({"as_of": "2999-01-01"}, "as_of"),
    ({"as_of": "1600-01-01"}, "as_of"),
    ({"as_of": "0001-01-01"}, "as_of"),
    ({"params": {"resolution_m": 1}}, "params.resolution_m"),
    ({"bbox": [-180, -90, 180, 90]}, "bbox"),
])
def test_analyses_that_would_fail_later_get_422_naming_the_field(client, keys, layers, change, field):
    body = {"layers": {"bases": layers["bases"]}, "bbox": CAR, "as_of": "2020-10-31", **change}
    n = len(client.get("/analyses", headers=keys["admin"]).json())
    r = client.post("/analyses", json=body, headers=keys["planner"])
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(field + ":"), r.json()
    assert len(client.get("/analyses", headers=keys["admin"]).json()) == n


def test_the_cell_limit_counts_the_admin_extent_too(client, keys, layers):
    body = {"layers": {"bases": layers["bases"], "admin": layers["admin"]}, "params": {"resolution_m": 100}}
    r = client.post("/analyses", json=body, headers=keys["planner"])
    assert r.status_code == 422 and r.json()["detail"].startswith("params.resolution_m:"), r.text
    assert "cells" in r.json()["detail"] and "VACUUM_MAX_ANALYSIS_CELLS" in r.json()["detail"]


# ============================================================================ quota and cancel


def _partial_files(settings, job_id):
    ws = settings.workspace
    return [p for p in (ws / "tmp").glob(f"{job_id}-*")] + [p for p in ws.glob(f"*/{job_id}") if p.exists()]


def test_quota_of_running_jobs_and_cancel(client, keys, layers, analysis, settings):
    slow = {"layers": {k: layers[k] for k in ("bases", "events", "roads", "admin", "population")},
            "as_of": "2020-10-31", "params": {"resolution_m": 1000}}
    r = client.post("/analyses", json=slow, headers=keys["planner"])
    assert r.status_code == 202, r.text
    aid = r.json()["id"]
    over = client.post("/analyses", json=slow, headers=keys["planner"])
    assert over.status_code == 429 and "1 job" in over.json()["detail"] and "VACUUM_MAX_ACTIVE_JOBS_PER_KEY" in \
        over.json()["detail"]
    # queued behind it (one worker): a scenario of another key, cancelled before it starts
    sc = client.post("/scenarios", json={"analysis_id": analysis, "plan": plan(
        [{"name": "p", "date": "2021-01-01", "actions": [{"close": ["MINUSCA:birao"]}]}])}, headers=keys["admin"])
    assert sc.status_code == 202, sc.text
    sid = sc.json()["id"]
    assert client.post(f"/scenarios/{sid}/cancel", headers=keys["planner"]).status_code == 403  # not the owner
    r = client.delete(f"/scenarios/{sid}", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["status"] == "interrupted" and "cancelled" in r.json()["error"], r.text
    # the running one: only its owner or an admin
    wait(client, keys["planner"], f"/analyses/{aid}", until=("running",))
    assert client.post(f"/analyses/{aid}/cancel", headers=keys["planner2"]).status_code == 403
    assert client.post(f"/analyses/{aid}/cancel", headers=keys["viewer"]).status_code == 403
    r = client.post(f"/analyses/{aid}/cancel", headers=keys["planner"])
    assert r.status_code == 200 and r.json()["status"] == "interrupted", r.text
    assert "cancelled by sec planner" in r.json()["error"]
    t0 = time.monotonic()
    while _partial_files(settings, aid) and time.monotonic() - t0 < 60:
        time.sleep(0.1)
    assert _partial_files(settings, aid) == []
    st = client.get(f"/analyses/{aid}", headers=keys["planner"]).json()
    assert st["status"] == "interrupted"
    again = client.post(f"/analyses/{aid}/cancel", headers=keys["planner"])
    assert again.status_code == 409 and "interrupted" in again.json()["detail"]
    assert client.post(f"/analyses/{analysis}/cancel", headers=keys["admin"]).status_code == 409  # done
    assert client.delete("/analyses/an_nope", headers=keys["admin"]).status_code == 404
    # the quota is free again
    r = client.post("/analyses", json={**slow, "params": {"resolution_m": 20000}}, headers=keys["planner"])
    assert r.status_code == 202, r.text
    wait(client, keys["planner"], f"/analyses/{r.json()['id']}")


# ============================================================================ admin keys


@pytest.mark.parametrize("weak", ["12345678901234567890", "password1234567890abcd", "changethischangethis1234",
                                  "admin-key-admin-key-admin-key", "changethischangethischangethis12",
                                  "abcdefghijklmnopqrstuvwxyz0123456789", "a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2a1b2",
                                  "0123456789abcdef0123456789abcdef"])
def test_weak_admin_keys_stop_the_server_with_how_to_make_one(tmp_path, weak, monkeypatch, capsys):
    with pytest.raises(ValidationError, match="VACUUM_ADMIN_KEY is a placeholder or too weak"):
        Settings(workspace=tmp_path, admin_key=weak, _env_file=None)
    from cli.main import main

    monkeypatch.setenv("VACUUM_ADMIN_KEY", weak)
    assert main(["serve", "--workspace", str(tmp_path)]) == 2
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in capsys.readouterr().err


def test_real_admin_keys_pass(tmp_path):
    for _ in range(50):
        for key in (secrets.token_urlsafe(32), secrets.token_hex(16), secrets.token_hex(32)):
            assert Settings(workspace=tmp_path, admin_key=key, _env_file=None).admin_key is not None


# ============================================================================ a second server on the workspace


def test_anonymous_public_tiles_base_url_default_cors_and_the_last_admin_key(settings, client, keys, analysis):
    """Restarted without a bootstrap key, anonymous viewers allowed, a public base URL."""
    s2 = settings.model_copy(update={"admin_key": None, "anonymous_role": "viewer", "cors_origins": [],
                                     "public_base_url": "https://maps.example/vacuum"})
    with TestClient(create_app(s2)) as c:
        tj = c.get(f"/analyses/{analysis}/tilejson/gap_public.json", headers={"Host": "evil.example"})
        assert tj.json()["tiles"][0].startswith(f"https://maps.example/vacuum/analyses/{analysis}/tiles/gap_public/")
        z, x, y = tile_of(tj.json())
        anon = c.get(f"/analyses/{analysis}/tiles/gap_public/{z}/{x}/{y}.png")  # anyone may see it: a proxy may cache it
        assert anon.status_code == 200 and "public" in anon.headers["cache-control"]
        cov = c.get(f"/analyses/{analysis}/tiles/coverage/{z}/{x}/{y}.png", headers=keys["planner"])
        assert cov.status_code == 200 and "private" in cov.headers["cache-control"]
        assert "authorization" in cov.headers["vary"].lower()
        pre = c.options("/me", headers={"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in pre.headers  # default: no origin allowed

        # the last admin key cannot be revoked (no bootstrap key here)
        a = client.post("/keys", json={"name": "admin one", "role": "admin"}, headers=keys["admin"]).json()
        others = [k for k in c.get("/keys", headers={"X-API-Key": a["key"]}).json()
                  if k["role"] == "admin" and k["revoked_at"] is None and k["id"] != a["id"]]
        for k in others:
            assert c.delete(f"/keys/{k['id']}", headers={"X-API-Key": a["key"]}).status_code == 200
        r = c.delete(f"/keys/{a['id']}", headers={"X-API-Key": a["key"]})
        assert r.status_code == 409 and "last active admin key" in r.json()["detail"], r.text
        b = c.post("/keys", json={"name": "admin two", "role": "admin"}, headers={"X-API-Key": a["key"]}).json()
        assert c.delete(f"/keys/{a['id']}", headers={"X-API-Key": a["key"]}).status_code == 200
        assert c.delete(f"/keys/{b['id']}", headers={"X-API-Key": b["key"]}).status_code == 409
        assert c.get("/me", headers={"X-API-Key": b["key"]}).json()["role"] == "admin"
