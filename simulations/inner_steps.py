"""Number of inner steps s at fixed η_w = 9 and at η_w = 9/s.

Declared in ``inner_steps.toml`` beside this file, a sweep spec (``teacherstudent sweep`` runs
the η_w = 9 family as it is); the η_w = 9/s family's total rate and the quick-mode steps are
:data:`SETTINGS`. Writes ``fig5-inner-steps.png`` and ``.pdf`` and ``data/inner_steps.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.plotting import ALPHA_LABEL, EG_LABEL, STYLE, plt, savefig
from teacherstudent.studies import (
    eg_threshold,
    figure_paths,
    is_quick,
    read_study,
    run_points,
    write_json,
)

#: Figure-only settings (the physics is in the TOML file).
SETTINGS: dict[str, Any] = {"figure": "fig5-inner-steps", "eta_w_total": 9.0, "quick_steps": [1, 2]}


def run(out_dir: Path) -> list[Path]:
    """Number of inner steps s at fixed η_w = 9 and at η_w = 9/s."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st, base = {**SETTINGS, "threshold": eg_threshold(spec)}, spec["base"]
    ss = [int(s) for s in (st["quick_steps"] if is_quick()
                           else spec["grid"]["algorithm.inner_steps"])]
    tot = float(st.get("eta_w_total", 9.0))
    t0 = time.perf_counter()
    fixed = run_points(base, [{"algorithm.inner_steps": s} for s in ss], keep=True)
    per = run_points(base, [{"algorithm.inner_steps": s, "algorithm.eta_w": tot / max(s, 1)}
                            for s in ss], keep=True)
    wall = time.perf_counter() - t0
    name = st.get("figure", "fig5-inner-steps")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.7))
        cmap = plt.get_cmap("viridis")
        for ax, rs, ttl in ((axes[0], fixed, r"(a) $\eta_w=9$ per step"),
                            (axes[1], per, r"(b) $\eta_w=9/s$ (fixed $s\,\eta_w$)")):
            for i, (s, r) in enumerate(zip(ss, rs, strict=True)):
                m = r["alpha"] > 0
                ax.loglog(r["alpha"][m], np.where(r["eg"][m] > 0, r["eg"][m], np.nan),
                          color=cmap(i / max(1, len(ss) - 1)), label=f"$s={s}$")
            ax.axhline(float(st.get("threshold", 0.01)), color="0.4", lw=0.7, ls=":")
            ax.set_xlabel(ALPHA_LABEL)
            ax.set_ylabel(EG_LABEL)
            ax.set_title(ttl, loc="left")
            ax.legend(frameon=False, fontsize=7, ncol=2, loc="lower left")
        ax = axes[2]
        sa = np.asarray(ss, float)
        ax.plot(sa, [r["alpha_threshold"] for r in fixed], "o-", color="#0072B2",
                label=r"$\alpha(\varepsilon\leq0.01)$, $\eta_w=9$")
        ax.plot(sa, [r["alpha_escape"] for r in fixed], "o--", color="#0072B2", mfc="none",
                label=r"$\alpha^*$, $\eta_w=9$")
        ax.plot(sa, [r["alpha_threshold"] for r in per], "s-", color="#D55E00",
                label=r"$\alpha(\varepsilon\leq0.01)$, $\eta_w=9/s$")
        ax.plot(sa, [r["alpha_escape"] for r in per], "s--", color="#D55E00", mfc="none",
                label=r"$\alpha^*$, $\eta_w=9/s$")
        ax.set_yscale("log")
        ax.set_xlabel("inner steps $s$")
        ax.set_ylabel(r"$\alpha$")
        ax.set_title("(c) escape and threshold times (missing: never)", loc="left")
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.suptitle("Inner steps: FO-ANIL, $K=M=3$, $\\eta_J=3$", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)

    def row(s, r):
        return {"s": s, "alpha_threshold": r["alpha_threshold"], "alpha_escape": r["alpha_escape"],
                "eg_final": r["eg_final"], "S_final": r["S_final"],
                "Q_final_diag": np.diagonal(r["Q_final"])}

    summ = {"wall_s": wall, "eta_w_9": [row(s, r) for s, r in zip(ss, fixed, strict=True)],
            "eta_w_9_over_s": [row(s, r) for s, r in zip(ss, per, strict=True)]}
    js = write_json(out_dir / "data" / "inner_steps.json", summ)
    return [*figure_paths(out_dir, name), js]

