"""Shared test set-up: where the real data is, the one rule for "in CI", the demo analysis.

- :func:`in_ci` is the one rule for "in CI" (``CI`` set to 1/true/yes, any case; the same
  function as :func:`api.testing.in_ci`, which the PostGIS fixtures use). Every skip that
  depends on data or tools goes through :func:`skip_or_fail`: locally it skips, in CI it
  fails, so a green CI never hides a test that did not run.
- :data:`SHARED_DATA` is the project's real data sets: ``$VACUUM_SHARED_DATA``, else
  ``../shared/data`` next to the checkout. Tests that read it take the :func:`shared_data`
  fixture (``pytestmark = real_data`` or ``@real_data``).
- :func:`demo_analysis` runs the bundled demo (MINUSCA, CAR, 2020-10-31, 1 km) once per
  session into a temporary folder. Treat it as read-only: copy it (``shutil.copytree``) to
  change anything.
- ``events_in_window_by_hand`` and ``zones_by_hand`` compute what a planner would check in
  a written analysis straight from the data file and the gap COG, without the engine.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from api.testing import in_ci

__all__ = ["ROOT", "DEMO", "SHARED_DATA", "in_ci", "skip_or_fail", "real_data",
           "events_in_window_by_hand", "zones_by_hand"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "minusca"
DEMO_AS_OF = date(2020, 10, 31)
SHARED_DATA = Path(os.environ.get("VACUUM_SHARED_DATA", "").strip() or ROOT.parent / "shared" / "data")


def skip_or_fail(reason: str) -> None:
    """Skip the test; in CI (:func:`in_ci`) fail it instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing prerequisite fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; skips (in CI: fails) when it is not there."""
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"shared real data not present at {SHARED_DATA} (set VACUUM_SHARED_DATA)")
    return SHARED_DATA


real_data = pytest.mark.usefixtures("shared_data")
"""Mark for tests that read :data:`SHARED_DATA`."""


@pytest.fixture(scope="session")
def demo_analysis(tmp_path_factory) -> Path:
    """The demo analysis folder (1 km, as `vacuum demo` writes it), computed once per session."""
    from cli.main import main

    out = tmp_path_factory.mktemp("demo") / "analysis"
    assert main(["demo", "--out", str(out), "--quiet", "--jobs", "2"]) == 0
    return out


# ------------------------------------------------------------------ expectations by hand


def events_in_window_by_hand(csv: Path, as_of: date, lookback_days: float, grid_tif: Path) -> pd.DataFrame:
    """UCDP GED rows with ``as_of - lookback_days <= date_start <= as_of`` whose point lies
    inside the footprint of ``grid_tif`` (read with rasterio, not the engine's grid)."""
    import rasterio
    from pyproj import Transformer

    ev = pd.read_csv(csv, usecols=["id", "date_start", "longitude", "latitude", "best"])
    d = pd.to_datetime(ev["date_start"]).dt.normalize()
    first = pd.Timestamp(as_of - timedelta(days=lookback_days))
    ev = ev[(d >= first) & (d <= pd.Timestamp(as_of))]
    with rasterio.open(grid_tif) as ds:
        to_grid = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True)
        x, y = to_grid.transform(ev["longitude"].to_numpy(), ev["latitude"].to_numpy())
        b = ds.bounds
    on_grid = (x >= b.left) & (x < b.right) & (y > b.bottom) & (y <= b.top)
    return ev[on_grid]


def zones_by_hand(gap_tif: Path, threshold: float, min_area_km2: float) -> np.ndarray:
    """Areas (km², largest first) of the 8-connected areas with gap >= ``threshold`` of at
    least ``min_area_km2`` in a gap COG, labelled with scipy.ndimage (docs/model.md)."""
    import rasterio
    from scipy import ndimage

    with rasterio.open(gap_tif) as ds:
        gap = ds.read(1, masked=True).astype(np.float64).filled(np.nan)
        assert ds.crs.linear_units in ("metre", "meter"), ds.crs
        cell_km2 = abs(ds.transform.a * ds.transform.e) / 1e6
    with np.errstate(invalid="ignore"):
        mask = gap >= threshold
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:] * cell_km2
    return np.sort(areas[areas >= min_area_km2 - 1e-9])[::-1]
