"""Benchmark: the whole `vacuum analyze` on a Mali-sized area.

Builds the layers with `make_mali_synthetic.py` (real Mali boundaries, towns and
WorldPop; synthetic bases, events, roads at realistic densities), then runs the
CLI in a fresh process (as a user would) and prints wall time, per-stage times
and peak memory (the largest resident set of the main process or any worker).

    .venv/bin/python bench/bench_analyze.py [--runs 3] [--grid-roads-km 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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
    walls = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads((out / "summary.json").read_text())
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "grid": f"{summary['grid']['width']}x{summary['grid']['height']} cells at {summary['grid']['resolution_m']:g} m, "
                f"{summary['grid']['cells_in_area']:,} in the area",
        "bases": summary["layers"]["bases"], "events_in_window": summary["layers"]["events_in_window"],
        "mean_cells_reached_per_base": summary["layers"]["mean_cells_reached_per_force"],
        "wall_s": {"min": round(min(walls), 2), "max": round(max(walls), 2), "runs": len(walls)},
        "peak_rss_mb": round(peak_kb / 1024),
        "stages_s_last_run": summary["timings_s"],
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
