"""Sizes that cannot fit are refused before any work, with an estimate.

Every command estimates the memory (and, where it can, the time) a run needs before it
starts, and refuses a run that cannot fit this machine or would take more than a limit,
with one :class:`ConfigError` naming the estimate and the key to change. Users who know
what they are doing switch the check off with ``check_size = false`` in the table of the
run (``run.check_size`` for the ODEs, ``simulation.check_size``, ``linear.check_size``).

The estimates are deliberately simple (the largest arrays, a per-evaluation cost that
scales like the drift's loops) and are stated as estimates.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .validation import ConfigError

__all__ = ["Estimate", "available_memory", "human_bytes", "human_seconds", "check"]

#: A run estimated to take longer than this is refused unless its check is switched off.
MAX_SECONDS = 6 * 3600.0
#: The share of the machine's memory a run may plan to use.
MEMORY_SHARE = 0.8


@dataclass(frozen=True)
class Estimate:
    """What a run will need: bytes of memory and seconds of work (NaN: unknown)."""

    memory: float
    seconds: float = math.nan
    what: str = ""  # the dominant part, for the message
    steps: float = math.nan  # solver steps or tasks, where the command counts them


def available_memory() -> float:
    """Bytes of physical memory of this machine (``inf`` if unknown)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def human_bytes(n: float) -> str:
    """``1.5 GB`` style."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def human_seconds(s: float) -> str:
    """``3.2 h`` style."""
    if not math.isfinite(s):
        return "forever" if s > 0 else "unknown"
    for limit, unit, scale in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if s < limit:
            return f"{s / scale:.3g} {unit}"
    years = s / (365.25 * 86400)
    return f"{s / 86400:.3g} days" if years < 1 else f"{years:.3g} years"


def check(est: Estimate, keys: str, switch: str, enabled: bool = True,
          time_keys: str | None = None) -> Estimate:
    """Refuse ``est`` if it cannot fit or takes too long.

    Parameters
    ----------
    est : Estimate
        The run's needs.
    keys : str
        The keys that set the memory, named in the message (``"model.K"``).
    switch : str
        The key that switches the check off (``"run.check_size"``).
    enabled : bool
        The value of that key.
    time_keys : str, optional
        The keys that set the time (default: ``keys``).

    Returns
    -------
    Estimate
        ``est``, when it fits.

    Raises
    ------
    ConfigError
        With the estimate, the limit and the keys to change.
    """
    if not enabled:
        return est
    mem = available_memory()
    if est.memory > MEMORY_SHARE * mem:
        raise ConfigError(
            f"{keys}: this run needs about {human_bytes(est.memory)} of memory"
            f"{' (' + est.what + ')' if est.what else ''}, more than this machine's "
            f"{human_bytes(mem)}; reduce {keys}, or set {switch} = false to try anyway"
        )
    if est.seconds > MAX_SECONDS:
        tk = time_keys or keys
        raise ConfigError(
            f"{tk}: this run would take about {human_seconds(est.seconds)} (estimated), "
            f"more than the limit of {human_seconds(MAX_SECONDS)}; reduce {tk}, or set "
            f"{switch} = false to run it anyway"
        )
    return est
