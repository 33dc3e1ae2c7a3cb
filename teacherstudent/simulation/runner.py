r"""Running a batch of independent replicas of the literal finite-N algorithm.

:func:`simulate` draws the meta-teacher ``B`` and the student ``J`` with the configured
overlaps (:func:`~teacherstudent.simulation.model.initial_weights`), then performs one outer
update per task (:func:`~teacherstudent.simulation.algorithms.update`) for
``round(alpha_max·N)`` tasks; time is ``α = tasks/N``.  Replica ``r`` draws everything from
its own stream (:class:`~teacherstudent.simulation.rng.ReplicaStreams`) seeded with
``base_seed + r`` (evaluation draws from a second one seeded with
``base_seed + r + EVAL_SEED_OFFSET``), so results do not depend on the evaluation settings
and a resumed run reproduces an uninterrupted one.  Tasks are drawn in chunks (all inputs of
up to ``MAX_CHUNK`` tasks at once) whose boundaries depend only on the settings.  For
``arm``/``fo-anil`` with finite V, ``P = ∞`` and ``γ = 1`` the chunk runs through
:func:`~teacherstudent.simulation.algorithms.run_chunk_incremental` (same update, overlaps
carried along; on CPU in float64 as one Numba kernel,
:func:`~teacherstudent.simulation.algorithms.run_chunk_numba`); otherwise through
:func:`~teacherstudent.simulation.algorithms.update`.  The CPU random streams are Numba
``xoshiro256++`` generators by default (``simulation.rng = "numba"``; ``"numpy"`` for NumPy's
PCG64), see :mod:`~teacherstudent.simulation.rng`.

**Recorded** on the α grid of the ODE (:class:`~teacherstudent.ode.SaveAt`; the state is
taken after ``round(α N)`` tasks): the measured overlaps ``Q = JJᵀ/N``, ``R = JBᵀ/N``
(``B`` the meta-teacher), the head initialisation ``w`` and, once, ``T = BBᵀ/N``; from them
the closed-form errors (``eg``, ``eg_pre``, ``eg_opt`` of
:meth:`~teacherstudent.drift.VectorField.errors`, evaluated with the measured ``T``).

With a finite training set (``train_size = P``) the adaptation is random, so ``eg`` is
estimated instead on fresh tasks (``simulation.test_tasks``, 256 when 0): per task, ``P``
training fields are drawn exactly as the fields of Gaussian inputs, ``z ~ N(0, C^t)`` with
``C^t`` the overlaps of ``[J; B^t]``, the head is adapted as in training, and the error of
the adapted network is the closed form ``½cᵀI2(C^t)c + σ²/2``.  With
``simulation.test_tasks > 0`` the fully sampled estimate ``eg_test`` (``test_samples`` test
fields per task) is recorded as well.  MAML's test-time adaptation is that of the head
(the inner change of J moves the error by O(1/N)).

A replica whose weights become non-finite is recorded as NaN from the next save point on
(its weights are set to NaN) and reported in ``attrs["diverged_seeds"]``; the others go on.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..config import ConfigError, build_problem, load_config, to_toml
from ..dataset import provenance
from ..ode import SaveAt, VectorField
from .algorithms import (
    Rates,
    adapt_head,
    chunk_numbers,
    draw_and_run_chunk,
    draw_chunk,
    incremental_applies,
    numba_applies,
    run_chunk_incremental,
    run_chunk_numba,
    update,
)
from .checkpoint import load_checkpoint, save_checkpoint
from .model import (
    Network,
    initial_weights,
    nearest_psd_sqrt,
    overlaps,
    resolve_device,
    stacked_overlaps,
)
from .rng import DEFAULT_KIND, XOSHIRO, ReplicaStreams

__all__ = ["simulate", "EVAL_SEED_OFFSET", "DEFAULT_TEST_TASKS"]

EVAL_SEED_OFFSET = 1_000_003_000
DEFAULT_TEST_TASKS = 256
CHUNK_BUDGET = 1 << 22  # normal draws held per chunk (all replicas); 32 MiB in float64
MAX_CHUNK = 256
SMALL_WORK = 1 << 20  # S·N·(K+M) below which the run uses one CPU thread
_EVAL_BLOCK = 32  # test tasks evaluated at once


def _resolve(config: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
    return load_config(config, overrides)


def _fingerprint(cfg: dict[str, Any], N: int, S: int, dtype: torch.dtype, rng: str) -> str:
    text = to_toml(cfg) + f"\nN={N}\nseeds={S}\ndtype={dtype}\nrng={rng}\n"
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def estimate_errors(
    net: Network,
    rates: Rates,
    J: torch.Tensor,
    B: torch.Tensor,
    w: torch.Tensor,
    streams: ReplicaStreams,
    n_tasks: int,
    n_samples: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Meta-test error of every replica on ``n_tasks`` fresh tasks.

    Returns ``(eg_adapted, eg_test)``: the task average of the closed-form error of the
    adapted network, and (``n_samples > 0``) the average of ``½Δ²`` over ``n_samples``
    sampled test fields per task (``None`` otherwise).  Fields are drawn as
    ``z = L ξ``, ``L Lᵀ = C^t``, which is their exact law for Gaussian inputs.
    """
    S, K, M, N = J.shape[0], net.K, net.M, net.N
    kw = {"device": net.device, "dtype": net.dtype}
    ok = torch.isfinite(J).flatten(1).all(1) & torch.isfinite(w).all(1)
    wsafe = torch.where(ok[:, None], w, torch.zeros_like(w))
    if not ok.all():  # keep the covariance of diverged replicas harmless
        J = J.clone()
        J[~ok] = math.sqrt(N) * torch.eye(K, N, **kw)
    P = rates.P if rates.needs_train else None
    sum_adapt = torch.zeros(S, **kw)
    sum_test = torch.zeros(S, **kw)
    done = 0
    while done < n_tasks:
        b = min(_EVAL_BLOCK, n_tasks - done)
        draw = lambda *shape, b=b: streams.normal(b, *shape).to(net.device)
        z_u = draw(M)
        dB = draw(M, N) if net.gamma < 1.0 else None
        xi_tr = draw(P, K + M) if P is not None else None
        n_tr = draw(P) if P is not None and net.noise > 0 else None
        xi_te = draw(n_samples, K + M) if n_samples > 0 else None
        n_te = draw(n_samples) if n_samples > 0 and net.noise > 0 else None
        u = net.heads(z_u)  # (S, b, M)
        if dB is None:
            C = stacked_overlaps(J, B).unsqueeze(1).expand(S, b, K + M, K + M)
        else:
            Bt = net.task_teacher(B.unsqueeze(1), dB)
            C = overlaps(torch.cat([J.unsqueeze(1).expand(S, b, K, N), Bt], dim=-2))
        I2C = net.i2(C)
        w0 = wsafe.unsqueeze(1).expand(S, b, K)
        L = nearest_psd_sqrt(C) if (P is not None or n_samples > 0) else None
        if rates.inner_steps == 0:
            w_t = w0
        elif P is None:
            w_t = adapt_head(net, rates, w0, u, I2C=I2C)
        else:
            z = xi_tr @ L.transpose(-1, -2)
            y = net.teacher(z[..., K:], u) + (0.0 if n_tr is None else net.noise * n_tr)
            w_t = adapt_head(net, rates, w0, u, lam=z[..., :K], y=y)
        sum_adapt += net.population_loss(C, w_t, u).sum(1)
        if n_samples > 0:
            z = xi_te @ L.transpose(-1, -2)
            y = net.teacher(z[..., K:], u) + (0.0 if n_te is None else net.noise * n_te)
            delta = net.student(z[..., :K], w_t) - y
            sum_test += 0.5 * (delta * delta).mean(-1).sum(1)
        done += b
    nan = torch.tensor(float("nan"), **kw)
    eg_adapt = torch.where(ok, sum_adapt / n_tasks, nan).cpu().numpy()
    eg_test = torch.where(ok, sum_test / n_tasks, nan).cpu().numpy() if n_samples > 0 else None
    return eg_adapt, eg_test


def closed_form_errors(
    cfg: dict[str, Any], Q: np.ndarray, R: np.ndarray, w: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``(S, A, 3)`` errors ``(eg, eg_pre, eg_opt)`` of the measured overlaps (``P = ∞`` forms).

    ``Q (S, A, K, K)``, ``R (S, A, K, M)``, ``w (S, A, K)``, ``T (S, M, M)`` (measured).
    """
    c = copy.deepcopy(cfg)
    c["algorithm"]["train_size"] = math.inf
    vf = VectorField.from_config(c)
    out = np.full(Q.shape[:2] + (3,), np.nan)
    for s in range(Q.shape[0]):
        vfs = dataclasses.replace(vf, problem=dataclasses.replace(vf.problem, T=T[s]))
        n = Q.shape[1]
        ys = np.concatenate([Q[s].reshape(n, -1), R[s].reshape(n, -1), w[s]], axis=1)
        out[s] = vfs.errors_along(ys)
    return out


# --------------------------------------------------------------------------- the run
def simulate(
    config: Any = None,
    N: int | None = None,
    seeds: int | None = None,
    device: str | None = "auto",
    progress: bool = True,
    resume: bool = False,
    checkpoint: str | Path | None = None,
    dtype: str | None = None,
    stop_alpha: float | None = None,
    overrides: dict[str, Any] | None = None,
    **dotted: Any,
) -> xr.Dataset:
    """Monte Carlo simulation of ``seeds`` independent replicas at input dimension ``N``.

    Dotted overrides are taken as in :func:`teacherstudent.integrate`: ``overrides=`` a dict,
    or keywords ``**{"algorithm.eta_J": 2.0}``.

    ``config``: TOML path, dict or ``None``; ``N``, ``seeds``, ``dtype`` default to the
    ``[simulation]`` table; ``device``: ``"auto"`` (CUDA when available), ``"cpu"``,
    ``"cuda[:i]"`` or ``None`` (the config's ``simulation.device``).  Checkpoints are written
    every ``simulation.checkpoint_every`` in α to ``checkpoint`` (default
    ``simulation.checkpoint`` or ``sim-checkpoint.pt``); ``resume=True`` continues from it.
    ``stop_alpha``: stop (after checkpointing) at the first checkpoint ``α ≥ stop_alpha`` —
    the result then ends there (used to test resuming).

    Returns an :class:`xarray.Dataset` with ``Q(seed, alpha, k, l)``, ``R(seed, alpha, k, n)``,
    ``w(seed, alpha, k)``, ``eg(seed, alpha)``, ``eg_pre``, ``eg_opt``, ``T(seed, n, m)``,
    ``tasks(alpha)`` and the provenance in ``attrs``.
    """
    cfg = _resolve(config, {**(overrides or {}), **dotted})
    sim = cfg["simulation"]
    N = int(sim["N"] if N is None else N)
    S = int(sim["seeds"] if seeds is None else seeds)
    K, M = cfg["model"]["K"], cfg["model"]["M"]
    if N <= K + M:
        raise ConfigError(f"simulation.N must exceed K + M = {K + M}, got {N}")
    if S < 1:
        raise ConfigError(f"simulation.seeds must be >= 1, got {S}")
    dev = resolve_device(sim["device"] if device is None else device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"simulation.device: {dev} requested but CUDA is not available")
    dt = {"float64": torch.float64, "float32": torch.float32}[dtype or sim["dtype"]]
    cfg["simulation"].update({"N": N, "seeds": S, "device": str(dev), "dtype": str(dt)[6:]})

    net = Network.from_config(cfg, N, dev, dt)
    rates = Rates.from_config(cfg)
    p = build_problem(cfg)
    alpha = SaveAt.from_config(cfg).alpha
    save_tasks = np.rint(alpha * N).astype(np.int64)
    total = int(save_tasks[-1])
    every = float(sim["checkpoint_every"])
    ckpt_tasks = (
        np.rint(np.arange(1, math.ceil(alpha[-1] / every) + 1) * every * N).astype(np.int64)
        if every > 0
        else np.zeros(0, np.int64)
    )
    ckpt_tasks = ckpt_tasks[(ckpt_tasks > 0) & (ckpt_tasks < total)]
    stops = np.unique(np.concatenate([save_tasks, ckpt_tasks]))
    chunk = int(max(1, min(MAX_CHUNK, CHUNK_BUDGET // (S * chunk_numbers(net, rates)))))
    ckpt_path = Path(checkpoint or sim["checkpoint"] or "sim-checkpoint.pt")
    rng_kind = str(sim.get("rng", DEFAULT_KIND))
    fingerprint = _fingerprint(cfg, N, S, dt, rng_kind)
    seed_ids = [sim["base_seed"] + r for r in range(S)]
    finite_P = rates.needs_train
    n_test = sim["test_tasks"] if sim["test_tasks"] > 0 else (DEFAULT_TEST_TASKS if finite_P else 0)
    n_samples = sim["test_samples"] if sim["test_tasks"] > 0 else 0

    A = len(alpha)
    rec = {
        "Q": np.full((S, A, K, K), np.nan),
        "R": np.full((S, A, K, M), np.nan),
        "w": np.full((S, A, K), np.nan),
        "eg_mc": np.full((S, A), np.nan),
        "eg_test": np.full((S, A), np.nan),
    }
    diverged = np.full(S, np.nan)
    t = 0
    wall_before = 0.0
    if resume:
        st = load_checkpoint(ckpt_path, fingerprint)
        gens = ReplicaStreams(seed_ids, dev, dt, rng_kind)
        egens = ReplicaStreams([s + EVAL_SEED_OFFSET for s in seed_ids], dev, dt, rng_kind)
        gens.set_state(st["gens"])
        egens.set_state(st["eval_gens"])
        J = st["J"].to(dev)
        B = st["B"].to(dev)
        w = st["w"].to(dev)
        rec = {k: v.copy() for k, v in st["records"].items()}
        diverged = st["diverged"].copy()
        t = int(st["t"])
        wall_before = float(st["wall"])
    else:
        gens = ReplicaStreams(seed_ids, dev, dt, rng_kind)
        egens = ReplicaStreams([s + EVAL_SEED_OFFSET for s in seed_ids], dev, dt, rng_kind)
        W = initial_weights(net, p.Q0, p.R0, p.T, gens)
        J, B = W[:, :K].contiguous(), W[:, K:].contiguous()
        del W
        w = torch.as_tensor(p.w0, device=dev, dtype=dt).expand(S, K).clone()
    T_meas = overlaps(B).cpu().numpy()

    def record(tt: int) -> None:
        bad = ~(torch.isfinite(J).flatten(1).all(1) & torch.isfinite(w).all(1))
        for r in torch.nonzero(bad).flatten().tolist():
            if np.isnan(diverged[r]):
                diverged[r] = tt / N
                J[r] = float("nan")
                w[r] = float("nan")
        idx = np.nonzero(save_tasks == tt)[0]
        if idx.size == 0:
            return
        O = stacked_overlaps(J, B).cpu().numpy()
        rec["Q"][:, idx] = O[:, None, :K, :K]
        rec["R"][:, idx] = O[:, None, :K, K:]
        rec["w"][:, idx] = w.cpu().numpy()[:, None]
        if n_test > 0:
            eg_a, eg_t = estimate_errors(net, rates, J, B, w, egens, n_test, n_samples)
            rec["eg_mc"][:, idx] = eg_a[:, None]
            if eg_t is not None:
                rec["eg_test"][:, idx] = eg_t[:, None]

    bar = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn(f"simulate {rates.name} N={N} seeds={S}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tasks"),
            TimeRemainingColumn(),
            transient=True,
        )
        bar.start()
        bar_task = bar.add_task("run", total=total, completed=t)

    fast = incremental_applies(net, rates)
    run_chunk = run_chunk_numba if numba_applies(net, rates) else run_chunk_incremental
    fused = run_chunk is run_chunk_numba and gens.kind == "numba"
    if dev.type == "cpu" and (rng_kind == "numba" or run_chunk is run_chunk_numba):
        from .fastcpu import warmup

        warmup()  # compile / load the Numba kernels outside the timed region
    threads = torch.get_num_threads()
    if dev.type == "cpu" and S * N * (K + M) < SMALL_WORK:
        torch.set_num_threads(1)  # small batched ops: threading costs more than it gains
    t0 = time.perf_counter()
    stopped_early = False
    try:
        with torch.no_grad():
            if t == 0 and not resume:
                record(0)
            for stop in stops[stops > t]:
                while t < stop:
                    C = int(min(chunk, stop - t))
                    if fused:
                        draw_and_run_chunk(net, rates, J, B, w, gens, C)
                    else:
                        ch = draw_chunk(net, rates, gens, C)
                        if fast:
                            run_chunk(net, rates, J, B, w, ch)
                        else:
                            for c in range(C):
                                update(net, rates, J, w, ch.task(c, net, B))
                    t += C
                    if bar is not None:
                        bar.update(bar_task, completed=t)
                record(int(stop))
                if stop in ckpt_tasks:
                    save_checkpoint(
                        ckpt_path,
                        {
                            "fingerprint": fingerprint,
                            "t": t,
                            "J": J.cpu(),
                            "B": B.cpu(),
                            "w": w.cpu(),
                            "gens": gens.get_state(),
                            "eval_gens": egens.get_state(),
                            "records": rec,
                            "diverged": diverged,
                            "wall": wall_before + time.perf_counter() - t0,
                        },
                    )
                    if stop_alpha is not None and stop / N >= stop_alpha:
                        stopped_early = True
                        break
    finally:
        torch.set_num_threads(threads)
        if bar is not None:
            bar.stop()
    wall = wall_before + time.perf_counter() - t0
    ds = _to_dataset(
        cfg, net, rates, alpha, save_tasks, rec, T_meas, diverged, t, wall, finite_P,
        n_test, n_samples, stopped_early,
    )
    ds.attrs["rng"] = {"numba": XOSHIRO, "numpy": "numpy PCG64", "torch": "torch.Generator"}[
        gens.kind
    ]
    if dev.type == "cpu":
        import numba

        ds.attrs["numba_threads"] = numba.get_num_threads()
    ds.attrs["fast_path"] = (
        "numba kernel, draws fused" if fused
        else "numba kernel" if fast and run_chunk is run_chunk_numba
        else "torch incremental" if fast else "generic update"
    )
    return ds


def _to_dataset(
    cfg, net, rates, alpha, save_tasks, rec, T_meas, diverged, t, wall, finite_P, n_test,
    n_samples, stopped_early,
) -> xr.Dataset:
    N, K, M = net.N, net.K, net.M
    keep = save_tasks <= t
    S = rec["Q"].shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        err = closed_form_errors(
            cfg, rec["Q"][:, keep], rec["R"][:, keep], rec["w"][:, keep], T_meas
        )
    eg = rec["eg_mc"][:, keep] if finite_P else err[..., 0]
    dims = ("seed", "alpha")
    data = {
        "Q": (dims + ("k", "l"), rec["Q"][:, keep], {"long_name": "Q_kl = J_k·J_l/N"}),
        "R": (dims + ("k", "n"), rec["R"][:, keep], {"long_name": "R_kn = J_k·B_n/N"}),
        "w": (dims + ("k",), rec["w"][:, keep], {"long_name": "head initialisation w_k"}),
        "eg": (dims, eg, {"long_name": "meta-generalisation error after adaptation"}),
        "eg_pre": (dims, err[..., 1], {"long_name": "error at w before adaptation"}),
        "eg_opt": (dims, err[..., 2], {"long_name": "error with the optimal head per task"}),
        "T": (("seed", "n", "m"), T_meas, {"long_name": "measured T_nm = B_n·B_m/N"}),
        "tasks": (("alpha",), save_tasks[keep], {"long_name": "outer updates done = round(αN)"}),
        "diverged_alpha": (("seed",), diverged, {"long_name": "α at which a replica diverged"}),
    }
    if finite_P:
        data["eg_closed_inf"] = (
            dims, err[..., 0], {"long_name": "closed-form eg of the overlaps, P = inf inner loop"}
        )
    if n_samples > 0:
        data["eg_test"] = (
            dims, rec["eg_test"][:, keep], {"long_name": "eg on sampled test fields"}
        )
    ds = xr.Dataset(
        data,
        coords={
            "seed": ("seed", np.arange(S) + cfg["simulation"]["base_seed"]),
            "alpha": ("alpha", alpha[keep], {"long_name": "tasks / N"}),
            "k": np.arange(K),
            "l": np.arange(K),
            "n": np.arange(M),
            "m": np.arange(M),
        },
    )
    ds.attrs.update(provenance(cfg, "simulation", wall))
    bad = [int(s) for s in ds.seed.values[~np.isnan(diverged)]]
    ds.attrs.update(
        {
            "N": N,
            "seeds": S,
            "device": str(net.device),
            "dtype": str(net.dtype)[6:],
            "torch_version": str(torch.__version__),
            "torch_threads": torch.get_num_threads(),
            "tasks_done": int(t),
            "tasks_per_s": float(t / wall) if wall > 0 else float("nan"),
            "replica_tasks_per_s": float(S * t / wall) if wall > 0 else float("nan"),
            "eg_method": (
                f"closed form over inputs, mean over {n_test} fresh tasks (finite P)"
                if finite_P
                else "closed form of the measured overlaps"
            ),
            "diverged_seeds": ",".join(map(str, bad)),
            "status": -1 if bad else 0,
            "message": (f"replicas {bad} diverged" if bad else "ok")
            + ("; stopped early" if stopped_early else ""),
            "alpha_reached": float(t / N),
            "stopped_early": int(stopped_early),
        }
    )
    return ds
