"""The study framework behind the figure gallery (``teacherstudent reproduce``).

A *study* is two files side by side in a studies folder — ``./simulations`` of the current
folder (a checkout of the repository), or any folder given with ``--studies DIR``:

* ``NAME.toml``, its declaration: a model configuration, a sweep spec (``kind``, ``[base]``,
  ``[grid]``: ``teacherstudent sweep`` runs it as it is) or a ``[study]`` table of settings
  (``[study.quick]``: the reduced settings of the quick mode) with the configurations it
  runs;
* ``NAME.py``, its code: a module whose docstring's first line describes the study and that
  defines ``run(out_dir: Path) -> list[Path]`` (it writes its figure and data into
  ``out_dir`` and returns the files it wrote). It imports only the public API of the package
  and reads its declaration with ``read_study(__file__)``.

The study's name is ``NAME`` with ``_`` written ``-`` (``lr_phase_diagram.py`` →
``lr-phase-diagram``). Sub-folders are searched too (``simulations/linear/``); files whose
name starts with ``_`` are not studies. :func:`discover` finds the studies of a folder
without importing them (the description is read from the source); a study's module is
imported when it runs.

This module gives the studies what they share: reading a declaration
(:func:`read_study`, :func:`settings`), the quick mode (:func:`is_quick`: ``reproduce
--quick`` or the environment variable ``TEACHERSTUDENT_QUICK=1``; every study then cuts its
grids to a few points, for tests), a pool of worker processes for grids of ODE runs
(:func:`run_points`, :func:`minimal_rates`), the writers of the figure's data (:func:`write_json`,
:func:`save_grid`, :func:`figure_paths`), the seeds and bootstrap resamples of the
simulation studies (:func:`seed_bootstrap`) and the registry that ``teacherstudent reproduce``
dispatches to (:func:`discover`, :func:`select`, :func:`run_studies`, :data:`STUDIES`).

Nothing in the package imports from ``simulations/``: an installed package runs every
command; ``teacherstudent reproduce`` needs the studies folder.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import math
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .analysis.fits import bisect_log
from .config import ConfigError, apply_overrides, load_config, read_toml

__all__ = [
    "STUDIES",
    "QUICK_ENV",
    "WORKERS",
    "Study",
    "StudyFolder",
    "StudyError",
    "simulations_dir",
    "discover",
    "read_study",
    "settings",
    "eg_threshold",
    "is_quick",
    "quick_mode",
    "select",
    "listing",
    "run_studies",
    "run_points",
    "minimal_rates",
    "grid_points",
    "collect",
    "write_json",
    "save_grid",
    "figure_paths",
    "seed_bootstrap",
    "format_pm",
    "power_label",
]

#: The environment variable of the quick mode (set and not ``0``/``false``: quick).
QUICK_ENV = "TEACHERSTUDENT_QUICK"

#: Worker processes of :func:`run_points` and :func:`minimal_rates`.
WORKERS = 2


# --------------------------------------------------------------------------- the studies folder
def simulations_dir(directory: str | Path | None = None) -> Path:
    """The folder of the study declarations.

    Parameters
    ----------
    directory : str or Path, optional
        The folder given explicitly (``teacherstudent reproduce --studies DIR``). Default:
        ``simulations/`` of the current folder.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    ConfigError
        When the folder does not exist; the message names it.
    """
    d = Path(directory) if directory is not None else Path.cwd() / "simulations"
    if not d.is_dir():
        hint = ("" if directory is not None else
                " (by default the studies are read from ./simulations: run from a checkout of "
                "the repository, or name the folder with --studies DIR)")
        raise ConfigError(f"the study definitions are not here: {d} is not a folder{hint}")
    return d


class StudyError(RuntimeError):
    """A study's code breaks the contract (no ``run``); reported like any failing study."""


@dataclass(frozen=True)
class Study:
    """One study: ``NAME.py`` (its code) beside ``NAME.toml`` (its declaration).

    Calling a study runs it: ``study(out_dir) -> list[Path]``.
    """

    name: str
    path: Path  # NAME.py
    description: str = ""

    @property
    def toml(self) -> Path:
        """The declaration ``NAME.toml`` beside the code (it may be absent)."""
        return self.path.with_suffix(".toml")

    def load(self) -> ModuleType:
        """Import the study's module (once per process).

        Returns
        -------
        module
            The module; it defines ``run(out_dir)``.

        Raises
        ------
        StudyError
            When the module cannot be found or has no callable ``run``.
        """
        modname = "teacherstudent_study_" + "".join(
            c if c.isalnum() else "_" for c in str(self.path.resolve()))
        mod = sys.modules.get(modname)
        if mod is None:
            spec = importlib.util.spec_from_file_location(modname, self.path)
            if spec is None or spec.loader is None:
                raise StudyError(f"study {self.name!r}: cannot import {self.path}")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        if not callable(getattr(mod, "run", None)):
            raise StudyError(f"study {self.name!r}: {self.path} defines no function "
                             "run(out_dir) -> list[Path]")
        return mod

    def run(self, out_dir: str | Path) -> list[Path]:
        """Run the study.

        Parameters
        ----------
        out_dir : str or Path
            Folder of the figures (data under ``out_dir/data``); created when missing.

        Returns
        -------
        list of Path
            The files the study wrote.

        Notes
        -----
        The study runs inside :func:`matplotlib.rc_context`: the matplotlib settings it
        changes are restored afterwards, so a figure does not depend on the studies run
        before it in the same process.
        """
        import matplotlib

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        mod = self.load()
        with matplotlib.rc_context():  # a study's style settings do not leak into the next
            files = mod.run(out_dir) or []
        return [Path(p) for p in files]

    __call__ = run


def _describe(path: Path) -> str:
    """First line of the module docstring of ``path``, read without importing it."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (OSError, SyntaxError, ValueError) as exc:
        return f"(cannot be read: {exc.__class__.__name__})"
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def discover(directory: str | Path | None = None) -> dict[str, Study]:
    """The studies of a folder and its sub-folders, by name.

    Parameters
    ----------
    directory : str or Path, optional
        The studies folder (default: :func:`simulations_dir`, ``./simulations``).

    Returns
    -------
    dict of str to Study
        One entry per ``NAME.py`` (not starting with ``_``): the studies of the folder itself
        first, then those of each sub-folder, each group in alphabetical order.

    Raises
    ------
    ConfigError
        When the folder is missing, or two files give the same study name.
    """
    root = simulations_dir(directory)
    files = [p for p in root.rglob("*.py")
             if not p.name.startswith("_") and "__pycache__" not in p.parts]
    files.sort(key=lambda p: (len(p.relative_to(root).parts), str(p.relative_to(root))))
    out: dict[str, Study] = {}
    for p in files:
        name = p.stem.replace("_", "-")
        if name in out:
            raise ConfigError(f"two studies are named {name!r}: {out[name].path} and {p}")
        out[name] = Study(name, p, _describe(p))
    return out


class StudyFolder(Mapping[str, Study]):
    """The studies of a folder as a read-only mapping, found afresh at every access.

    Parameters
    ----------
    directory : str or Path, optional
        The studies folder (default: ``./simulations`` of the current folder *when the mapping
        is used*).
    sub : str, optional
        Only the studies of this sub-folder (``"linear"``).
    """

    def __init__(self, directory: str | Path | None = None, sub: str | None = None) -> None:
        self.directory = directory
        self.sub = sub

    def studies(self) -> dict[str, Study]:
        """The studies now.

        Returns
        -------
        dict of str to Study
            As :func:`discover`.
        """
        root = simulations_dir(self.directory)
        return discover(root / self.sub if self.sub else root)

    def __getitem__(self, name: str) -> Study:
        return self.studies()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.studies())

    def __len__(self) -> int:
        return len(self.studies())

    def __repr__(self) -> str:
        where = self.directory if self.directory is not None else "./simulations"
        return f"StudyFolder({str(where) + ('/' + self.sub if self.sub else '')!r})"


#: The studies of ``./simulations`` (of the current folder), by name.
STUDIES: Mapping[str, Study] = StudyFolder()


# --------------------------------------------------------------------------- declarations
def read_study(study: str | Path, directory: str | Path | None = None) -> dict[str, Any]:
    """Read a study's declaration (TOML).

    Parameters
    ----------
    study : str or Path
        The study's code or declaration file (a study reads its own with
        ``read_study(__file__)``), a file name relative to the studies folder
        (``"lr_phase_diagram.toml"``, ``"linear/linear-algorithms.toml"``), or a study name
        (``"linear-algorithms"``) or file stem (``"finite_size"``).
    directory : str or Path, optional
        The studies folder for relative names (default: :func:`simulations_dir`).

    Returns
    -------
    dict
        The TOML tables as they are (see :func:`settings` for the quick mode).

    Raises
    ------
    ConfigError
        When the file is missing or not valid TOML.
    """
    p = Path(study)
    if p.suffix == ".py":
        p = p.with_suffix(".toml")
    if not p.is_absolute():
        root = simulations_dir(directory)
        if p.suffix == ".toml":
            p = root / p
        else:
            found = [s for s in discover(root).values()
                     if str(study) in (s.name, s.path.stem)]
            if not found:
                raise ConfigError(f"no study {str(study)!r} in {root}")
            p = found[0].toml
    return read_toml(p, "study file")


def settings(spec: Mapping[str, Any], *tables: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[study]`` table of a declaration (or other tables, merged), with
    ``[study.quick]`` merged in quick mode.

    Parameters
    ----------
    spec : mapping
        A declaration read by :func:`read_study`.
    *tables : mapping
        The tables to merge, later ones winning (default: the ``[study]`` table of ``spec``;
        a base configuration and the overrides of a variant, for example).

    Returns
    -------
    dict
        The study's settings (without the ``quick`` table); in quick mode
        (:func:`is_quick`) the ``[study.quick]`` overrides come last.
    """
    st: dict[str, Any] = {}
    for table in tables or (spec.get("study", {}),):
        st.update({k: v for k, v in table.items() if k != "quick"})
    if is_quick():
        st.update(spec.get("study", {}).get("quick", {}))
    return st


def eg_threshold(spec: Mapping[str, Any], default: float = 0.01) -> float:
    """The ε threshold of an ODE study: the base's ``run.eg_threshold`` (else ``default``).

    Parameters
    ----------
    spec : mapping
        A sweep-spec declaration (with a ``[base]`` table).
    default : float
        Used when the base sets none (or 0).

    Returns
    -------
    float
        The threshold.
    """
    return float(spec.get("base", {}).get("run", {}).get("eg_threshold", default) or default)


# --------------------------------------------------------------------------- quick mode
def is_quick() -> bool:
    """Whether the quick (reduced) mode is on.

    Returns
    -------
    bool
        True when the environment variable ``TEACHERSTUDENT_QUICK`` is set and not ``0`` or
        ``false``.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false")


@contextlib.contextmanager
def quick_mode(enabled: bool = True) -> Iterator[None]:
    """Turn the quick mode on inside a ``with`` block (the environment is restored after).

    Parameters
    ----------
    enabled : bool
        False leaves the environment as it is.

    Yields
    ------
    None
    """
    old = os.environ.get(QUICK_ENV)
    if enabled:
        os.environ[QUICK_ENV] = "1"
    try:
        yield
    finally:
        if enabled:
            if old is None:
                os.environ.pop(QUICK_ENV, None)
            else:
                os.environ[QUICK_ENV] = old


# --------------------------------------------------------------------------- registry
def select(registry: Mapping[str, Study], name: str) -> list[str]:
    """The names that ``teacherstudent reproduce NAME`` runs.

    Parameters
    ----------
    registry : mapping of str to Study
        From :func:`discover`.
    name : str
        A study name, or ``"all"``.

    Returns
    -------
    list of str
        The selected names, in the registry's order.

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the known ones).
    """
    if name == "all":
        return list(registry)
    if name in registry:
        return [name]
    raise ConfigError(f"unknown study {name!r}; known: {', '.join(registry)} (or 'all')")


def listing(registry: Mapping[str, Study]) -> list[str]:
    """One line per study: name, description and the file of its code.

    Parameters
    ----------
    registry : mapping of str to Study
        From :func:`discover`.

    Returns
    -------
    list of str
        The lines of ``teacherstudent reproduce --list``.
    """
    width = max((len(n) for n in registry), default=0)
    cwd = Path.cwd()
    lines = []
    for s in registry.values():
        try:
            where = s.path.resolve().relative_to(cwd.resolve())
        except ValueError:
            where = s.path
        lines.append(f"{s.name:<{width}}  {s.description}  [{where}]")
    return lines


def run_studies(registry: Mapping[str, Study], names: Iterable[str], out_dir: str | Path,
                quick: bool = False, log: Callable[[str], Any] = print) -> list[str]:
    """Run studies one after the other; a study that fails is reported and the others run.

    Parameters
    ----------
    registry : mapping of str to Study
        From :func:`discover`.
    names : iterable of str
        The studies to run (see :func:`select`).
    out_dir : str or Path
        Folder of the figures (created when missing).
    quick : bool
        Run in quick mode (:func:`quick_mode`).
    log : callable
        Receives the progress lines (default :func:`print`); a failure's traceback goes to
        standard error.

    Returns
    -------
    list of str
        The names of the studies that failed.

    Raises
    ------
    ConfigError
        Raised by a study (bad input): it stops the run.
    """
    names = list(names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    t_all = time.perf_counter()
    with quick_mode(quick):
        for n in names:
            t0 = time.perf_counter()
            log(f"[{n}] running ...")
            try:
                files = registry[n].run(out)
            except ConfigError:
                raise
            except Exception:  # noqa: BLE001 - report and go on with the others
                failed.append(n)
                print(f"[{n}] FAILED after {time.perf_counter() - t0:.1f} s:", file=sys.stderr,
                      flush=True)
                traceback.print_exc()
                continue
            log(f"[{n}] {time.perf_counter() - t0:.1f} s, {len(files)} files:")
            for f in files:
                log(f"    {f}")
    log(f"done: {len(names) - len(failed)}/{len(names)} studies in "
        f"{time.perf_counter() - t_all:.1f} s" + (f"; failed: {', '.join(failed)}" if failed
                                                  else ""))
    return failed


# --------------------------------------------------------------------------- grids of ODE runs
def _one(job: tuple[dict[str, Any], dict[str, Any], bool]) -> dict[str, Any]:
    """Integrate ``base`` with ``overrides``; scalar summary (+ curves when ``keep``)."""
    from . import analysis as an
    from .ode import integrate

    base, overrides, keep = job
    t0 = time.perf_counter()
    try:
        cfg = load_config(apply_overrides(base, overrides))
        ds = integrate(cfg)
    except (ConfigError, FloatingPointError, ValueError) as exc:
        return {"overrides": overrides, "error": str(exc)}
    thr = float(cfg["run"]["eg_threshold"]) or None
    out: dict[str, Any] = {
        "overrides": overrides,
        "status": int(ds.attrs["status"]),
        "message": str(ds.attrs["message"]),
        **an.summarize(ds, thr, alpha_final=cfg["run"]["alpha_max"]),
        "seconds": time.perf_counter() - t0,
    }
    out["eg0"] = float(ds.eg.values[0])
    if keep:
        out["alpha"] = ds.alpha.values
        out["eg"] = ds.eg.values
        out["eg_opt"] = ds.eg_opt.values
        out["eg_pre"] = ds.eg_pre.values
        out["S"] = an.specialization_along(ds)
        out["R_final"] = ds.R.values[-1]
        out["Q_final"] = ds.Q.values[-1]
        out["w_final"] = ds.w.values[-1]
        out["T"] = ds.T.values
    return out


def _min_rate(job: tuple[dict[str, Any], str, dict[str, Any], list[float], int]) -> dict[str, Any]:
    """Smallest rate (key) reaching ε ≤ ε_th by α_max: bisection in log between a failing and a
    succeeding bracket end (success assumed monotone in the rate over the bracket)."""
    base, key, fixed, bracket, steps = job

    def ok(v: float) -> bool:
        r = _one((base, {**fixed, key: float(v)}, False))
        return math.isfinite(r.get("alpha_threshold", math.nan))

    x, lo, note = bisect_log(ok, bracket[0], bracket[1], steps)
    return {"min": x, "note": note} if note else {"min": x, "lo": lo, "note": ""}


def _warm() -> None:
    """Compile / load the numba kernels in this process before forking workers."""
    from .ode import integrate

    integrate(None, **{"run.alpha_max": 1.0, "run.n_save": 3})


def _pool(n_jobs: int, workers: int):
    if workers <= 1 or n_jobs < 4:
        return None
    # fork inherits the loaded numba kernels; but once the simulation's or the large-K
    # drift's parallel (OpenMP) kernels may have run here, forking is unsafe: fresh workers.
    from .ode import field

    parallel = "teacherstudent.simulation.fastcpu" in sys.modules or field.parallel_drift_built
    method = "forkserver" if parallel else "fork"
    try:
        ctx = mp.get_context(method)
    except ValueError:  # not available on this platform
        ctx = None
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def _map(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = WORKERS) -> list[Any]:
    """``[fn(j) for j in jobs]`` on a pool; ``fn`` must be importable (a package function)."""
    jobs = list(jobs)
    _warm()
    pool = _pool(len(jobs), workers)
    if pool is None:
        return [fn(j) for j in jobs]
    with pool:
        chunk = max(1, len(jobs) // (8 * workers))
        return list(pool.map(fn, jobs, chunksize=chunk))


def run_points(base: dict[str, Any], points: Iterable[dict[str, Any]], keep: bool = False,
               workers: int = WORKERS) -> list[dict[str, Any]]:
    """Integrate the ODEs of ``base`` with each set of dotted overrides, on a worker pool.

    Parameters
    ----------
    base : dict
        A configuration (the ``[base]`` of a sweep spec).
    points : iterable of dict
        Dotted overrides per run (``{"algorithm.eta_J": 2.0}``).
    keep : bool
        Also return the curves (``alpha``, ``eg``, ``eg_opt``, ``eg_pre``, ``S``) and the
        final ``R``, ``Q``, ``w`` and ``T``.
    workers : int
        Worker processes (fewer than 4 points, or ``workers <= 1``: in this process).

    Returns
    -------
    list of dict
        Per point, in order: ``overrides``, ``status``, ``message``, the scalars of
        :func:`teacherstudent.analysis.summarize` (with ``alpha_threshold``), ``eg0``,
        ``seconds``; or ``overrides`` and ``error`` for a point that could not run.
    """
    return _map(_one, [(base, dict(p), keep) for p in points], workers)


def minimal_rates(base: dict[str, Any], searches: Iterable[tuple[str, dict[str, Any],
                                                                 Sequence[float]]],
                  steps: int, workers: int = WORKERS) -> list[dict[str, Any]]:
    """Smallest rates that reach the base's ε threshold by ``run.alpha_max``, on a worker pool.

    Each search bisects in ``log(rate)`` between a failing and a succeeding end of its bracket
    (success assumed monotone in the rate over the bracket).

    Parameters
    ----------
    base : dict
        A configuration with ``run.eg_threshold`` set.
    searches : iterable of (str, dict, sequence of float)
        ``(key, fixed overrides, [low, high])``: the dotted key of the rate, the overrides of
        the other settings, the bracket.
    steps : int
        Bisection steps.
    workers : int
        Worker processes.

    Returns
    -------
    list of dict
        Per search: ``min`` (the smallest rate found; NaN when the bracket's high end fails),
        ``lo`` (the largest failing rate, after a bisection) and ``note``.
    """
    jobs = [(base, key, dict(fixed), list(bracket), int(steps))
            for key, fixed, bracket in searches]
    return _map(_min_rate, jobs, workers)


def grid_points(grid: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The outer product of a ``[grid]`` table.

    Parameters
    ----------
    grid : mapping of str to sequence
        Dotted key → values.

    Returns
    -------
    keys : list of str
        The keys, in order (the last one varies fastest).
    points : list of dict
        One dict of overrides per point.
    """
    keys = list(grid)
    pts: list[dict[str, Any]] = [{}]
    for k in keys:
        pts = [{**p, k: v} for p in pts for v in grid[k]]
    return keys, pts


def collect(results: Sequence[Mapping[str, Any]], shape: tuple[int, ...], key: str) -> np.ndarray:
    """One scalar of every result of :func:`run_points`, as an array of the grid's shape.

    Parameters
    ----------
    results : sequence of mapping
        From :func:`run_points` (a missing value is NaN).
    shape : tuple of int
        The grid's shape.
    key : str
        The scalar (``"alpha_threshold"``, ``"eg_final"``, ...).

    Returns
    -------
    numpy.ndarray
        Float array of ``shape``.
    """
    return np.array([r.get(key, math.nan) for r in results], dtype=float).reshape(shape)


# --------------------------------------------------------------------------- writers
def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _clean(v.tolist())
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return None if not math.isfinite(v) else float(f"{v:.6g}")
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a study's summary as JSON (6 significant digits; NaN and ∞ as ``null``).

    Parameters
    ----------
    path : str or Path
        The file (its folder is created).
    data : mapping
        Numbers, strings, lists, arrays and nested mappings.

    Returns
    -------
    Path
        The file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(dict(data)), indent=1) + "\n")
    return path


def save_grid(path: str | Path, dims: Mapping[str, Sequence[Any]],
              fields: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> Path:
    """Write the results of a grid as a netCDF file.

    Parameters
    ----------
    path : str or Path
        The file.
    dims : mapping of str to sequence
        Dimension → coordinate values (numbers, else strings), in the order of the fields' axes.
    fields : mapping of str to numpy.ndarray
        Variables over all the dimensions.
    attrs : mapping
        Attributes (anything but a number or a string is stored as JSON).

    Returns
    -------
    Path
        The file.
    """
    import xarray as xr

    from .dataset import provenance, save

    coords = {}
    for name, vals in dims.items():
        try:
            coords[name] = np.asarray([float(v) for v in vals])
        except (TypeError, ValueError):
            coords[name] = np.asarray([str(v) for v in vals])
    ds = xr.Dataset({k: (tuple(dims), v) for k, v in fields.items()}, coords=coords)
    ds.attrs.update(provenance(None, "grid", 0.0))  # marks it as ours (outputs.is_result)
    ds.attrs.update({k: (json.dumps(v) if not isinstance(v, (int, float, str)) else v)
                     for k, v in attrs.items()})
    return save(ds, Path(path))


def figure_paths(out_dir: str | Path, name: str) -> list[Path]:
    """The PNG and PDF of a figure.

    Parameters
    ----------
    out_dir : str or Path
        The figures' folder.
    name : str
        The figure's name (no suffix).

    Returns
    -------
    list of Path
        ``[out_dir/name.png, out_dir/name.pdf]``.
    """
    p = Path(out_dir) / f"{name}.png"
    return [p, p.with_suffix(".pdf")]


# --------------------------------------------------------------------------- simulation studies
def seed_bootstrap(study: Mapping[str, Any]) -> tuple[int, int, np.random.Generator, np.ndarray]:
    """The seeds of a simulation study and the bootstrap resamples of them.

    Parameters
    ----------
    study : mapping
        The study's settings (:func:`settings`): ``seeds``, ``bootstrap`` (resamples,
        default 400) and ``bootstrap_seed`` (default 0).

    Returns
    -------
    seeds : int
        Seeds per run.
    resamples : int
        Bootstrap resamples, the data itself included.
    rng : numpy.random.Generator
        The random stream of the resamples (seeded with ``bootstrap_seed``), after drawing
        ``indices``: further resamples are drawn from it.
    indices : numpy.ndarray
        ``(resamples, seeds)`` seed indices (:func:`teacherstudent.analysis.bootstrap_indices`).
    """
    from .analysis import bootstrap_indices

    seeds = int(study["seeds"])
    resamples = int(study.get("bootstrap", 400))
    rng = np.random.default_rng(int(study.get("bootstrap_seed", 0)))
    return seeds, resamples, rng, bootstrap_indices(seeds, resamples, rng)


# --------------------------------------------------------------------------- text
def format_pm(value: float, error: float) -> str:
    """``value ± error`` for the text tables of the studies (``1.234e-02 ± 5.6e-04``).

    Parameters
    ----------
    value, error : float
        The number and its error.

    Returns
    -------
    str
        The formatted pair.
    """
    return f"{value:.3e} ± {error:.1e}"


def power_label(a: float, error: float, var: str = "N") -> str:
    """A legend label ``$N^{-a ± e}$`` of a fitted power law ``∝ var^{-a}``.

    Parameters
    ----------
    a : float
        The fitted exponent (NaN: no fit).
    error : float
        Its error (NaN: none shown).
    var : str
        The variable.

    Returns
    -------
    str
        The label (``"(no fit)"`` for a NaN exponent).
    """
    if not np.isfinite(a):
        return "(no fit)"
    if not np.isfinite(error):
        return rf"${var}^{{{-a:.2f}}}$"
    return rf"${var}^{{{-a:.2f}\pm {error:.2f}}}$"
