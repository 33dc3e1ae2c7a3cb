"""Activations erf, relu, tanh, sigmoid, and an erf teacher with a relu student: theory, simulation.

Declared in ``activations.toml`` beside this file. For every case ``[student, teacher]``:
the default run of the ODEs (plateau height, escape α*, α(ε ≤ 0.01), final ε, final
specialization S), and the simulation at N = 1000 against the ODE from the same measured
initial overlaps in the FO-ANIL setting of the finite-size study at η_J = 0.5 (V = 1, α ≤ 60;
tanh and sigmoid at quadrature order 65, see the declaration). Writes
``sim-activations.png``/``.pdf`` and ``data/activations.json`` (the numbers of
``figures/README.md``).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np

from teacherstudent import analysis as an
from teacherstudent.config import load_config
from teacherstudent.ode import integrate
from teacherstudent.plotting import ALPHA_LABEL, EG_LABEL, STYLE, plt, savefig
from teacherstudent.simulation import compare
from teacherstudent.studies import figure_paths, read_study, settings, write_json

COLOURS = ["#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00"]


def _case(entry) -> tuple[str, str, dict]:
    """``[student, teacher]`` or ``[student, teacher, {key: value}]`` (overrides of both parts)."""
    student, teacher, *rest = entry
    return str(student), str(teacher), dict(rest[0]) if rest else {}


def _label(student: str, teacher: str, over: dict | None = None) -> str:
    name = student if student == teacher else f"{student} student, {teacher} teacher"
    if over:
        sym = {"algorithm.eta_w": "$\\eta_w$", "algorithm.eta_J": "$\\eta_J$"}
        name += " (" + ", ".join(f"{sym.get(k, k)} = {v:g}" for k, v in over.items()) + ")"
    return name


def _numbers(alpha, eg, R, Q, T, activation, threshold) -> dict:
    """Plateau, α*, α(ε ≤ threshold), final ε and S of one trajectory."""
    p = an.plateau(alpha, eg)
    finite = np.nonzero(np.isfinite(eg))[0]
    last = int(finite[-1]) if finite.size else -1
    return {
        "plateau_height": p.height,
        "alpha_escape": p.escape,
        "alpha_threshold": an.crossing_time(alpha, eg, threshold),
        "eg_final": float(eg[last]) if last >= 0 else math.nan,
        "S_final": an.specialization(R[last], Q[last], T, activation) if last >= 0 else math.nan,
    }


def run(out_dir: Path) -> list[Path]:
    """Activations: theory (default run) and simulation against theory, per case."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st = settings(spec)
    th = float(st["threshold"])
    cases = [_case(c) for c in st["cases"]]
    t0 = time.perf_counter()
    theory, sims = [], []
    for student, teacher, over in cases:
        acts = {"model.activation": student, "model.teacher_activation": teacher, **over}
        ds = integrate(load_config(copy.deepcopy(spec["ode"]), acts))
        num = _numbers(
            ds.alpha.values, ds.eg.values, ds.R.values, ds.Q.values, ds.T.values, student, th
        )
        num["alpha_threshold"] = an.threshold_time(ds, th)
        theory.append((ds, num))
        c = compare(
            copy.deepcopy(spec["sim"]),
            N=int(st["N"]),
            seeds=int(st["seeds"]),
            device="cpu",
            overrides=acts,
        )
        a = c.alpha.values
        T = c.T_sim.mean("seed").values
        eg_sim = c.eg_sim.mean("seed").values
        per_seed_S = [
            an.specialization(
                c.R_sim.values[s, -1], c.Q_sim.values[s, -1], c.T_sim.values[s], student
            )
            for s in range(c.sizes["seed"])
        ]
        sim_num = _numbers(
            a, eg_sim, c.R_sim.mean("seed").values, c.Q_sim.mean("seed").values, T, student, th
        )
        sim_num["S_final"] = float(np.mean(per_seed_S))  # S per seed (the units may differ)
        ode_num = _numbers(a, c.eg_ode.values, c.R_ode.values, c.Q_ode.values, T, student, th)
        sims.append((c, sim_num, ode_num, float(c.attrs["max_abs_deg"])))
    wall = time.perf_counter() - t0

    name = str(st.get("figure", "sim-activations"))
    a_sim = float(spec["sim"]["run"]["alpha_max"])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(14.0, 3.9))
        ax = axes[0]
        for i, ((s, t, o), (ds, _)) in enumerate(zip(cases, theory, strict=True)):
            m = ds.alpha.values > 0
            ax.loglog(
                ds.alpha.values[m],
                ds.eg.values[m],
                color=COLOURS[i % 6],
                ls="-" if s == t else "--",
                label=_label(s, t, o),
            )
        ax.axhline(th, color="0.5", lw=0.7, ls=":", label=f"$\\varepsilon = {th:g}$")
        ax.set_xlabel(ALPHA_LABEL)
        ax.set_ylabel(EG_LABEL)
        ax.set_title("(a) theory: default run (FO-ANIL, $V=\\infty$)", loc="left")
        ax.legend(frameon=False, fontsize=7, loc="lower left")
        ax = axes[1]
        for i, ((s, t, o), (c, _, _, _)) in enumerate(zip(cases, sims, strict=True)):
            a = c.alpha.values
            mean = c.eg_sim.mean("seed").values
            sem = c.eg_sim.std("seed").values / math.sqrt(c.sizes["seed"])
            ax.semilogy(
                a, c.eg_ode.values, color=COLOURS[i % 6], lw=1.0, ls="-" if s == t else "--"
            )
            ax.errorbar(
                a[::3],
                mean[::3],
                yerr=sem[::3],
                fmt="o",
                ms=2.5,
                lw=0.6,
                color=COLOURS[i % 6],
                label=_label(s, t, o),
            )
        ax.set_xlabel(ALPHA_LABEL)
        ax.set_ylabel(EG_LABEL)
        ax.set_title(f"(b) simulation (dots, $N={st['N']}$) vs ODE (lines), $V=1$", loc="left")
        ax.legend(frameon=False, fontsize=7, loc="lower left")
        ax = axes[2]
        x = np.arange(len(cases))
        ax.bar(
            x - 0.2,
            [n["S_final"] for _, n in theory],
            0.2,
            color="0.3",
            label="theory, default run ($\\alpha=450$)",
        )
        ax.bar(
            x,
            [o["S_final"] for _, _, o, _ in sims],
            0.2,
            color="#56B4E9",
            label=f"ODE, $V=1$ ($\\alpha={a_sim:g}$)",
        )
        ax.bar(
            x + 0.2,
            [s_["S_final"] for _, s_, _, _ in sims],
            0.2,
            color="#D55E00",
            label=f"simulation, $V=1$ ($\\alpha={a_sim:g}$)",
        )
        ax.set_xticks(
            x,
            [
                _label(s, t, o)
                .replace(" student, ", "/\n")
                .replace(" teacher", "")
                .replace(" (", "\n(")
                for s, t, o in cases
            ],
            fontsize=7,
        )
        ax.set_ylabel("final specialization $S$")
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), max(1.45, ax.get_ylim()[1]))
        ax.set_title("(c) final alignment", loc="left")
        ax.legend(frameon=False, fontsize=7, loc="upper right")
        fig.suptitle("Activations: $K=M=3$, FO-ANIL, $\\eta_w=9$ unless noted", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
        plt.close(fig)

    summary = {
        "wall_s": wall,
        "N": int(st["N"]),
        "seeds": int(st["seeds"]),
        "cases": [
            {
                "student": s,
                "teacher": t,
                "overrides": o,
                "theory_default_run": num,
                "sim_V1": sim_num,
                "ode_V1": ode_num,
                "max_abs_deg_V1": dev,
            }
            for (s, t, o), (_, num), (_, sim_num, ode_num, dev) in zip(
                cases, theory, sims, strict=True
            )
        ],
    }
    js = write_json(out_dir / "data" / "activations.json", summary)
    return [*figure_paths(out_dir, name), js]
