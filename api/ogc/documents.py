"""The JSON documents of the OGC API: landing page, conformance, collections, tile sets.

Pure builders: each takes the base URL of the OGC API (``https://host/ogc``, or ``/ogc``
when the ``Host`` is not trusted, :func:`api.security.public_base`) and what to describe,
and returns the document. Links are absolute when the base is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from api.ogc.catalog import ATTRIBUTION, FeatureSpec

__all__ = ["CONFORMANCE", "CRS84", "TMS_ID", "WEB_MERCATOR", "landing", "feature_collection_doc",
           "map_collection_doc", "tileset_doc", "tilesets_doc", "tile_matrix_sets_doc", "tile_matrix_set_doc",
           "tile_matrix_limits", "items_doc", "REL_TILESETS_MAP", "REL_TILING_SCHEME", "link"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
TMS_ID = "WebMercatorQuad"
REL_TILESETS_MAP = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
_GEOJSON = "application/geo+json"
_JSON = "application/json"

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
)
"""The requirement classes served (``GET /ogc/conformance``)."""


def link(href: str, rel: str, type_: str = _JSON, title: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return {**out, **extra}


def landing(base: str, root: str, title: str, version: str) -> dict[str, Any]:
    """``root`` is the service's own base (before ``/ogc``): the OpenAPI document and docs."""
    return {
        "title": f"{title} OGC API",
        "description": "Vacuum zones, admin tables, events and sites as OGC API - Features, the analysis "
                       "surfaces as OGC API - Tiles (WebMercatorQuad PNG); the roles of the service apply.",
        "attribution": ATTRIBUTION,
        "version": version,
        "links": [
            link(base, "self", title="this document"),
            link(f"{root}/openapi.json", "service-desc", "application/vnd.oai.openapi+json;version=3.0",
                 "the API definition"),
            link(f"{root}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{base}/conformance", "conformance", title="conformance classes"),
            link(f"{base}/collections", "data", title="collections"),
            link(f"{base}/tileMatrixSets", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                 title="tile matrix sets"),
            link(f"{base}/wmts/1.0.0/WMTSCapabilities.xml", "alternate", "application/xml",
                 "WMTS 1.0.0 capabilities of the same tiles"),
        ],
    }


def _extent(bbox: Sequence[float] | None, interval: tuple[str | None, str | None] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if bbox is not None:
        out["spatial"] = {"bbox": [list(bbox)], "crs": CRS84}
    if interval is not None:
        out["temporal"] = {"interval": [list(interval)], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return out


def feature_collection_doc(base: str, cid: str, spec: FeatureSpec, analysis_title: str,
                           bbox: Sequence[float] | None, interval: tuple[str | None, str | None] | None) -> dict[str, Any]:
    url = f"{base}/collections/{cid}"
    return {
        "id": cid, "title": f"{spec.title} - {analysis_title}", "itemType": "feature",
        "description": f"{spec.title} of analysis {cid.partition('-')[0]}"
                       + (f"; datetime filters on '{spec.date_property}'" if spec.date_property else ""),
        "crs": [CRS84], "storageCrs": CRS84, "attribution": ATTRIBUTION, "extent": _extent(bbox, interval),
        "links": [link(url, "self"), link(f"{url}/items", "items", _GEOJSON, "the features")],
    }


def map_collection_doc(base: str, cid: str, title: str, unit: str, bbox: Sequence[float]) -> dict[str, Any]:
    url = f"{base}/collections/{cid}"
    return {
        "id": cid, "title": title, "description": f"{title} ({unit}) as WebMercatorQuad PNG map tiles",
        "dataType": "map", "crs": [CRS84], "attribution": ATTRIBUTION, "extent": _extent(bbox, None),
        "links": [link(url, "self"), link(f"{url}/map/tiles", REL_TILESETS_MAP, title="map tile sets")],
    }


def tile_matrix_limits(bounds: Sequence[float], minzoom: int, maxzoom: int) -> list[dict[str, Any]]:
    """Rows and columns of WebMercatorQuad that hold ``bounds`` (W,S,E,N degrees) at each zoom."""
    import morecantile

    tms = morecantile.tms.get(TMS_ID)
    w, s, e, n = bounds
    out = []
    for z in range(minzoom, maxzoom + 1):
        ul, lr = tms.tile(w, n, z), tms.tile(e, s, z)
        out.append({"tileMatrix": str(z), "minTileRow": ul.y, "maxTileRow": lr.y,
                    "minTileCol": ul.x, "maxTileCol": lr.x})
    return out


def tileset_doc(base: str, cid: str, title: str, bounds: Sequence[float], minzoom: int, maxzoom: int) -> dict[str, Any]:
    """The tile set metadata (OGC API - Tiles, ``/collections/{id}/map/tiles/WebMercatorQuad``)."""
    url = f"{base}/collections/{cid}/map/tiles/{TMS_ID}"
    w, s, e, n = bounds
    return {
        "title": title, "dataType": "map", "crs": WEB_MERCATOR, "tileMatrixSetURI": _tms_uri(),
        "attribution": ATTRIBUTION,
        "boundingBox": {"lowerLeft": [w, s], "upperRight": [e, n], "crs": CRS84},
        "tileMatrixSetLimits": tile_matrix_limits(bounds, minzoom, maxzoom),
        "links": [
            link(url, "self"),
            link(f"{base}/tileMatrixSets/{TMS_ID}", REL_TILING_SCHEME, title="WebMercatorQuad"),
            link(f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", "image/png", "the tiles", templated=True),
        ],
    }


def tilesets_doc(base: str, cid: str, title: str) -> dict[str, Any]:
    url = f"{base}/collections/{cid}/map/tiles/{TMS_ID}"
    return {"tilesets": [{"title": title, "dataType": "map", "crs": WEB_MERCATOR, "tileMatrixSetURI": _tms_uri(),
                          "links": [link(url, "self"),
                                    link(f"{base}/tileMatrixSets/{TMS_ID}", REL_TILING_SCHEME)]}]}


def _tms_uri() -> str:
    import morecantile

    return str(morecantile.tms.get(TMS_ID).uri)


def tile_matrix_sets_doc(base: str) -> dict[str, Any]:
    return {"tileMatrixSets": [{"id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": _tms_uri(),
                                "links": [link(f"{base}/tileMatrixSets/{TMS_ID}", "self")]}]}


def tile_matrix_set_doc() -> dict[str, Any]:
    """WebMercatorQuad as morecantile defines it (OGC TMS 2.0 JSON)."""
    import morecantile

    return json.loads(morecantile.tms.get(TMS_ID).model_dump_json(exclude_none=True))


def items_doc(base: str, cid: str, features: list[dict[str, Any]], matched: int, limit: int, offset: int,
              query: dict[str, str]) -> dict[str, Any]:
    """A page of items with ``self``/``next``/``prev`` links that keep the query (no ``timeStamp``:
    the same page is the same bytes, so its ETag holds until the data changes)."""
    from urllib.parse import urlencode

    url = f"{base}/collections/{cid}/items"

    def page(off: int) -> str:
        return url + "?" + urlencode({**query, "limit": limit, "offset": off})

    links = [link(page(offset), "self", _GEOJSON), link(f"{base}/collections/{cid}", "collection")]
    if offset + len(features) < matched:
        links.append(link(page(offset + limit), "next", _GEOJSON))
    if offset > 0:
        links.append(link(page(max(0, offset - limit)), "prev", _GEOJSON))
    return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
            "numberReturned": len(features), "links": links}
