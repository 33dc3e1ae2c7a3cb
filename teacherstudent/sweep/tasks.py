"""Worker side of a sweep: compute a chunk of points into one small dataset.

Everything here runs inside Dask workers. :func:`run_chunk` is pure (its result depends only
on its arguments; it writes no file), so the scheduler may run it again on another worker
after a worker dies. A point that raises is recorded with ``status = ERROR`` and the
exception text; a point that diverges keeps the status and message of the run.

:class:`WarmUp` is a worker plugin that imports the engine and runs one tiny computation when
a worker starts (also a worker restarted after a crash), so that the numba kernels are loaded
from the on-disk cache once per worker, not once per point.
"""

from __future__ import annotations

import inspect
import math
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["ERROR", "Layout", "run_chunk", "run_point", "warm_up", "WarmUp", "worker_stats"]

#: ``status`` of a point whose computation raised an exception.
ERROR = -100

# Per-process bookkeeping (one Dask worker = one process with one thread).
_STATS: dict[str, Any] = {"points": 0, "warm_up_s": math.nan, "warm": set(), "ode_kernels": None}


@dataclass(frozen=True)
class Layout:
    """The common per-point shapes of an ``ode`` sweep (known before any work)."""

    alpha: np.ndarray  # the common α grid (union of the points' saved α)
    K: int  # largest model.K over the points (smaller ones are NaN-padded)
    M: int  # largest model.M


# --------------------------------------------------------------------------- warm-up
def warm_up(kind: str) -> dict[str, Any]:
    """Import the engine of ``kind`` and run one tiny computation (idempotent)."""
    if kind in _STATS["warm"]:
        return worker_stats()
    t0 = time.perf_counter()
    if kind == "ode":
        from ..config import load_config
        from ..ode import integrate

        ds = integrate(load_config(None, {"run.alpha_max": 1.0, "run.n_save": 3}))
        _STATS["ode_kernels"] = ds.attrs["ode_kernels"]  # the compiled module, or numba's
    elif kind == "simulate":
        import teacherstudent.simulation  # noqa: F401  (torch and the kernels)
    else:
        import teacherstudent.linear  # noqa: F401
    _STATS["warm_up_s"] = time.perf_counter() - t0
    _STATS["warm"] = _STATS["warm"] | {kind}
    return worker_stats()


def worker_stats() -> dict[str, Any]:
    """This process's counters: points computed, warm-up time, pid, the kernels the ODE
    warm-up ran (``ode_kernels``: ``"ahead-of-time"`` or ``"jit"``) and the number of
    compiled/loaded specialisations of numba's ODE kernels (``numba_overloads``; constant
    after the warm-up when no point triggers a compilation; 0 with the compiled module)."""
    import sys

    overloads = 0
    for mod in ("teacherstudent.ode.solvers", "teacherstudent.ode.drift",
                "teacherstudent.ode.integrals.closed_form"):
        m = sys.modules.get(mod)
        for obj in vars(m).values() if m else ():
            if hasattr(obj, "overloads") and hasattr(obj, "py_func"):
                overloads += len(obj.overloads)
    return {"pid": os.getpid(), **_STATS, "warm": sorted(_STATS["warm"]),
            "numba_overloads": overloads}


try:  # a worker plugin, so that workers (re)started later are warmed too
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - distributed is a dependency
    WorkerPlugin = object  # type: ignore[misc,assignment]


class WarmUp(WorkerPlugin):  # type: ignore[misc]
    """Dask worker plugin: :func:`warm_up` when a worker starts."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = f"teacherstudent-sweep-warm-up-{kind}"  # one plugin per kind

    def setup(self, worker: Any) -> None:
        warm_up(self.kind)


# --------------------------------------------------------------------------- one point
def _bookkeeping(key: str, status: int, message: str, t0: float, started: float) -> dict:
    _STATS["points"] += 1
    return {
        "key": key,
        "status": int(status),
        "message": str(message),
        "point_time": time.perf_counter() - t0,
        "computed_at": started,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "worker_seq": _STATS["points"],
    }


def _ode_point(cfg: Mapping[str, Any], layout: Layout, save: list[str] | None) -> tuple:
    from ..ode import integrate

    ds = integrate(cfg)
    a = ds.attrs
    out: dict[str, np.ndarray | float | int] = {}
    want = set(save) if save else None
    grid = layout.alpha
    alpha = ds["alpha"].values
    pos = np.searchsorted(grid, alpha).clip(0, grid.size - 1)
    on_grid = grid[pos] == alpha  # a stopped run's extra last point is not on the grid
    pos = pos[on_grid]
    for name in ("eg", "eg_pre", "eg_opt", "Q", "R", "w"):
        if want is not None and name not in want:
            continue
        v = ds[name].values[on_grid]
        shape = {"Q": (layout.K, layout.K), "R": (layout.K, layout.M), "w": (layout.K,)}
        arr = np.full((grid.size, *shape.get(name, ())), np.nan)
        arr[(pos, *(slice(0, n) for n in v.shape[1:]))] = v
        out[name] = arr
    scalars = {
        "eg_final": float(ds["eg"].values[-1]),
        "alpha_threshold": float(a["alpha_threshold"]),
        "alpha_reached": float(a["alpha_reached"]),
        "nfev": int(a["nfev"]),
    }
    out.update({k: v for k, v in scalars.items() if want is None or k in want})
    return int(a["status"]), str(a["message"]), out


def _engine_call(kind: str, cfg: Mapping[str, Any]) -> xr.Dataset:
    if kind == "linear":
        from ..linear import run

        return run(cfg)
    from ..simulation import simulate

    sim = cfg.get("simulation", {})
    kwargs = {"N": sim.get("N"), "seeds": sim.get("seeds"), "device": sim.get("device"),
              "progress": False}
    params = inspect.signature(simulate).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return simulate(cfg, **kwargs)


def _generic_point(kind: str, cfg: Mapping[str, Any], save: list[str] | None) -> tuple:
    ds = _engine_call(kind, cfg)
    names = list(ds.data_vars) if not save else save
    missing = [n for n in names if n not in ds.data_vars and n not in ds.attrs]
    if missing:
        raise KeyError(f"save: {missing} not in the {kind} result (has {list(ds.data_vars)})")
    keep = ds[[n for n in names if n in ds.data_vars]]
    keep.attrs = {}
    clash = {n: f"{kind}_{n}" for n in keep.data_vars if n in _META_DTYPES}
    keep = keep.rename(clash)  # e.g. a result variable named 'status' or 'key'

    status = int(ds.attrs.get("status", 0))
    message = str(ds.attrs.get("message", "ok"))
    if "diverged_round" in ds and int((ds["diverged_round"] >= 0).sum()) > 0 and status == 0:
        status, message = -1, "diverged (see diverged_round)"
    scalars = {k: ds.attrs[k] for k in ("alpha_reached", "alpha_threshold") if k in ds.attrs}
    for n in names:
        if n in ds.attrs and n not in ds.data_vars:
            scalars[n] = ds.attrs[n]
    for k, v in scalars.items():
        keep[k] = ((), v)
    return status, message, keep


def run_point(kind: str, key: str, cfg: Mapping[str, Any], layout: Layout | None,
              save: list[str] | None) -> tuple[dict[str, Any], Any]:
    """Compute one point; never raises (an exception becomes ``status = ERROR``)."""
    started, t0 = time.time(), time.perf_counter()
    try:
        if kind == "ode":
            status, message, data = _ode_point(cfg, layout, save)
        else:
            status, message, data = _generic_point(kind, cfg, save)
    except Exception as exc:  # noqa: BLE001 - a bad combination must not stop the sweep
        status, message, data = ERROR, f"error: {type(exc).__name__}: {exc}", None
    return _bookkeeping(key, status, message, t0, started), data


# --------------------------------------------------------------------------- one chunk
_META_DTYPES = {"key": object, "status": np.int64, "message": object, "point_time": float,
                "computed_at": float, "worker": object, "worker_seq": np.int64}


def _meta_vars(metas: list[dict[str, Any]]) -> dict[str, tuple]:
    return {
        name: (("point",), np.array([m[name] for m in metas], dtype=dt))
        for name, dt in _META_DTYPES.items()
    }


def _ode_chunk(metas: list[dict], datas: list[dict | None], layout: Layout,
               save: list[str] | None) -> xr.Dataset:
    dims = {"eg": ("alpha",), "eg_pre": ("alpha",), "eg_opt": ("alpha",),
            "Q": ("alpha", "k", "l"), "R": ("alpha", "k", "n"), "w": ("alpha", "k")}
    shapes = {"eg": (layout.alpha.size,), "eg_pre": (layout.alpha.size,),
              "eg_opt": (layout.alpha.size,), "Q": (layout.alpha.size, layout.K, layout.K),
              "R": (layout.alpha.size, layout.K, layout.M), "w": (layout.alpha.size, layout.K)}
    names = save or [*dims, "eg_final", "alpha_threshold", "alpha_reached", "nfev"]
    data_vars = _meta_vars(metas)
    n = len(metas)
    for name in names:
        if name == "nfev":
            arr = np.array([d[name] if d else -1 for d in datas], dtype=np.int64)
        else:
            arr = np.full((n, *shapes.get(name, ())), np.nan)
            for i, d in enumerate(datas):
                if d:
                    arr[i] = d[name]
        data_vars[name] = (("point", *dims.get(name, ())), arr)
    coords: dict[str, Any] = {}
    used = {d for name in names for d in dims.get(name, ())}
    if "alpha" in used:
        coords["alpha"] = layout.alpha
    for dim, size in (("k", layout.K), ("l", layout.K), ("n", layout.M)):
        if dim in used:
            coords[dim] = np.arange(size)
    return xr.Dataset(data_vars, coords=coords)


def _generic_chunk(metas: list[dict], datas: list[xr.Dataset | None]) -> xr.Dataset:
    parts = [d.expand_dims("point") for d in datas if d is not None]
    meta = xr.Dataset(_meta_vars(metas))
    if not parts:
        return meta
    ok = [i for i, d in enumerate(datas) if d is not None]
    body = xr.concat(parts, dim="point", join="outer", coords="different", compat="equals")
    body = body.assign_coords(point=ok).reindex(point=np.arange(len(metas)))
    return xr.merge([meta, body.drop_vars("point")], join="outer")


def run_chunk(kind: str, items: list[tuple[str, dict[str, Any]]], layout: Layout | None,
              save: list[str] | None) -> xr.Dataset:
    """Compute the points ``items = [(key, config), ...]`` into one dataset along ``point``."""
    metas, datas = [], []
    for key, cfg in items:
        meta, data = run_point(kind, key, cfg, layout, save)
        metas.append(meta)
        datas.append(data)
    if kind == "ode":
        return _ode_chunk(metas, datas, layout, save)
    return _generic_chunk(metas, datas)
