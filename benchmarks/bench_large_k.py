"""Cost of the drift at large K (plain script: ``python benchmarks/bench_large_k.py [--quick]``).

Prints one drift evaluation (µs, best of several) at K = M = 3, 10, 20, 40 for fo-anil at
V = ∞ and V = 1 and for plain SGD (arm, V = 1), the growth exponent of the cost over
K ≥ 10 (least squares in log–log), and the default run at K = M = 40 (V = ∞ and V = 1).
Targets (issue 16): K = M = 40 default run ≤ 0.8 s at V = ∞ and ≤ 15 s at V = 1; exponents
≤ 3.0 at V = ∞ and ≤ 4.0 at V = 1; K = 3 drift ≤ 2.8 µs. ``--quick`` skips the K = 40 V = 1
run (about a minute).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from numba import njit

from teacherstudent import integrate, load_config
from teacherstudent.ode.drift import rhs
from teacherstudent.ode.field import VectorField

SIZES = (3, 10, 20, 40)
CASES = {
    "fo-anil V=inf": {},
    "fo-anil V=1": {"algorithm.val_size": 1},
    "arm V=1": {"algorithm.name": "arm", "algorithm.val_size": 1},
}


@njit
def _loop(n, y, pi, pf, T, ubar, Su, dy, ws):
    for _ in range(n):
        rhs(y, pi, pf, T, ubar, Su, dy, ws)


def drift_us(K: int, overrides: dict) -> float:
    cfg = load_config(None, {"model.K": K, "model.M": K, **overrides})
    vf = VectorField.from_config(cfg)
    y = vf.y0.copy()
    y[K * K : K * K + K * K] = 0.3 * np.random.default_rng(0).standard_normal(K * K)
    dy = np.empty_like(y)
    ws = vf.workspace()
    _loop(1, y, *vf.args, dy, ws)
    n = max(3, int(2e5 / K**3))
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        _loop(n, y, *vf.args, dy, ws)
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def run_s(K: int, overrides: dict, repeats: int) -> tuple[float, int]:
    cfg = load_config(None, {"model.K": K, "model.M": K, **overrides})
    best, nfev = np.inf, 0
    for _ in range(repeats):
        t = time.perf_counter()
        ds = integrate(cfg)
        best = min(best, time.perf_counter() - t)
        nfev = int(ds.attrs.get("nfev", 0))
    return best, nfev


def main() -> None:
    quick = "--quick" in sys.argv
    print("one drift evaluation (µs, best of 5), K = M:")
    print(f"  {'case':16s}" + "".join(f"{'K=' + str(K):>12s}" for K in SIZES) + "   exponent K>=10")
    for name, ov in CASES.items():
        t = [drift_us(K, ov) for K in SIZES]
        big = [i for i, K in enumerate(SIZES) if K >= 10]
        slope = np.polyfit(np.log([SIZES[i] for i in big]), np.log([t[i] for i in big]), 1)[0]
        print(f"  {name:16s}" + "".join(f"{x:12.2f}" for x in t) + f"   {slope:6.2f}")
    print("\ndefault run at K = M = 40 (s, best of runs; nfev):")
    for name, ov, reps in (("V=inf", {}, 3), ("V=1", {"algorithm.val_size": 1}, 1)):
        if quick and name == "V=1":
            continue
        s, nfev = run_s(40, ov, reps)
        print(f"  fo-anil {name:6s} {s:8.2f} s   nfev {nfev}")


if __name__ == "__main__":
    main()
