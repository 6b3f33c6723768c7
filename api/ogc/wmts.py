"""A WMTS 1.0.0 capabilities document of the OGC API map tiles (RESTful encoding only), for
clients that speak WMTS rather than OGC API - Tiles (older QGIS, ArcGIS, GeoServer cascades).
The tiles are the same URLs as ``/ogc/collections/{id}/map/tiles/WebMercatorQuad/{z}/{y}/{x}``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from api.ogc.catalog import ATTRIBUTION
from api.ogc.documents import TMS_ID

__all__ = ["WMTSLayer", "capabilities_xml", "WMTS_MAX_ZOOM"]

WMTS_MAX_ZOOM = 18
"""Tile matrices 0..18 are listed (the served tiles go deeper, with the same pixels)."""
_NS = {"": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1",
       "xlink": "http://www.w3.org/1999/xlink"}


@dataclass(frozen=True)
class WMTSLayer:
    identifier: str
    title: str
    bounds: tuple[float, float, float, float]
    """W,S,E,N in degrees."""


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    prefix, _, name = tag.rpartition(":")
    e = ET.SubElement(parent, f"{{{_NS[prefix]}}}{name}", attrib)
    if text is not None:
        e.text = text
    return e


def _tile_matrix_set(contents: ET.Element) -> None:
    import morecantile

    tms = morecantile.tms.get(TMS_ID)
    s = _el(contents, ":TileMatrixSet")
    _el(s, "ows:Identifier", TMS_ID)
    _el(s, "ows:SupportedCRS", "urn:ogc:def:crs:EPSG::3857")
    _el(s, ":WellKnownScaleSet", "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible")
    for z in range(WMTS_MAX_ZOOM + 1):
        m = tms.matrix(z)
        t = _el(s, ":TileMatrix")
        _el(t, "ows:Identifier", str(z))
        _el(t, ":ScaleDenominator", repr(m.scaleDenominator))
        _el(t, ":TopLeftCorner", f"{m.pointOfOrigin[0]!r} {m.pointOfOrigin[1]!r}")
        for tag, v in (("TileWidth", m.tileWidth), ("TileHeight", m.tileHeight), ("MatrixWidth", m.matrixWidth),
                       ("MatrixHeight", m.matrixHeight)):
            _el(t, f":{tag}", str(v))


def capabilities_xml(base: str, layers: Sequence[WMTSLayer]) -> bytes:
    """The capabilities document; ``base`` is the OGC API's base URL (``https://host/ogc``)."""
    for prefix, uri in _NS.items():
        ET.register_namespace(prefix, uri)
    root = ET.Element(f"{{{_NS['']}}}Capabilities", {"version": "1.0.0"})
    ident = _el(root, "ows:ServiceIdentification")
    _el(ident, "ows:Title", "Vacuum map tiles")
    _el(ident, "ows:ServiceType", "OGC WMTS")
    _el(ident, "ows:ServiceTypeVersion", "1.0.0")
    _el(ident, "ows:AccessConstraints", ATTRIBUTION)
    contents = _el(root, ":Contents")
    for layer in layers:
        lay = _el(contents, ":Layer")
        _el(lay, "ows:Title", layer.title)
        box = _el(lay, "ows:WGS84BoundingBox")
        w, s, e, n = layer.bounds
        _el(box, "ows:LowerCorner", f"{w!r} {s!r}")
        _el(box, "ows:UpperCorner", f"{e!r} {n!r}")
        _el(lay, "ows:Identifier", layer.identifier)
        style = _el(lay, ":Style", isDefault="true")
        _el(style, "ows:Identifier", "default")
        _el(lay, ":Format", "image/png")
        link = _el(lay, ":TileMatrixSetLink")
        _el(link, ":TileMatrixSet", TMS_ID)
        _el(lay, ":ResourceURL", format="image/png", resourceType="tile",
            template=f"{base}/collections/{layer.identifier}/map/tiles/{TMS_ID}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}")
    _tile_matrix_set(contents)
    _el(root, ":ServiceMetadataURL", **{f"{{{_NS['xlink']}}}href": f"{base}/wmts/1.0.0/WMTSCapabilities.xml"})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
