"""The base criticality map: each base coloured by how much vacuum its closure would open.

The criticality table (one row per ``base_id``; from the scenario engine's
``base_criticality.geojson`` or any table) is joined to the analysis bases, so the
markers sit where the model placed the bases. The colour column is a parameter.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from geo.legend import STYLES

from .areas import add_admin_layers, add_zones
from .bases import CRITICALITY_LABELS, add_bases, column_digits
from .controls import (
    InfoPanel,
    Legend,
    LegendEntry,
    TitleBox,
    add_standard_controls,
    surface_section,
    symbol_circle,
    symbol_outline,
    symbol_swatch,
)
from .errors import MapError
from .folder import CRITICALITY_COLUMNS, join_criticality, open_analysis, read_layer
from .operations import GAP_LAYER_NAME, HOW_TO_READ, cell_km, downloads_footer, new_map, title_for
from .style import ADMIN_EDGE, BASE_EDGE, CLOSED_COLOR, ZONE_COLOR
from .surfaces import add_surface
from .tiles import TileSource
from .vectors import fmt_number

__all__ = [
    "criticality_map",
    "read_criticality",
    "pick_column",
    "quantile_classes",
    "fmt_value",
    "legend_decimals",
    "SHORT_LABELS",
    "CRITICALITY_COLORS",
]

SHORT_LABELS = {
    "criticality": "criticality",
    "added_vacuum": "added vacuum",
    "added_exposure_weighted_gap": "added exposure-weighted gap",
}
"""Short names of criticality columns for the layer switcher, the legend and the ranking."""

CRITICALITY_COLORS = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")
"""Light to dark purple: apart from the gap palette the surface underneath uses."""


def read_criticality(source: gpd.GeoDataFrame | pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """A criticality table from a frame or a file (GeoJSON/GeoPackage, or CSV with ``base_id``)."""
    if isinstance(source, pd.DataFrame):
        return source
    p = Path(source)
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise MapError(f"criticality table {p}: no such file")
        return pd.read_csv(p, dtype={"base_id": str})
    return read_layer(p, what="criticality table")


def fmt_value(v: float) -> str:
    """Two decimals, or two significant digits for small values (so 0.0004 is not '0.00')."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(x):
        return "–"
    return f"{x:.2g}" if 0 < abs(x) < 0.01 else fmt_number(x, 2)


def quantile_classes(values: np.ndarray, n: int = len(CRITICALITY_COLORS)) -> tuple[np.ndarray, list[str]]:
    """Class edges at the quantiles of ``values`` (ties merged) and one colour per class.

    Criticality is skewed (a capital's garrison dwarfs the rest); quantile classes keep
    the ranking readable where a linear ramp would leave all but one base pale.
    """
    finite = values[np.isfinite(values)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, n + 1)[1:-1])) if len(finite) else np.array([])
    edges = edges[edges > finite.min()] if len(finite) else edges
    k = len(edges) + 1
    idx = np.round(np.linspace(0, len(CRITICALITY_COLORS) - 1, k)).astype(int) if k > 1 else np.array([2])
    return edges, [CRITICALITY_COLORS[i] for i in idx]


def legend_decimals(values: np.ndarray, whole: bool = False) -> int:
    """One precision for a whole legend: two significant digits of its smallest non-zero
    magnitude (0.0004 -> 5, 0.08 -> 3, 12.5 -> 0), at most 6; 0 for ``whole`` numbers."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    if whole or not len(v):
        return 0
    return int(min(6, max(0, -math.floor(math.log10(float(v.min()))) + 1)))


def _classes_section(title: str, values: np.ndarray, edges: np.ndarray, colors: list[str],
                     whole: bool = False) -> str:
    finite = values[np.isfinite(values)]
    lo = [float(finite.min()), *edges.tolist()]
    hi = [*edges.tolist(), float(finite.max())]
    d = legend_decimals(np.array([*lo, *hi]), whole)
    rows = []
    for c, a, b in zip(colors, lo, hi, strict=True):
        n = int(((finite >= a) & ((finite < b) if b != hi[-1] else (finite <= b))).sum())
        rows.append(f'<div class="vl-row">{symbol_swatch(c, BASE_EDGE)}<span>{fmt_number(a, d)} to '
                    f'{fmt_number(b, d)}</span><span class="vl-range">{n} bases</span></div>')
    rows.reverse()  # most critical first
    return (f'<details class="vl-criticality" open><summary><b>{html.escape(title)}</b> '
            f'<span class="vl-note">(quantile classes)</span></summary>{"".join(rows)}</details>')


def pick_column(table: pd.DataFrame, column: str | None) -> str:
    """``column`` if the table has it, else the first of :data:`CRITICALITY_COLUMNS` present."""
    if column is not None:
        if column not in table.columns:
            raise MapError(f"criticality table has no column {column!r}; columns: "
                           f"{', '.join(map(str, table.columns))}; pass column=... with one of them")
        return column
    for c in CRITICALITY_COLUMNS:
        if c in table.columns:
            return c
    raise MapError(f"criticality table has none of {', '.join(CRITICALITY_COLUMNS)}; columns: "
                   f"{', '.join(map(str, table.columns))}; pass column=... to choose one")


def criticality_map(
    analysis_dir: str | os.PathLike[str],
    criticality: gpd.GeoDataFrame | pd.DataFrame | str | os.PathLike[str],
    *,
    column: str | None = None,
    label: str | None = None,
    tiles: TileSource | None = None,
    top: int = 10,
    basemap: str | None = None,
    carto_api_key: str | None = None,
) -> folium.Map:
    """Bases coloured by ``column`` of ``criticality`` (darker: more vacuum opened by closing it).

    ``column`` defaults to ``criticality``, else ``added_exposure_weighted_gap``;
    ``label`` names it in the legend and popups. A panel ranks the ``top`` bases.
    """
    folder = open_analysis(analysis_dir)
    table = read_criticality(criticality)
    col = pick_column(table, column)
    name = label or SHORT_LABELS.get(col, col.replace("_", " "))
    long_name = label or CRITICALITY_LABELS.get(col, name)
    bases = join_criticality(folder.require("bases"), table)
    values = pd.to_numeric(bases[col], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).any():
        raise MapError(f"criticality column {col!r} has no numeric value for any base of {folder.path}")
    bases["rank"] = values.rank(ascending=False, method="min")
    bases.attrs["criticality_columns"] = [col, "rank", *[c for c in bases.attrs.get("criticality_columns", [])
                                                         if c not in (col, "rank")]]
    v = values.to_numpy(dtype=float)
    breaks, colors = quantile_classes(v)
    fill = {b: (colors[int(np.searchsorted(breaks, x, side="right"))] if math.isfinite(x) else CLOSED_COLOR)
            for b, x in zip(bases["base_id"], v, strict=True)}

    crs = folder.grid_crs
    m = new_map(folder, basemap=basemap, carto_api_key=carto_api_key, padding_left=260)
    entries: list[LegendEntry] = []
    add_surface(m, "gap", name=GAP_LAYER_NAME, path=None if tiles else folder.surface("gap"), tiles=tiles,
                bounds_lonlat=folder.summary.get("grid", {}).get("bounds_lonlat"))
    entries.append(LegendEntry(GAP_LAYER_NAME, symbol_swatch(STYLES["gap"].colors[3]),
                               "served tiles" if tiles else f"{cell_km(folder):g} km cells"))
    admin = folder.layer("admin_summary", required=False)
    if admin is not None and len(admin):
        _, outl = add_admin_layers(m, admin, metric_crs=crs, choropleth=False)
        entries.append(LegendEntry(outl.layer_name, symbol_outline(ADMIN_EDGE, 1)))
    zones = folder.layer("zones", required=False)
    if zones is not None:
        z = add_zones(m, zones, metric_crs=crs)
        entries.append(LegendEntry(z.layer_name, symbol_outline(ZONE_COLOR, 2, fill="rgba(63,0,125,0.1)")))
    order = bases.assign(_v=values).sort_values("_v", ascending=False, na_position="last").drop(columns="_v")
    g = add_bases(m, order.iloc[::-1], name=f"Bases by {name.lower()} ({len(bases)})", fill=fill, edge=BASE_EDGE,
                  fill_opacity=0.95)  # most critical drawn last, on top
    entries.append(LegendEntry(g.layer_name, symbol_circle(CRITICALITY_COLORS[-1], BASE_EDGE),
                               f"colour: {name}; circle area ~ strength"))

    def show(v: float) -> str:
        return fmt_number(v, 0) if column_digits(col) == 0 else fmt_value(v)

    rows = "".join(
        f'<tr><td class="num">{int(r):d}</td><td>{html.escape(str(n))}</td><td class="num">{show(v)}</td></tr>'
        for r, n, v in zip(order["rank"].head(top), order["name"].fillna(order["base_id"]).head(top),
                           pd.to_numeric(order[col], errors="coerce").head(top), strict=True)
        if math.isfinite(float(r)))
    InfoPanel(f"<b>Bases whose closure opens the most vacuum</b><table><tr><th>#</th><th>base</th>"
              f"<th>{html.escape(name)}</th></tr>{rows}</table>", position="bottomleft").add_to(m)
    Legend([_classes_section(long_name, v, breaks, colors, whole=column_digits(col) == 0), surface_section(STYLES["gap"])], entries,
           footer=downloads_footer(tiles)).add_to(m)
    TitleBox(title_for(folder, "Base criticality"), f"colour: {name}",
             how_to_read=HOW_TO_READ["criticality"]).add_to(m)
    add_standard_controls(m)
    return m
