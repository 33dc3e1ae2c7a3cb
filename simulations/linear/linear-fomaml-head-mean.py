"""linear-fomaml-head-mean: FO-MAML with a non-zero head mean θ̄ (near initialisation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear.studies import final, log_axes, run_study, settings_label
from teacherstudent.plotting import plt
from teacherstudent.plotting.linear import YLABELS, plot_metric


def run(out: Path) -> list[Path]:
    """linear-fomaml-head-mean: FO-MAML with a non-zero head mean θ̄ (near initialisation)."""
    return run_study(__file__, out, draw, 3)


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """FO-MAML's (a) dist(B_t, B_*) and (b) head norm for each θ̄; (c) every algorithm at the
    last θ̄."""
    vs = [float(ds.attrs["linear.head_mean"]) for ds in runs.values()]
    cmap = plt.get_cmap("plasma")
    colour = {v: cmap(0.85 * i / max(1, len(vs) - 1)) for i, v in enumerate(vs)}
    k = next(iter(runs.values())).attrs["linear.k"]
    for ds in runs.values():
        v = float(ds.attrs["linear.head_mean"])
        lab = rf"$\|\bar\theta\|={v * np.sqrt(k):.2g}$"
        plot_metric(ax[0], ds, "dist", ["fo-maml"], color=colour[v], name=lab)
        plot_metric(ax[1], ds, "head_norm", ["fo-maml"], color=colour[v], name=lab)
    log_axes(ax[0], YLABELS["dist"], "FO-MAML, near $B_0$; " + settings_label(ds))
    ax[0].set_ylim(1e-16, 3)
    ax[0].legend(frameon=False, loc="lower left")
    log_axes(ax[1], YLABELS["head_norm"], r"FO-MAML head initialisation ($\times$: divergence)")
    ax[1].legend(frameon=False, loc="center right")
    last = list(runs.values())[-1]
    plot_metric(ax[2], last, "dist")
    v = float(last.attrs["linear.head_mean"])
    log_axes(ax[2], YLABELS["dist"], rf"all algorithms at $\|\bar\theta\|={v * np.sqrt(k):.2g}$")
    ax[2].set_ylim(1e-16, 3)
    ax[2].legend(frameon=False, loc="lower left")
    return {
        f"head_mean={float(ds.attrs['linear.head_mean'])}": {
            alg: {"final_dist": final(ds, alg),
                  "diverged_round": ds.diverged_round.sel(algorithm=alg).values.tolist(),
                  "min_dist": ds.dist.sel(algorithm=alg).min("round").values.tolist()}
            for alg in ds.algorithm.values
        }
        for ds in runs.values()
    }
