"""Reductions of a sweep store to phase-diagram data (one number per grid point).

- :func:`alpha_to_threshold`: the α at which eg first reaches ε_th. It uses the recorded
  ``alpha_threshold`` (exact, from the integrator's event detection) where the run used
  ``run.eg_threshold == eg_th``; elsewhere it interpolates the saved ``eg(alpha)`` linearly
  between the last saved point above ε_th and the first one at or below it.
- :func:`plateau` / :func:`plateau_length`: the longest stretch of α over which eg stays
  within a relative tolerance of its value at the start of the stretch (greedy segmentation
  of the saved curve) and which eg then leaves downwards (an escaped plateau, not the final
  asymptote), ignoring levels below ``floor``.
- :func:`phase_diagram`: both together with ``status``, as one dataset over the grid.

All functions take the dataset returned by :func:`~teacherstudent.sweep.run_sweep` (or read
from ``STORE/sweep.nc``) and return arrays over its grid dimensions.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..config import ConfigError

__all__ = ["alpha_to_threshold", "plateau", "plateau_length", "phase_diagram"]


def _run_threshold(ds: xr.Dataset) -> xr.DataArray | float:
    """The run.eg_threshold each point used (a grid coordinate or the base config's)."""
    if "run.eg_threshold" in ds.coords:
        return ds.coords["run.eg_threshold"]
    return float(ds.attrs.get("run.eg_threshold", 0.0))


def _crossing(eg: np.ndarray, alpha: np.ndarray, eg_th: float) -> np.ndarray:
    """First α with eg <= eg_th along the last axis, linearly interpolated (NaN if none)."""
    below = eg <= eg_th  # NaN compares False: a stopped run never "reaches" through NaN
    hit = below.any(axis=-1)
    j = np.argmax(below, axis=-1)
    out = np.full(eg.shape[:-1], np.nan)
    jj = j[hit]
    e = eg[hit]
    rows = np.arange(e.shape[0])
    a1, e1 = alpha[jj], e[rows, jj]
    prev = np.maximum(jj - 1, 0)
    a0, e0 = alpha[prev], e[rows, prev]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where((jj > 0) & (e0 > e1), (e0 - eg_th) / (e0 - e1), 1.0)
    out[hit] = np.where(jj > 0, a0 + np.clip(frac, 0.0, 1.0) * (a1 - a0), a1)
    return out


def alpha_to_threshold(ds: xr.Dataset, eg_th: float) -> xr.DataArray:
    """α to reach ``eg <= eg_th`` for every grid point (NaN where never reached).

    Exact (``alpha_threshold``) where the run's ``run.eg_threshold`` equals ``eg_th``,
    interpolated from ``eg(alpha)`` elsewhere; raises ConfigError when neither is stored.
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
        eg = ds["eg"].transpose(*grid_dims, "alpha")
        out = xr.DataArray(_crossing(eg.values, ds["alpha"].values, eg_th), dims=grid_dims,
                           coords={d: ds.coords[d] for d in ds["status"].coords})
        if "alpha_threshold" in ds:
            out = xr.where(same, ds["alpha_threshold"], out)
    out = out.copy().rename("alpha_to_threshold")
    out.attrs = {"long_name": f"alpha at which eg first reaches {eg_th:g}", "eg_th": eg_th}
    return out


def plateau(ds: xr.Dataset, rtol: float = 0.05, floor: float = 1e-6,
            escaped_only: bool = True) -> xr.Dataset:
    """The longest plateau of eg(alpha) per grid point: ``start``, ``end``, ``length``, ``level``.

    Rule: scanning the saved α in order, a stretch continues while
    ``|eg(α)/eg(α_start) − 1| <= rtol``; when a point leaves the band a new stretch starts
    there. The plateau is the longest stretch (in α) whose level ``eg(α_start)`` is above
    ``floor`` and, with ``escaped_only`` (default), which eg leaves *downwards* before the end
    of the run — so the final asymptote (or a run still stuck at ``alpha_max``) is not a
    plateau. Points with no such stretch get NaN; ``escaped_only=False`` also counts the
    stretch that runs to the end (a lower bound on a plateau not escaped within the run).
    """
    if "eg" not in ds:
        raise ConfigError("plateau needs eg(alpha) in the store (keep 'eg' in save)")
    grid_dims = list(ds["status"].dims)
    eg = ds["eg"].transpose(*grid_dims, "alpha").values
    alpha = ds["alpha"].values
    flat = eg.reshape(-1, alpha.size)
    n = flat.shape[0]
    best = np.zeros(n)
    best_start = np.full(n, np.nan)
    best_end = np.full(n, np.nan)
    best_level = np.full(n, np.nan)
    ref = flat[:, 0].copy()
    start = np.full(n, alpha[0])
    last = np.full(n, alpha[0])
    for i in range(1, alpha.size + 1):
        e = flat[:, i] if i < alpha.size else np.full(n, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            inside = np.abs(e / ref - 1.0) <= rtol
            escaped = e < ref * (1.0 - rtol)  # NaN (stopped run / end of data): False
        close = ~inside
        length = last - start
        counts = escaped if escaped_only else close
        better = close & counts & (ref > floor) & (length > best)
        best = np.where(better, length, best)
        best_start = np.where(better, start, best_start)
        best_end = np.where(better, last, best_end)
        best_level = np.where(better, ref, best_level)
        if i < alpha.size:
            ref = np.where(close, e, ref)
            start = np.where(close, alpha[i], start)
            last = np.where(np.isfinite(e), alpha[i], last)
    shape = eg.shape[:-1]
    coords = {d: ds.coords[d] for d in ds["status"].coords}
    found = np.isfinite(best_start)

    def da(v: np.ndarray, name: str) -> xr.DataArray:
        return xr.DataArray(v.reshape(shape), dims=grid_dims, coords=coords, name=name)

    return xr.Dataset({
        "start": da(best_start, "start"),
        "end": da(best_end, "end"),
        "length": da(np.where(found, best, np.nan), "length"),
        "level": da(best_level, "level"),
    }, attrs={"rtol": rtol, "floor": floor, "escaped_only": int(escaped_only)})


def plateau_length(ds: xr.Dataset, rtol: float = 0.05, floor: float = 1e-6,
                   escaped_only: bool = True) -> xr.DataArray:
    """α-length of the longest plateau of eg per grid point (see :func:`plateau`)."""
    return plateau(ds, rtol, floor, escaped_only)["length"]


def phase_diagram(ds: xr.Dataset, eg_th: float, rtol: float = 0.05,
                  floor: float = 1e-6) -> xr.Dataset:
    """Phase-diagram data over the grid: α to reach eg_th, plateau, final eg and status."""
    out = xr.Dataset({"alpha_to_threshold": alpha_to_threshold(ds, eg_th),
                      "status": ds["status"]})
    if "eg" in ds:
        p = plateau(ds, rtol, floor)
        out["plateau_length"] = p["length"]
        out["plateau_level"] = p["level"]
    if "eg_final" in ds:
        out["eg_final"] = ds["eg_final"]
    out.attrs.update({"eg_th": eg_th, "plateau_rtol": rtol, "plateau_floor": floor})
    return out
