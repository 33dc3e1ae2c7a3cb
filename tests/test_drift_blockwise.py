r"""The η_J²/V term of the drift computed block by block (issue 16) against the full table.

The drift no longer stores ``X[k, l, i, j] = I4(k, l, i, j)`` (K²F² floats): it computes one
``(F, F)`` block ``I4(k, l, ·, ·)`` per pair ``k ≤ l`` and contracts it at once, the pairs in
parallel from ``K = PARALLEL_MIN_K`` on. Checked here:

* **Reference.** ``dQ(V) = dQ(∞) + (η_J²/V)[Σ_ij M4_klij I4(k,l,i,j) + σ² M2_kl J2(k,l)]``
  with the full ``I4`` table of ``i4_tensor_acts``, the readout moments (``c̄``, ``S``) from
  the inner loop written here in numpy and the fourth moments ``M4`` written out term by
  term (Isserlis with non-zero mean), not through the contracted formula of the drift; at
  ``K = M = 3`` (serial path) and ``K = M = 10`` (parallel path), arm / fo-anil / anil,
  ``V = 1`` and ``V = 5``, non-zero ``ū`` and a non-diagonal ``Σ_u`` (the S-terms), and
  for relu (orthant engine) at small K.
* **Threads.** The drift is bitwise the same for 1 and 2 numba threads (and for another
  number of chunks of pairs): every pair is computed by one thread into its own slot.
* **Block kernel.** ``i4_block_acts`` / ``closed_form.i4_block`` equal the slices of the
  full table exactly (the table is made of the blocks).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from random_states import random_fields_and_heads

from teacherstudent.config import load_config
from teacherstudent.ode.drift import PARALLEL_MIN_K, VectorField, field_covariance, rhs
from teacherstudent.ode.integrals import (
    ERF,
    LINEAR,
    activation_code,
    i2_matrix_acts,
    i4_block,
    i4_block_acts,
    i4_tensor,
    i4_tensor_acts,
    j2_matrix_acts,
    quadrature_rule,
)


def _state(K, M, seed):
    rng = np.random.default_rng(seed)
    C, Su = random_fields_and_heads(rng, K, M)
    return dict(
        Q=C[:K, :K], R=C[:K, K:], T=C[K:, K:], w=0.8 * rng.standard_normal(K),
        ubar=0.7 * rng.standard_normal(M), Su=Su,
    )


def _config(st, K, M, algorithm, V, activation="erf", gamma=1.0):
    return load_config(
        {
            "model": {"K": K, "M": M, "activation": activation, "noise": 0.3},
            "tasks": {
                "head_mean": st["ubar"].tolist(),
                "head_cov": st["Su"].tolist(),
                "gamma": gamma,
                "teacher_overlap": st["T"].tolist(),
            },
            "algorithm": {
                "name": algorithm, "eta_J": 1.3, "eta_w": 0.7, "eta_0": 0.9,
                "inner_steps": 2, "val_size": V,
            },
            "init": {"Q": st["Q"].tolist(), "R": st["R"].tolist(), "w": st["w"].tolist()},
        }
    )


def _eta2_reference(vf, y):
    """(η_J²/V)[Σ_ij M4_klij I4(k,l,i,j) + σ² M2_kl J2(k,l)] from the full I4 table."""
    p = vf.problem
    K, M = p.K, p.M
    F = K + M
    pi, pf, T, ubar, Su = vf.args
    L = int(pi[5])  # P_L
    ws = vf.workspace()
    acts, quad = ws[26], ws[27]
    C = np.empty((L, L))
    field_covariance(y, K, M, L, p.gamma, T, C)
    I2 = np.empty((F, F))
    i2_matrix_acts(C, F, acts, quad, I2)
    # inner loop on the head: w_t = a + W u
    s = 0 if vf.algorithm == "arm" else int(pi[4])  # P_S
    eta_w, sK, sM = pf[1], p.s_K, p.s_M
    Phi, Psi = I2[:K, :K], I2[:K, K:F]
    a, W = y[-K:].copy(), np.zeros((K, M))
    for _ in range(s):
        a = a - eta_w * sK * (sK * Phi @ a)
        W = W - eta_w * sK * (sK * Phi @ W - sM * Psi)
    H = np.vstack([sK * W, -sM * np.eye(M)])
    m = np.concatenate([sK * a, np.zeros(M)]) + H @ ubar
    S = H @ Su @ H.T
    # Isserlis for a Gaussian with mean m, covariance S, every term written out
    M4 = (
        np.einsum("k,l,i,j->klij", m, m, m, m)
        + np.einsum("k,l,ij->klij", m, m, S)
        + np.einsum("k,i,lj->klij", m, m, S)
        + np.einsum("k,j,li->klij", m, m, S)
        + np.einsum("l,i,kj->klij", m, m, S)
        + np.einsum("l,j,ki->klij", m, m, S)
        + np.einsum("i,j,kl->klij", m, m, S)
        + np.einsum("kl,ij->klij", S, S)
        + np.einsum("ki,lj->klij", S, S)
        + np.einsum("kj,li->klij", S, S)
    )[:K, :K]
    X = np.empty((K, K, F, F))
    assert i4_tensor_acts(C, K, F, acts, quad, X, np.empty(3 * F)) == 0
    J2 = np.empty((K, K))
    j2_matrix_acts(C, K, acts, quad, J2)
    M2 = (np.outer(m, m) + S)[:K, :K]
    eta_J, inv_V, noise = pf[0], pf[3], pf[4]
    return eta_J**2 * inv_V * (np.einsum("klij,klij->kl", M4, X) + noise**2 * M2 * J2)


def _check(K, M, algorithm, V, seed, activation="erf", gamma=1.0):
    st = _state(K, M, seed)
    vf = VectorField.from_config(_config(st, K, M, algorithm, V, activation, gamma))
    vf_inf = VectorField.from_config(_config(st, K, M, algorithm, "inf", activation, gamma))
    y = vf.y0
    dy = vf.rhs(y)
    ref = vf_inf.rhs(y)
    ref[: K * K] += _eta2_reference(vf, y).ravel()
    assert np.abs(ref[: K * K] - vf_inf.rhs(y)[: K * K]).max() > 1e-3  # the term matters
    assert np.abs(dy - ref).max() <= 1e-13 * np.abs(ref).max()


@pytest.mark.parametrize("K", [3, 10])
@pytest.mark.parametrize("V", [1, 5])
@pytest.mark.parametrize("algorithm", ["arm", "fo-anil", "anil"])
def test_eta2_term_matches_full_table(algorithm, V, K):
    assert (K >= PARALLEL_MIN_K) == (K == 10)  # both paths covered
    _check(K, K, algorithm, V, seed=K + 7 * V)


def test_eta2_term_two_teacher_fields():
    """γ < 1: the meta-teacher fields are appended to C, the η_J²/V term uses the first F."""
    _check(10, 9, "fo-anil", 1, seed=3, gamma=0.7)


@pytest.mark.parametrize("algorithm", ["arm", "fo-anil"])
def test_eta2_term_relu(algorithm):
    _check(2, 3, algorithm, 1, seed=5, activation="relu")


def test_drift_bitwise_independent_of_threads():
    K = M = 12
    st = _state(K, M, 11)
    vf = VectorField.from_config(_config(st, K, M, "fo-anil", 1))
    y = vf.y0
    pi, pf, T, ubar, Su = vf.args
    n0 = numba.get_num_threads()
    n2 = min(2, numba.config.NUMBA_NUM_THREADS)
    ws = list(vf.workspace())
    F = K + M
    ws[28:31] = [np.empty((1, F, F)), np.empty((1, 3 * F)), np.empty((1, 3, F))]
    ws_one = tuple(ws)  # a single chunk of pairs (the workspace has NUMBA_NUM_THREADS)
    d_one_chunk = np.empty_like(y)
    try:
        numba.set_num_threads(n2)
        d_many = vf.rhs(y)
        rhs(y, pi, pf, T, ubar, Su, d_one_chunk, ws_one)
        numba.set_num_threads(1)
        d_one = vf.rhs(y)
    finally:
        numba.set_num_threads(n0)
    assert np.array_equal(d_many, d_one)
    assert np.array_equal(d_many, d_one_chunk)
    assert np.isfinite(d_many).all()


@pytest.mark.parametrize("activation", ["erf", "linear", "relu", "tanh"])
def test_block_equals_table_slice(activation):
    K, M = (3, 4) if activation in ("erf", "linear") else (2, 2)
    F = K + M
    C, _ = random_fields_and_heads(np.random.default_rng(2), K, M)
    acts = np.array([activation_code(activation)] * K + [ERF] * M, np.int64)
    if activation in ("erf", "linear"):
        acts[:] = acts[0]
    quad = quadrature_rule(33)
    X = np.empty((K, K, F, F))
    i4_tensor_acts(C, K, F, acts, quad, X, np.empty(3 * F))
    block = np.empty((F, F))
    for a in range(K):
        for b in range(K):
            i4_block_acts(C, a, b, F, acts, quad, block, np.empty(3 * F))
            assert np.array_equal(block, X[a, b])
            assert np.array_equal(X[a, b], X[a, b].T)


@pytest.mark.parametrize("act", [ERF, LINEAR])
def test_closed_form_block_equals_table_slice(act):
    n = 7
    C, _ = random_fields_and_heads(np.random.default_rng(4), 4, 3)
    X = np.empty((n, n, n, n))
    i4_tensor(C, n, n, act, X, np.empty(3 * n))
    block = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            assert i4_block(C, a, b, n, act, block, np.empty(3 * n)) == 0
            assert np.array_equal(block, X[a, b])
