r"""Hierarchical teacher: the saddles a run visits when the teacher units are unequal.

Declared in ``hierarchical_teacher.toml`` beside this file. Writes
``fig8-hierarchical-teacher.png``/``.pdf`` and ``data/hierarchical_teacher.json`` (the numbers
quoted in ``figures/README.md``).

Theory: :func:`teacherstudent.analysis.saddle_sequence` (``theory/plateau.md`` §8) — for each
stage the invariant subspace the run rests in (the teacher units learnt so far, and whether
the student units are still equal), the fixed point that stage approaches with its spectrum,
the transverse growth rate, and the escape α* predicted by matched asymptotics (the linear
transverse flow, then the full drift) and by the independent-mode law. Simulation: the
finite-N networks from the same initial overlaps (3 seeds per N), against the ODE from the
measured initial overlaps; their escape from each shoulder uses the same rule and height.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import escape_time, saddle_sequence
from teacherstudent.config import load_config
from teacherstudent.ode import VectorField, integrate
from teacherstudent.plotting import (
    ALPHA_LABEL,
    EG_LABEL,
    SIM_COLOUR,
    STYLE,
    TEACHER_COLOURS,
    THEORY_COLOUR,
    plt,
    savefig,
)
from teacherstudent.simulation import compare
from teacherstudent.studies import figure_paths, read_study, settings, write_json

SCENARIOS = ("generic", "symmetric")


def _initial_R(base: dict[str, Any], r0: float, asymmetry: float, symmetric: bool) -> list:
    """The initial overlaps: the seeded random matrix of scale ``r0``; for the symmetric start
    the column of the dominant teacher unit set to ``r0 (1 + asymmetry ξ_k)``."""
    cfg = load_config(base, {"init.R": r0})
    vf = VectorField.from_config(cfg)
    R = np.array(vf.unpack(vf.y0)[1], float)
    if symmetric:
        dom = int(np.argmax(np.diag(vf.problem.u_cov)))
        xi = np.random.default_rng(1).standard_normal(R.shape[0])
        R[:, dom] = r0 * (1.0 + asymmetry * xi)
    return R.tolist()


def _sim_escapes(a: np.ndarray, eg: np.ndarray, heights: list[float]) -> list[float]:
    """Escape from each shoulder in turn (same rule as the theory: ε < 0.9 × height)."""
    out, start = [], 0.0
    for h in heights:
        e = escape_time(a, eg, h, start) if math.isfinite(start) else math.nan
        out.append(e)
        start = e
    return out


def _scenario(base: dict[str, Any], st: dict[str, Any], symmetric: bool) -> dict[str, Any]:
    R0 = _initial_R(base, float(st["r0"]), float(st["asymmetry"]), symmetric)
    over = {"init.R": R0}
    ds = integrate(base, **over)
    seq = saddle_sequence(base, overrides=over, dataset=ds)
    heights = [s.height for s in seq.stages]
    amax = float(st["sim_alpha_max"])
    da = float(st["sim_dalpha"])
    save = [round(k * da, 10) for k in range(int(round(amax / da)) + 1)]
    sims = []
    for N in [int(n) for n in st["N"]]:
        c = compare(
            base,
            N=N,
            seeds=int(st["seeds"]),
            device="cpu",
            overrides={**over, "run.alpha_max": amax, "run.save_alpha": save},
        )
        a = c.alpha.values
        eg = c.eg_sim.values
        sims.append(
            {
                "N": N,
                "alpha": a,
                "eg": eg,
                "eg_ode": c.eg_ode.values,
                "R": c.R_sim.values,
                "Q": c.Q_sim.values,
                "max_abs_deg": float(c.attrs["max_abs_deg"]),
                "escapes": np.array([_sim_escapes(a, eg[s], heights) for s in range(eg.shape[0])]),
            }
        )
    return {"R0": np.array(R0), "ode": ds, "seq": seq, "sims": sims}


def _normalised(R: np.ndarray, Q: np.ndarray, T: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.clip(np.diagonal(Q, axis1=-2, axis2=-1), 1e-300, None))
    return R / d[..., :, None] / np.sqrt(np.diag(T))[None, None, :]


def _panel_eg(ax, res: dict[str, Any], title: str) -> None:
    ds, seq = res["ode"], res["seq"]
    a = ds.alpha.values
    ax.semilogy(a, ds.eg.values, "-", color=THEORY_COLOUR, lw=1.6, label="ODE")
    ax.semilogy(
        seq.prediction_alpha,
        seq.prediction_eg,
        "--",
        color="C3",
        lw=1.0,
        label="predicted chain (inner + outer)",
    )
    n_sims = len(res["sims"])
    for j, sim in enumerate(res["sims"]):
        m = np.nanmean(sim["eg"], axis=0)
        ax.semilogy(
            sim["alpha"],
            m,
            "-",
            color=SIM_COLOUR,
            alpha=0.45 + 0.55 * j / max(1, n_sims - 1),
            lw=1.0,
            label=f"simulation N = {sim['N']} (mean of {sim['eg'].shape[0]})",
        )
    for s in seq.stages:
        fp = s.fixed_point
        if fp is not None and fp.eg > 0:
            ax.axhline(fp.eg, color="0.6", ls=":", lw=0.8)
        if math.isfinite(s.alpha_escape):
            ax.plot([s.alpha_escape], [0.9 * s.height], "o", color="C3", ms=5, mfc="none")
        if math.isfinite(s.alpha_escape_law):
            ax.plot([s.alpha_escape_law], [0.9 * s.height], "v", color="C0", ms=5)
    ax.plot([], [], ":", color="0.6", label="ε of the stage fixed points")
    ax.plot([], [], "o", color="C3", mfc="none", label="predicted escape (matched)")
    ax.plot([], [], "v", color="C0", label="independent-mode law")
    ax.set_xlim(0, 80)
    ax.set_ylim(1e-4, 0.3)
    ax.set_xlabel(ALPHA_LABEL)
    ax.set_ylabel(EG_LABEL)
    ax.set_title(title, loc="left")
    ax.legend(loc="lower left", fontsize=6.5)


def _panel_R(ax, res: dict[str, Any], title: str) -> None:
    ds = res["ode"]
    T = ds.T.values
    r = _normalised(ds.R.values, ds.Q.values, T)
    a = ds.alpha.values
    K, M = r.shape[1], r.shape[2]
    styles = ("-", "--", ":")
    for n in range(M):
        for k in range(K):
            ax.plot(
                a,
                np.abs(r[:, k, n]),
                styles[k % 3],
                color=TEACHER_COLOURS[n % len(TEACHER_COLOURS)],
                lw=1.2,
                label=f"ODE, student {k + 1}" if n == 0 else None,
            )
    sim = res["sims"][-1]
    rs = _normalised(sim["R"], sim["Q"], T)  # (seed, alpha, k, n)
    for n in range(M):
        for k in range(K):
            ax.plot(
                sim["alpha"][::8],
                np.abs(rs[0, ::8, k, n]),
                ".",
                ms=2.5,
                color=TEACHER_COLOURS[n % len(TEACHER_COLOURS)],
            )
    ax.plot([], [], ".", color="0.3", label=f"simulation N = {sim['N']}, seed 0")
    for n in range(M):
        ax.plot(
            [],
            [],
            "s",
            color=TEACHER_COLOURS[n % len(TEACHER_COLOURS)],
            label=rf"teacher unit {n + 1} ($\Sigma_u$ = {ds.u_cov.values[n, n]:g})",
        )
    ax.set_xlim(0, 80)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(ALPHA_LABEL)
    ax.set_ylabel(r"$|R_{kn}|/\sqrt{Q_{kk}T_{nn}}$")
    ax.set_title(title, loc="left")
    ax.legend(loc="center right", fontsize=6.5)


def run(out_dir: Path) -> list[Path]:
    """Saddle sequences of the generic and symmetric starts: theory and simulation."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st = settings(spec)
    base = spec["base"]
    t0 = time.perf_counter()
    res = {name: _scenario(base, st, name == "symmetric") for name in SCENARIOS}
    wall = time.perf_counter() - t0

    name = st.get("figure", "fig8-hierarchical-teacher")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(16.5, 8.6))
        _panel_eg(axes[0, 0], res["generic"], "(a) generic start: ε, stages")
        _panel_R(axes[0, 1], res["generic"], "(b) generic start: overlaps")
        _panel_eg(axes[1, 0], res["symmetric"], "(d) symmetric start: ε, stages")
        _panel_R(axes[1, 1], res["symmetric"], "(e) symmetric start: overlaps")
        ax = axes[0, 2]
        for j, sc in enumerate(SCENARIOS):
            seq = res[sc]["seq"]
            pts = [(s.index, s.fixed_point) for s in seq.stages] + [(len(seq.stages), seq.final)]
            for i, fp in pts:
                if fp is None:
                    continue
                ev = np.sort(fp.eigenvalues.real)[::-1][:8]
                x = i + (j - 0.5) * 0.18
                ax.plot(
                    np.full(ev.size, x),
                    ev,
                    "_" if j == 0 else "x",
                    color=f"C{j}",
                    ms=9,
                    label=f"{sc} start" if i == 0 else None,
                )
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_xticks(range(4), ["plateau\nR = 0", "stage 1", "stage 2", "final\n(specialised)"])
        ax.set_ylabel(r"Re $\lambda$ (Jacobian at the stage's fixed point)")
        ax.set_title("(c) spectra of the fixed points visited", loc="left")
        ax.legend(loc="upper right", fontsize=7)
        ax = axes[1, 2]
        for j, sc in enumerate(SCENARIOS):
            seq = res[sc]["seq"]
            idx = np.array([s.index for s in seq.stages], float) + (j - 0.5) * 0.25
            ax.plot(
                idx,
                [s.alpha_escape_integrated for s in seq.stages],
                "o",
                color="k",
                ms=6,
                mfc="none" if j else "k",
                label="ODE (generic: filled; symmetric: open)" if j == 0 else None,
            )
            ax.plot(
                idx,
                [s.alpha_escape for s in seq.stages],
                "+",
                color="C3",
                ms=9,
                label="predicted (matched)" if j == 0 else None,
            )
            ax.plot(
                idx,
                [s.alpha_escape_law for s in seq.stages],
                "v",
                color="C0",
                ms=5,
                label="independent-mode law" if j == 0 else None,
            )
            sim = res[sc]["sims"][-1]
            for s in range(sim["escapes"].shape[0]):
                ax.plot(
                    idx + 0.06,
                    sim["escapes"][s],
                    ".",
                    color=SIM_COLOUR,
                    ms=4,
                    label=f"simulation N = {sim['N']} (seeds)" if j == 0 and s == 0 else None,
                )
        ax.set_xticks(range(3), ["plateau", "stage 1", "stage 2"])
        ax.set_ylabel(r"escape $\alpha^*$ (ε < 0.9 × shoulder)")
        ax.set_title("(f) escape from each stage", loc="left")
        ax.legend(loc="upper left", fontsize=7)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)

    summary: dict[str, Any] = {"wall_time_s": wall}
    for sc in SCENARIOS:
        r = res[sc]
        summary[sc] = {
            "R0": r["R0"],
            **r["seq"].summary(),
            "simulations": [
                {
                    "N": s["N"],
                    "max_abs_deg": s["max_abs_deg"],
                    "escapes": s["escapes"],
                    "escapes_mean": np.nanmean(s["escapes"], axis=0),
                }
                for s in r["sims"]
            ],
        }
    js = write_json(out_dir / "data" / "hierarchical_teacher.json", summary)
    return [*figure_paths(out_dir, name), js]
