"""The monitoring map on a hand-made monitor folder (two dates, two units, three alerts):
one image per date and surface, the slider over the dates, the alert list, and the
viewers' variant (block gap, risk and new-zone alerts only, no gap figures or charts)."""

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import box

from geo.grid import Grid, equal_area_crs
from geo.rasters import write_cog
from maps import render_html
from maps.monitor import monitor_dates, monitor_map

DATES = ["2019-03-31", "2019-06-30"]


@pytest.fixture
def folder(tmp_path):
    crs = equal_area_crs(20.0, 6.0)
    grid = Grid(crs=crs, transform=Affine(10_000, 0, -500_000, 0, -10_000, 500_000),
                width=100, height=100)
    west = gpd.GeoDataFrame({"unit_id": ["U1", "U2"], "name": ["West", "East"], "level": [1, 1]},
                            geometry=[box(-500_000, -500_000, 0, 500_000), box(0, -500_000, 500_000, 500_000)],
                            crs=crs).to_crs(4326)
    west.to_file(tmp_path / "units.geojson", driver="GeoJSON")
    rows = []
    for k, d in enumerate(DATES):
        day = tmp_path / "dates" / d
        day.mkdir(parents=True)
        gap = np.full((100, 100), 5.0, dtype=np.float32)
        gap[40:45, 60:65] = 80.0 if k else 5.0  # a hot spot in the east at the second date
        write_cog(day / "gap.tif", gap, grid)
        write_cog(day / "risk.tif", np.full((100, 100), 0.02 + 0.1 * k, dtype=np.float32), grid)
        gpd.GeoDataFrame({"zone_id": [1] if k else [], "track": ["Z0001"] if k else []},
                         geometry=[box(100_000, 50_000, 150_000, 100_000)] if k else [], crs=crs
                         ).to_crs(4326).to_file(day / "zones.geojson", driver="GeoJSON")
        for uid in ("U1", "U2"):
            rows.append({"unit_id": uid, "name": uid, "level": 1, "date": d, "risk_mean": 0.02 + 0.1 * k,
                         "gap_mean": 5.0, "gap_max": 80.0 if (k and uid == "U2") else 5.0, "people_high": 0,
                         "people_critical": 1234.0 if (k and uid == "U2") else 0, "events_in_window": 3})
    (tmp_path / "series").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "series" / "admin.csv", index=False)
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "unit_U2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    alerts = [
        {"date": "2019-06-30", "unit_id": "U2", "unit_name": "East", "rule": "crossing", "metric": "gap_max",
         "message": "gap_max entered class critical"},
        {"date": "2019-06-30", "unit_id": "U2", "unit_name": "East", "rule": "rise", "metric": "risk_mean",
         "message": "risk_mean rose from 2 to 12"},
        {"date": "2019-06-30", "unit_id": "U2", "unit_name": "East", "rule": "new_zone", "metric": "area_km2",
         "message": "new vacuum zone Z0001"},
    ]
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": alerts}))
    (tmp_path / "monitor.json").write_text(json.dumps({"finished": DATES, "status": "complete"}))
    return tmp_path


def test_the_planners_map_steps_through_every_date(folder):
    page = render_html(monitor_map(folder))
    assert monitor_dates(folder) == DATES
    images = re.findall(r"L\.imageOverlay\(\s*\"data:image/png;base64,", page)
    assert len(images) == 2 * len(DATES)  # gap and risk per date
    assert 'max="1"' in page and 'value="1"' in page  # the slider: two dates, opening on the last
    assert json.dumps(DATES) in page
    for msg in ("gap_max entered class critical", "risk_mean rose from 2 to 12", "new vacuum zone Z0001"):
        assert msg in page
    assert "1,234" in page  # the unit's people at critical gap, whole people
    assert "<title>Vacuum monitoring 2019-03-31 to 2019-06-30</title>" in page


def test_the_viewers_map_has_the_block_gap_and_only_their_alerts(folder):
    page = render_html(monitor_map(folder, public=True))
    assert "gap_max entered class critical" not in page  # a gap alert: planners only
    assert "risk_mean rose from 2 to 12" in page and "new vacuum zone Z0001" in page
    assert "1,234" not in page and "People at critical gap" not in page
    assert "coverage gap (150 km blocks)" in page
    assert "data:image/png;base64,iVBORw0KGgowMDAw" not in page  # no chart of the gap


def test_a_folder_without_a_finished_date_is_refused(tmp_path):
    from maps.errors import MissingProductError

    (tmp_path / "monitor.json").write_text(json.dumps({"finished": []}))
    with pytest.raises(MissingProductError, match="no finished date"):
        monitor_map(tmp_path)
    with pytest.raises(MissingProductError, match="no monitor.json"):
        monitor_map(tmp_path / "nothing")
