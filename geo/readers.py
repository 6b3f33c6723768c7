"""Read vector layers from disk and check their geometries.

``read_vector`` is the single entry point for GeoJSON, GeoPackage, Shapefile (plain or
zipped), GeoParquet and CSV with coordinate columns. It never guesses: a file without a
CRS, coordinates outside the globe, or an ambiguous GeoPackage raise an error that names
the file, the rows and the fix. ``validate_geometries`` checks geometry types, nulls and
validity, and repairs invalid polygons only when asked to.

Row numbers in messages are 1-based: for a CSV they count data rows (the header is not a
row), for other formats they count features in file order.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from .errors import (
    ConfigError,
    CoordinateError,
    EmptyLayerError,
    InvalidGeometryError,
    LayerError,
    MissingColumnError,
    MissingCRSError,
    UnsupportedFormatError,
)

__all__ = [
    "SUPPORTED_FORMATS",
    "COORDINATE_PAIRS",
    "read_vector",
    "reading_once",
    "file_identity",
    "remembered",
    "validate_geometries",
    "to_crs_object",
    "format_rows",
    "layer_source",
]

SUPPORTED_FORMATS: dict[str, str] = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile (one .shp inside)",
    ".parquet": "GeoParquet",
    ".csv": "CSV with coordinate columns",
}

COORDINATE_PAIRS: tuple[tuple[str, str], ...] = (
    ("longitude", "latitude"),
    ("lon", "lat"),
    ("lng", "lat"),
    ("long", "lat"),
    ("longitude_deg", "latitude_deg"),
    ("x", "y"),
)
"""CSV coordinate column pairs (x, y) recognised case-insensitively, in this order."""

_DEGREE_NAMES = frozenset(
    {"longitude", "lon", "lng", "long", "longitude_deg", "latitude", "lat", "latitude_deg"}
)

_FAMILY = {
    "Point": "Point",
    "MultiPoint": "Point",
    "LineString": "LineString",
    "LinearRing": "LineString",
    "MultiLineString": "LineString",
    "Polygon": "Polygon",
    "MultiPolygon": "Polygon",
}
_MULTI = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}
_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)


def layer_source(gdf: pd.DataFrame) -> str:
    """The file a frame was read from (``attrs["source"]``), for error messages."""
    return str(gdf.attrs.get("source", "<in-memory layer>"))


def format_rows(rows: Iterable[Any], limit: int = 5) -> str:
    """``"3, 7, 9"`` or ``"3, 7, 9, 10, 12 (and 4 more)"``."""
    items = [str(r) for r in rows]
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += f" (and {len(items) - limit} more)"
    return text


def to_crs_object(crs: Any) -> CRS | None:
    """``None`` or a :class:`pyproj.CRS` from anything pyproj accepts (``"EPSG:4326"``, 4326, a CRS)."""
    if crs is None:
        return None
    if isinstance(crs, CRS):
        return crs
    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise ConfigError(
            f"crs={crs!r} is not a CRS pyproj understands ({exc}); pass e.g. crs='EPSG:4326'"
        ) from exc


def read_vector(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    x: str | None = None,
    y: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer into a GeoDataFrame with a CRS and a 0-based RangeIndex.

    Formats (by extension): GeoJSON (``.geojson``, ``.json``), GeoPackage (``.gpkg``;
    ``layer`` picks the layer, required when there are several spatial layers),
    Shapefile (``.shp``, or a ``.zip`` holding one ``.shp``; ``layer`` picks the ``.shp``
    when the archive holds several), GeoParquet (``.parquet``), and CSV (``.csv``).

    CSV files are read as text (every column a string, ``"NA"``/``"unknown"``/empty kept
    as written; quoted newlines allowed) and turned into points. ``x``/``y`` name the
    coordinate columns; otherwise one of :data:`COORDINATE_PAIRS` is looked up
    case-insensitively (more than one matching pair is an error: pass ``x``/``y``).

    CRS rules:

    * CSV columns with degree names (longitude/latitude, lon/lat, lng/lat, long/lat,
      longitude_deg/latitude_deg) are taken to be WGS84 (EPSG:4326) by convention unless
      ``crs`` is given. Other columns (e.g. ``x``/``y``) carry no CRS: ``crs`` is then
      required, else :class:`MissingCRSError`.
    * Other formats: the file's CRS is used. A file without one (e.g. a shapefile without
      ``.prj``) needs ``crs``; a file whose CRS differs from ``crs`` raises
      :class:`LayerError` (reproject the file instead — ``crs`` never reprojects).

    With a geographic CRS, coordinates outside lon [-180, 180] / lat [-90, 90] raise
    :class:`CoordinateError` (and say so when swapping latitude and longitude would fix them).

    The path is stored in ``gdf.attrs["source"]`` for later error messages.
    """
    if layer is None and "::" in str(path):  # "regions.gpkg::adm1" names a GeoPackage layer
        path, layer = str(path).rsplit("::", 1)
    path = Path(path)
    user_crs = to_crs_object(crs)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_FORMATS:
        supported = ", ".join(f"{ext} ({name})" for ext, name in SUPPORTED_FORMATS.items())
        raise UnsupportedFormatError(
            f"{path}: unsupported file type {path.suffix or '(no extension)'!r}; "
            f"supported formats: {supported}"
        )
    if not path.is_file():
        raise LayerError(f"{path}: no such file (FileNotFoundError); check the path")
    if (x is not None or y is not None) and suffix != ".csv":
        raise ConfigError(f"{path}: x=/y= only apply to CSV files, not {SUPPORTED_FORMATS[suffix]}")
    if layer is not None and suffix not in (".gpkg", ".zip"):
        raise ConfigError(
            f"{path}: layer= only applies to GeoPackage (.gpkg) and zipped shapefiles (.zip)"
        )

    memo = _MEMO.get()
    if memo is not None:
        st = path.stat()
        mkey = (str(path.resolve()), st.st_mtime_ns, st.st_size, layer, str(user_crs), x, y)
        if mkey in memo:
            return memo[mkey].copy()
    if suffix == ".csv":
        gdf = _read_csv(path, x=x, y=y, user_crs=user_crs)
    else:
        if suffix == ".parquet":
            gdf = _read_parquet(path)
        elif suffix == ".gpkg":
            gdf = _read_ogr(path, str(path), layer=_pick_gpkg_layer(path, layer))
        elif suffix == ".zip":
            gdf = _read_zip(path, layer)
        else:
            gdf = _read_ogr(path, str(path), layer=None)
        if len(gdf) == 0:
            raise EmptyLayerError(f"{path}: the layer has no features")
        gdf = _settle_file_crs(gdf, path, user_crs)
        if gdf.crs.is_geographic:
            _check_geographic_bounds(gdf, path)

    gdf = gdf.reset_index(drop=True)
    gdf.attrs["source"] = str(path)
    if memo is not None:
        memo[mkey] = gdf.copy()
    return gdf


_MEMO: ContextVar[dict | None] = ContextVar("vacuum_read_memo", default=None)
T = TypeVar("T")


@contextmanager
def reading_once() -> Iterator[None]:
    """Within the block, :func:`read_vector` reads each file (path, size and modification
    time) once and hands out copies: a monitor reads its bases file at every date."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def file_identity(path: str | Path) -> tuple | None:
    """Inside :func:`reading_once`: the file's (resolved path, path as given, modification
    time, size), a key for :func:`remembered`; outside it, None (nothing is kept)."""
    if _MEMO.get() is None:
        return None
    p = Path(str(path).rsplit("::", 1)[0])
    st = p.stat()
    return (str(p.resolve()), str(path), st.st_mtime_ns, st.st_size)


def remembered(key: tuple | None, compute: Callable[[], T]) -> T:
    """Inside :func:`reading_once`, ``compute()`` once per ``key`` (which should hold a
    :func:`file_identity`); the value is shared, so the caller must not modify it. Outside
    (or with a None key): ``compute()`` every time."""
    memo = _MEMO.get()
    if memo is None or key is None:
        return compute()
    full = ("remembered", *key)
    if full not in memo:
        memo[full] = compute()
    return memo[full]


# --------------------------------------------------------------------------- formats


def _read_ogr(path: Path, uri: str, *, layer: str | None) -> gpd.GeoDataFrame:
    try:
        with warnings.catch_warnings():
            # GDAL warns of an unclosed ring, then GEOS refuses it: reported below, by feature
            warnings.filterwarnings("ignore", message="Non closed ring detected", category=RuntimeWarning)
            return pyogrio.read_dataframe(uri, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise LayerError(f"{path}: GDAL cannot read this file ({exc})") from exc
    except shapely.errors.GEOSException as exc:
        raise _unreadable_geometries(path, uri, layer, exc) from None


_NAME_FIELDS = ("id", "admin_id", "road_id", "osm_id", "name", "shapename", "adm1_en", "name_en")


def _unreadable_geometries(path: Path, uri: str, layer: str | None, exc: Exception) -> InvalidGeometryError:
    """The features whose geometry GEOS cannot build (an unclosed polygon ring, a one-point
    LineString), named by feature number and by an id or name field when there is one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        meta, _, wkb, fields = pyogrio.raw.read(uri, layer=layer)
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    bad = np.flatnonzero(np.array([w is not None for w in wkb]) & shapely.is_missing(geoms))
    names = [str(f) for f in meta["fields"]]
    key = next((names.index(n) for c in _NAME_FIELDS for n in names if n.lower() == c), None)
    shown = ", ".join(f"{i + 1}" + (f" ({names[key]}={fields[key][i]!r})" if key is not None else "") for i in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    reason = " ".join(str(exc).split(": ", 1)[-1].split())
    return InvalidGeometryError(
        f"{path}: geometry of feature(s) {shown or '?'}{more} cannot be built ({reason}): a polygon ring must "
        "close (last point = first point) and a line needs at least 2 points; fix or remove those features")


def _pick_gpkg_layer(path: Path, layer: str | None) -> str:
    try:
        listed = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise LayerError(f"{path}: not a readable GeoPackage ({exc})") from exc
    names = [str(name) for name, _ in listed]
    spatial = [str(name) for name, gtype in listed if gtype is not None]
    if layer is not None:
        if layer not in names:
            raise LayerError(
                f"{path}: no layer {layer!r}; layers in this GeoPackage: {', '.join(names) or '(none)'}"
            )
        return layer
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise EmptyLayerError(f"{path}: the GeoPackage has no spatial layer")
    raise LayerError(
        f"{path}: the GeoPackage has {len(spatial)} spatial layers ({', '.join(spatial)}); "
        "pick one with layer='name' (CLI: FILE.gpkg::name)"
    )


def _read_zip(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """A zipped shapefile, extracted with :func:`geo.archives.extract_shapefile`'s checks
    (the service's upload checks) into a temporary folder and read from there."""
    import tempfile

    from .archives import extract_shapefile

    with tempfile.TemporaryDirectory(prefix="vacuum-zip-") as tmp:
        shp = extract_shapefile(path, Path(tmp), layer=layer)
        return _read_ogr(path, str(shp), layer=None)


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path)
    except ValueError as exc:  # geopandas: "Missing geo metadata in Parquet/Feather file"
        raise LayerError(
            f"{path}: not a GeoParquet file ({exc}); write it with GeoDataFrame.to_parquet, "
            "or export a CSV with coordinate columns"
        ) from exc
    except OSError as exc:
        raise LayerError(f"{path}: cannot read Parquet file ({exc})") from exc


def _settle_file_crs(gdf: gpd.GeoDataFrame, path: Path, user_crs: CRS | None) -> gpd.GeoDataFrame:
    file_crs = gdf.crs
    if file_crs is None:
        if user_crs is None:
            raise MissingCRSError(
                f"{path}: the file declares no CRS (e.g. a shapefile without its .prj); "
                "pass crs='EPSG:xxxx' (CLI: --layer-crs EPSG:xxxx) with the CRS of its coordinates"
            )
        return gdf.set_crs(user_crs)
    if user_crs is not None and CRS.from_user_input(file_crs) != user_crs:
        raise LayerError(
            f"{path}: the file declares CRS {CRS.from_user_input(file_crs).to_string()} but "
            f"crs={user_crs.to_string()} was passed; passing a different crs is ambiguous. "
            "Drop crs=, or reproject the file (e.g. ogr2ogr -t_srs) instead"
        )
    return gdf


def _read_csv(path: Path, *, x: str | None, y: str | None, user_crs: CRS | None) -> gpd.GeoDataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise EmptyLayerError(f"{path}: the CSV file is empty") from exc
    except UnicodeDecodeError as exc:
        raise LayerError(f"{path}: not UTF-8 text ({exc}); re-save the CSV as UTF-8") from exc
    except pd.errors.ParserError as exc:
        raise LayerError(f"{path}: not a well-formed CSV file ({exc})") from exc
    if len(df) == 0:
        raise EmptyLayerError(f"{path}: the CSV file has a header but no data rows")

    xcol, ycol = _coordinate_columns(df, path, x, y)
    xs = _parse_coordinate(df[xcol], path, xcol)
    ys = _parse_coordinate(df[ycol], path, ycol)

    if user_crs is not None:
        crs = user_crs
    elif xcol.lower() in _DEGREE_NAMES and ycol.lower() in _DEGREE_NAMES:
        crs = CRS.from_epsg(4326)
    else:
        raise MissingCRSError(
            f"{path}: coordinate columns {xcol!r}/{ycol!r} carry no CRS (only degree-named "
            "columns such as longitude/latitude are taken as WGS84); pass crs='EPSG:xxxx' "
            "(CLI: --layer-crs EPSG:xxxx) with the CRS of the coordinates"
        )
    if crs.is_geographic:
        _check_lonlat(xs, ys, path, xcol, ycol)
    geometry = gpd.points_from_xy(xs, ys)
    return gpd.GeoDataFrame(df, geometry=geometry, crs=crs)


def _coordinate_columns(
    df: pd.DataFrame, path: Path, x: str | None, y: str | None
) -> tuple[str, str]:
    columns = [str(c) for c in df.columns]
    if x is not None or y is not None:
        if x is None or y is None:
            raise ConfigError(f"{path}: pass both x= and y= (got x={x!r}, y={y!r})")
        missing = [c for c in (x, y) if c not in columns]
        if missing:
            raise MissingColumnError(
                f"{path}: coordinate column(s) {', '.join(map(repr, missing))} not found; "
                f"columns present: {', '.join(columns)}"
            )
        return x, y
    lower: dict[str, list[str]] = {}
    for c in columns:
        lower.setdefault(c.lower(), []).append(c)
    found = []
    for xn, yn in COORDINATE_PAIRS:
        if xn in lower and yn in lower:
            if len(lower[xn]) > 1 or len(lower[yn]) > 1:
                raise LayerError(
                    f"{path}: several columns are named {xn!r}/{yn!r} up to case; "
                    "pass x='column', y='column' (CLI: rename the columns to longitude/latitude or x/y)"
                )
            found.append((lower[xn][0], lower[yn][0]))
    if not found:
        names = ", ".join(f"{a}/{b}" for a, b in COORDINATE_PAIRS)
        raise MissingColumnError(
            f"{path}: no coordinate columns found (looked for {names}); columns present: "
            f"{', '.join(columns)}. Pass x='your_lon_column', y='your_lat_column'"
        )
    if len(found) > 1:
        pairs = ", ".join(f"{a}/{b}" for a, b in found)
        raise LayerError(
            f"{path}: several coordinate column pairs found ({pairs}); "
            "pass x='column', y='column' to choose one"
        )
    return found[0]


def _parse_coordinate(values: pd.Series, path: Path, column: str) -> np.ndarray:
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(numbers)
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = ", ".join(f"{i + 1} ({values.iloc[i]!r})" for i in idx[:5])
        more = f" (and {len(idx) - 5} more)" if len(idx) > 5 else ""
        raise CoordinateError(
            f"{path}: column {column!r} has {len(idx)} non-numeric or empty coordinate(s) "
            f"in data row(s) {shown}{more}; fix or remove those rows"
        )
    return numbers


def _swap_hint(lon_lo: np.ndarray, lon_hi: np.ndarray, lat_lo: np.ndarray, lat_hi: np.ndarray) -> str:
    swapped_ok = (
        (lat_lo >= -180) & (lat_hi <= 180) & (lon_lo >= -90) & (lon_hi <= 90)
    )
    if swapped_ok.all():
        return "; latitude and longitude look swapped; swap the columns or pass x=..., y=..."
    return ""


def _check_lonlat(xs: np.ndarray, ys: np.ndarray, path: Path, xcol: str, ycol: str) -> None:
    bad_x = (xs < -180) | (xs > 180)
    bad_y = (ys < -90) | (ys > 90)
    bad = bad_x | bad_y
    if not bad.any():
        return
    idx = np.flatnonzero(bad)
    fields = [c for c, b in ((xcol, bad_x), (ycol, bad_y)) if b.any()]
    hint = _swap_hint(xs[idx], xs[idx], ys[idx], ys[idx])
    raise CoordinateError(
        f"{path}: coordinates out of range (longitude -180..180, latitude -90..90) in "
        f"column(s) {', '.join(map(repr, fields))}, data row(s) {format_rows(idx + 1)}"
        f"{hint}"
    )


def _check_geographic_bounds(gdf: gpd.GeoDataFrame, path: Path) -> None:
    bounds = shapely.bounds(gdf.geometry.values)  # NaN for null/empty geometries
    minx, miny, maxx, maxy = bounds.T
    with np.errstate(invalid="ignore"):
        bad = (minx < -180) | (maxx > 180) | (miny < -90) | (maxy > 90)
    if not bad.any():
        return
    idx = np.flatnonzero(bad)
    hint = _swap_hint(minx[idx], maxx[idx], miny[idx], maxy[idx])
    raise CoordinateError(
        f"{path}: field 'geometry' has coordinates out of range for geographic CRS "
        f"{gdf.crs.to_string()} (longitude -180..180, latitude -90..90) in feature(s) "
        f"{format_rows(idx + 1)}{hint}"
    )


# ------------------------------------------------------------------------- geometries


def validate_geometries(
    gdf: gpd.GeoDataFrame,
    *,
    what: str,
    id_column: str | None,
    allowed: set[str],
    repair: bool = False,
) -> gpd.GeoDataFrame:
    """Check geometries and return a copy with 2D geometries.

    * Z (and M) coordinates are dropped silently (the engine is 2D).
    * Null or empty geometries raise :class:`InvalidGeometryError` naming the ids.
    * Types outside ``allowed`` (e.g. ``{"Point"}``, ``{"Polygon", "MultiPolygon"}``)
      raise, naming the ids (first 10) and the types found.
    * Invalid geometries (``shapely.is_valid`` false) raise, naming the ids and
      ``shapely.is_valid_reason`` of the first — unless ``repair=True``: then
      ``shapely.make_valid`` is applied and only the part of the allowed kind is kept
      (polygons pulled out of a GeometryCollection, stray lines/points dropped). A row is
      never dropped: a repair that leaves nothing of the allowed kind raises.

    Ids come from ``id_column``, or are 1-based row numbers when it is ``None``.
    ``attrs["repaired"]`` lists the ids that were repaired.
    """
    unknown = set(allowed) - _GEOMETRY_TYPES
    if not allowed or unknown:
        raise ConfigError(
            f"allowed geometry types must be a non-empty subset of {sorted(_GEOMETRY_TYPES)}, "
            f"got {sorted(allowed)}"
        )
    source = layer_source(gdf)
    ids = _ids(gdf, id_column)
    geoms = np.asarray(gdf.geometry.values, dtype=object)

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise InvalidGeometryError(
            f"{source}: {what} with null or empty geometry: {_name_ids(ids, missing)}; "
            "give them a geometry or remove them"
        )
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)

    types = shapely.get_type_id(geoms)
    type_names = np.array([_TYPE_NAMES.get(int(t), str(t)) for t in types], dtype=object)
    wrong = ~np.isin(type_names, sorted(allowed))
    if wrong.any():
        found = Counter(type_names[wrong])
        found_text = ", ".join(f"{n} x{c}" for n, c in sorted(found.items()))
        raise InvalidGeometryError(
            f"{source}: {what} must have geometry type {' or '.join(sorted(allowed))}; "
            f"found {found_text} for {_name_ids(ids, wrong, limit=10)}"
        )

    invalid = ~shapely.is_valid(geoms)
    repaired: list[str] = []
    if invalid.any():
        first = int(np.flatnonzero(invalid)[0])
        if not repair:
            reason = shapely.is_valid_reason(geoms[first])
            raise InvalidGeometryError(
                f"{source}: {what} with invalid geometry: {_name_ids(ids, invalid, limit=10)} "
                f"(first: {reason}); pass repair=True (CLI: --repair) to fix with make_valid"
            )
        geoms = geoms.copy()
        for i in np.flatnonzero(invalid):
            geoms[i] = _repair_one(geoms[i], allowed, source=source, what=what, ident=ids[i])
            repaired.append(ids[i])

    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs), crs=gdf.crs)
    out.attrs = dict(gdf.attrs)
    out.attrs["repaired"] = repaired
    return out


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _ids(gdf: pd.DataFrame, id_column: str | None) -> list[str]:
    if id_column is None:
        return [f"row {i}" for i in range(1, len(gdf) + 1)]
    if id_column not in gdf.columns:
        raise MissingColumnError(
            f"{layer_source(gdf)}: id column {id_column!r} not found; columns present: "
            f"{', '.join(map(str, gdf.columns))}"
        )
    return [str(v) for v in gdf[id_column].tolist()]


def _name_ids(ids: Sequence[str], mask: np.ndarray, limit: int = 10) -> str:
    chosen = [ids[int(i)] for i in np.flatnonzero(mask)]
    return f"{len(chosen)} feature(s): {format_rows(chosen, limit=limit)}"


def _flatten(geom: shapely.Geometry) -> list[shapely.Geometry]:
    if geom is None or geom.is_empty:
        return []
    if shapely.get_num_geometries(geom) > 1 or geom.geom_type.startswith(("Multi", "Geometry")):
        parts: list[shapely.Geometry] = []
        for part in shapely.get_parts(geom):
            parts.extend(_flatten(part))
        return parts
    return [geom]


def _repair_one(
    geom: shapely.Geometry, allowed: set[str], *, source: str, what: str, ident: str
) -> shapely.Geometry:
    family = {_FAMILY[t] for t in allowed}
    fixed = shapely.make_valid(geom)
    parts = [p for p in _flatten(fixed) if _FAMILY.get(p.geom_type) in family and not p.is_empty]
    if not parts:
        raise InvalidGeometryError(
            f"{source}: {what} {ident}: make_valid left nothing of type "
            f"{' or '.join(sorted(allowed))} (got {fixed.geom_type}); fix the geometry by hand"
        )
    kind = _FAMILY[parts[0].geom_type]
    if len(parts) == 1:
        result = parts[0]
    else:
        result = _make_multi(kind, parts)
    if result.geom_type not in allowed:
        if len(parts) == 1 and _MULTI[kind] in allowed:
            result = _make_multi(kind, parts)
        else:
            raise InvalidGeometryError(
                f"{source}: {what} {ident}: repair gives a {result.geom_type}, which is not "
                f"allowed here ({' or '.join(sorted(allowed))}); fix the geometry by hand"
            )
    if not result.is_valid or result.is_empty:
        raise InvalidGeometryError(
            f"{source}: {what} {ident}: make_valid could not produce a valid geometry "
            f"({shapely.is_valid_reason(result)}); fix the geometry by hand"
        )
    return result


def _make_multi(kind: str, parts: list[shapely.Geometry]) -> shapely.Geometry:
    if kind == "Point":
        return shapely.multipoints(parts)
    if kind == "LineString":
        return shapely.multilinestrings(parts)
    return shapely.multipolygons(parts)
