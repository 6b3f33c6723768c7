"""The briefing a commander reads in five minutes, as PDF or as one self-contained HTML page.

:func:`build_briefing` reads an analysis folder (and a scenario folder run on it) into a
:class:`~maps.brief.document.Briefing`; :func:`render_pdf` / :func:`render_html` lay it out;
:func:`write_briefing` picks the format from the file name. Figures are drawn offline with
matplotlib (:mod:`maps.brief.figures`); ``public=True`` gives the viewer-safe variant
(``geo.public``: the block gap, no base drawn or named).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import MapError
from .content import build_briefing
from .document import SECTION_TITLES, Briefing
from .html import render_html
from .pdf import render_pdf

__all__ = ["build_briefing", "render_html", "render_pdf", "write_briefing", "render", "Briefing",
           "SECTION_TITLES", "FORMATS"]

FORMATS = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}
"""Briefing formats and their media types."""


def render(brief: Briefing, fmt: str) -> bytes:
    """The briefing as bytes in ``fmt`` (``pdf`` or ``html``)."""
    if fmt == "pdf":
        return render_pdf(brief)
    if fmt == "html":
        return render_html(brief).encode("utf-8")
    raise MapError(f"briefing format {fmt!r}: choose one of {', '.join(FORMATS)}")


def write_briefing(brief: Briefing, out: str | os.PathLike[str]) -> Path:
    """Write ``out`` (``.pdf``, ``.html`` or ``.htm``) atomically; returns its path."""
    from geo.export import atomic_path

    p = Path(out)
    fmt = {".pdf": "pdf", ".html": "html", ".htm": "html"}.get(p.suffix.lower())
    if fmt is None:
        raise MapError(f"{p}: a briefing is written as .pdf or .html; name the file so")
    if not p.parent.is_dir():
        raise MapError(f"{p.parent}: no such folder for the briefing; create it first")
    data = render(brief, fmt)
    with atomic_path(p) as tmp:
        Path(tmp).write_bytes(data)
    return p
