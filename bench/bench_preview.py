"""Benchmark: the plan editor's preview (POST /plans/preview's work) on a stored analysis.

Loads the analysis once (as the server does, then keeps it), previews a plan closing the
two strongest bases in two phases ``--runs`` times, and prints the median time to evaluate
the phases and to draw the selected phase's overlay (the server's part of a click; the
browser's part is printed by tests/test_editor_browser.py).

    PYTHONPATH=. .venv/bin/python bench/bench_preview.py --analysis out/demo [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analysis", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    from geo.plan import parse_plan, resolve_plan
    from geo.preview import PlanPreviewer
    from geo.scenario import load_baseline

    t0 = time.perf_counter()
    b = load_baseline(args.analysis)
    pv = PlanPreviewer(b)
    t_load = time.perf_counter() - t0
    top = b.bases.sort_values("strength", ascending=False)["base_id"].tolist()[:2]
    plan = parse_plan({"name": "bench", "phases": [
        {"name": "one", "date": "2030-01-31", "actions": [{"close": [top[0]]}]},
        {"name": "two", "date": "2030-06-30", "actions": [{"close": [top[1]]}]}]})
    phases = resolve_plan(plan, b.bases, b.admin, pv.zones)
    pv.overlay(pv.base_gap.reshape(b.grid.shape))  # the warp index, once per analysis
    ev, ov = [], []
    for _ in range(args.runs):
        t1 = time.perf_counter()
        res = pv.preview(phases)
        t2 = time.perf_counter()
        pv.overlay(res[-1].gap)
        ev.append(t2 - t1)
        ov.append(time.perf_counter() - t2)
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; grid {b.grid.height}x{b.grid.width} "
          f"({b.grid.resolution:g} m), {len(b.bases)} bases; load once {t_load:.2f} s; closing {', '.join(top)}")
    print(f"two phases evaluated: median {statistics.median(ev) * 1000:.0f} ms (min {min(ev) * 1000:.0f}); "
          f"overlay of one phase: median {statistics.median(ov) * 1000:.0f} ms; "
          f"server part of a click: {(statistics.median(ev) + statistics.median(ov)) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
