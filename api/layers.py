"""Layer kinds and their ingestion: an uploaded file through the engine's loaders into the store.

Each kind names the :mod:`geo.layers` loader that validates it and the upload options it
takes. A layer is stored as the loader returned it (fixed schema, the file's CRS): a
validated snapshot with its own id. Uploading again makes a new layer; nothing stored
is ever replaced, so a failed upload loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import InputError, RequestError, UploadRejectedError
from api.settings import Settings
from api.storage import LayerRecord, Storage, new_id
from api.storage.base import column_types
from api.uploads import (
    RASTER_FORMATS,
    VECTOR_FORMATS,
    check_extension,
    extract_shapefile_zip,
    sniff,
)
from geo.errors import LayerError, MissingCRSError, VacuumError

__all__ = ["LAYER_KINDS", "LayerKindSpec", "LayerOptions", "ingest_layer", "parse_options", "OPTION_FIELDS"]


class LayerOptions(BaseModel):
    """Options of an upload (multipart form fields next to ``file``, ``kind`` and ``name``)."""

    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str] | None = Field(
        None, description='our field -> your column, as JSON, for files of no known schema: {"strength": "troops"}')
    crs: str | None = Field(None, description="CRS of files that declare none (CSV with x/y, shapefile without .prj)",
                            examples=["EPSG:32634"])
    layer: str | None = Field(None, description="layer of a GeoPackage, or .shp in a zip, when there are several")
    as_of: date | None = Field(None, description="bases: take the Geo-PKO map on or before this date")
    mission: str | None = Field(None, description="bases: keep this Geo-PKO mission only", examples=["MINUSCA"])
    max_map_age_days: float | None = Field(
        None, ge=0, description="bases: leave out missions whose latest map is older than this (default 365)")
    year_only: bool = Field(False, description="events: the file carries only a year; date events 1 July")
    class_column: str | None = Field(None, description="roads: column holding the road class")
    repair: bool = Field(False, description="roads, admin, impassable: repair invalid polygons with make_valid")
    name_column: str | None = Field(None, description="admin: column holding the unit name")
    id_column: str | None = Field(None, description="admin: column holding the unit id")
    level: int | None = Field(None, ge=0, le=9, description="admin: administrative level of every unit")
    population_units: Literal["count", "density"] | None = Field(
        None, description="population (required): people per cell (count) or per km² (density)")


OPTION_FIELDS = tuple(LayerOptions.model_fields)


@dataclass(frozen=True)
class LayerKindSpec:
    kind: str
    storage: Literal["vector", "raster"]
    options: frozenset[str]
    description: str
    load: Callable[[Path, LayerOptions, Any], gpd.GeoDataFrame] | None = None


def _bases(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
    from geo.layers import load_bases

    kw: dict[str, Any] = {}
    if o.max_map_age_days is not None:
        kw["max_map_age_days"] = o.max_map_age_days
    return load_bases(path, mapping=o.mapping, crs=crs, as_of=o.as_of, mission=o.mission, **kw)


def _national(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
    from geo.layers import load_bases

    return load_bases(path, mapping=o.mapping, crs=crs)


def _events(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
    from geo.layers import load_events

    return load_events(path, mapping=o.mapping, crs=crs, year_only=o.year_only)


def _roads(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
    from geo.layers import load_roads

    return load_roads(path, class_column=o.class_column, crs=crs, repair=o.repair)


def _sites(kind: Literal["town", "airport", "critical"]):
    def load(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
        from geo.layers import load_sites

        return load_sites(path, kind=kind, mapping=o.mapping, crs=crs)

    return load


def _admin(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
    from geo.layers import load_admin

    return load_admin(path, name_column=o.name_column, id_column=o.id_column, level=o.level, crs=crs, repair=o.repair)


def _impassable(path: Path, o: LayerOptions, crs: Any) -> gpd.GeoDataFrame:
    from geo.readers import read_vector, validate_geometries

    gdf = read_vector(path, crs=crs)
    return validate_geometries(gdf, what="impassable areas", id_column=None, allowed={"Polygon", "MultiPolygon"},
                               repair=o.repair)


_COMMON = frozenset({"crs", "layer"})
LAYER_KINDS: dict[str, LayerKindSpec] = {s.kind: s for s in (
    LayerKindSpec("bases", "vector", _COMMON | {"mapping", "as_of", "mission", "max_map_age_days"},
                  "peacekeeper bases with troop strength (Geo-PKO v2.1/v2.3, or points with base_id, strength)", _bases),
    LayerKindSpec("events", "vector", _COMMON | {"mapping", "year_only"},
                  "armed-conflict events (UCDP GED, ACLED, or points with a date)", _events),
    LayerKindSpec("roads", "vector", _COMMON | {"class_column", "repair"}, "road lines (OSM highway classes)", _roads),
    LayerKindSpec("towns", "vector", _COMMON | {"mapping"}, "towns with population (GeoNames)", _sites("town")),
    LayerKindSpec("airports", "vector", _COMMON | {"mapping"}, "airports and airstrips (OurAirports)",
                  _sites("airport")),
    LayerKindSpec("sites", "vector", _COMMON | {"mapping"}, "critical sites (points with a name)", _sites("critical")),
    LayerKindSpec("admin", "vector", _COMMON | {"name_column", "id_column", "level", "repair"},
                  "administrative units (Natural Earth, geoBoundaries, OCHA COD-AB, GADM)", _admin),
    LayerKindSpec("national", "vector", _COMMON | {"mapping"},
                  "national forces (points with base_id, strength; optional readiness)", _national),
    LayerKindSpec("impassable", "vector", _COMMON | {"repair"}, "areas no force can cross (polygons)", _impassable),
    LayerKindSpec("population", "raster", frozenset({"population_units"}),
                  "population raster (single-band GeoTIFF, e.g. WorldPop)"),
)}


def parse_options(kind: str, fields: dict[str, str]) -> LayerOptions:
    """Upload options from form fields (text), checked against what ``kind`` takes."""
    if kind not in LAYER_KINDS:
        raise RequestError(f"field 'kind': {kind!r} is not a layer kind; use one of {', '.join(LAYER_KINDS)}")
    spec = LAYER_KINDS[kind]
    raw: dict[str, Any] = {}
    for k, v in fields.items():
        if k not in OPTION_FIELDS:
            raise RequestError(f"field {k!r} is not an upload option; options are: kind, name, "
                               f"{', '.join(OPTION_FIELDS)} (and the file as 'file')")
        if v.strip() == "":
            continue
        if k == "mapping":
            try:
                raw[k] = json.loads(v)
            except json.JSONDecodeError as exc:
                raise RequestError(f"field 'mapping' is not JSON ({exc.msg}); send e.g. "
                                   '{"strength": "troops", "base_id": "site"}') from None
        else:
            raw[k] = v
    not_here = sorted(set(raw) - spec.options)
    if not_here:
        raise RequestError(f"field(s) {', '.join(map(repr, not_here))} do not apply to {kind} layers; "
                           f"{kind} takes: {', '.join(sorted(spec.options)) or 'no options'}")
    try:
        opts = LayerOptions.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        raise RequestError(f"field {loc!r}: {e['msg']} (got {e.get('input')!r})") from None
    if kind == "population" and opts.population_units is None:
        raise RequestError("field 'population_units' is required for a population raster: 'count' (people per "
                           "cell) or 'density' (people per km²)")
    return opts


def _replace_all(text: str, replacements: dict[str, str]) -> str:
    """``text`` with our temporary paths replaced by the client's filename (longest first)."""
    for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(old, new)
    return text


def _rewrite(exc: VacuumError | InputError, replacements: dict[str, str]) -> VacuumError | InputError:
    """The same error with our temporary paths replaced by the names the client knows."""
    msg = _replace_all(str(exc), replacements)
    if msg == str(exc):
        return exc
    try:
        new_exc = type(exc)(msg)
    except Exception:  # pragma: no cover - every engine error takes one message
        return exc
    return new_exc


def _load_vector(spec: LayerKindSpec, path: Path, opts: LayerOptions) -> gpd.GeoDataFrame:
    """Run the kind's loader; the ``crs`` option applies only to files that declare none (as the CLI)."""
    from geo.readers import to_crs_object

    if spec.load is None:  # pragma: no cover - raster kinds never come here
        raise RequestError(f"{spec.kind} layers are rasters; they have no vector loader")
    crs = to_crs_object(opts.crs) if opts.crs else None
    try:
        return spec.load(path, opts, None)
    except MissingCRSError:
        if crs is None:
            raise
        return spec.load(path, opts, crs)


def _single_gpkg_layer(path: Path, layer: str, workdir: Path) -> Path:
    import pyogrio

    names = [str(n) for n, _ in pyogrio.list_layers(path)]
    if layer not in names:
        raise LayerError(f"field 'layer': no layer {layer!r} in the GeoPackage; it holds: {', '.join(names)}")
    out = workdir / f"{layer[:60] or 'layer'}.gpkg".replace("/", "_")
    gdf = pyogrio.read_dataframe(path, layer=layer)
    pyogrio.write_dataframe(gdf, out, layer=layer, driver="GPKG")
    return out


def _bbox_lonlat(gdf: gpd.GeoDataFrame) -> list[float] | None:
    if gdf.crs is None or len(gdf) == 0:
        return None
    w, s, e, n = gdf.to_crs(4326).total_bounds
    return [round(float(v), 6) for v in (w, s, e, n)]


def _check_raster(path: Path, settings: Settings, units: str | None = None) -> dict[str, Any]:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.warp import transform_bounds

    from geo.layers import check_population_raster

    # the engine's checks (size first, then plausible values in these units) with this server's limit
    notes = check_population_raster(path, units, max_pixels=settings.max_raster_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            pixels = ds.width * ds.height
            if pixels > settings.max_raster_pixels:
                raise UploadRejectedError(
                    f"field 'file': the raster has {ds.width} x {ds.height} = {pixels:,} pixels, over the limit of "
                    f"{settings.max_raster_pixels:,} (VACUUM_MAX_RASTER_PIXELS); clip it to the area of interest")
            bbox = [round(float(v), 6) for v in transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)]
            return {"crs_wkt": ds.crs.to_wkt(), "crs": ds.crs.to_string(), "bbox": bbox, "width": ds.width,
                    "height": ds.height, "dtype": ds.dtypes[0], "nodata": ds.nodata, "warnings": notes}


def ingest_layer(storage: Storage, settings: Settings, *, kind: str, source: Path, filename: str,
                 options: LayerOptions, name: str | None = None, created_by: str = "",
                 workdir: Path | None = None) -> LayerRecord:
    """Validate ``source`` (a file in the workspace's tmp folder) as a ``kind`` layer and store it.

    Raises the engine's errors (with the client's filename in the message instead of our
    temporary path), :class:`UploadRejectedError` for files that are not what they claim,
    :class:`PayloadTooLargeError` for zip bombs. On any error nothing is stored.
    """
    if kind not in LAYER_KINDS:
        raise RequestError(f"field 'kind': {kind!r} is not a layer kind; use one of {', '.join(LAYER_KINDS)}")
    spec = LAYER_KINDS[kind]
    own_workdir = workdir is None
    workdir = workdir or storage.tmp_dir() / f"ingest-{uuid.uuid4().hex[:12]}"
    workdir.mkdir(parents=True, exist_ok=True)
    formats = RASTER_FORMATS if spec.storage == "raster" else VECTOR_FORMATS
    ext = check_extension(filename, formats, f"a {kind} layer")
    replacements = {str(source): filename, str(source.resolve()): filename, str(workdir): filename,
                    str(workdir.resolve()): filename}
    layer_id = new_id("ly")
    try:
        sniff(source, ext, filename)
        size = source.stat().st_size
        if spec.storage == "raster":
            info = _check_raster(source, settings, options.population_units)
            info["warnings"] = [_replace_all(w, replacements) for w in info["warnings"]]
            rec = LayerRecord(
                id=layer_id, kind=kind, name=name or Path(filename).stem, filename=filename, format=formats[ext],
                storage="raster", crs=info.pop("crs"), crs_wkt=info.pop("crs_wkt"), bbox=info.pop("bbox"),
                attrs={**info, "population_units": options.population_units},
                options=options.model_dump(mode="json", exclude_defaults=True), size_bytes=size,
                created_by=created_by)
            staged = storage.tmp_dir() / f".{layer_id}.tif"
            shutil.copyfile(source, staged)
            try:
                return storage.add_raster_layer(rec, staged)
            finally:
                staged.unlink(missing_ok=True)
        path = source
        if ext == ".zip":
            path = extract_shapefile_zip(source, workdir / "unzipped", filename,
                                         max_members=settings.max_zip_members,
                                         max_bytes=settings.max_unzipped_bytes, layer=options.layer)
            replacements[str(path)] = f"{filename}!{path.name}"
            replacements[str(path.resolve())] = f"{filename}!{path.name}"
        elif ext == ".gpkg" and options.layer:
            path = _single_gpkg_layer(source, options.layer, workdir)
            replacements[str(path)] = f"{filename}!{options.layer}"
        elif options.layer:
            raise RequestError(f"field 'layer' applies to GeoPackages and zipped shapefiles, not {formats[ext]}")
        gdf = _load_vector(spec, path, options)
        from geo.export import json_safe

        attrs = {k: v for k, v in gdf.attrs.items() if k != "source"}
        attrs = json.loads(json.dumps(json_safe(attrs)).replace(json.dumps(str(path))[1:-1], filename))
        rec = LayerRecord(
            id=layer_id, kind=kind, name=name or Path(filename).stem, filename=filename, format=formats[ext],
            storage="vector", crs=gdf.crs.to_string(), crs_wkt=gdf.crs.to_wkt(), feature_count=int(len(gdf)),
            bbox=_bbox_lonlat(gdf), columns=column_types(gdf), attrs=attrs,
            options=options.model_dump(mode="json", exclude_defaults=True), size_bytes=size, created_by=created_by)
        return storage.add_vector_layer(rec, gdf)
    except (VacuumError, InputError) as exc:
        new = _rewrite(exc, replacements)
        if new is exc:
            raise
        raise new from None
    finally:
        if own_workdir:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
