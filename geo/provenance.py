"""Where an analysis came from: its input files (name, size, SHA-256), the data versions
the files tell, the code version. Recorded in ``summary.json`` as ``provenance``
(:class:`geo.records.AnalysisSummary`, ``docs/model.md``).

:func:`provenance_of` is called by :func:`geo.inputs.build_inputs`, which has both the
paths and the loaded layers; layers given as GeoDataFrames (a store's) have no file and
are listed with ``name`` only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from .readers import file_identity, remembered

__all__ = ["InputFile", "Provenance", "sha256_of", "input_file", "ged_version", "geopko_versions",
           "provenance_of", "split_layer_path"]

CHUNK = 1 << 20

_GED_VERSION = re.compile(r"ged[a-z]*[_-]?v?(\d{2})[._-](\d+)", re.IGNORECASE)


class InputFile(TypedDict):
    layer: str  # bases, events, roads, towns, airports, sites, admin, national, impassable, population
    name: str  # the file's name (no folder: summaries travel), or "(stored layer)"
    size_bytes: int | None
    sha256: str | None


class Provenance(TypedDict):
    code_version: str  # the vacuum distribution (pyproject.toml)
    inputs: list[InputFile]
    data_versions: dict[str, str]  # e.g. {"bases": "geo_pko_v2.1; MINUSCA: Map no. 4522 Rev. 19 (2020-10)"}


def split_layer_path(source: str | os.PathLike[str]) -> Path:
    """The file of a layer source (``FILE.gpkg::layer`` names a layer in a file)."""
    return Path(str(os.fspath(source)).split("::", 1)[0])


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def input_file(layer: str, source: Any) -> InputFile:
    """The record of one layer source: a path (hashed) or an in-memory frame."""
    if not isinstance(source, (str, os.PathLike)):
        return {"layer": layer, "name": "(stored layer)", "size_bytes": None, "sha256": None}
    path = split_layer_path(source)
    ident = file_identity(path)  # in a monitor (reading_once) each file is hashed once
    digest = remembered(("sha256", *ident) if ident else None, lambda: sha256_of(path))
    return {"layer": layer, "name": Path(os.fspath(source)).name, "size_bytes": path.stat().st_size,
            "sha256": digest}


def ged_version(name: str) -> str | None:
    """Pure: the UCDP GED version a file name tells (``ged_v23.1.csv``, ``GEDEvent_v23_1.csv``
    → ``23.1``); GED files carry no version inside."""
    m = _GED_VERSION.search(name)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def geopko_versions(attrs: Mapping[str, Any]) -> str | None:
    """Pure: the Geo-PKO version and the UN map chosen per mission, from a bases layer's
    ``attrs`` (:func:`geo.layers.load_bases`), e.g. ``geo_pko_v2.1; MINUSCA: Map no. 4522 Rev. 19 (2020-10)``."""
    schema = attrs.get("schema")
    if not schema or not str(schema).startswith("geo_pko"):
        return None
    maps = attrs.get("maps") or {}
    parts = [f"{m}: {v.get('source')} ({v.get('map_date')})" for m, v in sorted(maps.items())]
    return "; ".join([str(schema), *parts])


def provenance_of(sources: Mapping[str, Any], layers: Mapping[str, Any], code_version: str) -> Provenance:
    """``sources``: layer name → path or frame (None left out); ``layers``: the loaded
    frames by the same names, whose ``attrs`` tell the data versions."""
    inputs = [input_file(k, v) for k, v in sources.items() if v is not None]
    versions: dict[str, str] = {}
    bases = layers.get("bases")
    if bases is not None and (v := geopko_versions(bases.attrs)):
        versions["bases"] = v
    events = layers.get("events")
    ev_src = sources.get("events")
    if events is not None and isinstance(ev_src, (str, os.PathLike)):
        schema = events.attrs.get("schema", "")
        gv = ged_version(Path(os.fspath(ev_src)).name) if str(schema).startswith("ged") else None
        if schema:
            versions["events"] = f"{schema} v{gv}" if gv else str(schema)
    return {"code_version": code_version, "inputs": inputs, "data_versions": versions}
