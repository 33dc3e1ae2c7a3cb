"""Physics checks of the literal simulation against the theory.

- the one-task update of the finite-N algorithm, averaged over many tasks from one state,
  is ``(1/N)·drift`` of :class:`~teacherstudent.ode.field.VectorField` — including the
  ``η_J²/V`` term (which needs ``x·x/N = 1``) and the exact-ANIL terms;
- a short simulation at N = 500 follows the ODE (fast version of the finite-size study);
- (slow) the deviation falls with N.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from teacherstudent.config import build_problem, load_config
from teacherstudent.ode.field import VectorField
from teacherstudent.simulation import compare, simulate
from teacherstudent.simulation.algorithms import Rates, draw_chunk, update
from teacherstudent.simulation.model import Network, initial_weights, stacked_overlaps
from teacherstudent.simulation.rng import ReplicaStreams

CPU = torch.device("cpu")
STATE = {
    "Q": [[1.0, 0.2, 0.1], [0.2, 0.9, 0.0], [0.1, 0.0, 1.1]],
    "R": [[0.5, 0.1, 0.0], [0.0, 0.3, 0.2], [0.1, 0.0, 0.4]],
    "w": [0.5, -0.3, 0.8],
}


def _mean_update(cfg, N: int, tasks: int, batch: int = 4000):
    """N × (mean one-task change of Q, R, w) and its standard error, from one state."""
    net = Network.from_config(cfg, N, CPU, torch.float64)
    rates = Rates.from_config(cfg)
    p = build_problem(cfg)
    K = net.K
    W = initial_weights(net, p.Q0, p.R0, p.T, ReplicaStreams([123], CPU, torch.float64))
    J0, B0 = W[:, :K], W[:, K:]
    C0 = stacked_overlaps(J0, B0)[0]
    sums, sq = None, None
    for b in range(tasks // batch):
        J = J0.expand(batch, -1, -1).clone()
        B = B0.expand(batch, -1, -1)
        w = torch.as_tensor(p.w0).expand(batch, K).clone()
        streams = ReplicaStreams(list(range(b * batch, (b + 1) * batch)), CPU, torch.float64)
        chunk = draw_chunk(net, rates, streams, 1)
        with torch.no_grad():
            update(net, rates, J, w, chunk.task(0, net, B))
        C = stacked_overlaps(J, B)
        d = N * torch.cat(
            [(C[:, :K, :K] - C0[:K, :K]).flatten(1), (C[:, :K, K:] - C0[:K, K:]).flatten(1),
             w - torch.as_tensor(p.w0)], dim=1
        )
        sums = d.sum(0) if sums is None else sums + d.sum(0)
        sq = (d * d).sum(0) if sq is None else sq + (d * d).sum(0)
    n = (tasks // batch) * batch
    mean = sums / n
    se = torch.sqrt((sq / n - mean**2) / n)
    return mean.numpy(), se.numpy(), C0.numpy()


@pytest.mark.parametrize(
    "algorithm,extra",
    [
        ({"name": "fo-anil", "eta_J": 2.0, "val_size": 1}, {}),
        ({"name": "fo-anil", "eta_J": 1.5, "val_size": 2}, {"model": {"noise": 0.3}}),
        ({"name": "arm", "eta_J": 2.0, "eta_0": 1.0, "val_size": 1}, {}),
        ({"name": "anil", "eta_J": 1.0, "eta_w": 4.0, "val_size": "inf", "inner_steps": 2}, {}),
        ({"name": "fo-anil", "eta_J": 1.0, "val_size": 1}, {"tasks": {"gamma": 0.7}}),
    ],
)
def test_one_step_update_matches_the_drift(algorithm, extra):
    raw = {"algorithm": algorithm, "init": STATE, "tasks": {"head_mean": 0.3, "head_cov": 1.0}}
    for table, values in extra.items():
        raw.setdefault(table, {}).update(values)
    cfg = load_config(raw)
    N = 500
    mean, se, C0 = _mean_update(cfg, N, tasks=12000)
    K = 3
    vf = VectorField.from_config(cfg)
    d = vf(C0[:K, :K], C0[:K, K:], np.asarray(STATE["w"]))
    drift = np.concatenate([d["Q"].ravel(), d["R"].ravel(), d["w"]])
    # the w update is (η_0/N)·gradient: N·Δw = −η_0 ∇_w L has only the task average's noise
    bias = 3 * (2 * K) / N * np.abs(drift)  # O((K+M)/N) finite-size corrections
    err = np.abs(mean - drift)
    assert np.all(err < 4.5 * se + bias + 1e-9), (err, se, drift)
    # the η_J²/V term is resolved: the first-order part alone would be off for Q
    if algorithm["val_size"] != "inf":
        off = dict(algorithm, val_size="inf")
        d0 = VectorField.from_config(load_config({**raw, "algorithm": off}))(
            C0[:K, :K], C0[:K, K:], np.asarray(STATE["w"]))
        assert np.max(np.abs(mean[: K * K] - d0["Q"].ravel()) / (se[: K * K] + 1e-12)) > 6


def test_short_run_follows_the_ode():
    """N = 500: FO-ANIL (V = 1) through the start of the transition stays on the ODE."""
    raw = {
        "algorithm": {"name": "fo-anil", "eta_J": 0.5, "eta_w": 9.0, "val_size": 1},
        "init": {"R": 0.05},
        "run": {"alpha_max": 25.0, "n_save": 20},
    }
    ds = compare(raw, N=500, seeds=4, device="cpu")
    assert ds.attrs["max_abs_deg"] < 2e-3
    assert ds.attrs["max_abs_dR"] < 0.05
    assert float(ds.eg_ode.isel(alpha=-1)) < 0.16  # the transition has started


def _maml_pair(N: int, eta_in_J: float, inner_steps: int, seeds: int = 3):
    base = {
        "algorithm": {"name": "maml", "eta_J": 4.0, "eta_w": 9.0, "eta_in_J": eta_in_J,
                      "inner_steps": inner_steps},
        "init": {"R": 0.3},
        "run": {"alpha_max": 1.0, "save_alpha": [0.0, 0.5, 1.0]},
    }
    ref = {**base, "algorithm": {**base["algorithm"], "name": "anil"}}
    m = simulate(base, N=N, seeds=seeds, device="cpu", progress=False)
    a = simulate(ref, N=N, seeds=seeds, device="cpu", progress=False)
    return m, a


def test_maml_and_anil_share_random_numbers():
    """Common random numbers (the maml-limit study relies on them): with eta_in_J = 0 MAML
    is ANIL, and the same seeds give the same initial weights and the same task sequence,
    so the two runs agree to rounding."""
    m, a = _maml_pair(N=200, eta_in_J=0.0, inner_steps=2)
    np.testing.assert_allclose(m.Q.values, a.Q.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.eg.values, a.eg.values, rtol=0, atol=1e-10)


def test_same_seed_maml_gap_falls_like_one_over_N():
    """The same-seed gap eps_maml - eps_anil (two inner steps) is O(1/N)."""
    gaps = []
    for N in (100, 400):
        m, a = _maml_pair(N=N, eta_in_J=6.0, inner_steps=2)
        gaps.append(float(np.abs((m.eg - a.eg).mean("seed")).max()))
    assert gaps[1] > 0
    ratio = gaps[0] / gaps[1]
    assert 2.5 < ratio < 6.5, gaps  # 4 for an exact 1/N


def test_power_fit_and_bootstrap_helpers():
    from teacherstudent.analysis import bootstrap_fit, fit_power

    N = np.array([250.0, 1000.0, 4000.0])
    a, c = fit_power(N, 3.0 * N**-0.5)
    assert abs(a - 0.5) < 1e-12 and abs(c - 3.0) < 1e-9
    rng = np.random.default_rng(0)
    samples = [2.0 * n**-1.0 * (1 + 0.01 * rng.standard_normal(200)) for n in N]
    vals, errs, a, a_err, _ = bootstrap_fit(N, samples)
    assert abs(a - 1.0) < 0.05 and 0 < a_err < 0.05 and np.all(errs > 0)


@pytest.mark.slow
def test_agreement_tightens_with_N():
    raw = {
        "algorithm": {"name": "fo-anil", "eta_J": 0.5, "eta_w": 9.0, "val_size": 1},
        "init": {"R": 0.05},
        "run": {"alpha_max": 60.0, "n_save": 30},
    }
    dev = [compare(raw, N=N, seeds=8, device="auto").attrs["max_abs_deg"] for N in (250, 2000)]
    assert dev[1] < dev[0] / math.sqrt(8) * 2.5
