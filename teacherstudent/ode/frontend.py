"""Integrating the order-parameter ODEs: vector field → solver → saved dataset.

The three pieces are separate objects (as in diffrax):
:class:`~teacherstudent.ode.field.VectorField` (the physics), :class:`Solver` (the
numerical method and its tolerances) and :class:`SaveAt` (the α grid at which the state is
stored exactly). :func:`solve` combines them into a :class:`Solution`; :func:`integrate` goes
from a configuration to an :class:`xarray.Dataset` with the variables and attributes listed
on the *Outputs* page of the documentation.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tomllib

from .. import resources
from ..config import Config, ConfigError, load_config
from ..dataset import Table, load, provenance
from . import solver_state as S
from .field import VectorField
from .solver_state import METHODS, STATUS_MESSAGES, SUCCESS

if TYPE_CHECKING:  # xarray is imported when a dataset is built (not by `teacherstudent ode`)
    import xarray as xr

__all__ = ["Solver", "SaveAt", "Solution", "solve", "integrate", "integrate_table", "extend",
           "prepare", "to_dataset", "to_table", "estimate"]


@dataclass(frozen=True)
class Solver:
    """Numerical method: ``euler``/``rk4`` use ``dt``; ``dopri5`` uses ``rtol``/``atol``."""

    method: str = "dopri5"
    dt: float = 0.01
    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 50_000_000
    blowup: float = 1e6  # |order parameter| beyond this counts as divergence
    psd_tol: float = 1e-4  # λ_min(C) < −psd_tol·scale counts as loss of definiteness

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Solver:
        r = cfg["run"]
        return cls(
            r["solver"], r["dt"], r["rtol"], r["atol"], r["max_steps"], r["blowup"], r["psd_tol"]
        )


@dataclass(frozen=True)
class SaveAt:
    """The α values at which the state is saved (exactly, the steps land on them)."""

    alpha: np.ndarray

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> SaveAt:
        r = cfg["run"]
        if r["save_alpha"] is not None:
            alpha = np.asarray(r["save_alpha"], dtype=float)
            if alpha[-1] < r["alpha_max"]:
                alpha = np.append(alpha, r["alpha_max"])
            return cls(alpha)
        n = r["n_save"]
        if r["save_spacing"] == "linear":
            return cls(np.linspace(0.0, r["alpha_max"], n))
        grid = np.logspace(math.log10(r["alpha_min_save"]), math.log10(r["alpha_max"]), n - 1)
        grid[-1] = r["alpha_max"]
        return cls(np.concatenate([[0.0], grid]))


@dataclass
class Solution:
    """What :func:`solve` returns (cf. ``scipy.integrate.solve_ivp``'s ``OdeResult``)."""

    alpha: np.ndarray  # saved α (only those reached)
    y: np.ndarray  # (len(alpha), size) saved states
    status: int  # 0 success; < 0 divergence or stop (see solver_state.STATUS_MESSAGES)
    message: str
    alpha_reached: float
    y_last: np.ndarray  # state at alpha_reached
    nfev: int
    n_accepted: int
    n_rejected: int
    alpha_event: float  # first α with eg <= eg_threshold (NaN if none / not requested)
    wall_time_s: float
    kernels: str = "jit"  # "ahead-of-time" (the compiled module of .aot) or "jit": same numbers

    @property
    def success(self) -> bool:
        return self.status == SUCCESS


def solve(
    vf: VectorField,
    solver: Solver,
    saveat: SaveAt,
    y0: np.ndarray | None = None,
    eg_threshold: float = 0.0,
    alpha0: float = 0.0,
    progress: Callable[[float, np.ndarray], None] | None = None,
) -> Solution:
    """Integrate ``vf`` from ``y0`` (default: the configuration's initial state) at ``α₀``.

    Parameters
    ----------
    vf : VectorField
        The drift.
    solver : Solver
        Method and tolerances.
    saveat : SaveAt
        Absolute α at which the state is stored exactly (> ``α₀``, or ≥ 0 when ``α₀ = 0``).
    y0 : ndarray, optional
        Packed initial state (``vf.pack(Q, R, w)``).
    eg_threshold : float
        If > 0, record the first α with ``eg <= eg_threshold`` (``Solution.alpha_event``).
    alpha0 : float
        The α of ``y0``: the drift does not depend on α, so a start at ``α₀ > 0`` (continuing
        a run) integrates from 0 to ``α − α₀``; every α in the solution is absolute.
    progress : callable, optional
        Called as ``progress(alpha, y)`` every ~0.1 s of integration.

    Returns
    -------
    Solution
        With ``status`` 0 on success, negative on divergence, a stop, or Ctrl-C
        (``INTERRUPTED``: the states computed so far are kept).

    Notes
    -----
    The jitted solver runs in calls of about 0.1 s that resume exactly where the previous
    one stopped (the same steps as one call), so Ctrl-C stops a run within a fraction of a
    second and keeps what was computed.
    """
    if solver.method not in METHODS:
        raise ConfigError(f"run.solver must be one of {', '.join(METHODS)}, got {solver.method!r}")
    y0 = vf.y0 if y0 is None else np.ascontiguousarray(y0, dtype=np.float64)
    kern = vf.kernels
    _warm_up(vf, y0)
    t_save = np.ascontiguousarray(saveat.alpha - alpha0, dtype=np.float64)
    ys = np.full((t_save.size, y0.size), np.nan)
    y = y0.copy()
    st = S.new_state()
    k1 = np.empty_like(y)
    args = (METHODS[solver.method], y, *vf.args, t_save, float(solver.dt), float(solver.rtol),
            float(solver.atol), int(solver.max_steps), float(eg_threshold),
            float(solver.blowup), float(solver.psd_tol), ys, st, k1)
    budget = 256
    t0 = time.perf_counter()
    try:
        while st[S.S_STATUS] == S.PAUSED:
            c0 = time.perf_counter()
            kern.integrate(*args, budget)
            took = time.perf_counter() - c0
            # aim at calls of ~0.1 s: prompt Ctrl-C, negligible overhead
            budget = int(min(max(budget * 0.1 / max(took, 1e-6), 64), 1 << 30))
            if progress is not None and st[S.S_STATUS] == S.PAUSED:
                progress(st[S.S_T] + alpha0, y)
    except KeyboardInterrupt:
        st[S.S_STATUS] = S.INTERRUPTED
    wall = time.perf_counter() - t0
    status = int(st[S.S_STATUS])
    t_reached = float(st[S.S_T]) + alpha0
    n_saved = int(st[S.S_ISAVE])
    message = STATUS_MESSAGES[status]
    if status != SUCCESS:
        message += f" at alpha = {t_reached:.6g}"
    return Solution(
        alpha=t_save[:n_saved] + alpha0,
        y=ys[:n_saved],
        status=status,
        message=message,
        alpha_reached=t_reached,
        y_last=y,
        nfev=int(st[S.S_NFEV]),
        n_accepted=int(st[S.S_NACC]),
        n_rejected=int(st[S.S_NREJ]),
        alpha_event=float(st[S.S_TEVENT]) + alpha0,
        wall_time_s=wall,
        kernels=kern.kind,
    )


_WARM: set[str] = set()  # the kinds of kernels loaded in this process


def prepare(config: Any = None) -> None:
    """Check a configuration's size and load (or compile) the ODE kernels, before other work.

    :func:`integrate` does this itself; a caller that integrates only after a long step (the
    simulation of :func:`teacherstudent.simulation.compare`) calls it first, so that a size
    refusal comes before that step and, after a Ctrl-C there, only the integration itself
    remains (compiling the kernels in a fresh installation takes a minute).

    Parameters
    ----------
    config : str, Path, dict or None
        As for :func:`integrate`.

    Raises
    ------
    teacherstudent.config.ConfigError
        A bad key or value, or a run that cannot fit (:func:`check_size`).
    """
    cfg = config if _is_resolved(config) else load_config(config)
    check_size(cfg)
    vf = VectorField.from_config(cfg)
    _warm_up(vf, vf.y0)


def _warm_up(vf: VectorField, y0: np.ndarray) -> None:
    """Load (or compile) the kernels once per process, outside the timed region."""
    kern = vf.kernels
    if kern.kind in _WARM:
        return
    tiny = np.array([0.0, 1e-12])
    for method in METHODS.values():
        kern.integrate(method, y0.copy(), *vf.args, tiny, 1e-12, 1e-3, 1e-3, 10, 0.0, 1e300,
                       1.0, np.empty((2, y0.size)), S.new_state(), np.empty_like(y0), 10)
    vf.errors_along(y0[None, :])
    _WARM.add(kern.kind)


def to_dataset(vf: VectorField, sol: Solution, cfg: dict[str, Any] | None = None) -> xr.Dataset:
    """Named-dimension dataset of a solution (contract variables Q, R, w, eg + errors)."""
    return to_table(vf, sol, cfg).to_xarray()


def to_table(vf: VectorField, sol: Solution, cfg: dict[str, Any] | None = None) -> Table:
    """The dataset of :func:`to_dataset` as plain arrays (:class:`~teacherstudent.dataset.Table`),
    without importing xarray."""
    alpha, ys = sol.alpha, sol.y
    if not sol.success and (alpha.size == 0 or alpha[-1] < sol.alpha_reached):
        # keep the last state computed before the run stopped
        alpha = np.append(alpha, sol.alpha_reached)
        ys = np.vstack([ys, sol.y_last[None, :]])
    Q, R, w = vf.unpack(ys)
    err = vf.errors_along(ys)
    p = vf.problem
    table = Table(
        {
            "Q": (("alpha", "k", "l"), Q, {"long_name": "student overlaps Q_kl = J_k·J_l/N"}),
            "R": (("alpha", "k", "n"), R, {"long_name": "teacher overlaps R_kn = J_k·B_n/N"}),
            "w": (("alpha", "k"), w, {"long_name": "head initialisation w_k"}),
            "eg": (
                ("alpha",),
                err[:, 0],
                {"long_name": "meta-generalisation error after adaptation"},
            ),
            "eg_pre": (("alpha",), err[:, 1], {"long_name": "error at w before adaptation"}),
            "eg_opt": (
                ("alpha",),
                err[:, 2],
                {"long_name": "error with the optimal head per task"},
            ),
            "T": (("n", "m"), p.T, {"long_name": "teacher overlaps T_nm = B_n·B_m/N"}),
            "u_mean": (("n",), p.u_mean, {}),
            "u_cov": (("n", "m"), p.u_cov, {}),
        },
        coords={
            "alpha": (("alpha",), alpha, {"long_name": "tasks / N"}),
            "k": (("k",), np.arange(p.K), {}),
            "l": (("l",), np.arange(p.K), {}),
            "n": (("n",), np.arange(p.M), {}),
            "m": (("m",), np.arange(p.M), {}),
        },
    )
    table.attrs.update(provenance(cfg, "ode", sol.wall_time_s))
    table.attrs.update(
        {
            "ode_algorithm": {"maml": "anil", "fo-maml": "fo-anil"}.get(vf.algorithm, vf.algorithm),
            "status": sol.status,
            "message": sol.message,
            "alpha_reached": sol.alpha_reached,
            "nfev": sol.nfev,
            "n_accepted": sol.n_accepted,
            "n_rejected": sol.n_rejected,
            "alpha_threshold": sol.alpha_event,
            "ode_kernels": sol.kernels,
        }
    )
    return table


# drift cost at K = M = 3 (µs), measured by benchmarks/bench_ode.py; the loops scale like
# K²F² (the η²/V contraction) — an estimate, stated as one
_EVAL_S_K3 = 2.7e-6


def estimate(cfg: dict[str, Any], n_save: int | None = None) -> resources.Estimate:
    """Memory and time a run of ``cfg`` needs (see :mod:`teacherstudent.resources`).

    Memory: the saved states and the drift's workspace (with the ``K²F²`` fourth-moment
    table, ``F = K + M``, for activations without a closed form). Time: evaluations (fixed
    steps: ``alpha_max/dt`` steps; ``dopri5``: about 1.5 per unit α plus the save points,
    from the default run's statistics), capped by ``run.max_steps``, times a per-evaluation
    cost scaled from K = M = 3.
    """
    K, M = cfg["model"]["K"], cfg["model"]["M"]
    F = K + 2 * M
    r = cfg["run"]
    n_save = n_save if n_save is not None else (
        len(r["save_alpha"]) + 1 if r["save_alpha"] is not None else r["n_save"])
    size = K * K + K * M + K
    m = cfg["model"]
    # the I4 table is stored only where the activations have no closed form (erf, linear)
    table = not (m["activation"] in ("erf", "linear")
                 and m.get("teacher_activation") in (None, m["activation"]))
    work = 8.0 * (K * K * F * F * table + F**4 + 12 * F * F + 8 * size)
    memory = 8.0 * n_save * (size + 3) * 2 + work
    per_step = {"euler": 1, "rk4": 4, "dopri5": 6}[r["solver"]]
    if r["solver"] == "dopri5":
        steps = 0.25 * r["alpha_max"] + 10 * n_save
    else:
        steps = r["alpha_max"] / r["dt"] + n_save
    t_eval = _EVAL_S_K3 * max(1.0, (K * F / 27.0) ** 2)
    what = (("the K²(K+M)² table of the drift" if table else "the workspace of the drift")
            if work > memory / 2 else "the saved states")
    return resources.Estimate(memory=memory, seconds=min(steps, r["max_steps"]) * per_step
                              * t_eval, what=what, steps=steps)


def check_size(cfg: dict[str, Any], n_save: int | None = None) -> None:
    """Refuse (``ConfigError``) a run that cannot fit, would take too long, or would stop at
    ``run.max_steps`` long before ``run.alpha_max`` (more than 10× the steps allowed; the
    dopri5 step count is an estimate)."""
    r = cfg["run"]
    est = resources.check(estimate(cfg, n_save), "model.K", "run.check_size", r["check_size"],
                          time_keys="run.alpha_max (or model.K)")
    if r["check_size"] and est.steps > 10 * r["max_steps"]:
        raise ConfigError(
            f"run.alpha_max = {r['alpha_max']:g} needs about {est.steps:.3g} steps with "
            f"run.solver = {r['solver']!r}, more than run.max_steps = {r['max_steps']:g}: "
            f"the run would stop early after about {resources.human_seconds(est.seconds)}; "
            "reduce run.alpha_max (or raise run.dt / run.max_steps), or set "
            "run.check_size = false"
        )


def integrate(config: Any = None, *, initial: dict[str, Any] | None = None,
              overrides: dict[str, Any] | None = None,
              progress: Callable[[float, float], None] | None = None,
              **dotted: Any) -> xr.Dataset:
    """Integrate the order-parameter ODEs of a configuration.

    Parameters
    ----------
    config : str, Path, dict or None
        A TOML file, a configuration dict (tables ``model``, ``tasks``, ``algorithm``,
        ``init``, ``run``) or ``None`` for the built-in defaults (the paper-like FO-ANIL run).
    initial : dict, optional
        Arrays ``{"Q": (K, K), "R": (K, M), "w": (K,), "T": (M, M)}`` (any subset) replacing
        the configured initial state, e.g. the overlaps measured in a simulation.
    overrides : dict, optional
        Dotted keys, ``{"algorithm.eta_J": 2.0}``.
    progress : callable, optional
        Called as ``progress(alpha, eg)`` about every 0.1 s of integration (the α reached
        and the error there).
    **dotted
        The same, as keywords: ``integrate(cfg, **{"algorithm.eta_J": 2.0})``.

    Returns
    -------
    xarray.Dataset
        ``Q(alpha, k, l)``, ``R(alpha, k, n)``, ``w(alpha, k)``, ``eg(alpha)``,
        ``eg_pre(alpha)``, ``eg_opt(alpha)``, ``T(n, m)``; attributes: every setting, the
        solver status and message, ``alpha_reached``, ``alpha_threshold``, provenance.

    Raises
    ------
    ConfigError
        Bad input, with a message naming the key.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> ds = ts.integrate(None, **{"run.alpha_max": 50.0, "algorithm.name": "anil"})
    >>> ds.eg.dims
    ('alpha',)
    """
    return integrate_table(config, initial=initial, overrides=overrides, progress=progress,
                           **dotted).to_xarray()


def integrate_table(config: Any = None, *, initial: dict[str, Any] | None = None,
                    overrides: dict[str, Any] | None = None,
                    progress: Callable[[float, float], None] | None = None,
                    **dotted: Any) -> Table:
    """:func:`integrate`, returning the dataset as plain arrays (no xarray import).

    The parameters are those of :func:`integrate`; ``teacherstudent ode`` uses this and
    writes the :class:`~teacherstudent.dataset.Table` with :func:`teacherstudent.dataset.save`
    (the same file as the dataset's).

    Returns
    -------
    teacherstudent.dataset.Table
        ``integrate(...)`` is ``integrate_table(...).to_xarray()``.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> t = ts.ode.integrate_table(None, **{"run.alpha_max": 50.0})
    >>> t["eg"].shape == (t.sizes["alpha"],)
    True
    """
    overrides = {**(overrides or {}), **dotted}
    cfg = config if _is_resolved(config) and not overrides else load_config(config, overrides)
    check_size(cfg)
    vf, y0 = _initial_state(VectorField.from_config(cfg), initial)
    sol = solve(
        vf, Solver.from_config(cfg), SaveAt.from_config(cfg), y0, cfg["run"]["eg_threshold"],
        progress=_progress_of(vf, progress),
    )
    return to_table(vf, sol, cfg)


def _progress_of(vf: VectorField, progress: Callable[[float, float], None] | None
                 ) -> Callable[[float, np.ndarray], None] | None:
    """``solve``'s ``progress(alpha, y)`` from a ``progress(alpha, eg)`` callback."""
    if progress is None:
        return None

    def call(alpha: float, y: np.ndarray) -> None:
        progress(float(alpha), float(vf.errors_along(y[None, :])[0, 0]))

    return call


def _initial_state(vf: VectorField, initial: dict[str, Any] | None
                   ) -> tuple[VectorField, np.ndarray | None]:
    """The vector field (with ``initial["T"]`` if given) and the packed state ``initial``
    replaces the configured one with (None: the configuration's)."""
    if not initial:
        return vf, None
    p = vf.problem
    unknown = sorted(set(initial) - {"Q", "R", "w", "T"})
    if unknown:
        raise ConfigError(f"initial: unknown key(s) {', '.join(map(repr, unknown))} "
                          "(known: 'Q', 'R', 'w', 'T')")
    shapes = {"Q": (p.K, p.K), "R": (p.K, p.M), "w": (p.K,), "T": (p.M, p.M)}
    given = {}
    for key, value in initial.items():
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(f"initial['{key}'] must be an array of numbers") from None
        if arr.shape != shapes[key]:
            raise ConfigError(f"initial['{key}'] must have shape {shapes[key]} for model.K = "
                              f"{p.K}, model.M = {p.M}; got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ConfigError(f"initial['{key}'] has non-finite entries")
        given[key] = arr
    if "T" in given:
        p = dataclasses.replace(p, T=given["T"])
        vf = dataclasses.replace(vf, problem=p)
    Q, R, w = given.get("Q", p.Q0), given.get("R", p.R0), given.get("w", p.w0)
    return vf, vf.pack(Q, R, w)


def extend(previous: Any, *, progress: Callable[[float, float], None] | None = None,
           **overrides: Any) -> xr.Dataset:
    """Continue a finished or interrupted run; returns the whole trajectory.

    The ODEs are autonomous, so the continuation integrates from the last saved state (Q, R, w
    and the recorded T) with α shifted by ``α₀ = alpha[-1]``, saving at the new configuration's
    α grid beyond ``α₀``; the result is the previous dataset followed by the new points. It
    agrees with an uninterrupted run to the solver's tolerance (fixed-step methods: exactly the
    same steps when α₀ is a multiple of ``dt``).

    Parameters
    ----------
    previous : xarray.Dataset, str or Path
        A dataset from :func:`integrate` (or :func:`extend`), or the path of one.
    progress : callable, optional
        As in :func:`integrate`.
    **overrides
        Dotted keys applied to its recorded configuration: at least
        ``**{"run.alpha_max": ...}`` beyond the α it reached (the same α for an interrupted
        run); other ``run.*`` keys, or the rates, may change too.

    Returns
    -------
    xarray.Dataset
        The previous points and the new ones, with the attributes of :func:`integrate` plus
        ``extended_at_alpha`` and ``extended_from_config_toml``.

    Raises
    ------
    ConfigError
        ``previous`` is not an ODE result, stopped by divergence, or ``run.alpha_max`` is not
        beyond the α it reached.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> short = ts.integrate(None, **{"run.alpha_max": 20.0})
    >>> longer = ts.ode.extend(short, **{"run.alpha_max": 40.0})
    >>> float(longer.alpha[-1])
    40.0
    """
    import xarray as xr

    name = "the previous run" if isinstance(previous, xr.Dataset) else str(previous)
    if not isinstance(previous, xr.Dataset) and not Path(previous).is_file():
        raise ConfigError(f"no such file {name}")
    try:
        prev = previous if isinstance(previous, xr.Dataset) else load(previous)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {name}: {exc}") from None
    if prev.attrs.get("kind") != "ode" or "config_toml" not in prev.attrs:
        raise ConfigError(f"{name} is not a dataset of `teacherstudent ode` (no config_toml)")
    if int(prev.attrs.get("status", 0)) not in (SUCCESS, S.INTERRUPTED):
        raise ConfigError(f"cannot extend {name}: it stopped ({prev.attrs.get('message')})")
    cfg = load_config(tomllib.loads(prev.attrs["config_toml"]), overrides)
    alpha0 = float(prev["alpha"].values[-1])
    if not cfg["run"]["alpha_max"] > alpha0:
        raise ConfigError(f"run.alpha_max = {cfg['run']['alpha_max']} must exceed the alpha "
                          f"{name} reached ({alpha0:g}); set it with run.alpha_max=...")
    check_size(cfg)
    last = prev.isel(alpha=-1)
    vf, y0 = _initial_state(VectorField.from_config(cfg),
                            {v: last[v].values for v in ("Q", "R", "w", "T")})
    grid = SaveAt.from_config(cfg).alpha
    sol = solve(vf, Solver.from_config(cfg), SaveAt(grid[grid > alpha0]), y0,
                cfg["run"]["eg_threshold"], alpha0, progress=_progress_of(vf, progress))
    event = float(prev.attrs.get("alpha_threshold", math.nan))
    totals = dataclasses.replace(
        sol, alpha_event=event if math.isfinite(event) else sol.alpha_event,
        nfev=sol.nfev + int(prev.attrs.get("nfev", 0)),
        n_accepted=sol.n_accepted + int(prev.attrs.get("n_accepted", 0)),
        n_rejected=sol.n_rejected + int(prev.attrs.get("n_rejected", 0)),
        wall_time_s=sol.wall_time_s + float(prev.attrs.get("wall_time_s", 0.0)))
    new = to_dataset(vf, totals, cfg)
    fixed = ["T", "u_mean", "u_cov"]  # no alpha dimension: taken from the new part
    out = xr.concat([prev.drop_vars(fixed), new.drop_vars(fixed)], dim="alpha",
                    data_vars="minimal", coords="minimal", compat="override", join="override",
                    combine_attrs="override")
    out = out.assign({v: new[v] for v in fixed})
    out.attrs = {**new.attrs, "extended_at_alpha": alpha0,
                 "extended_from_config_toml": prev.attrs["config_toml"],
                 "extended_from_created": prev.attrs.get("created", "")}
    return out


def _is_resolved(config: Any) -> bool:
    """A :class:`~teacherstudent.config.Config` from load_config is used as is."""
    return isinstance(config, Config)
