"""Benchmark: what-if speed on the demo area at 1 km (issue 3).

- one phase closing 5 bases: ``evaluate_phase`` on a fresh ``WhatIf`` with cold
  per-base caches (apply the steps, new gap and coverage, deltas, new-zone mask,
  people and area losing cover), repeated;
- base criticality for every base (exact incremental evaluation of each closure);
- with ``--scenario``: ``run_scenario`` on a three-phase plan (the six most critical bases
  closed two per phase, each phase with two conditions), all products written, on a freshly
  loaded analysis (nothing cached from the runs above; the load itself is not timed), repeated
  ``--scenario-runs`` times (default 3): every run's total and the median, the load average
  before and after, and the per-stage ``timings_s`` of the median run.

    .venv/bin/python bench/bench_scenario.py [--analysis out/demo] [--runs 20] [--scenario [--scenario-runs 3]]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analysis", type=Path, default=ROOT / "out/demo")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--scenario", action="store_true", help="also time a three-phase scenario with all products")
    ap.add_argument("--scenario-runs", type=int, default=3, help="runs of the three-phase scenario (default 3)")
    args = ap.parse_args()
    if not (args.analysis / "model/coverage_terms.npz").exists():
        subprocess.run([str(Path(sys.executable).with_name("vacuum")), "demo", "--quiet", "--out", str(args.analysis)],
                       check=True, stdout=subprocess.DEVNULL)
    from geo.decision import base_criticality
    from geo.plan import ResolvedPhase, Step
    from geo.scenario import WhatIf, load_baseline
    from geo.scenario_products import evaluate_phase

    t0 = time.perf_counter()
    bl = load_baseline(args.analysis)
    load_s = time.perf_counter() - t0
    crit = base_criticality(bl)
    five = list(crit["base_id"].head(5))  # the five most critical: the largest reaches
    phase = ResolvedPhase("bench", date(2021, 1, 1), tuple(Step("close", b) for b in five))
    base_gap = bl.baseline_gap()
    base_cov = -np.expm1(-bl.model.intensity.ravel())
    times = []
    for _ in range(args.runs):
        bl._p.clear()
        w = WhatIf(bl)
        t0 = time.perf_counter()
        evaluate_phase(w, phase, base_gap, base_cov)
        times.append(time.perf_counter() - t0)
    ctimes = []
    for _ in range(5):
        bl._p.clear()
        t0 = time.perf_counter()
        base_criticality(bl)
        ctimes.append(time.perf_counter() - t0)
    scenario = (_three_phase(args.analysis, list(crit["base_id"].head(6)), args.scenario_runs)
                if args.scenario else None)
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "grid": f"{bl.grid.width}x{bl.grid.height} cells at {bl.grid.resolution:g} m",
        "bases": len(bl.model.terms),
        "closed": five,
        "load_baseline_s": round(load_s, 3),
        "phase_closing_5_ms": {"median": round(1000 * statistics.median(times), 1), "max": round(1000 * max(times), 1),
                               "runs": len(times)},
        "criticality_all_bases_ms": {"median": round(1000 * statistics.median(ctimes), 1),
                                     "max": round(1000 * max(ctimes), 1), "runs": len(ctimes)},
        **({"three_phase_scenario": scenario} if scenario else {}),
    }, indent=2))
    return 0


def _three_phase(folder: Path, six: list[str], runs: int) -> dict:
    """run_scenario with every product on three phases of two closures, two conditions each,
    ``runs`` times, each on a freshly loaded analysis."""
    import tempfile

    from geo.plan import parse_plan
    from geo.scenario import load_baseline
    from geo.scenario_products import run_scenario

    conds = [{"condition": "people_losing_cover", "op": "<=", "threshold": 1e9},
             {"condition": "gap_mean", "op": "<", "threshold": 100}]
    plan = parse_plan({"name": "bench", "phases": [
        {"name": f"p{k}", "date": f"2025-0{k + 1}-01", "actions": [{"close": six[2 * k:2 * k + 2]}], "conditions": conds}
        for k in range(3)]})
    load_before = os.getloadavg()
    done = []
    for _ in range(max(1, runs)):
        bl = load_baseline(folder)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = run_scenario(bl, plan, tmp)
            done.append((time.perf_counter() - t0, s["timings_s"]))
    totals = [t for t, _ in done]
    median_run = sorted(done, key=lambda r: r[0])[(len(done) - 1) // 2]
    return {"total_s": {"median": round(statistics.median(totals), 2), "runs": [round(t, 2) for t in totals]},
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "timings_s": median_run[1]}


if __name__ == "__main__":
    sys.exit(main())
