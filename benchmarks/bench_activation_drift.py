"""Cost of the drift and of the default run per activation (plain script:
``python benchmarks/bench_activation_drift.py [activation ...]``).

Prints, for K = M = 3:

* one drift evaluation (``rhs``) at V = 1 (arm, the bench_ode setting, and fo-anil) for
  every activation, and the ratio to erf (target for relu: ≤ 10×);
* the default run (FO-ANIL, α = 450, dopri5) per activation after compilation (target for a
  quadrature activation: ≤ 20 s) and its number of drift evaluations;
* the compile time: a first run in a fresh process with an empty numba cache.

Timings are the best of several repeats, after compilation; they depend on the load of the
machine (run it alone).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from bench_ode import _loop, best_of  # the drift loop and the timer of bench_ode.py

from teacherstudent import integrate, load_config
from teacherstudent.ode.field import VectorField

ACTIVATIONS = ("erf", "linear", "relu", "tanh", "sigmoid", "softplus", "gelu")
ARM = {
    "model": {"readout": "none"},
    "tasks": {"head_mean": 1.0, "head_cov": 0.0},
    "algorithm": {"name": "arm", "eta_J": 0.5, "eta_0": 0.5, "val_size": 1},
    "init": {"w": [1.0, 1.0, 1.0]},
}
FO = {"algorithm": {"name": "fo-anil", "val_size": 1}}


def drift_us(raw, activation, teacher=None):
    cfg = load_config(
        raw, {"model.activation": activation, "model.teacher_activation": teacher or activation}
    )
    vf = VectorField.from_config(cfg)
    rng = np.random.default_rng(0)
    y = vf.y0.copy()
    K, M = vf.problem.K, vf.problem.M
    y[K * K : K * K + K * M] = 0.3 * rng.standard_normal(K * M)
    dy = np.empty_like(y)
    ws = vf.workspace()
    _loop(1, y, *vf.args, dy, ws)
    t1 = best_of(lambda: _loop(1, y, *vf.args, dy, ws))
    n = max(1, min(20_000, int(0.2 / max(t1, 1e-7))))
    return best_of(lambda: _loop(n, y, *vf.args, dy, ws)) / n * 1e6


def default_run_s(activation):
    cfg = load_config(None, {"model.activation": activation})
    integrate(load_config(None, {"model.activation": activation, "run.alpha_max": 1.0}))
    t = time.perf_counter()
    ds = integrate(cfg)
    return time.perf_counter() - t, int(ds.attrs.get("nfev", -1))


def compile_s(activation):
    code = (
        "import time; t=time.perf_counter(); import teacherstudent as ts; "
        f"ts.integrate(None, **{{'model.activation': {activation!r}, 'run.alpha_max': 1.0}});"
        " print(time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        return float(subprocess.check_output([sys.executable, "-c", code], env=env))


def main():
    acts = sys.argv[1:] or list(ACTIVATIONS)
    print(f"first integration, empty numba cache (compile), erf: {compile_s('erf'):7.1f} s")
    print("drift per evaluation, K = M = 3, V = 1 (µs; ratio to erf):")
    base = {name: drift_us(raw, "erf") for name, raw in (("arm", ARM), ("fo-anil", FO))}
    for act in acts:
        row = []
        for name, raw in (("arm", ARM), ("fo-anil", FO)):
            t = drift_us(raw, act)
            row.append(f"{name} {t:9.2f} ({t / base[name]:6.1f}×)")
        print(f"  {act:9s} " + "   ".join(row))
    t = drift_us(ARM, "relu", "erf")
    print(f"  relu student, erf teacher: arm {t:9.2f} ({t / base['arm']:6.1f}×)")
    print("default run (FO-ANIL, α = 450) after compilation:")
    for act in acts:
        s, nfev = default_run_s(act)
        print(f"  {act:9s} {s:8.2f} s  ({nfev} drift evaluations)")


if __name__ == "__main__":
    main()
