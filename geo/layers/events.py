"""Conflict events: UCDP GED (full, year-only, location-year aggregate), ACLED, or mapped columns."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import (
    ConfigError,
    DateParseError,
    LayerError,
    MissingColumnError,
)
from ..readers import layer_source, read_vector
from .common import (
    EVENT_COLUMNS,
    actor_pairs,
    as_text,
    bad_values_error,
    column_of,
    columns_by_lower,
    finish_layer,
    has_columns,
    indexed,
    parse_dates,
    parse_numbers,
    required_text,
    resolve_fields,
    row_numbers,
    snake_case_values,
    to_float,
)

__all__ = ["load_events"]

# ============================================================================= events

_GED = ("type_of_violence", "best", "date_start", "side_a", "side_b")
_GED_YEAR = ("type_of_violence", "best", "year", "side_a", "side_b")
_GED_AGGREGATE = ("year", "where_coordinates", "best", "deaths_civilians")
_ACLED = ("event_date", "event_type", "fatalities", "actor1")
_GED_TYPES = {"1": "state_based", "2": "non_state", "3": "one_sided"}




def _year_dates(values: pd.Series, *, source: str, column: str) -> pd.Series:
    nums, _, text = to_float(values)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(nums) | (nums != np.round(nums)) | (nums < 1) | (nums > 9999)
    if bad.any():
        raise bad_values_error(DateParseError, source, column, text, bad, "a year (whole number)")
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
    if mapping is None and has_columns(gdf, _GED):
        _refuse_year_only(gdf, year_only, "date_start")
        return _events_ged(gdf, date_column="date_start", year_only=False)
    if mapping is None and has_columns(gdf, _GED_YEAR):
        if not year_only:
            raise _year_only_error(gdf, "this UCDP GED file")
        return _events_ged(gdf, date_column="year", year_only=True)
    if mapping is None and has_columns(gdf, _GED_AGGREGATE) and not has_columns(gdf, ("type_of_violence",)):
        if not year_only:
            raise _year_only_error(gdf, "this UCDP GED location-year aggregate")
        return _events_ged_aggregate(gdf)
    if mapping is None and has_columns(gdf, _ACLED):
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
    return parse_numbers(gdf[column], source=layer_source(gdf), column=column).astype("float64")


def _events_ged(gdf: gpd.GeoDataFrame, *, date_column: str, year_only: bool) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    col = columns_by_lower(gdf)
    if "id" in col:
        id_col = col["id"]
    elif "event_id" in col:
        id_col = col["event_id"]
    else:
        raise MissingColumnError(
            f"{source}: the file looks like UCDP GED but has no 'id' or 'event_id' column; "
            f"columns present: {', '.join(c for c in gdf.columns if c != gdf.geometry.name)}"
        )
    tov = as_text(column_of(gdf, "type_of_violence"))
    bad = ~tov.isin(list(_GED_TYPES)).to_numpy()
    if bad.any():
        raise bad_values_error(LayerError, source, col["type_of_violence"], tov, bad, "1, 2 or 3")
    if year_only:
        dates = _year_dates(gdf[col[date_column]], source=source, column=col[date_column])
    else:
        dates = parse_dates(gdf[col[date_column]], source=source, column=col[date_column])
    data = {
        "event_id": required_text(gdf[id_col], source=source, column=id_col),
        "date": dates,
        "event_type": tov.map(_GED_TYPES),
        "fatalities": _fatalities(gdf, col["best"]),
        "actors": actor_pairs(column_of(gdf, "side_a"), column_of(gdf, "side_b")),
        "schema": "ged",
    }
    return finish_layer(
        gdf, indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"}, attrs={"schema": "ged", "year_only": year_only},
    )  # fmt: skip


def _broadcast(data: dict[str, Any], n: int) -> dict[str, Any]:
    return {k: ([v] * n if isinstance(v, str) else v) for k, v in data.items()}


def _events_ged_aggregate(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    col = columns_by_lower(gdf)
    data = {
        "event_id": [f"agg:{r}" for r in row_numbers(gdf.index)],
        "date": _year_dates(gdf[col["year"]], source=source, column=col["year"]),
        "event_type": "aggregate",
        "fatalities": _fatalities(gdf, col["best"]),
        "actors": "",
        "schema": "ged",
    }
    return finish_layer(
        gdf, indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"},
        attrs={"schema": "ged_aggregate", "year_only": True},
    )  # fmt: skip


def _events_acled(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    col = columns_by_lower(gdf)
    id_name = next((n for n in ("event_id_cnty", "data_id") if n in col), None)
    if id_name is None:
        raise MissingColumnError(
            f"{source}: the file looks like ACLED but has no 'event_id_cnty' or 'data_id' "
            f"column; columns present: {', '.join(c for c in gdf.columns if c != gdf.geometry.name)}"
        )
    etype = required_text(gdf[col["event_type"]], source=source, column=col["event_type"])
    actor2 = gdf[col["actor2"]] if "actor2" in col else pd.Series("", index=gdf.index)
    data = {
        "event_id": required_text(gdf[col[id_name]], source=source, column=col[id_name]),
        "date": parse_dates(gdf[col["event_date"]], source=source, column=col["event_date"]),
        "event_type": snake_case_values(etype),
        "fatalities": _fatalities(gdf, col["fatalities"]),
        "actors": actor_pairs(gdf[col["actor1"]], actor2),
        "schema": "acled",
    }
    return finish_layer(
        gdf, indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"}, attrs={"schema": "acled", "year_only": False},
    )  # fmt: skip


def _events_custom(
    gdf: gpd.GeoDataFrame, mapping: Mapping[str, str] | None, *, year_only: bool
) -> gpd.GeoDataFrame:
    source = layer_source(gdf)
    when = "year" if year_only else "date"
    what = "events" if mapping else "events (not UCDP GED or ACLED)"
    cols = resolve_fields(gdf, mapping, required=(when, "fatalities"), optional=("event_id", "event_type", "actors"), what=what)
    if year_only:
        dates = _year_dates(gdf[cols["year"]], source=source, column=str(cols["year"]))
    else:
        dates = parse_dates(gdf[cols["date"]], source=source, column=str(cols["date"]))
    ids = (
        required_text(gdf[cols["event_id"]], source=source, column=cols["event_id"])
        if cols["event_id"]
        else [str(r) for r in row_numbers(gdf.index)]
    )
    etype = (
        snake_case_values(required_text(gdf[cols["event_type"]], source=source, column=cols["event_type"]))
        if cols["event_type"]
        else "unspecified"
    )
    data = {
        "event_id": ids,
        "date": dates,
        "event_type": etype,
        "fatalities": _fatalities(gdf, str(cols["fatalities"])),
        "actors": as_text(gdf[cols["actors"]]) if cols["actors"] else "",
        "schema": "custom",
    }
    return finish_layer(
        gdf, indexed(_broadcast(data, len(gdf)), gdf.index), EVENT_COLUMNS, what="events",
        id_column="event_id", allowed={"Point"}, attrs={"schema": "custom", "year_only": year_only},
    )  # fmt: skip
