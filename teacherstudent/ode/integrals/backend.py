r"""Integrals backend for every activation, with per-field activation codes.

The drift asks for the Gaussian expectations of :mod:`.closed_form` for fields that may
carry different activations (student fields the student's, teacher fields the teacher's):
``acts[i]`` is the activation code of field ``i`` of ``C``. Each kernel dispatches:

* all involved fields ``erf`` (or all ``linear``): the closed forms of :mod:`.closed_form`
  (whole-matrix kernels, checked once per call, so the erf drift keeps its cost);
* ``relu``, and mixtures of ``relu``, ``erf`` and ``linear``: exact reductions to Gaussian
  orthant probabilities (Stein's lemma, Price's theorem; the 4-variate orthant probability
  by the Price-path integral of :mod:`.fourpoint`), see ``theory/activations.md``; this
  includes the four-point function F4 (up to four z factors in the Stein tree). All
  relu: whole-table closed forms (``I4``: orthant probabilities from tables shared by the
  entries), mixtures: the per-entry orthant engine;
* smooth activations (``tanh``, ``sigmoid``, ``softplus``, ``gelu``) and their mixtures with
  ``erf``/``linear``: Gauss–Hermite product rules in a whitened basis of the distinct fields
  of each integral (``quad``, from :func:`quadrature_rule`).

``relu`` mixed with a smooth activation other than erf/linear is not provided: the
kernels count such entries as domain errors (value NaN).

Kernels (numba, caller-owned outputs, return the number of domain errors):
``i2_matrix_acts``, ``i3_tensor_acts``, ``i4_tensor_acts``, ``j2_matrix_acts``,
``f4_tensor_lambda_acts``; scalars ``i2_dcov``, ``i2_diag_dcov``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import closed_form, fourpoint
from .codes import (
    ACTIVATIONS,
    DEFAULT_QUADRATURE_ORDER,
    ERF,
    GELU,
    LINEAR,
    RELU,
    SIGMOID,
    SOFTPLUS,
    TANH,
    activation_code,
    has_f4,
    quadrature_rule,
)

__all__ = [
    "ERF",
    "LINEAR",
    "RELU",
    "TANH",
    "SIGMOID",
    "SOFTPLUS",
    "GELU",
    "ACTIVATIONS",
    "DEFAULT_QUADRATURE_ORDER",
    "activation_code",
    "has_f4",
    "quadrature_rule",
    "all_closed_form",
    "i2_matrix_acts",
    "i3_tensor_acts",
    "i4_tensor_acts",
    "j2_matrix_acts",
    "i2_dcov",
    "i2_diag_dcov",
    "f4_tensor_lambda_acts",
]



# --------------------------------------------------------------------------- exact engine
# Fields with activations in {relu, erf, linear} (theory/activations.md §1). Every factor
# is written with Gaussian "variables" v = z_f (+ ξ, an independent N(0, 1) per factor):
#   relu: g = z θ(z), g' = θ(z), g'' = δ(z)
#   erf:  g = 2 θ(z + ξ) − 1, g' = 2 δ(z + ξ), g'' = −2 z δ(z + ξ)
#   linear: g = z, g' = 1, g'' = 0
# A term is c · Π δ(v_k) · Π z_i · Π θ(v_j). The δs condition the Gaussian (density at 0
# times the Schur complement); the ≤ 4 remaining z factors are removed one at a time by
# Stein's lemma, E[z_i h] = Σ_j Cov(z_i, v_j) E[∂_j h], where ∂ hits another z factor
# (Cov(z_i, z_j) E[rest]) or a θ (∂θ = δ: density at 0 times the conditioned Gaussian,
# means stay 0); what remains are orthant probabilities of ≤ 4 variables (closed forms up
# to 3, the Price-path integral of fourpoint.sign4 for 4). Each Stein level conditions
# into the next covariance of ``Ws``: _e_m uses levels lvl..lvl+m, and the δs leave
# lvl ≤ 1, so the 6 levels of _work hold the 4-z tree (F4 of relu/linear fields).
_NV = 12  # variables per term: ≤ 4 slots × (δ or θ, z)
_TWO_PI = 2.0 / math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_ONE = 1.0 - 1e-12  # |correlation| beyond which two orthant variables are merged
# slot kinds: the derivative order of g in the slot (0, 1, 2)


@njit(cache=True, inline="always")
def _rho(W, i, j):
    r = W[i, j] / math.sqrt(W[i, i] * W[j, j])
    return min(1.0, max(-1.0, r))


@njit(cache=True, inline="always")
def _merge4(r01, r02, r03, r12, r13, r23):
    """How four orthant variables are merged (or cut) when a pair is perfectly correlated
    (the Price path of ``sign4`` needs a regular matrix): −1 the probability is 0 (a pair at
    −1), 0 regular, 1 drop variable 0 (r01 or r02 at 1), 2 drop variable 1 (r12), 3 drop
    variable 3 (r03, r13 or r23); in 1–3 variable 3 replaces the dropped one."""
    if min(r01, r02, r03, r12, r13, r23) <= -_ONE:
        return -1
    if r01 >= _ONE or r02 >= _ONE:
        return 1
    if r12 >= _ONE:
        return 2
    if r03 >= _ONE or r13 >= _ONE or r23 >= _ONE:
        return 3
    return 0


@njit(cache=True, inline="always")
def _p4(f, r01, r02, r03, r12, r13, r23, a01, a02, a03, a12, a13, a23):
    """f·P(4 regular orthant variables) from their correlations and arcsines (the ``a``s):
    16 P4 = 1 + (2/π) Σ arcsin ρ + E[s1 s2 s3 s4] (sign4). Returns (P, error)."""
    s4, e = fourpoint.sign4(r01, r02, r03, r12, r13, r23)
    tot = 1.0 + _TWO_PI * (a01 + a02 + a03 + a12 + a13 + a23)
    return f * (tot + s4) / 16.0, e


@njit(cache=True)
def _orth(W, mask, nv, eps):
    """P(v_j > 0 for the variables j in ``mask``); a variable of (numerically) zero
    variance is the constant 0 and counts ½ (the symmetric limit). Returns (P, error)."""
    f = 1.0
    i0 = i1 = i2 = i3 = -1
    cnt = 0
    for k in range(nv):
        if (mask >> k) & 1:
            if W[k, k] <= eps:
                f *= 0.5
                continue
            if cnt == 0:
                i0 = k
            elif cnt == 1:
                i1 = k
            elif cnt == 2:
                i2 = k
            elif cnt == 3:
                i3 = k
            cnt += 1
    if cnt > 4:
        return math.nan, 1
    if cnt == 4:
        r01, r02, r03 = _rho(W, i0, i1), _rho(W, i0, i2), _rho(W, i0, i3)
        r12, r13, r23 = _rho(W, i1, i2), _rho(W, i1, i3), _rho(W, i2, i3)
        m = _merge4(r01, r02, r03, r12, r13, r23)
        if m < 0:
            return 0.0, 0
        if m == 0:
            a01, a02, a03 = math.asin(r01), math.asin(r02), math.asin(r03)
            a12, a13, a23 = math.asin(r12), math.asin(r13), math.asin(r23)
            return _p4(f, r01, r02, r03, r12, r13, r23, a01, a02, a03, a12, a13, a23)
        if m == 1:
            i0 = i3
        elif m == 2:
            i1 = i3
        cnt = 3
    if cnt == 3:
        return f * (
            0.125
            + (math.asin(_rho(W, i0, i1)) + math.asin(_rho(W, i0, i2)) + math.asin(_rho(W, i1, i2)))
            / (4.0 * math.pi)
        ), 0
    if cnt == 2:
        return f * (0.25 + math.asin(_rho(W, i0, i1)) / (2.0 * math.pi)), 0
    if cnt == 1:
        return 0.5 * f, 0
    return f, 0


@njit(cache=True, inline="always")
def _condition(W, Wn, k, nv):
    """Wn = covariance of the variables given v_k = 0 (Schur complement)."""
    inv = 1.0 / W[k, k]
    for i in range(nv):
        for j in range(nv):
            Wn[i, j] = W[i, j] - W[i, k] * W[k, j] * inv


@njit(cache=True)
def _e1(Ws, lvl, i, mask, nv, eps):
    """E[z_i Π_{j∈mask} θ(v_j)] with the covariance Ws[lvl] (Stein's lemma)."""
    W = Ws[lvl]
    acc = 0.0
    bad = 0
    for k in range(nv):
        if (mask >> k) & 1 and W[k, k] > eps and W[i, k] != 0.0:
            Wn = Ws[lvl + 1]
            _condition(W, Wn, k, nv)
            p, e = _orth(Wn, mask & ~(1 << k), nv, eps)
            bad += e
            acc += W[i, k] * _INV_SQRT_2PI / math.sqrt(W[k, k]) * p
    return acc, bad


@njit(cache=True)
def _e2(Ws, lvl, i, j, mask, nv, eps):
    """E[z_i z_j Π_{k∈mask} θ(v_k)] (Stein's lemma on z_i)."""
    W = Ws[lvl]
    p, bad = _orth(W, mask, nv, eps)
    acc = W[i, j] * p
    for k in range(nv):
        if (mask >> k) & 1 and W[k, k] > eps and W[i, k] != 0.0:
            _condition(W, Ws[lvl + 1], k, nv)
            v, e = _e1(Ws, lvl + 1, j, mask & ~(1 << k), nv, eps)
            bad += e
            acc += W[i, k] * _INV_SQRT_2PI / math.sqrt(W[k, k]) * v
    return acc, bad


@njit(cache=True)
def _e3(Ws, lvl, i, j, l, mask, nv, eps):
    """E[z_i z_j z_l Π_{k∈mask} θ(v_k)] (Stein's lemma on z_i): the derivative hits z_j,
    z_l (Cov times a 1-z term) or a θ (a 2-z term of the conditioned Gaussian)."""
    W = Ws[lvl]
    acc = 0.0
    bad = 0
    if W[i, j] != 0.0:
        v, e = _e1(Ws, lvl, l, mask, nv, eps)
        bad += e
        acc += W[i, j] * v
    if W[i, l] != 0.0:
        v, e = _e1(Ws, lvl, j, mask, nv, eps)
        bad += e
        acc += W[i, l] * v
    for k in range(nv):
        if (mask >> k) & 1 and W[k, k] > eps and W[i, k] != 0.0:
            _condition(W, Ws[lvl + 1], k, nv)
            v, e = _e2(Ws, lvl + 1, j, l, mask & ~(1 << k), nv, eps)
            bad += e
            acc += W[i, k] * _INV_SQRT_2PI / math.sqrt(W[k, k]) * v
    return acc, bad


@njit(cache=True)
def _e4(Ws, lvl, i, j, l, m, mask, nv, eps):
    """E[z_i z_j z_l z_m Π_{k∈mask} θ(v_k)] (Stein's lemma on z_i)."""
    W = Ws[lvl]
    acc = 0.0
    bad = 0
    if W[i, j] != 0.0:
        v, e = _e2(Ws, lvl, l, m, mask, nv, eps)
        bad += e
        acc += W[i, j] * v
    if W[i, l] != 0.0:
        v, e = _e2(Ws, lvl, j, m, mask, nv, eps)
        bad += e
        acc += W[i, l] * v
    if W[i, m] != 0.0:
        v, e = _e2(Ws, lvl, j, l, mask, nv, eps)
        bad += e
        acc += W[i, m] * v
    for k in range(nv):
        if (mask >> k) & 1 and W[k, k] > eps and W[i, k] != 0.0:
            _condition(W, Ws[lvl + 1], k, nv)
            v, e = _e3(Ws, lvl + 1, j, l, m, mask & ~(1 << k), nv, eps)
            bad += e
            acc += W[i, k] * _INV_SQRT_2PI / math.sqrt(W[k, k]) * v
    return acc, bad


@njit(cache=True)
def _exact(C, fl, kd, ns, acts, Ws, vf, va, eps):
    """E[Π_s g^{(kd[s])}_{acts[fl[s]]}(z_{fl[s]})] for ``ns`` ≤ 4 slots with activations in
    {relu, erf, linear}. ``Ws``: (6, _NV, _NV) work array (≥ 4 with ≤ 2 z factors);
    ``vf``, ``va``: int work arrays (≥ _NV). Returns (value, domain errors).

    Repeated fields share one variable (θ² = θ; relu·relu = z²θ, the two z factors on the
    same variable), so the orthant variables are the distinct θ fields (≤ 4); the z
    factors (relu and linear g slots, erf g'' slots: ≤ 4) are packed 4 bits each in
    ``zp``."""
    # erf g slots expand into 2θ(y) − 1: enumerate the subsets
    nerf = 0
    for s in range(ns):
        if acts[fl[s]] == ERF and kd[s] == 0:
            nerf += 1
    total = 0.0
    bad = 0
    for sub in range(1 << nerf):
        coef = 1.0
        nv = 0
        dmask = 0
        tmask = 0
        zp = 0  # variable index of z factor q in bits 4q..4q+3
        nz = 0
        ie = 0
        zero = False
        for s in range(ns):
            f = fl[s]
            a = acts[f]
            k = kd[s]
            if a == LINEAR:
                if k == 2:
                    zero = True
                elif k == 0:
                    vf[nv] = f
                    va[nv] = 0
                    zp |= nv << (4 * nz)
                    nz += 1
                    nv += 1
            elif a == RELU:
                if k == 2:
                    vf[nv] = f
                    va[nv] = 0
                    dmask |= 1 << nv
                    nv += 1
                else:
                    # θ(z_f), merged with an existing one (θ² = θ); relu = z θ(z): the z
                    # factor is the same Gaussian variable (Stein needs only its row)
                    t0 = -1
                    for t in range(nv):
                        if (tmask >> t) & 1 and vf[t] == f and va[t] == 0:
                            t0 = t
                    if t0 < 0:
                        vf[nv] = f
                        va[nv] = 0
                        tmask |= 1 << nv
                        t0 = nv
                        nv += 1
                    if k == 0:
                        zp |= t0 << (4 * nz)
                        nz += 1
            else:  # ERF
                if k == 0:
                    if (sub >> ie) & 1:
                        vf[nv] = f
                        va[nv] = 1
                        tmask |= 1 << nv
                        nv += 1
                        coef *= 2.0
                    else:
                        coef = -coef
                    ie += 1
                else:
                    vf[nv] = f
                    va[nv] = 1
                    dmask |= 1 << nv
                    nv += 1
                    coef *= 2.0
                    if k == 2:
                        coef = -coef
                        vf[nv] = f
                        va[nv] = 0
                        zp |= nv << (4 * nz)
                        nz += 1
                        nv += 1
        if zero:
            continue
        if nz > 4:
            return math.nan, 1
        W = Ws[0]
        for i in range(nv):
            for j in range(nv):
                W[i, j] = C[vf[i], vf[j]]
            W[i, i] += va[i]
        lvl = 0
        for k in range(nv):
            if (dmask >> k) & 1:
                if Ws[lvl][k, k] <= eps:
                    return math.nan, 1
                coef *= _INV_SQRT_2PI / math.sqrt(Ws[lvl][k, k])
                _condition(Ws[lvl], Ws[lvl + 1], k, nv)
                lvl += 1
        if lvl > 1:  # lvl ≤ 1: levels lvl..lvl+4 free for the Stein tree
            for i in range(nv):
                for j in range(nv):
                    Ws[0][i, j] = Ws[lvl][i, j]
            lvl = 0
        z0 = zp & 15
        z1 = (zp >> 4) & 15
        z2 = (zp >> 8) & 15
        z3 = (zp >> 12) & 15
        if nz == 0:
            v, e = _orth(Ws[lvl], tmask, nv, eps)
        elif nz == 1:
            v, e = _e1(Ws, lvl, z0, tmask, nv, eps)
        elif nz == 2:
            v, e = _e2(Ws, lvl, z0, z1, tmask, nv, eps)
        elif nz == 3:
            v, e = _e3(Ws, lvl, z0, z1, z2, tmask, nv, eps)
        else:
            v, e = _e4(Ws, lvl, z0, z1, z2, z3, tmask, nv, eps)
        bad += e
        total += coef * v
    return total, bad


# --------------------------------------------------------------------------- quadrature
# Smooth activations (theory/activations.md §2). The distinct fields of an integral are
# written in a whitened basis z = L x, x ~ N(0, I_r) (pivoted Cholesky: repeated or
# linearly dependent fields cost no dimension), and E is a product of 1-D trapezoid rules
# in x (geometric convergence for integrands analytic in a strip, where Gauss–Hermite
# stalls on the poles of tanh and sigmoid at Im z = ±π/2, ±π). The z-step of a field
# may be at most _zstep(activation) rule steps h (the trapezoid error in z decays like
# e^{-2πd/h_z}, d the half-width of the strip; the steps give ≲ 1e-12 per coordinate at
# the default order and shrink with h, so the order sets the resolution): coordinate d
# uses every k_d-th node, k_d = ⌊min_f _zstep(f)/|L_fd|⌋, never finer than the rule and
# capped so the x-step stays ≤ _H_MAX (the Gaussian itself); node products with weight
# below _PRUNE of the largest are skipped (the Gaussian tails).
_H_MAX = 0.625  # x-step cap: 5 rule steps at the default order (1e-12 on the Gaussian)
_PRUNE = 1e-13  # relative weight of a skipped node product (4-D: drops 3e-12 of the mass)


@njit(cache=True, inline="always")
def _zstep(a):
    """Largest z-step of activation ``a`` in rule steps h: tanh 2 (poles at Im z = ±π/2),
    sigmoid and softplus 4 (±iπ), erf and gelu 3 (Gaussian-shaped derivatives, whose
    error also grows with the x-step), linear unbounded (polynomial)."""
    if a == TANH:
        return 2.0
    if a == SIGMOID or a == SOFTPLUS:
        return 4.0
    if a == LINEAR:
        return math.inf
    return 3.0


@njit(cache=True, inline="always")
def _g(a, k, z):
    """g^{(k)}(z) for activation code ``a`` (k = 0, 1, 2)."""
    if a == ERF:
        if k == 0:
            return math.erf(z * 0.7071067811865476)
        e = 0.7978845608028654 * math.exp(-0.5 * z * z)
        return e if k == 1 else -z * e
    if a == LINEAR:
        return z if k == 0 else (1.0 if k == 1 else 0.0)
    if a == TANH:
        t = math.tanh(z)
        if k == 0:
            return t
        return 1.0 - t * t if k == 1 else -2.0 * t * (1.0 - t * t)
    if a == SIGMOID or a == SOFTPLUS:
        if z >= 0.0:
            e = math.exp(-z)
            sg = 1.0 / (1.0 + e)
        else:
            e = math.exp(z)
            sg = e / (1.0 + e)
        if a == SIGMOID:
            k += 1
        if k == 0:  # softplus
            return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
        if k == 1:
            return sg
        if k == 2:
            return sg * (1.0 - sg)
        return sg * (1.0 - sg) * (1.0 - 2.0 * sg)
    if a == GELU:
        ph = 0.3989422804014327 * math.exp(-0.5 * z * z)
        if k == 0:
            return z * 0.5 * math.erfc(-z * 0.7071067811865476)
        if k == 1:
            return 0.5 * math.erfc(-z * 0.7071067811865476) + z * ph
        return ph * (2.0 - z * z)
    if a == RELU:  # not used by the dispatch (kinks); for forced-quadrature tests
        if k == 0:
            return max(z, 0.0)
        return (1.0 if z > 0.0 else 0.0) if k == 1 else 0.0
    return math.nan


@njit(cache=True)
def _line(acts, fl, kd, sA, sB, nin, base, lc, XN, WN, d, cnt, cut):
    """Σ_t WN[d, t] Π g(base + lc XN[d, t]) over the ≤ 2 slots ``sA, sB`` of one field,
    nodes of weight ≥ ``cut`` (the innermost level of :func:`_quad`)."""
    aA = acts[fl[sA]]
    kA = kd[sA]
    acc = 0.0
    if nin == 1:
        for t in range(cnt):
            w = WN[d, t]
            if w >= cut:
                acc += w * _g(aA, kA, base + lc * XN[d, t])
        return acc
    aB = acts[fl[sB]]
    kB = kd[sB]
    for t in range(cnt):
        w = WN[d, t]
        if w >= cut:
            zz = base + lc * XN[d, t]
            acc += w * _g(aA, kA, zz) * _g(aB, kB, zz)
    return acc


@njit(cache=True)
def _quad(C, fl, kd, ns, acts, quad, wk):
    """E[Π_s g^{(kd[s])}_{acts[fl[s]]}(z_{fl[s]})] for ``ns`` ≤ 4 slots by the product
    trapezoid rule ``quad`` in a whitened basis.
    ``wk``: float work array (≥ 64 + 4·2·n). Returns (value, domain errors)."""
    # distinct fields (uf) and the field of each slot (us)
    m = 0
    us = np.empty(4, np.int64)  # small fixed arrays: stack-allocated by LLVM
    uf = np.empty(4, np.int64)
    for s in range(ns):
        j = -1
        for t in range(m):
            if uf[t] == fl[s]:
                j = t
        if j < 0:
            uf[m] = fl[s]
            j = m
            m += 1
        us[s] = j
    # pivoted Cholesky of the m×m covariance: L[j, d], pivot order piv
    S = wk[0:16].reshape((4, 4))
    L = wk[16:32].reshape((4, 4))
    for i in range(m):
        for j in range(m):
            S[i, j] = C[uf[i], uf[j]]
            L[i, j] = 0.0
    scale = 0.0
    for i in range(m):
        scale = max(scale, S[i, i])
    if not scale > 0.0:  # all fields identically 0
        v = 1.0
        for s in range(ns):
            v *= _g(acts[fl[s]], kd[s], 0.0)
        return v, 0
    lev = np.empty(4, np.int64)
    done = np.zeros(4, np.bool_)
    r = 0
    for d in range(m):
        best = -1
        bv = 1e-13 * scale
        for i in range(m):
            if not done[i]:
                res = S[i, i]
                for e in range(d):
                    res -= L[i, e] * L[i, e]
                if res > bv:
                    bv = res
                    best = i
        if best < 0:
            break
        done[best] = True
        L[best, d] = math.sqrt(bv)
        for i in range(m):
            if not done[i]:
                acc = S[i, best]
                for e in range(d):
                    acc -= L[i, e] * L[best, e]
                L[i, d] = acc / L[best, d]
        lev[best] = d
        r += 1
    for i in range(m):
        if not done[i]:
            lev[i] = r - 1  # dependent field: known once all coordinates are
    # per-level nodes and weights (subsampled rule)
    n = quad.shape[1]
    c0 = n // 2
    h = quad[0, c0 + 1] - quad[0, c0] if n > 1 else 1.0
    kmax = max(1, int(_H_MAX / h))
    cnt = np.ones(4, np.int64)
    XN = wk[64 : 64 + 4 * n].reshape((4, n))
    WN = wk[64 + 4 * n : 64 + 8 * n].reshape((4, n))
    wmax = 1.0
    for d in range(4):
        if d < r:
            sd = 0.0  # 1 / (the largest stride every field of coordinate d allows)
            for i in range(m):
                sd = max(sd, abs(L[i, d]) / _zstep(acts[uf[i]]))
            k = int(1.0 / sd) if sd * kmax > 1.0 else kmax
            k = max(1, min(k, kmax))
            J = min(c0, n - 1 - c0) // k
            cnt[d] = 2 * J + 1
            wm = 0.0
            for t in range(2 * J + 1):
                i = c0 + (t - J) * k
                XN[d, t] = quad[0, i]
                WN[d, t] = quad[1, i] * k
                wm = max(wm, WN[d, t])
            wmax *= wm
        else:
            XN[d, 0] = 0.0
            WN[d, 0] = 1.0
    thr = _PRUNE * wmax
    # the innermost active level: a line sum over one field (≤ 2 slots) when it can
    Lr = r - 1
    nin = 0
    sA = -1
    sB = -1
    fin = -1
    fast = True
    for s in range(ns):
        if lev[us[s]] == Lr:
            if nin == 0:
                sA = s
                fin = us[s]
            elif nin == 1:
                sB = s
            if us[s] != fin:
                fast = False
            nin += 1
    fast = fast and 1 <= nin <= 2
    acc = 0.0
    if fast and Lr == 0:
        return _line(acts, fl, kd, sA, sB, nin, 0.0, L[fin, 0], XN, WN, 0, cnt[0], thr), 0
    z = np.empty(4)
    for i0 in range(cnt[0]):
        x0 = XN[0, i0]
        w0 = WN[0, i0]
        if w0 < thr:
            continue
        f0 = 1.0
        for s in range(ns):
            if lev[us[s]] == 0:
                f0 *= _g(acts[fl[s]], kd[s], L[us[s], 0] * x0)
        if fast and Lr == 1:
            acc += (
                w0
                * f0
                * _line(
                    acts,
                    fl,
                    kd,
                    sA,
                    sB,
                    nin,
                    L[fin, 0] * x0,
                    L[fin, 1],
                    XN,
                    WN,
                    1,
                    cnt[1],
                    thr / w0,
                )
            )
            continue
        for i1 in range(cnt[1]):
            x1 = XN[1, i1]
            w1 = w0 * WN[1, i1]
            if w1 < thr:
                continue
            f1 = f0
            for s in range(ns):
                if lev[us[s]] == 1:
                    f1 *= _g(acts[fl[s]], kd[s], L[us[s], 0] * x0 + L[us[s], 1] * x1)
            if fast and Lr == 2:
                acc += (
                    w1
                    * f1
                    * _line(
                        acts,
                        fl,
                        kd,
                        sA,
                        sB,
                        nin,
                        L[fin, 0] * x0 + L[fin, 1] * x1,
                        L[fin, 2],
                        XN,
                        WN,
                        2,
                        cnt[2],
                        thr / w1,
                    )
                )
                continue
            for i2 in range(cnt[2]):
                x2 = XN[2, i2]
                w2 = w1 * WN[2, i2]
                if w2 < thr:
                    continue
                f2 = f1
                for j in range(m):
                    z[j] = L[j, 0] * x0 + L[j, 1] * x1 + L[j, 2] * x2
                for s in range(ns):
                    if lev[us[s]] == 2:
                        f2 *= _g(acts[fl[s]], kd[s], z[us[s]])
                if fast and Lr == 3:
                    acc += (
                        w2
                        * f2
                        * _line(
                            acts,
                            fl,
                            kd,
                            sA,
                            sB,
                            nin,
                            z[fin],
                            L[fin, 3],
                            XN,
                            WN,
                            3,
                            cnt[3],
                            thr / w2,
                        )
                    )
                    continue
                for i3 in range(cnt[3]):
                    w3 = w2 * WN[3, i3]
                    if w3 < thr:
                        continue
                    x3 = XN[3, i3]
                    f3 = f2
                    for s in range(ns):
                        if lev[us[s]] == 3:
                            f3 *= _g(acts[fl[s]], kd[s], z[us[s]] + L[us[s], 3] * x3)
                    acc += w3 * f3
    return acc, 0


@njit(cache=True)
def _family(a):
    """0: erf/linear/relu (exact engine), 1: smooth (quadrature; erf/linear also)."""
    return 0 if a <= RELU else 1


@njit(cache=True)
def _expect(C, fl, kd, ns, acts, quad, Ws, vf, va, wk, eps, force_quad):
    """Dispatch one expectation: the exact engine if every field is relu/erf/linear,
    the quadrature if none is relu; relu with a smooth activation: NaN, 1 error."""
    exact = True
    has_relu = False
    for s in range(ns):
        a = acts[fl[s]]
        if a > RELU:
            exact = False
        if a == RELU:
            has_relu = True
    if exact and not force_quad:
        return _exact(C, fl, kd, ns, acts, Ws, vf, va, eps)
    if has_relu and not force_quad:
        return math.nan, 1
    return _quad(C, fl, kd, ns, acts, quad, wk)


# --------------------------------------------------------------------------- relu closed forms
# All fields relu (theory/activations.md §1): with det = C_aa C_bb − C_ab², ρ = C_ab/σ_aσ_b,
#   I2 = (√det + C_ab (π/2 + asin ρ))/(2π)   [= σσ'(sin θ + (π − θ) cos θ)/(2π), θ = acos ρ]
#   J2 = 1/4 + asin ρ/(2π),  E[δ(z_a) relu(z_c)] = √det_ac/(2π C_aa)
#   I3 = C_ba E[δ(z_a) relu(z_c)] + C_bc J2(a, c)  (a ≠ c),  C_ba/2  (a = c)
@njit(cache=True, inline="always")
def _relu_rho(C, a, b):
    v = C[a, a] * C[b, b]
    if not v > 0.0:
        return 0.0, 0.0
    det = max(v - C[a, b] * C[a, b], 0.0)
    return min(1.0, max(-1.0, C[a, b] / math.sqrt(v))), det


@njit(cache=True)
def _relu_i2(C, n, out):
    for a in range(n):
        out[a, a] = 0.5 * C[a, a]
        for b in range(a + 1, n):
            r, det = _relu_rho(C, a, b)
            v = (math.sqrt(det) + C[a, b] * (0.5 * math.pi + math.asin(r))) / (2.0 * math.pi)
            out[a, b] = v
            out[b, a] = v
    return 0


@njit(cache=True)
def _relu_j2(C, n, out):
    for a in range(n):
        out[a, a] = 0.5
        for b in range(a + 1, n):
            r, _ = _relu_rho(C, a, b)
            v = 0.25 + math.asin(r) / (2.0 * math.pi)
            out[a, b] = v
            out[b, a] = v
    return 0


@njit(cache=True)
def _relu_i3(C, na, nb, nc, out):
    bad = 0
    for a in range(na):
        caa = C[a, a]
        if not caa > 0.0:
            bad += 1
            caa = 1e-300
        for c in range(nc):
            if c == a:
                for b in range(nb):
                    out[a, b, c] = 0.5 * C[b, a]
                continue
            r, det = _relu_rho(C, a, c)
            p = math.sqrt(det) / (2.0 * math.pi * caa)
            q = 0.25 + math.asin(r) / (2.0 * math.pi)
            for b in range(nb):
                out[a, b, c] = C[b, a] * p + C[b, c] * q
    return bad


# All-relu I4 (theory/activations.md §1): the Stein tree of the exact engine
# (_exact → _e2 → _e1 → _orth) with what the entries share computed once per call: the
# correlations ρ_ij and asin ρ_ij of every pair (the orthant probabilities of ≤ 3 fields
# are sums of them), the covariances given one field = 0 (Schur complements) and the
# Stein coefficients of both levels. An entry of ≤ 3 distinct fields then costs a few
# table look-ups (given two fields = 0 at most one is left: probability ½ or 1). The
# entries of four distinct fields are taken per set S of fields, shared by its splits
# {a, b} | {c, d}: P(S) (one sign4) and the 12 probabilities of the two fields left given
# two fields = 0 (one asin each). The operations (and their order) are those of the
# engine, so the values are the engine's to round-off (bitwise, but for the shared P(S)),
# degenerate cases included.
_RELU_SHARED = 1.0 - 1e-6  # |ρ| below which P(S) of four fields is shared by its orders
_RELU_DET4 = 1e-8  # and above which determinant of their correlation matrix


@njit(cache=True)
def _relu_orth(vs, s, C, rho, asn, eps):
    """P(z_j > 0, j ∈ vs[:s]) from the tables of :func:`_relu_i4` (``_orth`` at level 0:
    a zero-variance field counts ½; 4 fields: merged at |ρ| ≥ 1 − 1e-12, else sign4).
    Returns (P, error)."""
    f = 1.0
    i0 = i1 = i2 = i3 = -1
    cnt = 0
    for t in range(s):
        k = vs[t]
        if C[k, k] <= eps:
            f *= 0.5
            continue
        if cnt == 0:
            i0 = k
        elif cnt == 1:
            i1 = k
        elif cnt == 2:
            i2 = k
        else:
            i3 = k
        cnt += 1
    if cnt == 4:
        r01, r02, r03 = rho[i0, i1], rho[i0, i2], rho[i0, i3]
        r12, r13, r23 = rho[i1, i2], rho[i1, i3], rho[i2, i3]
        m = _merge4(r01, r02, r03, r12, r13, r23)
        if m < 0:
            return 0.0, 0
        if m == 0:
            a01, a02, a03 = asn[i0, i1], asn[i0, i2], asn[i0, i3]
            a12, a13, a23 = asn[i1, i2], asn[i1, i3], asn[i2, i3]
            return _p4(f, r01, r02, r03, r12, r13, r23, a01, a02, a03, a12, a13, a23)
        if m == 1:
            i0 = i3
        elif m == 2:
            i1 = i3
        cnt = 3
    if cnt == 3:
        return f * (0.125 + (asn[i0, i1] + asn[i0, i2] + asn[i1, i2]) / (4.0 * math.pi)), 0
    if cnt == 2:
        return f * (0.25 + asn[i0, i1] / (2.0 * math.pi)), 0
    if cnt == 1:
        return 0.5 * f, 0
    return f, 0


@njit(cache=True)
def _relu_p4(ss, C, rho, asn, eps):
    """P(z_j > 0, j ∈ ss) for four distinct fields by sign4, once for every order of the
    fields, where no field has zero variance and every |ρ| < 1 − 1e-6 (there sign4 does
    not depend on the order of its arguments beyond 3e-14; closer to ±1 its round-off
    depends on the order, up to 1e-11 at 1 − 1e-12) and the correlation matrix has a
    determinant > 1e-8 (a singular one, e.g. a student field in the span of three teacher
    fields, is a sign4 domain error or not depending on the order). Returns
    (regular, P, error), ``regular`` False otherwise: the caller then uses
    :func:`_relu_orth` in the order of each entry, as the engine (merges, cuts, and sign4
    with the engine's arguments and domain errors)."""
    i0, i1, i2, i3 = ss[0], ss[1], ss[2], ss[3]
    if C[i0, i0] <= eps or C[i1, i1] <= eps or C[i2, i2] <= eps or C[i3, i3] <= eps:
        return False, 0.0, 0
    r01, r02, r03 = rho[i0, i1], rho[i0, i2], rho[i0, i3]
    r12, r13, r23 = rho[i1, i2], rho[i1, i3], rho[i2, i3]
    if max(abs(r01), abs(r02), abs(r03), abs(r12), abs(r13), abs(r23)) >= _RELU_SHARED:
        return False, 0.0, 0
    if not fourpoint.corr_det4(r01, r02, r03, r12, r13, r23) > _RELU_DET4:
        return False, 0.0, 0  # (nearly) singular: sign4's domain test depends on the order
    s4, e = fourpoint.sign4(r01, r02, r03, r12, r13, r23)
    if e:
        return False, 0.0, 0
    tot = 1.0 + _TWO_PI * (
        asn[i0, i1] + asn[i0, i2] + asn[i0, i3] + asn[i1, i2] + asn[i1, i3] + asn[i2, i3]
    )
    return True, (tot + s4) / 16.0, 0


@njit(cache=True)
def _relu_p2(ss, C1, eps, P2):
    """``P2[x, y] = P(z_m > 0, z_n > 0 | z_k = z_l = 0)`` for the four distinct fields
    ``ss`` (``k = ss[x]``, ``l = ss[y]``, ``{m, n}`` the other two), from the covariances
    ``C1[k]`` given ``z_k = 0`` (the Schur complement once more, as the engine: a field of
    zero conditional variance counts ½). 0 where ``z_k`` or ``z_l`` has zero (conditional)
    variance (no Stein term)."""
    for x in range(4):
        k = ss[x]
        for y in range(4):
            if y == x:
                continue
            l = ss[y]
            wll = C1[k, l, l]
            if not wll > eps:
                P2[x, y] = 0.0
                continue
            inv = 1.0 / wll
            f = 1.0
            m0 = m1 = -1
            w00 = w11 = 0.0
            cnt = 0
            for t in range(4):
                if t == x or t == y:
                    continue
                m = ss[t]
                wmm = C1[k, m, m] - C1[k, m, l] * C1[k, l, m] * inv
                if wmm <= eps:
                    f *= 0.5
                elif cnt == 0:
                    m0 = m
                    w00 = wmm
                    cnt = 1
                else:
                    m1 = m
                    w11 = wmm
                    cnt = 2
            if cnt == 2:
                w01 = C1[k, m0, m1] - C1[k, m0, l] * C1[k, l, m1] * inv
                r = min(1.0, max(-1.0, w01 / math.sqrt(w00 * w11)))
                P2[x, y] = f * (0.25 + math.asin(r) / (2.0 * math.pi))
            elif cnt == 1:
                P2[x, y] = 0.5 * f
            else:
                P2[x, y] = f


@njit(cache=True)
def _relu_i4(C, na, nc, out):
    """``out[a, b, c, d] = E[θ(z_a) θ(z_b) relu(z_c) relu(z_d)]`` for ``a, b < na``,
    ``c, d < nc``: the I4 table when all fields are relu (``θ = relu'``).

    Repeated indices merge (``θ² = θ``, ``θ relu = relu``), so an entry is
    ``E[z_c z_d Π_{j∈S} θ(z_j)]`` over the distinct fields ``S``, and Stein's lemma on
    ``z_c``, then on ``z_d`` given ``z_k = 0``, gives

    ``C_cd P(S) + Σ_{k∈S} C_ck φ_k Σ_{l∈S∖k} C^(k)_dl φ^(k)_l P(S∖{k,l} | z_k = z_l = 0)``

    (``φ`` the density at 0, ``C^(k)`` the covariance given ``z_k = 0``): ``P(S)`` is the
    only orthant probability of more than 2 variables (closed forms up to 3 fields,
    :func:`.fourpoint.sign4` for 4). The values are those of the generic engine
    (:func:`_i4_entries`, ~7× slower) to round-off, degenerate cases included: a field of
    zero (conditional) variance counts ½, four fields with a correlation ≥ 1 − 1e-12 are
    merged, ≤ −(1 − 1e-12) give 0 (so a perfect student, teacher fields equal to student
    fields, gives the engine's values).

    Parameters
    ----------
    C : (n, n) array
        Covariance of the fields, ``n ≥ max(na, nc)``.
    na, nc : int
        Number of ``θ`` (``g'``) and ``relu`` (``g``) fields.
    out : (≥ na, ≥ na, ≥ nc, ≥ nc) array
        Written for ``a, b < na``, ``c, d < nc``.

    Returns
    -------
    int
        The number of domain errors (entries whose sign4 failed).
    """
    n = max(na, nc)
    big = 1.0
    for i in range(n):
        big = max(big, C[i, i])
    eps = 1e-14 * big  # the engine's zero-variance threshold (_work)
    rho = np.zeros((n, n))
    asn = np.zeros((n, n))
    c0 = np.zeros((n, n))  # Stein coefficient C_ik φ_k of level 0
    C1 = np.zeros((n, n, n))  # C1[k] = covariance given z_k = 0
    c1 = np.zeros((n, n, n))  # c1[k, j, l] = C1[k]_jl φ^(k)_l
    for i in range(n):
        if C[i, i] <= eps:
            continue
        for j in range(n):
            if C[j, j] > eps:
                r = min(1.0, max(-1.0, C[i, j] / math.sqrt(C[i, i] * C[j, j])))
                rho[i, j] = r
                asn[i, j] = math.asin(r)
    for k in range(n):
        if C[k, k] <= eps:
            continue
        inv = 1.0 / C[k, k]
        sk = math.sqrt(C[k, k])
        for i in range(n):
            c0[i, k] = C[i, k] * _INV_SQRT_2PI / sk
            for j in range(n):
                C1[k, i, j] = C[i, j] - C[i, k] * C[k, j] * inv
        for l in range(n):
            if C1[k, l, l] > eps:
                sl = math.sqrt(C1[k, l, l])
                for j in range(n):
                    c1[k, j, l] = C1[k, j, l] * _INV_SQRT_2PI / sl
    vs = np.empty(4, np.int64)
    bad = 0
    # entries of ≤ 3 distinct fields: P(S) from the asin table; given two fields = 0 at
    # most one is left, so P(S∖{k, l} | ·) = ½ (|S| = 3; ½ also for zero variance) or 1
    for a in range(na):
        for b in range(a, na):
            for c in range(nc):
                for d in range(c, nc):
                    # the distinct fields, in the engine's order (its merges depend on it)
                    vs[0] = a
                    s = 1
                    if b != a:
                        vs[s] = b
                        s += 1
                    if c != a and c != b:
                        vs[s] = c
                        s += 1
                    if d != a and d != b and d != c:
                        if s == 3:
                            continue  # four distinct fields: below
                        vs[s] = d
                        s += 1
                    p, e = _relu_orth(vs, s, C, rho, asn, eps)
                    bad += e
                    p2 = 0.5 if s == 3 else 1.0
                    acc = C[c, d] * p
                    for ik in range(s):
                        k = vs[ik]
                        acc1 = 0.0
                        for il in range(s):
                            if il != ik:
                                acc1 += c1[k, d, vs[il]] * p2
                        acc += c0[c, k] * acc1
                    out[a, b, c, d] = acc
                    out[a, b, d, c] = acc
                    out[b, a, c, d] = acc
                    out[b, a, d, c] = acc
    # four distinct fields: per set S (sorted in ss), shared by its splits {a, b} | {c, d},
    # P(S) (sign4, unless degenerate) and P2[x, y] = P(S∖{k, l} | z_k = z_l = 0) for the
    # ordered pairs of positions (k = ss[x], l = ss[y])
    ss = np.empty(4, np.int64)
    pos = np.empty(4, np.int64)
    P2 = np.zeros((4, 4))
    for s0 in range(n):
        ss[0] = s0
        for s1 in range(s0 + 1, n):
            ss[1] = s1
            for s2 in range(s1 + 1, n):
                ss[2] = s2
                for s3 in range(s2 + 1, n):
                    ss[3] = s3
                    ready = False
                    regular = False
                    p4 = 0.0
                    e4 = 0
                    for i in range(3):
                        for j in range(i + 1, 4):
                            if ss[j] >= na:
                                continue
                            pos[0] = i
                            pos[1] = j
                            t = 2
                            for x in range(4):
                                if x != i and x != j:
                                    pos[t] = x
                                    t += 1
                            if ss[pos[3]] >= nc:
                                continue
                            if not ready:
                                ready = True
                                regular, p4, e4 = _relu_p4(ss, C, rho, asn, eps)
                                _relu_p2(ss, C1, eps, P2)
                            for t in range(4):
                                vs[t] = ss[pos[t]]
                            a, b, c, d = vs[0], vs[1], vs[2], vs[3]
                            if regular:
                                p = p4
                                e = e4
                            else:
                                p, e = _relu_orth(vs, 4, C, rho, asn, eps)
                            bad += e
                            acc = C[c, d] * p
                            for ik in range(4):
                                k = vs[ik]
                                acc1 = 0.0
                                for il in range(4):
                                    if il != ik:
                                        acc1 += c1[k, d, vs[il]] * P2[pos[ik], pos[il]]
                                acc += c0[c, k] * acc1
                            out[a, b, c, d] = acc
                            out[a, b, d, c] = acc
                            out[b, a, c, d] = acc
                            out[b, a, d, c] = acc
    return bad


# --------------------------------------------------------------------------- dispatch
@njit(cache=True, inline="always")
def _all_equal(acts, n):
    a0 = acts[0]
    for i in range(1, n):
        if acts[i] != a0:
            return False
    return True


@njit(cache=True)
def _work(C, n, quad):
    """Work arrays of the per-entry engines (allocated once per kernel call) and the
    zero-variance threshold."""
    big = 1.0
    for i in range(n):
        big = max(big, C[i, i])
    return (
        np.empty((6, _NV, _NV)),
        np.empty(_NV, np.int64),
        np.empty(_NV, np.int64),
        np.empty(64 + 8 * quad.shape[1]),
        1e-14 * big,
        np.empty(4, np.int64),
        np.empty(4, np.int64),
    )


@njit(cache=True)
def _pair(C, a, ka, b, kb, acts, quad, w, force_quad):
    Ws, vf, va, wk, eps, fl, kd = w
    fl[0] = a
    kd[0] = ka
    fl[1] = b
    kd[1] = kb
    return _expect(C, fl, kd, 2, acts, quad, Ws, vf, va, wk, eps, force_quad)


@njit(cache=True)
def _quadruple(C, a, ka, b, kb, c, kc, d, kdd, acts, quad, w, force_quad):
    Ws, vf, va, wk, eps, fl, kd = w
    fl[0] = a
    kd[0] = ka
    fl[1] = b
    kd[1] = kb
    fl[2] = c
    kd[2] = kc
    fl[3] = d
    kd[3] = kdd
    return _expect(C, fl, kd, 4, acts, quad, Ws, vf, va, wk, eps, force_quad)


@njit(cache=True)
def _i2_entries(C, n, acts, quad, out, force_quad):
    w = _work(C, n, quad)
    bad = 0
    for a in range(n):
        for b in range(a, n):
            v, e = _pair(C, a, 0, b, 0, acts, quad, w, force_quad)
            bad += e
            out[a, b] = v
            out[b, a] = v
    return bad


@njit(cache=True)
def _j2_entries(C, na, acts, quad, out, force_quad):
    w = _work(C, na, quad)
    bad = 0
    for a in range(na):
        for b in range(a, na):
            v, e = _pair(C, a, 1, b, 1, acts, quad, w, force_quad)
            bad += e
            out[a, b] = v
            out[b, a] = v
    return bad


@njit(cache=True)
def _i3_entries(C, na, nb, nc, acts, quad, out, force_quad):
    """Stein's lemma on z_b: I3(a,b,c) = C_ba E[g_a''(z_a) g_c(z_c)] + C_bc E[g_a' g_c']
    (a ≠ c), C_ba E[g_a'' g_a + g_a'²] (a = c): two 2-D integrals per (a, c)."""
    w = _work(C, max(na, nc), quad)
    bad = 0
    for a in range(na):
        for c in range(nc):
            p, e1 = _pair(C, a, 2, c, 0, acts, quad, w, force_quad)
            q, e2 = _pair(C, a, 1, c, 1, acts, quad, w, force_quad)
            bad += e1 + e2
            if a == c:
                for b in range(nb):
                    out[a, b, c] = C[b, a] * (p + q)
            else:
                for b in range(nb):
                    out[a, b, c] = C[b, a] * p + C[b, c] * q
    return bad


@njit(cache=True)
def _i4_entries(C, na, nc, acts, quad, out, force_quad):
    w = _work(C, max(na, nc), quad)
    bad = 0
    for a in range(na):
        for b in range(a, na):
            for c in range(nc):
                for d in range(c, nc):
                    v, e = _quadruple(C, a, 1, b, 1, c, 0, d, 0, acts, quad, w, force_quad)
                    bad += e
                    out[a, b, c, d] = v
                    out[a, b, d, c] = v
                    out[b, a, c, d] = v
                    out[b, a, d, c] = v
    return bad


@njit(cache=True)
def _f4_entries(C, n, n_lambda, acts, quad, out, force_quad):
    w = _work(C, n, quad)
    nl = min(n_lambda, n)
    bad = 0
    for a in range(n):
        for b in range(a, nl):
            for c in range(b, n):
                for d in range(c, n):
                    # relu/erf/linear: the orthant engine (4 z factors for relu, linear);
                    # relu beside a smooth activation: NaN, a domain error (_expect)
                    v, e = _quadruple(C, a, 0, b, 0, c, 0, d, 0, acts, quad, w, force_quad)
                    bad += e
                    fourpoint.fill_permutations(out, a, b, c, d, v)
    return bad


@njit(cache=True)
def all_closed_form(acts, n):
    """Whether the first ``n`` fields all carry one closed-form activation (erf or linear):
    then the closed-form kernels of :mod:`.closed_form` apply, e.g. one I4 block at a time."""
    return _all_equal(acts, n) and acts[0] <= LINEAR


@njit(cache=True)
def i2_matrix_acts(C, n, acts, quad, out):
    """``out[a, b] = E[g_a(z_a) g_b(z_b)]`` for ``a, b < n`` (``g_a`` the activation
    ``acts[a]``); returns the number of domain errors."""
    if _all_equal(acts, n) and acts[0] <= LINEAR:
        return closed_form.i2_matrix(C, n, acts[0], out)
    if _all_equal(acts, n) and acts[0] == RELU:
        return _relu_i2(C, n, out)
    return _i2_entries(C, n, acts, quad, out, False)


@njit(cache=True)
def i3_tensor_acts(C, na, nb, nc, acts, quad, out):
    """``out[a, b, c] = E[g_a'(z_a) z_b g_c(z_c)]`` for ``a < na, b < nb, c < nc``
    (``z_b`` carries no activation: ``acts`` needs ``max(na, nc)`` entries); returns the
    number of domain errors."""
    if _all_equal(acts, max(na, nc)) and acts[0] <= LINEAR:
        return closed_form.i3_tensor(C, na, nb, nc, acts[0], out)
    if _all_equal(acts, max(na, nc)) and acts[0] == RELU:
        return _relu_i3(C, na, nb, nc, out)
    return _i3_entries(C, na, nb, nc, acts, quad, out, False)


@njit(cache=True)
def i4_tensor_acts(C, na, nc, acts, quad, out, scratch):
    """``out[a, b, c, d] = E[g_a'(z_a) g_b'(z_b) g_c(z_c) g_d(z_d)]`` for ``a, b < na``,
    ``c, d < nc``; ``scratch`` at least ``3 nc`` floats (closed forms). All fields erf
    or linear: the closed forms; all relu: :func:`_relu_i4` (orthant probabilities with
    tables shared by the entries); otherwise the per-entry engines. Returns the number of
    domain errors."""
    if _all_equal(acts, max(na, nc)) and acts[0] <= LINEAR:
        return closed_form.i4_tensor(C, na, nc, acts[0], out, scratch)
    if _all_equal(acts, max(na, nc)) and acts[0] == RELU:
        return _relu_i4(C, na, nc, out)
    return _i4_entries(C, na, nc, acts, quad, out, False)


@njit(cache=True)
def j2_matrix_acts(C, na, acts, quad, out):
    """``out[a, b] = E[g_a'(z_a) g_b'(z_b)]`` for ``a, b < na``."""
    if _all_equal(acts, na) and acts[0] <= LINEAR:
        return closed_form.j2_matrix(C, na, acts[0], out)
    if _all_equal(acts, na) and acts[0] == RELU:
        return _relu_j2(C, na, out)
    return _j2_entries(C, na, acts, quad, out, False)


@njit(cache=True)
def i2_dcov(C, a, b, acts, quad):
    """``(∂I2(a,b)/∂C_ab, ∂I2(a,b)/∂C_aa)`` for ``a ≠ b`` (Price's theorem:
    ``E[g_a' g_b']`` and ``½ E[g_a''(z_a) g_b(z_b)]``); NaN where not available."""
    if acts[a] == LINEAR and acts[b] == LINEAR:
        return 1.0, 0.0
    if acts[a] == ERF and acts[b] == ERF:
        da = 1.0 + C[a, a]
        det = da * (1.0 + C[b, b]) - C[a, b] * C[a, b]
        root = math.sqrt(max(det, 1e-300))
        return _TWO_PI / root, -0.5 * _TWO_PI * C[a, b] / (da * root)
    w = _work(C, max(a, b) + 1, quad)
    p, _ = _pair(C, a, 1, b, 1, acts, quad, w, False)
    q, _ = _pair(C, a, 2, b, 0, acts, quad, w, False)
    return p, 0.5 * q


@njit(cache=True)
def i2_diag_dcov(C, a, acts, quad):
    """``dI2(a,a)/dC_aa = E[g_a'(z_a)² + g_a(z_a) g_a''(z_a)]``; NaN where not available."""
    if acts[a] == LINEAR:
        return 1.0
    if acts[a] == ERF:
        c = C[a, a]
        return _TWO_PI / ((1.0 + c) * math.sqrt(1.0 + 2.0 * c))
    w = _work(C, a + 1, quad)
    p, _ = _pair(C, a, 1, a, 1, acts, quad, w, False)
    q, _ = _pair(C, a, 2, a, 0, acts, quad, w, False)
    return p + q


@njit(cache=True)
def f4_tensor_lambda_acts(C, n, n_lambda, acts, quad, out, scratch):
    """``out[a, b, c, d] = E[g_a g_b g_c g_d]`` for the quadruples of
    :func:`.fourpoint.f4_tensor_lambda` (at least two indices ``< n_lambda``); ``scratch``
    at least :func:`.fourpoint.f4_scratch_size` ``(n)`` floats. erf/linear alone: the
    Price path of :mod:`.fourpoint`; relu and its mixtures with erf/linear: the orthant
    engine (exact up to the 1-D integral ``fourpoint.sign4``); smooth activations:
    quadrature. Returns the number of domain errors (NaN entries; also the quadruples
    with relu beside a smooth activation)."""
    if _all_equal(acts, n) and acts[0] <= LINEAR:
        return fourpoint.f4_tensor_lambda(C, n, n_lambda, acts[0], out, scratch)
    return _f4_entries(C, n, n_lambda, acts, quad, out, False)


# --------------------------------------------------------------------------- Python API
def _acts_array(n, activation, teacher_activation, K, acts):
    if acts is not None:
        codes = [a if isinstance(a, (int, np.integer)) else activation_code(a) for a in acts]
        if len(codes) != n:
            raise ValueError(f"acts must have one entry per field ({n}), got {len(codes)}")
        return np.asarray(codes, dtype=np.int64)
    out = np.full(n, activation_code(activation), dtype=np.int64)
    if teacher_activation is not None:
        if K is None:
            raise ValueError("teacher_activation needs K (the number of student fields)")
        out[K:] = activation_code(teacher_activation)
    return out


def _prep(C, activation, teacher_activation, K, acts, order):
    C = np.ascontiguousarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be a square matrix, got shape {C.shape}")
    n = C.shape[0]
    return C, n, _acts_array(n, activation, teacher_activation, K, acts), quadrature_rule(order)


def I2(
    C,
    activation="erf",
    teacher_activation=None,
    K=None,
    acts=None,
    order=DEFAULT_QUADRATURE_ORDER,
    force_quadrature=False,
):
    """Matrix ``I2[a, b] = E[g_a(z_a) g_b(z_b)]`` over all fields of ``C``.

    Parameters
    ----------
    C : (n, n) array
        Covariance of the fields.
    activation : str
        Activation of every field (of the first ``K`` if ``teacher_activation`` is given).
    teacher_activation : str, optional
        Activation of the fields ``K..n-1``.
    K : int, optional
        Number of student fields (with ``teacher_activation``).
    acts : sequence, optional
        Per-field activation names or codes (overrides the two above).
    order : int
        Points of the quadrature rule (smooth activations).
    force_quadrature : bool
        Use the quadrature also where an exact path exists (tests).

    Returns
    -------
    (n, n) array (NaN where not available).

    Examples
    --------
    >>> import numpy as np
    >>> float(I2(np.eye(1), "relu")[0, 0])
    0.5
    """
    C, n, a, q = _prep(C, activation, teacher_activation, K, acts, order)
    out = np.empty((n, n))
    if force_quadrature:
        _i2_entries(C, n, a, q, out, True)
    else:
        i2_matrix_acts(C, n, a, q, out)
    return out


def J2(
    C,
    activation="erf",
    teacher_activation=None,
    K=None,
    acts=None,
    order=DEFAULT_QUADRATURE_ORDER,
    force_quadrature=False,
):
    """Matrix ``J2[a, b] = E[g_a'(z_a) g_b'(z_b)]``; parameters as :func:`I2`."""
    C, n, a, q = _prep(C, activation, teacher_activation, K, acts, order)
    out = np.empty((n, n))
    if force_quadrature:
        _j2_entries(C, n, a, q, out, True)
    else:
        j2_matrix_acts(C, n, a, q, out)
    return out


def I3(
    C,
    activation="erf",
    teacher_activation=None,
    K=None,
    acts=None,
    order=DEFAULT_QUADRATURE_ORDER,
    force_quadrature=False,
):
    """Tensor ``I3[a, b, c] = E[g_a'(z_a) z_b g_c(z_c)]``; parameters as :func:`I2`."""
    C, n, a, q = _prep(C, activation, teacher_activation, K, acts, order)
    out = np.empty((n, n, n))
    if force_quadrature:
        _i3_entries(C, n, n, n, a, q, out, True)
    else:
        i3_tensor_acts(C, n, n, n, a, q, out)
    return out


def I4(
    C,
    activation="erf",
    teacher_activation=None,
    K=None,
    acts=None,
    order=DEFAULT_QUADRATURE_ORDER,
    force_quadrature=False,
):
    """Tensor ``I4[a, b, c, d] = E[g_a' g_b' g_c g_d]``; parameters as :func:`I2`."""
    C, n, a, q = _prep(C, activation, teacher_activation, K, acts, order)
    out = np.empty((n, n, n, n))
    if force_quadrature:
        _i4_entries(C, n, n, a, q, out, True)
    else:
        i4_tensor_acts(C, n, n, a, q, out, np.empty(3 * n))
    return out


def F4(
    C,
    activation="erf",
    teacher_activation=None,
    K=None,
    acts=None,
    order=DEFAULT_QUADRATURE_ORDER,
    force_quadrature=False,
):
    """Tensor ``F4[a, b, c, d] = E[g_a g_b g_c g_d]`` (NaN for relu beside a smooth
    activation); parameters as :func:`I2`."""
    C, n, a, q = _prep(C, activation, teacher_activation, K, acts, order)
    out = np.empty((n, n, n, n))
    if force_quadrature:
        _f4_entries(C, n, n, a, q, out, True)
    else:
        f4_tensor_lambda_acts(C, n, n, a, q, out, np.empty(fourpoint.f4_scratch_size(n)))
    return out


def dcov(
    C,
    a,
    b,
    activation="erf",
    teacher_activation=None,
    K=None,
    acts=None,
    order=DEFAULT_QUADRATURE_ORDER,
):
    """``i2_dcov`` (``a ≠ b``) or ``i2_diag_dcov`` (``a = b``) from Python."""
    C, n, ac, q = _prep(C, activation, teacher_activation, K, acts, order)
    if a == b:
        return i2_diag_dcov(C, a, ac, q)
    return i2_dcov(C, a, b, ac, q)
