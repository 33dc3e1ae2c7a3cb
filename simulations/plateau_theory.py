r"""Plateau as a saddle: predicted escape α* vs integration and vs simulations over N.

Declared in ``plateau_theory.toml`` beside this file. Writes ``fig7-plateau-theory.png`` and
``.pdf`` and ``data/plateau_theory.json`` (the numbers quoted in ``figures/README.md``).

The prediction is :func:`teacherstudent.analysis.stability`: the fixed point ``R = 0`` of the
run, its escape rate (the largest eigenvalue of the Jacobian, ``4/π²`` at the default rates),
the linearised flow to an unstable amplitude ``δ = 1e-2`` and the integrated nonlinear
(outer) solution from there (matched asymptotics, ``theory/plateau.md``). The integrated α*
is :func:`teacherstudent.analysis.plateau` of the run (same definition: first α with
ε < 0.9 × plateau height). For the simulations the initial overlaps are those of a random
first layer, ``R ~ N(0, Q₀T/N)`` (``init.R = √(0.5/N)``; the simulation sets its initial
overlaps exactly), so the prediction is ``α*(N) = const + ln N / (2·rate)``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import NullFormatter

from teacherstudent.analysis import floor_boundary, plateau, stability
from teacherstudent.config import ConfigError, load_config
from teacherstudent.ode import integrate
from teacherstudent.plotting import STYLE, plot_phase, plt, savefig
from teacherstudent.studies import figure_paths, read_study, settings, write_json


def _predict(base: dict[str, Any], over: dict[str, Any]) -> tuple[float, float, float]:
    """(predicted α*, integrated α*, rate); NaN where there is no plateau fixed point."""
    try:
        st = stability(base, overrides=over)
    except ConfigError:
        return math.nan, math.nan, math.nan
    return st.alpha_escape, st.alpha_escape_integrated, st.rate


def _scales(base: dict[str, Any], scales: list[float]) -> dict[str, Any]:
    rows = [_predict(base, {"init.R": s}) for s in scales]
    pred, integ, rate = (np.array(v) for v in zip(*rows, strict=True))
    return {
        "R_scale": np.array(scales),
        "predicted": pred,
        "integrated": integ,
        "rate": rate,
        "rel_error": pred / integ - 1.0,
    }


def _grid(stride: int) -> dict[str, Any]:
    spec = read_study("lr_phase_diagram.toml")
    g = spec["grid"]
    eJ = np.asarray(g["algorithm.eta_J"], float)[::stride]
    ew = np.asarray(g["algorithm.eta_w"], float)[::stride]
    base = spec["base"]
    pred = np.full((eJ.size, ew.size), np.nan)
    integ = np.full_like(pred, np.nan)
    rate = np.full_like(pred, np.nan)
    for i, a in enumerate(eJ):
        for j, b in enumerate(ew):
            pred[i, j], integ[i, j], rate[i, j] = _predict(
                base, {"algorithm.eta_J": float(a), "algorithm.eta_w": float(b)}
            )
    return {
        "eta_J": eJ,
        "eta_w": ew,
        "predicted": pred,
        "integrated": integ,
        "rate": rate,
        "rel_error": pred / integ - 1.0,
    }


def _sizes(base: dict[str, Any], st: dict[str, Any]) -> dict[str, Any]:
    from teacherstudent.simulation import simulate

    Ns = [int(n) for n in st["N"]]
    seeds = int(st["seeds"])
    Q0 = float(load_config(base)["init"]["Q"])
    pred, ode, sim, sim_mean, sim_err = [], [], [], [], []
    ref = stability(base, overrides={"init.R": math.sqrt(Q0 / Ns[0])})
    for N in Ns:
        over = {"init.R": math.sqrt(Q0 / N)}
        st_N = stability(base, overrides=over)
        pred.append(st_N.alpha_escape)
        ode.append(st_N.alpha_escape_integrated)
        amax = math.ceil(st_N.alpha_escape + float(st["sim_alpha_extra"]))
        da = float(st["sim_dalpha"])
        save = [round(k * da, 10) for k in range(int(round(amax / da)) + 1)]
        ds = simulate(
            base,
            N=N,
            seeds=seeds,
            device="cpu",
            progress=False,
            **over,
            **{"run.alpha_max": float(amax), "run.save_alpha": save},
        )
        a = ds.alpha.values
        esc = np.array([plateau(a, ds.eg.values[s]).escape for s in range(seeds)])
        sim.append(esc)
        sim_mean.append(float(np.nanmean(esc)))
        sim_err.append(float(np.nanstd(esc, ddof=1) / math.sqrt(seeds)) if seeds > 1 else math.nan)
    # leading-mode law through the first N: α*(N) = α*(N₀) + ln(N/N₀)/(2·rate)
    law = [ref.alpha_escape + math.log(N / Ns[0]) / (2 * ref.rate) for N in Ns]
    lnN = np.log(Ns)
    slope_sim = float(np.polyfit(lnN, sim_mean, 1)[0]) if len(Ns) > 1 else math.nan
    return {
        "N": np.array(Ns),
        "predicted": np.array(pred),
        "ode": np.array(ode),
        "law": np.array(law),
        "simulation": np.array(sim),
        "simulation_mean": np.array(sim_mean),
        "simulation_sem": np.array(sim_err),
        "rate": ref.rate,
        "slope_theory": 1.0 / (2 * ref.rate),
        "slope_simulation": slope_sim,
    }


def _floor(st: dict[str, Any]) -> dict[str, Any]:
    """Error floor of the final fixed point along η_w (fig2's base) and the ε the integrated
    run reaches by α_final, with the predicted minimal η_w."""
    spec = read_study("lr_phase_diagram.toml")
    base = spec["base"]
    thr = float(base.get("run", {}).get("eg_threshold", 0.01) or 0.01)
    ew = [float(v) for v in st["floor_eta_w"]]
    fb = floor_boundary(base, values=ew, threshold=thr)
    final = []
    for v in ew:
        ds = integrate(base, **{"algorithm.eta_w": v})
        final.append(float(ds.eg[-1]))
    return {
        "eta_w": np.array(ew),
        "eg_fixed_point": fb.eg,
        "eg_final_integrated": np.array(final),
        "threshold": thr,
        "eta_w_min_predicted": fb.boundary,
        "alpha_final": float(load_config(base)["run"]["alpha_max"]),
    }


def run(out_dir: Path) -> list[Path]:
    """Predicted vs integrated plateau escape α*, and α* against ln N in simulations."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st = settings(spec)
    base = spec["base"]
    t0 = time.perf_counter()
    sc = _scales(base, [float(s) for s in st["R_scales"]])
    gr = _grid(int(st["grid_stride"]))
    t_ode = time.perf_counter() - t0
    nz = _sizes(base, st)
    t_sim = time.perf_counter() - t0 - t_ode
    default = stability(base)
    fl = _floor(st)

    name = st.get("figure", "fig7-plateau-theory")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 5, figsize=(21.5, 3.9))
        ax = axes[0]
        ax.plot(sc["R_scale"], sc["integrated"], "o", color="k", label="integrated ODE")
        ax.plot(sc["R_scale"], sc["predicted"], "-", color="C3", label="predicted (matched)")
        ax.set_xscale("log")
        ax.set_xlabel(r"initial overlap scale (init.R)")
        ax.set_ylabel(r"plateau escape $\alpha^*$")
        ax.set_title(r"(a) $\alpha^*$ vs initial $R$, rate $4/\pi^2$", loc="left")
        ax.legend(loc="upper right")
        ax = axes[1]
        err = np.abs(gr["rel_error"])
        plot_phase(
            ax,
            gr["eta_J"],
            gr["eta_w"],
            err.T,
            label=r"$|\alpha^*_{pred}/\alpha^*_{ODE}-1|$",
            cmap="magma",
            nan_label="no escape / no plateau",
        )
        ax.plot([3], [9], marker="*", color="w", ms=9, mec="k", mew=0.5)
        ax.set_xlabel(r"outer rate $\eta_J$ ($=\eta_0$)")
        ax.set_ylabel(r"inner head rate $\eta_w$")
        ax.set_title("(b) relative error over the fig2 grid", loc="left")
        ax = axes[2]
        ok = np.isfinite(gr["predicted"]) & np.isfinite(gr["integrated"])
        x, y = gr["integrated"][ok], gr["predicted"][ok]
        ax.loglog(x, y, ".", color="C0", label=f"{ok.sum()} grid points")
        lim = [0.8 * min(x.min(), y.min()), 1.25 * max(x.max(), y.max())]
        ax.plot(lim, lim, "k:", lw=0.8, label="equality")
        ax.set_xlabel(r"integrated $\alpha^*$")
        ax.set_ylabel(r"predicted $\alpha^*$")
        ax.set_title("(c) prediction vs integration (grid)", loc="left")
        ax.legend(loc="upper left")
        ax = axes[3]
        N = nz["N"]
        for s in range(nz["simulation"].shape[1]):
            ax.plot(
                N,
                nz["simulation"][:, s],
                ".",
                color="0.6",
                label="simulation (seeds)" if s == 0 else None,
            )
        ax.errorbar(
            N,
            nz["simulation_mean"],
            yerr=nz["simulation_sem"],
            fmt="o",
            color="k",
            capsize=2,
            label="simulation (mean ± s.e.)",
        )
        ax.plot(N, nz["predicted"], "-", color="C3", label="predicted (matched)")
        ax.plot(
            N,
            nz["law"],
            "--",
            color="C0",
            label=rf"const + ln N/(2·rate), slope {nz['slope_theory']:.3g}",
        )
        ax.set_xscale("log")
        ax.set_xticks(N, [str(int(n)) for n in N])
        ax.xaxis.set_minor_formatter(NullFormatter())  # only the simulated N are labelled
        ax.set_xlabel(r"input dimension $N$")
        ax.set_ylabel(r"plateau escape $\alpha^*$")
        ax.set_title(r"(d) $\alpha^*$ vs $N$, $R_0\sim N^{-1/2}$", loc="left")
        ax.legend(loc="upper left", fontsize=7)
        ax = axes[4]
        # η_w = 9 adapts exactly (ε = 0 at the fixed point): off the log axis, left out
        inexact = fl["eg_fixed_point"] > 1e-8
        ax.semilogy(
            fl["eta_w"][inexact],
            fl["eg_fixed_point"][inexact],
            "-",
            color="C3",
            label="final fixed point (Newton)",
        )
        ax.semilogy(
            fl["eta_w"][inexact],
            fl["eg_final_integrated"][inexact],
            "o",
            color="k",
            ms=4,
            label=rf"integrated, $\alpha$ = {fl['alpha_final']:g}",
        )
        ax.axhline(
            fl["threshold"],
            color="0.5",
            ls=":",
            lw=0.8,
            label=rf"$\varepsilon$ = {fl['threshold']:g}",
        )
        ax.axvline(
            fl["eta_w_min_predicted"],
            color="C0",
            ls="--",
            lw=0.8,
            label=rf"predicted min $\eta_w$ = {fl['eta_w_min_predicted']:.3g}",
        )
        ax.set_xlabel(r"inner head rate $\eta_w$ ($\eta_J = 3$)")
        ax.set_ylabel(r"error floor $\varepsilon_\infty$")
        ax.set_title("(e) floor of the final fixed point", loc="left")
        ax.legend(loc="lower left", fontsize=7)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)

    rel = gr["rel_error"][np.isfinite(gr["rel_error"])]
    summary = {
        "rate_default": default.rate,
        "rate_default_times_pi2": default.rate * math.pi**2,
        "alpha_escape_default_predicted": default.alpha_escape,
        "alpha_escape_default_integrated": default.alpha_escape_integrated,
        "scales": sc,
        "grid": gr,
        "grid_points_compared": int(rel.size),
        "grid_rel_error_median": float(np.median(np.abs(rel))) if rel.size else math.nan,
        "grid_rel_error_max": float(np.max(np.abs(rel))) if rel.size else math.nan,
        "sizes": nz,
        "floor": fl,
        "wall_time_ode_s": t_ode,
        "wall_time_simulation_s": t_sim,
    }
    js = write_json(out_dir / "data" / "plateau_theory.json", summary)
    return [*figure_paths(out_dir, name), js]
