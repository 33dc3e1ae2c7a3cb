r"""Gaussian expectations of the activation over jointly Gaussian local fields.

This is where activations plug in: the drift kernel (:mod:`teacherstudent.ode.drift`) asks
only for the matrices and tensors below, for the activation code it was given, and never
for the activation itself. Each backend module implements them for its activations:

* :mod:`.closed_form` — ``erf`` and ``linear`` in closed form (Saad & Solla 1995).

Kernels (numba, caller-owned outputs, return the number of domain errors):
``i2_matrix``, ``i3_tensor``, ``i4_tensor``, ``j2_matrix``. Python helpers for tests and
notebooks: ``I2``, ``I3``, ``I4``, ``J2`` (whole tensors of one covariance matrix).
"""

from __future__ import annotations

from .closed_form import (
    ERF,
    I2,
    I3,
    I4,
    J2,
    LINEAR,
    activation_code,
    i2_matrix,
    i3_tensor,
    i4_tensor,
    j2_matrix,
)

__all__ = [
    "ERF",
    "LINEAR",
    "activation_code",
    "i2_matrix",
    "i3_tensor",
    "i4_tensor",
    "j2_matrix",
    "I2",
    "I3",
    "I4",
    "J2",
]
