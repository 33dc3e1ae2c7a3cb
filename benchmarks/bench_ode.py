"""Timing of the ODE engine (plain script: ``python benchmarks/bench_ode.py``).

Prints: numba compile time (fresh cache) and cache-load time, the cost of one drift
evaluation, and whole integrations. Timings are the best of several repeats, after
compilation. Targets (issues 2 and 3): drift ≤ 3 µs (arm, K = M = 3, both layers, V = 1),
≤ 5 µs (fo-anil, finite V); Euler dt = 0.01 to α = 1000 ≤ 0.3 s; adaptive rtol 1e-8 to
α = 1000 ≤ 0.05 s; the default run ≤ 0.2 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from teacherstudent import integrate, load_config
from teacherstudent.ode.drift import rhs
from teacherstudent.ode.field import VectorField

ARM = {
    "model": {"readout": "none"},
    "tasks": {"head_mean": 1.0, "head_cov": 0.0},
    "algorithm": {"name": "arm", "eta_J": 0.5, "eta_0": 0.5, "val_size": 1},
    "init": {"w": [1.0, 1.0, 1.0]},
}


@njit
def _loop(n, y, pi, pf, T, ubar, Su, dy, ws):
    for _ in range(n):
        rhs(y, pi, pf, T, ubar, Su, dy, ws)


def best_of(fn, repeats=7):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def drift_us(raw, n=20_000):
    vf = VectorField.from_config(load_config(raw))
    rng = np.random.default_rng(0)
    y = vf.y0.copy()
    K, M = vf.problem.K, vf.problem.M
    y[K * K : K * K + K * M] = 0.3 * rng.standard_normal(K * M)
    dy = np.empty_like(y)
    ws = vf.workspace()
    _loop(1, y, *vf.args, dy, ws)
    return best_of(lambda: _loop(n, y, *vf.args, dy, ws)) / n * 1e6


def run_s(raw, **overrides):
    cfg = load_config(raw, overrides)
    integrate(cfg)  # warm
    return best_of(lambda: integrate(cfg), repeats=5)


def compile_times():
    code = (
        "import time; t=time.perf_counter(); import teacherstudent as ts; "
        "ts.integrate(None, **{'run.alpha_max': 1.0}); print(time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        # numba's kernels (the compiled module of `teacherstudent compile` switched off)
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, TEACHERSTUDENT_AOT="0")
        cold = float(subprocess.check_output([sys.executable, "-c", code], env=env))
        warm = float(subprocess.check_output([sys.executable, "-c", code], env=env))
        env["TEACHERSTUDENT_AOT"] = "1"
        aot = float(subprocess.check_output([sys.executable, "-c", code], env=env))
    return cold, warm, aot


def main():
    cold, warm, aot = compile_times()
    print(f"first integration, empty numba cache (compile): {cold:6.2f} s")
    print(f"first integration, cached kernels (load):       {warm:6.2f} s")
    print(f"first integration, compiled module if built:    {aot:6.2f} s  "
          "(`teacherstudent compile`; else as the line above)")
    print("\none drift evaluation (µs, best of 7):")
    rows = [
        ("arm K=M=3 both layers V=1", ARM),
        ("arm K=M=3 V=inf", {**ARM, "algorithm": {"name": "arm", "eta_J": 0.5}}),
        ("fo-anil K=M=3 V=inf", {}),
        ("fo-anil K=M=3 V=1", {"algorithm": {"val_size": 1}}),
        ("anil K=M=3 V=1", {"algorithm": {"name": "anil", "val_size": 1}}),
        ("fo-anil K=6 M=3 V=1", {"model": {"K": 6}, "algorithm": {"val_size": 1}}),
        ("fo-anil K=10 M=3 V=1", {"model": {"K": 10}, "algorithm": {"val_size": 1}}),
        ("fo-anil K=10 M=3 V=inf", {"model": {"K": 10}}),
    ]
    for name, raw in rows:
        print(f"  {name:28s} {drift_us(raw):8.2f}")
    print("\nwhole integrations (s, best of 5):")
    arm_run = {**ARM, "run": {"alpha_max": 1000.0}}
    print(f"  arm Euler dt=0.01 to α=1000        {run_s(arm_run, **{'run.solver': 'euler'}):.4f}")
    print(f"  arm dopri5 rtol=1e-8 to α=1000     {run_s(arm_run):.4f}")
    print(f"  default fo-anil run (α=450)        {run_s({}):.4f}")
    print(f"  default fo-anil V=1 (α=450)        {run_s({'algorithm': {'val_size': 1}}):.4f}")
    print(f"  anil (α=450)                       {run_s({'algorithm': {'name': 'anil'}}):.4f}")
    print(f"  fo-anil K=6 (α=450)                {run_s({'model': {'K': 6}}):.4f}")
    print(f"  fo-anil K=10 (α=450)               {run_s({'model': {'K': 10}}):.4f}")


if __name__ == "__main__":
    main()
