"""Styles that travel with the data: the legend (:mod:`geo.legend`) as QGIS ``.qml`` and OGC SLD.

Pure: a :class:`~geo.legend.SurfaceStyle` in, XML text out. The writers put the
raster styles beside each COG (``gap.tif`` → ``gap.qml``, ``gap.sld``: QGIS loads a
``.qml`` of the same name on open) and the vector styles in each GeoPackage's
``layer_styles`` table (:func:`geo.export.write_gpkg`), so a layer opens coloured by
the same classes as the tiles and the maps.

Class edges: the legend puts a value equal to a break in the upper class
(``searchsorted(side="right")``). SLD ``ColorMap type="intervals"`` does the same
(an entry colours values below its quantity). QGIS's discrete colour ramp colours
values *up to and including* an item's value, so a cell exactly on a break is shown
one class lower in QGIS than on the tiles; every other value gets the same class.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from .legend import STYLES, SurfaceStyle

__all__ = [
    "LayerStyle",
    "VECTOR_STYLES",
    "QGIS_VERSION",
    "hex_to_rgba",
    "raster_qml",
    "raster_sld",
    "vector_qml",
    "vector_sld",
    "vector_style",
]

QGIS_VERSION = "3.22.0"
"""The QGIS version the ``.qml`` files declare (the oldest LTR the products are checked in)."""

SLD_NS = "http://www.opengis.net/sld"
OGC_NS = "http://www.opengis.net/ogc"
OUTLINE = "#232323"
FILL_ALPHA = 200  # the tiles' alpha (geo.legend.colorize)
OPEN_TOP = 1e20  # the last SLD interval's upper bound: above any value a surface holds


@dataclass(frozen=True)
class VectorStyleSpec:
    """How a vector layer is coloured: by a surface's legend, on one column."""

    surface: str
    column: str
    kind: Literal["categorized", "graduated"]  # by class label, or by value between the breaks


VECTOR_STYLES: dict[str, VectorStyleSpec] = {
    "zones": VectorStyleSpec("gap", "gap_class", "categorized"),
    "admin_summary": VectorStyleSpec("gap", "mean_gap", "graduated"),
}
"""The GeoPackage layers that get a style, and how."""


@dataclass(frozen=True)
class LayerStyle:
    """One row of a GeoPackage's ``layer_styles`` table."""

    layer: str
    name: str
    qml: str
    sld: str
    description: str


def hex_to_rgba(color: str, alpha: int = 255) -> str:
    """``#a50026`` → ``165,0,38,255`` (QGIS's colour notation)."""
    r, g, b = (int(color[k:k + 2], 16) for k in (1, 3, 5))
    return f"{r},{g},{b},{alpha}"


def _num(v: float) -> str:
    return f"{float(v):.10g}"


def _qml_root() -> ET.Element:
    return ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "AllStyleCategories"})


def _qml_text(root: ET.Element) -> str:
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def raster_qml(style: SurfaceStyle) -> str:
    """A QGIS single-band pseudocolour style with the legend's classes (discrete ramp)."""
    root = _qml_root()
    pipe = ET.SubElement(root, "pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", {
        "type": "singlebandpseudocolor", "band": "1", "opacity": "1", "alphaBand": "-1",
        "classificationMin": _num(style.vmin), "classificationMax": _num(style.vmax), "nodataColor": ""})
    ET.SubElement(renderer, "rasterTransparency")
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader", {
        "colorRampType": "DISCRETE", "classificationMode": "3", "clip": "0",
        "minimumValue": _num(style.vmin), "maximumValue": _num(style.vmax)})
    uppers = [_num(b) for b in style.breaks] + ["inf"]
    for upper, color, label in zip(uppers, style.colors, style.labels, strict=True):
        ET.SubElement(shader, "item", {"alpha": "255", "value": upper, "label": label, "color": color})
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(root, "blendMode").text = "0"
    return _qml_text(root)


def _sld_root(layer: str, style: SurfaceStyle) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("StyledLayerDescriptor", {
        "version": "1.0.0", "xmlns": SLD_NS, "xmlns:ogc": OGC_NS,
        "xmlns:xlink": "http://www.w3.org/1999/xlink", "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "xsi:schemaLocation": f"{SLD_NS} http://schemas.opengis.net/sld/1.0.0/StyledLayerDescriptor.xsd"})
    layer_el = ET.SubElement(root, "NamedLayer")
    ET.SubElement(layer_el, "Name").text = layer
    user = ET.SubElement(layer_el, "UserStyle")
    ET.SubElement(user, "Name").text = layer
    ET.SubElement(user, "Title").text = f"{style.title} ({style.unit})"
    return root, ET.SubElement(user, "FeatureTypeStyle")


def _sld_text(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def raster_sld(style: SurfaceStyle, layer: str | None = None) -> str:
    """An SLD 1.0 raster symbolizer: ``ColorMap type="intervals"`` with the legend's classes."""
    root, fts = _sld_root(layer or style.name, style)
    sym = ET.SubElement(ET.SubElement(fts, "Rule"), "RasterSymbolizer")
    ET.SubElement(sym, "Opacity").text = "1"
    cmap = ET.SubElement(sym, "ColorMap", {"type": "intervals"})
    uppers = [_num(b) for b in style.breaks] + [_num(OPEN_TOP)]
    for upper, color, label in zip(uppers, style.colors, style.labels, strict=True):
        ET.SubElement(cmap, "ColorMapEntry", {"color": color, "quantity": upper, "label": label})
    return _sld_text(root)


def _fill_symbol(parent: ET.Element, name: str, color: str) -> None:
    symbol = ET.SubElement(parent, "symbol", {"type": "fill", "name": name, "alpha": "1",
                                              "clip_to_extent": "1", "force_rhr": "0"})
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
    props = {"color": hex_to_rgba(color, FILL_ALPHA), "outline_color": hex_to_rgba(OUTLINE),
             "outline_style": "solid", "outline_width": "0.26", "outline_width_unit": "MM", "style": "solid"}
    opts = ET.SubElement(layer, "Option", {"type": "Map"})  # QGIS >= 3.26 reads these
    for k, v in props.items():
        ET.SubElement(opts, "Option", {"type": "QString", "name": k, "value": v})
    for k, v in props.items():  # QGIS 3.22 reads these
        ET.SubElement(layer, "prop", {"k": k, "v": v})


def _ranges(style: SurfaceStyle) -> list[tuple[float, float]]:
    edges = [style.vmin, *style.breaks, style.vmax]
    return list(zip(edges[:-1], edges[1:], strict=True))


def vector_qml(style: SurfaceStyle, column: str, kind: Literal["categorized", "graduated"]) -> str:
    """A QGIS fill style colouring polygons by ``column``: its class label (categorized)
    or its value between the legend's breaks (graduated)."""
    root = _qml_root()
    if kind == "categorized":
        renderer = ET.SubElement(root, "renderer-v2", {"type": "categorizedSymbol", "attr": column,
                                                        "symbollevels": "0", "enableorderby": "0", "forceraster": "0"})
        cats = ET.SubElement(renderer, "categories")
        for i, label in enumerate(style.labels):
            ET.SubElement(cats, "category", {"render": "true", "symbol": str(i), "value": label, "label": label})
    else:
        renderer = ET.SubElement(root, "renderer-v2", {"type": "graduatedSymbol", "attr": column,
                                                        "graduatedMethod": "GraduatedColor", "symbollevels": "0",
                                                        "enableorderby": "0", "forceraster": "0"})
        rng = ET.SubElement(renderer, "ranges")
        for i, ((lo, hi), label) in enumerate(zip(_ranges(style), style.labels, strict=True)):
            ET.SubElement(rng, "range", {"render": "true", "symbol": str(i), "lower": _num(lo),
                                         "upper": _num(hi), "label": label})
    symbols = ET.SubElement(renderer, "symbols")
    for i, color in enumerate(style.colors):
        _fill_symbol(symbols, str(i), color)
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = "2"  # polygon
    return _qml_text(root)


def _ogc(parent: ET.Element, op: str, column: str, value: str) -> None:
    cmp_ = ET.SubElement(parent, f"ogc:{op}")
    ET.SubElement(cmp_, "ogc:PropertyName").text = column
    ET.SubElement(cmp_, "ogc:Literal").text = value


def vector_sld(style: SurfaceStyle, column: str, kind: Literal["categorized", "graduated"],
               layer: str) -> str:
    """An SLD 1.0 polygon style: one rule per class, filtered on ``column``."""
    root, fts = _sld_root(layer, style)
    ranges = _ranges(style)
    for i, (color, label) in enumerate(zip(style.colors, style.labels, strict=True)):
        rule = ET.SubElement(fts, "Rule")
        ET.SubElement(rule, "Name").text = label
        flt = ET.SubElement(rule, "ogc:Filter")
        if kind == "categorized":
            _ogc(flt, "PropertyIsEqualTo", column, label)
        else:
            both = ET.SubElement(flt, "ogc:And")
            _ogc(both, "PropertyIsGreaterThanOrEqualTo", column, _num(ranges[i][0]))
            top = ranges[i][1] if i < len(ranges) - 1 else OPEN_TOP
            _ogc(both, "PropertyIsLessThan", column, _num(top))
        sym = ET.SubElement(rule, "PolygonSymbolizer")
        fill = ET.SubElement(sym, "Fill")
        ET.SubElement(fill, "CssParameter", {"name": "fill"}).text = color
        ET.SubElement(fill, "CssParameter", {"name": "fill-opacity"}).text = _num(round(FILL_ALPHA / 255, 3))
        stroke = ET.SubElement(sym, "Stroke")
        ET.SubElement(stroke, "CssParameter", {"name": "stroke"}).text = OUTLINE
        ET.SubElement(stroke, "CssParameter", {"name": "stroke-width"}).text = "0.5"
    return _sld_text(root)


def vector_style(layer: str) -> LayerStyle:
    """The ``layer_styles`` row of a styled GeoPackage layer (see :data:`VECTOR_STYLES`)."""
    spec = VECTOR_STYLES[layer]
    style = STYLES[spec.surface]
    how = "class" if spec.kind == "categorized" else "value"
    return LayerStyle(layer=layer, name=f"vacuum {layer}", qml=vector_qml(style, spec.column, spec.kind),
                      sld=vector_sld(style, spec.column, spec.kind, layer),
                      description=f"{style.title} by {how} of {spec.column} (geo.legend)")
