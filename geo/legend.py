"""How each surface is shown: value range, classes and colours, in one place.

Tiles (``api``) and maps (``maps``) both colour from here, so a legend always
matches the tiles. Pure data and one lookup function; no drawing code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UnknownIdError

__all__ = ["SurfaceStyle", "STYLES", "style_for", "colorize", "class_ranges"]


@dataclass(frozen=True)
class SurfaceStyle:
    name: str
    title: str
    unit: str
    breaks: tuple[float, ...]  # class edges between len(colors) classes
    colors: tuple[str, ...]  # hex, one per class, low to high
    labels: tuple[str, ...]
    vmin: float
    vmax: float

    def rgba_table(self, alpha: int = 200) -> np.ndarray:
        """(n_classes, 4) uint8 colours."""
        out = np.zeros((len(self.colors), 4), dtype=np.uint8)
        for i, h in enumerate(self.colors):
            out[i, :3] = [int(h[k:k + 2], 16) for k in (1, 3, 5)]
            out[i, 3] = alpha
        return out


GAP_COLORS = ("#1a9850", "#a6d96a", "#fee08b", "#f46d43", "#a50026")

STYLES: dict[str, SurfaceStyle] = {
    "gap": SurfaceStyle("gap", "Coverage gap", "score 0-100", (10, 20, 35, 50), GAP_COLORS,
                        ("low", "moderate", "elevated", "high", "critical"), 0, 100),
    "risk": SurfaceStyle("risk", "Forecast risk", "probability of an event within the horizon",
                         (0.01, 0.05, 0.15, 0.35), ("#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"),
                         ("< 1 %", "1–5 %", "5–15 %", "15–35 %", "≥ 35 %"), 0, 1),
    "coverage": SurfaceStyle("coverage", "Protective coverage", "0-1", (0.2, 0.4, 0.6, 0.8),
                             ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"),
                             ("< 0.2", "0.2–0.4", "0.4–0.6", "0.6–0.8", "≥ 0.8"), 0, 1),
    "threat": SurfaceStyle("threat", "Threat", "0-1", (0.2, 0.4, 0.6, 0.8),
                           ("#fff5eb", "#fdbe85", "#fd8d3c", "#d94701", "#7f2704"),
                           ("< 0.2", "0.2–0.4", "0.4–0.6", "0.6–0.8", "≥ 0.8"), 0, 1),
    "exposure": SurfaceStyle("exposure", "Exposure", "0-1", (0.4, 0.55, 0.7, 0.85),
                             ("#fcfbfd", "#dadaeb", "#9e9ac8", "#6a51a3", "#3f007d"),
                             ("< 0.40", "0.40–0.55", "0.55–0.70", "0.70–0.85", "≥ 0.85"), 0, 1),
    "travel_time": SurfaceStyle("travel_time", "Travel time to nearest base", "hours", (1, 2, 4, 6, 12),
                                ("#006837", "#31a354", "#78c679", "#fdae61", "#d7191c", "#67001f"),
                                ("< 1 h", "1–2 h", "2–4 h", "4–6 h", "6–12 h", "≥ 12 h"), 0, 24),
    "population": SurfaceStyle("population", "Population", "people per km²", (1, 10, 50, 250),
                               ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837"),
                               ("< 1", "1–10", "10–50", "50–250", "≥ 250"), 0, 1000),
    "gap_delta": SurfaceStyle("gap_delta", "Change in gap", "score points", (-10, -1, 1, 10, 30),
                              ("#2166ac", "#92c5de", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"),
                              ("< -10", "-10 to -1", "no change", "1–10", "10–30", "≥ 30"), -100, 100),
    "coverage_delta": SurfaceStyle("coverage_delta", "Change in coverage", "0-1", (-0.3, -0.1, -0.01, 0.01),
                                   ("#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#67a9cf"),
                                   ("< -0.30", "-0.30 to -0.10", "-0.10 to -0.01", "no change", "gain"), -1, 1),
    # the viewers' gap: the same classes, block means (geo.public)
    "gap_public": SurfaceStyle("gap_public", "Coverage gap (150 km blocks)", "score 0-100", (10, 20, 35, 50), GAP_COLORS,
                               ("low", "moderate", "elevated", "high", "critical"), 0, 100),
}


def _decimals(values: tuple[float, ...]) -> int:
    """Decimals that show every value exactly (at most 4): 0.4 and 0.55 need 2."""
    for d in range(5):
        if all(abs(round(v, d) - v) < 1e-9 for v in values):
            return d
    return 4


def class_ranges(style: SurfaceStyle) -> tuple[str, ...]:
    """The value range of each class, one precision for the whole legend: "< 10",
    "10–20", ..., "≥ 50" ("-10 to -1" where a range crosses or lies below zero)."""
    d = _decimals(style.breaks)
    b = [f"{x:.{d}f}" for x in style.breaks]
    out = [f"< {b[0]}"]
    for (lo, hi), (x, y) in zip(zip(b[:-1], b[1:], strict=True),
                                zip(style.breaks[:-1], style.breaks[1:], strict=True), strict=True):
        out.append(f"{lo} to {hi}" if min(x, y) < 0 else f"{lo}–{hi}")
    out.append(f"≥ {b[-1]}")
    return tuple(out)


def style_for(surface: str) -> SurfaceStyle:
    try:
        return STYLES[surface]
    except KeyError:
        raise UnknownIdError(f"no style for surface {surface!r}; known: {', '.join(STYLES)}") from None


def colorize(values: np.ndarray, style: SurfaceStyle, alpha: int = 200) -> np.ndarray:
    """RGBA uint8 image (..., 4) of class colours; NaN is fully transparent."""
    v = np.asarray(values, dtype=np.float64)
    cls = np.searchsorted(np.asarray(style.breaks, dtype=np.float64), np.nan_to_num(v, nan=0.0), side="right")
    out = style.rgba_table(alpha)[cls]
    out[np.isnan(v)] = 0
    return out
