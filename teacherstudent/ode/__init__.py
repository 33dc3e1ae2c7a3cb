"""The order-parameter ODEs: integrals → drift → solvers → dataset.

* :mod:`.integrals` — Gaussian expectations of the activation (where activations plug in);
* :mod:`.drift` — the vector field ``dΩ/dα`` (:class:`VectorField`, one numba kernel for
  every algorithm and activation);
* :mod:`.solvers` — jitted Euler, RK4 and Dormand–Prince with events and divergence checks;
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

from .drift import VectorField
from .frontend import (
    SaveAt,
    Solution,
    Solver,
    extend,
    integrate,
    integrate_table,
    prepare,
    solve,
    to_dataset,
    to_table,
)

__all__ = ["VectorField", "Solver", "SaveAt", "Solution", "solve", "integrate",
           "integrate_table", "extend", "prepare", "to_dataset", "to_table"]
