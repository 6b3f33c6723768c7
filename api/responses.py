"""Response classes: GeoJSON as ``application/geo+json`` with NaN written as null."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from geo.export import json_safe

__all__ = ["GeoJSONResponse", "GEOJSON", "CSV", "GEOPACKAGE", "GEOTIFF", "dump_json"]

GEOJSON = "application/geo+json"
CSV = "text/csv; charset=utf-8"
GEOPACKAGE = "application/geopackage+sqlite3"
GEOTIFF = "image/tiff; application=geotiff; profile=cloud-optimized"


def dump_json(obj: Any) -> bytes:
    """JSON bytes with NaN/±inf as null, numpy values as Python ones (never ``NaN`` literals)."""
    return json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return dump_json(content)
