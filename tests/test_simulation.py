"""Finite-N simulations: gradients against autograd, exactness of the fast path, resume,
divergence handling, configuration errors, the dataset contract and the CLI."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from teacherstudent.cli import main as cli_main
from teacherstudent.config import ConfigError, build_problem, load_config
from teacherstudent.dataset import load
from teacherstudent.simulation import compare, simulate
from teacherstudent.simulation import runner as sim_runner
from teacherstudent.simulation.algorithms import (
    Rates,
    Task,
    draw_and_run_chunk,
    draw_chunk,
    incremental_applies,
    inner_loop,
    meta_gradients,
    numba_applies,
    run_chunk_incremental,
    run_chunk_numba,
    update,
    validation_loss,
)
from teacherstudent.simulation.model import Network, initial_weights, stacked_overlaps
from teacherstudent.simulation.rng import ReplicaStreams

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids oversubscription on shared CPUs."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


F64 = torch.float64


def _cfg(**tables):
    raw = {"run": {"alpha_max": 1.0, "n_save": 5, "save_spacing": "linear"}}
    for table, values in tables.items():
        raw.setdefault(table, {}).update(values)
    return load_config(raw)


def _instance(cfg, N=24, S=3, seed=0, P=None, V=None):
    """A random state and task for every replica (shapes as in the simulation)."""
    gen = torch.Generator().manual_seed(seed)
    net = Network.from_config(cfg, N, CPU, F64)
    K, M = net.K, net.M
    randn = lambda *s: torch.randn(*s, generator=gen, dtype=F64)
    J = randn(S, K, N)
    B = randn(S, M, N)
    w = randn(S, K)
    u = net.heads(randn(S, M))
    Bt = net.task_teacher(B, randn(S, M, N) if net.gamma < 1 else None)
    task = Task(u=u, Bt=Bt)
    for name, n in (("train", P), ("val", V)):
        if n is not None:
            x = randn(S, n, N)
            y = net.teacher(net.fields(x, Bt), u) + net.noise * randn(S, n)
            setattr(task, f"x_{name}", x)
            setattr(task, f"y_{name}", y)
    return net, J, B, w, task


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("readout", ["sqrt", "none", "mean"])
@pytest.mark.parametrize("activation", ["erf", "linear"])
def test_sample_gradients_match_autograd(readout, activation):
    cfg = _cfg(model={"readout": readout, "activation": activation, "K": 2, "noise": 0.3})
    net, J, B, w, task = _instance(cfg, V=5)
    lam = net.fields(task.x_val, J)
    gJ, gw = net.sample_gradients(task.x_val, lam, w, net.student(lam, w) - task.y_val)
    Jg, wg = J.clone().requires_grad_(), w.clone().requires_grad_()
    aJ, aw = torch.autograd.grad(validation_loss(net, Jg, wg, task).sum(), (Jg, wg))
    torch.testing.assert_close(gJ, aJ, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(gw, aw, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["erf", "linear"])
def test_population_head_gradient_matches_autograd(activation):
    cfg = _cfg(model={"activation": activation, "M": 2}, tasks={"gamma": 0.6})
    net, J, B, w, task = _instance(cfg)
    C = stacked_overlaps(J, task.Bt)
    g = net.population_head_gradient(net.i2(C), w, task.u)
    wg = w.clone().requires_grad_()
    (a,) = torch.autograd.grad(net.population_loss(C, wg, task.u).sum(), wg)
    torch.testing.assert_close(g, a, rtol=1e-12, atol=1e-14)


def test_population_loss_is_the_input_average():
    """½cᵀI2(C)c + σ²/2 against the sample mean of ½Δ² over many Gaussian inputs."""
    cfg = _cfg(model={"noise": 0.2})
    net, J, B, w, task = _instance(cfg, N=30, S=2, V=200_000)
    exact = validation_loss(net, J, w, Task(u=task.u, Bt=task.Bt))
    delta = net.student(net.fields(task.x_val, J), w) - task.y_val
    sq = 0.5 * delta**2
    mc, se = sq.mean(-1), sq.std(-1) / math.sqrt(sq.shape[-1])
    assert torch.all((mc - exact).abs() < 5 * se)


def _meta_objective(net, rates, J, w, task):
    J_t, w_t = inner_loop(net, rates, J, w, task)
    return validation_loss(net, J_t, w_t, task).sum()


@pytest.mark.parametrize(
    "name,P,V,s",
    [("anil", None, 4, 1), ("anil", 6, None, 2), ("maml", None, 3, 1), ("maml", 5, 4, 2)],
)
def test_exact_meta_gradient_matches_finite_differences(name, P, V, s):
    """The autograd meta-gradient through the inner loop is the derivative of
    F(J, w) = L_V(J_t(J, w), w_t(J, w)) (central differences along random directions)."""
    cfg = _cfg(
        algorithm={"name": name, "eta_w": 2.0, "eta_in_J": 1.5, "inner_steps": s,
                   "train_size": P if P else "inf", "val_size": V if V else "inf"},
        model={"K": 2, "M": 2, "noise": 0.1},
    )
    net, J, B, w, task = _instance(cfg, N=16, S=2, P=P, V=V)
    rates = Rates.from_config(cfg)
    gJ, gw = meta_gradients(net, rates, J, w, task)
    gen = torch.Generator().manual_seed(5)
    h = 1e-5
    for _ in range(3):
        dJ = torch.randn(J.shape, generator=gen, dtype=F64)
        dw = torch.randn(w.shape, generator=gen, dtype=F64)
        fp = _meta_objective(net, rates, J + h * dJ, w + h * dw, task)
        fm = _meta_objective(net, rates, J - h * dJ, w - h * dw, task)
        fd = (fp - fm) / (2 * h)
        analytic = (gJ * dJ).sum() + (gw * dw).sum()
        assert abs(float(fd - analytic)) < 1e-6 * max(1.0, abs(float(fd)))


def test_exact_anil_head_gradient_is_the_chain_rule():
    """P = ∞, s = 1: w_t = (I − η_w s_K² Φ) w + …, so G_w(anil) = (I − η_w s_K² Φ) G_w(fo)."""
    cfg = _cfg(algorithm={"name": "anil", "eta_w": 3.0, "val_size": 7})
    net, J, B, w, task = _instance(cfg, P=None, V=7)
    exact = Rates.from_config(cfg)
    first = Rates.from_config(_cfg(algorithm={"name": "fo-anil", "eta_w": 3.0, "val_size": 7}))
    _, gw_exact = meta_gradients(net, exact, J, w, task)
    _, gw_fo = meta_gradients(net, first, J, w, task)
    Phi = net.i2(stacked_overlaps(J, task.Bt))[:, : net.K, : net.K]
    A = torch.eye(net.K, dtype=F64) - 3.0 * net.s_K**2 * Phi
    torch.testing.assert_close(gw_exact, (A @ gw_fo.unsqueeze(-1)).squeeze(-1))


def test_exact_equals_first_order_without_inner_loop():
    """η_w = 0 (and η_in_J = 0): ANIL, FO-ANIL, MAML, FO-MAML and ARM take the same step."""
    grads = []
    for name in ("anil", "fo-anil", "maml", "fo-maml", "arm"):
        cfg = _cfg(algorithm={"name": name, "eta_w": 0.0, "val_size": 3})
        net, J, B, w, task = _instance(cfg, V=3)
        grads.append(meta_gradients(net, Rates.from_config(cfg), J, w, task))
    for gJ, gw in grads[1:]:
        torch.testing.assert_close(gJ, grads[0][0])
        torch.testing.assert_close(gw, grads[0][1])


def test_fo_maml_inner_step_scaling():
    """The inner J step moves the overlaps by O(η_in_J/N): N·|ΔQ| stays O(1) as N grows."""
    scaled = []
    for N in (200, 3200):
        cfg = _cfg(algorithm={"name": "fo-maml", "eta_in_J": 2.0, "train_size": 1})
        net, J, B, w, task = _instance(cfg, N=N, S=64, P=1)
        J = J / J.norm(dim=-1, keepdim=True) * math.sqrt(N)  # Q_kk = 1
        J_t, _ = inner_loop(net, Rates.from_config(cfg), J, w, task)
        dQ = stacked_overlaps(J_t, J_t)[:, :3, :3] - stacked_overlaps(J, J)[:, :3, :3]
        scaled.append(float(N * dQ.abs().mean()))
    assert 0.5 < scaled[1] / scaled[0] < 2.0


# --------------------------------------------------------------------------- the step
def test_initial_weights_have_the_configured_overlaps():
    cfg = _cfg(init={"Q": 0.7, "R": 0.2}, tasks={"teacher_overlap": [[1.0, 0.3, 0], [0.3, 1.0, 0],
                                                                      [0, 0, 2.0]]})
    p = build_problem(cfg)
    net = Network.from_config(cfg, 50, CPU, F64)
    W = initial_weights(net, p.Q0, p.R0, p.T, ReplicaStreams([1, 2], CPU, F64))
    C = stacked_overlaps(W[:, :3], W[:, 3:])
    C0 = np.block([[p.Q0, p.R0], [p.R0.T, p.T]])
    np.testing.assert_allclose(C.numpy(), np.broadcast_to(C0, C.shape), atol=1e-12)
    assert not torch.allclose(W[0], W[1])  # independent random frames


@pytest.mark.parametrize("name", ["fo-anil", "arm"])
def test_incremental_path_equals_the_generic_update(name):
    cfg = _cfg(algorithm={"name": name, "eta_J": 1.0, "val_size": 2, "inner_steps": 2},
               model={"noise": 0.1}, init={"R": 0.1, "w": 0.5})
    net = Network.from_config(cfg, 80, CPU, F64)
    rates = Rates.from_config(cfg)
    assert incremental_applies(net, rates)
    p = build_problem(cfg)
    W = initial_weights(net, p.Q0, p.R0, p.T, ReplicaStreams([0, 1, 2], CPU, F64))
    J1, B = W[:, :3].contiguous(), W[:, 3:].contiguous()
    J2, w1 = J1.clone(), torch.as_tensor(p.w0).expand(3, 3).clone()
    w2 = w1.clone()
    chunk = draw_chunk(net, rates, ReplicaStreams([7, 8, 9], CPU, F64), 150)
    for c in range(150):
        update(net, rates, J1, w1, chunk.task(c, net, B))
    run_chunk_incremental(net, rates, J2, B, w2, chunk)
    torch.testing.assert_close(J2, J1, rtol=0, atol=1e-10)
    torch.testing.assert_close(w2, w1, rtol=0, atol=1e-12)


def _incremental_setup(name, V, noise, readout, activation="erf", S=3, N=70, seed=0):
    cfg = _cfg(algorithm={"name": name, "eta_J": 1.0, "eta_w": 2.0, "eta_0": 0.7,
                          "val_size": V, "inner_steps": 2},
               model={"noise": noise, "readout": readout, "activation": activation},
               tasks={"head_mean": 0.2, "head_cov": 0.6}, init={"R": 0.1, "w": 0.5})
    net = Network.from_config(cfg, N, CPU, F64)
    rates = Rates.from_config(cfg)
    p = build_problem(cfg)
    W = initial_weights(net, p.Q0, p.R0, p.T, ReplicaStreams(list(range(seed, seed + S)), CPU,
                                                              F64))
    J, B = W[:, :3].contiguous(), W[:, 3:].contiguous()
    w = torch.as_tensor(p.w0).expand(S, 3).clone()
    return net, rates, J, B, w


@pytest.mark.parametrize("readout", ["sqrt", "none"])
@pytest.mark.parametrize("noise", [0.0, 0.2])
@pytest.mark.parametrize("V", [1, 3])
@pytest.mark.parametrize("name", ["fo-anil", "arm"])
def test_numba_chunk_kernel_equals_the_torch_path(name, V, noise, readout):
    """The Numba kernel (CPU hot path) against the torch reference of the same update."""
    net, rates, J1, B, w1 = _incremental_setup(name, V, noise, readout)
    assert numba_applies(net, rates)
    J2, w2 = J1.clone(), w1.clone()
    chunk = draw_chunk(net, rates, ReplicaStreams([7, 8, 9], CPU, F64), 120)
    run_chunk_incremental(net, rates, J1, B, w1, chunk)
    run_chunk_numba(net, rates, J2, B, w2, chunk)
    torch.testing.assert_close(J2, J1, rtol=0, atol=1e-12)
    torch.testing.assert_close(w2, w1, rtol=0, atol=1e-13)


def test_numba_chunk_kernel_linear_activation():
    net, rates, J1, B, w1 = _incremental_setup("fo-anil", 2, 0.1, "sqrt", activation="linear")
    J2, w2 = J1.clone(), w1.clone()
    chunk = draw_chunk(net, rates, ReplicaStreams([3, 4, 5], CPU, F64), 60)
    run_chunk_incremental(net, rates, J1, B, w1, chunk)
    run_chunk_numba(net, rates, J2, B, w2, chunk)
    torch.testing.assert_close(J2, J1, rtol=0, atol=1e-12)
    torch.testing.assert_close(w2, w1, rtol=0, atol=1e-13)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_fused_draws_equal_draw_chunk_then_kernel(noise):
    """Drawing inside the kernel consumes each stream exactly like :func:`draw_chunk`."""
    net, rates, J1, B, w1 = _incremental_setup("fo-anil", 2, noise, "sqrt")
    J2, w2 = J1.clone(), w1.clone()
    s1, s2 = (ReplicaStreams([11, 12, 13], CPU, F64) for _ in range(2))
    for C in (50, 7):
        run_chunk_numba(net, rates, J1, B, w1, draw_chunk(net, rates, s1, C))
        draw_and_run_chunk(net, rates, J2, B, w2, s2, C)
    assert torch.equal(J1, J2) and torch.equal(w1, w2)
    np.testing.assert_array_equal(s1.get_state()["state"], s2.get_state()["state"])


def test_replica_results_do_not_depend_on_threads_or_batching(tmp_path):
    import numba

    cfg = _small(model={"noise": 0.1})
    kw = {"N": 60, "device": "cpu", "progress": False, "checkpoint": tmp_path / "t.pt"}
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(cfg, seeds=3, **kw)
    finally:
        numba.set_num_threads(threads)
    full = simulate(cfg, seeds=3, **kw)
    two = simulate(cfg, seeds=2, **kw)
    assert full.attrs["fast_path"] == "numba kernel, draws fused"
    for name in ("Q", "R", "w", "eg"):
        np.testing.assert_array_equal(one[name].values, full[name].values)
        np.testing.assert_array_equal(two[name].values, full[name].values[:2])


def _with_rng(monkeypatch, cfg, kind):
    """``simulation.rng = kind``: through the config when it knows the key, else the default."""
    try:
        load_config({**cfg, "simulation": {**cfg.get("simulation", {}), "rng": kind}})
    except ConfigError:
        monkeypatch.setattr(sim_runner, "DEFAULT_KIND", kind)
        return cfg
    return {**cfg, "simulation": {**cfg.get("simulation", {}), "rng": kind}}


def test_numpy_streams_run_and_resume(tmp_path, monkeypatch):
    cfg = _with_rng(monkeypatch, _small(), "numpy")
    kw = {"N": 50, "seeds": 2, "device": "cpu", "progress": False}
    full = simulate(cfg, checkpoint=tmp_path / "a.pt", **kw)
    assert full.attrs["rng"] == "numpy PCG64" and full.attrs["fast_path"] == "numba kernel"
    simulate(cfg, checkpoint=tmp_path / "b.pt", stop_alpha=1.0, **kw)
    resumed = simulate(cfg, checkpoint=tmp_path / "b.pt", resume=True, **kw)
    for name in ("Q", "R", "w", "eg"):
        np.testing.assert_array_equal(resumed[name].values, full[name].values)
    # a checkpoint of numpy streams does not resume a run with the numba streams
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="different run"):
        simulate(_small(), checkpoint=tmp_path / "b.pt", resume=True, **kw)


def test_float32_runs_the_torch_incremental_path():
    cfg = _small()
    kw = {"N": 50, "seeds": 2, "device": "cpu", "progress": False}
    d64 = simulate(cfg, dtype="float64", **kw)
    d32 = simulate(cfg, dtype="float32", **kw)
    assert d32.attrs["fast_path"] == "torch incremental"
    np.testing.assert_allclose(d32.Q.values, d64.Q.values, atol=1e-3)
    np.testing.assert_allclose(d32.eg.values, d64.eg.values, atol=1e-4)


# --------------------------------------------------------------------------- runs
def _small(**tables):
    raw = {
        "algorithm": {"name": "fo-anil", "eta_J": 0.5, "val_size": 1},
        "run": {"alpha_max": 2.0, "n_save": 9, "save_spacing": "linear"},
        "init": {"R": 0.05},
        "simulation": {"checkpoint_every": 0.5},
    }
    for table, values in tables.items():
        raw.setdefault(table, {}).update(values)
    return raw


@pytest.mark.parametrize(
    "tables",
    [
        {},
        {"algorithm": {"name": "anil", "train_size": 3, "val_size": 2}, "model": {"noise": 0.1},
         "tasks": {"gamma": 0.8}, "simulation": {"test_tasks": 8, "test_samples": 50}},
    ],
)
def test_resume_reproduces_an_uninterrupted_run(tmp_path, tables):
    cfg = _small(**tables)
    full = simulate(cfg, N=60, seeds=3, device="cpu", progress=False,
                    checkpoint=tmp_path / "a.pt")
    part = simulate(cfg, N=60, seeds=3, device="cpu", progress=False,
                    checkpoint=tmp_path / "b.pt", stop_alpha=1.0)
    assert part.attrs["stopped_early"] == 1 and part.alpha.values[-1] <= 1.0
    resumed = simulate(cfg, N=60, seeds=3, device="cpu", progress=False,
                       checkpoint=tmp_path / "b.pt", resume=True)
    for name in ("Q", "R", "w", "eg", "eg_pre"):
        np.testing.assert_array_equal(resumed[name].values, full[name].values)
    if "eg_test" in full:
        np.testing.assert_array_equal(resumed.eg_test.values, full.eg_test.values)


def test_resume_refuses_another_run(tmp_path):
    cfg = _small()
    simulate(cfg, N=40, seeds=2, device="cpu", progress=False, checkpoint=tmp_path / "c.pt",
             stop_alpha=0.5)
    with pytest.raises(ConfigError, match="different run"):
        simulate(cfg, N=41, seeds=2, device="cpu", progress=False, checkpoint=tmp_path / "c.pt",
                 resume=True)
    with pytest.raises(ConfigError, match="does not exist"):
        simulate(cfg, N=40, seeds=2, device="cpu", progress=False,
                 checkpoint=tmp_path / "missing.pt", resume=True)


def test_dataset_contract(tmp_path):
    ds = simulate(_small(), N=50, seeds=2, device="cpu", progress=False,
                  checkpoint=tmp_path / "x.pt")
    assert ds.Q.dims == ("seed", "alpha", "k", "l")
    assert ds.R.dims == ("seed", "alpha", "k", "n")
    assert ds.w.dims == ("seed", "alpha", "k")
    assert ds.eg.dims == ("seed", "alpha")
    assert ds.T.dims == ("seed", "n", "m")
    cfg = load_config(_small())
    from teacherstudent.ode import SaveAt

    np.testing.assert_allclose(ds.alpha.values, SaveAt.from_config(cfg).alpha)
    np.testing.assert_array_equal(ds.tasks.values, np.rint(ds.alpha.values * 50))
    p = build_problem(cfg)
    np.testing.assert_allclose(ds.Q.isel(alpha=0).values, np.broadcast_to(p.Q0, (2, 3, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(ds.R.isel(alpha=0).values, np.broadcast_to(p.R0, (2, 3, 3)),
                               atol=1e-12)
    for key in ("N", "seeds", "device", "dtype", "wall_time_s", "tasks_per_s",
                "teacherstudent_version", "algorithm.eta_J", "config_toml"):
        assert key in ds.attrs
    assert ds.attrs["N"] == 50 and ds.attrs["dtype"] == "float64"
    assert np.all(np.isfinite(ds.eg.values)) and np.all(ds.eg.values > 0)


def test_a_diverging_replica_does_not_stop_the_run():
    """A linear network with a huge rate blows up: recorded as NaN from then on."""
    cfg = _small(algorithm={"eta_J": 30.0, "eta_w": 0.5}, model={"activation": "linear"})
    ds = simulate(cfg, N=40, seeds=4, device="cpu", progress=False)
    bad = ~np.isnan(ds.diverged_alpha.values)
    assert bad.any()
    assert ds.attrs["diverged_seeds"] and ds.attrs["status"] == -1
    for r in np.nonzero(bad)[0]:
        after = ds.alpha.values >= ds.diverged_alpha.values[r]
        assert np.all(np.isnan(ds.Q.values[r, after]))
        assert np.all(np.isnan(ds.eg.values[r, after]))
    assert ds.alpha.size == 9  # the run went to alpha_max


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"N": 5}, "simulation.N"),
        ({"overrides": {"algorithm.eta_J": -1}}, "algorithm.eta_J"),
        ({"overrides": {"simulation.bogus": 1}}, "simulation.bogus"),
        ({"overrides": {"model.K": 0}}, "model.K"),
        ({"overrides": {"algorithm.val_size": 0}}, "algorithm.val_size"),
        ({"device": "cuda:0"} if not torch.cuda.is_available() else {"N": 1}, "simulation"),
    ],
)
def test_bad_input_is_refused_before_any_work(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        simulate(_small(), seeds=1, progress=False, **kwargs)


def test_finite_P_and_test_estimates():
    cfg = _small(algorithm={"train_size": 4}, simulation={"test_tasks": 16, "test_samples": 200})
    ds = simulate(cfg, N=40, seeds=2, device="cpu", progress=False)
    assert "eg_closed_inf" in ds and "eg_test" in ds
    assert np.all(np.isfinite(ds.eg.values)) and np.all(np.isfinite(ds.eg_test.values))
    # with few samples the adaptation is worse than the population inner loop
    assert float(ds.eg.mean()) > float(ds.eg_closed_inf.mean())


def test_compare_dataset_and_deviations():
    ds = compare(_small(), N=80, seeds=2, device="cpu")
    for name in ("eg_sim", "eg_ode", "R_sim", "R_ode", "R_aligned_sim", "R_aligned_ode"):
        assert name in ds
    assert ds.eg_sim.dims == ("seed", "alpha") and ds.eg_ode.dims == ("alpha",)
    np.testing.assert_allclose(ds.eg_sim.isel(alpha=0).mean("seed"), ds.eg_ode.isel(alpha=0),
                               rtol=1e-10)
    assert 0 <= ds.attrs["max_abs_deg"] < 0.02


def test_compare_checks_the_theory_before_simulating(monkeypatch):
    """The ODE's size check (and its kernels) come before the simulation, not after it."""
    compare_module = importlib.import_module("teacherstudent.simulation.compare")

    def not_now(*args, **kwargs):
        raise AssertionError("the simulation ran before the ODE's size check")

    monkeypatch.setattr(compare_module, "simulate", not_now)
    # 1e12 Euler steps: the ODE refuses, naming the key; the simulation never starts
    cfg = _small(run={"solver": "euler", "dt": 1e-12})
    with pytest.raises(ConfigError, match="run.alpha_max"):
        compare(cfg, N=80, seeds=2, device="cpu")


# --------------------------------------------------------------------------- CLI
def _toml(tmp_path, text=None):
    path = tmp_path / "run.toml"
    path.write_text(text or """
[algorithm]
name = "fo-anil"
eta_J = 0.5
val_size = 1
[run]
alpha_max = 1.0
n_save = 5
save_spacing = "linear"
[simulation]
checkpoint_every = 0.5
""")
    return path


def test_cli_simulate_and_compare_write_files(tmp_path, capsys):
    cfg = _toml(tmp_path)
    out = tmp_path / "sim.nc"
    assert cli_main(["simulate", str(cfg), "--N", "40", "--seeds", "2", "-o", str(out),
                     "--device", "cpu"]) == 0
    assert out.exists() and (tmp_path / "sim.ckpt.pt").exists()
    assert load(out).Q.dims == ("seed", "alpha", "k", "l")
    assert cli_main(["simulate", str(cfg), "--N", "40", "--seeds", "2", "-o", str(out),
                     "--resume", "-q"]) == 0
    cmp = tmp_path / "cmp.nc"
    assert cli_main(["compare", str(cfg), "--N", "40", "--seeds", "2", "-o", str(cmp),
                     "--pdf"]) == 0
    assert cmp.exists() and cmp.with_suffix(".png").exists() and cmp.with_suffix(".pdf").exists()
    assert "max" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--N", "0"],
        ["--set", "model.K=0"],
        ["--set", "algorithm.name=reptile"],
        ["--set", "simulation.nope=1"],
        ["--resume", "--checkpoint", "/nonexistent/ck.pt"],
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, argv):
    cfg = _toml(tmp_path)
    code = cli_main(["simulate", str(cfg), "-o", str(tmp_path / "s.nc"), *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
