"""KFO in the 1-D MAML model: the closed-form post-adaptation loss against an explicit
autograd inner step with the preconditioner (Monte Carlo over the task slope), the identity
with the shallow model at l = r = 1, and meta-training to exact adaptation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from teacherstudent.linear import depth1d as D


def test_kfo_loss_matches_a_preconditioned_inner_step_by_monte_carlo():
    alpha, mean, std, noise = 0.3, 0.7, 1.2, 0.4
    w, left, right = 0.9, 1.3, 0.8
    a = torch.tensor(np.random.default_rng(0).normal(mean, std, 400_000))
    wt = torch.full_like(a, w, requires_grad=True)
    task_loss = 0.5 * (wt - a) ** 2  # ½(w − a)², the noise adds σ²/2 to every loss
    (g,) = torch.autograd.grad(task_loss.sum(), wt)
    adapted = wt - alpha * left * right * g
    mc = float(torch.mean(0.5 * (adapted.detach() - a) ** 2)) + 0.5 * noise**2
    closed = float(D.kfo_post_adaptation_loss([w, left, right], alpha, mean, std, noise))
    assert closed == pytest.approx(mc, rel=5e-3)


def test_kfo_with_unit_factors_is_the_shallow_model():
    for w in (-0.4, 0.3, 2.0):
        kfo = D.kfo_post_adaptation_loss([w, 1.0, 1.0], 0.35, 0.8, 1.1, 0.2)
        shallow = D.post_adaptation_loss([w], 0.35, 0.8, 1.1, 0.2)
        assert float(kfo) == pytest.approx(float(shallow), rel=1e-13)


def test_meta_trained_kfo_adapts_exactly_and_the_shallow_model_cannot():
    alpha = 0.3
    losses, params = D.meta_train([1.0, 1.05, 0.95], alpha, 0.05, 800, 1.0, 1.0, 0.0,
                                  model="kfo")
    assert losses[-1] < 1e-20
    assert alpha * params[-1, 1] * params[-1, 2] == pytest.approx(1.0, abs=1e-9)
    shallow, _ = D.meta_train([1.05], alpha, 0.05, 800, 1.0, 1.0, 0.0)
    assert shallow[-1] == pytest.approx(D.shallow_floor(alpha, 1.0), rel=1e-6)
    with pytest.raises(ValueError, match="model"):
        D.meta_train([1.0], alpha, 0.05, 1, 1.0, 1.0, model="lstm")
