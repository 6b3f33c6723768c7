"""OGC API - Features and Tiles (``api/ogc``): the query functions by hand, the documents and
roles against the served demo analysis (``served_demo``, 10 km), OWSLib as a client over
real HTTP, and the viewer's attack: walk every collection and item and look for the bases."""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import date

import numpy as np
import pytest
from served_analysis import live_server

from api.errors import RequestError
from api.ogc.query import DateInterval, bbox_meets, feature_bbox, parse_bbox, parse_datetime, select
from api.testing import DEMO

VIEWER_PRODUCTS = {"zones", "admin_summary", "events", "sites", "gap_public", "risk", "threat", "exposure", "population"}
"""What docs/service.md lets a viewer see, as collections."""
PLANNER_ONLY = {"bases", "gap", "coverage", "travel_time"}


# ============================================================================ query, by hand


def test_parse_bbox_reads_four_numbers_and_names_the_fix():
    assert parse_bbox("15,4,20.5,8") == (15.0, 4.0, 20.5, 8.0)
    for bad, why in (("15,4,20", "3 numbers"), ("1,2,3,4,5,6", "3-D"), ("a,b,c,d", "not four numbers"),
                     ("15,9,20,8", "S > N"), ("15,4,200,8", "outside"), ("nan,4,20,8", "not finite")):
        with pytest.raises(RequestError, match=why) as e:
            parse_bbox(bad)
        assert "bbox=W,S,E,N" in str(e.value)


def test_parse_datetime_instants_and_intervals_as_days():
    assert parse_datetime("2020-10-01") == DateInterval(date(2020, 10, 1), date(2020, 10, 1))
    assert parse_datetime("2020-10-01T23:59:00Z") == DateInterval(date(2020, 10, 1), date(2020, 10, 1))
    assert parse_datetime("2019-01-01/2019-12-31") == DateInterval(date(2019, 1, 1), date(2019, 12, 31))
    assert parse_datetime("../2019-12-31") == DateInterval(None, date(2019, 12, 31))
    assert parse_datetime("2019-01-01/") == DateInterval(date(2019, 1, 1), None)
    for bad, why in (("../..", "both ends"), ("2020-13-01", "not an RFC 3339"), ("2020-02-01/2020-01-01", "before"),
                     ("a/b/c", "more than one")):
        with pytest.raises(RequestError, match=why):
            parse_datetime(bad)


def test_feature_bbox_and_meets_by_hand():
    poly = {"type": "MultiPolygon", "coordinates": [[[[0, 0], [2, 0], [2, 1], [0, 0]]], [[[5, -3], [6, -3], [6, -2], [5, -3]]]]}
    assert feature_bbox(poly) == (0.0, -3.0, 6.0, 1.0)
    assert feature_bbox({"type": "Point", "coordinates": [18.5, 4.3]}) == (18.5, 4.3, 18.5, 4.3)
    assert feature_bbox(None) is None and feature_bbox({"type": "Polygon", "coordinates": []}) is None
    assert bbox_meets((0, 0, 1, 1), (1, 1, 2, 2))  # touching corners meet
    assert not bbox_meets((0, 0, 1, 1), (1.1, 0, 2, 1))
    assert bbox_meets((179, 0, 179.5, 1), (170, -1, -170, 2))  # a query box across the antimeridian
    assert not bbox_meets((0, 0, 1, 1), (170, -1, -170, 2))


def test_select_filters_then_pages_in_stored_order():
    feats = [{"id": str(i), "geometry": {"type": "Point", "coordinates": [i, 0]},
              "properties": {"date": f"2020-0{i}-15" if i else None}} for i in range(6)]
    page = select(feats, bbox=(1, -1, 4, 1), limit=2, offset=1)
    assert [f["id"] for f in page.features] == ["2", "3"] and page.matched == 4  # 1, 2, 3, 4 match
    page = select(feats, interval=DateInterval(date(2020, 2, 1), date(2020, 4, 15)), date_property="date")
    assert [f["id"] for f in page.features] == ["2", "3", "4"]  # the undated feature 0 never matches


# ============================================================================ the documents and roles


def _get(c, url, headers, **params):
    r = c.get(url, headers=headers, params=params or None)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r


def _collections(served, role):
    cols = _get(served.client, "/ogc/collections", served.keys[role]).json()["collections"]
    return {c["id"]: c for c in cols if c["id"].startswith(served.analysis_id + "-")}


@pytest.mark.slow
def test_conformance_classes_and_landing_links_answer(served_demo):
    c, v = served_demo.client, served_demo.keys["viewer"]
    conf = set(_get(c, "/ogc/conformance", {}).json()["conformsTo"])
    for cls in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                "ogcapi-tiles-1/1.0/conf/core", "ogcapi-tiles-1/1.0/conf/tileset", "tms/2.0/conf/tilematrixset"):
        assert f"http://www.opengis.net/spec/{cls}" in conf
    links = {lk["rel"]: lk["href"] for lk in _get(c, "/ogc", {}).json()["links"]}
    for rel in ("self", "conformance", "data", "service-desc", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"):
        _get(c, links[rel], v)


@pytest.mark.slow
def test_each_role_lists_exactly_its_collections(served_demo):
    aid = served_demo.analysis_id
    viewer, planner = _collections(served_demo, "viewer"), _collections(served_demo, "planner")
    assert {cid.removeprefix(aid + "-") for cid in viewer} == VIEWER_PRODUCTS
    assert {cid.removeprefix(aid + "-") for cid in planner} == VIEWER_PRODUCTS | PLANNER_ONLY
    assert {cid for cid, col in viewer.items() if col.get("itemType") == "feature"} == {
        f"{aid}-{p}" for p in ("zones", "admin_summary", "events", "sites")}


@pytest.mark.slow
def test_a_viewer_is_refused_every_planner_collection(served_demo):
    c, v, aid = served_demo.client, served_demo.keys["viewer"], served_demo.analysis_id
    for product in PLANNER_ONLY:
        cid = f"{aid}-{product}"
        urls = [f"/ogc/collections/{cid}"]
        urls += [f"/ogc/collections/{cid}/items", f"/ogc/collections/{cid}/items/1"] if product == "bases" else [
            f"/ogc/collections/{cid}/map/tiles", f"/ogc/collections/{cid}/map/tiles/WebMercatorQuad",
            f"/ogc/collections/{cid}/map/tiles/WebMercatorQuad/6/31/33"]
        for url in urls:
            r = c.get(url, headers=v)
            assert (r.status_code, r.json()["error"]) == (403, "PermissionDeniedError"), (url, r.text)
            assert "planner" in r.json()["detail"]
    # the role passes: the planner gets the tile at the centre of the gap's bounds (its TileJSON),
    # and a 404 for one on the far side of the world
    p = served_demo.keys["planner"]
    tj = _get(c, f"/analyses/{aid}/tilejson/gap.json", p).json()
    w, s, e, n = tj["bounds"]
    z = tj["maxzoom"]
    x, y = _tile_xy((w + e) / 2, (s + n) / 2, z)  # OGC paths name the row before the column
    r = c.get(f"/ogc/collections/{aid}-gap/map/tiles/WebMercatorQuad/{z}/{y}/{x}", headers=p)
    assert r.status_code == 200, r.text
    x, y = _tile_xy(-170.0, (s + n) / 2, z)
    assert c.get(f"/ogc/collections/{aid}-gap/map/tiles/WebMercatorQuad/{z}/{y}/{x}", headers=p).status_code == 404


@pytest.mark.slow
def test_items_bbox_limit_and_next_links_match_the_data(served_demo):
    c, p, aid = served_demo.client, served_demo.keys["planner"], served_demo.analysis_id
    events = _get(c, f"/analyses/{aid}/exports/events.geojson", p).json()["features"]
    lonlat = np.array([f["geometry"]["coordinates"] for f in events])
    box = (18.0, 4.0, 21.0, 7.0)
    inside = {f["properties"]["event_id"] for f, (x, y) in zip(events, lonlat, strict=True)
              if box[0] <= x <= box[2] and box[1] <= y <= box[3]}
    assert 5 < len(inside) < len(events)  # the box cuts the data
    url, got, pages = f"/ogc/collections/{aid}-events/items?bbox=18,4,21,7&limit=5", [], 0
    while url:
        doc = _get(c, url, p).json()
        assert doc["numberMatched"] == len(inside) and doc["numberReturned"] == len(doc["features"]) <= 5
        got += [f["id"] for f in doc["features"]]
        url = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
        pages += 1
    assert sorted(got) == sorted(inside) and pages == math.ceil(len(inside) / 5)


@pytest.mark.slow
def test_datetime_filters_events_by_their_date(served_demo):
    c, v, aid = served_demo.client, served_demo.keys["viewer"], served_demo.analysis_id
    events = _get(c, f"/ogc/collections/{aid}-events/items", v, limit=10000).json()["features"]
    in_2019 = {f["id"] for f in events if "2019-01-01" <= f["properties"]["date"] <= "2019-12-31"}
    assert 0 < len(in_2019) < len(events)
    doc = _get(c, f"/ogc/collections/{aid}-events/items", v, datetime="2019-01-01/2019-12-31", limit=10000).json()
    assert {f["id"] for f in doc["features"]} == in_2019
    col = _get(c, f"/ogc/collections/{aid}-events", v).json()
    dates = sorted(f["properties"]["date"] for f in events)
    assert col["extent"]["temporal"]["interval"] == [[dates[0], dates[-1]]]
    r = c.get(f"/ogc/collections/{aid}-zones/items", headers=v, params={"datetime": "2019-01-01"})
    assert r.status_code == 422 and "events only" in r.json()["detail"]


@pytest.mark.slow
def test_one_item_is_the_feature_of_the_list(served_demo):
    c, v, aid = served_demo.client, served_demo.keys["viewer"], served_demo.analysis_id
    sites = _get(c, f"/ogc/collections/{aid}-sites/items", v, limit=3).json()["features"]
    one = _get(c, f"/ogc/collections/{aid}-sites/items/{sites[1]['id']}", v)
    assert one.headers["content-type"] == "application/geo+json"
    doc = one.json()
    assert (doc["properties"], doc["geometry"]) == (sites[1]["properties"], sites[1]["geometry"])
    assert c.get(f"/ogc/collections/{aid}-sites/items/nope", headers=v).status_code == 404


@pytest.mark.slow
def test_viewer_zones_are_the_public_blocks(served_demo):
    c, v, aid = served_demo.client, served_demo.keys["viewer"], served_demo.analysis_id
    public = _get(c, f"/analyses/{aid}/zones", v).json()["features"]
    ogc = _get(c, f"/ogc/collections/{aid}-zones/items", v).json()["features"]
    assert [(f["properties"], f["geometry"]) for f in ogc] == [(f["properties"], f["geometry"]) for f in public]
    assert all("nearest_base_id" not in f["properties"] for f in ogc)


def _tile_xy(lon, lat, z):
    """WebMercatorQuad column and row of a point, by the textbook formula."""
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@pytest.mark.slow
def test_tileset_limits_and_tiles_are_those_of_the_xyz_routes(served_demo):
    c, v, aid = served_demo.client, served_demo.keys["viewer"], served_demo.analysis_id
    tj = _get(c, f"/analyses/{aid}/tilejson/risk.json", v).json()
    ts = _get(c, f"/ogc/collections/{aid}-risk/map/tiles/WebMercatorQuad", v).json()
    w, s, e, n = tj["bounds"]
    for lim in ts["tileMatrixSetLimits"]:
        z = int(lim["tileMatrix"])
        (x0, y0), (x1, y1) = _tile_xy(w, n, z), _tile_xy(e, s, z)
        assert (lim["minTileCol"], lim["minTileRow"], lim["maxTileCol"], lim["maxTileRow"]) == (x0, y0, x1, y1)
    assert [int(lim["tileMatrix"]) for lim in ts["tileMatrixSetLimits"]] == list(range(tj["minzoom"], tj["maxzoom"] + 1))
    z = tj["maxzoom"]
    x, y = _tile_xy((w + e) / 2, (s + n) / 2, z)
    template = next(lk["href"] for lk in ts["links"] if lk["rel"] == "item")
    ogc = _get(c, template.format(tileMatrix=z, tileRow=y, tileCol=x), v)
    xyz = _get(c, f"/analyses/{aid}/tiles/risk/{z}/{x}/{y}.png", v)
    assert ogc.content == xyz.content and ogc.headers["etag"] == xyz.headers["etag"]
    assert ogc.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.get(f"/ogc/collections/{aid}-risk/map/tiles/WebMercatorQuad/{z}/{y}/{x}", headers={
        **v, "If-None-Match": ogc.headers["etag"]}).status_code == 304
    assert c.get(f"/ogc/collections/{aid}-risk/map/tiles/WorldCRS84Quad/{z}/{y}/{x}", headers=v).status_code == 404
    tms = _get(c, "/ogc/tileMatrixSets/WebMercatorQuad", {}).json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 25
    assert tms["tileMatrices"][0]["pointOfOrigin"] == [-20037508.342789244, 20037508.342789244]


# ============================================================================ a real client: OWSLib over HTTP


@pytest.mark.slow
def test_owslib_lists_collections_and_fetches_items_and_tiles(served_demo):
    from owslib.ogcapi.features import Features
    from owslib.wmts import WebMapTileService

    aid = served_demo.analysis_id
    with live_server(served_demo.client.app) as url:
        api = Features(f"{url}/ogc", headers=dict(served_demo.keys["viewer"]))
        assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
        feature_ids = {cid for cid in api.feature_collections() if cid.startswith(aid)}
        assert feature_ids == {f"{aid}-{p}" for p in ("zones", "admin_summary", "events", "sites")}
        admin = api.collection_items(f"{aid}-admin_summary", limit=100)
        with open(DEMO / "admin1_naturalearth.geojson", encoding="utf-8") as f:
            prefectures = len(json.load(f)["features"])
        assert admin["numberMatched"] == prefectures == len(admin["features"])
        two = api.collection_items(f"{aid}-events", bbox=[18, 4, 21, 7], limit=2)
        assert two["numberReturned"] == 2 and all(18 <= f["geometry"]["coordinates"][0] <= 21 for f in two["features"])
        wmts = WebMapTileService(f"{url}/ogc/wmts/1.0.0/WMTSCapabilities.xml", headers=dict(served_demo.keys["viewer"]))
        assert {n for n in wmts.contents if n.startswith(aid)} == {
            f"{aid}-{p}" for p in ("gap_public", "risk", "threat", "exposure", "population")}
        box = wmts.contents[f"{aid}-risk"].boundingBoxWGS84
        x, y = _tile_xy((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 6)
        png = wmts.gettile(layer=f"{aid}-risk", tilematrixset="WebMercatorQuad", tilematrix="6", row=y, column=x).read()
        assert png == served_demo.client.get(f"/analyses/{aid}/tiles/risk/6/{x}/{y}.png",
                                             headers=served_demo.keys["viewer"]).content


# ============================================================================ the attack


def _public_coordinates() -> np.ndarray:
    """Every coordinate of the public inputs a viewer may read anyway: towns, airports, events, admin outlines."""
    pts = []
    for name, lon, lat in (("towns_geonames.csv", "longitude", "latitude"),
                           ("airports_ourairports.csv", "longitude_deg", "latitude_deg"),
                           ("events_ged_v23.1.csv", "longitude", "latitude")):
        with open(DEMO / name, encoding="utf-8") as f:
            pts += [(float(r[lon]), float(r[lat])) for r in csv.DictReader(f)]
    with open(DEMO / "admin1_naturalearth.geojson", encoding="utf-8") as f:
        pts += _pairs(f.read())
    return np.array(pts)


_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


def _pairs(text: str) -> list[tuple[float, float]]:
    """Every ``[a, b`` pair of numbers in a JSON text and every ``a b`` pair in an XML one."""
    found = re.findall(rf"\[\s*({_NUM})\s*,\s*({_NUM})", text) + re.findall(rf">({_NUM}) ({_NUM})<", text)
    return [(float(a), float(b)) for a, b in found]


def _walk(served, role, one_by_one: bool = True) -> dict[str, str]:
    """Every OGC document the role may fetch: collections, each collection, all its items (and,
    ``one_by_one``, each item on its own), its tile sets, the WMTS capabilities."""
    c, h = served.client, served.keys[role]
    texts = {"collections": _get(c, "/ogc/collections", h).text,
             "wmts": _get(c, "/ogc/wmts/1.0.0/WMTSCapabilities.xml", h).text}
    for cid, col in _collections(served, role).items():
        texts[cid] = _get(c, f"/ogc/collections/{cid}", h).text
        if col.get("itemType") == "feature":
            items = _get(c, f"/ogc/collections/{cid}/items", h, limit=10000)
            texts[cid + "/items"] = items.text
            for f in items.json()["features"] if one_by_one else ():
                texts[f"{cid}/items/{f['id']}"] = _get(c, f"/ogc/collections/{cid}/items/{f['id']}", h).text
        else:
            texts[cid + "/tiles"] = _get(c, f"/ogc/collections/{cid}/map/tiles/WebMercatorQuad", h).text
    return texts


def _leaks(texts: dict[str, str], bases: list[dict], public: np.ndarray, radius_deg: float = 0.02) -> set[str]:
    """Bases betrayed: an id anywhere, or a coordinate within ~2 km that no public input holds."""
    out = set()
    for b in bases:
        lon, lat = b["geometry"]["coordinates"][:2]
        bid = b["properties"]["base_id"]
        for text in texts.values():
            if bid in text:
                out.add(bid)
            pts = np.array(_pairs(text) or [(1e9, 1e9)])
            near = pts[np.hypot(pts[:, 0] - lon, pts[:, 1] - lat) < radius_deg]
            for x, y in near:
                if np.hypot(public[:, 0] - x, public[:, 1] - y).min() > 1e-5:
                    out.add(bid)
    return out


@pytest.mark.slow
def test_a_viewer_walking_every_collection_and_item_finds_no_base(served_demo):
    c, aid = served_demo.client, served_demo.analysis_id
    bases = _get(c, f"/analyses/{aid}/exports/bases.geojson", served_demo.keys["admin"]).json()["features"]
    public = _public_coordinates()
    viewer = _walk(served_demo, "viewer")
    # every item one by one: the 116 events of the window and the 17 prefectures (data/minusca/SOURCE.md)
    assert sum(f"{aid}-events/items/" in k for k in viewer) == 116
    assert sum(f"{aid}-admin_summary/items/" in k for k in viewer) == 17
    assert _leaks(viewer, bases, public) == set()
    names = {b["properties"]["name"] for b in bases}
    with open(DEMO / "towns_geonames.csv", encoding="utf-8") as f:
        towns = {r["name"] for r in csv.DictReader(f)}
    for key, text in viewer.items():
        if key.endswith("/items") and "-sites" not in key:  # sites are towns and airports, named as the public layers
            props = [f["properties"] for f in json.loads(text)["features"]]
            for pr in props:
                for k, val in pr.items():
                    assert not (k != "name" and val in names), (key, k, val)  # a base name only as a town's name
                    assert not (k == "name" and val in names and val not in towns), (key, val)
            assert not any(k.startswith("nearest_base") or k == "travel_time_h" for pr in props for k in pr), key
    # the same walk as a planner finds every base: the check can fail
    planner = _walk(served_demo, "planner", one_by_one=False)
    assert _leaks(planner, bases, public) == {b["properties"]["base_id"] for b in bases}
