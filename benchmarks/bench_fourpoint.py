"""Timing of the four-point function F4 (plain script: ``python benchmarks/bench_fourpoint.py``).

Prints, for the field covariance of K students and M teachers (n = K + M fields), the time
of the full F4 table (``f4_tensor``), of the table restricted to quadruples with at least
two student indices (``f4_tensor_lambda``, what Cov(Φ̂_ka, Φ̂_lb) with k, l < K needs), the
number of distinct quadruples each computes, the number of Price-term evaluations
("items": terms × Gauss–Legendre nodes, the adaptive rule), and the scalar kernel. Target
(finite-P issue): the whole finite-P drift at K = M = 3 in ≤ 30 µs, the F4 table at n = 6
in ~15 µs or less. Timings are the best of many repeats, after compilation (no timed
assertions: machines differ).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from numba import njit

from teacherstudent.ode.integrals import ERF, LINEAR, f4, f4_scratch_size
from teacherstudent.ode.integrals.fourpoint import (
    RULE_NODES,
    RULE_R2_MAX,
    f4_distinct_count,
    f4_path_r2,
    f4_tensor_lambda,
)


@njit
def _tables(reps, C, n, n_lambda, act, out, scratch):
    bad = 0
    for _ in range(reps):
        bad += f4_tensor_lambda(C, n, n_lambda, act, out, scratch)
    return bad


@njit
def _scalars(reps, C, n):
    s = 0.0
    for i in range(reps):
        s += f4(C, i % n, (i // n) % n, (i // 7) % n, (i // 11) % n, 0)
    return s


def best_us(fn, reps, repeats=300):
    fn(1)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn(reps)
        best = min(best, time.perf_counter() - t)
    return best / reps * 1e6


def state(K, M, rng, q_scale=1.0, r_max=0.7):
    """Overlaps of a typical state: Q = J Jᵀ/N (student norms ~q_scale), teacher T = I,
    student-teacher R uniform in ±r_max; projected to a positive definite C."""
    A = rng.standard_normal((K, K)) * 0.4
    Q = q_scale * (A @ A.T + 0.8 * np.eye(K))
    R = rng.uniform(-r_max, r_max, (K, M)) * np.sqrt(q_scale)
    C = np.block([[Q, R], [R.T, np.eye(M)]])
    return C + max(0.0, 0.05 - np.linalg.eigvalsh(C).min()) * np.eye(K + M)


def items(C, n, n_lambda):
    """Price-term evaluations the adaptive rule spends on the table (terms × nodes)."""
    total = 0
    for a in range(n):
        for b in range(a, min(n, n_lambda)):
            for c in range(b, n):
                for d in range(c, n):
                    distinct = len({a, b, c, d})
                    pattern = sorted([a, b, c, d].count(i) for i in {a, b, c, d})
                    terms = {4: 3, 3: 2}.get(distinct, 2 if pattern == [2, 2] else 1)
                    r2 = f4_path_r2(C, a, b, c, d)
                    i = int(np.searchsorted(RULE_R2_MAX, r2))
                    total += terms * int(RULE_NODES[min(i, len(RULE_NODES) - 1)])
    return total


def report(label, C, K, reps=200):
    n = C.shape[0]
    out = np.empty((n, n, n, n))
    scratch = np.empty(f4_scratch_size(n))
    r2 = [f4_path_r2(C, *q) for q in itertools.combinations_with_replacement(range(n), 4)]
    print(f"{label}: n = {n} (K = {K}), R² of the scaled position: median "
          f"{np.median(r2):.3f}, max {max(r2):.3f}")
    for name, nl in (("full table    ", n), ("≥2 λ indices  ", K)):
        t = best_us(lambda r, nl=nl: _tables(r, C, n, nl, ERF, out, scratch), reps)
        tl = best_us(lambda r, nl=nl: _tables(r, C, n, nl, LINEAR, out, scratch), reps)
        print(f"  {name} erf {t:7.2f} µs   linear {tl:5.2f} µs   distinct quadruples "
              f"{f4_distinct_count(n, nl):4d}   Price-term evaluations {items(C, n, nl):5d}")


def main():
    rng = np.random.default_rng(0)
    K = M = 3
    print(f"scalar f4 (one quadruple, erf): "
          f"{best_us(lambda r: _scalars(r, state(K, M, rng), K + M), 2000) * 1e3:.0f} ns")
    report("typical state (Q ~ 1, |R| ≤ 0.7)", state(K, M, rng), K)
    report("second typical state", state(K, M, rng), K)
    report("large student norms (Q ~ 5, |R| ≤ 0.95)", state(K, M, rng, 5.0, 0.95), K)
    report("K = M = 2", state(2, 2, rng), 2)
    report("K = M = 4", state(4, 4, rng), 4)
    print(f"scratch floats for n = 6: {f4_scratch_size(6)} "
          f"({f4_scratch_size(6) * 8 / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
