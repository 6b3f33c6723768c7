"""The withdrawal effect from history: how violence changes where peacekeepers leave.

A stacked difference-in-differences over consecutive Geo-PKO maps of one mission.

* **Episode**: a base present in map k and absent from map k+1 (no base of map k+1
  within ``match_km``, a *closure*), or still there with troops cut by at least
  ``reduction`` (default 50 %, both strengths reported, a *reduction*).
* **Units**: 10 km blocks (cells of a 10 km grid in an equal-area CRS centred on the
  mission's bases). Blocks, not the 1 km analysis cells: GED events are placed to a few
  km at best, and a 1 km panel would be almost all zeros.
* **Rings** around the episode's base: 0–15 km (*treated*: the block also has no other base
  of map k+1 within 15 km), 15–30 and 30–60 km (*spillover*, displaced violence). A block
  belongs to the nearest episode base of its map pair only; a block in the treated ring
  of one episode is in no spillover ring of that pair.
* **Controls**: blocks within ``area_km`` of a base of map k, more than 60 km from every
  base that closed, shrank or opened between the two maps, whose nearest base in map k
  stayed open (and was not cut) in map k+1. Each treated block is matched to its
  ``n_matches`` nearest control blocks (with replacement) on its pre-window event counts,
  split in halves (level and trend).
* **Windows**: ``window`` months (default 12) before the date of map k (the base is surely
  there) and ``window`` months from the date of map k+1 (it is surely gone); the months
  between the two maps are left out. Outcome: events per block per month.
* **Estimate** per ring: the regression of (post − pre) on treated with episode fixed
  effects, i.e. the average over episodes of (treated change − matched-control change),
  weighted by n_T·n_C/(n_T+n_C). 95 % interval by a seeded bootstrap over episodes
  (default) or by episode-clustered standard errors (statsmodels OLS).
* **Event study**: the same estimator on (quarter q − quarter −1) for the quarters −4..−2
  before map k and 0..3 after map k+1 (pre-trend check: the pre quarters should be ~0).
* **Placebo**: fake closure dates 12 months earlier (windows shifted back by ``window``);
  an estimate away from zero there means the treated blocks were on another path already.
  **Gains**: the same estimator around bases that *opened* between two maps (blocks with no
  map-k base within 15 km), a placebo on the direction: a protective effect shows as a fall
  there and a rise after closures.

The estimate is an association on real closures, with its interval and number of
episodes; :class:`EffectEstimate` says when it is weak. It is the only number a scenario
may turn into an expected change in violence, next to a stated prior
(:data:`LITERATURE_PRIOR`); the fitted association between coverage and violence never is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from .did import did_cluster_ols, did_interval, match_controls, stacked_did
from .errors import ConfigError, VacuumError
from .grid import equal_area_crs

__all__ = [
    "EffectError",
    "RINGS_KM",
    "RING_NAMES",
    "Episode",
    "RingEffect",
    "EffectEstimate",
    "EffectPrior",
    "LITERATURE_PRIOR",
    "find_episodes",
    "match_controls",
    "stacked_did",
    "did_interval",
    "did_cluster_ols",
    "estimate_from_panel",
    "estimate_effect",
    "load_effect",
    "expected_change",
    "PRIORS",
    "resolve_effect",
]

RINGS_KM: tuple[tuple[float, float], ...] = ((0.0, 15.0), (15.0, 30.0), (30.0, 60.0))
RING_NAMES: tuple[str, ...] = ("0-15km", "15-30km", "30-60km")
MIN_EPISODES = 10
"""Below this many episodes with treated and control blocks, an estimate is flagged weak."""


class EffectError(VacuumError, ValueError):
    """The effect cannot be estimated from the inputs as given (the message names the fix)."""


# ============================================================================ records


@dataclass(frozen=True)
class Episode:
    """One base that closed or shrank between two consecutive maps (x, y in the work CRS)."""

    episode_id: int
    base_id: str
    name: str
    kind: Literal["closure", "reduction", "opening"]
    x: float
    y: float
    strength_before: float
    strength_after: float
    map_before: date
    map_after: date


@dataclass(frozen=True)
class RingEffect:
    """The DiD estimate of one ring: change in events per block per month."""

    ring: str
    estimate: float
    ci_low: float
    ci_high: float
    n_episodes: int
    n_units: int
    n_controls: int
    treated_pre_mean: float  # events per block per month in the treated blocks' pre window
    cluster_se: float | None = None

    @property
    def relative(self) -> float | None:
        """Estimate over the treated pre-window mean (None when that mean is 0)."""
        return self.estimate / self.treated_pre_mean if self.treated_pre_mean > 0 else None


@dataclass
class EffectEstimate:
    """What ``vacuum effect`` estimates and a scenario reads (``effect.json``)."""

    mission: str
    unit: str
    unit_area_km2: float
    window_months: int
    ci_method: str
    rings: list[RingEffect]
    event_study: dict[str, list[dict[str, float]]]
    placebo: list[RingEffect]
    episodes: list[Episode]
    weak: bool
    weak_reasons: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    gains: list[RingEffect] = field(default_factory=list)
    """The same estimator around bases that *opened* (change after a gain of cover): a placebo
    on the direction. A causal protective effect shows as a fall here and a rise after
    closures; the same sign in both points to trends or selection."""
    n_gain_episodes: int = 0

    def ring(self, name: str) -> RingEffect:
        for r in self.rings:
            if r.ring == name:
                return r
        raise ConfigError(f"no ring {name!r} in the effect estimate; rings: {', '.join(r.ring for r in self.rings)}")

    @property
    def n_episodes(self) -> int:
        return len(self.episodes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for e in d["episodes"]:
            e["map_before"], e["map_after"] = str(e["map_before"]), str(e["map_after"])
        for r in (*d["rings"], *d["placebo"], *d["gains"]):
            r["relative"] = (r["estimate"] / r["treated_pre_mean"]) if r["treated_pre_mean"] > 0 else None
        d["kind"] = "vacuum.effect_estimate"
        d["n_episodes"] = self.n_episodes
        return _finite(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EffectEstimate:
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        def ring(r: dict[str, Any]) -> RingEffect:
            return RingEffect(ring=str(r["ring"]), estimate=num(r["estimate"]), ci_low=num(r["ci_low"]),
                              ci_high=num(r["ci_high"]), n_episodes=int(r["n_episodes"]), n_units=int(r["n_units"]),
                              n_controls=int(r["n_controls"]), treated_pre_mean=float(r["treated_pre_mean"]),
                              cluster_se=r.get("cluster_se"))

        eps = [Episode(**{**e, "map_before": date.fromisoformat(e["map_before"]),
                          "map_after": date.fromisoformat(e["map_after"])}) for e in d["episodes"]]
        return cls(mission=d["mission"], unit=d["unit"], unit_area_km2=float(d["unit_area_km2"]),
                   window_months=int(d["window_months"]), ci_method=d["ci_method"],
                   rings=[ring(r) for r in d["rings"]], event_study=d["event_study"],
                   placebo=[ring(r) for r in d["placebo"]], episodes=eps, weak=bool(d["weak"]),
                   weak_reasons=list(d["weak_reasons"]), params=dict(d.get("params", {})),
                   gains=[ring(r) for r in d.get("gains", [])], n_gain_episodes=int(d.get("n_gain_episodes", 0)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")


def _finite(x: Any) -> Any:
    """NaN and inf as None, recursively (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def load_effect(path: str | Path) -> EffectEstimate:
    """Read an ``effect.json`` written by ``vacuum effect``."""
    p = Path(path)
    if not p.is_file():
        raise EffectError(f"effect file {p} does not exist; write one with `vacuum effect --bases ... --events ... --out DIR`")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EffectError(f"effect file {p} is not valid JSON ({exc}); write it again with `vacuum effect`") from None
    if not isinstance(d, dict) or d.get("kind") != "vacuum.effect_estimate":
        raise EffectError(f"{p} is not an effect estimate written by `vacuum effect` (no kind 'vacuum.effect_estimate')")
    return EffectEstimate.from_dict(d)


@dataclass(frozen=True)
class EffectPrior:
    """A stated prior: relative change in events (low, central, high) per ring."""

    name: str
    relative: dict[str, tuple[float, float, float]]
    citation: str


LITERATURE_PRIOR = EffectPrior(
    name="literature",
    relative={"0-15km": (0.0, 0.4, 1.0), "15-30km": (-0.1, 0.15, 0.5), "30-60km": (-0.1, 0.05, 0.25)},
    citation=(
        "Judgement ranges anchored on the direction of Fjelde, Hultman & Nilsson (2019), "
        "International Organization 73(1): local UN troop presence reduces rebel violence against "
        "civilians; and Peitz & Reisch (2019), Zeitschrift fuer Friedens- und Konfliktforschung 8: "
        "presence reduces violence where troops are and can shift it to nearby areas. Not coefficients "
        "from either paper; see docs/scenarios.md."
    ),
)


# ========================================================================= pure core


def find_episodes(maps: Sequence[tuple[date, pd.DataFrame]], *, match_km: float = 5.0,
                  reduction: float = 0.5) -> tuple[list[Episode], list[dict[str, Any]]]:
    """Pure: closures and reductions between consecutive maps, and per map pair the
    positions of bases that changed (closed, cut or opened) and of map k+1's bases.

    ``maps``: (map date, frame with base_id, name, x, y (metres), strength,
    strength_source) in date order. A base of map k with no base of map k+1 within
    ``match_km`` closed; one whose nearest map-k+1 base has at most (1 − reduction) of its
    troops (both reported, before > 0) was cut. A base of map k+1 with no base of map k
    within ``match_km`` opened: those are in ``pair["openings"]`` (kind ``"opening"``,
    negative ids), for the placebo on the direction of gains.
    """
    episodes: list[Episode] = []
    pairs: list[dict[str, Any]] = []
    for (d0, a), (d1, b) in zip(maps[:-1], maps[1:], strict=True):
        ax, ay = a["x"].to_numpy(float), a["y"].to_numpy(float)
        bx, by = b["x"].to_numpy(float), b["y"].to_numpy(float)
        dist = np.hypot(ax[:, None] - bx[None, :], ay[:, None] - by[None, :]) / 1000.0
        near_b = dist.argmin(axis=1) if len(b) else np.full(len(a), -1)
        near_d = dist.min(axis=1) if len(b) else np.full(len(a), np.inf)
        opened = (dist.min(axis=0) > match_km) if len(a) else np.ones(len(b), bool)
        changed_a = np.zeros(len(a), bool)
        cut_b: list[int] = []
        ep_ids: list[int] = []
        for i in range(len(a)):
            row = a.iloc[i]
            if near_d[i] > match_km:
                kind: Literal["closure", "reduction", "opening"] = "closure"
                after = 0.0
            else:
                j = int(near_b[i])
                before, after = float(row["strength"]), float(b["strength"].iloc[j])
                both = row["strength_source"] == "reported" and b["strength_source"].iloc[j] == "reported"
                if not (both and before > 0 and after <= (1 - reduction) * before):
                    continue
                kind = "reduction"
                cut_b.append(j)
            changed_a[i] = True
            ep = Episode(len(episodes), str(row["base_id"]), str(row["name"]), kind, float(ax[i]), float(ay[i]),
                         float(row["strength"]), after, d0, d1)
            episodes.append(ep)
            ep_ids.append(ep.episode_id)
        stay = ~changed_a & (near_d <= match_km)
        openings = [Episode(-1 - int(j) - 1000 * len(pairs), str(b["base_id"].iloc[j]), str(b["name"].iloc[j]), "opening",
                            float(bx[j]), float(by[j]), 0.0, float(b["strength"].iloc[j]), d0, d1)
                    for j in np.flatnonzero(opened)]
        pairs.append({
            "map_before": d0, "map_after": d1, "episodes": ep_ids, "openings": openings,
            "changed_xy": np.column_stack([np.concatenate([ax[changed_a], bx[opened]]),
                                           np.concatenate([ay[changed_a], by[opened]])]),
            "before_xy": np.column_stack([ax, ay]), "before_stays": stay,
            "after_cover_xy": np.column_stack([np.delete(bx, cut_b), np.delete(by, cut_b)]),
        })
    return episodes, pairs


def _month(d: date | pd.Timestamp) -> int:
    return d.year * 12 + d.month - 1


def _window_mean(counts: np.ndarray, m0: int, start: int, n: int) -> np.ndarray:
    """Mean monthly count over months [start, start + n) (absolute month numbers)."""
    return counts[:, start - m0:start - m0 + n].mean(axis=1)


def estimate_from_panel(
    counts: np.ndarray,
    month0: int,
    unit_xy: np.ndarray,
    episodes: Sequence[Episode],
    pairs: Sequence[dict[str, Any]],
    *,
    window: int = 12,
    area_km: float = 100.0,
    n_matches: int = 1,
    ci: Literal["bootstrap", "cluster"] = "bootstrap",
    n_boot: int = 999,
    seed: int = 0,
    mission: str = "",
    unit_km: float = 10.0,
    params: dict[str, Any] | None = None,
) -> EffectEstimate:
    """The stacked DiD on a unit × month panel of event counts (see the module docstring).

    ``counts[u, m]``: events in unit u in month ``month0 + m`` (month numbers are
    ``year * 12 + month − 1``); ``unit_xy``: unit centres in metres; ``episodes`` and
    ``pairs`` from :func:`find_episodes`. Months the windows need must be in the panel.
    """
    ux, uy = unit_xy[:, 0], unit_xy[:, 1]
    by_id = {e.episode_id: e for e in episodes}
    q = window // 4 if window >= 4 else 1
    # design rows: (ring, episode, unit, treated) for the real dates and for the placebo
    rows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {n: [] for n in RING_NAMES}
    prows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {n: [] for n in RING_NAMES}
    grows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {n: [] for n in RING_NAMES}
    for pair in pairs:
        if pair["episodes"]:
            _stack_pair(counts, month0, ux, uy, pair, [by_id[i] for i in pair["episodes"]], pair["after_cover_xy"],
                        window=window, area_km=area_km, n_matches=n_matches, rows=rows, prows=prows)
        if pair.get("openings"):
            # gains: blocks with no map-k base within 15 km of a base that opened, windows as for closures
            _stack_pair(counts, month0, ux, uy, pair, pair["openings"], pair["before_xy"],
                        window=window, area_km=area_km, n_matches=n_matches, rows=grows, prows=None)
            by_id.update({e.episode_id: e for e in pair["openings"]})
    rings: list[RingEffect] = []
    placebo: list[RingEffect] = []
    study: dict[str, list[dict[str, float]]] = {}
    qkeys = sorted(range(-(window // q), window // q))
    for name in RING_NAMES:
        if not rows[name]:
            rings.append(RingEffect(name, math.nan, math.nan, math.nan, 0, 0, 0, 0.0))
            placebo.append(RingEffect(name, math.nan, math.nan, math.nan, 0, 0, 0, 0.0))
            study[name] = []
            continue
        ep = np.concatenate([x[0] for x in rows[name]])
        units = np.concatenate([x[1] for x in rows[name]])
        is_t = np.concatenate([x[2] for x in rows[name]])
        delta = np.concatenate([x[3] for x in rows[name]])
        qd = np.concatenate([x[4] for x in rows[name]])
        t_pre = float(pre_mean_of(rows[name], counts, month0, by_id, window))
        rings.append(_ring(name, delta, is_t, ep, units, t_pre, ci, n_boot, seed))
        pep = np.concatenate([x[0] for x in prows[name]])
        pis_t = np.concatenate([x[1] for x in prows[name]])
        pdelta = np.concatenate([x[2] for x in prows[name]])
        placebo.append(_ring(name, pdelta, pis_t, pep, units, t_pre, ci, n_boot, seed))
        study[name] = []
        for j, kq in enumerate(qkeys):
            if kq == -1:
                study[name].append({"quarter": -1, "estimate": 0.0, "ci_low": 0.0, "ci_high": 0.0})
                continue
            est = stacked_did(qd[:, j], is_t, ep)
            lo, hi = _interval(qd[:, j], is_t, ep, ci, n_boot, seed)
            study[name].append({"quarter": kq, "estimate": est, "ci_low": lo, "ci_high": hi})
    gains = []
    for name in RING_NAMES:
        if not grows[name]:
            gains.append(RingEffect(name, math.nan, math.nan, math.nan, 0, 0, 0, 0.0))
            continue
        g = [np.concatenate([x[i] for x in grows[name]]) for i in range(4)]
        gains.append(_ring(name, g[3], g[2], g[0], g[1], pre_mean_of(grows[name], counts, month0, by_id, window),
                           ci, n_boot, seed))
    reasons = _weak_reasons(rings[0], placebo[0], study.get(RING_NAMES[0], []), window)
    return EffectEstimate(
        mission=mission, unit=f"{unit_km:g} km block", unit_area_km2=unit_km**2, window_months=window,
        ci_method=("bootstrap over episodes" if ci == "bootstrap" else "episode-clustered SE, t(G-1)"),
        rings=rings, event_study=study, placebo=placebo, gains=gains,
        n_gain_episodes=len({e.episode_id for p in pairs for e in p.get("openings", [])}),
        episodes=list(episodes), weak=bool(reasons),
        weak_reasons=reasons, params=dict(params or {}, area_km=area_km, n_matches=n_matches, n_boot=n_boot, seed=seed),
    )


def _stack_pair(counts: np.ndarray, month0: int, ux: np.ndarray, uy: np.ndarray, pair: dict[str, Any],
                eps: Sequence[Episode], cover_xy: np.ndarray, *, window: int, area_km: float, n_matches: int,
                rows: dict[str, list], prows: dict[str, list] | None) -> None:
    """Append one map pair's stacked rows per ring (treated blocks and their matched controls)
    to ``rows`` (and the placebo's to ``prows``). A block is treated when no base of
    ``cover_xy`` is within 15 km (for closures the bases of map k+1 left uncut)."""
    q = window // 4
    mb, ma = _month(pair["map_before"]), _month(pair["map_after"])
    ex = np.array([e.x for e in eps])
    ey = np.array([e.y for e in eps])
    d_ep = np.hypot(ux[:, None] - ex[None, :], uy[:, None] - ey[None, :]) / 1000.0
    nearest_ep = d_ep.argmin(axis=1)
    d_near = d_ep.min(axis=1)
    bxy = pair["before_xy"]
    d_before = np.hypot(ux[:, None] - bxy[None, :, 0], uy[:, None] - bxy[None, :, 1]) / 1000.0
    in_area = d_before.min(axis=1) <= area_km
    cxy = pair["changed_xy"]
    d_changed = (np.hypot(ux[:, None] - cxy[None, :, 0], uy[:, None] - cxy[None, :, 1]).min(axis=1) / 1000.0
                 if len(cxy) else np.full(len(ux), np.inf))
    nearest_stays = pair["before_stays"][d_before.argmin(axis=1)]
    control = in_area & (d_changed > RINGS_KM[-1][1]) & nearest_stays
    axy = cover_xy
    still_covered = ((np.hypot(ux[:, None] - axy[None, :, 0], uy[:, None] - axy[None, :, 1]).min(axis=1) / 1000.0
                      < RINGS_KM[0][1]) if len(axy) else np.zeros(len(ux), bool))
    treated0 = (d_near < RINGS_KM[0][1]) & ~still_covered
    # real windows: pre ends at map k, post starts at map k+1; placebo: both 12 months earlier
    pre_a = _window_mean(counts, month0, mb - window, window // 2)
    pre_b = _window_mean(counts, month0, mb - window + window // 2, window - window // 2)
    pre = _window_mean(counts, month0, mb - window, window)
    post = _window_mean(counts, month0, ma, window)
    quarters = {k: _window_mean(counts, month0, (mb - window + (k + window // q) * q) if k < 0 else ma + k * q, q)
                for k in range(-(window // q), window // q)}
    ppre_a = _window_mean(counts, month0, mb - 2 * window, window // 2)
    ppre_b = _window_mean(counts, month0, mb - 2 * window + window // 2, window - window // 2)
    ppre = _window_mean(counts, month0, mb - 2 * window, window)
    ppost = pre
    ctrl = np.flatnonzero(control)
    feat = np.column_stack([pre_a, pre_b])
    pfeat = np.column_stack([ppre_a, ppre_b])
    for r, (lo, hi) in enumerate(RINGS_KM):
        name = RING_NAMES[r]
        ring = treated0 if r == 0 else (d_near >= lo) & (d_near < hi) & ~treated0
        for k, e in enumerate(eps):
            tr = np.flatnonzero(ring & (nearest_ep == k))
            if not len(tr) or not len(ctrl):
                continue
            m = ctrl[match_controls(feat[tr], feat[ctrl], n_matches).ravel()]
            pm = ctrl[match_controls(pfeat[tr], pfeat[ctrl], n_matches).ravel()]
            units = np.concatenate([tr, m])
            is_t = np.concatenate([np.ones(len(tr), bool), np.zeros(len(m), bool)])
            qd = np.column_stack([quarters[kq][units] - quarters[-1][units] for kq in sorted(quarters)])
            rows[name].append((np.full(len(units), e.episode_id), units, is_t, post[units] - pre[units], qd))
            punits = np.concatenate([tr, pm])
            if prows is not None:
                prows[name].append((np.full(len(punits), e.episode_id), is_t,
                                    ppost[punits] - ppre[punits]))


def pre_mean_of(rows: list, counts: np.ndarray, month0: int, by_id: dict[int, Episode], window: int) -> float:
    """Mean events per treated block per month in the pre windows (over the stacked treated rows)."""
    vals = []
    for ep, units, is_t, _, _ in rows:
        e = by_id[int(ep[0])]
        mb = _month(e.map_before)
        vals.append(_window_mean(counts[units[is_t]], month0, mb - window, window))
    v = np.concatenate(vals) if vals else np.array([])
    return float(v.mean()) if len(v) else 0.0


def _interval(delta: np.ndarray, is_t: np.ndarray, ep: np.ndarray, ci: str, n_boot: int, seed: int) -> tuple[float, float]:
    if ci == "bootstrap":
        return did_interval(delta, is_t, ep, n_boot=n_boot, seed=seed)
    _, _, lo, hi = did_cluster_ols(delta, is_t, ep)
    return lo, hi


def _ring(name: str, delta: np.ndarray, is_t: np.ndarray, ep: np.ndarray, units: np.ndarray, t_pre: float,
          ci: str, n_boot: int, seed: int) -> RingEffect:
    est = stacked_did(delta, is_t, ep)
    _, se, clo, chi = did_cluster_ols(delta, is_t, ep)
    lo, hi = (did_interval(delta, is_t, ep, n_boot=n_boot, seed=seed) if ci == "bootstrap" else (clo, chi))
    n_eps = len({int(e) for e in np.unique(ep) if is_t[ep == e].any() and (~is_t[ep == e]).any()})
    return RingEffect(name, est, lo, hi, n_eps, int(is_t.sum()), int((~is_t).sum()), t_pre,
                      None if not math.isfinite(se) else se)


def _weak_reasons(main: RingEffect, placebo: RingEffect, study: list[dict[str, float]], window: int) -> list[str]:
    """Why the treated-ring estimate should not be leaned on (empty: none found)."""
    out = []
    if main.n_episodes < MIN_EPISODES:
        out.append(f"only {main.n_episodes} episode(s) with treated and control blocks (< {MIN_EPISODES})")
    if not (math.isfinite(main.ci_low) and math.isfinite(main.ci_high)):
        out.append("no interval (fewer than two usable episodes)")
    elif main.ci_low <= 0 <= main.ci_high:
        out.append(f"the 95% interval [{main.ci_low:.3g}, {main.ci_high:.3g}] includes zero")
    if math.isfinite(placebo.ci_low) and not placebo.ci_low <= 0 <= placebo.ci_high:
        out.append(f"the placebo (dates {window} months earlier) is not null: [{placebo.ci_low:.3g}, {placebo.ci_high:.3g}]")
    bad = [s["quarter"] for s in study if s["quarter"] < -1 and math.isfinite(s["ci_low"])
           and not s["ci_low"] <= 0 <= s["ci_high"]]
    if bad:
        out.append(f"pre-trend: event-study quarter(s) {bad} differ from zero")
    return out


# ========================================================================== wrapper


def _map_frames(bases_path: str | Path, mission: str | None) -> tuple[str, list[tuple[date, gpd.GeoDataFrame]]]:
    """Every dated map of one mission in a Geo-PKO v2.1 file as (map date, bases in EPSG:4326)."""
    from .layers.bases import load_bases
    from .readers import read_vector

    first = load_bases(bases_path, mission=mission, max_map_age_days=None)
    schema = first.attrs.get("schema")
    if schema == "geo_pko_v2.3":
        raise EffectError(f"{bases_path}: the Geo-PKO v2.3 yearly summary has no dated maps; pass the Geo-PKO v2.1 "
                          "file (one row per site per dated UN map)")
    missions = sorted(set(first["mission"].astype(str)))
    if mission is None and len(missions) > 1:
        raise EffectError(f"{bases_path}: bases of {len(missions)} missions ({', '.join(missions)}); pick one with --mission")
    mission = missions[0] if missions else (mission or "")
    if schema != "geo_pko_v2.1":
        what = "no dates (no map_date)" if first["map_date"].isna().all() else "one snapshot (a unique base_id per row)"
        raise EffectError(f"{bases_path}: the bases have {what}; the effect needs consecutive dated maps: pass the "
                          "Geo-PKO v2.1 file (one row per site per dated UN map)")
    raw = read_vector(bases_path)
    cols = {c.lower(): c for c in raw.columns}
    sel = raw[raw[cols["mission"]].astype(str).str.upper() == mission.upper()]
    dates = sorted({date(int(y), int(m), 1) for y, m in zip(sel[cols["year"]], sel[cols["month"]], strict=True)})
    frames = [(d, load_bases(bases_path, mission=mission, as_of=d, max_map_age_days=None)) for d in dates]
    if len(frames) < 2:
        raise EffectError(f"{bases_path}: mission {mission} has {len(frames)} dated map(s); consecutive maps are needed")
    return mission, frames


def estimate_effect(
    bases_path: str | Path,
    events_path: str | Path,
    *,
    mission: str | None = None,
    start: date | None = None,
    end: date | None = None,
    window: int = 12,
    unit_km: float = 10.0,
    area_km: float = 100.0,
    match_km: float = 5.0,
    reduction: float = 0.5,
    n_matches: int = 1,
    min_troops: float | None = None,
    event_types: Sequence[str] | None = None,
    year_only: bool = False,
    ci: Literal["bootstrap", "cluster"] = "bootstrap",
    n_boot: int = 999,
    seed: int = 0,
) -> EffectEstimate:
    """Read Geo-PKO v2.1 maps and events, find the episodes whose map k+1 date lies in
    [start, end], build the 10 km block × month panel and run :func:`estimate_from_panel`.

    ``min_troops``: episodes count only for bases with more troops than this in map k (None
    keeps every site, police and observer posts without troops too). ``year_only`` reads a year-only events file
    (each row dated 1 July): a crude proxy, recorded in ``params``."""
    from .layers.events import load_events

    if window < 4 or window % 4:
        raise ConfigError(f"window={window}: use a multiple of 4 months (quarters), e.g. 12")
    mission, frames = _map_frames(bases_path, mission)
    lon = np.concatenate([f.geometry.x.to_numpy() for _, f in frames])
    lat = np.concatenate([f.geometry.y.to_numpy() for _, f in frames])
    crs = equal_area_crs(float(np.median(lon)), float(np.median(lat)))
    maps = []
    for d, f in frames:
        g = f.to_crs(crs)
        maps.append((d, pd.DataFrame({"base_id": g["base_id"], "name": g["name"], "x": g.geometry.x, "y": g.geometry.y,
                                      "strength": g["strength"], "strength_source": g["strength_source"]})))
    episodes, pairs = find_episodes(maps, match_km=match_km, reduction=reduction)
    keep = [p for p in pairs if (start is None or p["map_after"] >= start) and (end is None or p["map_after"] <= end)]
    kept_ids = {i for p in keep for i in p["episodes"]}
    episodes = [e for e in episodes if e.episode_id in kept_ids
                and (min_troops is None or e.strength_before > min_troops)]
    ids = {e.episode_id for e in episodes}
    keep = [{**p, "episodes": [i for i in p["episodes"] if i in ids]} for p in keep]
    span = f"{start or 'the first map'} to {end or 'the last map'}"
    if not episodes:
        more = f" at bases with more than {min_troops:g} troops" if min_troops is not None else ""
        raise EffectError(f"no closure or >= {reduction:.0%} troop cut{more} between consecutive {mission} maps from "
                          f"{span}; widen --from/--to or pick another --mission")
    events = load_events(events_path, year_only=year_only)
    if events.empty:
        raise EffectError(f"{events_path}: no events; pass a UCDP GED or ACLED events file")
    all_dates = pd.to_datetime(events["date"])
    have_lo, have_hi = _month(all_dates.min()), _month(all_dates.max())
    if event_types:
        unknown = sorted(set(event_types) - set(events["event_type"]))
        if unknown:
            raise EffectError(f"{events_path}: no events of type {', '.join(unknown)}; types present: "
                              f"{', '.join(sorted(set(events['event_type'])))}")
        events = events[events["event_type"].isin(list(event_types))]
    need_lo = min(_month(p["map_before"]) for p in keep if p["episodes"]) - 2 * window
    need_hi = max(_month(p["map_after"]) for p in keep if p["episodes"]) + window - 1
    ev_dates = pd.to_datetime(events["date"])
    if have_lo > need_lo or have_hi < need_hi:
        def fmt(m: int) -> str:
            return f"{m // 12}-{m % 12 + 1:02d}"
        raise EffectError(
            f"{events_path}: events cover {fmt(have_lo)} to {fmt(have_hi)} but the {window}-month windows (and the "
            f"placebo {window} months earlier) need {fmt(need_lo)} to {fmt(need_hi)}; pass an events file covering "
            "them, or narrow --from/--to to closures whose windows it covers"
        )
    # openings (the gains placebo) where the events cover their windows; the panel spans both
    keep = [{**p, "openings": [o for o in p["openings"] if _month(o.map_before) - window >= have_lo
                               and _month(o.map_after) + window - 1 <= have_hi]} for p in keep]
    opened = [o for p in keep for o in p["openings"]]
    if opened:
        need_lo = min(need_lo, *(_month(o.map_before) - window for o in opened))
        need_hi = max(need_hi, *(_month(o.map_after) + window - 1 for o in opened))
    ev = events.to_crs(crs)
    res = unit_km * 1000.0
    allx = np.concatenate([m["x"].to_numpy() for _, m in maps])
    ally = np.concatenate([m["y"].to_numpy() for _, m in maps])
    pad = area_km * 1000.0 + res
    west, south = math.floor((allx.min() - pad) / res) * res, math.floor((ally.min() - pad) / res) * res
    nx = int(math.ceil((allx.max() + pad - west) / res))
    ny = int(math.ceil((ally.max() + pad - south) / res))
    cx = west + (np.arange(nx) + 0.5) * res
    cy = south + (np.arange(ny) + 0.5) * res
    gx, gy = np.meshgrid(cx, cy)
    unit_xy = np.column_stack([gx.ravel(), gy.ravel()])
    col = np.floor((ev.geometry.x.to_numpy() - west) / res).astype(np.int64)
    row = np.floor((ev.geometry.y.to_numpy() - south) / res).astype(np.int64)
    month = np.array([_month(d) for d in ev_dates])
    inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny) & (month >= need_lo) & (month <= need_hi)
    counts = np.zeros((nx * ny, need_hi - need_lo + 1))
    np.add.at(counts, ((row * nx + col)[inside], month[inside] - need_lo), 1.0)
    params = {"bases": str(bases_path), "events": str(events_path), "from": str(start) if start else None,
              "to": str(end) if end else None, "match_km": match_km, "reduction": reduction,
              "event_types": list(event_types) if event_types else "all", "min_troops": min_troops,
              "year_only_events": year_only,
              "maps": [str(d) for d, _ in frames], "events_in_panel": int(inside.sum())}
    return estimate_from_panel(counts, need_lo, unit_xy, episodes, keep, window=window, area_km=area_km,
                               n_matches=n_matches, ci=ci, n_boot=n_boot, seed=seed, mission=mission,
                               unit_km=unit_km, params=params)


# ======================================================================= scenarios


def expected_change(
    source: EffectEstimate | EffectPrior | None,
    area_km2: dict[str, float],
    baseline_events_per_month: dict[str, float],
    months: int = 12,
) -> dict[str, Any]:
    """Pure: expected change in events over ``months`` per area (``lost_cover``, ``15-30km``,
    ``30-60km``), as low / central / high.

    The treated ring (0–15 km) stands for the cells that lose cover. From an
    :class:`EffectEstimate`: the ring's *relative* change (estimate and 95 % CI over the treated
    blocks' pre-window mean) × the area's events in the ``months`` before the scenario — the
    estimate's own scale is a past place and time, so it is carried over as a ratio; a ring
    whose treated blocks had no events before has no ratio, and its absolute change per block
    and month × blocks in the area × ``months`` is used (``scale`` says which). From an
    :class:`EffectPrior`: its relative change × the same baseline. A relative change below
    −100 % is cut to −100 % (events cannot go below zero). ``None``: not computed, and said so.
    """
    if source is None:
        return {"status": "not_computed", "note": "no effect estimate: expected change not computed",
                "areas": []}
    ring_of = {"lost_cover": RING_NAMES[0], "15-30km": RING_NAMES[1], "30-60km": RING_NAMES[2]}
    areas = []
    for area, ring in ring_of.items():
        km2 = float(area_km2.get(area, 0.0))
        base = float(baseline_events_per_month.get(area, 0.0)) * months
        scale = "relative"
        if isinstance(source, EffectEstimate):
            r = source.ring(ring)
            triple = (r.ci_low, r.estimate, r.ci_high)
            if r.treated_pre_mean > 0:
                rel = [v / r.treated_pre_mean for v in triple]
            else:
                scale = "absolute"
                blocks = km2 / source.unit_area_km2
                rel = []
                vals = [v * blocks * months if math.isfinite(v) else math.nan for v in triple]
        else:
            rel = list(source.relative[ring])
        if scale == "relative":
            rel = [max(x, -1.0) if math.isfinite(x) else math.nan for x in rel]
            vals = [x * base for x in rel]
        areas.append({"area": area, "ring": ring, "area_km2": km2, "baseline_events": base, "scale": scale,
                      "relative_low": rel[0] if rel else None, "relative_central": rel[1] if rel else None,
                      "relative_high": rel[2] if rel else None,
                      "low": vals[0], "central": vals[1], "high": vals[2]})
    if isinstance(source, EffectEstimate):
        meta = {"source": "effect_estimate", "mission": source.mission, "n_episodes": source.n_episodes,
                "weak": source.weak, "weak_reasons": source.weak_reasons,
                "method": (f"DiD relative change of the ring (95% CI for low/high) x events in the area in the {months} "
                           f"months before the scenario; absolute change per {source.unit} and month x blocks where "
                           "the ring had no events before")}
    else:
        meta = {"source": f"prior:{source.name}", "citation": source.citation,
                "method": f"relative change x events in the area in the {months} months before the scenario"}
    return _finite({"status": "computed", "months": months, **meta, "areas": areas})


PRIORS: dict[str, EffectPrior] = {LITERATURE_PRIOR.name: LITERATURE_PRIOR}
"""The stated priors a user may choose by name (``--effect-prior NAME``, ``effect: NAME`` in a plan)."""


def resolve_effect(spec: str | Path | None, base_dir: str | Path | None = None) -> EffectEstimate | EffectPrior | None:
    """An effect source from a plan's ``effect:`` or a CLI value: a prior's name
    (:data:`PRIORS`), else the path of an ``effect.json`` (relative to ``base_dir``, e.g. the
    plan's folder); None stays None."""
    if spec is None:
        return None
    text = str(spec).strip()
    if text in PRIORS:
        return PRIORS[text]
    path = Path(text)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise EffectError(f"effect {text!r}: no such effect.json ({path}) and no prior of that name; give the path of "
                          f"a file written by `vacuum effect`, or one of the priors: {', '.join(PRIORS)}")
    return load_effect(path)
