"""Throughput of the finite-N simulation (plain script; prints a table).

Setting: N = 1000, K = M = 3, FO-ANIL, V = 1 validation sample, P = ∞ (population inner
loop), float64, CPU, default settings otherwise (``simulation.rng = "numba"``).  Compared:

- ``baseline``: a straightforward per-task PyTorch loop for one replica — fresh input, the
  population inner loop from the overlaps, the loss on the validation sample and its
  gradient by autograd, then the update (no batching, no hand-written gradients);
- ``teacherstudent.simulation.simulate`` with 1 and with 64 replicas batched in one tensor
  (on CPU in float64: one Numba kernel per chunk of tasks, draws fused into it);
- the draws alone: the ``V·N + M`` normals of one replica-task, for the Numba streams
  (64 replicas filled in parallel) and for NumPy's PCG64 (``simulation.rng = "numpy"``).

The figure of merit is replica-tasks per second (outer updates of one replica per second);
each figure is the best of ``--repeat`` runs (the machine may be shared: the load average is
printed).  Numba compilation happens before the timed regions (``simulate`` warms its kernels
up before starting its clock; they are cached on disk).
Usage: ``python benchmarks/bench_simulation.py [--tasks 2000] [--repeat 3] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numba
import torch

N, K, M, V = 1000, 3, 3, 1
SEEDS = 64


def baseline_loop(n_tasks: int, seed: int = 0) -> float:
    """Replica-tasks/s of the plain autograd loop (one replica, one task at a time)."""
    torch.manual_seed(seed)
    dt = torch.float64
    eta_J, eta_w, eta_0 = 0.5, 9.0, 0.5
    sK, sM = 1 / math.sqrt(K), 1 / math.sqrt(M)
    B = torch.randn(M, N, dtype=dt)
    J = torch.randn(K, N, dtype=dt) * math.sqrt(0.5)
    w = torch.zeros(K, dtype=dt)
    g = lambda z: torch.erf(z / math.sqrt(2))

    def i2(C):
        d = 1 + torch.diagonal(C)
        return 2 / math.pi * torch.asin(C / torch.sqrt(d[:, None] * d[None, :]))

    t0 = time.perf_counter()
    for _ in range(n_tasks):
        u = torch.randn(M, dtype=dt)
        x = torch.randn(N, dtype=dt)
        with torch.no_grad():  # population inner loop (one head step), first order
            Wt = torch.cat([J, B])
            I = i2(Wt @ Wt.T / N)
            w_t = w - eta_w * sK * (sK * I[:K, :K] @ w - sM * I[:K, K:] @ u)
        J.requires_grad_(True)
        w_t.requires_grad_(True)
        f = sK * (w_t * g(J @ x / math.sqrt(N))).sum()
        y = sM * (u * g(B @ x / math.sqrt(N))).sum()
        loss = 0.5 * (f - y) ** 2
        gJ, gw = torch.autograd.grad(loss, (J, w_t))  # first order: head gradient at w_t
        with torch.no_grad():  # dL/dJ carries the 1/√N of the fields
            J = J - eta_J * gJ
            w = w - eta_0 / N * gw
    return n_tasks / (time.perf_counter() - t0)


def package(n_tasks: int, seeds: int) -> tuple[float, str]:
    """Replica-tasks/s of :func:`simulate` (its own clock) and the path it took."""
    from teacherstudent.simulation import simulate

    cfg = {
        "algorithm": {"name": "fo-anil", "eta_J": 0.5, "eta_w": 9.0, "val_size": V},
        "init": {"R": 0.05},
        "run": {"alpha_max": n_tasks / N, "n_save": 2, "save_spacing": "linear"},
    }
    ds = simulate(cfg, N=N, seeds=seeds, device="cpu", progress=False)
    return float(ds.attrs["replica_tasks_per_s"]), f"{ds.attrs['fast_path']}, {ds.attrs['rng']}"


def draws_only(kind: str, tasks: int = 64) -> float:
    """Seconds per replica-task of drawing its ``V·N + M`` normals (64 replicas at once)."""
    from teacherstudent.simulation.rng import ReplicaStreams

    s = ReplicaStreams(list(range(SEEDS)), torch.device("cpu"), torch.float64, kind)
    s.normal(1, V * N + M)  # warm-up (compilation, thread pool)
    t0 = time.perf_counter()
    s.normal(tasks, V * N + M)
    return (time.perf_counter() - t0) / (SEEDS * tasks)


def best(fn, repeat: int):
    return max((fn() for _ in range(repeat)), key=lambda v: v[0] if isinstance(v, tuple) else v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000, help="tasks per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads and numba.set_num_threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    n, rep = args.tasks, args.repeat
    load0 = os.getloadavg()
    base = best(lambda: baseline_loop(n), rep)
    one, path1 = best(lambda: package(n, 1), rep)
    many, path64 = best(lambda: package(n, SEEDS), rep)
    d_numba = min(draws_only("numba") for _ in range(rep))
    d_numpy = min(draws_only("numpy") for _ in range(rep))
    load1 = os.getloadavg()
    print(f"config: N={N} K=M={K} fo-anil V={V} P=inf gamma=1 float64 CPU; {n} tasks per run, "
          f"best of {rep}")
    print(f"        torch {torch.__version__} ({torch.get_num_threads()} threads), numba "
          f"{numba.__version__} ({numba.get_num_threads()} threads, layer "
          f"{numba.threading_layer()}), {os.cpu_count()} CPUs, load average "
          f"{load0[0]:.2f} -> {load1[0]:.2f}")
    print(f"        1 replica: {path1}; {SEEDS} replicas: {path64}")
    print(f"{'run':<40}{'replica-tasks/s':>16}{'x baseline':>12}")
    rows = (
        ("baseline (autograd, 1 replica)", base),
        ("simulate, 1 replica", one),
        (f"simulate, {SEEDS} replicas batched", many),
    )
    for name, v in rows:
        print(f"{name:<40}{v:>16.0f}{v / base:>12.1f}")
    per = V * N + M
    print(f"{'draws only, per replica-task':<40}{'us':>16}{'ns/number':>12}")
    for name, d in (("numba xoshiro256++ (default)", d_numba), ("numpy PCG64", d_numpy)):
        print(f"  {name:<38}{d * 1e6:>16.2f}{d / per * 1e9:>12.2f}")


if __name__ == "__main__":
    main()
