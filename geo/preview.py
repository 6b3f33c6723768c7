"""Quick what-if previews of a withdrawal plan, in memory, for the plan editor.

A :class:`PlanPreviewer` holds one stored analysis (a :class:`geo.scenario.Baseline`)
with what every preview reuses: the baseline gap and coverage, the admin units as cell
labels, the sites' cells. :meth:`PlanPreviewer.preview` then runs the plan's phases
cumulatively on the what-if engine (the stored per-base coverage terms: weights change,
terms stay; no analysis is re-run) and returns one :class:`PhasePreview` per phase: its
numbers, new vacuum zones as polygons, sites losing cover, the admin units' change, each
against the baseline and against the previous phase. A full scenario job
(:func:`geo.scenario_products.run_scenario`) writes the complete products.

:func:`gap_overlay` draws a phase's gap as one PNG in Web Mercator with its lon/lat bounds
(a Leaflet image overlay), in the legend's classes, through a pixel-to-cell index computed
once per analysis (:func:`overlay_index`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from rasterio import features
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject, transform_bounds
from shapely.geometry import shape

from .benchmarks import BenchmarkContext, results_table
from .decision import vacuum_measure
from .legend import colorize, style_for
from .national import NationalForce
from .plan import ResolvedPhase
from .scenario import Baseline, WhatIf
from .scenario_benchmarks import BenchmarkScopes, load_zones, phase_benchmarks
from .scenario_products import evaluate_phase
from .zones import label_zones

__all__ = ["PhasePreview", "PlanPreviewer", "gap_overlay", "overlay_index", "NUMBER_FIELDS"]

NUMBER_FIELDS = ("vacuum_measure", "mean_gap", "new_high_critical_km2", "people_into_high_critical",
                 "population_losing_cover", "area_losing_cover_km2", "population_high_critical_after")
"""The numbers of a phase that are also given as a change against the previous phase."""


@dataclass
class PhasePreview:
    """One phase of a previewed plan (cumulative: phase k includes phases 1..k)."""

    index: int
    name: str
    date: str
    steps: list[dict[str, Any]]
    numbers: dict[str, float]
    vs_previous: dict[str, float]  # numbers minus the previous phase's (phase 1: minus the baseline's)
    new_zones: gpd.GeoDataFrame  # EPSG:4326: zone_id, area_km2, population, max_gap, new_since_previous
    new_since_previous_km2: float
    lost_sites: list[dict[str, Any]]
    admin: pd.DataFrame  # admin_id, name, level, mean_gap_before/after/change, pop_high_or_critical_before/after
    status: str = "go"  # "hold" when a condition of the phase fails
    hold_reasons: list[str] = field(default_factory=list)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)  # geo.benchmarks.results_table rows
    gap: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]  # 2-D float32 on the grid
    new_mask: np.ndarray = field(default=None, repr=False)  # type: ignore[arg-type]  # flat bool: rose into high/critical


class PlanPreviewer:
    """One stored analysis held for previews; build once, preview many plans."""

    def __init__(self, baseline: Baseline, cover_threshold: float = 0.5):
        b = self.baseline = baseline
        self.cover_threshold = float(cover_threshold)
        self.base_gap = b.baseline_gap()
        self.base_cov = -np.expm1(-np.maximum(b.model.intensity.ravel(), 0.0))
        self.high = float(b.params.class_breaks[2])
        self.base_numbers = {
            "vacuum_measure": vacuum_measure(self.base_gap, b.exposure),
            "mean_gap": float(np.nanmean(self.base_gap)),
            "new_high_critical_km2": 0.0, "people_into_high_critical": 0.0,
            "population_losing_cover": 0.0, "area_losing_cover_km2": 0.0,
            "population_high_critical_after": float(b.population[np.isfinite(self.base_gap)
                                                                 & (self.base_gap >= self.high)].sum()),
        }
        self._admin = self._admin_labels()
        self._admin_before = self._admin_stats(self.base_gap) if self._admin is not None else None
        self._site_cells = self._sites()
        self.zones = load_zones(b)  # the analysis' zones, for conditions on a zone
        self._ctx = BenchmarkContext(self.base_gap, self.base_cov, b.risk, b.population, b.grid.cell_area_km2,
                                     self.high, b.params.zone_threshold, self.cover_threshold)
        self._overlay: tuple[np.ndarray, tuple[int, int], list[list[float]]] | None = None

    def overlay(self, gap: np.ndarray) -> tuple[bytes, list[list[float]]]:
        """The PNG overlay of ``gap`` (:func:`gap_overlay`), the warp computed on first use."""
        if self._overlay is None:
            self._overlay = overlay_index(self.baseline)
        return gap_overlay(gap, self._overlay)

    # ------------------------------------------------------------------ set-up
    def _admin_labels(self) -> list[tuple[pd.DataFrame, np.ndarray, np.ndarray]] | None:
        """Per admin level: its rows, the flat indices of the area's cells in a unit, and each
        such cell's unit (row position in the level)."""
        b = self.baseline
        if b.admin is None or not len(b.admin):
            return None
        out = []
        levels = b.admin["level"] if "level" in b.admin else pd.Series(0, index=b.admin.index)
        for lev in sorted(pd.unique(levels)):
            rows = b.admin[levels == lev].reset_index(drop=True)
            lab = features.rasterize(((g, i) for i, g in enumerate(rows.geometry)), out_shape=b.grid.shape,
                                     transform=b.grid.transform, fill=-1, dtype="int32").ravel()
            cells = np.flatnonzero((lab >= 0) & np.isfinite(self.base_gap))
            out.append((rows, cells, lab[cells]))
        return out

    def _admin_stats(self, gap: np.ndarray) -> pd.DataFrame:
        """Mean gap and people in high/critical cells per admin unit, by bincount over the labels."""
        b = self.baseline
        frames = []
        assert self._admin is not None
        for rows, idx, lab in self._admin:
            g = gap[idx]
            n = len(rows)
            cells = np.bincount(lab, minlength=n)
            total = np.bincount(lab, weights=g, minlength=n)
            hc = np.bincount(lab, weights=b.population[idx] * (g >= self.high), minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(cells > 0, total / np.maximum(cells, 1), np.nan)
            frames.append(pd.DataFrame({
                "admin_id": rows["admin_id"].astype(str), "name": rows["name"].astype(str),
                "level": rows["level"] if "level" in rows else 0, "mean_gap": mean, "pop_high_or_critical": hc}))
        return pd.concat(frames, ignore_index=True)

    def _sites(self) -> tuple[gpd.GeoDataFrame, np.ndarray] | None:
        b = self.baseline
        if b.sites is None or not len(b.sites):
            return None
        r, c, ok = b.grid.rowcol(b.sites.geometry.x.to_numpy(), b.sites.geometry.y.to_numpy())
        sites = b.sites[ok].reset_index(drop=True)
        return sites, (r[ok] * b.grid.width + c[ok]).astype(np.int64)

    # ------------------------------------------------------------------ preview
    def preview(self, phases: list[ResolvedPhase], forces: list[NationalForce] | None = None) -> list[PhasePreview]:
        """Every phase of ``phases`` (resolved against this analysis, with the plan's national
        ``forces``), cumulatively; a phase's conditions measured before and after its steps."""
        b = self.baseline
        w = WhatIf(b)
        scopes = BenchmarkScopes(b, self.zones, forces) if any(ph.conditions for ph in phases) else None
        out: list[PhasePreview] = []
        prev_numbers, prev_new = self.base_numbers, np.zeros(b.grid.size, dtype=bool)
        prev_state = None
        for k, ph in enumerate(phases, start=1):
            before = ((prev_state.gap, prev_state.coverage) if prev_state is not None
                      else (b.baseline_gap_flat, b.baseline_coverage_flat))
            res = evaluate_phase(w, ph, self.base_gap, self.base_cov, self.cover_threshold)
            pb = (phase_benchmarks(k, ph, scopes, self._ctx, before, (res.state.gap, res.state.coverage))
                  if scopes is not None and ph.conditions else None)
            prev_state = res.state
            numbers = {key: float(res.numbers[key]) for key in NUMBER_FIELDS}
            vs_prev = {key: numbers[key] - prev_numbers[key] for key in NUMBER_FIELDS}
            since = res.new_zone_mask & ~prev_new
            out.append(PhasePreview(
                index=k, name=ph.name, date=ph.date.isoformat(),
                steps=[{"kind": s.kind, "base_id": s.base_id, "strength": s.strength, "readiness": s.readiness}
                       for s in ph.steps],
                numbers=numbers, vs_previous=vs_prev,
                new_zones=self._zones(res.new_zone_mask, since, res.state.gap),
                new_since_previous_km2=float(since.sum() * self.baseline.grid.cell_area_km2),
                lost_sites=self._lost_sites(res.lost_cover, res.state.coverage),
                admin=self._admin_change(res.state.gap),
                status=pb.status if pb else "go", hold_reasons=list(pb.reasons) if pb else [],
                benchmarks=results_table(pb.results) if pb else [],
                gap=res.state.gap.reshape(self.baseline.grid.shape).astype(np.float32),
                new_mask=res.new_zone_mask.copy(),
            ))
            prev_numbers, prev_new = numbers, res.new_zone_mask.copy()
        return out

    def _zones(self, new: np.ndarray, since: np.ndarray, gap: np.ndarray) -> gpd.GeoDataFrame:
        """The 8-connected patches of cells that rose into high/critical, as polygons in EPSG:4326."""
        b = self.baseline
        cols = ["zone_id", "area_km2", "population", "max_gap", "new_since_previous_km2"]
        labels, n = label_zones(new.reshape(b.grid.shape))
        if n == 0:
            return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs="EPSG:4326")
        flat = labels.ravel()
        idx = flat[flat > 0]
        cells = np.bincount(idx, minlength=n + 1)
        people = np.bincount(idx, weights=b.population[flat > 0], minlength=n + 1)
        top = np.full(n + 1, -np.inf)
        np.maximum.at(top, idx, gap[flat > 0])
        fresh = np.bincount(flat[since], minlength=n + 1)
        geoms: dict[int, list[Any]] = {}
        rr, cc = np.nonzero(labels)  # polygonise only the window that holds the zones
        r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
        win = labels[r0:r1, c0:c1]
        transform = b.grid.transform @ Affine.translation(c0, r0)
        for geom, value in features.shapes(win, mask=win > 0, transform=transform, connectivity=8):
            geoms.setdefault(int(value), []).append(shape(geom))
        ids = sorted(geoms)
        polys = [gpd.GeoSeries(geoms[i]).union_all() for i in ids]
        area = b.grid.cell_area_km2
        zones = gpd.GeoDataFrame({
            "zone_id": ids, "area_km2": [float(cells[i] * area) for i in ids],
            "population": [float(people[i]) for i in ids], "max_gap": [float(top[i]) for i in ids],
            "new_since_previous_km2": [float(fresh[i] * area) for i in ids],
        }, geometry=polys, crs=b.grid.crs)
        return zones.to_crs("EPSG:4326")

    def _lost_sites(self, lost: np.ndarray, coverage: np.ndarray) -> list[dict[str, Any]]:
        if self._site_cells is None:
            return []
        sites, cells = self._site_cells
        hit = lost[cells]
        rows = sites[hit].to_crs("EPSG:4326")
        keep = [c for c in ("site_id", "name", "kind", "type", "population") if c in rows.columns]
        out = []
        for (_, r), cell in zip(rows.iterrows(), cells[hit], strict=True):
            rec = {c: (None if pd.isna(r[c]) else (r[c].item() if hasattr(r[c], "item") else r[c])) for c in keep}
            rec.update(lon=float(r.geometry.x), lat=float(r.geometry.y),
                       coverage_before=float(self.base_cov[cell]), coverage_after=float(coverage[cell]))
            out.append(rec)
        return out

    def _admin_change(self, gap: np.ndarray) -> pd.DataFrame:
        if self._admin_before is None:
            return pd.DataFrame(columns=["admin_id", "name", "level"])
        after = self._admin_stats(gap)
        tab = self._admin_before.merge(after[["admin_id", "level", "mean_gap", "pop_high_or_critical"]],
                                       on=["admin_id", "level"], suffixes=("_before", "_after"))
        tab["mean_gap_change"] = tab["mean_gap_after"] - tab["mean_gap_before"]
        tab["pop_high_or_critical_change"] = tab["pop_high_or_critical_after"] - tab["pop_high_or_critical_before"]
        return tab.sort_values("mean_gap_change", ascending=False, kind="stable").reset_index(drop=True)


def overlay_index(baseline: Baseline, max_px: int = 1200) -> tuple[np.ndarray, tuple[int, int], list[list[float]]]:
    """For a Web Mercator image of the analysis grid at most ``max_px`` wide or high (and no
    finer than the grid): each pixel's flat cell index (-1 outside the grid), the image
    ``(height, width)`` and its ``[[south, west], [north, east]]`` bounds. The same for every
    phase of an analysis, so it is computed once (nearest-neighbour warp of the cell indices)."""
    grid = baseline.grid
    left, bottom, right, top = grid.bounds
    merc = CRS.from_epsg(3857)
    w_, s_, e_, n_ = transform_bounds(grid.crs, merc, left, bottom, right, top, densify_pts=21)
    px = min(int(max_px), max(grid.width, grid.height))
    aspect = (e_ - w_) / max(n_ - s_, 1e-9)
    width = px if aspect >= 1 else max(1, int(math.ceil(px * aspect)))
    height = px if aspect < 1 else max(1, int(math.ceil(px / aspect)))
    cells = np.arange(grid.size, dtype=np.float64).reshape(grid.shape)
    dst = np.full((height, width), -1.0)
    reproject(cells, dst, src_transform=grid.transform, src_crs=grid.crs, src_nodata=-1.0,
              dst_transform=Affine((e_ - w_) / width, 0.0, w_, 0.0, -(n_ - s_) / height, n_), dst_crs=merc,
              dst_nodata=-1.0, resampling=Resampling.nearest)
    lon_w, lat_s, lon_e, lat_n = transform_bounds(merc, "EPSG:4326", w_, s_, e_, n_)
    return np.rint(dst).astype(np.int64).ravel(), (height, width), [[lat_s, lon_w], [lat_n, lon_e]]


def gap_overlay(gap: np.ndarray, index: tuple[np.ndarray, tuple[int, int], list[list[float]]]
                ) -> tuple[bytes, list[list[float]]]:
    """``(PNG bytes, [[south, west], [north, east]])``: ``gap`` (on the analysis grid) drawn
    through an :func:`overlay_index` in the gap legend's classes (NaN and outside transparent),
    for a Leaflet ``imageOverlay``."""
    from PIL import Image

    idx, shape_hw, bounds = index
    flat = np.asarray(gap, dtype=np.float32).ravel()
    values = np.where(idx >= 0, flat[np.clip(idx, 0, None)], np.nan).reshape(shape_hw)
    rgba = colorize(values, style_for("gap"))
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), bounds
