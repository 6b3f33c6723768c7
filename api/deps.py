"""The services a request reaches (settings, storage, jobs) and small shared dependencies."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from api.jobs import JobManager
from api.settings import Settings
from api.storage import Storage

__all__ = ["Services", "get_services", "ServicesDep", "Page"]


@dataclass
class Services:
    settings: Settings
    storage: Storage
    jobs: JobManager


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass
class Page:
    """``?limit=`` of list endpoints."""

    limit: Annotated[int, Query(ge=1, le=1000, description="how many items at most (newest first)")] = 100

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
