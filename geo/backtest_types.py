"""The schema of a backtest result (:func:`geo.backtest.run_backtest`, ``backtest.json``).

Plain JSON-ready dicts, written down as ``TypedDict``\\s; the fields are described in
``docs/validation.md`` ("backtest.json fields").
"""

# no `from __future__ import annotations` here: on Python 3.11 it hides NotRequired from
# __required_keys__ / __optional_keys__ (the schema test reads them)
from typing import Any, NotRequired, TypedDict

__all__ = [
    "TopShares",
    "ScoreMetrics",
    "ScaleResult",
    "BacktestCounts",
    "BacktestWindow",
    "BacktestResult",
]


class TopShares(TypedDict):
    """What the top ``frac`` of units by one score holds."""

    events: float  # share of the later events (NaN when there are none)
    fatalities: float  # share of their fatalities (NaN when there are none)
    precision: float  # share of those units with a later event


class ScoreMetrics(TypedDict):
    auc: float  # ROC AUC, NaN when the units hold only one class
    top: dict[str, TopShares]  # keyed by fraction, "5%", "10%", ...


class ScaleResult(TypedDict):
    size_km: float
    cells_per_block: NotRequired[int]  # block scale only
    units: int
    positives: int
    base_rate: float
    events: float
    fatalities: float
    scores: dict[str, ScoreMetrics]  # keyed by the names of geo.backtest.SCORES


class BacktestCounts(TypedDict):
    bases: int
    bases_outside_grid: int
    past_events_in_lookback: int
    past_events_in_area: int
    later_events: int
    later_events_in_area: int
    later_events_in_margin: int
    later_events_outside_grid: int
    later_fatalities_in_area: float
    cells: int
    cells_with_later_event: int
    cells_unreachable_within_cap: int
    blocks: int
    blocks_with_later_event: int


class BacktestWindow(TypedDict):
    after: str  # the as-of date, ISO; events on it are known, not predicted
    through: str  # last day predicted, ISO


class BacktestResult(TypedDict):
    as_of: str
    horizon_months: int
    window: BacktestWindow
    resolution_m: float
    block_km: float
    fractions: list[float]
    bases_map: dict[str, dict[str, Any]] | None
    events_schema: str | None
    counts: BacktestCounts
    scales: dict[str, ScaleResult]  # "cell" and "block"
    scores: dict[str, str]
    params: dict[str, Any]
    timings_s: dict[str, float]
    # added by ``vacuum backtest`` (cli/backtest.py) before it writes backtest.json
    case: NotRequired[str | None]
    layers: NotRequired[dict[str, str]]
    options: NotRequired[dict[str, Any]]
