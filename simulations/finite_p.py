r"""FO-ANIL and exact ANIL with P training samples per task against the finite-P ODE at two N.

Declared in ``finite_p.toml`` beside this file: ``[study]`` (``[study.quick]`` in quick mode)
and the ``[base]`` configuration. Writes ``sim-finite-p.png`` and ``.pdf``, the table of its
numbers ``sim-finite-p.txt``, ``data/finite_p.json`` and the curves ``data/finite_p.nc``.

For every algorithm, ``P`` and ``N`` the simulation starts from the state that the finite-P
ODE of the same algorithm reaches at ``α = study.start_alpha`` from ``[base.init]`` (near the
error floor; no plateau to wait for) and runs ``study.alpha_max`` further;
:func:`teacherstudent.simulation.compare` integrates the finite-P ODE (``train_size =
test_size = P``) from the measured initial overlaps. Also integrated from the same overlaps,
for contrast: the ``P = ∞`` ODE (the old theory: ``P = ∞`` dynamics, error after an exact
head adaptation) and the ``P = ∞`` dynamics with the ``P``-shot error (only the test-time
adaptation on ``P`` samples accounted for).

``ε_sim`` is the few-shot error of the simulated network — the head of a fresh task adapted
on ``P`` fresh samples, averaged over tasks and samples — in closed form from each seed's
measured overlaps (:meth:`teacherstudent.ode.VectorField.errors` at ``test_size = P``, with the
seed's own ``T``): the exact expectation over the test tasks, so ``ε_sim − ε_ode`` is the
finite-N deviation of the trained network alone. The simulation's Monte Carlo estimate over
``simulation.test_tasks`` fresh tasks (``eg``) is unbiased for the same quantity; its mean
difference from the closed form is reported as a check (its test-task noise is far above the
finite-N deviation).

Final stretch: ``α ≥ study.final_from``. Per seed ``d_s`` = the mean of ``ε_sim − ε_ode`` over
it; the table gives the seed mean of ``d_s`` with its standard error ``sd(d_s)/√S``, the rms of
``ε_sim − ε_ode`` over the stretch and the seeds, and the ratios between the smallest and the
largest ``N`` (``√(N₂/N₁)`` for deviations ``∝ N^{-1/2}``, ``N₂/N₁`` for an ``O(1/N)`` bias, 1
for an error of the theory).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.config import apply_overrides, load_config
from teacherstudent.ode import VectorField, integrate
from teacherstudent.plotting import (
    ALPHA_LABEL,
    STYLE,
    THEORY_COLOUR,
    plt,
    savefig,
    seed_band,
    sim_handle,
)
from teacherstudent.simulation import compare, simulate
from teacherstudent.studies import figure_paths, read_study, save_grid, settings, write_json

ALG_COLOURS = {"fo-anil": "#0072B2", "anil": "#D55E00"}
ALG_NAMES = {"fo-anil": "FO-ANIL", "anil": "ANIL"}


def _p_label(P: Any) -> str:
    return r"$P=\infty$" if P == "inf" else f"$P={P}$"


def _start_state(base: dict[str, Any], alg: str, P: Any, alpha0: float) -> dict[str, Any]:
    """``init`` overrides: the state of the finite-P ODE of ``alg`` at ``alpha0``."""
    cfg = apply_overrides(base, {"algorithm.name": alg, "algorithm.train_size": P,
                                 "run.alpha_max": alpha0, "run.n_save": 2})
    cfg.get("run", {}).pop("save_alpha", None)
    ds = integrate(cfg)
    return {"init.Q": ds.Q.values[-1].tolist(), "init.R": ds.R.values[-1].tolist(),
            "init.w": ds.w.values[-1].tolist()}


def _perfect_representation(base: dict[str, Any], alg: str, P: Any, alpha: float) -> float:
    """The ``P``-shot error of the converged ``P = ∞`` solution of ``alg`` (from
    ``[base.init]``, integrated to ``alpha``): the ``P = ∞`` theory's prediction for a test
    with ``P`` shots (only the test-time adaptation on ``P`` samples accounted for)."""
    cfg = apply_overrides(base, {"algorithm.name": alg, "algorithm.train_size": "inf",
                                 "algorithm.test_size": P, "run.alpha_max": alpha,
                                 "run.n_save": 2})
    return float(integrate(cfg).eg.values[-1])


def _few_shot(cfg: dict[str, Any], sim) -> np.ndarray:
    """``(seed, alpha)`` few-shot error (head adapted on ``train_size`` fresh samples) of each
    seed's measured overlaps, in closed form with the seed's own measured ``T``."""
    c = copy.deepcopy(load_config(cfg))
    c["algorithm"]["test_size"] = c["algorithm"]["train_size"]
    vf = VectorField.from_config(c)
    A = sim.sizes["alpha"]
    out = np.full(sim.eg.shape, np.nan)
    for s in range(sim.sizes["seed"]):
        v = dataclasses.replace(vf, problem=dataclasses.replace(vf.problem, T=sim.T.values[s]))
        ys = np.concatenate([sim.Q.values[s].reshape(A, -1), sim.R.values[s].reshape(A, -1),
                             sim.w.values[s]], axis=1)
        out[s] = v.errors_along(ys)[:, 0]
    return out


def _stretch_stats(dev: np.ndarray) -> dict[str, float]:
    """Seed mean, its standard error and the rms of ``dev (seed, alpha)`` (final stretch)."""
    d_s = np.nanmean(dev, axis=1)
    S = int(np.isfinite(d_s).sum())
    sem = float(np.nanstd(d_s, ddof=1) / math.sqrt(S)) if S > 1 else math.nan
    return {"mean": float(np.nanmean(d_s)), "sem": sem,
            "rms": float(np.sqrt(np.nanmean(dev * dev))), "per_seed": d_s.tolist()}


def _ratio(a: float, sa: float, b: float, sb: float) -> tuple[float, float]:
    """``a/b`` of two seed means with its propagated standard error."""
    r = a / b if b != 0 else math.nan
    err = abs(r) * math.hypot(sa / a, sb / b) if a and b else math.nan
    return r, err


def _sem_used(d1: dict[str, Any], S1: int, N1: int, d2: dict[str, Any], S2: int,
              N2: int) -> float:
    """The standard error at the larger N: the larger of the measured one (few seeds: itself
    uncertain) and the one the seed spread at the smaller N predicts for deviations
    ``∝ N^{-1/2}``, ``sd₁ √(N₁/N₂) / √S₂``."""
    pred = d1["sem"] * math.sqrt(S1) * math.sqrt(N1 / N2) / math.sqrt(S2)
    return float(np.nanmax([d2["sem"], pred]))


def run(folder: Path) -> list[Path]:
    """FO-ANIL and exact ANIL with P training samples per task against the finite-P ODE at two N."""
    folder = Path(folder)
    spec = read_study(__file__)
    study, base = settings(spec), spec["base"]
    algs = list(study["algorithms"])
    Ns = [int(n) for n in study["N"]]
    seeds = [int(s) for s in study["seeds"]]
    Ps = list(study["P"])
    a0, amax = float(study["start_alpha"]), float(study["alpha_max"])
    step = float(study["save_every"])
    f0 = float(study["final_from"])
    save = [round(float(a), 10) for a in np.arange(0.0, amax + 0.5 * step, step)]
    res: dict[tuple[str, Any, int], dict[str, Any]] = {}
    t_study = time.perf_counter()
    for alg in algs:
        for P in Ps:
            start = _start_state(base, alg, P, a0)
            eg_rep = _perfect_representation(base, alg, P, 10.0 * a0)
            raw = apply_overrides(base, {"algorithm.name": alg, "algorithm.train_size": P,
                                         "run.alpha_max": amax, "run.save_alpha": save, **start})
            for N, S in zip(Ns, seeds, strict=True):
                t0 = time.perf_counter()
                sim = simulate(load_config(raw), N=N, seeds=S, device="auto", progress=False)
                wall_sim = time.perf_counter() - t0
                ds = compare(raw, sim=sim)
                init = {"Q": sim.Q.isel(alpha=0).mean("seed").values,
                        "R": sim.R.isel(alpha=0).mean("seed").values,
                        "w": sim.w.isel(alpha=0).mean("seed").values,
                        "T": sim.T.mean("seed").values}
                c = apply_overrides(raw, {"algorithm.train_size": "inf"})
                eg_inf = integrate(c, initial=init).reindex(alpha=ds.alpha.values).eg.values
                eg_cl = _few_shot(raw, sim)
                alpha = ds.alpha.values
                fin = alpha >= f0 - 1e-9
                ode = ds.eg_ode.values
                dev = (eg_cl - ode[None])[:, fin]
                k = np.arange(sim.sizes["k"])
                dQ = (ds.Q_sim.mean("seed").values - ds.Q_ode.values)[:, k, k].mean(1)
                dR = np.nanmean(ds.R_aligned_sim.mean("seed").values - ds.R_aligned_ode.values,
                                axis=1)
                r = {
                    "alpha": alpha, "eg_sim": eg_cl, "eg_mc": ds.eg_sim.values, "eg_ode": ode,
                    "eg_ode_inf": eg_inf, "eg_rep": eg_rep,
                    "dev": _stretch_stats(dev),
                    "dev_inf": _stretch_stats((eg_cl - eg_inf[None])[:, fin]),
                    "dev_rep": _stretch_stats(eg_cl[:, fin] - eg_rep),
                    "mc_minus_closed": _stretch_stats((ds.eg_sim.values - eg_cl)[:, fin]),
                    "eg_sim_final": float(np.nanmean(eg_cl[:, fin])),
                    "eg_sim_final_sd": float(np.nanstd(np.nanmean(eg_cl[:, fin], axis=1),
                                                       ddof=1)) if S > 1 else math.nan,
                    "eg_mc_final": float(np.nanmean(ds.eg_sim.values[:, fin])),
                    "eg_ode_final": float(np.mean(ode[fin])),
                    "eg_ode_inf_final": float(np.mean(eg_inf[fin])),
                    "eg_start": float(ode[0]),
                    "S": S, "wall_sim": wall_sim, "wall": time.perf_counter() - t0,
                    "ode_algorithm": ds.attrs.get("ode_algorithm", alg),
                    "diverged": ds.attrs.get("diverged_seeds", ""),
                    "dQ_diag": float(np.mean(dQ[fin])), "dR_aligned": float(np.mean(dR[fin])),
                    "code_sha256": str(ds.attrs.get("code_sha256", "")),
                }
                res[(alg, P, N)] = r
    wall_total = time.perf_counter() - t_study

    text, summary = _table(res, algs, Ps, Ns, seeds, a0, amax, f0, base, wall_total)
    name = study.get("figure", "sim-finite-p")
    _figure(res, algs, Ps, Ns, study, a0, base, folder / f"{name}.png")
    (folder / f"{name}.txt").write_text(text)
    stem = study.get("data", "finite_p")
    js = write_json(folder / "data" / f"{stem}.json", summary)
    nc = _save_curves(folder / "data" / f"{stem}.nc", res, algs, Ps, Ns)
    return [*figure_paths(folder, name), folder / f"{name}.txt", js, nc]


def _save_curves(path: Path, res, algs, Ps, Ns) -> Path:
    """The ε(α) curves of every run (seed mean and sd of the simulation, the ODEs)."""
    alpha = res[(algs[0], Ps[0], Ns[0])]["alpha"]
    shape = (len(algs), len(Ps), len(Ns), len(alpha))
    fields = {k: np.full(shape, np.nan) for k in
              ("eg_sim_mean", "eg_sim_sd", "eg_sim_mc_mean", "eg_ode", "eg_ode_P_inf")}
    for i, a in enumerate(algs):
        for j, P in enumerate(Ps):
            for n, N in enumerate(Ns):
                r = res[(a, P, N)]
                fields["eg_sim_mean"][i, j, n] = np.nanmean(r["eg_sim"], axis=0)
                fields["eg_sim_sd"][i, j, n] = np.nanstd(r["eg_sim"], axis=0, ddof=1) \
                    if r["S"] > 1 else np.nan
                fields["eg_sim_mc_mean"][i, j, n] = np.nanmean(r["eg_mc"], axis=0)
                fields["eg_ode"][i, j, n] = r["eg_ode"]
                fields["eg_ode_P_inf"][i, j, n] = r["eg_ode_inf"]
    return save_grid(path, {"algorithm": algs,
                            "train_size": [math.inf if p == "inf" else float(p) for p in Ps],
                            "N": Ns, "alpha": alpha}, fields,
                     {"seeds": [res[(algs[0], Ps[0], N)]["S"] for N in Ns],
                      "eg_sim": "few-shot error of the measured overlaps (closed form)"})


def _fmt(st: dict[str, float]) -> str:
    return f"{st['mean']:+.2e} ± {st['sem']:.1e}"


def _table(res, algs, Ps, Ns, seeds, a0, amax, f0, base, wall_total):
    n1, n2 = Ns[0], Ns[-1]
    a = base.get("algorithm", {})
    lines = [
        f"# sim-finite-p: eta_J = {a.get('eta_J')}, eta_w = {a.get('eta_w')}, V = "
        f"{a.get('val_size')}, one inner step; K = M = 3. Runs start from the finite-P ODE state at"
        f" alpha = {a0:g} from Q = I, R = 0.9 I and run alpha in [0, {amax:g}];",
        f"# final stretch alpha in [{f0:g}, {amax:g}]. Seeds: "
        + ", ".join(f"{S} at N = {N}" for N, S in zip(Ns, seeds, strict=True)) + ".",
        "# eps_sim = few-shot error (head adapted on P fresh samples) of each seed's measured "
        "overlaps, closed form; eps_ode = finite-P ODE from the same initial overlaps;",
        "# dev = eps_sim - eps_ode: seed mean of the per-seed stretch means +- its standard "
        "error; rms over the stretch and the seeds;",
        f"# ratio = dev(N={n1}) / dev(N={n2}): sqrt({n2}/{n1}) = {math.sqrt(n2 / n1):.2f} for "
        f"deviations ~ N^-1/2, {n2 / n1:g} for an O(1/N) bias, 1 for an error of the theory;"
        " a = log(ratio)/log(N2/N1); z = dev/SE at the largest N, with SE the larger of the"
        " measured one and sd(N1)*sqrt(N1/N2)/sqrt(S2) (few seeds there).",
        "# <Q_kk>-Q_ode, <R~>-R~_ode: seed-mean overlap deviations over the stretch (diagonal of"
        " Q, sign-aligned R, averaged over units) at the two N.",
        "# old = eps_sim - eps_ode(P = inf: the old theory, same initial overlaps, error after "
        "exact adaptation);",
        "# rep = eps_sim - (P-shot error of the converged P = inf solution: the P = inf theory "
        "with only the test-time adaptation on P samples);",
        "# MC-cl = the simulation's Monte Carlo eps over its test tasks minus the closed form "
        "(test-task noise; mean 0 expected; P = inf: the same number).",
    ]
    summary: dict[str, Any] = {
        "settings": {"N": Ns, "seeds": seeds, "P": [str(p) for p in Ps], "start_alpha": a0,
                     "alpha_max": amax, "final_from": f0,
                     **{k: a.get(k) for k in ("eta_J", "eta_w", "val_size")}},
        "wall_s": wall_total,
        "code_sha256": sorted({r["code_sha256"] for r in res.values()}),
    }
    for alg in algs:
        lines.append(f"\n[{alg}]  ({res[(alg, Ps[0], n1)]['ode_algorithm']} ODE)")
        lines.append(f"{'P':>4} {'N':>5}  {'eps_ode':>9} {'eps_sim':>9}  {'dev (mean ± SE)':>20}"
                     f" {'rms':>8}  {'old':>19}  {'rep':>19}  {'MC-cl':>19} {'wall':>5}")
        rows = []
        for P in Ps:
            for N in Ns:
                r = res[(alg, P, N)]
                mc = _fmt(r["mc_minus_closed"]) if P != "inf" else "—"
                lines.append(
                    f"{P!s:>4} {N:>5}  {r['eg_ode_final']:9.3e} {r['eg_sim_final']:9.3e}  "
                    f"{_fmt(r['dev']):>20} {r['dev']['rms']:8.1e}  {_fmt(r['dev_inf']):>19}  "
                    f"{_fmt(r['dev_rep']):>19}  {mc:>19} {r['wall']:4.0f}s")
            d1, d2 = res[(alg, P, n1)]["dev"], res[(alg, P, n2)]["dev"]
            r1, r2 = res[(alg, P, n1)], res[(alg, P, n2)]
            S1, S2 = r1["S"], r2["S"]
            se2 = _sem_used(d1, S1, n1, d2, S2, n2)
            ratio, ratio_err = _ratio(d1["mean"], d1["sem"], d2["mean"], se2)
            rms_ratio = d1["rms"] / d2["rms"] if d2["rms"] else math.nan
            expo = math.log(ratio) / math.log(n2 / n1) if ratio and ratio > 0 else math.nan
            z2 = d2["mean"] / se2 if se2 else math.nan
            lines.append(f"{'':>4} ratio N={n1}/N={n2}: mean {ratio:.2f} ± {ratio_err:.2f} "
                         f"(a = {expo:.2f}), rms {rms_ratio:.2f};  z at N={n2}: {z2:+.1f} "
                         f"(SE used {se2:.1e});  <Q_kk>-Q_ode: {r1['dQ_diag']:+.1e}, "
                         f"{r2['dQ_diag']:+.1e};  <R~>-R~_ode: {r1['dR_aligned']:+.1e}, "
                         f"{r2['dR_aligned']:+.1e}")
            per_n = {}
            for N in Ns:
                r = res[(alg, P, N)]
                per_n[f"N{N}"] = {
                    "eg_ode": r["eg_ode_final"], "eg_sim": r["eg_sim_final"],
                    "eg_sim_mc": r["eg_mc_final"], "eg_ode_P_inf": r["eg_ode_inf_final"],
                    "eg_P_inf_representation_P_shot": r["eg_rep"],
                    "dev_mean": r["dev"]["mean"], "dev_sem": r["dev"]["sem"],
                    "dev_rms": r["dev"]["rms"], "dev_per_seed": r["dev"]["per_seed"],
                    "dQ_diag": r["dQ_diag"], "dR_aligned": r["dR_aligned"],
                    "dev_old_theory_mean": r["dev_inf"]["mean"],
                    "dev_P_inf_representation_mean": r["dev_rep"]["mean"],
                    "mc_minus_closed_mean": r["mc_minus_closed"]["mean"],
                    "mc_minus_closed_sem": r["mc_minus_closed"]["sem"],
                    "seeds": r["S"], "wall_s": r["wall"], "diverged_seeds": r["diverged"],
                }
            rows.append({"P": str(P), **per_n, "ratio_mean": ratio, "ratio_mean_err": ratio_err,
                         "ratio_rms": rms_ratio, "exponent_from_mean": expo,
                         "z_at_largest_N": z2, "sem_used_at_largest_N": se2})
        summary[alg] = rows
    lines.append(f"\n# total wall {wall_total:.0f}s")
    return "\n".join(lines) + "\n", summary


def _p_axis(Ps):
    """x positions of the P values on a log axis, P = ∞ placed a factor 3 right of the last."""
    fin = [float(p) for p in Ps if p != "inf"]
    x_inf = max(fin) * 3.0 if fin else 1.0
    return np.array([float(p) if p != "inf" else x_inf for p in Ps])


def _p_ticks(ax, x, Ps):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(x, [("∞" if p == "inf" else str(p)) for p in Ps])
    ax.minorticks_off()
    ax.set_xlim(x[0] / 1.6, x[-1] * 1.6)


def _figure(res, algs, Ps, Ns, study, a0, base, path):
    n1, n2 = Ns[0], Ns[-1]
    curves = [p for p in study.get("curves_P", Ps) if p in Ps]
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(curves)))
    x = _p_axis(Ps)
    finite = np.array([p != "inf" for p in Ps])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 2, figsize=(10.5, 8.4))
        # (a, b) eps(alpha) for a few P
        for ax, alg in zip(axes[0], algs, strict=False):
            handles = []
            for P, col in zip(curves, colours, strict=True):
                r1, r2 = res[(alg, P, n1)], res[(alg, P, n2)]
                al = r1["alpha"]
                seed_band(ax, al[1:], r1["eg_sim"][:, 1:], col, log=True)
                m2 = np.nanmean(r2["eg_sim"], axis=0)
                ax.plot(r2["alpha"][1:], m2[1:], ls="none", marker="D", ms=3.4, mfc="white",
                        mec=col, mew=0.9, zorder=3)
                ax.plot(al, r1["eg_ode"], color=THEORY_COLOUR, lw=1.1, zorder=4)
                ax.plot(al, r1["eg_ode_inf"], color=col, lw=1.0, ls="--", zorder=4)
                handles.append(sim_handle(col, _p_label(P)))
            handles += [
                sim_handle("0.4", f"simulation $N={n1}$ (mean ± sd)"),
                plt.Line2D([], [], ls="none", marker="D", ms=3.4, mfc="white", mec="0.4",
                           label=f"simulation $N={n2}$ (mean)"),
                plt.Line2D([], [], color=THEORY_COLOUR, lw=1.1,
                           label="finite-$P$ ODE, same start"),
                plt.Line2D([], [], color="0.4", lw=1.0, ls="--",
                           label=r"$P=\infty$ ODE (old theory), same start"),
            ]
            ax.set_yscale("log")
            ax.set_xlim(0, float(res[(alg, curves[0], n1)]["alpha"][-1]))
            ax.set_xlabel(ALPHA_LABEL + rf" since the start (finite-$P$ ODE state at "
                          rf"$\alpha_0={a0:g}$)")
            ax.set_ylabel(r"few-shot error $\varepsilon_g$ (head adapted on $P$ samples)")
            ax.set_title(f"({'ab'[algs.index(alg)]}) {ALG_NAMES.get(alg, alg)}", loc="left")
            ax.legend(handles=handles, frameon=False, fontsize=6.6, ncol=2, loc="lower left")
            lo = min(np.nanmin(res[(alg, p, n)]["eg_sim"][:, 1:]) for p in curves for n in Ns)
            ax.set_ylim(lo / 4, None)
        # (c) the final error against P
        ax = axes[1, 0]
        for alg in algs:
            col = ALG_COLOURS.get(alg, "k")
            ode = np.array([res[(alg, p, n2)]["eg_ode_final"] for p in Ps])
            ax.plot(x, ode, color=col, lw=1.2, label=f"{ALG_NAMES[alg]}: finite-$P$ ODE")
            rep = np.array([res[(alg, p, n2)]["eg_rep"] for p in Ps])
            ax.plot(x[finite], rep[finite], color=col, lw=1.0, ls="--",
                    label=rf"{ALG_NAMES[alg]}: $P=\infty$ theory, $P$-shot test")
            for N, mk, mfc, off in ((n1, "o", "white", 0.92), (n2, "D", col, 1.08)):
                y = np.array([res[(alg, p, N)]["eg_sim_final"] for p in Ps])
                ax.plot(x * off, y, ls="none", marker=mk, ms=4.5, mec=col, mfc=mfc,
                        label=f"{ALG_NAMES[alg]}: simulation $N={N}$")
        _p_ticks(ax, x, Ps)
        ax.set_xlabel("training samples per task $P$ (= shots at test)")
        ax.set_ylabel(r"$\varepsilon_g$ over the final stretch")
        ax.set_title("(c) final few-shot error against $P$", loc="left")
        ax.legend(frameon=False, fontsize=6.5, loc="lower left")
        # (d) the deviations from the finite-P ODE at the two N, and the old theory's
        ax = axes[1, 1]
        sems = []
        for alg in algs:
            col = ALG_COLOURS.get(alg, "k")
            for N, mk, mfc, off in ((n1, "o", "white", 0.9), (n2, "D", col, 1.1)):
                m = np.array([res[(alg, p, N)]["dev"]["mean"] for p in Ps])
                e = np.array([res[(alg, p, N)]["dev"]["sem"] for p in Ps])
                sems += list(e[np.isfinite(e) & (e > 0)])
                xx = x * off * (0.96 if alg == algs[0] else 1.04)
                ax.errorbar(xx, m, yerr=np.nan_to_num(e), ls="none", marker=mk, ms=4.5, mec=col,
                            mfc=mfc, color=col, capsize=2, elinewidth=0.8)
            old = np.array([res[(alg, p, n2)]["dev_inf"]["mean"] for p in Ps])
            ax.plot(x[finite], old[finite], color=col, lw=0.8, ls=":", marker="x", ms=4)
        handles = [
            plt.Line2D([], [], ls="none", marker="o", mec="0.3", mfc="white", label=f"$N={n1}$"),
            plt.Line2D([], [], ls="none", marker="D", mec="0.3", mfc="0.3", label=f"$N={n2}$"),
            plt.Line2D([], [], color="0.3", lw=0.8, ls=":", marker="x",
                       label=rf"vs the old theory ($P=\infty$ ODE), $N={n2}$"),
            *[plt.Line2D([], [], color=ALG_COLOURS[a], lw=3, label=ALG_NAMES[a]) for a in algs],
        ]
        ax.set_xscale("log")
        ax.set_xticks(x, [("∞" if p == "inf" else str(p)) for p in Ps])
        ax.minorticks_off()
        ax.set_xlim(x[0] / 1.6, x[-1] * 1.6)
        thr = 10.0 ** math.floor(math.log10(min(sems))) if sems else 1e-6
        ax.set_yscale("symlog", linthresh=thr, linscale=0.6)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.axhspan(-thr, thr, color="0.93", lw=0, zorder=0)
        ax.set_xlabel("training samples per task $P$")
        ax.set_ylabel(r"$\langle\varepsilon_{\rm sim}-\varepsilon_{\rm ODE}\rangle$"
                      " over the final stretch (± SE)")
        ax.set_title(rf"(d) deviation from the finite-$P$ ODE (÷{math.sqrt(n2 / n1):.2g} at the "
                     r"larger $N$ if $\propto N^{-1/2}$)", loc="left", fontsize=8.5)
        ax.text(0.99, 0.02, f"symlog axis: linear inside ±{thr:.0e} (grey)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=6.5, color="0.4")
        ax.legend(handles=handles, frameon=False, fontsize=6.5, loc="upper center",
                  bbox_to_anchor=(0.5, -0.12), ncol=3)
        a = base.get("algorithm", {})
        fig.suptitle(f"$P$ training samples per task: simulation vs theory, "
                     f"$\\eta_J={a.get('eta_J')}$, $\\eta_w={a.get('eta_w')}$, $V=\\infty$, "
                     f"$K=M=3$; " + ", ".join(f"{s} seeds at $N={n}$" for s, n in
                                              zip(study["seeds"], Ns, strict=True)),
                     fontsize=9.5)
        fig.tight_layout()
        savefig(fig, path, pdf=True)
