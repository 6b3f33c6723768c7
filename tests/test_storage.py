"""The storage interface, run the same on both backends: embedded SQLite and PostGIS."""

import os
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal
from pyproj import CRS

from api.errors import NotFoundError
from api.jobs import JobContext, JobManager
from api.storage import (
    AuditRecord,
    InstanceRecord,
    JobRecord,
    KeyRecord,
    LayerRecord,
    PlanRecord,
    Storage,
    StorageConfig,
    new_id,
)
from api.storage.base import column_types
from api.testing import DEMO, postgis_url, unique_schema
from geo import layers as L


@pytest.fixture(scope="session")
def database_url():
    """PostGIS for the session: VACUUM_TEST_DATABASE_URL, else scripts/postgis.sh (skip; in CI, fail)."""
    return postgis_url()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def config(request, tmp_path):
    if request.param == "sqlite":
        yield StorageConfig(tmp_path / "ws", None)
        return
    cfg = StorageConfig(tmp_path / "ws", request.getfixturevalue("database_url"), unique_schema())
    yield cfg
    st = cfg.open()
    st.drop_schema()
    st.close()


@pytest.fixture
def storage(config):
    st = config.open()
    st.init()
    yield st
    st.close()


def _record(gdf, kind="bases", **kw) -> LayerRecord:
    return LayerRecord(id=new_id("ly"), kind=kind, name=kind, filename=f"{kind}.csv", format="CSV", storage="vector",
                       crs=gdf.crs.to_string(), crs_wkt=gdf.crs.to_wkt(), feature_count=len(gdf),
                       columns=column_types(gdf), attrs={k: v for k, v in gdf.attrs.items() if k != "source"},
                       **kw)


def _same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert CRS.from_user_input(a.crs) == CRS.from_user_input(b.crs)
    assert_frame_equal(a.drop(columns="geometry").astype(object).where(a.drop(columns="geometry").notna(), None),
                       b.drop(columns="geometry").astype(object).where(b.drop(columns="geometry").notna(), None))
    assert shapely.equals_exact(np.asarray(a.geometry.values), np.asarray(b.geometry.values), tolerance=1e-9).all()


def _interface_methods() -> set[str]:
    """The operations the ``Storage`` protocol declares (its public functions)."""
    return {name for name, v in vars(Storage).items() if callable(v) and not name.startswith("_")}


class _Recording:
    """A storage that notes the name of every operation called on it."""

    def __init__(self, inner):
        self._inner, self.called = inner, set()

    def __getattr__(self, name):
        value = getattr(self._inner, name)
        if callable(value):
            self.called.add(name)
        return value


def test_every_operation_of_the_interface_behaves_as_specified(storage, config):
    """One sequence through every operation of the protocol, each result checked against what
    the operation promises; run on each backend, so both behave the same (an ``isinstance``
    against the runtime-checkable Protocol would only compare method names)."""
    import rasterio
    from affine import Affine

    st = _Recording(storage)
    assert (st.backend, st.workspace) == ("sqlite" if config.database_url is None else "postgis", config.workspace)
    st.init()  # a second init keeps what is there and adds nothing
    assert st.list_layers() == [] and st.list_jobs() == [] and st.list_keys() == [] and st.list_audit() == []

    # layers: three points in UTM 34N, a text and an integer column
    gdf = gpd.GeoDataFrame({"name": ["a", "b", "c"], "n": [1, 2, 3]},
                           geometry=gpd.points_from_xy([500000.0, 510000.0, 520000.0], [600000.0] * 3), crs=32634)
    rec = _record(gdf, kind="towns")
    rec.id = "ly_vec"
    vec = st.add_vector_layer(rec, gdf)
    assert (vec.id, st.get_layer("ly_vec").feature_count, st.get_layer("ly_vec").columns) == (
        "ly_vec", 3, {"name": "str", "n": "int"})
    back = st.read_layer("ly_vec")
    assert list(back["name"]) == ["a", "b", "c"] and list(back["n"]) == [1, 2, 3] and back.crs.to_epsg() == 32634
    assert [(p.x, p.y) for p in back.geometry] == [(500000.0, 600000.0), (510000.0, 600000.0), (520000.0, 600000.0)]
    tif = st.tmp_dir() / "pop.tif"
    assert tif.parent.is_relative_to(config.workspace)
    with rasterio.open(tif, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32", crs="EPSG:32634",
                       transform=Affine(1000.0, 0.0, 500000.0, 0.0, -1000.0, 600000.0)) as ds:
        ds.write(np.array([[[1, 2], [3, 4]]], dtype="float32"))
    rec = LayerRecord(id="ly_ras", kind="population", name="pop", filename="pop.tif", format="GeoTIFF",
                      storage="raster", crs="EPSG:32634", crs_wkt=CRS.from_epsg(32634).to_wkt())
    st.add_raster_layer(rec, tif)
    with rasterio.open(st.raster_path("ly_ras")) as ds:
        assert ds.read(1).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert [r.id for r in st.list_layers()] == ["ly_vec", "ly_ras"]
    assert [r.id for r in st.list_layers("population")] == ["ly_ras"]

    # jobs: queued -> running -> done, each step once
    st.create_job(JobRecord(id="an_1", kind="analysis", request={"bbox": [14, 2, 28, 11]}, name="first"))
    assert st.start_job("an_1", "srv_1") is True and st.start_job("an_1", "srv_1") is False
    assert st.update_progress("an_1", "grid", 0.5, 0.25) is True
    j = st.get_job("an_1")
    assert (j.status, j.stage, j.stage_fraction, j.fraction, j.instance_id) == ("running", "grid", 0.5, 0.25, "srv_1")
    assert st.finish_job("an_1", "done", result={"zones": 2}) is True
    assert st.finish_job("an_1", "failed", error="late") is False
    j = st.get_job("an_1")  # done: both fractions complete
    assert (j.status, j.stage, j.stage_fraction, j.fraction, j.result, j.error, j.request) == (
        "done", "grid", 1.0, 1.0, {"zones": 2}, None, {"bbox": [14, 2, 28, 11]})
    assert [x.id for x in st.list_jobs(kind="analysis", statuses=("done",))] == ["an_1"]
    assert st.list_jobs(statuses=("queued",)) == []
    assert st.job_dir("analysis", "an_1") == config.workspace / "analyses" / "an_1"

    # the shared queue: claim the oldest queued job, heartbeat it, take it back when its server is gone
    assert (st.claims_jobs, st.claim_job("srv_1")) == (config.database_url is not None, None)  # none queued
    st.create_job(JobRecord(id="an_2", kind="analysis", request={}, created_at="2020-01-01T00:00:00.000+00:00"))
    st.create_job(JobRecord(id="an_3", kind="analysis", request={}))
    claimed = st.claim_job("srv_2")
    assert (claimed.id, claimed.status, claimed.instance_id, claimed.attempt) == ("an_2", "running", "srv_2", 0)
    assert st.touch_jobs("srv_2") == 1 and st.touch_jobs("srv_x") == 0
    assert st.reap_jobs(stale_before=None, instance_ids=["srv_2"], retries=1) == [("an_2", "queued")]
    j = st.get_job("an_2")
    assert (j.status, j.instance_id, j.attempt, j.started_at) == ("queued", None, 1, None)
    assert st.claim_job("srv_3").id == "an_2"  # the oldest again
    assert not st.update_progress("an_2", "grid", 0.5, 0.1, attempt=0)  # a late worker of attempt 0 cannot write
    assert st.update_progress("an_2", "grid", 0.5, 0.1, attempt=1)
    assert st.reap_jobs(stale_before=None, instance_ids=["srv_3"], retries=1) == [("an_2", "interrupted")]
    assert st.get_job("an_2").error.endswith("submit it again")
    assert st.reap_jobs(stale_before=None) == []
    assert st.finish_job("an_3", "failed", error="not run") is True

    # server instances
    st.register_instance(InstanceRecord(id="srv_1", host="h", pid=1))
    st.heartbeat("srv_1")
    assert st.list_instances()[0].stopped_at is None
    st.stop_instance("srv_1")
    (inst,) = st.list_instances()
    assert (inst.id, inst.host, inst.pid) == ("srv_1", "h", 1) and inst.stopped_at is not None

    # keys and audit
    st.add_key(KeyRecord(id="k1", name="ops", role="viewer", salt="s", hash="h"))
    assert (st.get_key("k1").name, [k.id for k in st.list_keys()]) == ("ops", ["k1"])
    assert st.revoke_key("k1").revoked_at is not None
    st.add_audit(AuditRecord("k1", "ops", "viewer", "export", "an_1/zones.gpkg", detail={"n": 1}))
    (entry,) = st.list_audit(action="export")
    assert (entry.key_id, entry.target, entry.outcome, entry.detail) == ("k1", "an_1/zones.gpkg", "ok", {"n": 1})

    # plans: versions kept, a save from a stale version refused and nothing changed
    plan = {"name": "p", "phases": [{"name": "A", "date": "2021-03-31", "actions": [{"close": ["x"]}]}]}
    st.add_plan(PlanRecord(id="pl_1", analysis_id="an_1", name="p", plan=plan, updated_by="ops"))
    edited = {**plan, "name": "p2"}
    assert st.update_plan("pl_1", 1, edited, "p2", "chief").version == 2
    assert st.update_plan("pl_1", 1, {**plan, "name": "late"}, "late", "ops") is None
    assert (st.get_plan("pl_1").name, st.get_plan("pl_1").plan) == ("p2", edited)
    assert [(v["version"], v["saved_by"], v["plan"]["name"]) for v in st.plan_versions("pl_1")] == [
        (1, "ops", "p"), (2, "chief", "p2")]
    assert [p.id for p in st.list_plans("an_1")] == ["pl_1"] and st.list_plans("an_9") == []

    st.close()
    again = config.open()  # what was written is there for the next handle
    try:
        assert [r.id for r in again.list_layers()] == ["ly_vec", "ly_ras"] and again.get_job("an_1").status == "done"
    finally:
        again.close()
    assert st.called == _interface_methods()


@pytest.mark.parametrize("kind, load", [
    ("bases", lambda: L.load_bases(DEMO / "bases_geopko_v2.1.csv")),
    ("events", lambda: L.load_events(DEMO / "events_ged_v23.1.csv")),
    ("admin", lambda: L.load_admin(DEMO / "admin1_naturalearth.geojson")),
    ("roads", lambda: L.load_roads(DEMO / "roads_trans_african_highway.geojson")),
    ("airports", lambda: L.load_sites(DEMO / "airports_ourairports.csv", kind="airport")),
])
def test_vector_layer_round_trip(storage, kind, load):
    gdf = load()
    rec = storage.add_vector_layer(_record(gdf, kind), gdf)
    back = storage.read_layer(rec.id)
    _same(gdf, back)
    assert back["geometry"].crs == gdf.crs
    for col, t in rec.columns.items():  # dtypes the pipeline relies on
        if t == "datetime":
            assert pd.api.types.is_datetime64_any_dtype(back[col])
        elif t in ("int", "float"):
            assert pd.api.types.is_numeric_dtype(back[col])
    assert back.attrs["schema"] == gdf.attrs["schema"]
    assert storage.get_layer(rec.id) == rec
    assert [r.id for r in storage.list_layers(kind)] == [rec.id]


def test_layer_in_a_crs_without_epsg_code_and_with_missing_values(storage):
    laea = CRS.from_proj4("+proj=laea +lat_0=6.6 +lon_0=20.9 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")
    gdf = gpd.GeoDataFrame(
        {"name": ["a", None], "n": [1, 2], "x": [1.5, np.nan], "ok": [True, False],
         "when": pd.to_datetime(["2020-01-02", None])},
        geometry=[shapely.Point(1000.0, -2000.0), shapely.Polygon([(0, 0), (10, 0), (10, 10)])], crs=laea)
    rec = storage.add_vector_layer(_record(gdf, "impassable"), gdf)
    back = storage.read_layer(rec.id)
    _same(gdf, back)
    assert back["name"].iloc[1] is None and np.isnan(back["x"].iloc[1]) and pd.isna(back["when"].iloc[1])


def test_raster_layer_is_moved_into_the_store(storage):
    src = storage.tmp_dir() / "pop.tif"
    src.write_bytes((DEMO / "population_worldpop2020_density.tif").read_bytes())
    rec = LayerRecord(id=new_id("ly"), kind="population", name="pop", filename="pop.tif", format="GeoTIFF",
                      storage="raster", crs="EPSG:4326", crs_wkt=CRS.from_epsg(4326).to_wkt(),
                      attrs={"population_units": "density"})
    storage.add_raster_layer(rec, src)
    path = storage.raster_path(rec.id)
    assert path.is_file() and not src.exists() and path.is_relative_to(storage.workspace)
    assert storage.get_layer(rec.id).attrs == {"population_units": "density"}
    with pytest.raises(NotFoundError, match="vector layer"):
        bases = L.load_bases(DEMO / "bases_geopko_v2.1.csv")
        storage.raster_path(storage.add_vector_layer(_record(bases), bases).id)


def test_lookups_of_absent_things_raise_not_found(storage):
    with pytest.raises(NotFoundError, match="no layer 'ly_nope'"):
        storage.get_layer("ly_nope")
    with pytest.raises(LookupError):
        storage.read_layer("ly_nope")
    with pytest.raises(NotFoundError, match="no job"):
        storage.get_job("an_nope")
    with pytest.raises(NotFoundError, match="no API key"):
        storage.revoke_key("nope")


def test_a_failed_layer_write_leaves_the_store_as_it_was(storage):
    bases = L.load_bases(DEMO / "bases_geopko_v2.1.csv")
    first = storage.add_vector_layer(_record(bases), bases)
    again = _record(bases)
    again.id = first.id  # a duplicate id: the metadata insert fails after the data is written
    with pytest.raises(Exception):  # noqa: B017 - sqlite3.IntegrityError or psycopg's
        storage.add_vector_layer(again, bases.iloc[:3])
    _same(storage.read_layer(first.id), bases)  # the earlier layer is whole
    assert [r.id for r in storage.list_layers()] == [first.id]


def test_job_status_changes_are_conditional(storage):
    job = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={"layers": {"bases": "x"}}))
    assert not storage.update_progress(job.id, "grid", 0.5, 0.1)  # not running yet
    assert storage.start_job(job.id, "srv_a")
    assert not storage.start_job(job.id, "srv_b")  # started once
    assert storage.update_progress(job.id, "travel_time", 0.25, 0.3)
    j = storage.get_job(job.id)
    assert (j.status, j.stage, j.stage_fraction, j.fraction, j.instance_id) == ("running", "travel_time", 0.25, 0.3, "srv_a")
    assert storage.finish_job(job.id, "interrupted", error="server stopped")
    assert not storage.finish_job(job.id, "done", result={"late": True})  # a late worker cannot revive it
    assert not storage.update_progress(job.id, "zones", 1.0, 0.9)
    j = storage.get_job(job.id)
    assert (j.status, j.error, j.result) == ("interrupted", "server stopped", None)
    with pytest.raises(ValueError, match="done, failed or interrupted"):
        storage.finish_job(job.id, "running")


def test_jobs_are_listed_newest_first_and_filtered(storage):
    ids = []
    for kind in ("analysis", "scenario", "analysis"):
        ids.append(storage.create_job(JobRecord(id=new_id("j"), kind=kind, request={})).id)
        time.sleep(0.002)
    storage.finish_job(ids[0], "done", result={"ok": 1})
    assert [j.id for j in storage.list_jobs()] == ids[::-1]
    assert [j.id for j in storage.list_jobs(kind="analysis")] == [ids[2], ids[0]]
    assert [j.id for j in storage.list_jobs(statuses=("queued",))] == [ids[2], ids[1]]
    assert [j.id for j in storage.list_jobs(limit=1)] == [ids[2]]
    assert storage.get_job(ids[0]).result == {"ok": 1}


def test_keys_and_audit(storage):
    k = storage.add_key(KeyRecord(id="k1", name="ops", role="viewer", salt="s", hash="h", created_by="bootstrap"))
    assert storage.get_key("k1") == k and storage.list_keys() == [k]
    revoked = storage.revoke_key("k1")
    assert revoked.revoked_at is not None
    assert storage.revoke_key("k1").revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    e1 = storage.add_audit(AuditRecord("k1", "ops", "viewer", "export", "an_1/zones.gpkg"))
    time.sleep(0.002)
    e2 = storage.add_audit(AuditRecord("k2", "cell", "planner", "analysis.submit", "an_2", detail={"params": {"a": 1}}))
    assert [e.id for e in storage.list_audit()] == [e2.id, e1.id]
    assert [e.target for e in storage.list_audit(action="export")] == ["an_1/zones.gpkg"]
    assert [e.target for e in storage.list_audit(key_id="k2")] == ["an_2"]
    assert storage.list_audit(key_id="k2")[0].detail == {"params": {"a": 1}}
    assert [e.id for e in storage.list_audit(since=e2.at)] == [e2.id]
    assert len(storage.list_audit(limit=1)) == 1


def test_instances_and_recovery_of_orphaned_jobs(storage, config):
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    storage.register_instance(InstanceRecord(id="srv_dead", host=os.uname().nodename, pid=dead_pid))
    storage.register_instance(InstanceRecord(id="srv_far", host="elsewhere", pid=1,
                                             heartbeat_at="2000-01-01T00:00:00.000+00:00"))
    storage.register_instance(InstanceRecord(id="srv_peer", host="elsewhere", pid=1))
    storage.heartbeat("srv_peer")
    jobs = {}
    for inst in ("srv_dead", "srv_far", "srv_peer", None):
        j = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}, instance_id=inst))
        jobs[inst] = j.id
    storage.start_job(jobs["srv_dead"], "srv_dead")
    mgr = JobManager(storage, config, workers=1, stale_after_s=60, job_retries=0)
    mgr.host = os.uname().nodename
    if storage.claims_jobs:  # PostGIS: a queued job waits for any live server; only the dead one's running job ends
        assert mgr.recover() == [jobs["srv_dead"]]
        assert storage.get_job(jobs["srv_dead"]).status == "interrupted"
        assert {storage.get_job(jobs[i]).status for i in ("srv_far", "srv_peer", None)} == {"queued"}
        return
    interrupted = set(mgr.recover())
    assert interrupted == {jobs["srv_dead"], jobs["srv_far"], jobs[None]}
    assert storage.get_job(jobs["srv_peer"]).status == "queued"  # a live peer's job is left alone
    err = storage.get_job(jobs["srv_dead"]).error
    assert storage.get_job(jobs["srv_dead"]).status == "interrupted" and f"pid {dead_pid}" in err
    storage.stop_instance("srv_peer")
    assert mgr.recover() == [jobs["srv_peer"]]
    assert {i.id for i in storage.list_instances()} == {"srv_dead", "srv_far", "srv_peer"}


def test_two_handles_see_the_same_store(storage, config):
    other = config.open()  # as a worker process would
    job = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}))
    assert other.start_job(job.id, "srv")
    assert storage.get_job(job.id).status == "running"
    other.close()


def test_job_products_appear_in_one_rename(storage):
    job = storage.create_job(JobRecord(id=new_id("an"), kind="analysis", request={}))
    ctx = JobContext(job=job, storage=storage)
    staging = ctx.staging_dir()
    (staging / "summary.json").write_text("{}")
    assert not ctx.final_dir().exists()  # nothing visible while being written
    final = ctx.publish()
    assert final == storage.job_dir("analysis", job.id) and (final / "summary.json").is_file()
    assert not staging.exists()


def test_init_drops_leftovers_of_interrupted_writes(config):
    st = config.open()
    st.init()
    bases = L.load_bases(DEMO / "bases_geopko_v2.1.csv")
    kept = st.add_vector_layer(_record(bases), bases)
    orphan = st.layers_dir / "ly_orphan.gpkg"  # data written, metadata never committed
    orphan.write_bytes(b"partial")
    old = st.tmp_dir() / "upload-old"
    old.mkdir()
    past = time.time() - 7200
    os.utime(old, (past, past))
    fresh = st.tmp_dir() / "upload-now"  # may belong to a request in flight of a live server: kept
    fresh.mkdir()
    st.register_instance(InstanceRecord(id="other", host="h", pid=1))  # that live server
    st.close()
    st = config.open()
    st.init()
    assert not orphan.exists() and not old.exists() and fresh.exists()
    _same(st.read_layer(kept.id), bases)
    st.close()


def test_sqlite_survives_a_writer_killed_mid_transaction(tmp_path):
    """A crash inside a transaction leaves the previous state readable (SQLite journal)."""
    import subprocess
    import sys

    cfg = StorageConfig(tmp_path / "ws", None)
    st = cfg.open()
    st.init()
    job = st.create_job(JobRecord(id="an_before", kind="analysis", request={"v": 1}))
    code = (
        "import os, sys\n"
        "from api.storage import StorageConfig\n"
        f"st = StorageConfig({str(tmp_path / 'ws')!r}, None).open()\n"
        "with st._transaction() as tx:\n"
        "    tx.execute(\"UPDATE jobs SET request = '{\\\"v\\\": 2}' WHERE id = 'an_before'\")\n"
        "    tx.execute(\"DELETE FROM jobs\")\n"
        "    os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 9
    assert st.get_job(job.id).request == {"v": 1}
