"""The one door to an analysis' inputs: :func:`build_inputs` turns an :class:`InputSpec`
(file paths, or GeoDataFrames a store already validated, and how to read them) into the
:class:`~geo.pipeline.AnalysisInputs` that :func:`geo.pipeline.analyze` takes.

The CLI (``vacuum analyze``, ``vacuum backtest``), the service's worker and the
benchmarks all build their inputs here, so a layer is checked one way and a missing
CRS gets one message wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeAlias

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from pyproj.exceptions import CRSError

from . import layers
from .errors import ConfigError, GridError, MissingCRSError
from .pipeline import AnalysisInputs
from .readers import read_vector, validate_geometries
from .types import BBox

__all__ = ["LayerSource", "InputSpec", "build_inputs", "analysis_crs", "default_as_of", "SITE_KINDS"]

LayerSource: TypeAlias = str | Path | gpd.GeoDataFrame
"""A layer file (``FILE`` or ``FILE.gpkg::layer``), or a GeoDataFrame already in a loader's schema."""

SITE_KINDS: dict[str, Literal["town", "airport", "critical"]] = {
    "towns": "town", "airports": "airport", "sites": "critical"}
"""The three site layers and the ``kind`` each gets in the combined sites layer."""


@dataclass
class InputSpec:
    """What to analyse and how to read it. Layer fields take a path or a GeoDataFrame;
    the reading options apply to paths only."""

    bases: LayerSource
    events: LayerSource | None = None
    roads: LayerSource | None = None
    towns: LayerSource | None = None
    airports: LayerSource | None = None
    sites: LayerSource | None = None
    admin: LayerSource | None = None
    national: LayerSource | None = None
    impassable: LayerSource | None = None
    population: str | Path | None = None
    population_units: Literal["count", "density"] | None = None
    bbox: BBox | None = None
    # how files are read
    as_of: date | None = None  # the Geo-PKO map in force on this date
    mission: str | None = None
    max_map_age_days: float | None = 365.0
    mapping: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # per layer: our field -> column
    year_only: bool = False
    road_class_column: str | None = None
    repair: bool = False
    admin_level: int | None = None
    admin_name_column: str | None = None
    admin_id_column: str | None = None
    layer_crs: CRS | None = None  # for files that declare no CRS, and only those


def build_inputs(spec: InputSpec) -> AnalysisInputs:
    """Load (or take) every layer of ``spec``, check each has a CRS, combine the site layers."""
    if spec.population is not None and spec.population_units is None:
        raise ConfigError("population_units is required with a population raster: 'count' (people per cell) "
                          "or 'density' (people per km²)")
    if spec.population is not None:
        layers.check_population_raster(spec.population)
    if spec.bbox is not None and len(spec.bbox) != 4:
        raise GridError(f"bbox {tuple(spec.bbox)}: need 4 numbers W,S,E,N")
    read = _Reader(spec)
    sites = [read(name, layers.load_sites, kind=kind, mapping=spec.mapping.get(name))
             for name, kind in SITE_KINDS.items()]
    inputs = AnalysisInputs(
        bases=read("bases", layers.load_bases, as_of=spec.as_of, mission=spec.mission,
                   mapping=spec.mapping.get("bases"), max_map_age_days=spec.max_map_age_days),
        events=read("events", layers.load_events, mapping=spec.mapping.get("events"), year_only=spec.year_only),
        roads=read("roads", layers.load_roads, class_column=spec.road_class_column, repair=spec.repair),
        sites=combine_sites([s for s in sites if s is not None]),
        admin=read("admin", layers.load_admin, repair=spec.repair, level=spec.admin_level,
                   name_column=spec.admin_name_column, id_column=spec.admin_id_column),
        national=read("national", layers.load_bases, mapping=spec.mapping.get("national")),
        impassable=read("impassable", _load_impassable, repair=spec.repair),
        population_path=Path(spec.population) if spec.population is not None else None,
        population_units=spec.population_units or "count",
        bbox=BBox(*(float(v) for v in spec.bbox)) if spec.bbox is not None else None,
    )
    if inputs.bases is None:
        raise ConfigError("bases is required (peacekeeper positions: Geo-PKO CSV or any point layer)")
    return inputs


class _Reader:
    """Reads one layer of a spec: a path through its loader (``layer_crs`` applied to
    files that declare no CRS), a GeoDataFrame as it is; either must end with a CRS."""

    def __init__(self, spec: InputSpec):
        self.spec = spec

    def __call__(self, name: str, loader: Callable[..., gpd.GeoDataFrame], **kwargs: Any) -> gpd.GeoDataFrame | None:
        src = getattr(self.spec, name)
        if src is None:
            return None
        if isinstance(src, gpd.GeoDataFrame):
            gdf = src
        else:
            try:
                gdf = loader(src, **kwargs)
            except MissingCRSError:
                if self.spec.layer_crs is None:
                    raise
                gdf = loader(src, crs=self.spec.layer_crs, **kwargs)
        if gdf.crs is None:
            raise MissingCRSError(f"{name} layer has no CRS; set it with .set_crs(...) or give layer_crs "
                                  "(--layer-crs) for files that declare none")
        return gdf


def _load_impassable(path: str | Path, *, crs: Any = None, repair: bool = False) -> gpd.GeoDataFrame:
    gdf = read_vector(path, crs=crs)
    return validate_geometries(gdf, what="impassable layer", id_column=None, allowed={"Polygon", "MultiPolygon"},
                               repair=repair)


def combine_sites(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    """Towns, airports and critical sites as one layer, in the first one's CRS."""
    if not frames:
        return None
    crs0 = frames[0].crs
    return gpd.GeoDataFrame(pd.concat([f.to_crs(crs0) for f in frames], ignore_index=True), crs=crs0)


def analysis_crs(value: str | CRS | None) -> CRS | None:
    """The analysis CRS a user asked for (None: an equal-area CRS centred on the area).

    Raises :class:`GridError` for a value that is not a CRS, or a geographic one."""
    if value is None:
        return None
    try:
        crs = CRS.from_user_input(value)
    except CRSError as exc:
        raise GridError(f"crs {value!r}: bad CRS ({exc}); use e.g. EPSG:32634") from None
    if not crs.is_projected:
        raise GridError(f"crs {crs.name} is geographic: the analysis CRS must be projected (metres), e.g. "
                        "EPSG:32634, or left out for an equal-area CRS centred on the area")
    return crs


def default_as_of(inputs: AnalysisInputs) -> tuple[date, str]:
    """The as-of date when none is given, and the sentence that says which it is."""
    if inputs.events is not None and len(inputs.events):
        d = pd.to_datetime(inputs.events["date"]).max().date()
        return d, f"as-of date not given: using {d} (latest event)"
    d = date.today()
    return d, f"as-of date not given: using today, {d}"
