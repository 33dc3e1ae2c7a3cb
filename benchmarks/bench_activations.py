"""Cost of the per-activation integrals (plain script: ``python benchmarks/bench_activations.py``).

Prints, for K = M = 3 (F = 6 fields, a typical covariance with variances ~1), the time of
one call of each kernel of :mod:`teacherstudent.ode.integrals.backend` per activation
(what one drift evaluation needs: I2 over F fields, I3 (K, F, F), J2 (K), I4 (K, F) for a
finite V, F4 with ≥ 2 student indices for a finite P), relu against erf, the mixed erf
teacher / relu student pair, and the compile time (fresh numba cache, separate process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from teacherstudent.ode.integrals import backend as B
from teacherstudent.ode.integrals import fourpoint as FP

K = M = 3
F = K + M


def covariance():
    """Q, R, T of a partly specialised student (variances ~1)."""
    rng = np.random.default_rng(0)
    Q = 0.8 * np.eye(K) + 0.1
    R = 0.6 * np.eye(K, M) + 0.05 * rng.random((K, M))
    T = np.eye(M)
    return np.block([[Q, R], [R.T, T]])


def best(fn, repeats=5, number=1):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t) / number)
    return min(out)


def kernels(C, acts, q):
    I2m, J2m = np.empty((F, F)), np.empty((K, K))
    I3t, I4t = np.empty((K, F, F)), np.empty((K, K, F, F))
    F4t = np.empty((F, F, F, F))
    sc, s4 = np.empty(3 * F), np.empty(FP.f4_scratch_size(F))
    return {
        "I2": lambda: B.i2_matrix_acts(C, F, acts, q, I2m),
        "I3": lambda: B.i3_tensor_acts(C, K, F, F, acts, q, I3t),
        "J2": lambda: B.j2_matrix_acts(C, K, acts, q, J2m),
        "I4": lambda: B.i4_tensor_acts(C, K, F, acts, q, I4t, sc),
        "F4": lambda: B.f4_tensor_lambda_acts(C, F, K, acts, q, F4t, s4),
    }


def main():
    C = covariance()
    q = B.quadrature_rule()
    print(f"K = M = {K}, quadrature order {q.shape[1]} (trapezoid step {q[0, 1] - q[0, 0]:.3f})")
    cases = [(a, a) for a in B.ACTIVATIONS] + [("relu", "erf")]
    names = ["I2", "I3", "J2", "I4", "F4"]
    print(f"{'student/teacher':>18} " + " ".join(f"{k:>11}" for k in names))
    for s, t in cases:
        acts = np.array([B.activation_code(s)] * K + [B.activation_code(t)] * M, np.int64)
        row = []
        for name, fn in kernels(C, acts, q).items():
            if name == "F4" and not (B.has_f4(acts[0]) and B.has_f4(acts[-1])):
                row.append("n/a")  # refused (NaN + domain errors)
                continue
            fn()  # compile / warm
            slow = name in ("I4", "F4") and s not in ("erf", "linear", "relu")
            dt = best(fn, repeats=1 if slow else 5, number=1 if slow else 200)
            row.append(f"{dt * 1e6:9.1f}µs" if dt < 1e-2 else f"{dt * 1e3:9.1f}ms")
        print(f"{s + '/' + t:>18} " + " ".join(f"{x:>11}" for x in row))
    # compile time: a fresh cache in a separate process
    with tempfile.TemporaryDirectory() as tmp:
        code = (
            "import time,numpy as np;t=time.perf_counter();"
            "from teacherstudent.ode.integrals import backend as B;"
            "C=np.eye(6)*0.9+0.1;q=B.quadrature_rule();"
            "[B.I2(C,a) for a in ('relu','tanh')];[B.I3(C,a) for a in ('relu','tanh')];"
            "B.J2(C,'relu');B.I4(C[:2,:2],'relu');B.I4(C[:2,:2],'tanh');"
            "B.F4(C[:2,:2],'tanh');print(time.perf_counter()-t)"
        )
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        print(f"compile (fresh cache, all backend kernels): {float(out):.1f} s")


if __name__ == "__main__":
    main()
