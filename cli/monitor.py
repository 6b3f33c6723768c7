"""``vacuum monitor``: the analysis at a series of as-of dates, with series and alerts.

    vacuum monitor --config data/minusca/demo.toml --bases geo_pko_v2.1.csv --mission MINUSCA \\
        --events ged_caf.csv --from 2018-11-30 --to 2020-10-31 --every 1M --out out/monitor
    vacuum monitor --resume out/monitor [--to 2021-06-30]

The same layers, parameters and flags as ``vacuum analyze`` (``--config``, layer files,
``--set``, ``--resolution``, ``--quiet``); dates by ``--from``/``--to``/``--every`` or
``--dates``. Alert rules: the ``[alerts]`` table of the config, then ``--alert-*`` flags.
One line per date on stderr. See ``docs/monitoring.md`` for the folder.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from datetime import date
from pathlib import Path

__all__ = ["register", "run", "dates_of"]


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a date; use YYYY-MM-DD") from None


def register(sub: argparse._SubParsersAction) -> None:
    from cli.main import add_analyze_arguments

    p = sub.add_parser("monitor", help="analyses at a series of dates: series per admin unit, zones, alerts")
    add_analyze_arguments(p, as_of=False)
    p.add_argument("--from", dest="start", type=_date, help="first as-of date YYYY-MM-DD")
    p.add_argument("--to", dest="end", type=_date, help="last as-of date YYYY-MM-DD (default: --from)")
    p.add_argument("--every", default="1M", help="interval: 1M, 3M, 6M, 1Y ... (default 1M)")
    p.add_argument("--dates", help="the as-of dates, comma-separated (instead of --from/--to/--every)")
    p.add_argument("--max-dates", type=int, default=None, help="allow more than 240 dates")
    p.add_argument("--refit-every", metavar="INTERVAL",
                   help="fit the forecast again after this long (12M, 6M, 1Y ...; 0: whenever its training set "
                        "changes); between refits the last model, fitted on what was known at its date, forecasts "
                        "from each date's history (default: forecast_refit_months, 12)")
    p.add_argument("--surfaces-only", action="store_true", help="per date only the surfaces (COGs), not every product")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the monitor in DIR after its last finished date")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    p.add_argument("--alert-min-class", type=int, help="crossings alert into this class or higher (0..4, default 2)")
    p.add_argument("--alert-rise-points", type=float, help="rise rule: points on 0..100 (default 10)")
    p.add_argument("--alert-rise-factor", type=float, help="rise rule: factor (default 2)")
    p.add_argument("--alert-rise-months", type=int, help="rise rule: within this many months (default 3)")
    p.add_argument("--alert-uncovered-people", type=float, help="people newly uncovered that alert (default 1000)")
    p.add_argument("--alert-new-zone-min-people", type=float, help="new zones alert from this many people (default 0)")
    p.add_argument("--no-alert-new-zone", action="store_true", help="no alert for new vacuum zones")
    p.add_argument("--out", type=Path, help="the monitoring folder (not with --resume)")
    p.add_argument("--quiet", action="store_true", help="no line per date")
    p.set_defaults(func=run)


def dates_of(args: argparse.Namespace, stored: list[str] | None = None) -> list[date]:
    """The dates asked: ``--dates``, else ``--from``..``--to`` every ``--every``, else the
    stored ones (resume)."""
    from cli.main import CLIError
    from geo.monitor import monitor_dates, parse_every

    if args.dates:
        if args.start or args.end:
            raise CLIError("give --dates or --from/--to, not both")
        try:
            return [date.fromisoformat(x.strip()) for x in args.dates.split(",") if x.strip()]
        except ValueError as exc:
            raise CLIError(f"--dates {args.dates!r}: {exc}; use YYYY-MM-DD,YYYY-MM-DD,...") from None
    if args.start or args.end:
        first = args.start or (date.fromisoformat(stored[0]) if stored else None)
        if first is None:
            raise CLIError("--to needs --from (the first as-of date)")
        return monitor_dates(first, args.end or first, parse_every(args.every))
    if stored:
        return [date.fromisoformat(d) for d in stored]
    raise CLIError("give the dates: --from YYYY-MM-DD --to YYYY-MM-DD [--every 1M], or --dates D1,D2,...")


def _rules(args: argparse.Namespace):
    from cli.main import CLIError
    from geo.alerts import alert_rules

    table = {}
    if args.config is not None and args.config.is_file():
        try:
            table = tomllib.loads(args.config.read_text(encoding="utf-8")).get("alerts", {})
        except tomllib.TOMLDecodeError as exc:
            raise CLIError(f"--config {args.config}: not valid TOML: {exc}") from None
    return alert_rules(table, min_class=args.alert_min_class, rise_points=args.alert_rise_points,
                       rise_factor=args.alert_rise_factor, rise_months=args.alert_rise_months,
                       uncovered_people=args.alert_uncovered_people,
                       new_zone_min_people=args.alert_new_zone_min_people,
                       new_zone=False if args.no_alert_new_zone else None)


def _printer(quiet: bool):
    def on_date(done) -> None:
        if quiet:
            return
        reused = f" (reused: {', '.join(done.reused)})" if done.reused else ""
        print(f"  date {done.index:>3}/{done.total} {done.as_of}: {done.seconds:6.2f} s, "
              f"{done.events_in_window} events in window{reused}", file=sys.stderr)

    return on_date


def run(args: argparse.Namespace) -> int:
    import time

    t_start = time.perf_counter()
    from cli.main import CLIError, analyze_spec, parse_overrides
    from geo.inputs import analysis_crs
    from geo.monitor import MAX_DATES, load_monitor, run_monitor
    from geo.params import load_params

    max_dates = args.max_dates or MAX_DATES
    if args.resume is not None:
        if args.out is not None and args.out != args.resume:
            raise CLIError("--resume DIR writes into DIR; leave out --out")
        state = load_monitor(args.resume)
        dates = dates_of(args, state.dates)
        from geo.inputs import InputSpec
        from geo.params import Params

        out = args.resume
        state = run_monitor(InputSpec(bases=""), Params(), dates, out, resume=True, max_dates=max_dates,
                            n_jobs=args.jobs, on_date=_printer(args.quiet), charts=not args.no_charts)
    else:
        if args.out is None:
            raise CLIError("--out DIR is required (the monitoring folder)")
        dates = dates_of(args)
        spec, cfg_run = analyze_spec(args)
        overrides = parse_overrides(args.set)
        if args.refit_every is not None:
            from geo.monitor import parse_every

            overrides["forecast_refit_months"] = 0 if args.refit_every.strip() == "0" else parse_every(args.refit_every, "--refit-every")
        if args.resolution is not None:
            overrides["resolution_m"] = args.resolution
        params = load_params(args.config, **overrides)
        out = args.out
        state = run_monitor(spec, params, dates, out, rules=_rules(args), surfaces_only=args.surfaces_only,
                            crs=analysis_crs(args.crs or cfg_run.get("crs")), n_jobs=args.jobs,
                            max_dates=max_dates, on_date=_printer(args.quiet), charts=not args.no_charts)
    total = sum(state.seconds.values())
    import json

    from maps import save_html
    from maps.monitor import monitor_map

    save_html(monitor_map(out), out / "map.html")  # the time slider over the dates (maps.monitor)
    n_alerts = len(json.loads((out / "alerts.json").read_text())["alerts"])
    print(f"monitor {state.status}: {len(state.finished)} dates ({state.finished[0]} to {state.finished[-1]}) "
          f"in {time.perf_counter() - t_start:.1f} s ({total:.1f} s in the dates); {n_alerts} alerts; "
          f"wrote {out}/ (map: {out}/map.html)")
    return 0
