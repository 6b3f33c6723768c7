"""The query of ``/collections/{collectionId}/items``, as pure functions over GeoJSON features.

``bbox`` (CRS84 W,S,E,N; a feature matches when its bounding box meets the query box,
edges included), ``datetime`` (an instant or an interval ``start/end`` with ``..`` or an
empty side for open; compared at day resolution with a feature's date property) and
``limit``/``offset`` paging. Each parser raises :class:`api.errors.RequestError` naming the
parameter, the bad value and the form to use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from api.errors import RequestError

__all__ = ["DateInterval", "parse_bbox", "parse_datetime", "feature_bbox", "bbox_meets", "date_of", "select",
           "Page", "DEFAULT_LIMIT", "MAX_LIMIT"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class DateInterval:
    """Closed day interval; ``None`` on a side is open."""

    start: date | None
    end: date | None

    def contains(self, d: date) -> bool:
        return (self.start is None or self.start <= d) and (self.end is None or d <= self.end)


@dataclass(frozen=True)
class Page:
    features: list[dict[str, Any]]
    matched: int
    """Features matching the filters, before paging."""


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"W,S,E,N"`` in CRS84 degrees; W may be greater than E across the antimeridian."""
    parts = text.split(",")
    fix = "give bbox=W,S,E,N in longitude/latitude degrees (CRS84), e.g. bbox=15,4,20,8"
    if len(parts) == 6:
        raise RequestError(f"bbox: {text!r} has 6 numbers (a 3-D box); {fix}")
    if len(parts) != 4:
        raise RequestError(f"bbox: {text!r} has {len(parts)} numbers, not 4; {fix}")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise RequestError(f"bbox: {text!r} is not four numbers; {fix}") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise RequestError(f"bbox: {text!r} holds a value that is not finite; {fix}")
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        raise RequestError(f"bbox: {text!r} is outside -180..180 / -90..90 or has S > N; {fix}")
    return w, s, e, n


def _day(text: str, whole: str) -> date:
    try:
        if "T" in text or " " in text:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        return date.fromisoformat(text)
    except ValueError:
        raise RequestError(f"datetime: {whole!r} is not an RFC 3339 date, date-time or interval; give e.g. "
                           "datetime=2020-10-01, 2020-01-01/2020-10-31 or ../2020-10-31") from None


def parse_datetime(text: str) -> DateInterval:
    """An RFC 3339 instant (``2020-10-01`` or ``2020-10-01T12:00:00Z``) or interval
    (``a/b``, ``../b``, ``a/..``, ``a/``, ``/b``) as days."""
    if "/" not in text:
        d = _day(text, text)
        return DateInterval(d, d)
    a, _, b = text.partition("/")
    if "/" in b:
        raise RequestError(f"datetime: {text!r} has more than one '/'; an interval is start/end")
    start = None if a in ("", "..") else _day(a, text)
    end = None if b in ("", "..") else _day(b, text)
    if start is None and end is None:
        raise RequestError(f"datetime: {text!r} is open at both ends; give at least one date")
    if start is not None and end is not None and start > end:
        raise RequestError(f"datetime: {text!r} ends before it starts")
    return DateInterval(start, end)


def _points(coords: Any) -> Iterable[tuple[float, float]]:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        yield float(coords[0]), float(coords[1])
        return
    for c in coords or ():
        yield from _points(c)


def feature_bbox(geometry: dict[str, Any] | None) -> tuple[float, float, float, float] | None:
    """W,S,E,N of a GeoJSON geometry (collections too); None for a null or empty one."""
    if not geometry:
        return None
    if geometry.get("type") == "GeometryCollection":
        boxes = [b for g in geometry.get("geometries", []) if (b := feature_bbox(g)) is not None]
        if not boxes:
            return None
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    xs, ys = [], []
    for x, y in _points(geometry.get("coordinates")):
        xs.append(x)
        ys.append(y)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def bbox_meets(a: Sequence[float], q: Sequence[float]) -> bool:
    """Whether box ``a`` meets query box ``q`` (edges count); ``q`` with W > E crosses the antimeridian."""
    if not (a[1] <= q[3] and q[1] <= a[3]):
        return False
    if q[0] <= q[2]:
        return a[0] <= q[2] and q[0] <= a[2]
    return a[2] >= q[0] or a[0] <= q[2]


def date_of(value: Any) -> date | None:
    """The day of a feature's date property (``2020-10-01`` or a date-time); None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date() if "T" in value else date.fromisoformat(value[:10])
    except ValueError:
        return None


def select(features: Sequence[dict[str, Any]], *, bbox: Sequence[float] | None = None,
           interval: DateInterval | None = None, date_property: str | None = None,
           limit: int = DEFAULT_LIMIT, offset: int = 0) -> Page:
    """The features matching ``bbox`` and ``interval`` (on ``date_property``; a feature without
    a date never matches an interval), then ``offset`` and ``limit``, in their stored order."""
    out = []
    for f in features:
        if bbox is not None:
            b = feature_bbox(f.get("geometry"))
            if b is None or not bbox_meets(b, bbox):
                continue
        if interval is not None:
            d = date_of((f.get("properties") or {}).get(date_property)) if date_property else None
            if d is None or not interval.contains(d):
                continue
        out.append(f)
    return Page(features=out[offset:offset + limit], matched=len(out))
