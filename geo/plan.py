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
          - handover: {base: MINUSCA:sibut, to: FACA-2}         # to a listed national force
        conditions:                                    # benchmarks (geo.benchmarks)
          - {condition: gap_mean, unit: Vakaga, op: "<", threshold: 30}
    national_forces:                     # optional (geo.national); or a CSV/GeoJSON path (CLI)
      - {id: FACA-2, kind: army, strength: 400, readiness: 0.6, lon: 19.18, lat: 5.73}
    effect: out/effect_car/effect.json    # optional: or "literature" (docs/scenarios.md)

The shape is checked with pydantic (:class:`Plan`); :func:`resolve_plan` then checks
it against an analysis (ids exist, nothing acts on a closed base, dates increase)
and returns plain :class:`Step` lists. Errors name the phase, the action and the
unknown id; a plan read from a file also names the line (a line-tracking YAML load), and
every problem is listed, each with its fix.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .benchmarks import METRICS, ConditionSpec
from .errors import VacuumError
from .national import NationalForce, allot_strength

__all__ = ["PlanError", "Plan", "Phase", "Step", "ResolvedPhase", "Condition", "NationalForceIn", "load_plan",
           "resolve_plan", "parse_plan", "plan_lines", "national_forces", "read_national_forces"]


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
    readiness: Annotated[float, Field(ge=0, le=1)] | None = None
    strength: Annotated[float, Field(ge=0)] | None = None
    to: str | None = None
    """The receiving national force (an id or name in the plan's ``national_forces``)."""

    @model_validator(mode="after")
    def _who(self) -> Handover:
        if (self.readiness is None) == (self.to is None):
            raise ValueError("give either to: <national force id> (its readiness is used) or readiness: 0..1 "
                             "(the base's own strength times readiness), not both or neither")
        return self


class Condition(_Strict):
    """A benchmark: ``condition`` in a scope (``unit`` or ``zone``, else the whole area) ``op`` ``threshold``."""

    condition: str
    op: Literal["<", "<=", ">", ">="]
    threshold: float
    unit: str | None = None
    zone: int | None = None
    at: Literal["before", "after"] = "after"

    @field_validator("condition")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            close = difflib.get_close_matches(v, list(METRICS), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown condition {v!r}; {hint}known conditions: {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _one_scope(self) -> Condition:
        if self.unit is not None and self.zone is not None:
            raise ValueError("give unit (an admin unit) or zone (an analysis zone id), not both")
        return self


class NationalForceIn(_Strict):
    id: str
    name: str | None = None
    kind: Literal["army", "gendarmerie", "police", "other"] = "army"
    strength: Annotated[float, Field(ge=0)]
    readiness: Annotated[float, Field(ge=0, le=1)]
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None


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
    conditions: list[Condition] = Field(default_factory=list)


class Plan(_Strict):
    name: str = "withdrawal plan"
    phases: Annotated[list[Phase], Field(min_length=1)]
    national_forces: list[NationalForceIn] | str | None = None
    """National forces that can receive handovers (:mod:`geo.national`): a list, or (CLI only) a
    CSV/GeoJSON file relative to the plan file (:func:`national_forces` reads it)."""
    effect: str | None = None
    """Where the expected change in violence comes from: an ``effect.json`` written by
    ``vacuum effect`` (relative to the plan file) or a prior's name (``literature``); see
    :func:`geo.effect.resolve_effect`. Read by the CLI; none: not computed."""
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One resolved change to one base."""

    kind: Literal["close", "reduce", "handover"]
    base_id: str
    strength: float | None = None  # reduce/handover: troops after the step
    readiness: float | None = None  # handover
    to: str | None = None  # handover: the receiving national force's id
    unit_type: str | None = None  # handover to a force: the unit type its kind weighs as


@dataclass(frozen=True)
class ResolvedPhase:
    name: str
    date: date
    steps: tuple[Step, ...]
    conditions: tuple[ConditionSpec, ...] = ()

    @property
    def closed(self) -> list[str]:
        return [s.base_id for s in self.steps if s.kind in ("close", "handover")]


def load_plan(path: str | Path) -> Plan:
    """Read and shape-check a YAML or JSON plan file; errors name the line."""
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
        line = next((n for n, t in enumerate(text.splitlines(), start=1) if shown in t), None)
        at = f" line {line}:" if line else ""
        raise PlanError(f"plan file {path}:{at} {shown} is not a real date ({exc}); use YYYY-MM-DD, "
                        "e.g. 2021-02-28") from None
    return parse_plan(doc, source=str(path), lines=plan_lines(text))


def plan_lines(text: str) -> dict[tuple, int]:
    """Line (1-based) of every key and list item of a YAML/JSON document, by its path
    (``("phases", 0, "actions", 1)``); empty when the text does not compose."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = (*path, k.value)
                out[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    if root is not None:
        walk(root, ())
    return out


def _line_of(lines: dict[tuple, int], loc: Sequence[Any]) -> int | None:
    """The line of ``loc`` or of its longest prefix that the document has."""
    loc = tuple(x for x in loc if isinstance(x, int | str))
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


_MODELS: dict[str | None, type[BaseModel]] = {None: Plan, "phases": Phase, "actions": Action, "conditions": Condition,
                                               "reduce": Reduce, "handover": Handover,
                                               "national_forces": NationalForceIn}


def _fix(err: Any) -> str:
    """The fix of one pydantic error, for the kinds whose message does not already say it."""
    loc = [x for x in err["loc"] if isinstance(x, str)]
    if err["type"] == "extra_forbidden":
        parent = next((k for k in reversed(loc[:-1]) if k in _MODELS), None)
        allowed = ", ".join(_MODELS[parent].model_fields)
        return f"; remove or rename {loc[-1]!r} (allowed here: {allowed})"
    if err["type"] == "missing":
        return f"; add {loc[-1]}: (docs/scenarios.md shows a plan)"
    if err["type"].startswith("date"):
        return "; write the date as YYYY-MM-DD"
    return ""


def _message(problems: Sequence[tuple[int | None, str]], source: str | None) -> str:
    """One line per problem, each with its plan line; a single problem stays on one line."""
    items = [(f"line {ln}, " if ln else "") + text for ln, text in problems]
    head = f"{source}: " if source else ""
    if len(items) == 1:
        return head + items[0]
    return f"{head}{len(items)} problems:\n" + "\n".join(f"  - {t}" for t in items)


def parse_plan(doc: object, source: str = "plan", lines: dict[tuple, int] | None = None) -> Plan:
    """Shape-check a plan document; a :class:`PlanError` lists every problem, with its line
    when ``lines`` (:func:`plan_lines`) is given."""
    lines = lines or {}
    try:
        plan = Plan.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if err["type"] in ("list_type", "string_type") and err["loc"][:1] == ("national_forces",) \
                    and len(err["loc"]) <= 2:
                continue  # the other branch of the list-or-path union; its own error is listed
            problems.append((_line_of(lines, err["loc"]), f"{_where(doc, err['loc'])}: {err['msg']}{_fix(err)}"))
        raise PlanError(_message(problems or [(None, str(exc))], source)) from None
    plan._lines = dict(lines)
    return plan


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
        if key in ("actions", "conditions", "national_forces") and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            label = {"actions": "action", "conditions": "condition", "national_forces": "national force"}[key]
            parts.append(f"{label} {int(loc[i + 1]) + 1}")
            i += 2
            continue
        parts.append(".".join(str(x) for x in loc[i:]))
        break
    return ", ".join(parts) or "plan"


def _unknown(phase: str, action: str, base_id: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(base_id, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known ids look like {', '.join(list(known)[:3])}"
    return f"{phase}, {action}: unknown base id {base_id!r}{hint}"


def national_forces(plan: Plan) -> list[NationalForce] | None:
    """The plan's national forces as engine records; None when the plan lists none. A path
    must have been read into a list first (the CLI does; the service takes lists only)."""
    nf = plan.national_forces
    if nf is None:
        return None
    if isinstance(nf, str):
        raise PlanError(f"plan: national_forces: {nf!r} is a file path; read it first (`vacuum scenario` does, "
                        "relative to the plan file) or list the forces in the plan")
    return [NationalForce(f.id, f.name or f.id, f.kind, float(f.strength), float(f.readiness), f.lon, f.lat) for f in nf]


class _Resolver:
    """resolve_plan's state: what is known, what is gone, and every problem found."""

    def __init__(self, plan: Plan, bases: gpd.GeoDataFrame, admin: gpd.GeoDataFrame | None,
                 zones: gpd.GeoDataFrame | None):
        self.plan, self.bases, self.admin, self.zones = plan, bases, admin, zones
        self.known = [str(b) for b in bases["base_id"]]
        self.strength = dict(zip(self.known, bases["strength"].astype(float), strict=True))
        self.gone: dict[str, str] = {}
        self.problems: list[tuple[int | None, str]] = []
        self.forces = {f.force_id: f for f in (national_forces(plan) or [])}
        self.allotted = self._allot()

    def problem(self, loc: tuple, text: str) -> None:
        self.problems.append((_line_of(self.plan._lines, loc), text))

    def force(self, name: str) -> NationalForce | None:
        key = name.strip().casefold()
        return next((f for f in self.forces.values() if key in (f.force_id.casefold(), f.name.casefold())), None)

    def _allot(self) -> dict[tuple[int, int], float]:
        """Troops each handover (phase, action index) receives from its force."""
        asks: dict[str, list[tuple[tuple[int, int], float | None]]] = {}
        for k, ph in enumerate(self.plan.phases):
            for j, act in enumerate(ph.actions):
                if act.handover is not None and act.handover.to is not None:
                    f = self.force(act.handover.to)
                    if f is not None:
                        asks.setdefault(f.force_id, []).append(((k, j), act.handover.strength))
        out: dict[tuple[int, int], float] = {}
        for fid, items in asks.items():
            try:
                got = allot_strength(self.forces[fid].strength, [a for _, a in items])
            except ValueError as exc:
                k, j = items[-1][0]
                self.problem(("phases", k, "actions", j, "handover", "strength"),
                             f"national force {fid!r}: {exc}; lower the handovers' strength or raise the force's")
                got = [0.0] * len(items)
            out.update({key: g for (key, _), g in zip(items, got, strict=True)})
        return out


def resolve_plan(plan: Plan, bases: gpd.GeoDataFrame, admin: gpd.GeoDataFrame | None = None,
                 zones: gpd.GeoDataFrame | None = None) -> list[ResolvedPhase]:
    """Check a plan against the analysis' bases (and admin units, zones) and resolve it to steps.

    ``bases`` needs ``base_id`` and ``strength`` (any CRS); ``admin`` needs
    ``admin_id`` and ``name`` in the same CRS as ``bases`` for ``close_admin`` and
    conditions per ``unit``; ``zones`` (``zone_id``) for conditions per ``zone``. Every
    problem is collected and raised in one :class:`PlanError`.
    """
    r = _Resolver(plan, bases, admin, zones)
    out: list[ResolvedPhase] = []
    last: date | None = None
    for k, ph in enumerate(plan.phases, start=1):
        pname = f"phase {k} ({ph.name})"
        if last is not None and ph.date < last:
            r.problem(("phases", k - 1, "date"), f"{pname}: date {ph.date} is before the previous phase's {last}; "
                      "phases are cumulative and in order")
        last = ph.date
        steps: list[Step] = []
        for j, act in enumerate(ph.actions, start=1):
            steps.extend(_resolve_action(r, k, j, pname, act))
        conds = tuple(c for i, cond in enumerate(ph.conditions)
                      if (c := _resolve_condition(r, k, i, pname, cond)) is not None)
        out.append(ResolvedPhase(ph.name, ph.date, tuple(steps), conds))
    if r.problems:
        raise PlanError(_message(r.problems, None))
    return out


def _resolve_action(r: _Resolver, k: int, j: int, pname: str, act: Action) -> list[Step]:
    """The steps of one action; problems go to ``r``."""
    aname, loc = f"action {j}", ("phases", k - 1, "actions", j - 1)
    if act.close is not None:
        if not act.close:
            r.problem(loc, f"{pname}, {aname}: close lists no base ids; list at least one or remove the action")
            return []
        ids, kind = act.close, "close"
    elif act.close_admin is not None:
        try:
            ids = [i for i in _bases_in_admin(act.close_admin, r.bases, r.admin, f"{pname}, {aname}") if i not in r.gone]
        except PlanError as exc:
            r.problem(loc, str(exc))
            return []
        kind = "close"
    elif act.reduce is not None:
        ids, kind = [act.reduce.base], "reduce"
    else:
        ids, kind = [act.handover.base], "handover"  # type: ignore[union-attr]
    steps: list[Step] = []
    for bid in ids:
        if bid not in r.strength:
            r.problem(loc, _unknown(pname, f"{aname} ({kind})", bid, r.known))
            continue
        if bid in r.gone:
            r.problem(loc, f"{pname}, {aname} ({kind}): base {bid!r} was already closed or handed over in "
                      f"{r.gone[bid]}; remove it from this action")
            continue
        if kind == "close":
            steps.append(Step("close", bid))
            r.gone[bid] = pname
        elif kind == "reduce":
            red = act.reduce
            new = red.strength if red.strength is not None else r.strength[bid] * red.factor  # type: ignore[union-attr,operator]
            if new > r.strength[bid]:
                r.problem(loc, f"{pname}, {aname} (reduce): {bid!r} would grow from {r.strength[bid]:g} to {new:g} "
                          "troops; a reduction cannot add troops")
                continue
            r.strength[bid] = float(new)
            steps.append(Step("reduce", bid, strength=float(new)))
        else:
            step = _handover_step(r, k, j, pname, aname, bid, act.handover)  # type: ignore[arg-type]
            if step is not None:
                steps.append(step)
                r.gone[bid] = pname
    return steps


def _handover_step(r: _Resolver, k: int, j: int, pname: str, aname: str, bid: str, h: Handover) -> Step | None:
    if h.to is None:
        return Step("handover", bid, strength=float(h.strength if h.strength is not None else r.strength[bid]),
                    readiness=float(h.readiness))  # type: ignore[arg-type]
    loc = ("phases", k - 1, "actions", j - 1, "handover", "to")
    f = r.force(h.to)
    if f is None:
        if not r.forces:
            r.problem(loc, f"{pname}, {aname} (handover): receiving force {h.to!r} does not exist: the plan lists no "
                      "national_forces; add national_forces: [{id, kind, strength, readiness, lon, lat}] or hand over "
                      "with readiness: 0..1 instead of to:")
        else:
            ids = sorted(r.forces)
            close = difflib.get_close_matches(h.to, ids, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            r.problem(loc, f"{pname}, {aname} (handover): no national force {h.to!r}; {hint}national_forces lists "
                      f"{', '.join(ids)}")
        return None
    return Step("handover", bid, strength=r.allotted.get((k - 1, j - 1), 0.0), readiness=f.readiness,
                to=f.force_id, unit_type=f.unit_type)


def _resolve_condition(r: _Resolver, k: int, i: int, pname: str, c: Condition) -> ConditionSpec | None:
    loc = ("phases", k - 1, "conditions", i)
    cname = f"{pname}, condition {i + 1} ({c.condition})"
    if c.condition == "national_readiness" and not r.forces:
        r.problem((*loc, "condition"), f"{cname}: national_readiness needs the plan's national_forces; add them "
                  "or remove the condition")
        return None
    if c.unit is not None:
        hit = _admin_row(c.unit, r.admin)
        if isinstance(hit, str):
            r.problem((*loc, "unit"), f"{cname}: {hit}")
            return None
        return ConditionSpec(c.condition, c.op, c.threshold, scope=hit[1], scope_kind="unit", scope_id=hit[0],
                             at=c.at, line=_line_of(r.plan._lines, loc))
    if c.zone is not None:
        ids = [] if r.zones is None else [int(z) for z in r.zones["zone_id"]]
        if c.zone not in ids:
            known = f"the analysis has zones {', '.join(map(str, ids))}" if ids else "the analysis has no vacuum zones"
            r.problem((*loc, "zone"), f"{cname}: no zone {c.zone} ({known}, zones.geojson); use one of those or unit:")
            return None
        return ConditionSpec(c.condition, c.op, c.threshold, scope=f"zone {c.zone}", scope_kind="zone",
                             scope_id=str(c.zone), at=c.at, line=_line_of(r.plan._lines, loc))
    return ConditionSpec(c.condition, c.op, c.threshold, at=c.at, line=_line_of(r.plan._lines, loc))


def _admin_row(unit: str, admin: gpd.GeoDataFrame | None) -> tuple[str, str] | str:
    """(admin_id, name) of a unit by name or id, or the problem as text."""
    if admin is None:
        return f"the analysis has no admin units to look {unit!r} up in; run the analysis with --admin or drop unit:"
    key = unit.strip().casefold()
    hit = admin[(admin["admin_id"].astype(str).str.casefold() == key) | (admin["name"].astype(str).str.casefold() == key)]
    if hit.empty:
        names = sorted(admin["name"].astype(str))
        close = difflib.get_close_matches(unit, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known units: {', '.join(names[:8])}"
        return f"no admin unit named {unit!r} in the admin layer; {hint}"
    return str(hit["admin_id"].iloc[0]), str(hit["name"].iloc[0])


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


def read_national_forces(plan: Plan, base_dir: str | Path | None = None, path: str | Path | None = None) -> Plan:
    """The plan with its ``national_forces`` read from a CSV/GeoJSON of points (``path``, or the
    plan's own string, relative to ``base_dir``): columns ``id`` (or ``force_id``), ``strength``,
    ``readiness``, optional ``name`` and ``kind``. Each row is checked like an inline force; an
    error names the file, the row and the column."""
    from .readers import read_vector

    src = path if path is not None else plan.national_forces
    if not isinstance(src, str | Path):
        return plan
    p = Path(src) if base_dir is None or Path(src).is_absolute() else Path(base_dir) / src
    g = read_vector(p).to_crs("EPSG:4326")
    rows, problems = [], []
    for i, rec in enumerate(g.drop(columns="geometry").to_dict("records"), start=1):
        doc = {k: v for k, v in rec.items() if k in NationalForceIn.model_fields and v not in (None, "")}
        doc.setdefault("id", rec.get("force_id"))
        pt = g.geometry.iloc[i - 1]
        doc.update(lon=float(pt.x), lat=float(pt.y))
        try:
            rows.append(NationalForceIn.model_validate(doc))
        except ValidationError as exc:
            problems += [(None, f"{p} row {i}, {'.'.join(map(str, e['loc']))}: {e['msg']}") for e in exc.errors()]
    if problems:
        raise PlanError(_message(problems, None))
    new = plan.model_copy(update={"national_forces": rows})
    new._lines = plan._lines
    return new
