"""The figure of one ODE run (``teacherstudent ode`` and ``teacherstudent plot ode.nc``).

* colour = **teacher unit**. Student unit ``k`` takes the colour of the teacher unit it is
  assigned to by :func:`teacherstudent.analysis.align_units` (Hungarian assignment on the
  normalised overlaps of the last state); extra student units (``K > M``) take the colour of
  their nearest teacher unit and are drawn dashed.
* overlaps are drawn sign-aligned, ``σ_k R_kn`` with ``σ_k`` the sign of the assigned pair,
  so that a specialised unit goes to ``+1`` whatever sign the dynamics picked;
* ε is the meta-generalisation error after adaptation, on log axes against log α; the
  plateau found by :func:`teacherstudent.analysis.plateau` is shaded and its escape time α*
  marked (dashed, also in the specialization and overlap panels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import analysis as an
from .style import (
    ALPHA_LABEL,
    EG_LABEL,
    EG_PRE_LABEL,
    STYLE,
    finish,
    heatmap,
    panel_axes,
    panel_grid,
    plt,
    positive_alpha,
    run_title,
    shared_doc,
    teacher_colour,
)

if TYPE_CHECKING:
    import xarray as xr

    from ..dataset import Table

__all__ = ["plot_ode", "plot_error", "plot_overlaps", "plot_heatmaps", "heatmap_row"]

ESCAPE_COLOUR = "#D55E00"
THRESHOLD_COLOUR = "#009E73"
NORMALISED_R = r"$\sigma_k R_{kn}/\sqrt{Q_{kk}T_{nn}}$"


# --------------------------------------------------------------------------- panels
def plot_error(
    ax: Axes,
    ds: xr.Dataset | Table,
    *,
    mark_plateau: bool = True,
    threshold: float | None = None,
    extras: bool = True,
    colour: str = "k",
    label: str | None = None,
) -> an.Plateau:
    """ε(α) on log–log axes with the plateau shaded and α* / α(ε_th) marked.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    ds : xarray.Dataset or teacherstudent.dataset.Table
        An ODE run (``eg``; ``eg_pre`` and ``eg_opt`` drawn with ``extras``).
    mark_plateau : bool
        Shade the plateau and mark its escape time α*.
    threshold : float, optional
        Mark where ε first reaches it (default: the run's ``run.eg_threshold`` if > 0).
    extras : bool
        Also draw ε at the head initialisation and with the optimal head per task.
    colour, label : str, optional
        Of the ε curve.

    Returns
    -------
    teacherstudent.analysis.Plateau
        The plateau found on ε(α).
    """
    d = positive_alpha(ds)
    alpha, eg = np.asarray(d["alpha"]), np.asarray(d["eg"])
    ax.loglog(alpha, np.where(eg > 0, eg, np.nan), color=colour, lw=2,
              label=label or EG_LABEL + " (adapted)", zorder=3)
    if extras and "eg_pre" in d:
        ax.loglog(alpha, np.asarray(d["eg_pre"]), color="0.55", ls="--", lw=1.2, label=EG_PRE_LABEL)
    if extras and "eg_opt" in d:
        ax.loglog(alpha, np.asarray(d["eg_opt"]), color="#56B4E9", ls=":", lw=1.6,
                  label=r"$\varepsilon_g$, optimal head per task")
    p = an.plateau(alpha, eg)
    if mark_plateau and p.found:
        ax.axvspan(p.start, p.end, color="0.85", alpha=0.6, lw=0, zorder=0,
                   label=rf"plateau ($\varepsilon\approx{p.height:.3g}$, dotted)")
        ax.axhline(p.height, color="0.4", lw=0.8, ls=(0, (1, 2)), zorder=0)
        if math.isfinite(p.escape):
            ax.axvline(p.escape, color=ESCAPE_COLOUR, lw=1.0, ls="--",
                       label=r"plateau escape $\alpha^*$ (dashed)")
            ax.annotate(
                rf"$\alpha^*\!\approx\!{p.escape:.3g}$",
                xy=(p.escape, p.height),
                xytext=(4, 6),
                textcoords="offset points",
                color=ESCAPE_COLOUR,
                fontsize=8,
            )
    if threshold is None:
        t = float(ds.attrs.get("run.eg_threshold", 0.0) or 0.0)
        threshold = t if t > 0 else None
    if threshold:
        at = an.threshold_time(ds, threshold)
        ax.axhline(threshold, color=THRESHOLD_COLOUR, lw=0.8, ls=":",
                   label=rf"$\varepsilon_{{\rm th}}={threshold:g}$")
        if math.isfinite(at):
            ax.plot([at], [threshold], "o", color=THRESHOLD_COLOUR, ms=4)
            ax.annotate(
                rf"$\varepsilon_{{\rm th}}$ at $\alpha={at:.3g}$",
                xy=(at, threshold),
                xytext=(5, -11),
                textcoords="offset points",
                color=THRESHOLD_COLOUR,
                fontsize=8,
            )
    ax.set_xlabel(ALPHA_LABEL)
    ax.set_ylabel(EG_LABEL)
    return p


def _alignment(ds: xr.Dataset | Table, index: int = -1) -> an.Alignment:
    R = np.asarray(ds["R"])
    finite = np.nonzero(np.all(np.isfinite(R.reshape(R.shape[0], -1)), axis=1))[0]
    i = int(finite[index]) if finite.size else 0
    Q = np.asarray(ds["Q"])[i] if "Q" in ds else None
    T = np.asarray(ds["T"]) if "T" in ds else None
    return an.align_units(R[i], Q, T, an.dataset_activation(ds))


def _student_label(al: an.Alignment, k: int) -> str:
    if al.extra[k]:
        return rf"$k={k + 1}$ (extra, $\to n={al.nearest[k] + 1}$)"
    return rf"$k={k + 1}\to n={al.teacher_of[k] + 1}$"


def plot_overlaps(ax_R: Axes, ax_Q: Axes | None, ds: xr.Dataset | Table,
                  al: an.Alignment | None = None, legend: bool = True) -> an.Alignment:
    """σ_k R_kn(α) (thick: assigned pair) and Q_kl(α) (thick: Q_kk), colour = teacher unit.

    Parameters
    ----------
    ax_R, ax_Q : matplotlib.axes.Axes
        Panels for R and Q (``ax_Q`` may be None).
    ds : xarray.Dataset or teacherstudent.dataset.Table
        An ODE run (``R``, optionally ``Q`` and ``T``).
    al : teacherstudent.analysis.Alignment, optional
        The unit assignment (default: from the last finite state).
    legend : bool
        Legend of the student units on the R panel.

    Returns
    -------
    teacherstudent.analysis.Alignment
        The assignment used.
    """
    d = positive_alpha(ds)
    alpha = np.asarray(d["alpha"])
    al = al or _alignment(ds)
    K, M = al.K, al.M
    R = np.asarray(d["R"]) * al.sign[None, :, None]
    for k in al.order:
        c = teacher_colour(al.colour_index[k])
        ls = "--" if al.extra[k] else "-"
        for n in range(M):
            own = (n == al.teacher_of[k]) or (al.extra[k] and n == al.nearest[k])
            ax_R.semilogx(
                alpha,
                R[:, k, n],
                color=c,
                ls=ls,
                lw=2.0 if own else 0.8,
                alpha=1.0 if own else 0.55,
                label=_student_label(al, k) if own else None,
            )
    ax_R.set_xlabel(ALPHA_LABEL)
    ax_R.set_ylabel(r"$\sigma_k R_{kn}$")
    ax_R.axhline(0, color="0.7", lw=0.6, zorder=0)
    if legend and K <= 12:
        ax_R.legend(frameon=False, ncol=1 if K <= 4 else 2, loc="upper left",
                    title="thick: own teacher unit", title_fontsize=7)
    if ax_Q is not None and "Q" in d:
        Q = np.asarray(d["Q"]) * al.sign[None, :, None] * al.sign[None, None, :]
        for i, k in enumerate(al.order):
            for l in al.order[i + 1:]:
                ax_Q.semilogx(alpha, Q[:, k, l], color="0.6", lw=0.7, alpha=0.8)
        for k in al.order:
            ax_Q.semilogx(alpha, Q[:, k, k], color=teacher_colour(al.colour_index[k]),
                          ls="--" if al.extra[k] else "-", lw=2.0)
        ax_Q.plot([], [], color="0.3", lw=2, label=r"$Q_{kk}$ (colour of $k$)")
        ax_Q.plot([], [], color="0.6", lw=0.7, label=r"$\sigma_k\sigma_l Q_{kl}$, $k\neq l$")
        ax_Q.axhline(0, color="0.7", lw=0.6, zorder=0)
        ax_Q.set_xlabel(ALPHA_LABEL)
        ax_Q.set_ylabel(r"$Q_{kl}$")
        ax_Q.legend(frameon=False, loc="best")
    return al


def heatmap_row(axes: Sequence[Axes], ds: xr.Dataset | Table, alphas: Sequence[float],
                al: an.Alignment | None = None, normalised: bool = True):
    """R heatmaps (rows: student units in aligned order, sign-corrected) at the given α.

    Parameters
    ----------
    axes : sequence of matplotlib.axes.Axes
        One panel per α.
    ds : xarray.Dataset or teacherstudent.dataset.Table
        An ODE run.
    alphas : sequence of float
        The α (the nearest saved α is shown).
    al : teacherstudent.analysis.Alignment, optional
        The unit assignment (default: from the last finite state).
    normalised : bool
        Draw ``R_kn/√(Q_kk T_nn)`` rather than ``R_kn``.

    Returns
    -------
    matplotlib.image.AxesImage
        The last image (for a colour bar).
    """
    al = al or _alignment(ds)
    alpha, R = np.asarray(ds["alpha"]), np.asarray(ds["R"])
    Q = np.asarray(ds["Q"]) if ("Q" in ds and normalised) else None
    T = np.asarray(ds["T"]) if ("T" in ds and normalised) else None
    im = None
    for ax, a in zip(axes, alphas, strict=False):
        i = int(np.argmin(np.abs(alpha - a)))
        r = an.normalized_overlaps(R[i], None if Q is None else Q[i], T)
        mat = (al.sign[:, None] * r)[al.order]
        labels = [f"{k + 1}" + ("*" if al.extra[k] else "") for k in al.order]
        im = heatmap(ax, mat, rf"$\alpha={alpha[i]:.3g}$", labels)
    if len(axes):
        axes[0].set_ylabel("student unit $k$")
    return im


@shared_doc
def plot_heatmaps(ds: xr.Dataset | Table, alphas: Sequence[float], path: str | Path | None = None,
                  pdf: bool = False, *, ax: Axes | Sequence[Axes] | None = None,
                  fig: Figure | None = None) -> Figure:
    """A row of normalised, sign-aligned overlap heatmaps σ_k R_kn/√(Q_kk T_nn) at ``alphas``.

    Parameters
    ----------
    ds : xarray.Dataset or teacherstudent.dataset.Table
        An ODE run.
    alphas : sequence of float
        The α of the heatmaps (the nearest saved α is shown).
    %(path)s
    %(pdf)s
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw into one Axes (split into one panel per α) or one Axes per α.
    %(fig)s

    %(returns)s
    """
    with plt.rc_context(STYLE):
        n = len(alphas)
        K, M = ds.sizes["k"], ds.sizes["n"]
        fig, axes, own = panel_axes(n, ax=ax, fig=fig,
                                    figsize=(1.0 + n * (0.5 + 0.42 * M), 1.2 + 0.36 * K))
        im = heatmap_row(axes, ds, alphas)
        fig.colorbar(im, ax=axes, shrink=0.8, label=NORMALISED_R)
        if own:
            fig.suptitle(run_title(ds.attrs), y=1.02)
        return finish(fig, path, pdf)


# --------------------------------------------------------------------------- ODE figure
@shared_doc
def plot_ode(ds: xr.Dataset | Table, path: str | Path | None = None, pdf: bool = False,
             alphas: Sequence[float] | None = None, title: str | None = None, *,
             ax: Axes | None = None, fig: Figure | None = None) -> Figure:
    """Multi-panel figure of one ODE run.

    (a) ε(α) with the plateau, α* and the threshold, (b) the specialization S(α),
    (c) sign-aligned R_kn(α), (d) Q_kl(α), (e) the head initialisation w_k(α); with
    ``alphas`` a row (f) of R heatmaps at those α is added (their positions are marked in
    (a), (b) and (c)).

    Parameters
    ----------
    ds : xarray.Dataset or teacherstudent.dataset.Table
        An ODE run (``eg``, ``R``, ``Q``, ``w``, ``T`` over ``alpha``).
    %(path)s
    %(pdf)s
    alphas : sequence of float, optional
        α of the overlap heatmaps (none by default).
    title : str, optional
        Figure title (default: algorithm, K, M and the rates).
    ax : matplotlib.axes.Axes, optional
        Draw into the cell of this Axes (it is replaced by the panels).
    %(fig)s

    %(returns)s
    """
    alphas = [a for a in (alphas or []) if a is not None]
    with plt.rc_context(STYLE):
        nrow = 3 if alphas else 2
        heights = [1, 1, 0.95] if alphas else [1, 1]
        fig, gs, own = panel_grid(nrow, 1, ax=ax, fig=fig,
                                  figsize=(11.5, 3.3 * sum(heights) + 0.4),
                                  margins={"top": 0.93, "bottom": 0.06},
                                  height_ratios=heights, hspace=0.4)
        top = gs[0].subgridspec(1, 3, wspace=0.3)
        mid = gs[1].subgridspec(1, 3, wspace=0.3)
        ax_e = fig.add_subplot(top[0, 0:2])
        ax_s = fig.add_subplot(top[0, 2])
        ax_R = fig.add_subplot(mid[0, 0])
        ax_Q = fig.add_subplot(mid[0, 1])
        ax_w = fig.add_subplot(mid[0, 2])
        p = plot_error(ax_e, ds)
        ax_e.legend(frameon=False, loc="lower left", ncol=2)
        ax_e.set_title("(a) meta-generalisation error", loc="left")
        al = plot_overlaps(ax_R, ax_Q, ds, legend=False)
        ax_R.set_title("(c) teacher–student overlaps (thick: own unit)", loc="left")
        ax_Q.set_title("(d) student–student overlaps", loc="left")

        d = positive_alpha(ds)
        alpha = np.asarray(d["alpha"])
        S = an.specialization_along(d)
        ax_s.semilogx(alpha, S, color="k", lw=2)
        ax_s.set_ylim(-0.05, 1.05)
        ax_s.set_xlabel(ALPHA_LABEL)
        ax_s.set_ylabel(r"specialization $S$")
        ax_s.set_title("(b) specialization order parameter", loc="left")
        for a_ in (ax_s, ax_R):
            if p.found and math.isfinite(p.escape):
                a_.axvline(p.escape, color=ESCAPE_COLOUR, lw=0.9, ls="--")
        if "w" in d:
            w = np.asarray(d["w"])
            for k in al.order:
                ax_w.semilogx(alpha, w[:, k] * al.sign[k],
                              color=teacher_colour(al.colour_index[k]),
                              ls="--" if al.extra[k] else "-", label=_student_label(al, k))
            ax_w.set_xlabel(ALPHA_LABEL)
            ax_w.set_ylabel(r"$\sigma_k w_k$")
            ax_w.axhline(0, color="0.7", lw=0.6, zorder=0)
            ax_w.set_title("(e) head initialisation", loc="left")
            lo, hi = np.nanmin(w), np.nanmax(w)
            if hi - lo < 1e-6:
                ax_w.set_ylim(-0.05, 0.05)
                ax_w.text(0.5, 0.08, r"$w_k\equiv 0$ ($\bar u = 0$: stays at the symmetric value)",
                          transform=ax_w.transAxes, ha="center", fontsize=7.5, color="0.3")
            if al.K <= 12:
                ax_w.legend(frameon=True, framealpha=0.85, edgecolor="none",
                            ncol=1 if al.K <= 4 else 2, loc="upper left",
                            title="student unit → teacher unit (colour)", title_fontsize=7,
                            fontsize=7)
        if alphas:
            for a in alphas:
                for a_ in (ax_e, ax_R, ax_s):
                    a_.axvline(a, color="0.35", lw=0.6, ls=(0, (4, 3)))
            bot = gs[2].subgridspec(1, len(alphas) + 1, wspace=0.25,
                                    width_ratios=[1] * len(alphas) + [0.05])
            hax = [fig.add_subplot(bot[0, i]) for i in range(len(alphas))]
            im = heatmap_row(hax, ds, alphas, al)
            cax = fig.add_subplot(bot[0, -1])
            fig.colorbar(im, cax=cax, label=NORMALISED_R)
            t0 = hax[0].get_title()
            hax[0].set_title("")
            hax[0].set_title("(f) " + t0 + "  (marked thin dashed in a–c)", loc="left")
        # decade ticks only: the log axes' minor ticks took half the time of the PNG
        for a_ in (ax_e, ax_s, ax_R, ax_Q, ax_w):
            a_.minorticks_off()
        head = title or run_title(ds.attrs)
        if own:
            fig.suptitle(head, y=0.99)
        else:
            ax_e.set_title(head, loc="right", fontsize=8)
        return finish(fig, path, pdf)
