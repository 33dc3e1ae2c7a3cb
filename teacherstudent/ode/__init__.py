"""The order-parameter ODEs: integrals → drift → solvers → dataset.

* :mod:`.integrals` — Gaussian expectations of the activation (where activations plug in);
* :mod:`.field` — :class:`VectorField`, a configuration packed for the kernels;
* :mod:`.drift` — the vector field ``dΩ/dα`` (one numba kernel for every algorithm and
  activation);
* :mod:`.solvers` — jitted Euler, RK4 and Dormand–Prince with events and divergence checks
  (their codes and state: :mod:`.solver_state`);
* :mod:`.aot` — the solver compiled ahead of time (``teacherstudent compile``): a run
  starts in milliseconds instead of loading numba;
* :mod:`.frontend` — :class:`Solver`, :class:`SaveAt`, :func:`solve` (a :class:`Solution`),
  :func:`integrate` (an :class:`xarray.Dataset`; :func:`integrate_table` the same as plain
  arrays, without importing xarray) and :func:`extend`.

Example
-------
>>> import teacherstudent as ts
>>> ds = ts.ode.integrate(None, **{"run.alpha_max": 10.0})
>>> float(ds.eg[-1]) < float(ds.eg[0])
True
"""

from __future__ import annotations

from ..lazy import lazy_exports

# name -> the module that defines it, imported on first use (PEP 562): importing this package
# costs nothing, and a run from the ahead-of-time kernels (.aot) never imports numba
_WHERE = {"VectorField": "field", **{name: "frontend" for name in (
    "SaveAt", "Solution", "Solver", "extend", "integrate", "integrate_table", "prepare", "solve",
    "to_dataset", "to_table")}}

__all__ = ["VectorField", "Solver", "SaveAt", "Solution", "solve", "integrate",
           "integrate_table", "extend", "prepare", "to_dataset", "to_table"]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
