"""Exact limits of the order-parameter ODEs (plain SGD and perfect students).

* The symmetric plateau of the soft committee machine (Saad & Solla 1995) for K = M with
  T = I, unit heads, readout "none" is a fixed point of the O(η) drift, with the published
  plateau errors ε = 0.011611, 0.020297, 0.028377 for K = 2, 3, 4.
* A perfect student (Q = R = T = I, w = u) has zero drift including the η² terms; so does a
  perfectly specialised FO-ANIL/ANIL meta-learner whose one inner step adapts exactly.
* Linear activation, K = M = 1, readout "none", V = 1, only J trained:
  dε/dα = −η(2−η)ε + η²σ²/2 with ε = ½(Q − 2R + T), solved in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import fsolve

from teacherstudent import integrate, load_config
from teacherstudent.ode.field import VectorField


def _classic(K: int, **algorithm) -> dict:
    alg = {"name": "arm", "eta_J": 1.0, "eta_0": 0.0} | algorithm
    return load_config(
        {
            "model": {"K": K, "M": K, "readout": "none"},
            "tasks": {"head_mean": 1.0, "head_cov": 0.0},
            "algorithm": alg,
            "init": {"w": [1.0] * K, "R": 0.0},
        }
    )


def _symmetric_state(K, q, c, r):
    Q = c * np.ones((K, K)) + (q - c) * np.eye(K)
    return Q, r * np.ones((K, K)), np.ones(K)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("K, eps", [(2, 0.011611), (3, 0.020297), (4, 0.028377)])
def test_symmetric_plateau_is_fixed_point_with_published_error(K, eps):
    vf = VectorField.from_config(_classic(K))  # V = inf: the O(η) drift only

    def residual(p):
        d = vf(*_symmetric_state(K, *p))
        return [d["Q"][0, 0], d["Q"][0, 1], d["R"][0, 0]]

    sol = fsolve(residual, [0.5, 0.4, 0.3], xtol=1e-13)
    state = _symmetric_state(K, *sol)
    d = vf(*state)
    # the whole drift (every component, not only the three used to solve) vanishes
    for v in d.values():
        np.testing.assert_allclose(v, 0.0, atol=1e-10)
    assert vf.errors(*state)["eg"] == pytest.approx(eps, abs=5e-7)
    # known analytic plateau: Q_kl = 1/(2K-1) for all k, l and R = 1/sqrt(K(2K-1))
    np.testing.assert_allclose(
        sol, [1 / (2 * K - 1), 1 / (2 * K - 1), 1 / np.sqrt(K * (2 * K - 1))], rtol=1e-6
    )


@pytest.mark.parametrize("readout", ["none", "sqrt", "mean"])
@pytest.mark.parametrize("activation", ["erf", "linear"])
def test_perfect_student_has_zero_drift_including_eta2(readout, activation):
    K = 3
    u = np.array([1.0, -0.5, 2.0])
    cfg = load_config(
        {
            "model": {"K": K, "M": K, "readout": readout, "activation": activation},
            "tasks": {"head_mean": u.tolist(), "head_cov": 0.0},
            "algorithm": {"name": "arm", "eta_J": 0.7, "eta_0": 0.3, "val_size": 1},
            "init": {"w": u.tolist(), "R": 0.0},
        }
    )
    vf = VectorField.from_config(cfg)
    s_K, s_M = vf.problem.s_K, vf.problem.s_M
    w = u * s_M / s_K  # the student output s_K w·g equals the teacher s_M u·g
    d = vf(np.eye(K), np.eye(K), w)
    for v in d.values():
        np.testing.assert_allclose(v, 0.0, atol=1e-14)
    assert vf.errors(np.eye(K), np.eye(K), w)["eg"] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("name", ["fo-anil", "anil"])
def test_specialised_meta_learner_adapts_exactly_and_stops(name):
    """K = M = 3, readout sqrt, T = I: η_w = 9 makes η_w s_K² Φ = I, so one inner step from
    w = 0 recovers any task head exactly and every drift vanishes (η² terms, Σ_u = I too)."""
    cfg = load_config(
        {
            "algorithm": {"name": name, "eta_J": 2.0, "eta_w": 9.0, "val_size": 1},
            "model": {"noise": 0.0},
        }
    )
    vf = VectorField.from_config(cfg)
    perm = np.array([[0, 1, 0], [0, 0, -1], [1, 0, 0]], dtype=float)  # signed permutation
    d = vf(np.eye(3), perm, np.zeros(3))
    for v in d.values():
        np.testing.assert_allclose(v, 0.0, atol=1e-13)
    e = vf.errors(np.eye(3), perm, np.zeros(3))
    assert e["eg"] == pytest.approx(0.0, abs=1e-14)
    assert e["eg_pre"] == pytest.approx(
        1 / 6, rel=1e-12
    )  # ū = 0: no adaptation, ε = ½·s_M²·tr I2(T)


@pytest.mark.parametrize("eta, sigma", [(0.5, 0.0), (1.2, 0.3), (0.3, 0.5)])
def test_linear_network_closed_form(eta, sigma):
    cfg = load_config(
        {
            "model": {"K": 1, "M": 1, "readout": "none", "activation": "linear", "noise": sigma},
            "tasks": {"head_mean": 1.0, "head_cov": 0.0},
            "algorithm": {"name": "arm", "eta_J": eta, "eta_0": 0.0, "val_size": 1},
            "init": {"Q": [[0.8]], "R": [[0.1]], "w": [1.0]},
            "run": {"alpha_max": 8.0, "rtol": 1e-11, "atol": 1e-13, "n_save": 40},
        }
    )
    ds = integrate(cfg)
    alpha = ds.alpha.values
    eps0 = 0.5 * (0.8 - 2 * 0.1 + 1.0)
    rate = eta * (2 - eta)
    eps_star = eta * sigma**2 / (2 * (2 - eta))
    exact = eps_star + (eps0 - eps_star) * np.exp(-rate * alpha)
    measured = ds.eg.values - sigma**2 / 2  # eg counts the label noise
    np.testing.assert_allclose(measured, exact, rtol=1e-8, atol=1e-12)
