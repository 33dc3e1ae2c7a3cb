"""FO-ANIL vs exact ANIL vs ARM, with ū = 0 and ū ≠ 0: error, representation, S.

Declared in ``algorithms.toml`` beside this file, a sweep spec (``teacherstudent sweep`` runs
its grid as it is; the quick mode keeps ū = 0). Writes ``fig6-algorithms.png`` and ``.pdf``
and ``data/algorithms.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.plotting import ALPHA_LABEL, STYLE, plt, savefig
from teacherstudent.studies import figure_paths, is_quick, read_study, run_points, write_json

#: Figure-only settings (the physics is in the TOML file).
SETTINGS: dict[str, Any] = {"figure": "fig6-algorithms"}


def run(out_dir: Path) -> list[Path]:
    """FO-ANIL vs exact ANIL vs ARM, with ū = 0 and ū ≠ 0: error, representation, S."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    base = spec["base"]
    names = list(spec["grid"]["algorithm.name"])
    means = [float(u) for u in spec["grid"]["tasks.head_mean"]]
    if is_quick():
        means = means[:1]
    t0 = time.perf_counter()
    pts = [{"algorithm.name": a, "tasks.head_mean": u} for a in names for u in means]
    res = run_points(base, pts, keep=True)
    wall = time.perf_counter() - t0
    colours = {"fo-anil": "#0072B2", "anil": "#D55E00", "arm": "#009E73"}
    styles = ["-", "--", ":", "-."]
    name = SETTINGS["figure"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
        for p, r in zip(pts, res, strict=True):
            a, u = p["algorithm.name"], p["tasks.head_mean"]
            c = colours.get(a, "k")
            ls = styles[means.index(u) % len(styles)]
            m = r["alpha"] > 0
            lab = rf"{a.upper()}, $\bar u={u:g}$"
            axes[0].loglog(r["alpha"][m], np.where(r["eg"][m] > 0, r["eg"][m], np.nan),
                           color=c, ls=ls, label=lab)
            axes[1].loglog(r["alpha"][m], np.where(r["eg_opt"][m] > 0, r["eg_opt"][m], np.nan),
                           color=c, ls=ls, label=lab)
            axes[2].semilogx(r["alpha"][m], r["S"][m], color=c, ls=ls, label=lab)
        axes[0].set_ylabel(r"$\varepsilon_g^{\rm meta}$ (after the algorithm's own adaptation)")
        axes[0].set_title("(a) meta-generalisation error", loc="left")
        axes[1].set_ylabel(r"$\varepsilon_g$ with the optimal head per task")
        axes[1].set_title("(b) quality of the learnt representation", loc="left")
        axes[2].set_ylabel("specialization $S$")
        axes[2].set_ylim(-0.05, 1.05)
        axes[2].set_title("(c) specialization", loc="left")
        for ax in axes:
            ax.set_xlabel(ALPHA_LABEL)
        axes[0].set_ylim(1e-12, 1)
        axes[1].set_ylim(1e-12, 1)
        axes[1].annotate(r"ARM: $\bar u=0$ stays at 1/6; $\bar u\neq0$: partial",
                         xy=(0.03, 0.55), xycoords="axes fraction", fontsize=7.5,
                         color=colours["arm"])
        axes[2].legend(frameon=False, fontsize=7, ncol=1, loc="center left",
                       bbox_to_anchor=(1.02, 0.5))
        fig.suptitle(r"Algorithms: $K=M=3$, $\eta_J=3$, $\eta_w=9$, $\Sigma_u=I$ "
                     "(ARM has no inner loop: its error is at $w$)", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    summ = {"wall_s": wall, "runs": [
        {"algorithm": p["algorithm.name"], "head_mean": p["tasks.head_mean"],
         "alpha_threshold": r["alpha_threshold"], "alpha_escape": r["alpha_escape"],
         "eg_final": r["eg_final"], "eg_opt_final": float(r["eg_opt"][-1]),
         "eg_initial": r["eg0"], "S_final": r["S_final"], "w_final": r["w_final"],
         "Q_final_diag": np.diagonal(r["Q_final"]), "status": r["status"]}
        for p, r in zip(pts, res, strict=True)]}
    js = write_json(out_dir / "data" / "algorithms.json", summ)
    return [*figure_paths(out_dir, name), js]

