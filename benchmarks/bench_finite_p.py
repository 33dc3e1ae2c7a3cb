"""Timing of the finite-P drift (plain script: ``python benchmarks/bench_finite_p.py``).

Prints the cost of one drift evaluation at finite ``train_size`` next to the same run at
``P = ∞`` (K = M = 3 unless said), the number of distinct F4 values each evaluation
computes, and whole integrations: the default run at P = 5 end to end (after
compilation). Timings are the best of several repeats. Targets (finite-P issue): drift at
K = M = 3 with finite P ≤ 30 µs; the default run at P = 5 ≤ 0.5 s.
"""

from __future__ import annotations

import time

import numpy as np
from bench_ode import drift_us

from teacherstudent import integrate, load_config
from teacherstudent.ode.integrals.fourpoint import f4_distinct_count


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_s(raw):
    cfg = load_config(raw)
    integrate(cfg)  # warm (compiles on the first call)
    return best_of(lambda: integrate(cfg))


ROWS = [
    ("fo-anil V=inf", {}),
    ("fo-anil V=1", {"val_size": 1}),
    ("fo-anil V=inf s=2", {"inner_steps": 2}),
    ("anil V=inf", {"name": "anil"}),
    ("anil V=1", {"name": "anil", "val_size": 1}),
]


def main():
    K = M = 3
    print(f"distinct F4 values per evaluation (K = M = {K}): "
          f"{f4_distinct_count(K + M, K)} (of {f4_distinct_count(K + M)} over all fields)")
    print("\none drift evaluation (µs, best of 7):     P = inf     P = 5    P = 20")
    for name, alg in ROWS:
        t = [drift_us({"algorithm": {**alg, "train_size": P}}) for P in ("inf", 5, 20)]
        print(f"  {name:32s} {t[0]:9.2f} {t[1]:9.2f} {t[2]:9.2f}")
    for K in (6, 10):
        t = [drift_us({"model": {"K": K}, "algorithm": {"train_size": P}}) for P in ("inf", 5)]
        print(f"  {'fo-anil K=' + str(K) + ' M=3 V=inf':32s} {t[0]:9.2f} {t[1]:9.2f}")
    print("\nwhole integrations (s, best of 5, after compilation):")
    for name, raw in (
        ("default run, P = inf", {}),
        ("default run, P = 5", {"algorithm": {"train_size": 5}}),
        ("default run, P = 5, test_size = 1", {"algorithm": {"train_size": 5, "test_size": 1}}),
        ("anil, P = 5", {"algorithm": {"name": "anil", "train_size": 5}}),
        ("fo-anil V = 1, P = 5", {"algorithm": {"val_size": 1, "train_size": 5}}),
    ):
        print(f"  {name:36s} {run_s(raw):8.4f}")
    ds = integrate(load_config({"algorithm": {"train_size": 5}}))
    print(f"\n(default run at P = 5: {ds.attrs['nfev']} drift evaluations, final eg = "
          f"{float(ds.eg[-1]):.4g}; at P = inf: "
          f"{float(np.asarray(integrate(None).eg)[-1]):.4g})")


if __name__ == "__main__":
    main()
