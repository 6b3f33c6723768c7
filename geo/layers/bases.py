"""Peacekeeper bases: Geo-PKO v2.1, the v2.3 yearly summary, or any point layer."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    EmptyLayerError,
    LayerError,
)
from ..readers import file_identity, layer_source, read_vector, remembered
from .common import (
    BASE_COLUMNS,
    GEOPKO_COMPANY_SIZE,
    UNIT_TYPES,
    as_text,
    bad_values_error,
    columns_by_lower,
    finish_layer,
    has_columns,
    indexed,
    mapping_hint,
    parse_as_of,
    parse_dates,
    parse_flags,
    parse_integers,
    parse_numbers,
    require_columns,
    required_text,
    resolve_fields,
    slugify,
    snake_case,
)

__all__ = ["load_bases"]

# ============================================================================== bases

_V21_SIGNATURE = ("source", "mission", "year", "month", "location", "latitude", "longitude", "no.troops")
_V21_QUICK = ("rpf", "res", "sf", "avia", "he.sup", "he.sup.lw")
_V21_OTHER = ("inf", "fpu", "hq", "unmo.dummy", "unpol.dummy", "battalion", "company", "platoon")
_V23_SIGNATURE = ("mission", "year", "location", "latitude", "longitude", "notroops", "ave.no.troops")
_V23_OTHER = ("infantry", "reserve", "hq", "unpol", "unmo", "av")
_GENERIC_BASE_REQUIRED = ("base_id", "strength")
_GENERIC_BASE_OPTIONAL = ("name", "unit_type", "mission", "hq", "map_date", "air")
_V21_AIR = ("avia", "he.sup", "rpf")  # aviation, helicopter support, regional protection force


def load_bases(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    crs: Any = None,
    as_of: date | str | None = None,
    mission: str | None = None,
    max_map_age_days: float | None = 365.0,
) -> gpd.GeoDataFrame:
    """Peacekeeper bases with troop strength.

    Missions whose chosen Geo-PKO map is more than ``max_map_age_days`` older than
    ``as_of`` (or than the newest map in the file) have ended or stopped reporting:
    they are left out and named in ``attrs["missions_left_out"]`` (``None`` keeps all).

    Columns: ``base_id`` (str, unique), ``name``, ``mission``, ``strength`` (float,
    troops), ``unit_type`` (one of :data:`UNIT_TYPES`), ``strength_source`` (one of
    :data:`STRENGTH_SOURCES`), ``map_date`` (datetime64, may be NaT), ``hq`` (int 0..3:
    none, TCC HQ, sector HQ, mission HQ), ``air`` (bool: an aviation, helicopter or
    regional protection unit that can answer by helicopter, see geo.air), ``geometry``
    (Point). ``mission`` keeps only
    that mission (case-insensitive; an unknown mission lists the available ones).

    **Geo-PKO v2.1** (columns source, mission, year, month, location, latitude,
    longitude, no.troops): one row per site per UN deployment map. Per mission the latest
    map on or before ``as_of`` (default: the latest map) is used — maps ordered by
    (year, month), ties broken by the revision number after "Rev." in ``source``
    ("Rev. 31.1" after "Rev. 31"), then by ``source`` text. ``map_date`` is the first of
    the map's month.

    Strength from ``no.troops``: a number > 0 -> that number, ``"reported"``;
    ``"unknown"`` -> :data:`GEOPKO_COMPANY_SIZE` (150, one company),
    ``"imputed_unknown"``; ``0`` (site with only HQ staff, military observers or police)
    -> 0, ``"presence_only"``. Anything else is an error.

    unit_type (first rule that matches; dummies "1" = present, "NA"/empty = 0; "troops"
    means strength > 0, reported or imputed):

    1. troops and any of rpf, res, sf, avia, he.sup, he.sup.lw present -> ``quick_reaction``
    2. inf present, or reported no.troops > 0 with battalion + company + platoon > 0 -> ``infantry``
    3. fpu present -> ``police``
    4. hq in 1..3 and no troops -> ``headquarters``
    5. unmo.dummy or unpol.dummy present and no troops -> ``observer``
    6. otherwise -> ``support`` (troops of other unit types: engineers, medical, signals, ...)

    ``air`` (v2.1): any of avia, he.sup, rpf present; (v2.3): Av > 0; (generic): an optional
    ``air`` field (a number, > 0 = air-capable; default False).

    ``base_id`` is ``mission + ":" + slug(location)`` (ASCII, lowercase, ``-`` for other
    characters); two sites of one map with the same slug get ``-2``, ``-3``, ...

    **Geo-PKO v2.3 yearly summary** (columns mission, year, location, latitude,
    longitude, NoTroops, ave.no.troops): per mission its latest year complete before
    ``as_of`` (a row summarises its year, so the as-of year itself would be a look-ahead:
    ``attrs["notes"]`` says so when it is passed over; default: the mission's latest year).
    Missions whose year is then stale fall under ``max_map_age_days``. A location with
    several rows in a year becomes one base: ``strength`` is the largest numeric
    ``ave.no.troops`` (> 0 ``"reported"``, 0 ``"presence_only"``; only ``NA`` ->
    150 ``"imputed_unknown"``), and Infantry, Reserve, Av, hq, UNPOL, UNMO take their
    largest value over the rows. ``map_date`` is 1 July of the year (mid-year convention).
    unit_type: troops and (Reserve > 0 or Av > 0) -> ``quick_reaction``; Infantry > 0 ->
    ``infantry``; other troops -> ``support``; hq 1..3 -> ``headquarters``; UNPOL or UNMO ->
    ``observer``; otherwise ``support``.

    **Generic** (also whenever ``mapping`` is given): required fields ``base_id``
    (unique) and ``strength`` (number >= 0; 0 -> ``"presence_only"``, else
    ``"reported"``); optional ``name`` (default: base_id), ``unit_type`` (one of
    :data:`UNIT_TYPES`; default ``"infantry"``, recorded as
    ``attrs["unit_type_source"] = "default"``), ``mission`` (default ""), ``hq`` (0..3,
    default 0), ``map_date`` (default NaT). ``as_of`` is refused for generic files (they
    are one snapshot, as_of is then not used; with a ``map_date`` field, rows dated after
    ``as_of`` are left out).
    """
    gdf = read_vector(path, crs=crs)
    as_of_ts = parse_as_of(as_of)
    if mapping is None and has_columns(gdf, _V21_SIGNATURE):
        ident = file_identity(path)  # in a monitor (reading_once): each map is built once
        key = (*ident, str(crs), mission) if ident else None
        return _drop_stale(_bases_geopko21(gdf, as_of=as_of_ts, mission=mission, key=key), as_of_ts, max_map_age_days)
    if mapping is None and has_columns(gdf, _V23_SIGNATURE):
        return _drop_stale(_bases_geopko23(gdf, as_of=as_of_ts, mission=mission), as_of_ts, max_map_age_days)
    what = "bases" if mapping else "bases (not a Geo-PKO v2.1 or v2.3 file)"
    return _bases_generic(gdf, mapping, as_of=as_of_ts, mission=mission, what=what)


def _drop_stale(bases: gpd.GeoDataFrame, as_of: pd.Timestamp | None, max_age_days: float | None) -> gpd.GeoDataFrame:
    """Leave out missions whose latest map is older than ``max_age_days`` before the reference date."""
    bases.attrs["missions_left_out"] = {}
    if max_age_days is None or bases.empty or bases["map_date"].isna().all():
        return bases
    ref = as_of if as_of is not None else bases["map_date"].max()
    age = (ref - bases["map_date"]).dt.days
    stale = age > max_age_days
    if not stale.any():
        return bases
    left = bases[stale].groupby("mission")["map_date"].max()
    kept = bases[~stale].copy()
    kept.attrs = dict(bases.attrs)
    kept.attrs["missions_left_out"] = {m: str(d.date()) for m, d in left.items()}
    if kept.empty:
        raise EmptyLayerError(
            f"{layer_source(bases)}: every mission's latest map is more than {max_age_days:g} days before "
            f"{ref.date()} ({', '.join(f'{m} {d.date()}' for m, d in left.items())}); pass an earlier as-of "
            "date, or max_map_age_days=None (CLI: --max-map-age none) to keep them"
        )
    return kept.reset_index(drop=True)


def _filter_mission(gdf: gpd.GeoDataFrame, missions: pd.Series, mission: str | None) -> pd.Series:
    if mission is None:
        return missions
    keep = missions.str.upper() == mission.strip().upper()
    if not keep.any():
        available = sorted(set(missions.tolist()))
        raise LayerError(
            f"{layer_source(gdf)}: no mission {mission!r}; missions in this file: "
            f"{', '.join(available)}"
        )
    return missions[keep]


_REV = re.compile(r"Rev\.?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def _revision(source: str) -> float:
    m = _REV.search(source)
    return float(m.group(1)) if m else 0.0


def _base_ids(missions: pd.Series, names: pd.Series, groups: pd.Series) -> list[str]:
    seen: dict[tuple[str, str], int] = {}
    ids = []
    for m, n, g in zip(missions, names, groups, strict=True):
        base = f"{m}:{slugify(n)}"
        k = seen.get((g, base), 0) + 1
        seen[(g, base)] = k
        ids.append(base if k == 1 else f"{base}-{k}")
    return ids


def _bases_geopko21(gdf: gpd.GeoDataFrame, *, as_of: pd.Timestamp | None, mission: str | None,
                    key: tuple | None = None) -> gpd.GeoDataFrame:
    """The bases of each mission's latest map; ``key`` (a :func:`geo.readers.file_identity`
    with the CRS and mission): inside ``reading_once`` the file's map table is parsed once
    and each map's bases are built once, later dates choosing the same maps get copies."""
    source = layer_source(gdf)
    require_columns(gdf, (*_V21_QUICK, *_V21_OTHER), schema="Geo-PKO v2.1")
    lower = columns_by_lower(gdf)
    col = {k: lower[k] for k in (*_V21_SIGNATURE, *_V21_QUICK, *_V21_OTHER)}
    table = remembered(key and ("geo_pko_v2.1 maps", *key), lambda: _v21_maps(gdf, col, source, mission))
    maps, latest = _v21_latest_maps(table, source, as_of=as_of, mission=mission)
    chosen = tuple(zip(latest["mission"], latest["source"], latest["map_date"].astype(str), strict=True))
    built = remembered(key and ("geo_pko_v2.1 bases", *key, chosen),
                       lambda: _v21_bases(gdf.loc[maps.index], col, source, maps, latest))
    out = built.copy()
    out.attrs = copy.deepcopy(built.attrs)
    return out


def _v21_bases(gdf: gpd.GeoDataFrame, col: dict[str, str], source: str, maps: pd.DataFrame,
               latest: pd.DataFrame) -> gpd.GeoDataFrame:
    """The bases layer of the rows ``gdf`` of the chosen maps (``maps``: their mission,
    source, map_date; ``latest``: one row per mission naming its map)."""
    strength, strength_source = _v21_strength(gdf, col, source)
    unit_type, hq = _v21_unit_type(gdf, col, source, strength, strength_source)
    air = np.logical_or.reduce([parse_flags(gdf[col[n]], source=source, column=col[n]) > 0 for n in _V21_AIR])
    names = required_text(gdf[col["location"]], source=source, column=col["location"])
    data = {
        "base_id": _base_ids(maps["mission"], names, maps["source"]),
        "name": names.to_numpy(),
        "mission": maps["mission"].to_numpy(),
        "strength": strength.astype("float64"),
        "unit_type": unit_type,
        "strength_source": strength_source,
        "map_date": maps["map_date"].to_numpy().astype("datetime64[ns]"),
        "hq": hq.astype("int64"),
        "air": air,
    }
    used = {
        m: {"source": s, "map_date": d.strftime("%Y-%m")}
        for m, s, d in zip(latest["mission"], latest["source"], latest["map_date"], strict=True)
    }
    return finish_layer(
        gdf, indexed(data, gdf.index), BASE_COLUMNS, what="bases", id_column="base_id",
        allowed={"Point"}, attrs={"schema": "geo_pko_v2.1", "maps": used},
    )  # fmt: skip


def _v21_maps(gdf: gpd.GeoDataFrame, col: dict[str, str], source: str, mission: str | None) -> pd.DataFrame:
    """Per row of ``mission`` (all missions: None) its (mission, source, map_date, rev),
    indexed like ``gdf``."""
    missions = _filter_mission(gdf, required_text(gdf[col["mission"]], source=source, column=col["mission"]), mission)
    gdf = gdf.loc[missions.index]
    years = parse_integers(gdf[col["year"]], source=source, column=col["year"], lo=1900, hi=2100)
    months = parse_integers(gdf[col["month"]], source=source, column=col["month"], lo=1, hi=12)
    maps = pd.DataFrame(
        {
            "mission": missions.to_numpy(),
            "source": as_text(gdf[col["source"]]).to_numpy(),
            "map_date": pd.to_datetime({"year": years, "month": months, "day": np.ones_like(years)}).to_numpy(),
        },
        index=gdf.index,
    )
    maps["rev"] = maps["source"].map(_revision)
    return maps


def _v21_latest_maps(
    maps: pd.DataFrame, source: str, *, as_of: pd.Timestamp | None, mission: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``maps`` (:func:`_v21_maps`) of each mission's latest map on or before
    ``as_of``, and one row per mission naming the map chosen."""
    if as_of is not None:
        maps = maps[maps["map_date"] <= as_of]
        if maps.empty:
            which = f"mission {mission!r}" if mission else "any mission"
            raise EmptyLayerError(f"{source}: no Geo-PKO map of {which} on or before {as_of.date()}")
    latest = (
        maps.drop_duplicates(["mission", "source", "map_date"])
        .sort_values(["map_date", "rev", "source"])
        .groupby("mission")
        .tail(1)
    )
    chosen = set(zip(latest["mission"], latest["source"], latest["map_date"], strict=True))
    keep = [k in chosen for k in zip(maps["mission"], maps["source"], maps["map_date"], strict=True)]
    return maps[keep], latest


def _v21_strength(gdf: gpd.GeoDataFrame, col: dict[str, str], source: str) -> tuple[np.ndarray, np.ndarray]:
    """Troops from ``no.troops`` ("unknown" = one company) and where the number comes from."""
    raw = as_text(gdf[col["no.troops"]])
    unknown = (raw.str.lower() == "unknown").to_numpy()
    nums = pd.to_numeric(raw.where(~unknown, None), errors="coerce").to_numpy(dtype="float64")
    bad = ~unknown & (~np.isfinite(nums) | (nums < 0))
    if bad.any():
        raise bad_values_error(LayerError, source, col["no.troops"], raw, bad, "a number >= 0 or 'unknown'")
    strength = np.where(unknown, GEOPKO_COMPANY_SIZE, nums)
    strength_source = np.select(
        [unknown, strength > 0], ["imputed_unknown", "reported"], default="presence_only"
    )
    return strength, strength_source


def _v21_unit_type(
    gdf: gpd.GeoDataFrame, col: dict[str, str], source: str, strength: np.ndarray, strength_source: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """unit_type by the first rule that matches (see :func:`load_bases`), and the hq level 0..3."""
    def flag(name: str) -> np.ndarray:
        return parse_flags(gdf[col[name]], source=source, column=col[name]) > 0

    troops = strength > 0
    quick = np.logical_or.reduce([flag(n) for n in _V21_QUICK])
    units = sum(parse_flags(gdf[col[n]], source=source, column=col[n]) for n in ("battalion", "company", "platoon"))
    hq = parse_flags(gdf[col["hq"]], source=source, column=col["hq"])
    bad_hq = (hq != np.round(hq)) | (hq > 3)
    if bad_hq.any():
        raise bad_values_error(LayerError, source, col["hq"], as_text(gdf[col["hq"]]), bad_hq, "0, 1, 2, 3 or NA")
    unit_type = np.select(
        [
            troops & quick,
            flag("inf") | ((strength_source == "reported") & (units > 0)),
            flag("fpu"),
            (hq > 0) & ~troops,
            (flag("unmo.dummy") | flag("unpol.dummy")) & ~troops,
        ],
        ["quick_reaction", "infantry", "police", "headquarters", "observer"],
        default="support",
    )
    return unit_type, hq


def _bases_geopko23(gdf: gpd.GeoDataFrame, *, as_of: pd.Timestamp | None, mission: str | None) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    require_columns(gdf, _V23_OTHER, schema="Geo-PKO v2.3 yearly summary")
    lower = columns_by_lower(gdf)
    col = {k: lower[k] for k in (*_V23_SIGNATURE, *_V23_OTHER)}
    gdf, missions, years = _v23_year_rows(gdf, col, source, as_of=as_of, mission=mission)
    notes = list(gdf.attrs.get("notes", []))
    gdf, merged = _v23_one_row_per_location(gdf, col, source, missions, years)
    unknown = merged["ave"].isna().to_numpy()
    strength = np.where(unknown, GEOPKO_COMPANY_SIZE, merged["ave"].to_numpy())
    strength_source = np.select([unknown, strength > 0], ["imputed_unknown", "reported"], default="presence_only")
    unit_type, hq = _v23_unit_type(gdf, col, source, merged, strength)
    map_date = pd.to_datetime(
        {"year": merged["year"].to_numpy(), "month": 7, "day": 1}
    ).to_numpy().astype("datetime64[ns]")
    data = {
        "base_id": _base_ids(merged["mission"], merged["name"], merged["year"].astype(str)),
        "name": merged["name"].to_numpy(),
        "mission": merged["mission"].to_numpy(),
        "strength": strength.astype("float64"),
        "unit_type": unit_type,
        "strength_source": strength_source,
        "map_date": map_date,
        "hq": hq.astype("int64"),
        "air": (merged["av"] > 0).to_numpy(),
    }
    used = {m: {"year": int(y)} for m, y in merged.groupby("mission")["year"].max().items()}
    return finish_layer(
        gdf, indexed(data, gdf.index), BASE_COLUMNS, what="bases", id_column="base_id",
        allowed={"Point"}, attrs={"schema": "geo_pko_v2.3", "maps": used, "notes": notes},
    )  # fmt: skip


def _v23_year_rows(
    gdf: gpd.GeoDataFrame, col: dict[str, str], source: str, *, as_of: pd.Timestamp | None, mission: str | None
) -> tuple[gpd.GeoDataFrame, pd.Series, pd.Series]:
    """Per mission the rows of its latest year complete before ``as_of`` (default: its latest
    year), their missions and years; ``attrs["notes"]`` says when the as-of year was passed over."""
    missions = _filter_mission(gdf, required_text(gdf[col["mission"]], source=source, column=col["mission"]), mission)
    gdf = gdf.loc[missions.index]
    years = pd.Series(parse_integers(gdf[col["year"]], source=source, column=col["year"], lo=1900, hi=2100), index=gdf.index)
    notes: list[str] = []
    if as_of is not None:
        # a yearly row summarises its whole year: only years complete before as_of are known then
        last = as_of.year if (as_of.month, as_of.day) == (12, 31) else as_of.year - 1
        usable = years <= last
        if not usable.any():
            which = f"mission {mission!r}" if mission else "any mission"
            raise EmptyLayerError(f"{source}: no Geo-PKO v2.3 rows of {which} for {last} or before, the last "
                                  f"year complete before {as_of.date()}; give a later as-of date")
        if last < as_of.year and (years == as_of.year).any():
            notes.append(f"{source}: Geo-PKO v2.3 rows summarise a whole year; {as_of.year} is not complete before "
                         f"the as-of date {as_of.date()}, so the rows of {last} (or the latest before) are used")
        years_ok = years[usable]
        keep = usable & (years == years_ok.groupby(missions[usable]).transform("max").reindex(years.index))
    else:
        keep = years == years.groupby(missions).transform("max")
    gdf = gdf[keep]
    gdf.attrs = {**gdf.attrs, "notes": notes}
    return gdf, missions[keep], years[keep]


def _v23_one_row_per_location(
    gdf: gpd.GeoDataFrame, col: dict[str, str], source: str, missions: pd.Series, years: pd.Series
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """One row per (mission, year, location): the largest ave.no.troops and the largest flags."""
    raw = as_text(gdf[col["ave.no.troops"]])
    is_na = (raw.str.upper() == "NA").to_numpy() | (raw == "").to_numpy()
    ave = pd.to_numeric(raw.where(~is_na, None), errors="coerce").to_numpy(dtype="float64")
    bad = ~is_na & (~np.isfinite(ave) | (ave < 0))
    if bad.any():
        raise bad_values_error(LayerError, source, col["ave.no.troops"], raw, bad, "a number >= 0 or NA")
    names = required_text(gdf[col["location"]], source=source, column=col["location"])
    frame = pd.DataFrame(
        {
            "mission": missions,
            "year": years,
            "name": names,
            "ave": ave,
            **{k: parse_flags(gdf[col[k]], source=source, column=col[k]) for k in _V23_OTHER},
        },
        index=gdf.index,
    )
    frame["_row"] = frame.index
    key = ["mission", "year", "name"]
    # the row with the largest ave.no.troops (NA last) carries the geometry and row number
    first = frame.sort_values("ave", ascending=False, na_position="last", kind="stable").groupby(key, sort=False).head(1)
    agg = frame.groupby(key, sort=False)[list(_V23_OTHER)].max()
    merged = first.drop(columns=list(_V23_OTHER)).join(agg, on=key).sort_values("_row")
    gdf = gdf.loc[merged["_row"]]
    merged.index = gdf.index
    return gdf, merged


def _v23_unit_type(
    gdf: gpd.GeoDataFrame, col: dict[str, str], source: str, merged: pd.DataFrame, strength: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """unit_type by the first rule that matches (see :func:`load_bases`), and the hq level 0..3."""
    hq = merged["hq"].to_numpy()
    if ((hq != np.round(hq)) | (hq > 3)).any():
        raise bad_values_error(LayerError, source, col["hq"], as_text(gdf[col["hq"]]), (hq != np.round(hq)) | (hq > 3), "0, 1, 2 or 3")
    troops = strength > 0
    unit_type = np.select(
        [
            troops & ((merged["reserve"] > 0) | (merged["av"] > 0)).to_numpy(),
            (merged["infantry"] > 0).to_numpy(),
            troops,
            hq > 0,
            ((merged["unpol"] > 0) | (merged["unmo"] > 0)).to_numpy(),
        ],
        ["quick_reaction", "infantry", "support", "headquarters", "observer"],
        default="support",
    )
    return unit_type, hq


def _bases_generic(
    gdf: gpd.GeoDataFrame,
    mapping: Mapping[str, str] | None,
    *,
    as_of: pd.Timestamp | None,
    mission: str | None,
    what: str,
) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    cols = resolve_fields(gdf, mapping, required=_GENERIC_BASE_REQUIRED, optional=_GENERIC_BASE_OPTIONAL, what=what)
    attrs: dict[str, Any] = {"schema": "custom"}
    gdf, missions = _generic_missions(gdf, cols, source, mission)

    id_col, strength_col = str(cols["base_id"]), str(cols["strength"])  # required: resolved
    ids = required_text(gdf[id_col], source=source, column=id_col)
    strength = parse_numbers(gdf[strength_col], source=source, column=strength_col)
    names = required_text(gdf[cols["name"]], source=source, column=cols["name"]) if cols["name"] else ids
    unit_type = _generic_unit_type(gdf, cols, source, attrs)
    if cols["hq"] is not None:
        hq = parse_integers(gdf[cols["hq"]], source=source, column=cols["hq"], lo=0, hi=3)
    else:
        hq = np.zeros(len(gdf), dtype="int64")
    air = (parse_flags(gdf[cols["air"]], source=source, column=cols["air"]) > 0 if cols["air"] is not None
           else np.zeros(len(gdf), dtype=bool))
    if cols["map_date"] is not None:
        map_date = parse_dates(gdf[cols["map_date"]], source=source, column=cols["map_date"])
    else:
        map_date = pd.Series(pd.NaT, index=gdf.index, dtype="datetime64[ns]")
    if as_of is not None and cols["map_date"] is not None:
        # a dated generic file: keep rows dated on or before as_of (an undated file is one snapshot)
        keep = (map_date <= as_of).to_numpy()
        if not keep.any():
            raise EmptyLayerError(f"{source}: no base has {cols['map_date']} on or before {as_of.date()}")
        gdf, ids, strength, names, unit_type, missions, map_date = (
            x[keep] for x in (gdf, ids, strength, names, unit_type, missions, map_date)
        )
        hq, air = hq[keep], air[keep]
    data = {
        "base_id": ids,
        "name": names,
        "mission": missions,
        "strength": strength.astype("float64"),
        "unit_type": unit_type,
        "strength_source": np.where(strength > 0, "reported", "presence_only"),
        "map_date": map_date,
        "hq": hq,
        "air": air,
    }
    return finish_layer(
        gdf, indexed(data, gdf.index), BASE_COLUMNS, what="bases", id_column="base_id",
        allowed={"Point"}, attrs=attrs,
    )  # fmt: skip


def _generic_missions(
    gdf: gpd.GeoDataFrame, cols: Mapping[str, str | None], source: str, mission: str | None
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Rows of ``mission`` (all without one) and their missions ("" without a mission field)."""
    if cols["mission"] is not None:
        missions = _filter_mission(gdf, as_text(gdf[cols["mission"]]), mission)
        gdf = gdf.loc[missions.index]
    elif mission is not None:
        raise ConfigError(
            f"{source}: mission={mission!r} given but the file has no mission field; "
            f"{mapping_hint(['mission'])}, or drop mission"
        )
    else:
        missions = pd.Series("", index=gdf.index, dtype=object)
    if len(gdf) == 0:
        raise EmptyLayerError(f"{source}: no bases left to load")
    return gdf, missions


def _generic_unit_type(
    gdf: gpd.GeoDataFrame, cols: Mapping[str, str | None], source: str, attrs: dict[str, Any]
) -> pd.Series:
    """unit_type from its field, else "infantry" for all (recorded in ``attrs``)."""
    if cols["unit_type"] is not None:
        text = as_text(gdf[cols["unit_type"]])
        unit_type = text.map(snake_case)
        bad = ~unit_type.isin(UNIT_TYPES).to_numpy()
        if bad.any():
            raise bad_values_error(LayerError, source, cols["unit_type"], text, bad, f"one of {', '.join(UNIT_TYPES)}")
        return unit_type
    attrs["unit_type_source"] = "default"
    return pd.Series("infantry", index=gdf.index, dtype=object)
