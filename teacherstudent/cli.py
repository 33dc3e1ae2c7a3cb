"""The ``teacherstudent`` command line.

Each sub-command lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``main(args) -> int``; this file only dispatches. Bad input anywhere raises
:class:`~teacherstudent.config.ConfigError`, which becomes one message on stderr and exit
status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from .config import ConfigError

COMMANDS = {
    "ode": "teacherstudent.cli_ode",
    "simulate": "teacherstudent.simulation.cli_simulate",
    "compare": "teacherstudent.simulation.cli_compare",
    "sweep": "teacherstudent.sweep.cli",
    "plot": "teacherstudent.plot_cli",
    "linear": "teacherstudent.linear.cli",
    "reproduce": "teacherstudent.reproduce",
}

_FALLBACK_HELP = {
    "ode": "integrate the order-parameter ODEs",
    "simulate": "Monte Carlo simulation at finite N (PyTorch)",
    "compare": "simulation vs theory from the same initial overlaps",
    "sweep": "grids of runs on Dask, resumable",
    "plot": "figures from a result file",
    "linear": "linear representation learning dynamics",
    "reproduce": "regenerate the figure gallery",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse already exits 2; keep its one-line style
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="teacherstudent",
        description="Statistical physics of meta-learning: order-parameter ODEs, simulations "
        "and linear representation learning.",
    )
    parser.add_argument("--version", action="version", version=f"teacherstudent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, modname in COMMANDS.items():
        try:
            mod = import_module(modname)
        except ImportError as exc:  # keep the rest of the CLI usable
            p = sub.add_parser(name, help=f"{_FALLBACK_HELP[name]} (unavailable: {exc})")
            p.set_defaults(_unavailable=str(exc))
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"teacherstudent {args.command}: unavailable ({args._unavailable})", file=sys.stderr)
        return 2
    try:
        return int(args._main(args) or 0)
    except ConfigError as exc:
        print(f"teacherstudent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"teacherstudent {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
