"""Activation names, their integer codes and the 1-D quadrature rule (no numba).

The kernels take activations as integer codes; these are the names users write
(``model.activation``), the codes the kernels see, and the rule the quadrature kernels
integrate with. This module imports numpy only, so that setting up a run (and starting
:mod:`teacherstudent.ode` from its ahead-of-time kernels) needs no compiler.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ERF", "LINEAR", "RELU", "TANH", "SIGMOID", "SOFTPLUS", "GELU", "ACTIVATIONS",
           "DEFAULT_QUADRATURE_ORDER", "activation_code", "has_f4", "quadrature_rule"]

ERF, LINEAR = 0, 1  # the closed forms (closed_form.py)
RELU, TANH, SIGMOID, SOFTPLUS, GELU = 2, 3, 4, 5, 6
ACTIVATIONS = ("erf", "linear", "relu", "tanh", "sigmoid", "softplus", "gelu")
_CODES = {name: i for i, name in enumerate(ACTIVATIONS)}
_R = 8.0  # range [−R, R] of the quadrature rule: the Gaussian mass outside is 1.2e-15

#: Points of the 1-D rule (trapezoid on [−8, 8], step 1/8; theory/activations.md §2).
DEFAULT_QUADRATURE_ORDER = 129


def activation_code(name: str) -> int:
    """Integer code of an activation name (one of :data:`ACTIVATIONS`).

    Raises ``ValueError`` naming the allowed names for an unknown one.
    """
    try:
        return _CODES[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}"
        ) from None


def has_f4(code: int) -> bool:
    """Whether the four-point function F4 (finite-P theory) is available for ``code``:
    every activation has it (relu, and relu with erf/linear, by the orthant engine; relu
    beside a smooth activation stays a domain error, as for every integral)."""
    return 0 <= int(code) < len(ACTIVATIONS)


def quadrature_rule(order: int = DEFAULT_QUADRATURE_ORDER) -> np.ndarray:
    """1-D rule for the standard normal: ``rule[0]`` nodes, ``rule[1]`` weights (sum 1),
    shape ``(2, order)``.

    The trapezoid rule on ``[−8, 8]`` with step ``h = 16/(order − 1)``, weights
    ``h φ(x)``: for integrands analytic in the strip ``|Im x| < d`` its error decays like
    ``exp(−2π d/h)`` (Gauss–Hermite converges far slower for tanh and sigmoid, whose poles
    lie at ``Im z = π/2``, ``π``; theory/activations.md §2). The kernels take every k-th
    node for a whitened coordinate of small scale. ``order`` ≥ 3.
    """
    order = int(order)
    if order < 3:
        raise ValueError(f"quadrature order must be >= 3, got {order}")
    x = np.linspace(-_R, _R, order)
    w = np.exp(-0.5 * x * x)
    rule = np.empty((2, order))
    rule[0] = x
    rule[1] = w / w.sum()
    return rule
