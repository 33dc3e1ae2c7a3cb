"""Validation of user input, shared by every configuration table.

One module checks every table a user writes: the ODE/simulation configuration
(:mod:`teacherstudent.config`), the ``[linear]`` table (:mod:`teacherstudent.linear.config`)
and sweep specs (:mod:`teacherstudent.sweep.spec`). A *check* is a callable
``check(key, value) -> value`` that returns the normalised value or raises
:class:`ConfigError` with one message naming ``key``; :func:`validate_table` applies a
table's checks after filling its defaults. Reading TOML and ``--set`` overrides live here
too, so that every command reports bad input the same way (the CLI turns a
:class:`ConfigError` into one line on stderr and exit status 2).

Example
-------
>>> from teacherstudent.validation import nonneg, validate_table
>>> validate_table("algorithm", {"eta_J": 2}, {"eta_J": 3.0}, {"eta_J": nonneg})
{'eta_J': 2.0}
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

__all__ = [
    "ConfigError",
    "Check",
    "is_number",
    "is_integer",
    "boolean",
    "seed",
    "sample_size",
    "nonneg",
    "positive",
    "pos_int",
    "int_at_least",
    "choice",
    "number_or_array",
    "optional",
    "alpha_list",
    "string",
    "integer",
    "unit_interval",
    "device",
    "describe",
    "validate_table",
    "read_toml",
    "read_source",
    "parse_overrides",
    "apply_overrides",
]

Check = Callable[[str, Any], Any]

#: Largest magnitude of a configured overlap, head or covariance entry: order parameters are
#: O(1), and far larger numbers overflow the Gaussian integrals (1e6 is run.blowup's default).
MAX_MAGNITUDE = 1e6


class ConfigError(ValueError):
    """Bad user input: the message names the offending key or value."""


def described(type_name: str, constraint: str = "") -> Callable[[Check], Check]:
    """Attach the reference text of a check: the type and the constraint it enforces.

    The configuration reference (the documentation and ``teacherstudent config --explain``)
    reads them with :func:`describe`, so the text stays next to the code that enforces it.

    Parameters
    ----------
    type_name : str
        What the value is, e.g. ``"float"``, ``"integer or \"inf\""``.
    constraint : str
        What else the check requires, e.g. ``"finite, ≥ 0"`` (empty: nothing more).

    Returns
    -------
    callable
        A decorator that sets ``check.type_name`` and ``check.constraint`` and returns the
        check unchanged.
    """

    def mark(check: Check) -> Check:
        check.type_name = type_name  # type: ignore[attr-defined]
        check.constraint = constraint  # type: ignore[attr-defined]
        return check

    return mark


def describe(check: Check) -> tuple[str, str]:
    """The type and the constraint a check enforces, as text for the reference.

    Parameters
    ----------
    check : callable
        A check ``check(key, value) -> value``.

    Returns
    -------
    (str, str)
        ``(type, constraint)`` set by :func:`described`; a check without them is described
        by the first line of its docstring.

    Examples
    --------
    >>> describe(int_at_least(2))
    ('integer', '≥ 2')
    >>> describe(choice(("log", "linear")))
    ('string', 'one of "log", "linear"')
    """
    if hasattr(check, "type_name"):
        return check.type_name, getattr(check, "constraint", "")
    doc = (getattr(check, "__doc__", None) or "").strip().splitlines()
    return "", doc[0].strip().rstrip(".") if doc else ""


# --------------------------------------------------------------------------- checks
def is_number(v: Any) -> bool:
    """A real number: ``int``, ``float`` or a NumPy integer/floating scalar (not ``bool``)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def is_integer(v: Any) -> bool:
    """An integer: ``int`` or a NumPy integer scalar (not ``bool``)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@described('integer or "inf"', '≥ 1; "inf" is the population limit')
def sample_size(key: str, v: Any) -> float:
    """A sample size: a positive integer, or ``inf``/``"inf"`` for the population limit."""
    if isinstance(v, str) and v.strip().lower() in ("inf", "infinity"):
        return math.inf
    if is_number(v) and (v == math.inf):
        return math.inf
    if is_integer(v) and v >= 1:
        return int(v)
    if is_number(v) and math.isfinite(v) and float(v).is_integer() and v >= 1:
        return int(v)
    raise ConfigError(f'{key} must be a positive integer or "inf", got {v!r}')


@described("float", "finite, ≥ 0")
def nonneg(key: str, v: Any) -> float:
    """A finite number ``>= 0``."""
    if not is_number(v) or not math.isfinite(v) or v < 0:
        raise ConfigError(f"{key} must be a finite non-negative number, got {v!r}")
    return float(v)


@described("float", "finite, > 0")
def positive(key: str, v: Any) -> float:
    """A finite number ``> 0``."""
    if not is_number(v) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{key} must be a finite positive number, got {v!r}")
    return float(v)


@described("integer", "≥ 1")
def pos_int(key: str, v: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (default 1)."""
    if not is_integer(v) or v < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def int_at_least(minimum: int) -> Check:
    """The check "an integer ``>= minimum``"."""

    def check(key: str, v: Any) -> int:
        return pos_int(key, v, minimum)

    check.__doc__ = f"An integer ``>= {minimum}``."
    return described("integer", f"≥ {minimum}")(check)


def choice(options: tuple[str, ...]) -> Check:
    """The check "one of ``options``" (case-insensitive; returns the lower-case name)."""

    def check(key: str, v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            raise ConfigError(f"{key} must be one of {', '.join(options)}; got {v!r}")
        return v.lower()

    check.__doc__ = f"One of {', '.join(options)} (case-insensitive)."
    return described("string", "one of " + ", ".join(f'"{o}"' for o in options))(check)


@described("number or array", "finite, |entries| ≤ " + f"{MAX_MAGNITUDE:.0e}".replace("e+0", "e"))
def number_or_array(key: str, v: Any) -> Any:
    """A number, or a (nested) list of numbers; kept as plain Python for TOML."""
    if is_number(v):
        if not math.isfinite(v):
            raise ConfigError(f"{key} must be finite, got {v!r}")
        if abs(v) > MAX_MAGNITUDE:
            raise ConfigError(f"{key} = {v!r} is out of range (|value| <= {MAX_MAGNITUDE:g})")
        return float(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key} must be a number or an array of numbers, got {v!r}") from exc
        if arr.ndim not in (1, 2) or not np.all(np.isfinite(arr)):
            raise ConfigError(f"{key} must be a finite vector or matrix, got shape {arr.shape}")
        if arr.size and np.abs(arr).max() > MAX_MAGNITUDE:
            raise ConfigError(f"{key} has entries out of range (|value| <= {MAX_MAGNITUDE:g})")
        return arr.tolist()
    raise ConfigError(f"{key} must be a number or an array of numbers, got {v!r}")


def optional(check: Check) -> Check:
    """``check``, with ``None`` allowed (meaning "not set")."""

    def inner(key: str, v: Any) -> Any:
        return None if v is None else check(key, v)

    type_name, constraint = describe(check)
    inner.__doc__ = f"{(check.__doc__ or '').strip()} Or not set (leave the key out)."
    return described(f"{type_name}, optional" if type_name else "optional", constraint)(inner)


@described("list of floats", "non-empty, strictly increasing, finite, ≥ 0")
def alpha_list(key: str, v: Any) -> list[float]:
    """A non-empty, strictly increasing list of finite ``α >= 0``."""
    if not isinstance(v, (list, tuple, np.ndarray)) or len(v) < 1:
        raise ConfigError(f"{key} must be a non-empty list of alpha values")
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a list of numbers (alpha values), got {v!r}") from None
    if arr.ndim != 1 or np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"{key} must be a list of finite alpha >= 0")
    if np.any(np.diff(arr) <= 0):
        raise ConfigError(f"{key} must be strictly increasing")
    return arr.tolist()


@described("string")
def string(key: str, v: Any) -> str:
    """A string."""
    if not isinstance(v, str):
        raise ConfigError(f"{key} must be a string, got {v!r}")
    return v


@described("integer")
def integer(key: str, v: Any) -> int:
    """Any integer (e.g. a seed)."""
    if not is_integer(v):
        raise ConfigError(f"{key} must be an integer, got {v!r}")
    return int(v)


@described("boolean", "true or false")
def boolean(key: str, v: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(v, (bool, np.bool_)):
        raise ConfigError(f"{key} must be true or false, got {v!r}")
    return bool(v)


@described("integer", "≥ 0 (a random seed)")
def seed(key: str, v: Any) -> int:
    """A random seed: an integer ``>= 0``."""
    if not is_integer(v) or v < 0:
        raise ConfigError(f"{key} must be an integer >= 0 (a random seed), got {v!r}")
    return int(v)


@described("float", "in [0, 1]")
def unit_interval(key: str, v: Any) -> float:
    """A number in ``[0, 1]``."""
    if not is_number(v) or not (0.0 <= v <= 1.0):
        raise ConfigError(f"{key} must be in [0, 1], got {v!r}")
    return float(v)


@described("string", '"auto", "cpu" or "cuda[:i]"')
def device(key: str, v: Any) -> str:
    """A torch device name: ``auto``, ``cpu`` or ``cuda[:i]``."""
    if not isinstance(v, str) or not (v in ("auto", "cpu") or v.startswith("cuda")):
        raise ConfigError(f"{key} must be 'auto', 'cpu' or 'cuda[:i]', got {v!r}")
    return v


# --------------------------------------------------------------------------- tables
def validate_table(
    table: str,
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    checks: Mapping[str, Check],
) -> dict[str, Any]:
    """Fill one table's defaults and check every key.

    Parameters
    ----------
    table : str
        The table's name, used in messages (``[table]``, ``table.key``).
    raw : mapping
        The keys the user gave.
    defaults : mapping
        The default of every key.
    checks : mapping
        The check of every key; a key without a check is unknown.

    Returns
    -------
    dict
        Every key of ``checks`` with its checked value.

    Raises
    ------
    ConfigError
        For an unknown key (the message lists the known ones) or a bad value.
    """
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


# --------------------------------------------------------------------------- reading
def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a :class:`ConfigError` naming
    ``what`` and the path."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise ConfigError(f"{what} '{path}' is a folder, not a TOML file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} '{path}' cannot be read: {exc}") from exc


def read_source(path_or_dict: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """A raw configuration from a TOML path, a mapping (copied) or ``None`` (empty)."""
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
