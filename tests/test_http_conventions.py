"""HTTP conventions (``api/http.py``): gzip for JSON and GeoJSON but never for PNG tiles or COG
byte ranges, ETags and 304s on GeoJSON, HEAD on tiles and exports, TileJSON attribution and
cache headers. Against the served demo analysis (``served_demo``); every expectation is stated
here: a decompressed body equals the identity one, a tag is the SHA-256 of the body, a HEAD
has the GET's headers and no body."""

from __future__ import annotations

import gzip
import hashlib

import pytest

IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}
pytestmark = pytest.mark.slow  # one small analysis (tests/served_analysis.py) for the whole module

SAME_ON_HEAD = ("content-type", "content-length", "etag", "cache-control", "vary", "accept-ranges", "last-modified",
                "content-disposition", "content-encoding")


def _raw(c, method, url, headers):
    """Status, headers and the body bytes as sent (not decoded)."""
    with c.stream(method, url, headers=headers) as r:
        return r.status_code, r.headers, b"".join(r.iter_raw())


@pytest.fixture(scope="module")
def s(served_demo):
    return served_demo


def test_geojson_and_json_are_gzipped_and_decompress_to_the_identity_body(s):
    c, v, aid = s.client, s.keys["viewer"], s.analysis_id
    for url in (f"/analyses/{aid}/admin?format=geojson", f"/analyses/{aid}/admin",
                f"/ogc/collections/{aid}-events/items?limit=50", "/ogc/collections"):
        st, h, plain = _raw(c, "GET", url, {**v, **IDENTITY})
        assert st == 200 and "content-encoding" not in h and len(plain) > 1024, url
        st, hz, packed = _raw(c, "GET", url, {**v, **GZIP})
        assert st == 200 and hz["content-encoding"] == "gzip" and "Accept-Encoding" in hz["vary"], url
        assert gzip.decompress(packed) == plain and len(packed) < len(plain) / 2, url
        assert hz["content-type"] == h["content-type"]


def test_small_bodies_go_as_they_are(s):
    st, h, body = _raw(s.client, "GET", "/me", {**s.keys["viewer"], **GZIP})
    assert st == 200 and len(body) < 1024 and "content-encoding" not in h


def test_png_tiles_are_never_gzipped_and_keep_their_caching(s):
    c, v, aid = s.client, s.keys["viewer"], s.analysis_id
    url = f"/analyses/{aid}/tiles/risk/5/17/15.png"
    st, plain_h, plain = _raw(c, "GET", url, {**v, **IDENTITY})
    st2, gz_h, body = _raw(c, "GET", url, {**v, **GZIP})
    assert st == st2 == 200 and body == plain and body[:8] == b"\x89PNG\r\n\x1a\n"
    assert "content-encoding" not in gz_h and "Accept-Encoding" not in gz_h.get("vary", "")
    assert (gz_h["etag"], gz_h["cache-control"]) == (plain_h["etag"], "private, max-age=3600")
    assert "Authorization, X-API-Key" in gz_h["vary"]  # role-restricted: never from a shared cache
    assert c.get(url, headers={**v, "If-None-Match": gz_h["etag"]}).status_code == 304


def test_cog_exports_keep_byte_ranges_under_gzip(s):
    c, p, aid = s.client, s.keys["planner"], s.analysis_id
    url = f"/analyses/{aid}/exports/gap.tif"
    st, h, whole = _raw(c, "GET", url, {**p, **GZIP})
    assert st == 200 and "content-encoding" not in h and h["accept-ranges"] == "bytes"
    assert int(h["content-length"]) == len(whole) and whole[:4] == b"II*\x00"  # a little-endian TIFF
    st, h, part = _raw(c, "GET", url, {**p, **GZIP, "Range": "bytes=100-1123"})
    assert st == 206 and "content-encoding" not in h
    assert h["content-range"] == f"bytes 100-1123/{len(whole)}" and part == whole[100:1124]


def test_geojson_carries_the_etag_of_its_body_and_answers_304(s):
    c, v, aid = s.client, s.keys["viewer"], s.analysis_id
    for url in (f"/analyses/{aid}/zones", f"/ogc/collections/{aid}-sites/items?limit=5"):
        st, h, body = _raw(c, "GET", url, {**v, **IDENTITY})
        assert h["content-type"] == "application/geo+json"
        assert h["etag"] == 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        st, hz, _ = _raw(c, "GET", url, {**v, **GZIP})
        assert hz["etag"] == h["etag"]  # one weak tag for both encodings
        st, h304, empty = _raw(c, "GET", url, {**v, "If-None-Match": h["etag"]})
        assert (st, empty, h304["etag"]) == (304, b"", h["etag"])
        assert c.get(url, headers={**v, "If-None-Match": 'W/"not-this-one"'}).status_code == 200
        assert c.get(url, headers={**v, "If-None-Match": h["etag"].removeprefix("W/")}).status_code == 304


def test_a_geojson_file_keeps_its_own_tag_and_answers_304(s):
    c, v, aid = s.client, s.keys["viewer"], s.analysis_id
    url = f"/analyses/{aid}/admin?format=geojson"
    r = c.get(url, headers={**v, **IDENTITY})
    tag = r.headers["etag"]
    assert r.status_code == 200 and tag.startswith('"')  # the file's strong tag
    st, hz, _ = _raw(c, "GET", url, {**v, **GZIP})
    assert (hz["content-encoding"], hz["etag"]) == ("gzip", "W/" + tag)  # the gzip form is other bytes: weak
    for sent in (tag, "W/" + tag):
        r304 = c.get(url, headers={**v, "If-None-Match": sent})
        assert (r304.status_code, r304.content, r304.headers["etag"].removeprefix("W/")) == (304, b"", tag)


def _head_matches_get(c, url, headers):
    st, g, body = _raw(c, "GET", url, {**headers, **IDENTITY})
    hst, h, nothing = _raw(c, "HEAD", url, {**headers, **GZIP})  # a HEAD is never compressed
    assert (st, hst, nothing) == (200, 200, b"") and len(body) > 0
    assert {k: h.get(k) for k in SAME_ON_HEAD} == {k: g.get(k) for k in SAME_ON_HEAD}
    assert int(h["content-length"]) == len(body)
    return h


def test_head_on_tiles_and_exports_has_the_get_headers_and_no_body(s):
    c, v, p, aid = s.client, s.keys["viewer"], s.keys["planner"], s.analysis_id
    _head_matches_get(c, f"/analyses/{aid}/tiles/risk/5/17/15.png", v)
    _head_matches_get(c, f"/ogc/collections/{aid}-risk/map/tiles/WebMercatorQuad/5/15/17", v)
    h = _head_matches_get(c, f"/analyses/{aid}/exports/gap.tif", p)
    assert h["accept-ranges"] == "bytes"
    _head_matches_get(c, f"/analyses/{aid}/exports/zones.geojson", p)
    _head_matches_get(c, f"/analyses/{aid}/public/gap_public.tif", v)
    r = c.head(f"/analyses/{aid}/exports/gap.tif", headers=v)
    assert r.status_code == 403  # a HEAD is refused exactly as its GET
    assert c.head(f"/ogc/collections/{aid}-gap/map/tiles/WebMercatorQuad/5/15/17", headers=v).status_code == 403


def test_every_head_route_has_the_dependencies_of_its_get(tmp_path):
    """HEAD routes are not in the roles table (tests/test_api.py walks GETs): each must sit on a
    GET route of the same path with the same role check, so a HEAD is refused as its GET."""
    from fastapi.routing import iter_route_contexts

    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(workspace=tmp_path, _env_file=None))  # routes only: no lifespan
    routes = [rc for rc in iter_route_contexts(app.routes) if hasattr(rc, "dependant")]
    gets = {rc.path: rc for rc in routes if "GET" in rc.methods}
    heads = [rc for rc in routes if rc.methods == {"HEAD"}]
    assert {rc.path for rc in heads} == {
        "/analyses/{analysis_id}/tiles/{surface}/{z}/{x}/{y}.png",
        "/scenarios/{scenario_id}/phases/{phase}/tiles/{surface}/{z}/{x}/{y}.png",
        "/analyses/{analysis_id}/exports/{filename}", "/analyses/{analysis_id}/public/{filename}",
        "/scenarios/{scenario_id}/exports/{filename}",
        "/ogc/collections/{mapCollectionId}/map/tiles/{tileMatrixSetId}/{z}/{y}/{x}"}

    def checks(rc):  # require(role) makes a new function per route, named require_<role>
        return [d.call.__name__ for d in rc.dependant.dependencies]

    for head in heads:
        assert checks(head) == checks(gets[head.path]), head.path
        assert {"require_viewer", "require_planner", "require_surface_access"} & set(checks(head)), head.path


def test_tilejson_credits_the_sources_and_has_cache_headers(s):
    c, v, aid = s.client, s.keys["viewer"], s.analysis_id
    r = c.get(f"/analyses/{aid}/tilejson/risk.json", headers=v)
    tj = r.json()
    for credit in ("UCDP GED (CC BY 4.0)", "WorldPop (CC BY 4.0)", "GeoNames (CC BY 4.0)", "ODbL"):
        assert credit in tj["attribution"]
    assert r.headers["cache-control"] == "private, max-age=3600" and "Authorization, X-API-Key" in r.headers["vary"]


def test_gdal_reads_a_cog_export_over_http(s):
    """GDAL's /vsicurl/ (a real range-reading client, over uvicorn) reads the planner's gap COG as the file holds it."""
    import numpy as np
    import rasterio
    from rasterio.io import MemoryFile
    from served_analysis import live_server

    c, p, aid = s.client, s.keys["planner"], s.analysis_id
    with MemoryFile(c.get(f"/analyses/{aid}/exports/gap.tif", headers=p).content) as mf, mf.open() as ds:
        want, profile = ds.read(1), (ds.width, ds.height, ds.crs, ds.transform)
    with live_server(c.app) as url, rasterio.Env(GDAL_HTTP_HEADERS=f"X-API-Key: {p['X-API-Key']}",
                                                 GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
                                                 CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif"):
        with rasterio.open(f"/vsicurl/{url}/analyses/{aid}/exports/gap.tif") as ds:
            got = ds.read(1)
            assert (ds.width, ds.height, ds.crs, ds.transform) == profile
    np.testing.assert_array_equal(got, want)
