"""The codes and the layout of the kernels' parameter vectors (no numba).

Algorithm codes, the indices of the integer and float parameter vectors ``pi``, ``pf`` that
:class:`~teacherstudent.ode.field.VectorField` packs and every kernel reads, and the size
from which the drift runs in parallel. The kernels compile these numbers in, so this module
is a kernel source (:mod:`.kernel_cache`); it imports nothing, so that every layer — the
kernels, :mod:`.aot`, :mod:`.field` — can read it.
"""

from __future__ import annotations

__all__ = ["ARM", "FO_ANIL", "ANIL", "ALGORITHM_CODES", "BLOCK_K"]

ARM, FO_ANIL, ANIL = 0, 1, 2
ALGORITHM_CODES = {"arm": ARM, "fo-anil": FO_ANIL, "anil": ANIL, "maml": ANIL, "fo-maml": FO_ANIL}

# Layout of the integer and float parameter vectors passed to the kernels.
P_K, P_M, P_ALGO, P_ACT, P_S, P_L, P_NU0, P_FINITE_V, P_FINITE_P, P_FINITE_PT = range(10)
P_ETA_J, P_ETA_W, P_ETA_0, P_INV_V, P_NOISE, P_SK, P_SM, P_GAMMA, P_INV_P, P_INV_PT = range(10)
# Activations: pi[P_ACTS:P_ACTS + L] is the activation code of each field (student fields the
# student's, teacher fields the teacher's; pi[P_ACT] is the student's), pf[P_QUAD:] the
# quadrature rule (nodes, then weights) of the quadrature activations. Kept at the end of
# the parameter vectors so that the kernels' argument list stays as it is; the hot kernel
# reads copies made once in the workspace (no array views made per evaluation).
P_ACTS = 10
P_QUAD = 10

# With erf/linear fields from this K on, the drift computes I3 row by row and the η_J²/V term
# pair by pair, spread over the cores (drift._blockwise); below, on one thread.
BLOCK_K = 12
