r"""Run the algorithms of a ``[linear]`` config and collect the per-round metrics.

All seeds of one algorithm advance together (leading array axis); every algorithm restarts
from the same per-seed ``B_*``, ``(B_0, w_0)`` and task stream (:mod:`.tasks`), so curves of
different algorithms are paired.  A seed whose state becomes non-finite or exceeds
``|·| > 1e8`` is frozen: its round is stored in ``diverged_round`` and its later metrics are NaN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .. import resources
from ..dataset import provenance
from .algorithms import UPDATES, Rates
from .config import LORA_ALGORITHMS, load_config, seed_ids
from .lora import LoraStream, lora_metrics, lora_state
from .metrics import cover_distance, gram_spectrum, orthonormal_basis, principal_angle_distance
from .model import SampleLoss, apply, inner_loop
from .population import full_adaptation_error, post_adaptation_error
from .tasks import InitialState, TaskLaw, TaskStream, group_head_means, initial_state

__all__ = ["run", "rates_of", "recorded_rounds", "simulate_algorithm", "VARIABLES",
           "estimate", "check_size", "divergence_message"]

DIVERGENCE = 1e8

#: Recorded variables (dims ``algorithm, seed, round``) and their descriptions.
VARIABLES = {
    "dist": "principal-angle distance ‖B̂_{*,⊥}ᵀ B̂‖₂",
    "dist2": "squared principal-angle distance",
    "dist_cover": "‖(I − B̂B̂ᵀ)B_*‖₂ (col B_* outside col B; = dist for k' = k)",
    "cond": "condition number κ(αBᵀB)",
    "delta": "‖I − αBᵀB‖₂",
    "gram_min": "smallest eigenvalue of αBᵀB",
    "gram_max": "largest eigenvalue of αBᵀB",
    "head_norm": "‖w‖₂",
    "post_error": "expected excess risk on a fresh task after inner_steps population head "
    "steps of rate α (noise σ²/2 not included)",
    "post_error_full": "mean excess risk on test_tasks fixed test tasks after inner_steps "
    "population GD steps of rate α on B and w (MAML's adaptation)",
    "lora_error": "arm-lora / meta-lora: mean excess risk ½‖A + Δ_s − A_i^*‖_F² on test_tasks "
    "fixed test tasks after inner_steps rank-r projected GD steps of rate α",
    "lora_opt_error": "arm-lora / meta-lora: mean best rank-r excess risk "
    "½ Σ_{l>r} σ_l²(A_i^* − A) on the test tasks (Eckart–Young)",
    "base_dist": "arm-lora / meta-lora: distance ‖A − A_*‖_F to the optimal base",
    "worst_error": "largest over the task groups of the mean excess risk on test_tasks fixed "
    "test tasks of the group after inner_steps GD steps on B and w (on m_in fixed samples "
    "per test task, or the population loss; = post_error_full without groups)",
    "mean_error": "the same averaged over the groups with their shares q_g = n_g/n_tasks",
}
#: The variables of each model (the others are NaN for its algorithms).
LORA_VARIABLES = ("lora_error", "lora_opt_error", "base_dist")


def rates_of(p: Mapping[str, Any]) -> Rates:
    lam = p["imaml_lambda"]
    return Rates(
        alpha=p["alpha"],
        beta=p["beta"],
        inner_steps=p["inner_steps"],
        tau=p["tau"],
        imaml_lambda=1.0 / p["alpha"] if lam == "auto" else float(lam),
        lora_rank=p["lora_rank"],
        tr_temperature=p["tr_temperature"],
    )


def recorded_rounds(p: Mapping[str, Any]) -> np.ndarray:
    r = np.arange(0, p["rounds"] + 1, p["record_every"])
    return r if r[-1] == p["rounds"] else np.append(r, p["rounds"])


def _adapted_error(B, w, state: InitialState, theta, p) -> np.ndarray:
    """Mean excess risk ``½‖B_s w_s − B_*θ‖²`` over the test heads ``θ`` after the inner loop
    of training (``inner_steps`` GD steps on ``B`` and ``w``): on the population loss, or on
    the fixed ``m_in`` test samples of each test task."""
    if state.test_X is None:
        return full_adaptation_error(B, w, state.B_star, theta, p["alpha"], p["inner_steps"])
    target = theta @ np.swapaxes(state.B_star, 1, 2)  # (S, T, d)
    y = (state.test_X @ target[..., None])[..., 0] + p["noise"] * state.test_xi
    _, Bs, ws = inner_loop(SampleLoss(state.test_X, y), B, w, p["alpha"], p["inner_steps"],
                           adapt_B=True)
    r = apply(Bs, ws) - target
    return 0.5 * np.mean(np.sum(r * r, axis=-1), axis=-1)


def _group_errors(B, w, state: InitialState, law: TaskLaw, p):
    """``post_error_full`` and its worst / share-weighted mean over the task groups."""
    full = full_adaptation_error(B, w, state.B_star, state.test_theta, p["alpha"],
                                 p["inner_steps"])
    if not p["group_means"]:
        return full, full, full
    # each group's test heads: the same draws, shifted from θ̄ to the group's mean
    per_group = np.stack([
        _adapted_error(B, w, state, state.test_theta - law.mean + mean_g, p)
        for mean_g in group_head_means(p)
    ])
    q = np.asarray(p["group_tasks"]) / p["n_tasks"]
    return full, per_group.max(axis=0), q @ per_group


def _metrics(B, w, state: InitialState, law: TaskLaw, p) -> dict[str, np.ndarray]:
    full, worst, mean = _group_errors(B, w, state, law, p)
    Q = orthonormal_basis(B)
    dist = principal_angle_distance(B, state.B_star, Q)
    return {
        **{v: np.full(B.shape[0], np.nan) for v in LORA_VARIABLES},
        "dist": dist,
        "dist2": dist**2,
        "dist_cover": dist if B.shape[2] == state.B_star.shape[2] else cover_distance(
            B, state.B_star, Q
        ),
        **gram_spectrum(B, p["alpha"]),
        "head_norm": np.linalg.norm(w, axis=-1),
        "post_error": post_adaptation_error(
            B, w, state.B_star, law.mean, law.var, p["alpha"], p["inner_steps"]
        ),
        "post_error_full": full, "worst_error": worst, "mean_error": mean,
    }


def simulate_algorithm(
    name: str, p: Mapping[str, Any], law: TaskLaw | None = None, reduce: bool | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run one algorithm for all seeds: metrics ``{var: (S, R)}`` and ``diverged_round (S,)``.

    ``reduce`` (default: for population losses) runs the exact dynamics in an orthonormal
    basis of ``col(B_0) + col(B_*)`` (:meth:`InitialState.reduced`); finite-sample losses
    need all ``d`` dimensions.
    """
    rates = rates_of(p)
    if name in LORA_ALGORITHMS:
        return _advance(UPDATES[name], p, *_lora_setup(p, rates))
    law = law or TaskLaw.from_config(p)
    state = initial_state(p, law)
    population = math.isinf(p["m_in"]) and math.isinf(p["m_out"])
    if population if reduce is None else reduce:
        if not population:
            raise ValueError("the reduced basis is exact for population losses only")
        state = state.reduced()
    stream = TaskStream(p, law, state)
    return _advance(UPDATES[name], p, stream, state.B0, state.w0,
                    lambda B, w: _metrics(B, w, state, law, p))


def _lora_setup(p: Mapping[str, Any], rates: Rates):
    """Stream, initial ``(A_0, w)`` (``w`` without columns) and metrics of arm-/meta-lora."""
    st = lora_state(p)
    nan = {v: np.full(st.A0.shape[0], np.nan) for v in VARIABLES if v not in LORA_VARIABLES}

    def metrics(A, w):
        return {**nan, **lora_metrics(A, st, rates.alpha, rates.inner_steps, rates.lora_rank)}

    return LoraStream(p, st), st.A0, np.zeros((st.A0.shape[0], 0)), metrics


def _advance(update, p, stream, B0, w0, metrics) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The rounds of one algorithm: update, freeze diverged seeds, record the metrics."""
    rates = rates_of(p)
    B, w = B0.copy(), w0.copy()
    S = B.shape[0]
    rounds = recorded_rounds(p)
    out = {v: np.full((S, rounds.size), np.nan) for v in VARIABLES}
    alive = np.ones(S, dtype=bool)
    diverged = np.full(S, -1, dtype=np.int64)
    slot = 0
    with np.errstate(all="ignore"):
        for t in range(p["rounds"] + 1):
            if t > 0:
                B, w = update(B, w, stream.next(), rates)
                bad = ~(
                    np.all(np.abs(B) < DIVERGENCE, axis=(1, 2))
                    & np.all(np.abs(w) < DIVERGENCE, axis=1)
                )
                diverged[bad & alive] = t
                alive &= ~bad
                if not alive.all():
                    B = np.where(alive[:, None, None], B, B0)
                    w = np.where(alive[:, None], w, w0)
            if t == rounds[slot]:
                for v, values in metrics(B, w).items():
                    out[v][:, slot] = np.where(alive, values, np.nan)
                slot += 1
    return out, diverged


# rough costs (s): a multiply-add, the per-round overhead of one algorithm (numpy calls)
_FLOP_S = 1e-9
_ROUND_S = 2e-5


def estimate(p: Mapping[str, Any]) -> resources.Estimate:
    """Memory and time a run of the ``[linear]`` table ``p`` needs.

    Memory: the per-seed ground truth and initial state (``S d (k + k')``, a few copies), the
    samples of one round (finite ``m_in``/``m_out``: ``S n (m_in + m_out) d``) and the
    records. Time: ``rounds`` rounds of every algorithm, each about ``S n m d k'`` (finite
    samples) or ``S n (k + k')²`` (population, in the reduced basis) multiply-adds plus a
    fixed overhead (optimistic).
    """
    S = len(seed_ids(p))
    d, k, kp, n = p["d"], p["k"], p["k_model"], p["n_tasks"]
    m = sum(v for v in (p["m_in"], p["m_out"]) if math.isfinite(v))
    state = 8.0 * 6 * S * d * (k + kp)
    samples = 8.0 * 2 * S * n * (m * (d + 1) + 4 * d * kp) if m else 0.0
    n_rec = p["rounds"] // p["record_every"] + 2  # recorded_rounds(p), without building it
    records = 8.0 * S * len(p["algorithms"]) * n_rec * (len(VARIABLES) + 1)
    # the heads of TaskStream.BLOCK rounds, and the targets B_*θ of a round
    heads = 8.0 * S * n * (2 * 256 * k + 2 * d)
    parts = {"the representations B_*, B_0 (seeds·d·(k + k'))": state,
             "the samples of a round (seeds·n_tasks·(m_in + m_out)·d)": samples,
             "the task heads and targets (seeds·n_tasks·(256 k + d))": heads,
             "the records (seeds·rounds)": records}
    flops = S * n * (m * d * (kp + 1) + d * kp) if m else S * n * (k + kp) ** 2 * 4
    n_lora = sum(a in LORA_ALGORITHMS for a in p["algorithms"])
    # arm-/meta-lora: d×d matrices, an SVD (~20 d³) per task and inner step, and the metrics
    lora_flops = S * (n + p["test_tasks"]) * (20 * d**3 * (p["inner_steps"] + 1) + m * d * d)
    seconds = p["rounds"] * ((len(p["algorithms"]) - n_lora) * (_ROUND_S + flops * _FLOP_S)
                             + n_lora * (_ROUND_S + lora_flops * _FLOP_S))
    return resources.Estimate(memory=state + samples + heads + records, seconds=seconds,
                              what=max(parts, key=parts.get), steps=p["rounds"])


def check_size(p: Mapping[str, Any]) -> resources.Estimate:
    """Refuse (:class:`~teacherstudent.config.ConfigError`) a run that cannot fit or would
    take too long, unless ``linear.check_size = false``."""
    return resources.check(estimate(p), "linear.d, linear.n_tasks, linear.seeds or "
                           "linear.rounds (/ linear.record_every)",
                           "linear.check_size", p["check_size"],
                           time_keys="linear.rounds, linear.d, linear.n_tasks or linear.seeds")


def divergence_message(ds: xr.Dataset) -> str:
    """``"ok"``, or which seeds of which algorithm diverged at which round."""
    parts = []
    for alg in ds["algorithm"].values:
        div = ds["diverged_round"].sel(algorithm=alg).values
        bad = np.flatnonzero(div >= 0)
        if bad.size:
            seeds = ds["seed"].values
            which = ", ".join(f"seed {seeds[i]} at round {div[i]}" for i in bad)
            parts.append(f"{alg}: {'every seed, ' if bad.size == div.size else ''}{which}")
    return "diverged: " + "; ".join(parts) if parts else "ok"


def _task_diversity(p: Mapping[str, Any], law: TaskLaw) -> np.ndarray:
    """``μ_*² = λ_min`` of the head second moment (of the pool, or of the law)."""
    state = initial_state(p, law)
    if state.pool is None:
        M = law.cov + np.outer(law.mean, law.mean)
        return np.full(len(seed_ids(p)), np.linalg.eigvalsh(M)[0])
    M = np.swapaxes(state.pool, 1, 2) @ state.pool / state.pool.shape[1]
    return np.linalg.eigvalsh(M)[:, 0]


def run(config: str | Path | Mapping[str, Any] | None = None) -> xr.Dataset:
    """Run every algorithm of a ``[linear]`` configuration on the same tasks.

    Parameters
    ----------
    config : str, Path, dict or None
        A TOML file with a ``[linear]`` table, a dict ``{"linear": {...}}``, a result of
        :func:`~teacherstudent.linear.load_config`, or ``None`` for the defaults
        (``teacherstudent config --linear`` prints them).

    Returns
    -------
    xarray.Dataset
        Variables ``dist, dist2, dist_cover, cond, delta, gram_min, gram_max, head_norm,
        post_error, post_error_full, worst_error, mean_error`` (the representation model)
        and ``lora_error, lora_opt_error, base_dist`` (``arm-lora``, ``meta-lora``; NaN for
        the other model's algorithms) over ``(algorithm, seed, round)`` (see
        :data:`VARIABLES`), ``diverged_round (algorithm, seed)`` (−1: never),
        ``wall_time (algorithm)``, ``mu_star2 (seed)`` (task diversity ``λ_min E θθᵀ``, of the
        pool when ``task_pool > 0``). Attributes: every setting as ``"linear.key"``,
        ``version``, ``wall_time_s``, ``seeds`` and the rest of
        :func:`teacherstudent.dataset.provenance`.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> cfg = ts.linear.load_config(None, {"rounds": 50, "seeds": 2,
    ...                                    "algorithms": ["anil", "arm"]})
    >>> ds = ts.linear.run(cfg)
    >>> ds.dist.dims
    ('algorithm', 'seed', 'round')
    """
    start = time.perf_counter()
    cfg = load_config(config)
    p = cfg["linear"]
    check_size(p)
    law = TaskLaw.from_config(p)
    seeds = seed_ids(p)
    rounds = recorded_rounds(p)
    data = {v: [] for v in VARIABLES}
    diverged, walls = [], []
    for name in p["algorithms"]:
        t0 = time.perf_counter()
        out, div = simulate_algorithm(name, p, law)
        walls.append(time.perf_counter() - t0)
        for v in VARIABLES:
            data[v].append(out[v])
        diverged.append(div)
    dims = ("algorithm", "seed", "round")
    ds = xr.Dataset(
        {v: (dims, np.stack(data[v]), {"description": VARIABLES[v]}) for v in VARIABLES},
        coords={"algorithm": list(p["algorithms"]), "seed": seeds, "round": rounds},
    )
    ds["diverged_round"] = (("algorithm", "seed"), np.stack(diverged))
    ds["diverged_round"].attrs["description"] = "round at which the seed diverged (-1: never)"
    ds["wall_time"] = ("algorithm", np.array(walls))
    ds["wall_time"].attrs["units"] = "s"
    ds["mu_star2"] = ("seed", _task_diversity(p, law))
    ds["mu_star2"].attrs["description"] = "task diversity λ_min(E θθᵀ) (of the pool if any)"
    ds.attrs.update(provenance(cfg, "linear", time.perf_counter() - start))
    ds.attrs["linear.imaml_lambda_value"] = rates_of(p).imaml_lambda
    ds.attrs["seeds"] = str(seeds)
    ds.attrs["message"] = divergence_message(ds)
    ds.attrs["status"] = 0 if ds.attrs["message"] == "ok" else -1
    ds.attrs["model"] = "linear representation learning (Collins et al. 2022)"
    return ds

