"""Gaussian integrals I2, I3, I4, J2 against Monte Carlo on random covariances.

Each closed form is compared with a Monte Carlo mean over fields sampled from C; the
tolerance is 5 standard errors of that mean (plus a float floor), so a wrong formula fails
while sampling noise does not (≈ 1 false alarm in 10^6 comparisons).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from teacherstudent.ode.integrals import I2, I3, I4, J2

N_MC = 400_000
N_COV = 24


def _random_cov(rng: np.random.Generator, n: int) -> np.ndarray:
    A = rng.standard_normal((n, n + 2))
    C = A @ A.T / (n + 2) * rng.uniform(0.3, 3.0)
    return C + rng.uniform(0.05, 0.5) * np.eye(n)


def _fields(rng, C):
    z = rng.multivariate_normal(np.zeros(len(C)), C, size=N_MC)
    return z, erf(z / np.sqrt(2)), np.sqrt(2 / np.pi) * np.exp(-(z**2) / 2)


def _check(closed, samples):
    mean = samples.mean()
    se = samples.std() / np.sqrt(samples.size)
    assert abs(closed - mean) < 5 * se + 1e-12, (closed, mean, se)


@pytest.mark.parametrize("case", range(N_COV))
def test_integrals_match_monte_carlo(case):
    rng = np.random.default_rng(1000 + case)
    n = 4
    C = _random_cov(rng, n)
    z, g, gp = _fields(rng, C)
    i2, i3, i4, j2 = I2(C), I3(C), I4(C), J2(C)
    # all index tuples including repeated indices (the diagonal cases matter: Q_kk, I4(k,k,..))
    a, b, c, d = rng.integers(0, n, size=4)
    _check(i2[a, b], g[:, a] * g[:, b])
    _check(i2[a, a], g[:, a] ** 2)
    _check(i3[a, b, c], gp[:, a] * z[:, b] * g[:, c])
    _check(i3[a, a, c], gp[:, a] * z[:, a] * g[:, c])
    _check(i3[a, b, a], gp[:, a] * z[:, b] * g[:, a])
    _check(i4[a, b, c, d], gp[:, a] * gp[:, b] * g[:, c] * g[:, d])
    _check(i4[a, a, c, c], gp[:, a] ** 2 * g[:, c] ** 2)
    _check(i4[a, b, a, b], gp[:, a] * gp[:, b] * g[:, a] * g[:, b])
    _check(j2[a, b], gp[:, a] * gp[:, b])


def test_symmetries_and_distinct_values():
    rng = np.random.default_rng(7)
    C = _random_cov(rng, 5)
    i2, i4, j2 = I2(C), I4(C), J2(C)
    np.testing.assert_allclose(i2, i2.T, rtol=0, atol=0)
    np.testing.assert_allclose(j2, j2.T, rtol=0, atol=0)
    np.testing.assert_allclose(i4, i4.transpose(1, 0, 2, 3), rtol=0, atol=0)
    np.testing.assert_allclose(i4, i4.transpose(0, 1, 3, 2), rtol=0, atol=0)


def test_i4_reduces_to_i2_structure_for_independent_blocks():
    """If (a,b) are independent of (c,d), I4 factorises into J2(a,b)·I2(c,d)."""
    rng = np.random.default_rng(3)
    C = np.zeros((4, 4))
    C[:2, :2] = _random_cov(rng, 2)
    C[2:, 2:] = _random_cov(rng, 2)
    i4, i2, j2 = I4(C), I2(C), J2(C)
    np.testing.assert_allclose(i4[0, 1, 2, 3], j2[0, 1] * i2[2, 3], rtol=1e-13)
    np.testing.assert_allclose(i4[0, 0, 3, 3], j2[0, 0] * i2[3, 3], rtol=1e-13)


def test_linear_activation_closed_forms():
    rng = np.random.default_rng(11)
    C = _random_cov(rng, 4)
    np.testing.assert_allclose(I2(C, "linear"), C)
    i3 = I3(C, "linear")
    i4 = I4(C, "linear")
    for a in range(4):
        np.testing.assert_allclose(i3[a], C)
        for b in range(4):
            np.testing.assert_allclose(i4[a, b], C)
    np.testing.assert_allclose(J2(C, "linear"), np.ones((4, 4)))


def test_domain_errors_are_counted():
    """An inadmissible covariance (|correlation| > 1) is reported, not silently used."""
    from teacherstudent.ode.integrals import ERF, i2_matrix

    C = np.array([[1.0, 3.0], [3.0, 1.0]])
    out = np.empty((2, 2))
    assert i2_matrix(C, 2, ERF, out) > 0
    C_ok = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert i2_matrix(C_ok, 2, ERF, out) == 0


def test_branch_free_arcsin_of_the_i4_blocks():
    """The arcsin of the I4 kernel (a rational approximation, branch-free so that the block
    loop vectorises) is within 2 ulp of NumPy's on [−1, 1], exact at 0 and ±1, clips
    beyond ±1 and keeps NaN."""
    from numba import njit

    from teacherstudent.ode.integrals import closed_form

    f = njit(lambda x: np.array([closed_form._asin_select(v) for v in x]))
    x = np.concatenate([np.linspace(-1.0, 1.0, 400_001), [0.5, -0.5, np.nextafter(0.5, 0),
                        1e-300, -1e-200, 0.999999999, np.nextafter(1.0, 0)]])
    ref = np.arcsin(x)
    ulp = np.abs(f(x) - ref) / np.spacing(np.maximum(np.abs(ref), 1e-300))
    assert ulp.max() <= 2.0, ulp.max()
    edges = f(np.array([0.0, 1.0, -1.0, 1.0 + 1e-13, -1.5, np.nan]))
    np.testing.assert_array_equal(edges[:5], [0.0, np.pi / 2, -np.pi / 2, np.pi / 2, -np.pi / 2])
    assert np.isnan(edges[5])
