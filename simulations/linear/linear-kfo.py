"""linear-kfo: KFO (learned preconditioner) vs extra linear layers in the 1-D MAML model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear import depth1d as D
from teacherstudent.linear.studies import run_study
from teacherstudent.studies import settings


def run(out: Path) -> list[Path]:
    """linear-kfo: KFO (learned preconditioner) vs extra linear layers in the 1-D MAML model."""
    return run_study(__file__, out, draw, 2, width=4.9)


def _first_below(losses: np.ndarray, threshold: float) -> int | None:
    hit = np.flatnonzero(losses < threshold)
    return int(hit[0]) if hit.size else None


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Excess post-adaptation loss against the meta-training step, one panel per inner rate:
    the shallow model, KFO on it, and chains of ``depths`` scalar layers."""
    p = settings(spec, spec["kfo"])
    summary: dict[str, Any] = {"settings": p}
    rng = np.random.default_rng(p["seed"])
    inits = {"shallow": p["init_mean"] + p["init_std"] * rng.standard_normal(1)}
    inits["kfo"] = np.concatenate([inits["shallow"],
                                   p["init_mean"] + p["init_std"] * rng.standard_normal(2)])
    for L in p["depths"]:
        inits[f"L={L}"] = p["init_mean"] + p["init_std"] * rng.standard_normal(L)
    styles = {"shallow": ("#7f7f7f", "-", "shallow, $L=1$"),
              "kfo": ("#d62728", "-", r"KFO: shallow + learned preconditioner $lr$"),
              "L=2": ("#1f77b4", "--", "one extra linear layer ($L=2$)"),
              "L=3": ("#2ca02c", "-.", "deeper chain ($L=3$)")}
    for a, alpha in zip(ax, p["alphas"], strict=True):
        res = {}
        for name, w0 in inits.items():
            model = "kfo" if name == "kfo" else "chain"
            losses, _ = D.meta_train(w0, alpha, p["beta"], p["steps"], p["slope_mean"],
                                     p["slope_std"], p["noise"], model=model)
            excess = losses - 0.5 * p["noise"] ** 2
            colour, ls, label = styles.get(name, ("#9467bd", ":", name))
            a.plot(np.arange(excess.size), np.where(excess > 0, excess, np.nan), color=colour,
                   ls=ls, lw=1.6, label=label)
            res[name] = {"final_excess": float(excess[-1]),
                         "steps_to_threshold": _first_below(excess, p["threshold"])}
        floor = D.shallow_floor(alpha, p["slope_std"])
        a.axhline(floor, color="k", ls=":", lw=0.8,
                  label=r"shallow optimum $\frac{1}{2}(1-\alpha)^2 s^2$")
        a.axhline(p["threshold"], color="grey", ls="-", lw=0.5)
        a.set_yscale("log")
        a.set_ylim(1e-32, 10)
        a.set_xlabel("meta-training step")
        a.set_ylabel(r"excess post-adaptation loss $\mathcal{L}_{\rm MAML}-\sigma^2/2$")
        a.set_title(rf"$\alpha={alpha}$, $\beta={p['beta']}$, "
                    rf"$a\sim\mathcal{{N}}({p['slope_mean']},{p['slope_std']}^2)$ "
                    rf"(grey: {p['threshold']:g})")
        a.grid(alpha=0.3, lw=0.4)
        a.legend(frameon=False, loc="lower left")
        summary[f"alpha={alpha}"] = {"shallow_floor": floor, **res}
    return summary
