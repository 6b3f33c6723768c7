"""Walk the element tree of a folium page (maps, layers, controls, plugins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from branca.element import Element

__all__ = ["walk", "find_all"]

E = TypeVar("E", bound=Element)


def walk(el: Element) -> Iterator[Element]:
    """``el`` and all its descendants, depth first, in the order they render."""
    yield el
    for child in list(el._children.values()):
        yield from walk(child)


def find_all(el: Element, cls: type[E]) -> list[E]:
    """Every element of type ``cls`` under ``el`` (itself included)."""
    return [e for e in walk(el) if isinstance(e, cls)]
