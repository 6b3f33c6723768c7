"""Coverage: how well protective forces can reach each cell.

Model (see docs/model.md)::

    p(t)       = 1 for t <= t_resp; (t_max - t) / (t_max - t_resp) until t_max; 0 beyond
    w_b        = -ln(1 - c_ref) * sqrt(max(strength_b, presence) / ref) * strength_mult(type_b)
    intensity  = sum_b w_b * p_b(t_b)            (national forces: times readiness)
    coverage   = 1 - exp(-intensity)

Each base's term is kept as a sparse :class:`~geo.traveltime.Reach`, so closing a
base subtracts only its own cells from the intensity: what-if is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .errors import UnknownIdError
from .traveltime import Reach

__all__ = ["decay", "base_weight", "BaseTerm", "CoverageModel", "coverage_from_intensity"]


def decay(t: np.ndarray, t_resp: float, t_max: float) -> np.ndarray:
    """Protection 0..1 after ``t`` hours of travel (``inf`` -> 0)."""
    if not 0 <= t_resp < t_max:
        raise ValueError(f"need 0 <= t_resp < t_max, got {t_resp}, {t_max}")
    t = np.asarray(t, dtype=np.float64)
    p = (t_max - t) / (t_max - t_resp)
    return np.clip(np.where(np.isfinite(t), p, 0.0), 0.0, 1.0)


def base_weight(
    strength: float, *, reference_strength: float, coverage_at_reference: float,
    presence_strength: float, strength_mult: float = 1.0, readiness: float = 1.0,
) -> float:
    """Weight of one base: a reference-size base alone at full reach gives ``coverage_at_reference``."""
    if strength < 0 or not math.isfinite(strength):
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    k = -math.log(1.0 - coverage_at_reference)
    return k * math.sqrt(max(strength, presence_strength) / reference_strength) * strength_mult * readiness


@dataclass
class BaseTerm:
    """One force's share of the coverage intensity."""

    base_id: str
    weight: float
    t_resp: float
    t_max: float
    reach: Reach
    national: bool = False

    def values(self) -> np.ndarray:
        """w * p(t) on ``reach.index`` (float64)."""
        return self.weight * decay(self.reach.hours, self.t_resp, self.t_max)


def coverage_from_intensity(intensity: np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-np.asarray(intensity, dtype=np.float64))


@dataclass
class CoverageModel:
    """All base terms on one grid, with their summed intensity."""

    shape: tuple[int, int]
    terms: list[BaseTerm]
    intensity: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        ids = [t.base_id for t in self.terms]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate base ids in coverage model: {dup}")
        self.intensity = self.intensity_without(())

    @property
    def ids(self) -> list[str]:
        return [t.base_id for t in self.terms]

    def term(self, base_id: str) -> BaseTerm:
        for t in self.terms:
            if t.base_id == base_id:
                return t
        raise UnknownIdError(f"no base {base_id!r} in the coverage model; known: {', '.join(self.ids)}")

    def intensity_without(self, closed: Iterable[str]) -> np.ndarray:
        """Full recomputation, leaving out ``closed`` (reference for the incremental path)."""
        closed = set(closed)
        flat = np.zeros(self.shape[0] * self.shape[1], dtype=np.float64)
        for t in self.terms:
            if t.base_id not in closed:
                flat[t.reach.index] += t.values()  # indices unique (np.flatnonzero)
        return flat.reshape(self.shape)

    def coverage(self) -> np.ndarray:
        return coverage_from_intensity(self.intensity)

    def nearest_time(self) -> np.ndarray:
        """Hours to the nearest force within its reach limit (inf beyond)."""
        flat = np.full(self.shape[0] * self.shape[1], np.inf, dtype=np.float32)
        for t in self.terms:
            if not t.national:
                flat[t.reach.index] = np.minimum(flat[t.reach.index], t.reach.hours)
        return flat.reshape(self.shape)

