"""teacherstudent: statistical physics of meta-learning.

Order-parameter ODEs for teacher–student meta-learning with two-layer erf networks
(ARM, FO-ANIL, exact ANIL; MAML/FO-MAML reduce to them at large N), Monte Carlo
simulations in PyTorch, and the population dynamics of linear representation learning.

Public API (spec §3)::

    cfg = teacherstudent.load_config("run.toml")      # or a dict, or None for defaults
    ds = teacherstudent.integrate(cfg)                # xarray.Dataset, coordinate alpha
    sim = teacherstudent.simulate(cfg, N=1000, seeds=8, device="auto")
    lin = teacherstudent.linear.run(linear_cfg)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import ConfigError, load_config
from .version import __version__

__all__ = ["ConfigError", "load_config", "integrate", "simulate", "linear", "__version__"]


def integrate(config: Any = None, **kwargs: Any):
    """Integrate the order-parameter ODEs; see :func:`teacherstudent.ode.integrate`."""
    from .ode import integrate as _integrate

    return _integrate(config, **kwargs)


def simulate(config: Any = None, **kwargs: Any):
    """Monte Carlo simulation at finite N; see :func:`teacherstudent.simulation.simulate`."""
    from .simulation import simulate as _simulate

    return _simulate(config, **kwargs)


def __getattr__(name: str) -> Any:  # lazy sub-packages (torch is heavy)
    if name in ("ode", "linear", "analysis", "simulation", "sweep", "plotting", "cli"):
        return import_module(f".{name}", __name__)
    raise AttributeError(name)
