"""Benchmark: the monitoring map (``maps.monitor.monitor_map``) of a finished monitor folder.

Builds the map ``--runs`` times in one process (as ``vacuum monitor`` does once at its end)
and prints the median seconds of ``monitor_map`` and of rendering its HTML, with the load
and the CPU seconds of ``monitor_map`` (every thread of the process: less sensitive to a
shared machine's load than the wall time).
The first run pays the overlay warp index; later runs in the same process reuse it, so the
first run's time is printed too.

    PYTHONPATH=. .venv/bin/python bench/bench_monitor_map.py out/bench_monitor_car [--runs 3]
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
    ap.add_argument("folder", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--public", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="clear the overlay cache before every run")
    args = ap.parse_args()
    from maps import render_html
    from maps.monitor import monitor_map

    from maps.overlay import clear_warp_cache as clear_cache

    build, render, cpu = [], [], []
    for _ in range(args.runs):
        if args.fresh:
            clear_cache()
        c0, t0 = time.process_time(), time.perf_counter()
        m = monitor_map(args.folder, public=args.public)
        t1, c1 = time.perf_counter(), time.process_time()
        page = render_html(m)
        t2 = time.perf_counter()
        build.append(t1 - t0)
        render.append(t2 - t1)
        cpu.append(c1 - c0)
        print(f"monitor_map {t1 - t0:.3f} s (cpu {c1 - c0:.3f} s), render_html {t2 - t1:.3f} s, "
              f"{len(page) / 1e6:.1f} MB")
    print(f"median of {args.runs}: monitor_map {statistics.median(build):.3f} s, "
          f"(cpu {statistics.median(cpu):.3f} s), render_html {statistics.median(render):.3f} s; "
          f"first run {build[0]:.3f} s")
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
