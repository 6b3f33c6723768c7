"""Load test (issue 12): 32 clients for 60 s against `vacuum serve --demo` on loopback.

    .venv/bin/python bench/bench_load.py [--clients 32] [--seconds 60] [--out out/bench_load.json]

1. Starts ``vacuum serve --demo`` on 127.0.0.1, a free port, in a fresh workspace (the demo
   analysis at 1 km runs at startup), one worker process, a random strong admin key.
2. ``--clients`` threads, each with its own keep-alive httpx client, for ``--seconds``:
   60 % XYZ tiles (random z in the TileJSON's zooms up to 10, random point in its bounds;
   the viewer surfaces anonymously, ``gap`` as the admin), 10 % each TileJSON, summary,
   zones and the admin table (half as the admin, half anonymous).
3. Counts statuses and latencies; an error is any status but 2xx/304, and 404 for tiles
   only (a tile of the bounds' corner may fall outside the raster); a transport error counts
   too. Samples the server's RSS (psutil) every second, with its worker processes apart.
4. Prints a table and one JSON line (``--out`` writes it); the server is stopped at the end.

Bounded: loopback only, ``--seconds`` (at most 300) and ``--max-requests``; the server must be
up in 180 s and is killed if it does not stop in 30 s.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
VIEWER_SURFACES = ("gap_public", "threat", "exposure", "population")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def start_server(workspace: Path, admin_key: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "VACUUM_ADMIN_KEY": admin_key, "PYTHONPATH": str(ROOT)}
    env.pop("VACUUM_DATABASE_URL", None)
    log = open(log_path, "ab")  # noqa: SIM115 - the child holds it; closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", HOST, "--port", str(port), "--workspace",
         str(workspace), "--demo", "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 180:
        if proc.poll() is not None:
            raise SystemExit(f"vacuum serve exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"vacuum serve did not answer in 180 s: {log_path.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def demo_analysis(c: httpx.Client, admin: dict, timeout: float = 300) -> str:
    """The id of the demo analysis once done (the server answers while it still runs)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        runs = c.get("/analyses", headers=admin).json()
        if runs and runs[0]["status"] == "done":
            return runs[0]["id"]
        if runs and runs[0]["status"] not in ("queued", "running"):
            raise SystemExit(f"the demo analysis ended {runs[0]['status']}: {runs[0].get('error')}")
        time.sleep(0.5)
    raise SystemExit(f"the demo analysis was not done in {timeout:g} s")


def rss_mb(pid: int) -> tuple[float, float]:
    """(server process, its worker processes) resident set size in MB."""
    p = psutil.Process(pid)
    own = p.memory_info().rss
    kids = 0
    for c in p.children(recursive=True):
        try:
            kids += c.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return own / 2**20, kids / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-requests", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if not 0 < args.seconds <= 300 or not 0 < args.clients <= 64:
        ap.error("--seconds must be in (0, 300] and --clients in (0, 64]")

    admin_key = secrets.token_urlsafe(32)
    admin = {"X-API-Key": admin_key}
    with tempfile.TemporaryDirectory(prefix="vacuum-load-") as tmp:
        t_start = time.monotonic()
        proc, url = start_server(Path(tmp) / "ws", admin_key, Path(tmp) / "serve.log")
        startup_s = time.monotonic() - t_start
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                aid = demo_analysis(c, admin)
                tj = c.get(f"/analyses/{aid}/tilejson/gap_public.json").json()
            result = run_load(url, aid, tj, admin, proc.pid, args)
        finally:
            stop_server(proc)
            log_tail = (Path(tmp) / "serve.log").read_text(errors="replace")[-3000:]
    result.update(startup_s=round(startup_s, 1), clients=args.clients, seconds=args.seconds,
                  machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print_table(result)
    if result["errors"]:
        print("server log tail:\n" + log_tail)
    print(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 1 if result["errors"] else 0


def run_load(url: str, aid: str, tj: dict, admin: dict, pid: int, args) -> dict:
    west, south, east, north = tj["bounds"]
    zmin, zmax = int(tj["minzoom"]), min(int(tj["maxzoom"]), 10)
    deadline = time.monotonic() + args.seconds
    lock = threading.Lock()
    statuses: collections.Counter = collections.Counter()
    errors: collections.Counter = collections.Counter()
    latency: dict[str, list[float]] = collections.defaultdict(list)
    count = [0]

    def request(rng: random.Random) -> tuple[str, str, dict]:
        r = rng.random()
        as_admin = rng.random() < 0.5
        if r < 0.6:
            z = rng.randint(zmin, zmax)
            x, y = tile_of(rng.uniform(west, east), rng.uniform(south, north), z)
            surface = "gap" if as_admin else rng.choice(VIEWER_SURFACES)
            return "tile", f"/analyses/{aid}/tiles/{surface}/{z}/{x}/{y}.png", admin if as_admin else {}
        kind, path = [("tilejson", f"/analyses/{aid}/tilejson/{rng.choice(VIEWER_SURFACES)}.json"),
                      ("summary", f"/analyses/{aid}/summary"), ("zones", f"/analyses/{aid}/zones"),
                      ("admin", f"/analyses/{aid}/admin")][min(int((r - 0.6) / 0.1), 3)]
        return kind, path, admin if as_admin else {}

    def client(i: int) -> None:
        rng = random.Random(args.seed * 1000 + i)
        with httpx.Client(base_url=url, timeout=30) as c:
            while time.monotonic() < deadline:
                with lock:
                    if count[0] >= args.max_requests:
                        return
                    count[0] += 1
                kind, path, headers = request(rng)
                t0 = time.perf_counter()
                try:
                    status = c.get(path, headers=headers).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                dt = time.perf_counter() - t0
                ok = isinstance(status, int) and (200 <= status < 300 or status == 304
                                                  or (status == 404 and kind == "tile"))
                with lock:
                    statuses[(kind, status)] += 1
                    latency[kind].append(dt)
                    if not ok:
                        errors[f"{kind} {status}"] += 1

    samples: list[tuple[float, float, float]] = []
    stop = threading.Event()

    def sampler() -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            own, kids = rss_mb(pid)
            samples.append((time.monotonic() - t0, own, kids))
            stop.wait(1.0)

    sampler_thread = threading.Thread(target=sampler, daemon=True)
    sampler_thread.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 60)
    wall = time.monotonic() - t0
    stop.set()
    sampler_thread.join(timeout=5)

    all_lat = np.array([v for vs in latency.values() for v in vs]) * 1000
    t, own, kids = (np.array(col) for col in zip(*samples, strict=True))
    slope = float(np.polyfit(t, own, 1)[0] * 60) if len(t) > 2 else float("nan")
    half = len(own) // 2
    slope2 = float(np.polyfit(t[half:], own[half:], 1)[0] * 60) if len(t) - half > 2 else float("nan")
    return {
        "requests": int(all_lat.size), "wall_s": round(wall, 1), "rps": round(all_lat.size / wall, 1),
        "errors": int(sum(errors.values())), "error_kinds": dict(errors),
        "statuses": {f"{k} {s}": n for (k, s), n in sorted(statuses.items(), key=str)},
        "p50_ms": round(float(np.percentile(all_lat, 50)), 1), "p95_ms": round(float(np.percentile(all_lat, 95)), 1),
        "p99_ms": round(float(np.percentile(all_lat, 99)), 1), "max_ms": round(float(all_lat.max()), 1),
        "per_kind": {k: {"n": len(v), "p50_ms": round(float(np.percentile(v, 50)) * 1000, 1),
                         "p99_ms": round(float(np.percentile(v, 99)) * 1000, 1)} for k, v in sorted(latency.items())},
        "rss_mb": {"start": round(float(own[0]), 1), "end": round(float(own[-1]), 1), "max": round(float(own.max()), 1),
                   "second_half_max": round(float(own[half:].max()), 1), "first_half_max": round(float(own[:half].max()), 1),
                   "slope_mb_per_min": round(slope, 2), "slope_2nd_half_mb_per_min": round(slope2, 2), "workers_start": round(float(kids[0]), 1),
                   "workers_end": round(float(kids[-1]), 1), "samples": len(own),
                   "every_10_s": [round(float(v), 1) for v in own[::10]]},
    }


def print_table(r: dict) -> None:
    m = r["rss_mb"]
    rows = [
        ("clients x seconds", f"{r['clients']} x {r['seconds']:g} (wall {r['wall_s']} s)"),
        ("requests", f"{r['requests']:,} ({r['rps']} /s)"),
        ("errors", f"{r['errors']} {r['error_kinds'] or ''}".strip()),
        ("latency p50 / p95 / p99 / max", f"{r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} / {r['max_ms']} ms"),
        ("server RSS start / end / max", f"{m['start']} / {m['end']} / {m['max']} MB"),
        ("RSS max 1st half / 2nd half", f"{m['first_half_max']} / {m['second_half_max']} MB"),
        ("RSS slope whole / 2nd half", f"{m['slope_mb_per_min']} / {m['slope_2nd_half_mb_per_min']} MB/min "
                                       f"({m['samples']} samples)"),
        ("server RSS every 10 s", " ".join(f"{v:.0f}" for v in m["every_10_s"]) + " MB"),
        ("worker RSS start / end", f"{m['workers_start']} / {m['workers_end']} MB"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    for k, v in r["per_kind"].items():
        print(f"  {k:<10} n={v['n']:>7,}  p50 {v['p50_ms']:>7} ms  p99 {v['p99_ms']:>7} ms")
    print("statuses:", ", ".join(f"{k}: {n}" for k, n in r["statuses"].items()))


if __name__ == "__main__":
    sys.exit(main())
