"""tr-maml (task-robust MAML over task groups): the update against torch autograd of the
entropy-regularised worst-group objective, the identities with MAML (one group; ε → ∞), the
group weights, the task-group stream and the refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import teacherstudent.linear as L
from teacherstudent.config import ConfigError
from teacherstudent.linear.algorithms import UPDATES, group_weights
from teacherstudent.linear.dynamics import rates_of
from teacherstudent.linear.tasks import TaskLaw, TaskStream, initial_state

BASE = {"d": 7, "k": 2, "k_model": 2, "n_tasks": 5, "seeds": 2, "group_means": [0.0, 1.5],
        "group_tasks": [3, 2], "m_in": 4, "m_out": 9, "noise": 0.3, "alpha": 0.3,
        "beta": 0.7, "inner_steps": 2, "tr_temperature": 0.4, "head_init": 0.5,
        "algorithms": ["tr-maml"], "test_tasks": 4}


def _setup(**over):
    p = L.load_config({"linear": {**BASE, **over}})["linear"]
    law = TaskLaw.from_config(p)
    state = initial_state(p, law)
    return p, state, TaskStream(p, law, state).next()


def _loss(B, w, X, y):
    return 0.5 * torch.mean((X @ (B @ w) - y) ** 2)


def _autograd_objective(B, w, batch, p):
    """∇ of ε log Σ_g q_g exp(L_g/ε), L_g the group mean of the post-adaptation outer loss,
    through an explicit MAML inner loop (torch, float64)."""
    eps, alpha, groups = p["tr_temperature"], p["alpha"], batch.groups
    q = np.bincount(groups) / groups.size
    GB, gw = np.zeros_like(B), np.zeros_like(w)
    for s in range(B.shape[0]):
        Bt = torch.tensor(B[s], requires_grad=True)
        wt = torch.tensor(w[s], requires_grad=True)
        losses = []
        for i in range(groups.size):
            Bi, wi = Bt, wt
            Xi, yi = torch.tensor(batch.inner.X[s, i]), torch.tensor(batch.inner.y[s, i])
            for _ in range(p["inner_steps"]):
                gB, gwi = torch.autograd.grad(_loss(Bi, wi, Xi, yi), (Bi, wi), create_graph=True)
                Bi, wi = Bi - alpha * gB, wi - alpha * gwi
            Xo, yo = torch.tensor(batch.outer.X[s, i]), torch.tensor(batch.outer.y[s, i])
            losses.append(_loss(Bi, wi, Xo, yo))
        losses = torch.stack(losses)
        Lg = torch.stack([losses[torch.tensor(groups == g)].mean() for g in range(q.size)])
        F = eps * torch.logsumexp(torch.log(torch.tensor(q)) + Lg / eps, dim=0)
        a, b = torch.autograd.grad(F, (Bt, wt))
        GB[s], gw[s] = a.numpy(), b.numpy()
    return GB, gw


@pytest.mark.parametrize("eps", [0.05, 0.4, 5.0])
def test_tr_maml_update_is_a_gradient_step_on_the_robust_objective(eps):
    p, state, batch = _setup(tr_temperature=eps)
    B, w = state.B0, state.w0
    B1, w1 = UPDATES["tr-maml"](B, w, batch, rates_of(p))
    GB, gw = _autograd_objective(B, w, batch, p)
    assert np.abs(GB).max() > 1e-3
    np.testing.assert_allclose(B1, B - p["beta"] * GB, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w1, w - p["beta"] * gw, rtol=1e-10, atol=1e-12)


def test_tr_maml_with_one_group_is_maml():
    p, state, batch = _setup(group_means=[], group_tasks=[])
    assert batch.groups is None
    r = rates_of(p)
    Bt, wt = UPDATES["tr-maml"](state.B0, state.w0, batch, r)
    Bm, wm = UPDATES["maml"](state.B0, state.w0, batch, r)
    np.testing.assert_array_equal(Bt, Bm)
    np.testing.assert_array_equal(wt, wm)


def test_tr_maml_at_large_temperature_is_maml_on_the_share_weighted_tasks():
    p, state, batch = _setup(tr_temperature=1e12)
    r = rates_of(p)
    Bt, wt = UPDATES["tr-maml"](state.B0, state.w0, batch, r)
    Bm, wm = UPDATES["maml"](state.B0, state.w0, batch, r)
    np.testing.assert_allclose(Bt, Bm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wt, wm, rtol=1e-10, atol=1e-12)
    # and the worst group takes (almost) all the weight as ε → 0
    losses = np.array([[1.0, 1.2, 0.8, 2.0, 2.2], [3.0, 3.0, 3.0, 0.1, 0.1]])
    pw, c = group_weights(losses, batch.groups, 1e-3)
    np.testing.assert_allclose(pw, [[0.0, 1.0], [1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(c.mean(axis=1), 1.0)  # ⟨c_i⟩ = Σ_g p_g = 1


def test_group_stream_draws_each_group_around_its_mean():
    p, state, _ = _setup(n_tasks=400, group_tasks=[300, 100], m_in="inf", m_out="inf")
    batch = TaskStream(p, TaskLaw.from_config(p), state).next()
    assert list(np.bincount(batch.groups)) == [300, 100]
    th = batch.theta
    np.testing.assert_allclose(th[:, :300].mean(axis=(0, 1)), [0.0, 0.0], atol=0.12)
    np.testing.assert_allclose(th[:, 300:].mean(axis=(0, 1)), [1.5, 1.5], atol=0.2)


def test_group_metrics_without_groups_equal_post_error_full():
    ds = L.run({"linear": {**BASE, "group_means": [], "group_tasks": [], "rounds": 3,
                           "algorithms": ["maml", "tr-maml"]}})
    np.testing.assert_array_equal(ds.worst_error.values, ds.post_error_full.values)
    np.testing.assert_array_equal(ds.mean_error.values, ds.post_error_full.values)
    ds = L.run({"linear": {**BASE, "rounds": 3, "beta": 0.02, "algorithms": ["maml", "tr-maml"]}})
    assert ds.attrs["message"] == "ok"
    assert np.all(ds.worst_error >= ds.mean_error)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"group_means": [0.0, 1.0], "group_tasks": [5]}, "linear.group_tasks"),
        ({"group_means": [0.0, 1.0], "group_tasks": [3, 3], "n_tasks": 5}, "linear.group_tasks"),
        ({"group_means": [0.0, 1.0], "group_tasks": [3, 0]}, "linear.group_tasks"),
        ({"group_means": ["a"], "group_tasks": [5]}, "linear.group_means"),
        ({"group_means": [0.0, 1.0], "group_tasks": [3, 2], "task_pool": 10}, "linear.task_pool"),
        ({"tr_temperature": 0.0}, "linear.tr_temperature"),
    ],
)
def test_bad_group_input_is_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=message):
        L.load_config({"linear": {"n_tasks": 5, **table}})
