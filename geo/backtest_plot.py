"""The reliability plot of a backtest (``reliability.png``): matplotlib, imported on call."""

from __future__ import annotations

from pathlib import Path

from .backtest_types import BacktestResult, BacktestSeries

__all__ = ["reliability_plot"]


def reliability_plot(result: BacktestResult | BacktestSeries, path: Path, scale: str = "block") -> Path:
    """Observed rate against mean predicted probability per bin (deciles, or one per
    distinct value; marker area ~ units in the bin), one panel per
    origin, one line per probabilistic score, the diagonal for perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origins: list[BacktestResult] = list(result["origins"]) if "origins" in result else [result]  # type: ignore[typeddict-item,list-item]
    fig, axes = plt.subplots(1, len(origins), figsize=(4.2 * len(origins), 4.2), squeeze=False)
    for ax, r in zip(axes[0], origins, strict=True):
        sc = r["scales"][scale]
        top = 0.0
        for name, rows in sc["reliability"].items():
            x = [b["mean_predicted"] for b in rows]
            y = [b["observed_rate"] for b in rows]
            top = max([top, *x, *y])
            line, = ax.plot(x, y, marker=None, label=f"{name} ({len(rows)} bins)")
            ax.scatter(x, y, s=[8 + 60 * (b["count"] / max(1, sc["units"])) ** 0.5 * 4 for b in rows],
                       color=line.get_color(), zorder=3)
        top = min(1.0, top * 1.05 + 1e-3)
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--", label="perfect")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_title(f"as of {r['as_of']}, {sc['size_km']:g} km {scale}s\nbase rate {sc['base_rate']:.3f}",
                     fontsize=9)
        ax.set_xlabel("mean predicted probability (bins)")
        ax.set_ylabel("observed rate of a later event")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
