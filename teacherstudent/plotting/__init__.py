"""Figures of ODE runs, theory-vs-simulation comparisons, sweeps and the linear model.

One module per result kind, each with **one** figure design, whether the figure comes from
the command that computes the result or from ``teacherstudent plot FILE``:

* ``ode`` — :func:`plot_ode` (:mod:`.ode`);
* ``compare`` — :func:`plot_compare` (:mod:`.compare`), also for plain simulation results;
* ``sweep`` — :func:`plot_sweep` (:mod:`.sweep`);
* ``linear`` — :func:`plot_linear`, the same as ``linear.plot_run`` (:mod:`.linear`);

built on the shared style of :mod:`.style` (rc parameters, colours, labels, the symbols of
the parameters, seed bands). Every figure function takes an optional ``ax=`` or ``fig=``,
returns the :class:`matplotlib.figure.Figure` (for notebooks) and writes a file only when
given a path (PNG, and with ``pdf=True`` a PDF next to it); the figure stays open, so close
it (``plt.close(fig)``) when drawing many. :func:`plot_result` picks the function from the
dataset (:func:`detect_kind`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from . import style
from .compare import matched_units, plot_compare
from .linear import plot_linear, plot_run
from .ode import heatmap_row, plot_error, plot_heatmaps, plot_ode, plot_overlaps
from .style import *  # noqa: F403 - the package exports the shared style as it is
from .style import shared_doc
from .sweep import plot_grid_summary, plot_phase, plot_sweep, swept_keys

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    *style.__all__,
    "heatmap_row",
    "plot_ode",
    "plot_error",
    "plot_overlaps",
    "plot_heatmaps",
    "plot_compare",
    "matched_units",
    "plot_sweep",
    "plot_grid_summary",
    "plot_phase",
    "swept_keys",
    "plot_linear",
    "plot_run",
    "detect_kind",
    "plot_result",
    "KINDS",
]

KINDS = ("ode", "compare", "sweep", "linear")


def detect_kind(ds: xr.Dataset) -> str:
    """What a result is: ``linear`` (dist), ``compare`` (``*_sim``/``*_ode`` or a seed dim),
    ``sweep`` (eg with dims besides alpha, or scalar results on a grid without an α axis) or
    ``ode``.

    Parameters
    ----------
    ds : xarray.Dataset
        A result.

    Returns
    -------
    str
        One of :data:`KINDS`.

    Raises
    ------
    ValueError
        When the variables fit none of them.
    """
    names = set(map(str, ds.data_vars))
    if "dist" in names:
        return "linear"
    if any(v.endswith(("_sim", "_ode", "_mc", "_theory")) for v in names):
        return "compare"
    if "eg" in ds and "seed" in ds["eg"].dims:
        return "compare"
    if "eg" in ds and len(ds["eg"].dims) > 1:
        return "sweep"
    if "eg" in ds and "R" in ds:
        return "ode"
    gridded = [v for v in names if ds[v].ndim >= 1 and ds[v].dtype.kind == "f"]
    if gridded and not any(str(d).startswith("alpha") for v in names for d in ds[v].dims):
        return "sweep"  # scalar results on a grid (e.g. figures/data/*.nc)
    raise ValueError(
        "cannot tell what this dataset is (expected eg/R/Q, *_sim/*_ode or dist); "
        f"variables: {', '.join(sorted(names)) or 'none'}"
    )


@shared_doc
def plot_result(ds: xr.Dataset, path: str | Path | None = None, pdf: bool = False, *,
                kind: str = "auto", **kwargs: Any) -> Figure:
    """The figure of a result of any kind (the one ``teacherstudent plot`` draws).

    Parameters
    ----------
    ds : xarray.Dataset
        A result.
    %(path)s
    %(pdf)s
    kind : str
        ``"auto"`` (:func:`detect_kind`) or one of :data:`KINDS`.
    **kwargs
        Passed to the kind's function (``alphas=`` for ODE runs, ``threshold=`` for sweeps,
        ``ax=``, ``fig=``).

    %(returns)s
    """
    kind = detect_kind(ds) if kind == "auto" else kind
    functions = {"ode": plot_ode, "compare": plot_compare, "sweep": plot_sweep,
                 "linear": plot_linear}
    if kind not in functions:
        raise ValueError(f"kind must be 'auto' or one of {', '.join(KINDS)}, got {kind!r}")
    return functions[kind](ds, path, pdf, **kwargs)
