r"""MAML / FO-MAML approaching ANIL / FO-ANIL with common random numbers.

Declared in ``maml_limit.toml`` beside this file: ``[study]`` (``[study.quick]`` in quick
mode) and one MAML / FO-MAML configuration per ``[cases.NAME]``. Writes
``sim-maml-limit.png`` and ``.pdf`` and the table of its numbers ``sim-maml-limit.txt``.

**Common random numbers**: the same ``base_seed`` gives the same initial weights and the same
task sequence to both algorithms (the simulation's draw order does not depend on the
algorithm), so ``gap = ε_maml − ε_anil`` (same seed) isolates the inner J step, which moves
the overlaps by ``O(η_in_J/N)`` per task: ``gap ∝ 1/N``. Also reported:
``max_α |⟨ε_maml⟩ − ε_ode,anil|`` and its rms over α and seeds (``∝ N^{-1/2}``: the
fluctuations, which the same-seed difference cancels).

Error bars are bootstrap standard deviations over the seeds (``study.bootstrap`` resamples,
seeds resampled with replacement independently at each N); a fitted exponent ``a`` of
``D ∝ N^{-a}`` is the least-squares slope of ``log D`` against ``log N`` and its error the
bootstrap standard deviation of that slope
(:func:`teacherstudent.analysis.bootstrap_fit`).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import bootstrap_fit, bootstrap_indices
from teacherstudent.config import load_config
from teacherstudent.plotting import log_n_axis, plt, savefig
from teacherstudent.simulation import compare, simulate
from teacherstudent.studies import format_pm, power_label, read_study, seed_bootstrap, settings


def run(folder: Path) -> list[Path]:
    """MAML / FO-MAML approaching ANIL / FO-ANIL with common random numbers."""

    folder = Path(folder)
    spec = read_study(__file__)
    study, cases = settings(spec), spec["cases"]
    Ns = np.asarray(study["N"], dtype=int)
    S, nboot, rng, idx = seed_bootstrap(study)
    S_ref = max(S, int(study.get("reference_seeds", S)))
    idx_ref = bootstrap_indices(S_ref, nboot, rng)
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
                f"{case:8s} N={N:5d} S={S}  G={format_pm(r['G'][-1][0], np.std(r['G'][-1][1:]))}"
                f" (at alpha={ds.alpha.values[i]:.3g}, seed sd of gap there "
                f"{np.nanstd(gap[:, i], ddof=1):.1e})  "
                f"max|dQR|={np.nanmax(np.nanmean(dQR, 0)):.2e}  "
                f"E={format_pm(r['E'][-1][0], np.std(r['E'][-1][1:]))}  "
                f"E_rms={format_pm(r['Erms'][-1][0], np.std(r['Erms'][-1][1:]))}  "
                f"E_rms,ref({limit[raw['algorithm']['name']]}, {S_ref} seeds)="
                f"{format_pm(r['Eref'][-1][0], np.std(r['Eref'][-1][1:]))}  "
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
                        label=f"{lab}: {power_label(a, a_err)}")
            xx = np.geomspace(Ns[0], Ns[-1], 20)
            if ls is not None:
                ax.plot(xx, c * xx ** (-a), color=col, lw=0.9, ls=ls)
            lo.append(np.nanmin(vals))
            hi.append(np.nanmax(vals))
    log_n_axis(ax, Ns)
    ax.set_ylabel(r"deviation in $\varepsilon_g$")
    ax.set_ylim(min(lo) / 3, max(hi) * 40)
    ax.legend(frameon=False, fontsize=6.2, loc="upper right",
              title="M: MAML, A: ANIL, FM/FA: first order", title_fontsize=6.2)
    fig.tight_layout()
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text(text)
    return [png, png.with_suffix(".pdf")]
