"""Figures of grids of runs (``teacherstudent sweep`` stores, ``figures/data/*.nc``).

Axes, legends and titles name a swept parameter by its symbol
(:func:`~teacherstudent.plotting.style.param_label`: ``η_J``, not ``algorithm.eta_J``); the
title describes the run the grid is built on **without** the base value of any swept
parameter (it would not describe the figure).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import analysis as an
from .style import (
    ALPHA_LABEL,
    EG_LABEL,
    STYLE,
    alpha_dim,
    canonical_key,
    finish,
    panel_axes,
    param_label,
    param_value,
    plt,
    run_title,
    shared_doc,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["plot_sweep", "plot_phase", "plot_grid_summary", "swept_keys"]

TIME_COLOUR = "#D55E00"
NEVER = "0.82"  # grey: the threshold is never reached

# summary variables of figures/data/*.nc and sweep stores
_VAR_LABELS = {
    "eg_final": r"final $\varepsilon_g^{\rm meta}$",
    "alpha_threshold": r"$\alpha$ at $\varepsilon\leq\varepsilon_{\rm th}$",
    "alpha_reached": r"$\alpha$ reached",
    "escape": r"plateau escape $\alpha^*$",
    "plateau_length": "plateau length",
}


def _var_label(name: str) -> str:
    return _VAR_LABELS.get(str(name), str(name))


def swept_keys(ds: xr.Dataset) -> list[str]:
    """The parameters a sweep varies: its grid dimensions, the coordinates along a
    ``point`` dimension and the keys recorded in ``attrs["sweep_keys"]``."""
    keys: list[str] = []
    try:
        keys += list(json.loads(ds.attrs.get("sweep_keys", "[]")))
    except (TypeError, ValueError):
        pass
    keys += [str(d) for d in ds.dims if str(d) not in ("alpha", "k", "l", "n", "m", "seed")]
    if "point" in ds.dims:
        keys += [str(c) for c in ds.coords if ds[c].dims == ("point",) and str(c) != "point"]
    return list(dict.fromkeys(keys))


def plot_phase(ax: Axes, x: np.ndarray, y: np.ndarray, Z: np.ndarray, *, cmap: str = "viridis",
               log_colour: bool = True, label: str = "", logx: bool = True, logy: bool = True,
               contours: Sequence[float] | None = None, nan_label: str = "not reached"):
    """Heatmap of ``Z(y, x)`` on (log) axes; NaN cells are left grey (``nan_label``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    x, y : numpy.ndarray
        Grid values (cell centres).
    Z : numpy.ndarray
        Values, shape ``(len(y), len(x))``.
    cmap : str
        Colour map.
    log_colour : bool
        Logarithmic colour scale when every value is positive and they span a decade.
    label : str
        Colour-bar label.
    logx, logy : bool
        Logarithmic axes.
    contours : sequence of float, optional
        Contour levels (white, labelled).
    nan_label : str
        Legend text of the grey (NaN) cells.

    Returns
    -------
    mesh : matplotlib.collections.QuadMesh
    colorbar : matplotlib.colorbar.Colorbar
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    Z = np.ma.masked_invalid(np.asarray(Z, float))

    def edges(v, log):
        if v.size == 1:
            return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - .5, v[0] + .5])
        u = np.log(v) if log else v
        mids = 0.5 * (u[1:] + u[:-1])
        e = np.concatenate([[u[0] - (mids[0] - u[0])], mids, [u[-1] + (u[-1] - mids[-1])]])
        return np.exp(e) if log else e

    xe, ye = edges(x, logx), edges(y, logy)
    ax.set_facecolor(NEVER)  # NaN cells show the background
    finite = Z.compressed()
    norm = None
    if finite.size and log_colour and np.all(finite > 0) and finite.max() >= 10 * finite.min():
        norm = mcolors.LogNorm(vmin=finite.min(), vmax=finite.max())
    mesh = ax.pcolormesh(xe, ye, Z, cmap=cmap, norm=norm, shading="flat")
    if contours and finite.size:
        X, Y = np.meshgrid(x, y)
        cs = ax.contour(X, Y, Z.filled(np.nan), levels=sorted(contours), colors="w",
                        linewidths=0.8)
        ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=7)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if np.any(Z.mask):
        ax.fill_between([], [], color=NEVER, label=nan_label)
    cb = plt.colorbar(mesh, ax=ax, label=label, pad=0.02)
    return mesh, cb


def _numeric(v: np.ndarray) -> np.ndarray | None:
    try:
        out = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return None
    return out if np.all(np.isfinite(out)) else None


def _log_axis(v: np.ndarray | None) -> bool:
    """Log axis for positive grids spanning more than a decade or evenly spaced in log."""
    if v is None or v.size < 2 or not np.all(v > 0):
        return False
    if v.max() / v.min() > 10:
        return True
    u = np.sort(np.log(v))
    steps = np.diff(u)
    return bool(v.size >= 3 and steps.min() > 0 and np.allclose(steps, steps[0], rtol=0.05)
                and not np.allclose(np.diff(np.sort(v)), np.diff(np.sort(v))[0], rtol=0.05))


def _grid_ticks(ax: Axes, which: str, v: np.ndarray, log: bool) -> None:
    """Ticks at the grid values of a short grid (at most 8 values)."""
    if v.size > 8:
        return
    labels = [f"{x:g}" for x in v]
    if which == "x":
        ax.set_xticks(v, labels, minor=False)
        if log:
            ax.set_xticks([], minor=True)
    else:
        ax.set_yticks(v, labels, minor=False)
        if log:
            ax.set_yticks([], minor=True)


def _point_labels(ds: xr.Dataset, dim: str) -> list[str]:
    """One label per grid point: the values of the keys that vary along ``dim``."""
    n = ds.sizes[dim]
    if dim != "point":
        vals = ds[dim].values if dim in ds.coords else np.arange(n)
        return [param_value(dim, v) for v in vals]
    keys = [str(c) for c in ds.coords if ds[c].dims == (dim,) and str(c) != dim]
    varying = [k for k in keys if len({str(v) for v in ds[k].values}) > 1] or keys
    out = []
    for i in range(n):
        parts = []
        for k in varying:
            v = ds[k].values[i]
            if isinstance(v, float) and math.isnan(v):
                continue
            parts.append(param_value(k, v))
        out.append(", ".join(parts) or str(i))
    return out


@shared_doc
def plot_sweep(ds: xr.Dataset, path: str | Path | None = None, pdf: bool = False,
               threshold: float = 0.01, *, ax: Axes | Sequence[Axes] | None = None,
               fig: Figure | None = None) -> Figure:
    """Figures of a grid of ODE runs: ``eg`` with dims (grid dims..., alpha).

    1 grid dimension: (a) ε(α) curves coloured by the grid value, (b) the final ε and the
    α of ε ≤ ε_th against it. 2 grid dimensions: phase diagrams of (a) the final ε and of
    (b) α(ε ≤ ε_th) (the first crossing, interpolated; grey = never). Further dimensions are
    fixed at their first value (said in the title). Datasets without an α axis (one number
    per grid point) are drawn by :func:`plot_grid_summary`.

    Parameters
    ----------
    ds : xarray.Dataset
        A sweep store (``STORE/sweep.nc``) or any dataset with ``eg(grid..., alpha)``.
    %(path)s
    %(pdf)s
    threshold : float
        ε_th of the α(ε ≤ ε_th) panel.
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw into one Axes (its cell is split into the panels) or one Axes per panel.
    %(fig)s

    %(returns)s
    """
    if "eg" not in ds:
        return plot_grid_summary(ds, path, pdf, ax=ax, fig=fig)
    eg = ds["eg"]
    ad = alpha_dim(eg)
    grid = [str(d) for d in eg.dims if d != ad]
    fixed = {d: 0 for d in grid[2:]}
    eg = eg.isel(fixed)
    grid = grid[:2]
    alpha = ds[ad].values
    eg = eg.transpose(*grid, ad)
    th_label = rf"$\alpha$ at $\varepsilon\leq{threshold:g}$"

    def final_and_time(v):
        ok = np.isfinite(v)
        fin = float(v[ok][-1]) if ok.any() else math.nan
        return fin, an.crossing_time(alpha, v, threshold)

    with plt.rc_context(STYLE):
        if len(grid) == 0:
            fig, (ax1,), own = panel_axes(1, ax=ax, fig=fig, figsize=(5, 3.6))
            m = alpha > 0
            ax1.loglog(alpha[m], eg.values[m], color="k")
            ax1.set_xlabel(ALPHA_LABEL)
            ax1.set_ylabel(EG_LABEL)
        elif len(grid) == 1:
            dim = grid[0]
            labels = _point_labels(ds, dim)
            n = len(labels)
            xv = _numeric(ds[dim].values) if dim in ds.coords and dim != "point" else None
            fig, (ax1, ax2), own = panel_axes(2, ax=ax, fig=fig, figsize=(10, 3.8),
                                              wspace=0.45)
            cmap = plt.get_cmap("viridis")
            fins, times = [], []
            m = alpha > 0
            for i in range(n):
                y = eg.values[i]
                ax1.loglog(alpha[m], np.where(y[m] > 0, y[m], np.nan),
                           color=cmap(0.9 * i / max(1, n - 1)), label=labels[i])
                f, t = final_and_time(y)
                fins.append(f)
                times.append(t)
            ax1.set_xlabel(ALPHA_LABEL)
            ax1.set_ylabel(EG_LABEL)
            ax1.set_title("(a) error of each run", loc="left")
            if n <= 10:
                ax1.legend(frameon=False, fontsize=7, loc="lower left")
            else:
                sm = plt.cm.ScalarMappable(cmap=cmap, norm=mcolors.Normalize(
                    vmin=float(np.nanmin(xv)) if xv is not None else 0,
                    vmax=float(np.nanmax(xv)) if xv is not None else n - 1))
                fig.colorbar(sm, ax=ax1, label=param_label(dim) if xv is not None else dim,
                             pad=0.02)
            x = xv if xv is not None else np.arange(n, dtype=float)
            ax2.plot(x, fins, "o-", color="k")
            ax2.set_yscale("log")
            ax2.set_ylabel(r"final " + EG_LABEL)
            ax3 = ax2.twinx()
            ax3.spines["right"].set_visible(True)
            ax3.plot(x, times, "s--", color=TIME_COLOUR)
            ax3.set_ylabel(th_label, color=TIME_COLOUR)
            ax3.tick_params(axis="y", colors=TIME_COLOUR)
            ax3.spines["right"].set_color(TIME_COLOUR)
            if xv is not None:
                ax2.set_xlabel(param_label(dim))
                if _log_axis(xv):
                    ax2.set_xscale("log")
                _grid_ticks(ax2, "x", xv, _log_axis(xv))
            else:
                ax2.set_xticks(x, labels, rotation=25, ha="right", fontsize=7)
                ax2.set_xlabel("grid point")
            ax2.set_title(f"(b) against {param_label(dim)}" if xv is not None
                          else "(b) per grid point", loc="left")
            never = int(np.sum(~np.isfinite(np.asarray(times, float))))
            handles = [Line2D([], [], color="k", marker="o", label="final " + EG_LABEL
                              + " (left)"),
                       Line2D([], [], color=TIME_COLOUR, marker="s", ls="--",
                              label=th_label + " (right)"
                              + (f"; never: {never}" if never else ""))]
            ax2.legend(handles=handles, frameon=False, fontsize=7, loc="best")
        else:
            ydim, xdim = grid
            xs = ds[xdim].values if xdim in ds.coords else np.arange(eg.shape[1])
            ys = ds[ydim].values if ydim in ds.coords else np.arange(eg.shape[0])
            F = np.full((len(ys), len(xs)), np.nan)
            Tm = np.full_like(F, np.nan)
            for i in range(len(ys)):
                for j in range(len(xs)):
                    F[i, j], Tm[i, j] = final_and_time(eg.values[i, j])
            fig, (ax1, ax2), own = panel_axes(2, ax=ax, fig=fig, figsize=(10, 3.9),
                                              wspace=0.35)
            xv = _numeric(xs)
            yv = _numeric(ys)
            xv = xv if xv is not None else np.arange(len(xs), dtype=float)
            yv = yv if yv is not None else np.arange(len(ys), dtype=float)
            lx, ly = _log_axis(xv), _log_axis(yv)
            plot_phase(ax1, xv, yv, F, label=r"final " + EG_LABEL, logx=lx, logy=ly,
                       cmap="magma")
            plot_phase(ax2, xv, yv, Tm, label=th_label, logx=lx, logy=ly, nan_label="never")
            ax1.set_title(rf"(a) final error, $\alpha={alpha[-1]:.3g}$", loc="left")
            ax2.set_title(rf"(b) $\alpha$ to reach $\varepsilon\leq{threshold:g}$"
                          + ("  (grey: never)" if np.any(~np.isfinite(Tm)) else ""), loc="left")
            for a_ in (ax1, ax2):
                a_.set_xlabel(param_label(xdim))
                a_.set_ylabel(param_label(ydim))
                _grid_ticks(a_, "x", xv, lx)
                _grid_ticks(a_, "y", yv, ly)
        t = _sweep_title(ds, fixed)
        if own:
            fig.suptitle(t, y=1.0)
            fig.tight_layout()
        return finish(fig, path, pdf)


def _sweep_title(ds: xr.Dataset, fixed: dict[str, Any]) -> str:
    """The base run without the swept parameters, and the values of the dims held fixed."""
    t = run_title(ds.attrs, exclude=[canonical_key(k) for k in swept_keys(ds)])
    if fixed:
        held = []
        for d in fixed:
            v = ds[d].values[0] if d in ds.coords else 0
            held.append(param_value(d, v) + f" (first of {ds.sizes[d]})")
        t = (t + ";  " if t else "") + "at " + ", ".join(held)
    return t


@shared_doc
def plot_grid_summary(ds: xr.Dataset, path: str | Path | None = None, pdf: bool = False, *,
                      ax: Axes | Sequence[Axes] | None = None,
                      fig: Figure | None = None) -> Figure:
    """Scalar results on a grid (no α axis), e.g. ``figures/data/*.nc``: one panel per
    variable (at most 4); 2-D → heatmap (extra dimensions at their first value), 1-D → curve.

    Parameters
    ----------
    ds : xarray.Dataset
        Numeric variables over grid dimensions.
    %(path)s
    %(pdf)s
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw into one Axes (its cell is split) or one Axes per variable.
    %(fig)s

    %(returns)s
    """
    names = [v for v in ds.data_vars if 1 <= ds[v].ndim and ds[v].dtype.kind == "f"][:4]
    if not names:
        raise ValueError("no gridded numeric variable to draw")
    with plt.rc_context(STYLE):
        fig, axes, own = panel_axes(len(names), ax=ax, fig=fig,
                                    figsize=(4.6 * len(names), 3.7))
        for i, (a_, v) in enumerate(zip(axes, names, strict=True)):
            da = ds[v]
            if da.ndim > 2:
                da = da.isel({d: 0 for d in da.dims[:-2]})
            if da.ndim == 2:
                ydim, xdim = (str(d) for d in da.dims)
                x = _numeric(ds[xdim].values) if xdim in ds.coords else None
                y = _numeric(ds[ydim].values) if ydim in ds.coords else None
                x = x if x is not None else np.arange(da.shape[1], dtype=float)
                y = y if y is not None else np.arange(da.shape[0], dtype=float)
                lx, ly = _log_axis(x), _log_axis(y)
                plot_phase(a_, x, y, da.values, label=_var_label(v), logx=lx, logy=ly)
                a_.set_xlabel(param_label(xdim))
                a_.set_ylabel(param_label(ydim))
                _grid_ticks(a_, "x", x, lx)
                _grid_ticks(a_, "y", y, ly)
            else:
                d0 = str(da.dims[0])
                x = ds[d0].values if d0 in ds.coords else np.arange(da.size)
                a_.plot(x, da.values, "o-", color="k")
                vals = da.values[np.isfinite(da.values)]
                if vals.size and np.all(vals > 0) and vals.max() / vals.min() > 100:
                    a_.set_yscale("log")
                a_.set_xlabel(param_label(d0))
                a_.set_ylabel(_var_label(v))
            a_.set_title(f"({chr(97 + i)}) {_var_label(v)}", loc="left")
        t = _sweep_title(ds, {})
        if own:
            if t:
                fig.suptitle(t)
            fig.tight_layout()
        return finish(fig, path, pdf)
