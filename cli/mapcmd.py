"""``vacuum map``: a standalone HTML map of an analysis folder.

    vacuum map ANALYSIS_DIR --out map.html [--kind operations|criticality|scenario]
               [--scenario DIR] [--criticality FILE] [--column NAME] [--assets inline|folder]

The page embeds the surfaces as images and Leaflet from ``maps/static``, so it opens
from a file with no server and no internet (basemap tiles aside).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.main import CLIError

__all__ = ["register", "run_map", "MapCommandError"]

KINDS = ("operations", "criticality", "scenario")


class MapCommandError(CLIError):
    """``vacuum map`` cannot draw what was asked."""


def register(subparsers) -> None:
    p = subparsers.add_parser("map", help="write an interactive HTML map of an analysis folder",
                              description="Write a standalone interactive map (Leaflet) of an analysis folder.")
    p.add_argument("analysis", type=Path, metavar="ANALYSIS_DIR", help="folder written by `vacuum analyze`")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--kind", choices=KINDS, default="operations",
                   help="operations (default): gap, bases, events, admin areas, zones; criticality: bases "
                        "coloured by the vacuum their closure opens; scenario: before/after a withdrawal plan")
    p.add_argument("--scenario", type=Path, metavar="DIR", help="scenario folder (for --kind scenario)")
    p.add_argument("--criticality", type=Path, metavar="FILE",
                   help="criticality table, GeoJSON or CSV with base_id (default: ANALYSIS_DIR/base_criticality.geojson)")
    p.add_argument("--column", metavar="NAME",
                   help="criticality column to colour by (--kind criticality): added_vacuum (rise of the exposure-weighted mean gap, "
                        "points), population_losing_cover, new_high_critical_km2, people_into_high_critical "
                        "(columns of base_criticality.geojson), or criticality / added_exposure_weighted_gap in "
                        "a table of your own (default: the first of criticality, added_vacuum, "
                        "added_exposure_weighted_gap the table has)")
    p.add_argument("--assets", choices=("inline", "folder"), default="inline",
                   help="inline (default): one self-contained file; folder: scripts in map_assets/ beside it")
    p.add_argument("--basemap", help="basemap shown first (default: OpenStreetMap, or CartoDB positron with a key)")
    p.add_argument("--carto-api-key", default=os.environ.get("VACUUM_CARTO_API_KEY"),
                   help="CARTO API key, to offer the CartoDB positron basemap (env VACUUM_CARTO_API_KEY)")
    p.set_defaults(func=run_map)


def run_map(args: argparse.Namespace) -> int:
    from maps.assets import save_html
    from maps.folder import CRITICALITY_FILE

    if not args.out.parent.is_dir():
        raise MapCommandError(f"--out {args.out}: folder {args.out.parent} does not exist")
    if args.out.suffix.lower() not in (".html", ".htm"):
        raise MapCommandError(f"--out {args.out}: give an .html file name")
    common = {"basemap": args.basemap, "carto_api_key": args.carto_api_key}
    if args.kind == "operations":
        from maps.operations import operations_map

        m = operations_map(args.analysis, **common)
    elif args.kind == "criticality":
        from maps.criticality import criticality_map

        table = args.criticality or args.analysis / CRITICALITY_FILE
        if not table.is_file():
            raise MapCommandError(f"--kind criticality: no criticality table {table}; run the base criticality "
                                  "ranking first or give --criticality FILE")
        m = criticality_map(args.analysis, table, column=args.column, **common)
    else:
        from maps.scenario import scenario_map

        if args.scenario is None:
            raise MapCommandError("--kind scenario needs --scenario DIR (a folder written by `vacuum scenario`)")
        m = scenario_map(args.analysis, args.scenario, **common)
    out = save_html(m, args.out, assets=args.assets)
    print(f"wrote {args.kind} map {out} ({out.stat().st_size / 1e6:.1f} MB)", file=sys.stdout)
    return 0
