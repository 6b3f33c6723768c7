"""A small analysis and a two-phase scenario on it, made in code (test_brief, test_maps_fixes).

Three bases, Kilo (west), Lima (centre) and Mike (east), on an 80 x 40 km area of two admin
units; the plan closes Mike, then Kilo. ``benchmarks.json`` holds one condition met and one not
(phase 1 go, phase 2 hold).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from geo.grid import equal_area_crs
from geo.params import Params
from geo.pipeline import AnalysisInputs, analyze
from geo.plan import parse_plan
from geo.products import write_analysis
from geo.scenario import load_baseline
from geo.scenario_products import run_scenario

__all__ = ["CRS", "BASES", "AS_OF", "make_small_case"]

CRS = equal_area_crs(20.0, 6.0)
BASES = [("Kilo", 650, -25_000, 0), ("Lima", 650, 0, 5_000), ("Mike", 650, 25_000, 0)]
AS_OF = "2020-07-01"
AREA = gpd.GeoDataFrame({"admin_id": ["W", "E"], "name": ["West", "East"], "level": [1, 1], "parent": [None, None]},
                        geometry=[box(-40_000, -20_000, 0, 20_000), box(0, -20_000, 40_000, 20_000)], crs=CRS)
P = Params(resolution_m=1000, margin_km=0, offroad_speed_kmh=10, response_threshold_h=1, max_reach_h=2)


def make_small_case(root: Path) -> Path:
    """Write ``root/analysis`` and ``root/scenario``; returns ``root``."""
    bases = gpd.GeoDataFrame({"base_id": [b[0] for b in BASES], "name": [b[0] for b in BASES],
                              "strength": [float(b[1]) for b in BASES], "unit_type": ["infantry"] * 3,
                              "mission": ["M"] * 3}, geometry=[Point(b[2], b[3]) for b in BASES], crs=CRS)
    pts = [(-25_000, 6_000), (25_000, 6_000), (30_000, -5_000), (-30_000, 4_000)]
    events = gpd.GeoDataFrame({"event_id": [str(i) for i in range(len(pts))],
                               "date": pd.to_datetime(["2020-06-01"] * len(pts)),
                               "event_type": ["one_sided"] * len(pts), "fatalities": [3.0] * len(pts)},
                              geometry=[Point(*p) for p in pts], crs=CRS)
    a = analyze(AnalysisInputs(bases=bases, events=events, admin=AREA), P, pd.Timestamp(AS_OF).date())
    write_analysis(a, root / "analysis")
    plan = parse_plan({"name": "Two steps", "phases": [
        {"name": "East first", "date": "2021-01-31", "actions": [{"close": ["Mike"]}]},
        {"name": "Then the west", "date": "2021-06-30", "actions": [{"close": ["Kilo"]}]}]})
    run_scenario(load_baseline(root / "analysis"), plan, root / "scenario")
    # in the layout geo.scenario_benchmarks writes: per phase a status and its results
    (root / "scenario" / "benchmarks.json").write_text(json.dumps({"phases": [
        {"phase": 1, "name": "East first", "status": "go", "reasons": [], "results": [
            {"phase": 1, "condition": "population_losing_cover", "op": "<=", "threshold": 50000.0, "value": 0.0,
             "pass": True}]},
        {"phase": 2, "name": "Then the west", "status": "hold", "reasons": ["new_zones_count 1 > 0"], "results": [
            {"phase": 2, "condition": "new_zones_count", "op": "<=", "threshold": 0.0, "value": 1.0,
             "pass": False}]}], "enforced": None}))
    return root
