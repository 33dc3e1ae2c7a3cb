"""linear-mu-sweep: task diversity μ sets ANIL's rate 1 − c·αβμ_*², c = 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import tail_rate
from teacherstudent.linear.studies import log_axes, run_study, settings_label
from teacherstudent.plotting import plt
from teacherstudent.plotting.linear import YLABELS, plot_metric


def run(out: Path) -> list[Path]:
    """linear-mu-sweep: task diversity μ sets ANIL's rate 1 − c·αβμ_*², c = 1."""
    return run_study(__file__, out, draw, 2, width=4.9)


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) dist(B_t, B_*) of ANIL and FO-ANIL for each μ; (b) their measured rates against
    αβμ_*² (fresh tasks and fixed pools), fitted in ``[study] fit_window``."""
    lo, hi = spec["study"].get("fit_window", [1e-9, 1e-3])
    fresh = {k: v for k, v in runs.items() if not k.startswith("pool")}
    pooled = {k: v for k, v in runs.items() if k.startswith("pool")}
    mus = sorted({float(ds.attrs["linear.mu"]) for ds in fresh.values()}, reverse=True)
    cmap = plt.get_cmap("viridis")
    colour = {mu: cmap(0.9 * i / max(1, len(mus) - 1)) for i, mu in enumerate(mus)}
    summary: dict[str, Any] = {"fit_window": [lo, hi], "fresh": {}, "pool": {}}
    xs, ys = {"anil": [], "fo-anil": [], "pool": []}, {"anil": [], "fo-anil": [], "pool": []}
    for ds in fresh.values():
        mu = float(ds.attrs["linear.mu"])
        ab = ds.attrs["linear.alpha"] * ds.attrs["linear.beta"]
        plot_metric(ax[0], ds, "dist", ["anil"], color=colour[mu], name=rf"$\mu={mu}$")
        plot_metric(ax[0], ds, "dist", ["fo-anil"], color=colour[mu], name="_", linestyle="--")
        for alg in ("anil", "fo-anil"):
            rates = [tail_rate(row, ds["round"].values, lo, hi)
                     for row in ds.dist.sel(algorithm=alg).values]
            xs[alg] += [ab * mu**2] * len(rates)
            ys[alg] += rates
            summary["fresh"][f"{alg} mu={mu}"] = {
                "rate": rates, "alpha_beta_mu2": ab * mu**2,
                "c": [r / (ab * mu**2) for r in rates],
            }
    for ds in pooled.values():
        mu = float(ds.attrs["linear.mu"])
        ab = ds.attrs["linear.alpha"] * ds.attrs["linear.beta"]
        rates = [tail_rate(row, ds["round"].values, lo, hi)
                 for row in ds.dist.sel(algorithm="anil").values]
        mu2 = ds.mu_star2.values
        xs["pool"] += list(ab * mu2)
        ys["pool"] += rates
        summary["pool"][f"anil mu={mu}"] = {
            "rate": rates, "alpha_beta_mu_star2": (ab * mu2).tolist(),
            "c": [r / (ab * m) for r, m in zip(rates, mu2, strict=True)],
        }
    log_axes(ax[0], YLABELS["dist"], "ANIL (solid), FO-ANIL (dashed), fresh tasks")
    ax[0].set_ylim(1e-12, 3)
    ax[0].legend(frameon=False, loc="lower left")
    markers = {"anil": ("o", "ANIL, fresh tasks ($\\mu_*=\\mu$)"),
               "fo-anil": ("s", "FO-ANIL, fresh tasks"),
               "pool": ("^", r"ANIL, fixed pool ($\mu_*^2=\lambda_{\min}\langle\theta\theta^\top"
                             r"\rangle$)")}
    allx = [x for v in xs.values() for x in v]
    for key, (m, lab) in markers.items():
        ax[1].plot(xs[key], ys[key], m, mfc="none", ms=6, label=lab)
    if allx:
        grid = np.geomspace(min(allx) / 1.5, max(allx) * 1.5, 10)
        ax[1].plot(grid, grid, "k-", lw=0.8, label=r"$1-\rho = \alpha\beta\mu_*^2$ ($c=1$)")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_title(settings_label(ds))
    ax[1].set_xlabel(r"$\alpha\beta\mu_*^2$")
    ax[1].set_ylabel(r"measured rate $1-\rho$, $\mathrm{dist}_t\propto\rho^t$")
    ax[1].grid(alpha=0.3, which="major", lw=0.4)
    ax[1].legend(frameon=False, loc="upper left")
    cs = [y / x for k in xs for x, y in zip(xs[k], ys[k], strict=True) if np.isfinite(y)]
    summary["c_all"] = {"mean": float(np.mean(cs)) if cs else None,
                        "min": float(np.min(cs)) if cs else None,
                        "max": float(np.max(cs)) if cs else None}
    return summary
