"""``vacuum effect``: how violence changed where past bases closed or shrank.

    vacuum effect --bases geo_pko_v2.1.csv --events ged_caf.csv --mission MINUSCA \\
        --from 2015-01-01 --to 2020-12-31 --out out/effect_car

A stacked difference-in-differences over consecutive Geo-PKO v2.1 maps
(:mod:`geo.effect`). Prints a table per ring (treated 0–15 km, spillover 15–30 and
30–60 km): the change in events per 10 km block per month with its 95 % interval and
the number of episodes, the placebo (dates 12 months earlier), the event-study quarters
and whether the estimate is weak. ``--out DIR`` writes ``effect.json`` (what
``vacuum scenario --effect`` reads) and ``effect.csv``.
"""

from __future__ import annotations

import argparse
import math
from datetime import date
from pathlib import Path

__all__ = ["register", "run", "format_table"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("effect", help="estimate the withdrawal effect on violence from past closures (DiD)")
    p.add_argument("--bases", type=Path, required=True, help="Geo-PKO v2.1 file (dated maps)")
    p.add_argument("--events", type=Path, required=True, help="UCDP GED or ACLED events with day dates")
    p.add_argument("--mission", help="mission acronym, e.g. MINUSCA (required when the file has several)")
    p.add_argument("--from", dest="start", type=_date, help="first date of map k+1 to use (ISO date)")
    p.add_argument("--to", dest="end", type=_date, help="last date of map k+1 to use (ISO date)")
    p.add_argument("--window", type=int, default=12, help="months before and after (multiple of 4, default 12)")
    p.add_argument("--reduction", type=float, default=0.5, help="troop cut that counts as an episode (default 0.5)")
    p.add_argument("--min-troops", type=float,
                   help="count episodes only at sites with more troops than this (default: every site, "
                        "police and observer posts too; 0 keeps sites with troops)")
    p.add_argument("--event-type", action="append", dest="event_types",
                   help="keep only this event type (repeatable), e.g. one_sided")
    p.add_argument("--year-only", action="store_true", help="events dated by year only (1 July): a crude proxy")
    p.add_argument("--ci", choices=("bootstrap", "cluster"), default="bootstrap",
                   help="interval: bootstrap over episodes (default) or episode-clustered SE")
    p.add_argument("--n-boot", type=int, default=999, help="bootstrap draws over episodes (with --ci bootstrap)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    p.add_argument("--out", type=Path, help="folder for effect.json and effect.csv")
    p.set_defaults(func=run)


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an ISO date, e.g. 2015-01-01") from None


def _num(x: float | None, fmt: str = "+.3f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


def format_table(est) -> str:
    """The readable report of an :class:`geo.effect.EffectEstimate`."""
    kinds = [e.kind for e in est.episodes]
    lines = [
        f"{est.mission}: {est.n_episodes} episode(s) ({kinds.count('closure')} closures, "
        f"{kinds.count('reduction')} reductions); outcome events per {est.unit} per month, "
        f"{est.window_months} months before map k and after map k+1; 95% CI: {est.ci_method}",
        f"{'ring':<9} {'estimate':>9} {'95% CI':>22} {'episodes':>8} {'blocks':>7} {'pre mean':>9} {'relative':>9}"
        f"   {'placebo':>9} {'placebo 95% CI':>22}",
    ]
    for r, p in zip(est.rings, est.placebo, strict=True):
        rel = None if r.treated_pre_mean <= 0 else r.estimate / r.treated_pre_mean
        lines.append(
            f"{r.ring:<9} {_num(r.estimate):>9} {'[' + _num(r.ci_low) + ', ' + _num(r.ci_high) + ']':>22} "
            f"{r.n_episodes:>8} {r.n_units:>7} {_num(r.treated_pre_mean, '.3f'):>9} {_num(rel, '+.0%'):>9}   "
            f"{_num(p.estimate):>9} {'[' + _num(p.ci_low) + ', ' + _num(p.ci_high) + ']':>22}"
        )
    if est.gains:
        lines.append(f"gains (placebo on direction: the same estimator after {est.n_gain_episodes} openings): " + "; ".join(
            f"{g.ring} {_num(g.estimate)} [{_num(g.ci_low)}, {_num(g.ci_high)}] ({g.n_episodes} ep.)" for g in est.gains))
    study = est.event_study.get("0-15km", [])
    if study:
        lines.append("event study, 0-15km, quarter vs quarter -1: " + "  ".join(
            f"q{s['quarter']:+d} {_num(s['estimate'])}" for s in study))
    lines.append("episodes: " + "; ".join(f"{e.name} {e.kind} {e.map_before:%Y-%m}->{e.map_after:%Y-%m} "
                                          f"({e.strength_before:g}->{e.strength_after:g})" for e in est.episodes))
    if est.weak:
        lines.append("WEAK: " + "; ".join(est.weak_reasons))
    else:
        lines.append("not flagged weak")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cli.main import CLIError
    from geo.effect import estimate_effect
    from geo.export import write_csv

    if args.start and args.end and args.start > args.end:
        raise CLIError(f"--from {args.start} is after --to {args.end}")
    if not 0 < args.reduction < 1:
        raise CLIError(f"--reduction {args.reduction}: must be between 0 and 1, e.g. 0.5")
    if args.n_boot < 99:
        raise CLIError(f"--n-boot {args.n_boot}: use at least 99")
    est = estimate_effect(args.bases, args.events, mission=args.mission, start=args.start, end=args.end,
                          window=args.window, reduction=args.reduction, min_troops=args.min_troops,
                          event_types=args.event_types, year_only=args.year_only, ci=args.ci,
                          n_boot=args.n_boot, seed=args.seed)
    print(format_table(est))
    if args.out:
        import pandas as pd

        args.out.mkdir(parents=True, exist_ok=True)
        est.save(args.out / "effect.json")
        rows = [{"kind": kind, **{k: getattr(r, k) for k in ("ring", "estimate", "ci_low", "ci_high", "n_episodes",
                                                              "n_units", "n_controls", "treated_pre_mean")}}
                for kind, rs in (("did", est.rings), ("placebo", est.placebo)) for r in rs]
        write_csv(pd.DataFrame(rows), args.out / "effect.csv")
        print(f"wrote {args.out}/effect.json, effect.csv")
    return 0
