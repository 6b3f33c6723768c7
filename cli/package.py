"""``vacuum package``: the offline field package of an analysis (a folder or a zip; :mod:`maps.package`).

    vacuum package out/demo --out field            # viewer-safe: 150 km block gap, no bases
    vacuum package out/demo --out field --zip      # field.zip
    vacuum package out/demo --out field --full     # planner: full gap, coverage, travel time, bases
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("package", help="write an offline field package (HTML viewer + PMTiles) of an analysis",
                       description="Write one folder (or zip) a field office opens from a USB stick with no "
                                   "network: index.html, the surfaces as PMTiles, zones and the admin table. "
                                   "Viewer-safe unless --full.")
    p.add_argument("analysis", type=Path, help="analysis folder (written by `vacuum analyze` or `vacuum demo`)")
    p.add_argument("--out", type=Path, required=True, help="package folder to write (with --zip: the zip file)")
    p.add_argument("--zip", action="store_true", help="write one zip file (OUT.zip) instead of a folder")
    p.add_argument("--full", action="store_true",
                   help="planner package: add the full-resolution gap, coverage, travel time and the bases "
                        "(never give it to viewers)")
    p.add_argument("--quiet", action="store_true", help="no line per surface")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.main import CLIError
    from maps.package import build_package

    if not args.analysis.is_dir():
        raise CLIError(f"{args.analysis} is not a folder; give an analysis folder (written by `vacuum analyze`)")
    say = None if args.quiet else (lambda line: print(f"  {line}", file=sys.stderr))
    pkg = build_package(args.analysis, args.out, full=args.full, as_zip=args.zip, progress=say)
    kind = "planner (full: bases, coverage, travel time)" if pkg.full else "viewer-safe"
    print(f"{pkg.path}: {kind} package as of {pkg.as_of}, {len(pkg.tiles)} surfaces "
          f"({sum(t.tiles for t in pkg.tiles)} tiles), {pkg.size_bytes / 1e6:.1f} MB in {pkg.seconds:.1f} s; "
          f"open {'index.html inside it' if args.zip else pkg.path / 'index.html'} in a browser")
    return 0
