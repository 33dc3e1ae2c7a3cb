"""linear-easy-hard: MAML vs ERM on easy and hard linear-regression tasks (closed forms + MC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.linear import easy_hard as E
from teacherstudent.linear.studies import run_study
from teacherstudent.studies import settings


def run(out: Path) -> list[Path]:
    """linear-easy-hard: MAML vs ERM on easy and hard linear-regression tasks."""
    return run_study(__file__, out, draw, 3)


def _mc_relative_gain(p, groups, m, rng) -> float:
    """The relative gain from simulated fine-tuning steps (paired tasks for both inits)."""
    errs = []
    for method in ("erm", "maml"):
        theta0 = E.optimum(groups, p["alpha"], m, method)
        g = E.fine_tune_monte_carlo(theta0, groups, p["alpha"], m, p["noise"], p["mc_tasks"],
                                    np.random.default_rng(rng))
        errs.append(float(groups.q @ g))
    return (errs[0] - errs[1]) / errs[0]


def draw(ax, runs: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """(a) relative gain vs the distance of the centres, (b) vs the fine-tuning samples m,
    (c) each group's error after fine-tuning from θ_ERM and θ_MAML vs the distance."""
    p = settings(spec, spec["easy_hard"])
    D, ms = np.array(p["distances"]), np.array(p["ms"], dtype=float)
    summary: dict[str, Any] = {"settings": p, "vs_distance": {}, "vs_m": {}, "monte_carlo": {}}
    shades = ("#08519c", "#4292c6", "#9ecae1")
    for r, colour in zip(p["spreads"], shades, strict=False):
        g = E.sweep(p, D, "distance", r_hard=r)
        ax[0].plot(D, 100 * g, "o-", color=colour, ms=3, label=rf"hard spread $r_h={r}$")
        summary["vs_distance"][f"r_hard={r}"] = g.tolist()
    ax[0].set_xlabel(r"distance of the centres $\|c_{\rm hard}-c_{\rm easy}\|$")
    ax[0].set_ylabel("gain of MAML over ERM after fine-tuning (%)")
    ax[0].set_title(rf"$m={p['m']}$ fine-tuning samples, $d={p['d']}$, "
                    rf"$\lambda_e={p['lam_easy']}$, $\lambda_h={p['lam_hard']}$")
    ax[0].legend(frameon=False, loc="upper left")
    cases = (("packed, far", p["r_hard"], p["distance"], "#08519c", "-"),
             ("spread, far", max(p["spreads"]), p["distance"], "#9ecae1", "-"),
             ("packed, near", p["r_hard"], 1.0, "#08519c", "--"))
    rng = np.random.SeedSequence(p["seed"])
    for name, r, dist, colour, ls in cases:
        g = E.sweep(p, ms, "m", r_hard=r, distance=dist)
        inf = E.gain(E.from_settings(p, distance=dist, r_hard=r), p["alpha"], np.inf,
                     p["noise"])["relative_gain"]
        ax[1].plot(ms, 100 * g, color=colour, ls=ls,
                   label=rf"{name}: $r_h={r}$, distance ${dist}$")
        ax[1].axhline(100 * inf, color=colour, ls=":", lw=0.7)
        summary["vs_m"][name] = {"m": ms.tolist(), "relative_gain": g.tolist(), "m=inf": inf}
        mc = [_mc_relative_gain(p, E.from_settings(p, distance=dist, r_hard=r), int(m),
                                rng.spawn(1)[0]) for m in p["mc_ms"]]
        ax[1].plot(p["mc_ms"], 100 * np.array(mc), "x", color=colour, ms=7, mew=1.5)
        summary["monte_carlo"][name] = {"m": p["mc_ms"], "relative_gain": mc}
    ax[1].plot([], [], "kx", label=f"Monte Carlo ({p['mc_tasks']} tasks a group)")
    ax[1].plot([], [], "k:", lw=0.7, label=r"$m=\infty$")
    ax[1].axvline(p["d"], color="grey", lw=0.7)
    ax[1].set_xscale("log")
    ax[1].set_xlabel("fine-tuning samples $m$ (grey: $m=d$)")
    ax[1].set_ylabel("gain of MAML over ERM after fine-tuning (%)")
    ax[1].set_title("the gain needs $m \\gg d$ samples")
    ax[1].legend(frameon=False, loc="upper left", fontsize=7)
    # (c) the two groups' errors after fine-tuning, from either initialisation
    for method, ls in (("erm", "--"), ("maml", "-")):
        errs = np.array([E.group_errors(E.optimum(E.from_settings(p, distance=x), p["alpha"],
                                                  p["m"], method),
                                        E.from_settings(p, distance=x), p["alpha"], p["m"],
                                        p["noise"]) for x in D])
        for j, (grp, colour) in enumerate((("easy", "#2ca02c"), ("hard", "#d62728"))):
            ax[2].plot(D, errs[:, j], color=colour, ls=ls,
                       label=f"{grp} tasks, from $\\theta_{{\\rm {method.upper()}}}$")
    ax[2].set_yscale("log")
    ax[2].set_xlabel(r"distance of the centres $\|c_{\rm hard}-c_{\rm easy}\|$")
    ax[2].set_ylabel("group excess risk after fine-tuning")
    ax[2].set_title(rf"$r_h={p['r_hard']}$, $m={p['m']}$: MAML moves towards the hard tasks")
    ax[2].legend(frameon=False, loc="upper left")
    for a in ax:
        a.grid(alpha=0.3, lw=0.4)
    return summary
