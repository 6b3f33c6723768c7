"""Protected sites: places whose people a mission protects first, each with a kind.

A protected site is a row of the ``critical`` sites layer (``--sites``) whose ``subtype``
holds its kind (:data:`PROTECTED_KINDS`); its ``population`` is optional. Two open
OpenStreetMap extracts are recognised by their columns (see ``../shared/data/*/SOURCE.md``):

* healthsites.io (``osm_id, amenity, healthcare, longitude, latitude``): ``amenity``
  hospital -> ``hospital``; clinic, doctors -> ``clinic``; pharmacy, dentist -> ``other``.
  The March 2020 extract lists 84 facilities twice (same OSM element and uuid, coordinates
  a few metres apart): the first row of each is kept, the count is in
  ``attrs["duplicate_ids_dropped"]``.
* OSM refugee / IDP / shelter sites (``osm_id, amenity, idp:camp_site``): a feature whose
  name or ``idp:camp_site`` tag says IDP / PoC / protection of civilians -> ``idp_camp``,
  other ``amenity=refugee_site`` -> ``refugee_site``, the rest (shelters, social
  facilities) -> ``shelter``; polygons become their representative point.

A generic file states the kind per row in a ``subtype`` (or ``site_kind``) column; a kind
outside :data:`PROTECTED_KINDS` is an error naming the row and the kinds.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import LayerError
from ..readers import layer_source
from .common import as_text, columns_by_lower, has_columns, parse_numbers, row_numbers

__all__ = ["PROTECTED_KINDS", "HEALTHSITES_COLUMNS", "OSM_DISPLACEMENT_COLUMNS", "health_kind", "displacement_kind",
           "protected_schema", "check_kinds"]

PROTECTED_KINDS = ("idp_camp", "refugee_site", "hospital", "clinic", "school", "market", "shelter", "other")
"""Kinds a protected site may have; each has a weight in ``Params.site_kind_weights``."""

HEALTHSITES_COLUMNS = ("osm_id", "amenity", "healthcare", "longitude", "latitude")
OSM_DISPLACEMENT_COLUMNS = ("osm_id", "amenity", "idp:camp_site")

_HEALTH = {"hospital": "hospital", "clinic": "clinic", "doctors": "clinic", "pharmacy": "other", "dentist": "other"}
_IDP = re.compile(r"\b(idps?|poc\d*|protection of civilians|displaced)\b", re.IGNORECASE)


def health_kind(amenity: str) -> str:
    """The kind of a healthsites.io facility from its OSM ``amenity``."""
    return _HEALTH.get(str(amenity).strip().lower(), "other")


def displacement_kind(amenity: str, name: str, idp_tag: str) -> str:
    """The kind of an OSM refugee / IDP / shelter feature: ``idp_camp`` when its name or its
    ``idp:camp_site`` tag says IDP / PoC, else ``refugee_site`` for ``amenity=refugee_site``,
    else ``shelter``."""
    tag = str(idp_tag).strip().lower()
    if (tag and tag not in ("no", "none", "nan")) or _IDP.search(str(name)):
        return "idp_camp"
    return "refugee_site" if str(amenity).strip().lower() == "refugee_site" else "shelter"


def protected_schema(gdf: gpd.GeoDataFrame) -> tuple[str, dict[str, object]] | None:
    """``(schema, columns)`` for a recognised OSM extract (``site_id, name, population, subtype``
    and point ``geometry``), or None for any other file."""
    col = columns_by_lower(gdf)
    if has_columns(gdf, HEALTHSITES_COLUMNS):
        ids = as_text(gdf[col["osm_id"]])
        if "osm_type" in col:  # OSM ids are unique per element type only
            ids = as_text(gdf[col["osm_type"]]) + "/" + ids
        kinds = [health_kind(a) for a in as_text(gdf[col["amenity"]])]
        names = _names(gdf, col, kinds)
        return "healthsites", {"site_id": ids, "name": names, "population": np.full(len(gdf), np.nan),
                               "subtype": kinds, "geometry": gdf.geometry}
    if has_columns(gdf, OSM_DISPLACEMENT_COLUMNS):
        ids = as_text(gdf[col["osm_id"]])
        raw_names = as_text(gdf[col["name"]]) if "name" in col else pd.Series([""] * len(gdf), index=gdf.index)
        kinds = [displacement_kind(a, n, t) for a, n, t in
                 zip(as_text(gdf[col["amenity"]]), raw_names, as_text(gdf[col["idp:camp_site"]]), strict=True)]
        names = _names(gdf, col, kinds)
        pop = (parse_numbers(gdf[col["population"]], source=layer_source(gdf), column=col["population"], empty_ok=True)
               if "population" in col else np.full(len(gdf), np.nan))
        geom = gdf.geometry.where(gdf.geom_type == "Point", gdf.geometry.representative_point())
        return "osm_displacement", {"site_id": ids, "name": names, "population": pop, "subtype": kinds,
                                    "geometry": geom}
    return None


def _names(gdf: gpd.GeoDataFrame, col: dict[str, str], kinds: list[str]) -> pd.Series:
    """The OSM name, or ``"<kind> (OSM <id>)"`` for an unnamed feature (many shelters are)."""
    names = as_text(gdf[col["name"]]) if "name" in col else pd.Series([""] * len(gdf), index=gdf.index)
    ids = gdf.index.map(str) if "osm_id" not in col else as_text(gdf[col["osm_id"]])
    return pd.Series([n if n.strip() else f"{k.replace('_', ' ')} (OSM {i})" for n, k, i in
                      zip(names, kinds, ids, strict=True)], index=gdf.index, dtype=object)


def check_kinds(subtype: pd.Series, gdf: gpd.GeoDataFrame, column: str) -> None:
    """Every non-empty kind must be one of :data:`PROTECTED_KINDS`; the first bad row is named."""
    bad = ~subtype.isin(PROTECTED_KINDS) & (subtype != "")
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        row = row_numbers(gdf.index)[k]
        raise LayerError(f"{layer_source(gdf)}: row {row}, {column} {subtype.iloc[k]!r} is not a protected-site kind; "
                         f"use one of {', '.join(PROTECTED_KINDS)} (or leave it empty)")
