"""Regenerate the map screenshots in docs/img/ from the demo analysis.

    .venv/bin/python docs/img/make_screenshots.py [--analysis out/demo] [--scenario DIR] [--criticality FILE]

Writes the standalone maps to out/maps/ and renders each in headless Chromium
(Debian: ``apt-get install chromium``) at 1400x900, with no network: what a user
sees offline. Without ``--scenario`` a FAKE two-phase scenario is made from the
analysis' own coverage model (bases closed, coverage recomputed, need kept); without
``--criticality`` a FAKE criticality (troop strength / 100) stands in. Pass the real
products (``vacuum scenario --out DIR``: DIR and DIR/base_criticality.geojson) to
replace them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from geo.coverage import coverage_from_intensity  # noqa: E402
from geo.products import load_coverage_model  # noqa: E402
from geo.rasters import read_surface, write_cog  # noqa: E402
from geo.zones import vacuum_zones  # noqa: E402
from maps import criticality_map, operations_map, save_html, scenario_map  # noqa: E402

IMG = ROOT / "docs" / "img"
FAKE_PHASES = [
    {"name": "Drawdown west", "date": "2021-03-31", "closed": ["MINUSCA:bouar", "MINUSCA:berberati"]},
    {"name": "Drawdown centre", "date": "2021-09-30",
     "closed": ["MINUSCA:kaga-bandoro", "MINUSCA:bria", "MINUSCA:ndele"]},
]


def fake_scenario(analysis: Path, out: Path) -> Path:
    """Phases of closures; gap after = 100 * need * (1 - coverage without the closed bases)."""
    gap, grid = read_surface(analysis / "gap.tif")
    cov0, _ = read_surface(analysis / "coverage.tif")
    pop, _ = read_surface(analysis / "population.tif")
    model, _ = load_coverage_model(analysis / "model")
    need = gap / (100.0 * (1.0 - cov0))
    zones_before = gpd.read_file(analysis / "zones.geojson").to_crs(grid.crs)
    closed: list[str] = []
    for k, ph in enumerate(FAKE_PHASES, start=1):
        closed += ph["closed"]
        cov = coverage_from_intensity(model.intensity_without(closed)).astype(np.float32)
        after = (100.0 * need * (1.0 - cov)).astype(np.float32)
        d = out / f"phase_{k}"
        d.mkdir(parents=True, exist_ok=True)
        write_cog(d / "gap.tif", after, grid)
        write_cog(d / "gap_delta.tif", after - gap, grid)
        write_cog(d / "coverage_delta.tif", np.where(np.isnan(gap), np.nan, cov - cov0).astype(np.float32), grid)
        zones = vacuum_zones(after, grid, threshold=60.0, min_area_km2=25.0, population=np.nan_to_num(pop))
        new = zones[~zones.intersects(zones_before.union_all())]
        new.to_crs(4326).to_file(d / "new_zones.geojson", driver="GeoJSON")
        zones_before = zones
    (out / "summary.json").write_text(json.dumps({"name": "FAKE two-phase drawdown (illustration)",
                                                  "phases": FAKE_PHASES}))
    return out


def fake_criticality(analysis: Path, out: Path) -> Path:
    """FAKE: criticality = troop strength / 100 (not a model result)."""
    bases = gpd.read_file(analysis / "bases.geojson")
    bases[["base_id", "geometry"]].assign(criticality=bases["strength"].clip(lower=35) / 100.0).to_file(
        out, driver="GeoJSON")
    return out


def screenshot(html: Path, png: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--user-data-dir={profile}", "--window-size=1400,900", "--virtual-time-budget=8000",
                        f"--screenshot={png}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=180)
    print(f"{png.relative_to(ROOT)}  <- {html} ({html.stat().st_size / 1e6:.2f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analysis", type=Path, default=ROOT / "out" / "demo")
    ap.add_argument("--scenario", type=Path)
    ap.add_argument("--criticality", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "maps")
    a = ap.parse_args()
    if not (a.analysis / "summary.json").is_file():
        raise SystemExit(f"{a.analysis}: run `.venv/bin/vacuum demo --out {a.analysis}` first")
    a.out.mkdir(parents=True, exist_ok=True)
    scen = a.scenario or fake_scenario(a.analysis, a.out / "fake_scenario")
    crit = a.criticality or fake_criticality(a.analysis, a.out / "fake_criticality.geojson")
    maps = {
        "operations_map": operations_map(a.analysis),
        "scenario_map": scenario_map(a.analysis, scen),
        "criticality_map": criticality_map(a.analysis, crit,
                                           label=None if a.criticality else "FAKE criticality (strength)"),
    }
    for name, m in maps.items():
        html = save_html(m, a.out / f"{name}.html")
        screenshot(html, IMG / f"{name}.png")


if __name__ == "__main__":
    main()
