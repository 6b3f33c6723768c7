"""National forces and police that take over handed-over bases.

A plan lists them under ``national_forces`` (inline, or a CSV/GeoJSON file for the CLI):
each has an id, a kind (army, gendarmerie, police), a strength (troops or officers), a
readiness 0..1 and optionally a position (lon, lat). A ``handover`` step names the
receiving force (``to:``); the force takes over the base's position, so its protection
follows the base's travel times, with the weight of its own allotted strength, its kind
and its readiness (docs/model.md, docs/scenarios.md). Several bases handed to one force
share its strength: a step may ask for ``strength:`` troops, the rest is split evenly.

No layer, no invention: a plan without ``national_forces`` keeps the old rule (the
handed-over base keeps its own strength times the step's ``readiness``), and the scenario
says so in ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from shapely.geometry import Point

__all__ = ["KIND_UNIT_TYPE", "NationalForce", "allot_strength", "forces_frame", "NO_LAYER_NOTE"]

KIND_UNIT_TYPE: dict[str, str] = {
    # the unit type (geo.params.UNIT_TYPES) whose strength multiplier a kind of national force gets
    "army": "infantry",
    "gendarmerie": "infantry",
    "police": "police",
    "other": "support",
}

NO_LAYER_NOTE = ("no national_forces given: a handover keeps the handed-over base's own strength times the step's "
                 "readiness (the receiving force's capacity is not modelled); add national_forces to the plan to model it")


@dataclass(frozen=True)
class NationalForce:
    """One national force or police unit, as the engine carries it."""

    force_id: str
    name: str
    kind: str
    strength: float
    readiness: float
    lon: float | None = None
    lat: float | None = None

    @property
    def unit_type(self) -> str:
        return KIND_UNIT_TYPE.get(self.kind, "infantry")


def allot_strength(total: float, asked: Sequence[float | None]) -> list[float]:
    """Troops each handover to one force receives: what it asks for, and the rest of ``total``
    split evenly over the handovers that ask for nothing. Raises ``ValueError`` when the asks
    exceed ``total``."""
    fixed = sum(a for a in asked if a is not None)
    if fixed > total + 1e-9:
        raise ValueError(f"handovers ask for {fixed:g} troops, the force has {total:g}")
    free = [a for a in asked if a is None]
    share = (total - fixed) / len(free) if free else 0.0
    return [float(a) if a is not None else float(share) for a in asked]


def forces_frame(forces: Sequence[NationalForce], crs) -> gpd.GeoDataFrame:
    """The forces that have a position, as points in ``crs`` (force_id, name, kind, strength, readiness)."""
    placed = [f for f in forces if f.lon is not None and f.lat is not None]
    g = gpd.GeoDataFrame({"force_id": [f.force_id for f in placed], "name": [f.name for f in placed],
                          "kind": [f.kind for f in placed],
                          "strength": np.array([f.strength for f in placed], dtype=np.float64),
                          "readiness": np.array([f.readiness for f in placed], dtype=np.float64)},
                         geometry=[Point(f.lon, f.lat) for f in placed], crs="EPSG:4326")
    return g.to_crs(crs)
