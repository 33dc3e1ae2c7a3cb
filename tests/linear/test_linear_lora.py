"""meta-lora / arm-lora (multi-output linear model with rank-r adaptation): the meta-gradient
against torch autograd through an explicit SVD-truncated inner loop, the full-rank identity
with MAML on all parameters, Eckart–Young for the one-step population adaptation, the
seed claim (retraining then adapting misses the optimal base, meta-lora recovers it) and the
refusals of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import teacherstudent.linear as L
from teacherstudent.config import ConfigError
from teacherstudent.linear.algorithms import UPDATES, Rates
from teacherstudent.linear.lora import (
    LoraStream,
    MatrixLoss,
    lora_meta_gradient,
    lora_metrics,
    lora_state,
    task_shift,
)

S, N_TASKS, D = 2, 3, 5


def _instance(seed: int, sample: bool):
    rng = np.random.default_rng(seed)
    A = 0.5 * rng.standard_normal((S, D, D))
    targets = rng.standard_normal((S, N_TASKS, D, D))
    if not sample:
        loss = MatrixLoss(targets)
        return A, loss, loss, ("pop", targets), ("pop", targets)

    def data(m):
        X = rng.standard_normal((S, N_TASKS, m, D))
        Y = X @ np.swapaxes(targets, -1, -2) + 0.3 * rng.standard_normal((S, N_TASKS, m, D))
        return X, Y

    (Xi, Yi), (Xo, Yo) = data(4), data(9)
    return (A, MatrixLoss.samples(Xi, Yi), MatrixLoss.samples(Xo, Yo), ("sample", Xi, Yi),
            ("sample", Xo, Yo))


def _loss(A, data, s, i):
    """Reference task loss from its definition: ½‖A − A_i^*‖² or ½ mean_μ ‖A x_μ − y_μ‖²."""
    if data[0] == "pop":
        return 0.5 * torch.sum((A - torch.as_tensor(data[1][s, i])) ** 2)
    X, Y = torch.as_tensor(data[1][s, i]), torch.as_tensor(data[2][s, i])
    return 0.5 * torch.mean(torch.sum((X @ A.T - Y) ** 2, dim=1))


def _autograd(A, din, dout, alpha, steps, rank):
    """Meta-gradient by autograd: projected GD on Δ with torch's SVD (rank None: plain GD)."""
    G = np.zeros_like(A)
    for s in range(S):
        for i in range(N_TASKS):
            At = torch.tensor(A[s], requires_grad=True)
            Dl = torch.zeros_like(At)
            for _ in range(steps):
                Ai = At + Dl  # the gradient of the task loss at its argument A + Δ_j
                (g,) = torch.autograd.grad(_loss(Ai, din, s, i), Ai, create_graph=True)
                Z = Dl - alpha * g
                if rank is None:
                    Dl = Z
                else:
                    U, sv, Vh = torch.linalg.svd(Z)
                    Dl = (U[:, :rank] * sv[:rank]) @ Vh[:rank]
            G[s] += torch.autograd.grad(_loss(At + Dl, dout, s, i), At)[0].numpy() / N_TASKS
    return G


@pytest.mark.parametrize("sample", [False, True], ids=["population", "finite-sample"])
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("rank", [1, 2])
def test_meta_lora_gradient_matches_autograd(rank, steps, sample):
    A, inner, outer, din, dout = _instance(10 * steps + rank + sample, sample)
    G = lora_meta_gradient(A, inner, outer, 0.4, steps, rank)
    ref = _autograd(A, din, dout, 0.4, steps, rank)
    assert np.abs(ref).max() > 1e-2
    np.testing.assert_allclose(G, ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("sample", [False, True], ids=["population", "finite-sample"])
def test_meta_lora_at_full_rank_is_maml_on_all_parameters(sample):
    """r = d: the truncation is the identity and the update is MAML's on A (to 1e-10)."""
    A, inner, outer, din, dout = _instance(5 + sample, sample)
    for steps in (1, 2):
        G = lora_meta_gradient(A, inner, outer, 0.3, steps, D)
        np.testing.assert_allclose(G, _autograd(A, din, dout, 0.3, steps, None), rtol=1e-10,
                                   atol=1e-12)
        if not sample:  # population MAML in closed form: A_s − A_i^* = (1 − α)^s (A − A_i^*)
            closed = (0.7 ** (2 * steps)) * (A[:, None] - inner.C).mean(axis=1)
            np.testing.assert_allclose(G, closed, rtol=1e-10, atol=1e-12)
    # and the registered update takes that step
    batch = type("B", (), {"inner": inner, "outer": outer})()
    A1, _ = UPDATES["meta-lora"](A, np.zeros((S, 0)), batch,
                                 Rates(alpha=0.3, beta=0.7, inner_steps=1, lora_rank=D))
    np.testing.assert_allclose(A1, A - 0.7 * _autograd(A, din, dout, 0.3, 1, None), rtol=1e-10,
                               atol=1e-12)


def test_rank_constraint_matters():
    """Control: below full rank the meta-gradient differs from MAML's."""
    A, inner, outer, din, dout = _instance(3, True)
    G = lora_meta_gradient(A, inner, outer, 0.3, 2, 1)
    assert np.abs(G - _autograd(A, din, dout, 0.3, 2, None)).max() > 1e-2


def test_one_population_step_of_rate_one_is_the_best_rank_r_adaptation():
    """α = 1, one step: A + Δ_1 is the Eckart–Young fit; no random rank-r update does better."""
    p = L.load_config({"linear": {"d": 6, "k": 2, "seeds": 2, "test_tasks": 5, "alpha": 1.0,
                                  "algorithms": ["meta-lora"]}})["linear"]
    st = lora_state(p)
    rng = np.random.default_rng(1)
    A = st.A_star + 0.3 * rng.standard_normal(st.A_star.shape)
    m = lora_metrics(A, st, 1.0, 1, 2)
    np.testing.assert_allclose(m["lora_error"], m["lora_opt_error"], rtol=1e-12)
    targets = st.A_star[:, None] + st.test_delta
    for _ in range(200):
        Dl = rng.standard_normal((2, 5, 6, 2)) @ rng.standard_normal((2, 5, 2, 6))
        err = 0.5 * np.mean(np.sum((A[:, None] + 0.3 * Dl - targets) ** 2, axis=(2, 3)), axis=1)
        assert np.all(err >= m["lora_opt_error"])
    # exact fit at the optimal base (every test perturbation has rank k = r)
    m0 = lora_metrics(st.A_star, st, 1.0, 1, 2)
    assert np.all(m0["lora_error"] < 1e-25) and np.all(m0["base_dist"] == 0)


def test_arm_lora_with_unit_rate_jumps_to_the_pooled_optimum():
    p = L.load_config({"linear": {"d": 6, "k": 2, "seeds": 2, "n_tasks": 7,
                                  "algorithms": ["arm-lora"]}})["linear"]
    st = lora_state(p)
    batch = LoraStream(p, st).next()
    A1, _ = UPDATES["arm-lora"](st.A0 + 1.0, np.zeros((2, 0)), batch, Rates(alpha=1, beta=1.0))
    np.testing.assert_allclose(A1, batch.pooled.C.mean(axis=1), rtol=1e-13, atol=1e-14)


def test_task_perturbations_have_the_stated_law():
    """Rank k, mean ς(k/d)I (Monte Carlo over the stream)."""
    p = L.load_config({"linear": {"d": 6, "k": 2, "seeds": 1, "n_tasks": 4000,
                                  "lora_shift": 1.5, "algorithms": ["arm-lora"]}})["linear"]
    st = lora_state(p)
    delta = LoraStream(p, st).next().inner.C - st.A_star[:, None]
    assert np.all(np.linalg.matrix_rank(delta[0, :20]) == 2)
    np.testing.assert_allclose(delta.mean(axis=1)[0], 1.5 * 2 / 6 * np.eye(6), atol=0.03)
    assert task_shift(p) == pytest.approx(1.5 * 2 / math.sqrt(6))


def test_claim_retraining_misses_the_optimal_base_and_meta_lora_recovers_it():
    """Population, α = 1, one step, r = k: meta-lora → A_* (error → 0); arm-lora stays near
    the pooled optimum A_* + ς(k/d)I, whose rank-r error is computed here independently."""
    cfg = {"linear": {"d": 8, "k": 2, "n_tasks": 20, "rounds": 150, "seeds": 2, "alpha": 1.0,
                      "beta": 0.5, "inner_steps": 1, "test_tasks": 64,
                      "algorithms": ["arm-lora", "meta-lora"]}}
    ds = L.run(cfg)
    assert ds.attrs["message"] == "ok"
    last = ds.isel(round=-1)
    meta, arm = last.sel(algorithm="meta-lora"), last.sel(algorithm="arm-lora")
    assert np.all(meta.base_dist < 1e-8) and np.all(meta.lora_error < 1e-14)
    p = L.load_config(cfg)["linear"]
    shift = task_shift(p)
    assert np.all(np.abs(arm.base_dist / shift - 1) < 0.35)
    # the rank-2 tail of Δ − ς(k/d)I over many fresh perturbations (Monte Carlo reference)
    rng = np.random.default_rng(0)
    G = rng.standard_normal((20000, 8, 2))
    R = G @ np.swapaxes(G, 1, 2) / 8 - (2 / 8) * np.eye(8)
    ref = 0.5 * np.mean(np.sum(np.linalg.svd(R, compute_uv=False)[:, 2:] ** 2, axis=1))
    assert np.all(np.abs(arm.lora_error / ref - 1) < 0.35)
    assert np.all(arm.lora_error > 1e10 * meta.lora_error)


def test_lora_runs_with_finite_samples_and_beside_the_representation_algorithms():
    ds = L.run({"linear": {"d": 6, "k": 2, "n_tasks": 4, "rounds": 3, "seeds": 2,
                           "m_in": 5, "m_out": 7, "noise": 0.1, "test_tasks": 3,
                           "algorithms": ["anil", "arm-lora", "meta-lora"]}})
    assert np.isnan(ds.dist.sel(algorithm="meta-lora")).all()
    assert np.isnan(ds.lora_error.sel(algorithm="anil")).all()
    assert np.isfinite(ds.lora_error.sel(algorithm=["arm-lora", "meta-lora"])).all()
    assert ds.lora_error.attrs["description"].startswith("arm-lora")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"lora_rank": 9, "d": 8}, "linear.lora_rank"),
        ({"lora_rank": 0}, "linear.lora_rank"),
        ({"lora_shift": -1.0}, "linear.lora_shift"),
        ({"task_pool": 40, "algorithms": ["meta-lora"]}, "linear.task_pool"),
    ],
)
def test_bad_lora_input_is_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=message):
        L.load_config({"linear": table})
