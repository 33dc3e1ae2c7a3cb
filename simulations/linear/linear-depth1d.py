"""linear-depth1d: shallow vs deep 1-D chains, loss after a MAML step (Arnold et al. 2021)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear import depth1d as D
from teacherstudent.linear.studies import run_study
from teacherstudent.plotting import plt
from teacherstudent.studies import settings


def run(out: Path) -> list[Path]:
    """linear-depth1d: shallow vs deep 1-D chains, loss after a MAML step (Arnold et al. 2021)."""
    return run_study(__file__, out, draw, 2, width=4.9)


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) the post-adaptation loss and (b) the effective inner rate while meta-training
    chains of ``[depth1d] depths`` layers (no variants: ``runs`` is empty)."""
    p = settings(spec, spec["depth1d"])
    rng = np.random.default_rng(p["seed"])
    inits = {L: p["init_mean"] + p["init_std"] * rng.standard_normal(L) for L in p["depths"]}
    floor = D.shallow_floor(p["alpha"], p["slope_std"], p["noise"])
    cmap = plt.get_cmap("viridis")
    summary: dict[str, Any] = {"settings": p, "shallow_floor": floor, "panel_a": {}, "panel_b": {}}
    weights_of: dict[int, np.ndarray] = {}
    for i, L in enumerate(p["depths"]):
        losses, weights = D.meta_train(inits[L], p["alpha"], p["beta"], p["steps"],
                                       p["slope_mean"], p["slope_std"], p["noise"])
        excess = losses - 0.5 * p["noise"] ** 2
        ax[0].plot(np.arange(losses.size), np.where(excess > 0, excess, np.nan),
                   color=cmap(0.85 * i / max(1, len(p["depths"]) - 1)), lw=1.6,
                   label=("shallow, $L=1$" if L == 1 else f"chain of $L={L}$ layers"))
        weights_of[L] = weights
        summary["panel_a"][f"L={L}"] = {"final_loss": float(losses[-1]),
                                        "final_weights": weights[-1].tolist()}
    ax[0].axhline(floor - 0.5 * p["noise"] ** 2, color="k", ls="--", lw=0.8,
                  label=r"shallow optimum $\frac{1}{2}(1-\alpha)^2 s^2$")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("meta-training step")
    ax[0].set_ylabel(r"post-adaptation loss $\mathcal{L}_{\rm MAML}-\sigma^2/2$")
    ax[0].set_title(rf"$a\sim\mathcal{{N}}({p['slope_mean']},{p['slope_std']}^2)$, "
                    rf"$\alpha={p['alpha']}$, $\beta={p['beta']}$")
    ax[0].set_ylim(1e-20, 10)
    ax[0].grid(alpha=0.3, lw=0.4)
    ax[0].legend(frameon=False, loc="lower left")
    for i, L in enumerate(p["depths"]):
        ax[1].plot(np.arange(weights_of[L].shape[0]), D.effective_rate(weights_of[L], p["alpha"]),
                   color=cmap(0.85 * i / max(1, len(p["depths"]) - 1)), lw=1.6,
                   label=("shallow: $\\alpha$" if L == 1 else f"$L={L}$"))
        summary["panel_b"][f"L={L}"] = float(D.effective_rate(weights_of[L][-1:], p["alpha"])[0])
    ax[1].axhline(1.0, color="k", ls="--", lw=0.8,
                  label=r"$\alpha_{\rm eff}=1$: exact one-step adaptation")
    ax[1].set_xlabel("meta-training step")
    ax[1].set_ylabel(r"effective inner rate $\alpha_{\rm eff}=\alpha\sum_l\prod_{j\neq l}w_j^2$")
    ax[1].set_title("upper layers meta-learn the step size of the product")
    ax[1].grid(alpha=0.3, lw=0.4)
    ax[1].legend(frameon=False, loc="center right")
    return summary
