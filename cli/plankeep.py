"""``vacuum plan-keep``: which bases to keep, and with how many troops, within a troop ceiling."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

__all__ = ["register", "run", "parse_fractions"]


def parse_fractions(s: str) -> tuple[float, ...]:
    """``--fractions 0.5,1``: troop levels as fractions of each base's strength, in (0, 1]."""
    try:
        vals = tuple(float(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fractions {s!r}: give fractions of strength, e.g. 0.25,0.5,0.75,1") from None
    if not vals or any(not 0 < v <= 1 for v in vals):
        raise argparse.ArgumentTypeError(f"--fractions {s!r}: each must lie in (0, 1], e.g. 0.5,1")
    return vals


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan-keep", help="choose the bases to keep, and their troops, within a troop ceiling")
    p.add_argument("analysis", type=Path, metavar="ANALYSIS_DIR", help="analysis folder written by `vacuum analyze`/`demo`")
    p.add_argument("--troops", type=float, required=True, help="troop ceiling (0 .. the mission's total)")
    p.add_argument("--bases", nargs="+", metavar="BASE_ID",
                   help="choose among these bases only (default: every base with troops); the others stay open")
    p.add_argument("--fractions", type=parse_fractions, default=None,
                   help="troop levels a base may keep, as fractions of its strength (default 0.25,0.5,0.75,1)")
    p.add_argument("--method", choices=("auto", "ilp", "greedy", "both"), default="auto",
                   help="auto: the integer programme up to 30 bases, the greedy beyond; both: compare them")
    p.add_argument("--out", type=Path, help="folder for keep.json and keep.csv")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geo.budget import (
        DEFAULT_FRACTIONS,
        check_troops,
        choice_table,
        mission_troops,
        problem_from_baseline,
        solve,
    )
    from geo.export import write_csv, write_json
    from geo.exposure import site_people
    from geo.scenario import load_baseline

    baseline = load_baseline(args.analysis)
    total = float(sum(mission_troops(baseline).values()))
    # people at protected sites count as exposed where the raster misses them, times their kind's weight
    _, weighted = site_people(baseline.sites, baseline.grid, baseline.population, baseline.params.site_kind_weights)
    problem = problem_from_baseline(baseline, people=weighted, candidates=args.bases,
                                    fractions=args.fractions or DEFAULT_FRACTIONS)
    ceiling = check_troops(args.troops, total, problem.fixed_troops) - problem.fixed_troops
    methods = ["ilp", "greedy"] if args.method == "both" else [args.method]
    choices = [solve(problem, ceiling, m) for m in methods]
    best = max(choices, key=lambda c: c.protected)
    table = choice_table(best, baseline.bases, problem)
    print(f"troop ceiling {args.troops:,.0f} of {total:,.0f}; {len(problem.base_ids)} bases to choose among, "
          f"{len(problem.presence_only)} presence-only sites kept at no troop cost")
    for c in choices:
        print(f"  {c.method}: {c.total_troops + problem.fixed_troops:,.0f} troops, protects {c.protected:,.0f} of "
              f"{c.total_value:,.0f} risk-weighted people ({100 * c.protected / max(c.total_value, 1e-12):.1f} %); "
              f"{c.seconds:.2f} s")
    ub = min(c.bound["upper_bound_on_optimum"] for c in choices)
    print(f"  the optimum protects at most {ub:,.0f}: {best.method} is within "
          f"{100 * (1 - best.protected / ub) if ub > 0 else 0:.1f} % of it")
    for r in table.itertuples(index=False):
        print(f"    {r.name:<24} {r.strength:>7,.0f} -> {r.troops_kept:>7,.0f}  {r.status}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(table, args.out / "keep.csv")
        write_json({"troop_ceiling": args.troops, "mission_troops": total, "fixed_troops": problem.fixed_troops,
                    "presence_only": problem.presence_only, "choices": [asdict(c) for c in choices],
                    "chosen": best.method}, args.out / "keep.json")
        print(f"wrote {args.out}/keep.json, keep.csv")
    return 0
