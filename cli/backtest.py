"""``vacuum backtest``: score the grid as of a date, then check it against what happened next.

    vacuum backtest --case car --as-of 2019-06-30 --horizon-months 12
    vacuum backtest --case car --as-of 2017-06-30,2018-06-30,2019-06-30 --out out/bt
    vacuum backtest --case mali --from 2016-12-31 --to 2018-12-31 --every 12M
    vacuum backtest --as-of 2016-12-31 --horizon-months 12 --bases geo_pko.csv --mission MINUSMA \\
        --events ged_aggregate.csv --year-only --admin ne_admin1.geojson --admin-iso3 MLI --out out/bt

Loads the layers with :mod:`geo.layers` (bases as of each date), runs
:func:`geo.backtest.run_backtest` per as-of date and prints, per evaluation scale, AUC,
average precision, Brier skill, the share of later events in the top 5/10/20 % of units
for the forecast, the gap and the baselines, the same against the ``uncovered`` label,
and the forecast's lead with its bootstrap interval; with several dates, one table of
all. ``--out DIR`` writes ``backtest.json`` (everything; several dates: ``origins``),
``backtest.csv`` (one row per origin, scale and score) and ``reliability.png``. ``--case car|mali`` fills in the shared real data files
(``../shared/data``); any layer argument given as well overrides the preset.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.main import CLIError, Progress, parse_bbox, parse_max_age, parse_overrides, read_config

if TYPE_CHECKING:
    from geo.backtest_types import BacktestResult

__all__ = ["register", "run", "CASES", "SHARED_DATA", "as_of_dates", "summary_table"]

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
    "forecast": "model: forecast",
    "persistence": "persistence (12 mo)",
    "gap": "model: gap",
    "travel_time": "travel time to base",
    "distance": "distance to base",
    "past_events": "past events only",
    "need": "model w/o coverage",
    "kernel_gap": "gap before forecast",
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
    b.add_argument("--as-of", help="the date the model knows up to, YYYY-MM-DD; several: comma-separated "
                   "(2017-06-30,2018-06-30), each a separate origin")
    b.add_argument("--from", dest="date_from", metavar="DATE", help="first origin (with --to and --every)")
    b.add_argument("--to", dest="date_to", metavar="DATE", help="last origin, included if on the step")
    b.add_argument("--every", help="step between origins in months, e.g. 12M or 6M")
    b.add_argument("--horizon-months", default="12", help="months after --as-of whose events are predicted "
                   "(> 0, default 12); the forecast is fitted for the same horizon")
    b.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals (default 1000; 0: none)")
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
    b.add_argument("--block-km", type=float,
                   help="size of the coarse evaluation blocks in km: the forecast units (forecast_block_km, "
                   "default 10); another value is refused")
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


def as_of_dates(args: argparse.Namespace) -> list[date]:
    """The origins: --as-of A[,B,...] or --from/--to/--every."""
    import pandas as pd

    ranged = [args.date_from, args.date_to, args.every]
    if args.as_of is not None:
        if any(v is not None for v in ranged):
            raise CLIError("give either --as-of DATES or --from/--to/--every, not both")
        out = [_date(t.strip(), "--as-of") for t in str(args.as_of).split(",") if t.strip()]
        if not out:
            raise CLIError("--as-of is empty; give YYYY-MM-DD, e.g. 2019-06-30")
        if len(set(out)) != len(out):
            raise CLIError(f"--as-of {args.as_of}: a date is given twice")
        return sorted(out)
    if any(v is None for v in ranged):
        if all(v is None for v in ranged):
            raise CLIError("--as-of is required (or --from DATE --to DATE --every 12M)")
        raise CLIError("--from, --to and --every go together, e.g. --from 2017-06-30 --to 2019-06-30 --every 12M")
    start, stop = _date(args.date_from, "--from"), _date(args.date_to, "--to")
    step = str(args.every).strip().upper().removesuffix("M")
    if not step.isdigit() or int(step) <= 0:
        raise CLIError(f"--every {args.every!r} is not a number of months, e.g. 12M")
    if stop < start:
        raise CLIError(f"--to {stop} is before --from {start}")
    out, k = [], 0
    while True:
        d = (pd.Timestamp(start) + pd.DateOffset(months=k * int(step)))
        if pd.Timestamp(start).is_month_end:
            d = d + pd.offsets.MonthEnd(0)
        if d.date() > stop:
            return out
        out.append(d.date())
        k += 1


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
    from geo.backtest_types import BacktestSeries
    from geo.export import write_csv, write_json
    from geo.inputs import InputSpec, build_inputs
    from geo.params import load_params

    as_ofs = as_of_dates(args)
    horizon = _months(args.horizon_months)
    for d in as_ofs:
        horizon_end(d, horizon)  # checks the arithmetic early
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
    results: list[BacktestResult] = []
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
        for as_of in as_ofs:
            inputs = build_inputs(InputSpec(
                bases=pick("bases"), events=pick("events"), roads=pick("roads"), towns=towns,
                airports=pick("airports"), admin=admin, population=pick("population"), population_units=units,
                bbox=args.bbox, as_of=as_of, mission=mission, max_map_age_days=args.max_map_age,
                year_only=year_only, keep_events_after_as_of=True))  # they are what the backtest predicts
            for m, d in inputs.bases.attrs.get("missions_left_out", {}).items():
                print(f"left out mission {m}: its latest map ({d}) is over {args.max_map_age:g} days old "
                      "(--max-map-age DAYS or none to change)", file=sys.stderr)
            prog = Progress(args.quiet)
            results.append(run_backtest(inputs, as_of, horizon, params, block_km=args.block_km,
                                        n_boot=args.n_boot, n_jobs=args.jobs, progress=prog))
            prog.close()

    out: BacktestResult | BacktestSeries
    if len(results) == 1:
        out = results[0]
    else:
        out = BacktestSeries(horizon_months=horizon, as_of=[r["as_of"] for r in results], origins=results)
    out["case"] = args.case
    out["layers"] = {name: str(pick(name)) for name in _LAYERS if pick(name) is not None}
    out["options"] = {"mission": mission, "year_only": year_only,
                      "admin_iso3": iso, "towns_country": cc,
                      "population_units": units, "bbox": list(args.bbox) if args.bbox else None}
    for r in results:
        print(report(r))
        print()
    if len(results) > 1:
        print(summary_table(results))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(out, args.out / "backtest.json")
        write_csv(metrics_table(out), args.out / "backtest.csv")
        written = [args.out / "backtest.json", args.out / "backtest.csv"]
        try:
            from geo.backtest_plot import reliability_plot

            written.append(reliability_plot(out, args.out / "reliability.png"))
        except ImportError:
            print("no reliability.png: matplotlib is not installed", file=sys.stderr)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _p(v: float | None, decimals: int = 1) -> str:
    return "-" if v is None or v != v else f"{100 * v:.{decimals}f}%"


def _f(v: float | None, width: int = 7, decimals: int = 3) -> str:
    return f"{'-':>{width}}" if v is None or v != v else f"{v:{width}.{decimals}f}"


def _ci(iv: Mapping[str, Any] | None) -> str:
    if not iv:
        return f"{'-':>24}"
    return f"{iv['estimate']:+.3f} [{iv['low']:+.3f},{iv['high']:+.3f}]".rjust(24)


def summary_table(results: list[BacktestResult]) -> str:
    """One table for all origins (blocks): AUC, AP, Brier skill, the forecast's lead over each
    score with its 95 % interval, and the AUC and AP against the uncovered label."""
    first = results[0]["scales"]["block"]
    lines = [f"all origins, {first['size_km']:g} km blocks; fc-x: forecast minus the score, "
             "95 % interval over 50 km super-blocks",
             f"  {'as of':<11}{'score':<21}{'AUC':>7}{'AP':>7}{'BSS':>7}{'dAUC fc-x [95% CI]':>24}"
             f"{'dAP fc-x [95% CI]':>24}{'AUC unc':>8}{'AP unc':>8}"]
    for r in results:
        sc = r["scales"]["block"]
        unc = sc["labels"]["uncovered"]["scores"]
        for name, m in sc["scores"].items():
            iv = sc.get("intervals", {}).get(name, {})
            lines.append(f"  {r['as_of']:<11}{_LABELS.get(name, name):<21}{_f(m['auc'])}{_f(m['ap'])}"
                         f"{_f(m['brier_skill'])}{_ci(iv.get('auc'))}{_ci(iv.get('ap'))}"
                         f"{_f(unc[name]['auc'], 8)}{_f(unc[name]['ap'], 8)}")
        lines.append(f"  {r['as_of']:<11}{'(base rate)':<21}{0.5:7.3f}{_f(sc['base_rate'])}{0.0:7.3f}"
                     f"{'':>48}{0.5:8.3f}{_f(sc['labels']['uncovered']['base_rate'], 8)}")
    return "\n".join(lines)


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
        f"{c['later_fatalities_in_area']:,.0f} fatalities in the area; {c['later_events_uncovered']} in cells "
        f"beyond {result['params']['response_threshold_h']:g} h of every base ({c['cells_uncovered']:,} cells)",
        f"  forecast: {result['forecast']['method']}"
        + (f" ({result['forecast']['model']})" if result["forecast"]["model"] else "")
        + f", {result['forecast']['train_origins']} training origins"
        + (f"; {result['forecast']['note']}" if result["forecast"]["note"] else ""),
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
            f"  {'score':<22}{'AUC':>6}{'AP':>7}{'Brier':>8}{'BSS':>7}   " + "".join(f"{'ev top ' + p:>11}" for p in fr)
            + f"{'fat top ' + mid:>13}{'prec top ' + mid:>14}{'AUC unc':>9}{'AP unc':>8}",
        ]
        unc = sc["labels"]["uncovered"]
        for name, m in sc["scores"].items():
            lines.append(
                f"  {_LABELS.get(name, name):<22}{_f(m['auc'], 6)}{_f(m['ap'])}{_f(m['brier'], 8, 4)}"
                f"{_f(m['brier_skill'])}   " + "".join(f"{_p(m['top'][p]['events']):>11}" for p in fr)
                + f"{_p(m['top'][mid]['fatalities']):>13}{_p(m['top'][mid]['precision'], 2):>14}"
                + f"{_f(unc['scores'][name]['auc'], 9)}{_f(unc['scores'][name]['ap'], 8)}"
            )
        br = sc["base_rate"]
        lines.append(f"  {'random':<22}{0.5:6.3f}{_f(br)}{_f(br * (1 - br), 8, 4)}{0.0:7.3f}   "
                     + "".join(f"{_p(float(p.rstrip('%')) / 100):>11}" for p in fr)
                     + f"{_p(float(mid.rstrip('%')) / 100):>13}{_p(br, 2):>14}{0.5:9.3f}{_f(unc['base_rate'], 8)}")
        lines.append(f"  uncovered label: {unc['positives']:,} {unit} with a later event beyond "
                     f"{result['params']['response_threshold_h']:g} h of every base")
        ivs = sc.get("intervals") or {}
        if ivs:
            lines.append(f"  forecast minus score, 95 % block-bootstrap interval ({next(iter(ivs.values()))['auc']['n_boot']} "
                         "resamples of 50 km super-blocks):")
            for name, iv in ivs.items():
                lines.append(f"    {_LABELS.get(name, name):<22} AUC {_ci(iv['auc'])}   AP {_ci(iv['ap'])}")
    return "\n".join(lines)
