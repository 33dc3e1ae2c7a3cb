r"""The four-point function :math:`F_4(a,b,c,d) = E[g(z_a) g(z_b) g(z_c) g(z_d)]`.

Fields :math:`z \sim N(0, C)`; indices may repeat. The finite-training-set (finite ``P``)
theory needs it for the covariance of the empirical Gram matrices,
:math:`\mathrm{Cov}(\hat\Phi_{ab}, \hat\Phi_{cd}) = (F_4(a,b,c,d) - I_2(a,b) I_2(c,d))/P`.
Derivation, checks and the convergence tables: ``theory/fourpoint.md`` and
``theory/fourpoint.py``.

**Linear** ``g(z) = z`` (Isserlis): :math:`F_4 = C_{ab}C_{cd} + C_{ac}C_{bd} + C_{ad}C_{bc}`.

**erf** ``g(z) = erf(z/√2)``: there is no elementary closed form (it is a 4-variate orthant
probability). With :math:`\mathrm{erf}(z/\sqrt2) = E_\xi[\mathrm{sign}(z+\xi)]`,
:math:`\xi \sim N(0,1)` independent per factor,

.. math::

   F_4 = E\Big[\prod_{i=1}^4 \mathrm{sign}(y_i)\Big],\qquad y \sim N(0, \Sigma),\quad
   \Sigma_{ij} = C_{f_i f_j} + \delta_{ij},

where :math:`f_i` is the field of position :math:`i`. :math:`\Sigma \succeq I` is positive
definite also when indices repeat (two copies of one field have covariance :math:`C_{aa}`,
variance :math:`1 + C_{aa}`). Only the correlations :math:`r_{ij}` of :math:`y` matter.
Pick a position :math:`l` and scale its correlations, :math:`r_{il}(t) = t\,r_{il}`,
:math:`t \in [0, 1]`: at :math:`t = 0` :math:`y_l` is independent of the others and
:math:`F_4 = 0`. Price's theorem :math:`\partial E[f]/\partial\Sigma_{ij} = E[\partial_i
\partial_j f]` with :math:`\partial\,\mathrm{sign} = 2\delta` gives

.. math::

   F_4 = \int_0^1 \frac{4}{\pi^2} \sum_{p \ne l}
      \frac{r_{pl}}{\sqrt{1 - t^2 r_{pl}^2}}\,
      \arcsin \frac{\alpha_{qr} + t^2\beta_{qr}}
                   {\sqrt{(\alpha_{qq} + t^2\beta_{qq})(\alpha_{rr} + t^2\beta_{rr})}}\,dt,

:math:`\{q, r\} = \{0..3\} \setminus \{p, l\}` — each term is the :math:`I_4` closed form
(bivariate density of :math:`(y_p, y_l)` at 0 times the conditional arcsine law of
:math:`(y_q, y_r)`) at the path covariance. The conditional covariance is linear in
:math:`s = t^2`: :math:`\alpha_{qr} = r_{qr} - r_{qp}r_{rp}`,
:math:`\beta_{qr} = -r_{pl}^2 r_{qr} + r_{pl}(r_{qp}r_{rl} + r_{ql}r_{rp}) - r_{ql}r_{rl}`
(:math:`\alpha_{qq}, \beta_{qq}` with :math:`r_{qq} = 1`). The integrand is even in
:math:`t` (:math:`y_l \to -y_l` maps :math:`t \to -t` and :math:`F_4 \to -F_4`) and
analytic except at :math:`t = \pm 1/R` and farther, where :math:`R` is the multiple
correlation of :math:`y_l` on the other three (:math:`\det\Sigma(t) = 0`) and of its
subsets. The substitution :math:`t = 2u / (R(1+u^2))`, :math:`u \in [0, W]`,
:math:`W = R/(1+\sqrt{1-R^2})` (:math:`t = \sin\varphi/R`, :math:`u = \tan(\varphi/2)`)
makes :math:`\sqrt{1 - R^2t^2} = (1-u^2)/(1+u^2)` rational, which removes the nearest
(square-root) singularity; the :math:`u`-integral of the even integrand is done with the
``m`` positive nodes of the ``2m``-point Gauss–Legendre rule. ``m`` is chosen from
:math:`R^2` (:data:`RULE_NODES`, :data:`RULE_R2_MAX`: calibrated in ``theory/fourpoint.py``
for a quadrature error :math:`\le 10^{-13}`, with a margin); :math:`l` is the position
with the smallest :math:`R` among those that keep the index symmetry. Repeated indices
share terms: two copies of a field at positions :math:`p, p'` give equal terms, so
``(a,a,b,c)`` and ``(a,a,b,b)`` need 2 terms, ``(a,a,a,b)`` and ``(a,a,a,a)`` 1,
distinct indices 3.

Kernels (numba, caller-owned outputs, no allocation):

* :func:`f4` — one value ``F4(a, b, c, d)`` (NaN outside the domain).
* :func:`f4_tensor` — the table ``out[a,b,c,d]`` for ``a,b,c,d < n``; each distinct
  sorted quadruple (``C(n+3, 4)`` of them) is computed once and written to all its
  permutations.
* :func:`f4_tensor_lambda` — the same, restricted to quadruples with at least two indices
  ``< n_lambda`` (the student fields in ``Cov(Φ̂_ka, Φ̂_lb)``, ``k, l < K``); the other
  entries of ``out`` are not touched.
* :func:`f4_scratch_size` — floats of ``scratch`` for ``n`` fields (also jitted).
* :func:`f4_nodes`, :func:`f4_path_r2` — a fixed rule, and the R² that picks the rule
  (convergence studies, tests).
* :func:`corr_det4` — the determinant of a 4×4 correlation matrix (domain tests).

relu (and relu mixed with erf and linear) has F4 too, from the orthant engine of
:mod:`.backend` (Stein's lemma to orthant probabilities, :func:`sign4` for four
variables); tanh, sigmoid, softplus and gelu by quadrature there.

The table kernels return the number of quadruples outside the domain (``C + I`` not
positive definite on the quadruple), whose entries are set to NaN.

Accuracy (``theory/fourpoint.py``): ≤ 4e-14 against 256 nodes and ≤ 3e-14 against three
independent references for variances ≤ 10; round-off grows with the variances (the
correlations of two copies of a field approach 1): ~2e-13 at 1e3, ~6e-12 at 1e4.
Cost (``benchmarks/bench_fourpoint.py``, K = M = 3, n = 6, typical overlaps): the full
table, 126 quadruples and ~700 Price-term evaluations, ~11 µs; the ≥ 2-student-index
table, 81 quadruples, ~7.5 µs; the scalar kernel ~0.2 µs per quadruple.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.polynomial.legendre import leggauss

from .closed_form import LINEAR, activation_code

__all__ = [
    "RULE_NODES",
    "RULE_R2_MAX",
    "f4",
    "f4_nodes",
    "f4_path_r2",
    "f4_tensor",
    "f4_tensor_lambda",
    "f4_scratch_size",
    "fill_permutations",
    "sign4",
    "corr_det4",
    "f4_distinct_count",
    "F4",
    "F4_nodes",
]

_FOUR_PI2 = 4.0 / math.pi**2

# Adaptive rule: the smallest RULE_NODES[i] with R² <= RULE_R2_MAX[i] (R the multiple
# correlation of the scaled position). Each threshold lies below the smallest R² at which
# that node count first exceeded a 1e-13 quadrature error on 30 000 random covariances
# (variances 0.01..1000, correlations up to 1 - 1e-6, all index patterns; see
# theory/fourpoint.py and theory/fourpoint.md); beyond the last one, 48 nodes.
RULE_NODES = np.array([2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32, 48], dtype=np.int64)
RULE_R2_MAX = np.array(
    [0.01, 0.10, 0.29, 0.50, 0.68, 0.78, 0.86, 0.92, 0.96, 0.988, 0.995, 0.998, 0.9993, 1.0],
    dtype=np.float64,
)


def _rules(ms):
    off = np.zeros(len(ms) + 1, dtype=np.int64)
    off[1:] = np.cumsum(ms)
    x = np.empty(off[-1])
    w = np.empty(off[-1])
    for i, m in enumerate(ms):
        xg, wg = leggauss(2 * int(m))
        x[off[i] : off[i + 1]] = xg[m:]  # positive nodes of the symmetric 2m-point rule
        w[off[i] : off[i + 1]] = wg[m:]
    return x, w, off


_X, _W, _OFF = _rules(RULE_NODES)  # module constants (frozen into the kernels by numba)
_NRULE = len(RULE_NODES)


# --------------------------------------------------------------------------- helpers
@njit(cache=True, inline="always", error_model="numpy")
def _det3(x, y, z):
    """det [[1, x, y], [x, 1, z], [y, z, 1]]."""
    return 1.0 + 2.0 * x * y * z - x * x - y * y - z * z


@njit(cache=True, inline="always", error_model="numpy")
def _multiple(r01, r02, r03, r12, r13, r23):
    """``R² det3`` for the unit-diagonal symmetric 4×4 matrix: ``vᵀ adj(M) v`` with M the
    block of positions (0, 1, 2) and v = (r03, r13, r23); det4 = det3 − this, and
    R² = this / det3 (no cancellation for small correlations)."""
    a00 = 1.0 - r12 * r12
    a11 = 1.0 - r02 * r02
    a22 = 1.0 - r01 * r01
    a01 = r02 * r12 - r01
    a02 = r01 * r12 - r02
    a12 = r01 * r02 - r12
    return (a00 * r03 * r03 + a11 * r13 * r13 + a22 * r23 * r23
            + 2.0 * (a01 * r03 * r13 + a02 * r03 * r23 + a12 * r13 * r23))


@njit(cache=True, inline="always", error_model="numpy")
def corr_det4(r01, r02, r03, r12, r13, r23):
    """Determinant of the unit-diagonal symmetric 4×4 correlation matrix, ``det3 − R² det3``
    (the same split :func:`sign4` uses to test its domain)."""
    return _det3(r01, r02, r12) - _multiple(r01, r02, r03, r12, r13, r23)


# asin(y) = y + y·z·P(z), z = y², on [0, 1/2]; P: degree-12 Chebyshev interpolant of
# (asin(√z)/√z − 1)/z on [0, 1/4] (|ΔP| < 2e-17); for |x| > 1/2 asin(x) = π/2 − 2 asin(√((1−x)/2)).
# Branch-free and inlined (no libm call), so the node loop keeps the FPU busy;
# max relative error 4e-16 against mpmath (theory/fourpoint.py).
_ASIN_P = (0.1666666666666666782652, 0.07499999999998432933169, 0.04464285714635542978265,
           0.03038194413853124728662, 0.02237217294214988787499, 0.01735239272086997294152,
           0.01397121297355293330419, 0.01147917741518490589579, 0.0103228143501857792869,
           0.00545750671864035830042, 0.01740087944269402244299, -0.01485188707124720322425,
           0.02875785136742156470806)
_HALF_PI = 0.5 * math.pi


@njit(cache=True, inline="always", error_model="numpy")
def _asin(x):
    """arcsin on [-1, 1] (the argument is clamped), branch-free polynomial."""
    ax = min(abs(x), 1.0)
    big = ax > 0.5
    z = 0.5 * (1.0 - ax) if big else ax * ax
    y = math.sqrt(z) if big else ax
    c = _ASIN_P
    p = c[12]
    p = p * z + c[11]
    p = p * z + c[10]
    p = p * z + c[9]
    p = p * z + c[8]
    p = p * z + c[7]
    p = p * z + c[6]
    p = p * z + c[5]
    p = p * z + c[4]
    p = p * z + c[3]
    p = p * z + c[2]
    p = p * z + c[1]
    p = p * z + c[0]
    u = y + y * z * p
    r = _HALF_PI - 2.0 * u if big else u
    return math.copysign(r, x)


@njit(cache=True, inline="always", error_model="numpy")
def _rule(R2):
    for i in range(_NRULE - 1):
        if R2 <= RULE_R2_MAX[i]:
            return i
    return _NRULE - 1


@njit(cache=True, inline="always", error_model="numpy")
def _coef(a, rqp, rrp, rqr, rql, rrl):
    """Conditional covariance of (y_q, y_r) given y_p = y_l = 0 on the path, times
    det2 = 1 − s a² (a = r_pl): ``(A_qq + s B_qq, A_rr + s B_rr, A_qr + s B_qr)``."""
    aa = a * a
    return (1.0 - rqp * rqp, -aa + 2.0 * a * rqp * rql - rql * rql,
            1.0 - rrp * rrp, -aa + 2.0 * a * rrp * rrl - rrl * rrl,
            rqr - rqp * rrp, -aa * rqr + a * (rqp * rrl + rql * rrp) - rql * rrl)


@njit(cache=True, inline="always", error_model="numpy")
def _node(x, c, cR2):
    """t², and dt/dx (x the Gauss–Legendre variable), of the substitution
    t = 2u/(R(1+u²)), u = W x, W = cR, c = 1/(1+√(1−R²))."""
    u2 = cR2 * x * x
    inv = 1.0 / (1.0 + u2)
    t = 2.0 * c * x * inv
    return t * t, 2.0 * c * (1.0 - u2) * inv * inv


@njit(cache=True, inline="always", error_model="numpy")
def _integrand(s, a2, k):
    """asin(conditional correlation) / sqrt(1 − s a²): one Price term without its r_pl;
    ``k`` the coefficients of :func:`_coef`."""
    r1 = math.sqrt((k[0] + s * k[1]) * (k[2] + s * k[3]))
    r2 = math.sqrt(1.0 - s * a2)
    inv = 1.0 / (r1 * r2)
    return r1 * inv * _asin((k[4] + s * k[5]) * r2 * inv)


@njit(cache=True, inline="always", error_model="numpy")
def _subst(d3, mq):
    """(status, R², c, W²) from det3 and ``mq = R² det3`` (:func:`_multiple`): status 0
    ok, 1 domain error (the 3×3 block or the 4×4 matrix not positive definite)."""
    if not (d3 > 0.0 and mq < d3):
        return 1, 1.0, 0.0, 0.0
    R2 = max(mq / d3, 0.0)
    c = 1.0 / (1.0 + math.sqrt(1.0 - R2))  # W / R; R2 = 0 gives c = 1/2, t = x
    return 0, R2, c, c * c * R2


@njit(cache=True, error_model="numpy")
def _path(r01, r02, r12, r03, r13, r23, w0, w1, w2, d3, mq, X, Wt, lo, hi):
    """Price-path integral with position 3 scaled; terms p = 0, 1, 2 with multiplicities
    ``w0, w1, w2`` (0 skips a term); ``d3`` the determinant of the correlation matrix of
    positions (0, 1, 2), ``mq = R² d3``. Nodes ``X[lo:hi]``, weights
    ``Wt[lo:hi]`` (positive half of a symmetric Gauss–Legendre rule). Returns
    (F4, domain error flag). Scalar version (one quadruple); the table kernels batch
    the same arithmetic over many quadruples."""
    if not 1.0 - r01 * r01 > 0.0:
        return math.nan, 1
    st, _, c, cR2 = _subst(d3, mq)
    if st == 1:
        return math.nan, 1
    k0 = _coef(r03, r01, r02, r12, r13, r23)
    k1 = _coef(r13, r01, r12, r02, r03, r23)
    k2 = _coef(r23, r02, r12, r01, r03, r13)
    acc = 0.0
    for k in range(lo, hi):
        s, dt = _node(X[k], c, cR2)
        f = w0 * r03 * _integrand(s, r03 * r03, k0)
        if w1 != 0.0:
            f += w1 * r13 * _integrand(s, r13 * r13, k1)
        if w2 != 0.0:
            f += w2 * r23 * _integrand(s, r23 * r23, k2)
        acc += Wt[k] * dt * f
    return _FOUR_PI2 * acc, 0


@njit(cache=True, error_model="numpy")
def _canonical(e01, e12, e23, r01, r02, r03, r12, r13, r23):
    """Order a sorted quadruple for :func:`_path`: from its six y-correlations (``r_ij`` of
    positions i<j; two copies of one field have ``r = C_aa/(1+C_aa)``) and the equalities
    of neighbouring indices, return the correlations ``(r01, r02, r12, r03, r13, r23)``
    with the scaled position last and the term multiplicities ``(w0, w1, w2)``. The scaled
    position keeps the index symmetry (equal terms merged) and, among those that do, has
    the smallest multiple correlation R (R² = 1 − det4/det3, so the smallest det3)."""
    if not (e01 or e12 or e23):  # distinct
        d_3 = _det3(r01, r02, r12)
        d_2 = _det3(r01, r03, r13)
        d_1 = _det3(r02, r03, r23)
        d_0 = _det3(r12, r13, r23)
        if d_3 <= d_2 and d_3 <= d_1 and d_3 <= d_0:
            return r01, r02, r12, r03, r13, r23, 1.0, 1.0, 1.0
        if d_2 <= d_1 and d_2 <= d_0:  # order (0, 1, 3 | 2)
            return r01, r03, r13, r02, r12, r23, 1.0, 1.0, 1.0
        if d_1 <= d_0:  # order (0, 2, 3 | 1)
            return r02, r03, r23, r01, r12, r13, 1.0, 1.0, 1.0
        return r12, r13, r23, r01, r02, r03, 1.0, 1.0, 1.0  # order (1, 2, 3 | 0)
    if e01 and e12 and e23:  # (a, a, a, a)
        return r01, r01, r01, r01, r01, r01, 3.0, 0.0, 0.0
    if e01 and e12:  # (a, a, a, b): scale b
        return r01, r01, r01, r03, r03, r03, 3.0, 0.0, 0.0
    if e12 and e23:  # (a, b, b, b): scale a
        return r12, r12, r12, r01, r01, r01, 3.0, 0.0, 0.0
    if e01 and e23:  # (a, a, b, b): scale one copy of a or of b
        rxx, ryy, rxy = r01, r23, r02
        if _det3(rxx, rxy, rxy) <= _det3(ryy, rxy, rxy):
            return rxx, rxy, rxy, rxy, rxy, ryy, 2.0, 0.0, 1.0
        return ryy, rxy, rxy, rxy, rxy, rxx, 2.0, 0.0, 1.0
    # one pair (x, x) and two singles y, z: scale y or z
    if e01:
        rxx, rxy, rxz, ryz = r01, r02, r03, r23
    elif e12:
        rxx, rxy, rxz, ryz = r12, r01, r13, r03
    else:
        rxx, rxy, rxz, ryz = r23, r02, r12, r01
    if _det3(rxx, rxy, rxy) <= _det3(rxx, rxz, rxz):  # scale z
        return rxx, rxy, rxy, rxz, rxz, ryz, 2.0, 0.0, 1.0
    return rxx, rxz, rxz, rxy, rxy, ryz, 2.0, 0.0, 1.0  # scale y


@njit(cache=True, error_model="numpy")
def _f4_sorted(e01, e12, e23, r01, r02, r03, r12, r13, r23, X, Wt, lo, hi):
    """F4 of a sorted quadruple (see :func:`_canonical`). ``hi < 0``: the adaptive rule;
    else the nodes ``X[lo:hi]``. Returns (F4, domain error flag)."""
    q0, q1, q2, q3, q4, q5, w0, w1, w2 = _canonical(e01, e12, e23, r01, r02, r03, r12, r13,
                                                    r23)
    d3 = _det3(q0, q1, q2)
    mq = _multiple(q0, q1, q3, q2, q4, q5)
    if hi < 0:
        i = _rule(mq / d3 if d3 > 0.0 else 1.0)
        return _path(q0, q1, q2, q3, q4, q5, w0, w1, w2, d3, mq, _X, _W, _OFF[i], _OFF[i + 1])
    return _path(q0, q1, q2, q3, q4, q5, w0, w1, w2, d3, mq, X, Wt, lo, hi)


@njit(cache=True, inline="always", error_model="numpy")
def _sort4(a, b, c, d):
    if a > b:
        a, b = b, a
    if c > d:
        c, d = d, c
    if a > c:
        a, c = c, a
    if b > d:
        b, d = d, b
    if b > c:
        b, c = c, b
    return a, b, c, d


@njit(cache=True, inline="always", error_model="numpy")
def _corr(C, i, j):
    """Correlation of y_i = z_i + ξ, y_j = z_j + ξ' (independent ξ, ξ'; also for i = j)."""
    return C[i, j] / math.sqrt((1.0 + C[i, i]) * (1.0 + C[j, j]))


@njit(cache=True, error_model="numpy")
def _f4_one(C, a, b, c, d, act, X, Wt, lo, hi):
    if act == LINEAR:
        return C[a, b] * C[c, d] + C[a, c] * C[b, d] + C[a, d] * C[b, c], 0
    a, b, c, d = _sort4(a, b, c, d)
    return _f4_sorted(a == b, b == c, c == d, _corr(C, a, b), _corr(C, a, c), _corr(C, a, d),
                      _corr(C, b, c), _corr(C, b, d), _corr(C, c, d), X, Wt, lo, hi)


# --------------------------------------------------------------------------- kernels
@njit(cache=True, error_model="numpy")
def f4(C, a, b, c, d, act):
    """``F4(a, b, c, d) = E[g(z_a) g(z_b) g(z_c) g(z_d)]``, ``z ~ N(0, C)``.

    ``act``: the activation code (``ERF`` or ``LINEAR`` of :mod:`.closed_form`). Indices
    may repeat. Returns NaN where ``C + I`` restricted to the quadruple is not positive
    definite (erf). Same arithmetic as the table kernels, one quadruple at a time.
    """
    v, _ = _f4_one(C, a, b, c, d, act, _X, _W, 0, -1)
    return v


@njit(cache=True, error_model="numpy")
def f4_nodes(C, a, b, c, d, act, x, w):
    """:func:`f4` with a fixed rule: ``x, w`` the positive nodes and their weights of a
    symmetric Gauss–Legendre rule on [-1, 1] (convergence studies and negative controls)."""
    v, _ = _f4_one(C, a, b, c, d, act, x, w, 0, len(x))
    return v


@njit(cache=True, error_model="numpy")
def f4_path_r2(C, a, b, c, d):
    """R² (squared multiple correlation of the scaled position on the other three) that
    selects the rule of :func:`f4` for the erf quadruple ``(a, b, c, d)``."""
    a, b, c, d = _sort4(a, b, c, d)
    q0, q1, q2, q3, q4, q5, _, _, _ = _canonical(
        a == b, b == c, c == d, _corr(C, a, b), _corr(C, a, c), _corr(C, a, d),
        _corr(C, b, c), _corr(C, b, d), _corr(C, c, d))
    return _multiple(q0, q1, q3, q2, q4, q5) / _det3(q0, q1, q2)


@njit(cache=True, inline="always", error_model="numpy")
def _fill(out, a, b, c, d, v):
    out[a, b, c, d] = v
    out[a, b, d, c] = v
    out[a, c, b, d] = v
    out[a, c, d, b] = v
    out[a, d, b, c] = v
    out[a, d, c, b] = v
    out[b, a, c, d] = v
    out[b, a, d, c] = v
    out[b, c, a, d] = v
    out[b, c, d, a] = v
    out[b, d, a, c] = v
    out[b, d, c, a] = v
    out[c, a, b, d] = v
    out[c, a, d, b] = v
    out[c, b, a, d] = v
    out[c, b, d, a] = v
    out[c, d, a, b] = v
    out[c, d, b, a] = v
    out[d, a, b, c] = v
    out[d, a, c, b] = v
    out[d, b, a, c] = v
    out[d, b, c, a] = v
    out[d, c, a, b] = v
    out[d, c, b, a] = v


#: Public name of the permutation filler (used by the per-activation backend).
fill_permutations = _fill


@njit(cache=True, error_model="numpy")
def sign4(r01, r02, r03, r12, r13, r23):
    """``E[sign(y_0) sign(y_1) sign(y_2) sign(y_3)]`` for a zero-mean Gaussian ``y`` with
    unit variances and correlations ``r_ij`` (four distinct variables), by the adaptive
    Price-path rule of :func:`f4`. Returns (value, domain error flag)."""
    return _f4_sorted(False, False, False, r01, r02, r03, r12, r13, r23, _X, _W, 0, -1)


# Table kernels batch the Price terms of many quadruples: phase 1 writes one "item"
# (coefficients, node, weight) per (quadruple, term, node) into scratch, phase 2 evaluates
# all items in one branch-free loop (vectorised by LLVM: the inlined polynomial asin, sqrt
# and division in SIMD lanes), phase 3 sums each quadruple's items and fills its
# permutations. _CAP items and _CAPQ quadruples per batch.
_CAP = 1024
_CAPQ = 256
_NIT = 5  # item fields: weight, (det2·S_qq)(det2·S_rr), det2·S_qr, det2, value
_NQ = 7  # quadruple fields: a, b, c, d, first item, number of items, base value
_MMAX = int(RULE_NODES[-1])
_SCRATCH = _NIT * _CAP + _NQ * _CAPQ + 2 * _MMAX  # besides the n² correlations


@njit(cache=True, error_model="numpy")
def _evaluate(it, nit):
    """Phase 2: ``value = weight · asin(S_qr/√(S_qq S_rr)) / √det2`` for items ``< nit``
    (one division and three square roots per item, in SIMD lanes)."""
    Wt = it[0]
    P = it[1]
    N = it[2]
    D2 = it[3]
    V = it[4]
    for i in range(nit):
        r1 = math.sqrt(P[i])
        r2 = math.sqrt(D2[i])
        inv = 1.0 / (r1 * r2)
        V[i] = Wt[i] * r1 * inv * _asin(N[i] * r2 * inv)


@njit(cache=True, error_model="numpy")
def _flush(out, it, nit, qd, nq):
    """Phases 2 and 3 for the pending batch."""
    _evaluate(it, nit)
    V = it[4]
    for j in range(nq):
        lo = int(qd[4, j])
        acc = 0.0
        for i in range(lo, lo + int(qd[5, j])):
            acc += V[i]
        _fill(out, int(qd[0, j]), int(qd[1, j]), int(qd[2, j]), int(qd[3, j]),
              qd[6, j] + _FOUR_PI2 * acc)


@njit(cache=True, inline="always", error_model="numpy")
def _push_term(it, nit, a, w, k, ns, m):
    """Phase 1: the m items of one Price term (coefficients ``k`` of :func:`_coef`;
    ``ns[0, j]``, ``ns[1, j]``: the quadruple's t² and weight·dt/dx at node j)."""
    wa = w * a
    a2 = a * a
    for j in range(m):
        s = ns[0, j]
        i = nit + j
        it[0, i] = wa * ns[1, j]
        it[1, i] = (k[0] + s * k[1]) * (k[2] + s * k[3])
        it[2, i] = k[4] + s * k[5]
        it[3, i] = 1.0 - s * a2
    return nit + m


@njit(cache=True, error_model="numpy")
def f4_tensor_lambda(C, n, n_lambda, act, out, scratch):
    """``out[a, b, c, d] = F4(a, b, c, d)`` for ``a, b, c, d < n`` with at least two of
    the four indices ``< n_lambda``; other entries of ``out`` are left as they are.

    Each distinct sorted quadruple ``a <= b <= c <= d`` (condition: ``b < n_lambda``) is
    computed once and written to its 24 permutations. ``out``: at least ``(n, n, n, n)``;
    ``scratch``: a contiguous float64 array of at least :func:`f4_scratch_size` ``(n)``
    elements (``n² + 7008``; unused for the linear activation). Returns the
    number of quadruples outside the domain (``C + I`` not positive definite on the
    quadruple); their entries are NaN. Raises ValueError if ``out`` or ``scratch`` is
    too small.
    """
    nl = min(n_lambda, n)
    if out.shape[0] < n or out.shape[1] < n or out.shape[2] < n or out.shape[3] < n:
        raise ValueError("f4_tensor: out must have shape at least (n, n, n, n)")
    if act == LINEAR:
        for a in range(n):
            for b in range(a, nl):
                for c in range(b, n):
                    for d in range(c, n):
                        v = C[a, b] * C[c, d] + C[a, c] * C[b, d] + C[a, d] * C[b, c]
                        _fill(out, a, b, c, d, v)
        return 0
    if scratch.size < n * n + _SCRATCH:
        raise ValueError("f4_tensor: scratch smaller than f4_scratch_size(n)")
    r = scratch[: n * n]
    it = scratch[n * n : n * n + _NIT * _CAP].reshape((_NIT, _CAP))
    o = n * n + _NIT * _CAP
    qd = scratch[o : o + _NQ * _CAPQ].reshape((_NQ, _CAPQ))
    o += _NQ * _CAPQ
    ns = scratch[o : o + 2 * _MMAX].reshape((2, _MMAX))
    for i in range(n):
        r[i * n + i] = C[i, i] / (1.0 + C[i, i])
        for j in range(i + 1, n):
            r[i * n + j] = C[i, j] / math.sqrt((1.0 + C[i, i]) * (1.0 + C[j, j]))
            r[j * n + i] = r[i * n + j]
    bad = 0
    nit = 0
    nq = 0
    for a in range(n):
        for b in range(a, nl):
            for c in range(b, n):
                for d in range(c, n):
                    if nit + 3 * _MMAX > _CAP or nq == _CAPQ:
                        _flush(out, it, nit, qd, nq)
                        nit = 0
                        nq = 0
                    q0, q1, q2, q3, q4, q5, w0, w1, w2 = _canonical(
                        a == b, b == c, c == d, r[a * n + b], r[a * n + c], r[a * n + d],
                        r[b * n + c], r[b * n + d], r[c * n + d])
                    d3 = _det3(q0, q1, q2)
                    st, R2, cc, cR2 = _subst(d3, _multiple(q0, q1, q3, q2, q4, q5))
                    if not 1.0 - q0 * q0 > 0.0:
                        st = 1
                    qd[0, nq] = a
                    qd[1, nq] = b
                    qd[2, nq] = c
                    qd[3, nq] = d
                    qd[4, nq] = nit
                    qd[6, nq] = 0.0
                    if st == 0:
                        i = _rule(R2)
                        lo = _OFF[i]
                        m = _OFF[i + 1] - lo
                        nit0 = nit
                        for j in range(m):  # the nodes, shared by the terms
                            sj, dtj = _node(_X[lo + j], cc, cR2)
                            ns[0, j] = sj
                            ns[1, j] = _W[lo + j] * dtj
                        nit = _push_term(it, nit, q3, w0, _coef(q3, q0, q1, q2, q4, q5), ns, m)
                        if w1 != 0.0:
                            nit = _push_term(it, nit, q4, w1, _coef(q4, q0, q2, q1, q3, q5),
                                             ns, m)
                        if w2 != 0.0:
                            nit = _push_term(it, nit, q5, w2, _coef(q5, q1, q2, q0, q3, q4),
                                             ns, m)
                        qd[5, nq] = nit - nit0
                    else:  # outside the domain
                        qd[5, nq] = 0
                        qd[6, nq] = math.nan
                        bad += 1
                    nq += 1
    _flush(out, it, nit, qd, nq)
    return bad


@njit(cache=True, error_model="numpy")
def f4_tensor(C, n, act, out, scratch):
    """``out[a, b, c, d] = F4(a, b, c, d)`` for all ``a, b, c, d < n``.

    ``C(n+3, 4)`` distinct values, each computed once (see :func:`f4_tensor_lambda`;
    ``scratch``: at least :func:`f4_scratch_size` ``(n)`` floats). Returns the number of
    domain errors.
    """
    return f4_tensor_lambda(C, n, n, act, out, scratch)


@njit(cache=True)
def f4_scratch_size(n):
    """Floats of ``scratch`` that :func:`f4_tensor` / :func:`f4_tensor_lambda` need:
    ``n²`` correlations plus the batch buffers (``5·1024 + 7·256 + 2·48 = 7008``).
    Callable from Python and from jitted code."""
    return n * n + _SCRATCH


# --------------------------------------------------------------------------- Python API
def f4_distinct_count(n: int, n_lambda: int | None = None) -> int:
    """Number of distinct sorted quadruples a table kernel computes (``n_lambda = None``:
    all, ``C(n+3, 4)``; else those with at least two indices ``< n_lambda``)."""
    nl = n if n_lambda is None else min(n_lambda, n)
    return sum(1 for a in range(n) for b in range(a, nl) for c in range(b, n)
               for _ in range(c, n))


def _cov(C) -> np.ndarray:
    C = np.ascontiguousarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be a square matrix, got shape {C.shape}")
    return C


def F4(C, activation: str = "erf") -> np.ndarray:
    """Tensor ``F4[a, b, c, d]`` over all fields of the covariance ``C`` (NaN where
    ``C + I`` is not positive definite on a quadruple)."""
    C = _cov(C)
    n = C.shape[0]
    out = np.empty((n, n, n, n))
    f4_tensor(C, n, activation_code(activation), out, np.empty(f4_scratch_size(n)))
    return out


def F4_nodes(C, n_nodes: int, activation: str = "erf") -> np.ndarray:
    """``F4`` with a fixed rule of ``n_nodes`` evaluations per quadruple (the positive half
    of the ``2·n_nodes``-point Gauss–Legendre rule) instead of the adaptive choice."""
    C = _cov(C)
    n = C.shape[0]
    xg, wg = leggauss(2 * int(n_nodes))
    x, w = np.ascontiguousarray(xg[n_nodes:]), np.ascontiguousarray(wg[n_nodes:])
    act = activation_code(activation)
    out = np.empty((n, n, n, n))
    for a in range(n):
        for b in range(n):
            for c in range(n):
                for d in range(n):
                    out[a, b, c, d] = f4_nodes(C, a, b, c, d, act, x, w)
    return out

