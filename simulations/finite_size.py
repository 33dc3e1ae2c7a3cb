r"""Agreement of the simulation with the ODE tightening like N^{-1/2} (finite size).

Declared in ``finite_size.toml`` beside this file: ``[study]`` (``[study.quick]`` in quick
mode) and one full configuration per ``[cases.NAME]``. Writes ``sim-finite-size.png`` and
``.pdf`` and the table of its numbers ``sim-finite-size.txt``.

The **same** number of seeds ``S`` at every N, so that the noise of a seed mean itself falls
like ``1/√(NS)``. Every seed is compared with the ODE integrated from *its own* measured
initial overlaps (:func:`teacherstudent.simulation.compare` with ``per_seed=True``; the
initial overlaps are set exactly by the simulation's initial weights, so this only guards
against rounding). With ``δε_s(α) = ε_sim,s(α) − ε_ode,s(α)``: ``D_max = max_α |⟨δε⟩_seeds|``
and ``D_rms = √⟨δε²⟩_{α, seeds}``, both expected ``∝ N^{-1/2}`` (the overlaps fluctuate by
``O(N^{-1/2})`` around the deterministic ``N → ∞`` path; the systematic bias is ``O(1/N)``).
For a case listed in ``study.windows`` the α axis is also split by the ODE's progress
``f(α) = (ε(0) − ε(α)) / (ε(0) − min ε)``: plateau ``f < f₁``, transition ``f₁ ≤ f < f₂``,
converged ``f ≥ f₂``. Through the plateau escape the escape time is set by fluctuations
amplified along the unstable direction, so deviations there can fall more slowly than
``N^{-1/2}``.

Error bars are bootstrap standard deviations over the seeds (``study.bootstrap`` resamples,
seeds resampled with replacement independently at each N); a fitted exponent ``a`` of
``D ∝ N^{-a}`` is the least-squares slope of ``log D`` against ``log N`` and its error the
bootstrap standard deviation of that slope
(:func:`teacherstudent.analysis.bootstrap_fit`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import bootstrap_fit
from teacherstudent.plotting import log_n_axis, plt, savefig
from teacherstudent.simulation import compare
from teacherstudent.studies import format_pm, power_label, read_study, seed_bootstrap, settings

WINDOWS = ("plateau", "transition", "converged")


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


def run(folder: Path) -> list[Path]:
    """Agreement of the simulation with the ODE tightening like N^{-1/2} (finite size)."""

    folder = Path(folder)
    spec = read_study(__file__)
    study, cases = settings(spec), spec["cases"]
    Ns = np.asarray(study["N"], dtype=int)
    S, nboot, _, idx = seed_bootstrap(study)
    f1, f2 = (float(v) for v in study.get("progress_windows", [0.1, 0.9]))
    windowed = set(study.get("windows", []))

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
                cells.append(f"{w}: D_max={format_pm(dmax[0], np.std(dmax[1:], ddof=1))} "
                             f"D_rms={format_pm(drms[0], np.std(drms[1:], ddof=1))}")
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
                            label=f"{lab}: {power_label(a, a_err)}")
                xx = np.geomspace(Ns[0], Ns[-1], 20)
                ax.plot(xx, c * xx ** (-a), color=col, lw=0.9,
                        ls="-" if w == "all" else "--")
                lo.append(np.nanmin(vals))
        top = max(np.nanmax(r["fits"][("all", key)][0]) for r in res.values())
        xx = np.array([Ns[0], Ns[-1]], float)
        ax.plot(xx, top * 1.6 * np.sqrt(Ns[0] / xx), "k:", lw=1, label=r"$\propto N^{-1/2}$")
        log_n_axis(ax, Ns)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=6.5, loc="lower left")
        ax.set_ylim(min(lo) / 4, top * 3)
    fig.tight_layout()
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text(text)
    return [png, png.with_suffix(".pdf")]
