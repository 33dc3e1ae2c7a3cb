r"""The vector field: drift of the order parameters ``(Q, R, w)`` per unit ``α = tasks/N``.

One implementation covers ``arm`` (no inner loop), ``fo-anil`` and exact ``anil``, at
``P = ∞`` (population inner loop) and at a finite training-set size ``P = train_size``
(``maml``/``fo-maml`` have the ``anil``/``fo-anil`` limit at large N: their inner change of
J moves the overlaps by O(1/N)).
Derivations: ``theory/equations.md``, ``theory/anil.md`` and ``theory/finite_p.md``.

**Fields.** ``z = (λ_1..λ_K, ν^t_1..ν^t_M[, ν_1..ν_M])`` with covariance ``C``:
``C[λ,λ] = Q``, ``C[λ,ν^t] = γR``, ``C[ν^t,ν^t] = γ²T + (1−γ²)I``; for ``γ < 1`` the
meta-teacher fields ``ν`` are appended (``C[λ,ν] = R``, ``C[ν^t,ν] = γT``, ``C[ν,ν] = T``).
The first ``F = K + M`` fields carry the label and the student output.

**Activations.** Student fields carry ``model.activation``, teacher fields
``model.teacher_activation``: every Gaussian integral comes from the per-field backend
(:mod:`.integrals.backend`, ``*_acts`` kernels: closed forms for erf/linear, exact orthant
reductions for relu, quadrature for the smooth activations), the same drift code for all.
Refused (``VectorField.from_config``): relu beside a quadrature activation, exact ANIL at
finite P for students other than erf/linear (finite P takes every activation: each has F4,
relu by the exact orthant engine).

**Inner loop** (``s`` population steps on the head): ``w ← A w + b u`` with
``A = I − η_w s_K² Φ``, ``b = η_w s_K s_M Ψ``, ``Φ = I2[λ,λ]``, ``Ψ = I2[λ,ν^t]``; the adapted
head is affine in the task head, ``w_t = a_s + W_s u``.

**Readout coefficients** ``c = (s_K w_t; −s_M u) = c0 + H u``: mean ``c̄ = c0 + H ū``,
covariance ``S = H Σ_u Hᵀ``, ``M2 = c̄c̄ᵀ + S``.

**Drift** (first order in the rates, then the ``η_J²/V`` term)::

    dR_kn/dα = −η_J Σ_i M2_ki I3(k, ν_n, i)
    dQ_kl/dα = −η_J Σ_i [M2_ki I3(k,l,i) + M2_li I3(l,k,i)]
               + (η_J²/V) [Σ_ij M4_klij I4(k,l,i,j) + σ² M2_kl J2(k,l)]
    dw/dα    = −η_0 A_sᵀ g  (anil),  −η_0 g (fo-anil, arm),   g = s_K I2[λ,:] c̄

with the Isserlis contraction ``Σ_ij M4_klij X_ij = (m_k m_l + S_kl)(mᵀXm + tr SX)
+ 2 m_k (SXm)_l + 2 m_l (SXm)_k + 2 (SXS)_kl`` (``m = c̄``, ``X = I4(k,l,·,·)``).

**Exact ANIL** adds the meta-gradient through ``w_t(Q, R^t)``:
``∂F/∂J_k = (1/N)[Σ_l D^Q_kl J_l + Σ_n D^R_kn B^t_n]``, ``F = E_u[gᵀ w_t]`` with ``g``
frozen, ``D^Q = ∂F/∂Q + (∂F/∂Q)ᵀ``, ``D^R = ∂F/∂R^t``, obtained by back-propagating ``g``
through the ``s`` inner steps (adjoint ``p_j = A p_{j+1}``) and the derivatives of ``I2``::

    dR += −η_J [D^Q R + γ D^R T]
    dQ += −η_J [D^Q Q + γ D^R Rᵀ + (transpose)]

**Finite P** (``train_size = P``; theory/finite_p.md). The inner loop runs on the empirical
Gram matrix ``Ĝ = (Φ̂ | Ψ̂ | ĥ)`` of P fresh samples (label noise included), whose covariance
is ``κ/P``, ``κ[(a,m),(b,n)] = F4(a,m,b,n) − I2(a,m) I2(b,n)`` (``I2(a,b)`` for the noise
slot); F4 of the training fields with at least two student indices, each distinct value
computed once per evaluation (``f4_tensor_lambda``). The P = ∞ terms above are kept and
corrections added: ``M2 → M2 + dM2`` in the I3 contractions and the ``σ² M2 J2`` term,
``c̄ → c̄ + dc`` in dw (fo-anil), the O(1/P) part of the fourth moments in the η_J²/V term;
exact ANIL adds the derivative of the O(1/P) part of the few-shot error (through F4 by
Price's theorem, I4 over all training fields) and the η_J²/P term of ΔJ along the training
inputs. For ``s = 1`` the first two moments (so the O(η_J) drift, dw and eg) are exact at
every P; the fourth moments, the η_J²/P term and ``s > 1`` are exact to O(1/P). Exact ANIL
with ``s > 1`` at finite P is refused. ``eg`` is measured after adapting on ``test_size``
fresh samples (default ``train_size``). At ``P = ∞`` the finite-P arrays are not touched and
the result is bit for bit that of the P = ∞ code.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import njit, prange
from numba.core import cgutils
from numba.extending import intrinsic

from .integrals import (
    ERF,
    all_closed_form,
    f4_tensor_lambda_acts,
    i2_dcov,
    i2_diag_dcov,
    i2_matrix_acts,
    i3_row,
    i3_tensor_acts,
    i4_block_packed,
    i4_tensor_acts,
    j2_matrix_acts,
)
from .layout import (
    ANIL,
    ARM,
    BLOCK_K,
    P_ACT,
    P_ACTS,
    P_ALGO,
    P_ETA_0,
    P_ETA_J,
    P_ETA_W,
    P_FINITE_P,
    P_FINITE_PT,
    P_FINITE_V,
    P_GAMMA,
    P_INV_P,
    P_INV_PT,
    P_INV_V,
    P_K,
    P_L,
    P_M,
    P_NOISE,
    P_NU0,
    P_QUAD,
    P_S,
    P_SK,
    P_SM,
)

__all__ = ["rhs", "errors_kernel", "make_workspace", "field_covariance", "cholesky"]

# rhs links the parallel kernel _eta2_blocks. A cached caller of a parallel kernel can only be
# loaded once numba's threading layer runs (otherwise the load segfaults, numba issue 8578);
# get_num_threads() starts it (tens of ms, once per process, before any kernel is loaded).
numba.get_num_threads()
# The ahead-of-time build (ode.aot) compiles these kernels into an extension module, which
# cannot link numba's threading layer: there the parallel loops run as plain loops (the same
# numbers, the sums do not depend on the thread count), in the build's own numba cache.
PARALLEL = os.environ.get("TEACHERSTUDENT_SERIAL_KERNELS") != "1"
# scratch floats of the F4 table kernel beyond the n² correlations (its batch buffers are
# 10·1024 + 7·256 floats; fourpoint.f4_scratch_size): a margin against a change of size
_F4_SCRATCH = 32768


# --------------------------------------------------------------------------- pieces
@njit(cache=True, inline="always")
def _activations(pi, pf):
    """The per-field activation codes and the quadrature rule (views of ``pi``, ``pf``)."""
    acts = pi[P_ACTS : P_ACTS + pi[P_L]]
    nq = (pf.size - P_QUAD) // 2
    return acts, pf[P_QUAD:].reshape((2, nq))


# The hot kernel works in caller-owned arrays (a tuple made once per integration by
# make_workspace): no allocation and no array views per evaluation (each view costs a
# reference-count round trip, a dozen of them as much as the Gaussian integrals).
@njit(cache=True)
def make_workspace(pi, pf):
    """The scratch arrays of :func:`rhs` for the parameter vectors ``pi``, ``pf`` (``K``
    students, ``M`` teachers, ``L`` fields, ``s`` inner steps), with copies of the per-field
    activation codes and of the quadrature rule (``ws[26]``, ``ws[27]``)."""
    K, M, L, s = pi[P_K], pi[P_M], pi[P_L], pi[P_S]
    F = K + M
    acts, quad = _activations(pi, pf)
    return (
        np.empty((L, L)),  # C
        np.empty((F, F)),  # I2m
        np.empty((s + 1, K)),  # a
        np.empty((s + 1, K, M)),  # W
        np.empty(F),  # cbar
        np.empty((F, M)),  # H
        np.empty((F, F)),  # S
        np.empty((K, L, F)),  # I3t
        np.empty((K, K)),  # G[k, l] = Σ_i M2_ki I3(k, l, i)
        # X: the I4 table, needed only where a field's activation has no closed form
        np.empty((1, 1, 1, 1) if all_closed_form(acts, F) else (K, K, F, F)),
        np.empty(3 * F),  # scratch of i4_tensor
        np.empty((K, K)),  # J2m
        np.empty(F),  # Xm
        np.empty(F),  # XSl
        np.empty(K),  # g
        np.empty((s + 1, K)),  # pa
        np.empty((s + 1, K, M)),  # PM
        np.empty((K, K)),  # EPhi
        np.empty((K, M)),  # EPsi
        np.empty(K),  # pbar
        np.empty(K),  # wbar
        np.empty((K, M)),  # PSu
        np.empty((K, K)),  # DQ
        np.empty((K, M)),  # DR
        np.empty((K, K)),  # E[k, l] = (D^Q Q + γ D^R Rᵀ)_kl
        np.empty(_fp_size(K, M, s)),  # finite P: flat buffer of _fp_views
        acts.copy(),  # per-field activation codes
        quad.copy(),  # quadrature rule (2, order)
    )


@njit(cache=True)
def _fp_shapes(K, M, s):
    """Sizes of the finite-P scratch arrays (in the order of :func:`_fp_views`)."""
    F = K + M
    F1 = F + 1
    nq = 2 * M * M + 1  # Stroud's degree-5 rule for the task head u
    nlam = max(1, s * (s - 1) // 2)
    return (F**4, F * F + _F4_SCRATCH, (K * F1) ** 2, F * F, F, (s + 1) * K * K, F1 * F1,
            K * K, K * K, nlam * K * F1, (s + 1) * F1, (s + 1) * F1 * M, (s + 1) * F1, M * M,
            nq * M, nq, (s + 1) * F1, K * K * F1, K * K * F1, K * K, K * K, F, F, F**4, F * F,
            K, K * F, K * K, K * K, 3 * F, M,
            # the P = ∞ integrals, recomputed by _finite_p_rhs (L ≤ K + 2M fields)
            (K + 2 * M) ** 2, F * F, (s + 1) * K, (s + 1) * K * M, K * (K + 2 * M) * F, K * K,
            K * K * F * F, K * K, K * K, K * M, K * K, K * M, K * K)


@njit(cache=True)
def _fp_size(K, M, s):
    """Floats of the flat finite-P scratch buffer (``make_workspace(...)[25]``)."""
    n = 0
    for m in _fp_shapes(K, M, s):
        n += m
    return n


@njit(cache=True)
def _fp_views(buf, K, M, s, L):
    """The finite-P scratch arrays as views of the flat buffer ``buf``. One flat array in the
    workspace keeps the kernel's argument list short (each array in the tuple is passed
    field by field on every call of :func:`rhs`), so the P = ∞ drift does not pay for them;
    the views are made once per evaluation at finite P. ``F1 = F + 1``: the fields and the
    label-noise slot."""
    F = K + M
    F1 = F + 1
    nq = 2 * M * M + 1
    nlam = max(1, s * (s - 1) // 2)
    sz = _fp_shapes(K, M, s)
    o = np.zeros(len(sz) + 1, dtype=np.int64)
    for i in range(len(sz)):
        o[i + 1] = o[i] + sz[i]
    return (
        buf[o[0]:o[1]].reshape((F, F, F, F)),  # F4t: F4 of the training fields (≥ 2 students)
        buf[o[1]:o[2]],  # scratch of f4_tensor_lambda
        buf[o[2]:o[3]].reshape((K * F1, K * F1)),  # kap = P·Cov(Ĝ_am, Ĝ_bn)
        buf[o[3]:o[4]].reshape((F, F)),  # dM2 = M2_P − M2_∞
        buf[o[4]:o[5]],  # dc = E_P[c] − E_∞[c]
        buf[o[5]:o[6]].reshape((s + 1, K, K)),  # Apow[j] = A^j
        buf[o[6]:o[7]].reshape((F1, F1)),  # Mc = E_u[c^i c^jᵀ]
        buf[o[7]:o[8]].reshape((K, K)),  # Gm: Γ[Mc]
        buf[o[8]:o[9]].reshape((K, K)),  # Sy: Σ_ii' A^{s-1-i} Γ A^{s-1-i'}ᵀ; Cov_g (anil)
        buf[o[9]:o[10]].reshape((nlam, K, F1)),  # Lam: A^{s-1-j} Λ̃(A^{j-1-i}), i < j < s
        buf[o[10]:o[11]].reshape((s + 1, F1)),  # c0s: constant part of c^j(u)
        buf[o[11]:o[12]].reshape((s + 1, F1, M)),  # Hs: u-coefficients of c^j(u)
        buf[o[12]:o[13]].reshape((s + 1, F1)),  # means: E_u c^j
        buf[o[13]:o[14]].reshape((M, M)),  # Lu: Lu Luᵀ = Σ_u
        buf[o[14]:o[15]].reshape((nq, M)),  # quadrature points (standard normal)
        buf[o[15]:o[16]],  # quadrature weights
        buf[o[16]:o[17]].reshape((s + 1, F1)),  # cu: c^j(u) at a node
        buf[o[17]:o[18]].reshape((K, K * F1)),  # Lmap (scratch)
        buf[o[18]:o[19]].reshape((K, K * F1)),  # Lk (scratch)
        buf[o[19]:o[20]].reshape((K, K)),  # T1: O(1/P) part of the M4·I4 contraction
        buf[o[20]:o[21]].reshape((K, K)),  # S1: E_ε[δ δᵀ | u]
        buf[o[21]:o[22]],  # m2: E_ε[δ2 | u] (student part)
        buf[o[22]:o[23]],  # Xc; the validation gradient (anil)
        buf[o[23]:o[24]].reshape((F, F, F, F)),  # I4a: I4 over all training fields (anil)
        buf[o[24]:o[25]].reshape((F, F)),  # dC: ∂Y/∂C of the exact-ANIL term
        buf[o[25]:o[26]],  # dgd: ∂Y/∂C_kk
        buf[o[26]:o[27]].reshape((K, F)),  # Bm
        buf[o[27]:o[28]].reshape((K, K)),  # EH: E[h hᵀ] (exact-ANIL η_J²/P)
        buf[o[28]:o[29]].reshape((K, K)),  # Cv: covariance of the validation gradient / V
        buf[o[29]:o[30]],  # scratch of i4_tensor
        buf[o[30]:o[31]],  # a task head u (quadrature node)
        buf[o[31]:o[31] + L * L].reshape((L, L)),  # 31 C: field covariance
        buf[o[32]:o[33]].reshape((F, F)),  # 32 I2m
        buf[o[33]:o[34]].reshape((s + 1, K)),  # 33 a: the P = ∞ heads a_j
        buf[o[34]:o[35]].reshape((s + 1, K, M)),  # 34 W_j
        buf[o[35]:o[35] + K * L * F].reshape((K, L, F)),  # 35 I3t
        buf[o[36]:o[37]].reshape((K, K)),  # 36 G (scratch)
        buf[o[37]:o[38]].reshape((K, K, F, F)),  # 37 X = I4(k, l, ·, ·)
        buf[o[38]:o[39]].reshape((K, K)),  # 38 J2m
        buf[o[39]:o[40]].reshape((K, K)),  # 39 EPhi
        buf[o[40]:o[41]].reshape((K, M)),  # 40 EPsi
        buf[o[41]:o[42]].reshape((K, K)),  # 41 DQ
        buf[o[42]:o[43]].reshape((K, M)),  # 42 DR
        buf[o[43]:o[44]].reshape((K, K)),  # 43 E
    )


@njit(cache=True)
def _finite_p_workspace(K, M, s):
    """Newly allocated finite-P scratch arrays (:func:`_fp_views` of a new buffer)."""
    return _fp_views(np.empty(_fp_size(K, M, s)), K, M, s, K + 2 * M)


@njit(cache=True)
def field_covariance(y, K, M, L, gamma, T, C):
    """Fill the field covariance ``C`` (L×L) from the state ``y = (Q, R, w)``."""
    F = K + M
    g2 = gamma * gamma
    for k in range(K):
        for l in range(K):
            C[k, l] = y[k * K + l]
        for n in range(M):
            r = y[K * K + k * M + n]
            C[k, K + n] = gamma * r
            C[K + n, k] = gamma * r
            if L > F:
                C[k, F + n] = r
                C[F + n, k] = r
    for n in range(M):
        for m in range(M):
            C[K + n, K + m] = g2 * T[n, m] + ((1.0 - g2) if n == m else 0.0)
            if L > F:
                C[K + n, F + m] = gamma * T[n, m]
                C[F + m, K + n] = gamma * T[m, n]
                C[F + n, F + m] = T[n, m]


@njit(cache=True)
def _adapt(y, ow, I2m, K, M, s, eta_w, sK, sM, a, W):
    """Inner loop from the head ``w = y[ow:ow+K]``: ``a[j] + W[j] u`` is the head after
    ``j`` population steps."""
    for k in range(K):
        a[0, k] = y[ow + k]
        for n in range(M):
            W[0, k, n] = 0.0
    c_phi = eta_w * sK * sK
    c_psi = eta_w * sK * sM
    for j in range(s):
        for k in range(K):
            acc = a[j, k]
            for l in range(K):
                acc -= c_phi * I2m[k, l] * a[j, l]
            a[j + 1, k] = acc
            for n in range(M):
                acc = W[j, k, n] + c_psi * I2m[k, K + n]
                for l in range(K):
                    acc -= c_phi * I2m[k, l] * W[j, l, n]
                W[j + 1, k, n] = acc


@njit(cache=True)
def _coefficients(a, W, j, K, M, sK, sM, ubar, Su, cbar, H, S):
    """Mean ``c̄`` and covariance ``S = HΣ_uHᵀ`` of the readout coefficients of the head
    ``a[j] + W[j] u``."""
    F = K + M
    for i in range(F):
        for n in range(M):
            H[i, n] = 0.0
    for k in range(K):
        for n in range(M):
            H[k, n] = sK * W[j, k, n]
    for n in range(M):
        H[K + n, n] = -sM
    for i in range(F):
        acc = sK * a[j, i] if i < K else 0.0
        for n in range(M):
            acc += H[i, n] * ubar[n]
        cbar[i] = acc
    # S = H Σ_u Hᵀ in O(K M² + K² M), by explicit loops (tiny matrices: a BLAS call would
    # cost more). The teacher rows of H are −s_M eᵀ_n, so with G = H_λ Σ_u (K × M):
    # S_λλ = G H_λᵀ, S_λν = −s_M G, S_νν = s_M² Σ_u. G is kept in the S_λν block.
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for m in range(M):
                acc += H[k, m] * Su[m, n]
            S[k, K + n] = acc
    for k in range(K):
        for l in range(k, K):
            acc = 0.0
            for n in range(M):
                acc += H[k, n] * S[l, K + n]
            S[k, l] = acc
            S[l, k] = acc
    for k in range(K):
        for n in range(M):
            S[k, K + n] *= -sM
            S[K + n, k] = S[k, K + n]
    for n in range(M):
        for m in range(M):
            S[K + n, K + m] = sM * sM * Su[n, m]


# --------------------------------------------------------------------------- finite P
# Derivation: theory/finite_p.md. The P training samples enter through the empirical Gram
# Ĝ = (Φ̂ | Ψ̂ | ĥ) (K × F1: student fields, task-teacher fields, label noise), whose
# covariance is kap/P with kap[(a,m),(b,n)] = F4(a,m,b,n) − I2(a,m) I2(b,n) (fields) and
# I2(a,b) (noise slot). An inner step is w ← w − η_w s_K Ĝ c_aug, c_aug = (s_K w; −s_M u; −σ).
@njit(cache=True)
def _kappa(F4t, I2m, K, F, kap):
    """``kap[a·F1+m, b·F1+n] = P·Cov(Ĝ_am, Ĝ_bn)``."""
    F1 = F + 1
    for a in range(K):
        for m in range(F1):
            r = a * F1 + m
            for b in range(K):
                for n in range(F1):
                    q = b * F1 + n
                    if m < F and n < F:
                        kap[r, q] = F4t[a, m, b, n] - I2m[a, m] * I2m[b, n]
                    elif m == F and n == F:
                        kap[r, q] = I2m[a, b]
                    else:
                        kap[r, q] = 0.0


@njit(cache=True)
def _step_coefficients(a, W, s, K, M, sK, sM, sigma, ubar, c0s, Hs, means):
    """``c^j(u) = c0s[j] + Hs[j] u`` (augmented coefficients of the head after j population
    steps, ``(s_K w^j; −s_M u; −σ)``) and their means ``E_u c^j``, ``j = 0..s``."""
    F = K + M
    F1 = F + 1
    for j in range(s + 1):
        for i in range(F1):
            for n in range(M):
                Hs[j, i, n] = 0.0
        for k in range(K):
            c0s[j, k] = sK * a[j, k]
            for n in range(M):
                Hs[j, k, n] = sK * W[j, k, n]
        for n in range(M):
            c0s[j, K + n] = 0.0
            Hs[j, K + n, n] = -sM
        c0s[j, F] = -sigma
        for i in range(F1):
            acc = c0s[j, i]
            for n in range(M):
                acc += Hs[j, i, n] * ubar[n]
            means[j, i] = acc


@njit(cache=True)
def _cross_moment(Hs, means, i, j, Su, F1, M, out):
    """``out = E_u[c^i c^jᵀ] = c̄^i c̄^jᵀ + H^i Σ_u H^jᵀ`` (F1 × F1)."""
    for p in range(F1):
        for q in range(F1):
            acc = means[i, p] * means[j, q]
            for n in range(M):
                h = Hs[i, p, n]
                if h != 0.0:
                    for m in range(M):
                        acc += h * Su[n, m] * Hs[j, q, m]
            out[p, q] = acc


@njit(cache=True)
def _gamma(kap, X, K, F1, out):
    """``out[a, b] = Σ_mn kap[(a,m),(b,n)] X[m, n]`` = P·E[(ε p)_a (ε q)_b] for X = p qᵀ."""
    for a in range(K):
        for b in range(K):
            acc = 0.0
            for m in range(F1):
                r = a * F1 + m
                for n in range(F1):
                    acc += kap[r, b * F1 + n] * X[m, n]
            out[a, b] = acc


@njit(cache=True)
def _lambda_tilde(kap, X, K, F1, out):
    """``out[a, m] = Σ_{b,b'} X[b, b'] kap[(a,b),(b',m)]``: P·E[ε_λ X ε p] = out·p."""
    for a in range(K):
        for m in range(F1):
            acc = 0.0
            for b in range(K):
                r = a * F1 + b
                for bp in range(K):
                    acc += X[b, bp] * kap[r, bp * F1 + m]
            out[a, m] = acc


@njit(cache=True)
def _psd_sqrt(S, M, L):
    """``L`` lower triangular with ``L Lᵀ = S`` for a positive semi-definite ``S``
    (Cholesky; a vanishing pivot gives a zero column)."""
    scale = 0.0
    for i in range(M):
        scale = max(scale, abs(S[i, i]))
    tiny = 1e-14 * max(scale, 1e-300)
    for j in range(M):
        for i in range(M):
            L[i, j] = 0.0
    for j in range(M):
        d = S[j, j]
        for q in range(j):
            d -= L[j, q] * L[j, q]
        if d <= tiny:
            continue
        r = math.sqrt(d)
        L[j, j] = r
        for i in range(j + 1, M):
            acc = S[i, j]
            for q in range(j):
                acc -= L[i, q] * L[j, q]
            L[i, j] = acc / r


@njit(cache=True)
def _stroud5(M, pts, wts):
    """Stroud's degree-5 rule for ``N(0, I_M)`` (2M² + 1 points): exact for the quartic
    polynomials of the task head that the finite-P η_J² terms average."""
    for i in range(pts.shape[0]):
        for j in range(M):
            pts[i, j] = 0.0
    wts[0] = 2.0 / (M + 2)
    n = 1
    r = math.sqrt(M + 2.0)
    for i in range(M):
        for sg in (1.0, -1.0):
            pts[n, i] = sg * r
            wts[n] = (4.0 - M) / (2.0 * (M + 2) ** 2)
            n += 1
    q = math.sqrt((M + 2) / 2.0)
    for i in range(M):
        for j in range(i + 1, M):
            for si in (1.0, -1.0):
                for sj in (1.0, -1.0):
                    pts[n, i] = si * q
                    pts[n, j] = sj * q
                    wts[n] = 1.0 / (M + 2) ** 2
                    n += 1


@njit(cache=True)
def _finite_p_moments(I2m, a, W, s, K, M, pf, ubar, Su, invP, fp):
    """Corrections ``dM2 = M2_P − M2_∞`` and ``dc = E_P[c] − E_∞[c]`` of the readout
    coefficients over u and the P training samples (theory/finite_p.md §3–4).

    With ``y = −η_w s_K Σ_{i<s} A^{s−1−i} ε c^i`` (first order in ε = Ĝ − Ḡ) and
    ``z = η_w² s_K³ Σ_{i<j<s} A^{s−1−j} ε_λ A^{j−1−i} ε c^i`` (second order):
    ``dM2[λ,λ] = s_K² E[yyᵀ] + s_K (E[z c̄ᵀ] + ᵀ)``, ``dM2[λ,ν] = s_K E[z c̄ᵀ]``,
    ``dc[λ] = s_K E[z]``.  Exact for s = 1 (z = 0, y linear in Ĝ), O(1/P²) for s > 1.
    Needs ``fp``'s kap and the step coefficients filled (:func:`_finite_p_setup`)."""
    (F4t, f4s, kap, dM2, dc, Apow, Mc, Gm, Sy, Lam, c0s, Hs, means) = fp[:13]
    F = K + M
    F1 = F + 1
    eta_w, sK = pf[P_ETA_W], pf[P_SK]
    for i in range(F):
        dc[i] = 0.0
        for j in range(F):
            dM2[i, j] = 0.0
    # s_K² E[y yᵀ] = s_K² (η_w s_K)²/P Σ_ii' A^{s−1−i} Γ[E_u c^i c^i'ᵀ] A^{s−1−i'}ᵀ
    for k in range(K):
        for l in range(K):
            Sy[k, l] = 0.0
    for i in range(s):
        for ip in range(s):
            _cross_moment(Hs, means, i, ip, Su, F1, M, Mc)
            _gamma(kap, Mc, K, F1, Gm)
            if s == 1:
                for k in range(K):
                    for l in range(K):
                        Sy[k, l] += Gm[k, l]
                continue
            Ai = Apow[s - 1 - i]
            Aj = Apow[s - 1 - ip]
            for k in range(K):
                for l in range(K):
                    acc = 0.0
                    for p in range(K):
                        if Ai[k, p] != 0.0:
                            for q in range(K):
                                acc += Ai[k, p] * Gm[p, q] * Aj[l, q]
                    Sy[k, l] += acc
    cy = sK * sK * (eta_w * sK) ** 2 * invP
    for k in range(K):
        for l in range(K):
            dM2[k, l] = cy * Sy[k, l]
    if s < 2:
        return
    # second order: Lam[ij] = A^{s−1−j} Λ̃(A^{j−1−i}); E[z] = cz Σ Lam c̄^i
    cz = eta_w * eta_w * sK**3 * invP
    idx = 0
    for j in range(s):
        for i in range(j):
            _lambda_tilde(kap, Apow[j - 1 - i], K, F1, Lam[idx])
            idx += 1
    # (the Λ̃ of A^{j−1−i} is premultiplied by A^{s−1−j} in place)
    idx = 0
    for j in range(s):
        for i in range(j):
            Aj = Apow[s - 1 - j]
            for m in range(F1):
                for k in range(K):
                    Mc[0, k] = Lam[idx, k, m]
                for k in range(K):
                    acc = 0.0
                    for p in range(K):
                        acc += Aj[k, p] * Mc[0, p]
                    Lam[idx, k, m] = acc
            # E_u[z c̄ᵀ] and E_u z
            _cross_moment(Hs, means, i, s, Su, F1, M, Mc)
            for k in range(K):
                acc = 0.0
                for m in range(F1):
                    acc += Lam[idx, k, m] * means[i, m]
                dc[k] += sK * cz * acc
                for q in range(F):
                    acc = 0.0
                    for m in range(F1):
                        acc += Lam[idx, k, m] * Mc[m, q]
                    v = sK * cz * acc
                    dM2[k, q] += v
                    dM2[q, k] += v
            idx += 1


@njit(cache=True)
def _finite_p_setup(C, I2m, a, W, s, K, M, acts, quad, pf, ubar, fp):
    """F4 of the training fields (each distinct value once), kap, the powers of A and the
    step coefficients; returns the number of domain errors."""
    (F4t, f4s, kap, dM2, dc, Apow, Mc, Gm, Sy, Lam, c0s, Hs, means) = fp[:13]
    F = K + M
    bad = f4_tensor_lambda_acts(C, F, K, acts, quad, F4t, f4s)
    _kappa(F4t, I2m, K, F, kap)
    c_phi = pf[P_ETA_W] * pf[P_SK] * pf[P_SK]
    for k in range(K):
        for l in range(K):
            Apow[0, k, l] = 1.0 if k == l else 0.0
    for j in range(s):
        for k in range(K):
            for l in range(K):
                acc = Apow[j, k, l]
                for p in range(K):
                    acc -= c_phi * I2m[k, p] * Apow[j, p, l]
                Apow[j + 1, k, l] = acc
    _step_coefficients(a, W, s, K, M, pf[P_SK], pf[P_SM], pf[P_NOISE], ubar, c0s, Hs, means)
    return bad


@njit(cache=True)
def _node_coefficients(fp, s, F1, M, u):
    """``cu[j] = c^j(u)`` at the task head ``u``."""
    c0s, Hs, cu = fp[10], fp[11], fp[16]
    for j in range(s + 1):
        for i in range(F1):
            acc = c0s[j, i]
            for n in range(M):
                acc += Hs[j, i, n] * u[n]
            cu[j, i] = acc


@njit(cache=True)
def _finite_p_m4(X, s, K, M, pf, ubar, Su, invP, fp, u):
    """``T1[k,l]``: the O(1/P) part of ``Σ_ij E[c_k c_l c_i c_j] X[k,l,i,j]`` (the η_J²/V
    term), averaged over u with Stroud's degree-5 rule (the integrand is a quartic in u).

    Given u, with δ = c − c̄(u) (student components only), Σ1 = E_ε[δδᵀ|u] and
    m2 = E_ε[δ|u] (second order), the O(1/P) part of ``c_k c_l cᵀXc`` is
    ``Σ1_kl q + 2c̄_k(Σ1Xc̄)_l + 2c̄_l(Σ1Xc̄)_k + c̄_kc̄_l tr(XΣ1) + (m2_kc̄_l + c̄_km2_l) q
    + 2c̄_kc̄_l c̄ᵀXm2``, ``q = c̄ᵀXc̄``. The remainder is O(1/P²) (theory/finite_p.md §6)."""
    (kap, Apow, Lam) = (fp[2], fp[5], fp[9])
    (Lu, pts, wts, cu, Lmap, Lk, T1, S1, m2, Xc) = fp[13:23]
    F = K + M
    F1 = F + 1
    KF1 = K * F1
    eta_w, sK = pf[P_ETA_W], pf[P_SK]
    _psd_sqrt(Su, M, Lu)
    _stroud5(M, pts, wts)
    cy = sK * sK * (eta_w * sK) ** 2 * invP
    cz = sK * eta_w * eta_w * sK**3 * invP
    for k in range(K):
        for l in range(K):
            T1[k, l] = 0.0
    for qn in range(wts.shape[0]):
        for n in range(M):
            acc = ubar[n]
            for m in range(M):
                acc += Lu[n, m] * pts[qn, m]
            u[n] = acc
        _node_coefficients(fp, s, F1, M, u)
        if s == 1:  # Σ1 = cy·Γ(c^0(u), c^0(u))
            for p in range(K):
                for q in range(p, K):
                    acc = 0.0
                    for m in range(F1):
                        r = p * F1 + m
                        inner = 0.0
                        for n in range(F1):
                            inner += kap[r, q * F1 + n] * cu[0, n]
                        acc += cu[0, m] * inner
                    S1[p, q] = cy * acc
                    S1[q, p] = cy * acc
        else:
            # Σ1 = cy Σ_ii' A^{s−1−i} Γ(c^i, c^i') A^{s−1−i'}ᵀ with Γ(p, q) = Σ_m p_m kq_q,
            # kq_i[(a, m), b] = Σ_n kap[(a,m),(b,n)] c^i_n (Lk) and Γ(c^i, c^i') (Gm → Lmap)
            for k in range(K):
                for l in range(K):
                    S1[k, l] = 0.0
            for ip in range(s):
                for r in range(KF1):
                    for b in range(K):
                        acc = 0.0
                        for n in range(F1):
                            acc += kap[r, b * F1 + n] * cu[ip, n]
                        Lk[b, r] = acc  # Lk[b, (a, m)] = kq_{i'}[(a, m), b]
                Aj = Apow[s - 1 - ip]
                for i in range(s):
                    Ai = Apow[s - 1 - i]
                    # G = Γ(c^i, c^i')[a, b] = Σ_m c^i_m kq[(a,m), b]; S1 += Ai G Ajᵀ
                    for a in range(K):
                        for b in range(K):
                            acc = 0.0
                            for m in range(F1):
                                acc += cu[i, m] * Lk[b, a * F1 + m]
                            Lmap[a, b] = acc
                    for p in range(K):
                        for q in range(K):
                            acc = 0.0
                            for a in range(K):
                                for b in range(K):
                                    acc += Ai[p, a] * Lmap[a, b] * Aj[q, b]
                            S1[p, q] += cy * acc
        for p in range(F):
            m2[p] = 0.0
        idx = 0
        for j in range(s):
            for i in range(j):
                for p in range(K):
                    acc = 0.0
                    for m in range(F1):
                        acc += Lam[idx, p, m] * cu[i, m]
                    m2[p] += cz * acc
                idx += 1
        w = wts[qn]
        for k in range(K):
            for l in range(k, K):
                qv = 0.0
                for i in range(F):
                    acc = 0.0
                    for j in range(F):
                        acc += X[k, l, i, j] * cu[s, j]
                    Xc[i] = acc
                    qv += cu[s, i] * acc
                SXk = 0.0
                SXl = 0.0
                trXS = 0.0
                mXc = 0.0
                for p in range(K):
                    SXk += S1[k, p] * Xc[p]
                    SXl += S1[l, p] * Xc[p]
                    mXc += m2[p] * Xc[p]
                    for q in range(K):
                        trXS += X[k, l, p, q] * S1[q, p]
                ck, cl = cu[s, k], cu[s, l]
                v = (S1[k, l] * qv + 2.0 * ck * SXl + 2.0 * cl * SXk + ck * cl * trXS
                     + (m2[k] * cl + ck * m2[l]) * qv + 2.0 * ck * cl * mXc)
                T1[k, l] += w * v
                if l != k:
                    T1[l, k] += w * v


@njit(cache=True)
def _anil_finite_p_adjoints(I2m, K, M, pf, Su, invP, fp, EPhi, EPsi):
    """Exact ANIL, s = 1: the O(1/P) part of ``G_P`` is ``Y = c_Y Σ_kl Φ_kl Γ[D]_kl``
    (``D = E_u[c^0 c^0ᵀ]``, ``c_Y = ½η_w² s_K⁴/P``; Φ of the validation fields). Adds
    ``∂Y/∂I2(k, m)`` of the training Gram means to ``EPhi``/``EPsi`` (the I2 chain rule of
    the P = ∞ adjoint does the rest) and returns ``c_Y``; ``Mc`` keeps ``D``."""
    (F4t, f4s, kap, dM2, dc, Apow, Mc, Gm, Sy, Lam, c0s, Hs, means) = fp[:13]
    Bm = fp[26]
    F = K + M
    F1 = F + 1
    sK = pf[P_SK]
    cY = 0.5 * pf[P_ETA_W] ** 2 * sK**4 * invP
    _cross_moment(Hs, means, 0, 0, Su, F1, M, Mc)
    # −c_Y Σ Φ_kl D_mn I2(k,m) I2(l,n)  →  ∂/∂I2[k,m] = −2 c_Y (Φ I2[λ,F] D)[k,m]
    for l in range(K):
        for m in range(F):
            acc = 0.0
            for n in range(F):
                acc += I2m[l, n] * Mc[n, m]
            Bm[l, m] = acc
    for k in range(K):
        for m in range(F):
            acc = 0.0
            for l in range(K):
                acc += I2m[k, l] * Bm[l, m]
            v = -2.0 * cY * acc
            if m < K:
                EPhi[k, m] += v + cY * Mc[F, F] * I2m[k, m]  # + the noise slot σ² Φ
            else:
                EPsi[k, m - K] += v
    return cY


@njit(cache=True, inline="always")
def _f4_pair(a, b, r, t, om, I4a, dC, dgd, K):
    """Price: one position pair (fields a, b; the other two r, t) of ``∂F4/∂C``."""
    v = om * I4a[a, b, r, t]
    if a == b:
        if a < K:
            dgd[a] += v
    elif a < K or b < K:
        dC[a, b] += v


@njit(cache=True)
def _anil_f4_derivative(C, I2m, K, M, act, cY, fp):
    """``∂Y/∂C`` through F4 (exact ANIL, s = 1), with Price's theorem at the level of the
    four positions: ``∂F4/∂C4_pq = I4(p, q; rest)`` (p ≠ q), and for erf
    ``∂F4/∂C4_pp = −½ Σ_{q≠p} C4_pq I4(p, q; rest)/(1 + C4_pp)`` (F4 depends on C4 only
    through the correlations of C4 + I; only the student positions have a diagonal term,
    so ``act`` is the student's activation, erf or linear: VectorField refuses others).
    Fills ``dC`` (add ``dC + dCᵀ`` for an off-diagonal entry) and ``dgd`` (``∂/∂C_kk``)."""
    Mc, I4a, dC, dgd = fp[6], fp[23], fp[24], fp[25]
    F = K + M
    for i in range(F):
        for j in range(F):
            dC[i, j] = 0.0
    for k in range(K):
        dgd[k] = 0.0
    erf = act == ERF
    for k in range(K):
        for l in range(K):
            ph = cY * I2m[k, l]
            if ph == 0.0:
                continue
            for m in range(F):
                for n in range(F):
                    om = ph * Mc[m, n]
                    if om == 0.0:
                        continue
                    # positions (k, m, l, n)
                    _f4_pair(k, m, l, n, om, I4a, dC, dgd, K)
                    _f4_pair(k, l, m, n, om, I4a, dC, dgd, K)
                    _f4_pair(k, n, m, l, om, I4a, dC, dgd, K)
                    _f4_pair(m, l, k, n, om, I4a, dC, dgd, K)
                    _f4_pair(m, n, k, l, om, I4a, dC, dgd, K)
                    _f4_pair(l, n, k, m, om, I4a, dC, dgd, K)
                    if erf:
                        dgd[k] -= om * 0.5 / (1.0 + C[k, k]) * (
                            C[k, m] * I4a[k, m, l, n] + C[k, l] * I4a[k, l, m, n]
                            + C[k, n] * I4a[k, n, m, l])
                        dgd[l] -= om * 0.5 / (1.0 + C[l, l]) * (
                            C[l, k] * I4a[l, k, m, n] + C[l, m] * I4a[l, m, k, n]
                            + C[l, n] * I4a[l, n, k, m])
                        if m < K:
                            dgd[m] -= om * 0.5 / (1.0 + C[m, m]) * (
                                C[m, k] * I4a[m, k, l, n] + C[m, l] * I4a[m, l, k, n]
                                + C[m, n] * I4a[m, n, k, l])
                        if n < K:
                            dgd[n] -= om * 0.5 / (1.0 + C[n, n]) * (
                                C[n, k] * I4a[n, k, m, l] + C[n, m] * I4a[n, m, k, l]
                                + C[n, l] * I4a[n, l, k, m])


@njit(cache=True)
def _anil_eta2_p(X, J2m, I2m, y, ow, K, M, pf, ubar, Su, invV, fp):
    """Exact ANIL, s = 1: ``EH = E[h hᵀ]`` of the η_J²/P term (leading order in 1/P).

    ``h_k = g'(λ_k) e^k·(g(z); ξ)`` for one training sample, ``e^k = g_k c^0 + s_K w_k (g;
    0; 0)`` with ``c^0 = (s_K w; −s_M u; −σ)`` and ``g`` the validation gradient, so
    ``E[h_k h_l | g] = Σ_ij e^k_i e^l_j I4(k,l,i,j) + σ² g_k g_l J2(k,l)``; ``E[g gᵀ] =
    ḡḡᵀ + Cov_g/V`` with ``Cov_g = s_K²[Σ_ij c̄_i c̄_j F4(a,b,i,j) + σ²Φ_ab] − ḡḡᵀ``. A quartic
    in u: Stroud's degree-5 rule."""
    F4t = fp[0]
    (Lu, pts, wts, cu) = fp[13:17]
    gv, EH, Cv, u = fp[22], fp[27], fp[28], fp[30]
    F = K + M
    F1 = F + 1
    sK = pf[P_SK]
    noise2 = pf[P_NOISE] * pf[P_NOISE]
    _psd_sqrt(Su, M, Lu)
    _stroud5(M, pts, wts)
    for k in range(K):
        for l in range(K):
            EH[k, l] = 0.0
    for qn in range(wts.shape[0]):
        for n in range(M):
            acc = ubar[n]
            for m in range(M):
                acc += Lu[n, m] * pts[qn, m]
            u[n] = acc
        _node_coefficients(fp, 1, F1, M, u)  # cu[0] = c^0(u), cu[1] = c̄(u) (adapted)
        for k in range(K):
            acc = 0.0
            for i in range(F):
                acc += I2m[k, i] * cu[1, i]
            gv[k] = sK * acc
        if invV != 0.0:
            for a in range(K):
                for b in range(a, K):
                    acc = 0.0
                    for i in range(F):
                        inner = 0.0
                        for j in range(F):
                            inner += F4t[a, b, i, j] * cu[1, j]
                        acc += cu[1, i] * inner
                    v = sK * sK * (acc + noise2 * I2m[a, b]) - gv[a] * gv[b]
                    Cv[a, b] = invV * v
                    Cv[b, a] = invV * v
        wq = wts[qn]
        for k in range(K):
            wk = sK * y[ow + k]
            for l in range(k, K):
                wl = sK * y[ow + l]
                # mean part: e^k(ḡ)ᵀ X e^l(ḡ) + σ² ḡ_k ḡ_l J2
                acc = 0.0
                dXd = 0.0
                t1 = 0.0
                t2 = 0.0
                t3 = 0.0
                for i in range(F):
                    eki = gv[k] * cu[0, i] + (wk * gv[i] if i < K else 0.0)
                    inner = 0.0
                    Xd = 0.0
                    for j in range(F):
                        elj = gv[l] * cu[0, j] + (wl * gv[j] if j < K else 0.0)
                        inner += X[k, l, i, j] * elj
                        Xd += X[k, l, i, j] * cu[0, j]
                    acc += eki * inner
                    if invV != 0.0:
                        dXd += cu[0, i] * Xd
                        if i < K:
                            t1 += Cv[k, i] * Xd
                            t2 += Xd * Cv[i, l]
                            for j in range(K):
                                t3 += Cv[i, j] * X[k, l, i, j]
                v = acc + noise2 * gv[k] * gv[l] * J2m[k, l]
                if invV != 0.0:
                    # Σ_bb' Cov_bb' (δ_kb c^0 + w_k e_b)ᵀ X (δ_lb' c^0 + w_l e_b') + σ² Cov_kl J2
                    v += (Cv[k, l] * dXd + wl * t1 + wk * t2 + wk * wl * t3
                          + noise2 * Cv[k, l] * J2m[k, l])
                EH[k, l] += wq * v
                if l != k:
                    EH[l, k] += wq * v


@njit(cache=True)
def _finite_p_rhs(y, pi, pf, T, ubar, Su, dy, buf):
    """Add the finite-P corrections to the P = ∞ drift that :func:`rhs` wrote into ``dy``.

    Called by :func:`rhs` at a finite ``train_size`` (s ≥ 1) after its P = ∞ part, with the
    flat finite-P buffer ``buf`` only (few arguments keep the call cheap and ``rhs`` as it
    was at P = ∞); the P = ∞ integrals it needs (``C``, ``I2``, the population heads,
    ``I3``, and ``I4``, ``J2`` for finite V) are recomputed into ``buf``. All corrections
    are additive (theory/finite_p.md): ``M2 → M2 + dM2`` in the I3 contractions and in
    ``σ² M2 J2``; the O(1/P) part ``T1`` of the fourth moments; ``c̄ → c̄ + dc`` in dw
    (fo-anil); for exact ANIL (s = 1) the derivative of the O(1/P) part ``Y`` of the
    few-shot error through the training fields (I2 adjoints and F4 by Price's theorem) and
    the η_J²/P term. Returns the number of integral domain errors.
    """
    K, M = pi[P_K], pi[P_M]
    algo, act, s, nu0 = pi[P_ALGO], pi[P_ACT], pi[P_S], pi[P_NU0]
    eta_J, eta_w, eta_0 = pf[P_ETA_J], pf[P_ETA_W], pf[P_ETA_0]
    sK, gamma = pf[P_SK], pf[P_GAMMA]
    invP = pf[P_INV_P]
    noise2 = pf[P_NOISE] * pf[P_NOISE]
    F = K + M
    oR = K * K
    ow = oR + K * M
    L = pi[P_L]
    fp = _fp_views(buf, K, M, s, L)
    acts, quad = _activations(pi, pf)
    C, I2m, a, W, I3t, G, X, J2m = fp[31], fp[32], fp[33], fp[34], fp[35], fp[36], fp[37], fp[38]
    EPhi, EPsi, DQ, DR, E = fp[39], fp[40], fp[41], fp[42], fp[43]
    scratch = fp[29]
    field_covariance(y, K, M, L, gamma, T, C)
    bad = i2_matrix_acts(C, F, acts, quad, I2m)
    _adapt(y, ow, I2m, K, M, s, eta_w, sK, pf[P_SM], a, W)
    bad += i3_tensor_acts(C, K, L, F, acts, quad, I3t)
    if pi[P_FINITE_V] == 1 and eta_J > 0.0:
        bad += i4_tensor_acts(C, K, F, acts, quad, X, scratch)
        bad += j2_matrix_acts(C, K, acts, quad, J2m)
    bad += _finite_p_setup(C, I2m, a, W, s, K, M, acts, quad, pf, ubar, fp)
    _finite_p_moments(I2m, a, W, s, K, M, pf, ubar, Su, invP, fp)
    dM2, dc = fp[3], fp[4]

    # the O(η_J) contractions with dM2
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for i in range(F):
                acc += dM2[k, i] * I3t[k, nu0 + n, i]
            dy[oR + k * M + n] -= eta_J * acc
    for k in range(K):
        for l in range(K):
            acc = 0.0
            for i in range(F):
                acc += dM2[k, i] * I3t[k, l, i]
            G[k, l] = acc
    for k in range(K):
        for l in range(K):
            dy[k * K + l] -= eta_J * (G[k, l] + G[l, k])

    # η_J²/V term: the O(1/P) part of the fourth moments and σ² dM2 J2
    if pi[P_FINITE_V] == 1 and eta_J > 0.0:
        _finite_p_m4(X, s, K, M, pf, ubar, Su, invP, fp, fp[30])
        T1 = fp[19]
        c2 = eta_J * eta_J * pf[P_INV_V]
        for k in range(K):
            for l in range(K):
                dy[k * K + l] += c2 * (T1[k, l] + noise2 * dM2[k, l] * J2m[k, l])

    if algo != ANIL:  # dw: −η_0 s_K I2[λ,:] dc (zero for s = 1)
        for k in range(K):
            acc = 0.0
            for i in range(F):
                acc += I2m[k, i] * dc[i]
            dy[ow + k] -= eta_0 * sK * acc
        return bad

    # ---- exact ANIL, s = 1 (VectorField refuses s > 1): the O(1/P) part Y of G_P ----
    for k in range(K):
        for l in range(K):
            EPhi[k, l] = 0.0
        for n in range(M):
            EPsi[k, n] = 0.0
    cY = _anil_finite_p_adjoints(I2m, K, M, pf, Su, invP, fp, EPhi, EPsi)
    # dw: −η_0 ∂Y/∂w = −η_0 · 2 c_Y s_K Σ_kl Φ_kl Σ_n kap[(k,j),(l,n)] c̄^0_n
    kap, means = fp[2], fp[12]
    F1 = F + 1
    for j in range(K):
        acc = 0.0
        for k in range(K):
            for l in range(K):
                r = k * F1 + j
                inner = 0.0
                for n in range(F1):
                    inner += kap[r, l * F1 + n] * means[0, n]
                acc += I2m[k, l] * inner
        dy[ow + j] -= eta_0 * 2.0 * cY * sK * acc
    # the I2 adjoints of Y to D^Q = ∂Y/∂Q + ᵀ, D^R = ∂Y/∂R^t (the chain rule of rhs)
    for k in range(K):
        dkk = EPhi[k, k] * i2_diag_dcov(C, k, acts, quad)
        for l in range(K):
            if l != k:
                d_off, d_kk = i2_dcov(C, k, l, acts, quad)
                DQ[k, l] = (EPhi[k, l] + EPhi[l, k]) * d_off
                dkk += (EPhi[k, l] + EPhi[l, k]) * d_kk
        for n in range(M):
            d_off, d_kk = i2_dcov(C, k, K + n, acts, quad)
            DR[k, n] = EPsi[k, n] * d_off
            dkk += EPsi[k, n] * d_kk
        DQ[k, k] = 2.0 * dkk
    # and through F4 (Price, with I4 over all training fields)
    I4a, dC, dgd = fp[23], fp[24], fp[25]
    bad += i4_tensor_acts(C, F, F, acts, quad, I4a, fp[29])
    _anil_f4_derivative(C, I2m, K, M, act, cY, fp)
    for k in range(K):
        for l in range(K):
            if l != k:
                DQ[k, l] += dC[k, l] + dC[l, k]
        DQ[k, k] += 2.0 * dgd[k]
        for n in range(M):
            DR[k, n] += dC[k, K + n] + dC[K + n, k]
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for l in range(K):
                acc += DQ[k, l] * y[oR + l * M + n]
            for m in range(M):
                acc += gamma * DR[k, m] * T[m, n]
            dy[oR + k * M + n] -= eta_J * acc
    for k in range(K):
        for l in range(K):
            acc = 0.0
            for m in range(K):
                acc += DQ[k, m] * y[m * K + l]
            for n in range(M):
                acc += gamma * DR[k, n] * y[oR + l * M + n]
            E[k, l] = acc
    for k in range(K):
        for l in range(K):
            dy[k * K + l] -= eta_J * (E[k, l] + E[l, k])
    # the η_J²/P term: ΔJ along the training inputs, |x^μ|²/N = 1
    if eta_J > 0.0:
        if pi[P_FINITE_V] != 1:
            bad += i4_tensor_acts(C, K, F, acts, quad, X, scratch)
            bad += j2_matrix_acts(C, K, acts, quad, J2m)
        _anil_eta2_p(X, J2m, I2m, y, ow, K, M, pf, ubar, Su, pf[P_INV_V], fp)
        EH = fp[27]
        c3 = (eta_J * eta_w * sK) ** 2 * invP
        for k in range(K):
            for l in range(K):
                dy[k * K + l] += c3 * EH[k, l]
    return bad


@intrinsic
def _call_finite_p_rhs(typingctx, y, pi, pf, T, ubar, Su, dy, buf):
    """``_finite_p_rhs(...)`` called with the LLVM call-site attribute ``noinline``.

    LLVM would otherwise inline the large finite-P code into :func:`rhs` (and ``rhs`` into
    the solvers), which makes the P = ∞ drift ~0.3 µs slower although the finite-P branch
    is never taken there; behind a call that is not inlined, the P = ∞ kernel compiles as
    before."""
    from numba.core import types

    sig = types.int64(y, pi, pf, T, ubar, Su, dy, buf)

    def codegen(context, builder, signature, args):
        cres = context.compile_subroutine(builder, _finite_p_rhs.py_func, signature)
        fn = context.declare_function(builder.module, cres.fndesc)
        status, res = context.call_conv.call_function(
            builder, fn, signature.return_type, signature.args, args, attrs=("noinline",))
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return res

    return sig, codegen


# --------------------------------------------------------------------------- kernels
# With erf/linear fields the η_J²/V term is computed pair by pair (k, l), each block
# I4(k, l, ·, ·) contracted as its packed triangle is made (_eta2_pair): no K²F² table. At
# large K these pairs and the rows I3(k, ·, ·) are spread over the cores. Each row or pair is
# one sequential computation, so the result does not depend on the number of threads (bit for
# bit; tests/test_parallel_drift.py). From K = BLOCK_K on (layout.py), in parallel.


@njit(cache=True)
def _blockwise(K, F, acts):
    """Whether the drift takes the large-K path: I3 row by row (:func:`_first_order_rows`)
    and the η_J²/V term block by block (:func:`_eta2_blocks`), both in parallel."""
    return K >= BLOCK_K and all_closed_form(acts, F)


# The Isserlis contraction of one block Xb = I4(k, l, ·, ·) (symmetric in its two indices):
# Σ_ij M4_klij Xb_ij = (m_k m_l + S_kl)(mᵀXm + tr SX) + 2 m_k (SXm)_l + 2 m_l (SXm)_k
# + 2 (SXS)_kl with m = c̄ (S symmetric), in O(F²). It reads the block's upper triangle row
# by row (_isserlis_row; so the blockwise path contracts the packed triangle and no block is
# mirrored), then finishes with O(F) sums (_isserlis_end). The sums may be reassociated
# (vectorised): a fixed order of the compiled code, so the result is the same on every call
# and for any number of threads.
@njit(cache=True, fastmath={"reassoc", "contract"})
def _isserlis_row(tri, t, c, F, cbar, S, l, has_S, Xm, XSl):
    """Add row ``c`` of the block's upper triangle (``Xb[c, d] = tri[t + d − c]`` for
    ``c ≤ d < F``) to ``Xm = Xb c̄`` and (``has_S``) ``XSl = Xb S[l]``; return its part of
    ``tr S Xb``."""
    # unsigned indices: no negative-index wraparound, so the loops vectorise (and no views,
    # whose reference counts would cost more than a short row)
    mc = cbar[c]
    xcc = tri[t]
    acc = xcc * mc
    for j in range(1, F - c):
        d = np.uint64(c + j)
        x = tri[np.uint64(t + j)]
        acc += x * cbar[d]
        Xm[d] += x * mc
    Xm[c] += acc
    if not has_S:
        return 0.0
    slc = S[l, c]
    acc = xcc * slc
    tr = 0.0
    for j in range(1, F - c):
        d = np.uint64(c + j)
        x = tri[np.uint64(t + j)]
        acc += x * S[l, d]
        XSl[d] += x * slc
        tr += S[c, d] * x
    XSl[c] += acc
    return S[c, c] * xcc + 2.0 * tr


@njit(cache=True, fastmath={"reassoc", "contract"})
def _isserlis_end(Xm, XSl, trSX, cbar, S, has_S, k, l, F):
    """``Σ_ij M4_klij Xb_ij`` from the sums of :func:`_isserlis_row` over all rows."""
    mXm = 0.0
    for i in range(F):
        mXm += cbar[i] * Xm[i]
    m2kl = cbar[k] * cbar[l] + S[k, l]
    v = m2kl * mXm
    if has_S:
        SXm_k = 0.0
        SXm_l = 0.0
        SXS = 0.0
        for i in range(F):
            SXm_k += S[k, i] * Xm[i]
            SXm_l += S[l, i] * Xm[i]
            SXS += S[k, i] * XSl[i]
        v += m2kl * trSX + 2.0 * cbar[k] * SXm_l + 2.0 * cbar[l] * SXm_k + 2.0 * SXS
    return v


@njit(cache=True)
def _isserlis(tri, packed, cbar, S, has_S, k, l, F, Xm, XSl):
    """``Σ_ij M4_klij Xb_ij`` for a block ``Xb = I4(k, l, ·, ·)`` (symmetric; its upper
    triangle is read) held in the flat array ``tri``: the packed triangle (``packed``, row
    ``c`` from ``c·F − c(c−1)/2``) or the whole block row-major (row ``c`` from its diagonal
    ``c·F + c``). ``Xm``, ``XSl`` are scratch of F floats."""
    for i in range(F):
        Xm[i] = 0.0
        XSl[i] = 0.0
    trSX = 0.0
    t = 0
    for c in range(F):
        trSX += _isserlis_row(tri, t, c, F, cbar, S, l, has_S, Xm, XSl)
        t += F - c if packed else F + 1
    return _isserlis_end(Xm, XSl, trSX, cbar, S, has_S, k, l, F)


@njit(cache=True)
def _eta2_pair(C, k, l, F, act, cbar, S, has_S, scr):
    """``(Σ_ij M4_klij I4(k,l,i,j), domain errors)`` for a closed-form activation ``act``:
    the block's packed upper triangle (:func:`~.integrals.closed_form.i4_block_packed`)
    contracted row by row. ``scr`` holds ``5F + F(F+1)/2`` floats."""
    tri = scr[5 * F :]
    bad = i4_block_packed(C, k, l, F, act, scr, tri)
    v = _isserlis(tri, True, cbar, S, has_S, k, l, F, scr[3 * F : 4 * F], scr[4 * F : 5 * F])
    return v, bad


# reassociated sums (vectorised): a fixed order of the compiled code, as in _isserlis
@njit(cache=True, fastmath={"reassoc"})
def _m2_i3(I3k, cbar, S, k, K, M, F, nu0, Gk, Rk):
    """Row ``k`` of the first-order terms, with ``M2_ki = c̄_k c̄_i + S_ki`` and
    ``I3k = I3(k, ·, ·)``: ``Gk[l] = Σ_i M2_ki I3(k, l, i)`` (``l < K``) and
    ``Rk[n] = Σ_i M2_ki I3(k, ν0 + n, i)`` (``n < M``; ``dR_kn = −η_J Rk[n]``)."""
    ck = cbar[k]
    for n in range(M):
        acc = 0.0
        for i in range(F):
            acc += (ck * cbar[i] + S[k, i]) * I3k[nu0 + n, i]
        Rk[n] = acc
    for l in range(K):
        acc = 0.0
        for i in range(F):
            acc += (ck * cbar[i] + S[k, i]) * I3k[l, i]
        Gk[l] = acc


@njit(cache=True, parallel=PARALLEL)
def _first_order_rows(C, K, M, L, F, nu0, act, cbar, S, I3t, G, dR):
    """The rows ``I3(k, ·, ·)`` (closed-form activation ``act``) and their :func:`_m2_i3`
    contractions, the rows ``k < K`` in parallel; returns the number of domain errors."""
    errs = np.zeros(K, np.int64)
    for k in prange(K):
        errs[k] = i3_row(C, k, L, F, act, I3t[k])
        _m2_i3(I3t[k], cbar, S, k, K, M, F, nu0, G[k], dR[k * M : (k + 1) * M])
    return errs.sum()


@njit(cache=True, parallel=PARALLEL)
def _eta2_blocks(C, K, F, act, cbar, S, has_S, out):
    """``out[k, l] = Σ_ij M4_klij I4(k,l,i,j)`` for ``k ≤ l`` (closed-form activation
    ``act``), one block per pair (:func:`_eta2_pair`), the pairs in parallel; returns the
    number of domain errors."""
    npair = K * (K + 1) // 2
    pk = np.empty(npair, np.int64)
    pl = np.empty(npair, np.int64)
    p = 0
    for k in range(K):
        for l in range(k, K):
            pk[p] = k
            pl[p] = l
            p += 1
    errs = np.zeros(npair, np.int64)
    n_scr = 5 * F + F * (F + 1) // 2
    for q in prange(npair):
        k, l = pk[q], pl[q]
        out[k, l], errs[q] = _eta2_pair(C, k, l, F, act, cbar, S, has_S, np.empty(n_scr))
    return errs.sum()


@njit(cache=True)
def rhs(y, pi, pf, T, ubar, Su, dy, ws):
    """Write ``dy/dα`` into ``dy``; return the number of integral domain errors.

    ``ws`` is the tuple of scratch arrays from :func:`make_workspace` (same K, M, L, s).
    At a finite ``train_size`` the P = ∞ drift computed here is corrected in place by
    :func:`_finite_p_rhs` (the P = ∞ code is unchanged).
    """
    K, M = pi[P_K], pi[P_M]
    algo, s, L, nu0 = pi[P_ALGO], pi[P_S], pi[P_L], pi[P_NU0]
    eta_J, eta_w, eta_0 = pf[P_ETA_J], pf[P_ETA_W], pf[P_ETA_0]
    sK, sM, gamma = pf[P_SK], pf[P_SM], pf[P_GAMMA]
    F = K + M
    oR = K * K
    ow = oR + K * M
    if algo == ARM:
        s = 0

    (
        C,
        I2m,
        a,
        W,
        cbar,
        H,
        S,
        I3t,
        G,
        X,
        scratch,
        J2m,
        Xm,
        XSl,
        g,
        pa,
        PM,
        EPhi,
        EPsi,
        pbar,
        wbar,
        PSu,
        DQ,
        DR,
        E,
    ) = ws[:25]
    acts, quad = ws[26], ws[27]
    field_covariance(y, K, M, L, gamma, T, C)
    bad = i2_matrix_acts(C, F, acts, quad, I2m)

    _adapt(y, ow, I2m, K, M, s, eta_w, sK, sM, a, W)
    _coefficients(a, W, s, K, M, sK, sM, ubar, Su, cbar, H, S)

    # first-order drift of R and Q: contractions of I3 with M2, row by row (at large K the
    # rows in parallel)
    dR = dy[oR:ow]
    if _blockwise(K, F, acts):
        bad += _first_order_rows(C, K, M, L, F, nu0, acts[0], cbar, S, I3t, G, dR)
    else:
        bad += i3_tensor_acts(C, K, L, F, acts, quad, I3t)
        for k in range(K):
            _m2_i3(I3t[k], cbar, S, k, K, M, F, nu0, G[k], dR[k * M : (k + 1) * M])
    for i in range(K * M):
        dR[i] *= -eta_J
    for k in range(K):
        for l in range(K):
            dy[k * K + l] = -eta_J * (G[k, l] + G[l, k])

    # η_J²/V term: fourth moments of the readout coefficients (Isserlis, non-zero mean)
    if pi[P_FINITE_V] == 1 and eta_J > 0.0:
        bad += j2_matrix_acts(C, K, acts, quad, J2m)
        c2 = eta_J * eta_J * pf[P_INV_V]
        noise2 = pf[P_NOISE] * pf[P_NOISE]
        has_S = False
        for i in range(F):
            for j in range(F):
                if S[i, j] != 0.0:
                    has_S = True
        # Σ_ij M4_klij I4(k,l,i,j) into G (its first-order use is done): pair by pair
        # without the K²F² table for erf/linear fields (at large K on all cores), otherwise
        # from the table
        if _blockwise(K, F, acts):
            bad += _eta2_blocks(C, K, F, acts[0], cbar, S, has_S, G)
        elif all_closed_form(acts, F):
            scr = np.empty(5 * F + F * (F + 1) // 2)
            for k in range(K):
                for l in range(k, K):
                    G[k, l], e = _eta2_pair(C, k, l, F, acts[0], cbar, S, has_S, scr)
                    bad += e
        else:
            bad += i4_tensor_acts(C, K, F, acts, quad, X, scratch)
            for k in range(K):
                for l in range(k, K):
                    G[k, l] = _isserlis(X[k, l].reshape(F * F), False, cbar, S, has_S, k, l,
                                        F, Xm, XSl)
        for k in range(K):
            for l in range(k, K):
                v = G[k, l] + noise2 * (cbar[k] * cbar[l] + S[k, l]) * J2m[k, l]
                dy[k * K + l] += c2 * v
                if l != k:
                    dy[l * K + k] += c2 * v

    # head initialisation: g = s_K I2[λ,:] c̄ is the task-averaged gradient at w_t
    for k in range(K):
        acc = 0.0
        for i in range(F):
            acc += I2m[k, i] * cbar[i]
        g[k] = sK * acc
    if algo != ANIL:
        for k in range(K):
            dy[ow + k] = -eta_0 * g[k]
        if pi[P_FINITE_P] == 1 and s > 0:
            bad += _call_finite_p_rhs(y, pi, pf, T, ubar, Su, dy, ws[25])
        return bad

    # ---- exact ANIL: back-propagate through the s inner steps (A is symmetric) ----
    c_phi = eta_w * sK * sK
    # adjoint p_j = pa[j] + PM[j] u, p_s = g(u) = s_K I2[λ,:] (c0 + H u)
    for k in range(K):
        acc = 0.0
        for i in range(K):
            acc += I2m[k, i] * a[s, i]
        pa[s, k] = sK * sK * acc
        for n in range(M):
            acc = 0.0
            for i in range(F):
                acc += I2m[k, i] * H[i, n]
            PM[s, k, n] = sK * acc
    for j in range(s - 1, -1, -1):
        for k in range(K):
            acc = pa[j + 1, k]
            for l in range(K):
                acc -= c_phi * I2m[k, l] * pa[j + 1, l]
            pa[j, k] = acc
            for n in range(M):
                acc = PM[j + 1, k, n]
                for l in range(K):
                    acc -= c_phi * I2m[k, l] * PM[j + 1, l, n]
                PM[j, k, n] = acc
    # dw: −η_0 A^s g averaged over u = −η_0 p̄_0
    for k in range(K):
        acc = pa[0, k]
        for n in range(M):
            acc += PM[0, k, n] * ubar[n]
        dy[ow + k] = -eta_0 * acc
    # E_Φ[a,b] = ∂F/∂Φ_ab and E_Ψ[a,n] = ∂F/∂Ψ_an, averaged over u
    EPhi[:, :] = 0.0
    EPsi[:, :] = 0.0
    for j in range(s):
        for k in range(K):  # PSu = PM[j+1] Σ_u
            for n in range(M):
                acc = 0.0
                for m in range(M):
                    acc += PM[j + 1, k, m] * Su[m, n]
                PSu[k, n] = acc
        for k in range(K):
            acc = pa[j + 1, k]
            for n in range(M):
                acc += PM[j + 1, k, n] * ubar[n]
            pbar[k] = acc
            acc = a[j, k]
            for n in range(M):
                acc += W[j, k, n] * ubar[n]
            wbar[k] = acc
        for k in range(K):
            for l in range(K):
                acc = pbar[k] * wbar[l]
                for n in range(M):
                    acc += PSu[k, n] * W[j, l, n]
                EPhi[k, l] -= c_phi * acc
            for n in range(M):
                EPsi[k, n] += eta_w * sK * sM * (pbar[k] * ubar[n] + PSu[k, n])
    # chain rule to the overlaps: D^Q = ∂F/∂Q + (∂F/∂Q)ᵀ, D^R = ∂F/∂R^t
    DQ[:, :] = 0.0
    for k in range(K):
        dkk = EPhi[k, k] * i2_diag_dcov(C, k, acts, quad)
        for l in range(K):
            if l != k:
                d_off, d_kk = i2_dcov(C, k, l, acts, quad)
                DQ[k, l] = (EPhi[k, l] + EPhi[l, k]) * d_off
                dkk += (EPhi[k, l] + EPhi[l, k]) * d_kk
        for n in range(M):
            d_off, d_kk = i2_dcov(C, k, K + n, acts, quad)
            DR[k, n] = EPsi[k, n] * d_off
            dkk += EPsi[k, n] * d_kk
        DQ[k, k] = 2.0 * dkk
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for l in range(K):
                acc += DQ[k, l] * y[oR + l * M + n]
            for m in range(M):
                acc += gamma * DR[k, m] * T[m, n]
            dy[oR + k * M + n] -= eta_J * acc
    for k in range(K):
        for l in range(K):
            acc = 0.0
            for m in range(K):
                acc += DQ[k, m] * y[m * K + l]
            for n in range(M):
                acc += gamma * DR[k, n] * y[oR + l * M + n]
            E[k, l] = acc
    for k in range(K):
        for l in range(K):
            dy[k * K + l] -= eta_J * (E[k, l] + E[l, k])
    if pi[P_FINITE_P] == 1 and s > 0:
        bad += _call_finite_p_rhs(y, pi, pf, T, ubar, Su, dy, ws[25])
    return bad


@njit(cache=True)
def cholesky(A, n):
    """Cholesky factor of ``A[:n, :n]`` in place (lower triangle ``L``, ``A = LLᵀ``; the
    upper triangle is left as it was); False, stopping there, if ``A`` is not positive
    definite."""
    for j in range(n):
        s = A[j, j]
        for q in range(j):
            s -= A[j, q] * A[j, q]
        if s <= 0.0:
            return False
        d = math.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for q in range(j):
                s -= A[i, q] * A[j, q]
            A[i, j] = s / d
    return True


@njit(cache=True)
def errors_kernel(y, pi, pf, T, ubar, Su, out, full):
    """``out = (eg, eg_pre, eg_opt)``: errors on a fresh task (label noise included).

    ``eg``: after the inner loop (the meta-generalisation error ``½Σ_ij M2_ij I2_ij + σ²/2``),
    on ``test_size`` fresh samples of the new task when it is finite (``M2`` over them too:
    the few-shot error, theory/finite_p.md §8);
    ``eg_pre``: at the head initialisation ``w`` (no adaptation; the ARM-style error);
    ``eg_opt``: with the optimal head for each task, ``½ s_M² E_u[uᵀ(Θ − ΨᵀΦ⁻¹Ψ)u] + σ²/2``,
    ``Θ = I2[ν^t,ν^t]`` — the quality of the representation ``J`` alone.
    With ``full=False`` only ``eg`` is computed (used by the solvers' threshold event).
    """
    K, M = pi[P_K], pi[P_M]
    algo, s, L = pi[P_ALGO], pi[P_S], pi[P_L]
    sK, sM, gamma = pf[P_SK], pf[P_SM], pf[P_GAMMA]
    noise2 = pf[P_NOISE] * pf[P_NOISE]
    F = K + M
    if algo == ARM:
        s = 0
    acts, quad = _activations(pi, pf)
    C = np.empty((L, L))
    field_covariance(y, K, M, L, gamma, T, C)
    I2m = np.empty((F, F))
    bad = i2_matrix_acts(C, F, acts, quad, I2m)
    a = np.empty((s + 1, K))
    W = np.empty((s + 1, K, M))
    ow = K * K + K * M
    _adapt(y, ow, I2m, K, M, s, pf[P_ETA_W], sK, sM, a, W)
    cbar = np.empty(F)
    H = np.empty((F, M))
    S = np.empty((F, F))
    for which in range(2 if full else 1):
        j = s if which == 0 else 0
        _coefficients(a, W, j, K, M, sK, sM, ubar, Su, cbar, H, S)
        acc = 0.0
        for i in range(F):
            for q in range(F):
                acc += (cbar[i] * cbar[q] + S[i, q]) * I2m[i, q]
        out[which] = 0.5 * acc + 0.5 * noise2
    if pi[P_FINITE_PT] == 1 and s > 0:
        # few-shot error: the head adapted on test_size fresh samples, ½ Σ dM2 ∘ I2 more
        fp = _finite_p_workspace(K, M, s)
        bad += _finite_p_setup(C, I2m, a, W, s, K, M, acts, quad, pf, ubar, fp)
        _finite_p_moments(I2m, a, W, s, K, M, pf, ubar, Su, pf[P_INV_PT], fp)
        dM2 = fp[3]
        acc = 0.0
        for i in range(F):
            for q in range(F):
                acc += dM2[i, q] * I2m[i, q]
        out[0] += 0.5 * acc
    if not full:
        return bad
    # Ξ = Θ − ΨᵀΦ⁻¹Ψ as Θ − ZᵀZ with Φ = LLᵀ, Z = L⁻¹Ψ: plain loops, no LAPACK call (which
    # would make the ahead-of-time module import scipy for it)
    Lc = I2m[:K, :K].copy()
    if not cholesky(Lc, K):  # a pivot ≤ 0: Φ not positive definite even to rounding
        out[2] = math.nan
        return bad
    Z = I2m[:K, K:F].copy()
    for n in range(M):  # forward substitution, one column of Ψ at a time
        for j in range(K):
            z = Z[j, n]
            for q in range(j):
                z -= Lc[j, q] * Z[q, n]
            Z[j, n] = z / Lc[j, j]
    acc = 0.0
    for n in range(M):
        for m in range(M):
            xi = I2m[K + n, K + m]
            for j in range(K):
                xi -= Z[j, n] * Z[j, m]
            acc += xi * (ubar[n] * ubar[m] + Su[n, m])
    out[2] = 0.5 * sM * sM * acc + 0.5 * noise2
    return bad


