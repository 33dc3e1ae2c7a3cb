"""``teacherstudent simulate CONFIG.toml --N 1000 --seeds 8 [-o sim.nc] [--resume] [--force]``.

The dataset and the checkpoint (next to the output: ``OUTPUT.ckpt.pt``) are checked before
any work (:mod:`teacherstudent.outputs`); sizes that cannot fit are refused with an estimate
(``simulation.check_size``). Ctrl-C stops after the chunk of tasks in progress, writes the
partial dataset (status ``interrupted``) and the checkpoint, and prints the command that
continues the run (the same with ``--resume``); exit status 130. A run in which replicas
diverged says which and at which α (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_force, continue_command, report
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
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its checkpoint (replaces the "
                        "partial result at OUTPUT)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary")
    add_force(parser)


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


def check_paths(args: argparse.Namespace, cfg: dict, out: Path, ckpt: Path,
                extra: list[tuple[str, Path | None]] = ()) -> None:
    """The outputs of simulate/compare, before any work: the dataset (``--resume`` replaces
    the partial result of the run it continues), the checkpoint (an existing one only with
    ``--resume``, which continues it, or ``--force``) and ``extra`` (figures)."""
    from ..config import ConfigError
    from ..outputs import check_output, is_result

    inputs = [args.config]
    named = [("-o", out), ("checkpoint", ckpt), *extra]
    seen: dict[Path, str] = {}
    for what, path in named:
        if path is None:
            continue
        if path.absolute() in seen:
            raise ConfigError(f"{what} '{path}' is also the {seen[path.absolute()]}; "
                              "give separate files")
        seen[path.absolute()] = what
    check_output(out, what="-o", inputs=inputs, force=args.force or args.resume)
    if args.resume:
        if not ckpt.is_file():
            raise ConfigError(f"--resume: checkpoint file '{ckpt}' does not exist (give it "
                              "with --checkpoint)")
        check_output(ckpt, what="checkpoint", inputs=[*inputs, ckpt], replaces_input=True)
    else:
        if ckpt.is_file() and is_result(ckpt) and not args.force:
            raise ConfigError(f"checkpoint '{ckpt}' exists (from an interrupted run): "
                              "continue that run with --resume, or pass --force to start anew")
        check_output(ckpt, what="checkpoint", inputs=inputs, force=args.force)
    for what, path in extra:
        if path is not None:
            check_output(path, what=what, inputs=inputs, force=args.force or args.resume)


def interrupted(command: str, args: argparse.Namespace, ds, out: Path) -> int:
    """Say what an interrupted simulation kept and how to continue it; exit status 130."""
    from ..interrupts import EXIT_INTERRUPTED

    a = ds.attrs
    ckpt = a.get("checkpoint") or ""
    kept = (f"the partial result ({ds.sizes['alpha']} saved alpha, status 'interrupted') in "
            f"{out}" + (f" and the checkpoint {ckpt}" if ckpt else ""))
    how = (f"; continue with: {continue_command(command, getattr(args, 'argv', []), ['--resume'])}"
           if ckpt else "")
    report(command, f"interrupted at alpha = {a['alpha_reached']:.6g} (of "
           f"{a['run.alpha_max']:g}); kept {kept}{how}")
    return EXIT_INTERRUPTED


def main(args: argparse.Namespace) -> int:
    from ..ode.solver_state import INTERRUPTED
    from ..simulation.runner import simulate
    from .common import write_dataset

    cfg = load_args_config(args)
    out = Path(args.output)
    ckpt = checkpoint_path(cfg, out, args.checkpoint)
    check_paths(args, cfg, out, ckpt)
    ds = simulate(
        cfg,
        N=args.N,
        seeds=args.seeds,
        device=args.device,
        dtype=args.dtype,
        progress=not args.no_progress and sys.stderr.isatty(),
        resume=args.resume,
        checkpoint=ckpt,
    )
    out = write_dataset(ds, out)
    if int(ds.attrs["status"]) == INTERRUPTED:
        return interrupted("simulate", args, ds, out)
    if not args.quiet:
        summary(ds, out)
    if ds.attrs["status"] != 0:
        report("simulate", f"{ds.attrs['message']}; the result (NaN after a replica "
               f"diverged) is kept in {out}")
        return 1
    return 0


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
        t.add_row("[red]diverged[/red]", a["message"])
    t.add_row("dataset", str(out))
    console.print(t)
