"""The ``vacuum`` command line: a thin shell over :mod:`geo`.

    vacuum analyze --bases B --events E --admin A [--roads R] [--population P] --out DIR
    vacuum demo [--out DIR]

A wrong argument or a bad layer prints one line and exits with status 2; no
traceback (set VACUUM_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from geo import __version__
from geo.errors import VacuumError

__all__ = [
    "CLIError", "HelpFormatter", "VacuumParser", "LAYER_ARGS", "COMMAND_MODULES", "build_parser", "add_analyze_arguments",
    "analyze_spec", "parse_bbox", "parse_max_age", "parse_overrides",
    "read_config", "Progress", "run_analyze", "run_demo", "main",
]

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "minusca"
DEMO_CONFIG = DEMO_DIR / "demo.toml"


class CLIError(ValueError):
    """A command-line argument cannot be used as given (the CLI's own errors, apart from
    the engine's :class:`geo.errors.VacuumError` tree); printed as one line, exit 2."""


def _parse_date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a date; use YYYY-MM-DD") from None


def parse_max_age(s: str) -> float | None:
    """``--max-map-age DAYS``, or ``none`` to keep every mission (``max_map_age_days=None``)."""
    if s.strip().lower() in ("none", "off"):
        return None
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--max-map-age {s!r}: give days (e.g. 365) or none") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"--max-map-age {s!r}: give days >= 0, or none")
    return v


def parse_bbox(s: str) -> tuple[float, float, float, float]:
    try:
        parts = tuple(float(x) for x in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bbox {s!r}: use W,S,E,N in lon/lat degrees") from None
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"--bbox {s!r}: need 4 numbers W,S,E,N")
    return parts  # type: ignore[return-value]


def _parse_map(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``--map LAYER.FIELD=COLUMN`` -> {layer: {field: column}}."""
    out: dict[str, dict[str, str]] = {}
    for it in items or []:
        key, sep, col = it.partition("=")
        layer, dot, fld = key.partition(".")
        if not sep or not dot or not fld.strip() or not col.strip():
            raise CLIError(f"--map {it!r}: use LAYER.FIELD=COLUMN, e.g. --map bases.strength=troops")
        if layer not in ("bases", "events", "towns", "airports", "sites", "national"):
            raise CLIError(f"--map {it!r}: layer {layer!r} takes no mapping; use bases, events, towns, airports, sites or national")
        out.setdefault(layer, {})[fld.strip()] = col.strip()
    return out


LAYER_ARGS = ("bases", "events", "roads", "towns", "airports", "sites", "admin", "national", "population", "impassable",
              "rivers", "lakes")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help, ``(default: X)``, unless the help already says it,
    the default is None or the option is a flag."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (d is None or d is argparse.SUPPRESS or isinstance(d, bool) or not action.option_strings
                or "default" in text.lower()):
            return text
        shown = ", ".join(map(str, d)) if isinstance(d, (list, tuple)) else str(d)
        return f"{text} (default: {shown.replace('%', '%%')})"


class VacuumParser(argparse.ArgumentParser):
    """The parser of ``vacuum`` and of each subcommand: defaults shown in the help, a
    misspelt command answered with the nearest ones (difflib), and an unknown option under
    a subcommand reported with that subcommand's usage."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if isinstance(action, argparse._SubParsersAction) and value not in (action.choices or {}):
            import difflib

            near = difflib.get_close_matches(str(value), list(action.choices or {}), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            raise argparse.ArgumentError(action, f"unknown command {value!r}{hint} (commands: "
                                                 f"{', '.join(action.choices or {})})")
        super()._check_value(action, value)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        ns, extras = self.parse_known_args(args, namespace)
        if extras:  # left over by the subcommand: report them with its usage, nearest options named
            import difflib

            subs = next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)
            parser = subs.choices.get(getattr(ns, subs.dest, None), self) if subs is not None else self
            hints = [f"{x}: did you mean {' or '.join(near)}?" for x in extras if x.startswith("--")
                     for near in [difflib.get_close_matches(x.split("=")[0], list(parser._option_string_actions), n=2)]
                     if near]
            parser.error(f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else ""))
        return ns


def add_analyze_arguments(a: argparse.ArgumentParser, *, as_of: bool = True) -> None:
    """The layer, model and run flags of ``vacuum analyze`` (all but ``--out`` and ``--quiet``),
    shared with the commands that run the same analysis (``vacuum monitor``)."""
    a.add_argument("--config", type=Path, help="TOML file with [model], [layers] and [run] tables")
    if as_of:
        a.add_argument("--as-of", type=_parse_date, help="analysis date YYYY-MM-DD (default: config, else latest event)")
    a.add_argument("--resolution", type=float, help="grid cell size in metres (default 1000)")
    a.add_argument("--crs", help="analysis CRS, e.g. EPSG:32634 (default: equal-area centred on the area)")
    a.add_argument("--bbox", type=parse_bbox, help="area of interest W,S,E,N in lon/lat (instead of --admin)")
    for name in LAYER_ARGS:
        a.add_argument(f"--{name}", type=Path, help=f"{name} layer file (a GeoPackage layer: FILE.gpkg::layer)")
    a.add_argument("--admin-level", type=int, help="admin level of a file that does not say (0 country, 1 province, ...)")
    a.add_argument("--admin-name-column", help="column holding admin unit names")
    a.add_argument("--admin-id-column", help="column holding admin unit ids")
    a.add_argument("--population-units", choices=("count", "density"),
                   help="population raster values: people per cell (count) or per km² (density)")
    a.add_argument("--layer-crs", help="CRS for layer files that declare none (e.g. CSV with x/y): EPSG:xxxx")
    a.add_argument("--mission", help="Geo-PKO mission to take bases from (e.g. MINUSCA)")
    a.add_argument("--map", action="append", metavar="LAYER.FIELD=COLUMN",
                   help="column mapping for a layer of no known schema, e.g. bases.strength=troops")
    a.add_argument("--max-map-age", type=parse_max_age, default=365.0, metavar="DAYS",
                   help="leave out Geo-PKO missions whose latest map is older than this before the as-of date "
                        "(none: keep every mission)")
    a.add_argument("--allow-future-events", action="store_true",
                   help="keep events dated after today or the as-of date (not used, counted in a warning) "
                        "instead of refusing the file")
    a.add_argument("--snap-events-km", type=float, default=0.0, metavar="KM",
                   help="move events lying this close outside the admin polygons onto them (default 0: off)")
    a.add_argument("--road-class-column", help="column holding the road class (default: highway, class, ...)")
    a.add_argument("--year-only", action="store_true", help="events carry only a year: date them 1 July")
    a.add_argument("--repair", action="store_true", help="repair invalid polygons with make_valid instead of rejecting")
    a.add_argument("--set", action="append", metavar="PARAM=VALUE", help="override a model parameter (TOML value)")
    a.add_argument("--jobs", type=int, help="worker processes for travel times (default: all cores)")
    a.add_argument("--dask", metavar="SCHEDULER",
                   help="run on a Dask cluster: a scheduler address (tcp://HOST:8786), or local[:N] for a "
                        "local cluster of N worker processes (see docs/scaling.md)")


def build_parser() -> argparse.ArgumentParser:
    p = VacuumParser(prog="vacuum", description="Map where peacekeepers cannot reach in time.")
    p.add_argument("--version", action="version", version=f"vacuum {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=VacuumParser)

    a = sub.add_parser("analyze", help="score a coverage gap surface from layer files")
    add_analyze_arguments(a)
    a.add_argument("--out", type=Path, required=True, help="output folder")
    a.add_argument("--quiet", action="store_true", help="no progress bars or stage timings")

    d = sub.add_parser("demo", help="run the analysis on the bundled MINUSCA (CAR, Oct 2020) data")
    d.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    d.add_argument("--resolution", type=float, help="grid cell size in metres (default 1000)")
    d.add_argument("--jobs", type=int, help="worker processes for travel times (default: all cores)")
    d.add_argument("--quiet", action="store_true", help="no progress bars or stage timings")

    for mod in _command_modules():
        mod.register(sub)
    return p


COMMAND_MODULES = ("cli.scenario", "cli.backtest", "cli.mapcmd", "cli.serve", "cli.pyramid", "cli.export", "cli.effect",
                   "cli.package", "cli.brief", "cli.plankeep", "cli.monitor")
"""Further subcommands, each a module with ``register(subparsers)`` that sets
``func`` (taking the parsed args, returning an exit status) on its parser. Every module
listed must import and offer ``register``: none is skipped."""


def _command_modules():
    """The modules of :data:`COMMAND_MODULES`; an import error (a missing module too)
    propagates, and a module without ``register`` is a ``TypeError``: a broken subcommand
    stops the CLI at once instead of vanishing from ``vacuum --help``."""
    import importlib

    mods = []
    for name in COMMAND_MODULES:
        mod = importlib.import_module(name)
        if not callable(getattr(mod, "register", None)):
            raise TypeError(f"{name} is listed in cli.main.COMMAND_MODULES but has no register(subparsers) function")
        mods.append(mod)
    return mods


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise CLIError(f"--set {it!r}: use PARAM=VALUE, e.g. --set max_reach_h=8")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            out[k.strip()] = v
    return out


def read_config(path: Path | None) -> tuple[dict, dict]:
    if path is None:
        return {}, {}
    if not path.is_file():
        raise CLIError(f"--config {path}: no such file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"--config {path}: not valid TOML: {exc}") from None
    layers = {k: (path.parent / v).resolve() if k in LAYER_ARGS else v for k, v in doc.get("layers", {}).items()}
    unknown = set(layers) - set(LAYER_ARGS) - {"population_units", "mission", "road_class_column", "year_only", "layer_crs"}
    if unknown:
        raise CLIError(f"--config {path}: unknown [layers] key(s) {sorted(unknown)}; known: {', '.join(LAYER_ARGS)}")
    return layers, doc.get("run", {})


class Progress:
    """tqdm bars per stage on stderr; silent when quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: Any = None
        self.stage: str | None = None
        self.last: str | None = None
        self.t0 = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, stage: str, frac: float) -> None:
        if self.quiet or (stage == self.last and frac >= 1.0 and self.stage is None):
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.t0 = time.perf_counter()
            self.bar = tqdm(total=100, desc=f"{stage:<14}", file=sys.stderr, leave=False, disable=not self.tty,
                            bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")
        if self.bar is not None:
            self.bar.n = int(frac * 100)
            self.bar.refresh()
        if frac >= 1.0:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            print(f"  {self.stage:<14} {time.perf_counter() - self.t0:6.2f} s", file=sys.stderr)
            self.bar = None
            self.last = self.stage
            self.stage = None


def analyze_spec(args: argparse.Namespace):
    """The :class:`geo.inputs.InputSpec` of ``vacuum analyze``'s flags and ``--config``;
    returns (spec, run settings from the config)."""
    from geo.inputs import InputSpec
    from geo.types import BBox

    cfg_layers, cfg_run = read_config(args.config)

    def pick(name: str):
        v = getattr(args, name, None)
        return v if v is not None else cfg_layers.get(name)

    for name in LAYER_ARGS:
        v = pick(name)
        if v is not None and not Path(str(v).split("::")[0]).exists():
            raise CLIError(f"--{name} {v}: no such file")
    if pick("bases") is None:
        raise CLIError("--bases is required (peacekeeper positions: Geo-PKO CSV or any point layer)")
    if pick("admin") is None and args.bbox is None and "bbox" not in cfg_run:
        raise CLIError("give the area of interest: --admin FILE (admin units) or --bbox W,S,E,N")
    units = args.population_units or cfg_layers.get("population_units")
    if pick("population") is not None and units is None:
        raise CLIError("--population-units is required with --population: 'count' (people per cell) "
                       "or 'density' (people per km²)")
    raw_bbox = args.bbox or (tuple(cfg_run["bbox"]) if "bbox" in cfg_run else None)
    if raw_bbox is not None and len(raw_bbox) != 4:
        raise CLIError(f"bbox {raw_bbox}: need 4 numbers W,S,E,N")
    as_of = getattr(args, "as_of", None) or (date.fromisoformat(str(cfg_run["as_of"])) if "as_of" in cfg_run else None)
    spec = InputSpec(
        **{name: pick(name) for name in LAYER_ARGS}, population_units=units,
        bbox=BBox(*(float(v) for v in raw_bbox)) if raw_bbox is not None else None,
        as_of=as_of, mission=args.mission or cfg_layers.get("mission"), max_map_age_days=args.max_map_age,
        mapping=_parse_map(args.map), year_only=args.year_only or bool(cfg_layers.get("year_only")),
        road_class_column=args.road_class_column or cfg_layers.get("road_class_column"), repair=args.repair,
        admin_level=args.admin_level, admin_name_column=args.admin_name_column,
        admin_id_column=args.admin_id_column, allow_future_events=args.allow_future_events,
        snap_events_km=args.snap_events_km, layer_crs=_crs_flag("--layer-crs", args.layer_crs
                                                                   or cfg_layers.get("layer_crs")),
    )
    return spec, cfg_run


def _crs_flag(flag: str, value: str | None):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_user_input(value) if value else None
    except CRSError as exc:
        raise CLIError(f"{flag} {value}: not a CRS ({exc})") from None


def run_analyze(args: argparse.Namespace) -> int:
    from geo.inputs import analysis_crs, build_inputs, default_as_of
    from geo.params import load_params
    from geo.pipeline import analyze
    from geo.products import write_analysis

    spec, cfg_run = analyze_spec(args)
    overrides = parse_overrides(args.set)
    if args.resolution is not None:
        overrides["resolution_m"] = args.resolution
    params = load_params(args.config, **overrides)
    acrs = analysis_crs(args.crs or cfg_run.get("crs"))
    inputs = build_inputs(spec)
    for m, d in inputs.bases.attrs.get("missions_left_out", {}).items():
        print(f"left out mission {m}: its latest map ({d}) is over {args.max_map_age:g} days old "
              "(--max-map-age DAYS or none to change)", file=sys.stderr)
    as_of = spec.as_of
    if as_of is None:
        as_of, note = default_as_of(inputs)
        print(note, file=sys.stderr)
    prog = Progress(args.quiet)
    if getattr(args, "dask", None):
        from geo.dask import DaskExecutor, connect

        with connect(args.dask) as client:
            res = analyze(inputs, params, as_of, executor=DaskExecutor(client), crs=acrs, progress=prog)
    else:
        res = analyze(inputs, params, as_of, crs=acrs, progress=prog, n_jobs=args.jobs)
    t0 = time.perf_counter()
    paths = write_analysis(res, args.out, progress=prog)
    prog.close()
    res.summary["timings_s"]["write"] = round(time.perf_counter() - t0, 3)
    from geo.export import write_json

    write_json(res.summary, args.out / "summary.json")
    _print_summary(res.summary, len(paths), args.out)
    return 0


def _print_summary(s, n_products: int, out: Path) -> None:
    print(f"as of {s['as_of']}: {s['layers']['bases']} bases, {s['layers']['events_in_window']} events, "
          f"grid {s['grid']['width']}x{s['grid']['height']} at {s['grid']['resolution_m']:g} m")
    g = s["gap"]
    print(f"gap mean {g['mean']}, population-weighted {g['population_weighted_mean']}; "
          f"{s['zones']['count']} vacuum zones, {s['zones']['area_km2']:,.0f} km², "
          f"{s['zones']['population']:,.0f} people")
    for name, v in g["by_class"].items():
        print(f"  {name:<9} {v['area_km2']:>12,.0f} km²  {v['population']:>12,.0f} people")
    for w in s["warnings"]:  # bases outside the grid among them
        print(f"warning: {w}")
    t = s["timings_s"]
    print(f"wrote {n_products} products to {out}/ in {t['total'] + t['write']:.1f} s")


def run_demo(args: argparse.Namespace) -> int:
    ns = build_parser().parse_args(["analyze", "--config", str(DEMO_CONFIG), "--out", str(args.out)])
    ns.resolution = args.resolution
    ns.jobs = args.jobs
    ns.quiet = args.quiet
    return run_analyze(ns)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "analyze":
            return run_analyze(args)
        if args.command == "demo":
            return run_demo(args)
        if hasattr(args, "func"):
            return int(args.func(args))
    except (CLIError, VacuumError, FileNotFoundError, PermissionError) as exc:
        if os.environ.get("VACUUM_DEBUG"):
            raise
        print(f"vacuum: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vacuum: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
