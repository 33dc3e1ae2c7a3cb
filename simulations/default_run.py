"""Default K = M = 3 FO-ANIL run: plateau at ε = 1/6, symmetry breaking, specialization.

Declared in ``default_run.toml`` beside this file, a plain configuration
(``teacherstudent ode simulations/default_run.toml`` runs it as well). Writes
``fig1-default-run.png`` and ``.pdf``, and ``data/default_run.nc`` (the run) and
``data/default_run.json`` (the numbers quoted in ``figures/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from teacherstudent import analysis as an
from teacherstudent.config import load_config
from teacherstudent.dataset import save
from teacherstudent.ode import integrate
from teacherstudent.plotting import plot_ode, plt
from teacherstudent.studies import figure_paths, write_json


def run(out_dir: Path) -> list[Path]:
    """Default K = M = 3 FO-ANIL run: plateau at ε = 1/6, symmetry breaking, specialization."""
    out_dir = Path(out_dir)
    cfg = load_config(Path(__file__).with_suffix(".toml"))
    ds = integrate(cfg)
    sm = an.summarize(ds, cfg["run"]["eg_threshold"])
    p = an.plateau(ds.alpha.values, ds.eg.values)
    a_th = sm["alpha_threshold"]
    marks = [0.5 * p.escape, p.escape, 0.5 * (p.escape + a_th), 1.5 * a_th,
             float(ds.alpha.values[-1])]
    name = "fig1-default-run"
    fig = plot_ode(ds, out_dir / f"{name}.png", pdf=True,
                   alphas=[m for m in marks if m == m],
                   title="Default run: FO-ANIL, $K=M=3$, $\\eta_J=3$, $\\eta_w=9$, "
                   "$\\bar u=0$, $\\Sigma_u=I$, $P=V=\\infty$")
    plt.close(fig)
    data = save(ds, out_dir / "data" / "default_run.nc")
    S = an.specialization_along(ds)
    alpha = ds.alpha.values
    half = an.crossing_time(alpha, -S, -0.5)  # first α with S ≥ 1/2
    al = an.align_units(ds.R.values[-1], ds.Q.values[-1], ds.T.values)
    # the symmetric phase: the teacher unit that all student units learn first
    i_mid = int(np.argmin(np.abs(alpha - p.escape)))
    R_mid = ds.R.values[i_mid]
    summary = {
        **sm,
        "alpha_S_half": half,
        "assignment_teacher_of": al.teacher_of,
        "signs": al.sign,
        "R_at_escape": R_mid,
        "alpha_at_escape_sample": float(alpha[i_mid]),
        "Q_final_diag": np.diagonal(ds.Q.values[-1]),
        "wall_time_s": float(ds.attrs["wall_time_s"]),
    }
    js = write_json(out_dir / "data" / "default_run.json", summary)
    return [*figure_paths(out_dir, name), data, js]

