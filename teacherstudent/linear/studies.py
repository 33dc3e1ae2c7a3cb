"""What the linear-model studies of the gallery share (``teacherstudent reproduce linear-…``).

The studies themselves live in ``simulations/linear/``: ``NAME.toml`` declares a study — a
``[study]`` table (figure name, description, ``[study.quick]``: the overrides of every
variant in quick mode), a base ``[linear]`` configuration and ``[variants.<label>]`` tables of
overrides, one :func:`teacherstudent.linear.run` per variant (or, for the 1-D study, a
``[depth1d]`` table) — and ``NAME.py`` is its code (see :mod:`teacherstudent.studies` for the
contract). This module holds what they have in common: :func:`run_study`, the steps of every
linear study around its own figure (its ``NAME.py`` is a ``draw`` function and its ``run``);
the variants' configurations (:func:`variant_configs`), the figure layout of the linear
gallery (:func:`figure`, :func:`log_axes`, :func:`panel_letter`, :func:`settings_label`) and
:func:`finish`, which writes ``NAME.png`` and ``NAME.pdf`` and keeps the numbers a figure
quotes in :data:`SUMMARIES`. :data:`STUDIES` are the studies of ``./simulations/linear``.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import FIGURE_METADATA
from ..studies import StudyFolder, read_study, settings

__all__ = [
    "STUDIES",
    "SUMMARIES",
    "read_study",
    "run_study",
    "variant_configs",
    "figure",
    "finish",
    "log_axes",
    "panel_letter",
    "settings_label",
    "final",
    "nanmedian",
]

#: The linear studies (``./simulations/linear`` of the current folder), by name.
STUDIES = StudyFolder(sub="linear")

#: The numbers behind the last figure of each study, by figure name.
SUMMARIES: dict[str, dict[str, Any]] = {}


# --------------------------------------------------------------------------- runs
def variant_configs(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configurations of a study's variants.

    Parameters
    ----------
    spec : dict
        A declaration read by :func:`teacherstudent.studies.read_study`.

    Returns
    -------
    dict of str to dict
        ``{label: {"linear": base | variant | quick}}`` (a single ``"base"`` without
        ``[variants]``; ``quick``: the ``[study.quick]`` overrides in quick mode).
    """
    variants = spec.get("variants") or {"base": {}}
    return {
        lab: {"linear": settings(spec, spec.get("linear", {}), over)}
        for lab, over in variants.items()
    }


def run_study(source: str | Path, out: str | Path, draw: Callable[..., dict[str, Any]],
              ncols: int, width: float = 4.6, height: float = 3.6) -> list[Path]:
    """Run a linear study: its variants, its row of lettered panels, its figure and numbers.

    What every study of ``simulations/linear`` does around its own figure: read the
    declaration beside ``source``; run each variant of its ``[linear]`` table
    (:func:`variant_configs`, :func:`teacherstudent.linear.run`; a declaration without one,
    such as the ``[depth1d]`` study, runs none); lay out ``ncols`` panels (:func:`figure`);
    let ``draw`` fill them; mark them ``(a)``, ``(b)``, ... (:func:`panel_letter`); write the
    figure named by ``[study] figure`` and keep its numbers (:func:`finish`).

    Parameters
    ----------
    source : str or Path
        The study's code (``__file__``) or its declaration.
    out : str or Path
        The folder of the figure.
    draw : callable
        ``draw(ax, runs, spec) -> summary``: fills the panels ``ax`` (a one-dimensional
        array of Axes) from ``runs`` (``{label: xarray.Dataset}``, one per variant) and the
        declaration ``spec``; returns the numbers the figure quotes.
    ncols, width, height
        The layout of the panels, as :func:`figure` takes it.

    Returns
    -------
    list of Path
        ``[out/NAME.png, out/NAME.pdf]``.
    """
    from . import run

    spec = read_study(source)
    configs = variant_configs(spec) if "linear" in spec else {}
    runs = {lab: run(cfg) for lab, cfg in configs.items()}
    fig, ax = figure(ncols, width, height)
    summary = draw(ax, runs, spec)
    for a, letter in zip(ax, string.ascii_lowercase, strict=False):
        panel_letter(a, letter)
    return finish(fig, out, spec["study"]["figure"], summary)


# --------------------------------------------------------------------------- figures
def figure(ncols: int, width: float = 4.6, height: float = 3.6):
    """A row of panels in the style of the linear gallery.

    Parameters
    ----------
    ncols : int
        Panels.
    width, height : float
        Size of one panel (inches).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of Axes
        One-dimensional.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.labelsize": 9.5, "legend.fontsize": 7.5,
                         "axes.titlesize": 9.5, "axes.spines.top": False,
                         "axes.spines.right": False})
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height))
    return fig, np.atleast_1d(axes)


def _json(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(type(v).__name__)


def finish(fig, out: str | Path, name: str, summary: dict[str, Any]) -> list[Path]:
    """Write a study's figure and keep its numbers.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (closed afterwards).
    out : str or Path
        The folder (created when missing).
    name : str
        The figure's name.
    summary : dict
        The numbers it quotes (stored, as plain JSON values, in :data:`SUMMARIES`).

    Returns
    -------
    list of Path
        ``[out/name.png, out/name.pdf]``.
    """
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=160, metadata=FIGURE_METADATA[".png"])
    fig.savefig(paths[1], metadata=FIGURE_METADATA[".pdf"])
    plt.close(fig)
    SUMMARIES[name] = json.loads(json.dumps(summary, default=_json))
    return paths


def log_axes(ax, ylabel: str, title: str | None = None) -> None:
    """Logarithmic y axis against the round, with a light grid.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    ylabel : str
        The y label.
    title : str, optional
        The panel's title.
    """
    ax.set_yscale("log")
    ax.set_xlabel("round $t$")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="major", lw=0.4)
    if title:
        ax.set_title(title)


def panel_letter(ax, letter: str) -> None:
    """Mark a panel ``(a)``, ``(b)``, ... at its top left.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    letter : str
        The letter.
    """
    ax.text(-0.14, 1.03, f"({letter})", transform=ax.transAxes, fontweight="bold")


def settings_label(ds, beta: bool = True) -> str:
    """The settings of a run for a title: ``d``, ``k``, ``n``, ``α`` (and ``β``).

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`teacherstudent.linear.run`.
    beta : bool
        Include the outer rate ``β``.

    Returns
    -------
    str
        A mathtext string.
    """
    a = ds.attrs
    out = (f"$d={a['linear.d']}$, $k={a['linear.k']}$, $n={a['linear.n_tasks']}$, "
           f"$\\alpha={a['linear.alpha']}$")
    return out + (f", $\\beta={a['linear.beta']}$" if beta else "")


# --------------------------------------------------------------------------- numbers
def final(ds, alg: str, var: str = "dist") -> list[float]:
    """The last recorded value of a variable for every seed.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`teacherstudent.linear.run`.
    alg : str
        The algorithm.
    var : str
        The variable (``"dist"``, ``"post_error"``, ...).

    Returns
    -------
    list of float
        One value per seed.
    """
    return [float(x) for x in ds[var].sel(algorithm=alg).isel(round=-1).values]


def nanmedian(x: Any) -> float:
    """Median of the finite values.

    Parameters
    ----------
    x : array_like
        The values.

    Returns
    -------
    float
        The median (NaN when none is finite).
    """
    x = np.asarray(x, dtype=float)
    return float(np.median(x[np.isfinite(x)])) if np.isfinite(x).any() else float("nan")
