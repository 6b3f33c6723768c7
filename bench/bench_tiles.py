"""Benchmark: XYZ PNG tiles from Vacuum against TiTiler, same COG, same 500 requests.

    .venv/bin/python bench/bench_tiles.py [--repeat 3] [--n 500] [--out out/bench_tiles.json]

1. The COG: ``gap.tif`` of a real ``vacuum analyze`` run on the Mali bench layers
   (1866 x 1743 cells at 1 km, Lambert azimuthal equal-area, overviews x2 x4), made with
   ``bench/bench_analyze.py --runs 1`` if ``out/bench_mali_result`` lacks it.
2. Servers, loopback only, one worker each, uvloop + httptools for both:
   TiTiler (``titiler.core`` + ``titiler.application`` in ``out/titiler_venv``; create it
   with ``--install-titiler``) on 127.0.0.1:8081, and a minimal Vacuum app that mounts
   ``api.tiles.tiles_router`` with a resolver for one analysis id on 127.0.0.1:8082
   (``python bench/bench_tiles.py serve ...``).
3. ``../shared/bench/tile_load.py``: 500 seeded tiles at zooms 5..9 inside Mali,
   sequential and 8 concurrent. "uncached": a fresh server process (Vacuum with its tile
   cache off); "warm": a second pass on the same process (TiTiler has no tile cache, so
   this is GDAL's block cache; Vacuum with the cache off likewise); "cached": Vacuum with
   its tile cache on, after one pass that fills it.
4. Each comparison runs back to back (TiTiler, then Vacuum) and the whole sequence is
   repeated (``--repeat``, default 3): other work on a shared machine moves figures by
   tens of percent within minutes. Also: ``wrk`` on the cached tiles when it is installed
   (a C client, so the client is not the limit), and a bare ASGI app sending one constant
   PNG, which shows the ceiling of the Python load client on this machine.
5. Prints one JSON (and writes it with ``--out``); every server is stopped at the end.

Bounded: each load run is capped at 500 requests and ``--max-seconds``; servers must be
up within 60 s and are killed if they do not stop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED_BENCH = ROOT.parent / "shared" / "bench"
TILE_LOAD = SHARED_BENCH / "tile_load.py"
RESULT_DIR = ROOT / "out" / "bench_mali_result"
TITILER_VENV = ROOT / "out" / "titiler_venv"
ANALYSIS_ID = "mali-bench"
HOST = "127.0.0.1"
TITILER_PORT = 8081
VACUUM_PORT = 8082

VACUUM_TEMPLATE = "{base}/analyses/{aid}/tiles/gap/{z}/{x}/{y}.png"
TITILER_TEMPLATE = "{base}/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={url}&rescale=0,100&colormap_name=viridis"
# TiTiler drawing the same legend classes as Vacuum (an intervals colour map)
TITILER_CLASSES_TEMPLATE = "{base}/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url={url}&colormap={cmap}"


# ----------------------------------------------------------------------------- server
def create_app(cog: Path, cache_tiles: int):
    """A minimal service: the tiles router with a resolver for one stored analysis."""
    from fastapi import FastAPI

    from api.tiles import TileRenderer, add_tile_error_handlers, tiles_router

    folder = cog.parent

    def resolve(owner_kind: str, owner_id: str, phase: int | None, surface: str) -> Path:
        if owner_kind == "analysis" and owner_id == ANALYSIS_ID and phase is None:
            path = folder / f"{surface}.tif"
            if path.is_file():
                return path
        raise LookupError(f"no {owner_kind} {owner_id!r} with a {surface!r} surface")

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    # the resolver is a dict lookup: it never blocks, so it runs on the event loop
    app.include_router(tiles_router(resolve, renderer=TileRenderer(cache_tiles=cache_tiles),
                                    resolve_in_threadpool=False))
    add_tile_error_handlers(app, extra={LookupError: 404})
    return app


def constant_app(body: bytes):
    """A bare ASGI app answering every request with the same PNG: the ceiling of the
    load client and of uvicorn on this machine, with no framework and no work."""
    headers = [(b"content-type", b"image/png"), (b"content-length", str(len(body)).encode())]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.host != HOST:
        raise SystemExit("the bench server listens on 127.0.0.1 only")
    if args.constant:
        from api.tiles import TileRenderer

        png, _ = TileRenderer().render(Path(args.cog), "gap", 7, 61, 56)
        app = constant_app(png)
    else:
        app = create_app(Path(args.cog), args.cache_tiles)
    uvicorn.run(app, host=HOST, port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", workers=1)
    return 0


# ----------------------------------------------------------------------------- driver
class Server:
    """A server subprocess we started; stopped by its own pid, never by name."""

    def __init__(self, name: str, cmd: list[str], health_url: str, env: dict[str, str] | None = None) -> None:
        self.name, self.cmd, self.health_url = name, cmd, health_url
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._wait_up(60.0)

    def _wait_up(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(self.health_url, timeout=2.0, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self.health_url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load(base: str, template: str, variables: dict[str, str], concurrency: int, n: int,
         max_seconds: float, label: str) -> dict:
    cmd = [sys.executable, str(TILE_LOAD), "--base", base, "--template", template, "--n", str(n),
           "--concurrency", str(concurrency), "--max-seconds", str(max_seconds), "--label", label]
    for k, v in variables.items():
        cmd += ["--var", f"{k}={v}"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max_seconds + 120)
    if not run.stdout.strip():
        raise RuntimeError(f"tile_load {label} printed nothing: {run.stderr[-2000:]}")
    res = json.loads(run.stdout)
    keep = ("label", "concurrency", "requests", "ok", "statuses", "bad_png", "wall_s", "throughput_rps",
            "latency_ms", "mean_bytes", "hit_time_cap", "errors_sample")
    out = {k: res[k] for k in keep}
    print(f"  {label:<34} c={concurrency}  {res['throughput_rps']:>8} tiles/s  p50 {res['latency_ms']['p50']:>7} ms  "
          f"p95 {res['latency_ms']['p95']:>7} ms  ok {res['ok']}/{res['requests']}", file=sys.stderr)
    return out


def wrk(base: str, template: str, variables: dict[str, str], connections: int, seconds: int, label: str) -> dict | None:
    """Cached throughput measured by wrk (a C client, so the client is not the limit)."""
    if shutil.which("wrk") is None:
        return None
    urls = subprocess.run([sys.executable, str(TILE_LOAD), "--base", base, "--template", template, "--dump-urls",
                           *[a for k, v in variables.items() for a in ("--var", f"{k}={v}")]],
                          capture_output=True, text=True, timeout=60, check=True).stdout.split()
    paths = ROOT / "out" / "bench_tiles_wrk_paths.txt"
    paths.write_text("\n".join(urllib.parse.urlsplit(u).path for u in urls) + "\n")
    run = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          str(SHARED_BENCH / "wrk_urls.lua"), base], env={**os.environ, "WRK_URLS": str(paths)},
                         capture_output=True, text=True, timeout=seconds + 60)
    out: dict = {"label": label, "connections": connections, "seconds": seconds}
    for line in run.stdout.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            out["throughput_rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            v = parts[1]
            ms = float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") else float(v[:-1]) * 1000
            out.setdefault("latency_ms", {})["p" + parts[0][:-1]] = round(ms, 3)
        elif "Non-2xx" in line:
            out["non_2xx"] = int(parts[-1])
    print(f"  {label:<34} c={connections}  {out.get('throughput_rps')!s:>8} tiles/s  "
          f"p50 {out.get('latency_ms', {}).get('p50')!s:>7} ms  (wrk)", file=sys.stderr)
    return out


def ensure_cog() -> Path:
    cog = RESULT_DIR / "gap.tif"
    if not cog.exists():
        print("making the Mali analysis (bench/bench_analyze.py --runs 1) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "bench_analyze.py"), "--runs", "1"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, timeout=900)
    return cog


def ensure_titiler(install: bool) -> Path:
    uvicorn = TITILER_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        if not install:
            raise SystemExit(f"no TiTiler venv at {TITILER_VENV}; rerun with --install-titiler, or: python3 -m venv "
                             f"{TITILER_VENV} && {TITILER_VENV}/bin/pip install titiler.core titiler.application "
                             "uvicorn uvloop httptools")
        subprocess.run([sys.executable, "-m", "venv", str(TITILER_VENV)], check=True, timeout=300)
        subprocess.run([str(TITILER_VENV / "bin" / "pip"), "install", "--quiet", "titiler.core", "titiler.application",
                        "uvicorn", "uvloop", "httptools"], check=True, timeout=1800)
    return uvicorn


def titiler_versions() -> dict[str, str]:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('titiler.core', 'titiler.application', 'rio-tiler', 'rasterio', 'uvicorn', 'uvloop', 'httptools')}))")
    out = subprocess.run([str(TITILER_VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def class_colormap() -> str:
    """The gap legend as a TiTiler intervals colour map: [[[lo, hi], [r, g, b, a]], ...]."""
    from geo.legend import style_for

    s = style_for("gap")
    edges = [s.vmin, *s.breaks, s.vmax + 1e-6]
    table = s.rgba_table()
    return json.dumps([[[edges[i], edges[i + 1]], [int(c) for c in table[i]]] for i in range(len(table))],
                      separators=(",", ":"))


def in_process(cog: Path, n: int) -> dict:
    """The renderer without HTTP: first pass on a fresh renderer, then a warm pass (cache off)."""
    sys.path.insert(0, str(SHARED_BENCH))
    from tile_load import MALI_BBOX, build_tile_set

    from api.tiles import TileRenderer

    tiles = build_tile_set(MALI_BBOX, 5, 9, n, 1)
    out = {}
    with TileRenderer(cache_tiles=0) as r:
        for label in ("first_pass", "warm_gdal_blocks"):
            lat = []
            t0 = time.perf_counter()
            for z, x, y in tiles:
                t = time.perf_counter()
                r.render(cog, "gap", z, x, y)
                lat.append(time.perf_counter() - t)
            wall = time.perf_counter() - t0
            lat.sort()
            out[label] = {"tiles_per_s": round(len(tiles) / wall, 1), "p50_ms": round(lat[len(lat) // 2] * 1e3, 2),
                          "p95_ms": round(lat[int(len(lat) * 0.95)] * 1e3, 2)}
    return out


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "loadavg_at_start": [round(v, 2) for v in os.getloadavg()]}


def bench(args: argparse.Namespace) -> int:
    cog = ensure_cog()
    ensure_titiler(args.install_titiler)
    import fastapi
    import rasterio
    import rio_tiler

    with rasterio.open(cog) as ds:
        cog_info = {"path": str(cog.relative_to(ROOT)), "width": ds.width, "height": ds.height,
                    "res_m": ds.res[0], "crs": ds.crs.to_proj4(), "overviews": ds.overviews(1),
                    "bytes": cog.stat().st_size}
    report: dict = {"machine": machine(), "cog": cog_info, "n": args.n,
                    "versions": {"vacuum": {"rio-tiler": rio_tiler.__version__, "rasterio": rasterio.__version__,
                                            "fastapi": fastapi.__version__},
                                 "titiler": titiler_versions()}}
    n, cap = args.n, args.max_seconds

    tbase = f"http://{HOST}:{TITILER_PORT}"
    tvars = {"url": str(cog)}
    titiler_cmd = [str(TITILER_VENV / "bin" / "uvicorn"), "titiler.application.main:app", "--host", HOST,
                   "--port", str(TITILER_PORT), "--workers", "1", "--no-access-log", "--loop", "uvloop",
                   "--http", "httptools", "--log-level", "warning"]
    tenv = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    vbase = f"http://{HOST}:{VACUUM_PORT}"
    vvars = {"aid": ANALYSIS_ID}

    def vacuum_cmd(cache_tiles: int) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "serve", "--cog", str(cog), "--port", str(VACUUM_PORT),
                "--cache-tiles", str(cache_tiles)]

    def titiler_pass(c: int, rep: int, runs: dict) -> None:
        with Server("titiler", titiler_cmd, f"{tbase}/healthz", env=tenv):
            runs[f"titiler_uncached_c{c}"] = load(tbase, TITILER_TEMPLATE, tvars, c, n, cap, f"[{rep}] titiler uncached c{c}")
            runs[f"titiler_warm_c{c}"] = load(tbase, TITILER_TEMPLATE, tvars, c, n, cap, f"[{rep}] titiler warm c{c}")

    def vacuum_pass(c: int, rep: int, runs: dict) -> None:
        with Server("vacuum", vacuum_cmd(0), f"{vbase}/legend/gap"):
            runs[f"vacuum_uncached_c{c}"] = load(vbase, VACUUM_TEMPLATE, vvars, c, n, cap, f"[{rep}] vacuum uncached c{c}")
            runs[f"vacuum_warm_nocache_c{c}"] = load(vbase, VACUUM_TEMPLATE, vvars, c, n, cap,
                                                     f"[{rep}] vacuum warm, cache off c{c}")

    # Other work on a shared machine moves figures by tens of percent within minutes, so
    # each comparison is measured back to back (TiTiler, then Vacuum, same concurrency)
    # and the whole sequence is repeated; the summary gives medians over the repeats.
    reps: list[dict] = []
    for rep in range(args.repeat):
        runs: dict[str, dict] = {}
        wrk_runs: dict[str, dict] = {}
        load_start = [round(v, 2) for v in os.getloadavg()]
        print(f"repeat {rep + 1}/{args.repeat}: uncached (fresh processes) and warm", file=sys.stderr)
        for c in (1, 8):
            titiler_pass(c, rep, runs)
            vacuum_pass(c, rep, runs)
        if rep == 0 and not args.skip_titiler_classes:
            cvars = {**tvars, "cmap": class_colormap()}
            for c in (1, 8):
                with Server("titiler", titiler_cmd, f"{tbase}/healthz", env=tenv):
                    runs[f"titiler_classes_uncached_c{c}"] = load(tbase, TITILER_CLASSES_TEMPLATE, cvars, c, n, cap,
                                                                  f"[{rep}] titiler, legend classes, uncached c{c}")
        print(f"repeat {rep + 1}/{args.repeat}: Vacuum with its tile cache, and the client's ceiling", file=sys.stderr)
        with Server("vacuum", vacuum_cmd(4096), f"{vbase}/legend/gap"):
            runs["vacuum_fill_cache_c8"] = load(vbase, VACUUM_TEMPLATE, vvars, 8, n, cap, f"[{rep}] vacuum filling the cache c8")
            for c in (1, 8):
                runs[f"vacuum_cached_c{c}"] = load(vbase, VACUUM_TEMPLATE, vvars, c, n, cap, f"[{rep}] vacuum cached c{c}")
            for c in (1, 8):
                w = wrk(vbase, VACUUM_TEMPLATE, vvars, c, 10, f"[{rep}] vacuum cached c{c}")
                if w is not None:
                    wrk_runs[f"vacuum_cached_c{c}"] = w
        with Server("constant", vacuum_cmd(0) + ["--constant"], f"{vbase}/legend/gap"):
            for c in (1, 8):
                runs[f"constant_c{c}"] = load(vbase, VACUUM_TEMPLATE, vvars, c, n, cap, f"[{rep}] constant PNG c{c}")
        reps.append({"loadavg_at_start": load_start, "runs": runs, "wrk": wrk_runs})

    report["in_process"] = in_process(cog, n)
    report["repeats"] = reps
    report["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]

    def med(values: list[float]) -> float:
        v = sorted(values)
        return round(v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, 2)

    def rps(k: str) -> list[float]:
        return [r["runs"][k]["throughput_rps"] or 0.0 for r in reps if k in r["runs"]]

    def p50(k: str) -> list[float]:
        return [r["runs"][k]["latency_ms"]["p50"] for r in reps if k in r["runs"]]

    keys = sorted({k for r in reps for k in r["runs"]})
    medians = {k: {"tiles_per_s": med(rps(k)), "p50_ms": med(p50(k)), "tiles_per_s_all": rps(k)} for k in keys}
    wrk_keys = sorted({k for r in reps for k in r["wrk"]})
    wrk_medians = {k: {"tiles_per_s": med([r["wrk"][k].get("throughput_rps", 0.0) for r in reps if k in r["wrk"]]),
                       "p50_ms": med([r["wrk"][k].get("latency_ms", {}).get("p50", 0.0) for r in reps if k in r["wrk"]])}
                   for k in wrk_keys}
    speedup = {f"c{c}": med([r["runs"][f"vacuum_uncached_c{c}"]["throughput_rps"]
                             / r["runs"][f"titiler_uncached_c{c}"]["throughput_rps"] for r in reps]) for c in (1, 8)}
    report["summary"] = {
        "median_of_repeats": medians,
        "wrk_median_of_repeats": wrk_medians or "wrk not installed (Debian package wrk)",
        "uncached_speedup_vs_titiler_median": speedup,
        "target_uncached_3x": all(v >= 3 for v in speedup.values()),
        "target_cached_over_1000_per_s_p50_under_5ms": {
            f"c{c}": medians[f"vacuum_cached_c{c}"]["tiles_per_s"] > 1000 and medians[f"vacuum_cached_c{c}"]["p50_ms"] < 5
            for c in (1, 8)},
        "all_ok": all(x["ok"] == x["requests"] and x["bad_png"] == 0 for r in reps for x in r["runs"].values())
        and all(not w.get("non_2xx") for r in reps for w in r["wrk"].values()),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if report["summary"]["all_ok"] else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sp = sub.add_parser("serve", help="run the minimal Vacuum tile app (used by the benchmark)")
    sp.add_argument("--cog", required=True)
    sp.add_argument("--host", default=HOST)
    sp.add_argument("--port", type=int, default=VACUUM_PORT)
    sp.add_argument("--cache-tiles", type=int, default=4096)
    sp.add_argument("--constant", action="store_true", help="a bare ASGI app returning one PNG (client ceiling)")
    ap.add_argument("--n", type=int, default=500, help="requests per load run (tile_load caps at 5000)")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="cap of each load run")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--install-titiler", action="store_true", help=f"create {TITILER_VENV} if missing (network)")
    ap.add_argument("--skip-titiler-classes", action="store_true", help="skip TiTiler with the class colour map")
    ap.add_argument("--repeat", type=int, default=3, choices=range(1, 6), metavar="1..5",
                    help="repeats of the whole sequence; the summary gives medians")
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        return serve(args)
    return bench(args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
