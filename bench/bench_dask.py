"""Benchmark: the analysis single-process and on a 2-worker Dask LocalCluster, by grid size.

Area: a mosaic of Mali-sized countries side by side. One tile is
``make_mali_synthetic.py``'s Mali (real admin-1 boundaries and WorldPop density;
synthetic, seeded bases, events and roads at realistic densities); the mosaic repeats
it ``rows x cols`` times, 150 km apart (the gap is outside every country, so
impassable, like a border), each copy with its own ids. Its population raster (5 km,
people per km²) samples WorldPop at each copy's original place. Sizes: 1x1, 1x2, 2x2,
2x3 tiles, i.e. 3.1, 6.6, 13.4 and 20.1 M cells at 1 km.

Each run is a fresh process (imports and layers in memory before the clock starts)
that times ``geo.pipeline.analyze`` with the local or the Dask executor (no product
writing: the same code for both) and samples the resident memory of itself and of
its child processes (forked travel-time workers, Dask workers) every 0.1 s with
psutil.

    .venv/bin/python bench/bench_dask.py [--sizes 1x1,1x2,2x2,2x3] [--modes single,single2,dask] [--runs 1]
    .venv/bin/python bench/bench_dask.py --pyramid     # tiles z0..8 of a 20 M-cell COG

Modes: ``single`` = ``analyze(n_jobs=1)``, one process; ``single2`` = ``analyze`` with
its default forked travel-time workers (2 here); ``dask`` = ``analyze`` with ``DaskExecutor`` on a
``LocalCluster`` of 2 single-threaded worker processes (cluster start-up not timed,
reported apart).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POP = ROOT.parent / "shared/data/population/worldpop2020_africa_20km_mean_density_afrilearndata.tif"
TILE_CRS = "+proj=laea +lat_0=17 +lon_0=-4 +datum=WGS84 +units=m +no_defs"
GAP_M = 150_000.0
AS_OF = date(2020, 6, 30)


# --- data -----------------------------------------------------------------------------

def make_mosaic(rows: int, cols: int, out: Path) -> Path:
    """Write the mosaic's layers (GeoParquet, in the tile CRS) and population raster."""
    import numpy as np
    import pandas as pd
    import rasterio
    from affine import Affine
    from pyproj import Transformer

    from geo import layers

    if (out / "done").exists():
        return out
    tile_dir = ROOT / "out/bench_mali"
    if not (tile_dir / "bases.geojson").exists():
        subprocess.run([sys.executable, str(HERE / "make_mali_synthetic.py"), str(tile_dir)], check=True)
    tile = {
        "admin": layers.load_admin(tile_dir / "admin.geojson").to_crs(TILE_CRS),
        "bases": layers.load_bases(tile_dir / "bases.geojson").to_crs(TILE_CRS),
        "events": layers.load_events(tile_dir / "events.geojson").to_crs(TILE_CRS),
        "roads": layers.load_roads(tile_dir / "roads.geojson").to_crs(TILE_CRS),
    }
    w, s, e, n = tile["admin"].total_bounds
    dx, dy = (e - w) + GAP_M, (n - s) + GAP_M
    ids = {"admin": ["admin_id", "parent"], "bases": ["base_id", "name"], "events": ["event_id"], "roads": []}
    out.mkdir(parents=True, exist_ok=True)
    for name, gdf in tile.items():
        copies = []
        for i in range(rows):
            for j in range(cols):
                g = gdf.copy()
                g["geometry"] = g.geometry.translate(j * dx, -i * dy)
                for col in ids[name]:
                    if col in g:
                        g[col] = f"T{i}{j}-" + g[col].astype(str)
                copies.append(g)
        pd.concat(copies, ignore_index=True).to_parquet(out / f"{name}.parquet")

    # population: 5 km cells over the mosaic, each sampling WorldPop at the tile's original place
    res = 5000.0
    x0, y1 = w - 60_000, n + 60_000
    width = int(np.ceil((cols * dx + 120_000) / res))
    height = int(np.ceil((rows * dy + 120_000) / res))
    xs = x0 + (np.arange(width) + 0.5) * res
    ys = y1 - (np.arange(height) + 0.5) * res
    X, Y = np.meshgrid(xs, ys)
    j = np.clip(np.floor((X - w + GAP_M / 2) / dx), 0, cols - 1)
    i = np.clip(np.floor((n + GAP_M / 2 - Y) / dy), 0, rows - 1)
    lon, lat = Transformer.from_crs(TILE_CRS, "EPSG:4326", always_xy=True).transform(X - j * dx, Y + i * dy)
    with rasterio.open(POP) as src:
        band = src.read(1, masked=True).filled(0.0)
        t = src.transform
        r = np.floor((lat - t.f) / t.e).astype(int)
        c = np.floor((lon - t.c) / t.a).astype(int)
        ok = (r >= 0) & (r < src.height) & (c >= 0) & (c < src.width)
        dens = np.where(ok, band[np.clip(r, 0, src.height - 1), np.clip(c, 0, src.width - 1)], 0.0)
    dens = np.where(np.isfinite(dens) & (dens > 0), dens, 0.0).astype("float32")
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
               "crs": TILE_CRS, "transform": Affine(res, 0, x0, 0, -res, y1), "compress": "deflate"}
    with rasterio.open(out / "population.tif", "w", **profile) as dst:
        dst.write(dens, 1)
    (out / "done").write_text("ok")
    return out


def _inputs(data: Path):
    import geopandas as gpd

    from geo.inputs import InputSpec, build_inputs

    layers = {name: gpd.read_parquet(data / f"{name}.parquet") for name in ("admin", "bases", "events", "roads")}
    return build_inputs(InputSpec(**layers, population=data / "population.tif", population_units="density"))


# --- one measured run (a child process) --------------------------------------------------

class _Sampler:
    """Peak resident memory of this process and of each child process, every 0.1 s."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self.stop.is_set():
            for p in [self.me, *self.me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                    self.names.setdefault(p.pid, " ".join(p.cmdline()[-3:]))
                except psutil.Error:
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            time.sleep(0.1)

    def __enter__(self):
        self.peak.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.stop.clear()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def run_one(mode: str, data: Path, block: int | None) -> dict:
    from pyproj import CRS

    from geo.params import Params
    from geo.pipeline import analyze

    inputs = _inputs(data)
    params = Params()
    crs = CRS.from_user_input(TILE_CRS)
    out: dict = {"mode": mode}
    sampler = _Sampler()
    if mode in ("single", "single2"):
        with sampler:
            t0 = time.perf_counter()
            res = analyze(inputs, params, AS_OF, crs=crs, n_jobs=1 if mode == "single" else 2)
            out["wall_s"] = round(time.perf_counter() - t0, 2)
        me = os.getpid()
        out["peak_rss_mb"] = {"main": round(sampler.peak.get(me, 0) / 2**20)}
        kids = [v for k, v in sampler.peak.items() if k != me]
        if kids:
            out["peak_rss_mb"]["largest_forked_worker"] = round(max(kids) / 2**20)
    else:
        from geo.dask import DaskExecutor, DaskOptions, connect

        t0 = time.perf_counter()
        with connect("local:2") as client:
            out["cluster_start_s"] = round(time.perf_counter() - t0, 2)
            client.get_task_stream()  # start recording
            with sampler:
                t0 = time.perf_counter()
                opts = DaskOptions() if block is None else DaskOptions(block_size=block)
                res = analyze(inputs, params, AS_OF, crs=crs, executor=DaskExecutor(client, opts))
                out["wall_s"] = round(time.perf_counter() - t0, 2)
            stream = client.get_task_stream()
            workers = {w: d.get("metrics", {}).get("memory") for w, d in client.scheduler_info()["workers"].items()}
        me = os.getpid()
        out["peak_rss_mb"] = {"client": round(sampler.peak.get(me, 0) / 2**20)}
        wk = sorted((v for k, v in sampler.peak.items() if k != me and "spawn" in sampler.names.get(k, "")),
                    reverse=True)
        if not wk:
            wk = sorted((v for k, v in sampler.peak.items() if k != me), reverse=True)
        out["peak_rss_mb"]["workers"] = [round(v / 2**20) for v in wk[:2]]
        out["worker_memory_mb_at_end"] = [round((m or 0) / 2**20) for m in workers.values()]
        busy: dict[str, float] = {}
        for t in stream:
            name = t["key"][0] if isinstance(t["key"], tuple) else str(t["key"])
            prefix = name.rsplit("-", 1)[0]
            for s in t.get("startstops", ()):
                if s["action"] == "compute":
                    busy[prefix] = busy.get(prefix, 0.0) + s["stop"] - s["start"]
        out["task_compute_s"] = {k: round(v, 2) for k, v in sorted(busy.items(), key=lambda kv: -kv[1])[:12]}
        out["dask"] = res.summary["dask"]
        out["block"] = res.summary["dask"]["block_size"]
    s = res.summary
    out["grid"] = {"shape": [s["grid"]["height"], s["grid"]["width"]],
                   "cells": s["grid"]["height"] * s["grid"]["width"], "cells_in_area": s["grid"]["cells_in_area"]}
    out["bases"] = s["layers"]["bases"]
    out["events_in_window"] = s["layers"]["events_in_window"]
    out["stages_s"] = res.timings
    out["gap_mean"] = s["gap"]["mean"]
    return out


# --- tile pyramid -------------------------------------------------------------------------

def bench_pyramid(rows: int, cols: int, maxzoom: int) -> dict:
    """Render zooms 0..maxzoom of a gap COG on the mosaic's grid, in-process and on 2 workers.

    The COG holds a smooth synthetic gap field (sums of Gaussian bumps, NaN outside a
    disc-shaped area) on the analysis grid of the mosaic, written by ``write_cog``.
    """
    import numpy as np
    from affine import Affine
    from pyproj import CRS

    from geo.dask import connect
    from geo.grid import Grid
    from geo.pyramid import MBTilesReader, render_pyramid
    from geo.rasters import write_cog

    out = ROOT / f"out/bench_dask/pyramid_{rows}x{cols}"
    out.mkdir(parents=True, exist_ok=True)
    cog = out / "gap.tif"
    h, w = 1744 * rows + 48 * (rows - 1), 1866 * cols + 49 * (cols - 1)
    grid = Grid(CRS.from_user_input(TILE_CRS), Affine(1000.0, 0, -940_000.0, 0, -1000.0, 940_000.0), w, h)
    if not cog.exists():
        rng = np.random.default_rng(7)
        yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
        field = np.zeros_like(xx)
        for cy, cx, sd in zip(rng.uniform(0, h, 300), rng.uniform(0, w, 300), rng.uniform(20, 120, 300), strict=True):
            field += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd * sd))
        field = np.kron(100 * field / field.max(), np.ones((8, 8), dtype=np.float32))[:h, :w]
        inside = ((np.arange(h)[:, None] - h / 2) / (h / 2)) ** 2 + ((np.arange(w)[None, :] - w / 2) / (w / 2)) ** 2 <= 1
        write_cog(cog, np.where(inside, field, np.nan), grid)
    res: dict = {"grid_cells": grid.size, "maxzoom": maxzoom}
    t0 = time.perf_counter()
    render_pyramid(cog, out / "serial.mbtiles", surface="gap", maxzoom=maxzoom)
    res["in_process_s"] = round(time.perf_counter() - t0, 2)
    with connect("local:2") as client:
        t0 = time.perf_counter()
        render_pyramid(cog, out / "dask.mbtiles", surface="gap", maxzoom=maxzoom, client=client)
        res["dask_2_workers_s"] = round(time.perf_counter() - t0, 2)
    with MBTilesReader(out / "dask.mbtiles") as r:
        res["tiles"] = r.count()
    res["mbtiles_mb"] = round((out / "dask.mbtiles").stat().st_size / 2**20, 1)
    return res


# --- driver -----------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1x1,1x2,2x2,2x3", help="mosaic layouts ROWSxCOLS, comma-separated")
    ap.add_argument("--modes", default="single,single2,dask")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--block", type=int, help="Dask block size in cells (default: DaskOptions')")
    ap.add_argument("--pyramid", action="store_true", help="time a z0..8 tile pyramid of the 2x3 grid instead")
    ap.add_argument("--run", help=argparse.SUPPRESS)  # child: MODE
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.data, args.block)))
        return 0
    if args.pyramid:
        print(json.dumps(bench_pyramid(2, 3, 8), indent=1))
        return 0
    results = []
    for size in args.sizes.split(","):
        r, c = (int(v) for v in size.lower().split("x"))
        data = make_mosaic(r, c, ROOT / f"out/bench_dask/mosaic_{r}x{c}")
        for mode in args.modes.split(","):
            for _ in range(args.runs):
                p = subprocess.run([sys.executable, __file__, "--run", mode, "--data", str(data),
                                    *(["--block", str(args.block)] if args.block else [])],
                                   check=True, capture_output=True, text=True)
                res = json.loads(p.stdout.strip().splitlines()[-1])
                res["layout"] = size
                results.append(res)
                print(f"{size:>4} {mode:<8} block {res.get('block', '-')!s:>5} cells {res['grid']['cells']:>11,} wall {res['wall_s']:7.2f} s  "
                      f"peak MB {res['peak_rss_mb']}", flush=True)
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
                         f"Python {platform.python_version()}",
              "results": results}
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
