"""``vacuum brief``: the commander's briefing of an analysis (and a scenario), PDF or HTML.

    vacuum brief --analysis DIR [--scenario DIR] --out FILE.pdf|FILE.html [--public]

Maps and charts are drawn offline from the folders' own rasters and vectors
(:mod:`maps.brief`); ``--public`` writes the viewer-safe variant (no base positions).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cli.main import CLIError

__all__ = ["register", "run_brief"]


def register(subparsers) -> None:
    p = subparsers.add_parser("brief", help="write the commander's briefing (PDF or HTML) of an analysis/scenario",
                              description="Write a briefing a commander reads in five minutes: situation, a map "
                                          "per phase, gap and risk by admin unit, benchmarks, people and sites "
                                          "losing cover, base criticality, closing order, uncertainty, provenance.")
    p.add_argument("--analysis", type=Path, required=True, help="analysis folder written by `vacuum analyze`/`demo`")
    p.add_argument("--scenario", type=Path, help="scenario folder written by `vacuum scenario` on that analysis")
    p.add_argument("--out", type=Path, required=True, help="FILE.pdf or FILE.html (one self-contained page)")
    p.add_argument("--public", action="store_true",
                   help="the viewer-safe briefing: gap over 150 km blocks, no base drawn or named (no --scenario)")
    p.set_defaults(func=run_brief)


def run_brief(args: argparse.Namespace) -> int:
    from maps.brief import build_briefing, write_briefing

    if args.out.suffix.lower() not in (".pdf", ".html", ".htm"):
        raise CLIError(f"--out {args.out}: give a .pdf or .html file name")
    if not args.out.parent.is_dir():
        raise CLIError(f"--out {args.out}: folder {args.out.parent} does not exist")
    if args.public and args.scenario is not None:
        raise CLIError("--public with --scenario: a withdrawal plan names the bases it closes, so the viewer-safe "
                       "briefing has no scenario; drop one of the two")
    t0 = time.perf_counter()
    brief = build_briefing(args.analysis, args.scenario, public=args.public)
    out = write_briefing(brief, args.out)
    print(f"wrote {'public ' if args.public else ''}briefing {out} ({out.stat().st_size / 1e6:.2f} MB, "
          f"{len(brief.sections)} sections) in {time.perf_counter() - t0:.1f} s")
    return 0
