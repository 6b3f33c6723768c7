"""Records the engine passes between stages, and the schema of ``summary.json``.

Dataclasses carry things in memory (a :class:`Force` on the grid); ``TypedDict``\\ s
describe the JSON documents the engine writes (:class:`AnalysisSummary` is
``summary.json``, documented field by field in ``docs/model.md``).
"""


from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from .coverage import BaseTerm
from .provenance import Provenance
from .traveltime import Reach

__all__ = [
    "Force",
    "GridInfo",
    "LayerCounts",
    "ClassTotals",
    "GapStats",
    "ZoneTotals",
    "ExecutorInfo",
    "AnalysisSummary",
]


@dataclass(frozen=True)
class Force:
    """A base (or a national force) placed on the grid, with what its reach depends on.

    ``row`` is the base's row in the bases (or national) layer, ``cell`` its flat grid
    cell; ``weight`` comes from strength, unit type and readiness; ``t_resp`` and
    ``t_max`` are its response threshold and maximum reach in hours.
    """

    base_id: str
    row: int
    cell: int
    weight: float
    t_resp: float
    t_max: float
    national: bool = False

    def term(self, reach: Reach) -> BaseTerm:
        """This force's coverage term, given the cells it reaches."""
        return BaseTerm(self.base_id, self.weight, self.t_resp, self.t_max, reach, self.national)


class GridInfo(TypedDict):
    crs: str  # WKT
    resolution_m: float
    width: int
    height: int
    cells_in_area: int
    bounds_lonlat: list[float]


class LayerCounts(TypedDict):
    bases: int
    bases_outside_grid: list[str]
    events_in_window: int  # on the grid, dated in the look-back window before the as-of date
    mean_cells_reached_per_force: float


class ClassTotals(TypedDict):
    area_km2: float
    population: float


class GapStats(TypedDict):
    mean: float | None
    max: float | None
    population_weighted_mean: float | None
    by_class: dict[str, ClassTotals]


class ZoneTotals(TypedDict):
    count: int
    area_km2: float
    population: float


class ExecutorInfo(TypedDict):
    """How a block executor cut the grid (absent for the single-process executor)."""

    workers: int
    block_size: int
    blocks: list[int]
    halo_cells: dict[str, int]
    cheapest_cell_h: float | None


class AnalysisSummary(TypedDict):
    """``summary.json``: what one analysis found, and how it was run."""

    as_of: str
    executor: str
    grid: GridInfo
    layers: LayerCounts
    terms_left_out: list[str]
    gap: GapStats
    population_total: float
    coverage_mean: float
    zones: ZoneTotals
    params: dict[str, Any]
    timings_s: dict[str, float]
    forecast: NotRequired[dict[str, Any]]  # geo.risk.RiskForecast.describe()
    warnings: list[str]  # bad data let through, fallbacks: each says what was found and what it means
    dask: NotRequired[ExecutorInfo]
    request: NotRequired[dict[str, Any]]  # added by the service: the job and its request
    provenance: NotRequired[Provenance]  # input files (name, size, SHA-256), data and code versions
