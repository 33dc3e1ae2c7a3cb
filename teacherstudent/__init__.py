"""teacherstudent: statistical physics of meta-learning.

Order-parameter ODEs for teacher–student meta-learning with two-layer erf networks
(ARM, FO-ANIL, exact ANIL; MAML/FO-MAML reduce to them at large N), Monte Carlo
simulations in PyTorch, and the population dynamics of linear representation learning.
The documentation (``docs/``; build it with ``python -m sphinx -W -b html docs
docs/_build/html``) has the model, every configuration key, tutorials and the gallery.

Public API::

    cfg = teacherstudent.load_config("run.toml")      # or a dict, or None for defaults
    ds = teacherstudent.integrate(cfg)                # xarray.Dataset, coordinate alpha
    sim = teacherstudent.simulate(cfg, N=1000, seeds=8, device="auto")
    lin = teacherstudent.linear.run(linear_cfg)

Sub-packages (imported on first use): :mod:`~teacherstudent.ode`,
:mod:`~teacherstudent.simulation`, :mod:`~teacherstudent.linear`,
:mod:`~teacherstudent.sweep`, :mod:`~teacherstudent.plotting`,
:mod:`~teacherstudent.analysis`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import ConfigError, load_config
from .version import __version__

__all__ = ["ConfigError", "load_config", "integrate", "simulate", "linear", "__version__"]


def integrate(config: Any = None, **kwargs: Any):
    """Integrate the order-parameter ODEs (N → ∞) of a configuration.

    Parameters
    ----------
    config : str, Path, dict or None
        A TOML file, a configuration dict with the tables ``model``, ``tasks``,
        ``algorithm``, ``init``, ``run`` (any subset; the rest are defaults) or ``None`` for
        the built-in default run (FO-ANIL, K = M = 3, η_J = 3, η_w = 9, α_max = 450).
        ``teacherstudent config`` prints every key and its default.
    initial : dict, optional
        Arrays ``{"Q": (K, K), "R": (K, M), "w": (K,), "T": (M, M)}`` (any subset) that
        replace the configured initial state, e.g. the overlaps measured in a simulation.
    overrides : dict, optional
        Dotted keys, ``{"algorithm.eta_J": 2.0}``.
    **dotted
        The same as keywords: ``integrate(cfg, **{"algorithm.eta_J": 2.0})``.
    progress : callable, optional
        Called as ``progress(alpha, eg)`` about every 0.1 s of integration (the command
        line draws its progress bar with it).

    Returns
    -------
    xarray.Dataset
        Coordinate ``alpha`` (= tasks/N); variables ``Q(alpha, k, l)``, ``R(alpha, k, n)``,
        ``w(alpha, k)``, ``eg(alpha)`` (the meta-generalisation error after adaptation),
        ``eg_pre`` (before adaptation), ``eg_opt`` (with the best head per task) and
        ``T(n, m)``; attributes: every setting (``"algorithm.eta_J"``, ...), the solver's
        ``status`` and ``message``, ``alpha_reached``, ``alpha_threshold`` and the
        provenance (versions, ``code_sha256``, ``wall_time_s``, ``config_toml``).

    Raises
    ------
    ConfigError
        Bad input, before any work; the message names the key.

    See Also
    --------
    teacherstudent.ode.integrate : the same function.
    teacherstudent.ode.extend : continue a run to a larger α.
    simulate : the finite-N Monte Carlo of the same model.

    Notes
    -----
    A run that diverges (an order parameter beyond ``run.blowup``, the field covariance
    losing positive definiteness, an integral leaving its domain) stops and keeps what it
    computed: ``ds.attrs["status"] < 0`` and ``ds.attrs["message"]`` says why and at which α.
    The first call compiles the numba kernels (≈ 20–60 s) and caches them on disk
    (``teacherstudent compile`` compiles the ODE solver ahead of time instead, once).

    Examples
    --------
    >>> import teacherstudent as ts
    >>> ds = ts.integrate(None, **{"run.alpha_max": 50.0, "run.eg_threshold": 0.01})
    >>> ds.eg.dims
    ('alpha',)
    >>> round(float(ds.eg[0]), 4)  # the plateau value Σ_u/6 of the default tasks
    0.1667
    """
    from .ode import integrate as _integrate

    return _integrate(config, **kwargs)


def simulate(config: Any = None, **kwargs: Any):
    """Monte Carlo simulation of the finite-N networks (PyTorch), replicas in parallel.

    Parameters
    ----------
    config : str, Path, dict or None
        The same configuration as :func:`integrate`; the ``[simulation]`` table holds the
        Monte Carlo settings.
    N : int, optional
        Input dimension (default ``simulation.N``).
    seeds : int, optional
        Independent replicas (default ``simulation.seeds``), seeded ``base_seed + r``.
    device : str, optional
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
    progress : bool, optional
        Show a progress bar (default true).
    resume : bool, optional
        Continue from the checkpoint (``simulation.checkpoint_every`` > 0).
    overrides : dict, optional
        Dotted keys, as for :func:`integrate`; or give them as keywords.

    Returns
    -------
    xarray.Dataset
        The variables of :func:`integrate` with a leading ``seed`` dimension
        (``Q(seed, alpha, k, l)``, ``eg(seed, alpha)``, ...), the measured ``T(seed, n, m)``,
        ``tasks(alpha)`` and the provenance in ``attrs``. The errors are the closed forms of
        the measured overlaps (with a finite ``train_size``: estimated on fresh tasks).

    Raises
    ------
    ConfigError
        Bad input, before any work.

    See Also
    --------
    teacherstudent.simulation.simulate : the same function (all options).
    teacherstudent.simulation.compare : simulation and theory from the same initial state.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> sim = ts.simulate(None, N=200, seeds=2, device="cpu", progress=False,
    ...                   **{"run.alpha_max": 1.0})
    >>> sim.eg.dims
    ('seed', 'alpha')
    """
    from .simulation import simulate as _simulate

    return _simulate(config, **kwargs)


def __getattr__(name: str) -> Any:  # lazy sub-packages (torch is heavy)
    if name in ("ode", "linear", "analysis", "simulation", "sweep", "plotting", "cli"):
        return import_module(f".{name}", __name__)
    raise AttributeError(name)
