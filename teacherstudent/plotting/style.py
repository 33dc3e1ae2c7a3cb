"""Shared style of every figure: rc parameters, labels, colours, parameter symbols, the
figure/axes a plot function draws into, seed bands and saving.

Conventions shared by every figure:

* colour = **teacher unit** (:func:`teacher_colour`); in the linear model, colour =
  algorithm (:data:`teacherstudent.plotting.linear.COLORS`);
* theory (ODE) as lines, drawn on top; simulations as the seed mean (small, light markers)
  with a ±1 s.d. band (:func:`seed_band`), drawn below the theory;
* a parameter is named by its symbol everywhere (axes, legends, titles):
  :data:`PARAM_SYMBOLS` maps the dotted configuration keys to LaTeX
  (``algorithm.eta_J`` → ``$\\eta_J$``), :func:`param_label` falls back to the key.

A plot function creates its own figure unless given ``ax=`` (one Axes, or one per panel) or
``fig=`` (:func:`panel_axes`, :func:`panel_grid`); it returns the
:class:`matplotlib.figure.Figure` and writes a file only when given a path
(:func:`finish`).
"""

from __future__ import annotations

import math
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib

# headless by default (CLI, tests, batch jobs); a notebook or an explicit MPLBACKEND keeps its
# own backend, so that the returned figures display there
if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..outputs import FIGURE_METADATA  # noqa: E402

if TYPE_CHECKING:
    import xarray as xr

    from ..dataset import Table

__all__ = [
    "plt",
    "STYLE",
    "TEACHER_COLOURS",
    "THEORY_COLOUR",
    "SIM_COLOUR",
    "ALPHA_LABEL",
    "EG_LABEL",
    "EG_PRE_LABEL",
    "PARAM_SYMBOLS",
    "teacher_colour",
    "canonical_key",
    "param_label",
    "param_value",
    "fmt",
    "run_title",
    "savefig",
    "finish",
    "FIGURE_DOCS",
    "shared_doc",
    "panel_axes",
    "panel_grid",
    "alpha_dim",
    "positive_alpha",
    "seed_band",
    "sim_handle",
    "heatmap",
    "log_n_axis",
]

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "figure.dpi": 100,
    "savefig.dpi": 170,
    "mathtext.fontset": "dejavusans",
}

# colour-blind friendly (Okabe-Ito + extras); teacher unit n -> TEACHER_COLOURS[n % len]
TEACHER_COLOURS = [
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C564B",
    "#7F7F7F",
    "#BCBD22",
    "#000000",
]
THEORY_COLOUR = "k"  # ε(α) of the theory
SIM_COLOUR = "#D55E00"  # ε(α) of a simulation

ALPHA_LABEL = r"$\alpha$ (tasks / $N$)"
EG_LABEL = r"$\varepsilon_g^{\rm meta}$"
EG_PRE_LABEL = r"$\varepsilon_g$ at $w$ (no adaptation)"

#: Symbols of the configuration keys (mathtext). Keys not listed are named by the key itself.
PARAM_SYMBOLS: dict[str, str] = {
    # the two-layer erf model (teacherstudent.config)
    "model.K": r"$K$",
    "model.M": r"$M$",
    "model.noise": r"$\sigma$",
    "model.activation": "activation",
    "model.readout": "readout",
    "tasks.head_mean": r"$\bar u$",
    "tasks.head_cov": r"$\Sigma_u$",
    "tasks.gamma": r"$\gamma$",
    "tasks.teacher_overlap": r"$T$",
    "algorithm.name": "algorithm",
    "algorithm.eta_J": r"$\eta_J$",
    "algorithm.eta_w": r"$\eta_w$",
    "algorithm.eta_0": r"$\eta_0$",
    "algorithm.eta_in_J": r"$\eta_J^{\rm in}$",
    "algorithm.inner_steps": r"$s$",
    "algorithm.train_size": r"$P$",
    "algorithm.val_size": r"$V$",
    "init.Q": r"$Q(0)$",
    "init.R": r"$R(0)$",
    "init.w": r"$w(0)$",
    "init.seed": "initial seed",
    "run.alpha_max": r"$\alpha_{\max}$",
    "run.eg_threshold": r"$\varepsilon_{\rm th}$",
    "run.solver": "solver",
    "run.dt": r"$\Delta\alpha$",
    "run.rtol": "rtol",
    "run.atol": "atol",
    "simulation.N": r"$N$",
    "simulation.seeds": "seeds",
    # the linear model (teacherstudent.linear)
    "linear.d": r"$d$",
    "linear.k": r"$k$",
    "linear.k_model": r"$k'$",
    "linear.n_tasks": r"$n$",
    "linear.m_in": r"$m_{\rm in}$",
    "linear.m_out": r"$m_{\rm out}$",
    "linear.mu": r"$\mu$",
    "linear.head_mean": r"$\bar\theta$",
    "linear.noise": r"$\sigma$",
    "linear.alpha": r"$\alpha$",
    "linear.beta": r"$\beta$",
    "linear.inner_steps": r"$s$",
    "linear.tau": r"$\tau$",
    "linear.rounds": r"$T$",
    "linear.task_pool": r"$P$",
    "linear.head_init": r"$w_0$",
    "linear.init_dist": r"${\rm dist}(B_0, B_*)$",
}

# the last part of a key of the erf model ("eta_J", "K", ...), for results whose dimensions
# are named without the table (figures/data/*.nc); the linear keys are reached by full name
_BARE = {k.split(".", 1)[1]: k for k in PARAM_SYMBOLS if not k.startswith("linear.")}
_BARE.update({"N": "simulation.N"})


def teacher_colour(n: int) -> str:
    """The colour of teacher unit ``n`` (0-based)."""
    return TEACHER_COLOURS[int(n) % len(TEACHER_COLOURS)]


def canonical_key(name: str) -> str:
    """The dotted configuration key a name stands for (``"eta_J"`` → ``"algorithm.eta_J"``);
    the name itself when it is not a known parameter."""
    name = str(name)
    if name in PARAM_SYMBOLS:
        return name
    return _BARE.get(name, name)


def param_label(name: str) -> str:
    """The symbol of a parameter for an axis or a legend (the name itself when unknown)."""
    return PARAM_SYMBOLS.get(canonical_key(name), str(name))


def fmt(v: Any) -> str:
    """A short number (``3``, ``0.01``, ``∞``), or ``str(v)`` for anything else."""
    if isinstance(v, bytes):
        v = v.decode()
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isinf(f):
        return "∞" if f > 0 else "−∞"
    return f"{f:g}"


def param_value(name: str, value: Any) -> str:
    """``symbol = value`` in mathtext (``"$\\eta_J=3$"``), or ``"name = value"``."""
    sym = param_label(name)
    v = fmt(value)
    if name == "algorithm.name" or canonical_key(name) == "algorithm.name":
        return v.upper()
    if sym.startswith("$") and sym.endswith("$") and sym.count("$") == 2:
        inner = r"\infty" if v == "∞" else v
        return f"${sym[1:-1]}={inner}$"
    return f"{sym} = {v}"


def run_title(attrs: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """One-line description of a run from its attrs: algorithm, K, M, the rates (and s, γ
    when not 1). Keys in ``exclude`` (e.g. the swept parameters of a sweep, whose base value
    does not describe the figure) are left out."""
    skip = {canonical_key(k) for k in exclude}
    a = attrs
    parts = []
    if "algorithm.name" in a and "algorithm.name" not in skip:
        parts.append(str(a["algorithm.name"]).upper())
    km = [param_value(k, a[k]) for k in ("model.K", "model.M") if k in a and k not in skip]
    if km:
        parts.append(", ".join(km))
    for key in ("algorithm.eta_J", "algorithm.eta_w"):
        if key in a and key not in skip:
            parts.append(param_value(key, a[key]))
    optional = (("algorithm.inner_steps", 1.0), ("tasks.gamma", 1.0))
    for key, default in optional:
        if key in a and key not in skip:
            try:
                plain = float(a[key]) == default
            except (TypeError, ValueError):
                plain = False
            if not plain:
                parts.append(param_value(key, a[key]))
    return ",  ".join(parts)


def savefig(fig: Figure, path: str | Path, pdf: bool = False, close: bool = True) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix says otherwise), with ``pdf`` also a
    PDF next to it; ``close`` (default) closes the figure afterwards.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or pathlib.Path
        Where to write it; missing folders are created.
    pdf : bool
        Also write ``path`` with suffix ``.pdf``.
    close : bool
        Close the figure after writing (``plt.close``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the metadata marks the file as ours (teacherstudent.outputs.is_result): --force may
    # replace it, a foreign file of the same name is never replaced
    metadata = FIGURE_METADATA.get(path.suffix.lower())
    if path.suffix.lower() != ".png" or not _tight_png(fig, path, STYLE["savefig.dpi"], metadata):
        fig.savefig(path, dpi=STYLE["savefig.dpi"], bbox_inches="tight", metadata=metadata)
    if pdf and path.suffix.lower() != ".pdf":
        fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight",
                    metadata=FIGURE_METADATA[".pdf"])
    if close:
        plt.close(fig)
    return path


def _tight_png(fig: Figure, path: Path, dpi: float, metadata: dict[str, str] | None) -> bool:
    """Write the PNG of ``savefig(bbox_inches="tight")`` from one render instead of two.

    ``savefig`` lays the whole figure out once to find its tight box and then draws it
    again, cropped; here the figure is drawn once on the full canvas and the tight box
    (padded by ``savefig.pad_inches``, rounded out to whole pixels) is cut out of it; padding
    beyond the canvas is the figure's face colour, as in ``savefig``'s output. The figure's
    canvas and dpi are restored afterwards. Returns False, writing nothing, when the content
    itself reaches more than a pixel past the figure's edge (a title above it): only
    ``savefig`` can grow the canvas.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.image import imsave

    canvas0, dpi0 = fig.canvas, fig.dpi
    try:
        canvas = FigureCanvasAgg(fig)  # headless, whatever backend shows the figure
        fig.dpi = dpi
        canvas.draw()
        box = fig.get_tightbbox(canvas.get_renderer())  # inches
        width, height = canvas.get_width_height()
        if (box.x0 * dpi < -1 or box.y0 * dpi < -1 or box.x1 * dpi > width + 1
                or box.y1 * dpi > height + 1):
            return False
        box = box.padded(matplotlib.rcParams["savefig.pad_inches"])
        x0, x1 = math.floor(box.x0 * dpi), math.ceil(box.x1 * dpi)
        y0, y1 = math.floor(box.y0 * dpi), math.ceil(box.y1 * dpi)  # from the bottom
        # the padded box on a face-coloured sheet, the rendered canvas pasted into it
        face = np.round(np.multiply(to_rgba(fig.get_facecolor()), 255)).astype(np.uint8)
        out = np.empty((y1 - y0, x1 - x0, 4), np.uint8)
        out[...] = face
        rows = slice(max(height - y1, 0), min(height - y0, height))
        cols = slice(max(x0, 0), min(x1, width))
        out[rows.start - (height - y1):rows.stop - (height - y1),
            cols.start - x0:cols.stop - x0] = np.asarray(canvas.buffer_rgba())[rows, cols]
        imsave(path, out, format="png", dpi=dpi, metadata=metadata)
        return True
    finally:
        fig.dpi = dpi0
        fig.set_canvas(canvas0)


def finish(fig: Figure, path: str | Path | None = None, pdf: bool = False) -> Figure:
    """The last step of a plot function: write ``fig`` when given a path (it stays open)."""
    if path is not None:
        savefig(fig, path, pdf=pdf, close=False)
    return fig


#: The docstring entries that every figure function shares (:func:`shared_doc`).
FIGURE_DOCS: dict[str, str] = {
    "path": "path : str or pathlib.Path, optional\n"
            "    Write the figure there (PNG); nothing is written without it.",
    "pdf": "pdf : bool\n    With ``path``, also write a PDF next to it.",
    "fig": "fig : matplotlib.figure.Figure, optional\n    Draw into this (empty) figure.",
    "returns": "Returns\n-------\nmatplotlib.figure.Figure\n    The figure.",
}

_F = TypeVar("_F", bound=Callable[..., Any])


def shared_doc(fn: _F) -> _F:
    """Write the entries that every figure function shares into its docstring.

    Each line ``%(path)s``, ``%(pdf)s``, ``%(fig)s`` or ``%(returns)s`` of the docstring
    becomes that entry of :data:`FIGURE_DOCS`, at the line's indentation.

    Parameters
    ----------
    fn : callable
        A figure function (decorated: ``@shared_doc``).

    Returns
    -------
    callable
        ``fn``, with its docstring completed.
    """
    if fn.__doc__:
        fn.__doc__ = re.sub(r"^( *)%\((\w+)\)s$",
                            lambda m: textwrap.indent(FIGURE_DOCS[m[2]], m[1]),
                            fn.__doc__, flags=re.MULTILINE)
    return fn


def _new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    if fig is not None:
        return fig
    return plt.figure(figsize=figsize)


def panel_axes(
    n: int = 1,
    *,
    ax: Axes | Sequence[Axes] | None = None,
    fig: Figure | None = None,
    figsize: tuple[float, float] = (5.0, 3.6),
    **gridspec_kw: Any,
) -> tuple[Figure, list[Axes], bool]:
    """The figure and a row of ``n`` panels a plot function draws into.

    Parameters
    ----------
    n : int
        Number of panels.
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Draw there: one Axes per panel, or one Axes whose cell is split into ``n`` panels
        (the Axes itself is removed when ``n > 1``).
    fig : matplotlib.figure.Figure, optional
        Add the panels to this (empty) figure.
    figsize : tuple of float
        Size of a new figure (neither ``ax`` nor ``fig`` given).
    **gridspec_kw
        ``width_ratios``, ... for the row of panels; ``wspace`` applies inside the cell of
        ``ax`` only (a new figure is laid out by ``tight_layout``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of matplotlib.axes.Axes
    own_layout : bool
        Whether the caller may lay the whole figure out (``tight_layout``): false when
        drawing into a cell of someone else's figure.
    """
    if ax is not None:
        if isinstance(ax, Axes):
            if n == 1:
                return ax.figure, [ax], False
            figure = ax.figure
            spec = ax.get_subplotspec()
            if spec is None:
                raise ValueError("ax= must be a grid subplot to hold several panels")
            ax.remove()
            gs = spec.subgridspec(1, n, **gridspec_kw)
            return figure, [figure.add_subplot(gs[0, i]) for i in range(n)], False
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) != n:
            raise ValueError(f"ax= needs one Axes or {n} Axes, got {len(axes)}")
        return axes[0].figure, axes, False
    figure = _new_figure(fig, figsize)
    # spacing is left to tight_layout (a grid with its own wspace is not compatible with it)
    gs = figure.add_gridspec(1, n, **{k: v for k, v in gridspec_kw.items()
                                      if k not in ("wspace", "hspace")})
    return figure, [figure.add_subplot(gs[0, i]) for i in range(n)], True


def panel_grid(
    nrows: int,
    ncols: int,
    *,
    ax: Axes | None = None,
    fig: Figure | None = None,
    figsize: tuple[float, float] = (8.0, 6.0),
    margins: Mapping[str, float] | None = None,
    **gridspec_kw: Any,
):
    """A grid spec for a multi-panel layout: in a new figure, in ``fig``, or in the cell of
    ``ax`` (which is removed). ``margins`` (``top``, ``bottom``, ...) apply to a figure-level
    grid only. Returns ``(fig, gridspec, own_layout)`` as :func:`panel_axes`."""
    if ax is not None:
        spec = ax.get_subplotspec()
        if spec is None:
            raise ValueError("ax= must be a grid subplot")
        figure = ax.figure
        ax.remove()
        return figure, spec.subgridspec(nrows, ncols, **gridspec_kw), False
    figure = _new_figure(fig, figsize)
    return figure, figure.add_gridspec(nrows, ncols, **gridspec_kw, **dict(margins or {})), True


def alpha_dim(da: xr.DataArray) -> str | None:
    """The α dimension of ``da`` (the first whose name starts with ``alpha``), else None."""
    for d in da.dims:
        if str(d).startswith("alpha"):
            return str(d)
    return None


def positive_alpha(ds: xr.Dataset | Table, dim: str = "alpha") -> xr.Dataset | Table:
    """``ds`` (a dataset or a :class:`~teacherstudent.dataset.Table`) at α > 0 (log axes)."""
    return ds.isel({dim: np.nonzero(np.asarray(ds[dim]) > 0)[0]})


def seed_band(ax: Axes, x: np.ndarray, sims: np.ndarray, colour: str, label: str | None = None,
              *, log: bool = False, max_markers: int = 45, marker: str = "o") -> None:
    """A simulation: seed mean as small, light markers on a thin line, with a ±1 s.d. band;
    drawn below the theory lines (zorder 1–2) so that they never hide them.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    x : numpy.ndarray
        Abscissae, shape (x,).
    sims : numpy.ndarray
        Values, shape (seed, x); NaN (a diverged seed) is skipped.
    colour : str
        Of the markers, line and band.
    label : str, optional
        Legend label (use :func:`sim_handle` for a legend built by hand).
    log : bool
        For log axes: non-positive values are dropped and the band kept positive.
    max_markers : int
        At most about this many markers (every n-th point).
    marker : str
        Marker style.

    Returns
    -------
    None
    """
    sims = np.atleast_2d(np.asarray(sims, dtype=float))
    x = np.asarray(x, dtype=float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (diverged seeds)
        if log:
            sims = np.where(sims > 0, sims, np.nan)
        mean = np.nanmean(sims, axis=0)
        sd = np.nanstd(sims, axis=0)
        lo, hi = mean - sd, mean + sd
        if log:
            lo = np.where(lo > 0, lo, np.nanmin(sims, axis=0))
    if sims.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=colour, alpha=0.2, lw=0, zorder=1)
    every = max(1, int(math.ceil(np.count_nonzero(np.isfinite(mean)) / max(1, max_markers))))
    ax.plot(x, mean, ls="-", lw=0.8, marker=marker, ms=3.2, color=colour, alpha=0.7, mew=0,
            markevery=every, label=label, zorder=2)


def sim_handle(colour: str, label: str) -> Line2D:
    """The legend entry of a :func:`seed_band`."""
    return Line2D([], [], ls="-", lw=0.8, marker="o", ms=3.2, color=colour, alpha=0.7, mew=0,
                  label=label)


def heatmap(ax: Axes, mat: np.ndarray, title: str, ylabels: Sequence[str], vmax: float = 1.0):
    """A K×M overlap matrix as a diverging heatmap (values written in when small).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    mat : numpy.ndarray
        Shape (K, M): rows student units, columns teacher units.
    title : str
        Panel title.
    ylabels : sequence of str
        One label per row.
    vmax : float
        Colour range ``[-vmax, vmax]``.

    Returns
    -------
    matplotlib.image.AxesImage
        The image (for a colour bar).
    """
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="equal")
    K, M = mat.shape
    ax.set_xticks(range(M), [str(n + 1) for n in range(M)])
    ax.set_yticks(range(K), ylabels, fontsize=7 if K > 6 else 8)
    ax.set_xlabel("teacher unit $n$")
    ax.set_title(title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    if K <= 8 and M <= 8:
        for i in range(K):
            for j in range(M):
                v = mat[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                        color="w" if abs(v) > 0.6 * vmax else "k")
    return im


def log_n_axis(ax: Axes, sizes: Sequence[int]) -> None:
    """Log–log axes against the input dimension ``N``, ticked at the sizes simulated.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    sizes : sequence of int
        The ``N`` of the study, increasing.
    """
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 1.5)
    ax.set_xlabel("input dimension $N$")
