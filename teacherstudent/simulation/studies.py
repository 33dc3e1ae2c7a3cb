r"""Simulation studies behind the gallery (``teacherstudent reproduce``).

``STUDIES[name](folder) -> [figure paths]``; the parameters are declared in TOML files in
``simulations/`` at the repository root (``finite_size.toml``, ``maml_limit.toml``,
``finite_p.toml``).  Each study writes PNG + PDF figures and a plain-text table of its
numbers (``<figure>.txt``) into ``folder``.  Quick mode (``reproduce --quick`` or
``TEACHERSTUDENT_QUICK=1``): the ``[study.quick]`` table of a file overrides its ``[study]``.

Error bars are bootstrap standard deviations over the seeds (``study.bootstrap``
resamples, seeds resampled with replacement independently at each N); a fitted exponent
``a`` of ``D ∝ N^{-a}`` is the least-squares slope of ``log D`` against ``log N`` and its
error the bootstrap standard deviation of that slope.

- ``finite-size``: the **same** number of seeds ``S`` at every N, so that the noise of a seed
  mean itself falls like ``1/√(NS)``.  Every seed is compared with the ODE integrated from
  *its own* measured initial overlaps (:func:`~teacherstudent.simulation.compare` with
  ``per_seed=True``; the initial overlaps are set exactly by
  :func:`~teacherstudent.simulation.model.initial_weights`, so this only guards against
  rounding).  With ``δε_s(α) = ε_sim,s(α) − ε_ode,s(α)``:
  ``D_max = max_α |⟨δε⟩_seeds|`` and ``D_rms = √⟨δε²⟩_{α, seeds}``, both expected
  ``∝ N^{-1/2}`` (the overlaps fluctuate by ``O(N^{-1/2})`` around the deterministic
  ``N → ∞`` path; the systematic bias is ``O(1/N)``).  For a case listed in
  ``study.windows`` the α axis is also split by the ODE's progress
  ``f(α) = (ε(0) − ε(α)) / (ε(0) − min ε)``: plateau ``f < f₁``, transition
  ``f₁ ≤ f < f₂``, converged ``f ≥ f₂``.  Through the plateau escape the escape time is set
  by fluctuations amplified along the unstable direction, so deviations there can fall
  more slowly than ``N^{-1/2}``.
- ``maml-limit``: MAML / FO-MAML against ANIL / FO-ANIL **with common random numbers**:
  the same ``base_seed`` gives the same initial weights and the same task sequence to both
  algorithms (the draw order of :func:`~teacherstudent.simulation.algorithms.draw_chunk` does
  not depend on the algorithm), so ``gap = ε_maml − ε_anil`` (same seed) isolates the
  inner J step, which moves the overlaps by ``O(η_in_J/N)`` per task: ``gap ∝ 1/N``.
  Also reported: ``max_α |⟨ε_maml⟩ − ε_ode,anil|`` and its rms over α and seeds
  (``∝ N^{-1/2}``: the fluctuations, which the same-seed difference cancels).
- ``finite-p``: FO-ANIL with ``P`` training samples per task; the final ε against ``P``
  and the fitted power ``b`` of the excess ``ε(P) − ε(∞) ∝ P^{-b}`` over the simulated
  ``P = ∞`` run at the same N (and the ``P = ∞`` ODE).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import read_toml

__all__ = [
    "STUDIES",
    "SIMULATIONS",
    "finite_size",
    "maml_limit",
    "finite_p",
    "read_study",
    "fit_power",
    "bootstrap_fit",
]

SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"
WINDOWS = ("plateau", "transition", "converged")


def _quick() -> bool:
    return os.environ.get("TEACHERSTUDENT_QUICK", "").strip() not in ("", "0", "false")


def read_study(name: str) -> dict[str, Any]:
    """The study table of ``simulations/<name>.toml`` (``[study.quick]`` merged in quick mode)."""
    spec = read_toml(SIMULATIONS / f"{name}.toml", "study file")
    quick = spec["study"].pop("quick", {})
    if _quick():
        spec["study"].update(quick)
    return spec


# --------------------------------------------------------------------------- statistics
def fit_power(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(a, c)`` of ``y ≈ c·x^{-a}`` (least squares in log–log; NaN if < 2 usable points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    slope, icpt = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(-slope), float(math.exp(icpt))


def _resamples(S: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, S)`` seed indices; row 0 is the data itself."""
    idx = rng.integers(0, S, size=(B, S))
    idx[0] = np.arange(S)
    return idx


def bootstrap_fit(
    x: np.ndarray, samples: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """``samples[i]`` (B,) bootstrap values of a metric at ``x[i]`` (entry 0 = the data).

    Returns ``(value, error, a, a_err, c)``: the data values, their bootstrap standard
    deviations, the fitted exponent of ``value ∝ x^{-a}``, its bootstrap error and the
    prefactor ``c``."""
    vals = np.array([s[0] for s in samples])
    errs = np.array([np.std(s[1:], ddof=1) if len(s) > 2 else math.nan for s in samples])
    a, c = fit_power(x, vals)
    B = min(len(s) for s in samples)
    slopes = [fit_power(x, np.array([s[b] for s in samples]))[0] for b in range(1, B)]
    slopes = np.asarray(slopes)
    a_err = float(np.nanstd(slopes, ddof=1)) if np.isfinite(slopes).sum() > 2 else math.nan
    return vals, errs, a, a_err, c


def _metrics(dev: np.ndarray, mask: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bootstrap values ``(D_max, D_rms)`` of ``dev (S, A)`` over the α in ``mask``."""
    d = dev[:, mask][idx]  # (B, S, a)
    dmax = np.nanmax(np.abs(np.nanmean(d, axis=1)), axis=1)
    drms = np.sqrt(np.nanmean(d * d, axis=(1, 2)))
    return dmax, drms


def _windows(alpha: np.ndarray, eg_ode: np.ndarray, f1: float, f2: float) -> dict[str, np.ndarray]:
    """Masks (α > 0) of the plateau / transition / converged windows from the ODE's progress."""
    e0, emin = eg_ode[0], np.nanmin(eg_ode)
    f = (e0 - eg_ode) / (e0 - emin) if e0 > emin else np.zeros_like(eg_ode)
    pos = alpha > 0
    return {
        "all": pos,
        "plateau": pos & (f < f1),
        "transition": pos & (f >= f1) & (f < f2),
        "converged": pos & (f >= f2),
    }


def _fmt_pm(v: float, e: float) -> str:
    return f"{v:.3e} ± {e:.1e}"


def _gap_label(a: float, e: float, var: str = "N") -> str:
    if not np.isfinite(a):
        return "(no fit)"
    if not np.isfinite(e):
        return rf"${var}^{{{-a:.2f}}}$"
    return rf"${var}^{{{-a:.2f}\pm {e:.2f}}}$"


def _log_N_axis(ax, Ns: np.ndarray) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(Ns, [str(n) for n in Ns])
    ax.minorticks_off()
    ax.set_xlim(Ns[0] / 1.5, Ns[-1] * 1.5)
    ax.set_xlabel("input dimension $N$")


# --------------------------------------------------------------------------- finite size
def finite_size(folder: Path) -> list[Path]:
    """Agreement with the ODE tightening like N^{-1/2} (``simulations/finite_size.toml``)."""
    from ..plotting import plt, savefig
    from .compare import compare

    folder = Path(folder)
    spec = read_study("finite_size")
    study, cases = spec["study"], spec["cases"]
    Ns = np.asarray(study["N"], dtype=int)
    S = int(study["seeds"])
    nboot = int(study.get("bootstrap", 400))
    f1, f2 = (float(v) for v in study.get("progress_windows", [0.1, 0.9]))
    windowed = set(study.get("windows", []))
    rng = np.random.default_rng(int(study.get("bootstrap_seed", 0)))
    idx = _resamples(S, nboot, rng)

    res: dict[str, dict[str, Any]] = {}
    lines = [
        "# finite-size: dev_s(alpha) = eps_sim,s - eps_ode,s (ODE from seed s's own initial",
        f"# overlaps), the same S = {S} seeds at every N; D_max = max_alpha |<dev>_seeds|,",
        "# D_rms = sqrt(<dev^2>_{alpha,seeds}); +- = bootstrap sd over seeds "
        f"({nboot} resamples); fit D ~ c N^-a",
        f"# windows (ODE progress f = (eps0 - eps)/(eps0 - min eps)): plateau f < {f1}, "
        f"transition {f1} <= f < {f2}, converged f >= {f2}",
    ]
    t_study = time.perf_counter()
    for case, raw in cases.items():
        r: dict[str, Any] = {"ds": [], "wall": [], "boot": {}}
        for N in Ns:
            t0 = time.perf_counter()
            ds = compare(raw, N=int(N), seeds=S, device="auto", progress=False, per_seed=True)
            r["ds"].append(ds)
            r["wall"].append(time.perf_counter() - t0)
        ds0 = r["ds"][0]
        alpha = ds0.alpha.values
        masks = _windows(alpha, ds0.eg_ode.values, f1, f2)
        names = ["all"] + ([w for w in WINDOWS if masks[w].any()] if case in windowed else [])
        r["masks"], r["windows"] = masks, names
        spread = max(
            float(np.nanmax(np.abs(d.eg_ode_seed.values - d.eg_ode.values[None]))) for d in r["ds"]
        )
        lines.append(f"\n[{case}]  ODE: {ds0.attrs['ode_algorithm']}, alpha in (0, "
                     f"{alpha[-1]:g}], {int(masks['all'].sum())} save points; "
                     f"max |eps_ode,seed - eps_ode,mean init| = {spread:.1e}")
        for w in names:
            if w != "all":
                a_w = alpha[masks[w]]
                lines.append(f"  window {w}: alpha in [{a_w[0]:.3g}, {a_w[-1]:.3g}]")
        for N, ds, wall in zip(Ns, r["ds"], r["wall"], strict=True):
            dev = ds.eg_sim.values - ds.eg_ode_seed.values
            cells = []
            for w in names:
                dmax, drms = _metrics(dev, masks[w], idx)
                r["boot"].setdefault(w, []).append((dmax, drms))
                cells.append(f"{w}: D_max={_fmt_pm(dmax[0], np.std(dmax[1:], ddof=1))} "
                             f"D_rms={_fmt_pm(drms[0], np.std(drms[1:], ddof=1))}")
            lines.append(f"  N={N:5d} S={S} wall={wall:5.1f}s  " + "\n                        "
                         .join(cells))
        r["fits"] = {}
        for w in names:
            for k, key in enumerate(("D_max", "D_rms")):
                fit = bootstrap_fit(Ns, [b[k] for b in r["boot"][w]])
                r["fits"][(w, key)] = fit
                lines.append(f"  fit {w:10s} {key}: a = {fit[2]:.2f} ± {fit[3]:.2f}   "
                             f"(sqrt(N)*{key} at N={Ns[0]},{Ns[-1]}: "
                             f"{fit[0][0] * math.sqrt(Ns[0]):.3f}, "
                             f"{fit[0][-1] * math.sqrt(Ns[-1]):.3f})")
        res[case] = r
    lines.append(f"\n# total wall {time.perf_counter() - t_study:.0f}s")
    text = "\n".join(lines) + "\n"

    # ---- figure: row 1 ε(α) per case + D_max vs N; row 2 √N·rms_s δε(α) per case + D_rms vs N
    ncase = len(cases)
    fig, axes = plt.subplots(2, ncase + 1, figsize=(4.3 * (ncase + 1), 7.4))
    colours = plt.cm.viridis(np.linspace(0.05, 0.8, len(Ns)))
    shade = {"plateau": "#f2e6d0", "transition": "#dbe8f5", "converged": "#e3f2df"}
    for j, (case, r) in enumerate(res.items()):
        ax, bx = axes[0, j], axes[1, j]
        for ds, N, col in zip(r["ds"], Ns, colours, strict=True):
            d = ds.isel(alpha=np.nonzero(ds.alpha.values > 0)[0])
            m, s = d.eg_sim.mean("seed").values, d.eg_sim.std("seed").values
            ax.plot(d.alpha, m, color=col, lw=1.3, label=f"$N={N}$")
            ax.fill_between(d.alpha, np.clip(m - s, 1e-9, None), m + s, color=col, alpha=0.18,
                            lw=0)
            dev = ds.eg_sim.values - ds.eg_ode_seed.values
            rms = np.sqrt(np.nanmean(dev * dev, axis=0))
            bx.plot(ds.alpha, math.sqrt(N) * rms, color=col, lw=1.3, label=f"$N={N}$")
        ode_name = r["ds"][0].attrs["ode_algorithm"]
        ax.plot(d.alpha, d.eg_ode, "k--", lw=1.2, label=f"ODE ({ode_name})")
        alpha = r["ds"][0].alpha.values
        edges = np.concatenate([[alpha[0]], 0.5 * (alpha[1:] + alpha[:-1]), [alpha[-1]]])
        for w in r["windows"]:
            if w == "all":
                continue
            i_w = np.nonzero(r["masks"][w])[0]
            lo_w, hi_w = edges[i_w[0]] if i_w[0] > 1 else 0.0, edges[i_w[-1] + 1]
            for axx in (ax, bx):
                axx.axvspan(lo_w, hi_w, color=shade[w], lw=0, zorder=0)
            ax.text(0.5 * (lo_w + hi_w), 0.03, w, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=7.5, color="0.3")
        a0 = r["ds"][0]
        title = (f"{case.upper()}: $\\eta_J={a0.attrs.get('algorithm.eta_J')}$, "
                 f"$V={a0.attrs.get('algorithm.val_size')}$, {S} seeds")
        ax.set_title(title)
        ax.set_yscale("log")
        ax.set_xlim(0, alpha[-1])
        bx.set_xlim(0, alpha[-1])
        ax.set_xlabel(r"$\alpha$ (tasks / $N$)")
        bx.set_xlabel(r"$\alpha$ (tasks / $N$)")
        ax.set_ylabel(r"$\varepsilon_g$ (mean $\pm$ sd over seeds)")
        bx.set_ylabel(r"$\sqrt{N}\,\mathrm{rms}_s(\varepsilon_{\rm sim}-\varepsilon_{\rm ODE})$")
        ax.legend(frameon=False, fontsize=7.5, loc="upper right")
        late = np.nanargmax(math.sqrt(Ns[-1]) * rms) > 0.5 * len(rms)
        bx.legend(frameon=False, fontsize=7.5, loc="upper left" if late else "upper right",
                  title="collapse if deviation $\\propto N^{-1/2}$", title_fontsize=7)
        bx.set_ylim(bottom=0)
    markers = {"all": "o", "plateau": "s", "transition": "^", "converged": "D"}
    case_cols = plt.cm.tab10(np.arange(ncase))
    for row, key, ylabel in ((0, "D_max", r"$D_{\max}=\max_\alpha|\langle\varepsilon_{\rm sim}"
                              r"-\varepsilon_{\rm ODE}\rangle_s|$"),
                             (1, "D_rms", r"$D_{\rm rms}=\mathrm{rms}_{\alpha,s}"
                              r"(\varepsilon_{\rm sim}-\varepsilon_{\rm ODE})$")):
        ax = axes[row, -1]
        lo = []
        for (case, r), col in zip(res.items(), case_cols, strict=True):
            for w in r["windows"] if key == "D_rms" else ["all"]:
                vals, errs, a, a_err, c = r["fits"][(w, key)]
                lab = f"{case}" + ("" if w == "all" else f", {w}")
                ax.errorbar(Ns, vals, yerr=errs, marker=markers[w], ls="none", color=col,
                            ms=4.5, capsize=2.5, mfc="white" if w != "all" else col,
                            label=f"{lab}: {_gap_label(a, a_err)}")
                xx = np.geomspace(Ns[0], Ns[-1], 20)
                ax.plot(xx, c * xx ** (-a), color=col, lw=0.9,
                        ls="-" if w == "all" else "--")
                lo.append(np.nanmin(vals))
        top = max(np.nanmax(r["fits"][("all", key)][0]) for r in res.values())
        xx = np.array([Ns[0], Ns[-1]], float)
        ax.plot(xx, top * 1.6 * np.sqrt(Ns[0] / xx), "k:", lw=1, label=r"$\propto N^{-1/2}$")
        _log_N_axis(ax, Ns)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=6.5, loc="lower left")
        ax.set_ylim(min(lo) / 4, top * 3)
    fig.tight_layout()
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text(text)
    return [png, png.with_suffix(".pdf")]


# --------------------------------------------------------------------------- MAML limit
def maml_limit(folder: Path) -> list[Path]:
    """MAML / FO-MAML approaching ANIL / FO-ANIL with common random numbers
    (``simulations/maml_limit.toml``)."""
    from ..config import load_config
    from ..plotting import plt, savefig
    from .compare import compare
    from .runner import simulate

    folder = Path(folder)
    spec = read_study("maml_limit")
    study, cases = spec["study"], spec["cases"]
    Ns = np.asarray(study["N"], dtype=int)
    S = int(study["seeds"])
    nboot = int(study.get("bootstrap", 400))
    rng = np.random.default_rng(int(study.get("bootstrap_seed", 0)))
    idx = _resamples(S, nboot, rng)
    S_ref = max(S, int(study.get("reference_seeds", S)))
    idx_ref = _resamples(S_ref, nboot, rng)
    limit = {"maml": "anil", "fo-maml": "fo-anil"}
    res: dict[str, dict[str, Any]] = {}
    lines = [
        "# maml-limit: common random numbers - the MAML run and its ANIL reference use the same",
        "# seeds (same initial weights, same task sequence);",
        "# gap_s(alpha) = eps_maml,s - eps_anil,s.",
        "# G = max_alpha |<gap>_seeds| (expected ~ 1/N: the inner J step moves the overlaps by",
        "# O(eta_in_J/N)); E = max_alpha |<eps_maml>_seeds - eps_ode,anil| and E_rms = rms over",
        "# alpha > 0 and seeds of (eps_maml - eps_ode,anil) (expected ~ N^-1/2: the fluctuations).",
        f"# S = {S} seeds at every N; +- = bootstrap sd over seeds ({nboot} resamples); for E_rms",
        "# the fit uses the larger of that and the Gaussian sampling error E_rms/sqrt(2S).",
        f"# E_rms,ref: the same for the ANIL reference run itself with {S_ref} seeds (its first",
        f"# {S} seeds are the MAML partners): the fluctuation part, better resolved.",
    ]
    t_study = time.perf_counter()
    for case, raw in cases.items():
        ref_raw = copy.deepcopy(raw)
        ref_raw["algorithm"]["name"] = limit[raw["algorithm"]["name"]]
        r: dict[str, Any] = {"gap": [], "E": [], "Erms": [], "Eref": [], "G": [], "ds": [],
                             "wall": [], "dQR": []}
        for N in Ns:
            t0 = time.perf_counter()
            sim_m = simulate(load_config(raw), N=int(N), seeds=S, device="auto", progress=False)
            # the reference runs S_ref >= S seeds; its first S are the partners of the MAML run
            sim_ref = simulate(load_config(ref_raw), N=int(N), seeds=S_ref, device="auto",
                               progress=False)
            sim_a = sim_ref.isel(seed=slice(0, S))
            ds = compare(raw, sim=sim_m)
            e_ref = (sim_ref.eg.values - ds.eg_ode.values[None])[:, ds.alpha.values > 0]
            r["Eref"].append(np.sqrt(np.nanmean(e_ref[idx_ref] ** 2, axis=(1, 2))))
            r["wall"].append(time.perf_counter() - t0)
            crn = bool(np.array_equal(sim_m.R.isel(alpha=0).values, sim_a.R.isel(alpha=0).values))
            gap = sim_m.eg.values - sim_a.eg.values  # (S, A)
            dQR = np.sqrt(((sim_m.Q - sim_a.Q) ** 2).sum(("k", "l")).values
                          + ((sim_m.R - sim_a.R) ** 2).sum(("k", "n")).values)
            r["gap"].append(gap)
            r["dQR"].append(dQR)
            r["ds"].append((ds, sim_a))
            g = gap[idx]  # (B, S, A)
            r["G"].append(np.nanmax(np.abs(np.nanmean(g, axis=1)), axis=1))
            e = (sim_m.eg.values - ds.eg_ode.values[None])[:, ds.alpha.values > 0][idx]
            r["E"].append(np.nanmax(np.abs(np.nanmean(e, axis=1)), axis=1))
            r["Erms"].append(np.sqrt(np.nanmean(e * e, axis=(1, 2))))
            gm = np.nanmean(gap, axis=0)
            i = int(np.nanargmax(np.abs(gm)))
            lines.append(
                f"{case:8s} N={N:5d} S={S}  G={_fmt_pm(r['G'][-1][0], np.std(r['G'][-1][1:]))}"
                f" (at alpha={ds.alpha.values[i]:.3g}, seed sd of gap there "
                f"{np.nanstd(gap[:, i], ddof=1):.1e})  "
                f"max|dQR|={np.nanmax(np.nanmean(dQR, 0)):.2e}  "
                f"E={_fmt_pm(r['E'][-1][0], np.std(r['E'][-1][1:]))}  "
                f"E_rms={_fmt_pm(r['Erms'][-1][0], np.std(r['Erms'][-1][1:]))}  "
                f"E_rms,ref({limit[raw['algorithm']['name']]}, {S_ref} seeds)="
                f"{_fmt_pm(r['Eref'][-1][0], np.std(r['Eref'][-1][1:]))}  "
                f"same initial weights={crn}  wall={r['wall'][-1]:.0f}s"
            )
        for key, expect in (("G", 1.0), ("E", 0.5), ("Erms", 0.5), ("Eref", 0.5)):
            vals, errs, a, a_err, c = bootstrap_fit(Ns, r[key])
            if key in ("Erms", "Eref"):
                # an rms over S seeds has a relative sampling error of at least ~1/sqrt(2S)
                # (Gaussian deviations); the bootstrap of a small sample can understate it
                rel = 1.0 / math.sqrt(2 * (S if key == "Erms" else S_ref))
                errs = np.maximum(errs, rel * vals)
                lnN = np.log(Ns.astype(float))
                a_err = max(a_err, rel / math.sqrt(np.sum((lnN - lnN.mean()) ** 2)))
            r[f"fit_{key}"] = (vals, errs, a, a_err, c)
            lines.append(f"{case:8s} fit {key}: a = {a:.2f} ± {a_err:.2f} (expected ~{expect}); "
                         f"N^{expect}*{key} at N={Ns[0]},{Ns[-1]}: "
                         f"{vals[0] * Ns[0] ** expect:.3g}, {vals[-1] * Ns[-1] ** expect:.3g}")
        res[case] = r
    lines.append(f"# total wall {time.perf_counter() - t_study:.0f}s")
    text = "\n".join(lines) + "\n"

    ncase = len(cases)
    fig, axes = plt.subplots(1, ncase + 1, figsize=(4.3 * (ncase + 1), 3.9))
    colours = plt.cm.viridis(np.linspace(0.05, 0.8, len(Ns)))
    for ax, (case, r) in zip(axes[:ncase], res.items(), strict=True):
        for gap, N, col, (ds, _) in zip(r["gap"], Ns, colours, r["ds"], strict=True):
            a = ds.alpha.values
            m = np.nanmean(gap, 0) * N
            s = np.nanstd(gap, 0, ddof=1) * N / math.sqrt(gap.shape[0])
            ax.plot(a, m, color=col, lw=1.3, label=f"$N={N}$")
            ax.fill_between(a, m - 2 * s, m + 2 * s, color=col, alpha=0.25, lw=0)
        at = r["ds"][0][0].attrs
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(
            f"{case.upper()} − {limit[at['algorithm.name']].upper()} (same seeds): "
            f"$s={at.get('algorithm.inner_steps')}$, "
            f"$\\eta_{{{{\\rm in}},J}}={at.get('algorithm.eta_in_J')}$", fontsize=8.5)
        ax.set_xlabel(r"$\alpha$ (tasks / $N$)")
        ax.set_ylabel(r"$N\,\langle\varepsilon_{\rm " + case.replace("-", "")
                      + r"}-\varepsilon_{\rm " + limit[case].replace("-", "") + r"}\rangle_s$")
        ax.set_xlim(0, a[-1])
        ax.legend(frameon=False, fontsize=7.5, title=r"mean $\pm$ 2 s.e.m.", title_fontsize=7)
    ax = axes[-1]
    case_cols = plt.cm.tab10(np.arange(ncase))
    lo, hi = [], []
    for (case, r), col in zip(res.items(), case_cols, strict=True):
        short = {"maml": "M", "fo-maml": "FM", "anil": "A", "fo-anil": "FA"}
        m_, a_ = short[case], short[limit[case]]
        series = (
            ("G", "o", "-", rf"$\max_\alpha|\langle\varepsilon_{{\rm {m_}}}"
                            rf"-\varepsilon_{{\rm {a_}}}\rangle_s|$ (same seeds)"),
            ("Erms", "s", None, rf"$\mathrm{{rms}}(\varepsilon_{{\rm {m_}}}"
                                rf"-\varepsilon^{{\rm ODE}}_{{\rm {a_}}})$, {S} seeds"),
            ("Eref", "^", "--", rf"$\mathrm{{rms}}(\varepsilon_{{\rm {a_}}}"
                                rf"-\varepsilon^{{\rm ODE}}_{{\rm {a_}}})$, {S_ref} seeds"),
        )
        for key, mk, ls, lab in series:
            vals, errs, a, a_err, c = r[f"fit_{key}"]
            off = {"G": 1.0, "Erms": 0.94, "Eref": 1.06}[key]
            ax.errorbar(Ns * off, vals, yerr=errs, marker=mk, ls="none", color=col, ms=4.5,
                        capsize=2.5, mfc=col if key == "G" else "white",
                        label=f"{lab}: {_gap_label(a, a_err)}")
            xx = np.geomspace(Ns[0], Ns[-1], 20)
            if ls is not None:
                ax.plot(xx, c * xx ** (-a), color=col, lw=0.9, ls=ls)
            lo.append(np.nanmin(vals))
            hi.append(np.nanmax(vals))
    _log_N_axis(ax, Ns)
    ax.set_ylabel(r"deviation in $\varepsilon_g$")
    ax.set_ylim(min(lo) / 3, max(hi) * 40)
    ax.legend(frameon=False, fontsize=6.2, loc="upper right",
              title="M: MAML, A: ANIL, FM/FA: first order", title_fontsize=6.2)
    fig.tight_layout()
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text(text)
    return [png, png.with_suffix(".pdf")]


# --------------------------------------------------------------------------- finite P
def finite_p(folder: Path) -> list[Path]:
    """FO-ANIL with P training samples per task against the P = ∞ ODE
    (``simulations/finite_p.toml``)."""
    from ..config import apply_overrides, load_config
    from ..plotting import plt, savefig
    from .compare import compare
    from .runner import simulate

    spec = read_study("finite_p")
    study, base = spec["study"], spec["base"]
    folder = Path(folder)
    N, S = int(study["N"]), int(study["seeds"])
    nboot = int(study.get("bootstrap", 400))
    rng = np.random.default_rng(int(study.get("bootstrap_seed", 0)))
    idx = _resamples(S, nboot, rng)
    tail = int(study.get("final_points", 1))
    pmin = float(study.get("fit_P_min", 0))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    Ps = list(study["P"])
    colours = plt.cm.plasma(np.linspace(0.0, 0.8, len(Ps)))
    finals: dict[Any, np.ndarray] = {}
    repr_finals: dict[Any, np.ndarray] = {}
    walls = {}
    t_study = time.perf_counter()
    ode_final = math.nan
    last = lambda da: da.isel(alpha=slice(-tail, None)).mean("alpha").values[idx].mean(1)
    for P, col in zip(Ps, colours, strict=True):
        raw = apply_overrides(base, {"algorithm.train_size": P})
        t0 = time.perf_counter()
        sim = simulate(load_config(raw), N=N, seeds=S, device="auto", progress=False)
        ds = compare(raw, sim=sim)
        walls[P] = time.perf_counter() - t0
        d = ds.isel(alpha=np.nonzero(ds.alpha.values > 0)[0])
        m, s = d.eg_sim.mean("seed").values, d.eg_sim.std("seed").values
        lab = f"$P={P}$" if P != "inf" else r"$P=\infty$"
        ax1.plot(d.alpha, m, color=col, lw=1.3, label=lab)
        ax1.fill_between(d.alpha, np.clip(m - s, 1e-9, None), m + s, color=col, alpha=0.2, lw=0)
        # final error of each seed: mean over the last `tail` save points (less test noise)
        finals[P] = last(ds.eg_sim)
        # the same trained overlaps, head adapted on the population loss (P = inf at test)
        repr_finals[P] = last(sim.eg_closed_inf) if "eg_closed_inf" in sim else finals[P]
        ode_final = float(ds.eg_ode.isel(alpha=slice(-tail, None)).mean("alpha"))
    ax1.plot(d.alpha, d.eg_ode, "k--", lw=1.2, label=r"ODE, $P=\infty$")
    ax1.set_yscale("log")
    ax1.set_xlim(0, float(d.alpha[-1]))
    ax1.set_xlabel(r"$\alpha$ (tasks / $N$)")
    ax1.set_ylabel(r"$\varepsilon_g$ after adaptation on $P$ samples")
    ax1.legend(frameon=False, fontsize=7.5, ncol=2)
    base_sim = finals["inf"]
    fin = [p for p in Ps if p != "inf"]
    x = np.array(fin, float)
    big = x >= pmin
    series = {
        "total": [finals[p] - base_sim for p in fin],  # bootstrap-paired resamples
        "adapt": [finals[p] - repr_finals[p] for p in fin],
        "repr": [repr_finals[p] - base_sim for p in fin],
        "ode": [finals[p] - ode_final for p in fin],
    }
    fits = {k: bootstrap_fit(x, v) for k, v in series.items()}
    fits_big = {k: bootstrap_fit(x[big], [v[i] for i in np.nonzero(big)[0]])
                for k, v in series.items()}
    lines = [
        f"# finite-p: FO-ANIL, N = {N}, {S} seeds; eps_g of the head adapted on P sampled fields"
        f" (final = mean over the last {tail} save points, alpha in "
        f"[{float(ds.alpha[-tail]):g}, {float(ds.alpha[-1]):g}]);",
        f"# +- = bootstrap sd over seeds ({nboot} resamples). total excess = eps(P) - "
        "eps_sim(P=inf)"
        " (same N); split into",
        "#   adapt = eps(P) - eps_P=inf-head(P)  (test-time head adapted on P samples instead of"
        " the population, same trained overlaps)",
        "#   repr  = eps_P=inf-head(P) - eps_sim(P=inf)  (the representation learned with a"
        " P-sample inner loop)",
        "# fits: excess ~ c P^-b over all P and over P >= " f"{pmin:g}",
        f"P=inf  final eps sim = {_fmt_pm(base_sim[0], np.std(base_sim[1:], ddof=1))}  "
        f"ODE(P=inf) = {ode_final:.4e}  wall={walls['inf']:.0f}s",
    ]
    for i, p in enumerate(fin):
        cell = "  ".join(f"{k}={_fmt_pm(fits[k][0][i], fits[k][1][i])}"
                         for k in ("total", "adapt", "repr", "ode"))
        lines.append(f"P={p!s:>4}  final eps sim = "
                     f"{_fmt_pm(finals[p][0], np.std(finals[p][1:], ddof=1))}  excess: {cell}  "
                     f"wall={walls[p]:.0f}s")
    for k, name in (("total", "total excess over sim P=inf"), ("adapt", "adapt part"),
                    ("repr", "repr part"), ("ode", "excess over ODE P=inf")):
        f_all, f_big = fits[k], fits_big[k]
        lines.append(f"fit {name:28s}: all P: b = {f_all[2]:.2f} ± {f_all[3]:.2f};  "
                     f"P >= {pmin:g}: b = {f_big[2]:.2f} ± {f_big[3]:.2f}")
    lines.append(f"# total wall {time.perf_counter() - t_study:.0f}s")
    style = {"total": ("o", "tab:red", "-", r"total $\varepsilon(P)-\varepsilon(\infty)$"),
             "adapt": ("s", "tab:blue", "--", r"test-time adaptation on $P$ samples"),
             "repr": ("^", "tab:green", ":", r"representation learned at $P$")}
    xx = np.geomspace(x[big].min(), x.max(), 20)
    for k, (mk, col, ls, lab) in style.items():
        vals, errs = fits[k][0], fits[k][1]
        ok = vals > 0
        _, _, b, b_err, c = fits_big[k]
        ax2.errorbar(x[ok], vals[ok], yerr=errs[ok], marker=mk, ls="none", color=col,
                     capsize=2.5, ms=4.5, mfc=col if k == "total" else "white",
                     label=f"{lab}: {_gap_label(b, b_err, 'P')}")
        if np.isfinite(b):
            ax2.plot(xx, c * xx ** (-b), color=col, lw=0.9, ls=ls)
    ax2.plot(xx, fits_big["total"][4] * xx ** -1.0 * (xx[0] ** (1.0 - fits_big["total"][2])),
             color="k", lw=0.8, ls=(0, (1, 2)), label=r"$\propto P^{-1}$")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xticks(sorted(x), [str(int(p)) for p in sorted(x)])
    ax2.minorticks_off()
    ax2.set_xlabel("training samples per task $P$")
    ax2.set_ylabel(r"excess final error $\Delta\varepsilon_g(P)$")
    ax2.legend(frameon=False, fontsize=7, loc="lower left",
               title=rf"fits over $P\geq{pmin:g}$", title_fontsize=7)
    a = base.get("algorithm", {})
    fig.suptitle(f"FO-ANIL with $P$ training samples per task: $N={N}$, {S} seeds, "
                 f"$\\eta_J={a.get('eta_J')}$, $\\eta_w={a.get('eta_w')}$", fontsize=9.5)
    fig.tight_layout()
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text("\n".join(lines) + "\n")
    return [png, png.with_suffix(".pdf")]


STUDIES: dict[str, Callable[[Path], list[Path]]] = {
    "finite-size": finite_size,
    "maml-limit": maml_limit,
    "finite-p": finite_p,
}
