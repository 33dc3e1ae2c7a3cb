"""The meta-learning ODEs: reductions between algorithms and the paper-like default run.

Independent oracles for the drift itself (autograd through the overlaps, Monte Carlo of the
one-task update) live in test_drift_autograd.py and test_drift_montecarlo.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from teacherstudent import integrate, load_config
from teacherstudent.ode.field import VectorField


def _random_state(rng, K, M, T):
    """A random admissible (Q, R, w): the overlaps of explicit random vectors."""
    N = 50
    # rows of B and J are vectors / sqrt(N): Q = J Jᵀ, R = J Bᵀ are the overlaps
    B = np.linalg.cholesky(T) @ np.linalg.qr(rng.standard_normal((N, M)))[0].T
    J = 0.8 * rng.standard_normal((K, M)) @ B + 0.5 * rng.standard_normal((K, N)) / np.sqrt(N)
    return J @ J.T, J @ B.T, rng.standard_normal(K)


def _config(rng, name, **extra):
    K, M = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    A = rng.standard_normal((M, M))
    cfg = {
        "model": {
            "K": K,
            "M": M,
            "readout": str(rng.choice(["sqrt", "none", "mean"])),
            "noise": float(rng.uniform(0, 0.5)),
        },
        "tasks": {
            "head_mean": rng.standard_normal(M).tolist(),
            "head_cov": (A @ A.T / M).tolist(),
            "gamma": float(rng.uniform(0.3, 1.0)),
        },
        "algorithm": {
            "name": name,
            "eta_J": float(rng.uniform(0.2, 2)),
            "eta_w": float(rng.uniform(0.5, 3)),
            "eta_0": float(rng.uniform(0.1, 1)),
            "inner_steps": int(rng.integers(1, 4)),
            "val_size": int(rng.integers(1, 6)),
        },
    }
    for key, value in extra.items():
        table, k = key.split(".")
        cfg[table][k] = value
    return load_config(cfg)


def _drift(cfg, state):
    return VectorField.from_config(cfg)(*state)


@pytest.mark.parametrize("seed", range(8))
def test_fo_anil_without_inner_rate_is_arm(seed):
    rng = np.random.default_rng(seed)
    cfg = _config(rng, "fo-anil", **{"algorithm.eta_w": 0.0})
    state = _random_state(rng, cfg["model"]["K"], cfg["model"]["M"], np.eye(cfg["model"]["M"]))
    a = _drift(cfg, state)
    b = _drift(load_config(cfg, {"algorithm.name": "arm"}), state)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("seed", range(8))
def test_anil_equals_fo_anil_when_second_order_terms_vanish(seed):
    """The extra ANIL terms are ∝ ∂w_t/∂(J, w) − (∂w_t/∂w at η_w=0): they vanish for
    η_w = 0 (no adaptation) and for zero inner steps, at any state."""
    rng = np.random.default_rng(100 + seed)
    cfg = _config(rng, "anil", **{"algorithm.eta_w": 0.0})
    state = _random_state(rng, cfg["model"]["K"], cfg["model"]["M"], np.eye(cfg["model"]["M"]))
    for changes in ({}, {"algorithm.eta_w": 1.3, "algorithm.inner_steps": 0}):
        a = _drift(load_config(cfg, changes), state)
        b = _drift(load_config(cfg, changes | {"algorithm.name": "fo-anil"}), state)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_anil_correction_is_first_order_in_inner_rate(seed):
    """∂w_t/∂J = O(η_w): (anil − fo-anil)/η_w has a finite, non-zero limit as η_w → 0."""
    rng = np.random.default_rng(200 + seed)
    cfg = _config(rng, "anil", **{"algorithm.val_size": "inf"})
    state = _random_state(rng, cfg["model"]["K"], cfg["model"]["M"], np.eye(cfg["model"]["M"]))
    ratios = []
    for eta_w in (1e-4, 2e-4):
        a = _drift(load_config(cfg, {"algorithm.eta_w": eta_w}), state)
        b = _drift(load_config(cfg, {"algorithm.eta_w": eta_w, "algorithm.name": "fo-anil"}), state)
        ratios.append((a["R"] - b["R"]) / eta_w)
    assert np.abs(ratios[0]).max() > 1e-6
    np.testing.assert_allclose(ratios[0], ratios[1], rtol=2e-3, atol=1e-9)


@pytest.mark.parametrize("name", ["arm", "fo-anil", "anil"])
def test_gamma_one_limit_is_continuous(name):
    """γ < 1 adds the task fields ν^t; at γ → 1 the drift must join the γ = 1 model."""
    rng = np.random.default_rng(5)
    cfg = _config(rng, name, **{"tasks.gamma": 1.0})
    state = _random_state(rng, cfg["model"]["K"], cfg["model"]["M"], np.eye(cfg["model"]["M"]))
    a = _drift(cfg, state)
    b = _drift(load_config(cfg, {"tasks.gamma": 1.0 - 1e-9}), state)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-8)


def test_maml_uses_the_anil_limit():
    cfg = load_config(None)
    for alias, target in (("maml", "anil"), ("fo-maml", "fo-anil")):
        a = integrate(load_config(cfg, {"algorithm.name": alias, "run.alpha_max": 5.0}))
        b = integrate(load_config(cfg, {"algorithm.name": target, "run.alpha_max": 5.0}))
        np.testing.assert_array_equal(a.R.values, b.R.values)
        assert a.attrs["ode_algorithm"] == target


def test_default_run_plateau_then_specialisation():
    ds = integrate(load_config(None, {"run.eg_threshold": 1e-3}))
    eg = ds.eg.values
    alpha = ds.alpha.values
    # plateau at ε = 1/6: the unspecialised student with ū = 0 cannot predict any task
    on_plateau = (alpha > 1) & (alpha < 5)
    np.testing.assert_allclose(eg[on_plateau], 1 / 6, rtol=1e-3)
    # specialisation well before α = 450
    assert ds.attrs["alpha_threshold"] < 100
    assert eg[-1] < 1e-8
    R, Q = ds.R.values[-1], ds.Q.values[-1]
    rows, perm = linear_sum_assignment(-np.abs(R))
    P = np.zeros_like(R)
    P[rows, perm] = np.sign(R[rows, perm])
    np.testing.assert_allclose(R, P, atol=1e-4)  # |R| is a permutation matrix
    np.testing.assert_allclose(Q, np.eye(3), atol=1e-4)
    assert len(set(perm.tolist())) == 3  # each student unit on a distinct teacher unit


def test_smaller_rates_lengthen_the_plateau():
    def escape(**changes):
        ds = integrate(load_config(None, {"run.eg_threshold": 0.01, **changes}))
        return ds.attrs["alpha_threshold"]

    a_eta_J = [escape(**{"algorithm.eta_J": e}) for e in (3.0, 2.0, 1.0)]
    a_eta_w = [escape(**{"algorithm.eta_w": e}) for e in (9.0, 7.0, 6.0)]
    assert np.all(np.diff(a_eta_J) > 0), a_eta_J
    assert np.all(np.diff(a_eta_w) > 0), a_eta_w


def test_overparameterised_student_all_units_used():
    """K = 6 > M = 3 with readout "sqrt": every teacher unit is learned, and the extra
    student units duplicate teacher units (each teacher unit gets two students)."""
    ds = integrate(load_config(None, {"model.K": 6}))
    assert ds.eg.values[-1] < 1e-3
    R = ds.R.values[-1]
    best = np.abs(R).argmax(axis=1)
    counts = np.bincount(best, minlength=3)
    assert np.all(counts >= 1)
    # each student unit is dominated by a single teacher unit
    assert np.all(np.abs(R).max(axis=1) > 3 * np.sort(np.abs(R), axis=1)[:, -2])
