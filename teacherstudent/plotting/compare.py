r"""Theory against simulation (``teacherstudent compare`` and ``teacherstudent plot``), and
plain simulation results (``teacherstudent simulate``: the same figure without theory).

One design: (a) ε(α) after adaptation and at the head initialisation, (b) the aligned
overlap ``R̃_n = sign · R_{π(n) n}`` of each teacher unit ``n`` with the student unit matched
to it, (c) the norm ``Q_{π(n)π(n)}`` of that student unit. Theory (``*_ode``): lines, on
top. Simulation (``*_sim`` with a ``seed`` dimension, or a plain result's variables): seed
mean as small light markers on a ±1 s.d. band. Colour = teacher unit ``n``.

The matching ``π`` and the signs are those of
:func:`teacherstudent.simulation.compare.align_overlaps` (maximal ``Σ_n |R_{π(n) n}|`` at the
last finite α), found for the theory and for **each seed** separately: every replica breaks
the symmetry its own way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..analysis import best_assignment
from .style import (
    ALPHA_LABEL,
    EG_LABEL,
    EG_PRE_LABEL,
    SIM_COLOUR,
    STYLE,
    THEORY_COLOUR,
    alpha_dim,
    finish,
    panel_axes,
    param_value,
    plt,
    run_title,
    seed_band,
    shared_doc,
    sim_handle,
    teacher_colour,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["plot_compare", "matched_units"]

PRE_COLOUR = "0.45"


def matched_units(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``R (alpha, K, M)``: the student unit ``π(n)`` matched to each teacher unit (−1:
    none, when ``K < M``) and its sign, from the last α where ``R`` is finite."""
    A, K, M = R.shape
    student = np.full(M, -1)
    sign = np.ones(M)
    finite = np.nonzero(np.all(np.isfinite(R.reshape(A, -1)), axis=1))[0]
    if finite.size == 0:
        return student, sign
    last = R[finite[-1]]
    rows, cols = best_assignment(np.abs(last))
    for k, n in zip(rows, cols, strict=True):
        student[n] = k
        sign[n] = np.sign(last[k, n] or 1.0)
    return student, sign


def _pick(ds: xr.Dataset, base: str) -> tuple[str | None, str | None]:
    """(simulation variable, theory variable) of ``base`` in ``ds``."""
    sim = next((v for v in (f"{base}_sim", f"{base}_mc", f"{base}_simulation") if v in ds), None)
    ode = next((v for v in (f"{base}_ode", f"{base}_theory") if v in ds), None)
    if sim is None and base in ds and "seed" in ds[base].dims:
        sim = base
    if ode is None and sim is None and base in ds:
        ode = base
    return sim, ode


def _as_seeds(da: xr.DataArray, *rest: str) -> tuple[np.ndarray, np.ndarray]:
    """(α, values with dims (seed, alpha, *rest)); a missing seed dimension becomes one."""
    ad = alpha_dim(da)
    da = da.transpose("seed", ad, *rest) if "seed" in da.dims else \
        da.transpose(ad, *rest).expand_dims("seed")
    return da[ad].values, da.values


def _aligned(ds: xr.Dataset, r_name: str | None, q_name: str | None,
             al_name: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """α, R̃ (seed, alpha, n) and Q_{π(n)π(n)} (seed, alpha, n) of one source."""
    if r_name is not None:
        alpha, R = _as_seeds(ds[r_name], "k", "n")
        Q = None
        if q_name is not None:
            _, Q = _as_seeds(ds[q_name], "k", "l")
        S, A, _, M = R.shape
        Rt = np.full((S, A, M), np.nan)
        Qt = np.full((S, A, M), np.nan) if Q is not None else None
        for s in range(S):
            student, sign = matched_units(R[s])
            for n in range(M):
                k = student[n]
                if k >= 0:
                    Rt[s, :, n] = sign[n] * R[s, :, k, n]
                    if Qt is not None:
                        Qt[s, :, n] = Q[s, :, k, k]
        return alpha, Rt, Qt
    if al_name is not None:
        alpha, Rt = _as_seeds(ds[al_name], "n")
        return alpha, Rt, None
    return None


@shared_doc
def plot_compare(ds: xr.Dataset, path: str | Path | None = None, pdf: bool = False, *,
                 ax: Axes | list[Axes] | None = None, fig: Figure | None = None) -> Figure:
    """Theory (``*_ode``) against simulation (``*_sim`` with a ``seed`` dimension).

    Draws the panels the dataset allows: (a) ε (log–log; ``eg`` and, when present,
    ``eg_pre``), and with ``R`` (b) the aligned overlaps ``R̃_n`` and with ``Q`` (c) the
    matched norms ``Q_{π(n)π(n)}``. Plain simulation results (``eg(seed, alpha)``,
    ``R(seed, alpha, k, n)``, …) are drawn the same way, without theory.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`teacherstudent.simulation.compare.compare` result or a simulation result.
    %(path)s
    %(pdf)s
    ax : matplotlib.axes.Axes or list of Axes, optional
        Draw into one Axes (its cell is split into the panels) or one Axes per panel.
    %(fig)s

    %(returns)s
    """
    eg_sim, eg_ode = _pick(ds, "eg")
    pre_sim, pre_ode = _pick(ds, "eg_pre")
    r_sim, r_ode = _pick(ds, "R")
    q_sim, q_ode = _pick(ds, "Q")
    al_sim = "R_aligned_sim" if "R_aligned_sim" in ds else None
    al_ode = "R_aligned_ode" if "R_aligned_ode" in ds else None
    if eg_sim is None and eg_ode is None:
        raise ValueError("no eg, eg_sim or eg_ode to draw")
    theory = _aligned(ds, r_ode, q_ode, al_ode)
    sims = _aligned(ds, r_sim, q_sim, al_sim)
    has_R = theory is not None or sims is not None
    has_Q = any(src is not None and src[2] is not None for src in (theory, sims))
    npan = 1 + int(has_R) + int(has_Q)
    n_seeds = ds.sizes.get("seed", 1)

    with plt.rc_context(STYLE):
        fig, axes, own = panel_axes(npan, ax=ax, fig=fig, figsize=(4.4 * npan, 3.7))
        ax_e = axes[0]
        handles = []
        for sim_name, ode_name, colour_ode, colour_sim, what, ls in (
            (eg_sim, eg_ode, THEORY_COLOUR, SIM_COLOUR, EG_LABEL + " (adapted)", "-"),
            (pre_sim, pre_ode, PRE_COLOUR, PRE_COLOUR, EG_PRE_LABEL, "--"),
        ):
            if ode_name is not None:
                a, v = _as_seeds(ds[ode_name])
                m = a > 0
                ax_e.plot(a[m], np.where(v[0, m] > 0, v[0, m], np.nan), color=colour_ode,
                          lw=1.6, ls=ls, zorder=3)
                handles.append(Line2D([], [], color=colour_ode, lw=1.6, ls=ls,
                                      label=f"{what}: theory"))
            if sim_name is not None:
                a, v = _as_seeds(ds[sim_name])
                m = a > 0
                seed_band(ax_e, a[m], v[:, m], colour_sim, log=True)
                handles.append(sim_handle(colour_sim, f"{what}: simulation"))
        ax_e.set_xscale("log")
        ax_e.set_yscale("log")
        ax_e.set_xlabel(ALPHA_LABEL)
        ax_e.set_ylabel(EG_LABEL)
        ax_e.set_title("(a) generalisation error", loc="left")
        if any(s is not None for s in (eg_sim, pre_sim)):
            handles.append(Patch(color="0.5", alpha=0.25, lw=0,
                                 label=f"±1 s.d. over {n_seeds} seed{'s' * (n_seeds != 1)}"))
        ax_e.legend(handles=handles, frameon=False, loc="lower left")

        if has_R:
            ax_R = axes[1]
            ax_Q = axes[2] if has_Q else None
            M = next(src[1].shape[-1] for src in (theory, sims) if src is not None)
            for src, is_theory in ((sims, False), (theory, True)):
                if src is None:
                    continue
                a, Rt, Qt = src
                m = a > 0
                for panel, vals in ((ax_R, Rt), (ax_Q, Qt)):
                    if panel is None or vals is None:
                        continue
                    for n in range(M):
                        c = teacher_colour(n)
                        if is_theory:
                            panel.plot(a[m], vals[0, m, n], color=c, lw=1.6, zorder=3)
                        else:
                            seed_band(panel, a[m], vals[:, m, n], c)
            ax_R.set_xscale("log")
            ax_R.axhline(0, color="0.7", lw=0.6, zorder=0)
            ax_R.set_xlabel(ALPHA_LABEL)
            ax_R.set_ylabel(r"$\tilde R_n = \pm R_{\pi(n)\,n}$")
            ax_R.set_title("(b) overlap with the matched student unit", loc="left")
            units = [Line2D([], [], color=teacher_colour(n), lw=3,
                            label=rf"$n={n + 1}$") for n in range(min(M, 10))]
            kinds = []
            if theory is not None:
                kinds.append(Line2D([], [], color="0.3", lw=1.6, label="theory"))
            if sims is not None:
                kinds.append(sim_handle("0.3", "simulation (± 1 s.d.)"))
            ax_R.legend(handles=units + kinds, frameon=False, loc="upper left",
                        title="teacher unit $n$", title_fontsize=7, fontsize=7)
            if ax_Q is not None:
                ax_Q.set_xscale("log")
                ax_Q.set_xlabel(ALPHA_LABEL)
                ax_Q.set_ylabel(r"$Q_{\pi(n)\pi(n)}$")
                ax_Q.set_title("(c) norm of the matched student unit", loc="left")
        t = run_title(ds.attrs)
        N = ds.attrs.get("N", ds.attrs.get("simulation.N"))
        extra = []
        if N is not None and (eg_sim is not None):
            extra.append(param_value("simulation.N", N))
        if eg_sim is not None:
            extra.append(f"{n_seeds} seed{'s' * (n_seeds != 1)}")
        dev = ds.attrs.get("max_abs_deg")
        if dev is not None and np.isfinite(float(dev)):
            extra.append(r"$\max_\alpha|\langle\varepsilon_{\rm sim}\rangle-\varepsilon_{\rm ode}|"
                         rf"={float(dev):.2g}$")
        t = ",  ".join([p for p in (t, *extra) if p])
        if own:
            fig.suptitle(t)
            fig.tight_layout()
        return finish(fig, path, pdf)
