"""Gaussian integrals of every activation (teacherstudent.ode.integrals.backend).

References are independent of the code under test: Monte Carlo of the expectations (5
standard errors, seeded), the textbook ReLU arc-cosine kernel, the erf closed forms (for
the quadrature path), scipy's adaptive quadrature, and finite differences (Price).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf, expit

from teacherstudent.ode.integrals import backend as B
from teacherstudent.ode.integrals import closed_form as CF
from teacherstudent.ode.integrals import fourpoint as FP

SMOOTH = ["tanh", "sigmoid", "softplus", "gelu"]


def _phi_cdf(z):
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))


# reference activations and derivatives (numpy, for Monte Carlo)
G = {
    "erf": (lambda z: erf(z / math.sqrt(2)), lambda z: math.sqrt(2 / math.pi) * np.exp(-z * z / 2)),
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (expit, lambda z: expit(z) * (1 - expit(z))),
    "softplus": (lambda z: np.logaddexp(0.0, z), expit),
    "gelu": (
        lambda z: z * _phi_cdf(z),
        lambda z: _phi_cdf(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi),
    ),
}


def _cov(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return scale * A @ A.T / n


def _within(theory, samples, k=5.0):
    """|theory − mean| ≤ k standard errors, entrywise (samples: axis 0)."""
    m = samples.mean(0)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    z = np.abs(theory - m) / np.maximum(se, 1e-12)
    assert np.all(np.isfinite(theory))
    assert z.max() < k, f"max deviation {z.max():.1f} SE"


def _mc(C, acts, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(np.zeros(len(C)), C, size=n)
    g = np.stack([G[a][0](z[:, i]) for i, a in enumerate(acts)], 1)
    gp = np.stack([G[a][1](z[:, i]) for i, a in enumerate(acts)], 1)
    return z, g, gp


CASES = (
    [
        ["relu"] * 4,
        ["relu", "relu", "erf", "erf"],
        ["erf", "erf", "relu", "relu"],
        ["relu", "relu", "linear", "erf"],
    ]
    + [[a] * 4 for a in SMOOTH]
    + [["tanh", "tanh", "erf", "erf"], ["gelu", "sigmoid", "linear", "softplus"]]
)


@pytest.mark.parametrize("acts", CASES, ids=lambda a: "-".join(a))
def test_i2_j2_i3_against_monte_carlo(acts):
    C = _cov(4, 1)
    z, g, gp = _mc(C, acts)
    _within(B.I2(C, acts=acts), g[:, :, None] * g[:, None, :])
    _within(B.J2(C, acts=acts), gp[:, :, None] * gp[:, None, :])
    _within(B.I3(C, acts=acts), gp[:, :, None, None] * z[:, None, :, None] * g[:, None, None, :])


@pytest.mark.parametrize(
    "acts", CASES[:4] + [["sigmoid"] * 3, ["gelu", "gelu", "erf"]], ids=lambda a: "-".join(a)
)
def test_i4_against_monte_carlo(acts):
    n = len(acts)
    C = _cov(n, 2)
    z, g, gp = _mc(C, acts, seed=3)
    X = B.I4(C, acts=acts)
    samp = (
        gp[:, :, None, None, None]
        * gp[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :]
    )
    _within(X, samp)


def test_relu_closed_forms_textbook():
    """E[relu relu] = σσ'(sin θ + (π − θ) cos θ)/(2π) (not /(4π) or /(8π)); E[relu²] = σ²/2;
    E[θθ'] = (π − θ)/(2π)."""
    C = _cov(5, 4)
    s = np.sqrt(np.diag(C))
    rho = np.clip(C / np.outer(s, s), -1, 1)
    th = np.arccos(rho)
    ref = np.outer(s, s) * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    np.testing.assert_allclose(B.I2(C, "relu"), ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.diag(B.I2(C, "relu")), np.diag(C) / 2, atol=1e-14)
    np.testing.assert_allclose(B.J2(C, "relu"), (np.pi - th) / (2 * np.pi), atol=1e-13)


def test_relu_i4_special_values():
    """Exact cases: independent blocks factorise; a = b = c = d gives E[relu²; z > 0] = σ²/2."""
    C = np.diag([0.7, 1.3, 0.4, 2.0])
    C[0, 1] = C[1, 0] = 0.5
    C[2, 3] = C[3, 2] = -0.6
    X = B.I4(C, "relu")
    J = B.J2(C, "relu")
    Iz = B.I2(C, "relu")
    assert X[0, 1, 2, 3] == pytest.approx(J[0, 1] * Iz[2, 3], abs=1e-13)
    assert X[0, 0, 0, 0] == pytest.approx(0.35, abs=1e-14)
    # all four distinct and correlated: the orthant path against Monte Carlo in the MC test


def test_quadrature_path_equals_erf_closed_forms():
    C = _cov(5, 5)
    for fn, ref, tol in [(B.I2, CF.I2, 1e-12), (B.J2, CF.J2, 1e-12), (B.I3, CF.I3, 1e-12)]:
        np.testing.assert_allclose(fn(C, "erf", force_quadrature=True), ref(C), atol=tol)
    C3 = C[:3, :3]
    # 3-/4-D integrals run at twice the z-step (cost): 1e-8
    np.testing.assert_allclose(B.I4(C3, "erf", force_quadrature=True), CF.I4(C3), atol=1e-8)


def test_exact_engine_mixed_erf_linear_equals_closed_forms():
    """The orthant engine (forced through a mixed erf/linear pair) reproduces the erf and
    linear closed forms on their own blocks."""
    C = _cov(4, 6)
    acts = ["erf", "erf", "linear", "linear"]
    X = B.I4(C, acts=acts)
    np.testing.assert_allclose(X[:2, :2, :2, :2], CF.I4(C[:2, :2]), atol=1e-12)
    np.testing.assert_allclose(B.I2(C, acts=acts)[:2, :2], CF.I2(C[:2, :2]), atol=1e-13)
    np.testing.assert_allclose(B.I3(C, acts=acts)[:2, :, :2], CF.I3(C)[:2, :, :2], atol=1e-13)
    # linear g' = 1: I4(lin, lin, c, d) = I2(c, d)
    np.testing.assert_allclose(
        X[2:, 2:, :, :], np.broadcast_to(B.I2(C, acts=acts), (2, 2, 4, 4)), atol=1e-13
    )


@pytest.mark.parametrize("act", SMOOTH)
def test_smooth_against_scipy(act):
    """2-D integrals against scipy's adaptive quadrature (to 1e-10)."""
    C = _cov(3, 7, scale=1.5)
    g, gp = G[act]
    I2 = B.I2(C, act)
    J2 = B.J2(C, act)
    for a, b in [(0, 1), (1, 2)]:
        L = np.linalg.cholesky(C[np.ix_([a, b], [a, b])])

        def ex(f, h, L=L):
            return integrate.dblquad(
                lambda y, x: (
                    f(L[0, 0] * x)
                    * h(L[1, 0] * x + L[1, 1] * y)
                    * np.exp(-(x * x + y * y) / 2)
                    / (2 * np.pi)
                ),
                -9,
                9,
                -9,
                9,
                epsabs=1e-13,
                epsrel=1e-12,
            )[0]

        assert I2[a, b] == pytest.approx(ex(g, g), abs=1e-10)
        assert J2[a, b] == pytest.approx(ex(gp, gp), abs=1e-10)


@pytest.mark.parametrize(
    "acts",
    [
        ["erf", "erf"],
        ["relu", "relu"],
        ["relu", "erf"],
        ["erf", "relu"],
        ["tanh", "tanh"],
        ["sigmoid", "erf"],
        ["softplus", "softplus"],
        ["gelu", "linear"],
    ],
    ids=lambda a: "-".join(a),
)
def test_i2_dcov_against_finite_differences(acts):
    C = np.array([[0.8, 0.3], [0.3, 1.1]])
    h = 1e-5

    def i2(M, a, b):
        return B.I2(M, acts=acts)[a, b]

    d_ab, d_aa = B.dcov(C, 0, 1, acts=acts)
    E = np.array([[0.0, 1.0], [1.0, 0.0]])  # C_ab = C_ba move together
    fd_ab = (i2(C + h * E, 0, 1) - i2(C - h * E, 0, 1)) / (2 * h)
    Ea = np.array([[1.0, 0.0], [0.0, 0.0]])
    fd_aa = (i2(C + h * Ea, 0, 1) - i2(C - h * Ea, 0, 1)) / (2 * h)
    fd_diag = (i2(C + h * Ea, 0, 0) - i2(C - h * Ea, 0, 0)) / (2 * h)
    assert d_ab == pytest.approx(fd_ab, abs=1e-7)
    assert d_aa == pytest.approx(fd_aa, abs=1e-7)
    assert B.dcov(C, 0, 0, acts=acts) == pytest.approx(fd_diag, abs=1e-7)


@pytest.mark.parametrize(
    "acts", [["sigmoid"] * 3, ["gelu", "erf", "gelu"]], ids=lambda a: "-".join(a)
)
def test_f4_smooth_against_monte_carlo(acts):
    C = _cov(3, 8)
    z, g, _ = _mc(C, acts, seed=9)
    samp = (
        g[:, :, None, None, None]
        * g[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :]
    )
    _within(B.F4(C, acts=acts), samp)


def test_f4_relu_refused():
    assert not B.has_f4(B.RELU) and all(
        B.has_f4(B.activation_code(a)) for a in B.ACTIVATIONS if a != "relu"
    )
    C = _cov(3, 10)
    out = np.zeros((3, 3, 3, 3))
    acts = np.full(3, B.RELU, dtype=np.int64)
    bad = B.f4_tensor_lambda_acts(
        C, 3, 3, acts, B.quadrature_rule(), out, np.empty(FP.f4_scratch_size(3))
    )
    assert bad > 0 and np.isnan(out).all()


def test_relu_with_smooth_is_a_domain_error():
    C = _cov(2, 11)
    out = np.zeros((2, 2))
    acts = np.array([B.RELU, B.TANH], dtype=np.int64)
    assert B.i2_matrix_acts(C, 2, acts, B.quadrature_rule(), out) == 1
    assert np.isnan(out[0, 1]) and np.isfinite(out[0, 0]) and np.isfinite(out[1, 1])


def test_activation_codes():
    assert B.ACTIVATIONS == ("erf", "linear", "relu", "tanh", "sigmoid", "softplus", "gelu")
    assert [B.activation_code(a) for a in B.ACTIVATIONS] == list(range(7))
    with pytest.raises(ValueError, match="expected one of erf, linear, relu"):
        B.activation_code("swish")
    q = B.quadrature_rule(B.DEFAULT_QUADRATURE_ORDER)
    assert q.shape == (2, B.DEFAULT_QUADRATURE_ORDER)
    assert q[1].sum() == pytest.approx(1.0, abs=1e-15)
    assert q[1] @ q[0] ** 2 == pytest.approx(1.0, abs=1e-13)  # the Gaussian variance


def test_erf_fast_path_is_the_closed_form():
    """All-erf acts dispatch to the closed-form whole-matrix kernels (bit for bit)."""
    C = _cov(6, 12)
    acts = np.zeros(6, dtype=np.int64)
    q = B.quadrature_rule()
    out = np.empty((3, 3, 6, 6))
    ref = np.empty((3, 3, 6, 6))
    B.i4_tensor_acts(C, 3, 6, acts, q, out, np.empty(18))
    CF.i4_tensor(C, 3, 6, 0, ref, np.empty(18))
    assert np.array_equal(out, ref)


@pytest.mark.slow
@pytest.mark.parametrize("act", ["tanh", "softplus"])
def test_i4_f4_smooth_slow(act):
    """4-D integrals of tanh/softplus against Monte Carlo (2·10⁶ samples)."""
    C = _cov(3, 13)
    acts = [act] * 3
    z, g, gp = _mc(C, acts, n=2_000_000, seed=14)
    _within(
        B.I4(C, acts=acts),
        gp[:, :, None, None, None]
        * gp[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :],
    )
    _within(
        B.F4(C, acts=acts),
        g[:, :, None, None, None]
        * g[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :],
    )


@pytest.mark.slow
def test_f4_erf_quadrature_equals_price_path():
    C = _cov(3, 15)
    # 4-D rule at z-step 4h = 0.5 (cost): 8e-8 measured
    np.testing.assert_allclose(B.F4(C, "erf", force_quadrature=True), FP.F4(C), atol=2e-7)
