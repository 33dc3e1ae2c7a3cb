"""Sweeps at scale on Dask: resumable, fault-tolerant grids of runs (issue 7).

Python API::

    from teacherstudent.sweep import run_sweep, load_spec, alpha_to_threshold
    ds = run_sweep("simulations/sweeps/lr_grid.toml", store="lr_grid.sweep", workers=2)
    a_th = alpha_to_threshold(ds, 1e-3)          # DataArray over the grid

Command line: ``teacherstudent sweep SPEC.toml [--scheduler tcp://HOST:PORT] [--workers N]
[-o STORE]``. Modules: :mod:`.spec` (the SPEC format and validation), :mod:`.runner`
(Dask orchestration), :mod:`.tasks` (worker side), :mod:`.store` (per-chunk files and the
consolidated netCDF), :mod:`.reduce` (phase-diagram reductions), :mod:`.cli`.
"""

from __future__ import annotations

from .reduce import alpha_to_threshold, phase_diagram, plateau, plateau_length
from .runner import run_sweep
from .spec import Spec, load_spec
from .store import STATUS_CODES, Store

__all__ = [
    "run_sweep",
    "load_spec",
    "Spec",
    "Store",
    "STATUS_CODES",
    "alpha_to_threshold",
    "plateau",
    "plateau_length",
    "phase_diagram",
]
