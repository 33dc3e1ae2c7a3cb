"""Final ε and plateau escape α* over the task variability γ and the head variance Σ_u.

Declared in ``task_variability.toml`` beside this file, a sweep spec (``teacherstudent sweep``
runs its grid as it is); the curves drawn and the quick-mode grid are :data:`SETTINGS`.
Writes ``fig4-task-variability.png`` and ``.pdf``, ``data/task_variability.nc`` and
``data/task_variability.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.plotting import ALPHA_LABEL, EG_LABEL, STYLE, plot_phase, plt, savefig
from teacherstudent.studies import (
    collect,
    figure_paths,
    is_quick,
    read_study,
    run_points,
    save_grid,
    write_json,
)

#: Figure-only settings (the physics is in the TOML file).
SETTINGS: dict[str, Any] = {
    "figure": "fig4-task-variability",
    "curves_gamma": [1.0, 0.99, 0.95, 0.9, 0.7, 0.5],
    "curves_head_cov": [0.1, 0.278, 1.0, 3.59, 10.0],
    "quick_gamma": [0.9, 1.0],
    "quick_head_cov": [0.5, 1.0],
}


def run(out_dir: Path) -> list[Path]:
    """Final ε and plateau escape α* over the task variability γ and the head variance Σ_u."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st, base = SETTINGS, spec["base"]
    gam = [float(g) for g in (st["quick_gamma"] if is_quick() else spec["grid"]["tasks.gamma"])]
    cov = [float(c) for c in (st["quick_head_cov"] if is_quick()
                              else spec["grid"]["tasks.head_cov"])]
    t0 = time.perf_counter()
    res = run_points(base, [{"tasks.gamma": g, "tasks.head_cov": c} for g in gam for c in cov])
    cg = [g for g in st.get("curves_gamma", []) if not is_quick()] or gam
    cc = [c for c in st.get("curves_head_cov", []) if not is_quick()] or cov
    curves_g = run_points(base, [{"tasks.gamma": g} for g in cg], keep=True)
    curves_c = run_points(base, [{"tasks.head_cov": c} for c in cc], keep=True)
    wall = time.perf_counter() - t0
    shape = (len(gam), len(cov))
    F = collect(res, shape, "eg_final")
    E0 = collect(res, shape, "eg0")
    A = collect(res, shape, "alpha_escape")
    S = collect(res, shape, "S_final")
    name = st.get("figure", "fig4-task-variability")
    one_minus = 1.0 - np.asarray(gam)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 4, figsize=(17, 3.7))
        yv = np.arange(len(gam), dtype=float)  # γ as categories (the grid crowds near 1)
        floor = 1e-5
        plot_phase(axes[0], np.asarray(cov), yv, np.maximum(F / E0, floor),
                   label=r"final $\varepsilon_g/\varepsilon_g(0)$ (floored at $10^{-5}$)",
                   logy=False, cmap="magma")
        axes[0].set_title(r"(a) final error / initial error", loc="left")
        plot_phase(axes[1], np.asarray(cov), yv, A, label=r"plateau escape $\alpha^*$",
                   logy=False, cmap="cividis", nan_label="no escape")
        axes[1].set_title(r"(b) plateau escape $\alpha^*$ (grey: none by 450)", loc="left")
        for ax in axes[:2]:
            ax.set_yticks(yv, [f"{g:g}" for g in gam])
            ax.set_xlabel(r"head variance $\Sigma_u$ ($u\sim\mathcal{N}(0,\Sigma_u I)$)")
            ax.set_ylabel(r"task similarity $\gamma$")
        cmap = plt.get_cmap("plasma")
        for i, (g, r) in enumerate(zip(cg, curves_g, strict=True)):
            m = r["alpha"] > 0
            axes[2].loglog(r["alpha"][m], r["eg"][m], color=cmap(i / max(1, len(cg))),
                           label=rf"$\gamma={g:g}$")
        axes[2].set_title(r"(c) $\Sigma_u=1$", loc="left")
        for i, (c, r) in enumerate(zip(cc, curves_c, strict=True)):
            m = r["alpha"] > 0
            axes[3].loglog(r["alpha"][m], r["eg"][m] / r["eg0"],
                           color=plt.get_cmap("viridis")(i / max(1, len(cc) - 1)),
                           label=rf"$\Sigma_u={c:g}$")
        axes[3].set_title(r"(d) $\gamma=1$ (error relative to $\varepsilon_g(0)=\Sigma_u/6$)",
                          loc="left")
        axes[2].set_ylabel(EG_LABEL)
        axes[3].set_ylabel(EG_LABEL + r"$/\varepsilon_g(0)$")
        for ax in axes[2:]:
            ax.set_xlabel(ALPHA_LABEL)
            ax.legend(frameon=False, fontsize=7, loc="lower left")
        fig.suptitle("Task variability: FO-ANIL, $K=M=3$, $\\eta_J=3$, $\\eta_w=9$", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = save_grid(out_dir / "data" / "task_variability.nc",
                      {"gamma": gam, "head_cov": cov},
                      {"eg_final": F, "eg_initial": E0, "alpha_escape": A, "S_final": S}, {})
    ic = cov.index(1.0) if 1.0 in cov else 0
    summ = {
        "wall_s": wall,
        "gamma": gam,
        "head_cov": cov,
        "at_head_cov_1": {"eg_final": F[:, ic], "alpha_escape": A[:, ic], "S_final": S[:, ic],
                          "one_minus_gamma": one_minus},
        "at_gamma_1": {"eg_final": F[gam.index(1.0)] if 1.0 in gam else None,
                       "alpha_escape": A[gam.index(1.0)] if 1.0 in gam else None,
                       "alpha_escape_times_head_cov": (A[gam.index(1.0)] * np.asarray(cov))
                       if 1.0 in gam else None},
        "curves_gamma": [{"gamma": g, "eg_final": r["eg_final"], "alpha_escape": r["alpha_escape"],
                          "S_final": r["S_final"]} for g, r in zip(cg, curves_g, strict=True)],
    }
    js = write_json(out_dir / "data" / "task_variability.json", summ)
    return [*figure_paths(out_dir, name), data, js]

