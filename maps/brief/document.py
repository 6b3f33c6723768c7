"""The briefing as a document: sections of paragraphs, tables and figures.

One content builder (:mod:`maps.brief.content`) fills these records; two thin renderers
(:mod:`maps.brief.html`, :mod:`maps.brief.pdf`) lay them out, so the PDF and the HTML page
say the same thing under the same headings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Para", "Bullets", "Table", "Figure", "Block", "Section", "Briefing", "SECTION_TITLES"]

SECTION_TITLES = (
    "Situation",
    "Maps by phase",
    "Gap and risk by admin unit",
    "Benchmarks",
    "People and sites losing cover",
    "Base criticality",
    "Suggested closing order",
    "Uncertainty of the withdrawal effect",
    "Provenance",
)
"""Every briefing has these sections, in this order; one that has nothing to show says why."""


@dataclass(frozen=True)
class Para:
    """A paragraph; ``kind`` "note" is set smaller, "warning" is marked."""

    text: str
    kind: Literal["p", "note", "warning"] = "p"


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    numeric: tuple[bool, ...] = ()  # per column: right-aligned


@dataclass(frozen=True)
class Figure:
    png: bytes
    caption: str
    alt: str = ""


Block = Para | Bullets | Table | Figure


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Briefing:
    title: str
    subtitle: str
    sections: tuple[Section, ...]
    public: bool = False
    meta: dict[str, str] = field(default_factory=dict)  # e.g. as_of, made_with
