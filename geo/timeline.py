"""Time-aware scenarios: each phase scored at its own date, and against the phase before.

A plan's phases are dated. The gap of a phase is ``need100(date) * exp(-I(phase))``: the
coverage intensity ``I`` after the phase's steps (the what-if engine) and the need
(forecast risk with exposure, :func:`geo.score.gap_score` at zero coverage) as known at the
phase's date:

* **refit**: with an event history that reaches the phase's date (``vacuum scenario
  --history EVENTS``: a plan that lies in the past, as in a backtest of a real drawdown),
  the forecast is fitted again at that date on the events known by then
  (:func:`geo.risk.forecast_risk`), with the analysis' own grid, area and parameters;
* **as_of**: otherwise the analysis' own forecast, made at its as-of date; the phase says how
  many months lie between the two and that no later data was used. The forecast is the
  probability of an event in the ``forecast_horizon_months`` after the as-of date, so a
  phase beyond that horizon is flagged.

:func:`versus_previous` measures a phase against the previous one (new zones, people
losing cover), as the scenario already measures it against the baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import LayerError
from .params import Params
from .score import gap_score

__all__ = ["PhaseNeed", "phase_need", "months_between", "phase_surfaces", "versus_previous"]


@dataclass
class PhaseNeed:
    """The need surface a phase is scored with, and where its forecast comes from."""

    date: date
    method: str  # "refit" or "as_of"
    need100: np.ndarray  # flat: the gap with no coverage at all
    risk_mean: float
    months_after_as_of: int
    note: str

    def describe(self) -> dict:
        return {"date": self.date.isoformat(), "method": self.method, "risk_mean": round(self.risk_mean, 4),
                "months_after_as_of": self.months_after_as_of, "note": self.note}


def months_between(a: date, b: date) -> int:
    """Whole calendar months from ``a`` to ``b`` (negative if ``b`` is earlier)."""
    return (b.year - a.year) * 12 + (b.month - a.month) - (1 if b.day < a.day else 0)


def phase_surfaces(need100: np.ndarray, intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(gap, coverage)`` of a phase from its need and coverage intensity (flat arrays)."""
    i = np.maximum(np.asarray(intensity, dtype=np.float64), 0.0)
    return np.asarray(need100, dtype=np.float64) * np.exp(-i), -np.expm1(-i)


def phase_need(
    dates: list[date],
    *,
    as_of: date,
    risk: np.ndarray,
    exposure: np.ndarray,
    params: Params,
    history: gpd.GeoDataFrame | None = None,
    need100: np.ndarray | None = None,
    refit: Callable[[gpd.GeoDataFrame, date], tuple[np.ndarray | None, str]] | None = None,
) -> list[PhaseNeed]:
    """The need of each phase date. ``risk`` and ``exposure`` are the analysis' (flat,
    NaN outside the area). With ``history`` (dated events) reaching a phase's date and a
    ``refit(events_known, day) -> (risk or None, why)`` (flat), that phase's risk is refitted
    on the events on or before its date; otherwise (or when ``refit`` gives None: too little
    history to fit) the analysis' risk is used and the phase says so. ``need100``: the
    analysis' own need (computed from ``risk`` and ``exposure`` when not given)."""
    risk = np.asarray(risk, dtype=np.float64)
    inside = np.isfinite(risk)
    horizon = int(params.forecast_horizon_months)
    last = None
    if history is not None and len(history):
        if "date" not in history:
            raise LayerError("history: events need a 'date' column; pass an events layer read by geo.layers.load_events")
        last = pd.to_datetime(history["date"]).max().date()
    base_need = (np.asarray(need100, dtype=np.float64) if need100 is not None else
                 gap_score(risk, exposure, np.zeros_like(risk), params.threat_weight, params.exposure_weight))
    out: list[PhaseNeed] = []
    risk_mean: float | None = None
    for d in dates:
        months = months_between(as_of, d)
        why = ""
        if history is not None and last is not None and refit is not None and as_of < d <= last:
            known = history[pd.to_datetime(history["date"]).dt.date <= d]
            fitted, why = refit(known, d)
            if fitted is not None:
                r = np.where(inside, np.asarray(fitted, dtype=np.float64), np.nan)
                need = gap_score(r, exposure, np.zeros_like(r), params.threat_weight, params.exposure_weight)
                out.append(PhaseNeed(d, "refit", need, float(np.nanmean(r)), months,
                                     f"forecast fitted again at {d} on the {len(known):,} events known by then"))
                continue
        if why:
            note = f"the forecast could not be fitted again at {d} ({why}): the forecast of {as_of}, {months} month(s) earlier"
        elif d <= as_of:
            note = f"the phase is dated on or before the as-of date {as_of}: the analysis' forecast"
        elif last is not None and d > last:
            note = (f"the event history ends {last}, before the phase: the forecast of {as_of}, "
                    f"{months} month(s) earlier")
        else:
            note = f"no event history after {as_of}: the forecast of {as_of}, {months} month(s) earlier"
        if months > horizon:
            note += f"; the phase lies beyond that forecast's {horizon}-month horizon"
        if risk_mean is None:
            risk_mean = float(np.nanmean(risk))  # the analysis' risk: the same for every as-of phase
        out.append(PhaseNeed(d, "as_of", base_need, risk_mean, months, note))
    return out


def versus_previous(prev_gap: np.ndarray, prev_cov: np.ndarray, gap: np.ndarray, cov: np.ndarray,
                    population: np.ndarray, *, zone_threshold: float, cover_threshold: float,
                    cell_area_km2: float) -> dict[str, float]:
    """A phase against the one before it (flat arrays): cells that rose to the zone threshold
    since, cover lost and regained since, and the change of the mean gap."""
    ok = np.isfinite(gap) & np.isfinite(prev_gap)
    new = ok & (gap >= zone_threshold) & ~(prev_gap >= zone_threshold)
    gone = ok & ~(gap >= zone_threshold) & (prev_gap >= zone_threshold)
    lost = ok & (prev_cov >= cover_threshold) & (cov < cover_threshold)
    gained = ok & (prev_cov < cover_threshold) & (cov >= cover_threshold)
    pop = np.asarray(population, dtype=np.float64)
    return {
        "new_high_critical_km2": float(new.sum() * cell_area_km2),
        "people_into_high_critical": float(pop[new].sum()),
        "left_high_critical_km2": float(gone.sum() * cell_area_km2),
        "population_losing_cover": float(pop[lost].sum()),
        "population_regaining_cover": float(pop[gained].sum()),
        "area_losing_cover_km2": float(lost.sum() * cell_area_km2),
        "mean_gap_change": float(np.nanmean(gap[ok]) - np.nanmean(prev_gap[ok])) if ok.any() else float("nan"),
    }
