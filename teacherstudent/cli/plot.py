"""``teacherstudent plot RESULT.nc [-o out.png] [--kind auto|ode|compare|sweep|linear]
[--alpha a1 a2 ...] [--pdf]``.

``auto`` recognises the result from its variables (see
:func:`teacherstudent.plotting.detect_kind`): ``dist`` → linear model; ``*_sim``/``*_ode``
or a ``seed`` dimension → theory vs simulation; ``eg`` with grid dimensions → sweep;
``eg`` + ``R`` → one ODE run. ``--alpha`` adds R heatmaps at those α (ODE runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "figures from a result file (ODE run, comparison, sweep, linear)"
KINDS = ("auto", "ode", "compare", "sweep", "linear")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", help="netCDF result (.nc)")
    parser.add_argument("-o", "--output", default=None,
                        help="figure path (default: RESULT with .png)")
    parser.add_argument("--kind", choices=KINDS, default="auto", help="what the result is")
    parser.add_argument("--alpha", type=float, nargs="+", default=None, metavar="A",
                        help="α values for R heatmaps (ODE runs)")
    parser.add_argument("--pdf", action="store_true", help="also write a PDF next to the PNG")
    parser.add_argument("--threshold", type=float, default=0.01,
                        help="ε threshold for sweep figures (default 0.01)")


def main(args: argparse.Namespace) -> int:
    from .. import plotting
    from ..config import ConfigError
    from ..dataset import load

    path = Path(args.result)
    if not path.exists():
        raise ConfigError(f"result file '{path}' does not exist")
    try:
        ds = load(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read '{path}' as netCDF: {exc}") from exc
    kind = args.kind
    if kind == "auto":
        try:
            kind = plotting.detect_kind(ds)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    out = Path(args.output) if args.output else path.with_suffix(".png")
    fig = None
    try:
        if kind == "ode":
            fig = plotting.plot_ode(ds, out, pdf=args.pdf, alphas=args.alpha)
        elif kind == "compare":
            fig = plotting.plot_compare(ds, out, pdf=args.pdf)
        elif kind == "sweep":
            fig = plotting.plot_sweep(ds, out, pdf=args.pdf, threshold=args.threshold)
        else:
            fig = plotting.plot_linear(ds, out, pdf=args.pdf)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"cannot draw '{path}' as kind '{kind}': {exc}") from exc
    finally:
        if fig is not None:
            plotting.plt.close(fig)
    print(f"{kind} figure: {out}", file=sys.stdout)
    return 0
