r"""FO-ANIL with P training samples per task against the P = ∞ ODE (finite P).

Declared in ``finite_p.toml`` beside this file: ``[study]`` (``[study.quick]`` in quick mode)
and the ``[base]`` configuration. Writes ``sim-finite-p.png`` and ``.pdf`` and the table of
its numbers ``sim-finite-p.txt``.

The final ε against ``P`` and the fitted power ``b`` of the excess ``ε(P) − ε(∞) ∝ P^{-b}``
over the simulated ``P = ∞`` run at the same N (and the ``P = ∞`` ODE); error bars and the
error of ``b`` are bootstrap standard deviations over the seeds
(:func:`teacherstudent.analysis.bootstrap_fit`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import bootstrap_fit, bootstrap_indices
from teacherstudent.config import apply_overrides, load_config
from teacherstudent.plotting import plt, savefig
from teacherstudent.simulation import compare, simulate
from teacherstudent.studies import format_pm, power_label, read_study, settings


def run(folder: Path) -> list[Path]:
    """FO-ANIL with P training samples per task against the P = ∞ ODE (finite P)."""

    spec = read_study(__file__)
    study, base = settings(spec), spec["base"]
    folder = Path(folder)
    N, S = int(study["N"]), int(study["seeds"])
    nboot = int(study.get("bootstrap", 400))
    rng = np.random.default_rng(int(study.get("bootstrap_seed", 0)))
    idx = bootstrap_indices(S, nboot, rng)
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
        f"P=inf  final eps sim = {format_pm(base_sim[0], np.std(base_sim[1:], ddof=1))}  "
        f"ODE(P=inf) = {ode_final:.4e}  wall={walls['inf']:.0f}s",
    ]
    for i, p in enumerate(fin):
        cell = "  ".join(f"{k}={format_pm(fits[k][0][i], fits[k][1][i])}"
                         for k in ("total", "adapt", "repr", "ode"))
        lines.append(f"P={p!s:>4}  final eps sim = "
                     f"{format_pm(finals[p][0], np.std(finals[p][1:], ddof=1))}  excess: {cell}  "
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
                     label=f"{lab}: {power_label(b, b_err, 'P')}")
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
