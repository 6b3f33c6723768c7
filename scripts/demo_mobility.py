"""What air mobility and rivers change on the bundled demo (MINUSCA, October 2020).

    PYTHONPATH=. .venv/bin/python scripts/demo_mobility.py [--hydro ../shared/data/hydro]

Runs the demo analysis four ways (ground only; air; rivers and lakes; both) and prints
the cells and people whose coverage changes, the figures quoted in docs/model.md.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from geo import layers as L
from geo.params import load_params
from geo.pipeline import AnalysisInputs, analyze

DEMO = Path(__file__).resolve().parents[1] / "data" / "minusca"
AS_OF = date(2020, 10, 31)


def inputs(hydro: Path | None) -> AnalysisInputs:
    towns = L.load_sites(DEMO / "towns_geonames.csv", kind="town")
    airports = L.load_sites(DEMO / "airports_ourairports.csv", kind="airport")
    water = None
    if hydro is not None:
        rivers = L.load_water(hydro / "ne_10m_rivers_lake_centerlines_mli_cod_caf_ssd.geojson")
        lakes = L.load_water(hydro / "ne_10m_lakes_mli_cod_caf_ssd.geojson", kind="lake")
        water = pd.concat([rivers, lakes.to_crs(rivers.crs)], ignore_index=True)
    return AnalysisInputs(
        bases=L.load_bases(DEMO / "bases_geopko_v2.1.csv", as_of=AS_OF),
        events=L.load_events(DEMO / "events_ged_v23.1.csv"),
        roads=L.load_roads(DEMO / "roads_trans_african_highway.geojson"),
        sites=pd.concat([towns, airports.to_crs(towns.crs)], ignore_index=True),
        admin=L.load_admin(DEMO / "admin1_naturalearth.geojson"), water=water,
        population_path=DEMO / "population_worldpop2020_density.tif", population_units="density")


def compare(name: str, a, b) -> None:
    ins, pop = a.inside, a.surfaces["population"]
    c0, c1 = a.surfaces["coverage"], b.surfaces["coverage"]
    changed = ins & (np.abs(c1 - c0) > 1e-6)
    up, down = ins & (c0 < 0.5) & (c1 >= 0.5), ins & (c0 >= 0.5) & (c1 < 0.5)
    t0, t1 = (np.nan_to_num(s.surfaces["travel_time"], nan=np.inf) for s in (a, b))
    print(f"{name}: cells in the area {int(ins.sum())}; coverage changes in {int(changed.sum())} cells "
          f"({np.nansum(pop[changed]):,.0f} people); crosses 0.5 upward in {int(up.sum())} cells "
          f"({np.nansum(pop[up]):,.0f} people), downward in {int(down.sum())} ({np.nansum(pop[down]):,.0f}); "
          f"nearest base faster in {int((ins & (t1 < t0)).sum())} cells, slower in {int((ins & (t1 > t0)).sum())}; "
          f"coverage mean {a.summary['coverage_mean']} -> {b.summary['coverage_mean']}; "
          f"zones {a.summary['zones']['count']} -> {b.summary['zones']['count']}; people at high or critical gap "
          f"{sum(a.summary['gap']['by_class'][k]['population'] for k in ('high', 'critical')):,.0f} -> "
          f"{sum(b.summary['gap']['by_class'][k]['population'] for k in ('high', 'critical')):,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hydro", type=Path, default=DEMO.parents[2] / "shared" / "data" / "hydro")
    args = ap.parse_args()
    params = load_params(DEMO / "demo.toml", air_mobility="auto")
    ground = analyze(inputs(None), params.updated(air_mobility="off"), AS_OF)
    air = analyze(inputs(None), params, AS_OF)
    print(air.air.drop(columns="geometry").to_string(index=False))
    compare("air (air_mobility = auto, the other air parameters at their defaults) vs ground only", ground, air)
    if args.hydro.is_dir():
        wet = analyze(inputs(args.hydro), params.updated(air_mobility="off"), AS_OF)
        print(f"rivers and lakes: {int((wet.inside & ~np.isfinite(wet.cost_h)).sum())} cells of the area impassable "
              f"(ground only: {int((ground.inside & ~np.isfinite(ground.cost_h)).sum())})")
        compare("rivers and lakes vs none (ground only)", ground, wet)
        both = analyze(inputs(args.hydro), params, AS_OF)
        compare("air and rivers vs ground only without rivers", ground, both)


if __name__ == "__main__":
    main()
