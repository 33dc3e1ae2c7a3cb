"""Configuration: defaults, validation and resolution into numerical arrays.

A configuration is a nested dict of TOML tables (``model``, ``tasks``, ``algorithm``,
``init``, ``run``, ``simulation``).  :func:`load_config` fills defaults and validates every
key with the checks of :mod:`teacherstudent.validation` (re-exported here: ``ConfigError``,
``read_toml``, ``parse_overrides``, ``apply_overrides``, ``validate_table``);
:func:`build_problem` turns it into the arrays the equations need (``T``, ``u_mean``,
``u_cov``, ``Q0``, ``R0``, ``w0``).  Any problem raises :class:`ConfigError` with one message
that names the offending key; the CLI turns it into exit status 2.

Shorthands: a number for ``init.Q`` or ``tasks.teacher_overlap`` means ``scale·I``;
a number for ``init.R`` or ``init.w`` means a seeded random matrix/vector of that scale;
``tasks.head_mean`` a number means ``value·1``; ``tasks.head_cov`` a number means
``value·I``, a list its diagonal, a list of lists the full matrix.  ``"inf"`` (or
``inf``) for ``train_size``/``val_size`` means the population limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .validation import (
    Check,
    ConfigError,
    alpha_list,
    apply_overrides,
    boolean,
    choice,
    device,
    int_at_least,
    is_number,
    nonneg,
    number_or_array,
    optional,
    parse_overrides,
    pos_int,
    positive,
    read_source,
    read_toml,
    sample_size,
    seed,
    string,
    unit_interval,
    validate_table,
)

__all__ = [
    "ConfigError",
    "Config",
    "DEFAULTS",
    "CHECKS",
    "DOCS",
    "ALGORITHMS",
    "load_config",
    "parse_overrides",
    "read_toml",
    "apply_overrides",
    "build_problem",
    "Problem",
    "validate_table",
    "to_toml",
]

ALGORITHMS = ("arm", "fo-anil", "anil", "maml", "fo-maml")
# the activations of teacherstudent.ode.integrals.backend (ACTIVATIONS there; a test keeps
# the two in step: importing the backend here would load numba for every config check)
ACTIVATIONS = ("erf", "linear", "relu", "tanh", "sigmoid", "softplus", "gelu")
#: backend.DEFAULT_QUADRATURE_ORDER (quadrature nodes per dimension, error ≤ 1e-10)
DEFAULT_QUADRATURE_ORDER = 129
READOUTS = ("sqrt", "none", "mean")
SOLVERS = ("euler", "rk4", "dopri5")


class Config(dict):
    """A validated configuration (what :func:`load_config` returns): a plain nested dict
    whose type records that every key is present and checked."""


# The paper-like default run (issue 3): K = M = 3, FO-ANIL, eta_J = 3, eta_w = 9.
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "K": 3,
        "M": 3,
        "activation": "erf",
        "teacher_activation": None,  # None -> model.activation
        "readout": "sqrt",
        "noise": 0.0,
        "quadrature_order": DEFAULT_QUADRATURE_ORDER,
    },
    "tasks": {"head_mean": 0.0, "head_cov": 1.0, "gamma": 1.0, "teacher_overlap": 1.0},
    "algorithm": {
        "name": "fo-anil",
        "eta_J": 3.0,
        "eta_w": 9.0,
        "eta_0": None,  # None -> eta_J
        "eta_in_J": 0.0,  # inner rate of J (maml, fo-maml)
        "inner_steps": 1,
        "train_size": math.inf,
        "test_size": None,  # None -> train_size (the shot count of the meta-test error)
        "val_size": math.inf,
    },
    "init": {"Q": 0.5, "R": 1e-3, "w": 0.0, "seed": 0},
    "run": {
        "alpha_max": 450.0,
        "solver": "dopri5",
        "rtol": 1e-8,
        "atol": 1e-10,
        "dt": 0.01,
        "n_save": 300,
        "save_alpha": None,
        "save_spacing": "log",
        "alpha_min_save": 0.01,
        "eg_threshold": 0.0,  # > 0: record the alpha at which eg first falls below it
        "max_steps": 50_000_000,
        "blowup": 1e6,  # |Q|, |R| or |w| beyond this counts as divergence
        "psd_tol": 1e-4,  # λ_min(C) below −psd_tol·max(1, C_ii) counts as divergence
        "check_size": True,  # refuse runs estimated not to fit in memory or to take > 6 h
    },
    "simulation": {
        "N": 1000,
        "seeds": 4,
        "device": "auto",
        "dtype": "float64",
        "checkpoint_every": 0.0,  # in alpha; 0 = no checkpoints
        "checkpoint": "",  # path of the checkpoint file ('' = next to the output)
        "test_tasks": 0,  # > 0: also estimate eg on that many fresh tasks
        "test_samples": 1000,
        "base_seed": 0,
        "rng": "numba",  # CPU normal generator: "numba" (xoshiro256++ ziggurat) or "numpy" (PCG64)
        "check_size": True,  # refuse runs estimated not to fit in memory or to take > 6 h
    },
}


# --------------------------------------------------------------------------- checks
CHECKS: dict[str, dict[str, Check]] = {
    "model": {
        "K": pos_int,
        "M": pos_int,
        "activation": choice(ACTIVATIONS),
        "teacher_activation": optional(choice(ACTIVATIONS)),
        "readout": choice(READOUTS),
        "noise": nonneg,
        "quadrature_order": int_at_least(3),
    },
    "tasks": {
        "head_mean": number_or_array,
        "head_cov": number_or_array,
        "gamma": unit_interval,
        "teacher_overlap": number_or_array,
    },
    "algorithm": {
        "name": choice(ALGORITHMS),
        "eta_J": nonneg,
        "eta_w": nonneg,
        "eta_0": optional(nonneg),
        "eta_in_J": nonneg,
        "inner_steps": int_at_least(0),
        "train_size": sample_size,
        "test_size": optional(sample_size),
        "val_size": sample_size,
    },
    "init": {
        "Q": number_or_array,
        "R": number_or_array,
        "w": number_or_array,
        "seed": seed,
    },
    "run": {
        "alpha_max": positive,
        "solver": choice(SOLVERS),
        "rtol": positive,
        "atol": positive,
        "dt": positive,
        "n_save": int_at_least(2),
        "save_alpha": optional(alpha_list),
        "save_spacing": choice(("log", "linear")),
        "alpha_min_save": positive,
        "eg_threshold": nonneg,
        "max_steps": pos_int,
        "blowup": positive,
        "psd_tol": positive,
        "check_size": boolean,
    },
    "simulation": {
        "N": pos_int,
        "seeds": pos_int,
        "device": device,
        "dtype": choice(("float64", "float32")),
        "checkpoint_every": nonneg,
        "checkpoint": string,
        "test_tasks": int_at_least(0),
        "test_samples": pos_int,
        "base_seed": seed,
        "rng": choice(("numba", "numpy")),
        "check_size": boolean,
    },
}


# --------------------------------------------------------------------------- meanings
#: What every key means, in one place: the configuration reference of the documentation and
#: ``teacherstudent config --explain`` are generated from :data:`DEFAULTS`, :data:`CHECKS` (type
#: and constraint, see :func:`teacherstudent.validation.describe`) and this table. A key
#: without an entry here fails ``tests/test_docs.py``. Symbols are those of the equations.
DOCS: dict[str, dict[str, str]] = {
    "model": {
        "K": "Hidden units of the student (the meta-learner), K.",
        "M": "Hidden units of the meta-teacher, M.",
        "activation": 'Activation g of the student: "erf" is g(z) = erf(z/√2), "linear" '
        'g(z) = z, "relu" max(0, z), "tanh", "sigmoid" 1/(1 + e^−z), "softplus" log(1 + e^z), '
        '"gelu" z Φ(z). erf, linear and relu have closed-form (or exact one-dimensional) '
        "Gaussian integrals; the others use quadrature (model.quadrature_order).",
        "teacher_activation": "Activation of the (meta-)teacher, one of the names of "
        "model.activation. Not set: the student's.",
        "quadrature_order": "Quadrature nodes per dimension of the Gaussian integrals of "
        "the quadrature activations (tanh, sigmoid, softplus, gelu): a trapezoid rule on "
        "[−8, 8] in a whitened basis, every k-th node per axis by its scale and activation. "
        "The default gives ≤ 1e-10 for the 2-D integrals (I2, I3, J2; ≤ 2e-11 for variances "
        "≤ 4) and a few 1e-10 for the 4-D ones (I4, F4). Ignored for erf, linear and relu.",
        "readout": 'Scale of the output layers: "sqrt" s_K = 1/√K, s_M = 1/√M; "none" '
        's_K = s_M = 1; "mean" 1/K and 1/M. The student computes f(x) = s_K Σ_k w_k g(λ_k).',
        "noise": "Label noise σ: y = s_M Σ_n u_n g(ν_n) + σ ξ with ξ ~ N(0, 1).",
    },
    "tasks": {
        "head_mean": "Mean ū of the task heads u ~ N(ū, Σ_u). A number v means v·(1, …, 1); "
        "a list of length M is ū itself.",
        "head_cov": "Covariance Σ_u of the task heads. A number v means v·I, a list of length "
        "M its diagonal, an M×M list of lists the full matrix (positive semi-definite).",
        "gamma": "Similarity γ of the task teachers to the meta-teacher: task t uses the first "
        "layer B^t = γ B + √(1−γ²) ΔB^t with a fresh random ΔB^t; γ = 1: every task shares B.",
        "teacher_overlap": "T = B Bᵀ/N, the overlaps of the meta-teacher's units. A number v "
        "means v·I; an M×M matrix (positive definite) is used as it is.",
    },
    "algorithm": {
        "name": 'The algorithm. "fo-anil": an inner loop on the head, first-order outer step '
        '(the paper\'s algorithm); "anil": the exact meta-gradient through the inner loop; '
        '"maml"/"fo-maml": the inner loop adapts J too (their large-N ODEs are those of '
        'anil/fo-anil); "arm": no inner loop, plain online SGD on the pooled tasks.',
        "eta_J": "η_J, the outer (meta) learning rate of the first layer J.",
        "eta_w": "η_w, the INNER learning rate of the head: the rate of each of the "
        "inner_steps adaptation steps from w (ignored by arm).",
        "eta_0": "η_0, the outer learning rate of the head initialisation w. Not set: η_J; "
        "0 freezes w.",
        "eta_in_J": "Inner learning rate of J, for maml and fo-maml only. The inner change of "
        "J moves the overlaps by O(1/N): the ODEs do not see it, the simulations do.",
        "inner_steps": "s, the number of inner gradient steps on the head (0: no adaptation, "
        "the same as arm).",
        "train_size": 'P, the training samples per task of the inner loop ("inf": the '
        "population loss).",
        "test_size": "The samples a new task's head is adapted on when the error ε is measured "
        "(the shot count of the meta-test; default: train_size).",
        "val_size": 'V, the validation samples per task of the outer step ("inf": the '
        "population loss). A finite V adds the η_J²/V noise term to dQ/dα.",
    },
    "init": {
        "Q": "Initial Q = J Jᵀ/N. A number v means v·I; a K×K matrix (positive definite) is "
        "used as it is.",
        "R": "Initial R = J Bᵀ/N. A number v means a random K×M matrix of entries v·N(0, 1) "
        "(drawn with init.seed); a K×M matrix is used as it is. The covariance "
        "[[Q, R], [Rᵀ, T]] must be positive definite.",
        "w": "Initial head initialisation w. 0: zeros; another number v: entries v·N(0, 1) "
        "(drawn with init.seed); a list of length K is used as it is.",
        "seed": "Seed of the random init.R and init.w given as numbers.",
    },
    "run": {
        "alpha_max": "α at which the run ends (α = tasks/N).",
        "solver": '"dopri5": adaptive Dormand–Prince 5(4) with rtol and atol; "rk4", '
        '"euler": fixed steps dt.',
        "rtol": "Relative tolerance of dopri5.",
        "atol": "Absolute tolerance of dopri5.",
        "dt": "Step of euler and rk4 (dopri5 chooses its own steps).",
        "n_save": "Number of saved α values (α = 0 included) when save_alpha is not set.",
        "save_alpha": "Explicit α values at which the state is saved, exactly (alpha_max is "
        "added). Not set: n_save values spaced by save_spacing.",
        "save_spacing": '"log": saved α log-spaced from alpha_min_save to alpha_max, plus '
        'α = 0; "linear": evenly spaced from 0 to alpha_max.',
        "alpha_min_save": 'First non-zero saved α of the "log" spacing (ignored with '
        'save_alpha or save_spacing = "linear").',
        "eg_threshold": "> 0: record the first α at which ε ≤ eg_threshold, located by the "
        "solver (the dataset attribute alpha_threshold); 0: off.",
        "max_steps": "Most accepted solver steps; a run that needs more stops there "
        "(and keeps what it computed).",
        "blowup": "Divergence threshold: a run with |Q|, |R| or |w| above it stops, says at "
        "which α, and keeps what it computed.",
        "psd_tol": "Tolerance of the positive-definiteness check: a run stops as diverged "
        "when λ_min(C) < −psd_tol·max(1, max C_ii), C the covariance of the local fields.",
        "check_size": "Refuse, before any work, a run estimated not to fit in memory or to "
        "take more than 6 h (false: run it anyway).",
    },
    "simulation": {
        "N": "Input dimension N of the finite networks (teacherstudent simulate --N).",
        "seeds": "Number of independent replicas, the dataset's seed dimension (--seeds).",
        "device": '"auto" (CUDA when available), "cpu" or "cuda[:i]".',
        "dtype": "Floating-point precision of the simulation.",
        "checkpoint_every": "Write a checkpoint every that many units of α (0: none); a "
        "resumed run (--resume) equals an uninterrupted one.",
        "checkpoint": "Path of the checkpoint file ('': next to the output file; "
        "sim-checkpoint.pt from Python).",
        "test_tasks": "> 0: also estimate ε on that many fresh tasks with sampled test inputs "
        "(eg_test); with a finite train_size ε is always estimated on fresh tasks (256 when 0).",
        "test_samples": "Test inputs per task of the sampled estimate eg_test.",
        "base_seed": "Replica r draws everything from its own stream seeded with "
        "base_seed + r.",
        "rng": 'The normal generator on the CPU: "numba" (xoshiro256++) or "numpy" (PCG64); '
        "bitwise reproducible for a seed, batching and thread count.",
        "check_size": "Refuse, before any work, a simulation estimated not to fit in memory "
        "or to take more than 6 h (false: run it anyway).",
    },
}


# --------------------------------------------------------------------------- loading
def load_config(
    path_or_dict: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Read a configuration, apply dotted overrides, fill the defaults and validate it.

    Parameters
    ----------
    path_or_dict : str, Path, mapping or None
        A TOML file, a dict of tables (``{"algorithm": {"eta_J": 2.0}}``) or ``None`` for
        the built-in defaults. The tables are ``model tasks algorithm init run simulation``;
        ``teacherstudent config --explain TABLE`` describes each key.
    overrides : mapping, optional
        Dotted keys applied on top, ``{"algorithm.eta_J": 2.0}`` (the CLI's ``--set``).

    Returns
    -------
    Config
        A plain nested dict (TOML-serialisable) in which every key is present and checked;
        :func:`teacherstudent.integrate` uses it as it is.

    Raises
    ------
    ConfigError
        An unknown table or key, a bad value, inconsistent shapes, or an initial covariance
        ``C = [[Q, R], [Rᵀ, T]]`` that is not positive definite; the message names the key.

    Examples
    --------
    >>> from teacherstudent import load_config
    >>> cfg = load_config(None, {"algorithm.name": "anil", "model.K": 4})
    >>> cfg["algorithm"]["eta_0"]  # not set: the outer rate of J
    3.0
    """
    raw = read_source(path_or_dict)
    if overrides:
        raw = apply_overrides(raw, overrides)
    for table in raw:
        if table not in CHECKS:
            if table == "linear":
                raise ConfigError(
                    "[linear] belongs to 'teacherstudent linear'; this command takes "
                    f"[{'], ['.join(CHECKS)}]"
                )
            raise ConfigError(f"unknown table [{table}] (known: {', '.join(CHECKS)})")
    cfg = {t: validate_table(t, raw.get(t, {}), DEFAULTS[t], CHECKS[t]) for t in CHECKS}
    alg = cfg["algorithm"]
    if alg["eta_0"] is None:
        alg["eta_0"] = alg["eta_J"]
    if cfg["model"]["teacher_activation"] is None:
        cfg["model"]["teacher_activation"] = cfg["model"]["activation"]
    run = cfg["run"]
    if run["save_alpha"] is not None and run["save_alpha"][-1] > run["alpha_max"]:
        raise ConfigError("run.save_alpha has values beyond run.alpha_max")
    if run["save_alpha"] is None and run["alpha_min_save"] >= run["alpha_max"]:
        raise ConfigError("run.alpha_min_save must be smaller than run.alpha_max")
    build_problem(cfg)  # shape and positive-definiteness checks
    return Config(cfg)


# --------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class Problem:
    """The numbers of a configuration: dimensions, scales, task law and initial state."""

    K: int
    M: int
    T: np.ndarray  # (M, M) teacher overlaps
    u_mean: np.ndarray  # (M,)
    u_cov: np.ndarray  # (M, M)
    gamma: float
    noise: float
    s_K: float
    s_M: float
    Q0: np.ndarray  # (K, K)
    R0: np.ndarray  # (K, M)
    w0: np.ndarray  # (K,)


def readout_scales(readout: str, K: int, M: int) -> tuple[float, float]:
    """The readout scales ``(s_K, s_M)`` of the student's and the teacher's output layers.

    Parameters
    ----------
    readout : str
        ``"sqrt"`` (1/√K, 1/√M), ``"mean"`` (1/K, 1/M) or ``"none"`` (1, 1).
    K, M : int
        Hidden units of the student and of the teacher.

    Returns
    -------
    (float, float)
        ``(s_K, s_M)``.

    Examples
    --------
    >>> readout_scales("sqrt", 4, 1)
    (0.5, 1.0)
    """
    if readout == "sqrt":
        return 1.0 / math.sqrt(K), 1.0 / math.sqrt(M)
    if readout == "mean":
        return 1.0 / K, 1.0 / M
    return 1.0, 1.0


def _matrix(key: str, v: Any, n: int, m: int, *, number: str, rng: np.random.Generator):
    if is_number(v):
        if number == "identity":
            if n != m:
                raise ConfigError(f"{key}: a number means scale·I, which needs a square matrix")
            return float(v) * np.eye(n)
        return float(v) * rng.standard_normal((n, m))
    arr = np.asarray(v, dtype=float)
    if arr.shape != (n, m):
        raise ConfigError(f"{key} must have shape ({n}, {m}), got {arr.shape}")
    return arr


def _symmetric(key: str, a: np.ndarray, *, definite: bool) -> np.ndarray:
    if not np.allclose(a, a.T, atol=1e-12, rtol=1e-10):
        raise ConfigError(f"{key} must be symmetric")
    ev = np.linalg.eigvalsh(0.5 * (a + a.T))
    if definite and ev.min() <= 0:
        raise ConfigError(f"{key} must be positive definite (smallest eigenvalue {ev.min():.3g})")
    if not definite and ev.min() < -1e-12:
        raise ConfigError(
            f"{key} must be positive semi-definite (smallest eigenvalue {ev.min():.3g})"
        )
    return 0.5 * (a + a.T)


def build_problem(cfg: Mapping[str, Any]) -> Problem:
    """Resolve shorthands into arrays and check shapes and definiteness."""
    K, M = cfg["model"]["K"], cfg["model"]["M"]
    rng = np.random.default_rng(cfg["init"]["seed"])
    tasks = cfg["tasks"]
    T = _symmetric(
        "tasks.teacher_overlap",
        _matrix(
            "tasks.teacher_overlap", tasks["teacher_overlap"], M, M, number="identity", rng=rng
        ),
        definite=True,
    )
    hm = tasks["head_mean"]
    if is_number(hm):
        u_mean = float(hm) * np.ones(M)
    else:
        u_mean = np.asarray(hm, dtype=float)
        if u_mean.shape != (M,):
            raise ConfigError(f"tasks.head_mean must have shape ({M},), got {u_mean.shape}")
    hc = tasks["head_cov"]
    if is_number(hc):
        u_cov = float(hc) * np.eye(M)
    else:
        arr = np.asarray(hc, dtype=float)
        if arr.ndim == 1:
            if arr.shape != (M,):
                raise ConfigError(
                    f"tasks.head_cov (diagonal) must have length {M}, got {arr.shape}"
                )
            arr = np.diag(arr)
        elif arr.shape != (M, M):
            raise ConfigError(f"tasks.head_cov must have shape ({M}, {M}), got {arr.shape}")
        u_cov = arr
    u_cov = _symmetric("tasks.head_cov", u_cov, definite=False)

    init = cfg["init"]
    # Draw R before w so that the R draw of a seed does not depend on whether w is random.
    Q0 = _matrix("init.Q", init["Q"], K, K, number="identity", rng=rng)
    R0 = _matrix("init.R", init["R"], K, M, number="random", rng=rng)
    wv = init["w"]
    if is_number(wv):
        w0 = float(wv) * rng.standard_normal(K) if wv != 0 else np.zeros(K)
    else:
        w0 = np.asarray(wv, dtype=float)
        if w0.shape != (K,):
            raise ConfigError(f"init.w must have shape ({K},), got {w0.shape}")
    Q0 = _symmetric("init.Q", Q0, definite=True)
    C = np.block([[Q0, R0], [R0.T, T]])
    ev = np.linalg.eigvalsh(C)
    if ev.min() <= 0:
        raise ConfigError(
            "init.R is inconsistent with init.Q and tasks.teacher_overlap: the covariance "
            f"C = [[Q, R], [Rᵀ, T]] is not positive definite (smallest eigenvalue {ev.min():.3g})"
        )
    s_K, s_M = readout_scales(cfg["model"]["readout"], K, M)
    return Problem(
        K=K,
        M=M,
        T=T,
        u_mean=u_mean,
        u_cov=u_cov,
        gamma=float(tasks["gamma"]),
        noise=float(cfg["model"]["noise"]),
        s_K=s_K,
        s_M=s_M,
        Q0=Q0,
        R0=R0,
        w0=w0,
    )


# --------------------------------------------------------------------------- output
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return "nan"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def toml_value(v: Any) -> str:
    """A configuration value as a TOML literal (``inf`` for infinity, lists as arrays).

    Parameters
    ----------
    v : bool, int, float, str or list
        The value.

    Returns
    -------
    str
        The literal, e.g. ``"inf"``, ``'"fo-anil"'``, ``"[1.0, 2.0]"``.

    Examples
    --------
    >>> toml_value(float("inf")), toml_value("erf"), toml_value([1, 2.5])
    ('inf', '"erf"', '[1, 2.5]')
    """
    return _toml_value(v)


def to_toml(cfg: Mapping[str, Mapping[str, Any]]) -> str:
    """Write a resolved config back as TOML (None values are left out)."""
    lines: list[str] = []
    for table, values in cfg.items():
        lines.append(f"[{table}]")
        for key, v in values.items():
            if v is not None:
                lines.append(f"{key} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def flat_attrs(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Flatten a config into netCDF-safe attrs ``{"algorithm.eta_J": 3.0, ...}``."""
    out: dict[str, Any] = {}
    for table, values in cfg.items():
        for key, v in values.items():
            name = f"{table}.{key}"
            if v is None:
                continue
            if isinstance(v, bool):
                out[name] = int(v)
            elif isinstance(v, (int, float, str)):
                out[name] = v
            else:
                out[name] = _toml_value(v)  # arrays as TOML text: exact and readable
    return out
