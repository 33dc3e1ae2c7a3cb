r"""Numba kernels of the CPU hot path: per-replica normal streams and the incremental chunk.

**Random numbers.**  Replica ``r`` owns a ``xoshiro256++`` generator (Blackman & Vigna 2019;
period ``2^256 − 1``, 256 bits of state ``s = state[r] ∈ uint64⁴``) seeded by running
``splitmix64`` from ``seed_r`` (the reference seeding of xoshiro).  Normals come from the
256-layer ziggurat of Marsaglia & Tsang (2000) in the 64-bit form used by NumPy: one 64-bit
word ``w`` gives the layer ``i = w mod 256``, a sign bit and a 52-bit magnitude ``m``;
``x = ±m·W_i`` is returned at once when ``m < K_i`` (about 99 % of draws); otherwise, in a
layer ``i ≥ 1``, ``x`` is accepted when ``(f_{i−1} − f_i)·U + f_i < e^{−x²/2}`` (``U`` uniform
from the next word) and in the base layer a tail value ``±(r + a)``, ``r = 3.654…``, is drawn
by Marsaglia's (1964) method; a rejection starts over with a new word.  Every replica's
numbers depend only on its own state, so filling the replicas in parallel (``prange``) gives
the same numbers for any number of threads or scheduling.

**Chunk of tasks** (:func:`chunk_incremental`): the arithmetic of
:func:`~teacherstudent.simulation.algorithms.run_chunk_incremental` (``arm``/``fo-anil``,
finite ``V``, ``P = ∞``, ``γ = 1``) per replica, in a loop over its tasks, the replicas in
parallel.  See that function for the maths; the torch version is the reference (and the
CUDA path), and the two agree to rounding (the length-``N`` dot products are vectorised with
reassociated partial sums: a fixed order for a given machine, so results are reproducible).
:func:`chunk_drawn` also makes the chunk's draws inside the kernel, replica by replica.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

from ..ode.integrals import ERF, LINEAR, i2_dcov, i2_diag_dcov, i2_matrix_acts, quadrature_rule
from .activations import g_prime_scalar, g_scalar

__all__ = [
    "ZIGGURAT",
    "seed_states",
    "fill_normal",
    "chunk_incremental",
    "chunk_drawn",
    "warmup",
    "i2_batch",
    "i2_batch_grad",
    "ERF",
    "LINEAR",
]

_U64 = np.uint64
_MASK52 = _U64((1 << 52) - 1)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53
_ZIG_R = 3.6541528853610088  # right edge of the outermost layer (256 layers)
_ZIG_V = 0.00492867323399  # area of each layer


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(K, W, F)`` of the 256-layer ziggurat for ``f(x) = e^{−x²/2}`` (52-bit magnitudes).

    Layer ``i ≥ 1`` is ``[0, x_i) × [f(x_i), f(x_{i−1})]`` with ``x_255 = r``, ``x_0 = 0`` and
    equal areas ``v``; layer 0 is the base ``[0, v/f(r)) × [0, f(r)]`` (its part beyond ``r``
    stands for the tail).  ``W_i = x_i/2^52`` scales the magnitude, ``K_i = ⌊2^52 x_{i−1}/x_i⌋``
    is the acceptance threshold of the rectangle, ``F_i = f(x_i)``.
    """
    m = float(2**52)
    ki = np.zeros(256, np.uint64)
    wi = np.zeros(256, np.float64)
    fi = np.zeros(256, np.float64)
    dn = tn = _ZIG_R
    q = _ZIG_V / math.exp(-0.5 * dn * dn)
    ki[0] = int(dn / q * m)
    ki[1] = 0
    wi[0] = q / m
    wi[255] = dn / m
    fi[0] = 1.0
    fi[255] = math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = int(dn / tn * m)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / m
    return ki, wi, fi


ZIGGURAT = _ziggurat_tables()


@contextmanager
def _replicas_in_parallel(S: int) -> Iterator[None]:
    """At most ``S`` threads, replicas handed out one at a time (dynamic scheduling).

    Each replica's numbers and results depend only on its own state, so the schedule does
    not change them; it balances the load when a core is shared with other work, and a
    single replica runs on the calling thread alone (no wake-up of idle threads).
    """
    threads = numba.get_num_threads()
    chunk = numba.get_parallel_chunksize()
    numba.set_num_threads(max(1, min(threads, S)))
    numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(chunk)
        numba.set_num_threads(threads)


# --------------------------------------------------------------------------- generator
@njit(cache=True)
def _splitmix64(x):
    """``(next state, output)`` of splitmix64 (uint64 arithmetic modulo 2^64)."""
    x = x + _U64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x, z ^ (z >> _U64(31))


@njit(cache=True)
def _seed_states(seeds, out):
    for r in range(seeds.shape[0]):
        x = seeds[r]
        for j in range(4):
            x, out[r, j] = _splitmix64(x)


def seed_states(seeds: list[int]) -> np.ndarray:
    """``(S, 4)`` uint64 xoshiro256++ states, row ``r`` from ``splitmix64(seeds[r])``.

    Seeds are taken modulo ``2^64`` (negative seeds allowed); an all-zero state cannot occur
    because splitmix64 is a bijection of its counter and the four words come from four
    consecutive counters.
    """
    s = np.array([int(v) % (1 << 64) for v in seeds], dtype=np.uint64)
    out = np.zeros((s.size, 4), np.uint64)
    _seed_states(s, out)
    return out


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@njit(cache=True, inline="always")
def _next(s0, s1, s2, s3):
    """One xoshiro256++ step: ``(output, new state)``."""
    out = _rotl(s0 + s3, 23) + s0
    t = s1 << _U64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return out, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _unit(word):
    """Uniform double in ``[0, 1)`` from the top 53 bits of a word."""
    return np.float64(np.int64(word >> _U64(11))) * _TO_UNIT


@njit(cache=True)
def _slow(word, idx, x, s0, s1, s2, s3, fi):
    """The rare ziggurat branches: ``(accepted, x, new state)`` (rejection → draw again)."""
    if idx == 0:  # the tail |x| > r (Marsaglia 1964)
        while True:
            w1, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
            w2, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
            xx = -math.log1p(-_unit(w1)) / _ZIG_R
            yy = -math.log1p(-_unit(w2))
            if yy + yy > xx * xx:
                t = _ZIG_R + xx
                return True, (-t if word & _U64(1) else t), s0, s1, s2, s3
    # the wedge between f(x_i) and f(x_{i-1})
    w1, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
    ok = (fi[idx - 1] - fi[idx]) * _unit(w1) + fi[idx] < math.exp(-0.5 * x * x)
    return ok, x, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _fill_row(row, s0, s1, s2, s3, ki, wi, fi):
    """Fill ``row`` with standard normals (ziggurat); returns the new state."""
    i = 0
    n = row.shape[0]
    while i < n:
        word, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        idx = np.intp(word & _U64(0xFF))
        word = word >> _U64(8)
        mag = (word >> _U64(1)) & _MASK52
        x = np.float64(np.int64(mag)) * wi[idx]
        if word & _U64(1):
            x = -x
        if mag < ki[idx]:  # inside the rectangle: about 99 % of draws
            row[i] = x
            i += 1
        else:
            ok, x, s0, s1, s2, s3 = _slow(word, idx, x, s0, s1, s2, s3, fi)
            if ok:
                row[i] = x
                i += 1
    return s0, s1, s2, s3


@njit(cache=True, parallel=True)
def _fill_normal(state, out, ki, wi, fi):
    for r in prange(out.shape[0]):
        s0, s1, s2, s3 = _fill_row(out[r], state[r, 0], state[r, 1], state[r, 2], state[r, 3],
                                   ki, wi, fi)
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3


def fill_normal(state: np.ndarray, out: np.ndarray) -> None:
    """Fill row ``r`` of ``out (S, n)`` (float64 or float32) with normals of stream ``r``,
    advancing ``state (S, 4)`` in place; replicas in parallel, numbers thread-independent."""
    ki, wi, fi = ZIGGURAT
    with _replicas_in_parallel(out.shape[0]):
        _fill_normal(state, out, ki, wi, fi)


# --------------------------------------------------------------------------- chunk kernel
@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(a, b):
    """``Σ_n a_n b_n`` (reassociated: vectorised with several partial sums)."""
    acc = 0.0
    for n in range(a.shape[0]):
        acc += a[n] * b[n]
    return acc


@njit(cache=True)
def i2_batch(Cs, acts, quad, out):
    """``out[r] = I2(Cs[r])`` (per-field activations ``acts``) for a stack ``(n, F, F)``;
    returns the number of domain errors."""
    bad = 0
    for r in range(Cs.shape[0]):
        bad += i2_matrix_acts(Cs[r], Cs.shape[1], acts, quad, out[r])
    return bad


@njit(cache=True)
def i2_batch_grad(Cs, G, acts, quad, out):
    """``out[r] = Σ_ab G[r, a, b] ∂I2(Cs[r])_ab/∂C`` (Price's theorem), entry by entry of
    ``C`` as in the closed forms: ``I2_ab`` depends on ``C_ab``, ``C_aa`` and ``C_bb``."""
    F = Cs.shape[1]
    for r in range(Cs.shape[0]):
        C = Cs[r]
        for a in range(F):
            out[r, a, a] = G[r, a, a] * i2_diag_dcov(C, a, acts, quad)
        for a in range(F):
            for b in range(F):
                if a != b:
                    d_ab, d_aa = i2_dcov(C, a, b, acts, quad)
                    out[r, a, b] = G[r, a, b] * d_ab
                    # I2_ab and I2_ba depend on C_aa alike
                    out[r, a, a] += (G[r, a, b] + G[r, b, a]) * d_aa


@njit(cache=True)
def _replica_chunk(Jr, Br, wr, x, z_u, xi, u_mean, u_sqrt, s_K, s_M, noise, eta_J, eta_w,
                   eta_0, steps, acts, quad):
    """The tasks of one replica (see :func:`chunk_incremental`); ``x (C, V, N)``,
    ``z_u (C, M)``, ``xi (C, V)`` or ``(C, 0)``."""
    K, N = Jr.shape
    M = Br.shape[0]
    nC, V = x.shape[0], x.shape[1]
    L = K + M
    has_xi = xi.shape[1] > 0
    inv_sqrt_N = 1.0 / math.sqrt(N)
    a_scale = s_K / (V * math.sqrt(N))
    d_scale = -eta_J / math.sqrt(N)
    C = np.empty((L, L))
    for a in range(L):
        ra = Jr[a] if a < K else Br[a - K]
        for b in range(a, L):
            rb = Jr[b] if b < K else Br[b - K]
            C[a, b] = _dot(ra, rb) / N
            C[b, a] = C[a, b]
    I2C = np.empty((L, L))
    u = np.empty(M)
    w_t = np.empty(K)
    grad = np.empty(K)
    z = np.empty((V, L))  # fields (λ, ν)
    G = np.empty((V, V))
    delta = np.empty(V)
    A = np.empty((V, K))
    D = np.empty((K, L))
    for c in range(nC):
        xc = x[c]
        for m in range(M):
            acc = u_mean[m]
            s = 0.0
            for j in range(M):
                s += z_u[c, j] * u_sqrt[m, j]
            u[m] = acc + s
        for k in range(K):
            w_t[k] = wr[k]
        if steps > 0:
            i2_matrix_acts(C, L, acts, quad, I2C)
            for _ in range(steps):
                for k in range(K):
                    s = 0.0
                    for i in range(K):
                        s += I2C[k, i] * (s_K * w_t[i])
                    for n in range(M):
                        s += I2C[k, K + n] * (-s_M * u[n])
                    grad[k] = s_K * s
                for k in range(K):
                    w_t[k] = w_t[k] - eta_w * grad[k]
        for v in range(V):
            for a in range(L):
                row = Jr[a] if a < K else Br[a - K]
                z[v, a] = _dot(xc[v], row) * inv_sqrt_N
            for v2 in range(v + 1):
                G[v, v2] = _dot(xc[v], xc[v2]) / N
                G[v2, v] = G[v, v2]
        for v in range(V):
            y = 0.0
            for n in range(M):
                y += g_scalar(z[v, K + n], acts[K + n]) * u[n]
            y = s_M * y
            if has_xi:
                y = y + noise * xi[c, v]
            f = 0.0
            for k in range(K):
                f += g_scalar(z[v, k], acts[k]) * w_t[k]
            delta[v] = s_K * f - y
            for k in range(K):
                A[v, k] = (delta[v] * g_prime_scalar(z[v, k], acts[k])) * w_t[k] * a_scale
        for k in range(K):
            s = 0.0
            for v in range(V):
                s += delta[v] * g_scalar(z[v, k], acts[k])
            grad[k] = (s_K / V) * s
            for a in range(L):
                s = 0.0
                for v in range(V):
                    s += A[v, k] * z[v, a]
                D[k, a] = s * d_scale
        for k in range(K):
            for a in range(L):
                C[k, a] += D[k, a]
        for a in range(L):
            for k in range(K):
                C[a, k] += D[k, a]
        for k in range(K):
            for q in range(K):
                s = 0.0
                for v in range(V):
                    t = 0.0
                    for v2 in range(V):
                        t += G[v, v2] * A[v2, q]
                    s += A[v, k] * t
                C[k, q] += (eta_J * eta_J) * s
        for k in range(K):
            Jk = Jr[k]
            for v in range(V):
                coef = -eta_J * A[v, k]
                xv = xc[v]
                for n in range(N):
                    Jk[n] += coef * xv[n]
            wr[k] -= (eta_0 / N) * grad[k]


def chunk_incremental(
    J, B, w, x, z_u, xi, u_mean, u_sqrt, s_K, s_M, noise, eta_J, eta_w, eta_0, steps, acts, quad
):
    r"""All tasks of a chunk for every replica, in place (``arm``/``fo-anil``, finite ``V``).

    ``J (S, K, N)``, ``B (S, M, N)``, ``w (S, K)``; draws ``x (S, C, V, N)``,
    ``z_u (S, C, M)``, ``xi (S, C, V)`` (label noise; pass shape ``(S, C, 0)`` for none).
    Per replica, with the overlaps ``C`` of ``[J; B]`` computed once and then carried:

    - head ``u = ū + Σ_u^{1/2} z_u``; inner loop ``steps`` times
      ``w_t ← w_t − η_w s_K I2(C)[λ, :] (s_K w_t; −s_M u)`` from ``w_t = w``;
    - fields ``λ = xJᵀ/√N``, ``ν = xBᵀ/√N``, Gram ``G = xxᵀ/N``; label
      ``y = s_M Σ_n u_n g(ν_n) + σ ξ``, error ``Δ = s_K Σ_k w_{t,k} g(λ_k) − y``;
    - ``A_vk = (s_K/(V√N)) Δ_v w_{t,k} g'(λ_vk)``, ``∇_w L_V = (s_K/V) Σ_v Δ_v g(λ_v)``;
    - ``C[J, :] += D``, ``C[:, J] += Dᵀ``, ``C[J, J] += η_J² AᵀGA`` with
      ``D = −(η_J/√N) Aᵀ(λ, ν)``; ``J ← J − η_J Aᵀx``, ``w ← w − (η_0/N) ∇_w L_V``.
    """
    with _replicas_in_parallel(J.shape[0]):
        _chunk_incremental(J, B, w, x, z_u, xi, u_mean, u_sqrt, s_K, s_M, noise, eta_J, eta_w,
                           eta_0, steps, acts, quad)


@njit(cache=True, parallel=True)
def _chunk_incremental(
    J, B, w, x, z_u, xi, u_mean, u_sqrt, s_K, s_M, noise, eta_J, eta_w, eta_0, steps, acts, quad
):
    for r in prange(J.shape[0]):
        _replica_chunk(J[r], B[r], w[r], x[r], z_u[r], xi[r], u_mean, u_sqrt, s_K, s_M, noise,
                       eta_J, eta_w, eta_0, steps, acts, quad)


@njit(cache=True, parallel=True)
def _chunk_drawn(state, J, B, w, nC, V, noisy, u_mean, u_sqrt, s_K, s_M, noise, eta_J, eta_w,
                 eta_0, steps, acts, quad, ki, wi, fi):
    M, N = B.shape[1], B.shape[2]
    for r in prange(J.shape[0]):
        z_u = np.empty((nC, M))
        x = np.empty((nC, V, N))
        xi = np.empty((nC, V if noisy else 0))
        s0, s1, s2, s3 = state[r, 0], state[r, 1], state[r, 2], state[r, 3]
        s0, s1, s2, s3 = _fill_row(z_u.reshape(-1), s0, s1, s2, s3, ki, wi, fi)
        s0, s1, s2, s3 = _fill_row(x.reshape(-1), s0, s1, s2, s3, ki, wi, fi)
        s0, s1, s2, s3 = _fill_row(xi.reshape(-1), s0, s1, s2, s3, ki, wi, fi)
        state[r, 0], state[r, 1], state[r, 2], state[r, 3] = s0, s1, s2, s3
        _replica_chunk(J[r], B[r], w[r], x, z_u, xi, u_mean, u_sqrt, s_K, s_M, noise,
                       eta_J, eta_w, eta_0, steps, acts, quad)


def chunk_drawn(
    state, J, B, w, nC, V, noisy, u_mean, u_sqrt, s_K, s_M, noise, eta_J, eta_w, eta_0, steps,
    acts, quad,
):
    """:func:`chunk_incremental` with the draws made inside the kernel, replica by replica.

    Replica ``r`` draws from its stream ``state[r]``, exactly in the order of
    :func:`~teacherstudent.simulation.algorithms.draw_chunk` — heads ``z_u (C, M)``, inputs
    ``x (C, V, N)``, then label noise ``ξ (C, V)`` when ``noisy`` — into its own scratch
    arrays (cache-resident, never written to memory as one big chunk), then runs its tasks.
    """
    ki, wi, fi = ZIGGURAT
    with _replicas_in_parallel(J.shape[0]):
        _chunk_drawn(state, J, B, w, nC, V, noisy, u_mean, u_sqrt, s_K, s_M, noise, eta_J,
                     eta_w, eta_0, steps, acts, quad, ki, wi, fi)


def warmup() -> None:
    """Compile (or load from the cache) the kernels for the types the simulation passes
    — float64 C-contiguous arrays, Python floats and ints — so that no compilation lands
    in a timed region."""
    state = seed_states([0])
    fill_normal(state, np.empty((1, 4)))
    f64 = lambda *s: np.zeros(s)
    acts = np.array([ERF, ERF], dtype=np.int64)
    quad = quadrature_rule(3)
    chunk_incremental(
        f64(1, 1, 2), f64(1, 1, 2), f64(1, 1), f64(1, 1, 1, 2), f64(1, 1, 1), f64(1, 1, 0),
        f64(1), f64(1, 1), 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0, acts, quad,
    )
    chunk_drawn(
        state, f64(1, 1, 2), f64(1, 1, 2), f64(1, 1), 1, 1, False, f64(1), f64(1, 1),
        1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0, acts, quad,
    )
