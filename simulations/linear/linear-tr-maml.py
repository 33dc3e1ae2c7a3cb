"""linear-tr-maml: worst-group and average post-adaptation error, MAML vs TR-MAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear.studies import log_axes, run_study
from teacherstudent.plotting.linear import COLORS, LABELS, plot_metric


def run(out: Path) -> list[Path]:
    """linear-tr-maml: worst-group and average post-adaptation error, MAML vs TR-MAML."""
    return run_study(__file__, out, draw, 3)


def _late(ds, alg: str, var: str) -> np.ndarray:
    """Per seed: the mean over the second half of the rounds (the stationary fluctuations)."""
    da = ds[var].sel(algorithm=alg)
    return da.isel(round=slice(da.sizes["round"] // 2, None)).mean("round").values


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) worst-group and (b) share-weighted mean error after adaptation vs round;
    (c) their late-time averages per seed, every algorithm and temperature."""
    main, cold = runs["eps005"], runs["eps001"]
    a = main.attrs
    for var, axis in (("worst_error", ax[0]), ("mean_error", ax[1])):
        for alg in ("maml", "tr-maml"):
            plot_metric(axis, main, var, [alg],
                        name=LABELS.get(alg, alg) + (r", $\varepsilon=0.05$" if alg == "tr-maml"
                                                     else ""))
        plot_metric(axis, cold, var, ["tr-maml"], color="#9467bd",
                    name=r"TR-MAML, $\varepsilon=0.01$", linestyle="--")
        axis.legend(frameon=False, loc="upper right")
    log_axes(ax[0], "worst-group excess risk after adaptation",
             rf"groups $\bar\theta_g\in${a['linear.group_means']}, tasks {a['linear.group_tasks']}"
             rf", $m_{{\rm in}}={a['linear.m_in']}$")
    log_axes(ax[1], "share-weighted mean excess risk after adaptation",
             rf"$d={a['linear.d']}$, $k={a['linear.k']}$, $\alpha={a['linear.alpha']}$, "
             rf"$\beta={a['linear.beta']}$, $\sigma={a['linear.noise']}$")
    summary: dict[str, Any] = {}
    cases = (("MAML", main, "maml", COLORS["maml"], "o"),
             (r"TR-MAML $\varepsilon=0.05$", main, "tr-maml", COLORS["tr-maml"], "s"),
             (r"TR-MAML $\varepsilon=0.01$", cold, "tr-maml", "#9467bd", "^"))
    for name, ds, alg, colour, marker in cases:
        worst, mean = _late(ds, alg, "worst_error"), _late(ds, alg, "mean_error")
        ax[2].scatter(mean, worst, color=colour, marker=marker, label=name)
        summary[name] = {"late_worst": worst.tolist(), "late_mean": mean.tolist(),
                         "late_worst_median": float(np.median(worst)),
                         "late_mean_median": float(np.median(mean))}
    floor = _late(runs["hard_only"], "maml", "worst_error")
    ax[2].axhline(float(np.median(floor)), color="k", lw=0.8, ls=":",
                  label="MAML on the second group alone (median)")
    summary["hard_only"] = {"late_error": floor.tolist(),
                            "late_error_median": float(np.median(floor))}
    ax[2].set_xlabel("share-weighted mean error")
    ax[2].set_ylabel("worst-group error")
    ax[2].set_title("means over the second half of the rounds (per seed)")
    ax[2].grid(alpha=0.3, lw=0.4)
    ax[2].legend(frameon=False, loc="upper left")
    return summary
