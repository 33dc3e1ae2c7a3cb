"""Throughput of the finite-N simulation (plain script; prints a table).

Setting: N = 1000, K = M = 3, FO-ANIL, V = 1 validation sample, P = ∞ (population inner
loop), float64, CPU.  Compared:

- ``baseline``: a straightforward per-task PyTorch loop for one replica — fresh input, the
  population inner loop from the overlaps, the loss on the validation sample and its
  gradient by autograd, then the update (no batching, no hand-written gradients);
- ``teacherstudent.simulation.simulate`` with 1 and with 64 replicas batched in one tensor.

The figure of merit is replica-tasks per second (outer updates of one replica per second).
Usage: ``python benchmarks/bench_simulation.py [--tasks 2000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch


def baseline_loop(n_tasks: int, N: int = 1000, K: int = 3, M: int = 3, seed: int = 0) -> float:
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


def package(n_tasks: int, seeds: int, N: int = 1000) -> float:
    from teacherstudent.simulation import simulate

    cfg = {
        "algorithm": {"name": "fo-anil", "eta_J": 0.5, "eta_w": 9.0, "val_size": 1},
        "init": {"R": 0.05},
        "run": {"alpha_max": n_tasks / N, "n_save": 2, "save_spacing": "linear"},
    }
    ds = simulate(cfg, N=N, seeds=seeds, device="cpu", progress=False)
    return float(ds.attrs["replica_tasks_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000, help="tasks per measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.tasks
    base = baseline_loop(n)
    one = package(n, 1)
    many = package(n, 64)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, N=1000 K=M=3 "
          "fo-anil V=1 P=inf float64 CPU")
    print(f"{'run':<34}{'replica-tasks/s':>16}{'x baseline':>12}")
    for name, v in (("baseline (autograd, 1 replica)", base), ("simulate, 1 replica", one),
                    ("simulate, 64 replicas batched", many)):
        print(f"{name:<34}{v:>16.0f}{v / base:>12.1f}")


if __name__ == "__main__":
    main()
