"""linear-meta-lora: arm-lora (retrain, then rank-r adaptation) vs meta-lora (rank-r inner loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear import load_config
from teacherstudent.linear.lora import lora_metrics, lora_state, task_shift
from teacherstudent.linear.studies import log_axes, nanmedian, run_study, variant_configs
from teacherstudent.plotting.linear import COLORS, LABELS, plot_metric

ALGS = ("arm-lora", "meta-lora")


def run(out: Path) -> list[Path]:
    """linear-meta-lora: arm-lora vs meta-lora, error after rank-r adaptation and base distance."""
    return run_study(__file__, out, draw, 3)


def _pooled_optimum_error(p: dict[str, Any]) -> float:
    """Median over seeds of the rank-r error at the pooled optimum A_* + ς(k/d)I."""
    st = lora_state(p)
    A = st.A_star + p["lora_shift"] * p["k"] / p["d"] * np.eye(p["d"])
    m = lora_metrics(A, st, p["alpha"], p["inner_steps"], p["lora_rank"])
    return float(np.median(m["lora_error"]))


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) excess risk after rank-r adaptation vs round, (b) ‖A_t − A_*‖_F vs round (population
    solid, finite samples dashed), (c) the final error against the adaptation rank r."""
    pop, smp = runs["population"], runs["samples"]
    configs = {lab: load_config(cfg)["linear"] for lab, cfg in variant_configs(spec).items()}
    p = configs["population"]
    arm_ref = _pooled_optimum_error(p)
    shift = task_shift(p)
    for ds, ls, what in ((pop, "-", "population"), (smp, "--", "$m=40$ samples")):
        for alg in ALGS:
            plot_metric(ax[0], ds, "lora_error", [alg], linestyle=ls,
                        name=f"{LABELS[alg]}, {what}")
            plot_metric(ax[1], ds, "base_dist", [alg], linestyle=ls,
                        name=f"{LABELS[alg]}, {what}")
    ax[0].axhline(arm_ref, color="k", lw=0.8, ls=":",
                  label=r"rank-$r$ error at the pooled optimum $A_*+\varsigma\frac{k}{d}I$")
    log_axes(ax[0], r"excess risk after rank-$r$ adaptation",
             rf"$d={p['d']}$, rank$(\Delta_i)=k={p['k']}$, $r={p['lora_rank']}$, "
             rf"$\alpha={p['alpha']}$, $\beta={p['beta']}$")
    ax[0].set_ylim(1e-33, 1e2)
    ax[0].legend(frameon=False, loc="center right")
    ax[1].axhline(shift, color="k", lw=0.8, ls=":",
                  label=r"$\|\mathbb{E}\Delta_i\|_F=\varsigma k/\sqrt{d}$")
    log_axes(ax[1], r"distance to the optimal base $\|A_t-A_*\|_F$",
             "retraining converges to the pooled optimum, not to $A_*$")
    ax[1].set_ylim(1e-17, 1e1)
    ax[1].legend(frameon=False, loc="center right")
    # (c) the final error against the adaptation rank
    rank_runs = {configs[lab]["lora_rank"]: runs[lab] for lab in runs if lab != "samples"}
    ranks = sorted(rank_runs)
    finals: dict[str, list[float]] = {}
    for alg, marker in zip(ALGS, "os", strict=True):
        finals[alg] = [nanmedian(rank_runs[r].lora_error.sel(algorithm=alg).isel(round=-1))
                       for r in ranks]
        ax[2].plot(ranks, np.maximum(finals[alg], 1e-33), marker=marker, color=COLORS[alg],
                   lw=1.5, label=LABELS[alg])
    ax[2].axvline(p["k"], color="k", lw=0.8, ls=":", label=r"$r=k$ (rank of $\Delta_i$)")
    ax[2].set_yscale("log")
    ax[2].set_xticks(ranks)
    ax[2].set_xlabel("adaptation rank $r$")
    ax[2].set_ylabel(r"final excess risk after rank-$r$ adaptation")
    ax[2].set_title("final round, median over seeds (floored at $10^{-33}$)")
    ax[2].grid(alpha=0.3, lw=0.4)
    ax[2].legend(frameon=False, loc="center right")
    last = {lab: ds.isel(round=-1) for lab, ds in (("population", pop), ("samples", smp))}
    return {
        "pooled_optimum": {"lora_error": arm_ref, "base_dist": shift},
        **{lab: {alg: {"lora_error_median": nanmedian(ds.lora_error.sel(algorithm=alg)),
                       "base_dist_median": nanmedian(ds.base_dist.sel(algorithm=alg)),
                       "base_dist": ds.base_dist.sel(algorithm=alg).values.tolist()}
                 for alg in ALGS}
           for lab, ds in last.items()},
        "final_error_vs_rank": {"ranks": ranks, **finals},
    }
