"""The nonlinear ODE studies of the figure gallery (``teacherstudent reproduce NAME``).

Every study is declared by a TOML file in ``simulations/`` at the repository root:
``default_run.toml`` is a plain configuration (``teacherstudent ode`` runs it too); the others
are sweep specs — ``kind = "ode"``, a ``[base]`` configuration and a ``[grid]`` of dotted
keys — that ``teacherstudent sweep`` accepts as they are. What only the figures need (figure
names, the bisection brackets, the curves to draw, the reduced grids of the quick mode) is in
:data:`STUDY_SETTINGS`; the ε threshold is the base's ``run.eg_threshold``. The code here
runs the grids (a
:class:`concurrent.futures.ProcessPoolExecutor` with 2 workers; each integration takes
5–50 ms), analyses the runs with :mod:`teacherstudent.analysis`, and writes the figure (PNG
and PDF), a netCDF file of the grid results and a JSON summary of the numbers quoted in
``figures/README.md``.

Quick mode (``reproduce --quick`` or ``TEACHERSTUDENT_QUICK=1``): every grid is cut to a
few points, for tests.

Every study function has the registry signature ``f(out_dir: Path) -> list[Path]``.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from . import analysis as an
from .config import ConfigError, apply_overrides, load_config, read_toml

__all__ = [
    "STUDIES",
    "simulations_dir",
    "read_study",
    "is_quick",
    "run_points",
    "default_run",
    "lr_phase_diagram",
    "overparameterization",
    "task_variability",
    "inner_steps",
    "algorithms",
]

WORKERS = 2

#: Figure-only settings of each study (the physics is in the TOML files).
STUDY_SETTINGS: dict[str, dict[str, Any]] = {
    "lr_phase_diagram": {"figure": "fig2-lr-phase-diagram", "quick_points": 6},
    "overparameterization": {
        "figure": "fig3-overparameterization",
        "eta_J_bracket": [0.01, 10.0],
        "eta_w_bracket": [0.5, 200.0],
        "bisection_steps": 12,
        "heatmap_K": [4, 6, 12],
        "quick_K": [3, 5],
    },
    "task_variability": {
        "figure": "fig4-task-variability",
        "curves_gamma": [1.0, 0.99, 0.95, 0.9, 0.7, 0.5],
        "curves_head_cov": [0.1, 0.278, 1.0, 3.59, 10.0],
        "quick_gamma": [0.9, 1.0],
        "quick_head_cov": [0.5, 1.0],
    },
    "inner_steps": {"figure": "fig5-inner-steps", "eta_w_total": 9.0, "quick_steps": [1, 2]},
    "algorithms": {"figure": "fig6-algorithms"},
}


# --------------------------------------------------------------------------- inputs
def simulations_dir() -> Path:
    """``simulations/`` of the repository (found from this file); a clear error if missing."""
    d = Path(__file__).resolve().parents[1] / "simulations"
    if not d.is_dir():
        raise ConfigError(
            f"the study definitions are not here: {d} does not exist. `teacherstudent "
            "reproduce` needs a checkout of the repository (an installed wheel does not ship "
            "simulations/)"
        )
    return d


def read_study(filename: str) -> dict[str, Any]:
    """Read ``simulations/<filename>`` (TOML); adds ``"study"``: its :data:`STUDY_SETTINGS`
    and the threshold (the base's ``run.eg_threshold``, default 0.01)."""
    spec = read_toml(simulations_dir() / filename, "study file")
    st = dict(STUDY_SETTINGS.get(Path(filename).stem, {}))
    st["threshold"] = float(spec.get("base", {}).get("run", {}).get("eg_threshold", 0.01)
                            or 0.01)
    spec["study"] = st
    return spec


def is_quick() -> bool:
    """Quick (reduced) mode: environment variable ``TEACHERSTUDENT_QUICK`` set and not 0."""
    return os.environ.get("TEACHERSTUDENT_QUICK", "").strip() not in ("", "0", "false")


# --------------------------------------------------------------------------- running
def _one(job: tuple[dict[str, Any], dict[str, Any], bool]) -> dict[str, Any]:
    """Integrate ``base`` with ``overrides``; scalar summary (+ curves when ``keep``)."""
    from .ode import integrate

    base, overrides, keep = job
    t0 = time.perf_counter()
    try:
        cfg = load_config(apply_overrides(base, overrides))
        ds = integrate(cfg)
    except (ConfigError, FloatingPointError, ValueError) as exc:
        return {"overrides": overrides, "error": str(exc)}
    thr = float(cfg["run"]["eg_threshold"]) or None
    out: dict[str, Any] = {
        "overrides": overrides,
        "status": int(ds.attrs["status"]),
        "message": str(ds.attrs["message"]),
        **an.summarize(ds, thr, alpha_final=cfg["run"]["alpha_max"]),
        "seconds": time.perf_counter() - t0,
    }
    out["eg0"] = float(ds.eg.values[0])
    if keep:
        out["alpha"] = ds.alpha.values
        out["eg"] = ds.eg.values
        out["eg_opt"] = ds.eg_opt.values
        out["eg_pre"] = ds.eg_pre.values
        out["S"] = an.specialization_along(ds)
        out["R_final"] = ds.R.values[-1]
        out["Q_final"] = ds.Q.values[-1]
        out["w_final"] = ds.w.values[-1]
        out["T"] = ds.T.values
    return out


def _warm() -> None:
    """Compile / load the numba kernels in this process before forking workers."""
    from .ode import integrate

    integrate(None, **{"run.alpha_max": 1.0, "run.n_save": 3})


def _pool(n_jobs: int, workers: int):
    if workers <= 1 or n_jobs < 4:
        return None
    # fork inherits the loaded numba kernels; but once the simulation's parallel (OpenMP)
    # kernels have run in this process, forking is unsafe, so start fresh workers then.
    method = "forkserver" if "teacherstudent.simulation.fastcpu" in sys.modules else "fork"
    try:
        ctx = mp.get_context(method)
    except ValueError:  # not available on this platform
        ctx = None
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def _map(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = WORKERS) -> list[Any]:
    jobs = list(jobs)
    _warm()
    pool = _pool(len(jobs), workers)
    if pool is None:
        return [fn(j) for j in jobs]
    with pool:
        chunk = max(1, len(jobs) // (8 * workers))
        return list(pool.map(fn, jobs, chunksize=chunk))


def run_points(base: dict[str, Any], points: Iterable[dict[str, Any]], keep: bool = False,
               workers: int = WORKERS) -> list[dict[str, Any]]:
    """Run ``base`` with each dict of dotted overrides; results in the same order."""
    return _map(_one, [(base, dict(p), keep) for p in points], workers)


def _grid_points(grid: dict[str, list[Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    keys = list(grid)
    pts: list[dict[str, Any]] = [{}]
    for k in keys:
        pts = [{**p, k: v} for p in pts for v in grid[k]]
    return keys, pts


def _reshape(results: list[dict[str, Any]], shape: tuple[int, ...], key: str) -> np.ndarray:
    return np.array([r.get(key, math.nan) for r in results], dtype=float).reshape(shape)


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        if isinstance(v, (np.floating, float)):
            v = float(v)
            return None if not math.isfinite(v) else float(f"{v:.6g}")
        if isinstance(v, np.integer):
            return int(v)
        return v

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(data), indent=1) + "\n")
    return path


def _save_grid(path: Path, dims: dict[str, Sequence[Any]], fields: dict[str, np.ndarray],
               attrs: dict[str, Any]) -> Path:
    import xarray as xr

    from .dataset import save

    coords = {}
    for name, vals in dims.items():
        try:
            coords[name] = np.asarray([float(v) for v in vals])
        except (TypeError, ValueError):
            coords[name] = np.asarray([str(v) for v in vals])
    ds = xr.Dataset({k: (tuple(dims), v) for k, v in fields.items()}, coords=coords)
    ds.attrs.update({k: (json.dumps(v) if not isinstance(v, (int, float, str)) else v)
                     for k, v in attrs.items()})
    return save(ds, path)


def _figs(out_dir: Path, name: str) -> list[Path]:
    p = out_dir / f"{name}.png"
    return [p, p.with_suffix(".pdf")]


# --------------------------------------------------------------------------- 1. default run
def default_run(out_dir: Path) -> list[Path]:
    """Default K = M = 3 FO-ANIL run: plateau at ε = 1/6, symmetry breaking, specialization."""
    from .dataset import save
    from .ode import integrate
    from .plotting import plot_ode

    out_dir = Path(out_dir)
    cfg = load_config(simulations_dir() / "default_run.toml")
    ds = integrate(cfg)
    sm = an.summarize(ds, cfg["run"]["eg_threshold"])
    p = an.plateau(ds.alpha.values, ds.eg.values)
    a_th = sm["alpha_threshold"]
    marks = [0.5 * p.escape, p.escape, 0.5 * (p.escape + a_th), 1.5 * a_th,
             float(ds.alpha.values[-1])]
    name = "fig1-default-run"
    plot_ode(ds, out_dir / f"{name}.png", pdf=True, alphas=[m for m in marks if m == m],
             title="Default run: FO-ANIL, $K=M=3$, $\\eta_J=3$, $\\eta_w=9$, "
             "$\\bar u=0$, $\\Sigma_u=I$, $P=V=\\infty$")
    data = save(ds, out_dir / "data" / "default_run.nc")
    S = an.specialization_along(ds)
    alpha = ds.alpha.values
    half = an.crossing_time(alpha, -S, -0.5)  # first α with S ≥ 1/2
    al = an.align_units(ds.R.values[-1], ds.Q.values[-1], ds.T.values)
    # the symmetric phase: the teacher unit that all student units learn first
    i_mid = int(np.argmin(np.abs(alpha - p.escape)))
    R_mid = ds.R.values[i_mid]
    summary = {
        **sm,
        "alpha_S_half": half,
        "assignment_teacher_of": al.teacher_of,
        "signs": al.sign,
        "R_at_escape": R_mid,
        "alpha_at_escape_sample": float(alpha[i_mid]),
        "Q_final_diag": np.diagonal(ds.Q.values[-1]),
        "wall_time_s": float(ds.attrs["wall_time_s"]),
    }
    js = _write_json(out_dir / "data" / "default_run.json", summary)
    return [*_figs(out_dir, name), data, js]


# --------------------------------------------------------------------------- 2. lr phase diagram
def lr_phase_diagram(out_dir: Path) -> list[Path]:
    """α(ε ≤ 0.01) and plateau escape α* over (η_J, η_w) at V = ∞ and V = 10 (FO-ANIL, K=M=3)."""
    import matplotlib.pyplot as plt

    from .plotting import STYLE, plot_phase, savefig

    out_dir = Path(out_dir)
    spec = read_study("lr_phase_diagram.toml")
    st, grid = spec["study"], dict(spec["grid"])
    if is_quick():
        n = int(st.get("quick_points", 6))
        for k in ("algorithm.eta_J", "algorithm.eta_w"):
            v = grid[k]
            grid[k] = [v[int(round(i))] for i in np.linspace(0, len(v) - 1, n)]
        grid["algorithm.val_size"] = grid["algorithm.val_size"][:1]
    keys, pts = _grid_points(grid)
    shape = tuple(len(grid[k]) for k in keys)
    t0 = time.perf_counter()
    res = run_points(spec["base"], pts)
    wall = time.perf_counter() - t0
    A_th = _reshape(res, shape, "alpha_threshold")
    A_esc = _reshape(res, shape, "alpha_escape")
    F = _reshape(res, shape, "eg_final")
    eJ = np.asarray(grid["algorithm.eta_J"], float)
    ew = np.asarray(grid["algorithm.eta_w"], float)
    Vs = grid["algorithm.val_size"]
    thr = float(st.get("threshold", 0.01))
    name = st.get("figure", "fig2-lr-phase-diagram")
    j9 = int(np.argmin(np.abs(ew - 9)))  # the cut at the default inner rate
    with plt.rc_context(STYLE):
        ncol = 2 + (1 if len(Vs) > 1 else 0) + 1
        fig, axes = plt.subplots(1, ncol, figsize=(4.1 * ncol, 3.6))
        plot_phase(axes[0], eJ, ew, A_th[0].T, label=rf"$\alpha(\varepsilon\leq{thr:g})$",
                   contours=[10, 30, 100, 300])
        axes[0].set_title(r"(a) time to $\varepsilon_g\leq 0.01$, $V=\infty$", loc="left")
        plot_phase(axes[1], eJ, ew, A_esc[0].T, label=r"plateau escape $\alpha^*$",
                   contours=[1, 3, 10, 30, 100, 300], cmap="cividis")
        axes[1].set_title(r"(b) plateau escape $\alpha^*$, $V=\infty$", loc="left")
        ia = 2
        if len(Vs) > 1:
            plot_phase(axes[2], eJ, ew, A_th[1].T, label=rf"$\alpha(\varepsilon\leq{thr:g})$",
                       contours=[10, 30, 100, 300])
            axes[2].set_title(rf"(c) time to $\varepsilon_g\leq 0.01$, $V={Vs[1]}$", loc="left")
            ia = 3
        for ax in axes[:ia]:
            ax.set_xlabel(r"outer rate $\eta_J$ ($=\eta_0$)")
            ax.set_ylabel(r"inner head rate $\eta_w$")
            ax.axhline(ew[j9], color="w", lw=0.6, ls=":")
            ax.plot([3], [9], marker="*", color="w", ms=9, mec="k", mew=0.5)
        ax = axes[ia]
        for iv, V in enumerate(Vs):
            vl = r"\infty" if str(V) == "inf" else str(V)
            c = ["#0072B2", "#D55E00"][iv % 2]
            ax.loglog(eJ, A_th[iv, :, j9], "o-", ms=3.5 - iv, color=c,
                      label=rf"$\alpha(\varepsilon\leq{thr:g})$, $V={vl}$")
            ax.loglog(eJ, A_esc[iv, :, j9], "s--", ms=5 - 2 * iv, color=c, mfc="none",
                      label=rf"$\alpha^*$, $V={vl}$")
        fin = np.isfinite(A_th[0, :, j9])
        if fin.any():
            c = float(np.median((A_th[0, :, j9] * eJ)[fin]))
            ax.loglog(eJ, c / eJ, color="0.5", lw=0.8, ls=":", label=rf"${c:.3g}/\eta_J$")
        ax.axhline(450, color="0.3", lw=0.7)
        ax.set_xlabel(r"$\eta_J$")
        ax.set_ylabel(r"$\alpha$")
        ax.set_title(rf"(d) cut at $\eta_w={ew[j9]:.3g}$ (dotted line in a–c)", loc="left")
        ax.legend(frameon=False, fontsize=7)
        fig.suptitle("FO-ANIL, $K=M=3$: learning-rate phase diagram "
                     r"(grey: $\varepsilon_g>0.01$ at $\alpha_{\rm final}=450$ / no plateau escape;"
                     r" $\star$: default rates)",
                     y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = _save_grid(out_dir / "data" / "lr_phase_diagram.nc",
                      {"val_size": [float(v) if v != "inf" else math.inf for v in Vs],
                       "eta_J": eJ, "eta_w": ew},
                      {"alpha_threshold": A_th, "alpha_escape": A_esc, "eg_final": F},
                      {"threshold": thr})
    # numbers for the README
    summ: dict[str, Any] = {"wall_s": wall, "n_runs": len(pts)}
    for iv, V in enumerate(Vs):
        ok = np.isfinite(A_th[iv])
        tag = f"V={V}"
        summ[tag] = {
            "fraction_reached": float(ok.mean()),
            "min_eta_w_reaching_any_eta_J": float(ew[np.any(ok, axis=0)].min())
            if ok.any() else None,
            "fastest_alpha_threshold": float(np.nanmin(A_th[iv])) if ok.any() else None,
            "alpha_threshold_times_eta_J_at_eta_w_9": (A_th[iv, :, j9] * eJ).tolist(),
            "cut_eta_J": eJ.tolist(),
            "cut_alpha_threshold": A_th[iv, :, j9].tolist(),
            "cut_alpha_escape": A_esc[iv, :, j9].tolist(),
        }
        reach_J = eJ[np.isfinite(A_th[iv, :, j9])]
        summ[tag]["eta_J_range_reaching_at_eta_w_9"] = (
            [float(reach_J.min()), float(reach_J.max())] if reach_J.size else None)
        # minimal eta_w at eta_J closest to 3
        i3 = int(np.argmin(np.abs(eJ - 3)))
        reach_w = ew[np.isfinite(A_th[iv, i3, :])]
        summ[tag]["eta_w_range_reaching_at_eta_J_3"] = (
            [float(reach_w.min()), float(reach_w.max())] if reach_w.size else None)
        summ[tag]["eta_J_grid_point_near_3"] = float(eJ[i3])
    js = _write_json(out_dir / "data" / "lr_phase_diagram.json", summ)
    return [*_figs(out_dir, name), data, js]


# ------------------------------------------------------------------- 3. overparameterization
def _min_rate(job: tuple[dict[str, Any], str, dict[str, Any], list[float], int]) -> dict[str, Any]:
    """Smallest rate (key) reaching ε ≤ ε_th by α_max: bisection in log between a failing and a
    succeeding bracket end (success assumed monotone in the rate over the bracket)."""
    base, key, fixed, bracket, steps = job

    def ok(v: float) -> bool:
        r = _one((base, {**fixed, key: float(v)}, False))
        return math.isfinite(r.get("alpha_threshold", math.nan))

    lo, hi = float(bracket[0]), float(bracket[1])
    if ok(lo):
        return {"min": lo, "note": "bracket low end already reaches the threshold"}
    if not ok(hi):
        return {"min": math.nan, "note": "bracket high end does not reach the threshold"}
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return {"min": hi, "lo": lo, "note": ""}


def overparameterization(out_dir: Path) -> list[Path]:
    """K = 3…12 (M = 3): minimal η_J, η_w reaching ε ≤ 0.01 by α = 450; what extra units do."""
    import matplotlib.pyplot as plt

    from .plotting import ALPHA_LABEL, EG_LABEL, STYLE, heatmap, savefig, teacher_colour

    out_dir = Path(out_dir)
    spec = read_study("overparameterization.toml")
    st, base = spec["study"], spec["base"]
    Ks = [int(k) for k in (st["quick_K"] if is_quick() else spec["grid"]["model.K"])]
    steps = int(st.get("bisection_steps", 12)) if not is_quick() else 5
    M = int(base["model"]["M"])
    eta_J0 = float(base["algorithm"]["eta_J"])
    eta_w0 = float(base["algorithm"]["eta_w"])
    t0 = time.perf_counter()
    runs = run_points(base, [{"model.K": K} for K in Ks], keep=True)
    scaled = run_points(base, [{"model.K": K, "algorithm.eta_w": eta_w0 * K / M,
                                "algorithm.eta_J": eta_J0 * math.sqrt(K / M)} for K in Ks])
    scaled_w = run_points(base, [{"model.K": K, "algorithm.eta_w": eta_w0 * K / M} for K in Ks])
    jobs = []
    for K in Ks:
        jobs.append((base, "algorithm.eta_J", {"model.K": K}, st["eta_J_bracket"], steps))
        jobs.append((base, "algorithm.eta_w", {"model.K": K}, st["eta_w_bracket"], steps))
    mins = _map(_min_rate, jobs)
    wall = time.perf_counter() - t0
    minJ = np.array([mins[2 * i]["min"] for i in range(len(Ks))])
    minW = np.array([mins[2 * i + 1]["min"] for i in range(len(Ks))])

    roles = []
    for K, r in zip(Ks, runs, strict=True):
        ro = an.unit_roles(r["R_final"], r["Q_final"], r["T"])
        roles.append({
            "K": K,
            "sharing": ro["sharing"],
            "norm_assigned": ro["norm"][~ro["extra"]],
            "norm_extra": ro["norm"][ro["extra"]],
            "best_overlap_extra": ro["best_overlap"][ro["extra"]],
            "nearest_extra": ro["nearest"][ro["extra"]],
            "eg_final": r["eg_final"],
            "alpha_threshold": r["alpha_threshold"],
            "alpha_escape": r["alpha_escape"],
            "S_final": r["S_final"],
        })
    name = st.get("figure", "fig3-overparameterization")
    hK = [K for K in st.get("heatmap_K", []) if K in Ks] or Ks[-1:]
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(13, 7.6))
        gs = fig.add_gridspec(2, 1, height_ratios=[1, 1.05], hspace=0.38, top=0.92)
        top = gs[0].subgridspec(1, 3, wspace=0.32)
        bot = gs[1].subgridspec(1, len(hK) + 3, wspace=0.3,
                                width_ratios=[1] * len(hK) + [0.07, 0.5, 2.0])
        ax_a, ax_b, ax_c = (fig.add_subplot(top[0, i]) for i in range(3))
        cmap = plt.get_cmap("viridis")
        for i, (K, r) in enumerate(zip(Ks, runs, strict=True)):
            m = r["alpha"] > 0
            ax_a.loglog(r["alpha"][m], r["eg"][m], color=cmap(i / max(1, len(Ks) - 1)),
                        label=f"$K={K}$")
        ax_a.axhline(st.get("threshold", 0.01), color="0.4", lw=0.7, ls=":")
        ax_a.set_xlabel(ALPHA_LABEL)
        ax_a.set_ylabel(EG_LABEL)
        ax_a.set_title(r"(a) default rates $\eta_J=3$, $\eta_w=9$", loc="left")
        ax_a.legend(frameon=False, ncol=2, fontsize=7, loc="lower left")
        Ka = np.asarray(Ks, float)
        ax_b.plot(Ka, minW, "o-", color="#D55E00", label=r"min $\eta_w$ (at $\eta_J=3$)")
        ax_b.plot(Ka, minJ * 10, "s-", color="#0072B2",
                  label=r"min $\eta_J\times 10$ (at $\eta_w=9$)")
        if np.isfinite(minW[0]):
            ax_b.plot(Ka, minW[0] * Ka / Ks[0], color="#D55E00", lw=0.7, ls=":",
                      label=r"$\propto K$")
        if np.isfinite(minJ[0]):
            ax_b.plot(Ka, 10 * minJ[0] * Ka / Ks[0], color="#0072B2", lw=0.7, ls=":")
        ax_b.set_xlabel("student units $K$")
        ax_b.set_ylabel("minimal rate")
        ax_b.set_title(r"(b) minimal rates for $\varepsilon_g\leq0.01$ by $\alpha=450$",
                       loc="left")
        ax_b.legend(frameon=False, fontsize=7)
        ax_c.plot(Ka, [r["alpha_threshold"] for r in runs], "o-", color="k",
                  label=r"$\eta_J=3$, $\eta_w=9$")
        ax_c.plot(Ka, [r["alpha_threshold"] for r in scaled_w], "^-", color="#009E73",
                  label=r"$\eta_J=3$, $\eta_w=9K/M$")
        ax_c.plot(Ka, [r["alpha_threshold"] for r in scaled], "s-", color="#CC79A7",
                  label=r"$\eta_J=3\sqrt{K/M}$, $\eta_w=9K/M$")
        ax_c.set_yscale("log")
        ax_c.set_xlabel("student units $K$")
        ax_c.set_ylabel(r"$\alpha(\varepsilon_g\leq 0.01)$")
        ax_c.set_title("(c) time to threshold", loc="left")
        ax_c.legend(frameon=False, fontsize=7, loc="upper left")
        im = None
        for i, K in enumerate(hK):
            r = runs[Ks.index(K)]
            al = an.align_units(r["R_final"], r["Q_final"], r["T"])
            ax = fig.add_subplot(bot[0, i])
            labels = [f"{k + 1}" + ("*" if al.extra[k] else "") for k in al.order]
            im = heatmap(ax, al.aligned(), f"$K={K}$, $\\alpha=450$", labels)
            ax.set_aspect("auto")
            if i == 0:
                ax.set_ylabel("student unit $k$ (* extra)")
                ax.set_title("")
                ax.set_title(f"(d) $r_{{kn}}$, $K={K}$", loc="left")
        if im is not None:
            fig.colorbar(im, cax=fig.add_subplot(bot[0, len(hK)]),
                         label=r"$\sigma_k R_{kn}/\sqrt{Q_{kk}T_{nn}}$")
        ax_e = fig.add_subplot(bot[0, len(hK) + 2])
        for K, r in zip(Ks, runs, strict=True):
            al = an.align_units(r["R_final"], r["Q_final"], r["T"])
            norms = np.sqrt(np.diagonal(r["Q_final"]))
            for k in range(K):
                c = teacher_colour(al.colour_index[k])
                jitter = 0.12 * (al.colour_index[k] - 1)
                ax_e.plot(K + jitter, norms[k], "o" if not al.extra[k] else "x",
                          color=c, ms=4.5, mfc=c if not al.extra[k] else "none")
        ax_e.plot([], [], "o", color="0.3", label="assigned unit")
        ax_e.plot([], [], "x", color="0.3", label="extra unit")
        ax_e.set_xlabel("student units $K$")
        ax_e.set_ylabel(r"norm $\sqrt{Q_{kk}}$ at $\alpha=450$")
        ax_e.set_title("(e) unit norms (colour: nearest teacher unit)", loc="left")
        ax_e.legend(frameon=False, fontsize=7)
        fig.suptitle(f"Overparameterization: FO-ANIL, $M={M}$, readout $1/\\sqrt{{K}}$", y=0.99)
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = _save_grid(out_dir / "data" / "overparameterization.nc", {"K": Ks},
                      {"min_eta_J": minJ, "min_eta_w": minW,
                       "alpha_threshold": np.array([r["alpha_threshold"] for r in runs]),
                       "alpha_threshold_scaled": np.array([r["alpha_threshold"] for r in scaled]),
                       "eg_final": np.array([r["eg_final"] for r in runs])}, {})
    summ = {
        "wall_s": wall,
        "K": Ks,
        "min_eta_J_at_eta_w_9": minJ,
        "min_eta_w_at_eta_J_3": minW,
        "notes": [m["note"] for m in mins],
        "default_rates": roles,
        "scaled_eta_w": [{"K": K, "alpha_threshold": r["alpha_threshold"],
                          "eg_final": r["eg_final"]} for K, r in zip(Ks, scaled_w, strict=True)],
        "scaled_both": [{"K": K, "alpha_threshold": r["alpha_threshold"],
                         "eg_final": r["eg_final"]} for K, r in zip(Ks, scaled, strict=True)],
    }
    js = _write_json(out_dir / "data" / "overparameterization.json", summ)
    return [*_figs(out_dir, name), data, js]


# --------------------------------------------------------------------------- 4. task variability
def task_variability(out_dir: Path) -> list[Path]:
    """Final ε and plateau escape α* over the task variability γ and the head variance Σ_u."""
    import matplotlib.pyplot as plt

    from .plotting import ALPHA_LABEL, EG_LABEL, STYLE, plot_phase, savefig

    out_dir = Path(out_dir)
    spec = read_study("task_variability.toml")
    st, base = spec["study"], spec["base"]
    gam = [float(g) for g in (st["quick_gamma"] if is_quick() else spec["grid"]["tasks.gamma"])]
    cov = [float(c) for c in (st["quick_head_cov"] if is_quick()
                              else spec["grid"]["tasks.head_cov"])]
    t0 = time.perf_counter()
    res = run_points(base, [{"tasks.gamma": g, "tasks.head_cov": c} for g in gam for c in cov])
    cg = [g for g in st.get("curves_gamma", []) if not is_quick()] or gam
    cc = [c for c in st.get("curves_head_cov", []) if not is_quick()] or cov
    curves_g = run_points(base, [{"tasks.gamma": g} for g in cg], keep=True)
    curves_c = run_points(base, [{"tasks.head_cov": c} for c in cc], keep=True)
    wall = time.perf_counter() - t0
    shape = (len(gam), len(cov))
    F = _reshape(res, shape, "eg_final")
    E0 = _reshape(res, shape, "eg0")
    A = _reshape(res, shape, "alpha_escape")
    S = _reshape(res, shape, "S_final")
    name = st.get("figure", "fig4-task-variability")
    one_minus = 1.0 - np.asarray(gam)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 4, figsize=(17, 3.7))
        yv = np.arange(len(gam), dtype=float)  # γ as categories (the grid crowds near 1)
        floor = 1e-5
        plot_phase(axes[0], np.asarray(cov), yv, np.maximum(F / E0, floor),
                   label=r"final $\varepsilon_g/\varepsilon_g(0)$ (floored at $10^{-5}$)",
                   logy=False, cmap="magma")
        axes[0].set_title(r"(a) final error / initial error", loc="left")
        plot_phase(axes[1], np.asarray(cov), yv, A, label=r"plateau escape $\alpha^*$",
                   logy=False, cmap="cividis", nan_label="no escape")
        axes[1].set_title(r"(b) plateau escape $\alpha^*$ (grey: none by 450)", loc="left")
        for ax in axes[:2]:
            ax.set_yticks(yv, [f"{g:g}" for g in gam])
            ax.set_xlabel(r"head variance $\Sigma_u$ ($u\sim\mathcal{N}(0,\Sigma_u I)$)")
            ax.set_ylabel(r"task similarity $\gamma$")
        cmap = plt.get_cmap("plasma")
        for i, (g, r) in enumerate(zip(cg, curves_g, strict=True)):
            m = r["alpha"] > 0
            axes[2].loglog(r["alpha"][m], r["eg"][m], color=cmap(i / max(1, len(cg))),
                           label=rf"$\gamma={g:g}$")
        axes[2].set_title(r"(c) $\Sigma_u=1$", loc="left")
        for i, (c, r) in enumerate(zip(cc, curves_c, strict=True)):
            m = r["alpha"] > 0
            axes[3].loglog(r["alpha"][m], r["eg"][m] / r["eg0"],
                           color=plt.get_cmap("viridis")(i / max(1, len(cc) - 1)),
                           label=rf"$\Sigma_u={c:g}$")
        axes[3].set_title(r"(d) $\gamma=1$ (error relative to $\varepsilon_g(0)=\Sigma_u/6$)",
                          loc="left")
        axes[2].set_ylabel(EG_LABEL)
        axes[3].set_ylabel(EG_LABEL + r"$/\varepsilon_g(0)$")
        for ax in axes[2:]:
            ax.set_xlabel(ALPHA_LABEL)
            ax.legend(frameon=False, fontsize=7, loc="lower left")
        fig.suptitle("Task variability: FO-ANIL, $K=M=3$, $\\eta_J=3$, $\\eta_w=9$", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    data = _save_grid(out_dir / "data" / "task_variability.nc",
                      {"gamma": gam, "head_cov": cov},
                      {"eg_final": F, "eg_initial": E0, "alpha_escape": A, "S_final": S}, {})
    ic = cov.index(1.0) if 1.0 in cov else 0
    summ = {
        "wall_s": wall,
        "gamma": gam,
        "head_cov": cov,
        "at_head_cov_1": {"eg_final": F[:, ic], "alpha_escape": A[:, ic], "S_final": S[:, ic],
                          "one_minus_gamma": one_minus},
        "at_gamma_1": {"eg_final": F[gam.index(1.0)] if 1.0 in gam else None,
                       "alpha_escape": A[gam.index(1.0)] if 1.0 in gam else None,
                       "alpha_escape_times_head_cov": (A[gam.index(1.0)] * np.asarray(cov))
                       if 1.0 in gam else None},
        "curves_gamma": [{"gamma": g, "eg_final": r["eg_final"], "alpha_escape": r["alpha_escape"],
                          "S_final": r["S_final"]} for g, r in zip(cg, curves_g, strict=True)],
    }
    js = _write_json(out_dir / "data" / "task_variability.json", summ)
    return [*_figs(out_dir, name), data, js]


# --------------------------------------------------------------------------- 5. inner steps
def inner_steps(out_dir: Path) -> list[Path]:
    """Number of inner steps s at fixed η_w = 9 and at η_w = 9/s."""
    import matplotlib.pyplot as plt

    from .plotting import ALPHA_LABEL, EG_LABEL, STYLE, savefig

    out_dir = Path(out_dir)
    spec = read_study("inner_steps.toml")
    st, base = spec["study"], spec["base"]
    ss = [int(s) for s in (st["quick_steps"] if is_quick()
                           else spec["grid"]["algorithm.inner_steps"])]
    tot = float(st.get("eta_w_total", 9.0))
    t0 = time.perf_counter()
    fixed = run_points(base, [{"algorithm.inner_steps": s} for s in ss], keep=True)
    per = run_points(base, [{"algorithm.inner_steps": s, "algorithm.eta_w": tot / max(s, 1)}
                            for s in ss], keep=True)
    wall = time.perf_counter() - t0
    name = st.get("figure", "fig5-inner-steps")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.7))
        cmap = plt.get_cmap("viridis")
        for ax, rs, ttl in ((axes[0], fixed, r"(a) $\eta_w=9$ per step"),
                            (axes[1], per, r"(b) $\eta_w=9/s$ (fixed $s\,\eta_w$)")):
            for i, (s, r) in enumerate(zip(ss, rs, strict=True)):
                m = r["alpha"] > 0
                ax.loglog(r["alpha"][m], np.where(r["eg"][m] > 0, r["eg"][m], np.nan),
                          color=cmap(i / max(1, len(ss) - 1)), label=f"$s={s}$")
            ax.axhline(float(st.get("threshold", 0.01)), color="0.4", lw=0.7, ls=":")
            ax.set_xlabel(ALPHA_LABEL)
            ax.set_ylabel(EG_LABEL)
            ax.set_title(ttl, loc="left")
            ax.legend(frameon=False, fontsize=7, ncol=2, loc="lower left")
        ax = axes[2]
        sa = np.asarray(ss, float)
        ax.plot(sa, [r["alpha_threshold"] for r in fixed], "o-", color="#0072B2",
                label=r"$\alpha(\varepsilon\leq0.01)$, $\eta_w=9$")
        ax.plot(sa, [r["alpha_escape"] for r in fixed], "o--", color="#0072B2", mfc="none",
                label=r"$\alpha^*$, $\eta_w=9$")
        ax.plot(sa, [r["alpha_threshold"] for r in per], "s-", color="#D55E00",
                label=r"$\alpha(\varepsilon\leq0.01)$, $\eta_w=9/s$")
        ax.plot(sa, [r["alpha_escape"] for r in per], "s--", color="#D55E00", mfc="none",
                label=r"$\alpha^*$, $\eta_w=9/s$")
        ax.set_yscale("log")
        ax.set_xlabel("inner steps $s$")
        ax.set_ylabel(r"$\alpha$")
        ax.set_title("(c) escape and threshold times (missing: never)", loc="left")
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.suptitle("Inner steps: FO-ANIL, $K=M=3$, $\\eta_J=3$", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)

    def row(s, r):
        return {"s": s, "alpha_threshold": r["alpha_threshold"], "alpha_escape": r["alpha_escape"],
                "eg_final": r["eg_final"], "S_final": r["S_final"],
                "Q_final_diag": np.diagonal(r["Q_final"])}

    summ = {"wall_s": wall, "eta_w_9": [row(s, r) for s, r in zip(ss, fixed, strict=True)],
            "eta_w_9_over_s": [row(s, r) for s, r in zip(ss, per, strict=True)]}
    js = _write_json(out_dir / "data" / "inner_steps.json", summ)
    return [*_figs(out_dir, name), js]


# --------------------------------------------------------------------------- 6. algorithms
def algorithms(out_dir: Path) -> list[Path]:
    """FO-ANIL vs exact ANIL vs ARM, with ū = 0 and ū ≠ 0: error, representation, S."""
    import matplotlib.pyplot as plt

    from .plotting import ALPHA_LABEL, STYLE, savefig

    out_dir = Path(out_dir)
    spec = read_study("algorithms.toml")
    st, base = spec["study"], spec["base"]
    names = list(spec["grid"]["algorithm.name"])
    means = [float(u) for u in spec["grid"]["tasks.head_mean"]]
    if is_quick():
        means = means[:1]
    t0 = time.perf_counter()
    pts = [{"algorithm.name": a, "tasks.head_mean": u} for a in names for u in means]
    res = run_points(base, pts, keep=True)
    wall = time.perf_counter() - t0
    colours = {"fo-anil": "#0072B2", "anil": "#D55E00", "arm": "#009E73"}
    styles = ["-", "--", ":", "-."]
    name = st.get("figure", "fig6-algorithms")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
        for p, r in zip(pts, res, strict=True):
            a, u = p["algorithm.name"], p["tasks.head_mean"]
            c = colours.get(a, "k")
            ls = styles[means.index(u) % len(styles)]
            m = r["alpha"] > 0
            lab = rf"{a.upper()}, $\bar u={u:g}$"
            axes[0].loglog(r["alpha"][m], np.where(r["eg"][m] > 0, r["eg"][m], np.nan),
                           color=c, ls=ls, label=lab)
            axes[1].loglog(r["alpha"][m], np.where(r["eg_opt"][m] > 0, r["eg_opt"][m], np.nan),
                           color=c, ls=ls, label=lab)
            axes[2].semilogx(r["alpha"][m], r["S"][m], color=c, ls=ls, label=lab)
        axes[0].set_ylabel(r"$\varepsilon_g^{\rm meta}$ (after the algorithm's own adaptation)")
        axes[0].set_title("(a) meta-generalisation error", loc="left")
        axes[1].set_ylabel(r"$\varepsilon_g$ with the optimal head per task")
        axes[1].set_title("(b) quality of the learnt representation", loc="left")
        axes[2].set_ylabel("specialization $S$")
        axes[2].set_ylim(-0.05, 1.05)
        axes[2].set_title("(c) specialization", loc="left")
        for ax in axes:
            ax.set_xlabel(ALPHA_LABEL)
        axes[0].set_ylim(1e-12, 1)
        axes[1].set_ylim(1e-12, 1)
        axes[1].annotate(r"ARM: $\bar u=0$ stays at 1/6; $\bar u\neq0$: partial",
                         xy=(0.03, 0.55), xycoords="axes fraction", fontsize=7.5,
                         color=colours["arm"])
        axes[2].legend(frameon=False, fontsize=7, ncol=1, loc="center left",
                       bbox_to_anchor=(1.02, 0.5))
        fig.suptitle(r"Algorithms: $K=M=3$, $\eta_J=3$, $\eta_w=9$, $\Sigma_u=I$ "
                     "(ARM has no inner loop: its error is at $w$)", y=1.02)
        fig.tight_layout()
        savefig(fig, out_dir / f"{name}.png", pdf=True)
    summ = {"wall_s": wall, "runs": [
        {"algorithm": p["algorithm.name"], "head_mean": p["tasks.head_mean"],
         "alpha_threshold": r["alpha_threshold"], "alpha_escape": r["alpha_escape"],
         "eg_final": r["eg_final"], "eg_opt_final": float(r["eg_opt"][-1]),
         "eg_initial": r["eg0"], "S_final": r["S_final"], "w_final": r["w_final"],
         "Q_final_diag": np.diagonal(r["Q_final"]), "status": r["status"]}
        for p, r in zip(pts, res, strict=True)]}
    js = _write_json(out_dir / "data" / "algorithms.json", summ)
    return [*_figs(out_dir, name), js]


STUDIES: dict[str, Callable[[Path], list[Path]]] = {
    "default-run": default_run,
    "lr-phase-diagram": lr_phase_diagram,
    "overparameterization": overparameterization,
    "task-variability": task_variability,
    "inner-steps": inner_steps,
    "algorithms": algorithms,
}
