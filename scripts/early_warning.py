"""Early warning against history: did `vacuum monitor` alert before the surges of events?

    PYTHONPATH=. .venv/bin/python scripts/early_warning.py car  [--out out/ew] [--resolution 10000] [--forecast-model logistic]
    PYTHONPATH=. .venv/bin/python scripts/early_warning.py mali [--out out/ew]

car:  MINUSCA (Geo-PKO v2.1 maps), UCDP GED 23.1 events, OCHA admin-2 units (72 sous-préfectures),
      quarterly as-of dates 2014-12-31 (MINUSCA's first map is October 2014) .. 2018-12-31.
mali: MINUSMA (Geo-PKO v2.1 maps), UCDP GED 20.1 location-year aggregates (year only: every
      row dated 1 July), Natural Earth admin-1 units of Mali, quarterly 2014-03-31 .. 2019-12-31.

The surge rule was fixed before any result was seen (docs/validation.md, "Early warning"):
a unit's events in a period (a quarter for the CAR; a calendar year for Mali, since the
aggregates carry only the year) are at least SURGE_MIN and at least SURGE_FACTOR times the
mean of its previous four periods (taken as at least 1). Only a unit's first surge in the
monitored span counts. An alert "warns" a surge when it is on that unit and dated in the
LEAD_MONTHS before the surge period starts (the start itself included); lead = period start
minus the earliest such alert. An alert is "false" when no surge of its unit starts in the
LEAD_MONTHS after it. The base rate (share of unit-dates followed by a surge start within
LEAD_MONTHS) is what alerting everywhere would score.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SURGE_MIN = 5
SURGE_FACTOR = 2.0
LEAD_MONTHS = 12


@dataclass(frozen=True)
class Case:
    mission: str
    events: Path
    year_only: bool
    admin: Path
    admin_filter: tuple[str, str] | None
    id_column: str
    name_column: str
    start: date
    end: date
    period_months: int


CASES = {
    "car": Case("MINUSCA", SHARED / "ucdp_ged/ged_v23_1_caf_events.csv", False,
                SHARED / "boundaries/ocha_codab_caf_adm2_2015.geojson", None, "adm2_pcode", "adm2_name",
                date(2014, 12, 31), date(2018, 12, 31), 3),
    "mali": Case("MINUSMA", SHARED / "ucdp_ged/ged_v20_1_location_year_aggregate_mli_cod_caf_ssd.csv", True,
                 SHARED / "boundaries/ne_admin1_mli_cod_caf_ssd.geojson", ("iso3", "MLI"), "adm1_code", "name",
                 date(2014, 3, 31), date(2019, 12, 31), 12),
}


def run(case_name: str, out: Path, resolution: float, model: str, refit_months: int = 12) -> Path:
    """The monitor over the case (resumed if its folder holds an unfinished one)."""
    from geo.inputs import InputSpec
    from geo.monitor import load_monitor, monitor_dates, run_monitor
    from geo.params import load_params

    c = CASES[case_name]
    folder = out / case_name
    admin_path = c.admin
    if c.admin_filter:
        col, val = c.admin_filter
        out.mkdir(parents=True, exist_ok=True)
        admin_path = out / f"{case_name}_admin.geojson"
        g = gpd.read_file(c.admin)
        g[g[col] == val].to_file(admin_path, driver="GeoJSON")
    spec = InputSpec(bases=SHARED / "geo_pko/geo_pko_v2.1_mli_cod_caf_ssd.csv", mission=c.mission, events=c.events,
                     year_only=c.year_only, admin=admin_path, admin_id_column=c.id_column,
                     admin_name_column=c.name_column)
    dates = monitor_dates(c.start, c.end, 3)
    params = load_params(None, resolution_m=resolution, forecast_model=model, forecast_refit_months=refit_months)

    def say(d) -> None:
        print(f"  {case_name} {d.index}/{d.total} {d.as_of}: {d.seconds:.1f} s {','.join(d.reused)}", file=sys.stderr)

    resume = (folder / "monitor.json").exists()
    if resume and load_monitor(folder).status == "complete":
        return folder
    run_monitor(spec, params, dates, folder, surfaces_only=True, charts=False, resume=resume, on_date=say)
    return folder


def period_counts(events: pd.DataFrame, units: gpd.GeoDataFrame, id_column: str, months: int,
                  first: date, last: date) -> pd.DataFrame:
    """Events per unit and period (periods of ``months`` ending on quarter/year ends)."""
    pts = gpd.GeoDataFrame(events, geometry=gpd.points_from_xy(events["longitude"], events["latitude"]), crs=4326)
    j = gpd.sjoin(pts, units[[id_column, "geometry"]].to_crs(4326), predicate="within")
    freq = "QE-DEC" if months == 3 else "YE-DEC"
    ends = pd.date_range(pd.Timestamp(first) - pd.DateOffset(years=6), pd.Timestamp(last) + pd.DateOffset(years=2),
                         freq=freq)
    when = pd.to_datetime(j["date"]).dt.normalize()
    j = j[(when > ends[0] - pd.DateOffset(months=months)) & (when <= ends[-1])]
    j["period_end"] = ends[ends.searchsorted(when[j.index])]
    tab = j.groupby([id_column, "period_end"]).size().unstack(fill_value=0)
    return tab.reindex(index=units[id_column].astype(str), columns=ends, fill_value=0)


def surges(counts: pd.DataFrame, months: int, first: date, last: date) -> dict[str, list[pd.Timestamp]]:
    """Each unit's surge period starts inside the span (count >= SURGE_MIN and >=
    SURGE_FACTOR x max(1, mean of the previous four periods)), earliest first."""
    out: dict[str, list[pd.Timestamp]] = {}
    cols = list(counts.columns)
    for uid, row in counts.iterrows():
        for k in range(4, len(cols)):
            start = cols[k] - pd.DateOffset(months=months) + pd.Timedelta(days=1)
            if not (pd.Timestamp(first) <= start <= pd.Timestamp(last)):
                continue
            prev = max(1.0, row.iloc[k - 4:k].mean())
            if row.iloc[k] >= SURGE_MIN and row.iloc[k] >= SURGE_FACTOR * prev:
                out.setdefault(str(uid), []).append(start)
    return out


def evaluate(case_name: str, folder: Path) -> dict:
    c = CASES[case_name]
    from geo.layers import load_events

    ev = load_events(c.events, year_only=c.year_only)
    ev = pd.DataFrame({"date": ev["date"], "longitude": ev.to_crs(4326).geometry.x,
                       "latitude": ev.to_crs(4326).geometry.y})
    units = gpd.read_file(folder / "units.geojson").rename(columns={"unit_id": c.id_column})
    counts = period_counts(ev, units, c.id_column, c.period_months, c.start, c.end)
    every = surges(counts, c.period_months, c.start, c.end)
    surge = {u: s[0] for u, s in every.items()}  # the first surge of each unit is the one to warn of
    alerts = pd.DataFrame(json.loads((folder / "alerts.json").read_text())["alerts"])
    alerts["date"] = pd.to_datetime(alerts["date"])
    state = json.loads((folder / "monitor.json").read_text())
    dates = pd.to_datetime(pd.Series(state["finished"]))
    lead = pd.DateOffset(months=LEAD_MONTHS)
    out = {"case": case_name, "units": len(units), "dates": len(dates), "surging_units": len(surge),
           "surges": sum(len(v) for v in every.values())}
    for label, sel in (("all rules", alerts), ("risk rules (viewer)", alerts[alerts["metric"] == "risk_mean"])):
        warned, leads = 0, []
        for uid, start in surge.items():
            a = sel[(sel["unit_id"] == uid) & (sel["date"] <= start) & (sel["date"] >= start - lead)]
            if len(a):
                warned += 1
                leads.append((start - a["date"].min()).days / 30.44)
        false = sum(1 for _, a in sel.iterrows()
                    if not any(a["date"] <= s <= a["date"] + lead for s in every.get(a["unit_id"], [])))
        out[label] = {"alerts": len(sel), "by_rule": {f"{r}/{m}": int(n) for (r, m), n in sel.groupby(["rule", "metric"]).size().items()},
                      "warned": warned, "leads_months": sorted(round(x) for x in leads), "median_lead_months":
                      round(float(pd.Series(leads).median()), 1) if leads else None, "false_alerts": false}
    followed = sum(1 for uid in units[c.id_column].astype(str) for d in dates
                   if any(d <= s <= d + lead for s in every.get(uid, [])))
    out["base_rate"] = round(followed / (len(units) * len(dates)), 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "early_warning")
    ap.add_argument("--resolution", type=float, default=10000.0, help="grid cell size, m (default 10 km: the "
                    "forecast units, and the backtest's scoring blocks)")
    ap.add_argument("--forecast-model", default="logistic", help="forecast_model (default logistic: one fit per "
                    "quarter in minutes on the shared machine; auto also tries gradient-boosted trees)")
    ap.add_argument("--refit-months", type=int, default=12, help="forecast_refit_months (default 12, the "
                    "monitor's default: the model fitted once a year, each date forecast from its own history)")
    args = ap.parse_args()
    folder = run(args.case, args.out, args.resolution, args.forecast_model, args.refit_months)
    print(json.dumps(evaluate(args.case, folder), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
