"""Air mobility: quick-reaction and aviation units answer by helicopter from their airfield.

Model (docs/model.md, "Air mobility")::

    a base flies      when it is air-capable (Geo-PKO avia, he.sup, rpf; ``air`` column),
                      has troops, and an airfield lies within air_base_max_km of it
    air time to a cell c (centre within air_radius_km of the airfield a, passable)
        t_air(c)    = air_reaction_h + wait + |c - a| / air_speed_kmh
        wait        = (24 - D)^2 / 48   with D = air_daylight_h, if air_daylight_only; else 0
    the base's time = min(ground time, t_air), within its t_max

``|c - a|`` is the straight-line distance on the analysis grid (an equal-area plane
centred on the area; within 1 % of the great circle over a few hundred km). The wait is
the expected delay of a call at a uniformly random hour when helicopters fly by day only:
a call falls at night with probability (24 - D) / 24 and then waits half the night on
average. The base keeps one coverage term (its weight, its t_resp and t_max), so a
scenario that closes or shrinks it removes or scales its air reach too.

Pure parts (:func:`night_wait_h`, :func:`air_hours`, :func:`nearest_airfield`,
:func:`air_reach`, :func:`merge_reach`, :func:`merge_nearest`) take arrays and numbers;
:func:`plan_air` takes the bases and sites in the grid CRS; :func:`air_stage` is the
pipeline's step after ground travel (on the client, the same for every executor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from .errors import LayerError
from .executors import Travel
from .grid import Grid, check_crs
from .params import Params
from .records import Force
from .traveltime import Reach

__all__ = ["AirLink", "AirPlan", "night_wait_h", "air_hours", "nearest_airfield", "air_reach", "merge_reach",
           "merge_nearest", "plan_air", "air_stage", "air_links_frame"]


@dataclass(frozen=True)
class AirLink:
    """An air-capable base and the airfield it flies from (grid CRS metres)."""

    force: int  # position in the forces list
    base_id: str
    airfield_id: str
    airfield_name: str
    distance_km: float  # base to airfield
    x: float
    y: float


@dataclass
class AirPlan:
    """Which forces fly, from where; ``notes``: air-capable bases that cannot (for summary.json)."""

    links: list[AirLink] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def night_wait_h(daylight_h: float) -> float:
    """Expected wait (h) of a call at a random hour for a helicopter that flies by day only."""
    if not 0 < daylight_h <= 24:
        raise ValueError(f"daylight hours must be in (0, 24], got {daylight_h}")
    return (24.0 - daylight_h) ** 2 / 48.0


def air_hours(distance_km: np.ndarray, *, reaction_h: float, speed_kmh: float, wait_h: float = 0.0) -> np.ndarray:
    """Hours from the call to a helicopter landing ``distance_km`` from its airfield."""
    if speed_kmh <= 0:
        raise ValueError(f"cruise speed must be > 0 km/h, got {speed_kmh}")
    return reaction_h + wait_h + np.asarray(distance_km, dtype=np.float64) / speed_kmh


def nearest_airfield(base_xy: np.ndarray, field_xy: np.ndarray, max_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Per base (rows of ``base_xy``, metres) the nearest airfield's position in ``field_xy``
    and its distance in km; -1 and inf where none lies within ``max_km``."""
    base_xy = np.asarray(base_xy, dtype=np.float64).reshape(-1, 2)
    field_xy = np.asarray(field_xy, dtype=np.float64).reshape(-1, 2)
    if len(field_xy) == 0 or len(base_xy) == 0:
        return np.full(len(base_xy), -1, dtype=np.int64), np.full(len(base_xy), np.inf)
    d = np.hypot(base_xy[:, None, 0] - field_xy[None, :, 0], base_xy[:, None, 1] - field_xy[None, :, 1]) / 1000.0
    k = np.argmin(d, axis=1)
    dist = d[np.arange(len(base_xy)), k]
    ok = dist <= max_km
    return np.where(ok, k, -1), np.where(ok, dist, np.inf)


def air_reach(grid: Grid, x: float, y: float, passable: np.ndarray, *, radius_km: float, limit_h: float,
              reaction_h: float, speed_kmh: float, wait_h: float = 0.0) -> Reach:
    """Cells a helicopter from the airfield at (x, y) reaches: passable cells whose centre
    lies within ``radius_km``, with their air time, kept where it is at most ``limit_h``."""
    res = grid.resolution
    x0, _, _, y1 = grid.bounds  # west, south, east, north
    r_cells = int(np.ceil(radius_km * 1000.0 / res)) + 1
    c_mid, r_mid = int(np.floor((x - x0) / res)), int(np.floor((y1 - y) / res))
    rows = np.arange(max(r_mid - r_cells, 0), min(r_mid + r_cells + 1, grid.height))
    cols = np.arange(max(c_mid - r_cells, 0), min(c_mid + r_cells + 1, grid.width))
    if len(rows) == 0 or len(cols) == 0:
        return Reach(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
    cx = x0 + (cols + 0.5) * res
    cy = y1 - (rows + 0.5) * res
    dist_km = np.hypot(cx[None, :] - x, cy[:, None] - y) / 1000.0
    hours = air_hours(dist_km, reaction_h=reaction_h, speed_kmh=speed_kmh, wait_h=wait_h)
    ok = (dist_km <= radius_km) & (hours <= limit_h) & passable[np.ix_(rows, cols)]
    rr, cc = np.nonzero(ok)
    index = (rows[rr] * grid.width + cols[cc]).astype(np.int32)
    order = np.argsort(index, kind="stable")
    return Reach(index[order], hours[rr, cc][order].astype(np.float32))


def merge_reach(ground: Reach, air: Reach) -> Reach:
    """The union of two reaches, each cell at the faster of its two times (indices unique, sorted)."""
    if len(air.index) == 0:
        return ground
    index = np.concatenate([ground.index, air.index]).astype(np.int32)
    hours = np.concatenate([ground.hours, air.hours]).astype(np.float32)
    order = np.lexsort((hours, index))  # by cell, fastest first
    index, hours = index[order], hours[order]
    first = np.ones(len(index), dtype=bool)
    first[1:] = index[1:] != index[:-1]
    return Reach(index[first], hours[first])


def merge_nearest(g_hours: np.ndarray, g_which: np.ndarray, a_hours: np.ndarray,
                  a_which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell the faster of the ground and air nearest base (ties: ground)."""
    air = a_hours < g_hours
    return np.where(air, a_hours, g_hours).astype(np.float32), np.where(air, a_which, g_which).astype(np.int32)


def _is_air(bases: gpd.GeoDataFrame) -> np.ndarray:
    if "air" not in bases:
        return np.zeros(len(bases), dtype=bool)
    return bases["air"].fillna(False).astype(bool).to_numpy() & (bases["strength"].to_numpy(float) > 0)


def plan_air(bases: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None, forces: Sequence[Force], grid: Grid,
             params: Params) -> AirPlan:
    """Link each air-capable base (with troops) on the grid to its nearest airfield (the
    sites of kind ``airport``) within ``air_base_max_km``; layers in the grid CRS.

    With ``air_mobility = "on"`` an air-capable base without an airfield in range is an
    error naming the base; with ``"auto"`` it is a note (summary.json warnings)."""
    if params.air_mobility == "off":
        return AirPlan()
    flying = _is_air(bases)
    candidates = [(k, f) for k, f in enumerate(forces) if not f.national and flying[f.row]]
    if not candidates:
        return AirPlan()
    fields = None
    if sites is not None and len(sites):
        check_crs(sites, grid.crs, "sites layer")
        fields = sites[sites["kind"] == "airport"]
    if fields is None or len(fields) == 0:
        ids = [f.base_id for _, f in candidates]
        msg = (f"{len(ids)} air-capable base(s) ({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}) but no "
               "airports layer: air mobility is not modelled; give one (--airports FILE, e.g. OurAirports)")
        if params.air_mobility == "on":
            raise LayerError(msg + " or set air_mobility = \"off\"")
        return AirPlan(notes=[msg])
    check_crs(bases, grid.crs, "bases layer")
    bxy = np.array([[bases.geometry.iloc[f.row].x, bases.geometry.iloc[f.row].y] for _, f in candidates])
    fxy = np.column_stack([fields.geometry.x.to_numpy(), fields.geometry.y.to_numpy()])
    which, dist = nearest_airfield(bxy, fxy, params.air_base_max_km)
    plan = AirPlan()
    for (k, f), w, d in zip(candidates, which, dist, strict=True):
        if w < 0:
            msg = (f"air-capable base {f.base_id!r} has no airfield within air_base_max_km = "
                   f"{params.air_base_max_km:g} km: it moves by road only; add its airstrip to the airports layer "
                   "or raise air_base_max_km")
            if params.air_mobility == "on":
                raise LayerError(msg + " (or set air_mobility = \"auto\" to let it move by road only)")
            plan.notes.append(msg)
            continue
        row = fields.iloc[int(w)]
        plan.links.append(AirLink(force=k, base_id=f.base_id, airfield_id=str(row["site_id"]),
                                  airfield_name=str(row["name"]), distance_km=round(float(d), 2),
                                  x=float(fxy[w, 0]), y=float(fxy[w, 1])))
    return plan


def air_stage(ex, grid: Grid, cost, forces: Sequence[Force], travel, plan: AirPlan, params: Params):
    """Ground travel with each flying force's air reach merged in (reaches and the
    nearest base); the same on every executor: the air part runs on the client."""
    if not plan.links:
        return travel
    passable = np.isfinite(ex.gather({"cost": cost})["cost"])
    wait = night_wait_h(params.air_daylight_h) if params.air_daylight_only else 0.0
    reaches = list(travel.reaches)
    a_hours = np.full(grid.size, np.inf, dtype=np.float32)
    a_which = np.full(grid.size, -1, dtype=np.int32)
    position = {k: p for p, k in enumerate(k for k, f in enumerate(forces) if not f.national)}
    for link in plan.links:
        f = forces[link.force]
        air = air_reach(grid, link.x, link.y, passable, radius_km=params.air_radius_km, limit_h=f.t_max,
                        reaction_h=params.air_reaction_h, speed_kmh=params.air_speed_kmh, wait_h=wait)
        reaches[link.force] = merge_reach(reaches[link.force], air)
        keep = air.hours <= params.travel_time_cap_h
        idx, hrs = air.index[keep], air.hours[keep]
        faster = hrs < a_hours[idx]  # ties: the force listed first
        a_hours[idx[faster]] = hrs[faster]
        a_which[idx[faster]] = position[link.force]
    hours, which = ex.persist(*_merged(ex, travel, a_hours.reshape(grid.shape), a_which.reshape(grid.shape)))
    return Travel(reaches, hours, which)


def _merged(ex, travel, a_hours: np.ndarray, a_which: np.ndarray):
    ah, aw = ex.asarray(a_hours), ex.asarray(a_which)
    hours = ex.map_blocks(_merged_hours, travel.nearest_hours, travel.nearest_which, ah, aw, dtype=np.float32)
    which = ex.map_blocks(_merged_which, travel.nearest_hours, travel.nearest_which, ah, aw, dtype=np.int32)
    return hours, which


def _merged_hours(g_hours, g_which, a_hours, a_which):
    return merge_nearest(g_hours, g_which, a_hours, a_which)[0]


def _merged_which(g_hours, g_which, a_hours, a_which):
    return merge_nearest(g_hours, g_which, a_hours, a_which)[1]


def air_links_frame(plan: AirPlan, grid: Grid, params: Params) -> gpd.GeoDataFrame:
    """The airfields flown from, one row per flying base (grid CRS): for maps and products."""
    cols = {"base_id": [a.base_id for a in plan.links], "airfield_id": [a.airfield_id for a in plan.links],
            "airfield_name": [a.airfield_name for a in plan.links],
            "base_to_airfield_km": [a.distance_km for a in plan.links],
            "radius_km": [float(params.air_radius_km)] * len(plan.links),
            "speed_kmh": [float(params.air_speed_kmh)] * len(plan.links),
            "reaction_h": [float(params.air_reaction_h)] * len(plan.links),
            "daylight_only": [bool(params.air_daylight_only)] * len(plan.links)}
    geom = gpd.points_from_xy([a.x for a in plan.links], [a.y for a in plan.links], crs=grid.crs)
    return gpd.GeoDataFrame(cols, geometry=geom, crs=grid.crs)
