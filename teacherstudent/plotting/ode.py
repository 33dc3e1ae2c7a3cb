"""Figures of ODE, comparison, sweep and linear results (matplotlib, Agg backend; PNG + PDF).

Conventions shared by every figure:

* colour = **teacher unit**. Student unit ``k`` takes the colour of the teacher unit it is
  assigned to by :func:`teacherstudent.analysis.align_units` (Hungarian assignment on the
  normalised overlaps of the last state); extra student units (``K > M``) take the colour of
  their nearest teacher unit and are drawn dashed.
* overlaps are drawn sign-aligned, ``σ_k R_kn`` with ``σ_k`` the sign of the assigned pair,
  so that a specialised unit goes to ``+1`` whatever sign the dynamics picked;
* ε is the meta-generalisation error after adaptation, on log axes against log α; the
  plateau found by :func:`teacherstudent.analysis.plateau` is shaded and its escape time α*
  marked.

``plot_ode(ds, path, pdf=False)`` keeps the signature ``teacherstudent ode`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from . import analysis as an  # noqa: E402

__all__ = [
    "STYLE",
    "TEACHER_COLOURS",
    "teacher_colour",
    "savefig",
    "plot_ode",
    "plot_error",
    "plot_overlaps",
    "plot_heatmaps",
    "plot_compare",
    "plot_sweep",
    "plot_linear",
    "plot_phase",
    "detect_kind",
    "ALPHA_LABEL",
    "EG_LABEL",
]

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "figure.dpi": 100,
    "savefig.dpi": 170,
    "mathtext.fontset": "dejavusans",
}

# colour-blind friendly (Okabe-Ito + extras); teacher unit n -> TEACHER_COLOURS[n % len]
TEACHER_COLOURS = [
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C564B",
    "#7F7F7F",
    "#BCBD22",
    "#000000",
]

ALPHA_LABEL = r"$\alpha$ (tasks / $N$)"
EG_LABEL = r"$\varepsilon_g^{\rm meta}$"


def teacher_colour(n: int) -> str:
    return TEACHER_COLOURS[int(n) % len(TEACHER_COLOURS)]


def savefig(fig, path: str | Path, pdf: bool = False) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix says otherwise) and optionally PDF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=STYLE["savefig.dpi"], bbox_inches="tight")
    if pdf and path.suffix.lower() != ".pdf":
        fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return path


def _positive_alpha(ds: xr.Dataset, dim: str = "alpha") -> xr.Dataset:
    return ds.isel({dim: np.nonzero(ds[dim].values > 0)[0]})


def _fmt(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:g}"


def run_title(attrs: dict[str, Any]) -> str:
    """One-line description of the run from its attrs (algorithm, K, M, rates)."""
    a = attrs
    parts = []
    if "algorithm.name" in a:
        parts.append(str(a["algorithm.name"]).upper())
    if "model.K" in a:
        parts.append(f"$K={_fmt(a['model.K'])}$, $M={_fmt(a.get('model.M'))}$")
    if "algorithm.eta_J" in a:
        parts.append(rf"$\eta_J={_fmt(a['algorithm.eta_J'])}$")
    if "algorithm.eta_w" in a:
        parts.append(rf"$\eta_w={_fmt(a['algorithm.eta_w'])}$")
    if "algorithm.inner_steps" in a and int(a["algorithm.inner_steps"]) != 1:
        parts.append(f"$s={_fmt(a['algorithm.inner_steps'])}$")
    if "tasks.gamma" in a and float(a["tasks.gamma"]) != 1.0:
        parts.append(rf"$\gamma={_fmt(a['tasks.gamma'])}$")
    return ",  ".join(parts)


# --------------------------------------------------------------------------- panels
def plot_error(
    ax,
    ds: xr.Dataset,
    *,
    mark_plateau: bool = True,
    threshold: float | None = None,
    extras: bool = True,
    colour: str = "k",
    label: str | None = None,
) -> an.Plateau:
    """ε(α) on log–log axes with the plateau shaded and α* / α(ε_th) marked."""
    d = _positive_alpha(ds)
    alpha, eg = d.alpha.values, d.eg.values
    ax.loglog(alpha, np.where(eg > 0, eg, np.nan), color=colour, lw=2,
              label=label or EG_LABEL + " (adapted)")
    if extras and "eg_pre" in d:
        ax.loglog(alpha, d.eg_pre.values, color="0.55", ls="--", lw=1.2,
                  label=r"$\varepsilon_g$ at $w$ (no adaptation)")
    if extras and "eg_opt" in d:
        ax.loglog(alpha, d.eg_opt.values, color="#56B4E9", ls=":", lw=1.6,
                  label=r"$\varepsilon_g$, optimal head per task")
    p = an.plateau(alpha, eg)
    if mark_plateau and p.found:
        ax.axvspan(p.start, p.end, color="0.85", alpha=0.6, lw=0, zorder=0)
        ax.axhline(p.height, color="0.4", lw=0.8, ls=(0, (1, 2)), zorder=0)
        if math.isfinite(p.escape):
            ax.axvline(p.escape, color="#D55E00", lw=1.0, ls="--")
            ax.annotate(
                rf"$\alpha^*\!\approx\!{p.escape:.3g}$",
                xy=(p.escape, p.height),
                xytext=(4, 6),
                textcoords="offset points",
                color="#D55E00",
                fontsize=8,
            )
    if threshold is None:
        t = float(ds.attrs.get("run.eg_threshold", 0.0) or 0.0)
        threshold = t if t > 0 else None
    if threshold:
        at = an.threshold_time(ds, threshold)
        ax.axhline(threshold, color="#009E73", lw=0.8, ls=":")
        if math.isfinite(at):
            ax.plot([at], [threshold], "o", color="#009E73", ms=4)
            ax.annotate(
                rf"$\varepsilon_{{\rm th}}$ at $\alpha={at:.3g}$",
                xy=(at, threshold),
                xytext=(5, -11),
                textcoords="offset points",
                color="#009E73",
                fontsize=8,
            )
    ax.set_xlabel(ALPHA_LABEL)
    ax.set_ylabel(EG_LABEL)
    return p


def _alignment(ds: xr.Dataset, index: int = -1) -> an.Alignment:
    R = ds.R.values
    finite = np.nonzero(np.all(np.isfinite(R.reshape(R.shape[0], -1)), axis=1))[0]
    i = int(finite[index]) if finite.size else 0
    Q = ds.Q.values[i] if "Q" in ds else None
    T = ds.T.values if "T" in ds else None
    return an.align_units(R[i], Q, T)


def _student_label(al: an.Alignment, k: int) -> str:
    if al.extra[k]:
        return rf"$k={k + 1}$ (extra, $\to n={al.nearest[k] + 1}$)"
    return rf"$k={k + 1}\to n={al.teacher_of[k] + 1}$"


def plot_overlaps(ax_R, ax_Q, ds: xr.Dataset, al: an.Alignment | None = None,
                  legend: bool = True) -> an.Alignment:
    """σ_k R_kn(α) (thick: assigned pair) and Q_kl(α) (thick: Q_kk), colour = teacher unit."""
    d = _positive_alpha(ds)
    alpha = d.alpha.values
    al = al or _alignment(ds)
    K, M = al.K, al.M
    R = d.R.values * al.sign[None, :, None]
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
        Q = d.Q.values * al.sign[None, :, None] * al.sign[None, None, :]
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


def heatmap(ax, mat: np.ndarray, title: str, ylabels: Sequence[str], vmax: float = 1.0):
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="equal")
    K, M = mat.shape
    ax.set_xticks(range(M), [str(n + 1) for n in range(M)])
    ax.set_yticks(range(K), ylabels, fontsize=7 if K > 6 else 8)
    ax.set_xlabel("teacher unit $n$")
    ax.set_title(title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    if K <= 8 and M <= 8:
        for i in range(K):
            for j in range(M):
                v = mat[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                        color="w" if abs(v) > 0.6 * vmax else "k")
    return im


def heatmap_row(axes, ds: xr.Dataset, alphas: Sequence[float], al: an.Alignment | None = None,
                normalised: bool = True):
    """R heatmaps (rows: student units in aligned order, sign-corrected) at the given α."""
    al = al or _alignment(ds)
    T = ds.T.values if "T" in ds else None
    im = None
    for ax, a in zip(axes, alphas, strict=False):
        i = int(np.argmin(np.abs(ds.alpha.values - a)))
        Q = ds.Q.values[i] if ("Q" in ds and normalised) else None
        r = an.normalized_overlaps(ds.R.values[i], Q, T if normalised else None)
        mat = (al.sign[:, None] * r)[al.order]
        labels = [f"{k + 1}" + ("*" if al.extra[k] else "") for k in al.order]
        im = heatmap(ax, mat, rf"$\alpha={ds.alpha.values[i]:.3g}$", labels)
    if axes:
        axes[0].set_ylabel("student unit $k$")
    return im


def plot_heatmaps(ds: xr.Dataset, alphas: Sequence[float], path: str | Path,
                  pdf: bool = False) -> Path:
    """A row of normalised, sign-aligned overlap heatmaps σ_k R_kn/√(Q_kk T_nn) at ``alphas``."""
    with plt.rc_context(STYLE):
        n = len(alphas)
        K, M = ds.sizes["k"], ds.sizes["n"]
        fig, axes = plt.subplots(1, n, figsize=(1.0 + n * (0.5 + 0.42 * M), 1.2 + 0.36 * K),
                                 squeeze=False)
        im = heatmap_row(list(axes[0]), ds, alphas)
        fig.colorbar(im, ax=list(axes[0]), shrink=0.8,
                     label=r"$\sigma_k R_{kn}/\sqrt{Q_{kk}T_{nn}}$")
        fig.suptitle(run_title(ds.attrs), y=1.02)
        return savefig(fig, path, pdf)


# --------------------------------------------------------------------------- ODE figure
def plot_ode(ds: xr.Dataset, path: str | Path, pdf: bool = False,
             alphas: Sequence[float] | None = None, title: str | None = None) -> Path:
    """Multi-panel figure of one ODE run.

    (a) ε(α) with the plateau and α*, (b) the specialization S(α), (c) head initialisation
    w_k(α), (d) sign-aligned R_kn(α), (e) Q_kl(α); with ``alphas`` a row of R heatmaps at
    those α is added (their positions are marked in (a) and (d)).
    """
    alphas = [a for a in (alphas or []) if a is not None]
    with plt.rc_context(STYLE):
        nrow = 3 if alphas else 2
        heights = [1, 1, 0.95] if alphas else [1, 1]
        fig = plt.figure(figsize=(11.5, 3.3 * sum(heights) + 0.4))
        gs = fig.add_gridspec(nrow, 1, height_ratios=heights, hspace=0.36, top=0.93,
                              bottom=0.06)
        top = gs[0].subgridspec(1, 3, wspace=0.3)
        mid = gs[1].subgridspec(1, 3, wspace=0.3)
        ax_e = fig.add_subplot(top[0, 0:2])
        ax_s = fig.add_subplot(top[0, 2])
        ax_R = fig.add_subplot(mid[0, 0])
        ax_Q = fig.add_subplot(mid[0, 1])
        ax_w = fig.add_subplot(mid[0, 2])
        p = plot_error(ax_e, ds)
        ax_e.legend(frameon=False, loc="lower left")
        ax_e.set_title("(a) meta-generalisation error", loc="left")
        al = plot_overlaps(ax_R, ax_Q, ds, legend=False)
        ax_R.set_title("(c) teacher–student overlaps (thick: own unit)", loc="left")
        ax_Q.set_title("(d) student–student overlaps", loc="left")

        d = _positive_alpha(ds)
        S = an.specialization_along(d)
        ax_s.semilogx(d.alpha.values, S, color="k", lw=2)
        ax_s.set_ylim(-0.05, 1.05)
        ax_s.set_xlabel(ALPHA_LABEL)
        ax_s.set_ylabel(r"specialization $S$")
        ax_s.set_title("(b) specialization order parameter", loc="left")
        for ax in (ax_s, ax_R):
            if p.found and math.isfinite(p.escape):
                ax.axvline(p.escape, color="#D55E00", lw=0.9, ls="--")
        if "w" in d:
            for k in al.order:
                ax_w.semilogx(d.alpha.values, d.w.values[:, k] * al.sign[k],
                              color=teacher_colour(al.colour_index[k]),
                              ls="--" if al.extra[k] else "-", label=_student_label(al, k))
            ax_w.set_xlabel(ALPHA_LABEL)
            ax_w.set_ylabel(r"$\sigma_k w_k$")
            ax_w.axhline(0, color="0.7", lw=0.6, zorder=0)
            ax_w.set_title("(e) head initialisation", loc="left")
            lo, hi = np.nanmin(d.w.values), np.nanmax(d.w.values)
            if hi - lo < 1e-6:
                ax_w.set_ylim(-0.05, 0.05)
                ax_w.text(0.5, 0.08, r"$w_k\equiv 0$ (ū = 0: stays at the symmetric value)",
                          transform=ax_w.transAxes, ha="center", fontsize=7.5, color="0.3")
            if al.K <= 12:
                ax_w.legend(frameon=True, framealpha=0.85, edgecolor="none",
                            ncol=1 if al.K <= 4 else 2, loc="upper left",
                            title="student unit → teacher unit (colour)", title_fontsize=7,
                            fontsize=7)
        if alphas:
            for a in alphas:
                for ax in (ax_e, ax_R, ax_s):
                    ax.axvline(a, color="0.35", lw=0.6, ls=(0, (4, 3)))
            bot = gs[2].subgridspec(1, len(alphas) + 1, wspace=0.25,
                                    width_ratios=[1] * len(alphas) + [0.05])
            hax = [fig.add_subplot(bot[0, i]) for i in range(len(alphas))]
            im = heatmap_row(hax, ds, alphas, al)
            cax = fig.add_subplot(bot[0, -1])
            fig.colorbar(im, cax=cax, label=r"$\sigma_k R_{kn}/\sqrt{Q_{kk}T_{nn}}$")
            t0 = hax[0].get_title()
            hax[0].set_title("")
            hax[0].set_title("(f) " + t0, loc="left")
        fig.suptitle(title or run_title(ds.attrs), y=0.985)
        return savefig(fig, path, pdf)


# --------------------------------------------------------------------------- comparison
def _alpha_dim(da: xr.DataArray) -> str | None:
    for d in da.dims:
        if str(d).startswith("alpha"):
            return str(d)
    return None


def _band(ax, alpha, sims: np.ndarray, colour: str, label: str | None, log: bool):
    """Seed mean with a min–max band and ±1 s.d. band; sims has shape (seed, alpha)."""
    sims = np.asarray(sims, dtype=float)
    with np.errstate(all="ignore"):
        if log:
            sims = np.where(sims > 0, sims, np.nan)
        mean = np.nanmean(sims, axis=0)
        sd = np.nanstd(sims, axis=0)
        lo, hi = np.nanmin(sims, axis=0), np.nanmax(sims, axis=0)
    ax.fill_between(alpha, lo, hi, color=colour, alpha=0.15, lw=0)
    lo_sd = np.where(log & (mean - sd <= 0), lo, mean - sd) if log else mean - sd
    ax.fill_between(alpha, lo_sd, mean + sd, color=colour, alpha=0.25, lw=0)
    ax.plot(alpha, mean, color=colour, lw=1.2, marker="o", ms=2.2, label=label)


def plot_compare(ds: xr.Dataset, path: str | Path, pdf: bool = False) -> Path:
    """Theory (``*_ode``) against simulation (``*_sim`` with a ``seed`` dim) overlays.

    Looks for ``eg``, ``R``, ``Q`` and ``w`` pairs and draws the panels it can: ε (log),
    sign-aligned R_kn and Q_kk, colour = teacher unit (alignment from the last ODE state,
    else from the seed-mean simulation). Simulations: mean over seeds (dots), ±1 s.d. and
    min–max bands. Plain simulation results (``eg(seed, alpha)``) are drawn the same way.
    """
    def pick(base: str):
        sim = next((v for v in (f"{base}_sim", f"{base}_mc", f"{base}_simulation") if v in ds),
                   None)
        ode = next((v for v in (f"{base}_ode", f"{base}_theory") if v in ds), None)
        if sim is None and base in ds and "seed" in ds[base].dims:
            sim = base
        return sim, ode

    pairs = {b: pick(b) for b in ("eg", "R", "Q", "w")}
    has_R = any(pairs["R"])
    with plt.rc_context(STYLE):
        ncol = 1 + (2 if has_R else 0)
        fig, axes = plt.subplots(1, ncol, figsize=(4.3 * ncol, 3.5), squeeze=False)
        axes = list(axes[0])
        ax = axes[0]
        sim, ode = pairs["eg"]
        if ode:
            da = ds[ode]
            a = da[_alpha_dim(da)].values
            m = a > 0
            ax.loglog(a[m], da.values[m], color="k", lw=2, label="theory (ODE)")
        if sim:
            da = ds[sim]
            ad = _alpha_dim(da)
            da = da.transpose("seed", ad, ...) if "seed" in da.dims else da.expand_dims("seed")
            a = da[ad].values
            m = a > 0
            ns = da.sizes["seed"]
            _band(ax, a[m], da.values[:, m], "#D55E00", f"simulation ({ns} seeds)", log=True)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(ALPHA_LABEL)
        ax.set_ylabel(EG_LABEL)
        ax.legend(frameon=False)
        ax.set_title("(a) error", loc="left")
        if has_R:
            simR, odeR = pairs["R"]
            ref = ds[odeR] if odeR else ds[simR].mean("seed") if "seed" in ds[simR].dims \
                else ds[simR]
            ad = _alpha_dim(ref)
            Rl = ref.isel({ad: -1}).transpose("k", "n").values
            simQ, odeQ = pairs["Q"]
            Qref = ds[odeQ] if odeQ else (ds[simQ].mean("seed") if simQ else None)
            Ql = Qref.isel({_alpha_dim(Qref): -1}).transpose("k", "l").values if Qref is not None \
                else None
            T = ds["T"] if "T" in ds else None
            if T is not None and "seed" in T.dims:  # simulations measure T per replica
                T = T.mean("seed")
            al = an.align_units(Rl, Ql, T.transpose("n", "m").values if T is not None else None)
            axR, axQ = axes[1], axes[2]
            for which, axx, src in (("R", axR, (simR, odeR)), ("Q", axQ, (simQ, odeQ))):
                s_name, o_name = src
                for k in al.order:
                    c = teacher_colour(al.colour_index[k])
                    idx = [int(al.colour_index[k])] if which == "R" else [int(k)]
                    for n in idx:
                        sel_sign = al.sign[k] if which == "R" else 1.0
                        if o_name:
                            da = ds[o_name]
                            adim = _alpha_dim(da)
                            sub = da.isel({"k": k, ("n" if which == "R" else "l"): n})
                            a = da[adim].values
                            m = a > 0
                            axx.semilogx(a[m], sel_sign * sub.values[m], color=c, lw=1.8)
                        if s_name:
                            da = ds[s_name]
                            adim = _alpha_dim(da)
                            sub = da.isel({"k": k, ("n" if which == "R" else "l"): n})
                            sub = sub.transpose("seed", adim) if "seed" in sub.dims \
                                else sub.expand_dims("seed")
                            a = da[adim].values
                            m = a > 0
                            _band(axx, a[m], sel_sign * sub.values[:, m], c, None, log=False)
                            axx.set_xscale("log")
                axx.set_xlabel(ALPHA_LABEL)
            axR.set_ylabel(r"$\sigma_k R_{k\pi(k)}$")
            axR.set_title("(b) overlap with own teacher unit", loc="left")
            axQ.set_ylabel(r"$Q_{kk}$")
            axQ.set_title("(c) student norms", loc="left")
            if odeR:
                axR.plot([], [], color="0.3", lw=1.8, label="theory")
            axR.plot([], [], color="0.3", lw=1.2, marker="o", ms=2.2, label="simulation")
            axR.legend(frameon=False, loc="best")
        t = run_title(ds.attrs)
        N = ds.attrs.get("simulation.N", ds.attrs.get("N"))
        if N is not None:
            t += f",  $N={_fmt(N)}$"
        fig.suptitle(t, y=1.02)
        fig.tight_layout()
        return savefig(fig, path, pdf)


# --------------------------------------------------------------------------- phase diagrams
def plot_phase(ax, x: np.ndarray, y: np.ndarray, Z: np.ndarray, *, cmap: str = "viridis",
               log_colour: bool = True, label: str = "", logx: bool = True, logy: bool = True,
               contours: Sequence[float] | None = None, nan_label: str = "not reached"):
    """Heatmap of Z(y, x) on (log) axes; NaN cells are left grey (``nan_label``)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    Z = np.ma.masked_invalid(np.asarray(Z, float))

    def edges(v, log):
        if v.size == 1:
            return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - .5, v[0] + .5])
        u = np.log(v) if log else v
        mids = 0.5 * (u[1:] + u[:-1])
        e = np.concatenate([[u[0] - (mids[0] - u[0])], mids, [u[-1] + (u[-1] - mids[-1])]])
        return np.exp(e) if log else e

    xe, ye = edges(x, logx), edges(y, logy)
    ax.set_facecolor("0.82")  # NaN cells show the background
    finite = Z.compressed()
    norm = None
    if finite.size and log_colour and np.all(finite > 0):
        norm = mcolors.LogNorm(vmin=finite.min(), vmax=finite.max())
    mesh = ax.pcolormesh(xe, ye, Z, cmap=cmap, norm=norm, shading="flat")
    if contours and finite.size:
        X, Y = np.meshgrid(x, y)
        cs = ax.contour(X, Y, Z.filled(np.nan), levels=sorted(contours), colors="w",
                        linewidths=0.8)
        ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=7)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if np.any(Z.mask):
        ax.fill_between([], [], color="0.82", label=nan_label)
    cb = plt.colorbar(mesh, ax=ax, label=label, pad=0.02)
    return mesh, cb


def plot_sweep(ds: xr.Dataset, path: str | Path, pdf: bool = False,
               threshold: float = 0.01) -> Path:
    """Figures of a grid of ODE runs: ``eg`` with dims (grid dims..., alpha).

    1 grid dimension: ε(α) curves coloured by the grid value, plus final ε and α(ε_th)
    against it. 2 grid dimensions: phase diagrams of the final ε and of α(ε ≤ ε_th) (the
    first crossing, interpolated; grey = never). Further dimensions are fixed at their
    first value (said in the title).
    """
    if "eg" not in ds:
        return _plot_grid_summary(ds, path, pdf)
    eg = ds["eg"]
    ad = _alpha_dim(eg)
    grid = [d for d in eg.dims if d != ad]
    fixed = {d: 0 for d in grid[2:]}
    eg = eg.isel(fixed)
    grid = grid[:2]
    alpha = ds[ad].values
    eg = eg.transpose(*grid, ad)

    def final_and_time(v):
        ok = np.isfinite(v)
        fin = float(v[ok][-1]) if ok.any() else math.nan
        return fin, an.crossing_time(alpha, v, threshold)

    with plt.rc_context(STYLE):
        if len(grid) == 0:
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.loglog(alpha[alpha > 0], eg.values[alpha > 0], color="k")
            ax.set_xlabel(ALPHA_LABEL)
            ax.set_ylabel(EG_LABEL)
        elif len(grid) == 1:
            vals = ds[grid[0]].values if grid[0] in ds.coords else np.arange(eg.shape[0])
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
            cmap = plt.get_cmap("viridis")
            fins, times = [], []
            for i, v in enumerate(vals):
                y = eg.values[i]
                m = alpha > 0
                ax1.loglog(alpha[m], np.where(y[m] > 0, y[m], np.nan),
                           color=cmap(i / max(1, len(vals) - 1)), label=f"{grid[0]}={_fmt(v)}")
                f, t = final_and_time(y)
                fins.append(f)
                times.append(t)
            ax1.set_xlabel(ALPHA_LABEL)
            ax1.set_ylabel(EG_LABEL)
            if len(vals) <= 10:
                ax1.legend(frameon=False, fontsize=7)
            try:
                xv = np.asarray(vals, dtype=float)
            except (TypeError, ValueError):
                xv = np.arange(len(vals), dtype=float)
            ax2.semilogy(xv, fins, "o-", color="k", label=r"final $\varepsilon$")
            ax2.set_xlabel(str(grid[0]))
            ax2.set_ylabel(r"final " + EG_LABEL)
            ax3 = ax2.twinx()
            ax3.plot(xv, times, "s--", color="#D55E00")
            ax3.set_ylabel(rf"$\alpha(\varepsilon\leq{threshold:g})$", color="#D55E00")
        else:
            xs = ds[grid[1]].values if grid[1] in ds.coords else np.arange(eg.shape[1])
            ys = ds[grid[0]].values if grid[0] in ds.coords else np.arange(eg.shape[0])
            F = np.full((len(ys), len(xs)), np.nan)
            Tm = np.full_like(F, np.nan)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    F[i, j], Tm[i, j] = final_and_time(eg.values[i, j])
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))

            def axis_ok(v):  # log axis for positive grids spanning > 1 decade
                v = np.asarray(v, dtype=float)
                return v, bool(np.all(v > 0) and v.max() / v.min() > 10)

            xv, lx = axis_ok(xs)
            yv, ly = axis_ok(ys)
            plot_phase(ax1, xv, yv, F, label=r"final " + EG_LABEL, logx=lx, logy=ly,
                       cmap="magma")
            plot_phase(ax2, xv, yv, Tm, label=rf"$\alpha(\varepsilon\leq{threshold:g})$",
                       logx=lx, logy=ly, nan_label="never")
            for ax in (ax1, ax2):
                ax.set_xlabel(str(grid[1]))
                ax.set_ylabel(str(grid[0]))
        t = run_title(ds.attrs)
        if fixed:
            t += "  (" + ", ".join(f"{d}={_fmt(ds[d].values[0]) if d in ds.coords else 0}"
                                   for d in fixed) + ")"
        fig.suptitle(t, y=1.02)
        fig.tight_layout()
        return savefig(fig, path, pdf)


def _plot_grid_summary(ds: xr.Dataset, path: str | Path, pdf: bool = False) -> Path:
    """Scalar results on a grid (no α axis), e.g. ``figures/data/*.nc``: one panel per
    variable (at most 4); 2-D → heatmap (extra dimensions at their first value), 1-D → curve."""
    names = [v for v in ds.data_vars if 1 <= ds[v].ndim and ds[v].dtype.kind == "f"][:4]
    if not names:
        raise ValueError("no gridded numeric variable to draw")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.6), squeeze=False)
        for ax, v in zip(axes[0], names, strict=True):
            da = ds[v]
            if da.ndim > 2:
                da = da.isel({d: 0 for d in da.dims[:-2]})
            if da.ndim == 2:
                ydim, xdim = da.dims
                x = np.asarray(ds[xdim].values if xdim in ds.coords else np.arange(da.shape[1]),
                               float)
                y = np.asarray(ds[ydim].values if ydim in ds.coords else np.arange(da.shape[0]),
                               float)
                logx = bool(np.all(x > 0) and x.max() / x.min() > 10)
                logy = bool(np.all(y > 0) and y.max() / y.min() > 10)
                plot_phase(ax, x, y, da.values, label=v, logx=logx, logy=logy)
                ax.set_xlabel(xdim)
                ax.set_ylabel(ydim)
            else:
                d0 = da.dims[0]
                x = ds[d0].values if d0 in ds.coords else np.arange(da.size)
                ax.plot(x, da.values, "o-", color="k")
                vals = da.values[np.isfinite(da.values)]
                if vals.size and np.all(vals > 0) and vals.max() / vals.min() > 100:
                    ax.set_yscale("log")
                ax.set_xlabel(d0)
                ax.set_ylabel(v)
            ax.set_title(v, loc="left")
        fig.tight_layout()
        return savefig(fig, path, pdf)


# --------------------------------------------------------------------------- linear model
def plot_linear(ds: xr.Dataset, path: str | Path, pdf: bool = False) -> Path:
    """dist(B, B_*) against rounds, one colour per algorithm: seed mean, min–max band."""
    da = ds["dist"]
    rd = next((d for d in da.dims if d not in ("algorithm", "seed")), da.dims[-1])
    if "algorithm" not in da.dims:
        da = da.expand_dims(algorithm=["run"])
    if "seed" not in da.dims:
        da = da.expand_dims(seed=[0])
    da = da.transpose("algorithm", "seed", rd)
    x = ds[rd].values if rd in ds.coords else np.arange(da.sizes[rd])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for i, name in enumerate(da["algorithm"].values):
            c = TEACHER_COLOURS[i % len(TEACHER_COLOURS)]
            _band(ax, x, da.values[i], c, str(name), log=True)
        ax.set_yscale("log")
        ax.set_xlabel("round $t$")
        ax.set_ylabel(r"${\rm dist}(B_t, B_*)$")
        ax.legend(frameon=False)
        fig.tight_layout()
        return savefig(fig, path, pdf)


# --------------------------------------------------------------------------- dispatch
def detect_kind(ds: xr.Dataset) -> str:
    """``linear`` (dist), ``compare`` (``*_sim``/``*_ode`` or a seed dim), ``sweep`` (eg with
    dims besides alpha, or scalar results on a grid without an α axis) or ``ode``."""
    names = set(map(str, ds.data_vars))
    if "dist" in names:
        return "linear"
    if any(v.endswith(("_sim", "_ode", "_mc", "_theory")) for v in names):
        return "compare"
    if "eg" in ds and "seed" in ds["eg"].dims:
        return "compare"
    if "eg" in ds and len(ds["eg"].dims) > 1:
        return "sweep"
    if "eg" in ds and "R" in ds:
        return "ode"
    gridded = [v for v in names if ds[v].ndim >= 1 and ds[v].dtype.kind == "f"]
    if gridded and not any(str(d).startswith("alpha") for v in names for d in ds[v].dims):
        return "sweep"  # scalar results on a grid (e.g. figures/data/*.nc)
    raise ValueError(
        "cannot tell what this dataset is (expected eg/R/Q, *_sim/*_ode or dist); "
        f"variables: {', '.join(sorted(names)) or 'none'}"
    )
