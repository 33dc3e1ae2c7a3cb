"""``teacherstudent simulate CONFIG.toml --N 1000 --seeds 8 [-o sim.nc] [--resume]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .ode import add_config_arguments

HELP = "Monte Carlo simulation of the finite-N networks (PyTorch, batched replicas)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--N", type=int, default=None, help="input dimension (simulation.N)")
    parser.add_argument("--seeds", type=int, default=None, help="replicas (simulation.seeds)")
    parser.add_argument("-o", "--output", default="sim.nc", help="netCDF result (default sim.nc)")
    parser.add_argument("--device", default=None, help="auto | cpu | cuda[:i] (simulation.device)")
    parser.add_argument("--dtype", default=None, choices=("float64", "float32"))
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file (default: simulation.checkpoint or OUTPUT.ckpt.pt)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary")


def checkpoint_path(cfg: dict, output: Path, given: str | None) -> Path:
    """``--checkpoint``, else ``simulation.checkpoint``, else next to the output."""
    if given:
        return Path(given)
    if cfg["simulation"]["checkpoint"]:
        return Path(cfg["simulation"]["checkpoint"])
    return output.with_suffix(".ckpt.pt")


def load_args_config(args: argparse.Namespace) -> dict:
    """The configuration of CONFIG + --set, with --N/--seeds checked (shared with compare)."""
    from ..config import ConfigError, load_config, parse_overrides

    cfg = load_config(args.config, parse_overrides(args.overrides))
    for name in ("N", "seeds"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ConfigError(f"--{name} must be a positive integer, got {v}")
    return cfg


def main(args: argparse.Namespace) -> int:
    from ..dataset import save
    from ..simulation.runner import simulate

    cfg = load_args_config(args)
    out = Path(args.output)
    ds = simulate(
        cfg,
        N=args.N,
        seeds=args.seeds,
        device=args.device,
        dtype=args.dtype,
        progress=not args.no_progress and sys.stderr.isatty(),
        resume=args.resume,
        checkpoint=checkpoint_path(cfg, out, args.checkpoint),
    )
    save(ds, out)
    if not args.quiet:
        summary(ds, out)
    return 0 if ds.attrs["status"] == 0 else 1


def summary(ds, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    a = ds.attrs
    console = Console(file=sys.stdout)
    t = Table(title=f"teacherstudent simulate — {a['algorithm.name']}", show_header=False)
    t.add_row("N, seeds", f"{a['N']}, {a['seeds']}")
    t.add_row("device, dtype", f"{a['device']}, {a['dtype']}")
    t.add_row("tasks per replica", f"{a['tasks_done']} (alpha = {a['alpha_reached']:.6g})")
    eg = ds.eg.mean("seed").values
    t.add_row("eg, seed mean (start → end)", f"{eg[0]:.6g} → {eg[-1]:.6g}")
    t.add_row("wall time", f"{a['wall_time_s']:.2f} s")
    t.add_row("replica-tasks / s", f"{a['replica_tasks_per_s']:.0f}")
    if a["diverged_seeds"]:
        t.add_row("[red]diverged seeds[/red]", a["diverged_seeds"])
    t.add_row("dataset", str(out))
    console.print(t)
