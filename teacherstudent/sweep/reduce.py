"""Reductions of a sweep dataset to phase-diagram data (one number per grid point).

Every rule is the one of :mod:`teacherstudent.analysis`, applied point by point, so that a
sweep and a single run give the same number for the same trajectory:

- :func:`alpha_to_threshold`: the α at which eg first reaches ε_th. It uses the recorded
  ``alpha_threshold`` (exact, from the integrator's event detection) where the run used
  ``run.eg_threshold == eg_th``; elsewhere :func:`teacherstudent.analysis.crossing_time`
  on the saved ``eg(alpha)`` (linear in (α, ln ε) between the bracketing saved points).
- :func:`plateau` / :func:`plateau_length`: :func:`teacherstudent.analysis.plateau` (flat
  log-slope runs; the first lasting ``min_decades`` decades, else the longest) and its
  escape time α*.
- :func:`phase_diagram`: both together with ``status``, as one dataset over the grid.

All functions take the dataset returned by :func:`~teacherstudent.sweep.run_sweep` (or read
from ``STORE/sweep.nc``) and return arrays over its grid dimensions.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import analysis
from ..config import ConfigError

__all__ = ["alpha_to_threshold", "plateau", "plateau_length", "phase_diagram"]


def _run_threshold(ds: xr.Dataset) -> xr.DataArray | float:
    """The run.eg_threshold each point used (a grid coordinate or the base config's)."""
    if "run.eg_threshold" in ds.coords:
        return ds.coords["run.eg_threshold"]
    return float(ds.attrs.get("run.eg_threshold", 0.0))


def _per_point(ds: xr.Dataset, name: str) -> tuple[list[str], dict, np.ndarray]:
    """The grid dims, their coords, and ``ds[name]`` as rows (grid points) × alpha."""
    grid_dims = list(ds["status"].dims)
    coords = {d: ds.coords[d] for d in ds["status"].coords}
    rows = ds[name].transpose(*grid_dims, "alpha").values.reshape(-1, ds.sizes["alpha"])
    return grid_dims, coords, rows


def alpha_to_threshold(ds: xr.Dataset, eg_th: float) -> xr.DataArray:
    """The α at which every grid point first reaches ``eg <= eg_th`` (NaN where never).

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep result (:func:`~teacherstudent.sweep.run_sweep`).
    eg_th : float
        The error threshold.

    Returns
    -------
    xarray.DataArray
        Over the grid dimensions. Exact (the solver's ``alpha_threshold``) where the runs'
        ``run.eg_threshold`` equals ``eg_th``, interpolated from ``eg(alpha)`` elsewhere.

    Raises
    ------
    ConfigError
        When neither ``alpha_threshold`` nor ``eg`` is stored.
    """
    if not eg_th > 0:
        raise ConfigError(f"eg_th must be positive, got {eg_th!r}")
    grid_dims = list(ds["status"].dims)
    used = _run_threshold(ds)
    same = abs(used - eg_th) <= 1e-12 * eg_th  # a bool or a DataArray along one grid key
    if "alpha_threshold" in ds and bool(np.all(same)):
        out = ds["alpha_threshold"]
    elif "eg" not in ds:
        raise ConfigError(
            f"the store has no eg(alpha) and its runs used run.eg_threshold != {eg_th}; keep "
            "'eg' in save or sweep with run.eg_threshold = eg_th"
        )
    else:
        _, coords, rows = _per_point(ds, "eg")
        alpha = ds["alpha"].values
        crossed = np.array([analysis.crossing_time(alpha, e, eg_th) for e in rows])
        out = xr.DataArray(crossed.reshape(ds["status"].shape), dims=grid_dims, coords=coords)
        if "alpha_threshold" in ds:
            out = xr.where(same, ds["alpha_threshold"], out)
    out = out.copy().rename("alpha_to_threshold")
    out.attrs = {"long_name": f"alpha at which eg first reaches {eg_th:g}", "eg_th": eg_th}
    return out


def plateau(ds: xr.Dataset, tol: float = 0.05, delta: float = 0.1, floor_rel: float = 1e-6,
            min_decades: float = 0.25, escaped_only: bool = True) -> xr.Dataset:
    """The plateau of eg(alpha) per grid point (:func:`teacherstudent.analysis.plateau`).

    Variables over the grid: ``start``, ``end``, ``length = end − start``, ``decades``,
    ``level`` (the plateau height) and ``escape`` (α*). With ``escaped_only`` (default) a
    plateau that eg never leaves within the run (the final asymptote, or a run still stuck
    at ``alpha_max``) is not counted: its point gets NaN.
    """
    if "eg" not in ds:
        raise ConfigError("plateau needs eg(alpha) in the store (keep 'eg' in save)")
    grid_dims, coords, rows = _per_point(ds, "eg")
    alpha = ds["alpha"].values
    names = ("start", "end", "length", "decades", "level", "escape")
    vals = np.full((len(names), rows.shape[0]), np.nan)
    for i, e in enumerate(rows):
        p = analysis.plateau(alpha, e, tol=tol, delta=delta, floor_rel=floor_rel,
                             min_decades=min_decades)
        if p.found and (p.escaped or not escaped_only):
            vals[:, i] = (p.start, p.end, p.end - p.start, p.decades, p.height, p.escape)
    shape = ds["status"].shape
    return xr.Dataset(
        {n: xr.DataArray(v.reshape(shape), dims=grid_dims, coords=coords)
         for n, v in zip(names, vals, strict=True)},
        attrs={"tol": tol, "delta": delta, "floor_rel": floor_rel, "min_decades": min_decades,
               "escaped_only": int(escaped_only)})


def plateau_length(ds: xr.Dataset, escaped_only: bool = True, **rules) -> xr.DataArray:
    """α-length of the plateau of eg per grid point (see :func:`plateau`)."""
    return plateau(ds, escaped_only=escaped_only, **rules)["length"]


def phase_diagram(ds: xr.Dataset, eg_th: float, **plateau_rules) -> xr.Dataset:
    """Phase-diagram data over the grid: α to reach ``eg_th``, plateau, final error and status.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep result.
    eg_th : float
        The error threshold of ``alpha_to_threshold``.
    **plateau_rules
        ``tol``, ``delta``, ``floor_rel``, ``min_decades``, passed to :func:`plateau`.

    Returns
    -------
    xarray.Dataset
        ``alpha_to_threshold``, ``status`` and, when ``eg(alpha)`` is stored,
        ``plateau_length``, ``plateau_level``, ``plateau_escape``; ``eg_final`` when stored.
    """
    out = xr.Dataset({"alpha_to_threshold": alpha_to_threshold(ds, eg_th),
                      "status": ds["status"]})
    if "eg" in ds:
        p = plateau(ds, **plateau_rules)
        out["plateau_length"] = p["length"]
        out["plateau_level"] = p["level"]
        out["plateau_escape"] = p["escape"]
        out.attrs.update({f"plateau_{k}": v for k, v in p.attrs.items()})
    if "eg_final" in ds:
        out["eg_final"] = ds["eg_final"]
    out.attrs["eg_th"] = eg_th
    return out
