r"""Gaussian expectations of the activation over jointly Gaussian local fields.

For zero-mean Gaussian fields :math:`z` with covariance :math:`C` and
:math:`g(z) = \mathrm{erf}(z/\sqrt2)`, :math:`g'(z) = \sqrt{2/\pi}\,e^{-z^2/2}`
(Saad & Solla 1995; derivations and symbolic checks in ``theory/``):

.. math::

   I_2(a,b) &= E[g(z_a) g(z_b)] = \tfrac{2}{\pi}\arcsin\frac{C_{ab}}{\sqrt{(1+C_{aa})(1+C_{bb})}} \\
   I_3(a,b,c) &= E[g'(z_a) z_b g(z_c)]
      = \tfrac{2}{\pi}\frac{C_{bc}(1+C_{aa}) - C_{ab}C_{ac}}{(1+C_{aa})\sqrt{\Lambda_3}},\quad
      \Lambda_3 = (1+C_{aa})(1+C_{cc}) - C_{ac}^2 \\
   I_4(a,b,c,d) &= E[g'(z_a) g'(z_b) g(z_c) g(z_d)]
      = \tfrac{4}{\pi^2}\Lambda_4^{-1/2}\arcsin\frac{\Lambda_0}{\sqrt{\Lambda_1\Lambda_2}} \\
   J_2(a,b) &= E[g'(z_a) g'(z_b)] = \tfrac{2}{\pi}\big((1+C_{aa})(1+C_{bb}) - C_{ab}^2\big)^{-1/2}

with :math:`\Lambda_4 = (1+C_{aa})(1+C_{bb}) - C_{ab}^2` and
:math:`\Lambda_0(c,d) = \Lambda_4 C_{cd} - x_c^\top P x_d`, where
:math:`x_c = (C_{ac}, C_{bc})` and
:math:`P = \begin{pmatrix}1+C_{bb} & -C_{ab}\\ -C_{ab} & 1+C_{aa}\end{pmatrix}`;
:math:`\Lambda_1 = \Lambda_0(c,c) + \Lambda_4`, :math:`\Lambda_2 = \Lambda_0(d,d) + \Lambda_4`.
The bilinear form is the expanded :math:`\Lambda_0` of ``theory/equations.md`` §7 regrouped so that
:math:`x_c` is computed once per ``(a, b, c)``.

For the linear activation :math:`g(z) = z`: :math:`I_2 = C_{ab}`, :math:`I_3 = C_{bc}`,
:math:`I_4 = C_{cd}`, :math:`J_2 = 1` (exact limits used in tests).

The kernels are vectorised over whole index ranges of one covariance matrix, compute each
distinct value once (``I_2`` and ``J_2`` symmetric, ``I_4`` symmetric in ``(a,b)`` and in
``(c,d)``), write into caller-owned arrays (no allocation in the ODE hot loop) and return
the number of arguments outside the domain (``|arcsin argument| > 1`` or a non-positive
:math:`\Lambda`), which the solvers treat as divergence.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import kernel_cache
from .codes import ERF, LINEAR

# Every kernel module imports this one first: drop on-disk kernels compiled from other
# versions of the kernel sources before any of them is loaded (see ode.kernel_cache).
kernel_cache.drop_stale()

__all__ = ["ERF", "LINEAR", "activation_code", "i3_row", "i4_block", "i4_block_packed",
           "I2", "I3", "I4", "J2"]

_TWO_PI = 2.0 / math.pi
_FOUR_PI2 = 4.0 / math.pi**2
_TOL = 1e-12  # rounding slack on |arcsin argument| <= 1


def activation_code(name: str) -> int:
    """Integer code of an activation name ('erf' or 'linear')."""
    return {"erf": ERF, "linear": LINEAR}[name]


@njit(cache=True, inline="always")
def _asin(x: float) -> tuple[float, int]:
    if x > 1.0:
        return math.pi / 2, int(x > 1.0 + _TOL)
    if x < -1.0:
        return -math.pi / 2, int(x < -1.0 - _TOL)
    return math.asin(x), 0


# arcsin without branches, so that the loops of i4_block vectorise (libm's asin does not):
# the rational approximation of FreeBSD's e_asin.c (Sun's fdlibm), asin x = x + x R(x²) for
# |x| < 1/2 and π/2 − 2(s + s R(s²)), s = √((1 − |x|)/2), above; the argument of R is
# selected, then the result. Within 2 ulp of libm's asin on [−1, 1] (tests/test_integrals.py).
# Arguments beyond ±1 (rounding) give ±π/2, NaN stays NaN.
_PS = (1.66666666666666657415e-01, -3.25565818622400915405e-01, 2.01212532134862925881e-01,
       -4.00555345006794114027e-02, 7.91534994289814532176e-04, 3.47933107596021167570e-05)
_QS = (-2.40339491173441421878e00, 2.02094576023350569471e00, -6.88283971605453293030e-01,
       7.70381505559019352791e-02)


@njit(cache=True, inline="always", error_model="numpy")
def _asin_r(z):
    p = z * (_PS[0] + z * (_PS[1] + z * (_PS[2] + z * (_PS[3] + z * (_PS[4] + z * _PS[5])))))
    q = 1.0 + z * (_QS[0] + z * (_QS[1] + z * (_QS[2] + z * _QS[3])))
    return p / q


@njit(cache=True, inline="always", error_model="numpy")
def _asin_select(x):
    """``arcsin(x)`` by the branch-free rational approximation (see the comment above);
    ``x`` outside ``[−1, 1]`` gives ``±π/2``."""
    ax = abs(x)
    ax = 1.0 if ax > 1.0 else ax
    small = ax < 0.5
    z = ax * ax if small else (1.0 - ax) * 0.5
    r = _asin_r(z)  # one rational function for both branches
    s = math.sqrt(z)
    return math.copysign(ax + ax * r if small else math.pi / 2 - 2.0 * (s + s * r), x)


@njit(cache=True)
def i2_matrix(C, n, act, out):
    """``out[a, b] = I2(a, b)`` for ``a, b < n``; returns the number of domain errors."""
    bad = 0
    if act == LINEAR:
        for a in range(n):
            for b in range(n):
                out[a, b] = C[a, b]
        return 0
    for a in range(n):
        da = 1.0 + C[a, a]
        for b in range(a, n):
            s, e = _asin(C[a, b] / math.sqrt(da * (1.0 + C[b, b])))
            bad += e
            out[a, b] = _TWO_PI * s
            out[b, a] = out[a, b]
    return bad


@njit(cache=True)
def i3_row(C, a, nb, nc, act, out):
    """``out[b, c] = I3(a, b, c)`` for ``b < nb, c < nc``: row ``a`` of the I3 tensor;
    returns domain errors."""
    if act == LINEAR:
        for b in range(nb):
            for c in range(nc):
                out[b, c] = C[b, c]
        return 0
    bad = 0
    da = 1.0 + C[a, a]
    # the prefactors parked in out[0, :], so that the loops over c (innermost, contiguous)
    # vectorise; b = 0 last, where each prefactor is replaced by its entry
    pre = out[0]
    for c in range(nc):
        lam3 = da * (1.0 + C[c, c]) - C[a, c] * C[a, c]
        if lam3 <= 0.0:
            bad += 1
            lam3 = 1e-300
        pre[c] = _TWO_PI / (da * math.sqrt(lam3))
    for b in range(nb - 1, -1, -1):
        cab = C[a, b]
        for c in range(nc):
            out[b, c] = pre[c] * (C[b, c] * da - cab * C[a, c])
    return bad


@njit(cache=True)
def i3_tensor(C, na, nb, nc, act, out):
    """``out[a, b, c] = I3(a, b, c)`` for ``a < na, b < nb, c < nc`` (the rows of
    :func:`i3_row`); returns domain errors."""
    bad = 0
    for a in range(na):
        bad += i3_row(C, a, nb, nc, act, out[a])
    return bad


@njit(cache=True, error_model="numpy")
def _i4_block_setup(C, a, b, nc, scratch):
    """The per-block quantities of the ``(a, b)`` block of I4 (:func:`i4_block_packed`).

    Fills ``scratch[:nc] = x_a = C[a, :nc]``, ``scratch[nc:2nc] = x_b`` and
    ``scratch[2nc:3nc] = Λ1(c)^{-1/2}`` (``scratch`` holds at least ``3·nc`` floats) and returns
    ``(Λ4, 4/(π² √Λ4), domain errors)``; ``Λ1`` once per ``c``, ``Λ4`` once per block.
    """
    bad = 0
    xa = scratch[:nc]
    xb = scratch[nc : 2 * nc]
    rs = scratch[2 * nc : 3 * nc]  # Λ1(c)^{-1/2}: the arcsin argument is Λ0(c,d)·rs[c]·rs[d]
    daa = 1.0 + C[a, a]
    dbb = 1.0 + C[b, b]
    cab = C[a, b]
    lam4 = daa * dbb - cab * cab
    if lam4 <= 0.0:
        bad += 1
        lam4 = 1e-300
    for c in range(nc):
        xa[c] = C[a, c]
        xb[c] = C[b, c]
        form = xa[c] * xa[c] * dbb - 2.0 * xa[c] * xb[c] * cab + xb[c] * xb[c] * daa
        lam1 = lam4 * (1.0 + C[c, c]) - form
        if lam1 <= 0.0:
            bad += 1
            lam1 = 1e-300
        rs[c] = 1.0 / math.sqrt(lam1)
    return lam4, _FOUR_PI2 / math.sqrt(lam4), bad


@njit(cache=True, error_model="numpy")
def i4_block_packed(C, a, b, nc, act, scratch, out):
    """The upper triangle of the ``(a, b)`` block of I4, packed row by row: row ``c`` holds
    ``I4(a, b, c, d)`` for ``c ≤ d < nc`` at ``out[t_c + d − c]``, ``t_c = c·nc − c(c−1)/2``
    (``nc(nc+1)/2`` floats); ``scratch`` holds at least ``3·nc`` floats
    (:func:`_i4_block_setup`). Returns the number of domain errors.

    The arcsin arguments ``Λ0(c, d) Λ1(c)^{-1/2} Λ1(d)^{-1/2}`` are written first, then the
    arcsin runs over the whole triangle in one long loop: the rows are short (1 to ``nc``),
    and a vector loop over a row runs mostly in its scalar remainder.
    """
    if act == LINEAR:
        t = 0
        for c in range(nc):
            for d in range(c, nc):
                out[t] = C[c, d]
                t += 1
        return 0
    lam4, pref, bad = _i4_block_setup(C, a, b, nc, scratch)
    xa = scratch[:nc]
    xb = scratch[nc : 2 * nc]
    rs = scratch[2 * nc : 3 * nc]
    t = 0
    for c in range(nc):
        # P x_c (the adjugate of the (a, b) covariance applied to x_c), reused for every d
        pa = (1.0 + C[b, b]) * xa[c] - C[a, b] * xb[c]
        pb = (1.0 + C[a, a]) * xb[c] - C[a, b] * xa[c]
        rc = rs[c]
        # unsigned indices: no negative-index wraparound, so the loop vectorises (and no
        # views, whose reference counts would cost more than a short row)
        for j in range(nc - c):
            d = np.uint64(c + j)
            lam0 = lam4 * C[c, d] - (pa * xa[d] + pb * xb[d])
            out[np.uint64(t + j)] = lam0 * rc * rs[d]
        t += nc - c
    for i in range(t):
        x = out[i]
        bad += (x > 1.0 + _TOL) + (x < -1.0 - _TOL)
        out[i] = pref * _asin_select(x)
    return bad


@njit(cache=True, error_model="numpy")
def i4_block(C, a, b, nc, act, out, scratch):
    """``out[c, d] = I4(a, b, c, d)`` for ``c, d < nc``: the ``(a, b)`` block of the I4
    tensor (symmetric in ``(c, d)``; each distinct value computed once, by
    :func:`i4_block_packed`). ``out`` is a contiguous ``(nc, nc)`` array and ``scratch``
    holds at least ``3·nc`` floats. Returns the number of domain errors. For the stored
    tables (:func:`i4_tensor`); the η_J²/V term of the drift contracts the packed triangle.
    """
    flat = out.reshape(nc * nc)
    bad = i4_block_packed(C, a, b, nc, act, scratch, flat)
    # unpack in place: row c moves up by c(c+1)/2, so going down from the last element
    # never overwrites one still to be moved
    for c in range(nc - 1, -1, -1):
        tc = c * nc - c * (c - 1) // 2
        for d in range(nc - 1, c - 1, -1):
            flat[c * nc + d] = flat[tc + d - c]
    for c in range(nc):
        for d in range(c + 1, nc):
            out[d, c] = out[c, d]
    return bad


@njit(cache=True)
def i4_tensor(C, na, nc, act, out, scratch):
    """``out[a, b, c, d] = I4(a, b, c, d)`` for ``a, b < na`` and ``c, d < nc``: the blocks
    of :func:`i4_block` for ``a ≤ b`` (the ``(b, a)`` block is a copy). ``scratch`` holds at
    least ``3·nc`` floats. Returns the number of domain errors.
    """
    bad = 0
    for a in range(na):
        for b in range(a, na):
            bad += i4_block(C, a, b, nc, act, out[a, b], scratch)
            if b != a:
                for c in range(nc):
                    for d in range(nc):
                        out[b, a, c, d] = out[a, b, c, d]
    return bad


@njit(cache=True)
def j2_matrix(C, na, act, out):
    """``out[a, b] = J2(a, b) = E[g'(z_a) g'(z_b)]`` for ``a, b < na``."""
    if act == LINEAR:
        for a in range(na):
            for b in range(na):
                out[a, b] = 1.0
        return 0
    bad = 0
    for a in range(na):
        for b in range(a, na):
            det = (1.0 + C[a, a]) * (1.0 + C[b, b]) - C[a, b] * C[a, b]
            if det <= 0.0:
                bad += 1
                det = 1e-300
            out[a, b] = _TWO_PI / math.sqrt(det)
            out[b, a] = out[a, b]
    return bad


# --------------------------------------------------------------------------- Python API
def _cov(C) -> np.ndarray:
    C = np.ascontiguousarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be a square matrix, got shape {C.shape}")
    return C


def I2(C, activation: str = "erf") -> np.ndarray:
    """Matrix ``I2[a, b]`` over all fields of the covariance ``C``."""
    C = _cov(C)
    out = np.empty(C.shape)
    i2_matrix(C, C.shape[0], activation_code(activation), out)
    return out


def I3(C, activation: str = "erf") -> np.ndarray:
    """Tensor ``I3[a, b, c]`` over all fields of ``C``."""
    C = _cov(C)
    n = C.shape[0]
    out = np.empty((n, n, n))
    i3_tensor(C, n, n, n, activation_code(activation), out)
    return out


def I4(C, activation: str = "erf") -> np.ndarray:
    """Tensor ``I4[a, b, c, d]`` over all fields of ``C``."""
    C = _cov(C)
    n = C.shape[0]
    out = np.empty((n, n, n, n))
    i4_tensor(C, n, n, activation_code(activation), out, np.empty(3 * n))
    return out


def J2(C, activation: str = "erf") -> np.ndarray:
    """Matrix ``J2[a, b]`` over all fields of ``C``."""
    C = _cov(C)
    out = np.empty(C.shape)
    j2_matrix(C, C.shape[0], activation_code(activation), out)
    return out
