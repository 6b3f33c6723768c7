"""The service on a team-server setup: metadata and vector layers in PostGIS, rasters and
analysis folders in the workspace; worker processes open the same database."""

import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.storage import StorageConfig
from api.testing import ADMIN_KEY, DEMO, postgis_url, unique_schema

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="session")
def database_url():
    """PostGIS for the session: VACUUM_TEST_DATABASE_URL, else scripts/postgis.sh (skip; in CI, fail)."""
    return postgis_url()


@pytest.fixture(scope="module")
def pg(tmp_path_factory, database_url):
    url, schema = database_url, unique_schema("api")
    settings = Settings(workspace=tmp_path_factory.mktemp("ws"), database_url=url, database_schema=schema,
                        admin_key=ADMIN_KEY, workers=1, _env_file=None)
    with TestClient(create_app(settings)) as client:
        yield client, url, schema
    st = StorageConfig(settings.workspace, url, schema).open()
    st.drop_schema()
    st.close()


def test_layers_and_an_analysis_on_postgis(pg):
    client, url, schema = pg
    a = {"X-API-Key": ADMIN_KEY}
    assert client.get("/health").json()["storage"] == "postgis"
    ids = {}
    for kind, name, fields in (("bases", "bases_geopko_v2.1.csv", {"as_of": "2020-10-31"}),
                               ("admin", "admin1_naturalearth.geojson", {}),
                               ("events", "events_ged_v23.1.csv", {}),
                               ("population", "population_worldpop2020_density.tif", {"population_units": "density"})):
        r = client.post("/layers", headers=a, data={"kind": kind, **fields},
                        files={"file": (name, (DEMO / name).read_bytes())})
        assert r.status_code == 201, r.text
        ids[kind] = r.json()["id"]
    with psycopg.connect(url) as con:  # a vector layer is a PostGIS table QGIS can open
        row = con.execute("SELECT type, srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s",
                          (schema, f"layer_{ids['bases']}")).fetchone()
        assert row == ("GEOMETRY", 4326)
        n = con.execute(f'SELECT count(*) FROM "{schema}"."layer_{ids["bases"]}"').fetchone()[0]
        assert n == 20
    r = client.get(f"/layers/{ids['bases']}/data", headers=a)
    assert r.status_code == 200 and len(r.json()["features"]) == 20

    r = client.post("/analyses", headers=a, json={"layers": ids, "as_of": "2020-10-31",
                                                  "params": {"resolution_m": 5000}})
    assert r.status_code == 202, r.text
    t0 = time.monotonic()
    while (st := client.get(r.json()["status_url"], headers=a).json())["status"] in ("queued", "running"):
        assert time.monotonic() - t0 < 120
        time.sleep(0.1)
    assert st["status"] == "done", st
    zones = client.get(f"/analyses/{st['id']}/zones", headers=a).json()
    assert zones["features"] and "nearest_base_id" in zones["features"][0]["properties"]
    audit = client.get("/audit", headers=a).json()
    assert {"layer.upload", "analysis.submit", "layer.fetch"} <= {x["action"] for x in audit}
