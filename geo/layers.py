"""Load the input layers into fixed schemas.

Each loader reads a file with :func:`geo.readers.read_vector`, recognises a known schema
by its columns (Geo-PKO, UCDP GED, ACLED, GeoNames, OurAirports, airportsdata, Natural
Earth, OpenStreetMap-style roads) or takes a ``mapping`` from our field names to the
file's columns, and returns a GeoDataFrame with a fixed set of columns in the file's CRS
(reprojection happens elsewhere). Schema detection is explicit: columns are matched by
name (case-insensitively) and a file that matches nothing needs ``mapping``; passing
``mapping`` always selects the generic schema.

Errors name the file, the 1-based row (data row for a CSV, feature for other formats),
the field, and the fix. Every loader raises :class:`EmptyLayerError` when nothing is
left, and none of them guesses silently: defaults that are applied are listed in the
docstrings and recorded in ``attrs``.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import (
    ConfigError,
    DateParseError,
    EmptyLayerError,
    LayerError,
    MissingColumnError,
    MissingCRSError,
)
from .readers import format_rows, layer_source, read_vector, validate_geometries

__all__ = [
    "UNIT_TYPES",
    "STRENGTH_SOURCES",
    "GEOPKO_COMPANY_SIZE",
    "BASE_COLUMNS",
    "EVENT_COLUMNS",
    "ROAD_COLUMNS",
    "SITE_COLUMNS",
    "ADMIN_COLUMNS",
    "load_bases",
    "load_events",
    "load_roads",
    "load_sites",
    "load_admin",
    "check_population_raster",
]

UNIT_TYPES = ("infantry", "quick_reaction", "police", "observer", "support", "headquarters")
STRENGTH_SOURCES = ("reported", "imputed_unknown", "presence_only")
GEOPKO_COMPANY_SIZE = 150.0
"""Troops imputed for a Geo-PKO site whose strength is ``"unknown"``: one company, the
Geo-PKO standard company size (battalion 650, company 150, platoon 35)."""

BASE_COLUMNS = (
    "base_id", "name", "mission", "strength", "unit_type", "strength_source", "map_date", "hq",
    "geometry",
)  # fmt: skip
EVENT_COLUMNS = ("event_id", "date", "event_type", "fatalities", "actors", "schema", "geometry")
ROAD_COLUMNS = ("road_id", "road_class", "geometry")
SITE_COLUMNS = ("site_id", "name", "kind", "population", "subtype", "geometry")
ADMIN_COLUMNS = ("admin_id", "name", "level", "parent", "geometry")

SiteKind = Literal["town", "airport", "critical"]
_SITE_KINDS = ("town", "airport", "critical")


# ============================================================================ helpers


def _lower(gdf: pd.DataFrame) -> dict[str, str]:
    """Lower-cased column name -> actual column name (first one wins)."""
    out: dict[str, str] = {}
    for c in gdf.columns:
        out.setdefault(str(c).lower(), str(c))
    return out


def _has(gdf: pd.DataFrame, names: Iterable[str]) -> bool:
    cols = _lower(gdf)
    return all(n.lower() in cols for n in names)


def _col(gdf: pd.DataFrame, name: str) -> pd.Series:
    return gdf[_lower(gdf)[name.lower()]]


def _text_value(v: Any) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer():
            return str(int(v))
    return str(v).strip()


def _text(series: pd.Series) -> pd.Series:
    """Values as stripped strings; missing values become ``""``; 3.0 becomes ``"3"``."""
    return pd.Series([_text_value(v) for v in series.tolist()], index=series.index, dtype=object)


def _rows(index: pd.Index) -> np.ndarray:
    """1-based row numbers of a frame that still carries read_vector's RangeIndex."""
    return np.asarray(index, dtype="int64") + 1


def _bad(
    cls: type[LayerError],
    source: str,
    column: str,
    values: pd.Series,
    mask: np.ndarray | pd.Series,
    expected: str,
    fix: str = "fix or remove those rows",
) -> LayerError:
    mask = np.asarray(mask, dtype=bool)
    idx = np.flatnonzero(mask)
    shown = ", ".join(f"{r} ({values.iloc[i]!r})" for r, i in zip(_rows(values.index[idx[:5]]), idx[:5], strict=True))
    more = f" (and {len(idx) - 5} more)" if len(idx) > 5 else ""
    return cls(
        f"{source}: field {column!r} must be {expected}; {len(idx)} bad value(s) in row(s) "
        f"{shown}{more}; {fix}"
    )


def _to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(numbers, empty mask, text). Non-numeric non-empty text gives NaN and empty=False."""
    text = _text(values)
    nums = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype="float64")
    empty = (text == "").to_numpy()
    return nums, empty, text


def _numeric(
    values: pd.Series, *, source: str, column: str, minimum: float | None = 0.0, empty_ok: bool = False
) -> np.ndarray:
    nums, empty, text = _to_float(values)
    bad = ~np.isfinite(nums) & ~(empty & empty_ok)
    if minimum is not None:
        with np.errstate(invalid="ignore"):
            bad |= nums < minimum
    if bad.any():
        expected = "a number" + (f" >= {minimum:g}" if minimum is not None else "")
        if empty_ok:
            expected += " or empty"
        raise _bad(LayerError, source, column, text, bad, expected)
    return nums


def _flag(values: pd.Series, *, source: str, column: str) -> np.ndarray:
    """Geo-PKO dummies and unit counts: a number >= 0; ``"NA"`` and empty count as 0."""
    nums, empty, text = _to_float(values)
    na = empty | (text.str.upper() == "NA").to_numpy()
    bad = ~na & (~np.isfinite(nums) | (nums < 0))
    if bad.any():
        raise _bad(LayerError, source, column, text, bad, "a number >= 0, 'NA' or empty")
    return np.where(na, 0.0, nums)


def _integers(values: pd.Series, *, source: str, column: str, lo: int, hi: int) -> np.ndarray:
    nums, _, text = _to_float(values)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(nums) | (nums != np.round(nums)) | (nums < lo) | (nums > hi)
    if bad.any():
        raise _bad(LayerError, source, column, text, bad, f"a whole number in {lo}..{hi}")
    return nums.astype("int64")


def _required_text(values: pd.Series, *, source: str, column: str) -> pd.Series:
    text = _text(values)
    empty = (text == "").to_numpy()
    if empty.any():
        raise _bad(LayerError, source, column, text, empty, "non-empty")
    return text


def _unique(ids: pd.Series, *, source: str, field: str) -> None:
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        names = list(dict.fromkeys(dup.tolist()))
        raise LayerError(
            f"{source}: field {field!r} must be unique; duplicated: {format_rows(names, limit=10)} "
            f"(rows {format_rows(_rows(dup.index), limit=10)})"
        )


def _fix_hint(fields: Sequence[str]) -> str:
    py = ", ".join(f"'{f}': 'your_column'" for f in fields)
    cli = " ".join(f"--map LAYER.{f}=your_column" for f in fields)
    return f"pass mapping={{{py}}} (CLI: {cli})"


def _resolve(
    gdf: pd.DataFrame,
    mapping: Mapping[str, str] | None,
    *,
    required: Sequence[str],
    optional: Sequence[str],
    what: str,
) -> dict[str, str | None]:
    """Our field -> the file's column (``mapping`` first, then a column of the same name)."""
    source = layer_source(gdf)
    mapping = dict(mapping or {})
    fields = [*required, *optional]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(
            f"mapping for {what} names unknown field(s) {', '.join(map(repr, unknown))}; "
            f"fields are: {', '.join(fields)}"
        )
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    absent = {f: c for f, c in mapping.items() if c not in gdf.columns}
    if absent:
        pairs = ", ".join(f"{f!r} -> {c!r}" for f, c in absent.items())
        raise MissingColumnError(
            f"{source}: mapping for {what} names column(s) the file does not have ({pairs}); "
            f"columns present: {', '.join(columns)}"
        )
    out: dict[str, str | None] = {}
    for f in fields:
        out[f] = mapping.get(f) or (f if f in gdf.columns else None)
    missing = [f for f in required if out[f] is None]
    if missing:
        raise MissingColumnError(
            f"{source}: {what} need field(s) {', '.join(map(repr, missing))}, which no column "
            f"provides; columns present: {', '.join(columns)}. Fix: {_fix_hint(missing)}"
        )
    return out


def _require_columns(gdf: pd.DataFrame, names: Sequence[str], *, schema: str) -> None:
    cols = _lower(gdf)
    missing = [n for n in names if n.lower() not in cols]
    if missing:
        raise MissingColumnError(
            f"{layer_source(gdf)}: the file looks like {schema} but lacks column(s) "
            f"{', '.join(map(repr, missing))}; columns present: "
            f"{', '.join(str(c) for c in gdf.columns if c != gdf.geometry.name)}. "
            f"Restore them, or load it as a generic layer with {_fix_hint(['...'])}"
        )


def _finish(
    gdf: gpd.GeoDataFrame,
    data: dict[str, Any],
    columns: Sequence[str],
    *,
    what: str,
    id_column: str,
    allowed: set[str],
    repair: bool = False,
    attrs: Mapping[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """Assemble the output frame, validate geometries, check ids, reset the index."""
    source = layer_source(gdf)
    if len(gdf) == 0:
        raise EmptyLayerError(f"{source}: no {what} left to load")
    out = gpd.GeoDataFrame(
        {k: data[k] for k in columns if k != "geometry"},
        geometry=gpd.GeoSeries(gdf.geometry.values, index=gdf.index, crs=gdf.crs),
        crs=gdf.crs,
    )
    out = out[list(columns)]
    for c in out.columns:  # one string dtype for text columns; "parent" keeps None
        if c not in ("geometry", "parent") and out[c].dtype == object:
            out[c] = out[c].astype(str)
    out.attrs = dict(gdf.attrs)
    out.attrs.update(attrs or {})
    out = validate_geometries(out, what=what, id_column=id_column, allowed=allowed, repair=repair)
    _unique(out[id_column], source=source, field=id_column)
    out = out.reset_index(drop=True)
    return out


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "site"


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _as_date(value: date | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return pd.Timestamp(value).normalize()
    try:
        return pd.Timestamp(date.fromisoformat(str(value)))
    except ValueError as exc:
        raise ConfigError(f"as_of={value!r} is not an ISO date; pass e.g. as_of='2020-06-30'") from exc


def _actors(a: pd.Series, b: pd.Series) -> list[str]:
    return [f"{x} vs {y}" if x and y else (x or y) for x, y in zip(_text(a), _text(b), strict=True)]


# ============================================================================== bases

_V21_SIGNATURE = ("source", "mission", "year", "month", "location", "latitude", "longitude", "no.troops")
_V21_QUICK = ("rpf", "res", "sf", "avia", "he.sup", "he.sup.lw")
_V21_OTHER = ("inf", "fpu", "hq", "unmo.dummy", "unpol.dummy", "battalion", "company", "platoon")
_V23_SIGNATURE = ("mission", "year", "location", "latitude", "longitude", "notroops", "ave.no.troops")
_V23_OTHER = ("infantry", "reserve", "hq", "unpol", "unmo", "av")
_GENERIC_BASE_REQUIRED = ("base_id", "strength")
_GENERIC_BASE_OPTIONAL = ("name", "unit_type", "mission", "hq", "map_date")


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
    none, TCC HQ, sector HQ, mission HQ), ``geometry`` (Point). ``mission`` keeps only
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

    ``base_id`` is ``mission + ":" + slug(location)`` (ASCII, lowercase, ``-`` for other
    characters); two sites of one map with the same slug get ``-2``, ``-3``, ...

    **Geo-PKO v2.3 yearly summary** (columns mission, year, location, latitude,
    longitude, NoTroops, ave.no.troops): per mission the year of ``as_of`` (default: the
    mission's latest year; missions without rows that year are left out). A location with
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
    as_of_ts = _as_date(as_of)
    if mapping is None and _has(gdf, _V21_SIGNATURE):
        return _drop_stale(_bases_geopko21(gdf, as_of=as_of_ts, mission=mission), as_of_ts, max_map_age_days)
    if mapping is None and _has(gdf, _V23_SIGNATURE):
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
            "date, or max_map_age_days=None to keep them"
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
        base = f"{m}:{_slug(n)}"
        k = seen.get((g, base), 0) + 1
        seen[(g, base)] = k
        ids.append(base if k == 1 else f"{base}-{k}")
    return ids


def _bases_geopko21(gdf: gpd.GeoDataFrame, *, as_of: pd.Timestamp | None, mission: str | None) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    _require_columns(gdf, (*_V21_QUICK, *_V21_OTHER), schema="Geo-PKO v2.1")
    col = {k: _lower(gdf)[k] for k in (*_V21_SIGNATURE, *_V21_QUICK, *_V21_OTHER)}

    missions = _filter_mission(gdf, _required_text(gdf[col["mission"]], source=source, column=col["mission"]), mission)
    gdf = gdf.loc[missions.index]
    years = _integers(gdf[col["year"]], source=source, column=col["year"], lo=1900, hi=2100)
    months = _integers(gdf[col["month"]], source=source, column=col["month"], lo=1, hi=12)
    maps = pd.DataFrame(
        {
            "mission": missions.to_numpy(),
            "source": _text(gdf[col["source"]]).to_numpy(),
            "map_date": pd.to_datetime({"year": years, "month": months, "day": np.ones_like(years)}).to_numpy(),
        },
        index=gdf.index,
    )
    maps["rev"] = maps["source"].map(_revision)
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
    maps = maps[keep]
    gdf = gdf.loc[maps.index]

    raw = _text(gdf[col["no.troops"]])
    unknown = (raw.str.lower() == "unknown").to_numpy()
    nums = pd.to_numeric(raw.where(~unknown, None), errors="coerce").to_numpy(dtype="float64")
    bad = ~unknown & (~np.isfinite(nums) | (nums < 0))
    if bad.any():
        raise _bad(LayerError, source, col["no.troops"], raw, bad, "a number >= 0 or 'unknown'")
    strength = np.where(unknown, GEOPKO_COMPANY_SIZE, nums)
    strength_source = np.select(
        [unknown, strength > 0], ["imputed_unknown", "reported"], default="presence_only"
    )

    def flag(name: str) -> np.ndarray:
        return _flag(gdf[col[name]], source=source, column=col[name]) > 0

    troops = strength > 0
    quick = np.logical_or.reduce([flag(n) for n in _V21_QUICK])
    units = sum(_flag(gdf[col[n]], source=source, column=col[n]) for n in ("battalion", "company", "platoon"))
    hq = _flag(gdf[col["hq"]], source=source, column=col["hq"])
    bad_hq = (hq != np.round(hq)) | (hq > 3)
    if bad_hq.any():
        raise _bad(LayerError, source, col["hq"], _text(gdf[col["hq"]]), bad_hq, "0, 1, 2, 3 or NA")
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
    names = _required_text(gdf[col["location"]], source=source, column=col["location"])
    data = {
        "base_id": _base_ids(maps["mission"], names, maps["source"]),
        "name": names.to_numpy(),
        "mission": maps["mission"].to_numpy(),
        "strength": strength.astype("float64"),
        "unit_type": unit_type,
        "strength_source": strength_source,
        "map_date": maps["map_date"].to_numpy().astype("datetime64[ns]"),
        "hq": hq.astype("int64"),
    }
    used = {
        m: {"source": s, "map_date": d.strftime("%Y-%m")}
        for m, s, d in zip(latest["mission"], latest["source"], latest["map_date"], strict=True)
    }
    return _finish(
        gdf, _indexed(data, gdf.index), BASE_COLUMNS, what="bases", id_column="base_id",
        allowed={"Point"}, attrs={"schema": "geo_pko_v2.1", "maps": used},
    )  # fmt: skip


def _indexed(data: dict[str, Any], index: pd.Index) -> dict[str, Any]:
    return {k: pd.Series(np.asarray(v), index=index) for k, v in data.items()}


def _bases_geopko23(gdf: gpd.GeoDataFrame, *, as_of: pd.Timestamp | None, mission: str | None) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    _require_columns(gdf, _V23_OTHER, schema="Geo-PKO v2.3 yearly summary")
    col = {k: _lower(gdf)[k] for k in (*_V23_SIGNATURE, *_V23_OTHER)}

    missions = _filter_mission(gdf, _required_text(gdf[col["mission"]], source=source, column=col["mission"]), mission)
    gdf = gdf.loc[missions.index]
    years = pd.Series(_integers(gdf[col["year"]], source=source, column=col["year"], lo=1900, hi=2100), index=gdf.index)
    if as_of is not None:
        keep = years == as_of.year
        if not keep.any():
            which = f"mission {mission!r}" if mission else "any mission"
            raise EmptyLayerError(f"{source}: no Geo-PKO v2.3 rows of {which} for {as_of.year}")
    else:
        keep = years == years.groupby(missions).transform("max")
    gdf, missions, years = gdf[keep], missions[keep], years[keep]

    raw = _text(gdf[col["ave.no.troops"]])
    is_na = (raw.str.upper() == "NA").to_numpy() | (raw == "").to_numpy()
    ave = pd.to_numeric(raw.where(~is_na, None), errors="coerce").to_numpy(dtype="float64")
    bad = ~is_na & (~np.isfinite(ave) | (ave < 0))
    if bad.any():
        raise _bad(LayerError, source, col["ave.no.troops"], raw, bad, "a number >= 0 or NA")
    names = _required_text(gdf[col["location"]], source=source, column=col["location"])
    frame = pd.DataFrame(
        {
            "mission": missions,
            "year": years,
            "name": names,
            "ave": ave,
            **{k: _flag(gdf[col[k]], source=source, column=col[k]) for k in _V23_OTHER},
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

    unknown = merged["ave"].isna().to_numpy()
    strength = np.where(unknown, GEOPKO_COMPANY_SIZE, merged["ave"].to_numpy())
    strength_source = np.select([unknown, strength > 0], ["imputed_unknown", "reported"], default="presence_only")
    hq = merged["hq"].to_numpy()
    if ((hq != np.round(hq)) | (hq > 3)).any():
        raise _bad(LayerError, source, col["hq"], _text(gdf[col["hq"]]), (hq != np.round(hq)) | (hq > 3), "0, 1, 2 or 3")
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
    }
    used = {m: {"year": int(y)} for m, y in merged.groupby("mission")["year"].max().items()}
    return _finish(
        gdf, _indexed(data, gdf.index), BASE_COLUMNS, what="bases", id_column="base_id",
        allowed={"Point"}, attrs={"schema": "geo_pko_v2.3", "maps": used},
    )  # fmt: skip


def _bases_generic(
    gdf: gpd.GeoDataFrame,
    mapping: Mapping[str, str] | None,
    *,
    as_of: pd.Timestamp | None,
    mission: str | None,
    what: str,
) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    cols = _resolve(gdf, mapping, required=_GENERIC_BASE_REQUIRED, optional=_GENERIC_BASE_OPTIONAL, what=what)
    attrs: dict[str, Any] = {"schema": "custom"}
    if cols["mission"] is not None:
        missions = _filter_mission(gdf, _text(gdf[cols["mission"]]), mission)
        gdf = gdf.loc[missions.index]
    elif mission is not None:
        raise ConfigError(
            f"{source}: mission={mission!r} given but the file has no mission field; "
            f"{_fix_hint(['mission'])}, or drop mission"
        )
    else:
        missions = pd.Series("", index=gdf.index, dtype=object)
    if len(gdf) == 0:
        raise EmptyLayerError(f"{source}: no bases left to load")

    id_col, strength_col = str(cols["base_id"]), str(cols["strength"])  # required: resolved
    ids = _required_text(gdf[id_col], source=source, column=id_col)
    strength = _numeric(gdf[strength_col], source=source, column=strength_col)
    names = _required_text(gdf[cols["name"]], source=source, column=cols["name"]) if cols["name"] else ids
    if cols["unit_type"] is not None:
        text = _text(gdf[cols["unit_type"]])
        unit_type = text.map(_snake)
        bad = ~unit_type.isin(UNIT_TYPES).to_numpy()
        if bad.any():
            raise _bad(LayerError, source, cols["unit_type"], text, bad, f"one of {', '.join(UNIT_TYPES)}")
    else:
        unit_type = pd.Series("infantry", index=gdf.index, dtype=object)
        attrs["unit_type_source"] = "default"
    if cols["hq"] is not None:
        hq = _integers(gdf[cols["hq"]], source=source, column=cols["hq"], lo=0, hi=3)
    else:
        hq = np.zeros(len(gdf), dtype="int64")
    if cols["map_date"] is not None:
        map_date = _parse_dates(gdf[cols["map_date"]], source=source, column=cols["map_date"])
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
        hq = hq[keep]
    data = {
        "base_id": ids,
        "name": names,
        "mission": missions,
        "strength": strength.astype("float64"),
        "unit_type": unit_type,
        "strength_source": np.where(strength > 0, "reported", "presence_only"),
        "map_date": map_date,
        "hq": hq,
    }
    return _finish(
        gdf, _indexed(data, gdf.index), BASE_COLUMNS, what="bases", id_column="base_id",
        allowed={"Point"}, attrs=attrs,
    )  # fmt: skip


# ============================================================================= events

_GED = ("type_of_violence", "best", "date_start", "side_a", "side_b")
_GED_YEAR = ("type_of_violence", "best", "year", "side_a", "side_b")
_GED_AGGREGATE = ("year", "where_coordinates", "best", "deaths_civilians")
_ACLED = ("event_date", "event_type", "fatalities", "actor1")
_GED_TYPES = {"1": "state_based", "2": "non_state", "3": "one_sided"}
_DATE_FORMATS = ("ISO8601", "%d %B %Y", "%d %b %Y", "%d-%B-%Y", "%d-%b-%Y")
"""Accepted date spellings, tried in turn: ISO 8601 (2020-07-31, 2020-07-31T00:00:00) and
day-month-name-year (31 July 2020, 31 Jul 2020, 31-July-2020). Numeric d/m/y is refused
(ambiguous with m/d/y)."""


def _parse_dates(values: pd.Series, *, source: str, column: str) -> pd.Series:
    """Dates normalised to the day as datetime64[ns]; bad or empty values raise."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.to_datetime(values)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise _bad(DateParseError, source, column, _text(values), bad, "a date")
        return parsed.dt.normalize().astype("datetime64[ns]")
    text = _text(values)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    todo = (text != "").to_numpy(copy=True)
    for fmt in _DATE_FORMATS:
        if not todo.any():
            break
        subset = text[todo]
        try:
            parsed = pd.to_datetime(subset, format=fmt, errors="coerce")
        except (ValueError, TypeError):  # e.g. mixed time zones: leave for the error below
            continue
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
        ok = parsed.notna()
        out.loc[ok.index[ok.to_numpy()]] = parsed[ok].dt.normalize().astype("datetime64[ns]")
        todo[np.flatnonzero(todo)[ok.to_numpy()]] = False
    bad = out.isna().to_numpy()
    if bad.any():
        raise _bad(
            DateParseError, source, column, text, bad,
            "a date (YYYY-MM-DD, ISO timestamp, or '31 July 2020')",
            "fix those values or remove the rows",
        )  # fmt: skip
    return out


def _year_dates(values: pd.Series, *, source: str, column: str) -> pd.Series:
    nums, _, text = _to_float(values)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(nums) | (nums != np.round(nums)) | (nums < 1) | (nums > 9999)
    if bad.any():
        raise _bad(DateParseError, source, column, text, bad, "a year (whole number)")
    dates = pd.to_datetime({"year": nums.astype("int64"), "month": 7, "day": 1})
    return pd.Series(dates.to_numpy().astype("datetime64[ns]"), index=values.index)


def _year_only_error(gdf: pd.DataFrame, what: str) -> DateParseError:
    return DateParseError(
        f"{layer_source(gdf)}: {what} has only a year column ('year'), no day dates; pass "
        "year_only=True (CLI: --year-only) to date each row 1 July of its year"
    )


def load_events(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    crs: Any = None,
    year_only: bool = False,
) -> gpd.GeoDataFrame:
    """Armed-conflict events.

    Columns: ``event_id`` (str, unique), ``date`` (datetime64[ns], the day), ``event_type``
    (str), ``fatalities`` (float >= 0), ``actors`` (str, ``"A vs B"``, or one side when the
    other is empty), ``schema`` (``"ged"``, ``"acled"`` or ``"custom"``), ``geometry`` (Point).

    * **UCDP GED** (type_of_violence, best, date_start, side_a, side_b): date =
      ``date_start``; event_type 1/2/3 -> ``state_based``/``non_state``/``one_sided``;
      fatalities = ``best``; actors = side_a vs side_b; event_id = ``id`` (else ``event_id``).
    * **GED without day dates** (``year`` instead of ``date_start``) and the **GED 20.1
      location-year aggregate** (year, where_coordinates, best, deaths_civilians) raise
      :class:`DateParseError` unless ``year_only=True``; then date = 1 July of the year.
      Aggregate rows get event_type ``"aggregate"``, fatalities = ``best`` (a *mean per
      event* in that file), actors ``""``, event_id ``"agg:<row>"``.
    * **ACLED** (event_date, event_type, fatalities, actor1): dates like ``2020-07-31`` or
      ``31 July 2020``; event_type lower snake case (``Explosions/Remote violence`` ->
      ``explosions_remote_violence``); actors = actor1 vs actor2; event_id =
      ``event_id_cnty`` (else ``data_id``).
    * **Custom** (also whenever ``mapping`` is given): required ``date`` (``year`` with
      ``year_only=True``) and ``fatalities``; optional ``event_id`` (default: row number),
      ``event_type`` (snake case; default ``"unspecified"``), ``actors`` (default ``""``).

    ``year_only=True`` on a file that has day dates is refused (it would throw them away).
    """
    gdf = read_vector(path, crs=crs)
    if mapping is None and _has(gdf, _GED):
        _refuse_year_only(gdf, year_only, "date_start")
        return _events_ged(gdf, date_column="date_start", year_only=False)
    if mapping is None and _has(gdf, _GED_YEAR):
        if not year_only:
            raise _year_only_error(gdf, "this UCDP GED file")
        return _events_ged(gdf, date_column="year", year_only=True)
    if mapping is None and _has(gdf, _GED_AGGREGATE) and not _has(gdf, ("type_of_violence",)):
        if not year_only:
            raise _year_only_error(gdf, "this UCDP GED location-year aggregate")
        return _events_ged_aggregate(gdf)
    if mapping is None and _has(gdf, _ACLED):
        _refuse_year_only(gdf, year_only, "event_date")
        return _events_acled(gdf)
    return _events_custom(gdf, mapping, year_only=year_only)


def _refuse_year_only(gdf: pd.DataFrame, year_only: bool, column: str) -> None:
    if year_only:
        raise ConfigError(
            f"{layer_source(gdf)}: the file has day dates in {column!r}; year_only=True would "
            "discard them — drop year_only (--year-only)"
        )


def _fatalities(gdf: pd.DataFrame, column: str) -> np.ndarray:
    return _numeric(gdf[column], source=layer_source(gdf), column=column).astype("float64")


def _events_ged(gdf: gpd.GeoDataFrame, *, date_column: str, year_only: bool) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    col = _lower(gdf)
    if "id" in col:
        id_col = col["id"]
    elif "event_id" in col:
        id_col = col["event_id"]
    else:
        raise MissingColumnError(
            f"{source}: the file looks like UCDP GED but has no 'id' or 'event_id' column; "
            f"columns present: {', '.join(c for c in gdf.columns if c != gdf.geometry.name)}"
        )
    tov = _text(_col(gdf, "type_of_violence"))
    bad = ~tov.isin(list(_GED_TYPES)).to_numpy()
    if bad.any():
        raise _bad(LayerError, source, col["type_of_violence"], tov, bad, "1, 2 or 3")
    if year_only:
        dates = _year_dates(gdf[col[date_column]], source=source, column=col[date_column])
    else:
        dates = _parse_dates(gdf[col[date_column]], source=source, column=col[date_column])
    data = {
        "event_id": _required_text(gdf[id_col], source=source, column=id_col),
        "date": dates,
        "event_type": tov.map(_GED_TYPES),
        "fatalities": _fatalities(gdf, col["best"]),
        "actors": _actors(_col(gdf, "side_a"), _col(gdf, "side_b")),
        "schema": "ged",
    }
    return _finish(
        gdf, _indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"}, attrs={"schema": "ged", "year_only": year_only},
    )  # fmt: skip


def _broadcast(data: dict[str, Any], n: int) -> dict[str, Any]:
    return {k: ([v] * n if isinstance(v, str) else v) for k, v in data.items()}


def _events_ged_aggregate(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    col = _lower(gdf)
    data = {
        "event_id": [f"agg:{r}" for r in _rows(gdf.index)],
        "date": _year_dates(gdf[col["year"]], source=source, column=col["year"]),
        "event_type": "aggregate",
        "fatalities": _fatalities(gdf, col["best"]),
        "actors": "",
        "schema": "ged",
    }
    return _finish(
        gdf, _indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"},
        attrs={"schema": "ged_aggregate", "year_only": True},
    )  # fmt: skip


def _events_acled(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    col = _lower(gdf)
    id_name = next((n for n in ("event_id_cnty", "data_id") if n in col), None)
    if id_name is None:
        raise MissingColumnError(
            f"{source}: the file looks like ACLED but has no 'event_id_cnty' or 'data_id' "
            f"column; columns present: {', '.join(c for c in gdf.columns if c != gdf.geometry.name)}"
        )
    etype = _required_text(gdf[col["event_type"]], source=source, column=col["event_type"])
    actor2 = gdf[col["actor2"]] if "actor2" in col else pd.Series("", index=gdf.index)
    data = {
        "event_id": _required_text(gdf[col[id_name]], source=source, column=col[id_name]),
        "date": _parse_dates(gdf[col["event_date"]], source=source, column=col["event_date"]),
        "event_type": etype.map(_snake),
        "fatalities": _fatalities(gdf, col["fatalities"]),
        "actors": _actors(gdf[col["actor1"]], actor2),
        "schema": "acled",
    }
    return _finish(
        gdf, _indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"}, attrs={"schema": "acled", "year_only": False},
    )  # fmt: skip


def _events_custom(
    gdf: gpd.GeoDataFrame, mapping: Mapping[str, str] | None, *, year_only: bool
) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    when = "year" if year_only else "date"
    what = "events" if mapping else "events (not UCDP GED or ACLED)"
    cols = _resolve(gdf, mapping, required=(when, "fatalities"), optional=("event_id", "event_type", "actors"), what=what)
    if year_only:
        dates = _year_dates(gdf[cols["year"]], source=source, column=str(cols["year"]))
    else:
        dates = _parse_dates(gdf[cols["date"]], source=source, column=str(cols["date"]))
    ids = (
        _required_text(gdf[cols["event_id"]], source=source, column=cols["event_id"])
        if cols["event_id"]
        else [str(r) for r in _rows(gdf.index)]
    )
    etype = (
        _required_text(gdf[cols["event_type"]], source=source, column=cols["event_type"]).map(_snake)
        if cols["event_type"]
        else "unspecified"
    )
    data = {
        "event_id": ids,
        "date": dates,
        "event_type": etype,
        "fatalities": _fatalities(gdf, str(cols["fatalities"])),
        "actors": _text(gdf[cols["actors"]]) if cols["actors"] else "",
        "schema": "custom",
    }
    return _finish(
        gdf, _indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"}, attrs={"schema": "custom", "year_only": year_only},
    )  # fmt: skip


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
    col = _lower(gdf)
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
        road_class = _required_text(gdf[cls_col], source=source, column=cls_col).str.lower()
        attrs["road_class_source"] = cls_col
    else:
        road_class = pd.Series("corridor", index=gdf.index, dtype=object)
        attrs["road_class_source"] = "default"

    ids: pd.Series | None = None
    for name in _ROAD_ID_COLUMNS:
        if name in col:
            text = _text(gdf[col[name]])
            if (text != "").all() and text.is_unique:
                ids, attrs["road_id_source"] = text, col[name]
                break
    if ids is None:
        ids = pd.Series([str(r) for r in _rows(gdf.index)], index=gdf.index, dtype=object)
        attrs["road_id_source"] = "row_number"

    out = _finish(
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
    _unique(parts["road_id"], source=layer_source(gdf), field="road_id")
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
    if kind not in _SITE_KINDS:
        raise ConfigError(f"kind={kind!r}; must be one of {', '.join(_SITE_KINDS)}")
    gdf = read_vector(path, crs=crs)
    source = layer_source(gdf)
    col = _lower(gdf)
    if mapping is None and _has(gdf, _GEONAMES):
        _check_kind(source, "GeoNames populated places", kind, "town")
        cols = {"site_id": col["geonameid"], "name": col["name"], "population": col["population"], "subtype": None}
        schema = "geonames"
    elif mapping is None and _has(gdf, _OURAIRPORTS):
        _check_kind(source, "OurAirports airports", kind, "airport")
        cols = {"site_id": col["ident"], "name": col["name"], "population": None, "subtype": col["type"]}
        schema = "ourairports"
    elif mapping is None and _has(gdf, _AIRPORTSDATA):
        _check_kind(source, "airportsdata airports", kind, "airport")
        cols = {"site_id": col["icao"], "name": col["name"], "population": None, "subtype": None}
        schema = "airportsdata"
    else:
        what = "sites" if mapping else "sites (not GeoNames, OurAirports or airportsdata)"
        cols = _resolve(gdf, mapping, required=("name",), optional=("site_id", "population", "subtype"), what=what)
        schema = "custom"

    ids = (
        _required_text(gdf[cols["site_id"]], source=source, column=cols["site_id"])
        if cols["site_id"]
        else pd.Series([str(r) for r in _rows(gdf.index)], index=gdf.index, dtype=object)
    )
    population = (
        _numeric(gdf[cols["population"]], source=source, column=cols["population"], empty_ok=True)
        if cols["population"]
        else np.full(len(gdf), np.nan)
    )
    data = {
        "site_id": ids,
        "name": _required_text(gdf[str(cols["name"])], source=source, column=str(cols["name"])),
        "kind": [kind] * len(gdf),
        "population": population.astype("float64"),
        "subtype": _text(gdf[cols["subtype"]]) if cols["subtype"] else [""] * len(gdf),
    }
    return _finish(
        gdf, _indexed(data, gdf.index), SITE_COLUMNS, what=f"sites ({kind})", id_column="site_id",
        allowed={"Point"}, attrs={"schema": schema},
    )  # fmt: skip


def _check_kind(source: str, schema: str, kind: str, expected: str) -> None:
    if kind != expected:
        raise LayerError(
            f"{source}: the file looks like {schema} but kind={kind!r} was passed; pass "
            f"kind={expected!r}, or load it as a generic layer with mapping={{'name': ...}}"
        )


# ============================================================================== admin

_NAME_COLUMNS = ("name", "shapename")
_ID_COLUMNS = ("admin_id", "shapeid")


def load_admin(
    path: str | Path,
    *,
    name_column: str | None = None,
    id_column: str | None = None,
    level: int | None = None,
    level_column: str | None = None,
    crs: Any = None,
    repair: bool = False,
) -> gpd.GeoDataFrame:
    """Administrative units.

    Columns: ``admin_id`` (str, unique), ``name`` (str), ``level`` (int), ``parent``
    (str or None), ``geometry`` (Polygon or MultiPolygon).

    * Natural Earth admin-1 (adm1_code, name, iso3): level 1, admin_id = adm1_code,
      parent = iso3.
    * Natural Earth admin-0 (ADM0_A3 or ISO_A3, and NAME): level 0, admin_id = ISO_A3
      when it is a three-letter code (NE writes ``-99`` for some units), else ADM0_A3
      (so South Sudan is ``SSD``, matching admin-1 ``iso3``); parent None.
    * Generic: the level is ``level``, or per row from ``level_column``, or detected
      from geoBoundaries ``shapeType`` (``ADM2``), OCHA COD-AB ``ADM<n>_PCODE`` or GADM
      ``GID_<n>`` columns (highest n); otherwise an error. Name column: ``name_column``,
      else ``name``, ``shapeName``, ``ADM<n>_EN``, ``NAME_<n>``; id column: ``id_column``,
      else ``admin_id``, ``shapeID``, ``ADM<n>_PCODE``, ``GID_<n>``; parent from
      ``parent``, ``ADM<n-1>_PCODE`` or ``GID_<n-1>`` when present, else None.

    ``name_column``/``id_column`` override the detected columns in every schema; a
    ``level`` that contradicts the detected one is an error. Duplicate admin_id values
    raise :class:`LayerError` naming them.
    """
    gdf = read_vector(path, crs=crs)
    source = layer_source(gdf)
    col = _lower(gdf)
    others = [c for c in gdf.columns if c != gdf.geometry.name]
    if level is not None and level_column is not None:
        raise ConfigError("pass level= or level_column=, not both")
    for given in (name_column, id_column, level_column):
        if given is not None and given not in gdf.columns:
            raise MissingColumnError(f"{source}: column {given!r} not found; columns present: {', '.join(others)}")

    parent: pd.Series | None = None
    detected: int | None
    id_col: str | None
    name_col: str | None
    if _has(gdf, ("adm1_code", "name", "iso3")):
        detected, schema = 1, "natural_earth_admin1"
        id_col, name_col = col["adm1_code"], col["name"]
        parent = _text(gdf[col["iso3"]])
    elif ("adm0_a3" in col or "iso_a3" in col) and "name" in col:
        detected, schema = 0, "natural_earth_admin0"
        id_col, name_col = None, col["name"]
    else:
        detected, schema = _detect_level(gdf), "custom"
        id_col = name_col = None

    n: int | None
    if level_column is not None:
        levels = _integers(gdf[level_column], source=source, column=level_column, lo=0, hi=9)
        n = None
    else:
        n = detected if level is None else level
        if level is not None and detected is not None and level != detected:
            raise ConfigError(
                f"{source}: level={level} but the file looks like admin level {detected} ({schema}); "
                "drop level= or pass the right file"
            )
        if n is None:
            raise ConfigError(
                f"{source}: cannot tell the admin level of this file; pass level=1 (CLI: "
                "--admin-level 1) or level_column='your_column'"
            )
        levels = np.full(len(gdf), n, dtype="int64")

    if schema == "custom":
        id_col = _first(col, [*_ID_COLUMNS, *(
            [f"adm{n}_pcode", f"gid_{n}"] if n is not None else [])])  # fmt: skip
        name_col = _first(col, [*_NAME_COLUMNS, *([f"adm{n}_en", f"name_{n}"] if n is not None else [])])
        parent_col = _first(col, ["parent", *([f"adm{n - 1}_pcode", f"gid_{n - 1}"] if n else [])])
        if parent_col is not None:
            parent = _text(gdf[parent_col])
    id_col = id_column or id_col
    name_col = name_column or name_col
    if name_col is None:
        raise MissingColumnError(
            f"{source}: no name column found (looked for name, shapeName, ADM<n>_EN, NAME_<n>); "
            f"columns present: {', '.join(others)}. Pass name_column='your_column' (CLI: --admin-name-column)"
        )
    if id_col is None and schema == "natural_earth_admin0":
        ids = _ne_admin0_ids(gdf, col)
    elif id_col is None:
        raise MissingColumnError(
            f"{source}: no id column found (looked for admin_id, shapeID, ADM<n>_PCODE, GID_<n>); "
            f"columns present: {', '.join(others)}. Pass id_column='your_column' (CLI: --admin-id-column)"
        )
    else:
        ids = _required_text(gdf[id_col], source=source, column=id_col)

    parents = pd.Series(
        [None if parent is None or parent[i] == "" else parent[i] for i in gdf.index],
        index=gdf.index, dtype=object,
    )  # fmt: skip
    data = {
        "admin_id": ids,
        "name": _required_text(gdf[name_col], source=source, column=name_col),
        "level": pd.Series(levels, index=gdf.index, dtype="int64"),
        "parent": parents,
    }
    return _finish(
        gdf, data, ADMIN_COLUMNS, what="admin units", id_column="admin_id",
        allowed={"Polygon", "MultiPolygon"}, repair=repair, attrs={"schema": schema},
    )  # fmt: skip


def _first(col: Mapping[str, str], names: Sequence[str]) -> str | None:
    return next((col[n] for n in names if n in col), None)


def _detect_level(gdf: pd.DataFrame) -> int | None:
    col = _lower(gdf)
    if "shapetype" in col:
        values = set(_text(gdf[col["shapetype"]]).str.upper())
        if len(values) == 1 and re.fullmatch(r"ADM\d", next(iter(values))):
            return int(next(iter(values))[3])
    for pattern in (r"adm(\d)_pcode", r"gid_(\d)"):
        found = [int(m.group(1)) for c in col if (m := re.fullmatch(pattern, c))]
        if found:
            return max(found)
    return None


def _ne_admin0_ids(gdf: pd.DataFrame, col: Mapping[str, str]) -> pd.Series:
    source = layer_source(gdf)
    iso = _text(gdf[col["iso_a3"]]) if "iso_a3" in col else pd.Series("", index=gdf.index, dtype=object)
    adm = _text(gdf[col["adm0_a3"]]) if "adm0_a3" in col else pd.Series("", index=gdf.index, dtype=object)
    good_iso = np.array([re.fullmatch(r"[A-Z]{3}", v) is not None for v in iso], dtype=bool)
    ids = iso.where(good_iso, adm)
    empty = (ids == "").to_numpy()
    if empty.any():
        raise _bad(LayerError, source, "ISO_A3/ADM0_A3", ids, empty, "a three-letter code")
    return ids


# ========================================================================= population


def check_population_raster(path: str | Path) -> None:
    """Check that ``path`` is a single-band GeoTIFF with a CRS, readable by rasterio.

    Raises :class:`LayerError` naming the path and the fix, or :class:`MissingCRSError`
    when the raster has no CRS.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise LayerError(f"{path}: no such file (FileNotFoundError); check the path")
    try:
        with warnings.catch_warnings():
            # handled below: a raster without CRS raises MissingCRSError
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                driver, count, crs = src.driver, src.count, src.crs
    except RasterioIOError as exc:
        raise LayerError(
            f"{path}: rasterio cannot read this file ({exc}); convert it to a GeoTIFF "
            "(gdal_translate -of GTiff in.ext out.tif)"
        ) from exc
    if driver != "GTiff":
        raise LayerError(
            f"{path}: population raster must be a GeoTIFF, this is {driver}; convert it with "
            "gdal_translate -of GTiff"
        )
    if count != 1:
        raise LayerError(
            f"{path}: population raster must have one band, this has {count}; extract the "
            "population band (gdal_translate -b N in.tif out.tif)"
        )
    if crs is None:
        raise MissingCRSError(
            f"{path}: the population raster has no CRS; assign one (gdal_edit.py -a_srs "
            "EPSG:4326 file.tif) with the CRS of its grid"
        )
