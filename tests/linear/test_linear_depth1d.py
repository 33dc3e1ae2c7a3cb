"""1-D MAML: shallow versus deep chains (seed 002)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from teacherstudent.linear import depth1d as D


def _autograd_adapted(w, a, alpha):
    """Reference: W' for each slope by an explicit autograd inner step on every layer."""
    wt = torch.tensor(np.asarray(w, dtype=float), requires_grad=True)
    out = []
    for ai in a:
        (g,) = torch.autograd.grad(0.5 * (torch.prod(wt) - ai) ** 2, wt)
        out.append(torch.prod(wt.detach() - alpha * g))
    return torch.stack(out)


@pytest.mark.parametrize("w", [[0.7], [1.2, -0.4], [0.9, 0.8, 1.1]])
def test_closed_form_matches_monte_carlo(w):
    alpha, mean, std = 0.3, 0.5, 1.2
    wt = torch.tensor(w, dtype=torch.float64)
    # the product formula for W'(a) equals an autograd inner step (exact identity)
    a = torch.as_tensor(np.random.default_rng(0).normal(mean, std, 300))
    torch.testing.assert_close(D.adapted_slope(wt, a, alpha), _autograd_adapted(w, a, alpha),
                               rtol=1e-12, atol=1e-12)
    # the residual polynomial reproduces W'(a) − a
    c = D.residual_coefficients(wt, alpha)
    poly = sum(c[n] * a**n for n in range(c.shape[0]))
    torch.testing.assert_close(poly, D.adapted_slope(wt, a, alpha) - a, rtol=1e-10, atol=1e-10)
    # the closed-form expectation against a Monte Carlo average over slopes
    closed = D.post_adaptation_loss(w, alpha, mean, std).item()
    a = torch.as_tensor(np.random.default_rng(1).normal(mean, std, 400_000))
    mc = (0.5 * (D.adapted_slope(wt, a, alpha) - a) ** 2).mean().item()
    assert closed == pytest.approx(mc, rel=0.02)


def test_shallow_model_cannot_beat_its_closed_form_floor():
    alpha, mean, std = 0.3, 1.0, 1.0
    ws = np.linspace(-2, 3, 201)
    losses = [D.post_adaptation_loss([w], alpha, mean, std).item() for w in ws]
    assert min(losses) == pytest.approx(D.shallow_floor(alpha, std), rel=1e-6)
    assert ws[int(np.argmin(losses))] == pytest.approx(mean, abs=0.03)
    losses, _ = D.meta_train([0.2], alpha, 0.5, 400, mean, std)
    assert losses[-1] == pytest.approx(D.shallow_floor(alpha, std), rel=1e-6)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_deep_chain_adapts_exactly_in_one_step(L):
    w = D.exact_adapter(L, 0.3)
    assert D.post_adaptation_loss(w, 0.3, 1.0, 1.0, noise=0.2).item() == pytest.approx(0.02)
    assert D.effective_rate(w, 0.3) == pytest.approx(1.0)


def test_meta_training_deep_chain_beats_shallow_floor():
    rng = np.random.default_rng(0)
    losses, weights = D.meta_train(1 + 0.1 * rng.standard_normal(3), 0.3, 0.05, 1500, 1.0, 1.0)
    assert losses[-1] < 1e-6 * D.shallow_floor(0.3, 1.0)
    assert D.effective_rate(weights[-1], 0.3) == pytest.approx(1.0, abs=1e-3)
