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
    "LabelResult",
    "ReliabilityRow",
    "DifferenceInterval",
    "ScaleResult",
    "BacktestCounts",
    "BacktestWindow",
    "ForecastInfo",
    "BacktestResult",
    "BacktestSeries",
]


class TopShares(TypedDict):
    """What the top ``frac`` of units by one score holds."""

    events: float  # share of the later events (NaN when there are none)
    fatalities: float  # share of their fatalities (NaN when there are none)
    precision: float  # share of those units with a later event


class ScoreMetrics(TypedDict):
    auc: float  # ROC AUC, NaN when the units hold only one class
    ap: float  # average precision (sklearn), NaN with one class
    brier: float | None  # Brier score of the probability; None for rank-only scores
    brier_skill: float | None  # 1 - brier / (r (1 - r)), r the units' base rate; None for rank-only scores
    top: dict[str, TopShares]  # keyed by fraction, "5%", "10%", ...


class LabelResult(TypedDict):
    """The same units scored against another label (``uncovered``: a later event in a cell
    that no base reached within ``response_threshold_h`` on the as-of date)."""

    positives: int
    base_rate: float
    events: float
    fatalities: float
    scores: dict[str, ScoreMetrics]  # brier and brier_skill None: no score is a probability of this label


class ReliabilityRow(TypedDict):
    """One bin of predicted probability (:func:`geo.forecast.evaluate.reliability_table`, deciles)."""

    bin: int
    low: float
    high: float
    mean_predicted: float
    observed_rate: float
    count: int


class DifferenceInterval(TypedDict):
    """``metric(forecast) - metric(baseline)`` on all units and its block-bootstrap interval."""

    metric: str  # "auc" or "average_precision"
    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    n_failed: int


class ScaleResult(TypedDict):
    size_km: float
    cells_per_block: NotRequired[int]  # block scale only
    units: int
    positives: int
    base_rate: float
    events: float
    fatalities: float
    scores: dict[str, ScoreMetrics]  # keyed by the names of geo.backtest.SCORES
    labels: dict[str, LabelResult]  # "uncovered"
    reliability: dict[str, list[ReliabilityRow]]  # per probabilistic score
    # block scale only: forecast minus each other score, {"auc": ..., "ap": ...}; 50 km super-blocks
    intervals: NotRequired[dict[str, dict[str, DifferenceInterval]]]


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
    cells_uncovered: int  # inside the area, beyond response_threshold_h of every base
    later_events_uncovered: int  # later events in the area in those cells
    blocks: int
    blocks_with_later_event: int


class BacktestWindow(TypedDict):
    after: str  # the as-of date, ISO; events on it are known, not predicted
    through: str  # last day predicted, ISO


class ForecastInfo(TypedDict):
    """How the ``forecast`` score was obtained (:class:`geo.risk.RiskForecast`)."""

    method: str  # "forecast", "persistence" or "past_events_kernel" (then not a probability)
    model: str | None  # "logistic" / "hgb" for the fitted forecast
    is_probability: bool
    block_km: float
    horizon_months: int
    train_origins: int
    note: str | None


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
    probabilistic: list[str]  # the scores scored by Brier (probabilities of a later event)
    forecast: ForecastInfo
    params: dict[str, Any]
    timings_s: dict[str, float]
    # added by ``vacuum backtest`` (cli/backtest.py) before it writes backtest.json
    case: NotRequired[str | None]
    layers: NotRequired[dict[str, str]]
    options: NotRequired[dict[str, Any]]


class BacktestSeries(TypedDict):
    """Several as-of dates in one call (``vacuum backtest --as-of A,B,C``): one
    :class:`BacktestResult` per origin, in date order."""

    horizon_months: int
    as_of: list[str]
    origins: list[BacktestResult]
    # added by ``vacuum backtest``
    case: NotRequired[str | None]
    layers: NotRequired[dict[str, str]]
    options: NotRequired[dict[str, Any]]
