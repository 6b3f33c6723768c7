"""Tile pyramids of a surface COG as one PMTiles v3 file (for the offline field package).

The tiles are the ones ``vacuum pyramid`` writes into MBTiles and the live routes serve:
drawn by the one renderer, :class:`geo.tiles.CogTiler` (set up as
:func:`geo.pyramid.render_batch` sets it up), so a PMTiles tile is the live tile byte for byte. The
file is written by the ``pmtiles`` package's writer (tiles in tile-id order, so the
archive is clustered), under a temporary name and moved into place.

    zooms = package_zooms(CogInfo("gap.tif").lonlat_bounds, 1000.0)   # (4, 8) for CAR at 1 km
    write_pmtiles("gap.tif", "gap.pmtiles", surface="gap", minzoom=4, maxzoom=8)

:func:`package_zooms` picks the zooms for an area: the top one is the first whose pixels
are no coarser than the grid's cells, the bottom one the last at which the area's width
still spans at least one tile.
"""

from __future__ import annotations

import math
import os
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, LayerError
from .pyramid import PYRAMID_RESAMPLING, pyramid_tiles
from .tiles import (
    RENDER_VERSION,
    TILE_SIZE,
    CogTiler,
    TileOutsideBoundsError,
    file_version,
    tile_palette,
)

__all__ = ["PMTilesInfo", "package_zooms", "write_pmtiles", "read_pmtiles", "EARTH_CIRCUMFERENCE_M", "MAX_PACKAGE_ZOOM"]

EARTH_CIRCUMFERENCE_M = 40075016.686
"""Web Mercator's equator length (m): a tile at zoom z spans this / 2**z at the equator."""
MAX_PACKAGE_ZOOM = 14
"""No package renders beyond this zoom (Leaflet over-zooms the last level)."""


@dataclass(frozen=True)
class PMTilesInfo:
    """One written PMTiles file."""

    path: Path
    surface: str
    minzoom: int
    maxzoom: int
    tiles: int
    bounds: tuple[float, float, float, float]  # lon/lat W, S, E, N
    size_bytes: int


def package_zooms(bounds: Sequence[float], resolution_m: float, *, tile_size: int = TILE_SIZE) -> tuple[int, int]:
    """(minzoom, maxzoom) for an area of lon/lat ``bounds`` on a grid of ``resolution_m``.

    maxzoom: the first zoom whose pixel (``C cos(lat) / (tile_size 2**z)`` at the area's
    middle latitude) is at most ``resolution_m``; minzoom: ``floor(log2(360 / width))``,
    the last zoom at which the area is at least a tile wide; both within 0..14.
    """
    w, s, e, n = (float(v) for v in bounds)
    if not (e > w and n > s):
        raise ConfigError(f"bounds {tuple(bounds)} are empty: need W < E and S < N")
    if not resolution_m > 0:
        raise ConfigError(f"resolution must be > 0 m, got {resolution_m}")
    pixel_z0 = EARTH_CIRCUMFERENCE_M * math.cos(math.radians((s + n) / 2)) / tile_size
    maxzoom = min(MAX_PACKAGE_ZOOM, max(0, math.ceil(math.log2(pixel_z0 / resolution_m) - 1e-9)))
    minzoom = min(maxzoom, max(0, math.floor(math.log2(360.0 / (e - w)))))
    return minzoom, maxzoom


def write_pmtiles(cog: str | os.PathLike[str], out: str | os.PathLike[str], *, surface: str,
                  minzoom: int, maxzoom: int, name: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> PMTilesInfo:
    """Render tiles ``minzoom..maxzoom`` of ``cog`` (coloured as ``surface``) into the PMTiles ``out``.

    Every tile the live renderer draws (it touches the COG's footprint) is written,
    transparent ones too. Raises :class:`LayerError` when the COG is missing or no tile
    meets it.
    """
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    path = os.fspath(cog)
    style = tile_palette(surface).style  # unknown surface: fail before any work
    if not Path(path).is_file():
        raise LayerError(f"surface raster {path} does not exist")
    tiles = []
    # one renderer for the file (its footprint and overviews read once), set up as geo.pyramid's batches
    with CogTiler(tile_size=TILE_SIZE, resampling=PYRAMID_RESAMPLING, max_open=4, max_files=1) as tiler:
        bounds = tiler.info(path).lonlat_bounds
        wanted = pyramid_tiles(bounds, minzoom, maxzoom)
        version = file_version(path)
        for i, (z, x, y) in enumerate(wanted, 1):
            try:
                tiles.append((z, x, y, tiler.render(path, surface, z, x, y, version=version)))
            except TileOutsideBoundsError:  # in the footprint's lon/lat box, not in the footprint
                pass
            if progress and (i % 64 == 0 or i == len(wanted)):
                progress(i, len(wanted))
    if not tiles:
        raise LayerError(f"{path}: no tile of zoom {minzoom}..{maxzoom} meets the surface")
    tiles.sort(key=lambda t: zxy_to_tileid(t[0], t[1], t[2]))
    w, s, e, n = bounds
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"  # open(): the umask's mode, not mkstemp's 0600
    try:
        with open(tmp, "xb") as f:
            writer = Writer(f)
            for z, x, y, data in tiles:
                writer.write_tile(zxy_to_tileid(z, x, y), data)
            header = {
                "tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                "min_lon_e7": int(w * 1e7), "min_lat_e7": int(s * 1e7),
                "max_lon_e7": int(e * 1e7), "max_lat_e7": int(n * 1e7),
                "center_zoom": min(max(minzoom, 5), maxzoom),
                "center_lon_e7": int((w + e) / 2 * 1e7), "center_lat_e7": int((s + n) / 2 * 1e7),
            }
            writer.finalize(header, {
                "name": name or f"{Path(path).stem} ({surface})", "format": "png", "type": "overlay",
                "description": f"{style.title} ({style.unit}), legend classes {list(style.labels)}",
                "surface": surface, "render_version": RENDER_VERSION, "tile_size": TILE_SIZE,
            })
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PMTilesInfo(out, surface, minzoom, maxzoom, len(tiles), (w, s, e, n), out.stat().st_size)


def read_pmtiles(path: str | os.PathLike[str]) -> tuple[dict, dict, dict[tuple[int, int, int], bytes]]:
    """(header, metadata, {(z, x, y): tile bytes}) of a PMTiles file, read with the ``pmtiles`` package's reader."""
    from pmtiles.reader import MemorySource, Reader, all_tiles
    from pmtiles.tile import MagicNumberNotFound, SpecVersionUnsupported

    p = Path(path)
    if not p.is_file():
        raise LayerError(f"tile file {p} does not exist")
    buf = p.read_bytes()
    src = MemorySource(buf)
    reader = Reader(src)
    try:
        header, metadata = reader.header(), reader.metadata()
    except (MagicNumberNotFound, SpecVersionUnsupported, ValueError, OSError, EOFError, struct.error) as exc:
        raise LayerError(f"{p} is not a PMTiles v3 file: {exc}") from None
    return header, metadata, {(z, x, y): data for (z, x, y), data in all_tiles(src)}
