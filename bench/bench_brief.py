"""Benchmark: the commander's briefing of a three-phase scenario on the 1 km demo (issue 15;
target: under 20 s).

Times ``maps.brief.build_briefing`` (read the folders, draw the four maps and the chart)
and the rendering to PDF and to HTML, each run from a fresh process state except imports.
Makes the demo analysis and the example plan's scenario first if they are not there.

    .venv/bin/python bench/bench_brief.py [--analysis out/demo] [--scenario out/demo_scenario] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _vacuum(*args: str) -> None:
    subprocess.run([sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))",
                    *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--analysis", type=Path, default=ROOT / "out/demo")
    ap.add_argument("--scenario", type=Path, default=ROOT / "out/demo_scenario")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not (args.analysis / "summary.json").exists():
        _vacuum("demo", "--quiet", "--out", str(args.analysis))
    if not (args.scenario / "summary.json").exists():
        _vacuum("scenario", "--analysis", str(args.analysis), "--plan", str(ROOT / "data/minusca/plan_example.yaml"),
                "--out", str(args.scenario), "--effect-prior", "literature", "--quiet")
    from maps.brief import build_briefing, render_html, render_pdf

    build, pdf, html, total = [], [], [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        brief = build_briefing(args.analysis, args.scenario)
        t1 = time.perf_counter()
        data = render_pdf(brief)
        t2 = time.perf_counter()
        page = render_html(brief)
        t3 = time.perf_counter()
        build.append(t1 - t0)
        pdf.append(t2 - t1)
        html.append(t3 - t2)
        total.append(t3 - t0)
    n_phases = len([s for s in brief.sections if s.title == "Maps by phase"][0].blocks) - 2  # figures less the baseline and note
    print(f"briefing of a {n_phases}-phase scenario, {args.runs} runs, {os.cpu_count()} cores, "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    for name, xs in (("build (read, 4 maps, chart)", build), ("render PDF", pdf), ("render HTML", html),
                     ("total, PDF and HTML", total)):
        print(f"  {name:30s} median {statistics.median(xs):6.2f} s  max {max(xs):6.2f} s")
    print(f"  PDF {len(data) / 1e6:.2f} MB, HTML {len(page.encode()) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
