"""Which OGC API collections a caller sees, and the GeoJSON behind each.

A collection is one product of one finished analysis, named ``<analysis id>-<product>``
(``an_0123456789ab-zones``, ``an_0123456789ab-gap_public``): feature collections for the
vector products, map tile sets for the surfaces. What a role sees is exactly what it sees
through the other routes (``docs/service.md``):

* viewers: the public zones (the 150 km blocks a zone touches) and the admin table of the
  public gap (:mod:`geo.public`), events and sites; tiles of ``gap_public``, ``risk``,
  ``threat``, ``exposure``, ``population``;
* planners: the zones with their nearest base, the admin table of the full gap, bases too;
  tiles of every surface, ``gap``, ``coverage`` and ``travel_time`` included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.auth import SENSITIVE_SURFACES, Identity
from api.errors import NotFoundError, PermissionDeniedError
from api.products import PUBLIC_SURFACES, SURFACE_NAMES, viewer_admin, viewer_zones, zones_geojson
from api.storage import JobRecord, Storage

__all__ = ["FeatureSpec", "FEATURES", "CollectionRef", "parse_collection_id", "collection_id", "visible_surfaces",
           "visible_features", "feature_collection", "done_analyses", "check_surface", "ATTRIBUTION", "MAX_ANALYSES"]

ATTRIBUTION = ("Vacuum. Data: UCDP GED (CC BY 4.0), WorldPop (CC BY 4.0), GeoNames (CC BY 4.0), Geo-PKO "
               "(Cil et al. 2020), Natural Earth, OurAirports; OpenStreetMap contributors (ODbL) where roads "
               "or sites come from OSM")
"""The sources' credit, as their licences ask (``data/minusca/SOURCE.md``): TileJSON and OGC API."""
MAX_ANALYSES = 50
"""Newest finished analyses listed under ``/collections``."""


@dataclass(frozen=True)
class FeatureSpec:
    """A vector product served as an OGC API feature collection."""

    name: str
    title: str
    id_properties: tuple[str, ...]
    """Properties that make the feature id (joined with ``-``); the 1-based position if absent."""
    date_property: str | None = None
    """The property ``datetime`` filters on (None: the collection has no time)."""
    planner_only: bool = False


FEATURES: dict[str, FeatureSpec] = {s.name: s for s in (
    FeatureSpec("zones", "Vacuum zones", ("zone_id",)),
    FeatureSpec("admin_summary", "Admin units: gap summary", ("admin_id",)),
    FeatureSpec("events", "Armed-conflict events in the look-back window", ("event_id",), date_property="date"),
    FeatureSpec("sites", "Towns, airports and critical sites", ("site_id",)),
    FeatureSpec("bases", "Peacekeeper bases (planner)", ("base_id",), planner_only=True),
)}
_PUBLIC_ZONE_ID = ("block_row", "block_col")


@dataclass(frozen=True)
class CollectionRef:
    analysis_id: str
    product: str

    @property
    def id(self) -> str:
        return collection_id(self.analysis_id, self.product)


def collection_id(analysis_id: str, product: str) -> str:
    return f"{analysis_id}-{product}"


def parse_collection_id(cid: str) -> CollectionRef:
    aid, sep, product = cid.partition("-")
    if not sep or not aid or product not in (*FEATURES, *SURFACE_NAMES, *PUBLIC_SURFACES):
        raise NotFoundError(f"no collection {cid!r}: collection ids are <analysis id>-<product>, e.g. "
                            "an_0123456789ab-zones; GET /collections lists them")
    return CollectionRef(aid, product)


def done_analyses(storage: Storage) -> list[JobRecord]:
    return storage.list_jobs(kind="analysis", statuses=("done",), limit=MAX_ANALYSES)


def visible_surfaces(folder: Path, who: Identity) -> list[str]:
    """Surfaces of ``folder`` the caller may tile, in the engine's order, ``gap_public`` first."""
    out = [*PUBLIC_SURFACES]
    for s in SURFACE_NAMES:
        if (folder / f"{s}.tif").is_file() and (s not in SENSITIVE_SURFACES or who.can("planner")):
            out.append(s)
    return out


def visible_features(folder: Path, who: Identity) -> list[FeatureSpec]:
    return [s for s in FEATURES.values() if (folder / f"{s.name}.geojson").is_file()
            and (not s.planner_only or who.can("planner"))]


def check_surface(surface: str, who: Identity) -> None:
    """403 for a surface that pinpoints bases asked by a role below planner."""
    if surface in SENSITIVE_SURFACES and not who.can("planner"):
        raise PermissionDeniedError(
            f"the {surface} surface shows where bases are; it needs the planner role (your key has {who.role})")


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def feature_collection(folder: Path, spec: FeatureSpec, who: Identity) -> list[dict[str, Any]]:
    """The features of ``spec`` as the caller may see them, each with its ``id``."""
    planner = who.can("planner")
    if spec.planner_only and not planner:
        raise PermissionDeniedError(f"the {spec.name} collection shows base positions; it needs the planner role "
                                    f"(your key has {who.role})")
    if not (folder / f"{spec.name}.geojson").is_file():
        raise NotFoundError(f"{folder.name} has no {spec.name} product")
    id_props = spec.id_properties
    if spec.name == "zones":
        doc = zones_geojson(folder, with_bases=True) if planner else viewer_zones(folder)
        id_props = spec.id_properties if planner else _PUBLIC_ZONE_ID
    elif spec.name == "admin_summary":
        doc = _read(folder / "admin_summary.geojson" if planner else viewer_admin(folder, ".geojson"))
    else:
        doc = _read(folder / f"{spec.name}.geojson")
    features = doc.get("features", [])
    for i, f in enumerate(features, start=1):
        props = f.get("properties") or {}
        parts = [str(props[k]) for k in id_props if props.get(k) is not None]
        f["id"] = "-".join(parts) if len(parts) == len(id_props) else str(i)
    return features
