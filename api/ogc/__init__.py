"""OGC API - Common, Features and Tiles (and WMTS capabilities) over the stored analyses.

Modules: ``catalog`` (which collections a role sees, and their GeoJSON), ``query`` (bbox,
datetime and paging as pure functions), ``documents`` (the JSON documents), ``wmts`` (the
capabilities XML), ``router`` (the routes under ``/ogc``, mounted by ``api.app.create_app``).
"""

from .router import OGC_PREFIX, build_router

__all__ = ["build_router", "OGC_PREFIX"]
