"""Benchmark: a 50 x 50 (eta_J x eta_w) sweep of the default FO-ANIL ODE to alpha = 450.

Plain script, prints figures::

    .venv/bin/python benchmarks/bench_sweep.py [--workers 1 2] [--n 50] [--full]

For each worker count it runs the grid of ``simulations/sweeps/lr_grid.toml`` (fresh store
each time) on a LocalCluster and reports the total wall time (cluster start, validation,
computation, writing and consolidation included), the cost per point, the mean in-worker
time per point (compare with the serial baseline: plain ``integrate`` calls in one process),
the slowest first point of a worker (the numba warm-up happens once per worker, before the
points) and the chunk count. ``--full`` keeps Q, R, w as well (the default sweep output),
``--n`` shrinks the grid for a quick run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = Path(__file__).resolve().parents[1] / "simulations" / "sweeps" / "lr_grid.toml"


def _spec(n: int, full: bool) -> dict:
    import tomllib

    raw = tomllib.loads(SPEC.read_text())
    for key, values in raw["grid"].items():
        raw["grid"][key] = list(np.linspace(values[0], values[-1], n))
    if full:
        raw.pop("save", None)
    return raw


def bench(workers: int, n: int, full: bool) -> dict:
    """Run one sweep on a fresh LocalCluster of ``workers`` processes; return the figures."""
    from teacherstudent.sweep import run_sweep

    store = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        t0 = time.perf_counter()
        ds = run_sweep(_spec(n, full), store=store, workers=workers, progress=False)
        total = time.perf_counter() - t0
        size = (store / "sweep.nc").stat().st_size
        n_chunks = len(list((store / "parts").glob("*.nc")))
    finally:
        shutil.rmtree(store, ignore_errors=True)
    wt = ds["point_time"].values.ravel()
    first = ds["worker_seq"].values.ravel() == 1
    points = wt.size
    return {
        "workers": workers,
        "points": points,
        "total_s": total,
        "per_point_ms": 1e3 * total / points,
        "in_worker_ms": 1e3 * wt.mean(),
        "first_point_max_ms": 1e3 * wt[first].max(),
        "other_max_ms": 1e3 * wt[~first].max() if (~first).any() else float("nan"),
        "failed": int((ds["status"].values < 0).sum()),
        "chunks": n_chunks,
        "store_MB": size / 1e6,
    }


def serial_baseline(n: int, full: bool, n_points: int = 100) -> float:
    """ms per point of plain ``integrate`` calls in this process (no Dask, no I/O), over
    ``n_points`` points spread over the grid: the machine's speed right now."""
    from teacherstudent.ode import integrate
    from teacherstudent.sweep import load_spec

    points = load_spec(_spec(n, full)).points
    pick = [points[i] for i in np.linspace(0, len(points) - 1, n_points).astype(int)]
    integrate(pick[0].config)  # load the kernels
    t0 = time.perf_counter()
    for p in pick:
        integrate(p.config)
    return 1e3 * (time.perf_counter() - t0) / len(pick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--n", type=int, default=50, help="grid points per axis (default 50)")
    parser.add_argument("--full", action="store_true", help="also keep Q, R, w")
    args = parser.parse_args()
    print(f"sweep benchmark: {args.n} x {args.n} fo-anil ODE to alpha = 450"
          f" ({'full output' if args.full else 'eg + scalars'})")
    base = serial_baseline(args.n, args.full)
    print(f"serial baseline (integrate in one process, no Dask): {base:.2f} ms/point")
    rows = [bench(w, args.n, args.full) for w in args.workers]
    header = ("workers", "points", "total_s", "per_point_ms", "in_worker_ms",
              "first_point_max_ms", "other_max_ms", "failed", "chunks", "store_MB")
    print("  ".join(f"{h:>12s}" for h in header))
    for r in rows:
        print("  ".join(f"{r[h]:>12.3f}" if isinstance(r[h], float) else f"{r[h]:>12d}"
                        for h in header))
    if len(rows) > 1:
        print(f"speed-up {rows[0]['workers']} -> {rows[-1]['workers']} workers: "
              f"{rows[0]['total_s'] / rows[-1]['total_s']:.2f}x")


if __name__ == "__main__":
    main()
