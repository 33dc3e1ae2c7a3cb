"""``teacherstudent ode [CONFIG.toml] [-o out.nc] [--set key=value ...] [--force]``.

The dataset and the figure are checked before the run (:mod:`teacherstudent.outputs`). On a
terminal, a run lasting more than a second shows the α reached and ε. Ctrl-C stops the run
within a fraction of a second, writes the trajectory so far (status ``interrupted``) and
prints the command that continues it (``--extend OUT -o OUT``); exit status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .common import add_force, report

HELP = "integrate the order-parameter ODEs (built-in default: the paper-like FO-ANIL run)"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """CONFIG and --set, shared by the commands that read a model configuration."""
    parser.add_argument(
        "config", nargs="?", default=None, help="TOML config (default: the built-in defaults)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override a config key, e.g. --set algorithm.eta_J=2 (repeatable; every key: "
        "teacherstudent config --explain TABLE)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", default="ode.nc", help="netCDF result (default ode.nc)")
    parser.add_argument("--extend", default=None, metavar="PREVIOUS.nc",
                        help="continue a finished or interrupted run (its recorded config, "
                        "with --set, e.g. --set run.alpha_max=5000) and write the whole "
                        "trajectory; -o may name PREVIOUS.nc itself (it is replaced by the "
                        "longer run, which keeps every old point)")
    parser.add_argument("--plot", default=None, help="PNG figure (default: next to the output)")
    parser.add_argument("--no-plot", action="store_true", help="do not write a figure")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress display (shown on a terminal for runs over ~1 s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary")
    add_force(parser)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


class _Progress:
    """α reached and ε on stderr (rich), shown only after the run lasted ``delay`` seconds."""

    def __init__(self, enabled: bool, alpha_max: float, delay: float = 1.0):
        self.enabled = enabled
        self.alpha_max = alpha_max
        self.start = time.perf_counter() + delay
        self.bar = None

    def __call__(self, alpha: float, eg: float) -> None:
        if not self.enabled or time.perf_counter() < self.start:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("ode"), BarColumn(),
                TextColumn("α = {task.completed:.5g} / {task.total:.5g}"),
                TextColumn("ε = {task.fields[eg]:.4g}"), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("ode", total=self.alpha_max, eg=eg)
        self.bar.update(self.task, completed=alpha, eg=eg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config, parse_overrides
    from ..dataset import load
    from ..interrupts import EXIT_INTERRUPTED
    from ..ode import extend, integrate_table
    from ..ode.solver_state import INTERRUPTED
    from ..outputs import check_output
    from .common import write_dataset, write_figure

    overrides = parse_overrides(args.overrides)
    out = Path(args.output)
    previous = Path(args.extend) if args.extend is not None else None
    if previous is not None:
        if args.config is not None:
            raise ConfigError("--extend takes the config recorded in PREVIOUS.nc; give "
                              "changes with --set, not a config file")
        if not previous.is_file():
            raise ConfigError(f"--extend: no such file '{previous}'")
        try:  # for the progress display only: extend() names any problem of the file
            attrs = load(previous).attrs
        except (OSError, ValueError):
            attrs = {}
        alpha_max = _number(overrides.get("run.alpha_max", attrs.get("run.alpha_max")))
        cfg = None
    else:
        cfg = load_config(args.config, overrides)
        alpha_max = cfg["run"]["alpha_max"]
    in_place = previous is not None and _same_file(out, previous)
    inputs = [args.config, previous]
    check_output(out, what="-o", inputs=inputs, force=args.force, replaces_input=in_place)
    fig_path = None
    if not args.no_plot:
        fig_path = Path(args.plot) if args.plot else out.with_suffix(".png")
        if fig_path.absolute() == out.absolute():
            raise ConfigError(f"--plot '{fig_path}' is also the dataset (-o); give two files")
        # replacing the figure of the run being extended in place is part of that exception
        check_output(fig_path, what="--plot", inputs=inputs, force=args.force or in_place)

    progress = _Progress(not args.no_progress and sys.stderr.isatty(), alpha_max)
    try:
        if previous is not None:
            ds = extend(previous, progress=progress, **overrides)
        else:  # plain arrays: xarray (and the dask it imports) only if the figure needs it
            ds = integrate_table(cfg, progress=progress)
    finally:
        progress.close()
    out = write_dataset(ds, out)
    a = ds.attrs
    status = int(a["status"])
    if status == INTERRUPTED:
        report("ode", f"interrupted at alpha = {a['alpha_reached']:.6g} (of "
               f"{a['run.alpha_max']:g}); the trajectory so far ({ds.sizes['alpha']} points, "
               f"status 'interrupted') is in {out}; continue it with: "
               f"teacherstudent ode --extend {out} -o {out}")
        return EXIT_INTERRUPTED
    try:
        if fig_path is not None:
            from ..plotting import plot_ode, plt

            # the figure draws the plain arrays too: no xarray (nor pandas, dask) to import
            fig_path = write_figure(lambda p: plt.close(plot_ode(ds, p)), fig_path)
        if not args.quiet:
            _summary(ds.attrs, np.asarray(ds["eg"]), out, fig_path)
    except KeyboardInterrupt:
        report("ode", f"interrupted after the run; its dataset is in {out}")
        return EXIT_INTERRUPTED
    if status != 0:
        report("ode", f"the run stopped: {a['message']}; the trajectory up to alpha = "
               f"{a['alpha_reached']:.6g} is kept in {out}")
        return 1
    return 0


def _summary(a, eg: np.ndarray, out: Path, fig: Path | None) -> None:
    """The table of the run's settings and results on stdout (``a``: its attributes)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout)
    t = Table(title=f"teacherstudent ode — {a['algorithm.name']}", show_header=False)
    t.add_row("K, M", f"{a['model.K']}, {a['model.M']}")
    t.add_row(
        "eta_J, eta_w, eta_0",
        f"{a['algorithm.eta_J']}, {a['algorithm.eta_w']}, {a['algorithm.eta_0']}",
    )
    t.add_row("status", a["message"])
    t.add_row("alpha reached", f"{a['alpha_reached']:.6g}")
    t.add_row("eg (start → end)", f"{eg[0]:.6g} → {eg[-1]:.6g}")
    t.add_row("min eg", f"{np.nanmin(eg):.6g}")
    if a.get("alpha_threshold") == a.get("alpha_threshold"):  # not NaN
        t.add_row(f"alpha(eg ≤ {a['run.eg_threshold']})", f"{a['alpha_threshold']:.6g}")
    t.add_row("steps / evaluations", f"{a['n_accepted']} / {a['nfev']}")
    t.add_row("wall time", f"{a['wall_time_s'] * 1e3:.1f} ms")
    t.add_row("dataset", str(out))
    if fig is not None:
        t.add_row("figure", str(fig))
    console.print(t)
