r"""The task law, the initial condition and the per-round task stream (one RNG per seed).

- ``B_* ∈ ℝ^{d×k}``: orthonormal columns, Haar-random per seed.
- Heads ``θ ~ N(θ̄, Σ_θ)``, ``Σ_θ = diag(1, …, 1, μ²)``: ``μ`` is the task diversity
  (``λ_min(E θθᵀ) = μ²`` for ``θ̄ = 0, μ ≤ 1``).
- Data ``x ~ N(0, I_d)``, ``y = ⟨B_*θ, x⟩ + σ ξ``; ``m = ∞`` is the population loss.
- ``init = "random"``: ``B_0`` i.i.d. ``N(0, s²/(α d))`` (so ``αB_0ᵀB_0 ≈ s² I``,
  ``s = init_scale``); ``init = "near"``: ``B_0 = (s/√α) B̂_0`` with
  ``B̂_0 = B_* O cos Θ + U sin Θ`` (``O`` a random rotation of ``ℝ^k``, ``U`` orthonormal in
  ``col(B_*)^⊥``, ``Θ = diag(θ_i)`` the principal angles, ``sin θ_i = δ i/k``), so that
  ``B̂_0`` is orthonormal and ``dist(B_0, B_*) = max_i sin θ_i = δ = init_dist`` exactly;
  for ``k' > k`` the extra columns are random orthonormal directions orthogonal to ``B_*``
  and ``U``.  ``w_0 = head_init · N(0, I_{k'})``.

Every seed id ``s`` owns ``SeedSequence(s)``, spawned into an initial-condition generator, a
head generator, a data generator and a test-task generator, so all algorithms of a run see
the same ``B_*``, ``B_0`` and tasks, and a seed's trajectory does not depend on which other
seeds are run with it.
Fresh heads are drawn in blocks of rounds (the same numbers as round-by-round draws).

Task groups (``group_means``, ``group_tasks``): the first ``n_1`` tasks of every round come
from group 1 (heads ``N(θ̄_1, Σ_θ)``, ``θ̄_g = v_g·1``), the next ``n_2`` from group 2, …; the
same standard normal draws as without groups, shifted to each slot's mean.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import head_mean_vector, seed_ids
from .model import SampleLoss, TaskLoss
from .population import PopulationLoss

__all__ = ["TaskLaw", "InitialState", "TaskBatch", "initial_state", "TaskStream",
           "group_slots", "group_head_means"]


@dataclass(frozen=True)
class TaskLaw:
    """``θ ~ N(θ̄, Σ_θ)`` with diagonal ``Σ_θ = diag(1,…,1,μ²)``."""

    mean: np.ndarray  # (k,)
    var: np.ndarray  # (k,) diagonal of Σ_θ

    @classmethod
    def from_config(cls, p: Mapping[str, Any]) -> TaskLaw:
        var = np.ones(p["k"])
        var[-1] = p["mu"] ** 2
        return cls(head_mean_vector(p), var)

    @property
    def cov(self) -> np.ndarray:
        return np.diag(self.var)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + np.sqrt(self.var) * rng.standard_normal((n, self.mean.size))


@dataclass
class InitialState:
    """Per-seed ground truth, initial condition and (optional) task pool, stacked over seeds."""

    B_star: np.ndarray  # (S, d, k)
    B0: np.ndarray  # (S, d, k')
    w0: np.ndarray  # (S, k')
    pool: np.ndarray | None  # (S, P, k) or None
    head_rngs: list[np.random.Generator]
    data_rngs: list[np.random.Generator]
    test_theta: np.ndarray  # (S, test_tasks, k): fixed test heads of the post_error_full metric
    # task groups with finite m_in: fixed adaptation samples x (S, T, m_in, d) and label
    # noises ξ (S, T, m_in) of the test tasks (worst_error, mean_error); None otherwise
    test_X: np.ndarray | None = None
    test_xi: np.ndarray | None = None

    def reduced(self) -> InitialState:
        """The same state in an orthonormal basis ``Q`` of ``col(B_0) + col(B_*)``.

        With population losses every algorithm keeps ``col(B_t) ⊂ col(B_0) + col(B_*)``: all
        updates are sums of ``r uᵀ`` and ``B U`` terms with residuals ``r = Bw − B_*θ`` (and
        their Hessian images ``Uw + Bu``) in that space.  ``Q`` is an isometry, so the
        dynamics and every metric are exactly those of the ``d``-dimensional problem, at a
        cost independent of ``d`` (dimension ``≤ k' + k``).
        """
        d = self.B0.shape[1]
        if d <= self.B0.shape[2] + self.B_star.shape[2]:
            return self
        Q = np.linalg.qr(np.concatenate([self.B0, self.B_star], axis=2))[0]
        Qt = np.swapaxes(Q, 1, 2)
        return dataclasses.replace(self, B_star=Qt @ self.B_star, B0=Qt @ self.B0)


def group_slots(p: Mapping[str, Any]) -> np.ndarray | None:
    """The group index of each task slot of a round ``(n,)``, or ``None`` without groups."""
    if not p["group_means"]:
        return None
    return np.repeat(np.arange(len(p["group_tasks"])), p["group_tasks"])


def group_head_means(p: Mapping[str, Any]) -> np.ndarray:
    """``θ̄_g`` of every group ``(G, k)`` (one group, ``θ̄``, without groups)."""
    if not p["group_means"]:
        return head_mean_vector(p)[None, :]
    return np.asarray(p["group_means"], dtype=float)[:, None] * np.ones(p["k"])


def _orthonormal(rng: np.random.Generator, d: int, k: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, k)))
    return Q * np.sign(np.diag(R))


def _initial_B(rng: np.random.Generator, B_star: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    d, k, kp = p["d"], p["k"], p["k_model"]
    scale = p["init_scale"] / math.sqrt(p["alpha"])
    if p["init"] == "random":
        return scale * rng.standard_normal((d, kp)) / math.sqrt(d)
    delta = p["init_dist"]
    O = _orthonormal(rng, k, k)
    # orthonormal directions in col(B_*)^⊥: project a Gaussian matrix, then orthonormalise
    G = rng.standard_normal((d, kp))
    G -= B_star @ (B_star.T @ G)
    W = np.linalg.qr(G)[0]  # needs k' <= d - k (checked by load_config)
    U, extra = W[:, :k], W[:, k:]
    sin = delta * np.arange(1, k + 1) / k  # principal angles spread in (0, δ]
    cos = np.sqrt(1.0 - sin**2)
    return scale * np.concatenate([B_star @ O * cos + U * sin, extra], axis=1)


def initial_state(p: Mapping[str, Any], law: TaskLaw) -> InitialState:
    """Draw ``B_*``, ``B_0``, ``w_0`` and the task pool for every seed of ``p``."""
    B_star, B0, w0, pools, head_rngs, data_rngs, tests = [], [], [], [], [], [], []
    samples = bool(p["group_means"]) and math.isfinite(p["m_in"])
    test_X, test_xi = [], []
    for s in seed_ids(p):
        init_ss, head_ss, data_ss, test_ss = np.random.SeedSequence(s).spawn(4)
        rng = np.random.default_rng(init_ss)
        Bs = _orthonormal(rng, p["d"], p["k"])
        B_star.append(Bs)
        B0.append(_initial_B(rng, Bs, p))
        w0.append(p["head_init"] * rng.standard_normal(p["k_model"]))
        if p["task_pool"] > 0:
            pools.append(law.draw(rng, p["task_pool"]))
        head_rngs.append(np.random.default_rng(head_ss))
        data_rngs.append(np.random.default_rng(data_ss))
        test_rng = np.random.default_rng(test_ss)
        tests.append(law.draw(test_rng, p["test_tasks"]))
        if samples:  # drawn after the heads: the test heads do not depend on m_in
            T, m = p["test_tasks"], int(p["m_in"])
            test_X.append(test_rng.standard_normal((T, m, p["d"])))
            test_xi.append(test_rng.standard_normal((T, m)))
    return InitialState(
        B_star=np.stack(B_star),
        B0=np.stack(B0),
        w0=np.stack(w0),
        pool=np.stack(pools) if pools else None,
        head_rngs=head_rngs,
        data_rngs=data_rngs,
        test_theta=np.stack(tests),
        test_X=np.stack(test_X) if samples else None,
        test_xi=np.stack(test_xi) if samples else None,
    )


class TaskBatch:
    """One round's tasks: heads ``θ`` ``(S, n, k)`` and their inner / outer / pooled losses.

    ``inner`` (``m_in`` samples) adapts, ``outer`` (``m_out``) evaluates the adapted model;
    algorithms without a train/validation split (ARM, D-SGD, FedAvg, Reptile, FedRep) use
    ``pooled``: the union of both sample sets (population if either is ``inf``), built on
    first use.
    """

    def __init__(self, theta, inner: TaskLoss, outer: TaskLoss, pooled: TaskLoss | None = None,
                 population: TaskLoss | None = None, groups: np.ndarray | None = None):
        self.theta = theta
        self.groups = groups  # (n,) group of each task, None: one group
        self.inner = inner
        self.outer = outer
        self._pooled = pooled
        self._population = population

    @property
    def pooled(self) -> TaskLoss:
        if self._pooled is None:
            if isinstance(self.inner, SampleLoss) and isinstance(self.outer, SampleLoss):
                self._pooled = SampleLoss.pooled(self.inner, self.outer)
            else:
                self._pooled = (self._population if self._population is not None
                                else self.inner if isinstance(self.inner, PopulationLoss)
                                else self.outer)
        return self._pooled


class TaskStream:
    """Draws the tasks of each round for every seed from the seeds' own generators."""

    BLOCK = 256  # rounds of fresh heads drawn at once

    def __init__(self, p: Mapping[str, Any], law: TaskLaw, state: InitialState):
        self.p = p
        self.law = law
        self.state = state
        self._block: np.ndarray | None = None
        self._used = 0
        self._Bs_T = np.swapaxes(state.B_star, 1, 2)
        self._groups = group_slots(p)
        self._mean = (law.mean if self._groups is None
                      else group_head_means(p)[self._groups])  # (k,) or (n, k)

    def _heads(self) -> np.ndarray:
        """``θ`` of the round, ``(S, n, k)``."""
        n, pool = self.p["n_tasks"], self.state.pool
        if pool is not None:
            if pool.shape[1] == n:
                return pool
            return np.stack(
                [pool[i, rng.choice(pool.shape[1], size=n, replace=False)]
                 for i, rng in enumerate(self.state.head_rngs)]
            )
        if self._block is None or self._used == self.BLOCK:
            k = self.law.mean.size
            g = np.stack([rng.standard_normal((self.BLOCK, n, k)) for rng in self.state.head_rngs])
            self._block = self._mean + np.sqrt(self.law.var) * g  # (S, BLOCK, n, k)
            self._used = 0
        self._used += 1
        return self._block[:, self._used - 1]

    def _samples(self, target: np.ndarray, m: float) -> SampleLoss | None:
        if math.isinf(m):
            return None
        S, n, d = target.shape
        X, y = [], []
        for i, rng in enumerate(self.state.data_rngs):
            Xi = rng.standard_normal((n, int(m), d))
            X.append(Xi)
            y.append((Xi @ target[i][..., None])[..., 0] + self.p["noise"]
                     * rng.standard_normal((n, int(m))))
        return SampleLoss(np.stack(X), np.stack(y))

    def next(self) -> TaskBatch:
        theta = self._heads()
        target = theta @ self._Bs_T  # B_* θ_i, (S, n, d)
        population = PopulationLoss(target, self.p["noise"])
        inner = self._samples(target, self.p["m_in"]) or population
        outer = self._samples(target, self.p["m_out"]) or population
        return TaskBatch(theta, inner, outer, population=population, groups=self._groups)
