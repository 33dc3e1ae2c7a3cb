"""Benchmark of the linear representation-learning dynamics (plain script).

Target (issue 6): population ANIL, d = 100, k = 5, n = 50 tasks per round, 10 seeds batched,
5,000 rounds, all metrics recorded every round, in <= 5 s on 2 CPU cores.

    .venv/bin/python benchmarks/bench_linear.py [--rounds 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import teacherstudent.linear as L


def bench(algorithm: str, rounds: int, record_every: int = 1, **extra) -> tuple[float, float]:
    cfg = {
        "linear": {
            "d": 100, "k": 5, "n_tasks": 50, "seeds": 10, "rounds": rounds,
            "algorithms": [algorithm], "alpha": 0.5, "beta": 0.2,
            "record_every": record_every, **extra,
        }
    }
    t0 = time.perf_counter()
    ds = L.run(cfg)
    wall = time.perf_counter() - t0
    return wall, float(ds.dist.isel(round=-1).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"linear benchmark: d=100 k=5 n=50 seeds=10 rounds={args.rounds} (float64, numpy)")
    bench("anil", 2)  # imports (xarray pulls in dask on first use) are not timed
    cases = [
        ("anil", {}, "population ANIL, metrics every round  [target <= 5 s]"),
        ("anil", {"record_every": 10}, "population ANIL, metrics every 10 rounds"),
        ("fo-anil", {}, "population FO-ANIL"),
        ("maml", {}, "population MAML (per-task B)"),
        ("fedavg", {"tau": 2}, "population FedAvg tau=2"),
    ]
    for alg, extra, label in cases:
        walls, final = [], None
        for _ in range(args.repeat):
            w, final = bench(alg, args.rounds, **extra)
            walls.append(w)
        print(f"  {label:<48s} best {min(walls):6.2f} s  "
              f"({args.rounds / min(walls):7.0f} rounds/s)  max final dist {final:.2e}")
    from teacherstudent.linear.config import load_config
    from teacherstudent.linear.dynamics import simulate_algorithm

    p = load_config({"linear": {"d": 100, "k": 5, "n_tasks": 50, "seeds": 10,
                                "rounds": args.rounds, "alpha": 0.5, "beta": 0.2}})["linear"]
    t0 = time.perf_counter()
    simulate_algorithm("anil", p, reduce=False)
    print(f"  {'population ANIL, full d = 100 arrays (no reduction)':<48s} "
          f"{time.perf_counter() - t0:6.2f} s")
    w, final = bench("anil", 500, m_in=20, m_out=20)
    print(f"  {'finite-sample ANIL m_in=m_out=20, 500 rounds':<48s} {w:6.2f} s  "
          f"max final dist {final:.2e}")
    groups = {"m_in": 20, "m_out": 20, "group_means": [0.0, 1.5], "group_tasks": [40, 10],
              "init": "near", "init_dist": 0.2, "beta": 0.01}
    w, final = bench("tr-maml", 500, **groups)
    print(f"  {'finite-sample TR-MAML, 2 groups, near B0, 500 rounds':<48s} {w:6.2f} s  "
          f"max final dist {final:.2e}")
    w, final = bench("maml", 500, **groups)
    print(f"  {'finite-sample MAML, same groups, 500 rounds':<48s} {w:6.2f} s  "
          f"max final dist {final:.2e}")
    # the multi-output model y = A x (d×d SVDs per task and inner step): a smaller problem
    print("lora: d=20 k=2 r=2 n=20 seeds=5 rounds=500 test_tasks=32, alpha=1 beta=0.5")
    for alg, extra, label in (
        ("arm-lora", {}, "population arm-lora"),
        ("meta-lora", {}, "population meta-lora (1 inner step)"),
        ("meta-lora", {"inner_steps": 3, "alpha": 0.5}, "population meta-lora (3 inner steps)"),
        ("meta-lora", {"m_in": 40, "m_out": 40}, "finite-sample meta-lora m_in=m_out=40"),
    ):
        cfg = {"linear": {"d": 20, "k": 2, "n_tasks": 20, "seeds": 5, "rounds": 500,
                          "alpha": 1.0, "beta": 0.5, "test_tasks": 32,
                          "algorithms": [alg], **extra}}
        walls = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ds = L.run(cfg)
            walls.append(time.perf_counter() - t0)
        print(f"  {label:<48s} best {min(walls):6.2f} s  ({500 / min(walls):7.0f} rounds/s)  "
              f"median final error {float(ds.lora_error.isel(round=-1).median()):.2e}")


if __name__ == "__main__":
    main()
