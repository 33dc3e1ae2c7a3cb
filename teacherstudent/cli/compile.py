"""``teacherstudent compile [--status] [--force]``.

Compiles the ODE solver ahead of time (:mod:`teacherstudent.ode.aot`): every later
``teacherstudent ode`` (and :func:`teacherstudent.ode.integrate`) with ``K < 12`` students
then starts from that module in milliseconds instead of loading numba (most of a second),
with the same numbers bit for bit. Run it once after installing or upgrading; after an edit
of the kernels or on another processor the module no longer matches and the JIT kernels run
until it is compiled again.
"""

from __future__ import annotations

import argparse
import sys

from .common import report

HELP = ("compile the ODE solver ahead of time: later runs start in a fraction of a second "
        "(once after installing; the same numbers as without)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``teacherstudent compile``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    parser.add_argument("--status", action="store_true",
                        help="say whether the compiled module is there and current, and where "
                        "it lives; compile nothing")
    parser.add_argument("--force", action="store_true",
                        help="compile again even when the module is current")


def main(args: argparse.Namespace) -> int:
    """Compile the module (or report on it).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    int
        0 when the module is current (compiled now or before); 1 when the compilation
        failed (the JIT kernels keep running, nothing is written).
    """
    from ..ode import aot

    path = aot.module_path()
    if args.status:
        if path is not None:
            print(f"compiled: {path} (used for K < {aot.BLOCK_K})")
        else:
            print(f"not compiled for these sources and this processor (it would go to "
                  f"{aot.kernel_dir()}); `teacherstudent compile` builds it")
        return 0
    if path is not None and not args.force:
        report("compile", f"already compiled and current: {path}")
        return 0
    report("compile", "compiling the ODE solver ahead of time (one to three minutes, once)")
    tick = None
    status = None
    if sys.stderr.isatty():
        from rich.console import Console

        status = Console(stderr=True).status("compiling")
        status.start()

        def tick(elapsed: float) -> None:
            status.update(f"compiling ({elapsed:.0f} s)")

    try:
        path = aot.build(tick=tick)
    except aot.BuildError as exc:
        report("compile", f"{exc}\nnothing was written; runs use the JIT kernels as before")
        return 1
    finally:
        if status is not None:
            status.stop()
    report("compile", f"wrote {path}: runs with K < {aot.BLOCK_K} start from it")
    return 0
