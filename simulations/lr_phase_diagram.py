"""α(ε ≤ 0.01) and plateau escape α* over (η_J, η_w) at V = ∞ and V = 10 (FO-ANIL, K=M=3).

Declared in ``lr_phase_diagram.toml`` beside this file, a sweep spec (``teacherstudent sweep``
runs its grid as it is); what only the figure needs is :data:`SETTINGS` (quick mode: a
``quick_points`` × ``quick_points`` sub-grid at V = ∞). Writes ``fig2-lr-phase-diagram.png``
and ``.pdf``, ``data/lr_phase_diagram.nc`` (the grid) and ``data/lr_phase_diagram.json``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import floor_boundary, rate_boundary, threshold_window
from teacherstudent.plotting import STYLE, plot_phase, plt, savefig
from teacherstudent.studies import (
    collect,
    eg_threshold,
    figure_paths,
    grid_points,
    is_quick,
    read_study,
    run_points,
    save_grid,
    write_json,
)

#: Figure-only settings (the physics is in the TOML file).
SETTINGS: dict[str, Any] = {
    "figure": "fig2-lr-phase-diagram",
    "quick_points": 6,
    # predicted lower boundary (theory/plateau.md §7): the eta_w of the grid plus a finer
    # set just above the error-floor boundary, where the predicted eta_J,min diverges
    "theory_eta_w_fine": [4.27, 4.28, 4.3, 4.35, 4.4, 4.5, 4.6, 4.8, 5.0],
    # continuation of the final fixed point down from eta_w = 9 (its error floor)
    "floor_eta_w": [9.0, 8.0, 7.0, 6.0, 5.5, 5.0, 4.6, 4.4, 4.3, 4.2, 4.0],
    # finite V (theory/plateau.md §7): every row scanned on every `theory_V_stride`-th eta_J
    # of the grid, then both edges of the reaching interval bisected `theory_V_steps` times
    "theory_V_stride": 5,
    "theory_V_steps": 7,
}


def _theory(base: dict[str, Any], ew: np.ndarray, st: dict[str, Any]) -> dict[str, Any]:
    """Predicted lower boundary at V = ∞: η_J,min(η_w) from the escape and convergence time
    (:func:`rate_boundary`) and the η_w below which the final fixed point's error floor is
    above the threshold (:func:`floor_boundary`)."""
    vals = np.unique(np.concatenate([ew, np.asarray(st["theory_eta_w_fine"], float)]))
    t0 = time.perf_counter()
    rb = rate_boundary(base, eta_w=vals, eta_J_max=1e3)
    fb = floor_boundary(base, values=st["floor_eta_w"], threshold=rb.threshold)
    return {"rb": rb, "floor_eta_w": fb.boundary, "wall_s": time.perf_counter() - t0}


def _theory_finite_v(
    base: dict[str, Any], V: Any, eJ: np.ndarray, ew: np.ndarray, st: dict[str, Any]
) -> dict[str, Any]:
    """Predicted lower and upper η_J boundaries at finite V (:func:`threshold_window`: the
    plateau skipped by the linear flow along the invariant subspace R = 0, on which Q drifts;
    the full drift after it)."""
    t0 = time.perf_counter()
    win = threshold_window(
        base,
        eta_w=ew,
        eta_J=eJ[:: int(st["theory_V_stride"])],
        overrides={"algorithm.val_size": float(V)},
        steps=int(st["theory_V_steps"]),
    )
    return {"win": win, "V": V, "wall_s": time.perf_counter() - t0}


def _overlay_window(ax, thv: dict[str, Any]) -> None:
    """The predicted window at finite V: its lower (dashed) and upper (dash-dotted) edge."""
    w = thv["win"]
    xl, yl = ax.get_xlim(), ax.get_ylim()
    lo, hi = np.isfinite(w.eta_J_min), np.isfinite(w.eta_J_max)
    ax.plot(
        w.eta_J_min[lo],
        w.eta_w[lo],
        color="#E69F00",
        lw=1.6,
        ls="--",
        label=r"theory: minimal $\eta_J$ ($V=10$)",
    )
    ax.plot(
        w.eta_J_max[hi],
        w.eta_w[hi],
        color="#E69F00",
        lw=1.6,
        ls="-.",
        label=r"theory: maximal $\eta_J$ ($V=10$)",
    )
    ax.set_xlim(xl)
    ax.set_ylim(yl)


def _agreement_window(A: np.ndarray, eJ: np.ndarray, thv: dict[str, Any]) -> dict[str, Any]:
    """Predicted against integrated reach at finite V, cell by cell."""
    w = thv["win"]
    lo = np.where(np.isfinite(w.eta_J_min), w.eta_J_min, np.inf)
    hi = np.where(np.isfinite(w.eta_J_max), w.eta_J_max, np.inf)
    pred_ok = (eJ[:, None] >= lo[None, :]) & (eJ[:, None] <= hi[None, :])
    int_ok = np.isfinite(A)
    bad = np.argwhere(pred_ok != int_ok)
    return {
        "cells_agree": float((pred_ok == int_ok).mean()),
        "cells_disagree": int(len(bad)),
        "disagreeing_cells": [
            {
                "eta_J": float(eJ[i]),
                "eta_w": float(w.eta_w[j]),
                "integrated_reaches": bool(int_ok[i, j]),
            }
            for i, j in bad
        ],
    }


def _overlay(ax, th: dict[str, Any]) -> None:
    """The predicted boundary: the η_J,min(η_w) curve and the error-floor line below which
    ε ≤ threshold is never reached."""
    rb = th["rb"]
    fin = np.isfinite(rb.eta_J_min)
    xl, yl = ax.get_xlim(), ax.get_ylim()  # the grid's extent (the curve runs beyond it)
    ax.plot(
        rb.eta_J_min[fin],
        rb.eta_w[fin],
        color="#E69F00",
        lw=1.6,
        ls="--",
        label="theory (fixed points)",
    )
    ax.axhline(
        th["floor_eta_w"],
        color="#E69F00",
        lw=1.0,
        ls=":",
        label=r"theory: floor $\varepsilon_\infty=0.01$",
    )
    ax.set_xlim(xl)
    ax.set_ylim(yl)


def _agreement(A: np.ndarray, eJ: np.ndarray, ew: np.ndarray, th: dict[str, Any]) -> dict:
    """Predicted against integrated reach of the threshold, cell by cell and row by row."""
    rb = th["rb"]
    pred_min = np.interp(ew, rb.eta_w, rb.eta_J_min)  # grid η_w are among rb.eta_w
    pred_ok = (eJ[:, None] >= pred_min[None, :]) & (ew[None, :] > th["floor_eta_w"])
    int_ok = np.isfinite(A)
    rows = []
    for j, w in enumerate(ew):
        succ = eJ[int_ok[:, j]]
        fail = eJ[~int_ok[:, j] & (eJ < (succ.min() if succ.size else np.inf))]
        lo = float(fail.max()) if fail.size else None
        hi = float(succ.min()) if succ.size else None
        p = float(pred_min[j])
        inside = (lo is None or p > lo) and (hi is None or p <= hi)
        # integrated η_J,min of the row from the exact 1/η_J scaling of its reaching cells
        a_eta = A[int_ok[:, j], j] * eJ[int_ok[:, j]]
        integ = float(np.median(a_eta) / rb.alpha_final) if a_eta.size else math.nan
        rows.append(
            {
                "eta_w": float(w),
                "pred_eta_J_min": p,
                "grid_fail": lo,
                "grid_reach": hi,
                "consistent": bool(inside),
                "integrated_eta_J_min": integ,
                "rel_error": p / integ - 1.0,
            }
        )
    err = np.array([r["rel_error"] for r in rows])
    err = err[np.isfinite(err)]
    return {
        "max_abs_rel_error_eta_J_min": float(np.abs(err).max()) if err.size else None,
        "median_abs_rel_error_eta_J_min": float(np.median(np.abs(err))) if err.size else None,
        "cells_agree": float((pred_ok == int_ok).mean()),
        "cells_disagree": int((pred_ok != int_ok).sum()),
        "rows_consistent": int(sum(r["consistent"] for r in rows)),
        "rows": rows,
    }


def run(out_dir: Path) -> list[Path]:
    """α(ε ≤ 0.01) and plateau escape α* over (η_J, η_w) at V = ∞ and V = 10 (FO-ANIL, K=M=3)."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st, grid = {**SETTINGS, "threshold": eg_threshold(spec)}, dict(spec["grid"])
    if is_quick():
        n = int(st.get("quick_points", 6))
        for k in ("algorithm.eta_J", "algorithm.eta_w"):
            v = grid[k]
            grid[k] = [v[int(round(i))] for i in np.linspace(0, len(v) - 1, n)]
        grid["algorithm.val_size"] = grid["algorithm.val_size"][:1]
    keys, pts = grid_points(grid)
    shape = tuple(len(grid[k]) for k in keys)
    t0 = time.perf_counter()
    res = run_points(spec["base"], pts)
    wall = time.perf_counter() - t0
    A_th = collect(res, shape, "alpha_threshold")
    A_esc = collect(res, shape, "alpha_escape")
    F = collect(res, shape, "eg_final")
    eJ = np.asarray(grid["algorithm.eta_J"], float)
    ew = np.asarray(grid["algorithm.eta_w"], float)
    Vs = grid["algorithm.val_size"]
    thr = float(st.get("threshold", 0.01))
    name = st.get("figure", "fig2-lr-phase-diagram")
    j9 = int(np.argmin(np.abs(ew - 9)))  # the cut at the default inner rate
    th = _theory(spec["base"], ew, st)
    thv = _theory_finite_v(spec["base"], Vs[1], eJ, ew, st) if len(Vs) > 1 else None
    with plt.rc_context(STYLE):
        ncol = 2 + (1 if len(Vs) > 1 else 0) + 1
        fig, axes = plt.subplots(1, ncol, figsize=(4.1 * ncol, 3.6))
        plot_phase(
            axes[0],
            eJ,
            ew,
            A_th[0].T,
            label=rf"$\alpha(\varepsilon\leq{thr:g})$",
            contours=[10, 30, 100, 300],
        )
        axes[0].set_title(r"(a) time to $\varepsilon_g\leq 0.01$, $V=\infty$", loc="left")
        _overlay(axes[0], th)
        axes[0].legend(frameon=False, fontsize=7, loc="lower right")
        plot_phase(
            axes[1],
            eJ,
            ew,
            A_esc[0].T,
            label=r"plateau escape $\alpha^*$",
            contours=[1, 3, 10, 30, 100, 300],
            cmap="cividis",
        )
        axes[1].set_title(r"(b) plateau escape $\alpha^*$, $V=\infty$", loc="left")
        ia = 2
        if len(Vs) > 1:
            plot_phase(
                axes[2],
                eJ,
                ew,
                A_th[1].T,
                label=rf"$\alpha(\varepsilon\leq{thr:g})$",
                contours=[10, 30, 100, 300],
            )
            axes[2].set_title(rf"(c) time to $\varepsilon_g\leq 0.01$, $V={Vs[1]}$", loc="left")
            _overlay_window(axes[2], thv)
            axes[2].legend(frameon=False, fontsize=7, loc="lower right")
            ia = 3
        for ax in axes[:ia]:
            ax.set_xlabel(r"outer rate $\eta_J$ ($=\eta_0$)")
            ax.set_ylabel(r"inner head rate $\eta_w$")
            ax.axhline(ew[j9], color="w", lw=0.6, ls=":")
            ax.plot([3], [9], marker="*", color="w", ms=9, mec="k", mew=0.5)
        ax = axes[ia]
        for iv, V in enumerate(Vs):
            vl = r"\infty" if str(V) == "inf" else str(V)
            c = ["#0072B2", "#D55E00"][iv % 2]
            ax.loglog(
                eJ,
                A_th[iv, :, j9],
                "o-",
                ms=3.5 - iv,
                color=c,
                label=rf"$\alpha(\varepsilon\leq{thr:g})$, $V={vl}$",
            )
            ax.loglog(
                eJ,
                A_esc[iv, :, j9],
                "s--",
                ms=5 - 2 * iv,
                color=c,
                mfc="none",
                label=rf"$\alpha^*$, $V={vl}$",
            )
        fin = np.isfinite(A_th[0, :, j9])
        if fin.any():
            c = float(np.median((A_th[0, :, j9] * eJ)[fin]))
            ax.loglog(eJ, c / eJ, color="0.5", lw=0.8, ls=":", label=rf"${c:.3g}/\eta_J$")
        k9 = int(np.argmin(np.abs(th["rb"].eta_w - ew[j9])))
        ax.loglog(
            eJ,
            th["rb"].alpha_threshold[k9] * th["rb"].eta_J_ref / eJ,
            color="#E69F00",
            lw=1.4,
            ls="--",
            label=r"theory (fixed points), $V=\infty$",
        )
        ax.axhline(450, color="0.3", lw=0.7)
        ax.set_xlabel(r"$\eta_J$")
        ax.set_ylabel(r"$\alpha$")
        ax.set_title(rf"(d) cut at $\eta_w={ew[j9]:.3g}$ (dotted line in a–c)", loc="left")
        ax.legend(frameon=False, fontsize=7)
        fig.suptitle(
            "FO-ANIL, $K=M=3$: learning-rate phase diagram "
            r"(grey: $\varepsilon_g>0.01$ at $\alpha_{\rm final}=450$ / no plateau escape;"
            r" $\star$: default rates)",
            y=1.02,
        )
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = save_grid(
        out_dir / "data" / "lr_phase_diagram.nc",
        {"val_size": [float(v) if v != "inf" else math.inf for v in Vs], "eta_J": eJ, "eta_w": ew},
        {"alpha_threshold": A_th, "alpha_escape": A_esc, "eg_final": F},
        {"threshold": thr},
    )
    # numbers for the README
    summ: dict[str, Any] = {"wall_s": wall, "n_runs": len(pts)}
    for iv, V in enumerate(Vs):
        ok = np.isfinite(A_th[iv])
        tag = f"V={V}"
        summ[tag] = {
            "fraction_reached": float(ok.mean()),
            "min_eta_w_reaching_any_eta_J": float(ew[np.any(ok, axis=0)].min())
            if ok.any()
            else None,
            "fastest_alpha_threshold": float(np.nanmin(A_th[iv])) if ok.any() else None,
            "alpha_threshold_times_eta_J_at_eta_w_9": (A_th[iv, :, j9] * eJ).tolist(),
            "cut_eta_J": eJ.tolist(),
            "cut_alpha_threshold": A_th[iv, :, j9].tolist(),
            "cut_alpha_escape": A_esc[iv, :, j9].tolist(),
        }
        reach_J = eJ[np.isfinite(A_th[iv, :, j9])]
        summ[tag]["eta_J_range_reaching_at_eta_w_9"] = (
            [float(reach_J.min()), float(reach_J.max())] if reach_J.size else None
        )
        # minimal eta_w at eta_J closest to 3
        i3 = int(np.argmin(np.abs(eJ - 3)))
        reach_w = ew[np.isfinite(A_th[iv, i3, :])]
        summ[tag]["eta_w_range_reaching_at_eta_J_3"] = (
            [float(reach_w.min()), float(reach_w.max())] if reach_w.size else None
        )
        summ[tag]["eta_J_grid_point_near_3"] = float(eJ[i3])
    rb = th["rb"]
    summ["theory"] = {
        "wall_s": th["wall_s"],
        "floor_eta_w": th["floor_eta_w"],
        "eta_J_ref": rb.eta_J_ref,
        "eta_w": rb.eta_w.tolist(),
        "eta_J_min": rb.eta_J_min.tolist(),
        "alpha_threshold_at_ref": rb.alpha_threshold.tolist(),
        "alpha_escape_at_ref": rb.alpha_escape.tolist(),
        "agreement_V_inf": _agreement(A_th[0], eJ, ew, th),
    }
    if thv is not None:
        w = thv["win"]
        summ["theory"][f"V={Vs[1]}"] = {
            "wall_s": thv["wall_s"],
            "eta_w": w.eta_w.tolist(),
            "eta_J_min": w.eta_J_min.tolist(),
            "eta_J_max": w.eta_J_max.tolist(),
            "agreement": _agreement_window(A_th[1], eJ, thv),
        }
    js = write_json(out_dir / "data" / "lr_phase_diagram.json", summ)
    return [*figure_paths(out_dir, name), data, js]
