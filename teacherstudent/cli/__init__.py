"""The ``teacherstudent`` command line.

Each sub-command lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``main(args) -> int``; this file only dispatches. Bad input anywhere raises
:class:`~teacherstudent.config.ConfigError`, which becomes one message on stderr and exit
status 2 — never a traceback. A run that diverged exits with 1, an interrupted one (Ctrl-C)
with 130 after saying what it kept; the output rule is :mod:`teacherstudent.cli.common`'s.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..config import ConfigError

# name -> (module, one-line help). Only the chosen command's module is imported, so that
# `teacherstudent ode` does not pay for torch or dask.
COMMANDS = {
    "ode": ("teacherstudent.cli.ode", "integrate the order-parameter ODEs"),
    "simulate": (
        "teacherstudent.cli.simulate",
        "Monte Carlo simulation at finite N (PyTorch)",
    ),
    "compare": (
        "teacherstudent.cli.compare",
        "simulation vs theory from the same initial overlaps",
    ),
    "sweep": ("teacherstudent.cli.sweep", "grids of runs on Dask, resumable"),
    "plot": ("teacherstudent.cli.plot", "figures from a result file"),
    "linear": ("teacherstudent.cli.linear", "linear representation learning dynamics"),
    "stability": ("teacherstudent.cli.stability", "plateau fixed point, escape rate, predicted α*"),
    "reproduce": ("teacherstudent.cli.reproduce", "run the gallery studies of ./simulations"),
    "config": ("teacherstudent.cli.config", "print the defaults, write a template, explain a key"),
    "compile": ("teacherstudent.cli.compile", "compile the ODE solver ahead of time (fast start)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse already exits 2; keep its one-line style
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported and given its full arguments."""
    from ..version import __version__

    parser = _Parser(
        prog="teacherstudent",
        description="Statistical physics of meta-learning: order-parameter ODEs, simulations "
        "and linear representation learning.",
        epilog="Configuration keys: `teacherstudent config` prints every table with its "
        "defaults, `teacherstudent config --explain TABLE.KEY` explains a key, "
        "`teacherstudent config --template FILE` writes a commented configuration file. "
        "`teacherstudent COMMAND --help` describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"teacherstudent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (modname, help_) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_, add_help=False)
            continue
        try:
            mod = import_module(modname)
        except ImportError as exc:  # keep the rest of the CLI usable
            p = sub.add_parser(name, help=help_)
            p.set_defaults(_unavailable=str(exc))
            continue
        p = sub.add_parser(name, help=help_, description=getattr(mod, "HELP", help_))
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"teacherstudent {args.command}: unavailable ({args._unavailable})", file=sys.stderr)
        return 2
    # the command's own arguments, for the continuation command an interrupted run prints
    args.argv = argv[argv.index(args.command) + 1:] if args.command in argv else []
    try:
        return int(args._main(args) or 0)
    except ConfigError as exc:
        print(f"teacherstudent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a command that keeps partial results says so itself
        print(f"teacherstudent {args.command}: interrupted before any result was written",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
