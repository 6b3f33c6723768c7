"""Roads (OpenStreetMap-style classes) and sites: towns, airports, critical sites."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    LayerError,
    MissingColumnError,
)
from ..readers import layer_source, read_vector
from .common import (
    ROAD_COLUMNS,
    SITE_COLUMNS,
    SITE_KINDS,
    SiteKind,
    as_text,
    check_unique,
    columns_by_lower,
    finish_layer,
    has_columns,
    indexed,
    parse_numbers,
    required_text,
    resolve_fields,
    row_numbers,
)
from .protected import check_kinds, protected_schema

__all__ = ["load_roads", "load_sites"]

# ============================================================================== roads

_ROAD_CLASS_COLUMNS = ("highway", "road_class", "class", "fclass", "type")
_ROAD_ID_COLUMNS = ("road_id", "osm_id", "id")


def load_roads(
    path: str | Path,
    *,
    class_column: str | None = None,
    crs: Any = None,
    repair: bool = False,
) -> gpd.GeoDataFrame:
    """Road lines.

    Columns: ``road_id`` (str, unique), ``road_class`` (lowercase str), ``geometry``
    (LineString; MultiLineStrings are exploded, parts get ids ``<id>.1``, ``<id>.2``, ...).

    road_class comes from ``class_column``, else the first of ``highway``
    (OpenStreetMap), ``road_class``, ``class``, ``fclass``, ``type`` present
    (case-insensitive); empty class values are an error. A file with none of these gets
    ``road_class = "corridor"`` on every line and ``attrs["road_class_source"] =
    "default"`` (e.g. the Trans-African Highway file, which only has ``Name``).

    road_id is the first of ``road_id``, ``osm_id``, ``id`` whose values are all present
    and unique, else the 1-based feature number (``attrs["road_id_source"]`` says which).
    """
    gdf = read_vector(path, crs=crs)
    source = layer_source(gdf)
    col = columns_by_lower(gdf)
    attrs: dict[str, Any] = {"schema": "roads"}
    if class_column is not None:
        if class_column not in gdf.columns:
            raise MissingColumnError(
                f"{source}: class_column {class_column!r} not found; columns present: "
                f"{', '.join(c for c in gdf.columns if c != gdf.geometry.name)}"
            )
        cls_col: str | None = class_column
    else:
        cls_col = next((col[n] for n in _ROAD_CLASS_COLUMNS if n in col), None)
    if cls_col is not None:
        road_class = required_text(gdf[cls_col], source=source, column=cls_col).str.lower()
        attrs["road_class_source"] = cls_col
    else:
        road_class = pd.Series("corridor", index=gdf.index, dtype=object)
        attrs["road_class_source"] = "default"

    ids: pd.Series | None = None
    for name in _ROAD_ID_COLUMNS:
        if name in col:
            text = as_text(gdf[col[name]])
            if (text != "").all() and text.is_unique:
                ids, attrs["road_id_source"] = text, col[name]
                break
    if ids is None:
        ids = pd.Series([str(r) for r in row_numbers(gdf.index)], index=gdf.index, dtype=object)
        attrs["road_id_source"] = "row_number"

    out = finish_layer(
        gdf, {"road_id": ids, "road_class": road_class}, ROAD_COLUMNS, what="roads",
        id_column="road_id", allowed={"LineString", "MultiLineString"}, repair=repair, attrs=attrs,
    )  # fmt: skip
    return _explode_lines(out)


def _explode_lines(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    multi = (gdf.geom_type == "MultiLineString").to_numpy()
    if not multi.any():
        return gdf
    attrs = dict(gdf.attrs)
    parts = gdf.explode(index_parts=True)
    part_no = parts.index.get_level_values(1).to_numpy() + 1
    was_multi = multi[parts.index.get_level_values(0).to_numpy()]
    parts["road_id"] = [
        f"{rid}.{k}" if m else rid for rid, k, m in zip(parts["road_id"], part_no, was_multi, strict=True)
    ]
    parts = parts.reset_index(drop=True)
    parts.attrs = attrs
    check_unique(parts["road_id"], source=layer_source(gdf), field="road_id")
    return parts


# ============================================================================== sites

_GEONAMES = ("geonameid", "name", "latitude", "longitude", "population")
_OURAIRPORTS = ("ident", "type", "name", "latitude_deg", "longitude_deg")
_AIRPORTSDATA = ("icao", "name", "lat", "lon")


def load_sites(
    path: str | Path,
    *,
    kind: SiteKind,
    mapping: Mapping[str, str] | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Places to protect or use: towns, airports, critical sites.

    Columns: ``site_id`` (str, unique), ``name``, ``kind`` (the ``kind`` argument),
    ``population`` (float, NaN if unknown), ``subtype`` (str, ``""`` if unknown),
    ``geometry`` (Point).

    * GeoNames (geonameid, name, latitude, longitude, population): needs
      ``kind="town"``; site_id = geonameid.
    * OurAirports (ident, type, name, latitude_deg, longitude_deg): needs
      ``kind="airport"``; site_id = ident, subtype = type (``small_airport``, ...).
    * airportsdata (icao, name, lat, lon): needs ``kind="airport"``; site_id = icao.
    * Generic (also whenever ``mapping`` is given): required ``name``; optional
      ``site_id`` (default: row number), ``population`` (number >= 0 or empty),
      ``subtype``.
    """
    if kind not in SITE_KINDS:
        raise ConfigError(f"kind={kind!r}; must be one of {', '.join(SITE_KINDS)}")
    gdf = read_vector(path, crs=crs)
    source = layer_source(gdf)
    col = columns_by_lower(gdf)
    if mapping is None and kind == "critical":
        found = protected_schema(gdf)
        if found is not None:  # an OSM health or displacement extract: kinds from its tags
            return _protected_sites(gdf, *found)
        if "site_kind" in col and "subtype" not in col:
            gdf = gdf.rename(columns={col["site_kind"]: "subtype"})
            col = columns_by_lower(gdf)
    if mapping is None and has_columns(gdf, _GEONAMES):
        _check_kind(source, "GeoNames populated places", kind, "town")
        cols = {"site_id": col["geonameid"], "name": col["name"], "population": col["population"], "subtype": None}
        schema = "geonames"
    elif mapping is None and has_columns(gdf, _OURAIRPORTS):
        _check_kind(source, "OurAirports airports", kind, "airport")
        cols = {"site_id": col["ident"], "name": col["name"], "population": None, "subtype": col["type"]}
        schema = "ourairports"
    elif mapping is None and has_columns(gdf, _AIRPORTSDATA):
        _check_kind(source, "airportsdata airports", kind, "airport")
        cols = {"site_id": col["icao"], "name": col["name"], "population": None, "subtype": None}
        schema = "airportsdata"
    else:
        what = "sites" if mapping else "sites (not GeoNames, OurAirports or airportsdata)"
        cols = resolve_fields(gdf, mapping, required=("name",), optional=("site_id", "population", "subtype"), what=what)
        schema = "custom"

    ids = (
        required_text(gdf[cols["site_id"]], source=source, column=cols["site_id"])
        if cols["site_id"]
        else pd.Series([str(r) for r in row_numbers(gdf.index)], index=gdf.index, dtype=object)
    )
    population = (
        parse_numbers(gdf[cols["population"]], source=source, column=cols["population"], empty_ok=True)
        if cols["population"]
        else np.full(len(gdf), np.nan)
    )
    subtype = as_text(gdf[cols["subtype"]]) if cols["subtype"] else pd.Series([""] * len(gdf), index=gdf.index)
    if kind == "critical":
        check_kinds(subtype, gdf, str(cols["subtype"] or "subtype"))
    data = {
        "site_id": ids,
        "name": required_text(gdf[str(cols["name"])], source=source, column=str(cols["name"])),
        "kind": [kind] * len(gdf),
        "population": population.astype("float64"),
        "subtype": subtype,
    }
    return finish_layer(
        gdf, indexed(data, gdf.index), SITE_COLUMNS, what=f"sites ({kind})", id_column="site_id",
        allowed={"Point"}, attrs={"schema": schema},
    )  # fmt: skip


def _protected_sites(gdf: gpd.GeoDataFrame, schema: str, data: dict) -> gpd.GeoDataFrame:
    """A recognised OSM extract as critical sites; a facility listed twice keeps its first row."""
    gdf = gdf.set_geometry(gpd.GeoSeries(data.pop("geometry"), index=gdf.index, crs=gdf.crs))
    data["kind"] = ["critical"] * len(gdf)
    data["population"] = np.asarray(data["population"], dtype="float64")
    frame = indexed(data, gdf.index)
    dup = pd.Series(frame["site_id"], index=gdf.index).duplicated().to_numpy()
    if dup.any():
        gdf = gdf[~dup]
        frame = {k: (v[~dup] if isinstance(v, np.ndarray) else pd.Series(v)[~dup]) for k, v in frame.items()}
    return finish_layer(gdf, frame, SITE_COLUMNS, what="sites (critical)", id_column="site_id",
                        allowed={"Point"}, attrs={"schema": schema, "duplicate_ids_dropped": int(dup.sum())})


def _check_kind(source: str, schema: str, kind: str, expected: str) -> None:
    if kind != expected:
        raise LayerError(
            f"{source}: the file looks like {schema} but kind={kind!r} was passed; pass "
            f"kind={expected!r}, or load it as a generic layer with mapping={{'name': ...}}"
        )
