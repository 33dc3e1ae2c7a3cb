"""The four-point function F4(a,b,c,d) = E[g(z_a) g(z_b) g(z_c) g(z_d)] (finite-P theory).

The erf kernel (a Price-path quadrature, ``teacherstudent.ode.integrals.fourpoint``) is
checked against Monte Carlo (10^6 samples, 5 standard errors), against an independent
reference that does not use the path (``theory/fourpoint.py``: the inner pair's
expectation given the outer fields in closed form with Owen's T function, the outer one
by a trapezoid rule; ≤ 1e-10, measured ~1e-14) and against exact values (all
y-correlations 1/2 ⇒ 1/5, independent blocks ⇒ I2·I2, small variances ⇒ (2/π)² Isserlis);
the linear activation against Isserlis; the table against the scalar kernel, its
symmetry, the n_lambda restriction and the domain errors. Negative controls: too few
nodes, the pair-product approximation and the sign-function (C → ∞) mistake are caught.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from teacherstudent.ode.integrals import (
    ERF,
    F4,
    I2,
    LINEAR,
    f4,
    f4_scratch_size,
    f4_tensor,
    f4_tensor_lambda,
)
from teacherstudent.ode.integrals.fourpoint import F4_nodes, f4_distinct_count

THEORY = Path(__file__).resolve().parents[1] / "theory"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_theory_{name}", THEORY / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


theory = _load("fourpoint")
PATTERNS = theory.PATTERNS  # distinct, one pair (3 places), two pairs, triples, all equal
N_MC = 1_000_000


def _cov(seed: int, kind: str) -> np.ndarray:
    return theory.random_cov(np.random.default_rng(seed), kind)


def _mc_check(value, samples):
    mean = samples.mean()
    se = samples.std() / np.sqrt(samples.size)
    return abs(value - mean) < 5 * se + 1e-12, (value, mean, se)


# --------------------------------------------------------------------------- erf accuracy
@pytest.mark.parametrize("seed,kind", [(1, "moderate"), (2, "moderate"), (3, "strong"),
                                       (4, "strong")])
def test_f4_matches_monte_carlo(seed, kind):
    C = _cov(seed, kind)
    T = F4(C)
    z = np.random.default_rng(100 + seed).multivariate_normal(np.zeros(4), C, size=N_MC)
    g = erf(z / np.sqrt(2))
    for q in PATTERNS + [(3, 1, 3, 2), (2, 0, 2, 0)]:
        ok, info = _mc_check(T[q], g[:, q[0]] * g[:, q[1]] * g[:, q[2]] * g[:, q[3]])
        assert ok, (q, info)


@pytest.mark.parametrize("seed,kind", [(11, "moderate"), (12, "moderate"), (13, "strong"),
                                       (14, "strong")])
def test_f4_matches_conditional_orthant_reference(seed, kind):
    """Independent of the Price path: E_out[g g · E[g g | outer fields]] with the inner
    bivariate orthant exact (Owen's T) and a trapezoid rule over the outer fields."""
    C = _cov(seed, kind)
    h = 0.1 if kind == "moderate" else 0.06
    for q in PATTERNS + [(2, 3, 0, 1), (3, 3, 1, 0)]:
        ref = theory.conditional_reference(C, q, h=h)
        assert abs(f4(C, *q, ERF) - ref) < 1e-10, (q, f4(C, *q, ERF), ref)


def test_strong_correlations_and_large_variances():
    """Correlations 0.99–0.999 in z, variances up to 30, repeated indices: the adaptive
    rule takes more nodes and still agrees with 256 nodes on the same path (≤ 1e-12) and
    with the independent reference (≤ 1e-10)."""
    rng = np.random.default_rng(5)
    u = rng.standard_normal(4)
    R = 0.995 * np.outer(u, u) / np.outer(np.abs(u), np.abs(u)) + 0.005 * np.eye(4)
    v = np.array([3.0, 10.0, 30.0, 1.0])
    C = R * np.sqrt(np.outer(v, v))
    T = F4(C)
    T256 = F4_nodes(C, 256)
    assert np.abs(T - T256).max() < 1e-12
    for q in ((0, 1, 2, 3), (2, 2, 2, 2), (1, 1, 2, 2), (0, 2, 2, 3)):
        assert abs(T[q] - theory.conditional_reference(C, q, h=0.03)) < 1e-10, q


def test_exact_values():
    # all y-correlations 1/2: the 4-variate orthant probability is 1/5 and E[Π sign] = 1/5
    assert abs(f4(np.eye(1), 0, 0, 0, 0, ERF) - 0.2) < 1e-14  # E[erf(z/√2)^4], z ~ N(0,1)
    for v in (1.0, 3.0):
        C = np.full((4, 4), (1 + v) / 2) + (v - (1 + v) / 2) * np.eye(4)
        assert abs(f4(C, 0, 1, 2, 3, ERF) - 0.2) < 1e-14
    # independent blocks: F4 factorises
    rng = np.random.default_rng(3)
    C = np.zeros((4, 4))
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    C[:2, :2], C[2:, 2:] = A @ A.T, B @ B.T / 3
    T, i2 = F4(C), I2(C)
    assert abs(T[0, 1, 2, 3] - i2[0, 1] * i2[2, 3]) < 1e-14
    assert abs(T[0, 0, 3, 3] - i2[0, 0] * i2[3, 3]) < 1e-14
    assert abs(T[1, 1, 1, 2]) < 1e-16 and abs(T[0, 2, 2, 2]) < 1e-16  # odd in one block
    # small variances: erf(z/√2) ≈ √(2/π) z
    Cs = (A @ A.T + np.diag([0.3, 0.3])) * 1e-8
    for a, b, c, d in ((0, 0, 1, 1), (0, 1, 0, 1), (0, 0, 0, 1), (1, 1, 1, 1)):
        iss = Cs[a, b] * Cs[c, d] + Cs[a, c] * Cs[b, d] + Cs[a, d] * Cs[b, c]
        assert abs(f4(Cs, a, b, c, d, ERF) / ((2 / np.pi) ** 2 * iss) - 1) < 1e-6


def test_linear_activation_is_isserlis():
    rng = np.random.default_rng(11)
    A = rng.standard_normal((5, 7))
    C = A @ A.T / 7
    T = F4(C, "linear")
    for a, b, c, d in itertools.product(range(5), repeat=4):
        iss = C[a, b] * C[c, d] + C[a, c] * C[b, d] + C[a, d] * C[b, c]
        assert abs(T[a, b, c, d] - iss) < 1e-15
        assert f4(C, a, b, c, d, LINEAR) == pytest.approx(iss, abs=1e-15)
    # and against sampled fields (the convention E[z_a z_a z_b z_b] = C_aa C_bb + 2 C_ab²)
    z = rng.multivariate_normal(np.zeros(5), C, size=N_MC)
    for q in ((0, 0, 1, 1), (2, 2, 2, 2), (0, 1, 3, 4)):
        ok, info = _mc_check(T[q], np.prod(z[:, list(q)], axis=1))
        assert ok, (q, info)


# --------------------------------------------------------------------------- the table
def _c6(seed=9):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((3, 3)) * 0.4
    Q = Q @ Q.T + 0.8 * np.eye(3)
    R = rng.uniform(-0.7, 0.7, (3, 3))
    C = np.block([[Q, R], [R.T, np.eye(3)]])
    return C + max(0.0, 0.05 - np.linalg.eigvalsh(C).min()) * np.eye(6)


def test_table_symmetric_and_equal_to_scalar_kernel():
    C = _c6()
    out = np.empty((6, 6, 6, 6))
    assert f4_tensor(C, 6, ERF, out, np.empty(f4_scratch_size(6))) == 0
    for perm in itertools.permutations(range(4)):
        np.testing.assert_array_equal(out, out.transpose(perm))
    for q in itertools.product(range(6), repeat=4):
        assert abs(out[q] - f4(C, *q, ERF)) < 1e-14, q


def test_lambda_restriction_and_counts():
    C = _c6(4)
    scratch = np.empty(f4_scratch_size(6))
    full_erf = np.empty((6, 6, 6, 6))
    f4_tensor(C, 6, ERF, full_erf, scratch)
    for act in (ERF, LINEAR):
        full = np.empty((6, 6, 6, 6))
        f4_tensor(C, 6, act, full, scratch)
        part = np.full((6, 6, 6, 6), 7.0)
        assert f4_tensor_lambda(C, 6, 3, act, part, scratch) == 0
        for q in itertools.product(range(6), repeat=4):
            expected = full[q] if sum(i < 3 for i in q) >= 2 else 7.0
            assert part[q] == expected, q
    assert f4_distinct_count(6) == 126 and f4_distinct_count(6, 3) == 81
    assert f4_distinct_count(4) == 35
    # a sub-block of a larger array: n < shape, entries beyond n untouched
    big = np.full((8, 8, 8, 8), -1.0)
    f4_tensor(C, 5, ERF, big, np.empty(f4_scratch_size(5)))
    assert np.all(big[5:] == -1.0) and np.all(big[:, :, :, 5:] == -1.0)
    np.testing.assert_allclose(big[:5, :5, :5, :5], full_erf[:5, :5, :5, :5], rtol=0,
                               atol=1e-15)


def test_domain_errors_and_misuse():
    C = np.array([[1.0, 3.0], [3.0, 1.0]])  # |correlation of C + I| > 1
    out = np.empty((2, 2, 2, 2))
    scratch = np.empty(f4_scratch_size(2))
    assert f4_tensor(C, 2, ERF, out, scratch) > 0
    assert np.isnan(out[0, 1, 0, 1]) and np.isnan(f4(C, 0, 1, 0, 1, ERF))
    assert f4_tensor(np.array([[1.0, 0.5], [0.5, 1.0]]), 2, ERF, out, scratch) == 0
    # a zero-variance field: g(0) = 0, so F4 vanishes exactly
    assert f4(np.diag([0.0, 1.0]), 0, 1, 1, 1, ERF) == 0.0
    with pytest.raises(ValueError, match="scratch"):
        f4_tensor(np.eye(3), 3, ERF, np.empty((3, 3, 3, 3)), np.empty(9))
    with pytest.raises(ValueError, match="out"):
        f4_tensor(np.eye(3), 3, ERF, np.empty((2, 3, 3, 3)), np.empty(f4_scratch_size(3)))


# --------------------------------------------------------------------------- negative controls
def test_too_few_nodes_is_caught():
    """Two nodes per quadruple instead of the adaptive rule: the 1e-10 comparison with the
    independent reference fails for strongly correlated fields (the check can fail)."""
    C = _cov(13, "strong")
    T2 = F4_nodes(C, 2)
    errs = [abs(T2[q] - theory.conditional_reference(C, q, h=0.06)) for q in PATTERNS]
    assert max(errs) > 1e-6


def test_wrong_formulas_are_caught_by_monte_carlo():
    C = _cov(2, "moderate") + 0.5 * np.eye(4)
    z = np.random.default_rng(7).multivariate_normal(np.zeros(4), C, size=N_MC)
    g = erf(z / np.sqrt(2))
    i2 = I2(C)
    caught_pairs = caught_sign = 0
    for q in ((0, 1, 2, 3), (0, 0, 1, 1), (0, 0, 0, 1)):
        samples = np.prod(g[:, list(q)], axis=1)
        assert _mc_check(f4(C, *q, ERF), samples)[0]
        # independent-pairs approximation F4 ≈ I2·I2 (the Gaussian-Gram mistake)
        caught_pairs += not _mc_check(i2[q[0], q[1]] * i2[q[2], q[3]], samples)[0]
        # sign functions instead of erf (dropping the +I, i.e. C → ∞)
        caught_sign += not _mc_check(f4(C * 1e6, *q, ERF), samples)[0]
    assert caught_pairs >= 2 and caught_sign == 3


@pytest.mark.slow
def test_theory_script_quick():
    results = theory.run_all(verbose=False, quick=True)
    assert all(results.values()), {k: v for k, v in results.items() if not v}


@pytest.mark.slow
def test_f4_matches_monte_carlo_ten_million():
    C = _cov(21, "strong")
    T = F4(C)
    z = np.random.default_rng(121).multivariate_normal(np.zeros(4), C, size=10_000_000)
    g = erf(z / np.sqrt(2))
    for q in PATTERNS:
        ok, info = _mc_check(T[q], np.prod(g[:, list(q)], axis=1))
        assert ok, (q, info)
