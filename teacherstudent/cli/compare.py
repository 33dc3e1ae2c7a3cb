"""``teacherstudent compare CONFIG.toml --N 1000 --seeds 8 [-o compare.nc] [--plot fig.png]
[--resume] [--force]``.

The dataset, the figure(s) and the simulation's checkpoint (next to the output) are checked
before any work (:mod:`teacherstudent.outputs`). Ctrl-C stops the simulation after the chunk
of tasks in progress, writes the comparison up to the α reached (status ``interrupted``) and
the checkpoint, and prints the command that continues it (the same with ``--resume``); exit
status 130. A diverged simulation or ODE gives exit status 1 and says where.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_force, report
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
    parser.add_argument("--checkpoint", default=None,
                        help="the simulation's checkpoint (default: simulation.checkpoint or "
                        "OUTPUT.ckpt.pt)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted comparison from its checkpoint "
                        "(replaces the partial result at OUTPUT)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-q", "--quiet", action="store_true", help="no table")
    add_force(parser)


def main(args: argparse.Namespace) -> int:
    from ..ode.solver_state import INTERRUPTED
    from ..plotting import plt
    from ..plotting.compare import plot_compare
    from ..simulation.compare import compare, deviation_table
    from .common import write_dataset, write_figure
    from .simulate import check_paths, checkpoint_path, interrupted, load_args_config

    cfg = load_args_config(args)
    out = Path(args.output)
    ckpt = checkpoint_path(cfg, out, args.checkpoint)
    fig = Path(args.plot) if args.plot else out.with_suffix(".png")
    pdf = fig.with_suffix(".pdf") if args.pdf and fig.suffix.lower() != ".pdf" else None
    check_paths(args, cfg, out, ckpt, [("--plot", fig), ("--pdf", pdf)])
    ds = compare(
        cfg, N=args.N, seeds=args.seeds, device=args.device, per_seed=args.per_seed,
        progress=not args.no_progress and sys.stderr.isatty(), resume=args.resume,
        checkpoint=ckpt,
    )
    out = write_dataset(ds, out)
    if int(ds.attrs["status"]) == INTERRUPTED:
        return interrupted("compare", args, ds, out)
    try:
        fig = write_figure(lambda p: plt.close(plot_compare(ds, p, pdf=args.pdf)), fig)
        if not args.quiet:
            from rich.console import Console

            console = Console(file=sys.stdout)
            console.print(deviation_table(ds))
            console.print(f"dataset {out}\nfigure  {fig}")
    except KeyboardInterrupt:
        from ..interrupts import EXIT_INTERRUPTED

        report("compare", f"interrupted after the run; its dataset is in {out}")
        return EXIT_INTERRUPTED
    failed = []
    if int(ds.attrs["status"]) != 0:
        failed.append(f"simulation: {ds.attrs['message']}")
    if int(ds.attrs.get("ode_status", 0)) != 0:
        failed.append(f"ODE: {ds.attrs['ode_message']}")
    if failed:
        report("compare", "; ".join(failed) + f"; what was computed is kept in {out}")
        return 1
    return 0
