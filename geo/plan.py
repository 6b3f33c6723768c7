"""Withdrawal plans: dated phases of base closures, reductions and handovers.

A plan is YAML or JSON::

    name: MINUSCA drawdown
    phases:
      - name: Phase 1
        date: 2021-03-31
        actions:
          - close: [MINUSCA:obo, MINUSCA:zemio]        # by base id
          - close_admin: Haut-Mbomou                   # every base in an admin unit (name or admin_id)
          - reduce: {base: MINUSCA:bria, strength: 650}    # or factor: 0.5
          - handover: {base: MINUSCA:bambari, readiness: 0.6}   # to national forces, same place
    effect: out/effect_car/effect.json    # optional: or "literature" (docs/scenarios.md)

The shape is checked with pydantic (:class:`Plan`); :func:`resolve_plan` then checks
it against an analysis (ids exist, nothing acts on a closed base, dates increase)
and returns plain :class:`Step` lists. Errors name the phase, the action and the
unknown id.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import geopandas as gpd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import VacuumError

__all__ = ["PlanError", "Plan", "Phase", "Step", "ResolvedPhase", "load_plan", "resolve_plan", "parse_plan"]


class PlanError(VacuumError, ValueError):
    """A withdrawal plan that cannot be applied as written."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reduce(_Strict):
    base: str
    strength: Annotated[float, Field(ge=0)] | None = None
    factor: Annotated[float, Field(ge=0, le=1)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Reduce:
        if (self.strength is None) == (self.factor is None):
            raise ValueError("give exactly one of strength (troops) or factor (0..1)")
        return self


class Handover(_Strict):
    base: str
    readiness: Annotated[float, Field(ge=0, le=1)]
    strength: Annotated[float, Field(ge=0)] | None = None


class Action(_Strict):
    close: list[str] | None = None
    close_admin: str | None = None
    reduce: Reduce | None = None
    handover: Handover | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in ("close", "close_admin", "reduce", "handover") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of close, close_admin, reduce, handover; got {given or 'none'}")
        return self


class Phase(_Strict):
    name: str
    date: date
    actions: list[Action] = Field(default_factory=list)


class Plan(_Strict):
    name: str = "withdrawal plan"
    phases: Annotated[list[Phase], Field(min_length=1)]
    effect: str | None = None
    """Where the expected change in violence comes from: an ``effect.json`` written by
    ``vacuum effect`` (relative to the plan file) or a prior's name (``literature``); see
    :func:`geo.effect.resolve_effect`. Read by the CLI; none: not computed."""


@dataclass(frozen=True)
class Step:
    """One resolved change to one base."""

    kind: Literal["close", "reduce", "handover"]
    base_id: str
    strength: float | None = None  # reduce/handover: troops after the step
    readiness: float | None = None  # handover


@dataclass(frozen=True)
class ResolvedPhase:
    name: str
    date: date
    steps: tuple[Step, ...]

    @property
    def closed(self) -> list[str]:
        return [s.base_id for s in self.steps if s.kind in ("close", "handover")]


def load_plan(path: str | Path) -> Plan:
    """Read and shape-check a YAML or JSON plan file."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"plan file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PlanError(f"plan file {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    except ValueError as exc:  # YAML reads 2021-02-30 as a date and fails building it
        bad = re.findall(r"\b\d{4}-\d{2}-\d{2}\b", text)
        shown = next((d for d in bad if not _real_date(d)), "a date")
        raise PlanError(f"plan file {path}: {shown} is not a real date ({exc}); use YYYY-MM-DD, "
                        "e.g. 2021-02-28") from None
    return parse_plan(doc, source=str(path))


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_plan(doc: object, source: str = "plan") -> Plan:
    try:
        return Plan.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(doc, first["loc"])
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise PlanError(f"{source}: {where}: {first['msg']}{more}") from None


def _where(doc: object, loc: Sequence[int | str]) -> str:
    """'phase 2 (Phase B), action 1, reduce.factor' from a pydantic location."""
    parts: list[str] = []
    node = doc
    i = 0
    loc = list(loc)
    while i < len(loc):
        key = loc[i]
        if key == "phases" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            k = int(loc[i + 1])
            name = None
            if isinstance(node, dict) and isinstance(node.get("phases"), list) and k < len(node["phases"]):
                node = node["phases"][k]
                name = node.get("name") if isinstance(node, dict) else None
            parts.append(f"phase {k + 1}" + (f" ({name})" if name else ""))
            i += 2
            continue
        if key == "actions" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            parts.append(f"action {int(loc[i + 1]) + 1}")
            i += 2
            continue
        parts.append(".".join(str(x) for x in loc[i:]))
        break
    return ", ".join(parts) or "plan"


def _unknown(phase: str, action: str, base_id: str, known: Sequence[str]) -> PlanError:
    close = difflib.get_close_matches(base_id, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known ids look like {', '.join(list(known)[:3])}"
    return PlanError(f"{phase}, {action}: unknown base id {base_id!r}{hint}")


def resolve_plan(plan: Plan, bases: gpd.GeoDataFrame, admin: gpd.GeoDataFrame | None = None) -> list[ResolvedPhase]:
    """Check a plan against the analysis' bases (and admin units) and resolve it to steps.

    ``bases`` needs ``base_id`` and ``strength`` (any CRS); ``admin`` needs
    ``admin_id`` and ``name`` in the same CRS as ``bases`` for ``close_admin``.
    """
    known = [str(b) for b in bases["base_id"]]
    strength = dict(zip(known, bases["strength"].astype(float), strict=True))
    gone: dict[str, str] = {}  # base -> where it was closed/handed over
    out: list[ResolvedPhase] = []
    last: date | None = None
    for k, ph in enumerate(plan.phases, start=1):
        pname = f"phase {k} ({ph.name})"
        if last is not None and ph.date < last:
            raise PlanError(f"{pname}: date {ph.date} is before the previous phase's {last}; phases are cumulative and in order")
        last = ph.date
        steps: list[Step] = []
        for j, act in enumerate(ph.actions, start=1):
            aname = f"action {j}"
            if act.close is not None:
                if not act.close:
                    raise PlanError(f"{pname}, {aname}: close lists no base ids")
                ids = act.close
                kind = "close"
            elif act.close_admin is not None:
                ids = _bases_in_admin(act.close_admin, bases, admin, f"{pname}, {aname}")
                ids = [i for i in ids if i not in gone]
                kind = "close"
            elif act.reduce is not None:
                ids, kind = [act.reduce.base], "reduce"
            else:
                ids, kind = [act.handover.base], "handover"  # type: ignore[union-attr]
            for bid in ids:
                if bid not in strength:
                    raise _unknown(pname, f"{aname} ({kind})", bid, known)
                if bid in gone:
                    raise PlanError(f"{pname}, {aname} ({kind}): base {bid!r} was already closed or handed over in {gone[bid]}")
                if kind == "close":
                    steps.append(Step("close", bid))
                    gone[bid] = pname
                elif kind == "reduce":
                    r = act.reduce
                    new = r.strength if r.strength is not None else strength[bid] * r.factor  # type: ignore[union-attr,operator]
                    if new > strength[bid]:
                        raise PlanError(f"{pname}, {aname} (reduce): {bid!r} would grow from {strength[bid]:g} to {new:g} troops; a reduction cannot add troops")
                    strength[bid] = float(new)
                    steps.append(Step("reduce", bid, strength=float(new)))
                else:
                    h = act.handover
                    steps.append(Step("handover", bid, strength=float(h.strength if h.strength is not None else strength[bid]),  # type: ignore[union-attr]
                                      readiness=float(h.readiness)))  # type: ignore[union-attr]
                    gone[bid] = pname
        out.append(ResolvedPhase(ph.name, ph.date, tuple(steps)))
    return out


def _bases_in_admin(unit: str, bases: gpd.GeoDataFrame, admin: gpd.GeoDataFrame | None, where: str) -> list[str]:
    if admin is None:
        raise PlanError(f"{where} (close_admin): the analysis has no admin units to look {unit!r} up in")
    key = unit.strip().casefold()
    hit = admin[(admin["admin_id"].astype(str).str.casefold() == key) | (admin["name"].astype(str).str.casefold() == key)]
    if hit.empty:
        names = sorted(admin["name"].astype(str))
        close = difflib.get_close_matches(unit, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PlanError(f"{where} (close_admin): no admin unit named {unit!r}{hint}")
    poly = hit.union_all()
    inside = bases[bases.within(poly) | bases.intersects(poly)]
    if inside.empty:
        raise PlanError(f"{where} (close_admin): no base lies in admin unit {unit!r}")
    return [str(b) for b in inside["base_id"]]
