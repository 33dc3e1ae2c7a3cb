"""linear-fedavg-tau: FedAvg with τ ∈ {1, 2, 5} local steps (τ = 1 is D-SGD)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teacherstudent.analysis import first_below
from teacherstudent.linear.studies import final, log_axes, run_study, settings_label
from teacherstudent.plotting.linear import COLORS, YLABELS, plot_metric


def run(out: Path) -> list[Path]:
    """linear-fedavg-tau: FedAvg with τ ∈ {1, 2, 5} local steps (τ = 1 is D-SGD)."""
    return run_study(__file__, out, draw, 2, width=4.9)


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) fresh tasks, (b) a fixed pool: dist(B_t, B_*) of FedAvg for each τ."""
    colours = {1: COLORS["dsgd"], 2: "#2ca02c", 5: "#1f77b4"}
    summary: dict[str, Any] = {}
    for lab, ds in runs.items():
        tau = int(ds.attrs["linear.tau"])
        a = ax[1] if ds.attrs["linear.task_pool"] > 0 else ax[0]
        name_ = rf"FedAvg $\tau={tau}$" + (" (= D-SGD)" if tau == 1 else "")
        plot_metric(a, ds, "dist", ["fedavg"], color=colours.get(tau), name=name_)
        t = ds["round"].values
        summary[lab] = {"final_dist": final(ds, "fedavg"),
                        "rounds_to_1e-6": [first_below(r, t, 1e-6)
                                           for r in ds.dist.sel(algorithm="fedavg").values]}
    log_axes(ax[0], YLABELS["dist"], "fresh tasks; " + settings_label(ds, beta=False))
    log_axes(ax[1], YLABELS["dist"], f"fixed pool of {ds.attrs['linear.n_tasks']} tasks")
    for a in ax:
        a.set_ylim(1e-16, 3)
        a.legend(frameon=False, loc="lower left")
    return summary
