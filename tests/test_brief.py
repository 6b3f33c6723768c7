"""The commander's briefing (maps.brief, `vacuum brief`): every section, PDF and self-contained
HTML, a map per phase, numbers as the folders hold them, and a viewer-safe variant that
neither draws nor names a base."""

from __future__ import annotations

import io
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from brief_case import make_small_case
from PIL import Image
from pypdf import PdfReader

from cli.main import main
from maps.brief import SECTION_TITLES, build_briefing, render_html, render_pdf, write_briefing
from maps.brief.document import Figure, Table
from maps.brief.figures import display_step, nice_scale_km
from maps.errors import MapError

BASE_COLOR_RGB = (0x1F, 0x78, 0xB4)  # maps.style.BASE_COLOR, the open bases' fill


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_small_case(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def small_brief(small):
    return build_briefing(small / "analysis", small / "scenario")


@pytest.fixture(scope="module")
def small_html(small_brief):
    return render_html(small_brief)


def _section(brief, title):
    return next(s for s in brief.sections if s.title == title)


def _pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def _base_pixels(png: bytes) -> int:
    im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return int((im == np.array(BASE_COLOR_RGB, dtype=np.uint8)).all(axis=2).sum())


# ---------------------------------------------------------------- pure helpers, by hand


def test_scale_bar_is_a_round_length_near_a_quarter_of_the_map():
    assert nice_scale_km(1547.0) == 200  # a quarter is 386.75 km: 200 is the longest 1/2/5 x 10^k below it
    assert nice_scale_km(80.0) == 20  # a quarter is exactly 20
    assert nice_scale_km(7.0) == 1  # 1.75 -> 1
    with pytest.raises(ValueError, match="width"):
        nice_scale_km(0.0)


def test_display_step_keeps_the_longer_side_within_the_limit():
    assert display_step((1068, 1547), 900) == 2  # 1547 / 900 = 1.7 -> every 2nd cell
    assert display_step((40, 80), 900) == 1


# ---------------------------------------------------------------- the scenario briefing


def test_every_section_in_order_in_both_formats(small_brief, small_html):
    assert tuple(s.title for s in small_brief.sections) == SECTION_TITLES
    page = small_html
    heads = re.findall(r"<h2>\d+\. ([^<]+)</h2>", page)
    assert tuple(heads) == SECTION_TITLES
    pages, text = _pdf_text(render_pdf(small_brief))
    assert pages >= 2
    for title in SECTION_TITLES:
        assert title in text, title


def test_a_map_per_phase_and_the_baseline(small, small_brief):
    phases = json.loads((small / "scenario" / "summary.json").read_text())["phases"]
    figs = [b for b in _section(small_brief, "Maps by phase").blocks if isinstance(b, Figure)]
    assert len(figs) == len(phases) + 1
    assert figs[0].caption.startswith("Now (2020-07-01)")
    assert [f.caption.split(":")[0] for f in figs[1:]] == ["Phase 1", "Phase 2"]
    # bases drawn: the planner's map has the open bases' blue
    assert _base_pixels(figs[0].png) > 0


def test_people_losing_cover_and_benchmarks_come_from_the_folders(small, small_brief):
    phases = json.loads((small / "scenario" / "summary.json").read_text())["phases"]
    t = next(b for b in _section(small_brief, "People and sites losing cover").blocks if isinstance(b, Table))
    assert [r[1] for r in t.rows] == [f"{round(p['population_losing_cover']):,}" for p in phases]
    assert [r[0] for r in t.rows] == ["1 (2021-01-31)", "2 (2021-06-30)"]
    bench = _section(small_brief, "Benchmarks")
    assert bench.blocks[0].text == "1 of 2 benchmark conditions pass."
    assert [r[-1] for r in bench.blocks[1].rows] == ["PASS", "FAIL"]
    assert [r[3] for r in bench.blocks[1].rows] == ["<= 50,000", "<= 0.00"]  # people whole, others 2 decimals
    assert bench.blocks[2].items == ("Phase 1 (East first): GO", "Phase 2 (Then the west): HOLD — new_zones_count 1 > 0")


def test_criticality_and_closing_order_name_the_bases(small, small_brief):
    crit = pd.read_csv(small / "scenario" / "base_criticality.csv")
    t = next(b for b in _section(small_brief, "Base criticality").blocks if isinstance(b, Table))
    assert t.rows[0][1] == crit.sort_values("rank").iloc[0]["name"]
    co = next(b for b in _section(small_brief, "Suggested closing order").blocks if isinstance(b, Table))
    assert [r[1] for r in co.rows] == ["Mike", "Kilo"]  # the plan's order, one closure per phase


def test_html_is_self_contained(small_html):
    page = small_html
    assert page.startswith("<!DOCTYPE html>") and "<title>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    srcs = re.findall(r"""src="([^"]+)\"""", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in page and "<script" not in page


def test_cli_writes_pdf_and_refuses_what_it_cannot_do(small, tmp_path, capsys):
    out = tmp_path / "brief.pdf"
    assert main(["brief", "--analysis", str(small / "analysis"), "--scenario", str(small / "scenario"),
                 "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert _pdf_text(data)[0] >= 2
    assert main(["brief", "--analysis", str(small / "analysis"), "--out", str(tmp_path / "brief.docx")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["brief", "--analysis", str(small / "analysis"), "--scenario", str(small / "scenario"),
                 "--public", "--out", str(tmp_path / "p.html")]) == 2
    assert "drop one of the two" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()


@pytest.mark.slow
def test_a_scenario_of_another_analysis_is_refused(small, demo_analysis):
    with pytest.raises(MapError, match="Mike"):
        build_briefing(demo_analysis, small / "scenario")


# ---------------------------------------------------------------- the demo analysis, and its public variant


@pytest.mark.slow
def test_demo_briefing_without_scenario_says_why_sections_are_empty(demo_analysis):
    brief = build_briefing(demo_analysis)
    assert tuple(s.title for s in brief.sections) == SECTION_TITLES
    summary = json.loads((demo_analysis / "summary.json").read_text())
    situation = render_html(brief).split('<section id="s2">')[0]
    assert f"As of {summary['as_of']}" in situation
    for w in summary["warnings"]:
        assert f"Warning: {w}" in [getattr(b, "text", "") for b in brief.sections[0].blocks]
    assert _section(brief, "Benchmarks").blocks[0].text.startswith("No withdrawal plan given")
    figs = [b for b in _section(brief, "Maps by phase").blocks if isinstance(b, Figure)]
    assert len(figs) == 1


@pytest.mark.slow
def test_public_briefing_neither_draws_nor_names_a_base(demo_analysis, tmp_path):
    bases = gpd.read_file(demo_analysis / "bases.geojson")
    admin_names = set(gpd.read_file(demo_analysis / "admin_summary.geojson")["name"])
    names = [n for n in bases["name"] if n not in admin_names]  # "Bangui" is a prefecture too
    assert len(names) >= 15
    brief = build_briefing(demo_analysis, public=True)
    page = write_briefing(brief, tmp_path / "public.html").read_text(encoding="utf-8")
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # the figures: checked by their pixels below
    _, pdf_text = _pdf_text(write_briefing(brief, tmp_path / "public.pdf").read_bytes())
    for text in (page, pdf_text):
        for n in names:
            assert not re.search(rf"\b{re.escape(n)}\b", text), n
        for g in bases.geometry:
            for d in (3, 4):
                assert f"{g.x:.{d}f}" not in text and f"{g.y:.{d}f}" not in text
    figs = [b for b in _section(brief, "Maps by phase").blocks if isinstance(b, Figure)]
    assert figs and all(_base_pixels(f.png) == 0 for f in figs)
    assert "viewer-safe" in brief.subtitle
