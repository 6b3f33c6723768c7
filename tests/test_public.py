"""geo.public by hand: block means, the edge rule, zone blocks; the public folder and export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geo.errors import GridError
from geo.public import (
    block_cells,
    block_ids,
    block_mean,
    block_sum,
    public_gap,
    public_summary,
    public_zone_blocks,
)

NAN = np.nan


def test_block_cells_rounds_up_and_refuses_small_blocks():
    assert block_cells(1000, 100) == 100
    assert block_cells(5000, 100) == 20
    assert block_cells(3000, 100) == 34  # 33.3 cells: whole cells covering 100 km
    with pytest.raises(GridError, match="at least 25 km"):
        block_cells(1000, 10)


def test_block_mean_by_hand():
    a = np.array([[1.0, 3.0, 10.0],
                  [5.0, 7.0, NAN],
                  [2.0, NAN, 4.0]])
    # blocks of 2: [[1,3],[5,7]] -> 4; [[10],[nan]] -> 10; [[2, nan]] -> 2; [[4]] -> 4
    np.testing.assert_array_equal(block_mean(a, 2, per_block=True), [[4.0, 10.0], [2.0, 4.0]])
    np.testing.assert_array_equal(block_mean(a, 2), [[4, 4, 10], [4, 4, NAN], [2, NAN, 4]])
    np.testing.assert_array_equal(block_sum(a, 2), [[16.0, 10.0], [2.0, 4.0]])
    np.testing.assert_array_equal(block_ids((3, 3), 2), [[0, 0, 1], [0, 0, 1], [2, 2, 3]])
    assert np.isnan(block_mean(np.full((2, 2), NAN), 2, per_block=True)).all()


def test_public_gap_merges_edge_blocks_with_their_neighbours():
    g = np.full((4, 6), 10.0)
    g[:2, :2] = 40.0
    g[2:, 4:] = NAN
    g[2, 4] = 90.0  # one cell of its block inside: a strip along the edge
    out = public_gap(g, 2)
    # whole blocks keep their own mean
    assert out[0, 0] == 40.0 and out[0, 2] == 10.0 and out[3, 0] == 10.0
    # the edge block (1 of 4 cells inside) takes the mean over the inside cells of its 3x3 blocks:
    # blocks (0,1), (0,2), (1,1), (1,2) hold 4 + 4 + 4 + 1 cells: (4*10 + 4*10 + 4*10 + 90) / 13
    assert out[2, 4] == pytest.approx((120 + 90) / 13)
    assert np.isnan(out[3, 5]) and np.isnan(out[2, 5])  # outside stays outside
    assert g[2, 4] == 90.0  # input untouched


def test_public_gap_is_block_constant_and_hides_a_dip():
    g = np.full((10, 10), 50.0)
    g[2, 3] = 0.0  # a covered cell (a base)
    out = public_gap(g, 5)
    assert np.unique(out[:5, :5]).tolist() == [pytest.approx(50.0 * 24 / 25)]
    assert (out[5:, :] == 50.0).all() and (out[:5, 5:] == 50.0).all()


def test_zone_blocks_give_block_totals_only():
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = mask[0, 1] = mask[3, 3] = True
    pop = np.arange(16, dtype=float).reshape(4, 4)
    gap = np.full((4, 4), 30.0)
    rows = public_zone_blocks(mask, gap, pop, 2, cell_area_km2=25.0)
    assert rows == [
        {"block_row": 0, "block_col": 0, "zone_area_km2": 50.0, "zone_population": 1, "block_gap": 30.0},
        {"block_row": 1, "block_col": 1, "zone_area_km2": 25.0, "zone_population": 15, "block_gap": 30.0},
    ]


def test_public_summary_drops_base_lists():
    s = {"layers": {"bases": 3, "bases_outside_grid": ["MINUSCA:x"], "mean_cells_reached_per_force": 10.0}}
    assert public_summary(s) == {"layers": {"bases": 3, "bases_outside_grid": 1}}
    assert s["layers"]["bases_outside_grid"] == ["MINUSCA:x"]


def test_demo_folder_has_public_products_and_the_export_only_those(demo_analysis, tmp_path):
    import geopandas as gpd
    import rasterio

    from geo.rasters import read_surface

    pub = demo_analysis / "public"
    meta = json.loads((pub / "public.json").read_text())
    assert meta["block_km"] == 150 and meta["block_cells"] == 150  # 150 km at 1 km (docs/service.md)
    gap, grid = read_surface(demo_analysis / "gap.tif")
    g_pub, grid_pub = read_surface(pub / "gap.tif")
    assert grid_pub == grid and np.array_equal(np.isnan(g_pub), np.isnan(gap))
    # a whole block by hand: the first block of 150 x 150 cells all inside, its plain mean
    b = 150
    i, j = next((i, j) for i in range(0, gap.shape[0] - b + 1, b) for j in range(0, gap.shape[1] - b + 1, b)
                if np.isfinite(gap[i:i + b, j:j + b]).all())
    assert g_pub[i + b // 2, j + b // 2] == pytest.approx(float(np.mean(gap[i:i + b, j:j + b], dtype=np.float64)),
                                                          rel=1e-5)
    assert (g_pub[i:i + b, j:j + b] == g_pub[i, j]).all()
    zones = gpd.read_file(pub / "zones.geojson")
    assert set(zones.columns) == {"block_row", "block_col", "zone_area_km2", "zone_population", "block_gap",
                                  "gap_class", "geometry"}
    full_zones = gpd.read_file(demo_analysis / "zones.geojson")
    assert zones["zone_area_km2"].sum() == pytest.approx(full_zones["area_km2"].sum(), rel=0.02)

    from cli.main import main

    out = tmp_path / "pub"
    assert main(["export", "--public", str(demo_analysis), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "admin_summary.csv", "admin_summary.geojson", "admin_summary.gpkg", "exposure.tif", "gap_public.tif",
        "population.tif", "public.gpkg", "risk.tif", "summary.json", "threat.tif", "zones.geojson", "zones.gpkg"]
    with rasterio.open(out / "gap_public.tif") as ds:
        assert ds.read(1)[i, j] == pytest.approx(g_pub[i, j])
    assert isinstance(json.loads((out / "summary.json").read_text())["layers"]["bases_outside_grid"], int)
    for name in ("zones.geojson", "admin_summary.geojson", "summary.json"):
        assert "MINUSCA:" not in (out / name).read_text()
    assert main(["export", "--public", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_write_public_again_replaces_the_folder_whole(demo_analysis, tmp_path):
    import shutil

    from geo.public import ensure_public, write_public

    folder = tmp_path / "a"
    shutil.copytree(demo_analysis, folder)
    shutil.rmtree(folder / "public")
    assert (ensure_public(folder) / "public.json").is_file()  # an older folder gets it on first use
    before = (folder / "public" / "gap.tif").stat().st_ino
    write_public(folder)
    assert (folder / "public" / "gap.tif").stat().st_ino != before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # nothing left aside
