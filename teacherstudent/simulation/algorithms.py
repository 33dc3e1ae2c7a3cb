r"""One outer update per task for ``arm``, ``fo-anil``, ``anil``, ``fo-maml``, ``maml``.

All functions act on a batch of independent replicas (leading dimension ``S``).

**Inner loop** (``s = inner_steps`` steps from ``(J, w)`` on the task's training loss
``L_P``; ``L_∞`` — the closed-form population loss of the current weights — when
``train_size = inf``)::

    w ← w − η_w ∇_w L_P(J, w)                                (all but arm)
    J ← J − η_in_J ∇_J L_P(J, w)                             (maml, fo-maml; simultaneous)

``∇_J L_P`` is in the normalisation of the outer step, ``∇_{J_k} L_P = (1/√N)(1/P)
Σ_μ Δ_μ s_K w_k g'(λ^μ_k) x^μ``, so the inner J step is ``(η_in_J/√N)·(1/P)Σ_μ Δ s_K w g' x``:
each entry of ``J`` moves by ``O(η_in_J/√N)`` and every overlap by ``O(η_in_J/N)`` — the
inner change of ``J`` vanishes from the order-parameter dynamics as ``N → ∞`` and MAML /
FO-MAML have the ANIL / FO-ANIL limits, which the simulations test.
At ``P = ∞`` the inner J gradient is the gradient of the closed-form population loss
(autograd through ``½cᵀI2(C)c``).

**Outer step** on the task's validation loss ``L_V`` (``L_∞`` for ``val_size = inf``; its
J gradient is the exact expectation over inputs, ``E_x[Δ s_K w_k g'(λ_k) x]/√N``, obtained by
differentiating the closed form — no sampling) at the adapted parameters ``(J_t, w_t)``::

    J ← J − η_J G_J,     w ← w − (η_0/N) G_w,

first order (``arm``, ``fo-anil``, ``fo-maml``): ``G = ∇_{(J_t, w_t)} L_V(J_t, w_t)``, written
out by hand for finite ``V`` (no autograd in the hot loop);
exact (``anil``, ``maml``): ``G = ∇_{(J, w)} L_V(J_t(J, w), w_t(J, w))`` by autograd through
the inner loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..ode.integrals import quadrature_rule
from .model import Network, stacked_overlaps
from .rng import ReplicaStreams

__all__ = [
    "Rates",
    "Task",
    "TaskChunk",
    "draw_chunk",
    "adapt_head",
    "inner_loop",
    "update",
    "incremental_applies",
    "run_chunk_incremental",
    "numba_applies",
    "run_chunk_numba",
    "draw_and_run_chunk",
]

EXACT = ("anil", "maml")
ADAPTS_J = ("maml", "fo-maml")


@dataclass(frozen=True)
class Rates:
    """The algorithm table: name, learning rates and sample sizes (``None`` = ∞)."""

    name: str
    eta_J: float
    eta_w: float
    eta_0: float
    eta_in_J: float
    inner_steps: int
    P: int | None
    V: int | None

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Rates:
        a = cfg["algorithm"]
        size = lambda v: None if v == math.inf else int(v)
        return cls(
            name=a["name"],
            eta_J=float(a["eta_J"]),
            eta_w=float(a["eta_w"]),
            eta_0=float(a["eta_0"]),
            eta_in_J=float(a["eta_in_J"]),
            inner_steps=0 if a["name"] == "arm" else int(a["inner_steps"]),
            P=size(a["train_size"]),
            V=size(a["val_size"]),
        )

    @property
    def exact(self) -> bool:
        return self.name in EXACT

    @property
    def adapts_J(self) -> bool:
        return self.name in ADAPTS_J and self.eta_in_J > 0.0

    @property
    def needs_train(self) -> bool:
        return self.P is not None and self.inner_steps > 0


# --------------------------------------------------------------------------- tasks
@dataclass
class Task:
    """One task for every replica: head ``u (S, M)``, teacher ``B^t (S, M, N)``, samples."""

    u: torch.Tensor
    Bt: torch.Tensor
    x_train: torch.Tensor | None = None  # (S, P, N)
    y_train: torch.Tensor | None = None  # (S, P)
    x_val: torch.Tensor | None = None  # (S, V, N)
    y_val: torch.Tensor | None = None  # (S, V)


@dataclass
class TaskChunk:
    """Standard normal draws for ``C`` consecutive tasks of every replica (dim 1 = task)."""

    z_u: torch.Tensor  # (S, C, M)
    dB: torch.Tensor | None  # (S, C, M, N)
    x_train: torch.Tensor | None  # (S, C, P, N)
    xi_train: torch.Tensor | None  # (S, C, P)
    x_val: torch.Tensor | None  # (S, C, V, N)
    xi_val: torch.Tensor | None  # (S, C, V)

    def task(self, c: int, net: Network, B: torch.Tensor) -> Task:
        """Task ``c`` of the chunk: heads, teachers and noisy labels."""
        u = net.heads(self.z_u[:, c])
        Bt = net.task_teacher(B, None if self.dB is None else self.dB[:, c])
        out = Task(u=u, Bt=Bt)
        for split, x, xi in (
            ("train", self.x_train, self.xi_train),
            ("val", self.x_val, self.xi_val),
        ):
            if x is None:
                continue
            xc = x[:, c]
            y = net.teacher(net.fields(xc, Bt), u)
            if xi is not None:
                y = y + net.noise * xi[:, c]
            setattr(out, f"x_{split}", xc)
            setattr(out, f"y_{split}", y)
        return out


def chunk_numbers(net: Network, rates: Rates) -> int:
    """Normal draws per task and replica (sets the chunk length for a memory budget)."""
    n = net.M + (net.M * net.N if net.gamma < 1.0 else 0)
    for size in ((rates.P if rates.needs_train else None), rates.V):
        if size is not None:
            n += size * (net.N + (1 if net.noise > 0 else 0))
    return n


def draw_chunk(net: Network, rates: Rates, streams: ReplicaStreams, C: int) -> TaskChunk:
    """Draw ``C`` tasks per replica, each replica from its own stream, in a fixed order.

    Per replica and chunk: head noise, ``ΔB^t`` (γ < 1), training inputs and label noise
    (finite P), validation inputs and label noise (finite V). The chunk boundaries are a
    function of the run's settings only, so a resumed run consumes the streams identically.
    """
    M, N = net.M, net.N
    noisy = net.noise > 0
    P = rates.P if rates.needs_train else None
    V = rates.V
    draw = lambda *shape: streams.normal(C, *shape).to(net.device)
    z_u = draw(M)
    dB = draw(M, N) if net.gamma < 1.0 else None
    x_tr = draw(P, N) if P is not None else None
    xi_tr = draw(P) if P is not None and noisy else None
    x_val = draw(V, N) if V is not None else None
    xi_val = draw(V) if V is not None and noisy else None
    return TaskChunk(z_u, dB, x_tr, xi_tr, x_val, xi_val)


# --------------------------------------------------------------------------- inner loop
def adapt_head(
    net: Network,
    rates: Rates,
    w: torch.Tensor,
    u: torch.Tensor,
    I2C: torch.Tensor | None = None,
    lam: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """``s`` head steps ``w ← w − η_w ∇_w L`` at fixed ``J``.

    ``P = ∞``: pass ``I2C = I2(C)`` of the overlaps of ``[J; B^t]``; finite ``P``: the training
    fields ``lam (…, P, K)`` and labels ``y (…, P)``.  Also used to evaluate the adapted error.
    """
    for _ in range(rates.inner_steps):
        if lam is None:
            grad = net.population_head_gradient(I2C, w, u)
        else:
            grad = net.sample_head_gradient(lam, net.student(lam, w) - y)
        w = w - rates.eta_w * grad
    return w


def population_gradient_J(
    net: Network, J: torch.Tensor, w: torch.Tensor, u: torch.Tensor, Bt: torch.Tensor,
    create_graph: bool,
) -> torch.Tensor:
    """``∇_J L_∞`` (exact input average) by differentiating the closed form ``½cᵀI2(C)c``."""
    with torch.enable_grad():
        Jg = J if J.requires_grad else J.detach().requires_grad_()
        C = stacked_overlaps(Jg, Bt)
        (grad,) = torch.autograd.grad(
            net.population_loss(C, w, u).sum(), Jg, create_graph=create_graph
        )
    return grad


def inner_loop(
    net: Network, rates: Rates, J: torch.Tensor, w: torch.Tensor, task: Task
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adapted ``(J_t, w_t)``; differentiable in ``(J, w)`` when they require grad."""
    if rates.inner_steps == 0:
        return J, w
    if not rates.adapts_J:
        if task.x_train is None:
            I2C = net.i2(stacked_overlaps(J, task.Bt))
            return J, adapt_head(net, rates, w, task.u, I2C=I2C)
        lam = net.fields(task.x_train, J)
        return J, adapt_head(net, rates, w, task.u, lam=lam, y=task.y_train)
    graph = J.requires_grad or w.requires_grad
    for _ in range(rates.inner_steps):
        if task.x_train is None:
            C = stacked_overlaps(J, task.Bt)
            gw = net.population_head_gradient(net.i2(C), w, task.u)
            gJ = population_gradient_J(net, J, w, task.u, task.Bt, create_graph=graph)
        else:
            lam = net.fields(task.x_train, J)
            gJ, gw = net.sample_gradients(task.x_train, lam, w, net.student(lam, w) - task.y_train)
        J, w = J - rates.eta_in_J * gJ, w - rates.eta_w * gw
    return J, w


# --------------------------------------------------------------------------- outer step
def validation_loss(net: Network, J: torch.Tensor, w: torch.Tensor, task: Task) -> torch.Tensor:
    """``L_V`` per replica (``(S,)``): sample mean of ``½Δ²``, or ``L_∞`` for ``V = ∞``."""
    if task.x_val is None:
        return net.population_loss(stacked_overlaps(J, task.Bt), w, task.u)
    delta = net.student(net.fields(task.x_val, J), w) - task.y_val
    return 0.5 * (delta * delta).mean(-1)


def first_order_gradients(
    net: Network, J: torch.Tensor, w: torch.Tensor, task: Task
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(∇_J L_V, ∇_w L_V)`` at given parameters (written out for finite ``V``)."""
    if task.x_val is None:
        I2C = net.i2(stacked_overlaps(J, task.Bt))
        gw = net.population_head_gradient(I2C, w, task.u)
        return population_gradient_J(net, J, w, task.u, task.Bt, create_graph=False), gw
    lam = net.fields(task.x_val, J)
    return net.sample_gradients(task.x_val, lam, w, net.student(lam, w) - task.y_val)


def meta_gradients(
    net: Network, rates: Rates, J: torch.Tensor, w: torch.Tensor, task: Task
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(G_J, G_w)`` of the outer step: first order at ``(J_t, w_t)`` or exact in ``(J, w)``."""
    if not rates.exact:
        J_t, w_t = inner_loop(net, rates, J, w, task)
        return first_order_gradients(net, J_t, w_t, task)
    with torch.enable_grad():
        J0 = J.detach().requires_grad_()
        w0 = w.detach().requires_grad_()
        J_t, w_t = inner_loop(net, rates, J0, w0, task)
        gJ, gw = torch.autograd.grad(validation_loss(net, J_t, w_t, task).sum(), (J0, w0))
    return gJ, gw


def update(net: Network, rates: Rates, J: torch.Tensor, w: torch.Tensor, task: Task) -> None:
    """One outer update in place: ``J ← J − η_J G_J``, ``w ← w − (η_0/N) G_w``."""
    gJ, gw = meta_gradients(net, rates, J, w, task)
    J.sub_(gJ, alpha=rates.eta_J)
    w.sub_(gw, alpha=rates.eta_0 / net.N)


# --------------------------------------------------------------------------- fast path
def incremental_applies(net: Network, rates: Rates) -> bool:
    """The hot path of :func:`run_chunk_incremental`: first order without inner J step,
    finite ``V``, population inner loop (or none), ``γ = 1``."""
    return (
        not rates.exact
        and not rates.adapts_J
        and rates.V is not None
        and not rates.needs_train
        and net.gamma == 1.0
    )


def run_chunk_incremental(
    net: Network,
    rates: Rates,
    J: torch.Tensor,
    B: torch.Tensor,
    w: torch.Tensor,
    chunk: TaskChunk,
) -> None:
    r"""All tasks of a chunk for ``arm``/``fo-anil`` (see :func:`incremental_applies`), in place.

    The same update as :func:`update`, organised for speed: the overlaps ``C`` of the rows of
    ``[J; B]`` needed by the population inner loop are recomputed at the start of the
    chunk and then carried along exactly (up to rounding) through the rank-``V`` updates
    ``J ← J − η_J Aᵀx`` (:meth:`Network.gradient_coefficients`): with the fields
    ``z = (λ, ν) = x[J; B]ᵀ/√N`` and ``G = xxᵀ/N``,

        C[J, :] += D,  C[:, J] += Dᵀ,  C[J, J] += η_J² Aᵀ G A,    D = −(η_J/√N) Aᵀ z,

    which replaces an ``O((K+M)K N)`` Gram matrix per task by ``O(V² N)`` work.  The weight
    update is one fused ``baddbmm_``.
    """
    K, N = net.K, net.N
    eta = rates.eta_J
    x_all = chunk.x_val  # (S, C, V, N)
    G_all = x_all @ x_all.transpose(-1, -2) / N  # (S, C, V, V)
    u_all = net.heads(chunk.z_u)
    C = stacked_overlaps(J, B)
    for c in range(x_all.shape[1]):
        x, u = x_all[:, c], u_all[:, c]
        w_t = adapt_head(net, rates, w, u, I2C=net.i2(C)) if rates.inner_steps else w
        lam = net.fields(x, J)
        nu = net.fields(x, B)
        y = net.teacher(nu, u)
        if chunk.xi_val is not None:
            y = y + net.noise * chunk.xi_val[:, c]
        delta = net.student(lam, w_t) - y
        A = net.gradient_coefficients(lam, w_t, delta)
        At = A.transpose(-1, -2)
        gw = net.sample_head_gradient(lam, delta)
        D = torch.cat([At @ lam, At @ nu], dim=-1) * (-eta / math.sqrt(N))
        C[:, :K, :] += D
        C[:, :, :K] += D.transpose(-1, -2)
        C[:, :K, :K] += (eta * eta) * (At @ G_all[:, c] @ A)
        J.baddbmm_(At, x, alpha=-eta)
        w.sub_(gw, alpha=rates.eta_0 / N)


def numba_applies(net: Network, rates: Rates) -> bool:
    """The CPU float64 case of :func:`incremental_applies`, run by :func:`run_chunk_numba`."""
    return (
        incremental_applies(net, rates)
        and net.device.type == "cpu"
        and net.dtype == torch.float64
    )


def run_chunk_numba(
    net: Network,
    rates: Rates,
    J: torch.Tensor,
    B: torch.Tensor,
    w: torch.Tensor,
    chunk: TaskChunk,
) -> None:
    """:func:`run_chunk_incremental` as one Numba kernel over replicas and tasks (CPU, float64).

    Same arithmetic per task (:func:`~teacherstudent.simulation.fastcpu.chunk_incremental`),
    without the per-task overhead of ~25 small torch operations; the replicas run in parallel
    and each replica's result does not depend on the number of threads.  ``J``, ``B``, ``w``
    are updated in place through their shared NumPy views (they must be contiguous).
    """
    from . import fastcpu

    x = chunk.x_val.contiguous().numpy()
    S, C, V = x.shape[:3]
    xi = chunk.xi_val.contiguous().numpy() if chunk.xi_val is not None else np.zeros((S, C, 0))
    fastcpu.chunk_incremental(
        *_weights_np(J, B, w), x, chunk.z_u.contiguous().numpy(), xi, *_kernel_args(net, rates)
    )


def draw_and_run_chunk(
    net: Network,
    rates: Rates,
    J: torch.Tensor,
    B: torch.Tensor,
    w: torch.Tensor,
    streams: ReplicaStreams,
    C: int,
) -> None:
    """``run_chunk_numba(draw_chunk(…, streams, C))`` in one kernel (``streams.kind = "numba"``).

    Each replica draws its chunk from its own stream in the order of :func:`draw_chunk` into
    scratch memory of its own (:func:`~teacherstudent.simulation.fastcpu.chunk_drawn`) and
    runs its tasks at once: the same numbers and the same arithmetic as the two steps, without
    writing the chunk's inputs of all replicas to memory.
    """
    from . import fastcpu

    if streams.kind != "numba" or streams.state is None:
        raise ValueError("draw_and_run_chunk needs numba streams")
    V = int(rates.V)
    fastcpu.chunk_drawn(
        streams.state, *_weights_np(J, B, w), int(C), V, net.noise > 0, *_kernel_args(net, rates)
    )


def _weights_np(J: torch.Tensor, B: torch.Tensor, w: torch.Tensor) -> tuple[np.ndarray, ...]:
    """NumPy views (shared memory) of the weights, updated in place by the kernels."""
    if not (J.is_contiguous() and B.is_contiguous() and w.is_contiguous()):
        raise ValueError("the Numba kernels need contiguous J, B and w")
    return J.numpy(), B.numpy(), w.numpy()


def _kernel_args(net: Network, rates: Rates) -> tuple[Any, ...]:
    """Head law, scales, noise, rates and the per-field activations (with the quadrature
    rule of the backend's I2) in the kernels' argument order."""
    return (
        np.ascontiguousarray(net.u_mean.numpy()),
        np.ascontiguousarray(net.u_sqrt.numpy()),
        float(net.s_K),
        float(net.s_M),
        float(net.noise),
        float(rates.eta_J),
        float(rates.eta_w),
        float(rates.eta_0),
        int(rates.inner_steps),
        net.field_codes(),
        quadrature_rule(net.quadrature_order),
    )
