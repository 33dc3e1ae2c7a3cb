"""``teacherstudent linear [CONFIG.toml] [-o linear.nc] [--set key=value ...]``.

Runs the algorithms of a ``[linear]`` table (defaults if no file), writes the
:class:`xarray.Dataset` as netCDF (h5netcdf), a PNG of ``dist`` and the post-adaptation error
versus the round, and prints the final distance of every algorithm.  Bad input raises
:class:`~teacherstudent.config.ConfigError` (exit status 2 in the main CLI); the outputs are
checked before any work (:mod:`teacherstudent.outputs`), sizes that cannot fit are refused
with an estimate (``linear.check_size``). A run in which seeds diverged is kept and named
(algorithm, seed, round) with exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..config import ConfigError, parse_overrides
from .common import add_force, report

HELP = "linear representation learning dynamics (ARM, ANIL, MAML, FedAvg, meta-LoRA, …)"

__all__ = ["HELP", "add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default=None,
                        help="TOML file with a [linear] table (default: the built-in defaults)")
    parser.add_argument("-o", "--output", default="linear.nc",
                        help="netCDF output (default: linear.nc)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set mu=0.5 or "
                        "--set 'linear.algorithms=[\"anil\", \"arm\"]' (repeatable)")
    parser.add_argument("--plot", metavar="PATH", default=None,
                        help="PNG of dist vs round (default: OUTPUT with suffix .png)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary table")
    add_force(parser)


def _summary(ds) -> str:
    last = ds.isel(round=-1)
    lines = [
        f"linear: d={ds.attrs['linear.d']} k={ds.attrs['linear.k']} "
        f"n={ds.attrs['linear.n_tasks']} rounds={int(ds['round'][-1])} "
        f"seeds={ds.sizes['seed']}  ({ds.attrs['wall_time_s']:.2f} s)",
        f"{'algorithm':<10s} {'dist (median)':>14s} {'dist (max)':>11s} "
        f"{'post_error':>11s} {'diverged':>9s}",
    ]
    from ..linear.config import LORA_ALGORITHMS

    lora = [a for a in ds.algorithm.values if a in LORA_ALGORITHMS]
    for alg in ds.algorithm.values:
        d = last.dist.sel(algorithm=alg).values
        e = last.post_error.sel(algorithm=alg).values
        if alg in lora:  # the multi-output model: ‖A − A_*‖_F and the rank-r error
            d = last.base_dist.sel(algorithm=alg).values
            e = last.lora_error.sel(algorithm=alg).values
        ndiv = int((ds.diverged_round.sel(algorithm=alg) >= 0).sum())
        with np.errstate(all="ignore"):
            lines.append(
                f"{alg:<10s} {np.nanmedian(d) if np.isfinite(d).any() else np.nan:>14.3e} "
                f"{np.nanmax(d) if np.isfinite(d).any() else np.nan:>11.3e} "
                f"{np.nanmedian(e) if np.isfinite(e).any() else np.nan:>11.3e} "
                f"{ndiv:>5d}/{d.size}"
            )
    if lora:
        lines.append(f"({', '.join(lora)}: ‖A − A_*‖_F in the dist columns, the error after "
                     "rank-r adaptation in post_error)")
    return "\n".join(lines)


def _panels(ds) -> tuple[str, ...]:
    """The figure's metrics: those of the representation model and/or of arm-/meta-lora."""
    from ..linear.config import LORA_ALGORITHMS

    algs = set(ds.algorithm.values)
    out = ("dist", "post_error") if algs - set(LORA_ALGORITHMS) else ()
    return out + (("base_dist", "lora_error") if algs & set(LORA_ALGORITHMS) else ())


def main(args: argparse.Namespace) -> int:
    from ..linear import load_config, run
    from ..outputs import check_output
    from .common import write_dataset, write_figure

    cfg = load_config(args.config, overrides=parse_overrides(args.set))
    out = Path(args.output)
    if out.suffix != ".nc":
        raise ConfigError(f"--output must end in .nc, got '{out}'")
    png = None if args.no_plot else (Path(args.plot) if args.plot else out.with_suffix(".png"))
    if png is not None and png.absolute() == out.absolute():
        raise ConfigError(f"--plot '{png}' is also the dataset (-o); give two files")
    for what, path in (("-o", out), ("--plot", png)):
        if path is not None:
            check_output(path, what=what, inputs=[args.config], force=args.force)
    ds = run(cfg)
    written = [write_dataset(ds, out)]
    try:
        if png is not None:
            from ..plotting import plt
            from ..plotting.linear import plot_linear

            panels = _panels(ds)
            written.append(write_figure(
                lambda p: plt.close(plot_linear(ds, p, variables=panels)), png))
    except KeyboardInterrupt:
        report("linear", f"interrupted after the run; its dataset is in {written[0]}")
        return 130
    if not args.quiet:
        print(_summary(ds))
        print("wrote " + ", ".join(str(p) for p in written))
    if ds.attrs.get("status", 0) != 0:
        report("linear", f"{ds.attrs['message']}; the result (NaN after a seed diverged) is "
               f"kept in {written[0]}")
        return 1
    return 0


if __name__ == "__main__":  # python -m teacherstudent.linear.cli
    parser = argparse.ArgumentParser(prog="teacherstudent linear", description=HELP)
    add_arguments(parser)
    try:
        sys.exit(main(parser.parse_args()))
    except ConfigError as exc:
        print(f"teacherstudent linear: error: {exc}", file=sys.stderr)
        sys.exit(2)
