"""Benchmark: `vacuum monitor`, 24 monthly dates, in a fresh process as a user runs it.

    .venv/bin/python bench/bench_monitor.py car  [--full] [--resolution M]
    .venv/bin/python bench/bench_monitor.py mali [--full] [--resolution M]

car:  the demo's layers (admin, roads, towns, airports, WorldPop) with the real Geo-PKO v2.1
      maps of MINUSCA and the GED v23.1 events of the CAR (shared data), 2018-11-30 to 2020-10-31.
mali: the Mali-sized synthetic layers of make_mali_synthetic.py (one bases snapshot),
      2018-07-31 to 2020-06-30.
Surfaces only unless --full. Prints wall time, the per-date seconds and what was reused.
Targets (issue 13): car < 30 s, mali < 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
POP = SHARED / "population/worldpop2020_africa_20km_mean_density_afrilearndata.tif"


def command(case: str, out: Path) -> list[str]:
    exe = [sys.executable, "-m", "cli.main", "monitor", "--quiet", "--no-charts", "--every", "1M", "--out", str(out)]
    if case == "car":
        return exe + ["--config", str(ROOT / "data/minusca/demo.toml"), "--mission", "MINUSCA",
                      "--bases", str(SHARED / "geo_pko/geo_pko_v2.1_mli_cod_caf_ssd.csv"),
                      "--events", str(SHARED / "ucdp_ged/ged_v23_1_caf_events.csv"),
                      "--from", "2018-11-30", "--to", "2020-10-31"]
    data = ROOT / "out/bench_mali"
    if not (data / "bases.geojson").exists():
        subprocess.run([sys.executable, str(HERE / "make_mali_synthetic.py"), str(data)], check=True)
    return exe + ["--bases", str(data / "bases.geojson"), "--events", str(data / "events.geojson"),
                  "--roads", str(data / "roads.geojson"), "--admin", str(data / "admin.geojson"),
                  "--population", str(POP), "--population-units", "density",
                  "--from", "2018-07-31", "--to", "2020-06-30"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=("car", "mali"))
    ap.add_argument("--full", action="store_true", help="every product per date, not the surfaces only")
    ap.add_argument("--resolution", type=float)
    args = ap.parse_args()
    out = ROOT / f"out/bench_monitor_{args.case}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = command(args.case, out) + ([] if args.full else ["--surfaces-only"])
    if args.resolution:
        cmd += ["--resolution", str(args.resolution)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    state = json.loads((out / "monitor.json").read_text())
    first = json.loads((out / "dates" / state["finished"][0] / "summary.json").read_text())
    secs = list(state["seconds"].values())
    report = {
        "case": args.case, "products": "full" if args.full else "surfaces only",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
                   f"load average {os.getloadavg()[0]:.1f} at the end",
        "grid": f"{first['grid']['width']}x{first['grid']['height']} at {first['grid']['resolution_m']:g} m",
        "dates": len(state["finished"]), "wall_s": round(wall, 1),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),  # on a shared machine: the time the work itself took
        "sum_of_dates_s": round(sum(secs), 1),
        "per_date_s": {"min": round(min(secs), 2), "max": round(max(secs), 2)},
        "travel_reused": sum("travel" in v for v in state["reused"].values()),
        "forecast_reused": sum("forecast" in v for v in state["reused"].values()),
        "forecast_method": first.get("forecast", {}).get("model", first.get("forecast", {}).get("method")),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
