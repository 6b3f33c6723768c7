"""The layout of a scenario folder, as the map reads it: the one place to adapt.

What :func:`geo.scenario_products.run_scenario` writes (``vacuum scenario``), and the
simpler layout the map was first designed against; change :func:`read_scenario` and
nothing else when the format moves::

    scenario_dir/summary.json   {"plan" or "name": ...,
                                 "phases": [{"name", "date", "closed": [base_id, ...],
                                             "steps": [{"kind": close|reduce|handover, "base_id",
                                                        "strength", "readiness"}, ...]   (optional)
                                             "phase": k (optional), ...}, ...]}
    scenario_dir/phase_{k}/gap.tif             gap after phase k (k = 1, 2, ...; cumulative)
    scenario_dir/phase_{k}/gap_delta.tif       gap after phase k minus the analysis' gap
    scenario_dir/phase_{k}/coverage_delta.tif  (optional) change in coverage
    scenario_dir/phase_{k}/new_zones.geojson   (optional) vacuum zones opened by phase k
    scenario_dir/base_criticality.geojson      (optional) every base ranked by the vacuum its closure opens

``closed`` may list the bases closed in the phase or all closed so far (the engine
writes the latter): a phase's closures are the ones no earlier phase closed. With
``steps``, closures, handovers and reductions come from them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MapError, MissingProductError

__all__ = ["ScenarioPhase", "Scenario", "read_scenario"]


@dataclass(frozen=True)
class ScenarioPhase:
    index: int  # 1-based
    name: str
    date: str
    closed: tuple[str, ...]  # bases closed in this phase
    folder: Path
    handed_over: tuple[str, ...] = ()  # bases handed to national forces in this phase
    reduced: dict[str, float | None] = field(default_factory=dict)  # base -> troops after the reduction
    extra: dict[str, Any] = field(default_factory=dict)  # any other keys of the phase entry

    @property
    def gone(self) -> tuple[str, ...]:
        """Bases the mission leaves in this phase (closed or handed over)."""
        return (*self.closed, *self.handed_over)

    @property
    def label(self) -> str:
        return f"Phase {self.index}: {self.name}" + (f" ({self.date})" if self.date else "")

    def path(self, product: str) -> Path | None:
        """``phase_k/<product>`` when present (``gap.tif``, ``new_zones.geojson``, ...)."""
        p = self.folder / product
        return p if p.is_file() else None

    def require(self, product: str) -> Path:
        p = self.path(product)
        if p is None:
            raise MissingProductError(f"{self.folder / product} is missing: phase {self.index} "
                                      f"({self.name}) of the scenario has no {product}")
        return p


@dataclass(frozen=True)
class Scenario:
    folder: Path
    name: str
    phases: tuple[ScenarioPhase, ...]
    summary: dict[str, Any]

    def closed_by_phase(self) -> dict[str, ScenarioPhase]:
        """base_id -> the phase in which the mission leaves it (closure or handover)."""
        out: dict[str, ScenarioPhase] = {}
        for ph in self.phases:
            for b in ph.gone:
                out.setdefault(b, ph)
        return out


def read_scenario(scenario_dir: str | os.PathLike[str]) -> Scenario:
    d = Path(scenario_dir)
    summary_path = d / "summary.json"
    if not summary_path.is_file():
        raise MissingProductError(f"{d} is not a scenario folder (no summary.json); "
                                  "make one with `vacuum scenario`")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MapError(f"{summary_path}: not valid JSON ({exc})") from None
    raw = summary.get("phases")
    if not isinstance(raw, list) or not raw:
        raise MapError(f"{d} is not a scenario folder: {summary_path.name} has no 'phases' list of "
                       "{name, date, closed}")
    phases = []
    gone: set[str] = set()
    for i, p in enumerate(raw, start=1):
        if not isinstance(p, dict) or not isinstance(p.get("closed", []), list) \
                or not isinstance(p.get("steps", []), list):
            raise MapError(f"{summary_path}: phase {i} must be an object with a 'closed' list of base ids")
        k = int(p.get("phase", i))
        folder = d / str(p.get("dir", f"phase_{k}"))
        if not folder.is_dir():
            raise MissingProductError(f"{folder} is missing: phase {k} of {summary_path} has no folder")
        steps = [st for st in p.get("steps", []) if isinstance(st, dict) and st.get("base_id") is not None]
        handed = tuple(str(st["base_id"]) for st in steps if st.get("kind") == "handover")
        reduced = {str(st["base_id"]): st.get("strength") for st in steps if st.get("kind") == "reduce"}
        if steps:
            closed = [str(st["base_id"]) for st in steps if st.get("kind") == "close"]
        else:
            closed = [str(b) for b in p.get("closed", []) if str(b) not in gone]
        closed = list(dict.fromkeys(closed))
        gone.update(closed, handed)
        extra = {key: v for key, v in p.items() if key not in ("name", "date", "closed", "dir", "steps", "phase")}
        phases.append(ScenarioPhase(k, str(p.get("name") or f"phase {k}"), str(p.get("date") or ""),
                                    tuple(closed), folder, handed, reduced, extra))
    name = summary.get("name") or summary.get("plan") or d.name
    return Scenario(d, str(name), tuple(phases), summary)
