"""Writers for the vector and table products: GeoJSON, GeoPackage, GeoParquet, KMZ, CSV, JSON.

Every writer is atomic: it writes a hidden temporary file in the destination
folder and moves it into place with :func:`os.replace`, so a crash or an error
never leaves a half-written file under the final name (an older file of that
name stays as it was).

Vector products leave the engine in WGS84 lon/lat (EPSG:4326), the CRS GIS users
and web maps expect; the analysis CRS stays inside the engine and its rasters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS

from .errors import MissingCRSError
from .styles import LayerStyle

__all__ = [
    "atomic_path",
    "to_wgs84",
    "write_geojson",
    "write_gpkg_layer",
    "GpkgLayer",
    "write_gpkg",
    "write_geoparquet",
    "write_kmz",
    "kml_color",
    "as_multi",
    "as_dates",
    "write_csv",
    "csvt_types",
    "default_file_mode",
    "write_npz",
    "write_json",
    "json_safe",
]

WGS84 = CRS.from_epsg(4326)
GEOJSON_PRECISION = 6
"""Decimal places of lon/lat in GeoJSON: 1e-6 degree is about 0.1 m."""
CSV_FLOAT_FORMAT = "%.10g"
"""Ten significant digits: exact for counts and areas, no 0.30000000000000004 noise."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary name keeps the final suffix (GDAL drivers look at it) and is
    not created here, so drivers that refuse to overwrite a file work. With
    ``copy_existing`` an existing ``path`` is copied to the temporary name first
    (for formats updated in place, such as a GeoPackage getting one more layer).
    On any error the temporary file is removed and the error re-raised.
    """
    final = Path(path)
    tmp = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:12]}{final.suffix}")
    try:
        if copy_existing and final.exists():
            shutil.copy2(final, tmp)
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def to_wgs84(gdf: gpd.GeoDataFrame, what: str = "layer") -> gpd.GeoDataFrame:
    """``gdf`` reprojected to EPSG:4326; raise if it has no CRS to reproject from."""
    if gdf.crs is None:
        raise MissingCRSError(
            f"{what} has no CRS, so it cannot be written as lon/lat; set one with .set_crs(...)"
        )
    if CRS.from_user_input(gdf.crs).equals(WGS84):
        return gdf.copy()
    return gdf.to_crs(WGS84)


def _nulls_for_non_finite(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Float columns as nullable ``Float64`` so NaN and ±inf are written as null.

    GDAL skips a non-finite property with a warning; JSON has no NaN or Infinity.
    """
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.ArrowDtype):
            values = s.to_numpy(dtype="float64", na_value=np.nan)
            values = np.where(np.isfinite(values), values, np.nan)
            out[col] = pd.array(values, dtype="Float64")  # NaN -> <NA>
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON in WGS84 lon/lat; return the path.

    The layer is reprojected to EPSG:4326; GDAL's GeoJSON driver runs with
    ``RFC7946=YES`` (no ``crs`` member, counter-clockwise outer rings, geometries
    cut at the antimeridian) and 6 decimal places. NaN and ±inf properties are
    written as ``null``. The index is not written: keep ids in columns.
    Raises :class:`MissingCRSError` if ``gdf`` has no CRS.
    """
    out = _nulls_for_non_finite(to_wgs84(gdf))
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            out,
            tmp,
            driver="GeoJSON",
            layer=Path(path).stem,
            layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": GEOJSON_PRECISION},
        )
    return Path(path)


def write_gpkg_layer(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], layer: str, *,
                     geometry_type: str | None = None) -> Path:
    """Add ``layer`` to the GeoPackage at ``path``, replacing a layer of that name.

    Other layers in the file are kept, so calling this once per product builds a
    multi-layer GeoPackage (a new file is GeoPackage 1.2, :data:`GPKG_VERSION`; to write
    all layers at once, use :func:`write_gpkg`). Geometries are written in EPSG:4326
    (lon/lat), like the GeoJSON, so every layer opens in a GIS without a reprojection
    prompt; areas and distances in the attribute columns were computed in the
    equal-area analysis CRS before export. ``geometry_type`` (e.g. ``MultiPolygon``,
    Polygons promoted) is kept by an empty layer too. The existing file is copied, the
    layer written into the copy and the copy moved into place, so a failure
    leaves the old file whole (two processes writing the same file at once
    would lose one of the layers: write one GeoPackage per job).
    Raises :class:`MissingCRSError` if ``gdf`` has no CRS.
    """
    if not layer or not isinstance(layer, str):
        raise ValueError(f"layer name must be a non-empty string, got {layer!r}")
    out = _nulls_for_non_finite(to_wgs84(gdf))
    with atomic_path(path, copy_existing=True) as tmp:
        new = not tmp.exists()
        pyogrio.write_dataframe(out, tmp, driver="GPKG", layer=layer, geometry_type=geometry_type,
                                promote_to_multi=bool(geometry_type and geometry_type.startswith("Multi")),
                                dataset_options={"VERSION": GPKG_VERSION} if new else None)
    return Path(path)


GPKG_VERSION = "1.2"
"""GeoPackage version written (``PRAGMA user_version`` 10200): GDAL 3.6 and QGIS 3.22 read it
without the "may only be partially supported" warning that 1.4 gets."""
KMZ_DATE = (1980, 1, 1, 0, 0, 0)
"""The timestamp of ``doc.kml`` inside a KMZ (zip's earliest), so two runs write the same bytes."""

LAYER_STYLES_DDL = (
    "CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
    "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
    "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
    "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"
)
"""QGIS's own ``layer_styles`` table: QGIS applies the ``useAsDefault`` row of a layer on open."""


@dataclass(frozen=True)
class GpkgLayer:
    """One layer of a GeoPackage: its name, frame (any CRS) and OGR geometry type, which an
    empty layer keeps too (``Point``, ``MultiPolygon``, ...)."""

    name: str
    frame: gpd.GeoDataFrame
    geometry_type: str


def as_multi(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with every Polygon as a one-part MultiPolygon (other geometries as they are),
    so a polygon layer has one geometry type."""
    out = gdf.copy()
    geoms = np.asarray(out.geometry.values, dtype=object)
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    if single.any():
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
        out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=out.crs)
    return out


def as_dates(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy with ``columns`` (where present: datetimes or ISO date strings) as calendar dates
    (Arrow ``date32``), which GeoPackage and GeoParquet store as DATE; missing stays missing."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            stamps = pd.Series(pd.to_datetime(out[col], errors="raise"), index=out.index)
            if stamps.dt.tz is not None:  # the date on the stamp's own clock, as Timestamp.date() gives
                stamps = stamps.dt.tz_localize(None)
            days = stamps.to_numpy().astype("datetime64[D]")  # whole days, floored (dates before 1970 too)
            out[col] = pd.array(pa.array(days, type=pa.date32(), mask=stamps.isna().to_numpy()),
                                dtype=pd.ArrowDtype(pa.date32()))
    return out


@contextlib.contextmanager
def _gdal_config(options: Mapping[str, str]) -> Iterator[None]:
    old = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(dict(options))
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def write_gpkg(path: str | os.PathLike[str], layers: Sequence[GpkgLayer], *,
               styles: Sequence[LayerStyle] = (), timestamp: str | None = None) -> Path:
    """Write a whole GeoPackage at once: every layer into one temporary file, moved once.

    GeoPackage 1.2 (:data:`GPKG_VERSION`), geometries in EPSG:4326, each layer with its
    declared geometry type (Polygon promoted to MultiPolygon when the type is Multi*),
    Arrow dtypes kept (``date32`` columns become DATE). ``styles`` go into QGIS's
    ``layer_styles`` table as each layer's default. ``timestamp`` (``YYYY-MM-DDTHH:MM:SS.sssZ``)
    is written as every ``last_change`` and ``update_time`` (GDAL's ``OGR_CURRENT_DATE``), so
    the same layers make the same bytes; without it, the current time.
    Raises :class:`MissingCRSError` if a frame has no CRS.
    """
    frames = [(layer, _nulls_for_non_finite(to_wgs84(layer.frame, f"layer {layer.name}"))) for layer in layers]
    config = {"OGR_CURRENT_DATE": timestamp} if timestamp else {}
    with atomic_path(path) as tmp, _gdal_config(config):
        for i, (layer, out) in enumerate(frames):
            pyogrio.write_dataframe(
                out, tmp, driver="GPKG", layer=layer.name, geometry_type=layer.geometry_type, use_arrow=True,
                promote_to_multi=layer.geometry_type.startswith("Multi"),
                dataset_options={"VERSION": GPKG_VERSION} if i == 0 else None)
        if styles:
            _write_layer_styles(tmp, styles, timestamp)
    return Path(path)


def _write_layer_styles(path: Path, styles: Sequence[LayerStyle], timestamp: str | None) -> None:
    stamp = timestamp or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    con = sqlite3.connect(path)
    try:
        with con:
            geom = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
            con.execute(LAYER_STYLES_DDL)
            con.executemany(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', '', ?)",
                [(s.layer, geom.get(s.layer, ""), s.name, s.qml, s.sld, s.description, stamp) for s in styles])
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                        "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', ?)", (stamp,))
    finally:
        con.close()


def write_geoparquet(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``gdf`` as GeoParquet 1.0 in EPSG:4326 (the CRS as PROJJSON in the ``geo``
    metadata), Arrow dtypes kept, non-finite floats as null; return the path."""
    out = _nulls_for_non_finite(to_wgs84(gdf))
    with atomic_path(path) as tmp:
        out.to_parquet(tmp, index=False, schema_version="1.0.0")
    return Path(path)


def kml_color(color: str, alpha: int = 255) -> str:
    """Pure: ``#rrggbb`` as KML's ``aabbggrr`` (``#a50026``, 200 → ``c82600a5``)."""
    return f"{alpha:02x}{color[5:7]}{color[3:5]}{color[1:3]}".lower()


def _kml_styles(text: str, colors: Sequence[str]) -> str:
    """Each placemark's inline ``<Style>`` (GDAL writes one per placemark, in row order)
    replaced by a fill of its colour with a dark outline."""
    it = iter(colors)
    count = 0

    def fill(_m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return (f"<Style><LineStyle><color>ff232323</color><width>1</width></LineStyle><PolyStyle>"
                f"<color>{kml_color(next(it), 200)}</color><fill>1</fill><outline>1</outline></PolyStyle></Style>")

    out = re.sub(r"<Style>.*?</Style>", fill, text, flags=re.DOTALL)
    if count != len(colors):
        raise ValueError(f"KML has {count} placemark styles for {len(colors)} colours")
    return out


def write_kmz(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str,
              name_field: str | None = None, colors: Sequence[str] | None = None) -> Path:
    """Write ``gdf`` as KMZ (a zip holding ``doc.kml``, GDAL's KML driver) for Google Earth and
    field tablets: lon/lat, attributes as ExtendedData, ``name_field`` as each placemark's name,
    ``colors`` (``#rrggbb`` per row) as each polygon's fill. The zip entry carries a fixed date
    (:data:`KMZ_DATE`), so the same layer makes the same bytes."""
    out = _nulls_for_non_finite(to_wgs84(gdf))
    if colors is not None and len(colors) != len(out):
        raise ValueError(f"{len(colors)} colours for {len(out)} features of {layer}")
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as work:
        kml = Path(work) / "doc.kml"
        pyogrio.write_dataframe(out, kml, driver="KML", layer=layer,
                                dataset_options={"NameField": name_field} if name_field else None)
        text = kml.read_text(encoding="utf-8")
        if colors is not None:
            text = _kml_styles(text, colors)
        info = zipfile.ZipInfo("doc.kml", date_time=KMZ_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as z:
            z.writestr(info, text.encode("utf-8"))
    return Path(path)


def csvt_types(df: pd.DataFrame) -> list[str]:
    """Pure: the QGIS/GDAL ``.csvt`` type of each column: ``Integer64``, ``Real``, ``Date``,
    ``DateTime`` or ``String`` (booleans and text)."""
    types = []
    for col in df.columns:
        kind = df[col].dtype
        if pd.api.types.is_bool_dtype(kind):
            types.append("String")
        elif pd.api.types.is_integer_dtype(kind):
            types.append("Integer64")
        elif pd.api.types.is_float_dtype(kind):
            types.append("Real")
        elif pd.api.types.is_datetime64_any_dtype(kind):
            types.append("DateTime")
        elif isinstance(kind, pd.ArrowDtype) and pa.types.is_date(kind.pyarrow_dtype):
            types.append("Date")
        else:
            types.append("String")
    return types


def write_npz(arrays: Mapping[str, np.ndarray], path: str | os.PathLike[str], *,
              compresslevel: int | None = None) -> Path:
    """``np.savez_compressed`` made reproducible: each ``NAME.npy`` entry carries the fixed
    :data:`KMZ_DATE` (numpy stamps the current time), no pickles; atomic, mode by the umask.
    ``compresslevel``: zlib's 1 (fastest) .. 9, default 6; any level reads back the same
    arrays. Reads back with :func:`numpy.load`."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=KMZ_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = compresslevel  # type: ignore[attr-defined]  # an entry opened from a ZipInfo keeps its own level (None: 6)
            info.external_attr = 0o644 << 16
            with z.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)
    return Path(path)


def default_file_mode() -> int:
    """The mode :func:`open` gives a new file: 0o666 less the process umask (``tempfile.mkstemp``
    makes 0o600 files; products are chmod-ed to this before they are moved into place)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], *, csvt: bool = False) -> Path:
    """Write a table as UTF-8 CSV without its geometry column(s); return the path.

    The index is not written (keep ids in columns). Floats carry ten significant
    digits; missing values are empty fields. With ``csvt`` a ``.csvt`` of the column
    types (:func:`csvt_types`) is written beside it, so QGIS and GDAL read numbers as numbers.
    """
    table = pd.DataFrame(df)
    geom_cols = [c for c in table.columns if isinstance(table[c].dtype, gpd.array.GeometryDtype)]
    table = table.drop(columns=geom_cols)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n", encoding="utf-8")
    if csvt:
        with atomic_path(Path(path).with_suffix(".csvt")) as tmp:
            tmp.write_text(",".join(f'"{t}"' for t in csvt_types(table)) + "\n", encoding="utf-8")
    return Path(path)


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN/±inf as None, numpy scalars and arrays as Python values,
    dates as ISO 8601 strings, paths as strings; dict keys as strings.

    Raises ``TypeError`` for anything else JSON cannot hold.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (dt.datetime, dt.date)):  # pd.Timestamp is a datetime
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        return json_safe(pd.Timestamp(obj)) if not np.isnat(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as UTF-8 JSON with 2-space indent; NaN/inf become null.

    See :func:`json_safe` for the conversions. Returns the path.
    """
    text = json.dumps(json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)
