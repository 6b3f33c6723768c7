"""Pre-rendered XYZ tile pyramids of a surface COG, stored as MBTiles.

For a continental grid the top zoom levels are the ones every user asks for and the
slowest to render on demand (each tile reads a large part of the grid), so they are
rendered once, in parallel, and served from one file:

    render_pyramid("gap.tif", "gap.mbtiles", surface="gap", maxzoom=8, client=client)
    MBTilesReader("gap.mbtiles").get(z, x, y)  # PNG bytes, or None

Tiles are WebMercatorQuad, drawn by :class:`geo.tiles.CogTiler`, the renderer the live
tile routes use, so a pre-rendered tile is the live tile byte for byte. Every tile
from ``minzoom`` to ``maxzoom`` that the live renderer would draw (it touches the
COG's footprint) is written, transparent ones too, and no other: a tile missing from
the file within its zooms is one the live routes answer with "outside the surface".
The metadata records the renderer (``render_version``, ``tile_size``,
``resampling``) so a server serves only pyramids that match its own tiles
(:func:`pyramid_matches`). Rendering runs in batches of nearby tiles, one task per
batch on a Dask cluster when a ``distributed.Client`` is given (the COG's path must
be readable by its workers), else in this process. The file is MBTiles 1.3 (SQLite;
TMS row order inside, XYZ at the reader), written under a temporary name and moved
into place.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import morecantile

from .errors import ConfigError, LayerError
from .export import default_file_mode
from .tiles import (
    RENDER_VERSION,
    TILE_SIZE,
    CogInfo,
    CogTiler,
    Resampling,
    TileOutsideBoundsError,
    file_version,
    tile_palette,
)

__all__ = ["PYRAMID_RESAMPLING", "pyramid_tiles", "render_batch", "render_pyramid", "pyramid_matches", "MBTilesReader", "TILE_SIZE"]

_TMS = morecantile.tms.get("WebMercatorQuad")
PYRAMID_RESAMPLING: Resampling = "nearest"
"""How pre-rendered tiles (MBTiles here, PMTiles in :mod:`geo.pmtiles`) are resampled."""
_RESAMPLING = PYRAMID_RESAMPLING


def pyramid_tiles(bounds: Sequence[float], minzoom: int, maxzoom: int) -> list[tuple[int, int, int]]:
    """(z, x, y) of every WebMercatorQuad tile meeting lon/lat ``bounds`` at each zoom."""
    if not 0 <= minzoom <= maxzoom <= 24:
        raise ConfigError(f"need 0 <= minzoom <= maxzoom <= 24, got {minzoom}..{maxzoom}")
    w, s, e, n = bounds
    return [(t.z, t.x, t.y) for t in _TMS.tiles(w, s, e, n, zooms=list(range(minzoom, maxzoom + 1)), truncate=True)]


def _batches(tiles: Iterable[tuple[int, int, int]], span: int) -> list[list[tuple[int, int, int]]]:
    """Tiles grouped by zoom and ``span`` x ``span`` neighbourhoods (one reader per batch)."""
    groups: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
    for z, x, y in tiles:
        groups.setdefault((z, x // span, y // span), []).append((z, x, y))
    return [groups[k] for k in sorted(groups)]


def render_batch(path: str, surface: str, tiles: Sequence[tuple[int, int, int]],
                 tilesize: int = TILE_SIZE) -> list[tuple[int, int, int, bytes]]:
    """PNG bytes of each tile of a batch that touches the COG's footprint, as the live
    tile routes draw it (:class:`geo.tiles.CogTiler`); tiles outside it are left out."""
    out = []
    with CogTiler(tile_size=tilesize, resampling=_RESAMPLING, max_open=4, max_files=1) as tiler:
        version = file_version(path)  # one stat for the batch
        for z, x, y in tiles:
            try:
                out.append((z, x, y, tiler.render(path, surface, z, x, y, version=version)))
            except TileOutsideBoundsError:  # in the footprint's lon/lat box, not in the footprint
                continue
    return out


def render_pyramid(
    cog: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    surface: str,
    minzoom: int = 0,
    maxzoom: int = 8,
    client=None,
    batch_span: int = 8,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render tiles ``minzoom..maxzoom`` of ``cog`` (coloured as ``surface``) into the MBTiles ``out``.

    With ``client`` (a ``distributed.Client``) each batch of up to ``batch_span`` x
    ``batch_span`` tiles is one task on its cluster; results are written as they
    arrive, so the client holds one batch at a time. Returns ``out``.
    """
    path = os.fspath(cog)
    tile_palette(surface)  # unknown surface: fail before any work
    if batch_span < 1:
        raise ConfigError(f"batch_span must be >= 1, got {batch_span}")
    if not Path(path).is_file():
        raise LayerError(f"surface raster {path} does not exist")
    bounds = CogInfo(path).lonlat_bounds
    tiles = pyramid_tiles(bounds, minzoom, maxzoom)
    batches = _batches(tiles, batch_span)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".mbtiles.tmp")
    os.close(fd)
    try:
        db = sqlite3.connect(tmp)
        try:
            _create(db, name or f"{Path(path).stem} ({surface})", surface, bounds, minzoom, maxzoom)
            done = 0
            for n_tiles, results in _run(batches, path, surface, client):
                db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                               [(z, x, (1 << z) - 1 - y, sqlite3.Binary(b)) for z, x, y, b in results])
                done += n_tiles
                if progress:
                    progress(done, len(tiles))
            db.commit()
        finally:
            db.close()
        os.chmod(tmp, default_file_mode())  # mkstemp made it 0600: a product gets the umask's mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _run(batches: list, path: str, surface: str, client) -> Iterator[tuple[int, list[tuple[int, int, int, bytes]]]]:
    """(tiles in the batch, the batch's rendered tiles) per batch, as they are done."""
    if client is None:
        for b in batches:
            yield len(b), render_batch(path, surface, b)
        return
    from distributed import as_completed

    futures = client.map(render_batch, [path] * len(batches), [surface] * len(batches), batches, pure=False)
    size = {f.key: len(b) for f, b in zip(futures, batches, strict=True)}
    for future, result in as_completed(futures, with_results=True):
        yield size[future.key], result


def _create(db: sqlite3.Connection, name: str, surface: str, bounds, minzoom: int, maxzoom: int) -> None:
    w, s, e, n = bounds
    style = tile_palette(surface).style
    centre_zoom = min(max(minzoom, 3), maxzoom)
    meta = {
        "name": name,
        "format": "png",
        "type": "overlay",
        "version": "1.3",
        "description": f"{style.title} ({style.unit}), legend classes {list(style.labels)}",
        "bounds": f"{w:.6f},{s:.6f},{e:.6f},{n:.6f}",
        "center": f"{(w + e) / 2:.6f},{(s + n) / 2:.6f},{centre_zoom}",
        "minzoom": str(minzoom),
        "maxzoom": str(maxzoom),
        # the renderer, so that a server serves only tiles it would draw itself
        "render_version": RENDER_VERSION,
        "tile_size": str(TILE_SIZE),
        "resampling": _RESAMPLING,
    }
    db.executescript(
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
        "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
        "CREATE UNIQUE INDEX name ON metadata (name);"
    )
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))


def pyramid_matches(reader: MBTilesReader, *, tile_size: int, resampling: Resampling) -> bool:
    """Whether a pyramid's tiles are the ones a CogTiler with these settings draws."""
    md = reader.metadata
    return (md.get("render_version") == RENDER_VERSION and md.get("tile_size") == str(tile_size)
            and md.get("resampling") == resampling)


class MBTilesReader:
    """Read-only access to an MBTiles file by XYZ tile coordinates; safe to share between threads.

    ``get(z, x, y)`` returns the tile's PNG bytes, or None when the file has no such
    tile (outside the bounds or the zoom range). ``metadata`` holds the file's
    metadata table (``bounds``, ``minzoom``, ``maxzoom``, ``format`` ... as text).
    """

    def __init__(self, path: str | os.PathLike[str]):
        p = Path(path)
        if not p.is_file():
            raise LayerError(f"tile file {p} does not exist")
        self.path = p
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self.metadata: dict[str, str] = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
        except sqlite3.DatabaseError as exc:
            raise LayerError(f"{p} is not an MBTiles file: {exc}") from None
        self.minzoom = int(self.metadata.get("minzoom", 0))
        self.maxzoom = int(self.metadata.get("maxzoom", 24))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        w, s, e, n = (float(v) for v in self.metadata["bounds"].split(","))
        return w, s, e, n

    def get(self, z: int, x: int, y: int) -> bytes | None:
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (int(z), int(x), (1 << int(z)) - 1 - int(y)),
            ).fetchone()
        return bytes(row[0]) if row else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tiles").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> MBTilesReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

