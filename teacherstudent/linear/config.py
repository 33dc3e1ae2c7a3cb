"""The ``[linear]`` configuration table: defaults, validation, overrides.

Keys fixed by the spec (§3): ``d k k_model n_tasks m_in m_out mu head_mean noise alpha beta
inner_steps tau rounds algorithms seeds init task_pool``.  Extensions (all with defaults):

- ``init_dist``: principal-angle distance of the ``"near"`` initialisation (exact);
- ``init_scale``: ``B_0`` is scaled so that ``α B_0ᵀB_0 ≈ init_scale² I``;
- ``head_init``: ``w_0 = head_init · N(0, I_k')`` (default ``0``: ``w_0 = 0``);
- ``imaml_lambda``: regularisation ``λ`` of the iMAML inner problem (``"auto"`` = ``1/α``);
- ``record_every``: record the metrics every that many rounds (the last round always);
- ``test_tasks``: number of fixed test heads per seed for ``post_error_full`` (0: not computed).

Conventions: ``m_in``/``m_out`` = ``"inf"`` is the population loss; ``k_model`` defaults to
``k``; ``seeds`` is a count (ids ``0..seeds-1``) or an explicit list of non-negative ids;
``head_mean`` a number means ``θ̄ = value · (1,…,1)``, a list is ``θ̄`` itself;
``task_pool = 0`` draws fresh heads every round, ``task_pool = P ≥ n_tasks`` draws ``P`` heads
once per seed and uses ``n_tasks`` of them (without replacement) each round — finite-sample
data are always fresh.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..validation import (
    ConfigError,
    apply_overrides,
    choice,
    int_at_least,
    nonneg,
    number_or_array,
    pos_int,
    positive,
    read_source,
    sample_size,
    validate_table,
)

__all__ = ["ALGORITHMS", "DEFAULTS", "CHECKS", "load_config", "seed_ids", "head_mean_vector"]

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
)
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
}


def _algorithms(key: str, v: Any) -> list[str]:
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


def _seeds(key: str, v: Any) -> int | list[int]:
    if isinstance(v, (list, tuple)):
        if not v or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v):
            raise ConfigError(f"{key} must be a count >= 1 or a non-empty list of seed ids >= 0")
        if len(set(v)) != len(v):
            raise ConfigError(f"{key}: seed ids must be distinct, got {list(v)}")
        return [int(s) for s in v]
    return pos_int(key, v)


def _optional_size(key: str, v: Any) -> int | None:
    return None if v is None else pos_int(key, v)


def _unit_interval(key: str, v: Any) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
        raise ConfigError(f"{key} must be a number in [0, 1], got {v!r}")
    return float(v)


def _lambda(key: str, v: Any) -> str | float:
    if isinstance(v, str) and v.lower() == "auto":
        return "auto"
    return positive(key, v)


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
}


def load_config(
    path_or_dict: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Read a ``[linear]`` config (TOML path, dict ``{"linear": {...}}`` or None), validate it.

    ``overrides`` maps ``"linear.key"`` (or a bare ``"key"``) to a value.  Returns
    ``{"linear": {...}}`` with every key present; idempotent on its own output.  Any problem
    raises :class:`~teacherstudent.config.ConfigError` naming the key.
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
