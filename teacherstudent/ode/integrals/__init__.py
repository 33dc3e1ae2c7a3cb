r"""Gaussian expectations of the activation over jointly Gaussian local fields.

This is where activations plug in: the drift kernel (:mod:`teacherstudent.ode.drift`) asks
only for the matrices and tensors below, for the activation code it was given, and never
for the activation itself. Each backend module implements them for its activations:

* :mod:`.closed_form` — ``erf`` and ``linear`` in closed form (Saad & Solla 1995).
* :mod:`.backend` — every activation (``ACTIVATIONS``), per-field activation codes
  (``acts``: student and teacher may differ): ``relu`` exact (orthant probabilities),
  smooth activations by Gauss–Hermite quadrature (``quadrature_rule``); dispatches to the
  closed forms when all fields are ``erf`` or all ``linear``.
* :mod:`.fourpoint` — the four-point function ``F4(a,b,c,d) = E[g g g g]`` of the finite-P
  theory (``linear``: Isserlis; ``erf``: Price-path quadrature, error ≤ 1e-13; ``relu``
  and its erf/linear mixtures: the orthant engine of :mod:`.backend`).

Kernels (numba, caller-owned outputs, return the number of domain errors):
``i2_matrix``, ``i3_tensor``, ``i4_tensor``, ``j2_matrix``, ``f4_tensor``,
``f4_tensor_lambda`` (and the scalar ``f4``). Python helpers for tests and notebooks:
``I2``, ``I3``, ``I4``, ``J2``, ``F4`` (whole tensors of one covariance matrix).
Activation names and codes and the quadrature rule: :mod:`.codes` (numpy only).

The names are imported on first use (PEP 562), so that ``from .integrals import
activation_code`` does not import numba.
"""

from __future__ import annotations

from ...lazy import lazy_exports

# name -> the module that defines it
_WHERE = {
    "ACTIVATIONS": "codes",
    "DEFAULT_QUADRATURE_ORDER": "codes",
    "ERF": "codes",
    "LINEAR": "codes",
    "RELU": "codes",
    "TANH": "codes",
    "SIGMOID": "codes",
    "SOFTPLUS": "codes",
    "GELU": "codes",
    "activation_code": "codes",
    "has_f4": "codes",
    "quadrature_rule": "codes",
    "all_closed_form": "backend",
    "f4_tensor_lambda_acts": "backend",
    "i2_dcov": "backend",
    "i2_diag_dcov": "backend",
    "i2_matrix_acts": "backend",
    "i3_tensor_acts": "backend",
    "i4_tensor_acts": "backend",
    "j2_matrix_acts": "backend",
    "I2": "closed_form",
    "I3": "closed_form",
    "I4": "closed_form",
    "J2": "closed_form",
    "i2_matrix": "closed_form",
    "i3_row": "closed_form",
    "i3_tensor": "closed_form",
    "i4_block": "closed_form",
    "i4_block_packed": "closed_form",
    "i4_tensor": "closed_form",
    "j2_matrix": "closed_form",
    "F4": "fourpoint",
    "f4": "fourpoint",
    "f4_scratch_size": "fourpoint",
    "f4_tensor": "fourpoint",
    "f4_tensor_lambda": "fourpoint",
}

__all__ = [
    "ERF",
    "LINEAR",
    "activation_code",
    "i2_matrix",
    "i3_row",
    "i3_tensor",
    "i4_block",
    "i4_block_packed",
    "i4_tensor",
    "j2_matrix",
    "I2",
    "I3",
    "I4",
    "J2",
    "f4",
    "f4_tensor",
    "f4_tensor_lambda",
    "f4_scratch_size",
    "F4",
    "RELU",
    "TANH",
    "SIGMOID",
    "SOFTPLUS",
    "GELU",
    "ACTIVATIONS",
    "DEFAULT_QUADRATURE_ORDER",
    "has_f4",
    "quadrature_rule",
    "i2_matrix_acts",
    "i3_tensor_acts",
    "i4_tensor_acts",
    "all_closed_form",
    "j2_matrix_acts",
    "i2_dcov",
    "i2_diag_dcov",
    "f4_tensor_lambda_acts",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
