"""Read what the maps need from an analysis folder (layout: :mod:`geo.products`).

Vector products come back in WGS84 (they are written so); a missing required
product raises :class:`~maps.errors.MissingProductError` naming the file and how
to make it. ``base_criticality.geojson`` is optional: when a base-criticality run
has written it, its columns join the bases by ``base_id``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from .coords import to_wgs84
from .errors import MapError, MissingProductError

__all__ = [
    "AnalysisFolder",
    "open_analysis",
    "read_layer",
    "join_criticality",
    "CRITICALITY_FILE",
    "CRITICALITY_COLUMNS",
]

CRITICALITY_FILE = "base_criticality.geojson"
CRITICALITY_COLUMNS = ("criticality", "added_vacuum", "added_exposure_weighted_gap")
"""Columns that measure how much vacuum a base's closure opens, in order of preference."""


def read_layer(path: str | os.PathLike[str], what: str | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON/GeoPackage layer in WGS84; :class:`MissingProductError` if absent."""
    p = Path(path)
    if not p.is_file():
        raise MissingProductError(f"{what or p.name}: no such file {p}")
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise MapError(f"{p}: cannot be read as a vector layer ({exc})") from None
    return to_wgs84(gdf, what=str(p))


@dataclass
class AnalysisFolder:
    """An analysis folder written by :func:`geo.products.write_analysis`."""

    path: Path
    summary: dict[str, Any]
    _cache: dict[str, gpd.GeoDataFrame | None] = field(default_factory=dict, repr=False)

    @property
    def as_of(self) -> str:
        return str(self.summary.get("as_of", "unknown date"))

    @property
    def grid_crs(self) -> CRS | None:
        """The analysis grid's projected CRS (metres), for simplifying geometries."""
        wkt = self.summary.get("grid", {}).get("crs")
        return CRS.from_user_input(wkt) if wkt else None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.summary.get("params", {}))

    def surface(self, name: str) -> Path:
        p = self.path / f"{name}.tif"
        if not p.is_file():
            raise MissingProductError(f"{p} is missing: the {name} surface is written by `vacuum analyze`")
        return p

    def layer(self, name: str, *, required: bool = True) -> gpd.GeoDataFrame | None:
        """``name.geojson`` in WGS84 (cached); ``None`` when absent and not required."""
        if name not in self._cache:
            p = self.path / f"{name}.geojson"
            if not p.is_file():
                if required:
                    raise MissingProductError(f"{p} is missing: rerun `vacuum analyze` to write it")
                self._cache[name] = None
            else:
                self._cache[name] = read_layer(p)
        gdf = self._cache[name]
        return None if gdf is None else gdf.copy()

    def require(self, name: str) -> gpd.GeoDataFrame:
        """``name.geojson`` in WGS84; :class:`MissingProductError` when absent."""
        gdf = self.layer(name, required=True)
        if gdf is None:  # unreachable: layer() raised
            raise MissingProductError(f"{self.path / name}.geojson is missing")
        return gdf

    def bases(self) -> gpd.GeoDataFrame:
        """The bases, with the criticality columns joined when a criticality file exists."""
        bases = self.require("bases")
        crit = self.layer(CRITICALITY_FILE.removesuffix(".geojson"), required=False)
        if crit is not None:
            bases = join_criticality(bases, crit)
        return bases

    def missions(self) -> list[str]:
        bases = self.layer("bases")
        if bases is None or "mission" not in bases:
            return []
        return sorted({str(m) for m in bases["mission"].dropna()})


def join_criticality(bases: gpd.GeoDataFrame, crit: pd.DataFrame) -> gpd.GeoDataFrame:
    """``bases`` with the non-geometry columns of ``crit`` joined on ``base_id``."""
    if "base_id" not in crit.columns:
        raise MapError(f"criticality table has no base_id column (columns: {', '.join(map(str, crit.columns))}); "
                       "it must name the base each row scores")
    geom = crit.geometry.name if isinstance(crit, gpd.GeoDataFrame) else None
    cols = [c for c in crit.columns if c != geom and (c == "base_id" or c not in bases.columns)]
    out = bases.merge(pd.DataFrame(crit[cols]), on="base_id", how="left")
    out.attrs["criticality_columns"] = [c for c in cols if c != "base_id"]
    return out


def open_analysis(path: str | os.PathLike[str]) -> AnalysisFolder:
    p = Path(path)
    if not p.is_dir():
        raise MissingProductError(f"{p}: no such analysis folder; make one with `vacuum analyze --out {p}`")
    summary_path = p / "summary.json"
    if not summary_path.is_file():
        raise MissingProductError(f"{p} is not an analysis folder (no summary.json); "
                                  f"make one with `vacuum analyze --out {p}`")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MapError(f"{summary_path}: not valid JSON ({exc}); rerun `vacuum analyze`") from None
    return AnalysisFolder(p, summary)
