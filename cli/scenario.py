"""``vacuum scenario``: apply a withdrawal plan to a stored analysis."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenario", help="evaluate a phased withdrawal plan on a stored analysis")
    p.add_argument("--analysis", type=Path, required=True, help="analysis folder written by `vacuum analyze`/`demo`")
    p.add_argument("--plan", type=Path, required=True, help="withdrawal plan, YAML or JSON (see docs/scenarios.md)")
    p.add_argument("--out", type=Path, required=True, help="scenario output folder")
    p.add_argument("--phases", type=int, help="phases for the suggested closing order (default: as in the plan)")
    p.add_argument("--cover-threshold", type=float, default=0.5,
                   help="coverage below which a cell counts as uncovered (default 0.5)")
    eff = p.add_mutually_exclusive_group()
    eff.add_argument("--effect", type=Path, help="effect.json from `vacuum effect`: expected change in events per phase")
    eff.add_argument("--effect-prior", choices=("literature",),
                     help="use a stated prior for the expected change instead (numbers in docs/scenarios.md)")
    p.add_argument("--national-forces", type=Path,
                   help="national forces and police (CSV/GeoJSON points: id, kind, strength, readiness) that "
                        "handover steps name with to:; overrides the plan's national_forces")
    p.add_argument("--enforce", action="store_true",
                   help="stop the plan at the first phase whose conditions fail (benchmarks.json says why)")
    p.add_argument("--history", type=Path,
                   help="dated events (GED/ACLED/generic) reaching past the analysis: each phase dated within them "
                        "is scored with the forecast fitted again at its date on the events known by then "
                        "(a backtest of a real drawdown); without it every phase uses the analysis' forecast")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.main import CLIError, Progress
    from geo.effect import resolve_effect
    from geo.plan import load_plan, read_national_forces
    from geo.scenario import load_baseline
    from geo.scenario_products import run_scenario

    if args.phases is not None and args.phases < 1:
        raise CLIError(f"--phases {args.phases}: need at least 1")
    if not 0 < args.cover_threshold < 1:
        raise CLIError(f"--cover-threshold {args.cover_threshold}: must be between 0 and 1")
    plan = read_national_forces(load_plan(args.plan), args.plan.parent, args.national_forces)
    effect = resolve_effect(args.effect or args.effect_prior or plan.effect,
                            None if (args.effect or args.effect_prior) else args.plan.parent)
    baseline = load_baseline(args.analysis)
    history = None
    if args.history is not None:
        from geo.layers import load_events

        history = load_events(args.history).to_crs(baseline.grid.crs)
    prog = Progress(args.quiet)
    s = run_scenario(baseline, plan, args.out, closing_phases=args.phases,
                     cover_threshold=args.cover_threshold, progress=prog, effect=effect,
                     enforce=args.enforce, history=history)
    prog.close()
    print(f"{s['plan']}: baseline exposure-weighted gap {s['baseline']['vacuum_measure']:.2f}, "
          f"{s['baseline']['population_high_critical']:,.0f} people in high/critical cells")
    for ph in s["phases"]:
        nz = ph["new_zones"]
        print(f"  phase {ph['phase']} {ph['name']} ({ph['date']}): {len(ph['closed'])} closed so far; "
              f"{nz['count']} new vacuum zones, {nz['area_km2']:,.0f} km², {nz['population']:,.0f} people; "
              f"{ph['population_losing_cover']:,.0f} people lose cover; gap {ph['vacuum_measure']:.2f}")
        print("      " + _expected_line(ph["expected_change"]))
        vp, dt = ph["vs_previous"], ph["dated"]
        print(f"      vs the previous phase: {vp['new_high_critical_km2']:,.0f} km² newly high/critical, "
              f"{vp['population_losing_cover']:,.0f} people lose cover; forecast: {dt['method']} ({dt['note']})")
        if nz["largest"]:
            lz = nz["largest"]
            tt = lz.get("travel_time_h")
            cap = baseline.params.travel_time_cap_h
            near = (f"nearest remaining base {lz['nearest_remaining_base_name']} at {tt:.1f} h"
                    if tt is not None and tt == tt else f"no remaining base within {cap:g} h")
            print(f"      largest new zone opened by {lz['opened_by']}; {near}")
        print(f"      coverage: mission {ph['mission_coverage_mean']:.3f} ({ph['population_covered_mission']:,.0f} "
              f"people covered), national forces {ph['national_coverage_mean']:.3f} "
              f"({ph['population_covered_national']:,.0f} people)")
        for line in _benchmark_lines(ph):
            print(line)
    if s["national_forces"]["count"] == 0:
        print("note: " + s["national_forces"]["note"])
    if s["enforced"]:
        e = s["enforced"]
        print(f"enforced: the plan holds at phase {e['held_at_phase']} ({e['phase']}): " + "; ".join(e["reasons"]))
        print("  plan that holds: " + (", ".join(e["plan_that_holds"]) or "no phase"))
    print("most critical bases: " + ", ".join(f"{r['name']} (+{r['added_vacuum']:.2f})" for r in s["most_critical_bases"]))
    co = s["closing_order"]
    if co["plan_cumulative_vacuum"] is not None:
        print(f"closing order: plan {co['plan_cumulative_vacuum']:.2f}, suggested {co['suggested_cumulative_vacuum']:.2f} "
              f"({co['improvement_pct']:.1f}% lower cumulative vacuum); details in closing_order.json")
        mw = co.get("mission_wide")
        if mw:
            print(f"closing order over all bases, freeing the same troops per phase: {mw['cumulative_vacuum']:.2f} "
                  f"({mw['improvement_pct']:.1f}% lower than the plan)")
    print(f"wrote {args.out}/")
    return 0


def _expected_line(ec: dict) -> str:
    """One line of a phase's expected change in events over 12 months (low / central / high)."""
    if ec["status"] != "computed":
        return ec["note"]

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:+.1f}"

    parts = [f"{a['area']} {fmt(a['low'])}/{fmt(a['central'])}/{fmt(a['high'])}" for a in ec["areas"]]
    weak = " (weak estimate)" if ec.get("weak") else ""
    return f"expected change in events, {ec['months']} months, low/central/high ({ec['source']}{weak}): " + "; ".join(parts)


def _benchmark_lines(ph: dict) -> list[str]:
    """The phase's go/hold and its benchmark table (condition, unit, value, threshold, pass, margin)."""
    if not ph["benchmarks"]:
        return []
    out = [f"      benchmarks: {ph['status'].upper()}" + (f" ({'; '.join(ph['hold_reasons'])})" if ph["hold_reasons"] else "")]
    for r in ph["benchmarks"]:
        v = "n/a" if r["value"] is None else f"{r['value']:,.4g}"
        m = "n/a" if r["margin"] is None else f"{r['margin']:+,.4g}"
        out.append(f"        {r['condition']:<24} {r['unit']:<18} {r['at']:<6} {v:>10} {r['op']:>2} {r['threshold']:<8g} "
                   f"{'pass' if r['pass'] else 'FAIL'}  margin {m}")
    return out
