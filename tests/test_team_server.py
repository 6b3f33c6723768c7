"""A team server: several servers on one PostGIS database share the job queue, a dead server's
jobs are taken back, the connection pool is bounded; and the schema of both backends is
versioned and migrated."""

import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.jobs import JobManager
from api.settings import Settings
from api.storage import InstanceRecord, JobRecord, StorageConfig, new_id
from api.storage import migrations as M
from api.storage.migrations import SCHEMA_VERSION, SchemaVersionError
from api.storage.postgis import PostGISStorage
from api.testing import postgis_url, unique_schema

LONG_AGO = "2000-01-01T00:00:00.000+00:00"


@pytest.fixture(scope="session")
def database_url():
    """PostGIS for the session: VACUUM_TEST_DATABASE_URL, else scripts/postgis.sh (skip; in CI, fail)."""
    return postgis_url()


@pytest.fixture
def pg_config(tmp_path, database_url):
    cfg = StorageConfig(tmp_path / "ws", database_url, unique_schema("team"))
    yield cfg
    st = cfg.open()
    st.drop_schema()
    st.close()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def any_config(request, tmp_path):
    if request.param == "sqlite":
        yield StorageConfig(tmp_path / "ws", None)
        return
    yield request.getfixturevalue("pg_config")


def _kill(mgr: JobManager) -> None:
    """As if the server's process were killed: its loop stops and its workers die, with no
    graceful stop (nothing handed back, its instance row left as it was)."""
    mgr._stop.set()
    if hasattr(mgr, "_wake"):
        mgr._wake.set()
    for p in list(getattr(mgr._executor, "_processes", {}).values()):
        os.kill(p.pid, signal.SIGKILL)
    mgr._thread.join(timeout=15)


def _wait_finished(st, job_id, timeout=120.0):
    t0 = time.monotonic()
    while (job := st.get_job(job_id)).status in ("queued", "running"):
        assert time.monotonic() - t0 < timeout, job
        time.sleep(0.1)
    return job


# ============================================================================ the shared queue


@pytest.mark.postgis
def test_a_job_accepted_by_a_server_that_dies_is_run_by_another(pg_config):
    """Two servers on one database; A accepts a job when its workers are already gone: B runs it."""
    st_a, st_b = pg_config.open(), pg_config.open()
    st_a.init()
    st_b.init()
    a = JobManager(st_a, pg_config, workers=1, heartbeat_s=0.5, stale_after_s=5, poll_s=0.2)
    b = JobManager(st_b, pg_config, workers=1, heartbeat_s=0.5, stale_after_s=5, poll_s=0.2)
    try:
        a.start()
        b.start()
        _kill(a)
        # a request A accepted: its layer is absent, so the analysis fails at once, in whichever worker runs it
        job = a.submit("analysis", {"layers": {"bases": "ly_nope"}, "bbox": [14.0, 2.0, 28.0, 11.0]})
        done = _wait_finished(st_b, job.id)
        assert (done.status, done.instance_id) == ("failed", b.instance_id)
        assert "no layer 'ly_nope'" in done.error and done.started_at is not None  # B's worker ran the kind
    finally:
        b.stop()
        a.stop()
        st_a.close()
        st_b.close()


@pytest.mark.postgis
def test_the_running_job_of_a_dead_server_is_run_again_by_a_live_one(pg_config):
    st = pg_config.open()
    st.init()
    dead_pid = 2**22 + 4242  # above the default pid_max: no such process on this host
    st.register_instance(InstanceRecord(id="srv_dead", host=os.uname().nodename, pid=dead_pid))
    job = st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={"layers": {"bases": "ly_gone"},
                                                                           "bbox": [14.0, 2.0, 28.0, 11.0]}))
    assert st.claim_job("srv_dead").id == job.id  # it was running there when the server died
    b = JobManager(st, pg_config, workers=1, heartbeat_s=0.5, stale_after_s=30, poll_s=0.2, job_retries=1)
    b.host = os.uname().nodename
    try:
        b.start()
        done = _wait_finished(st, job.id)
    finally:
        b.stop()
        st.close()
    assert (done.status, done.instance_id, done.attempt) == ("failed", b.instance_id, 1)
    assert "no layer 'ly_gone'" in done.error


@pytest.mark.postgis
def test_two_servers_never_claim_the_same_job(pg_config):
    st = pg_config.open()
    st.init()
    ids = [st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={})).id for _ in range(40)]
    handles = [pg_config.open() for _ in range(4)]
    claims: dict[str, list[str]] = {f"srv_{i}": [] for i in range(4)}

    def drain(i):
        while (job := handles[i].claim_job(f"srv_{i}")) is not None:
            claims[f"srv_{i}"].append(job.id)

    with ThreadPoolExecutor(4) as ex:
        list(ex.map(drain, range(4)))
    got = [j for c in claims.values() for j in c]
    assert sorted(got) == sorted(ids)  # each job once, none lost
    assert {st.get_job(j).instance_id for j in claims["srv_2"]} <= {"srv_2"}
    for h in handles:
        h.close()
    st.close()


@pytest.mark.postgis
def test_a_running_job_with_a_stale_heartbeat_is_interrupted_or_queued_again(pg_config):
    """The job's server still heartbeats (another host), but the job's own heartbeat is stale."""
    st = pg_config.open()
    st.init()
    st.register_instance(InstanceRecord(id="srv_far", host="elsewhere", pid=1))
    stale = st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, status="running",
                                    instance_id="srv_far", started_at=LONG_AGO, heartbeat_at=LONG_AGO))
    fresh = st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, status="running",
                                    instance_id="srv_far", heartbeat_at=stale.created_at))
    mgr = JobManager(st, pg_config, workers=1, stale_after_s=30, job_retries=0)
    assert mgr.recover() == [stale.id]
    j = st.get_job(stale.id)
    assert (j.status, j.instance_id) == ("interrupted", "srv_far") and j.error.endswith("submit it again")
    assert st.get_job(fresh.id).status == "running"

    again = st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, status="running",
                                    instance_id="srv_far", heartbeat_at=LONG_AGO))
    mgr.job_retries = 1
    assert mgr.recover() == [again.id]
    j = st.get_job(again.id)
    assert (j.status, j.instance_id, j.attempt) == ("queued", None, 1)  # any live server claims it next
    assert st.claim_job("srv_near").id == again.id
    st.close()


@pytest.mark.postgis
def test_the_pool_keeps_to_its_maximum_under_32_concurrent_clients(tmp_path, database_url):
    schema, app = unique_schema("pool"), f"vacuum-pooltest-{os.getpid()}"
    st = PostGISStorage(tmp_path / "ws", database_url, schema=schema, pool_max=4, application_name=app)
    st.init()
    peak, stop = [0], threading.Event()

    def watch():
        with psycopg.connect(database_url, autocommit=True) as con:
            while not stop.is_set():
                n = con.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                (app,)).fetchone()[0]
                peak[0] = max(peak[0], n)
                time.sleep(0.005)

    def client(i):
        for _ in range(5):
            st._query("SELECT pg_sleep(0.02)")
            st.create_job(JobRecord(id=new_id("an"), kind="analysis", request={"client": i}))
        return len(st.list_jobs(limit=1000))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(32) as ex:
            list(ex.map(client, range(32)))
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        watcher.join(5)
    assert len(st.list_jobs(limit=1000)) == 32 * 5
    assert 1 <= peak[0] <= 4, peak
    assert elapsed < 60
    print(f"pool max 4, 32 clients x 5 (sleep 20 ms + insert): {elapsed:.2f} s, peak {peak[0]} connections")
    st.drop_schema()
    st.close()


# ============================================================================ schema versions

_OLD_JOBS = {  # the jobs table as Vacuum created it before schema versions (no heartbeat_at, no attempt)
    "sqlite": "CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', "
              "status TEXT NOT NULL, request TEXT NOT NULL, stage TEXT, stage_fraction REAL NOT NULL DEFAULT 0, "
              "fraction REAL NOT NULL DEFAULT 0, error TEXT, result TEXT, created_at TEXT NOT NULL, "
              "started_at TEXT, finished_at TEXT, updated_at TEXT NOT NULL, instance_id TEXT, "
              "created_by TEXT NOT NULL DEFAULT '', created_by_name TEXT NOT NULL DEFAULT '')",
    "postgis": "CREATE TABLE jobs (id text PRIMARY KEY, kind text NOT NULL, name text NOT NULL DEFAULT '', "
               "status text NOT NULL, request text NOT NULL, stage text, "
               "stage_fraction double precision NOT NULL DEFAULT 0, fraction double precision NOT NULL DEFAULT 0, "
               "error text, result text, created_at timestamptz NOT NULL, started_at timestamptz, "
               "finished_at timestamptz, updated_at timestamptz NOT NULL, instance_id text, "
               "created_by text NOT NULL DEFAULT '', created_by_name text NOT NULL DEFAULT '')",
}
_OLD_ROW = ("INSERT INTO jobs (id, kind, status, request, created_at, updated_at, instance_id) VALUES "
            "('an_old', 'analysis', 'running', '{\"v\": 1}', '2024-05-01T10:00:00.000+00:00', "
            "'2024-05-01T10:05:00.000+00:00', 'srv_old')")


def _raw(cfg: StorageConfig, *statements: str) -> list:
    """Run SQL on the database behind ``cfg`` without Vacuum; the rows of the last statement."""
    if cfg.database_url is None:
        cfg.workspace.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(cfg.workspace / "vacuum.sqlite", isolation_level=None)
        try:
            rows = []
            for s in statements:
                rows = con.execute(s).fetchall()
            return rows
        finally:
            con.close()
    with psycopg.connect(cfg.database_url, autocommit=True,
                         options=f"-c search_path={cfg.schema},public -c TimeZone=UTC") as con:
        rows = []
        for s in statements:
            cur = con.execute(s)
            rows = cur.fetchall() if cur.description else []
        return rows


def _backend(cfg):
    return "sqlite" if cfg.database_url is None else "postgis"


def test_an_old_schema_database_is_migrated(any_config):
    create = [] if any_config.database_url is None else [f'CREATE SCHEMA "{any_config.schema}"']
    _raw(any_config, *create, _OLD_JOBS[_backend(any_config)], _OLD_ROW)
    st = any_config.open()
    st.init()
    try:
        job = st.get_job("an_old")  # kept, with the new columns filled in
        assert (job.status, job.request, job.instance_id, job.attempt) == ("running", {"v": 1}, "srv_old", 0)
        assert job.heartbeat_at is not None and job.heartbeat_at == job.updated_at
        assert _raw(any_config, "SELECT version FROM schema_version ORDER BY version") == [
            (m.version,) for m in M.MIGRATIONS]
        st.create_job(JobRecord(id="an_new", kind="analysis", request={}))  # the other tables are there too
        assert [j.id for j in st.list_jobs(statuses=("queued",))] == ["an_new"]
        st.init()  # a second start applies nothing
        assert _raw(any_config, "SELECT count(*) FROM schema_version") == [(len(M.MIGRATIONS),)]
    finally:
        st.close()


def test_a_failing_migration_leaves_the_database_as_it_was(any_config, monkeypatch):
    st = any_config.open()
    st.init()
    bad = M.Migration(SCHEMA_VERSION + 1, "broken", sqlite="ALTER TABLE jobs ADD COLUMN x TEXT; SELECT * FROM nope",
                      postgis="ALTER TABLE jobs ADD COLUMN x text; SELECT * FROM nope")
    monkeypatch.setattr(M, "MIGRATIONS", (*M.MIGRATIONS, bad))
    monkeypatch.setattr(M, "SCHEMA_VERSION", bad.version)
    with pytest.raises(Exception, match="nope"):
        st.init()
    assert _raw(any_config, "SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    st.create_job(JobRecord(id="an_1", kind="analysis", request={}))
    cols = (_raw(any_config, "SELECT name FROM pragma_table_info('jobs')") if any_config.database_url is None else
            _raw(any_config, "SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs' "
                             f"AND table_schema = '{any_config.schema}'"))
    assert ("x",) not in cols  # the half-applied migration was rolled back
    st.close()


def test_a_database_newer_than_the_code_is_refused(any_config):
    st = any_config.open()
    st.init()
    _raw(any_config, f"INSERT INTO schema_version (version, name, applied_at) VALUES ({SCHEMA_VERSION + 7}, "
                     "'from the future', '2030-01-01T00:00:00.000+00:00')")
    where = str(any_config.workspace / "vacuum.sqlite") if any_config.database_url is None else \
        f"(schema {any_config.schema})"
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 7}, newer than this "
                                                 f"Vacuum's {SCHEMA_VERSION}") as e:
        st.init()
    msg = str(e.value)
    assert where in msg and "upgrade Vacuum" in msg and "\n" not in msg
    if any_config.database_url is not None:
        assert "@" not in msg  # the URL's password is never shown
    st.close()


def test_a_server_refuses_to_start_on_a_newer_database(tmp_path):
    cfg = StorageConfig(tmp_path / "ws", None)
    st = cfg.open()
    st.init()
    _raw(cfg, "INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'x', '2030-01-01')")
    app = create_app(Settings(workspace=cfg.workspace, workers=1, _env_file=None))
    with pytest.raises(SchemaVersionError, match="schema version 999"), TestClient(app):
        pass
