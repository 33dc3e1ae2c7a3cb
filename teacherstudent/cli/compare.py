"""``teacherstudent compare CONFIG.toml --N 1000 --seeds 8 [-o compare.nc] [--plot fig.png]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .ode import add_config_arguments

HELP = "simulation vs theory (ODE) from the same measured initial overlaps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--N", type=int, default=None, help="input dimension (simulation.N)")
    parser.add_argument("--seeds", type=int, default=None, help="replicas (simulation.seeds)")
    parser.add_argument("-o", "--output", default="compare.nc", help="netCDF (default compare.nc)")
    parser.add_argument("--plot", default=None, help="PNG figure (default: next to the output)")
    parser.add_argument("--pdf", action="store_true", help="also write a PDF of the figure")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda[:i]")
    parser.add_argument("--per-seed", action="store_true", help="also one ODE per seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-q", "--quiet", action="store_true", help="no table")


def main(args: argparse.Namespace) -> int:
    from ..dataset import save
    from ..plotting import plt
    from ..plotting.compare import plot_compare
    from ..simulation.compare import compare, deviation_table
    from .simulate import load_args_config

    cfg = load_args_config(args)
    ds = compare(
        cfg, N=args.N, seeds=args.seeds, device=args.device, per_seed=args.per_seed,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    out = save(ds, args.output)
    fig = Path(args.plot) if args.plot else out.with_suffix(".png")
    plt.close(plot_compare(ds, fig, pdf=args.pdf))
    if not args.quiet:
        from rich.console import Console

        console = Console(file=sys.stdout)
        console.print(deviation_table(ds))
        console.print(f"dataset {out}\nfigure  {fig}")
    return 0
