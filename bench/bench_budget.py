"""Benchmark: the troop-budget choice for 40 bases (target: under 10 s).

Builds (once) the Mali-sized synthetic analysis of `make_mali_synthetic.py` (100 bases), then
chooses among its 40 strongest bases, the others staying open, within a ceiling of half their
troops, with 4 troop levels per base: builds the problem from the stored analysis and solves it
as `vacuum plan-keep --method auto` does (the greedy, beyond 30 bases). With `--ilp` it also
times the integer programme on the same problem, for the record.

    PYTHONPATH=. .venv/bin/python bench/bench_budget.py [--runs 3] [--ilp]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _analysis() -> Path:
    data = ROOT / "out/bench_mali"
    if not (data / "bases.geojson").exists():
        subprocess.run([sys.executable, str(HERE / "make_mali_synthetic.py"), str(data)], check=True)
    out = ROOT / "out/bench_budget_analysis"
    if not (out / "model/coverage_terms.npz").exists():
        from cli.main import main

        pop = ROOT.parent / "shared/data/population/worldpop2020_africa_20km_mean_density_afrilearndata.tif"
        args = ["analyze", "--quiet", "--bases", str(data / "bases.geojson"), "--events", str(data / "events.geojson"),
                "--admin", str(data / "admin.geojson"), "--roads", str(data / "roads.geojson"),
                "--population", str(pop), "--population-units", "density", "--as-of", "2020-06-30", "--out", str(out)]
        assert main(args) == 0
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ilp", action="store_true", help="also time the integer programme on the same problem")
    args = ap.parse_args()
    from geo.budget import mission_troops, problem_from_baseline, solve
    from geo.exposure import site_people
    from geo.scenario import load_baseline

    bl = load_baseline(_analysis())
    troops = mission_troops(bl)
    cand = sorted(troops, key=lambda b: -troops[b])[:40]
    ceiling = 0.5 * sum(troops[b] for b in cand)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {len(troops)} bases with troops, "
          f"choosing among {len(cand)} ({sum(troops[b] for b in cand):,.0f} troops), ceiling {ceiling:,.0f}")
    for run in range(args.runs):
        t0 = time.perf_counter()
        _, weighted = site_people(bl.sites, bl.grid, bl.population, bl.params.site_kind_weights)
        p = problem_from_baseline(bl, people=weighted, candidates=cand)
        t1 = time.perf_counter()
        c = solve(p, ceiling, "auto")
        t2 = time.perf_counter()
        print(f"run {run + 1}: problem {t1 - t0:.2f} s ({len(p.value):,} cells), {c.method} {t2 - t1:.2f} s, "
              f"total {t2 - t0:.2f} s; protects {c.protected:,.0f} of {c.total_value:,.0f}, "
              f"bound {c.bound['upper_bound_on_optimum']:,.0f}")
    if args.ilp:
        c = solve(p, ceiling, "ilp", time_limit_s=120)
        print(f"ilp: {c.seconds:.2f} s, status {c.bound['status']}, {c.bound['groups']} groups; protects "
              f"{c.protected:,.0f}, bound {c.bound['upper_bound_on_optimum']:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
