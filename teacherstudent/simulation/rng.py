"""Per-replica random streams.

Replica ``r`` owns one stream seeded with ``seed_r`` (``simulation.base_seed + r``), so its
draws do not depend on the other replicas, and the stream state is part of a checkpoint.
On CPU the streams are NumPy ``Generator(PCG64)`` (ziggurat normals, about twice as fast as
``torch.Tensor.normal_`` in float64 — the draws are the hot spot of the simulation); on
CUDA they are ``torch.Generator`` objects on the device.  Large CPU draws fill the replicas on
a few threads (each stream still fills only its own rows, so the numbers do not change).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

_POOL: ThreadPoolExecutor | None = None
PARALLEL_MIN = 1 << 16  # numbers per call above which replicas are drawn on several threads


def _pool() -> ThreadPoolExecutor:
    """Threads for NumPy's generators (they release the GIL while filling arrays)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)))
    return _POOL

__all__ = ["ReplicaStreams"]


class ReplicaStreams:
    """``S`` independent normal streams writing into one ``(S, …)`` tensor."""

    def __init__(self, seeds: list[int], device: torch.device, dtype: torch.dtype):
        self.device = device
        self.dtype = dtype
        self.cpu = device.type == "cpu"
        if self.cpu:
            self.gens: list[Any] = [np.random.Generator(np.random.PCG64(int(s))) for s in seeds]
        else:
            self.gens = []
            for s in seeds:
                g = torch.Generator(device=device)
                g.manual_seed(int(s))
                self.gens.append(g)

    def __len__(self) -> int:
        return len(self.gens)

    def normal(self, *shape: int) -> torch.Tensor:
        """Standard normal tensor ``(S, *shape)``; row ``r`` from stream ``r``."""
        S = len(self.gens)
        if self.cpu:
            npdt = np.float64 if self.dtype == torch.float64 else np.float32
            out = np.empty((S, *shape), dtype=npdt)
            fill = lambda r: self.gens[r].standard_normal(out=out[r], dtype=npdt)
            if S > 1 and out.size >= PARALLEL_MIN and (os.cpu_count() or 1) > 1:
                list(_pool().map(fill, range(S)))
            else:
                for r in range(S):
                    fill(r)
            return torch.from_numpy(out)
        out = torch.empty(S, *shape, device=self.device, dtype=self.dtype)
        for r, g in enumerate(self.gens):
            out[r].normal_(generator=g)
        return out

    def replica(self, r: int) -> ReplicaStreams:
        """A view on stream ``r`` alone (shares the generator)."""
        one = object.__new__(ReplicaStreams)
        one.device, one.dtype, one.cpu = self.device, self.dtype, self.cpu
        one.gens = [self.gens[r]]
        return one

    def get_state(self) -> list[Any]:
        if self.cpu:
            return [g.bit_generator.state for g in self.gens]
        return [g.get_state() for g in self.gens]

    def set_state(self, states: list[Any]) -> None:
        if len(states) != len(self.gens):
            raise ValueError("checkpoint holds a different number of streams")
        for g, s in zip(self.gens, states, strict=True):
            if self.cpu:
                g.bit_generator.state = s
            else:
                g.set_state(s)
