"""MAML vs ERM on easy and hard linear-regression tasks: the closed-form error after one
fine-tuning step against Monte Carlo, the optima against autograd stationarity, the gain
identity, the limits, and the claim's geometry quantitatively."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from teacherstudent.linear import easy_hard as E


def _groups(distance=3.0, r_hard=0.2, d=5):
    return E.Groups.easy_hard(d, 0.4, 1.0, 0.1, distance, 0.5, r_hard)


@pytest.mark.parametrize("m", [6, 40])
def test_error_after_one_fine_tuning_step_matches_monte_carlo(m):
    g = _groups()
    theta0 = np.random.default_rng(1).standard_normal(5)
    exact = E.group_errors(theta0, g, 0.8, m, noise=0.5)
    mc = E.fine_tune_monte_carlo(theta0, g, 0.8, m, 0.5, 40_000, np.random.default_rng(2))
    np.testing.assert_allclose(mc, exact, rtol=0.02)


def test_population_contraction_is_the_gradient_step_factor():
    assert E.contraction(0.3, 0.9, np.inf, 7) == pytest.approx((1 - 0.27) ** 2, rel=1e-14)


def _mixture_error_torch(theta, g, alpha, m, noise):
    """The mixture objective written from the definition with torch (for the gradient)."""
    d = g.d
    total = 0.0
    for q, lam, c, r in zip(g.q, g.lam, g.c, g.r, strict=True):
        rho = 1 - 2 * alpha * lam + alpha**2 * lam**2 * (1 + (d + 1) / m)
        diff = theta - torch.tensor(c)
        total = total + q * 0.5 * lam * (rho * (diff @ diff + d * r**2)
                                         + alpha**2 * noise**2 * lam * d / m)
    return total


@pytest.mark.parametrize("method", ["maml", "erm"])
def test_optima_are_stationary_points(method):
    g = _groups()
    theta = torch.tensor(E.optimum(g, 0.8, 30, method), requires_grad=True)
    if method == "maml":  # the post-fine-tuning objective
        loss = _mixture_error_torch(theta, g, 0.8, 30, 0.5)
    else:  # the pooled loss ½ Σ q λ E‖θ − θ*‖²
        loss = sum(q * 0.5 * lam * torch.sum((theta - torch.tensor(c)) ** 2)
                   for q, lam, c in zip(g.q, g.lam, g.c, strict=True))
    (grad,) = torch.autograd.grad(loss, theta)
    assert np.abs(grad.numpy()).max() < 1e-13


def test_gain_identity_and_limits():
    g = _groups()
    out = E.gain(g, 0.8, 30, 0.5)
    A = np.sum(g.q * g.lam * E.contraction(g.lam, 0.8, 30, g.d))
    diff = E.optimum(g, 0.8, 30, "erm") - E.optimum(g, 0.8, 30, "maml")
    assert out["gain"] == pytest.approx(0.5 * A * diff @ diff, rel=1e-10)
    assert out["gain"] > 0
    # one centre: no gain; equal curvatures: ERM = MAML
    assert E.gain(_groups(distance=0.0), 0.8, 30, 0.5)["gain"] == pytest.approx(0, abs=1e-15)
    same = E.Groups.easy_hard(5, 0.4, 0.3, 0.3, 3.0, 0.5, 0.2)
    assert E.gain(same, 0.8, 30, 0.5)["gain"] == pytest.approx(0, abs=1e-14)


def test_claim_packed_far_hard_tasks_give_a_large_gain_with_many_samples():
    p = {"d": 10, "q_hard": 0.5, "lam_easy": 1.0, "lam_hard": 0.1, "r_easy": 0.5,
         "r_hard": 0.1, "distance": 4.0, "alpha": 0.9, "noise": 0.5, "m": 200}
    far_packed = E.sweep(p, [200], "m")[0]
    far_spread = E.sweep(p, [200], "m", r_hard=1.5)[0]
    near_packed = E.sweep(p, [200], "m", distance=1.0)[0]
    few_samples = E.sweep(p, [15], "m")[0]
    assert far_packed > 0.4 and far_packed > 2 * far_spread and far_packed > 2 * near_packed
    assert few_samples < 0.01  # m ≈ d: no gain
    assert np.all(np.diff(E.sweep(p, [0.5, 1, 2, 4, 8], "distance")) > 0)
