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
SETTINGS: dict[str, Any] = {"figure": "fig2-lr-phase-diagram", "quick_points": 6}


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
    with plt.rc_context(STYLE):
        ncol = 2 + (1 if len(Vs) > 1 else 0) + 1
        fig, axes = plt.subplots(1, ncol, figsize=(4.1 * ncol, 3.6))
        plot_phase(axes[0], eJ, ew, A_th[0].T, label=rf"$\alpha(\varepsilon\leq{thr:g})$",
                   contours=[10, 30, 100, 300])
        axes[0].set_title(r"(a) time to $\varepsilon_g\leq 0.01$, $V=\infty$", loc="left")
        plot_phase(axes[1], eJ, ew, A_esc[0].T, label=r"plateau escape $\alpha^*$",
                   contours=[1, 3, 10, 30, 100, 300], cmap="cividis")
        axes[1].set_title(r"(b) plateau escape $\alpha^*$, $V=\infty$", loc="left")
        ia = 2
        if len(Vs) > 1:
            plot_phase(axes[2], eJ, ew, A_th[1].T, label=rf"$\alpha(\varepsilon\leq{thr:g})$",
                       contours=[10, 30, 100, 300])
            axes[2].set_title(rf"(c) time to $\varepsilon_g\leq 0.01$, $V={Vs[1]}$", loc="left")
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
            ax.loglog(eJ, A_th[iv, :, j9], "o-", ms=3.5 - iv, color=c,
                      label=rf"$\alpha(\varepsilon\leq{thr:g})$, $V={vl}$")
            ax.loglog(eJ, A_esc[iv, :, j9], "s--", ms=5 - 2 * iv, color=c, mfc="none",
                      label=rf"$\alpha^*$, $V={vl}$")
        fin = np.isfinite(A_th[0, :, j9])
        if fin.any():
            c = float(np.median((A_th[0, :, j9] * eJ)[fin]))
            ax.loglog(eJ, c / eJ, color="0.5", lw=0.8, ls=":", label=rf"${c:.3g}/\eta_J$")
        ax.axhline(450, color="0.3", lw=0.7)
        ax.set_xlabel(r"$\eta_J$")
        ax.set_ylabel(r"$\alpha$")
        ax.set_title(rf"(d) cut at $\eta_w={ew[j9]:.3g}$ (dotted line in a–c)", loc="left")
        ax.legend(frameon=False, fontsize=7)
        fig.suptitle("FO-ANIL, $K=M=3$: learning-rate phase diagram "
                     r"(grey: $\varepsilon_g>0.01$ at $\alpha_{\rm final}=450$ / no plateau escape;"
                     r" $\star$: default rates)",
                     y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = save_grid(out_dir / "data" / "lr_phase_diagram.nc",
                      {"val_size": [float(v) if v != "inf" else math.inf for v in Vs],
                       "eta_J": eJ, "eta_w": ew},
                      {"alpha_threshold": A_th, "alpha_escape": A_esc, "eg_final": F},
                      {"threshold": thr})
    # numbers for the README
    summ: dict[str, Any] = {"wall_s": wall, "n_runs": len(pts)}
    for iv, V in enumerate(Vs):
        ok = np.isfinite(A_th[iv])
        tag = f"V={V}"
        summ[tag] = {
            "fraction_reached": float(ok.mean()),
            "min_eta_w_reaching_any_eta_J": float(ew[np.any(ok, axis=0)].min())
            if ok.any() else None,
            "fastest_alpha_threshold": float(np.nanmin(A_th[iv])) if ok.any() else None,
            "alpha_threshold_times_eta_J_at_eta_w_9": (A_th[iv, :, j9] * eJ).tolist(),
            "cut_eta_J": eJ.tolist(),
            "cut_alpha_threshold": A_th[iv, :, j9].tolist(),
            "cut_alpha_escape": A_esc[iv, :, j9].tolist(),
        }
        reach_J = eJ[np.isfinite(A_th[iv, :, j9])]
        summ[tag]["eta_J_range_reaching_at_eta_w_9"] = (
            [float(reach_J.min()), float(reach_J.max())] if reach_J.size else None)
        # minimal eta_w at eta_J closest to 3
        i3 = int(np.argmin(np.abs(eJ - 3)))
        reach_w = ew[np.isfinite(A_th[iv, i3, :])]
        summ[tag]["eta_w_range_reaching_at_eta_J_3"] = (
            [float(reach_w.min()), float(reach_w.max())] if reach_w.size else None)
        summ[tag]["eta_J_grid_point_near_3"] = float(eJ[i3])
    js = write_json(out_dir / "data" / "lr_phase_diagram.json", summ)
    return [*figure_paths(out_dir, name), data, js]

