"""The linear-model studies of the figure gallery (``teacherstudent reproduce linear-…``).

Every study is declared by a TOML file ``simulations/linear/<name>.toml`` at the repository
root (the same convention as the ODE studies): a ``[study]`` table (figure name, description,
``[study.quick]`` overrides for the quick mode), a base ``[linear]`` configuration and
``[variants.<label>]`` tables of overrides — one :func:`teacherstudent.linear.run` per variant —
or, for the 1-D study, a ``[depth1d]`` table.  Each study writes ``<name>.png`` and
``<name>.pdf`` into the given folder and keeps the numbers it quotes in :data:`SUMMARIES`.

Quick mode (``reproduce --quick`` or ``TEACHERSTUDENT_QUICK=1``): the ``[study.quick]``
overrides (few rounds, 2 seeds), for tests.

Registry signature: ``f(out_dir: Path) -> list[Path]``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError, read_toml
from .plotting import COLORS, YLABELS, plot_metric

__all__ = [
    "STUDIES",
    "SUMMARIES",
    "simulations_dir",
    "read_study",
    "is_quick",
    "run_variants",
    "tail_rate",
]


# --------------------------------------------------------------------------- inputs
def simulations_dir() -> Path:
    """``simulations/linear/`` of the repository (found from this file)."""
    d = Path(__file__).resolve().parents[2] / "simulations" / "linear"
    if not d.is_dir():
        raise ConfigError(
            f"the linear study definitions are not here: {d} does not exist (run from a "
            "checkout of the repository)"
        )
    return d


def read_study(name: str) -> dict[str, Any]:
    return read_toml(simulations_dir() / f"{name}.toml", "study file")


def is_quick() -> bool:
    return os.environ.get("TEACHERSTUDENT_QUICK", "") not in ("", "0")


def variant_configs(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{label: {"linear": base | variant | quick}}`` of a study file."""
    quick = spec["study"].get("quick", {}) if is_quick() else {}
    variants = spec.get("variants") or {"base": {}}
    return {
        lab: {"linear": {**spec.get("linear", {}), **over, **quick}}
        for lab, over in variants.items()
    }


def run_variants(spec: dict[str, Any]):
    """Run every variant of a study: ``{label: Dataset}``."""
    from . import run

    return {lab: run(cfg) for lab, cfg in variant_configs(spec).items()}


# --------------------------------------------------------------------------- helpers
def tail_rate(dist: np.ndarray, rounds: np.ndarray, lo: float, hi: float) -> float:
    """Per-round contraction ``1 − ρ`` of ``dist_t ∝ ρ^t`` fitted where ``lo < dist < hi``."""
    m = np.isfinite(dist) & (dist > lo) & (dist < hi)
    if m.sum() < 5:
        return float("nan")
    slope = np.polyfit(rounds[m], np.log(dist[m]), 1)[0]
    return float(1.0 - np.exp(slope))


def _first_below(dist: np.ndarray, rounds: np.ndarray, level: float) -> float:
    idx = np.flatnonzero(dist < level)
    return float(rounds[idx[0]]) if idx.size else float("nan")


def _figure(ncols: int, width: float = 4.6, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.labelsize": 9.5, "legend.fontsize": 7.5,
                         "axes.titlesize": 9.5, "axes.spines.top": False,
                         "axes.spines.right": False})
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height))
    return fig, np.atleast_1d(axes)


#: The numbers behind the last figure of each study (also logged as JSON at DEBUG level).
SUMMARIES: dict[str, dict[str, Any]] = {}


def _finish(fig, out: Path, name: str, summary: dict[str, Any]) -> list[Path]:
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=160)
    fig.savefig(paths[1])
    plt.close(fig)
    SUMMARIES[name] = json.loads(json.dumps(summary, default=_json))
    return paths


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(type(v).__name__)


def _log_axes(ax, ylabel: str, title: str | None = None) -> None:
    ax.set_yscale("log")
    ax.set_xlabel("round $t$")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="major", lw=0.4)
    if title:
        ax.set_title(title)


def _panel_letter(ax, letter: str) -> None:
    ax.text(-0.14, 1.03, f"({letter})", transform=ax.transAxes, fontweight="bold")


def _settings(ds, beta: bool = True) -> str:
    a = ds.attrs
    out = (f"$d={a['linear.d']}$, $k={a['linear.k']}$, $n={a['linear.n_tasks']}$, "
           f"$\\alpha={a['linear.alpha']}$")
    return out + (f", $\\beta={a['linear.beta']}$" if beta else "")


def _final(ds, alg: str, var: str = "dist") -> list[float]:
    return [float(x) for x in ds[var].sel(algorithm=alg).isel(round=-1).values]


def _nanmedian(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.median(x[np.isfinite(x)])) if np.isfinite(x).any() else float("nan")


# --------------------------------------------------------------------------- studies
def linear_algorithms(out: Path) -> list[Path]:
    """linear-algorithms: dist(B_t, B_*) vs round for every algorithm; ARM's invariant bound."""
    from .population import arm_dist_bound
    from .tasks import TaskLaw, initial_state

    name = "linear-algorithms"
    spec = read_study(name)
    runs = run_variants(spec)
    fresh, pool = runs["fresh"], runs["pool"]
    fig, ax = _figure(3)
    plot_metric(ax[0], fresh, "dist")
    _log_axes(ax[0], YLABELS["dist"], "fresh tasks, random $B_0$ (median; band: seed range)")
    ax[0].set_ylim(1e-16, 3)
    ax[0].legend(ncol=2, loc="lower left", frameon=False)
    plot_metric(ax[1], fresh, "post_error")
    _log_axes(ax[1], r"post-adaptation excess risk $\mathcal{E}_t$ (head steps)",
              _settings(fresh) + rf", $\tau={fresh.attrs['linear.tau']}$")
    ax[1].set_ylim(1e-33, 1e3)
    # (c) fixed pool: ARM / D-SGD versus the bound of the invariant subspace
    cfg = variant_configs(spec)["pool"]
    from .config import load_config

    p = load_config(cfg)["linear"]
    st = initial_state(p, TaskLaw.from_config(p))
    bound = arm_dist_bound(st.B0, st.B_star, st.pool.mean(axis=1))
    for alg, ls in (("arm", "-"), ("dsgd", "--")):
        plot_metric(ax[2], pool, "dist", [alg], seeds="lines", linestyle=ls)
    plot_metric(ax[2], pool, "dist", ["anil"])
    for b in bound:
        ax[2].axhline(b, color="k", lw=0.7, ls=":")
    ax[2].plot([], [], "k:", lw=0.7, label=r"bound $\|(I-P_V)B_*\|_2$ per seed")
    _log_axes(ax[2], YLABELS["dist"], f"fixed pool of {p['task_pool']} tasks, "
              rf"$\bar\theta={p['head_mean']}\cdot\mathbf{{1}}$, near $B_0$")
    ax[2].set_ylim(1e-16, 3)
    ax[2].legend(loc="lower left", frameon=False)
    inset = ax[2].inset_axes([0.5, 0.5, 0.47, 0.36])
    for alg, ls in (("arm", "-"), ("dsgd", "--")):
        for row in pool.dist.sel(algorithm=alg).values:
            inset.plot(pool["round"].values, row, color=COLORS[alg], lw=0.8, ls=ls)
    for b in bound:
        inset.axhline(b, color="k", lw=0.7, ls=":")
    inset.set_xscale("log")
    inset.set_xlim(1, pool["round"].values[-1])
    inset.set_title("ARM, D-SGD (linear scale)", fontsize=7)
    inset.tick_params(labelsize=6)
    for a, letter in zip(ax, "abc", strict=True):
        _panel_letter(a, letter)
    t = fresh["round"].values
    summary = {
        "fresh": {
            alg: {
                "final_dist_median": _nanmedian(_final(fresh, alg)),
                "final_dist": _final(fresh, alg),
                "final_post_error_median": _nanmedian(_final(fresh, alg, "post_error")),
                "rounds_to_1e-6": [_first_below(row, t, 1e-6)
                                   for row in fresh.dist.sel(algorithm=alg).values],
                "diverged_round": fresh.diverged_round.sel(algorithm=alg).values.tolist(),
            }
            for alg in fresh.algorithm.values
        },
        "pool": {
            "bound": bound.tolist(),
            "min_dist_arm": pool.dist.sel(algorithm="arm").min("round").values.tolist(),
            "min_dist_dsgd": pool.dist.sel(algorithm="dsgd").min("round").values.tolist(),
            "final_dist_anil": _final(pool, "anil"),
        },
    }
    return _finish(fig, out, name, summary)


def linear_mu_sweep(out: Path) -> list[Path]:
    """linear-mu-sweep: task diversity μ sets ANIL's rate 1 − c·αβμ_*², c = 1."""
    import matplotlib.pyplot as plt

    name = "linear-mu-sweep"
    spec = read_study(name)
    lo, hi = spec["study"].get("fit_window", [1e-9, 1e-3])
    runs = run_variants(spec)
    fresh = {k: v for k, v in runs.items() if not k.startswith("pool")}
    pooled = {k: v for k, v in runs.items() if k.startswith("pool")}
    mus = sorted({float(ds.attrs["linear.mu"]) for ds in fresh.values()}, reverse=True)
    cmap = plt.get_cmap("viridis")
    colour = {mu: cmap(0.9 * i / max(1, len(mus) - 1)) for i, mu in enumerate(mus)}
    fig, ax = _figure(2, width=4.9)
    summary: dict[str, Any] = {"fit_window": [lo, hi], "fresh": {}, "pool": {}}
    xs, ys = {"anil": [], "fo-anil": [], "pool": []}, {"anil": [], "fo-anil": [], "pool": []}
    for ds in fresh.values():
        mu = float(ds.attrs["linear.mu"])
        ab = ds.attrs["linear.alpha"] * ds.attrs["linear.beta"]
        plot_metric(ax[0], ds, "dist", ["anil"], color=colour[mu], name=rf"$\mu={mu}$")
        plot_metric(ax[0], ds, "dist", ["fo-anil"], color=colour[mu], name="_", linestyle="--")
        for alg in ("anil", "fo-anil"):
            rates = [tail_rate(row, ds["round"].values, lo, hi)
                     for row in ds.dist.sel(algorithm=alg).values]
            xs[alg] += [ab * mu**2] * len(rates)
            ys[alg] += rates
            summary["fresh"][f"{alg} mu={mu}"] = {
                "rate": rates, "alpha_beta_mu2": ab * mu**2,
                "c": [r / (ab * mu**2) for r in rates],
            }
    for ds in pooled.values():
        mu = float(ds.attrs["linear.mu"])
        ab = ds.attrs["linear.alpha"] * ds.attrs["linear.beta"]
        rates = [tail_rate(row, ds["round"].values, lo, hi)
                 for row in ds.dist.sel(algorithm="anil").values]
        mu2 = ds.mu_star2.values
        xs["pool"] += list(ab * mu2)
        ys["pool"] += rates
        summary["pool"][f"anil mu={mu}"] = {
            "rate": rates, "alpha_beta_mu_star2": (ab * mu2).tolist(),
            "c": [r / (ab * m) for r, m in zip(rates, mu2, strict=True)],
        }
    _log_axes(ax[0], YLABELS["dist"], "ANIL (solid), FO-ANIL (dashed), fresh tasks")
    ax[0].set_ylim(1e-12, 3)
    ax[0].legend(frameon=False, loc="lower left")
    markers = {"anil": ("o", "ANIL, fresh tasks ($\\mu_*=\\mu$)"),
               "fo-anil": ("s", "FO-ANIL, fresh tasks"),
               "pool": ("^", r"ANIL, fixed pool ($\mu_*^2=\lambda_{\min}\langle\theta\theta^\top"
                             r"\rangle$)")}
    allx = [x for v in xs.values() for x in v]
    for key, (m, lab) in markers.items():
        ax[1].plot(xs[key], ys[key], m, mfc="none", ms=6, label=lab)
    if allx:
        grid = np.geomspace(min(allx) / 1.5, max(allx) * 1.5, 10)
        ax[1].plot(grid, grid, "k-", lw=0.8, label=r"$1-\rho = \alpha\beta\mu_*^2$ ($c=1$)")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_title(_settings(ds))
    ax[1].set_xlabel(r"$\alpha\beta\mu_*^2$")
    ax[1].set_ylabel(r"measured rate $1-\rho$, $\mathrm{dist}_t\propto\rho^t$")
    ax[1].grid(alpha=0.3, which="major", lw=0.4)
    ax[1].legend(frameon=False, loc="upper left")
    for a, letter in zip(ax, "ab", strict=True):
        _panel_letter(a, letter)
    cs = [y / x for k in xs for x, y in zip(xs[k], ys[k], strict=True) if np.isfinite(y)]
    summary["c_all"] = {"mean": float(np.mean(cs)) if cs else None,
                        "min": float(np.min(cs)) if cs else None,
                        "max": float(np.max(cs)) if cs else None}
    return _finish(fig, out, name, summary)


def linear_maml_init(out: Path) -> list[Path]:
    """linear-maml-init: MAML / FO-MAML from a random versus a near-B_* initialisation."""
    name = "linear-maml-init"
    spec = read_study(name)
    runs = run_variants(spec)
    fig, ax = _figure(3)
    for a, ds in zip(ax[:2], runs.values(), strict=True):
        plot_metric(a, ds, "dist", seeds="band")
        init = ("random $B_0$" if ds.attrs["linear.init"] == "random"
                else rf"near $B_0$, $\mathrm{{dist}}_0={ds.attrs['linear.init_dist']}$")
        _log_axes(a, YLABELS["dist"], init + "; " + _settings(ds))
        a.set_ylim(1e-16, 3)
    ax[0].legend(frameon=False, loc="lower left")
    # (c) what MAML converges to from the random initialisation
    ds = runs["random"]
    maml = ds.sel(algorithm="maml")
    failed = [int(s) for s in ds.seed.values
              if float(maml.dist.sel(seed=s).isel(round=-1)) > 0.5]
    t = ds["round"].values
    alpha = ds.attrs["linear.alpha"]
    curves = [
        (alpha * maml.head_norm**2, r"$\alpha\|w_t\|^2$", "#1f77b4"),
        (maml.gram_max, r"$\lambda_{\max}(\alpha B_t^\top B_t)$", "#d62728"),
        (maml.post_error_full, r"$\mathcal{E}$ after MAML's inner step ($B$ and $w$)", "#2ca02c"),
        (maml.post_error, r"$\mathcal{E}$ after a head-only step", "#ff7f0e"),
        (maml.dist, r"$\mathrm{dist}(B_t,B_*)$", "k"),
    ]
    for values, lab, c in curves:
        if failed:
            v = values.sel(seed=failed).values
            ax[2].plot(t, np.median(v, axis=0), color=c, lw=1.0 if c == "k" else 1.8,
                       ls=":" if c == "k" else "-", label=lab, zorder=3 if c == "k" else 2)
            if len(failed) > 1:
                ax[2].fill_between(t, v.min(axis=0), v.max(axis=0), color=c, alpha=0.15, lw=0)
    _log_axes(ax[2], "median over those seeds",
              f"MAML, random $B_0$: the {len(failed)}/{ds.sizes['seed']} seeds with "
              r"final dist $>0.5$")
    ax[2].set_ylim(1e-6, 1e2)
    ax[2].legend(frameon=False, loc="lower left", fontsize=7)
    for a, letter in zip(ax, "abc", strict=True):
        _panel_letter(a, letter)
    summary = {
        lab: {
            alg: {"final_dist": _final(ds, alg),
                  "diverged_round": ds.diverged_round.sel(algorithm=alg).values.tolist()}
            for alg in ds.algorithm.values
        }
        for lab, ds in runs.items()
    }
    summary["maml_random_failed_seeds"] = {
        str(s): {
            "alpha_w2": float(alpha * maml.head_norm.sel(seed=s).isel(round=-1) ** 2),
            "gram_max": float(maml.gram_max.sel(seed=s).isel(round=-1)),
            "post_error_full": float(maml.post_error_full.sel(seed=s).isel(round=-1)),
            "post_error_head": float(maml.post_error.sel(seed=s).isel(round=-1)),
        }
        for s in failed
    }
    return _finish(fig, out, name, summary)


def linear_fomaml_head_mean(out: Path) -> list[Path]:
    """linear-fomaml-head-mean: FO-MAML with a non-zero head mean θ̄ (near initialisation)."""
    import matplotlib.pyplot as plt

    name = "linear-fomaml-head-mean"
    spec = read_study(name)
    runs = run_variants(spec)
    vs = [float(ds.attrs["linear.head_mean"]) for ds in runs.values()]
    cmap = plt.get_cmap("plasma")
    colour = {v: cmap(0.85 * i / max(1, len(vs) - 1)) for i, v in enumerate(vs)}
    fig, ax = _figure(3)
    k = next(iter(runs.values())).attrs["linear.k"]
    for ds in runs.values():
        v = float(ds.attrs["linear.head_mean"])
        lab = rf"$\|\bar\theta\|={v * np.sqrt(k):.2g}$"
        plot_metric(ax[0], ds, "dist", ["fo-maml"], color=colour[v], name=lab)
        plot_metric(ax[1], ds, "head_norm", ["fo-maml"], color=colour[v], name=lab)
    _log_axes(ax[0], YLABELS["dist"], "FO-MAML, near $B_0$; " + _settings(ds))
    ax[0].set_ylim(1e-16, 3)
    ax[0].legend(frameon=False, loc="lower left")
    _log_axes(ax[1], YLABELS["head_norm"], r"FO-MAML head initialisation ($\times$: divergence)")
    ax[1].legend(frameon=False, loc="center right")
    last = list(runs.values())[-1]
    plot_metric(ax[2], last, "dist")
    v = float(last.attrs["linear.head_mean"])
    _log_axes(ax[2], YLABELS["dist"], rf"all algorithms at $\|\bar\theta\|={v * np.sqrt(k):.2g}$")
    ax[2].set_ylim(1e-16, 3)
    ax[2].legend(frameon=False, loc="lower left")
    for a, letter in zip(ax, "abc", strict=True):
        _panel_letter(a, letter)
    summary = {
        f"head_mean={float(ds.attrs['linear.head_mean'])}": {
            alg: {"final_dist": _final(ds, alg),
                  "diverged_round": ds.diverged_round.sel(algorithm=alg).values.tolist(),
                  "min_dist": ds.dist.sel(algorithm=alg).min("round").values.tolist()}
            for alg in ds.algorithm.values
        }
        for ds in runs.values()
    }
    return _finish(fig, out, name, summary)


def linear_fedavg_tau(out: Path) -> list[Path]:
    """linear-fedavg-tau: FedAvg with τ ∈ {1, 2, 5} local steps (τ = 1 is D-SGD)."""
    name = "linear-fedavg-tau"
    spec = read_study(name)
    runs = run_variants(spec)
    colours = {1: COLORS["dsgd"], 2: "#2ca02c", 5: "#1f77b4"}
    fig, ax = _figure(2, width=4.9)
    summary: dict[str, Any] = {}
    for lab, ds in runs.items():
        tau = int(ds.attrs["linear.tau"])
        a = ax[1] if ds.attrs["linear.task_pool"] > 0 else ax[0]
        name_ = rf"FedAvg $\tau={tau}$" + (" (= D-SGD)" if tau == 1 else "")
        plot_metric(a, ds, "dist", ["fedavg"], color=colours.get(tau), name=name_)
        t = ds["round"].values
        summary[lab] = {"final_dist": _final(ds, "fedavg"),
                        "rounds_to_1e-6": [_first_below(r, t, 1e-6)
                                           for r in ds.dist.sel(algorithm="fedavg").values]}
    _log_axes(ax[0], YLABELS["dist"], "fresh tasks; " + _settings(ds, beta=False))
    _log_axes(ax[1], YLABELS["dist"], f"fixed pool of {ds.attrs['linear.n_tasks']} tasks")
    for a, letter in zip(ax, "ab", strict=True):
        a.set_ylim(1e-16, 3)
        a.legend(frameon=False, loc="lower left")
        _panel_letter(a, letter)
    return _finish(fig, out, name, summary)


def linear_depth1d(out: Path) -> list[Path]:
    """linear-depth1d: shallow vs deep 1-D chains, post-adaptation loss under MAML (seed 002)."""
    import matplotlib.pyplot as plt

    from . import depth1d as D

    name = "linear-depth1d"
    spec = read_study(name)
    p = {**spec["depth1d"], **(spec["study"].get("quick", {}) if is_quick() else {})}
    rng = np.random.default_rng(p["seed"])
    inits = {L: p["init_mean"] + p["init_std"] * rng.standard_normal(L) for L in p["depths"]}
    floor = D.shallow_floor(p["alpha"], p["slope_std"], p["noise"])
    fig, ax = _figure(2, width=4.9)
    cmap = plt.get_cmap("viridis")
    summary: dict[str, Any] = {"settings": p, "shallow_floor": floor, "panel_a": {}, "panel_b": {}}
    weights_of: dict[int, np.ndarray] = {}
    for i, L in enumerate(p["depths"]):
        losses, weights = D.meta_train(inits[L], p["alpha"], p["beta"], p["steps"],
                                       p["slope_mean"], p["slope_std"], p["noise"])
        excess = losses - 0.5 * p["noise"] ** 2
        ax[0].plot(np.arange(losses.size), np.where(excess > 0, excess, np.nan),
                   color=cmap(0.85 * i / max(1, len(p["depths"]) - 1)), lw=1.6,
                   label=("shallow, $L=1$" if L == 1 else f"chain of $L={L}$ layers"))
        weights_of[L] = weights
        summary["panel_a"][f"L={L}"] = {"final_loss": float(losses[-1]),
                                        "final_weights": weights[-1].tolist()}
    ax[0].axhline(floor - 0.5 * p["noise"] ** 2, color="k", ls="--", lw=0.8,
                  label=r"shallow optimum $\frac{1}{2}(1-\alpha)^2 s^2$")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("meta-training step")
    ax[0].set_ylabel(r"post-adaptation loss $\mathcal{L}_{\rm MAML}-\sigma^2/2$")
    ax[0].set_title(rf"$a\sim\mathcal{{N}}({p['slope_mean']},{p['slope_std']}^2)$, "
                    rf"$\alpha={p['alpha']}$, $\beta={p['beta']}$")
    ax[0].set_ylim(1e-20, 10)
    ax[0].grid(alpha=0.3, lw=0.4)
    ax[0].legend(frameon=False, loc="lower left")
    for i, L in enumerate(p["depths"]):
        ax[1].plot(np.arange(weights_of[L].shape[0]), D.effective_rate(weights_of[L], p["alpha"]),
                   color=cmap(0.85 * i / max(1, len(p["depths"]) - 1)), lw=1.6,
                   label=("shallow: $\\alpha$" if L == 1 else f"$L={L}$"))
        summary["panel_b"][f"L={L}"] = float(D.effective_rate(weights_of[L][-1:], p["alpha"])[0])
    ax[1].axhline(1.0, color="k", ls="--", lw=0.8,
                  label=r"$\alpha_{\rm eff}=1$: exact one-step adaptation")
    ax[1].set_xlabel("meta-training step")
    ax[1].set_ylabel(r"effective inner rate $\alpha_{\rm eff}=\alpha\sum_l\prod_{j\neq l}w_j^2$")
    ax[1].set_title("upper layers meta-learn the step size of the product")
    ax[1].grid(alpha=0.3, lw=0.4)
    ax[1].legend(frameon=False, loc="center right")
    for a, letter in zip(ax, "ab", strict=True):
        _panel_letter(a, letter)
    return _finish(fig, out, name, summary)


STUDIES: dict[str, Callable[[Path], list[Path]]] = {
    "linear-algorithms": linear_algorithms,
    "linear-mu-sweep": linear_mu_sweep,
    "linear-maml-init": linear_maml_init,
    "linear-fomaml-head-mean": linear_fomaml_head_mean,
    "linear-fedavg-tau": linear_fedavg_tau,
    "linear-depth1d": linear_depth1d,
}
