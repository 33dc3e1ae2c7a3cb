"""K = 3…12 (M = 3): minimal η_J, η_w reaching ε ≤ 0.01 by α = 450; what extra units do.

Declared in ``overparameterization.toml`` beside this file, a sweep spec (``teacherstudent
sweep`` runs its runs at the default rates); the bisection brackets of the minimal-rate
searches, the heat-map panels and the quick-mode K are :data:`SETTINGS`. Writes
``fig3-overparameterization.png`` and ``.pdf``, ``data/overparameterization.nc`` and
``data/overparameterization.json``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent import analysis as an
from teacherstudent.analysis import minimal_eta_w, rate_boundary
from teacherstudent.plotting import (
    ALPHA_LABEL,
    EG_LABEL,
    STYLE,
    heatmap,
    plt,
    savefig,
    teacher_colour,
)
from teacherstudent.studies import (
    eg_threshold,
    figure_paths,
    is_quick,
    minimal_rates,
    read_study,
    run_points,
    save_grid,
    write_json,
)

#: Figure-only settings (the physics is in the TOML file).
SETTINGS: dict[str, Any] = {
    "figure": "fig3-overparameterization",
    "eta_J_bracket": [0.01, 10.0],
    "eta_w_bracket": [0.5, 200.0],
    "bisection_steps": 12,
    "heatmap_K": [4, 6, 12],
    "quick_K": [3, 5],
}


def run(out_dir: Path) -> list[Path]:
    """K = 3…12 (M = 3): minimal η_J, η_w reaching ε ≤ 0.01 by α = 450; what extra units do."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st, base = {**SETTINGS, "threshold": eg_threshold(spec)}, spec["base"]
    Ks = [int(k) for k in (st["quick_K"] if is_quick() else spec["grid"]["model.K"])]
    steps = int(st.get("bisection_steps", 12)) if not is_quick() else 5
    M = int(base["model"]["M"])
    eta_J0 = float(base["algorithm"]["eta_J"])
    eta_w0 = float(base["algorithm"]["eta_w"])
    t0 = time.perf_counter()
    runs = run_points(base, [{"model.K": K} for K in Ks], keep=True)
    scaled = run_points(base, [{"model.K": K, "algorithm.eta_w": eta_w0 * K / M,
                                "algorithm.eta_J": eta_J0 * math.sqrt(K / M)} for K in Ks])
    scaled_w = run_points(base, [{"model.K": K, "algorithm.eta_w": eta_w0 * K / M} for K in Ks])
    searches = []
    for K in Ks:
        searches.append(("algorithm.eta_J", {"model.K": K}, st["eta_J_bracket"]))
        searches.append(("algorithm.eta_w", {"model.K": K}, st["eta_w_bracket"]))
    mins = minimal_rates(base, searches, steps)
    wall = time.perf_counter() - t0
    minJ = np.array([mins[2 * i]["min"] for i in range(len(Ks))])
    minW = np.array([mins[2 * i + 1]["min"] for i in range(len(Ks))])
    # the same minimal rates predicted from the plateau fixed point (escape) and the
    # convergence after it (theory/plateau.md §7), without integrating the plateau
    t1 = time.perf_counter()
    thJ = np.array([rate_boundary(base, overrides={"model.K": K}, eta_w=[eta_w0]).eta_J_min[0]
                    for K in Ks])
    thW = np.array([minimal_eta_w(base, overrides={"model.K": K}, bracket=st["eta_w_bracket"],
                                  steps=steps)[0] for K in Ks])
    wall_theory = time.perf_counter() - t1

    roles = []
    for K, r in zip(Ks, runs, strict=True):
        ro = an.unit_roles(r["R_final"], r["Q_final"], r["T"])
        roles.append({
            "K": K,
            "sharing": ro["sharing"],
            "norm_assigned": ro["norm"][~ro["extra"]],
            "norm_extra": ro["norm"][ro["extra"]],
            "best_overlap_extra": ro["best_overlap"][ro["extra"]],
            "nearest_extra": ro["nearest"][ro["extra"]],
            "eg_final": r["eg_final"],
            "alpha_threshold": r["alpha_threshold"],
            "alpha_escape": r["alpha_escape"],
            "S_final": r["S_final"],
        })
    name = st.get("figure", "fig3-overparameterization")
    hK = [K for K in st.get("heatmap_K", []) if K in Ks] or Ks[-1:]
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(13, 7.6))
        gs = fig.add_gridspec(2, 1, height_ratios=[1, 1.05], hspace=0.38, top=0.92)
        top = gs[0].subgridspec(1, 3, wspace=0.32)
        bot = gs[1].subgridspec(1, len(hK) + 3, wspace=0.3,
                                width_ratios=[1] * len(hK) + [0.07, 0.5, 2.0])
        ax_a, ax_b, ax_c = (fig.add_subplot(top[0, i]) for i in range(3))
        cmap = plt.get_cmap("viridis")
        for i, (K, r) in enumerate(zip(Ks, runs, strict=True)):
            m = r["alpha"] > 0
            ax_a.loglog(r["alpha"][m], r["eg"][m], color=cmap(i / max(1, len(Ks) - 1)),
                        label=f"$K={K}$")
        ax_a.axhline(st.get("threshold", 0.01), color="0.4", lw=0.7, ls=":")
        ax_a.set_xlabel(ALPHA_LABEL)
        ax_a.set_ylabel(EG_LABEL)
        ax_a.set_title(r"(a) default rates $\eta_J=3$, $\eta_w=9$", loc="left")
        ax_a.legend(frameon=False, ncol=2, fontsize=7, loc="lower left")
        Ka = np.asarray(Ks, float)
        ax_b.plot(Ka, minW, "o-", color="#D55E00", label=r"min $\eta_w$ (at $\eta_J=3$)")
        ax_b.plot(Ka, minJ * 10, "s-", color="#0072B2",
                  label=r"min $\eta_J\times 10$ (at $\eta_w=9$)")
        # black crosses on the coloured markers: the prediction agrees to < 0.2 %
        ax_b.plot(Ka, thW, "x--", color="k", lw=0.8, ms=7, mew=1.4)
        ax_b.plot(Ka, thJ * 10, "x--", color="k", lw=0.8, ms=7, mew=1.4,
                  label="theory (fixed points)")
        if np.isfinite(minW[0]):
            ax_b.plot(Ka, minW[0] * Ka / Ks[0], color="#D55E00", lw=0.7, ls=":",
                      label=r"$\propto K$")
        if np.isfinite(minJ[0]):
            ax_b.plot(Ka, 10 * minJ[0] * Ka / Ks[0], color="#0072B2", lw=0.7, ls=":")
        ax_b.set_xlabel("student units $K$")
        ax_b.set_ylabel("minimal rate")
        ax_b.set_title(r"(b) minimal rates for $\varepsilon_g\leq0.01$ by $\alpha=450$",
                       loc="left")
        ax_b.legend(frameon=False, fontsize=7)
        ax_c.plot(Ka, [r["alpha_threshold"] for r in runs], "o-", color="k",
                  label=r"$\eta_J=3$, $\eta_w=9$")
        ax_c.plot(Ka, [r["alpha_threshold"] for r in scaled_w], "^-", color="#009E73",
                  label=r"$\eta_J=3$, $\eta_w=9K/M$")
        ax_c.plot(Ka, [r["alpha_threshold"] for r in scaled], "s-", color="#CC79A7",
                  label=r"$\eta_J=3\sqrt{K/M}$, $\eta_w=9K/M$")
        ax_c.set_yscale("log")
        ax_c.set_xlabel("student units $K$")
        ax_c.set_ylabel(r"$\alpha(\varepsilon_g\leq 0.01)$")
        ax_c.set_title("(c) time to threshold", loc="left")
        ax_c.legend(frameon=False, fontsize=7, loc="upper left")
        im = None
        for i, K in enumerate(hK):
            r = runs[Ks.index(K)]
            al = an.align_units(r["R_final"], r["Q_final"], r["T"])
            ax = fig.add_subplot(bot[0, i])
            labels = [f"{k + 1}" + ("*" if al.extra[k] else "") for k in al.order]
            im = heatmap(ax, al.aligned(), f"$K={K}$, $\\alpha=450$", labels)
            ax.set_aspect("auto")
            if i == 0:
                ax.set_ylabel("student unit $k$ (* extra)")
                ax.set_title("")
                ax.set_title(f"(d) $r_{{kn}}$, $K={K}$", loc="left")
        if im is not None:
            fig.colorbar(im, cax=fig.add_subplot(bot[0, len(hK)]),
                         label=r"$\sigma_k R_{kn}/\sqrt{Q_{kk}T_{nn}}$")
        ax_e = fig.add_subplot(bot[0, len(hK) + 2])
        for K, r in zip(Ks, runs, strict=True):
            al = an.align_units(r["R_final"], r["Q_final"], r["T"])
            norms = np.sqrt(np.diagonal(r["Q_final"]))
            for k in range(K):
                c = teacher_colour(al.colour_index[k])
                jitter = 0.12 * (al.colour_index[k] - 1)
                ax_e.plot(K + jitter, norms[k], "o" if not al.extra[k] else "x",
                          color=c, ms=4.5, mfc=c if not al.extra[k] else "none")
        ax_e.plot([], [], "o", color="0.3", label="assigned unit")
        ax_e.plot([], [], "x", color="0.3", label="extra unit")
        ax_e.set_xlabel("student units $K$")
        ax_e.set_ylabel(r"norm $\sqrt{Q_{kk}}$ at $\alpha=450$")
        ax_e.set_title("(e) unit norms (colour: nearest teacher unit)", loc="left")
        ax_e.legend(frameon=False, fontsize=7)
        fig.suptitle(f"Overparameterization: FO-ANIL, $M={M}$, readout $1/\\sqrt{{K}}$", y=0.99)
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = save_grid(out_dir / "data" / "overparameterization.nc", {"K": Ks},
                      {"min_eta_J": minJ, "min_eta_w": minW,
                       "theory_min_eta_J": thJ, "theory_min_eta_w": thW,
                       "alpha_threshold": np.array([r["alpha_threshold"] for r in runs]),
                       "alpha_threshold_scaled": np.array([r["alpha_threshold"] for r in scaled]),
                       "eg_final": np.array([r["eg_final"] for r in runs])}, {})
    summ = {
        "wall_s": wall,
        "K": Ks,
        "min_eta_J_at_eta_w_9": minJ,
        "min_eta_w_at_eta_J_3": minW,
        "notes": [m["note"] for m in mins],
        "theory_min_eta_J_at_eta_w_9": thJ,
        "theory_min_eta_w_at_eta_J_3": thW,
        "theory_rel_error_eta_J": thJ / minJ - 1.0,
        "theory_rel_error_eta_w": thW / minW - 1.0,
        "theory_wall_s": wall_theory,
        "default_rates": roles,
        "scaled_eta_w": [{"K": K, "alpha_threshold": r["alpha_threshold"],
                          "eg_final": r["eg_final"]} for K, r in zip(Ks, scaled_w, strict=True)],
        "scaled_both": [{"K": K, "alpha_threshold": r["alpha_threshold"],
                         "eg_final": r["eg_final"]} for K, r in zip(Ks, scaled, strict=True)],
    }
    js = write_json(out_dir / "data" / "overparameterization.json", summ)
    return [*figure_paths(out_dir, name), data, js]

