"""``vacuum pyramid``: pre-render the top zoom levels of an analysis' surfaces into MBTiles.

The file goes beside the COG (``gap.tif`` -> ``gap.mbtiles``); the service's tile routes
then answer those zoom levels from it and render the others from the COG as before.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run", "tile_bar"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pyramid", help="pre-render tile pyramids (MBTiles) of an analysis' surfaces")
    p.add_argument("analysis", type=Path, help="analysis folder (written by `vacuum analyze`)")
    p.add_argument("--surface", action="append", help="surface to render (repeatable; default gap)")
    p.add_argument("--minzoom", type=int, default=0, help="lowest zoom level to render (0..14)")
    p.add_argument("--maxzoom", type=int, default=8,
                   help="highest zoom level to render (0..14); the service renders deeper zooms live")
    p.add_argument("--dask", metavar="SCHEDULER", help="render on a Dask cluster: tcp://HOST:8786 or local[:N]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def tile_bar(surface: str, *, file=None, enabled: bool | None = None):
    """A tqdm bar of tiles rendered (on stderr, shown on a terminal unless ``enabled`` says)
    and the ``progress(done, total)`` callback of :func:`geo.pyramid.render_pyramid` driving it."""
    from tqdm import tqdm

    file = file if file is not None else sys.stderr
    show = file.isatty() if enabled is None else enabled
    bar = tqdm(total=0, desc=f"{surface:<12}", unit="tile", file=file, disable=not show, leave=True)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress


def run(args: argparse.Namespace) -> int:
    from cli.main import CLIError
    from geo.pyramid import MBTilesReader, render_pyramid

    if not 0 <= args.minzoom <= args.maxzoom <= 14:
        raise CLIError(f"zoom range {args.minzoom}..{args.maxzoom}: need 0 <= minzoom <= maxzoom <= 14")
    surfaces = args.surface or ["gap"]
    for s in surfaces:
        if not (args.analysis / f"{s}.tif").is_file():
            raise CLIError(f"{args.analysis}/{s}.tif does not exist; is {args.analysis} an analysis folder?")

    def go(client) -> None:
        for s in surfaces:
            bar, progress = tile_bar(s, enabled=False if args.quiet else None)
            try:
                out = render_pyramid(args.analysis / f"{s}.tif", args.analysis / f"{s}.mbtiles", surface=s,
                                     minzoom=args.minzoom, maxzoom=args.maxzoom, client=client, progress=progress)
            finally:
                bar.close()
            with MBTilesReader(out) as r:
                print(f"{out}: {r.count()} tiles, zoom {r.minzoom}..{r.maxzoom}")

    if args.dask:
        from geo.dask import connect

        with connect(args.dask) as client:
            go(client)
    else:
        go(None)
    return 0
