"""What the briefing says: every section built from the folders (:mod:`maps.brief.sources`).

Numbers are formatted here, once, for both renderers: people as whole numbers with
thousands separators, areas in km², gap scores to one decimal.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.legend import STYLES

from ..vectors import fmt_number, fmt_people
from .document import SECTION_TITLES, Bullets, Figure, Para, Section, Table
from .document import Briefing as Briefing
from .figures import MapLayers, admin_chart_png, map_png
from .sources import BriefSources, PhaseView, admin_gap_table, load_sources, phase_views, read_json

__all__ = ["build_briefing", "code_version", "LIMITS"]

LIMITS = (
    "Coverage is an exact accounting of travel time from each base over the mapped roads, rivers and "
    "airfields; a road missing from the data makes a base's reach look shorter than it is.",
    "The forecast risk is fitted only on events known before the as-of date; it is a probability, "
    "not a prediction that an event will happen.",
    "Population is a modelled estimate (WorldPop); people figures are rounded to whole people but carry "
    "that model's error.",
    "The expected change in violence after a withdrawal comes from an effect estimate on past closures "
    "or a stated prior, never from the association between coverage and violence (missions deploy where "
    "violence is).",
)
"""The standing limits of the data and the model, stated in every briefing."""


def code_version() -> str:
    """``vacuum <version>`` and the git commit of the code, when it runs from a checkout."""
    from geo import __version__

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"vacuum {__version__}" + (f" (commit {commit})" if commit else "")


def _f1(v: Any) -> str:
    return fmt_number(v, 1)


def _situation(src: BriefSources) -> Section:
    s = src.summary
    lay, gap, zs = s.get("layers", {}), s.get("gap", {}), s.get("zones", {})
    hc = sum(float(s.get("gap", {}).get("by_class", {}).get(c, {}).get("population", 0.0)) for c in ("high", "critical"))
    missions = ", ".join(src.folder.missions()) if not src.public else ""
    facts = [
        f"As of {src.folder.as_of}" + (f", {missions}" if missions else "") + f": {lay.get('bases', '–')} bases, "
        f"{fmt_number(lay.get('events_in_window'))} events in the look-back window.",
        f"Mean coverage gap {_f1(gap.get('mean'))} (population-weighted {_f1(gap.get('population_weighted_mean'))}) "
        f"on a 0–100 scale; {fmt_people(hc)} people live in high or critical gap.",
        f"{fmt_number(zs.get('count'))} vacuum zones: {fmt_number(zs.get('area_km2'))} km², "
        f"{fmt_people(zs.get('population'))} people.",
    ]
    fc = s.get("forecast") or {}
    if fc:
        facts.append(f"Forecast: {fc.get('method', '–')}" + (f" ({fc['model']})" if fc.get("model") else "")
                     + f", {fc.get('horizon_months', '–')}-month horizon on {fmt_number(fc.get('block_km'))} km units, "
                     f"mean risk {fmt_number(100 * float(fc.get('mean') or 0), 1)} %"
                     + (f"; {fc['note']}" if fc.get("note") else "") + ".")
    if src.scenario is not None:
        sc = src.scenario
        facts.append(f"Plan “{sc.name}”: {len(sc.phases)} phases, "
                     f"{sum(len(p.gone) for p in sc.phases)} bases closed or handed over by {sc.phases[-1].date}.")
    if src.public:
        facts.append("Viewer-safe briefing: the gap is averaged over 150 km blocks, zones are the blocks they "
                     "touch, and no base position is shown.")
    blocks: list = [Bullets(tuple(facts))]
    warnings = [str(w) for w in s.get("warnings") or []]
    if src.public:  # a warning about a base may name it: viewers get the count only
        n = sum("base" in w.lower() for w in warnings)
        warnings = [w for w in warnings if "base" not in w.lower()]
        if n:
            warnings.append(f"{n} warning(s) about bases are left out of the viewer-safe briefing")
    left_out = s.get("terms_left_out") or []
    if left_out:
        warnings.append(f"terms left out of the gap: {', '.join(map(str, left_out))}")
    blocks += [Para(f"Warning: {w}", "warning") for w in warnings]
    blocks.append(Para("Limits of the data and the model:", "note"))
    blocks.append(Bullets(LIMITS))
    return Section(SECTION_TITLES[0], tuple(blocks))


def _ids(src: BriefSources, ids: tuple[str, ...]):
    if src.bases is None or not ids:
        return None
    b = src.bases[src.bases["base_id"].astype(str).isin(ids)]
    return b.geometry


def _maps(src: BriefSources, views: list[PhaseView]) -> Section:
    style = STYLES["gap_public" if src.public else "gap"]
    t = src.grid.transform
    extent = (t.c, t.c + t.a * src.grid.width, t.f + t.e * src.grid.height, t.f)
    figs = []
    for v in views:
        from geo.rasters import read_surface

        gap, _ = read_surface(v.gap_path)
        layers = MapLayers(
            title=v.label, surface=gap, extent=extent, style=style,
            admin=src.admin.geometry if src.admin is not None else None,
            zones=v.zones.geometry if v.zones is not None else None,
            zones_label="Blocks a vacuum zone touches" if src.public else "Vacuum zones now",
            new_zones=v.new_zones.geometry if v.new_zones is not None else None,
            open_bases=_ids(src, v.open_ids), closed_bases=_ids(src, v.closed_ids),
            handed_bases=_ids(src, v.handed_ids))
        n_new = len(v.new_zones) if v.new_zones is not None else 0
        cap = (f"{v.label}: coverage gap" + ("" if v is views[0] else f"; {n_new} new vacuum zones")
               + ("" if src.public else f"; {len(v.open_ids)} bases open"))
        figs.append(Figure(map_png(layers), cap, alt=f"map of the coverage gap, {v.label}"))
    note = Para("Rendered offline from the analysis' own rasters and vectors in its equal-area projection; "
                "no basemap.", "note")
    return Section(SECTION_TITLES[1], (*figs, note))


def _admin_section(src: BriefSources, views: list[PhaseView], top: int = 12) -> Section:
    tab = admin_gap_table(src, views)
    if tab is None or not len(tab):
        return Section(SECTION_TITLES[2], (Para("The analysis has no admin table (no admin layer was given)."),))
    cols = [v.short for v in views if v.short in tab.columns]
    order = tab[cols].max(axis=1).sort_values(ascending=False, kind="stable").index[:top]
    sel = tab.loc[order]
    has_risk = bool(np.isfinite(sel["risk"].to_numpy(dtype=float)).any())
    png = admin_chart_png(sel["name"].astype(str).tolist(), {c: sel[c].tolist() for c in cols},
                          sel["risk"].tolist() if has_risk else None)
    header = ("Admin unit", *cols, *(("Mean risk",) if has_risk else ()))
    rows = tuple((str(r["name"]), *(_f1(r[c]) for c in cols),
                  *((fmt_number(100 * float(r["risk"]), 1, "%"),) if has_risk else ())) for _, r in sel.iterrows())
    what = "block gap (150 km)" if src.public else "population-weighted gap"
    return Section(SECTION_TITLES[2], (
        Figure(png, f"The {min(top, len(tab))} admin units with the highest {what}, now and after each phase; "
                    "forecast risk beside it", alt="bar chart of the gap by admin unit"),
        Table(header, rows, f"{what} (0–100) per admin unit; "
              + "; ".join(v.label for v in views[1:]), (False, *[True] * (len(header) - 1)))))


def _benchmark_rows(doc: Any) -> list[dict]:
    """Rows of a ``benchmarks.json``: ``{"phases": [{"phase", "results": [...]}, ...]}`` as
    ``geo.scenario_benchmarks`` writes it, ``{"benchmarks": [...]}`` or a plain list."""
    if isinstance(doc, dict):
        if isinstance(doc.get("benchmarks"), list):
            doc = doc["benchmarks"]
        elif isinstance(doc.get("phases"), list):
            doc = [{"phase": p.get("phase"), **r} for p in doc["phases"] if isinstance(p, dict)
                   for r in (p.get("results") or p.get("benchmarks") or []) if isinstance(r, dict)]
    return [r for r in doc if isinstance(r, dict)] if isinstance(doc, list) else []


def _phase_status(doc: Any) -> list[str]:
    """One line per phase with a go/hold status (and its reasons), and the enforcement."""
    if not isinstance(doc, dict) or not isinstance(doc.get("phases"), list):
        return []
    out = [f"Phase {p.get('phase')} ({p.get('name', '')}): {str(p['status']).upper()}"
           + (f" — {'; '.join(map(str, p['reasons']))}" if p.get("reasons") else "")
           for p in doc["phases"] if isinstance(p, dict) and p.get("status")]
    if doc.get("enforced"):
        out.append(f"Enforced: {_param_text(doc['enforced'])}")
    return out


def _verdict(r: dict) -> str:
    for key in ("passed", "pass", "met", "ok"):
        if isinstance(r.get(key), bool):
            return "PASS" if r[key] else "FAIL"
    st = str(r.get("status") or r.get("result") or "").strip().lower()
    return {"pass": "PASS", "passed": "PASS", "met": "PASS", "fail": "FAIL", "failed": "FAIL",
            "not met": "FAIL"}.get(st, st.upper() or "–")


def _benchmarks(src: BriefSources) -> Section:
    if src.scenario is None:
        return Section(SECTION_TITLES[3], (Para("No withdrawal plan given: there are no benchmarks to test."),))
    p = src.scenario.folder / "benchmarks.json"
    doc = read_json(p) if p.is_file() else None
    rows = _benchmark_rows(doc)
    if not rows:
        return Section(SECTION_TITLES[3], (Para("The plan states no benchmark conditions (no benchmarks.json in the "
                                                "scenario folder)."),))

    def cell(r: dict, *keys: str) -> str:
        v = next((r[k] for k in keys if r.get(k) is not None), None)
        people = any(w in str(r.get("condition", "")) for w in ("people", "population"))
        return fmt_number(v, 0 if people else 2) if isinstance(v, float) else ("–" if v is None else str(v))

    body = tuple((cell(r, "phase"), cell(r, "name", "condition", "label", "id")
                  + (f" ({r['unit']})" if r.get("unit") else ""), cell(r, "value", "actual"),
                  (f"{r['op']} " if r.get("op") else "") + cell(r, "target", "threshold", "limit"), _verdict(r))
                 for r in rows)
    n_fail = sum(1 for b in body if b[-1] == "FAIL")
    status = _phase_status(doc)
    return Section(SECTION_TITLES[3], (Para(f"{len(body) - n_fail} of {len(body)} benchmark conditions pass."),
                                       Table(("Phase", "Condition", "Value", "Target", "Result"), body,
                                             numeric=(True, False, True, True, False)),
                                       *((Bullets(tuple(status)),) if status else ())))


def _losing_cover(src: BriefSources) -> Section:
    if src.scenario is None:
        return Section(SECTION_TITLES[4], (Para("No withdrawal plan given: nobody loses cover in this briefing."),))
    rows, blocks = [], []
    for ph in src.scenario.phases:
        doc = ph.extra
        nz = doc.get("new_zones") or {}
        rows.append((f"{ph.index} ({ph.date})", fmt_people(doc.get("population_losing_cover")),
                     fmt_number(doc.get("area_losing_cover_km2"), 0), fmt_people(doc.get("people_into_high_critical")),
                     f"{fmt_number(nz.get('count'))} ({fmt_number(nz.get('area_km2'))} km²)"))
        sites = list(doc.get("sites_losing_cover") or []) + list(doc.get("protected_sites_losing_cover") or [])
        if sites:
            names = "; ".join(f"{s.get('name', '?')} ({s.get('kind', 'site')})" for s in sites if isinstance(s, dict))
            blocks.append(Para(f"{ph.label}: sites losing cover: {names}."))
        else:
            blocks.append(Para(f"{ph.label}: no site loses cover."))
    table = Table(("Phase", "People losing cover", "Area losing cover (km²)", "People into high/critical gap",
                   "New vacuum zones"), tuple(rows),
                  "cumulative against today; a cell loses cover when its coverage falls below the threshold",
                  (False, True, True, True, True))
    return Section(SECTION_TITLES[4], (table, *blocks))


def _criticality(src: BriefSources, top: int = 10) -> Section:
    if src.public:
        return Section(SECTION_TITLES[5], (Para("Not in the viewer-safe briefing: it names and ranks the bases."),))
    p = src.scenario.folder / "base_criticality.csv" if src.scenario is not None else None
    if p is None or not p.is_file():
        return Section(SECTION_TITLES[5], (Para("Base criticality comes with a scenario (`vacuum scenario`); "
                                                "none was given."),))
    tab = pd.read_csv(p, dtype={"base_id": str}).sort_values("rank", kind="stable").head(top)
    rows = tuple((fmt_number(r.get("rank")), str(r.get("name") or r["base_id"]), fmt_number(r.get("strength")),
                  fmt_number(r.get("added_vacuum"), 3), fmt_people(r.get("population_losing_cover")),
                  fmt_people(r.get("people_into_high_critical"))) for r in tab.to_dict("records"))
    return Section(SECTION_TITLES[5], (
        Para("Each base ranked by the vacuum its closure alone would open (exposure-weighted gap added)."),
        Table(("#", "Base", "Troops", "Added vacuum", "People losing cover", "People into high/critical"), rows,
              numeric=(True, False, True, True, True, True))))


def _closing_order(src: BriefSources) -> Section:
    p = src.scenario.folder / "closing_order.json" if src.scenario is not None else None
    if p is None or not p.is_file():
        return Section(SECTION_TITLES[6], (Para("No withdrawal plan given: no closing order to compare."),))
    co = read_json(p)
    if not co.get("plan_phases"):
        return Section(SECTION_TITLES[6], (Para(str(co.get("note") or "The plan closes no base.")),))
    names = src.base_names

    def who(ids: list[str]) -> str:
        return ", ".join(names.get(b, b) for b in ids) or "–"

    rows = tuple((str(k), who(a), _f2(pc), who(b), _f2(sc)) for k, (a, pc, b, sc) in enumerate(
        zip(co["plan_phases"], co["plan_curve"], co["suggested_phases"], co["suggested_curve"], strict=True), start=1))
    blocks: list = [
        Para(f"Closing the same bases in the suggested order gives a cumulative vacuum of "
             f"{_f2(co['suggested_cumulative_vacuum'])} against the plan's {_f2(co['plan_cumulative_vacuum'])} "
             f"({fmt_number(co.get('improvement_pct'), 1)} % lower; lower is better)."),
        Table(("Step", "Plan closes", "Vacuum after", "Suggested closes", "Vacuum after"), rows,
              str(co.get("measure", "")), (True, False, True, False, True))]
    mc = co.get("maximal_covering") or {}
    if "overlap_with_plan" in mc:
        blocks.append(Para(f"Cross-check (maximal covering): the bases it would keep overlap the plan's by "
                           f"{fmt_number(100 * mc['overlap_with_plan'], 0)} % and the greedy order's by "
                           f"{fmt_number(100 * mc['overlap_with_greedy'], 0)} %.", "note"))
    return Section(SECTION_TITLES[6], tuple(blocks))


def _f2(v: Any) -> str:
    return fmt_number(v, 2)


def _effect(src: BriefSources) -> Section:
    if src.scenario is None:
        return Section(SECTION_TITLES[7], (Para("No withdrawal plan given: no withdrawal effect to bound."),))
    blocks: list = []
    for ph in src.scenario.phases:
        ec = ph.extra.get("expected_change") or {}
        if ec.get("status") != "computed":
            blocks.append(Para(f"{ph.label}: {ec.get('note') or 'no expected change computed (no effect estimate)'}."))
            continue
        rows = tuple((_AREAS.get(str(a["area"]), str(a["area"])), fmt_number(a.get("area_km2")),
                      fmt_number(a.get("baseline_events"), 1),
                      f"{_pct(a.get('relative_low'))} / {_pct(a.get('relative_central'))} / {_pct(a.get('relative_high'))}",
                      f"{_signed(a.get('low'))} / {_signed(a.get('central'))} / {_signed(a.get('high'))}")
                     for a in ec.get("areas", []))
        weak = ", a weak estimate" if ec.get("weak") else ""
        blocks.append(Para(f"{ph.label} (source: {ec.get('source', '–')}{weak}):"))
        blocks.append(Table(("Area", "km²", f"Events in the {ec.get('months', 12)} months before",
                             "Relative change low / central / high", "Change in events low / central / high"), rows,
                            numeric=(False, True, True, True, True)))
    srcs = {str(ph.extra.get("expected_change", {}).get("citation")) for ph in src.scenario.phases
            if ph.extra.get("expected_change", {}).get("citation")}
    blocks += [Para(c, "note") for c in sorted(srcs)]
    return Section(SECTION_TITLES[7], tuple(blocks))


_AREAS = {"lost_cover": "where cover is lost", "15-30km": "ring 15–30 km", "30-60km": "ring 30–60 km"}


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):+.0f} %"


def _signed(v: Any) -> str:
    return "–" if v is None or not np.isfinite(float(v)) else f"{float(v):+.1f}"


def _param_text(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_param_text(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return "/".join(_param_text(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _provenance(src: BriefSources) -> Section:
    s = src.summary
    g = s.get("grid", {})
    rows = [("Analysis as of", str(s.get("as_of", "–"))), ("Executor", str(s.get("executor", "–"))),
            ("Grid", f"{fmt_number(g.get('width'))} × {fmt_number(g.get('height'))} cells of "
                     f"{fmt_number(g.get('resolution_m'))} m; {fmt_number(g.get('cells_in_area'))} in the area")]
    for key in ("input_hashes", "inputs", "hashes"):
        if isinstance(s.get(key), dict):
            rows += [(f"Input {k}", _param_text(v)) for k, v in s[key].items()]
            break
    else:
        rows.append(("Input hashes", "not recorded by the analysis that wrote this folder"))
    rows.append(("Code (analysis)", str(s.get("version") or s.get("code_version") or "not recorded")))
    rows.append(("Code (briefing)", code_version()))
    if src.scenario is not None:
        sc = src.scenario.summary
        rows += [("Plan", str(sc.get("plan", src.scenario.name))),
                 ("Cover threshold", fmt_number(sc.get("cover_threshold"), 2))]
        if isinstance(sc.get("request"), dict) and sc["request"].get("job"):
            rows.append(("Scenario job", str(sc["request"]["job"])))
    params = tuple((k, _param_text(v)) for k, v in (s.get("params") or {}).items())
    return Section(SECTION_TITLES[8], (Table(("", ""), tuple(rows)),
                                       Table(("Parameter", "Value"), params, "model parameters (docs/model.md)")))


def build_briefing(analysis_dir: str | os.PathLike[str], scenario_dir: str | os.PathLike[str] | None = None,
                   *, public: bool = False) -> Briefing:
    """The briefing of an analysis (and a scenario run on it); ``public``: the viewer-safe one."""
    src = load_sources(analysis_dir, scenario_dir, public=public)
    views = phase_views(src)
    sections = (_situation(src), _maps(src, views), _admin_section(src, views), _benchmarks(src),
                _losing_cover(src), _criticality(src), _closing_order(src), _effect(src), _provenance(src))
    missions = ", ".join(src.folder.missions()) if not public else ""
    head = f"{missions}: " if missions else ""
    what = f"withdrawal plan “{src.scenario.name}”" if src.scenario is not None else "protection gap"
    return Briefing(title=f"{head}Briefing on the {what}",
                    subtitle=f"as of {src.folder.as_of}" + (" · viewer-safe (no base positions)" if public else ""),
                    sections=sections, public=public,
                    meta={"as_of": src.folder.as_of, "made_with": code_version()})
