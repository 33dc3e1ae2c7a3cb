"""linear-algorithms: dist(B_t, B_*) vs round for every algorithm; ARM's invariant bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teacherstudent.analysis import first_below
from teacherstudent.linear import load_config
from teacherstudent.linear.population import arm_dist_bound
from teacherstudent.linear.studies import (
    final,
    log_axes,
    nanmedian,
    run_study,
    settings_label,
    variant_configs,
)
from teacherstudent.linear.tasks import TaskLaw, initial_state
from teacherstudent.plotting.linear import COLORS, YLABELS, plot_metric


def run(out: Path) -> list[Path]:
    """linear-algorithms: dist(B_t, B_*) vs round for every algorithm; ARM's invariant bound."""
    return run_study(__file__, out, draw, 3)


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Fresh tasks: (a) dist(B_t, B_*), (b) the excess risk after adaptation, every algorithm;
    (c) a fixed pool: ARM and D-SGD against the bound of their invariant subspace."""
    fresh, pool = runs["fresh"], runs["pool"]
    plot_metric(ax[0], fresh, "dist")
    log_axes(ax[0], YLABELS["dist"], "fresh tasks, random $B_0$ (median; band: seed range)")
    ax[0].set_ylim(1e-16, 3)
    ax[0].legend(ncol=2, loc="lower left", frameon=False)
    plot_metric(ax[1], fresh, "post_error")
    log_axes(ax[1], r"post-adaptation excess risk $\mathcal{E}_t$ (head steps)",
             settings_label(fresh) + rf", $\tau={fresh.attrs['linear.tau']}$")
    ax[1].set_ylim(1e-33, 1e3)
    # (c) fixed pool: ARM / D-SGD versus the bound of the invariant subspace
    cfg = variant_configs(spec)["pool"]
    p = load_config(cfg)["linear"]
    st = initial_state(p, TaskLaw.from_config(p))
    bound = arm_dist_bound(st.B0, st.B_star, st.pool.mean(axis=1))
    for alg, ls in (("arm", "-"), ("dsgd", "--")):
        plot_metric(ax[2], pool, "dist", [alg], seeds="lines", linestyle=ls)
    plot_metric(ax[2], pool, "dist", ["anil"])
    for b in bound:
        ax[2].axhline(b, color="k", lw=0.7, ls=":")
    ax[2].plot([], [], "k:", lw=0.7, label=r"bound $\|(I-P_V)B_*\|_2$ per seed")
    log_axes(ax[2], YLABELS["dist"], f"fixed pool of {p['task_pool']} tasks, "
             rf"$\bar\theta={p['head_mean']}\cdot\mathbf{{1}}$, near $B_0$")
    ax[2].set_ylim(1e-16, 3)
    ax[2].legend(loc="lower left", frameon=False)
    inset = ax[2].inset_axes([0.5, 0.5, 0.47, 0.36])
    for alg, ls in (("arm", "-"), ("dsgd", "--")):
        for row in pool.dist.sel(algorithm=alg).values:
            inset.plot(pool["round"].values, row, color=COLORS[alg], lw=0.8, ls=ls)
    for b in bound:
        inset.axhline(b, color="k", lw=0.7, ls=":")
    inset.set_xscale("log")
    inset.set_xlim(1, pool["round"].values[-1])
    inset.set_title("ARM, D-SGD (linear scale)", fontsize=7)
    inset.tick_params(labelsize=6)
    t = fresh["round"].values
    return {
        "fresh": {
            alg: {
                "final_dist_median": nanmedian(final(fresh, alg)),
                "final_dist": final(fresh, alg),
                "final_post_error_median": nanmedian(final(fresh, alg, "post_error")),
                "rounds_to_1e-6": [first_below(row, t, 1e-6)
                                   for row in fresh.dist.sel(algorithm=alg).values],
                "diverged_round": fresh.diverged_round.sel(algorithm=alg).values.tolist(),
            }
            for alg in fresh.algorithm.values
        },
        "pool": {
            "bound": bound.tolist(),
            "min_dist_arm": pool.dist.sel(algorithm="arm").min("round").values.tolist(),
            "min_dist_dsgd": pool.dist.sel(algorithm="dsgd").min("round").values.tolist(),
            "final_dist_anil": final(pool, "anil"),
        },
    }
