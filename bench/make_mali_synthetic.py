"""Layers for the Mali-sized benchmark: real area, synthetic forces, events and roads.

Real: Mali's 9 Natural Earth admin-1 regions (1.25 M km²), the GeoNames towns of Mali
(anchors for everything else) and the WorldPop 2020 density grid. Synthetic, at
realistic densities (seeded):

- 100 bases: at the 40 largest towns (battalion or company) and 60 villages near them
  (companies, platoons, observer sites); unit types in Geo-PKO proportions.
- 20,000 events over the two years before the as-of date, clustered around towns and
  along roads (70%) and scattered (30%), GED types and fatalities.
- A national road network: a minimum spanning tree over towns and 600 villages plus
  each place's three nearest neighbours, classed trunk / primary / secondary / tertiary /
  track by the size of the places it joins (~36,000 km of road). ``--grid-roads-km 25``
  adds a lattice of tertiary roads every 25 km (a stress case: every base reaches far).

    python bench/make_mali_synthetic.py OUT_DIR [--grid-roads-km 25]
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
AS_OF = pd.Timestamp("2020-06-30")


def main(out: Path, seed: int = 42, grid_roads_km: float = 0.0) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    admin = gpd.read_file(SHARED / "boundaries/ne_admin1_mli_cod_caf_ssd.geojson")
    admin = admin[admin["iso3"] == "MLI"]
    admin.to_file(out / "admin.geojson", driver="GeoJSON")
    towns = pd.read_csv(SHARED / "places/geonames_cities500_mli_cod_caf_ssd.csv")
    towns = towns[towns["countrycode"] == "ML"].reset_index(drop=True)
    crs = "+proj=laea +lat_0=17 +lon_0=-4 +datum=WGS84 +units=m"
    area = admin.to_crs(crs).union_all()
    tg = gpd.GeoDataFrame(towns, geometry=gpd.points_from_xy(towns.longitude, towns.latitude), crs=4326).to_crs(crs)

    # villages: around towns (south-heavy like Mali's population), inside the country
    vill = []
    while len(vill) < 600:
        t = tg.geometry.iloc[rng.integers(len(tg))]
        p = Point(t.x + rng.normal(0, 60_000), t.y + rng.normal(0, 60_000))
        if area.contains(p):
            vill.append(p)
    places = np.array([[p.x, p.y] for p in list(tg.geometry) + vill])
    size = np.concatenate([tg["population"].to_numpy(float), rng.integers(500, 5000, len(vill))])

    # roads: MST + 2 nearest neighbours
    tree = cKDTree(places)
    _, nn = tree.query(places, k=4)
    pairs = {tuple(sorted((i, j))) for i in range(len(places)) for j in nn[i, 1:4]}
    d = np.hypot(*(places[:, None, :] - places[None, :, :]).transpose(2, 0, 1))
    mst = minimum_spanning_tree(d).tocoo()
    pairs |= {tuple(sorted((int(i), int(j)))) for i, j in zip(mst.row, mst.col, strict=True)}
    lines, classes = [], []
    for i, j in pairs:
        a, b = places[i], places[j]
        mid = (a + b) / 2 + rng.normal(0, 0.08 * np.hypot(*(a - b)), 2)  # a bend
        lines.append(LineString([a, mid, b]))
        m = min(size[i], size[j])
        classes.append("trunk" if m > 50_000 else "primary" if m > 15_000 else "secondary" if m > 5_000
                       else "tertiary" if m > 2_000 else "track")
    if grid_roads_km > 0:  # stress case: a lattice of tertiary roads over the whole country
        minx, miny, maxx, maxy = area.bounds
        step = grid_roads_km * 1000
        for x in np.arange(minx, maxx, step):
            lines.append(LineString([(x, miny), (x, maxy)]))
            classes.append("tertiary")
        for y in np.arange(miny, maxy, step):
            lines.append(LineString([(minx, y), (maxx, y)]))
            classes.append("tertiary")
    roads = gpd.GeoDataFrame({"highway": classes}, geometry=lines, crs=crs)
    roads.to_crs(4326).to_file(out / "roads.geojson", driver="GeoJSON")

    # bases
    big = tg.nlargest(40, "population")
    pts = list(big.geometry) + [vill[k] for k in rng.choice(len(vill), 60, replace=False)]
    troops = np.concatenate([rng.choice([650, 800, 1100, 150], 40, p=[0.4, 0.2, 0.2, 0.2]),
                             rng.choice([150, 35, 0], 60, p=[0.5, 0.3, 0.2])])
    utype = np.where(troops >= 650, rng.choice(["infantry", "quick_reaction"], 100, p=[0.8, 0.2]),
                     np.where(troops > 0, "infantry", "observer"))
    bases = gpd.GeoDataFrame({"base_id": [f"B{i:03d}" for i in range(100)], "name": [f"site {i}" for i in range(100)],
                              "strength": troops, "unit_type": utype}, geometry=pts, crs=crs).to_crs(4326)
    bases.to_file(out / "bases.geojson", driver="GeoJSON")

    # events
    n = 26_000  # drawn over the bbox, ~20,000 fall inside the country and are kept
    n_cl = int(n * 0.7)
    anchors = places[rng.integers(len(places), size=n_cl)]
    xy = anchors + rng.normal(0, 25_000, (n_cl, 2))
    minx, miny, maxx, maxy = area.bounds
    xy = np.vstack([xy, np.column_stack([rng.uniform(minx, maxx, n - n_cl), rng.uniform(miny, maxy, n - n_cl)])])
    days = rng.integers(0, 730, n)
    ev = gpd.GeoDataFrame({
        "event_id": np.arange(n).astype(str),
        "date": (AS_OF - pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
        "event_type": rng.choice(["state_based", "non_state", "one_sided"], n, p=[0.3, 0.2, 0.5]),
        "fatalities": rng.negative_binomial(1, 0.3, n),
    }, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs).to_crs(4326)
    ev = ev[ev.within(admin.union_all())].iloc[:20_000]
    ev.to_file(out / "events.geojson", driver="GeoJSON")
    km = roads.length.sum() / 1000
    print(f"admin {len(admin)} units {area.area / 1e6:,.0f} km²; bases {len(bases)}; events {len(ev)}; "
          f"roads {len(roads)} segments {km:,.0f} km")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path, nargs="?", default=Path("out/bench_mali"))
    ap.add_argument("--grid-roads-km", type=float, default=0.0,
                    help="add a lattice of tertiary roads this far apart (stress case)")
    a = ap.parse_args()
    main(a.out, grid_roads_km=a.grid_roads_km)
