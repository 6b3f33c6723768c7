"""Benchmark: the offline field package of the demo analysis (issue 16: under 10 s).

    .venv/bin/python bench/bench_package.py [--analysis out/demo] [--runs 3]

Runs `vacuum demo` into ``--analysis`` first if it has no ``gap.tif``. Each run builds the
viewer package (folder), the viewer package as a zip and the planner's full package into a
fresh temporary folder, in this process (imports paid once, before the first run: a field
office runs the command once, and `vacuum package`'s own start-up is ~1.5 s of imports on
top). Prints one JSON: per kind the median and every run's wall and CPU seconds (all threads), tiles, surfaces, bytes;
the machine (cores, load average at the start). Goal: viewer package < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = {"viewer": {"full": False, "as_zip": False}, "viewer_zip": {"full": False, "as_zip": True},
         "full": {"full": True, "as_zip": False}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--analysis", type=Path, default=ROOT / "out/demo", help="analysis folder (default out/demo)")
    ap.add_argument("--runs", type=int, default=3, help="builds of each kind (default 3)")
    args = ap.parse_args()
    if not (args.analysis / "gap.tif").is_file():
        subprocess.run([sys.executable, "-m", "cli.main", "demo", "--quiet", "--out", str(args.analysis)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    from geo.public import ensure_public
    from maps.package import build_package

    ensure_public(args.analysis)  # written with the analysis: not part of the package's cost
    load = os.getloadavg()
    runs: dict[str, list[dict]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for kind, kw in KINDS.items():
                t0, c0 = time.perf_counter(), time.process_time()
                pkg = build_package(args.analysis, Path(tmp) / f"{kind}_{i}", **kw)
                runs[kind].append({"seconds": round(time.perf_counter() - t0, 3),
                                   "cpu_s": round(time.process_time() - c0, 3), "surfaces": len(pkg.tiles),
                                   "tiles": sum(t.tiles for t in pkg.tiles), "bytes": pkg.size_bytes})
    out = {
        "analysis": str(args.analysis),
        "median_s": {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()},
        "median_cpu_s": {k: statistics.median(r["cpu_s"] for r in v) for k, v in runs.items()},
        "runs": runs,
        "goal_viewer_under_10_s": statistics.median(r["seconds"] for r in runs["viewer"]) < 10.0,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_start": [round(x, 2) for x in load]},
    }
    print(json.dumps(out, indent=2))
    return 0 if out["goal_viewer_under_10_s"] else 1


if __name__ == "__main__":
    sys.exit(main())
