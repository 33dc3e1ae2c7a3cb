r"""The two-layer networks of the teacher–student model at finite N, as explicit PyTorch tensors.

Everything is batched over independent replicas (leading dimension ``S``, the ``seed``
dimension of the results).  Weights are stored as one tensor ``W = [J; B]`` of shape
``(S, K+M, N)``: the student first layer ``J = W[:, :K]`` and the meta-teacher
``B = W[:, K:]`` (views, so in-place updates of ``J`` act on ``W``).

**Networks.** The student's activation ``g`` (``model.activation``) and the teacher's
``g̃`` (``model.teacher_activation``), e.g. ``g(z) = erf(z/√2)``,
``g'(z) = √(2/π) e^{−z²/2}`` (all of them in :mod:`.activations`);
local fields ``λ_k = J_k·x/√N``, ``ν^t_n = B^t_n·x/√N``; student
``f(x) = s_K Σ_k w_{t,k} g(λ_k)``, label ``y = s_M Σ_n u_n g̃(ν^t_n) + σ ξ``.

**Losses.**  On ``n`` samples ``L_n = (1/n) Σ_μ ½ Δ_μ²``, ``Δ = f − y``; its gradients are

    ∇_{J_k} L_n = (1/√N) (1/n) Σ_μ Δ_μ s_K w_k g'(λ^μ_k) x^μ,
    ∇_w L_n     = (1/n) Σ_μ Δ_μ s_K g(λ^μ),

so the updates of the algorithms read ``J ← J − η_J ∇_J L_V`` and ``w ← w − (η_0/N) ∇_w L_V``.
The population loss (x Gaussian, exact at every N) is, with the overlaps ``C`` of the rows of
``[J; B^t]`` (``C = [J;B^t][J;B^t]ᵀ/N``) and ``c = (s_K w; −s_M u)``,

    L_∞ = E_x[½Δ²] = ½ cᵀ I2(C) c + σ²/2,     I2(C)_ab = (2/π) asin(C_ab/√((1+C_aa)(1+C_bb))),

(``I2(C) = C`` for the linear activation; for the other activations, and a teacher
activation other than the student's, ``I2`` comes from the ODE backend
:func:`~teacherstudent.ode.integrals.i2_matrix_acts` with its derivatives
:func:`~teacherstudent.ode.integrals.i2_dcov` for autograd) and its head gradient is
``∇_w L_∞ = s_K (s_K Φ w − s_M Ψ u)``, ``Φ = I2(C)[λ,λ]``, ``Ψ = I2(C)[λ,ν^t]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ..config import DEFAULT_QUADRATURE_ORDER, build_problem
from ..ode.integrals import activation_code, quadrature_rule
from .activations import g_prime_torch, g_torch
from .rng import ReplicaStreams

__all__ = [
    "Network",
    "resolve_device",
    "initial_weights",
    "overlaps",
    "stacked_overlaps",
    "nearest_psd_sqrt",
]

_TWO_OVER_PI = 2.0 / math.pi


def resolve_device(device: str | None) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; otherwise the named device."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def overlaps(A: torch.Tensor, B: torch.Tensor | None = None) -> torch.Tensor:
    """``A Bᵀ / N`` for stacks of row vectors ``(..., a, N)`` and ``(..., b, N)``."""
    B = A if B is None else B
    return A @ B.transpose(-1, -2) / A.shape[-1]


def stacked_overlaps(J: torch.Tensor, Bt: torch.Tensor) -> torch.Tensor:
    """Overlaps ``C`` of the rows of ``[J; B^t]`` assembled from blocks (no copy of the
    weights): ``[[JJᵀ, JB^tᵀ], [B^tJᵀ, B^tB^tᵀ]] / N``."""
    JB = overlaps(J, Bt)
    top = torch.cat([overlaps(J), JB], dim=-1)
    bottom = torch.cat([JB.transpose(-1, -2), overlaps(Bt)], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def nearest_psd_sqrt(C: torch.Tensor) -> torch.Tensor:
    """``L`` with ``L Lᵀ = C`` (symmetric square root, negative eigenvalues clipped).

    Used to draw local fields ``z = L ξ`` exactly distributed as the fields of Gaussian
    inputs, ``z ~ N(0, C)``, also when ``C`` is singular (a perfectly learnt unit).
    """
    ev, U = torch.linalg.eigh(0.5 * (C + C.transpose(-1, -2)))
    return U * ev.clamp(min=0.0).sqrt().unsqueeze(-2)


@dataclass(frozen=True)
class Network:
    """Sizes, scales and the task law of one configuration, on one device."""

    K: int
    M: int
    N: int
    s_K: float
    s_M: float
    noise: float
    gamma: float
    activation: str  # the student's g
    teacher_activation: str  # the teacher's g̃
    u_mean: torch.Tensor  # (M,)
    u_sqrt: torch.Tensor  # (M, M), u_sqrt u_sqrtᵀ = Σ_u
    device: torch.device
    dtype: torch.dtype
    quadrature_order: int = DEFAULT_QUADRATURE_ORDER

    @classmethod
    def from_config(
        cls, cfg: dict[str, Any], N: int, device: torch.device, dtype: torch.dtype
    ) -> Network:
        p = build_problem(cfg)
        ev, U = np.linalg.eigh(p.u_cov)
        u_sqrt = U * np.sqrt(np.clip(ev, 0.0, None))
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=float), device=device, dtype=dtype)
        return cls(
            K=p.K,
            M=p.M,
            N=int(N),
            s_K=p.s_K,
            s_M=p.s_M,
            noise=p.noise,
            gamma=p.gamma,
            activation=cfg["model"]["activation"],
            teacher_activation=cfg["model"].get("teacher_activation")
            or cfg["model"]["activation"],
            quadrature_order=int(cfg["model"].get("quadrature_order", DEFAULT_QUADRATURE_ORDER)),
            u_mean=t(p.u_mean),
            u_sqrt=t(u_sqrt),
            device=device,
            dtype=dtype,
        )

    # ---- activation and Gaussian integrals ------------------------------------------
    @property
    def linear(self) -> bool:
        """Both networks linear."""
        return self.activation == "linear" and self.teacher_activation == "linear"

    @property
    def closed_form(self) -> bool:
        """Both networks erf, or both linear: ``I2`` in closed form in PyTorch."""
        return self.activation == self.teacher_activation and self.activation in ("erf", "linear")

    def g(self, z: torch.Tensor) -> torch.Tensor:
        """The student's activation ``g(z)`` (e.g. ``erf(z/√2)``)."""
        return g_torch(self.activation, z)

    def g_teacher(self, z: torch.Tensor) -> torch.Tensor:
        """The teacher's activation ``g̃(z)``."""
        return g_torch(self.teacher_activation, z)

    def g_prime(self, z: torch.Tensor) -> torch.Tensor:
        """``g'(z)`` of the student (e.g. ``√(2/π) exp(−z²/2)`` for erf)."""
        return g_prime_torch(self.activation, z)

    def field_codes(self) -> np.ndarray:
        """Activation codes of the fields ``(λ_1..λ_K, ν_1..ν_M)`` (the backend's ``acts``)."""
        return np.array(
            [activation_code(self.activation)] * self.K
            + [activation_code(self.teacher_activation)] * self.M,
            dtype=np.int64,
        )

    def i2(self, C: torch.Tensor) -> torch.Tensor:
        """``I2(C)_ab = E[g_a(z_a) g_b(z_b)]`` for ``z ~ N(0, C)`` (batched over leading dims)
        for the overlaps ``C`` of ``[J; B^t]`` (student fields first)."""
        if self.closed_form:
            if self.activation == "linear":
                return C
            d = 1.0 + torch.diagonal(C, dim1=-2, dim2=-1)
            arg = C / torch.sqrt(d.unsqueeze(-1) * d.unsqueeze(-2))
            return _TWO_OVER_PI * torch.asin(arg.clamp(-1.0, 1.0))
        return _BackendI2.apply(C, self.field_codes(), quadrature_rule(self.quadrature_order))

    # ---- networks -------------------------------------------------------------------
    def fields(self, x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        """Local fields ``x Wᵀ/√N``: ``(S, n, N) × (S, F, N) → (S, n, F)``."""
        return x @ W.transpose(-1, -2) * (1.0 / math.sqrt(self.N))

    def student(self, lam: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``f = s_K Σ_k w_k g(λ_k)``; ``lam (S, n, K)``, ``w (S, K)`` → ``(S, n)``."""
        return self.s_K * (self.g(lam) @ w.unsqueeze(-1)).squeeze(-1)

    def teacher(self, nu: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Noise-free label ``s_M Σ_n u_n g̃(ν^t_n)``; ``nu (S, n, M)``, ``u (S, M)``."""
        return self.s_M * (self.g_teacher(nu) @ u.unsqueeze(-1)).squeeze(-1)

    def readout_coefficients(self, w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``c = (s_K w; −s_M u)`` so that ``Δ = Σ_i c_i g(z_i)`` (+ noise)."""
        return torch.cat([self.s_K * w, -self.s_M * u], dim=-1)

    def population_loss(self, C: torch.Tensor, w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``L_∞ = ½ cᵀ I2(C) c + σ²/2`` from the overlaps ``C`` of ``[J; B^t]``."""
        c = self.readout_coefficients(w, u).unsqueeze(-1)
        return 0.5 * (c.transpose(-1, -2) @ self.i2(C) @ c)[..., 0, 0] + 0.5 * self.noise**2

    def population_head_gradient(
        self, I2C: torch.Tensor, w: torch.Tensor, u: torch.Tensor
    ) -> torch.Tensor:
        """``∇_w L_∞ = s_K I2[λ, :] c = s_K (s_K Φ w − s_M Ψ u)`` given ``I2C = I2(C)``."""
        c = self.readout_coefficients(w, u).unsqueeze(-1)
        return self.s_K * (I2C[..., : self.K, :] @ c).squeeze(-1)

    def sample_head_gradient(
        self, lam: torch.Tensor, delta: torch.Tensor
    ) -> torch.Tensor:
        """``∇_w L_n = (1/n) Σ_μ Δ_μ s_K g(λ^μ)``; ``lam (S, n, K)``, ``delta (S, n)``."""
        n = lam.shape[-2]
        return (self.s_K / n) * (delta.unsqueeze(-2) @ self.g(lam)).squeeze(-2)

    def gradient_coefficients(
        self, lam: torch.Tensor, w: torch.Tensor, delta: torch.Tensor
    ) -> torch.Tensor:
        """``A_μk = (s_K/(n√N)) Δ_μ w_k g'(λ^μ_k)`` so that ``∇_J L_n = Aᵀ x`` (``(S, n, K)``)."""
        n = lam.shape[-2]
        A = (delta.unsqueeze(-1) * self.g_prime(lam)) * w.unsqueeze(-2)
        return A * (self.s_K / (n * math.sqrt(self.N)))

    def sample_gradients(
        self, x: torch.Tensor, lam: torch.Tensor, w: torch.Tensor, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(∇_J L_n, ∇_w L_n)`` of ``L_n = (1/n)Σ_μ ½Δ_μ²`` written out (no autograd).

        ``∇_{J_k} L_n = (s_K/(n√N)) Σ_μ Δ_μ w_k g'(λ^μ_k) x^μ`` is one batched matrix product
        ``Aᵀ x`` (:meth:`gradient_coefficients`).
        """
        A = self.gradient_coefficients(lam, w, delta)
        return A.transpose(-1, -2) @ x, self.sample_head_gradient(lam, delta)

    # ---- tasks ----------------------------------------------------------------------
    def heads(self, z: torch.Tensor) -> torch.Tensor:
        """Task heads ``u = ū + Σ_u^{1/2} z`` from standard normal ``z (..., M)``."""
        return self.u_mean + z @ self.u_sqrt.T

    def task_teacher(self, B: torch.Tensor, dB: torch.Tensor | None) -> torch.Tensor:
        """``B^t = γ B + √(1−γ²) ΔB^t`` (``B`` itself when ``γ = 1``)."""
        if dB is None:
            return B
        return self.gamma * B + math.sqrt(1.0 - self.gamma**2) * dB


class _BackendI2(torch.autograd.Function):
    """``I2(C)`` of the backend for per-field activations, batched over leading dimensions;
    the gradient by Price's theorem (``i2_dcov``, ``i2_diag_dcov``). Once differentiable:
    a second derivative (maml's inner J step at V = ∞) raises instead of being wrong."""

    @staticmethod
    def forward(ctx, C, acts, quad):
        from .fastcpu import i2_batch

        Cn = np.ascontiguousarray(C.detach().cpu().numpy(), dtype=np.float64)
        F = Cn.shape[-1]
        flat = Cn.reshape(-1, F, F)
        out = np.empty_like(flat)
        bad = i2_batch(flat, acts, quad, out)
        if bad:
            raise FloatingPointError(f"I2 of the simulated overlaps: {bad} domain errors")
        ctx.save_for_backward(C)
        ctx.acts, ctx.quad = acts, quad
        return torch.as_tensor(out.reshape(Cn.shape), dtype=C.dtype, device=C.device)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        from .fastcpu import i2_batch_grad

        (C,) = ctx.saved_tensors
        Cn = np.ascontiguousarray(C.detach().cpu().numpy(), dtype=np.float64)
        F = Cn.shape[-1]
        G = np.ascontiguousarray(grad.detach().cpu().numpy(), dtype=np.float64).reshape(-1, F, F)
        out = np.empty_like(G)
        i2_batch_grad(Cn.reshape(-1, F, F), G, ctx.acts, ctx.quad, out)
        return torch.as_tensor(out.reshape(Cn.shape), dtype=C.dtype, device=C.device), None, None


def initial_weights(
    net: Network, Q0: np.ndarray, R0: np.ndarray, T: np.ndarray, streams: ReplicaStreams
) -> torch.Tensor:
    """``W = [J; B] = L Oᵀ √N`` with ``L Lᵀ = C0 = [[Q0, R0], [R0ᵀ, T]]``.

    ``O`` (N × (K+M)) has orthonormal columns from the QR decomposition of a Gaussian
    matrix drawn from each replica's stream, so the initial overlaps ``W Wᵀ/N = C0``
    hold exactly (up to rounding) while the directions are random in ``ℝ^N``.
    """
    K, M, N = net.K, net.M, net.N
    C0 = np.block([[Q0, R0], [np.asarray(R0).T, T]])
    L = torch.as_tensor(np.linalg.cholesky(C0), device=net.device, dtype=net.dtype)
    G = streams.normal(N, K + M).to(net.device)
    O, Rr = torch.linalg.qr(G)
    O = O * torch.sign(torch.diagonal(Rr, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar frame
    return math.sqrt(N) * (L @ O.transpose(-1, -2))
