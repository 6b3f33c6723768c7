"""Errors of the forecast: each is a :class:`geo.errors.VacuumError` and a ``ValueError``."""

from __future__ import annotations

from ..errors import VacuumError

__all__ = ["ForecastError", "InsufficientHistoryError", "TrainTestOverlapError"]


class ForecastError(VacuumError, ValueError):
    """A forecast cannot be built or scored as asked (shapes, unknown names, unfitted model)."""


class InsufficientHistoryError(ForecastError):
    """Too few training origins or positive units to fit a model; the message names the
    counts and the fallback (:class:`geo.forecast.model.PersistenceBaseline`)."""


class TrainTestOverlapError(ForecastError):
    """A training origin's label window ends after the as-of date: its labels would hold
    the very events the forecast is judged on."""
