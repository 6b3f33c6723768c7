"""Model parameters: every one has a default, a unit and a one-line reason.

The table in ``docs/model.md`` is generated from :data:`PARAMETERS` (see
``tests/test_params.py``, which fails when the two drift apart). Parameters are
set in a TOML file (``[model]`` table, same names) and per run; unknown names
are errors, never ignored.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Params", "PARAMETERS", "load_params", "ROAD_SPEEDS_KMH", "EVENT_TYPE_WEIGHTS", "UNIT_TYPES",
           "SITE_KIND_WEIGHTS"]


ROAD_SPEEDS_KMH: dict[str, float] = {
    # OpenStreetMap `highway` values and our own classes
    "motorway": 80.0,
    "trunk": 60.0,
    "primary": 50.0,
    "secondary": 40.0,
    "tertiary": 30.0,
    "corridor": 40.0,  # continental corridor (Trans-African Highway): often unpaved laterite
    "unclassified": 25.0,
    "residential": 20.0,
    "track": 15.0,
    "path": 6.0,
}

EVENT_TYPE_WEIGHTS: dict[str, float] = {
    # UCDP GED type_of_violence
    "state_based": 1.0,
    "non_state": 1.0,
    "one_sided": 1.5,
    "aggregate": 1.0,
    # ACLED event_type
    "battles": 1.0,
    "violence_against_civilians": 1.5,
    "explosions_remote_violence": 1.0,
    "riots": 0.3,
    "protests": 0.0,
    "strategic_developments": 0.2,
}

SITE_KIND_WEIGHTS: dict[str, float] = {
    # protected-site kind (geo.layers.protected.PROTECTED_KINDS): weight of each of its people
    "idp_camp": 2.0,  # displaced people in camps: targeted, and the first duty of a PoC mandate
    "refugee_site": 2.0,
    "hospital": 1.5,  # patients and staff cannot leave; attacks on care are grave violations
    "clinic": 1.25,
    "school": 1.25,
    "market": 1.0,
    "shelter": 1.0,
    "other": 1.0,
}

UNIT_TYPES: dict[str, tuple[float, float]] = {
    # unit_type: (strength multiplier, reach multiplier)
    "infantry": (1.0, 1.0),
    "quick_reaction": (1.2, 1.5),
    "police": (0.5, 0.6),
    "support": (0.3, 0.6),
    "headquarters": (0.3, 0.5),
    "observer": (0.15, 0.5),
}


@dataclass(frozen=True)
class ParamInfo:
    unit: str
    reason: str


@dataclass(frozen=True)
class Params:
    # --- grid
    resolution_m: float = 1000.0
    margin_km: float = 50.0
    # --- friction
    offroad_speed_kmh: float = 8.0
    outside_area_speed_kmh: float = 0.0
    road_speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(ROAD_SPEEDS_KMH))
    unknown_road_speed_kmh: float = 30.0
    river_speed_kmh: float = 0.0
    # --- air mobility
    air_mobility: str = "off"
    air_speed_kmh: float = 220.0
    air_radius_km: float = 200.0
    air_reaction_h: float = 0.5
    air_base_max_km: float = 10.0
    air_daylight_only: bool = False
    air_daylight_h: float = 12.0
    # --- coverage
    response_threshold_h: float = 2.0
    max_reach_h: float = 6.0
    reference_strength: float = 650.0
    coverage_at_reference: float = 0.9
    presence_strength: float = 35.0
    unit_types: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(UNIT_TYPES))
    national_readiness: float = 0.5
    travel_time_cap_h: float = 24.0
    # --- threat
    half_life_days: float = 180.0
    lookback_days: float = 730.0
    bandwidth_km: float = 15.0
    threat_reference: float = 0.0015
    event_type_weights: dict[str, float] = field(default_factory=lambda: dict(EVENT_TYPE_WEIGHTS))
    unknown_event_weight: float = 1.0
    # --- forecast
    forecast_block_km: float = 10.0
    forecast_horizon_months: int = 12
    forecast_train_years: float = 6.0
    forecast_model: str = "auto"
    forecast_max_negatives: int = 150_000
    forecast_refit_months: int = 12
    # --- exposure
    population_reference: float = 100.0
    exposure_floor: float = 0.3
    critical_site_radius_km: float = 10.0
    critical_site_exposure: float = 0.8
    site_kind_weights: dict[str, float] = field(default_factory=lambda: dict(SITE_KIND_WEIGHTS))
    # --- gap
    threat_weight: float = 2.0
    exposure_weight: float = 1.0
    class_breaks: tuple[float, float, float, float] = (10.0, 20.0, 35.0, 50.0)
    zone_threshold: float = 35.0
    zone_min_area_km2: float = 25.0

    def __post_init__(self) -> None:
        _check(self)

    def updated(self, **changes: Any) -> Params:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(
                f"unknown model parameter(s) {sorted(unknown)}; known: {', '.join(sorted(PARAMETERS))}"
            )
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


PARAMETERS: dict[str, ParamInfo] = {
    "resolution_m": ParamInfo("m", "1 km resolves a village and its approach road; finer adds cells, not knowledge, at national scale"),
    "margin_km": ParamInfo("km", "bases and events just across a boundary still shape the edge of the area"),
    "offroad_speed_kmh": ParamInfo("km/h", "a motorised patrol on unmapped tracks and open bush; sets reach where the road layer is sparse"),
    "outside_area_speed_kmh": ParamInfo("km/h", "0 = impassable: a mission does not route through a neighbouring country"),
    "road_speeds_kmh": ParamInfo("km/h by class", "typical convoy speeds by road class (OSM `highway` names); corridors are often unpaved"),
    "unknown_road_speed_kmh": ParamInfo("km/h", "a road whose class is not in the table is treated as a fair secondary road"),
    "river_speed_kmh": ParamInfo("km/h", "off-road speed in a river or lake cell (the --rivers/--lakes layers): 0 = impassable; road cells keep their road speed (a bridge, ford or ferry), so roads cross"),
    "air_mobility": ParamInfo("off | auto | on", "off (default): ground only, as air reach at a base's full weight is an upper bound; auto: air-capable bases (Geo-PKO avia, he.sup, rpf) with an airfield in range fly, the others are named in the warnings; on: as auto, and such a base without an airfield is an error"),
    "air_speed_kmh": ParamInfo("km/h", "assumed helicopter cruise speed: Mi-8/Mi-17 cruise at about 200-230 km/h (manufacturer figures); 220 is the middle of that range"),
    "air_radius_km": ParamInfo("km", "assumed operating radius: a Mi-8/Mi-17 with standard tanks has a range of roughly 450-500 km, so 200 km out and back with a reserve"),
    "air_reaction_h": ParamInfo("h", "assumed time from the call to take-off of the quick-reaction lift (crew, troops and aircraft on standby)"),
    "air_base_max_km": ParamInfo("km", "a base flies from an airfield (the airports layer) at most this far away: it sits at or beside the strip"),
    "air_daylight_only": ParamInfo("true | false", "helicopters fly by day only: each air time gets the expected wait for daylight, (24 - air_daylight_h)^2 / 48 h"),
    "air_daylight_h": ParamInfo("h", "hours of flyable daylight a day; near the equator about 12, so the expected wait is 3 h"),
    "response_threshold_h": ParamInfo("h", "a base protects fully what it can reach within a morning's response"),
    "max_reach_h": ParamInfo("h", "beyond a day's return trip a base offers no protection"),
    "reference_strength": ParamInfo("troops", "one battalion (Geo-PKO standard size 650) is the unit of strength"),
    "coverage_at_reference": ParamInfo("0..1", "a battalion alone within the response threshold covers 90%"),
    "presence_strength": ParamInfo("troops", "troop equivalent of a site with only HQ staff, observers or police (Geo-PKO no.troops = 0)"),
    "unit_types": ParamInfo("(strength x, reach x)", "quick-reaction forces reach farther; observers and police protect less"),
    "national_readiness": ParamInfo("0..1", "default readiness of national forces when a layer gives none"),
    "travel_time_cap_h": ParamInfo("h", "travel time to the nearest base is computed up to this bound (reported as unreachable beyond)"),
    "half_life_days": ParamInfo("days", "an event's weight halves every six months: armed groups move, memories fade"),
    "lookback_days": ParamInfo("days", "events older than two years before the as-of date are ignored"),
    "bandwidth_km": ParamInfo("km", "Gaussian kernel sigma: a day's walk around an event is under its shadow"),
    "threat_reference": ParamInfo("weighted events / km²", "threat 0.63 at this density: the centre of one fresh battle with 2 deaths (0.0015); fixed so scores compare across runs"),
    "event_type_weights": ParamInfo("weight by type", "violence against civilians counts 1.5x, riots and strategic developments little"),
    "unknown_event_weight": ParamInfo("weight", "an event type missing from the table counts as a battle"),
    "population_reference": ParamInfo("persons / km²", "density at which exposure is 1 (log scale); a small town"),
    "exposure_floor": ParamInfo("0..1", "empty land still matters (armed groups move and base there): with it, strong threat and no cover alone reach high (need >= 0.3^(1/3) = 0.67)"),
    "critical_site_radius_km": ParamInfo("km", "airstrips, towns and critical sites make their surroundings exposed"),
    "critical_site_exposure": ParamInfo("0..1", "minimum exposure near a critical site"),
    "site_kind_weights": ParamInfo("x people, by kind", "people at a protected site count this many times in the risk-weighted population a troop budget protects (camps 2, hospitals 1.5, clinics and schools 1.25, others 1): displaced people and patients cannot move away from a threat"),
    "threat_weight": ParamInfo("exponent weight", "need = threat^2/3 x exposure^1/3: violence matters twice as much as people"),
    "exposure_weight": ParamInfo("exponent weight", "see threat_weight"),
    "class_breaks": ParamInfo("gap 0..100", "low < 20 <= moderate < 40 <= elevated < 60 <= high < 80 <= critical"),
    "zone_threshold": ParamInfo("gap 0..100", "vacuum zones are connected areas at high or critical gap"),
    "zone_min_area_km2": ParamInfo("km²", "smaller specks are noise at 1 km"),
    "forecast_block_km": ParamInfo("km", "forecast units: 10 km blocks are coarse enough for GED's location precision and fine enough for a district"),
    "forecast_horizon_months": ParamInfo("months", "the forecast is the probability of at least one event in the unit within this many months after the as-of date"),
    "forecast_train_years": ParamInfo("years", "training origins (quarterly) reach back this far before the as-of date; only those whose label window closed by the as-of date are used"),
    "forecast_model": ParamInfo("auto | logistic | hgb", "auto: the candidate with the best time-ordered cross-validation inside the training window"),
    "forecast_refit_months": ParamInfo("months", "in a series of dates (vacuum monitor): a model fitted at an earlier date of the series is used again for up to this many months before it is refitted; it saw only what was known at its own fit date (no leakage) and forecasts from each date's own event history; a refit keeps the model family the series' first fit chose by cross-validation. 0: refit, choosing again, whenever the training set changes"),
    "forecast_max_negatives": ParamInfo("rows", "a bound on fit time: above this many negative unit-origins a seeded sample of this many is fitted, each weighted by the inverse sampling rate (case-control sampling, every positive kept); the CAR's 6-year history at 10 km (about 134,000 negatives) is fitted whole"),
}


def _check(p: Params) -> None:
    def pos(name: str, allow_zero: bool = False) -> None:
        v = getattr(p, name)
        if not isinstance(v, int | float) or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
            raise ConfigError(f"model parameter {name} must be a {'non-negative' if allow_zero else 'positive'} number ({PARAMETERS[name].unit}), got {v!r}")

    for n in ("resolution_m", "offroad_speed_kmh", "unknown_road_speed_kmh", "response_threshold_h", "max_reach_h",
              "reference_strength", "half_life_days", "lookback_days", "bandwidth_km", "threat_reference",
              "population_reference", "travel_time_cap_h", "threat_weight", "exposure_weight"):
        pos(n)
    for n in ("margin_km", "outside_area_speed_kmh", "presence_strength", "critical_site_radius_km", "zone_min_area_km2",
              "unknown_event_weight"):
        pos(n, allow_zero=True)
    if p.response_threshold_h >= p.max_reach_h:
        raise ConfigError(
            f"response_threshold_h ({p.response_threshold_h}) must be below max_reach_h ({p.max_reach_h})"
        )
    for n in ("air_speed_kmh", "air_radius_km", "air_daylight_h"):
        pos(n)
    for n in ("river_speed_kmh", "air_reaction_h", "air_base_max_km"):
        pos(n, allow_zero=True)
    if p.air_mobility not in ("auto", "on", "off"):
        raise ConfigError(f"air_mobility must be 'auto', 'on' or 'off', got {p.air_mobility!r}")
    if not isinstance(p.air_daylight_only, bool):
        raise ConfigError(f"air_daylight_only must be true or false, got {p.air_daylight_only!r}")
    if p.air_daylight_h > 24:
        raise ConfigError(f"air_daylight_h must be at most 24 hours, got {p.air_daylight_h!r}")
    for n in ("coverage_at_reference",):
        v = getattr(p, n)
        if not 0 < v < 1:
            raise ConfigError(f"model parameter {n} must be strictly between 0 and 1, got {v!r}")
    for n in ("national_readiness", "exposure_floor", "critical_site_exposure"):
        v = getattr(p, n)
        if not 0 <= v <= 1:
            raise ConfigError(f"model parameter {n} must be between 0 and 1, got {v!r}")
    b = tuple(p.class_breaks)
    if len(b) != 4 or any(not 0 < x < 100 for x in b) or list(b) != sorted(set(b)):
        raise ConfigError(f"class_breaks must be 4 increasing numbers inside (0, 100), got {b!r}")
    for n in ("forecast_block_km", "forecast_train_years"):
        pos(n)
    if not isinstance(p.forecast_horizon_months, int) or not 1 <= p.forecast_horizon_months <= 36:
        raise ConfigError(f"forecast_horizon_months must be a whole number of months in 1..36, got {p.forecast_horizon_months!r}")
    if not isinstance(p.forecast_max_negatives, int) or p.forecast_max_negatives < 1000:
        raise ConfigError(f"forecast_max_negatives must be a whole number of rows >= 1000, got {p.forecast_max_negatives!r}")
    if not isinstance(p.forecast_refit_months, int) or not 0 <= p.forecast_refit_months <= 120:
        raise ConfigError(f"forecast_refit_months must be a whole number of months in 0..120, got {p.forecast_refit_months!r}")
    if p.forecast_model not in ("auto", "logistic", "hgb"):
        raise ConfigError(f"forecast_model must be 'auto', 'logistic' or 'hgb', got {p.forecast_model!r}")
    if not 0 < p.zone_threshold <= 100:
        raise ConfigError(f"zone_threshold must be in (0, 100], got {p.zone_threshold!r}")
    for name, speed in p.road_speeds_kmh.items():
        if not isinstance(speed, int | float) or speed <= 0:
            raise ConfigError(f"road_speeds_kmh[{name!r}] must be a positive speed in km/h, got {speed!r}")
    for name, w in p.event_type_weights.items():
        if not isinstance(w, int | float) or w < 0:
            raise ConfigError(f"event_type_weights[{name!r}] must be a weight >= 0, got {w!r}")
    for name, w in p.site_kind_weights.items():
        if not isinstance(w, int | float) or not w >= 0:
            raise ConfigError(f"site_kind_weights[{name!r}] must be a weight >= 0 (x people), got {w!r}")
    for name, mult in p.unit_types.items():
        if len(mult) != 2 or any(not isinstance(m, int | float) or m < 0 for m in mult):
            raise ConfigError(f"unit_types[{name!r}] must be [strength multiplier, reach multiplier] >= 0, got {mult!r}")


def load_params(path: str | Path | None = None, **overrides: Any) -> Params:
    """Defaults, then a TOML file's ``[model]`` table, then per-run overrides.

    Dict-valued parameters (road speeds, event weights, unit types) given in TOML
    are merged into the defaults, so a file can add one road class.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        unknown_tables = set(doc) - {"model", "layers", "run", "alerts"}  # [alerts]: geo.alerts (vacuum monitor)
        if unknown_tables:
            raise ConfigError(f"config file {path}: unknown table(s) {sorted(unknown_tables)}; use [model], [layers], [run]")
        values.update(doc.get("model", {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    base = Params()
    unknown = set(values) - set(PARAMETERS)
    if unknown:
        raise ConfigError(f"unknown model parameter(s) {sorted(unknown)}; known: {', '.join(sorted(PARAMETERS))}")
    for name in ("road_speeds_kmh", "event_type_weights", "unit_types", "site_kind_weights"):
        if name in values:
            if not isinstance(values[name], dict):
                raise ConfigError(f"model parameter {name} must be a table, got {values[name]!r}")
            merged = dict(getattr(base, name))
            merged.update({str(k).lower(): (tuple(v) if isinstance(v, list) else v) for k, v in values[name].items()})
            values[name] = merged
    if "class_breaks" in values:
        values["class_breaks"] = tuple(values["class_breaks"])
    try:
        return replace(base, **values)
    except TypeError as exc:
        raise ConfigError(f"bad model parameter: {exc}") from None
