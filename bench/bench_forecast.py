"""Benchmark: the fitted forecast against persistence and history on real CAR data.

UCDP GED 23.1 CAR events (../shared/data/ucdp_ged), the CAR from Natural Earth admin-1
(iso3 CAF), the backtest's grid (equal-area, 1 km, 50 km margin) and 10 km units (a unit
is evaluated when one of its 1 km cells is inside the CAR; an event is an outcome when
its 1 km cell is). Quarterly origins 2014-2019 with closed 12-month windows train each
as-of date; the forecast at the as-of date is scored on the events of the next 12 months.

    PYTHONPATH=. .venv/bin/python bench/bench_forecast.py [--n-boot 1000] [--standalone]

By default the model is fitted as the pipeline fits it (``geo.risk``: ``CV_SPLITS``
time-ordered folds, one BLAS/OpenMP thread); ``--standalone`` uses ``ForecastModel``'s
own defaults (6 folds, the libraries' default threads).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from geo.forecast.evaluate import (
    Interval,
    Scores,
    bootstrap_difference,
    reliability_table,
    score_forecast,
    superblocks,
)
from geo.forecast.features import feature_matrix, labels, unit_events
from geo.forecast.model import (
    ForecastModel,
    HistoryBaseline,
    PersistenceBaseline,
    build_origin_set,
    closed_origins,
    quarterly_origins,
)
from geo.forecast.units import unit_grid, unit_mask
from geo.friction import area_mask
from geo.grid import grid_for_area
from geo.layers import load_admin, load_events
from geo.risk import CV_SPLITS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
AS_OF = ("2017-06-30", "2018-06-30", "2019-06-30")
HORIZON = 12


def _trio(s: dict[str, Scores], attr: str) -> str:
    return "/".join(f"{getattr(s[k], attr):.3f}" for k in ("fc", "pers", "hist"))


def _ci(iv: Interval) -> str:
    return f"{iv.estimate:+.3f} [{iv.low:+.3f},{iv.high:+.3f}]"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--block-km", type=float, default=10.0)
    ap.add_argument("--standalone", action="store_true",
                    help="ForecastModel's own defaults (6 folds, default threads) instead of the pipeline's")
    args = ap.parse_args()

    t0 = time.perf_counter()
    admin = load_admin(SHARED / "boundaries/ne_admin1_mli_cod_caf_ssd.geojson")
    admin = admin[admin["parent"] == "CAF"]
    events = load_events(SHARED / "ucdp_ged/ged_v23_1_caf_events.csv")
    grid = grid_for_area(admin, resolution_m=1000.0, margin_m=50_000.0)
    admin, events = admin.to_crs(grid.crs), events.to_crs(grid.crs)
    inside = area_mask(grid, admin)
    ug = unit_grid(grid, args.block_km)
    area_units = np.flatnonzero(unit_mask(inside, grid, ug).ravel())
    ev = unit_events(events, ug, grid.crs)
    r, c, ok = grid.rowcol(events.geometry.x.to_numpy(), events.geometry.y.to_numpy())
    in_area = ok.copy()
    in_area[ok] = inside[r[ok], c[ok]]
    label_ev = ev.subset(in_area)
    print(f"CAR: {len(events)} GED events, {ug.n_rows}x{ug.n_cols} units of {args.block_km:g} km, "
          f"{area_units.size} in the area; prepared in {time.perf_counter() - t0:.1f} s\n")

    all_origins = quarterly_origins("2014-01-01", "2019-12-31")
    head = (f"{'as of':<10} {'pos/units':>9} {'model':>8} {'origins':>7} {'fit s':>5} | "
            f"{'AUC fc/pers/hist':>17} | {'AP fc/pers/hist':>17} | {'BSS fc/pers/hist':>20} | "
            f"{'dAUC fc-pers [95% CI]':>24} | {'dAP fc-pers [95% CI]':>24}")
    print(head)
    print("-" * len(head))
    for as_of in AS_OF:
        train_o = closed_origins(all_origins, as_of, HORIZON)
        t1 = time.perf_counter()
        data = build_origin_set(ev, train_o, HORIZON, units=area_units, label_events=label_ev)
        if args.standalone:
            model = ForecastModel(HORIZON, random_state=0).fit(data, as_of)
        else:
            with threadpool_limits(1):
                model = ForecastModel(HORIZON, n_splits=CV_SPLITS, random_state=0).fit(data, as_of)
        fit_s = time.perf_counter() - t1
        pers = PersistenceBaseline(HORIZON).fit(data, as_of)
        hist = HistoryBaseline(HORIZON).fit(data, as_of)
        X = feature_matrix(ev, as_of, units=area_units)
        y = labels(label_ev, as_of, HORIZON, units=area_units).any
        p = {"fc": model.predict_proba(X)[:, 1], "pers": pers.predict_proba(X)[:, 1],
             "hist": hist.predict_proba(X)[:, 1]}
        s = {k: score_forecast(y, v) for k, v in p.items()}
        groups = superblocks(area_units, ug.shape, 5)
        d_auc = bootstrap_difference(y, p["fc"], p["pers"], groups, metric="auc", n_boot=args.n_boot)
        d_ap = bootstrap_difference(y, p["fc"], p["pers"], groups, metric="average_precision", n_boot=args.n_boot)

        print(f"{as_of:<10} {s['fc'].positives:>3}/{s['fc'].n:<5} {model.model_name_:>8} {len(train_o):>7} "
              f"{fit_s:>5.1f} | {_trio(s, 'auc'):>17} | {_trio(s, 'average_precision'):>17} | "
              f"{_trio(s, 'brier_skill'):>20} | {_ci(d_auc):>24} | {_ci(d_ap):>24}")
        cv = ", ".join(f"{k} {v['mean']:.4f}" for k, v in model.cv_results_.items())
        print(f"{'':<10} CV mean ({model.scoring}): {cv}")
        rel = reliability_table(y, p["fc"], n_bins=4, strategy="quantile")
        cells = "; ".join(f"{r.mean_predicted:.4f} vs {r.observed_rate:.4f} (n={r.count})" for r in rel.itertuples())
        print(f"{'':<10} reliability (forecast quartiles, predicted vs observed): {cells}")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s; fc = ForecastModel (Platt-calibrated), pers = events in "
          "the unit in the last 12 months, hist = last 60 months (both Platt-calibrated on the training origins); "
          "BSS vs the base rate of the scored year; CI: 50 km super-block bootstrap")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
