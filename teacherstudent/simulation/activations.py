r"""The activations of the simulated networks: ``g`` and ``g'`` in PyTorch and in Numba.

The names and integer codes are those of the ODE backend
(:data:`teacherstudent.ode.integrals.ACTIVATIONS`,
:func:`~teacherstudent.ode.integrals.activation_code`):

==========  ==================================  ==================================
name        g(z)                                g'(z)
==========  ==================================  ==================================
erf         erf(z/√2)                           √(2/π) e^{−z²/2}
linear      z                                   1
relu        max(0, z)                           θ(z) (0 at z = 0)
tanh        tanh z                              1 − tanh² z
sigmoid     1/(1 + e^{−z})                      σ(z)(1 − σ(z))
softplus    log(1 + e^z)                        σ(z)
gelu        z Φ(z)                              Φ(z) + z φ(z)
==========  ==================================  ==================================

The simulations write the first-layer gradient out by hand (``g'`` above); the tests check
every ``g'`` against autograd of ``g``. The Gaussian integrals of these functions (the
population inner loop) come from the ODE backend, so the simulation and the ODEs share one
implementation of ``I2``.
"""

from __future__ import annotations

import math

import torch
from numba import njit

from ..ode.integrals import ACTIVATIONS, ERF, GELU, LINEAR, RELU, SIGMOID, SOFTPLUS, TANH

__all__ = ["ACTIVATIONS", "g_torch", "g_prime_torch", "g_scalar", "g_prime_scalar"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

def g_torch(name: str, z: torch.Tensor) -> torch.Tensor:
    """``g(z)`` of the activation ``name`` (elementwise)."""
    if name == "erf":
        return torch.erf(z * _INV_SQRT2)
    if name == "linear":
        return z
    if name == "relu":
        return torch.clamp(z, min=0.0)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "softplus":
        return torch.logaddexp(z, torch.zeros_like(z))
    if name == "gelu":
        return 0.5 * z * torch.erfc(-z * _INV_SQRT2)
    raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")


def g_prime_torch(name: str, z: torch.Tensor) -> torch.Tensor:
    """``g'(z)`` of the activation ``name`` (elementwise; relu: θ(z), 0 at z = 0)."""
    if name == "erf":
        return _SQRT_2_OVER_PI * torch.exp(-0.5 * z * z)
    if name == "linear":
        return torch.ones_like(z)
    if name == "relu":
        return (z > 0.0).to(z.dtype)
    if name == "tanh":
        t = torch.tanh(z)
        return 1.0 - t * t
    if name == "sigmoid":
        s = torch.sigmoid(z)
        return s * (1.0 - s)
    if name == "softplus":
        return torch.sigmoid(z)
    if name == "gelu":
        return 0.5 * torch.erfc(-z * _INV_SQRT2) + z * (_INV_SQRT_2PI * torch.exp(-0.5 * z * z))
    raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")


@njit(cache=True, inline="always")
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def g_scalar(z, act):
    """``g(z)`` for the activation code ``act`` (Numba)."""
    if act == ERF:
        return math.erf(z * _INV_SQRT2)
    if act == LINEAR:
        return z
    if act == RELU:
        return max(z, 0.0)
    if act == TANH:
        return math.tanh(z)
    if act == SIGMOID:
        return _sigmoid(z)
    if act == SOFTPLUS:
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    if act == GELU:
        return 0.5 * z * math.erfc(-z * _INV_SQRT2)
    return math.nan


@njit(cache=True, inline="always")
def g_prime_scalar(z, act):
    """``g'(z)`` for the activation code ``act`` (Numba; relu: 0 at z = 0)."""
    if act == ERF:
        return _SQRT_2_OVER_PI * math.exp(-0.5 * z * z)
    if act == LINEAR:
        return 1.0
    if act == RELU:
        return 1.0 if z > 0.0 else 0.0
    if act == TANH:
        t = math.tanh(z)
        return 1.0 - t * t
    if act == SIGMOID:
        s = _sigmoid(z)
        return s * (1.0 - s)
    if act == SOFTPLUS:
        return _sigmoid(z)
    if act == GELU:
        return 0.5 * math.erfc(-z * _INV_SQRT2) + z * _INV_SQRT_2PI * math.exp(-0.5 * z * z)
    return math.nan
