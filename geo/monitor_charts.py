"""Charts of a monitor's series (matplotlib, Agg backend): a small-multiples overview of
every admin unit and one chart per unit, with the alert dates marked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .alerts import Alert

__all__ = ["write_charts", "chart_name"]


def chart_name(unit_id: str) -> str:
    """``unit_<id>.png`` with the id made safe for a file name."""
    return "unit_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", str(unit_id)) + ".png"


def _plot_unit(ax, g: pd.DataFrame, alerts: Sequence[Alert], *, small: bool) -> None:
    x = pd.to_datetime(g["date"])
    ax.plot(x, g["risk_mean"] * 100.0, color="#cb181d", label="risk (%)", lw=1.2)
    ax.plot(x, g["gap_max"], color="#3f007d", label="gap max", lw=1.0)
    ax.plot(x, g["gap_mean"], color="#6a51a3", ls="--", label="gap mean", lw=0.8)
    for a in alerts:
        ax.axvline(pd.Timestamp(a.date), color="#f46d43" if a.severity != "high" else "#a50026", lw=0.6, alpha=0.7)
    ax.set_ylim(0, 100)
    if small:
        ax.set_title(str(g["name"].iloc[0])[:24], fontsize=7)
        ax.tick_params(labelsize=5)
    else:
        ax2 = ax.twinx()
        ax2.bar(x, g["events_in_window"], width=12, color="#999999", alpha=0.4, label="events in window")
        ax2.set_ylabel("events in the look-back window")
        ax.set_ylabel("0-100")
        ax.set_title(f"{g['name'].iloc[0]} ({g['unit_id'].iloc[0]})")
        ax.legend(loc="upper left", fontsize=8)


def write_charts(series: pd.DataFrame, alerts: Sequence[Alert], folder: Path) -> list[Path]:
    """``overview.png`` and ``unit_<id>.png`` for every unit of ``series``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    by_unit: dict[str, list[Alert]] = {a.unit_id: [] for a in alerts}
    for a in alerts:
        by_unit[a.unit_id].append(a)
    groups = [(uid, g.sort_values("date")) for uid, g in series.groupby("unit_id", sort=True)]
    paths = []
    n = max(len(groups), 1)
    cols = min(6, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.6 * rows), squeeze=False, sharex=True)
    for ax, (uid, g) in zip(axes.ravel(), groups, strict=False):
        _plot_unit(ax, g, by_unit.get(str(uid), []), small=True)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    fig.suptitle("forecast risk (%, red) and gap max/mean (purple) per admin unit; alerts as vertical lines",
                 fontsize=8)
    fig.tight_layout()
    paths.append(folder / "overview.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    for uid, g in groups:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        _plot_unit(ax, g, by_unit.get(str(uid), []), small=False)
        fig.autofmt_xdate()
        fig.tight_layout()
        paths.append(folder / chart_name(str(uid)))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths
