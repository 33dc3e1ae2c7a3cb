"""linear-maml-init: MAML / FO-MAML from a random versus a near-B_* initialisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear.studies import final, log_axes, run_study, settings_label
from teacherstudent.plotting.linear import YLABELS, plot_metric


def run(out: Path) -> list[Path]:
    """linear-maml-init: MAML / FO-MAML from a random versus a near-B_* initialisation."""
    return run_study(__file__, out, draw, 3)


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) random, (b) near initialisation: dist(B_t, B_*) of every algorithm; (c) what MAML
    converges to from the random initialisation."""
    for a, ds in zip(ax[:2], runs.values(), strict=True):
        plot_metric(a, ds, "dist", seeds="band")
        init = ("random $B_0$" if ds.attrs["linear.init"] == "random"
                else rf"near $B_0$, $\mathrm{{dist}}_0={ds.attrs['linear.init_dist']}$")
        log_axes(a, YLABELS["dist"], init + "; " + settings_label(ds))
        a.set_ylim(1e-16, 3)
    ax[0].legend(frameon=False, loc="lower left")
    # (c) what MAML converges to from the random initialisation
    ds = runs["random"]
    maml = ds.sel(algorithm="maml")
    failed = [int(s) for s in ds.seed.values
              if float(maml.dist.sel(seed=s).isel(round=-1)) > 0.5]
    t = ds["round"].values
    alpha = ds.attrs["linear.alpha"]
    curves = [
        (alpha * maml.head_norm**2, r"$\alpha\|w_t\|^2$", "#1f77b4"),
        (maml.gram_max, r"$\lambda_{\max}(\alpha B_t^\top B_t)$", "#d62728"),
        (maml.post_error_full, r"$\mathcal{E}$ after MAML's inner step ($B$ and $w$)", "#2ca02c"),
        (maml.post_error, r"$\mathcal{E}$ after a head-only step", "#ff7f0e"),
        (maml.dist, r"$\mathrm{dist}(B_t,B_*)$", "k"),
    ]
    for values, lab, c in curves:
        if failed:
            v = values.sel(seed=failed).values
            ax[2].plot(t, np.median(v, axis=0), color=c, lw=1.0 if c == "k" else 1.8,
                       ls=":" if c == "k" else "-", label=lab, zorder=3 if c == "k" else 2)
            if len(failed) > 1:
                ax[2].fill_between(t, v.min(axis=0), v.max(axis=0), color=c, alpha=0.15, lw=0)
    log_axes(ax[2], "median over those seeds",
             f"MAML, random $B_0$: the {len(failed)}/{ds.sizes['seed']} seeds with "
             r"final dist $>0.5$")
    ax[2].set_ylim(1e-6, 1e2)
    ax[2].legend(frameon=False, loc="lower left", fontsize=7)
    summary = {
        lab: {
            alg: {"final_dist": final(ds, alg),
                  "diverged_round": ds.diverged_round.sel(algorithm=alg).values.tolist()}
            for alg in ds.algorithm.values
        }
        for lab, ds in runs.items()
    }
    summary["maml_random_failed_seeds"] = {
        str(s): {
            "alpha_w2": float(alpha * maml.head_norm.sel(seed=s).isel(round=-1) ** 2),
            "gram_max": float(maml.gram_max.sel(seed=s).isel(round=-1)),
            "post_error_full": float(maml.post_error_full.sel(seed=s).isel(round=-1)),
            "post_error_head": float(maml.post_error.sel(seed=s).isel(round=-1)),
        }
        for s in failed
    }
    return summary
