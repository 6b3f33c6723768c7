"""Load on the PostGIS storage's connection pool: N concurrent clients on loopback.

    python bench/bench_pool.py [--clients 32] [--ops 50] [--pool-max 4 10]

Each client does ``ops`` times: a status read (``get_job``), a list (``list_jobs``) and an
insert (``create_job``). Prints the wall time, operations per second and the peak number of
connections the storage held (``pg_stat_activity``, by application name). Needs
``VACUUM_TEST_DATABASE_URL`` or ``scripts/postgis.sh``; works in a throwaway schema.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(url: str, clients: int, ops: int, pool_max: int) -> dict:
    import psycopg

    from api.storage import JobRecord, new_id
    from api.storage.postgis import PostGISStorage
    from api.testing import unique_schema

    app = f"vacuum-bench-{os.getpid()}-{pool_max}"
    with tempfile.TemporaryDirectory() as ws:
        st = PostGISStorage(ws, url, schema=unique_schema("bench"), pool_max=pool_max, application_name=app)
        st.init()
        first = st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}))
        peak, stop = [0], threading.Event()

        def watch():
            with psycopg.connect(url, autocommit=True) as con:
                while not stop.is_set():
                    n = con.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                    (app,)).fetchone()[0]
                    peak[0] = max(peak[0], n)
                    time.sleep(0.005)

        def client(i: int) -> None:
            for _ in range(ops):
                st.get_job(first.id)
                st.list_jobs(limit=20)
                st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={"client": i}))

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as ex:
            list(ex.map(client, range(clients)))
        wall = time.perf_counter() - t0
        stop.set()
        w.join(5)
        st.drop_schema()
        st.close()
    n = clients * ops * 3
    return {"pool_max": pool_max, "clients": clients, "operations": n, "wall_s": round(wall, 2),
            "ops_per_s": round(n / wall), "peak_connections": peak[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--ops", type=int, default=50)
    ap.add_argument("--pool-max", type=int, nargs="+", default=[4, 10])
    a = ap.parse_args()
    url = os.environ.get("VACUUM_TEST_DATABASE_URL", "").strip()
    if not url:
        from api.testing import postgis_url

        url = postgis_url()
    for m in a.pool_max:
        print(run(url, a.clients, a.ops, m))


if __name__ == "__main__":
    main()
