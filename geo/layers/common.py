"""Shared constants and helpers of the layer loaders (admin, bases, events, infrastructure)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    DateParseError,
    EmptyLayerError,
    LayerError,
    MissingColumnError,
)
from ..readers import format_rows, layer_source, validate_geometries

__all__ = [
    "UNIT_TYPES",
    "STRENGTH_SOURCES",
    "GEOPKO_COMPANY_SIZE",
    "BASE_COLUMNS",
    "EVENT_COLUMNS",
    "ROAD_COLUMNS",
    "SITE_COLUMNS",
    "ADMIN_COLUMNS",
    "SiteKind",
    "SITE_KINDS",
    "columns_by_lower",
    "has_columns",
    "column_of",
    "as_text",
    "row_numbers",
    "bad_values_error",
    "to_float",
    "parse_numbers",
    "parse_flags",
    "parse_integers",
    "required_text",
    "check_unique",
    "mapping_hint",
    "resolve_fields",
    "require_columns",
    "finish_layer",
    "slugify",
    "snake_case",
    "snake_case_values",
    "parse_as_of",
    "actor_pairs",
    "indexed",
    "parse_dates",
]

UNIT_TYPES = ("infantry", "quick_reaction", "police", "observer", "support", "headquarters")
STRENGTH_SOURCES = ("reported", "imputed_unknown", "presence_only")
GEOPKO_COMPANY_SIZE = 150.0
"""Troops imputed for a Geo-PKO site whose strength is ``"unknown"``: one company, the
Geo-PKO standard company size (battalion 650, company 150, platoon 35)."""

BASE_COLUMNS = (
    "base_id", "name", "mission", "strength", "unit_type", "strength_source", "map_date", "hq", "air",
    "geometry",
)  # fmt: skip
EVENT_COLUMNS = ("event_id", "date", "event_type", "fatalities", "actors", "schema", "geometry")
ROAD_COLUMNS = ("road_id", "road_class", "geometry")
SITE_COLUMNS = ("site_id", "name", "kind", "population", "subtype", "geometry")
ADMIN_COLUMNS = ("admin_id", "name", "level", "parent", "geometry")

SiteKind = Literal["town", "airport", "critical"]
SITE_KINDS = ("town", "airport", "critical")



# ============================================================================ helpers


def columns_by_lower(gdf: pd.DataFrame) -> dict[str, str]:
    """Lower-cased column name -> actual column name (first one wins)."""
    out: dict[str, str] = {}
    for c in gdf.columns:
        out.setdefault(str(c).lower(), str(c))
    return out


def has_columns(gdf: pd.DataFrame, names: Iterable[str]) -> bool:
    cols = columns_by_lower(gdf)
    return all(n.lower() in cols for n in names)


def column_of(gdf: pd.DataFrame, name: str) -> pd.Series:
    return gdf[columns_by_lower(gdf)[name.lower()]]


def _text_value(v: Any) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer():
            return str(int(v))
    return str(v).strip()


def as_text(series: pd.Series) -> pd.Series:
    """Values as stripped strings; missing values become ``""``; 3.0 becomes ``"3"``."""
    return pd.Series([_text_value(v) for v in series.tolist()], index=series.index, dtype=object)


def row_numbers(index: pd.Index) -> np.ndarray:
    """1-based row numbers of a frame that still carries read_vector's RangeIndex."""
    return np.asarray(index, dtype="int64") + 1


def bad_values_error(
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
    shown = ", ".join(f"{r} ({values.iloc[i]!r})" for r, i in zip(row_numbers(values.index[idx[:5]]), idx[:5], strict=True))
    more = f" (and {len(idx) - 5} more)" if len(idx) > 5 else ""
    return cls(
        f"{source}: field {column!r} must be {expected}; {len(idx)} bad value(s) in row(s) "
        f"{shown}{more}; {fix}"
    )


def to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(numbers, empty mask, text). Non-numeric non-empty text gives NaN and empty=False."""
    text = as_text(values)
    nums = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype="float64")
    empty = (text == "").to_numpy()
    return nums, empty, text


def parse_numbers(
    values: pd.Series, *, source: str, column: str, minimum: float | None = 0.0, empty_ok: bool = False
) -> np.ndarray:
    nums, empty, text = to_float(values)
    bad = ~np.isfinite(nums) & ~(empty & empty_ok)
    if minimum is not None:
        with np.errstate(invalid="ignore"):
            bad |= nums < minimum
    if bad.any():
        expected = "a number" + (f" >= {minimum:g}" if minimum is not None else "")
        if empty_ok:
            expected += " or empty"
        raise bad_values_error(LayerError, source, column, text, bad, expected)
    return nums


def parse_flags(values: pd.Series, *, source: str, column: str) -> np.ndarray:
    """Geo-PKO dummies and unit counts: a number >= 0; ``"NA"`` and empty count as 0."""
    nums, empty, text = to_float(values)
    na = empty | (text.str.upper() == "NA").to_numpy()
    bad = ~na & (~np.isfinite(nums) | (nums < 0))
    if bad.any():
        raise bad_values_error(LayerError, source, column, text, bad, "a number >= 0, 'NA' or empty")
    return np.where(na, 0.0, nums)


def parse_integers(values: pd.Series, *, source: str, column: str, lo: int, hi: int) -> np.ndarray:
    nums, _, text = to_float(values)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(nums) | (nums != np.round(nums)) | (nums < lo) | (nums > hi)
    if bad.any():
        raise bad_values_error(LayerError, source, column, text, bad, f"a whole number in {lo}..{hi}")
    return nums.astype("int64")


def required_text(values: pd.Series, *, source: str, column: str) -> pd.Series:
    text = as_text(values)
    empty = (text == "").to_numpy()
    if empty.any():
        raise bad_values_error(LayerError, source, column, text, empty, "non-empty")
    return text


def check_unique(ids: pd.Series, *, source: str, field: str) -> None:
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        names = list(dict.fromkeys(dup.tolist()))
        raise LayerError(
            f"{source}: field {field!r} must be unique; duplicated: {format_rows(names, limit=10)} "
            f"(rows {format_rows(row_numbers(dup.index), limit=10)})"
        )


def mapping_hint(fields: Sequence[str]) -> str:
    py = ", ".join(f"'{f}': 'your_column'" for f in fields)
    cli = " ".join(f"--map LAYER.{f}=your_column" for f in fields)
    return f"pass mapping={{{py}}} (CLI: {cli})"


def resolve_fields(
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
            f"provides; columns present: {', '.join(columns)}. Fix: {mapping_hint(missing)}"
        )
    return out


def require_columns(gdf: pd.DataFrame, names: Sequence[str], *, schema: str) -> None:
    cols = columns_by_lower(gdf)
    missing = [n for n in names if n.lower() not in cols]
    if missing:
        raise MissingColumnError(
            f"{layer_source(gdf)}: the file looks like {schema} but lacks column(s) "
            f"{', '.join(map(repr, missing))}; columns present: "
            f"{', '.join(str(c) for c in gdf.columns if c != gdf.geometry.name)}. "
            f"Restore them, or load it as a generic layer with {mapping_hint(['...'])}"
        )


def finish_layer(
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
    check_unique(out[id_column], source=source, field=id_column)
    out = out.reset_index(drop=True)
    return out


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "site"


def snake_case(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def snake_case_values(texts: pd.Series) -> pd.Series:
    """:func:`snake_case` of every value of a text column, worked out once per distinct value."""
    return texts.map({v: snake_case(v) for v in pd.unique(texts)})


def parse_as_of(value: date | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return pd.Timestamp(value).normalize()
    try:
        return pd.Timestamp(date.fromisoformat(str(value)))
    except ValueError as exc:
        raise ConfigError(f"as_of={value!r} is not an ISO date; pass e.g. as_of='2020-06-30'") from exc


def actor_pairs(a: pd.Series, b: pd.Series) -> list[str]:
    return [f"{x} vs {y}" if x and y else (x or y) for x, y in zip(as_text(a), as_text(b), strict=True)]

_DATE_FORMATS = ("ISO8601", "%d %B %Y", "%d %b %Y", "%d-%B-%Y", "%d-%b-%Y")
"""Accepted date spellings, tried in turn: ISO 8601 (2020-07-31, 2020-07-31T00:00:00) and
day-month-name-year (31 July 2020, 31 Jul 2020, 31-July-2020). Numeric d/m/y is refused
(ambiguous with m/d/y)."""

def indexed(data: dict[str, Any], index: pd.Index) -> dict[str, Any]:
    return {k: pd.Series(np.asarray(v), index=index) for k, v in data.items()}


def parse_dates(values: pd.Series, *, source: str, column: str) -> pd.Series:
    """Dates normalised to the day as datetime64[ns]; bad or empty values raise."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.to_datetime(values)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise bad_values_error(DateParseError, source, column, as_text(values), bad, "a date")
        return parsed.dt.normalize().astype("datetime64[ns]")
    text = as_text(values)
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
        raise bad_values_error(
            DateParseError, source, column, text, bad,
            "a date (YYYY-MM-DD, ISO timestamp, or '31 July 2020')",
            "fix those values or remove the rows",
        )  # fmt: skip
    return out
