r"""The drift at large K: the rows of I3 and the η_J²/V term block by block over (k, l),
spread over the cores.

With erf or linear fields the drift does not store the K²F² table of I4: each pair (k, l)
computes the packed upper triangle of its block ``I4(k, l, ·, ·)`` and contracts it at once
with the Isserlis fourth moments of the readout coefficients (theory/equations.md §3); from
K = 12 on the pairs run in parallel.  Checked here:

- an I3 row, an I4 block and its packed triangle equal the slices of the full tensors
  (whose entries are checked against quadrature in test_integrals.py);
- the contraction equals the ten-term Isserlis sum written out with ``einsum`` over the
  full tensor (an independent reference, not the O(F²) factorisation of the kernel);
- the drift's η²/V term at K = 12 agrees with the Monte Carlo of the one-task update;
- the drift is bit-for-bit the same for one thread and for all threads;
- a fresh process loads the kernel (which links the parallel code) from numba's cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from random_states import random_fields_and_heads
from test_drift_montecarlo import N_SIGMA, _zscore, config, monte_carlo

drift = pytest.importorskip("teacherstudent.ode.drift")
from teacherstudent.ode.field import VectorField  # noqa: E402

numba = pytest.importorskip("numba")
from teacherstudent.ode import field, layout  # noqa: E402
from teacherstudent.ode.integrals import (  # noqa: E402
    ERF,
    I3,
    I4,
    LINEAR,
    i3_row,
    i4_block,
    i4_block_packed,
)


def _state(seed: int, K: int, M: int, activation: str = "erf") -> dict:
    rng = np.random.default_rng(seed)
    C, Su = random_fields_and_heads(rng, K, M)
    return dict(
        K=K, M=M, Q=C[:K, :K].copy(), R=C[:K, K:].copy(), T=C[K:, K:].copy(),
        w=0.8 * rng.standard_normal(K), ubar=0.7 * rng.standard_normal(M), Su=Su,
        gamma=0.8, s=2, readout="sqrt", activation=activation, noise=0.3,
        eta_J=2.5, eta_w=1.0, eta_0=0.5,
    )


@pytest.mark.parametrize("act", [ERF, LINEAR])
def test_i3_row_is_a_slice_of_the_tensor(act):
    rng = np.random.default_rng(2)
    C, _ = random_fields_and_heads(rng, 4, 3)
    full = I3(C, "erf" if act == ERF else "linear")
    n = C.shape[0]
    for a in range(n):
        out = np.empty((n, n))
        assert i3_row(C, a, n, n, act, out) == 0
        np.testing.assert_array_equal(out, full[a])


@pytest.mark.parametrize("act", [ERF, LINEAR])
def test_block_is_a_slice_of_the_tensor(act):
    rng = np.random.default_rng(1)
    C, _ = random_fields_and_heads(rng, 5, 3)
    full = I4(C, "erf" if act == ERF else "linear")
    n = C.shape[0]
    out, scratch = np.empty((n, n)), np.empty(3 * n)
    for a in range(n):
        for b in range(n):
            assert i4_block(C, a, b, n, act, out, scratch) == 0
            if a <= b:  # the tensor computes these blocks and copies (b, a) from (a, b)
                np.testing.assert_array_equal(out, full[a, b])
            else:  # (b, a) computed directly: the same up to rounding
                np.testing.assert_allclose(out, full[a, b], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("act", [ERF, LINEAR])
@pytest.mark.parametrize("n_units", [(5, 3), (14, 5)])  # rows shorter and longer than a vector
def test_packed_triangle_is_the_upper_triangle_of_the_block(act, n_units):
    rng = np.random.default_rng(4)
    C, _ = random_fields_and_heads(rng, *n_units)
    full = I4(C, "erf" if act == ERF else "linear")
    n = C.shape[0]
    iu = np.triu_indices(n)  # row by row: (0, 0..n-1), (1, 1..n-1), ...
    scratch = np.empty(3 * n)
    for a, b in [(0, 0), (0, 2), (3, 1), (n - 1, n - 2)]:
        packed = np.full(n * (n + 1) // 2 + 3, np.nan)  # the 3 extra floats stay untouched
        assert i4_block_packed(C, a, b, n, act, scratch, packed) == 0
        np.testing.assert_allclose(packed[:-3], full[a, b][iu], rtol=1e-14, atol=1e-16)
        assert np.isnan(packed[-3:]).all()


def _isserlis_reference(X, m, S):
    """``Σ_ij E[c_k c_l c_i c_j] X_klij`` for ``c ~ N(m, S)``: all ten Isserlis terms."""
    M4 = (
        np.einsum("k,l,i,j->klij", m, m, m, m)
        + np.einsum("k,l,ij->klij", m, m, S) + np.einsum("i,j,kl->klij", m, m, S)
        + np.einsum("k,i,lj->klij", m, m, S) + np.einsum("k,j,li->klij", m, m, S)
        + np.einsum("l,i,kj->klij", m, m, S) + np.einsum("l,j,ki->klij", m, m, S)
        + np.einsum("kl,ij->klij", S, S) + np.einsum("ki,lj->klij", S, S)
        + np.einsum("kj,li->klij", S, S)
    )
    F = m.size
    K = X.shape[0]
    return np.einsum("klij,klij->kl", M4[:K, :K, :F, :F], X)


@pytest.mark.parametrize("act", [ERF, LINEAR])
@pytest.mark.parametrize("with_S", [True, False])
def test_block_contraction_matches_isserlis(with_S, act):
    K, M = 12, 3
    rng = np.random.default_rng(7)
    C, _ = random_fields_and_heads(rng, K, M)
    F = K + M
    m = rng.standard_normal(F)
    B = rng.standard_normal((F, 4))
    S = B @ B.T / 4 if with_S else np.zeros((F, F))
    X = I4(C, "erf" if act == ERF else "linear")[:K, :K]
    ref = _isserlis_reference(X, m, S)
    out = np.full((K, K), np.nan)
    assert drift._eta2_blocks(C, K, F, act, m, S, with_S, out) == 0
    iu = np.triu_indices(K)  # the kernel fills k ≤ l (the term is symmetric)
    np.testing.assert_allclose(out[iu], ref[iu], rtol=1e-11, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("algorithm", ["fo-anil", "arm"])
def test_blockwise_eta2_term_matches_monte_carlo(algorithm):
    """At K = 12 (the blockwise path): drift(V = 1) − drift(∞) against the Monte Carlo of the
    η_J² part of N·ΔQ, within 5 SE; the term is resolved (many SE from zero)."""
    assert layout.BLOCK_K <= 12
    st = _state(3, 12, 3)
    args = (st["Q"], st["R"], st["w"])
    inf = VectorField.from_config(config(st, algorithm, "inf"))(*args)
    fin = VectorField.from_config(config(st, algorithm, 1))(*args)
    mc = monte_carlo(st, algorithm, 1, 40_000, np.random.default_rng(11))
    zs = _zscore(*mc["Q2"], fin["Q"] - inf["Q"])
    assert np.max(zs) < N_SIGMA, np.max(zs)
    assert np.max(np.abs(mc["Q2"][0]) / mc["Q2"][1]) > 10 * N_SIGMA


@pytest.mark.parametrize(("K", "V"), [(12, 1), (17, 1), (17, "inf")])
def test_thread_count_does_not_change_the_drift(K, V):
    n = numba.config.NUMBA_NUM_THREADS
    if n < 2:
        pytest.skip("one thread only")
    vf = VectorField.from_config(config(_state(K, K, 4), "fo-anil", V))
    y = vf.y0
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = vf.rhs(y)
        numba.set_num_threads(n)
        many = vf.rhs(y)
    finally:
        numba.set_num_threads(before)
    assert np.all(np.isfinite(one))
    np.testing.assert_array_equal(one, many)


def test_a_fresh_process_loads_the_cached_kernel():
    """The rhs links a parallel kernel; a fresh process loads it from numba's cache (filled
    here) and gets the same drift at K = 3 (table path) and K = 12 (blockwise path)."""
    cases = [(3, "fo-anil"), (12, "arm")]
    here = []
    for K, alg in cases:
        vf = VectorField.from_config(config(_state(K, K, 2), alg, 1))
        here.append(vf.rhs(vf.y0))
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_parallel_drift import _state, config, drift, VectorField\n"
        f"for K, alg in {cases!r}:\n"
        "    vf = VectorField.from_config(config(_state(K, K, 2), alg, 1))\n"
        "    sys.stdout.write(vf.rhs(vf.y0).tobytes().hex() + '\\n')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = [np.frombuffer(bytes.fromhex(line), float) for line in out.stdout.split()]
    for a, b in zip(here, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_process_pools_do_not_fork_after_a_parallel_drift():
    """OpenMP is not fork-safe: once a drift that may run the parallel kernel was built, the
    study pools start fresh workers (forkserver) instead of forking this process."""
    from teacherstudent import studies

    VectorField.from_config(config(_state(12, 12, 2), "fo-anil", 1))
    assert field.parallel_drift_built
    pool = studies._pool(8, 2)
    try:
        assert pool._mp_context.get_start_method() == "forkserver"
    finally:
        pool.shutdown()
