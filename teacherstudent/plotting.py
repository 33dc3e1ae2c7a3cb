"""Figures of ODE and simulation results (matplotlib, Agg backend; PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

__all__ = ["plot_ode", "savefig"]


def savefig(fig, path: str | Path, pdf: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    if pdf:
        fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return path


def _positive_alpha(ds: xr.Dataset) -> xr.Dataset:
    return ds.sel(alpha=ds.alpha > 0)


def plot_ode(ds: xr.Dataset, path: str | Path, pdf: bool = False) -> Path:
    """Two panels: the errors ε(α) on log axes, and the overlaps R_kn(α)."""
    d = _positive_alpha(ds)
    alpha = d.alpha.values
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.loglog(alpha, d.eg.values, color="k", lw=2, label=r"$\epsilon_g^{\rm meta}$ (adapted)")
    if "eg_pre" in d:
        ax1.loglog(alpha, d.eg_pre.values, color="tab:gray", ls="--", label=r"$\epsilon_g$ at $w$")
    if "eg_opt" in d:
        ax1.loglog(alpha, d.eg_opt.values, color="tab:blue", ls=":", label=r"$\epsilon_g$, optimal head")
    ax1.set_xlabel(r"$\alpha$ = tasks / $N$")
    ax1.set_ylabel(r"$\epsilon_g$")
    ax1.legend(frameon=False)
    K, M = d.sizes["k"], d.sizes["n"]
    colors = plt.cm.tab10(np.arange(M) % 10)
    for k in range(K):
        for n in range(M):
            ax2.semilogx(
                alpha,
                d.R.values[:, k, n],
                color=colors[n],
                ls=["-", "--", ":", "-."][k % 4],
                label=rf"$R_{{{k + 1}{n + 1}}}$" if K * M <= 16 else None,
            )
    ax2.set_xlabel(r"$\alpha$ = tasks / $N$")
    ax2.set_ylabel(r"$R_{kn}$")
    if K * M <= 16:
        ax2.legend(frameon=False, ncol=max(1, M), fontsize=8)
    a = ds.attrs
    fig.suptitle(
        f"{a.get('algorithm.name', '')}  K={a.get('model.K')} M={a.get('model.M')}  "
        rf"$\eta_J$={a.get('algorithm.eta_J')} $\eta_w$={a.get('algorithm.eta_w')}"
    )
    fig.tight_layout()
    return savefig(fig, path, pdf)
