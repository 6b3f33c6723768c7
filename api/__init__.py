"""Vacuum's HTTP service: a thin FastAPI shell over :mod:`geo`.

``api.app.create_app(settings)`` assembles it; ``vacuum serve`` runs it. Nothing is built
at import time. Layout: ``settings`` (VACUUM_* environment), ``errors`` (the one
exception-to-status table), ``auth`` (keys, roles, audit), ``storage`` (SQLite or PostGIS),
``uploads`` and ``layers`` (safe upload, validation by the engine's loaders), ``jobs`` (worker
processes, job kinds), ``analyses`` (the analysis job kind and its routes), ``products``
(what each role sees, exports), ``routes`` (layers, keys/audit, map/health), ``tiles``.
"""

__all__ = ["create_app"]


def create_app(settings):  # a lazy re-export: importing api builds nothing
    """See :func:`api.app.create_app`."""
    from api.app import create_app as _create_app

    return _create_app(settings)
