r"""1-D "MAML needs depth" (Arnold et al. 2021): a shallow model vs a chain of ``L`` scalar layers.

Tasks: ``y = a x + σ ξ``, ``x, ξ ~ N(0, 1)``, task slope ``a ~ N(m, s²)``.  A chain of ``L``
scalar layers ``f(x) = W x``, ``W = ∏_l w_l`` (``L = 1``: the shallow model) has task loss
``ℒ_a(w) = ½(W − a)² + σ²/2`` and ``∂ℒ_a/∂w_l = (W − a) P_l``, ``P_l = ∏_{j≠l} w_j``.
One MAML inner step of rate ``α`` on every layer gives

    W'(a) = ∏_l (w_l − α (W − a) P_l)        (a polynomial of degree L in a),

and the post-adaptation loss (the MAML objective) is, with ``r(a) = W'(a) − a = Σ_n c_n aⁿ``,

    ℒ_MAML(w) = ½ E_a r(a)² + σ²/2 = ½ Σ_{n,n'} c_n c_{n'} E[a^{n+n'}] + σ²/2,

with Gaussian raw moments ``E aⁿ = m E a^{n−1} + (n−1) s² E a^{n−2}``.

Closed forms:

- shallow (``L = 1``): ``W' − a = (1 − α)(w − a)``, so ``ℒ_MAML = ½(1−α)²((w−m)² + s²) + σ²/2``,
  minimised at ``w = m`` with the floor ``½(1−α)² s² + σ²/2``: the only parameter sets the
  prediction, not the adaptation speed, so unless ``α = 1`` no ``w`` adapts fast;
- deep (``L ≥ 2``): ``w = (c, …, c, 0)`` with ``α c^{2(L−1)} = 1`` gives ``W = 0`` and
  ``W'(a) = −α(−a) c^{2(L−1)} = a`` for every ``a``: ``ℒ_MAML = σ²/2``, exact one-step
  adaptation.  The upper layers set the effective inner rate ``α Σ_l P_l²`` of the product.

KFO (a learned preconditioner of the adaptation gradient, Kronecker-factored ``L ∇ R``; for
the ``1×1`` weight of the shallow model the factors are scalars ``l``, ``r``): one inner step
``w' = w − α l r ∂ℒ_a/∂w`` gives ``W' − a = (1 − αlr)(w − a)`` and

    ℒ_KFO(w, l, r) = ½ (1 − αlr)² ((w − m)² + s²) + σ²/2,

zero excess at ``αlr = 1`` for every ``w``: the meta-learnt preconditioner repairs the
shallow model (``l = r = 1`` is the shallow model).  :func:`meta_train` with
``model="kfo"`` trains ``(w, l, r)``.

The loss is written in torch (float64) so that :func:`meta_train` differentiates the closed
form exactly with autograd.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "adapted_slope",
    "residual_coefficients",
    "gaussian_moments",
    "post_adaptation_loss",
    "shallow_floor",
    "exact_adapter",
    "meta_train",
    "effective_rate",
    "kfo_post_adaptation_loss",
]


def _others(w: torch.Tensor) -> torch.Tensor:
    """``P_l = ∏_{j≠l} w_j`` for every ``l`` (no division, safe at ``w_l = 0``)."""
    L = w.shape[0]
    return torch.stack([torch.prod(torch.cat([w[:l], w[l + 1 :]])) for l in range(L)])


def adapted_slope(w: torch.Tensor, a: torch.Tensor, alpha: float) -> torch.Tensor:
    """``W'(a) = ∏_l (w_l − α (W − a) P_l)`` for a batch of slopes ``a``."""
    W = torch.prod(w)
    P = _others(w)
    return torch.prod(w[:, None] - alpha * (W - a)[None, :] * P[:, None], dim=0)


def residual_coefficients(w: torch.Tensor, alpha: float) -> torch.Tensor:
    """Coefficients ``c_0 … c_L`` of ``r(a) = W'(a) − a`` (ascending powers of ``a``)."""
    W = torch.prod(w)
    P = _others(w)
    poly = torch.ones(1, dtype=w.dtype)
    for l in range(w.shape[0]):
        factor = torch.stack([w[l] - alpha * W * P[l], alpha * P[l]])  # w_l − αWP_l + αP_l a
        new = torch.zeros(poly.shape[0] + 1, dtype=w.dtype)
        new = new + torch.cat([poly * factor[0], torch.zeros(1, dtype=w.dtype)])
        new = new + torch.cat([torch.zeros(1, dtype=w.dtype), poly * factor[1]])
        poly = new
    return poly - torch.nn.functional.pad(torch.ones(1, dtype=w.dtype), (1, poly.shape[0] - 2))


def gaussian_moments(mean: float, std: float, order: int) -> torch.Tensor:
    """``E aⁿ`` for ``n = 0 … order``, ``a ~ N(mean, std²)``."""
    M = [1.0, float(mean)]
    for n in range(2, order + 1):
        M.append(mean * M[n - 1] + (n - 1) * std**2 * M[n - 2])
    return torch.tensor(M[: order + 1], dtype=torch.float64)


def post_adaptation_loss(
    w, alpha: float, mean: float, std: float, noise: float = 0.0
) -> torch.Tensor:
    """``ℒ_MAML(w) = ½ E_a (W'(a) − a)² + σ²/2`` in closed form (a torch scalar)."""
    w = torch.as_tensor(w, dtype=torch.float64)
    c = residual_coefficients(w, alpha)
    M = gaussian_moments(mean, std, 2 * (c.shape[0] - 1))
    idx = torch.arange(c.shape[0])
    return 0.5 * (c[:, None] * c[None, :] * M[idx[:, None] + idx[None, :]]).sum() + 0.5 * noise**2


def kfo_post_adaptation_loss(
    params, alpha: float, mean: float, std: float, noise: float = 0.0
) -> torch.Tensor:
    """``ℒ_KFO(w, l, r) = ½(1 − αlr)²((w − m)² + s²) + σ²/2`` for ``params = (w, l, r)``."""
    w, left, right = torch.as_tensor(params, dtype=torch.float64)
    return 0.5 * (1 - alpha * left * right) ** 2 * ((w - mean) ** 2 + std**2) + 0.5 * noise**2


def shallow_floor(alpha: float, std: float, noise: float = 0.0) -> float:
    """``min_w ℒ_MAML`` of the shallow model: ``½(1 − α)² s² + σ²/2``."""
    return 0.5 * (1 - alpha) ** 2 * std**2 + 0.5 * noise**2


def exact_adapter(L: int, alpha: float) -> np.ndarray:
    """A chain (``L ≥ 2``) adapting exactly in one step: ``(c,…,c,0)``, ``αc^{2(L−1)} = 1``."""
    if L < 2:
        raise ValueError("a shallow model (L = 1) cannot adapt exactly unless alpha = 1")
    c = alpha ** (-1.0 / (2 * (L - 1)))
    return np.array([c] * (L - 1) + [0.0])


def effective_rate(weights, alpha: float) -> np.ndarray:
    """``α_eff = α Σ_l P_l²``: the first-order inner step of the product, ``W' ≈ W − α_eff(W − a)``.

    ``weights``: ``(..., L)``; ``α_eff = 1`` adapts a unit-curvature quadratic in one step.
    """
    w = np.asarray(weights, dtype=float)
    P = np.stack([np.prod(np.delete(w, l, axis=-1), axis=-1) for l in range(w.shape[-1])], -1)
    return alpha * np.sum(P**2, axis=-1)


def meta_train(
    w0,
    alpha: float,
    beta: float,
    steps: int,
    mean: float,
    std: float,
    noise: float = 0.0,
    model: str = "chain",
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient descent of rate ``β`` on ``ℒ_MAML`` (exact expectation over tasks).

    ``model``: ``"chain"`` (``w0`` the ``L`` layers) or ``"kfo"`` (``w0 = (w, l, r)``, the
    shallow model with a learned preconditioner, :func:`kfo_post_adaptation_loss`).
    Returns the loss ``(steps + 1,)`` (NaN after a divergence) and the parameters
    ``(steps + 1, len(w0))``.
    """
    if model not in ("chain", "kfo"):
        raise ValueError(f"model must be 'chain' or 'kfo', got {model!r}")
    objective = post_adaptation_loss if model == "chain" else kfo_post_adaptation_loss
    w = torch.tensor(np.asarray(w0, dtype=float), dtype=torch.float64, requires_grad=True)
    losses = np.full(steps + 1, np.nan)
    weights = np.full((steps + 1, w.shape[0]), np.nan)
    for t in range(steps + 1):
        loss = objective(w, alpha, mean, std, noise)
        if not math.isfinite(loss.item()) or loss.item() > 1e12:
            break
        losses[t] = loss.item()
        weights[t] = w.detach().numpy()
        if t == steps:
            break
        (g,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= beta * g
    return losses, weights
