"""Sweep specifications: reading, validating and expanding a ``SPEC.toml`` into points.

A spec is a TOML file (or a dict of the same shape)::

    kind = "ode"                      # "ode" | "simulate" | "linear"
    base = "config.toml"              # a config file, relative to the spec file ...
    # [base]                          # ... or the whole config inline (nested tables)
    # algorithm.name = "fo-anil"
    mode = "product"                  # "product" (default): cartesian product of [grid]
                                      # "zip": the lists of [grid] side by side (same length)
    save = ["eg", "alpha_threshold"]  # optional: the variables kept per point (default: all)
    chunk_size = 50                   # optional: points per Dask task (default: automatic)
    on_invalid = "error"              # or "skip": record invalid points instead of refusing

    [grid]
    "algorithm.eta_J" = [0.5, 1, 2]
    "algorithm.eta_w" = [3, 9]

or, instead of ``[grid]``, an explicit list of points (each a table of dotted keys)::

    [[points]]
    "algorithm.eta_J" = 1.0
    [[points]]
    "algorithm.eta_J" = 2.0
    "algorithm.eta_w" = 5.0

``product`` gives one store dimension per grid key (named by the dotted key); ``zip`` and
``[[points]]`` give a single dimension ``point`` with the keys as coordinates along it.

:func:`load_spec` validates everything up front: the kind, every top-level key, every grid
key and, through the kind's ``load_config``, the full configuration of every point. Any
problem raises :class:`~teacherstudent.config.ConfigError` naming the key (or the point).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..validation import ConfigError, choice, int_at_least, optional, read_toml

__all__ = ["KINDS", "MODES", "SAVE_VARIABLES", "Point", "Spec", "load_spec", "point_key"]

KINDS = ("ode", "simulate", "linear")
MODES = ("product", "zip", "points")
#: Per-point variables an ``ode`` sweep can keep (``save``); status/message/bookkeeping are
#: always kept.  Other kinds accept the names of their result's data variables.
SAVE_VARIABLES_ODE = ("eg", "eg_pre", "eg_opt", "Q", "R", "w", "eg_final", "alpha_threshold",
                      "alpha_reached", "nfev")
SAVE_VARIABLES = {"ode": SAVE_VARIABLES_ODE}
SPEC_KEYS = ("kind", "base", "grid", "points", "mode", "save", "chunk_size", "on_invalid",
             "name", "description")

#: What every top-level key of a spec means (the sweep-spec page of the documentation is
#: generated from it; ``tests/test_docs.py`` checks that every key of :data:`SPEC_KEYS` has one).
SPEC_DOCS = {
    "kind": 'What each point runs: "ode" (teacherstudent ode), "simulate" (teacherstudent '
    'simulate) or "linear" (teacherstudent linear). Required.',
    "base": "The configuration every point starts from: a config file (relative to the spec "
    "file) or an inline [base] table of the kind's tables. Default: the built-in defaults.",
    "grid": 'Dotted config keys mapped to lists of values, e.g. "algorithm.eta_J" = [1, 2].',
    "points": "Instead of [grid]: an explicit list of points, each a table of dotted keys "
    "([[points]]); a key a point leaves out takes the base value.",
    "mode": '"product" (default with [grid]): the cartesian product of the lists, one store '
    'dimension per key; "zip": the lists side by side (equal lengths), one dimension point; '
    '"points": the [[points]] list (the default when it is given).',
    "save": "The variables kept per point (default: all); for kind = \"ode\" one of "
    + ", ".join(SAVE_VARIABLES_ODE) + ".",
    "chunk_size": "Points per Dask task (default: chosen from the number of points and "
    "workers; --chunk-size overrides it).",
    "on_invalid": '"error" (default): any invalid point refuses the whole spec before any '
    'work; "skip": record invalid points (status and message) and run the others.',
    "name": "Name of the sweep (default: the spec file's name).",
    "description": "Free text, kept in the store.",
}

SPEC_KEY = "spec key '{}'"
# the spec's scalar keys, checked like every other table (teacherstudent.validation)
_KIND = choice(KINDS)
_MODE = choice(MODES)
_CHUNK = optional(int_at_least(1))
_ON_INVALID = choice(("error", "skip"))


@dataclass(frozen=True)
class Point:
    """One grid point: its overrides, its resolved config and the hash that names it."""

    index: int  # position in the spec's (flattened, C-order) point list
    overrides: dict[str, Any]
    config: dict[str, Any] | None  # None when invalid (on_invalid = "skip")
    key: str
    error: str = ""  # the ConfigError message of an invalid point


@dataclass
class Spec:
    """A validated sweep specification, expanded into its points."""

    kind: str
    base: dict[str, Any]
    mode: str
    grid_keys: list[str]
    grid_values: list[list[Any]]  # product/zip: the lists; points: per-key values per point
    points: list[Point]
    save: list[str] | None = None
    chunk_size: int | None = None
    on_invalid: str = "error"
    name: str = "sweep"
    source: dict[str, Any] = field(default_factory=dict)  # the spec as read (for the store)

    @property
    def shape(self) -> tuple[int, ...]:
        """The store shape: one axis per grid key (product) or ``(n_points,)``."""
        if self.mode == "product":
            return tuple(len(v) for v in self.grid_values)
        return (len(self.points),)

    @property
    def dims(self) -> tuple[str, ...]:
        """The store dimensions of the grid."""
        return tuple(self.grid_keys) if self.mode == "product" else ("point",)


# --------------------------------------------------------------------------- helpers
def point_key(kind: str, config: Mapping[str, Any], save: list[str] | None) -> str:
    """The hash naming a point: kind, full resolved config, kept variables, package version.

    The code itself is not hashed: after changing the equations without bumping the
    version, start a fresh store (or delete ``STORE/parts``).
    """
    from ..version import __version__

    payload = {"kind": kind, "config": config, "save": sorted(save) if save else None,
               "version": __version__}
    text = json.dumps(payload, sort_keys=True, default=_json_default, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot hash a {type(v).__name__}")


def config_loader(kind: str) -> Callable[..., dict[str, Any]]:
    """The ``load_config`` of a sweep kind (``linear``: the ``[linear]`` table's)."""
    if kind == "linear":
        from ..linear.config import load_config as linear_load_config

        return linear_load_config
    from ..config import load_config

    return load_config


def size_checker(kind: str) -> Callable[[Mapping[str, Any]], Any]:
    """The check that refuses a point of ``kind`` that cannot fit or takes too long
    (:mod:`teacherstudent.resources`; the kind's ``check_size`` key switches it off)."""
    if kind == "linear":
        from ..linear.dynamics import check_size as linear_check

        return lambda cfg: linear_check(cfg["linear"])
    if kind == "simulate":
        from ..simulation.runner import check_size as simulation_check

        def check(cfg: Mapping[str, Any]) -> Any:
            sim = cfg["simulation"]
            return simulation_check(cfg, int(sim["N"]), int(sim["seeds"]),
                                    8 if sim["dtype"] == "float64" else 4)

        return check
    from ..ode.frontend import check_size as ode_check

    return ode_check


def _check_kind_available(kind: str) -> None:
    """Refuse a kind whose engine cannot be imported (before any work)."""
    module = {"ode": "teacherstudent.ode", "simulate": "teacherstudent.simulation",
              "linear": "teacherstudent.linear"}[kind]
    try:
        __import__(module)
    except ImportError as exc:
        raise ConfigError(f"kind = {kind!r} needs {module}, which is unavailable: {exc}") from exc


def _read_base(base: Any, root: Path) -> dict[str, Any]:
    if base is None:
        return {}
    if isinstance(base, str):
        path = Path(base)
        path = path if path.is_absolute() else root / path
        return read_toml(path, "base config (spec key 'base')")
    if isinstance(base, Mapping):
        return copy.deepcopy(dict(base))
    raise ConfigError(f"'base' must be a table or a config file path, got {base!r}")


def _check_dotted(key: Any, where: str) -> str:
    if not isinstance(key, str) or key.count(".") != 1 or not all(key.split(".")):
        raise ConfigError(f"{where} key {key!r} must be a dotted config key 'table.key'")
    return key


def _check_grid_keys(kind: str, keys: list[str], where: str) -> None:
    """Refuse unknown tables/keys with a message naming the grid key."""
    if kind == "linear":
        from ..linear.config import CHECKS as LINEAR_CHECKS

        checks: Mapping[str, Mapping[str, Any]] = {"linear": LINEAR_CHECKS}
    else:
        from ..config import CHECKS

        checks = CHECKS
    for key in keys:
        table, name = key.split(".")
        if table not in checks:
            raise ConfigError(
                f"{where} key '{key}': unknown table [{table}] for kind = {kind!r} "
                f"(known: {', '.join(checks)})"
            )
        if name not in checks[table]:
            raise ConfigError(
                f"{where} key '{key}': unknown key '{key}' (known keys of [{table}]: "
                f"{', '.join(checks[table])})"
            )


def _expand(raw: Mapping[str, Any], kind: str) -> tuple[str, list[str], list[list[Any]],
                                                       list[dict[str, Any]]]:
    """(mode, grid keys, grid values, list of per-point overrides)."""
    default_mode = "points" if "points" in raw else "product"
    mode = _MODE(SPEC_KEY.format("mode"), raw.get("mode", default_mode))
    if "grid" in raw and "points" in raw:
        raise ConfigError("a spec takes either [grid] or [[points]], not both")
    if mode == "points":
        pts = raw.get("points")
        if not isinstance(pts, list) or not pts or not all(isinstance(p, Mapping) for p in pts):
            raise ConfigError("mode = 'points' needs a non-empty [[points]] array of tables")
        keys: list[str] = []
        for p in pts:
            for k in p:
                _check_dotted(k, "[[points]]")
                if k not in keys:
                    keys.append(k)
        _check_grid_keys(kind, keys, "[[points]]")
        return mode, keys, [[p.get(k) for p in pts] for k in keys], [dict(p) for p in pts]
    grid = raw.get("grid")
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError("a spec needs a non-empty [grid] table (or [[points]])")
    keys = [_check_dotted(k, "[grid]") for k in grid]
    _check_grid_keys(kind, keys, "[grid]")
    values = []
    for k in keys:
        v = grid[k]
        if not isinstance(v, list) or not v:
            raise ConfigError(f"[grid] key '{k}' must be a non-empty list of values, got {v!r}")
        values.append(list(v))
    if mode == "zip":
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise ConfigError(
                "mode = 'zip' needs [grid] lists of equal length, got "
                + ", ".join(f"{k}: {len(v)}" for k, v in zip(keys, values, strict=True))
            )
        combos = list(zip(*values, strict=True))
    else:
        combos = list(itertools.product(*values))
    return mode, keys, values, [dict(zip(keys, c, strict=True)) for c in combos]


def _check_save(kind: str, save: Any) -> list[str] | None:
    if save is None:
        return None
    if not isinstance(save, list) or not save or not all(isinstance(s, str) for s in save):
        raise ConfigError(
            f"spec key 'save' must be a non-empty list of variable names, got {save!r}"
        )
    known = SAVE_VARIABLES.get(kind)
    if known is not None:
        for s in save:
            if s not in known:
                raise ConfigError(f"save: unknown variable {s!r} for kind = {kind!r} "
                                  f"(known: {', '.join(known)})")
    return list(dict.fromkeys(save))


def _describe(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in overrides.items())


# --------------------------------------------------------------------------- loading
def load_spec(spec: str | Path | Mapping[str, Any] | Spec, root: str | Path | None = None) -> Spec:
    """Read and validate a sweep spec and expand it into its points.

    Parameters
    ----------
    spec : str, Path, mapping or Spec
        A SPEC.toml path or a dict of the same shape (a :class:`Spec` is returned as it is).
    root : str or Path, optional
        The folder against which ``base = "file.toml"`` is resolved (default: the spec file's
        folder, or the current folder for a dict).

    Returns
    -------
    Spec
        The validated spec: ``kind``, ``mode``, ``dims``, ``shape`` and its ``points`` (each
        with its overrides, resolved configuration and key).

    Raises
    ------
    ConfigError
        An unknown or bad key, or the first invalid point (``on_invalid = "skip"`` records
        invalid points instead); the message names the key or the point.

    Examples
    --------
    >>> spec = load_spec({"kind": "ode", "grid": {"algorithm.eta_J": [1.0, 2.0],
    ...                                           "algorithm.eta_w": [3.0, 9.0, 27.0]}})
    >>> spec.dims, spec.shape, len(spec.points)
    (('algorithm.eta_J', 'algorithm.eta_w'), (2, 3), 6)
    """
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        raw = copy.deepcopy(dict(spec))
        root = Path(root) if root is not None else Path.cwd()
        name = str(raw.get("name", "sweep"))
    else:
        path = Path(spec)
        raw = read_toml(path, "sweep spec")
        root = Path(root) if root is not None else path.parent
        name = str(raw.get("name", path.stem))
    for key in raw:
        if key not in SPEC_KEYS:
            raise ConfigError(f"unknown spec key {key!r} (known: {', '.join(SPEC_KEYS)})")
    kind = _KIND(SPEC_KEY.format("kind"), raw.get("kind"))
    _check_kind_available(kind)
    base = _read_base(raw.get("base"), root)
    save = _check_save(kind, raw.get("save"))
    chunk = _CHUNK(SPEC_KEY.format("chunk_size"), raw.get("chunk_size"))
    on_invalid = _ON_INVALID(SPEC_KEY.format("on_invalid"), raw.get("on_invalid", "error"))
    mode, keys, values, combos = _expand(raw, kind)

    loader = config_loader(kind)
    try:
        loader(base)
    except ConfigError as exc:
        raise ConfigError(f"base config: {exc}") from exc
    points = []
    fits = size_checker(kind)
    for i, overrides in enumerate(combos):
        try:
            cfg = loader(base, overrides)
            fits(cfg)  # sizes too, before any work
        except ConfigError as exc:
            msg = f"grid point {i} ({_describe(overrides)}): {exc}"
            if on_invalid == "error":
                raise ConfigError(msg) from exc
            key = "invalid-" + hashlib.sha256(msg.encode()).hexdigest()[:16]
            points.append(Point(i, overrides, None, key, str(exc)))
            continue
        if kind == "simulate" and cfg["simulation"]["checkpoint_every"] > 0:
            raise ConfigError(
                f"grid point {i}: simulation.checkpoint_every must be 0 in a sweep (points "
                "would share a checkpoint file; the sweep itself resumes point by point)"
            )
        points.append(Point(i, overrides, cfg, point_key(kind, cfg, save)))
    if mode == "points":  # fill the coordinate of a key a point does not set
        for j, k in enumerate(keys):
            table, name_ = k.split(".")
            values[j] = [
                p.overrides.get(k, p.config[table][name_] if p.config else math.nan)
                for p in points
            ]
    return Spec(kind, base, mode, keys, values, points, save, chunk, on_invalid, name, raw)
