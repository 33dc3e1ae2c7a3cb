r"""Few-shot phase diagram: α(ε ≤ 0.01), final ε, minimal P over (P, η_w); ε(P) − ε(∞) ∝ 1/P.

Declared in ``few_shot.toml`` beside this file: ``[study]`` (``[study.quick]`` in quick mode:
a 3 × 3 grid) and the ``[base]`` configuration. ODE only (theory/finite_p.md): ``ε`` is the
few-shot meta-test error, a new task's head adapted on ``P`` fresh samples
(``algorithm.test_size = train_size``). Writes ``few-shot.png`` and ``.pdf``, the table
``few-shot.txt``, ``data/few_shot.json`` and ``data/few_shot.nc`` (the grid).

* Grid ``P × η_w`` for FO-ANIL and exact ANIL (:func:`teacherstudent.studies.run_points`):
  ``α(ε ≤ 0.01)`` (the solver's event; NaN: not reached by ``α = run.alpha_max``) and the
  final ``ε``.
* Minimal ``P`` reaching a target error: the smallest integer ``P`` with ``min_α ε ≤
  target`` by ``run.alpha_max`` (success assumed monotone in ``P``): bracketed by the grid
  (beyond its largest finite ``P``: factors of 10 up to ``study.P_cap``) and bisected in
  ``log P`` down to neighbouring integers. NaN: not reached even at ``P = ∞``.
* Excess ``Δ(P) = ε(P) − ε(∞)`` at ``η_w = study.default_eta_w`` against ``P``: the power
  ``Δ ∝ P^{-b}`` fitted (least squares in log–log) over ``fit_P_min ≤ P ≤ fit_P_max``, and
  the theory's ``1/P`` coefficient ``c = lim P·Δ(P)``: ``P·Δ(P) = c + d/P + …`` at the
  two largest ``study.large_P``, extrapolated (Richardson). Check: ``c_test = P·(ε_P-shot of
  the converged P = ∞ solution − ε(∞))`` at the largest of them — at the ``P = ∞`` optimum
  ``ε = 0`` is a minimum, so the shift of the learnt state by ``O(1/P)`` changes ``ε`` only at
  ``O(1/P²)`` and the ``1/P`` term is the test-time adaptation on ``P`` samples alone.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from teacherstudent.analysis import fit_power
from teacherstudent.config import apply_overrides
from teacherstudent.ode import integrate
from teacherstudent.plotting import STYLE, plot_phase, plt, savefig
from teacherstudent.studies import (
    figure_paths,
    read_study,
    run_points,
    save_grid,
    settings,
    write_json,
)

ALG_COLOURS = {"fo-anil": "#0072B2", "anil": "#D55E00"}
ALG_NAMES = {"fo-anil": "FO-ANIL", "anil": "ANIL"}
Point = tuple[str, float, Any]  # (algorithm, eta_w, P)


def _point(alg: str, ew: float, P: Any) -> Point:
    return (alg, float(ew), "inf" if P == "inf" else int(P))


def _evaluate(base: dict[str, Any], cache: dict[Point, dict[str, Any]],
              points: list[Point]) -> None:
    """Integrate the points not in ``cache`` yet (on the worker pool) into it."""
    todo = [p for p in dict.fromkeys(points) if p not in cache]
    if not todo:
        return
    res = run_points(base, [{"algorithm.name": a, "algorithm.eta_w": ew,
                             "algorithm.train_size": P} for a, ew, P in todo])
    cache.update(zip(todo, res, strict=True))


def _reaches(r: dict[str, Any], target: float) -> bool:
    v = r.get("eg_min", math.nan)
    return math.isfinite(v) and v <= target


def _guess(lo: int, e_lo: float, hi: int | None, e_hi: float, e_inf: float,
           target: float) -> float:
    """Where ``ε_min(P) = target`` on the power law through the bracket ends in log–log
    (above the bracket: the slope −1 of the ``1/P`` tail from ``lo``)."""
    d_lo, d_t = e_lo - e_inf, target - e_inf
    if not (d_lo > 0 and d_t > 0):
        return math.nan
    if hi is None:
        return lo * d_lo / d_t
    d_hi = e_hi - e_inf
    if not d_hi > 0 or hi == lo:
        return math.nan
    slope = math.log(d_hi / d_lo) / math.log(hi / lo)
    return lo * math.exp(math.log(d_t / d_lo) / slope) if slope < 0 else math.nan


def _minimal_P(base, cache, algs, ews, targets, P_cap) -> dict[Any, Any]:
    """Smallest integer P with min ε ≤ target, per (algorithm, η_w, target).

    Bracket ``lo < P_min ≤ hi`` from every P integrated so far (beyond them: factors of 10 up
    to ``P_cap``), then rounds of a log–log interpolation guess (both neighbouring integers
    tried) or, when that did not halve the bracket in log, its geometric midpoint.
    """
    state: dict[tuple, dict[str, Any]] = {}
    for alg in algs:
        for ew in ews:
            known = sorted(p[2] for p in cache if p[:2] == (alg, float(ew)) and p[2] != "inf")
            e_inf = cache[_point(alg, ew, "inf")].get("eg_min", math.nan)
            for t in targets:
                ok = [P for P in known if _reaches(cache[_point(alg, ew, P)], t)]
                if ok:
                    fails = [P for P in known if P < ok[0]]
                    st = {"lo": fails[-1] if fails else 0, "hi": ok[0], "note": ""}
                elif _reaches(cache[_point(alg, ew, "inf")], t):
                    st = {"lo": known[-1], "hi": None, "note": ""}
                else:
                    st = {"lo": None, "hi": None, "note": "not reached at P = inf"}
                st["e_inf"], st["width"] = e_inf, math.inf
                state[(alg, float(ew), t)] = st

    def emin(k, P):
        return cache[_point(k[0], k[1], P)].get("eg_min", math.nan)

    rounds = 0
    while True:
        todo: dict[tuple, list[int]] = {}
        for k, s in state.items():
            lo, hi = s["lo"], s["hi"]
            if lo is None or (hi is not None and hi - lo <= 1):
                continue
            if hi is None:  # above everything integrated so far
                if lo >= P_cap:
                    continue
                g = _guess(lo, emin(k, lo), None, math.nan, s["e_inf"], k[2])
                c = [min(int(P_cap), int(round(g * 1.2)) if math.isfinite(g) else 10 * lo)]
                c = [max(c[0], lo + 1)]
            else:
                width = math.log(hi / max(lo, 1))
                g = (_guess(lo, emin(k, lo), hi, emin(k, hi), s["e_inf"], k[2])
                     if lo >= 1 else math.nan)
                if math.isfinite(g) and (s["width"] == math.inf or width < 0.5 * s["width"]):
                    c = [math.floor(g), math.floor(g) + 1]
                else:
                    c = [int(round(math.sqrt(max(lo, 1) * hi)))]
                s["width"] = width
                c = sorted({min(max(v, lo + 1), hi - 1) for v in c})
            todo[k] = c
        if not todo:
            break
        _evaluate(base, cache, [_point(k[0], k[1], P) for k, c in todo.items() for P in c])
        rounds += 1
        for k, c in todo.items():
            s = state[k]
            for P in c:
                if _reaches(cache[_point(k[0], k[1], P)], k[2]):
                    s["hi"] = P if s["hi"] is None else min(s["hi"], P)
                else:
                    s["lo"] = max(s["lo"], P)
            if s["hi"] is None and s["lo"] >= P_cap:
                s["note"] = f"not reached at P = {P_cap} (reached at P = inf)"
    out: dict[Any, Any] = {}
    for k, s in state.items():
        hi, lo = s["hi"], s["lo"]
        out[k] = {"P_min": hi if hi is not None else math.nan,
                  "eg_min_at_P_min": emin(k, hi) if hi is not None else math.nan,
                  "eg_min_at_P_min_minus_1": emin(k, lo)
                  if hi is not None and lo == hi - 1 and lo >= 1 else math.nan,
                  "note": s["note"]}
    out["_rounds"] = rounds
    return out


def _column(P: Any, Ps: list[Any]) -> float:
    """Position of ``P`` on the heat maps' column axis: the grid's columns are 0, 1, …
    (``P = ∞`` the last); between two finite columns linear in ``log P``; above the largest
    finite ``P_f`` (column ``j``) ``j + 1 − P_f/P``, which reaches the ``∞`` column as
    ``P → ∞``."""
    fin = [float(p) for p in Ps if p != "inf"]
    if P == "inf":
        return float(len(Ps) - 1)
    P = float(P)
    if P <= fin[-1]:
        return float(np.interp(math.log(P), np.log(fin), np.arange(len(fin))))
    return len(fin) - 1 + (1.0 - fin[-1] / P) if "inf" in Ps else math.nan


def _columns(ax, Ps: list[Any]) -> None:
    ax.set_xticks(range(len(Ps)), [("∞" if p == "inf" else str(p)) for p in Ps], fontsize=7)


def run(out_dir: Path) -> list[Path]:
    """Few-shot phase diagram: α(ε ≤ 0.01), final ε, minimal P over (P, η_w); ε(P) − ε(∞) ∝ 1/P."""
    out_dir = Path(out_dir)
    spec = read_study(__file__)
    st, base = settings(spec), spec["base"]
    algs = list(st["algorithms"])
    Ps = list(st["P"])
    ews = [float(v) for v in st["eta_w"]]
    ew0 = float(st.get("default_eta_w", 9.0))
    if not any(math.isclose(ew0, v) for v in ews):
        ews = sorted([*ews, ew0])
    ew0 = next(v for v in ews if math.isclose(v, ew0))
    thr = float(base.get("run", {}).get("eg_threshold", 0.01))
    targets = sorted({float(t) for t in st.get("targets", [thr])} | {float(st.get("target", thr))},
                     reverse=True)
    target = float(st.get("target", thr))
    large = [int(p) for p in st.get("large_P", [])]
    t0 = time.perf_counter()

    cache: dict[Point, dict[str, Any]] = {}
    grid = [_point(a, ew, P) for a in algs for ew in ews for P in Ps]
    _evaluate(base, cache, grid + [_point(a, ew0, P) for a in algs for P in large])
    wall_grid = time.perf_counter() - t0
    shape = (len(algs), len(ews), len(Ps))
    get = lambda key: np.array([cache[p].get(key, math.nan) for p in grid], float).reshape(shape)
    A_th, E_fin, E_min = get("alpha_threshold"), get("eg_final"), get("eg_min")
    errors = {str(p): cache[p]["error"] for p in grid if "error" in cache[p]}

    t1 = time.perf_counter()
    mins = _minimal_P(base, cache, algs, ews, targets, int(st.get("P_cap", 100000)))
    wall_min = time.perf_counter() - t1

    # ---- the excess at the default inner rate, its power and the 1/P coefficient
    exc: dict[str, dict[str, Any]] = {}
    for a in algs:
        e_inf = cache[_point(a, ew0, "inf")]["eg_final"]
        Pf = sorted({int(p) for p in Ps if p != "inf"} | set(large))
        d = np.array([cache[_point(a, ew0, P)]["eg_final"] - e_inf for P in Pf])
        x = np.array(Pf, float)
        sel = (x >= float(st["fit_P_min"])) & (x <= float(st["fit_P_max"]))
        b, pref = fit_power(x[sel], d[sel])
        local = [-(math.log(d[i + 1] / d[i]) / math.log(x[i + 1] / x[i]))
                 if d[i] > 0 and d[i + 1] > 0 else math.nan for i in range(len(x) - 1)]
        cP = x * d
        c_ex = math.nan
        if len(large) >= 2:
            P1, P2 = float(large[-2]), float(large[-1])
            c1, c2 = P1 * (cache[_point(a, ew0, large[-2])]["eg_final"] - e_inf), \
                P2 * (cache[_point(a, ew0, large[-1])]["eg_final"] - e_inf)
            c_ex = (P2 * c2 - P1 * c1) / (P2 - P1)
        c_test = math.nan
        if large:
            Pt = large[-1]
            cfg = apply_overrides(base, {"algorithm.name": a, "algorithm.eta_w": ew0,
                                         "algorithm.train_size": "inf", "algorithm.test_size": Pt})
            c_test = Pt * (float(integrate(cfg).eg.values[-1]) - e_inf)
        exc[a] = {"P": Pf, "excess": d, "eg_inf": e_inf, "b": b, "prefactor": pref,
                  "fit_range": [float(x[sel].min()), float(x[sel].max())] if sel.any() else None,
                  "local_exponents": local, "P_times_excess": cP, "c": c_ex, "c_test": c_test}
    wall = time.perf_counter() - t0

    name = st.get("figure", "few-shot")
    _figure(out_dir / f"{name}.png", algs, Ps, ews, ew0, A_th, E_fin, mins, exc, target,
            targets, thr, base, st)
    text = _table(algs, Ps, ews, ew0, E_fin, A_th, mins, exc, targets, base, wall, len(cache))
    (out_dir / f"{name}.txt").write_text(text)
    stem = st.get("data", "few_shot")
    nc = save_grid(out_dir / "data" / f"{stem}.nc",
                   {"algorithm": algs, "eta_w": ews,
                    "train_size": [math.inf if p == "inf" else float(p) for p in Ps]},
                   {"alpha_threshold": A_th, "eg_final": E_fin, "eg_min": E_min},
                   {"threshold": thr, "alpha_max": float(base["run"]["alpha_max"])})
    summ: dict[str, Any] = {
        "settings": {"P": [str(p) for p in Ps], "eta_w": ews, "default_eta_w": ew0,
                     "targets": targets, "alpha_max": float(base["run"]["alpha_max"]),
                     "eta_J": base.get("algorithm", {}).get("eta_J"),
                     "fit_P": [st["fit_P_min"], st["fit_P_max"]], "large_P": large},
        "wall_s": wall, "wall_grid_s": wall_grid, "wall_minimal_P_s": wall_min,
        "n_runs": len(cache), "bisection_rounds": mins["_rounds"], "errors": errors,
    }
    for ia, a in enumerate(algs):
        e = exc[a]
        summ[a] = {
            "alpha_threshold": A_th[ia], "eg_final": E_fin[ia],
            "minimal_P": {f"{t:g}": [mins[(a, ew, t)]["P_min"] for ew in ews] for t in targets},
            "minimal_P_detail": {f"{t:g}": [{"eta_w": ew, **mins[(a, ew, t)]} for ew in ews]
                                 for t in targets},
            "excess": {"P": e["P"], "excess": e["excess"], "eg_inf": e["eg_inf"],
                       "exponent": e["b"], "prefactor": e["prefactor"],
                       "fit_range": e["fit_range"], "local_exponents": e["local_exponents"],
                       "P_times_excess": e["P_times_excess"], "c_one_over_P": e["c"],
                       "c_test_time_only": e["c_test"]},
            "eg_final_at_default_eta_w": {str(P): cache[_point(a, ew0, P)]["eg_final"]
                                          for P in Ps},
            "alpha_threshold_at_default_eta_w": {
                str(P): cache[_point(a, ew0, P)].get("alpha_threshold", math.nan) for P in Ps},
        }
    js = write_json(out_dir / "data" / f"{stem}.json", summ)
    return [*figure_paths(out_dir, name), out_dir / f"{name}.txt", nc, js]


def _table(algs, Ps, ews, ew0, E_fin, A_th, mins, exc, targets, base, wall, n_runs) -> str:
    a_max = float(base["run"]["alpha_max"])
    lines = [
        f"# few-shot: ODE, K = M = 3, eta_J = {base.get('algorithm', {}).get('eta_J')}, V = inf,"
        f" default init, alpha_max = {a_max:g}; eps = few-shot error (head adapted on P fresh "
        "samples).",
        f"# {n_runs} ODE runs, {wall:.0f} s.",
        "",
        f"## minimal P with min eps <= target by alpha = {a_max:g} "
        "(nan: not reached even at P = inf)",
        f"{'eta_w':>8} " + " ".join(f"{ALG_NAMES.get(a, a) + ' ' + format(t, 'g'):>15}"
                                    for a in algs for t in targets),
    ]
    for ew in ews:
        cells = []
        for a in algs:
            for t in targets:
                m = mins[(a, ew, t)]
                v = m["P_min"]
                cells.append(f"{'nan' if not math.isfinite(v) else str(int(v)):>15}")
        lines.append(f"{ew:8.4g} " + " ".join(cells))
    lines += ["", f"## final eps at eta_w = {ew0:g} and alpha(eps <= 0.01)"]
    j = ews.index(ew0)
    lines.append(f"{'P':>6} " + " ".join(f"{ALG_NAMES.get(a, a) + ' eps':>13} "
                                         f"{ALG_NAMES.get(a, a) + ' alpha':>13}" for a in algs))
    for i, P in enumerate(Ps):
        lines.append(f"{P!s:>6} " + " ".join(f"{E_fin[ia, j, i]:13.4e} {A_th[ia, j, i]:13.2f}"
                                             for ia in range(len(algs))))
    lines += ["", f"## excess eps(P) - eps(inf) at eta_w = {ew0:g}"]
    for a in algs:
        e = exc[a]
        lines.append(f"[{a}] eps(inf) = {e['eg_inf']:.3e}; fit over P in {e['fit_range']}: "
                     f"excess ~ {e['prefactor']:.4g} P^-{e['b']:.4f}; c = lim P*excess = "
                     f"{e['c']:.5f} (Richardson), test-time part alone c_test = {e['c_test']:.5f}")
        for P, d, cP in zip(e["P"], e["excess"], e["P_times_excess"], strict=True):
            lines.append(f"   P = {P:>6}  excess = {d:.4e}  P*excess = {cP:.5f}")
    return "\n".join(lines) + "\n"


def _figure(path, algs, Ps, ews, ew0, A_th, E_fin, mins, exc, target, targets, thr, base, st):
    xcol = np.arange(len(Ps), dtype=float)
    y = np.asarray(ews, float)
    floor = float(st.get("colour_floor", 1e-4))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 3, figsize=(14.5, 8.2))
        for ia, a in enumerate(algs[:2]):
            line = np.array([_column(mins[(a, ew, target)]["P_min"], Ps)
                             if math.isfinite(mins[(a, ew, target)]["P_min"]) else math.nan
                             for ew in ews], float)
            for row, Z, lab, cont, cmap in (
                (0, A_th[ia], rf"$\alpha(\varepsilon_g\leq{thr:g})$", [20, 30, 50],
                 "viridis"),
                (1, E_fin[ia], rf"final $\varepsilon_g$ at $\alpha={base['run']['alpha_max']:g}$"
                 rf" (below ${floor:g}$: darkest)", [0.003, 0.01, 0.03, 0.1], "magma"),
            ):
                ax = axes[row, ia]
                mesh, cb = plot_phase(ax, xcol, y, Z, cmap=cmap, label=lab, contours=cont,
                                      logx=False,
                                      nan_label=rf"not reached: $\varepsilon_g>{thr:g}$ up to "
                                                rf"$\alpha={base['run']['alpha_max']:g}$")
                if row == 1:
                    fin = Z[np.isfinite(Z)]
                    if fin.size and fin.max() > floor:
                        mesh.set_clim(floor, fin.max())
                        cb.update_normal(mesh)
                ok = np.isfinite(line)
                ax.plot(line[ok], y[ok], color="w", lw=1.4, marker="o", ms=3.5, mec="k",
                        mew=0.6, label=rf"minimal $P$ for $\varepsilon_g\leq{target:g}$")
                ax.axhline(ew0, color="w", lw=0.6, ls=":")
                _columns(ax, Ps)
                ax.set_yticks(y, [f"{v:.3g}" for v in y], fontsize=7)
                ax.minorticks_off()
                ax.set_xlabel("training samples per task $P$ (= shots at test)")
                ax.set_ylabel(r"inner head rate $\eta_w$")
                what = (rf"time to $\varepsilon_g\leq{thr:g}$" if row == 0 else "final error")
                ax.set_title(f"({('ab', 'de')[row][ia]}) {ALG_NAMES.get(a, a)}: {what}", loc="left")
                ax.legend(frameon=True, framealpha=0.85, fontsize=6.5, loc="upper left")
        # (c) the excess against P at the default inner rate
        ax = axes[0, 2]
        c_line = []
        for a in algs:
            e, col = exc[a], ALG_COLOURS.get(a, "k")
            xx = np.asarray(e["P"], float)
            d = np.asarray(e["excess"], float)
            ax.loglog(xx, d, ls="none", marker="o" if a == algs[0] else "s", ms=4.5 if a ==
                      algs[0] else 3.5, mfc=col if a == algs[0] else "white", mec=col,
                      label=f"{ALG_NAMES.get(a, a)}: ODE")
            if e["fit_range"] is not None and math.isfinite(e["b"]):
                xf = np.geomspace(*e["fit_range"], 20)
                ax.loglog(xf, e["prefactor"] * xf ** -e["b"], color=col, lw=1.0,
                          label=rf"fit ${e['fit_range'][0]:g}\leq P\leq{e['fit_range'][1]:g}$:"
                                rf" $P^{{-{e['b']:.3f}}}$")
            if math.isfinite(e["c"]):
                c_line.append(e["c"])
        if c_line:
            xx = np.geomspace(1, max(max(exc[a]["P"]) for a in algs), 50)
            c = float(np.mean(c_line))
            ax.loglog(xx, c / xx, color="k", lw=0.9, ls="--",
                      label=rf"$c/P$, $c=\lim P\,\Delta\varepsilon={c:.4f}$")
        ax.set_xlabel("training samples per task $P$")
        ax.set_ylabel(r"excess $\Delta\varepsilon=\varepsilon_g(P)-\varepsilon_g(\infty)$")
        ax.set_title(rf"(c) excess at $\eta_w={ew0:g}$, $\eta_J={base['algorithm']['eta_J']:g}$",
                     loc="left")
        ax.legend(frameon=False, fontsize=6.8, loc="lower left")
        # (f) the minimal P against eta_w, per target
        ax = axes[1, 2]
        shades = plt.cm.cividis(np.linspace(0.0, 0.8, len(targets)))
        for a, ls, mk in zip(algs, ("-", "--"), ("o", "s"), strict=False):
            for t, col in zip(targets, shades, strict=True):
                v = np.array([mins[(a, ew, t)]["P_min"] for ew in ews], float)
                ax.plot(y, v, ls=ls, marker=mk, ms=3.5, color=col, mfc=col if ls == "-" else
                        "white", label=rf"{ALG_NAMES.get(a, a)}, $\varepsilon_g\leq{t:g}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(y, [f"{v:.3g}" for v in y], fontsize=7)
        vals = [mins[(a, ew, t)]["P_min"] for a in algs for ew in ews for t in targets]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            nice = [n * 10 ** k for k in range(7) for n in (1, 2, 5)]
            ticks = [v for v in nice if min(vals) / 1.5 <= v <= max(vals) * 1.5]
            ax.set_yticks(ticks, [str(v) for v in ticks])
        ax.minorticks_off()
        ax.axvline(ew0, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel(r"inner head rate $\eta_w$")
        ax.set_ylabel("minimal $P$ (integer bisection)")
        ax.set_title("(f) shots needed for a target error", loc="left")
        ax.legend(frameon=False, fontsize=6.5, loc="best",
                  title="missing point: not reached even at $P=\\infty$", title_fontsize=6.5)
        fig.suptitle("Few-shot meta-learning (ODE, $K=M=3$, default init): "
                     "$\\varepsilon_g$ = error after adapting the head on $P$ samples of a new "
                     "task; grey = not reached; "
                     rf"dotted: $\eta_w={ew0:g}$", fontsize=9.5)
        fig.tight_layout()
        savefig(fig, path, pdf=True)
