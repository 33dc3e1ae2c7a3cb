"""``teacherstudent plot RESULT.nc [-o out.png] [--kind auto|ode|compare|sweep|linear]
[--alpha a1 a2 ...] [--pdf] [--force]``.

``auto`` recognises the result from its variables (see
:func:`teacherstudent.plotting.detect_kind`): ``dist`` → linear model; ``*_sim``/``*_ode``
or a ``seed`` dimension → theory vs simulation; ``eg`` with grid dimensions → sweep;
``eg`` + ``R`` → one ODE run. ``--alpha`` adds R heatmaps at those α (ODE runs). A file of
another kind than ``--kind``, a file that is no result of ours, or one with nothing finite to
draw (every replica diverged at once) is refused with one message (exit status 2), never
drawn as an empty or garbage figure. The figure paths are checked before drawing
(:mod:`teacherstudent.outputs`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_force

HELP = "figures from a result file (ODE run, comparison, sweep, linear)"
KINDS = ("auto", "ode", "compare", "sweep", "linear")
#: the ``kind`` attribute our datasets carry → the figure that draws them
_RECORDED = {"ode": "ode", "simulation": "compare", "compare": "compare", "sweep": "sweep",
             "linear": "linear", "grid": "sweep"}
#: the variable whose values a figure of each kind needs (one finite value at least)
_MAIN = {"ode": ("eg",), "compare": ("eg_sim", "eg", "eg_ode"), "linear": ("dist",),
         "sweep": ("eg", "eg_final", "alpha_threshold")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="netCDF result (.nc)")
    parser.add_argument("-o", "--output", default=None,
                        help="figure path (default: RESULT with .png)")
    parser.add_argument("--kind", choices=KINDS, default="auto",
                        help="what the result is (auto: recognised; another kind than the "
                        "file's is refused)")
    parser.add_argument("--alpha", type=float, nargs="+", default=None, metavar="A",
                        help="α values for R heatmaps (ODE runs)")
    parser.add_argument("--pdf", action="store_true", help="also write a PDF next to the PNG")
    parser.add_argument("--threshold", type=float, default=0.01,
                        help="ε threshold for sweep figures (default 0.01)")
    add_force(parser)


def result_kind(ds, path: Path) -> str:
    """The figure kind of a dataset: from its recorded ``kind`` when it is ours, else
    recognised from its variables; ConfigError when it fits none."""
    from .. import plotting
    from ..config import ConfigError

    recorded = _RECORDED.get(str(ds.attrs.get("kind", "")))
    try:
        detected = plotting.detect_kind(ds)
    except ValueError as exc:
        raise ConfigError(f"'{path}' is not a result teacherstudent can draw: {exc}") from None
    if recorded is not None and recorded != detected and not (
            recorded == "sweep" or detected == "sweep"):
        raise ConfigError(f"'{path}' records kind {ds.attrs['kind']!r} but holds the "
                          f"variables of a {detected!r} result; it cannot be drawn")
    return recorded or detected


def _check_structure(ds, path: Path, kind: str) -> None:
    """A file we did not write (no ``teacherstudent_version``) is drawn only when it holds
    what the kind's figure draws, with its dimensions: never a figure of someone's data."""
    from ..config import ConfigError

    if "teacherstudent_version" in ds.attrs:
        return
    v = ds.data_vars

    def has(name: str, *dims: str) -> bool:
        return name in v and all(d in v[name].dims for d in dims)

    ok = {
        "ode": has("eg", "alpha") and has("R", "alpha"),
        "compare": any(has(n, "alpha") for n in ("eg_sim", "eg_ode")) or has("eg", "seed",
                                                                             "alpha"),
        "linear": has("dist", "algorithm", "round"),
        "sweep": has("eg", "alpha") or any(str(n).startswith(("eg_", "alpha_", "min_"))
                                           for n in v),
    }[kind]
    if not ok:
        raise ConfigError(f"'{path}' is not a teacherstudent result (no teacherstudent_version "
                          f"attribute) and does not hold the variables of a {kind} figure "
                          f"(it has: {', '.join(map(str, v)) or 'none'})")


def _check_drawable(ds, path: Path, kind: str) -> None:
    """Refuse a dataset with nothing finite to draw (say why: its status message)."""
    import numpy as np

    from ..config import ConfigError

    for name in _MAIN[kind]:
        if name in ds.data_vars:
            da = ds[name]
            if "alpha" in da.dims and "alpha" in ds.coords:  # log axes: α > 0 only
                da = da.isel(alpha=np.flatnonzero(ds["alpha"].values > 0))
            values = np.asarray(da.values, dtype=float)
            if not np.isfinite(values).any():
                why = ds.attrs.get("message", "")
                raise ConfigError(f"'{path}': nothing to draw, every value of {name} "
                                  "(at alpha > 0) is NaN or infinite"
                                  + (f" ({why})" if why else ""))
            return
    if kind != "sweep":
        raise ConfigError(f"'{path}' has none of {', '.join(_MAIN[kind])}: not a {kind} result")


def main(args: argparse.Namespace) -> int:
    from .. import plotting
    from ..config import ConfigError
    from ..dataset import load
    from ..outputs import check_output
    from .common import write_figure

    path = Path(args.result)
    if not path.exists():
        raise ConfigError(f"result file '{path}' does not exist")
    if path.is_dir():
        raise ConfigError(f"result file '{path}' is a folder (a sweep's result is "
                          f"{path / 'sweep.nc'})")
    try:
        ds = load(path)
    except Exception as exc:  # noqa: BLE001 - any reader error: not a netCDF we can read
        raise ConfigError(f"cannot read '{path}' as netCDF: {type(exc).__name__}: {exc}"
                          ) from None
    kind = result_kind(ds, path)
    if args.kind != "auto" and args.kind != kind:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ConfigError(f"--kind {args.kind}: '{path}' is {article} {kind} result (draw it with "
                          f"--kind {kind}, or leave --kind out)")
    _check_structure(ds, path, kind)
    _check_drawable(ds, path, kind)
    out = Path(args.output) if args.output else path.with_suffix(".png")
    check_output(out, what="-o", inputs=[path], force=args.force)
    if args.pdf and out.suffix.lower() != ".pdf":
        check_output(out.with_suffix(".pdf"), what="--pdf", inputs=[path], force=args.force)

    def draw(p: Path) -> None:
        fig = None
        before = set(plotting.plt.get_fignums())
        try:
            if kind == "ode":
                fig = plotting.plot_ode(ds, p, pdf=args.pdf, alphas=args.alpha)
            elif kind == "compare":
                fig = plotting.plot_compare(ds, p, pdf=args.pdf)
            elif kind == "sweep":
                fig = plotting.plot_sweep(ds, p, pdf=args.pdf, threshold=args.threshold)
            else:
                fig = plotting.plot_linear(ds, p, pdf=args.pdf)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise ConfigError(f"cannot draw '{path}' as kind '{kind}': {exc}") from None
        finally:
            for num in set(plotting.plt.get_fignums()) - before:  # also a half-drawn one
                plotting.plt.close(num)
            if fig is not None:
                plotting.plt.close(fig)

    out = write_figure(draw, out)
    print(f"{kind} figure: {out}", file=sys.stdout)
    return 0
