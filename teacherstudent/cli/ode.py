"""``teacherstudent ode [CONFIG.toml] [-o out.nc] [--set key=value ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
        help="override a config key, e.g. --set algorithm.eta_J=2 (repeatable)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", default="ode.nc", help="netCDF result (default ode.nc)")
    parser.add_argument("--extend", default=None, metavar="PREVIOUS.nc",
                        help="continue a finished run (its recorded config, with --set, e.g. "
                        "--set run.alpha_max=5000) and write the whole trajectory")
    parser.add_argument("--plot", default=None, help="PNG figure (default: next to the output)")
    parser.add_argument("--no-plot", action="store_true", help="do not write a figure")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary")


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config, parse_overrides
    from ..dataset import save
    from ..ode import extend, integrate

    overrides = parse_overrides(args.overrides)
    if args.extend is not None:
        if args.config is not None:
            raise ConfigError("--extend takes the config recorded in PREVIOUS.nc; give "
                              "changes with --set, not a config file")
        ds = extend(args.extend, **overrides)
    else:
        ds = integrate(load_config(args.config, overrides))
    out = save(ds, args.output)
    fig_path = None
    if not args.no_plot:
        from ..plotting import plot_ode, plt

        fig_path = Path(args.plot) if args.plot else out.with_suffix(".png")
        plt.close(plot_ode(ds, fig_path))
    if not args.quiet:
        _summary(ds, out, fig_path)
    return 0 if ds.attrs["status"] == 0 else 1


def _summary(ds, out: Path, fig: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    a = ds.attrs
    console = Console(file=sys.stdout)
    t = Table(title=f"teacherstudent ode — {a['algorithm.name']}", show_header=False)
    t.add_row("K, M", f"{a['model.K']}, {a['model.M']}")
    t.add_row(
        "eta_J, eta_w, eta_0",
        f"{a['algorithm.eta_J']}, {a['algorithm.eta_w']}, {a['algorithm.eta_0']}",
    )
    t.add_row("status", a["message"])
    t.add_row("alpha reached", f"{a['alpha_reached']:.6g}")
    eg = ds.eg.values
    t.add_row("eg (start → end)", f"{eg[0]:.6g} → {eg[-1]:.6g}")
    t.add_row("min eg", f"{float(ds.eg.min()):.6g}")
    if a.get("alpha_threshold") == a.get("alpha_threshold"):  # not NaN
        t.add_row(f"alpha(eg ≤ {a['run.eg_threshold']})", f"{a['alpha_threshold']:.6g}")
    t.add_row("steps / evaluations", f"{a['n_accepted']} / {a['nfev']}")
    t.add_row("wall time", f"{a['wall_time_s'] * 1e3:.1f} ms")
    t.add_row("dataset", str(out))
    if fig is not None:
        t.add_row("figure", str(fig))
    console.print(t)
