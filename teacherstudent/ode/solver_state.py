"""The solvers' codes and state, shared by the jitted solvers and their callers (no numba).

``METHODS`` (the integer code of each method), the status codes a run ends with and their
messages, and the layout of the solver state that
:func:`~teacherstudent.ode.solvers.integrate_kernel` carries between calls. Kept apart from
the kernels so that :mod:`teacherstudent.ode.frontend` imports without numba when it runs
the ahead-of-time kernels (:mod:`teacherstudent.ode.aot`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["METHODS", "STATUS_MESSAGES", "new_state", "SUCCESS", "DIVERGED_NONFINITE",
           "DIVERGED_DOMAIN", "DIVERGED_NOT_PD", "MAX_STEPS", "STEP_TOO_SMALL", "DIVERGED_BLOWUP",
           "INTERRUPTED", "PAUSED", "STATE_SIZE"]

METHODS = {"euler": 0, "rk4": 1, "dopri5": 2}

SUCCESS = 0
DIVERGED_NONFINITE = -1
DIVERGED_DOMAIN = -2
DIVERGED_NOT_PD = -3
MAX_STEPS = -4
STEP_TOO_SMALL = -5
DIVERGED_BLOWUP = -6
INTERRUPTED = -7
PAUSED = 1  # the step budget of one call is used up; call again to continue

STATUS_MESSAGES = {
    SUCCESS: "reached alpha_max",
    DIVERGED_NONFINITE: "diverged: the state became non-finite",
    DIVERGED_DOMAIN: "diverged: an integral left its domain (|arcsin argument| > 1 or Λ <= 0)",
    DIVERGED_NOT_PD: "diverged: the field covariance C lost positive definiteness",
    MAX_STEPS: "stopped: run.max_steps reached",
    STEP_TOO_SMALL: "stopped: the adaptive step size underflowed (stiff or singular dynamics)",
    DIVERGED_BLOWUP: "diverged: an order parameter exceeded run.blowup in magnitude",
    INTERRUPTED: "interrupted (Ctrl-C)",
}

# Layout of the solver state carried between calls (see new_state).
S_T, S_H, S_ISAVE, S_NFEV, S_NACC, S_NREJ, S_TEVENT, S_EGPREV, S_STARTED, S_STATUS = range(10)
STATE_SIZE = 10


def new_state() -> np.ndarray:
    """A fresh solver state for :func:`integrate_kernel` (α = 0, nothing computed yet)."""
    st = np.zeros(STATE_SIZE)
    st[S_TEVENT] = np.nan
    st[S_STATUS] = PAUSED
    return st
