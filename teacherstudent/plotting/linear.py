"""Figures of the linear model: a metric versus the round, one curve per algorithm."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import xarray as xr

__all__ = ["LABELS", "COLORS", "label", "plot_metric", "plot_run", "save"]

LABELS = {
    "arm": "ARM",
    "anil": "ANIL",
    "fo-anil": "FO-ANIL",
    "maml": "MAML",
    "fo-maml": "FO-MAML",
    "reptile": "Reptile",
    "imaml": "iMAML",
    "fedavg": "FedAvg",
    "dsgd": "D-SGD",
    "fedrep": "FedRep",
}
COLORS = {
    "arm": "#7f7f7f",
    "anil": "#1f77b4",
    "fo-anil": "#17becf",
    "maml": "#d62728",
    "fo-maml": "#ff7f0e",
    "reptile": "#9467bd",
    "imaml": "#8c564b",
    "fedavg": "#2ca02c",
    "dsgd": "#000000",
    "fedrep": "#e377c2",
}
YLABELS = {
    "dist": r"$\mathrm{dist}(B_t, B_*) = \|\hat B_{*,\perp}^\top \hat B_t\|_2$",
    "dist2": r"$\mathrm{dist}^2(B_t, B_*)$",
    "dist_cover": r"$\|(I-\hat B_t\hat B_t^\top) B_*\|_2$",
    "cond": r"$\kappa(\alpha B_t^\top B_t)$",
    "delta": r"$\|I-\alpha B_t^\top B_t\|_2$",
    "head_norm": r"$\|w_t\|_2$",
    "post_error": r"post-adaptation excess risk $\mathcal{E}_t$",
}


def label(name: str) -> str:
    return LABELS.get(name, name)


def plot_metric(
    ax,
    ds: xr.Dataset,
    var: str = "dist",
    algorithms: Iterable[str] | None = None,
    *,
    color=None,
    name: str | None = None,
    linestyle: str = "-",
    seeds: str = "band",
) -> None:
    """Median over seeds (line) and the seed range (band, or thin lines with ``seeds="lines"``).

    Diverged seeds (NaN) are drawn up to their divergence; a cross marks where the median
    stops because a seed diverged.
    """
    algs = list(ds.algorithm.values) if algorithms is None else list(algorithms)
    t = ds["round"].values
    for alg in algs:
        v = ds[var].sel(algorithm=alg).values  # (seed, round)
        v = np.where(v > 0, v, np.nan)  # log axes: exact zeros are not drawn
        c = color or COLORS.get(alg)
        lab = name if name is not None else label(alg)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.median(v, axis=0)
            lo, hi = np.nanmin(v, axis=0), np.nanmax(v, axis=0)
        if seeds == "lines":
            for row in v:
                ax.plot(t, row, color=c, lw=0.6, alpha=0.35, ls=linestyle)
        elif v.shape[0] > 1:
            ax.fill_between(t, lo, hi, color=c, alpha=0.15, lw=0)
        ax.plot(t, med, color=c, lw=1.8, ls=linestyle, label=lab)
        div = ds["diverged_round"].sel(algorithm=alg).values
        if np.any(div >= 0):
            first = int(div[div >= 0].min())
            i = np.searchsorted(t, first) - 1
            if i >= 0 and np.isfinite(med[i]):
                ax.plot(t[i], med[i], marker="x", color=c, ms=8, mew=2)


def plot_run(ds: xr.Dataset, path=None, variables=("dist", "post_error")):
    """The CLI figure: ``dist`` (log) and the post-adaptation error versus the round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(variables), figsize=(5.2 * len(variables), 4.0))
    axes = np.atleast_1d(axes)
    for ax, var in zip(axes, variables, strict=True):
        plot_metric(ax, ds, var)
        ax.set_yscale("log")
        ax.set_xlabel("round $t$")
        ax.set_ylabel(YLABELS.get(var, var))
        ax.grid(alpha=0.3, which="both", lw=0.4)
    axes[0].legend(fontsize=8, ncol=2)
    a = ds.attrs
    fig.suptitle(
        f"d={a['linear.d']}, k={a['linear.k']}, k'={a['linear.k_model']}, "
        f"n={a['linear.n_tasks']}, m_in={a['linear.m_in']}, μ={a['linear.mu']}, "
        f"α={a['linear.alpha']}, β={a['linear.beta']}, {ds.sizes['seed']} seeds",
        fontsize=9,
    )
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def save(fig, path, pdf: bool = False) -> list:
    """Save ``fig`` as PNG (and PDF next to it if ``pdf``); returns the paths."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path]
    fig.savefig(path, dpi=150)
    if pdf:
        out.append(path.with_suffix(".pdf"))
        fig.savefig(out[-1])
    plt.close(fig)
    return out
