"""Checkpoints of a running simulation: the full state, RNG states included (``torch.save``).

A checkpoint is written only at the run's fixed stops (save points and the
``simulation.checkpoint_every`` grid), where the task stream is cut into chunks in the same
way whether or not the run was interrupted; resuming from it therefore reproduces an
uninterrupted run exactly (bitwise on CPU).  The ``fingerprint`` (configuration, N, seeds,
dtype) must match, otherwise :class:`~teacherstudent.config.ConfigError` is raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT"]

FORMAT = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    from ..version import __version__

    # the marker makes the file recognisable as ours (teacherstudent.outputs.is_result)
    torch.save({"format": FORMAT, "teacherstudent": __version__, **state}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, fingerprint: str) -> dict[str, Any]:
    """Read a checkpoint and check that it belongs to the same run."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--resume: checkpoint file '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise ConfigError(f"--resume: cannot read checkpoint '{path}': {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"--resume: '{path}' is not a teacherstudent simulation checkpoint")
    if state.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"--resume: checkpoint '{path}' was written by a different run (configuration, "
            "N, seeds or dtype differ)"
        )
    return state
