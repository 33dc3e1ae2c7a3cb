"""``teacherstudent sweep SPEC.toml [--scheduler tcp://HOST:PORT] [--workers N] [-o STORE]``.

Runs (or resumes) the grid of a sweep spec on Dask and writes ``STORE/sweep.nc``; re-running
the same command computes only the points missing from the store. Exit status 0 when every
point succeeded, 1 when some failed (each is named with its status and message, which are in
the store too), 2 on invalid input (the spec, every point's size, the store and the scheduler
address are checked before any work), 130 on Ctrl-C (the finished points stay in the store;
the same command computes the rest).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "grids of runs on Dask (resumable, fault-tolerant); results in one netCDF store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="sweep spec (TOML): kind, base, [grid] or [[points]]")
    parser.add_argument("-o", "--output", default=None,
                        help="store folder (default: SPEC name + '.sweep' in the current folder)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="connect to an existing Dask cluster instead of a local one")
    parser.add_argument("--scheduler-timeout", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for --scheduler (default 10)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: the number of cores; "
                        "ignored with --scheduler)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="points per Dask task (default: the spec's, else automatic)")
    parser.add_argument("--on-code-change", choices=("stop", "reuse", "recompute"),
                        default="stop",
                        help="when the store was computed by other code: stop (default), "
                        "reuse its points, or recompute all (old parts are moved aside)")
    parser.add_argument("--check", action="store_true",
                        help="validate the spec and every point, print the plan, run nothing")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.epilog = ("Outputs: the store folder must be new, empty or a sweep store (which "
                     "is resumed: its points are kept and only the missing ones computed); a "
                     "file or a folder of other files is refused before any work.")


def main(args: argparse.Namespace) -> int:
    import math

    from ..config import ConfigError
    from ..interrupts import EXIT_INTERRUPTED
    from ..outputs import check_store
    from ..sweep.runner import SCHEDULER_TIMEOUT, check_scheduler, run_sweep
    from ..sweep.spec import load_spec
    from ..sweep.store import Store
    from .common import continue_command, report

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ConfigError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    timeout = SCHEDULER_TIMEOUT if args.scheduler_timeout is None else args.scheduler_timeout
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--scheduler-timeout must be a positive number of seconds, got "
                          f"{args.scheduler_timeout}")
    check_scheduler(args.scheduler)
    spec = load_spec(args.spec)
    store = Path(args.output) if args.output else Path(Path(args.spec).stem + ".sweep")
    if args.check:
        done = Store(store).scan()
        n_done = sum(p.key in done for p in spec.points)
        print(f"{spec.name}: kind {spec.kind}, {len(spec.points)} points "
              f"({' x '.join(map(str, spec.shape))} over {', '.join(spec.dims)}), "
              f"{n_done} already in {store}")
        old = Store(store).check_code("reuse")  # only reads
        if old is not None:
            print(f"the store was computed by other code ({old}); a run needs "
                  "--on-code-change reuse or recompute")
        return 0
    check_store(store, inputs=[args.spec])
    try:
        ds = run_sweep(spec, store=store, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet, chunk_size=args.chunk_size,
                       on_code_change=args.on_code_change, scheduler_timeout=timeout)
    except KeyboardInterrupt:
        keys = {p.key for p in spec.points if p.config is not None}
        done = sum(k in keys for k in Store(store).scan())
        report("sweep", f"interrupted; {done} of {len(keys)} points are kept in {store} "
               f"(the points being computed were cancelled); compute the rest with: "
               f"{continue_command('sweep', getattr(args, 'argv', []))}")
        return EXIT_INTERRUPTED
    if not args.quiet:
        _summary(ds, store)
    failed = _failures(ds)
    if failed:
        n = len(failed)
        shown = "; ".join(failed[:10]) + (f"; ... ({n - 10} more)" if n > 10 else "")
        report("sweep", f"{n} of {ds.attrs['n_points']} points failed: {shown}. The others "
               f"are kept in {store / 'sweep.nc'} (re-running the same command retries "
               "points whose task was lost)")
        return 1
    return 0


def _failures(ds) -> list[str]:
    """``"point (key=value, ...): message"`` for every point with status < 0."""
    import numpy as np

    status = ds["status"]
    bad = np.argwhere(status.values < 0)
    out = []
    for idx in bad:
        sel = dict(zip(status.dims, (int(i) for i in idx), strict=True))
        point = status.isel(sel)
        coords = ", ".join(f"{k}={point[k].values.item()!r}" for k in point.coords
                           if point[k].ndim == 0 and k != "point")
        label = coords or "point " + ", ".join(str(int(i)) for i in idx)
        out.append(f"{label}: {ds['message'].isel(sel).values.item()}")
    return out


def _summary(ds, store: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    a = ds.attrs
    t = Table(title=f"teacherstudent sweep — {a['sweep_name']} ({a['sweep_kind']})",
              show_header=False)
    t.add_row("grid", ", ".join(f"{d} ({n})" for d, n in ds["status"].sizes.items()))
    t.add_row("points", f"{a['n_points']} ({a['n_ok']} ok, {a['n_failed']} failed)")
    t.add_row("computed / from store", f"{a['n_computed']} / {a['n_skipped']}")
    t.add_row("wall time", f"{a['wall_time_s']:.2f} s")
    t.add_row("store", str(store / "sweep.nc"))
    Console(file=sys.stdout).print(t)
