"""``vacuum backtest``: score the grid as of a date, then check it against what happened next.

    vacuum backtest --case car --as-of 2019-06-30 --horizon-months 12
    vacuum backtest --as-of 2016-12-31 --horizon-months 12 --bases geo_pko.csv --mission MINUSMA \\
        --events ged_aggregate.csv --year-only --admin ne_admin1.geojson --admin-iso3 MLI --out out/bt

Loads the layers with :mod:`geo.layers` (bases as of the date), runs
:func:`geo.backtest.run_backtest` and prints, per evaluation scale, the ROC AUC and the
share of later events in the top 5/10/20 % of units for the model and the baselines.
``--out DIR`` writes ``backtest.json`` (everything) and ``backtest.csv`` (one row per
scale and score). ``--case car|mali`` fills in the shared real data files
(``../shared/data``); any layer argument given as well overrides the preset.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.main import CLIError, Progress, parse_bbox, parse_max_age, parse_overrides, read_config

if TYPE_CHECKING:
    from geo.backtest_types import BacktestResult

__all__ = ["register", "run", "CASES", "SHARED_DATA"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The shared real data sets, next to the repository (``../shared/data``)."""

_GEO_PKO = "geo_pko/geo_pko_v2.1_mli_cod_caf_ssd.csv"
_ADMIN1 = "boundaries/ne_admin1_mli_cod_caf_ssd.geojson"
_ROADS = "roads/trans_african_highway_network_afrilearndata.geojson"
_TOWNS = "places/geonames_cities500_mli_cod_caf_ssd.csv"
_POP = "population/worldpop2020_africa_20km_mean_density_afrilearndata.tif"

CASES: dict[str, dict[str, Any]] = {
    "car": {
        "bases": _GEO_PKO, "mission": "MINUSCA",
        "events": "ucdp_ged/ged_v23_1_caf_events.csv", "year_only": False,
        "admin": _ADMIN1, "admin_iso3": "CAF", "roads": _ROADS, "towns": _TOWNS, "towns_country": "CF",
        "population": _POP, "population_units": "density",
    },
    "mali": {
        "bases": _GEO_PKO, "mission": "MINUSMA",
        "events": "ucdp_ged/ged_v20_1_location_year_aggregate_mli_cod_caf_ssd.csv", "year_only": True,
        "admin": _ADMIN1, "admin_iso3": "MLI", "roads": _ROADS, "towns": _TOWNS, "towns_country": "ML",
        "population": _POP, "population_units": "density",
    },
}
"""Presets: layer paths relative to :data:`SHARED_DATA` and loading options."""

_LAYERS = ("bases", "events", "admin", "roads", "towns", "airports", "population")
_ADMIN_CODE_COLUMNS = ("iso3", "adm0_a3", "iso_a3", "shapegroup", "gid_0")
_TOWN_CODE_COLUMNS = ("countrycode", "country_code", "iso2", "iso_a2", "iso3", "iso_a3")

_LABELS = {
    "gap": "model: gap",
    "travel_time": "travel time to base",
    "distance": "distance to base",
    "past_events": "past events only",
    "need": "model w/o coverage",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    b = subparsers.add_parser(
        "backtest", help="score the grid as of a date and measure how it ranks the violence that followed",
        description="Score the grid with the deployments and events known on --as-of, then measure how "
        "well the gap score ranks where events happened in the following --horizon-months, against "
        "baselines (travel time and distance to the nearest base, past events alone).",
    )
    b.add_argument("--case", choices=sorted(CASES), help="preset: the shared real data for CAR (MINUSCA, "
                   "GED 23.1 events) or Mali (MINUSMA, GED 20.1 location-year aggregates)")
    b.add_argument("--as-of", required=True, help="the date the model knows up to, YYYY-MM-DD")
    b.add_argument("--horizon-months", required=True, help="months after --as-of whose events are predicted (> 0)")
    b.add_argument("--bases", type=Path, help="peacekeeper positions (Geo-PKO v2.1/v2.3 or a point layer)")
    b.add_argument("--events", type=Path, help="conflict events (UCDP GED, GED aggregate, ACLED)")
    b.add_argument("--admin", type=Path, help="admin units: the area of interest")
    b.add_argument("--admin-iso3", help="keep only these countries of a multi-country admin file (e.g. MLI or CAF,TCD)")
    b.add_argument("--bbox", type=parse_bbox, help="area of interest W,S,E,N in lon/lat (instead of --admin)")
    b.add_argument("--roads", type=Path, help="roads layer")
    b.add_argument("--towns", type=Path, help="towns (GeoNames or a point layer with name)")
    b.add_argument("--towns-country", help="keep only towns of these country codes (GeoNames countrycode, e.g. ML)")
    b.add_argument("--airports", type=Path, help="airports (OurAirports, airportsdata)")
    b.add_argument("--population", type=Path, help="population raster (GeoTIFF)")
    b.add_argument("--population-units", choices=("count", "density"),
                   help="population raster values: people per cell (count) or per km² (density)")
    b.add_argument("--mission", help="Geo-PKO mission to take bases from (e.g. MINUSCA)")
    b.add_argument("--year-only", action="store_true", default=None,
                   help="events carry only a year: date them 1 July")
    b.add_argument("--max-map-age", type=parse_max_age, default=365.0, metavar="DAYS",
                   help="leave out Geo-PKO missions whose latest map is older than this before --as-of")
    b.add_argument("--resolution", type=float, help="grid cell size in metres (default 1000)")
    b.add_argument("--block-km", type=float, default=10.0,
                   help="size of the coarse evaluation blocks in km, a multiple of the resolution (default 10)")
    b.add_argument("--config", type=Path, help="TOML file with a [model] table (and optionally [layers])")
    b.add_argument("--set", action="append", metavar="PARAM=VALUE", help="override a model parameter (TOML value)")
    b.add_argument("--jobs", type=int, help="worker processes for travel times (default: all cores)")
    b.add_argument("--out", type=Path, help="folder for backtest.json and backtest.csv")
    b.add_argument("--quiet", action="store_true", help="no progress lines")
    b.set_defaults(func=run)


def _date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise CLIError(f"{flag} {text!r} is not a date; use YYYY-MM-DD, e.g. 2019-06-30") from None


def _months(text: str) -> int:
    try:
        n = int(str(text))
    except ValueError:
        raise CLIError(f"--horizon-months {text!r} is not a whole number of months, e.g. 12") from None
    if n <= 0:
        raise CLIError(f"--horizon-months must be > 0, got {n}")
    return n


def _codes(text: str) -> set[str]:
    return {c.strip().upper() for c in str(text).split(",") if c.strip()}


def _filtered_copy(path: Path, codes: set[str], columns: tuple[str, ...], flag: str, tmp: Path) -> Path:
    """A copy of ``path`` holding only rows whose country code column is one of ``codes``."""
    import pandas as pd

    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        from geo.readers import read_vector

        table = read_vector(path)
    lower = {str(c).lower(): c for c in table.columns}
    col = next((lower[c] for c in columns if c in lower), None)
    if col is None:
        raise CLIError(f"{flag}: {path} has no country code column (looked for {', '.join(columns)}); "
                       f"drop {flag} or filter the file first")
    values = table[col].astype(str).str.strip().str.upper()
    keep = values.isin(codes).to_numpy()
    if not keep.any():
        raise CLIError(f"{flag} {','.join(sorted(codes))}: no row of {path} has that {col!r}; "
                       f"values present: {', '.join(sorted(set(values))[:20])}")
    out = tmp / f"{path.stem}.{'_'.join(sorted(codes))}"
    if path.suffix.lower() == ".csv":
        out = out.with_suffix(".csv")
        table[keep].to_csv(out, index=False)
    else:
        out = out.with_suffix(".gpkg")
        table[keep].to_file(out, driver="GPKG", layer="filtered")
    return out


def run(args: argparse.Namespace) -> int:
    from geo.backtest import horizon_end, metrics_table, run_backtest
    from geo.export import write_csv, write_json
    from geo.inputs import InputSpec, build_inputs
    from geo.params import load_params

    as_of = _date(args.as_of, "--as-of")
    horizon = _months(args.horizon_months)
    horizon_end(as_of, horizon)  # checks the arithmetic early
    preset: dict[str, Any] = {}
    if args.case:
        if not SHARED_DATA.is_dir():
            raise CLIError(f"--case {args.case}: the shared data folder {SHARED_DATA} is missing; "
                           "put ../shared/data next to the repository or pass the layer files (--bases, --events, ...)")
        preset = dict(CASES[args.case])
        for name in _LAYERS:
            if name in preset:
                preset[name] = SHARED_DATA / preset[name]
        if args.bbox is not None:  # an explicit bbox replaces the preset's admin area
            preset.pop("admin")
            preset.pop("admin_iso3")
    cfg_layers, _ = read_config(args.config)

    def pick(name: str) -> Any:
        v = getattr(args, name, None)
        if v is not None:
            return v
        if name in cfg_layers:
            return cfg_layers[name]
        return preset.get(name)

    for name in _LAYERS:
        v = pick(name)
        if v is not None and not Path(v).exists():
            raise CLIError(f"--{name} {v}: no such file")
    if pick("bases") is None:
        raise CLIError("--bases is required (or --case car|mali): peacekeeper positions as of --as-of")
    if pick("events") is None:
        raise CLIError("--events is required (or --case car|mali): the later events are what is predicted")
    if pick("admin") is None and args.bbox is None:
        raise CLIError("give the area of interest: --admin FILE (with --admin-iso3 for a multi-country file) "
                       "or --bbox W,S,E,N")
    if args.admin_iso3 and pick("admin") is None:
        raise CLIError("--admin-iso3 filters an admin file: give --admin too")
    if args.towns_country and pick("towns") is None:
        raise CLIError("--towns-country filters a towns file: give --towns too")
    units = pick("population_units")
    if pick("population") is not None and units is None:
        raise CLIError("--population-units is required with --population: 'count' (people per cell) "
                       "or 'density' (people per km²)")

    overrides = parse_overrides(args.set)
    if args.resolution is not None:
        overrides["resolution_m"] = args.resolution
    params = load_params(args.config, **overrides)
    year_only = bool(pick("year_only"))
    mission = pick("mission")

    iso = cc = None
    with tempfile.TemporaryDirectory(prefix="vacuum-backtest-") as tmpdir:
        tmp = Path(tmpdir)
        admin = towns = None
        if pick("admin") is not None:
            admin = Path(pick("admin"))
            iso = args.admin_iso3 or (preset.get("admin_iso3") if pick("admin") == preset.get("admin") else None)
            if iso:
                admin = _filtered_copy(admin, _codes(iso), _ADMIN_CODE_COLUMNS, "--admin-iso3", tmp)
        if pick("towns") is not None:
            towns = Path(pick("towns"))
            cc = args.towns_country or (preset.get("towns_country") if pick("towns") == preset.get("towns") else None)
            if cc:
                towns = _filtered_copy(towns, _codes(cc), _TOWN_CODE_COLUMNS, "--towns-country", tmp)
        inputs = build_inputs(InputSpec(
            bases=pick("bases"), events=pick("events"), roads=pick("roads"), towns=towns,
            airports=pick("airports"), admin=admin, population=pick("population"), population_units=units,
            bbox=args.bbox, as_of=as_of, mission=mission, max_map_age_days=args.max_map_age, year_only=year_only,
            keep_events_after_as_of=True))  # they are what the backtest predicts
        for m, d in inputs.bases.attrs.get("missions_left_out", {}).items():
            print(f"left out mission {m}: its latest map ({d}) is over {args.max_map_age:g} days old "
                  "(--max-map-age DAYS or none to change)", file=sys.stderr)
        prog = Progress(args.quiet)
        result = run_backtest(inputs, as_of, horizon, params, block_km=args.block_km, n_jobs=args.jobs,
                              progress=prog)
        prog.close()

    result["case"] = args.case
    result["layers"] = {name: str(pick(name)) for name in _LAYERS if pick(name) is not None}
    result["options"] = {"mission": mission, "year_only": year_only,
                         "admin_iso3": iso, "towns_country": cc,
                         "population_units": units, "bbox": list(args.bbox) if args.bbox else None}
    print(report(result))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(result, args.out / "backtest.json")
        write_csv(metrics_table(result), args.out / "backtest.csv")
        print(f"wrote {args.out / 'backtest.json'} and {args.out / 'backtest.csv'}")
    return 0


def _p(v: float | None, decimals: int = 1) -> str:
    return "-" if v is None or v != v else f"{100 * v:.{decimals}f}%"


def report(result: BacktestResult) -> str:
    """The readable table printed by ``vacuum backtest``."""
    c = result["counts"]
    w = result["window"]
    maps = result.get("bases_map") or {}
    used = "; ".join(f"{m} {v.get('source', v.get('year', ''))} ({v.get('map_date', '')})".replace(" ()", "")
                     for m, v in maps.items())
    lines = [
        f"backtest as of {result['as_of']}, {result['horizon_months']} months ahead: predicting events "
        f"after {w['after']} through {w['through']}",
        f"  grid {result['resolution_m'] / 1000:g} km, {c['cells']:,} cells in the area; {c['bases']} bases"
        + (f" ({used})" if used else "") + f"; {c['past_events_in_area']} past events in the look-back in the area",
        f"  later events: {c['later_events']} ({c['later_events_in_area']} in the area, "
        f"{c['later_events_in_margin']} in the margin, {c['later_events_outside_grid']} outside the grid), "
        f"{c['later_fatalities_in_area']:,.0f} fatalities in the area",
    ]
    fr = list(next(iter(result["scales"].values()))["scores"]["gap"]["top"])
    mid = fr[len(fr) // 2]
    for scale in ("block", "cell"):
        sc = result["scales"][scale]
        unit = "blocks" if scale == "block" else "cells"
        head = " (headline)" if scale == "block" else ""
        lines += [
            "",
            f"{sc['size_km']:g} km {unit}{head}: {sc['units']:,} {unit}, {sc['positives']:,} with a later event "
            f"(base rate {_p(sc['base_rate'], 3)})",
            f"  {'score':<22}{'AUC':>6}   " + "".join(f"{'ev top ' + p:>11}" for p in fr)
            + f"{'fat top ' + mid:>13}{'prec top ' + mid:>14}",
        ]
        for name, m in sc["scores"].items():
            auc = "     -" if m["auc"] is None or m["auc"] != m["auc"] else f"{m['auc']:6.3f}"
            lines.append(
                f"  {_LABELS.get(name, name):<22}{auc}   " + "".join(f"{_p(m['top'][p]['events']):>11}" for p in fr)
                + f"{_p(m['top'][mid]['fatalities']):>13}{_p(m['top'][mid]['precision'], 2):>14}"
            )
        lines.append(f"  {'random':<22}{0.5:6.3f}   " + "".join(f"{_p(float(p.rstrip('%')) / 100):>11}" for p in fr)
                     + f"{_p(float(mid.rstrip('%')) / 100):>13}{_p(sc['base_rate'], 2):>14}")
    return "\n".join(lines)
