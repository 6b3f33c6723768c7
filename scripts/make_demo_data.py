"""Build data/minusca/ from ../shared/data (run once; the output is committed).

MINUSCA's deployment on its latest Geo-PKO v2.1 map (Map no. 4522 Rev. 19,
October 2020) with the UCDP GED 23.1 events from 2009 to that date (the look-back
window is two years; the forecast trains on the years before it),
and the other layers clipped to the Central African Republic plus a margin.
Values are copied unchanged; only rows and windows are selected.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
from rasterio.windows import from_bounds

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OUT = Path(__file__).resolve().parents[1] / "data" / "minusca"
MAP = "Map no. 4522 Rev. 19"
AS_OF = pd.Timestamp("2020-10-31")
START = pd.Timestamp("2009-01-01")
MARGIN_DEG = 1.0


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    pko = pd.read_csv(SHARED / "geo_pko/geo_pko_v2.1_mli_cod_caf_ssd.csv", dtype=str, keep_default_na=False)
    bases = pko[(pko["mission"] == "MINUSCA") & (pko["source"] == MAP)]
    bases.to_csv(OUT / "bases_geopko_v2.1.csv", index=False)

    ged = pd.read_csv(SHARED / "ucdp_ged/ged_v23_1_caf_events.csv", dtype=str, keep_default_na=False)
    d = pd.to_datetime(ged["date_start"])
    ged[(d >= START) & (d <= AS_OF + pd.Timedelta(hours=23))].to_csv(OUT / "events_ged_v23.1.csv", index=False)

    admin = gpd.read_file(SHARED / "boundaries/ne_admin1_mli_cod_caf_ssd.geojson")
    admin = admin[admin["iso3"] == "CAF"]
    admin.to_file(OUT / "admin1_naturalearth.geojson", driver="GeoJSON")
    w, s, e, n = admin.total_bounds
    bbox = (w - MARGIN_DEG, s - MARGIN_DEG, e + MARGIN_DEG, n + MARGIN_DEG)

    towns = pd.read_csv(SHARED / "places/geonames_cities500_mli_cod_caf_ssd.csv", dtype=str, keep_default_na=False)
    towns[towns["countrycode"] == "CF"].to_csv(OUT / "towns_geonames.csv", index=False)
    air = pd.read_csv(SHARED / "airports/ourairports_africa_2021snapshot_mli_cod_caf_ssd.csv", dtype=str, keep_default_na=False)
    air[air["iso_country"] == "CF"].to_csv(OUT / "airports_ourairports.csv", index=False)

    roads = gpd.read_file(SHARED / "roads/trans_african_highway_network_afrilearndata.geojson")
    roads = roads[roads.intersects(gpd.GeoSeries.from_xy([bbox[0], bbox[2]], [bbox[1], bbox[3]]).union_all().envelope)]
    roads.to_file(OUT / "roads_trans_african_highway.geojson", driver="GeoJSON")

    with rasterio.open(SHARED / "population/worldpop2020_africa_20km_mean_density_afrilearndata.tif") as src:
        win = from_bounds(*bbox, src.transform).round_offsets().round_lengths()
        prof = src.profile | {"width": win.width, "height": win.height, "transform": src.window_transform(win)}
        data = src.read(1, window=win)
    with rasterio.open(OUT / "population_worldpop2020_density.tif", "w", **prof) as dst:
        dst.write(data, 1)
    print(f"bases {len(bases)}, events {((d >= START) & (d <= AS_OF)).sum()}, admin {len(admin)}, roads {len(roads)}, "
          f"population window {win.width}x{win.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
