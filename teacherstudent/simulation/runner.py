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
:meth:`~teacherstudent.ode.field.VectorField.errors`, evaluated with the measured ``T``).

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

from .. import resources
from ..config import ConfigError, build_problem, load_config, to_toml
from ..dataset import provenance
from ..interrupts import deferred_interrupt
from ..ode import SaveAt, VectorField
from ..ode.solver_state import INTERRUPTED
from ..validation import device as device_name
from ..validation import is_integer, is_number
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

__all__ = ["simulate", "estimate", "check_size", "EVAL_SEED_OFFSET", "DEFAULT_TEST_TASKS"]

EVAL_SEED_OFFSET = 1_000_003_000
DEFAULT_TEST_TASKS = 256
CHUNK_BUDGET = 1 << 22  # normal draws held per chunk (all replicas); 32 MiB in float64
MAX_CHUNK = 256
SMALL_WORK = 1 << 20  # S·N·(K+M) below which the run uses one CPU thread
_EVAL_BLOCK = 32  # test tasks evaluated at once


def _resolve(config: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
    return load_config(config, overrides)


def _count(key: str, v: Any) -> int:
    """A positive integer (NumPy integers and integral floats such as ``1e6`` too)."""
    if is_integer(v) and v >= 1:
        return int(v)
    if is_number(v) and math.isfinite(v) and float(v).is_integer() and v >= 1:
        return int(v)
    raise ConfigError(f"{key} must be a positive integer, got {v!r}")


def _device(name: Any, key: str) -> torch.device:
    """The torch device of ``name`` (``auto``, ``cpu``, ``cuda[:i]``); ConfigError names
    ``key`` when it is not one, or not available."""
    name = device_name(key, name)
    try:
        dev = resolve_device(name)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"{key} must be 'auto', 'cpu' or 'cuda[:i]', got {name!r} "
                          f"({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{key}: {dev} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{key}: {dev} requested but there are "
                              f"{torch.cuda.device_count()} CUDA devices")
    elif dev.type != "cpu":
        raise ConfigError(f"{key} must be 'auto', 'cpu' or 'cuda[:i]', got {name!r}")
    return dev


# rough costs (s): a multiply-add of the per-task update, a normal draw (optimistic, so that
# only runs that surely take too long are refused)
_FLOP_S = 1e-9
_DRAW_S = 2e-9


def estimate(cfg: dict[str, Any], N: int, S: int, itemsize: int = 8) -> resources.Estimate:
    """Memory and time a simulation of ``cfg`` at ``N`` with ``S`` replicas needs.

    Memory: the weights ``J, B`` and the initial frame (about three ``S (K+M) N`` arrays),
    a chunk of task draws (at least one task of every replica), the evaluation blocks and
    the records. Time: ``S · round(α_max N)`` replica-tasks, each about ``N (K+M)``
    multiply-adds and its normal draws (optimistic).
    """
    K, M = cfg["model"]["K"], cfg["model"]["M"]
    alg = cfg["algorithm"]
    per_task = M + (M * N if cfg["tasks"]["gamma"] < 1.0 else 0)
    for size in (alg["train_size"] if alg["inner_steps"] > 0 else math.inf, alg["val_size"]):
        if math.isfinite(size):
            per_task += size * (N + 1)
    weights = 3.0 * S * (K + M) * N * itemsize
    chunk = 2.0 * 8 * max(CHUNK_BUDGET, S * per_task)
    sim = cfg["simulation"]
    P = alg["train_size"] if math.isfinite(alg["train_size"]) else 0
    n_samples = sim["test_samples"] if sim["test_tasks"] > 0 else 0
    gamma_eval = M * N if cfg["tasks"]["gamma"] < 1.0 else 0
    evaluation = 8.0 * S * _EVAL_BLOCK * (2 * gamma_eval + (P + n_samples + 2 * (K + M)) * (K + M))
    n_save = (len(cfg["run"]["save_alpha"]) + 1 if cfg["run"]["save_alpha"] is not None
              else cfg["run"]["n_save"])
    records = 8.0 * S * n_save * (K * K + K * M + K + 8)
    memory = weights + chunk + evaluation + records
    parts = {"the weights J, B (S·(K+M)·N)": weights, "the task draws of a chunk": chunk,
             "the evaluation blocks": evaluation, "the records": records}
    tasks = float(round(cfg["run"]["alpha_max"] * N)) * S
    seconds = tasks * (N * (K + M) * _FLOP_S + per_task * _DRAW_S)
    return resources.Estimate(memory=memory, seconds=seconds, what=max(parts, key=parts.get),
                              steps=tasks)


def check_size(cfg: dict[str, Any], N: int, S: int, itemsize: int = 8) -> resources.Estimate:
    """Refuse (:class:`ConfigError`) a simulation that cannot fit or would take too long,
    unless ``simulation.check_size = false``."""
    return resources.check(estimate(cfg, N, S, itemsize), "simulation.N or simulation.seeds",
                           "simulation.check_size", cfg["simulation"]["check_size"],
                           time_keys="run.alpha_max, simulation.N or simulation.seeds")


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
    vf = _error_field(cfg)
    out = np.full(Q.shape[:2] + (3,), np.nan)
    for s in range(Q.shape[0]):
        vfs = dataclasses.replace(vf, problem=dataclasses.replace(vf.problem, T=T[s]))
        n = Q.shape[1]
        ys = np.concatenate([Q[s].reshape(n, -1), R[s].reshape(n, -1), w[s]], axis=1)
        out[s] = vfs.errors_along(ys)
    return out


def _error_field(cfg: dict[str, Any]) -> VectorField:
    """The vector field whose closed-form errors :func:`closed_form_errors` evaluates."""
    c = copy.deepcopy(cfg)
    c["algorithm"]["train_size"] = math.inf
    return VectorField.from_config(c)


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

    Parameters
    ----------
    config : str, Path, dict or None
        A TOML path, a configuration dict or ``None`` for the defaults (as for
        :func:`teacherstudent.integrate`).
    N, seeds : int, optional
        Input dimension and number of replicas (default: ``simulation.N``, ``simulation.seeds``).
    device : str, optional
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:i]"`` or ``None`` (the config's
        ``simulation.device``).
    progress : bool
        Show a progress bar.
    resume : bool
        Continue from the checkpoint.
    checkpoint : str or Path, optional
        The checkpoint file (default ``simulation.checkpoint`` or ``sim-checkpoint.pt``); it is
        written every ``simulation.checkpoint_every`` in α.
    dtype : str, optional
        ``"float64"`` or ``"float32"`` (default ``simulation.dtype``).
    stop_alpha : float, optional
        Stop (after checkpointing) at the first checkpoint ``α ≥ stop_alpha``; the result then
        ends there (used to test resuming).
    overrides : dict, optional
        Dotted keys, as in :func:`teacherstudent.integrate`; or give them as keywords,
        ``**{"algorithm.eta_J": 2.0}``.

    Returns
    -------
    xarray.Dataset
        ``Q(seed, alpha, k, l)``, ``R(seed, alpha, k, n)``, ``w(seed, alpha, k)``,
        ``eg(seed, alpha)``, ``eg_pre``, ``eg_opt``, ``T(seed, n, m)``, ``tasks(alpha)`` and
        the provenance in ``attrs``.

    Notes
    -----
    Ctrl-C stops the run after the chunk of tasks in progress and returns the partial result
    (``attrs["status"]`` is ``INTERRUPTED``, the α reached in ``alpha_reached``); when a
    checkpoint was asked for (``checkpoint``, ``simulation.checkpoint`` or
    ``checkpoint_every > 0``) the state is written there first, so ``resume=True`` continues
    it. Sizes that cannot fit are refused before any work (``simulation.check_size``, see
    :func:`estimate`).

    Examples
    --------
    >>> from teacherstudent.simulation import simulate
    >>> sim = simulate(None, N=200, seeds=2, device="cpu", progress=False,
    ...                **{"run.alpha_max": 1.0})
    >>> dict(sim.sizes)["seed"]
    2
    """
    cfg = _resolve(config, {**(overrides or {}), **dotted})
    sim = cfg["simulation"]
    N = _count("simulation.N (N)", sim["N"] if N is None else N)
    S = _count("simulation.seeds (seeds)", sim["seeds"] if seeds is None else seeds)
    K, M = cfg["model"]["K"], cfg["model"]["M"]
    if N <= K + M:
        raise ConfigError(f"simulation.N must exceed K + M = {K + M}, got {N}")
    dev = _device(sim["device"] if device is None else device,
                  "simulation.device" if device is None else "simulation.device (device)")
    dtypes = {"float64": torch.float64, "float32": torch.float32}
    if dtype is not None and dtype not in dtypes:
        raise ConfigError(f"simulation.dtype (dtype) must be float64 or float32, got {dtype!r}")
    dt = dtypes[dtype or sim["dtype"]]
    cfg["simulation"].update({"N": N, "seeds": S, "device": str(dev), "dtype": str(dt)[6:]})
    check_size(cfg, N, S, torch.finfo(dt).bits // 8)

    net = Network.from_config(cfg, N, dev, dt)
    rates = Rates.from_config(cfg)
    if rates.exact and rates.adapts_J and not rates.needs_train and not net.closed_form:
        # maml's population inner J step differentiates ∇_J I2 again: second derivatives of
        # I2, which the backend's I2 (autograd by Price's theorem, once) does not provide
        raise ConfigError(
            f"model.activation = {net.activation!r}, model.teacher_activation = "
            f"{net.teacher_activation!r} with algorithm.name = {cfg['algorithm']['name']!r}, "
            "algorithm.eta_in_J > 0 and train_size = \"inf\": the simulation needs second "
            "derivatives of I2, available only for erf or linear on both networks (use a "
            "finite algorithm.train_size, eta_in_J = 0, or fo-maml)"
        )
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
    # Ctrl-C writes a checkpoint where one was asked for (a path, or checkpoint_every > 0)
    ckpt_on_interrupt = bool(checkpoint or sim["checkpoint"] or every > 0)
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
        from rich.console import Console
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
            console=Console(stderr=True),  # the CLI shows it when stderr is a terminal
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

    def write_checkpoint() -> None:
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

    # the error kernel now (loaded, or compiled in a fresh installation, ~15 s): after a
    # Ctrl-C the partial result is then written at once
    vf0 = _error_field(cfg)
    vf0.errors_along(vf0.y0[None, :])
    t0 = time.perf_counter()
    stopped_early = False
    # Ctrl-C is polled after every chunk (a chunk boundary is a consistent state: a run
    # resumed from there takes the same chunks as an uninterrupted one); a second Ctrl-C
    # raises at once
    try:
        with deferred_interrupt() as interrupt, torch.no_grad():
            if t == 0 and not resume:
                record(0)
            for stop in stops[stops > t]:
                while t < stop and not interrupt:
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
                if t < stop:  # interrupted between two stops
                    break
                record(int(stop))
                if stop in ckpt_tasks:
                    write_checkpoint()
                    if stop_alpha is not None and stop / N >= stop_alpha:
                        stopped_early = True
                        break
                if interrupt:
                    break
            interrupted = bool(interrupt) and t < total
            if interrupted and ckpt_on_interrupt:
                write_checkpoint()
    finally:
        torch.set_num_threads(threads)
        if bar is not None:
            bar.stop()
    wall = wall_before + time.perf_counter() - t0
    ds = _to_dataset(
        cfg, net, rates, alpha, save_tasks, rec, T_meas, diverged, t, wall, finite_P,
        n_test, n_samples, stopped_early,
    )
    if interrupted:
        ds.attrs.update({
            "status": INTERRUPTED,
            "message": f"interrupted at alpha = {t / N:.6g}"
            + (f"; {ds.attrs['message']}" if ds.attrs["message"] != "ok" else ""),
            "interrupted": 1,
            "checkpoint": str(ckpt_path) if ckpt_on_interrupt else "",
        })
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


def _divergence(bad: list[int], at: np.ndarray, S: int, alpha_reached: float) -> str:
    """``"ok"``, or which replicas diverged at which α."""
    if not bad:
        return "ok"
    which = ", ".join(f"seed {s} at alpha = {a:.6g}" for s, a in zip(bad, at, strict=True))
    rest = ("every replica diverged" if len(bad) == S
            else f"the other {S - len(bad)} ran to alpha = {alpha_reached:.6g}")
    return f"diverged: {which}; {rest}"


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
            "message": _divergence(bad, diverged[~np.isnan(diverged)], S, t / N)
            + ("; stopped early" if stopped_early else ""),
            "alpha_reached": float(t / N),
            "stopped_early": int(stopped_early),
        }
    )
    return ds
