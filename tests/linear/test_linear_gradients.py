"""Hand-written exact meta-gradients (ANIL, MAML, iMAML and first-order variants) versus
torch autograd through an explicit per-task inner loop (float64), population and
finite-sample losses, several inner steps, k' > k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from teacherstudent.linear.algorithms import META_GRADIENTS, imaml_gradient, meta_gradient
from teacherstudent.linear.model import SampleLoss
from teacherstudent.linear.population import PopulationLoss

S, N_TASKS, D, K, KP = 2, 3, 7, 2, 3


def _instance(seed: int, sample: bool):
    rng = np.random.default_rng(seed)
    B_star = np.linalg.qr(rng.standard_normal((S, D, K)))[0]
    theta = rng.standard_normal((S, N_TASKS, K))
    target = theta @ np.swapaxes(B_star, 1, 2)
    B = 0.6 * rng.standard_normal((S, D, KP))
    w = 0.5 * rng.standard_normal((S, KP))
    if not sample:
        loss = PopulationLoss(target, noise=0.3)
        return B, w, loss, loss, ("pop", target), ("pop", target)

    def data(m):
        X = rng.standard_normal((S, N_TASKS, m, D))
        y = (X @ target[..., None])[..., 0] + 0.3 * rng.standard_normal((S, N_TASKS, m))
        return X, y

    (Xi, yi), (Xo, yo) = data(4), data(9)
    return B, w, SampleLoss(Xi, yi), SampleLoss(Xo, yo), ("sample", Xi, yi), ("sample", Xo, yo)


def _loss(B, w, data, s, i):
    """Reference task loss, written from the definition (not from Σ, c)."""
    if data[0] == "pop":
        v = B @ w - torch.as_tensor(data[1][s, i])
        return 0.5 * v @ v
    X, y = torch.as_tensor(data[1][s, i]), torch.as_tensor(data[2][s, i])
    return 0.5 * torch.mean((X @ (B @ w) - y) ** 2)


def _autograd_meta(B, w, din, dout, alpha, steps, adapt_B, exact):
    GB, gw = np.zeros_like(B), np.zeros_like(w)
    for s in range(S):
        for i in range(N_TASKS):
            Bt = torch.tensor(B[s], requires_grad=True)
            wt = torch.tensor(w[s], requires_grad=True)
            Bi, wi = Bt, wt
            for _ in range(steps):
                inner = _loss(Bi, wi, din, s, i)
                gB, gwi = torch.autograd.grad(inner, (Bi, wi), create_graph=exact)
                if adapt_B:
                    Bi = Bi - alpha * gB
                wi = wi - alpha * gwi
            if not exact:  # first order: the adapted parameters move with θ, dθ_s/dθ = I
                Bi = Bt + (Bi - Bt).detach()
                wi = wt + (wi - wt).detach()
            a, b = torch.autograd.grad(_loss(Bi, wi, dout, s, i), (Bt, wt))
            GB[s] += a.numpy() / N_TASKS
            gw[s] += b.numpy() / N_TASKS
    return GB, gw


def _autograd_imaml(B, w, din, dout, lam):
    GB, gw = np.zeros_like(B), np.zeros_like(w)
    for s in range(S):
        for i in range(N_TASKS):
            Bt = torch.tensor(B[s], requires_grad=True)
            wt = torch.tensor(w[s], requires_grad=True)
            # exact minimiser of f_in(B, v) + λ/2 |v − w|²: stationarity, solved by autograd-able
            # normal equations assembled from the reference loss's Hessian and gradient at v = 0
            v0 = torch.zeros(KP, dtype=torch.float64, requires_grad=True)
            g0 = torch.autograd.grad(_loss(Bt, v0, din, s, i), v0, create_graph=True)[0]
            H = torch.stack(
                [torch.autograd.grad(g0[j], v0, create_graph=True)[0] for j in range(KP)]
            )
            wi = torch.linalg.solve(H + lam * torch.eye(KP, dtype=torch.float64), lam * wt - g0)
            a, b = torch.autograd.grad(_loss(Bt, wi, dout, s, i), (Bt, wt))
            GB[s] += a.numpy() / N_TASKS
            gw[s] += b.numpy() / N_TASKS
    return GB, gw


@pytest.mark.parametrize("sample", [False, True], ids=["population", "finite-sample"])
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("name", sorted(META_GRADIENTS))
def test_meta_gradient_matches_autograd(name, steps, sample):
    B, w, inner, outer, din, dout = _instance(10 * steps + sample, sample)
    adapt_B, exact = META_GRADIENTS[name]
    alpha = 0.3
    GB, gw = meta_gradient(B, w, inner, outer, alpha, steps, adapt_B, exact)
    GB_ref, gw_ref = _autograd_meta(B, w, din, dout, alpha, steps, adapt_B, exact)
    assert np.abs(GB_ref).max() > 1e-3  # a non-trivial instance
    np.testing.assert_allclose(GB, GB_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sample", [False, True], ids=["population", "finite-sample"])
def test_imaml_gradient_matches_autograd(sample):
    B, w, inner, outer, din, dout = _instance(7 + sample, sample)
    GB, gw = imaml_gradient(B, w, inner, outer, lam=1.7)
    GB_ref, gw_ref = _autograd_imaml(B, w, din, dout, lam=1.7)
    np.testing.assert_allclose(GB, GB_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-10, atol=1e-12)


def test_exact_and_first_order_differ():
    """Control: the second-order terms are not negligible on these instances."""
    B, w, inner, outer, *_ = _instance(3, True)
    exact = meta_gradient(B, w, inner, outer, 0.3, 2, False, True)[0]
    first = meta_gradient(B, w, inner, outer, 0.3, 2, False, False)[0]
    assert np.abs(exact - first).max() > 1e-3


def test_sample_loss_tends_to_population_loss():
    """½⟨(ŷ − y)²⟩ over many samples → ½‖Bw − B_*θ‖² + σ²/2 (law of large numbers)."""
    rng = np.random.default_rng(0)
    d, m, sigma = 4, 400_000, 0.5
    target = rng.standard_normal((1, 1, d))
    X = rng.standard_normal((1, 1, m, d))
    y = (X @ target[..., None])[..., 0] + sigma * rng.standard_normal((1, 1, m))
    B, w = rng.standard_normal((1, d, 2)), rng.standard_normal((1, 2))
    emp = SampleLoss(X, y).value(B, w[:, None, :])
    pop = PopulationLoss(target, sigma).value(B, w[:, None, :])
    direct = 0.5 * np.sum((B[0] @ w[0] - target[0, 0]) ** 2) + 0.5 * sigma**2
    assert pop[0, 0] == pytest.approx(direct, rel=1e-12)
    assert emp[0, 0] == pytest.approx(direct, rel=2e-2)
