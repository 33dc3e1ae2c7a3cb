"""Figures of the linear model (``teacherstudent linear`` and ``teacherstudent plot
linear.nc``): metrics against the round, one colour per algorithm.

One design: one panel per metric (default ``dist`` and the post-adaptation excess risk when
present), log y; the median over seeds as a line, the seed range as a band; a cross marks
where the median stops because a seed diverged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import (
    STYLE,
    TEACHER_COLOURS,
    finish,
    panel_axes,
    param_label,
    param_value,
    plt,
    savefig,
    shared_doc,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["LABELS", "COLORS", "YLABELS", "label", "plot_metric", "plot_run", "plot_linear",
           "save"]

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
    "arm-lora": "ARM + LoRA",
    "meta-lora": "Meta-LoRA",
    "tr-maml": "TR-MAML",
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
    "arm-lora": "#7f7f7f",
    "meta-lora": "#d62728",
    "tr-maml": "#bcbd22",
}
YLABELS = {
    "dist": r"$\mathrm{dist}(B_t, B_*) = \|\hat B_{*,\perp}^\top \hat B_t\|_2$",
    "dist2": r"$\mathrm{dist}^2(B_t, B_*)$",
    "dist_cover": r"$\|(I-\hat B_t\hat B_t^\top) B_*\|_2$",
    "cond": r"$\kappa(\alpha B_t^\top B_t)$",
    "delta": r"$\|I-\alpha B_t^\top B_t\|_2$",
    "head_norm": r"$\|w_t\|_2$",
    "post_error": r"post-adaptation excess risk $\mathcal{E}_t$",
    "lora_error": r"excess risk after rank-$r$ adaptation",
    "base_dist": r"$\|A_t - A_*\|_F$",
    "worst_error": "worst-group excess risk after adaptation",
    "mean_error": "mean excess risk after adaptation (groups)",
}
PANEL_TITLES = {
    "dist": "distance to the true representation",
    "dist2": "squared distance to the true representation",
    "post_error": "excess risk after adaptation",
    "head_norm": "norm of the head",
    "cond": "conditioning",
    "base_dist": "distance to the optimal base (arm-/meta-lora)",
    "lora_error": "excess risk after rank-$r$ adaptation",
}
ROUND_LABEL = "round $t$"
DEFAULT_VARIABLES = ("dist", "post_error")

# the settings named in the title, in this order
_TITLE_KEYS = ("linear.d", "linear.k", "linear.k_model", "linear.n_tasks", "linear.m_in",
               "linear.mu", "linear.alpha", "linear.beta")


def label(name: str) -> str:
    """The display name of an algorithm (``"fo-anil"`` → ``"FO-ANIL"``)."""
    return LABELS.get(str(name), str(name))


def _round_dim(da: xr.DataArray) -> str:
    return next((str(d) for d in da.dims if d not in ("algorithm", "seed")), str(da.dims[-1]))


def _standard(ds: xr.Dataset, var: str) -> xr.DataArray:
    """``ds[var]`` with dims (algorithm, seed, round), extra dims at their first value."""
    da = ds[var]
    rd = "round" if "round" in da.dims else _round_dim(da)
    extra = [d for d in da.dims if d not in ("algorithm", "seed", rd)]
    if extra:
        da = da.isel({d: 0 for d in extra})
    if "algorithm" not in da.dims:
        da = da.expand_dims(algorithm=["run"])
    if "seed" not in da.dims:
        da = da.expand_dims(seed=[0])
    return da.transpose("algorithm", "seed", rd)


def _colour(alg: str, i: int) -> str:
    return COLORS.get(str(alg), TEACHER_COLOURS[i % len(TEACHER_COLOURS)])


def plot_metric(
    ax: Axes,
    ds: xr.Dataset,
    var: str = "dist",
    algorithms: Iterable[str] | None = None,
    *,
    color=None,
    name: str | None = None,
    linestyle: str = "-",
    seeds: str = "band",
) -> Figure:
    """Median over seeds (line) and the seed range (band, or thin lines with
    ``seeds="lines"``) of one metric against the round.

    Diverged seeds (NaN) are drawn up to their divergence; a cross marks where the median
    stops because a seed diverged.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    ds : xarray.Dataset
        A linear-model result (``var`` over ``algorithm``, ``seed``, ``round``).
    var : str
        The metric.
    algorithms : iterable of str, optional
        Which algorithms (default: all).
    color : colour, optional
        One colour for all (default: :data:`COLORS`).
    name : str, optional
        Legend label (default: the algorithm's; ``"_"`` hides it).
    linestyle : str
        Of the median.
    seeds : {"band", "lines"}
        How the seeds are shown.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``.
    """
    da = _standard(ds, var)
    rd = da.dims[-1]
    t = ds[rd].values if rd in ds.coords else np.arange(da.sizes[rd])
    all_algs = [str(a) for a in da.algorithm.values]
    algs = all_algs if algorithms is None else [str(a) for a in algorithms]
    div_all = ds["diverged_round"] if "diverged_round" in ds else None
    for alg in algs:
        i = all_algs.index(alg)
        v = da.values[i]  # (seed, round)
        v = np.where(v > 0, v, np.nan)  # log axes: exact zeros are not drawn
        c = color or _colour(alg, i)
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
        if div_all is not None and "algorithm" in div_all.dims:
            div = div_all.sel(algorithm=alg).values
            if np.any(div >= 0):
                first = int(div[div >= 0].min())
                j = np.searchsorted(t, first) - 1
                if j >= 0 and np.isfinite(med[j]):
                    ax.plot(t[j], med[j], marker="x", color=c, ms=8, mew=2)
    return ax.figure


def _title(ds: xr.Dataset) -> str:
    a = ds.attrs
    parts = [param_value(k, a[k]) for k in _TITLE_KEYS if k in a]
    if "seed" in ds.dims:
        n = ds.sizes["seed"]
        parts.append(f"{n} seed{'s' * (n != 1)}")
    return ",  ".join(parts)


def _cap_top(ax: Axes, da: xr.DataArray) -> None:
    """Keep the y range on the medians: a diverging seed's band would squash the curves."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = np.where(da.values > 0, da.values, np.nan)
        med = np.nanmedian(v, axis=1)
    finite = med[np.isfinite(med)]
    if not finite.size:
        return
    # a float (an int 10**k beyond float range breaks matplotlib's limits)
    top = 10.0 ** min(math.ceil(math.log10(finite.max())) + 1, 300)
    lo, hi = ax.get_ylim()
    if hi > top:
        ax.set_ylim(lo, top)


@shared_doc
def plot_run(ds: xr.Dataset, path: str | Path | None = None,
             variables: Sequence[str] = DEFAULT_VARIABLES, *, pdf: bool = False,
             ax: Axes | Sequence[Axes] | None = None, fig: Figure | None = None) -> Figure:
    """The figure of a linear-model run: each metric (log) against the round, one colour per
    algorithm; the legend names the algorithms and the marks.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`teacherstudent.linear.run` result (or any ``dist(algorithm, seed, round)``).
    %(path)s
    variables : sequence of str
        The metrics, one panel each; those missing from ``ds`` are skipped.
    %(pdf)s
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw into one Axes (its cell is split into the panels) or one Axes per panel.
    %(fig)s

    %(returns)s
    """
    variables = [v for v in variables if v in ds] or [next(iter(ds.data_vars))]
    with plt.rc_context(STYLE):
        fig, axes, own = panel_axes(len(variables), ax=ax, fig=fig,
                                    figsize=(5.0 * len(variables) + 1.6, 4.0))
        for i, (a_, var) in enumerate(zip(axes, variables, strict=True)):
            plot_metric(a_, ds, var)
            a_.set_yscale("log")
            _cap_top(a_, _standard(ds, var))
            a_.set_xlabel(ROUND_LABEL)
            a_.set_ylabel(YLABELS.get(var, var))
            a_.grid(alpha=0.3, which="major", lw=0.4)
            head = PANEL_TITLES.get(var, var)
            a_.set_title(f"({chr(97 + i)}) {head}" if len(variables) > 1 else head, loc="left")
        handles, labels = axes[0].get_legend_handles_labels()
        n_seeds = ds.sizes.get("seed", 1)
        if n_seeds > 1:
            handles.append(Patch(color="0.5", alpha=0.25, lw=0))
            labels.append(f"range of {n_seeds} seeds (line: median)")
        if "diverged_round" in ds and bool(np.any(ds["diverged_round"].values >= 0)):
            handles.append(Line2D([], [], color="0.3", ls="none", marker="x", ms=7, mew=2))
            labels.append("a seed diverged (median stops)")
        # beside the last panel: inside, it would cover the curves at their floor
        axes[-1].legend(handles, labels, fontsize=7.5, frameon=False, loc="upper left",
                        bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, title="median over seeds",
                        title_fontsize=7.5)
        t = _title(ds)
        extra = [d for d in ds[variables[0]].dims
                 if d not in ("algorithm", "seed", _round_dim(ds[variables[0]]))]
        if extra:
            held = ", ".join(param_value(d, ds[d].values[0]) if d in ds.coords else
                             f"{param_label(d)} = 0" for d in extra)
            t = (t + ";  " if t else "") + "at " + held
        if own:
            if t:
                fig.suptitle(t)
            fig.tight_layout()
        return finish(fig, path, pdf)


@shared_doc
def plot_linear(ds: xr.Dataset, path: str | Path | None = None, pdf: bool = False, *,
                variables: Sequence[str] = DEFAULT_VARIABLES,
                ax: Axes | Sequence[Axes] | None = None, fig: Figure | None = None) -> Figure:
    """The linear-model figure with the argument order of the other kinds
    (``plot_linear(ds, path, pdf)``); the same design as :func:`plot_run`.

    Parameters
    ----------
    ds : xarray.Dataset
        A linear-model result.
    %(path)s
    %(pdf)s
    variables : sequence of str
        The metrics, one panel each.
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw into one Axes (its cell is split into the panels) or one Axes per panel.
    %(fig)s

    %(returns)s
    """
    return plot_run(ds, path, variables, pdf=pdf, ax=ax, fig=fig)


def save(fig: Figure, path: str | Path, pdf: bool = False) -> list[Path]:
    """Save ``fig`` as PNG (and PDF next to it if ``pdf``) and close it; returns the paths."""
    p = savefig(fig, path, pdf=pdf)
    return [p, p.with_suffix(".pdf")] if pdf else [p]

