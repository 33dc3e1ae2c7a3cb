r"""Simulation studies behind the gallery (``teacherstudent reproduce``).

``STUDIES[name](folder) -> [figure paths]``; the parameters are declared in TOML files in
``simulations/`` at the repository root (``finite_size.toml``, ``maml_limit.toml``,
``finite_p.toml``).  Each study writes PNG + PDF figures and a plain-text table of its
numbers (``<figure>.txt``) into ``folder``.

- ``finite-size``: for every case, :func:`~teacherstudent.simulation.compare` at each N;
  ``max_α |⟨ε_sim⟩ − ε_ode|`` against N with a fitted power law ``∝ N^{-a}``
  (expected ``a ≈ 1/2``: the fluctuations of the overlaps are ``O(N^{-1/2})``).
- ``maml-limit``: MAML / FO-MAML simulations against the ANIL / FO-ANIL ODEs; the gap
  (same measure) shrinks with N.
- ``finite-p``: FO-ANIL with ``P`` training samples per task against the ``P = ∞`` ODE.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

__all__ = ["STUDIES", "SIMULATIONS", "finite_size", "maml_limit", "finite_p", "read_study"]

SIMULATIONS = Path(__file__).resolve().parents[2] / "simulations"


def read_study(name: str) -> dict[str, Any]:
    """The study table of ``simulations/<name>.toml``."""
    path = SIMULATIONS / f"{name}.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)


def _fit_exponent(N: np.ndarray, dev: np.ndarray) -> float:
    """Slope ``a`` of ``log dev = c − a log N`` (least squares)."""
    ok = np.isfinite(dev) & (dev > 0)
    if ok.sum() < 2:
        return math.nan
    return float(-np.polyfit(np.log(N[ok]), np.log(dev[ok]), 1)[0])


def _scaling_study(name: str, folder: Path, progress: bool = False) -> tuple[list[Path], str]:
    """Run every case at every N; figure: ε(α) per case and N, and the deviations vs N."""
    from ..plotting import plt, savefig
    from .compare import compare

    spec = read_study(name)
    study, cases = spec["study"], spec["cases"]
    Ns = np.asarray(study["N"], dtype=int)
    seeds = study["seeds"]
    seeds = [seeds] * len(Ns) if isinstance(seeds, int) else list(seeds)
    results: dict[str, list] = {}
    lines = [f"# {name}: max_alpha |<eps_sim>_seeds - eps_ode| (s.e.m. over seeds at that alpha)"]
    for case, raw in cases.items():
        results[case] = []
        for N, S in zip(Ns, seeds, strict=True):
            t0 = time.perf_counter()
            ds = compare(raw, N=int(N), seeds=int(S), device="auto", progress=progress)
            results[case].append(ds)
            a = ds.attrs
            lines.append(
                f"{case:10s} N={N:5d} seeds={S:3d}  max|d eps|={a['max_abs_deg']:.3e} "
                f"(sem {a['eg_sem_at_max']:.1e}, at alpha={a['alpha_at_max_deg']:.3g})  "
                f"max|d R~|={a['max_abs_dR']:.3e}  wall={time.perf_counter() - t0:.0f}s"
            )
        dev = np.array([d.attrs["max_abs_deg"] for d in results[case]])
        lines.append(f"{case:10s} fitted exponent a (dev ~ N^-a): {_fit_exponent(Ns, dev):.2f}")
    text = "\n".join(lines) + "\n"

    ncase = len(cases)
    fig, axes = plt.subplots(1, ncase + 1, figsize=(4.2 * (ncase + 1), 3.8))
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, len(Ns)))
    for ax, (case, dss) in zip(axes[:ncase], results.items(), strict=True):
        for ds, N, col in zip(dss, Ns, colours, strict=True):
            d = ds.isel(alpha=np.nonzero(ds.alpha.values > 0)[0])
            m, s = d.eg_sim.mean("seed").values, d.eg_sim.std("seed").values
            ax.plot(d.alpha, m, color=col, label=f"N = {N}")
            ax.fill_between(d.alpha, np.clip(m - s, 1e-9, None), m + s, color=col, alpha=0.2,
                            lw=0)
        ax.plot(d.alpha, d.eg_ode, "k--", lw=1.2, label=f"ODE ({ds.attrs['ode_algorithm']})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(case.upper())
        ax.set_xlabel(r"$\alpha$ (tasks / $N$)")
        ax.set_ylabel(r"$\varepsilon_g$ (mean $\pm$ sd over seeds)")
        ax.legend(frameon=False, fontsize=8)
    ax = axes[-1]
    for case, dss in results.items():
        dev = np.array([d.attrs["max_abs_deg"] for d in dss])
        sem = np.array([d.attrs["eg_sem_at_max"] for d in dss])
        ax.errorbar(Ns, dev, yerr=sem, marker="o", capsize=3,
                    label=f"{case}: $N^{{-{_fit_exponent(Ns, dev):.2f}}}$")
    ref = np.array([Ns[0], Ns[-1]], dtype=float)
    first = np.nanmax([dss[0].attrs["max_abs_deg"] for dss in results.values()])
    ax.plot(ref, first * np.sqrt(ref[0] / ref), "k:", label=r"$\propto N^{-1/2}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(Ns, [str(n) for n in Ns])
    ax.minorticks_off()
    ax.set_xlabel("$N$")
    ax.set_ylabel(r"$\max_\alpha |\langle\varepsilon_{\rm sim}\rangle - \varepsilon_{\rm ODE}|$")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text(text)
    return [png, png.with_suffix(".pdf")], text


def finite_size(folder: Path) -> list[Path]:
    """Agreement with the ODE tightening with N (``simulations/finite_size.toml``)."""
    return _scaling_study("finite_size", Path(folder))[0]


def maml_limit(folder: Path) -> list[Path]:
    """MAML / FO-MAML approaching the ANIL / FO-ANIL ODEs (``simulations/maml_limit.toml``)."""
    return _scaling_study("maml_limit", Path(folder))[0]


def finite_p(folder: Path) -> list[Path]:
    """FO-ANIL with P training samples per task against the P = ∞ ODE
    (``simulations/finite_p.toml``)."""
    from ..config import apply_overrides
    from ..plotting import plt, savefig
    from .compare import compare

    spec = read_study("finite_p")
    study, base = spec["study"], spec["base"]
    folder = Path(folder)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    colours = plt.cm.plasma(np.linspace(0.0, 0.8, len(study["P"])))
    lines = ["# finite-p: FO-ANIL, eg of the head adapted on P samples vs the P = inf ODE"]
    finals = []
    for P, col in zip(study["P"], colours, strict=True):
        raw = apply_overrides(base, {"algorithm.train_size": P})
        ds = compare(raw, N=int(study["N"]), seeds=int(study["seeds"]), device="auto")
        d = ds.isel(alpha=np.nonzero(ds.alpha.values > 0)[0])
        m, s = d.eg_sim.mean("seed").values, d.eg_sim.std("seed").values
        ax1.plot(d.alpha, m, color=col, label=f"P = {P}")
        ax1.fill_between(d.alpha, np.clip(m - s, 1e-9, None), m + s, color=col, alpha=0.2, lw=0)
        final = float(ds.eg_sim.isel(alpha=-1).mean("seed"))
        finals.append((P, final, float(ds.eg_ode.isel(alpha=-1))))
        lines.append(
            f"P={P!s:>4}  final eg sim={final:.4e}  ODE(P=inf)={finals[-1][2]:.4e}  "
            f"max_alpha |d eps|={ds.attrs['max_abs_deg']:.3e}"
        )
    ax1.plot(d.alpha, d.eg_ode, "k--", lw=1.2, label=r"ODE, $P=\infty$")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(r"$\alpha$ (tasks / $N$)")
    ax1.set_ylabel(r"$\varepsilon_g$ after adaptation")
    ax1.legend(frameon=False, fontsize=8)
    Ps = [p for p, _, _ in finals if p != "inf"]
    ax2.loglog(Ps, [f - o for p, f, o in finals if p != "inf"], "o-", label="simulation − ODE")
    ax2.set_xticks(Ps, [str(p) for p in Ps])
    ax2.minorticks_off()
    ax2.set_xlabel("training samples per task $P$")
    ax2.set_ylabel(r"final $\varepsilon_g^{\rm sim}(P) - \varepsilon_g^{\rm ODE}(\infty)$")
    ax2.legend(frameon=False, fontsize=8)
    fig.suptitle(f"FO-ANIL, N = {study['N']}, {study['seeds']} seeds", fontsize=10)
    fig.tight_layout()
    png = savefig(fig, folder / f"{study['figure']}.png", pdf=True)
    (folder / f"{study['figure']}.txt").write_text("\n".join(lines) + "\n")
    return [png, png.with_suffix(".pdf")]


STUDIES: dict[str, Callable[[Path], list[Path]]] = {
    "finite-size": finite_size,
    "maml-limit": maml_limit,
    "finite-p": finite_p,
}
