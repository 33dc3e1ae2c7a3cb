"""Ctrl-C as a request to stop: the work stops at its next consistent point and keeps what it
computed.

The ODE solver runs in ~0.1 s calls and turns a ``KeyboardInterrupt`` between two calls into
the status ``INTERRUPTED`` (:func:`teacherstudent.ode.solve`). A simulation cannot be cut
anywhere — a chunk of tasks must finish, or the random streams and the weights disagree — so
it runs inside :func:`deferred_interrupt`: the first Ctrl-C only sets a flag, which the run
polls after every chunk (then it writes its checkpoint and returns the partial result); a
second Ctrl-C raises ``KeyboardInterrupt`` at once.

Commands that are interrupted exit with status 130 (:data:`EXIT_INTERRUPTED`) after saying
what they kept and which command continues the run.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["EXIT_INTERRUPTED", "InterruptFlag", "deferred_interrupt"]

#: Exit status of an interrupted command (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130


class InterruptFlag:
    """Whether Ctrl-C was pressed inside :func:`deferred_interrupt` (``bool(flag)``)."""

    def __init__(self) -> None:
        self.requested = False

    def __bool__(self) -> bool:
        return self.requested


@contextmanager
def deferred_interrupt() -> Iterator[InterruptFlag]:
    """Within the block the first SIGINT sets the yielded flag instead of raising.

    Only in the main thread and only when SIGINT has Python's default handler (elsewhere,
    e.g. in a Dask worker thread, the flag simply stays unset). A second SIGINT raises
    ``KeyboardInterrupt`` as usual. The previous handler is restored on exit.
    """
    flag = InterruptFlag()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield flag
        return

    def handler(signum, frame):  # noqa: ARG001 - the signal module's signature
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
