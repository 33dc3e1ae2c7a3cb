"""Configuration: defaults, validation and resolution into numerical arrays.

A configuration is a nested dict of TOML tables (``model``, ``tasks``, ``algorithm``,
``init``, ``run``, ``simulation``).  :func:`load_config` fills defaults and validates every
key; :func:`build_problem` turns it into the arrays the equations need (``T``, ``u_mean``,
``u_cov``, ``Q0``, ``R0``, ``w0``).  Any problem raises :class:`ConfigError` with one message
that names the offending key; the CLI turns it into exit status 2.

Shorthands (spec §3): a number for ``init.Q`` or ``tasks.teacher_overlap`` means ``scale·I``;
a number for ``init.R`` or ``init.w`` means a seeded random matrix/vector of that scale;
``tasks.head_mean`` a number means ``value·1``; ``tasks.head_cov`` a number means
``value·I``, a list its diagonal, a list of lists the full matrix.  ``"inf"`` (or
``inf``) for ``train_size``/``val_size`` means the population limit.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

__all__ = [
    "ConfigError",
    "Config",
    "DEFAULTS",
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
ACTIVATIONS = ("erf", "linear")
READOUTS = ("sqrt", "none", "mean")
SOLVERS = ("euler", "rk4", "dopri5")


class ConfigError(ValueError):
    """Bad user input: the message names the offending key or value."""


class Config(dict):
    """A validated configuration (what :func:`load_config` returns): a plain nested dict
    whose type records that every key is present and checked."""


# The paper-like default run (issue 3): K = M = 3, FO-ANIL, eta_J = 3, eta_w = 9.
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"K": 3, "M": 3, "activation": "erf", "readout": "sqrt", "noise": 0.0},
    "tasks": {"head_mean": 0.0, "head_cov": 1.0, "gamma": 1.0, "teacher_overlap": 1.0},
    "algorithm": {
        "name": "fo-anil",
        "eta_J": 3.0,
        "eta_w": 9.0,
        "eta_0": None,  # None -> eta_J
        "eta_in_J": 0.0,  # inner rate of J (maml, fo-maml)
        "inner_steps": 1,
        "train_size": math.inf,
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
    },
}


# --------------------------------------------------------------------------- checks
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _to_size(key: str, v: Any) -> float:
    """A sample size: positive int or inf."""
    if isinstance(v, str) and v.strip().lower() in ("inf", "infinity"):
        return math.inf
    if _is_number(v) and (v == math.inf):
        return math.inf
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
        return int(v)
    if isinstance(v, float) and v.is_integer() and v >= 1:
        return int(v)
    raise ConfigError(f'{key} must be a positive integer or "inf", got {v!r}')


def _nonneg(key: str, v: Any) -> float:
    if not _is_number(v) or not math.isfinite(v) or v < 0:
        raise ConfigError(f"{key} must be a finite non-negative number, got {v!r}")
    return float(v)


def _positive(key: str, v: Any) -> float:
    if not _is_number(v) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{key} must be a finite positive number, got {v!r}")
    return float(v)


def _pos_int(key: str, v: Any, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            raise ConfigError(f"{key} must be one of {', '.join(options)}; got {v!r}")
        return v.lower()

    return check


def _number_or_array(key: str, v: Any) -> Any:
    """A number, or a (nested) list of numbers; kept as plain Python for TOML."""
    if _is_number(v):
        if not math.isfinite(v):
            raise ConfigError(f"{key} must be finite, got {v!r}")
        return float(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key} must be a number or an array of numbers, got {v!r}") from exc
        if arr.ndim not in (1, 2) or not np.all(np.isfinite(arr)):
            raise ConfigError(f"{key} must be a finite vector or matrix, got shape {arr.shape}")
        return arr.tolist()
    raise ConfigError(f"{key} must be a number or an array of numbers, got {v!r}")


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def inner(key: str, v: Any) -> Any:
        return None if v is None else check(key, v)

    return inner


def _save_alpha(key: str, v: Any) -> list[float]:
    if not isinstance(v, (list, tuple, np.ndarray)) or len(v) < 1:
        raise ConfigError(f"{key} must be a non-empty list of alpha values")
    arr = np.asarray(v, dtype=float)
    if arr.ndim != 1 or np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"{key} must be a list of finite alpha >= 0")
    if np.any(np.diff(arr) <= 0):
        raise ConfigError(f"{key} must be strictly increasing")
    return arr.tolist()


def _string(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{key} must be a string, got {v!r}")
    return v


def _int_any(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{key} must be an integer, got {v!r}")
    return int(v)


def _gamma(key: str, v: Any) -> float:
    if not _is_number(v) or not (0.0 <= v <= 1.0):
        raise ConfigError(f"{key} must be in [0, 1], got {v!r}")
    return float(v)


def _device(key: str, v: Any) -> str:
    if not isinstance(v, str) or not (v in ("auto", "cpu") or v.startswith("cuda")):
        raise ConfigError(f"{key} must be 'auto', 'cpu' or 'cuda[:i]', got {v!r}")
    return v


CHECKS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "model": {
        "K": _pos_int,
        "M": _pos_int,
        "activation": _choice(ACTIVATIONS),
        "readout": _choice(READOUTS),
        "noise": _nonneg,
    },
    "tasks": {
        "head_mean": _number_or_array,
        "head_cov": _number_or_array,
        "gamma": _gamma,
        "teacher_overlap": _number_or_array,
    },
    "algorithm": {
        "name": _choice(ALGORITHMS),
        "eta_J": _nonneg,
        "eta_w": _nonneg,
        "eta_0": _optional(_nonneg),
        "eta_in_J": _nonneg,
        "inner_steps": lambda k, v: _pos_int(k, v, 0),
        "train_size": _to_size,
        "val_size": _to_size,
    },
    "init": {
        "Q": _number_or_array,
        "R": _number_or_array,
        "w": _number_or_array,
        "seed": _int_any,
    },
    "run": {
        "alpha_max": _positive,
        "solver": _choice(SOLVERS),
        "rtol": _positive,
        "atol": _positive,
        "dt": _positive,
        "n_save": lambda k, v: _pos_int(k, v, 2),
        "save_alpha": _optional(_save_alpha),
        "save_spacing": _choice(("log", "linear")),
        "alpha_min_save": _positive,
        "eg_threshold": _nonneg,
        "max_steps": _pos_int,
        "blowup": _positive,
        "psd_tol": _positive,
    },
    "simulation": {
        "N": _pos_int,
        "seeds": _pos_int,
        "device": _device,
        "dtype": _choice(("float64", "float32")),
        "checkpoint_every": _nonneg,
        "checkpoint": _string,
        "test_tasks": lambda k, v: _pos_int(k, v, 0),
        "test_samples": _pos_int,
        "base_seed": _int_any,
        "rng": _choice(("numba", "numpy")),
    },
}


def validate_table(
    table: str,
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    checks: Mapping[str, Callable[[str, Any], Any]],
) -> dict[str, Any]:
    """Fill one table's defaults and check every key (reusable by other sub-models)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{table}] must be a table, got {type(raw).__name__}")
    out = dict(copy.deepcopy(defaults))
    for key, value in raw.items():
        if key not in checks:
            known = ", ".join(checks)
            raise ConfigError(f"unknown key '{table}.{key}' (known keys of [{table}]: {known})")
        out[key] = value
    for key, check in checks.items():
        out[key] = check(f"{table}.{key}", out[key])
    return out


# --------------------------------------------------------------------------- loading
def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a :class:`ConfigError` naming
    ``what`` and the path."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} '{path}' does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {exc}") from exc


def _read(path_or_dict: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if path_or_dict is None:
        return {}
    if isinstance(path_or_dict, Mapping):
        return copy.deepcopy(dict(path_or_dict))
    return read_toml(path_or_dict)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse ``--set table.key=value`` items; values are TOML literals (bare strings allowed)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects table.key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()  # a bare word such as fo-anil or inf
        out[key] = parsed
    return out


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys (``"algorithm.eta_J"``) in a raw config dict (returns a copy)."""
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"override key must be table.key, got {dotted!r}")
        table, key = parts
        raw.setdefault(table, {})
        if not isinstance(raw[table], dict):
            raise ConfigError(f"[{table}] must be a table")
        raw[table][key] = value
    return raw


def load_config(
    path_or_dict: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Read (TOML path or dict), apply dotted overrides, fill defaults and validate.

    Returns a plain nested dict (TOML-serialisable) in which every key is present. Also
    checks the consistency of shapes and the positive definiteness of the initial
    covariance ``C = [[Q, R], [Rᵀ, T]]`` by resolving the problem once.
    """
    raw = _read(path_or_dict)
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
    run = cfg["run"]
    if run["save_alpha"] is not None and run["save_alpha"][-1] > run["alpha_max"]:
        raise ConfigError("run.save_alpha has values beyond run.alpha_max")
    if run["alpha_min_save"] >= run["alpha_max"]:
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
    """(s_K, s_M) for the readout convention (spec §1)."""
    if readout == "sqrt":
        return 1.0 / math.sqrt(K), 1.0 / math.sqrt(M)
    if readout == "mean":
        return 1.0 / K, 1.0 / M
    return 1.0, 1.0


def _matrix(key: str, v: Any, n: int, m: int, *, number: str, rng: np.random.Generator):
    if _is_number(v):
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
    if _is_number(hm):
        u_mean = float(hm) * np.ones(M)
    else:
        u_mean = np.asarray(hm, dtype=float)
        if u_mean.shape != (M,):
            raise ConfigError(f"tasks.head_mean must have shape ({M},), got {u_mean.shape}")
    hc = tasks["head_cov"]
    if _is_number(hc):
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
    if _is_number(wv):
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
