"""Benchmark: the whole `vacuum analyze` on a Mali-sized area.

Builds the layers with `make_mali_synthetic.py` (real Mali boundaries, towns and
WorldPop; synthetic bases, events, roads at realistic densities), then runs the
CLI in a fresh process (as a user would) and prints wall time and CPU time (user + system of
the command and its workers; less sensitive than wall time to other jobs on the machine) of each
run and their medians, per-stage
times (median and last run), the time outside the timed stages (interpreter, imports, reading
the layers), the load average before and after, and peak memory (the largest resident set of
the main process or any worker).

    .venv/bin/python bench/bench_analyze.py [--runs 3] [--grid-roads-km 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POP = ROOT.parent / "shared/data/population/worldpop2020_africa_20km_mean_density_afrilearndata.tif"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--grid-roads-km", type=float, default=0.0, help="stress case: a road lattice this far apart")
    args = ap.parse_args()
    args.data = ROOT / ("out/bench_mali" + (f"_grid{args.grid_roads_km:g}" if args.grid_roads_km else ""))
    if not (args.data / "bases.geojson").exists():
        subprocess.run([sys.executable, str(HERE / "make_mali_synthetic.py"), str(args.data),
                        "--grid-roads-km", str(args.grid_roads_km)], check=True)
    out = ROOT / "out/bench_mali_result"
    cmd = [
        str(Path(sys.executable).with_name("vacuum")), "analyze", "--quiet",
        "--bases", str(args.data / "bases.geojson"), "--events", str(args.data / "events.geojson"),
        "--roads", str(args.data / "roads.geojson"), "--admin", str(args.data / "admin.geojson"),
        "--population", str(POP), "--population-units", "density", "--as-of", "2020-06-30", "--out", str(out),
    ]
    walls, cpus, stages = [], [], []
    load_before = os.getloadavg()
    for _ in range(args.runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its workers, once they have ended
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        stages.append(json.loads((out / "summary.json").read_text())["timings_s"])
    load_after = os.getloadavg()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads((out / "summary.json").read_text())
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "grid": f"{summary['grid']['width']}x{summary['grid']['height']} cells at {summary['grid']['resolution_m']:g} m, "
                f"{summary['grid']['cells_in_area']:,} in the area",
        "bases": summary["layers"]["bases"], "events_in_window": summary["layers"]["events_in_window"],
        "mean_cells_reached_per_base": summary["layers"]["mean_cells_reached_per_force"],
        "wall_s": {"min": round(min(walls), 2), "median": round(statistics.median(walls), 2),
                   "max": round(max(walls), 2), "runs": [round(w, 2) for w in walls]},
        "cpu_s": {"median": round(statistics.median(cpus), 2), "runs": [round(c, 2) for c in cpus]},
        "outside_stages_s": [round(w - t["total"] - t["write"], 2) for w, t in zip(walls, stages, strict=True)],
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in load_after]},
        "peak_rss_mb": round(peak_kb / 1024),
        "stages_s_median": {k: round(statistics.median(t[k] for t in stages), 3) for k in stages[-1]},
        "stages_s_last_run": summary["timings_s"],
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
