"""The ``[linear]`` configuration table: defaults, validation, overrides.

Every key is listed with its type, default and meaning in the configuration reference of
the documentation and by ``teacherstudent config --linear`` / ``--explain linear.KEY``; both
are generated from :data:`DEFAULTS`, :data:`CHECKS` and :data:`DOCS` below, the one place
where a key is defined, checked and explained. :func:`load_config` adds the checks that
involve several keys (``k ≤ k_model ≤ d``, ``task_pool``, the ``"near"`` initialisation).

Example
-------
>>> from teacherstudent.linear.config import load_config
>>> load_config(None, {"mu": 0.5})["linear"]["mu"]
0.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..validation import (
    ConfigError,
    apply_overrides,
    boolean,
    choice,
    described,
    int_at_least,
    nonneg,
    number_or_array,
    pos_int,
    positive,
    read_source,
    sample_size,
    validate_table,
)

__all__ = ["ALGORITHMS", "LORA_ALGORITHMS", "DEFAULTS", "CHECKS", "DOCS", "load_config", "seed_ids",
           "head_mean_vector"]

#: Meta-learning algorithms (inner loop ``inner_steps``) and federated ones (``tau`` local steps).
ALGORITHMS = (
    "arm",
    "anil",
    "fo-anil",
    "maml",
    "fo-maml",
    "reptile",
    "imaml",
    "fedavg",
    "dsgd",
    "fedrep",
    "arm-lora",
    "meta-lora",
    "tr-maml",
)
#: The algorithms of the multi-output model ``ŷ = Ax`` with rank-r adaptation (:mod:`.lora`).
LORA_ALGORITHMS = ("arm-lora", "meta-lora")
INITS = ("random", "near")

DEFAULTS: dict[str, Any] = {
    "d": 20,
    "k": 3,
    "k_model": None,  # None -> k
    "n_tasks": 20,
    "m_in": math.inf,
    "m_out": math.inf,
    "mu": 1.0,
    "head_mean": 0.0,
    "noise": 0.0,
    "alpha": 0.5,
    "beta": 0.2,
    "inner_steps": 1,
    "tau": 2,
    "rounds": 500,
    "algorithms": ["arm", "anil", "fo-anil", "maml", "fo-maml"],
    "seeds": 4,
    "init": "random",
    "task_pool": 0,
    "init_dist": 0.1,
    "init_scale": 1.0,
    "head_init": 0.0,
    "imaml_lambda": "auto",
    "record_every": 1,
    "test_tasks": 32,
    "lora_rank": None,  # None -> k
    "lora_shift": 1.0,
    "group_means": [],  # [] -> one group, the head law of head_mean / mu
    "group_tasks": [],
    "tr_temperature": 0.02,
    "check_size": True,  # refuse runs estimated not to fit in memory or to take > 6 h
}


@described("list of strings", "non-empty, distinct, each one of " + ", ".join(ALGORITHMS))
def _algorithms(key: str, v: Any) -> list[str]:
    """A non-empty list of distinct algorithm names (a single name is a list of one)."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        raise ConfigError(f"{key} must be a non-empty list of algorithm names, got {v!r}")
    out = []
    for name in v:
        if not isinstance(name, str) or name.lower() not in ALGORITHMS:
            raise ConfigError(f"{key}: unknown algorithm {name!r} (known: {', '.join(ALGORITHMS)})")
        if name.lower() in out:
            raise ConfigError(f"{key}: algorithm {name!r} listed twice")
        out.append(name.lower())
    return out


@described("integer or list of integers", "a count ≥ 1, or distinct seed ids ≥ 0")
def _seeds(key: str, v: Any) -> int | list[int]:
    """A count ``>= 1`` or a non-empty list of distinct seed ids ``>= 0``."""
    if isinstance(v, (list, tuple)):
        if not v or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v):
            raise ConfigError(f"{key} must be a count >= 1 or a non-empty list of seed ids >= 0")
        if len(set(v)) != len(v):
            raise ConfigError(f"{key}: seed ids must be distinct, got {list(v)}")
        return [int(s) for s in v]
    return pos_int(key, v)


@described("integer, optional", "≥ 1")
def _optional_size(key: str, v: Any) -> int | None:
    """An integer ``>= 1``, or not set."""
    return None if v is None else pos_int(key, v)


@described("float", "in [0, 1]")
def _unit_interval(key: str, v: Any) -> float:
    """A number in ``[0, 1]``."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
        raise ConfigError(f"{key} must be a number in [0, 1], got {v!r}")
    return float(v)


@described('float or "auto"', '> 0, or "auto" (1/alpha)')
def _lambda(key: str, v: Any) -> str | float:
    """A positive number or ``"auto"``."""
    if isinstance(v, str) and v.lower() == "auto":
        return "auto"
    return positive(key, v)


@described("list of numbers", "finite; may be empty")
def _number_list(key: str, v: Any) -> list[float]:
    """A (possibly empty) list of finite numbers."""
    if not isinstance(v, (list, tuple)) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v
    ):
        raise ConfigError(f"{key} must be a list of finite numbers, got {v!r}")
    return [float(x) for x in v]


@described("list of integers", "each ≥ 1; may be empty")
def _count_list(key: str, v: Any) -> list[int]:
    """A (possibly empty) list of integers ``>= 1``."""
    if not isinstance(v, (list, tuple)) or not all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v
    ):
        raise ConfigError(f"{key} must be a list of integers >= 1, got {v!r}")
    return [int(x) for x in v]


CHECKS = {
    "d": pos_int,
    "k": pos_int,
    "k_model": _optional_size,
    "n_tasks": pos_int,
    "m_in": sample_size,
    "m_out": sample_size,
    "mu": nonneg,
    "head_mean": number_or_array,
    "noise": nonneg,
    "alpha": positive,
    "beta": nonneg,
    "inner_steps": int_at_least(0),
    "tau": pos_int,
    "rounds": pos_int,
    "algorithms": _algorithms,
    "seeds": _seeds,
    "init": choice(INITS),
    "task_pool": int_at_least(0),
    "init_dist": _unit_interval,
    "init_scale": positive,
    "head_init": nonneg,
    "imaml_lambda": _lambda,
    "record_every": pos_int,
    "test_tasks": int_at_least(0),
    "lora_rank": _optional_size,
    "lora_shift": nonneg,
    "group_means": _number_list,
    "group_tasks": _count_list,
    "tr_temperature": positive,
    "check_size": boolean,
}


#: What every key of ``[linear]`` means (the configuration reference and ``teacherstudent
#: config --explain`` read it, with :data:`DEFAULTS` and the checks of :data:`CHECKS`).
DOCS: dict[str, str] = {
    "d": "Input dimension d: x ~ N(0, I_d).",
    "k": "Rank k of the ground-truth representation B_* (d×k, orthonormal columns); for "
    "arm-lora / meta-lora the rank of the task perturbations.",
    "k_model": "Columns k' of the learnt representation B (d×k', k ≤ k' ≤ d). Not set: k.",
    "n_tasks": "n, the tasks of one round.",
    "m_in": 'Samples per task the inner loop adapts on ("inf": the population loss); '
    "algorithms without a split (arm, dsgd, fedavg, reptile, fedrep) use m_in + m_out.",
    "m_out": 'Fresh samples per task of the outer loss ("inf": the population loss).',
    "mu": "Task diversity μ: heads θ ~ N(θ̄, diag(1, …, 1, μ²)); the smallest eigenvalue "
    "of the heads' second moment sets the rate of ANIL.",
    "head_mean": "Mean θ̄ of the heads: a number v means v·(1, …, 1); a list of length k is "
    "θ̄ itself.",
    "noise": "Label noise σ: y = ⟨B_*θ, x⟩ + z with z ~ N(0, σ²).",
    "alpha": "α, the inner (adaptation) or local step size. Not the time α = tasks/N of "
    "the nonlinear model.",
    "beta": "β, the outer (meta or server) step size.",
    "inner_steps": "Inner steps of anil, fo-anil, maml, fo-maml and meta-lora (and of the "
    "rank-r adaptation the lora metrics evaluate).",
    "tau": "τ, the local steps of fedavg and reptile and the head steps of fedrep.",
    "rounds": "Rounds (outer updates) of each run.",
    "algorithms": "The algorithms to run: the dataset's algorithm dimension.",
    "seeds": "A count (seed ids 0 … seeds − 1) or a list of distinct seed ids.",
    "init": '"random": a random B_0; "near": B_0 at principal-angle distance init_dist '
    "from B_*.",
    "task_pool": "0: fresh heads every round; P ≥ n_tasks: P heads drawn once per seed, "
    "n_tasks of them (without replacement) in each round. Samples are always fresh.",
    "init_dist": 'Principal-angle distance of the "near" initialisation (exact).',
    "init_scale": "B_0 is scaled so that α B_0ᵀB_0 ≈ init_scale² I.",
    "head_init": "w_0 = head_init · N(0, I_k') (0: w_0 = 0).",
    "imaml_lambda": 'Regularisation λ of the iMAML inner problem ("auto": 1/α).',
    "record_every": "Record the metrics every that many rounds (the last round always).",
    "test_tasks": "Fixed test heads per seed for post_error_full (0: not computed).",
    "lora_rank": "Rank r of the adaptation of arm-lora and meta-lora (r ≤ d; r = d: "
    "full-rank adaptation, meta-lora = MAML on all parameters). Not set: k.",
    "lora_shift": "Size ς of the task perturbations of arm-lora / meta-lora: A_i^* = A_* + "
    "(ς/d) G_i G_iᵀ with G_i a d×k Gaussian matrix (rank k, mean ς(k/d) I).",
    "group_means": "Task groups: the head mean of each group, θ̄_g = v_g·(1, …, 1) (heads "
    "θ ~ N(θ̄_g, diag(1, …, 1, μ²))); [] : one group with head_mean. The worst_error and "
    "mean_error metrics, and the weights of tr-maml, are over these groups.",
    "group_tasks": "Tasks of each group in every round (one count ≥ 1 per entry of "
    "group_means, summing to n_tasks); their shares q_g = n_g/n_tasks are the task "
    "distribution MAML averages over.",
    "tr_temperature": "ε of tr-maml: group weights p_g ∝ q_g exp(L_g/ε) from this round's "
    "post-adaptation group losses L_g (the entropy-regularised maximum over task "
    "distributions; ε → 0: the worst group, ε → ∞: MAML).",
    "check_size": "Refuse, before any work, a run estimated not to fit in memory or to take "
    "more than 6 h (false: run it anyway).",
}


def load_config(
    path_or_dict: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Read a ``[linear]`` configuration, apply overrides, fill the defaults and validate it.

    Parameters
    ----------
    path_or_dict : str, Path, mapping or None
        A TOML path, a dict ``{"linear": {...}}`` or ``None`` for the defaults.
    overrides : mapping, optional
        ``"linear.key"`` (or a bare ``"key"``) to a value.

    Returns
    -------
    dict
        ``{"linear": {...}}`` with every key present; idempotent on its own output.

    Raises
    ------
    ConfigError
        Any problem, with a message naming the key.

    Examples
    --------
    >>> load_config(None, {"k": 2, "k_model": None})["linear"]["k_model"]
    2
    """
    raw = read_source(path_or_dict)
    if overrides:
        dotted = {(k if "." in k else f"linear.{k}"): v for k, v in overrides.items()}
        raw = apply_overrides(raw, dotted)
    for table in raw:
        if table != "linear":
            raise ConfigError(
                f"unknown table [{table}]: 'teacherstudent linear' takes only [linear]"
            )
    p = validate_table("linear", raw.get("linear", {}), DEFAULTS, CHECKS)
    if p["k"] > p["d"]:
        raise ConfigError(f"linear.k must be <= linear.d = {p['d']}, got {p['k']}")
    if p["k_model"] is None:
        p["k_model"] = p["k"]
    if p["k_model"] < p["k"]:
        raise ConfigError(f"linear.k_model must be >= linear.k = {p['k']}, got {p['k_model']}")
    if p["k_model"] > p["d"]:
        raise ConfigError(f"linear.k_model must be <= linear.d = {p['d']}, got {p['k_model']}")
    if 0 < p["task_pool"] < p["n_tasks"]:
        raise ConfigError(
            f"linear.task_pool must be 0 (fresh tasks) or >= linear.n_tasks = {p['n_tasks']}, "
            f"got {p['task_pool']}"
        )
    if p["init"] == "near" and p["init_dist"] >= 1.0:
        raise ConfigError("linear.init_dist must be < 1 for init = \"near\"")
    if p["init"] == "near" and p["k"] + p["k_model"] > p["d"]:
        raise ConfigError(
            "linear.init = \"near\" needs k + k_model <= d (room for the perturbation "
            f"in col(B_*)^⊥); got d = {p['d']}, k = {p['k']}, k_model = {p['k_model']}"
        )
    head_mean_vector(p)  # shape check
    if p["lora_rank"] is None:
        p["lora_rank"] = p["k"]
    if p["lora_rank"] > p["d"]:
        raise ConfigError(f"linear.lora_rank must be <= linear.d = {p['d']}, "
                          f"got {p['lora_rank']}")
    if p["task_pool"] > 0 and any(a in LORA_ALGORITHMS for a in p["algorithms"]):
        raise ConfigError("linear.task_pool must be 0 with arm-lora / meta-lora (fresh task "
                          f"perturbations every round), got {p['task_pool']}")
    if len(p["group_tasks"]) != len(p["group_means"]):
        raise ConfigError(
            f"linear.group_tasks must have one count per entry of linear.group_means "
            f"({len(p['group_means'])}), got {p['group_tasks']}"
        )
    if p["group_tasks"] and sum(p["group_tasks"]) != p["n_tasks"]:
        raise ConfigError(f"linear.group_tasks must sum to linear.n_tasks = {p['n_tasks']}, "
                          f"got {p['group_tasks']} (sum {sum(p['group_tasks'])})")
    if p["group_means"] and p["task_pool"] > 0:
        raise ConfigError("linear.task_pool must be 0 with task groups (linear.group_means)")
    return {"linear": p}


def seed_ids(p: Mapping[str, Any]) -> list[int]:
    """The seed ids of a resolved ``[linear]`` table."""
    s = p["seeds"]
    return list(range(s)) if isinstance(s, int) else list(s)


def head_mean_vector(p: Mapping[str, Any]):
    """``θ̄ ∈ ℝ^k``: a number ``v`` means ``v · (1,…,1)``."""
    import numpy as np

    hm = p["head_mean"]
    if isinstance(hm, (int, float)):
        return float(hm) * np.ones(p["k"])
    arr = np.asarray(hm, dtype=float)
    if arr.shape != (p["k"],):
        raise ConfigError(f"linear.head_mean must be a number or a list of length k = {p['k']}")
    return arr
