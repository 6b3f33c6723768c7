"""The briefing's figures, drawn offline with matplotlib (Agg): phase maps and the admin chart.

Maps are drawn in the analysis grid's own equal-area CRS (metres), from the project's COGs
and vectors only: the gap surface coloured by :mod:`geo.legend`, admin outlines, vacuum
zones and (unless public) the bases. No basemap, nothing fetched. Each map has its legend,
a scale bar and a north mark.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from geo.legend import SurfaceStyle, class_ranges, colorize  # noqa: E402

from ..style import BASE_COLOR, BASE_EDGE, CLOSED_COLOR, HANDOVER_COLOR, NEW_ZONE_COLOR, ZONE_COLOR  # noqa: E402

__all__ = ["MapLayers", "nice_scale_km", "display_step", "map_png", "admin_chart_png", "PHASE_COLORS",
           "outline_paths"]

PHASE_COLORS = ("#4d4d4d", "#fdb863", "#e66101", "#b2abd2", "#5e3c99", "#1b7837", "#a6611a")
"""Bar colours of the chart: the baseline first (grey), then one per phase."""
DPI = 110


def nice_scale_km(width_km: float, share: float = 0.25) -> float:
    """The longest 1, 2 or 5 x 10^k km no longer than ``share`` of the map width."""
    if not width_km > 0:
        raise ValueError(f"map width must be > 0 km, got {width_km}")
    target = width_km * share
    k = math.floor(math.log10(target))
    best = 10.0 ** k
    for m in (1, 2, 5, 10):
        if m * 10.0 ** k <= target * (1 + 1e-12):
            best = m * 10.0 ** k
    return best


def display_step(shape: tuple[int, int], max_side: int = 900) -> int:
    """Every how many cells a raster is sampled so its longer side has at most ``max_side`` pixels."""
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    return max(1, math.ceil(max(shape) / max_side))


@dataclass(frozen=True)
class MapLayers:
    """What one map shows; geometries in the grid CRS (metres)."""

    title: str
    surface: np.ndarray  # the gap (or public gap) on the grid
    extent: tuple[float, float, float, float]  # left, right, bottom, top (m)
    style: SurfaceStyle
    admin: gpd.GeoSeries | None = None
    zones: gpd.GeoSeries | None = None
    zones_label: str = "Vacuum zones"
    new_zones: gpd.GeoSeries | None = None
    open_bases: gpd.GeoSeries | None = None
    closed_bases: gpd.GeoSeries | None = None
    handed_bases: gpd.GeoSeries | None = None


def _png(fig, tight: bool = False) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return buf.getvalue()


def outline_paths(geoms: gpd.GeoSeries | None) -> list[np.ndarray]:
    """The rings of polygons (and the lines of lines) as (n, 2) coordinate arrays, for one
    LineCollection: far quicker than GeoSeries.plot, which redraws the figure each call."""
    if geoms is None:
        return []
    out: list[np.ndarray] = []
    for g in shapely.get_parts(np.asarray(geoms.dropna().to_numpy())):
        if g.is_empty:
            continue
        if g.geom_type == "Polygon":
            out += [np.asarray(g.exterior.coords)[:, :2]] + [np.asarray(r.coords)[:, :2] for r in g.interiors]
        elif g.geom_type in ("LineString", "LinearRing"):
            out.append(np.asarray(g.coords)[:, :2])
    return out


def _outline(ax, geoms, **style) -> None:
    paths = outline_paths(geoms)
    if paths:
        ax.add_collection(LineCollection(paths, **style))


def _scale_bar(ax, extent: tuple[float, float, float, float]) -> None:
    left, right, bottom, top = extent
    km = nice_scale_km((right - left) / 1000.0)
    x0, y0 = left + 0.04 * (right - left), bottom + 0.05 * (top - bottom)
    h = 0.012 * (top - bottom)
    for i in range(2):  # two halves, black and white
        ax.add_patch(Rectangle((x0 + i * km * 500.0, y0), km * 500.0, h, facecolor="k" if i == 0 else "w",
                               edgecolor="k", linewidth=0.8, zorder=10))
    ax.text(x0 + km * 500.0, y0 + 1.8 * h, f"{km:g} km", ha="center", va="bottom", fontsize=8, zorder=10)
    ax.annotate("N", xy=(right - 0.04 * (right - left), top - 0.05 * (top - bottom)),
                xytext=(right - 0.04 * (right - left), top - 0.15 * (top - bottom)),
                ha="center", va="center", fontsize=9, fontweight="bold", zorder=10,
                arrowprops={"arrowstyle": "-|>", "color": "k", "linewidth": 1.2})


def _legend(ax, layers: MapLayers) -> None:
    s = layers.style
    handles: list = [Patch(facecolor=c, edgecolor="#555", label=f"{lab} ({rng})" if lab != rng else lab)
                     for c, lab, rng in zip(s.colors, s.labels, class_ranges(s), strict=True)]
    if layers.admin is not None:
        handles.append(Line2D([], [], color="#4d4d4d", linewidth=0.8, label="Admin outlines"))
    if layers.zones is not None and len(layers.zones):
        handles.append(Patch(facecolor="none", edgecolor=ZONE_COLOR, linewidth=1.4, label=layers.zones_label))
    if layers.new_zones is not None and len(layers.new_zones):
        handles.append(Patch(facecolor="none", edgecolor=NEW_ZONE_COLOR, linewidth=1.6, linestyle="--",
                             label="New vacuum zones"))
    for geoms, color, marker, label in ((layers.open_bases, BASE_COLOR, "o", "Open bases"),
                                        (layers.closed_bases, CLOSED_COLOR, "X", "Closed bases"),
                                        (layers.handed_bases, HANDOVER_COLOR, "s", "Handed to national forces")):
        if geoms is not None and len(geoms):
            handles.append(Line2D([], [], linestyle="none", marker=marker, markerfacecolor=color,
                                  markeredgecolor=BASE_EDGE, markersize=6, label=label))
    ax.figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.70, 0.93), fontsize=7.5, frameon=False,
                     title=f"{s.title} ({s.unit})", title_fontsize=8, alignment="left")


def map_png(layers: MapLayers, *, max_side: int = 900) -> bytes:
    """One map as PNG bytes: the surface, outlines, zones, bases, legend, scale bar, north."""
    step = display_step(layers.surface.shape, max_side)
    rgba = colorize(layers.surface[::step, ::step], layers.style, alpha=230)
    left, right, bottom, top = layers.extent
    fig = plt.figure(figsize=(8.0, 4.9))
    # the map on the left at the area's aspect, the legend in the space to its right
    ax = fig.add_axes((0.01, 0.02, 0.68, 0.9))
    ax.set_facecolor("#f4f3ef")
    ax.imshow(rgba, extent=layers.extent, origin="upper", interpolation="nearest", zorder=1)
    _outline(ax, layers.admin, colors="#4d4d4d", linewidths=0.5, zorder=3)
    _outline(ax, layers.zones, colors=ZONE_COLOR, linewidths=1.5, zorder=4)
    _outline(ax, layers.new_zones, colors=NEW_ZONE_COLOR, linewidths=1.8, linestyles="--", zorder=5)
    for geoms, color, marker, size in ((layers.open_bases, BASE_COLOR, "o", 22),
                                       (layers.closed_bases, CLOSED_COLOR, "X", 34),
                                       (layers.handed_bases, HANDOVER_COLOR, "s", 24)):
        if geoms is not None and len(geoms):
            ax.scatter(geoms.x, geoms.y, s=size, c=color, marker=marker, edgecolors=BASE_EDGE, linewidths=0.6,
                       zorder=6)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal", anchor="W")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(layers.title, fontsize=10, loc="left")
    _scale_bar(ax, layers.extent)
    _legend(ax, layers)
    return _png(fig)


def admin_chart_png(names: Sequence[str], gap_by_phase: Mapping[str, Sequence[float]],
                    risk: Sequence[float] | None, *, gap_label: str = "population-weighted gap (0-100)") -> bytes:
    """Grouped bars of the gap per admin unit, one bar per phase, and the forecast risk beside them."""
    n = len(names)
    y = np.arange(n)
    k = max(1, len(gap_by_phase))
    height = 0.8 / k
    panels = 2 if risk is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(7.6, 0.9 + 0.3 * n * (1 + 0.15 * (k - 1))), sharey=True,
                             gridspec_kw={"width_ratios": [3, 1.3][:panels]}, squeeze=False)
    ax = axes[0][0]
    for i, (label, values) in enumerate(gap_by_phase.items()):
        ax.barh(y - 0.4 + height * (i + 0.5), np.nan_to_num(np.asarray(values, float)), height=height,
                color=PHASE_COLORS[i % len(PHASE_COLORS)], label=label)
    ax.set_yticks(y, list(names), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(gap_label, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=min(k, 4), fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    if risk is not None:
        ax2 = axes[0][1]
        ax2.barh(y, 100.0 * np.nan_to_num(np.asarray(risk, float)), height=0.6, color="#cb181d")
        ax2.set_xlabel("forecast risk, mean (%)", fontsize=8)
        ax2.tick_params(axis="x", labelsize=8)
        ax2.grid(axis="x", color="#ddd", linewidth=0.6)
        ax2.set_axisbelow(True)
    fig.tight_layout(rect=(0, 0.05 if n > 6 else 0.09, 1, 1))
    return _png(fig, tight=True)
