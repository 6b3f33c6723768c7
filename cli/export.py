"""``vacuum export --public``: the viewer-safe products of an analysis, for sharing outside the mission.

Writes what ``GET /analyses/{id}/public/...`` serves (:func:`geo.public.export_public`):
the 150 km block gap, the forecast risk, threat, exposure and population as COGs, the public zones and admin
table as GeoJSON and GeoPackage (and all in ``public.gpkg``), the admin CSV and the viewer
summary. No base, coverage, travel time or full-resolution gap goes into it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the viewer-safe (public) products of an analysis")
    p.add_argument("--public", type=Path, required=True, metavar="ANALYSIS_DIR",
                   help="analysis folder (written by `vacuum analyze` or `vacuum demo`)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the public products into")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.main import CLIError
    from geo.public import export_public

    src: Path = args.public
    if not (src / "gap.tif").is_file() or not (src / "summary.json").is_file():
        raise CLIError(f"{src} is not an analysis folder (no gap.tif and summary.json); "
                       "give the --out folder of `vacuum analyze` or `vacuum demo`")
    if args.out.resolve() == src.resolve() or src.resolve() in args.out.resolve().parents:
        raise CLIError(f"--out {args.out} is inside the analysis folder; write the public export elsewhere")
    written = export_public(src, args.out)
    for p in written:
        print(p)
    print(f"wrote {len(written)} public files to {args.out}/")
    return 0
