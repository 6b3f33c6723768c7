"""Alert rules over a monitor's time series: pure functions on tables, tested by hand.

A series table (:data:`SERIES_COLUMNS`, one row per admin unit and date, see
:mod:`geo.monitor`) and a zone-track table give alerts (:class:`Alert`) by four rules:

``crossing``     a unit's ``risk_mean`` or ``gap_max`` enters a higher class (risk classes of
                 :data:`geo.legend.STYLES` ``["risk"]``, gap classes of ``Params.class_breaks``)
                 at or above ``min_class``; severity by the class entered.
``rise``         a unit's value, on a 0..100 scale (risk in percentage points), rises by at
                 least ``rise_points`` above, or to ``rise_factor`` times, its lowest value over
                 the earlier dates within ``rise_months``; only the onset (the date the rule
                 starts to hold) alerts.
``new_zone``     a vacuum zone that overlaps no zone of the previous date (zone tracks,
                 :func:`geo.monitor.track_zones`), with at least ``new_zone_min_people`` people.
``uncovered``    at least ``uncovered_people`` people of a unit lose cover (coverage falls
                 below ``cover_threshold``) since the previous date.

Each alert names the unit, the date, the rule, the values before and after and the
events behind it (the ids of the events in the unit's look-back window on that date).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import ConfigError
from .legend import STYLES

__all__ = ["AlertRules", "Alert", "SEVERITIES", "alert_rules", "class_crossings", "rise_onsets", "unit_alerts",
           "zone_alerts", "all_alerts", "alerts_table", "RISE_METRICS"]

SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
RISE_METRICS: dict[str, float] = {"risk_mean": 100.0, "gap_max": 1.0}
"""The metrics the crossing and rise rules watch, with the factor that puts each on 0..100."""


@dataclass(frozen=True)
class AlertRules:
    """The alert rules of a monitor (TOML ``[alerts]`` table, ``--alert-*`` flags)."""

    min_class: int = 2  # a crossing alerts when it enters this class or higher (0..4; 2: "elevated", 5-15 %)
    rise_points: float = 10.0  # on 0..100 (risk: percentage points; gap: score points)
    rise_factor: float = 2.0  # times the lowest value within rise_months (from at least 1 point)
    rise_months: int = 3
    new_zone: bool = True
    new_zone_min_people: float = 0.0
    uncovered_people: float = 1000.0
    cover_threshold: float = 0.2  # coverage below this is "uncovered" (the lowest coverage class)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def alert_rules(table: Mapping[str, Any] | None = None, **overrides: Any) -> AlertRules:
    """Rules from a TOML ``[alerts]`` table and overrides (None values ignored); unknown keys
    and values out of range raise :class:`ConfigError` naming the key and the fix."""
    values = {**(table or {}), **{k: v for k, v in overrides.items() if v is not None}}
    known = {f.name for f in fields(AlertRules)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"[alerts] unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
    rules = AlertRules(**values)
    checks = [("min_class", 0 <= rules.min_class <= 4, "a gap/risk class 0..4"),
              ("rise_points", rules.rise_points > 0, "points > 0"), ("rise_factor", rules.rise_factor > 1, "a factor > 1"),
              ("rise_months", isinstance(rules.rise_months, int) and rules.rise_months >= 1, "whole months >= 1"),
              ("new_zone_min_people", rules.new_zone_min_people >= 0, "people >= 0"),
              ("uncovered_people", rules.uncovered_people > 0, "people > 0"),
              ("cover_threshold", 0 < rules.cover_threshold < 1, "a coverage in (0, 1)")]
    for name, ok, want in checks:
        if not ok:
            raise ConfigError(f"[alerts] {name} = {getattr(rules, name)!r}: give {want} (--alert-{name.replace('_', '-')})")
    return rules


@dataclass(frozen=True)
class Alert:
    """One alert: where (a unit, and the zone track for ``new_zone``), when, which rule, the
    values before (at ``before_date``) and after, and the events behind it."""

    date: str
    rule: Literal["crossing", "rise", "new_zone", "uncovered"]
    severity: Literal["low", "medium", "high"]
    unit_id: str
    unit_name: str
    metric: str
    before: float | None
    after: float
    before_date: str | None
    message: str
    event_ids: tuple[str, ...] = ()
    zone: str | None = None  # the zone track id (new_zone)
    alert_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.alert_id:
            subject = self.zone or self.unit_id
            object.__setattr__(self, "alert_id", f"{self.date}/{self.rule}/{self.metric}/{subject}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["event_ids"] = list(self.event_ids)
        return d


def class_crossings(values: Sequence[float], breaks: Sequence[float], min_class: int) -> list[tuple[int, int, int]]:
    """(position, class before, class after) of each step up into a class >= ``min_class``.

    Class of v: the number of breaks <= v. A NaN value breaks the chain (no crossing into or
    out of it)."""
    b = np.asarray(breaks, dtype=float)
    out = []
    prev: int | None = None
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            prev = None
            continue
        c = int(np.searchsorted(b, v, side="right"))
        if prev is not None and c > prev and c >= min_class:
            out.append((i, prev, c))
        prev = c
    return out


def rise_onsets(values: Sequence[float], dates: Sequence[date], *, points: float, factor: float,
                months: int) -> list[tuple[int, int]]:
    """(position, position of the reference) where the rise rule starts to hold: the value is
    at least ``points`` above, or ``factor`` times (from at least 1), the lowest value of the
    earlier dates within ``months`` (the reference). Values on a 0..100 scale."""
    holds: list[int | None] = []
    for i, (v, d) in enumerate(zip(values, dates, strict=True)):
        lo = pd.Timestamp(d) - pd.DateOffset(months=months)
        earlier = [j for j in range(i) if pd.Timestamp(dates[j]) >= lo and math.isfinite(values[j])]
        ref = min(earlier, key=lambda j: values[j]) if earlier else None
        ok = ref is not None and math.isfinite(v) and (
            v - values[ref] >= points or (values[ref] >= 1.0 and v >= factor * values[ref]))
        holds.append(ref if ok else None)
    return [(i, r) for i, r in enumerate(holds) if r is not None and (i == 0 or holds[i - 1] is None)]


def _severity_of_class(c: int) -> Literal["low", "medium", "high"]:
    return "high" if c >= 4 else "medium" if c >= 3 else "low"


def _ids(cell: Any) -> tuple[str, ...]:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell == "":
        return ()
    return tuple(str(cell).split(";"))


def unit_alerts(series: pd.DataFrame, rules: AlertRules, gap_breaks: Sequence[float]) -> list[Alert]:
    """The crossing, rise and uncovered alerts of every unit in ``series`` (columns of
    :data:`geo.monitor.SERIES_COLUMNS`; dates ISO strings)."""
    out: list[Alert] = []
    breaks = {"risk_mean": STYLES["risk"].breaks, "gap_max": tuple(gap_breaks)}
    labels = {"risk_mean": STYLES["risk"].labels, "gap_max": STYLES["gap"].labels}
    for uid, g in series.sort_values("date").groupby("unit_id", sort=True):
        dates = [date.fromisoformat(str(d)) for d in g["date"]]
        name = str(g["name"].iloc[0])
        ev = [_ids(x) for x in g["event_ids"]]
        for metric, scale in RISE_METRICS.items():
            v = g[metric].astype(float).to_numpy()
            for i, c0, c1 in class_crossings(v, breaks[metric], rules.min_class):
                out.append(Alert(dates[i].isoformat(), "crossing", _severity_of_class(c1), str(uid), name, metric,
                                 float(v[i - 1]), float(v[i]), dates[i - 1].isoformat(),
                                 f"{name}: {metric} entered class {labels[metric][c1]} (from {labels[metric][c0]})",
                                 ev[i]))
            scaled = [float(x) * scale for x in v]
            for i, r in rise_onsets(scaled, dates, points=rules.rise_points, factor=rules.rise_factor,
                                    months=rules.rise_months):
                out.append(Alert(dates[i].isoformat(), "rise", "medium", str(uid), name, metric, float(v[r]),
                                 float(v[i]), dates[r].isoformat(),
                                 f"{name}: {metric} rose from {v[r]:.3g} ({dates[r]}) to {v[i]:.3g}", ev[i]))
        lost = g["people_lost_cover"].astype(float).to_numpy()
        unc = g["people_uncovered"].astype(float).to_numpy()
        for i in range(1, len(g)):
            if math.isfinite(lost[i]) and lost[i] >= rules.uncovered_people:
                sev: Literal["low", "medium", "high"] = "high" if lost[i] >= 10 * rules.uncovered_people else "medium"
                out.append(Alert(dates[i].isoformat(), "uncovered", sev, str(uid), name, "people_uncovered",
                                 float(unc[i - 1]), float(unc[i]), dates[i - 1].isoformat(),
                                 f"{name}: {lost[i]:,.0f} people lost cover since {dates[i - 1]}", ev[i]))
    return out


def zone_alerts(zones: pd.DataFrame, rules: AlertRules) -> list[Alert]:
    """``new_zone`` alerts: the first date of each zone track after the monitor's first date.
    ``zones``: columns ``date``, ``track``, ``population``, ``area_km2``, ``unit_id``,
    ``unit_name``, ``event_ids``."""
    if not rules.new_zone or len(zones) == 0:
        return []
    first_date = min(zones["date"].astype(str))
    out = []
    for track, g in zones.sort_values("date").groupby("track", sort=True):
        row = g.iloc[0]
        if str(row["date"]) == first_date or float(row["population"]) < rules.new_zone_min_people:
            continue
        out.append(Alert(str(row["date"]), "new_zone", "medium", str(row["unit_id"]), str(row["unit_name"]),
                         "population", None, float(row["population"]), None,
                         f"new vacuum zone {track} in {row['unit_name']}: {float(row['area_km2']):,.0f} km², "
                         f"{float(row['population']):,.0f} people", _ids(row.get("event_ids")), zone=str(track)))
    return out


def all_alerts(series: pd.DataFrame, zones: pd.DataFrame, rules: AlertRules, gap_breaks: Sequence[float]) -> list[Alert]:
    """Every alert of a monitor, by date, then rule, then unit."""
    got = unit_alerts(series, rules, gap_breaks) + zone_alerts(zones, rules)
    return sorted(got, key=lambda a: (a.date, a.rule, a.unit_id, a.metric, a.zone or ""))


def alerts_table(alerts: Sequence[Alert]) -> pd.DataFrame:
    """The alerts as a flat table (``alerts.csv``): event ids joined by ``;``."""
    cols = [f.name for f in fields(Alert)]
    rows = [{**a.as_dict(), "event_ids": ";".join(a.event_ids)} for a in alerts]
    return pd.DataFrame(rows, columns=cols)
