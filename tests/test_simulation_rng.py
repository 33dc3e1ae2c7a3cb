"""The per-replica random streams of the simulation: the Numba xoshiro256++/ziggurat generator
(reference values, distribution, independence, thread- and batch-independence, states) and
the NumPy / torch alternatives.  All draws use fixed seeds, so every test is deterministic."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch
from scipy import stats

from teacherstudent.config import ConfigError
from teacherstudent.simulation import fastcpu
from teacherstudent.simulation.rng import ReplicaStreams

CPU = torch.device("cpu")
F64 = torch.float64
MASK = (1 << 64) - 1


# --------------------------------------------------------------------------- reference
def _splitmix64(x: int) -> tuple[int, int]:
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return x, z ^ (z >> 31)


def _xoshiro_words(s: list[int], n: int) -> list[int]:
    """Plain-Python xoshiro256++ (Blackman & Vigna's reference code)."""
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK
    s = list(s)
    out = []
    for _ in range(n):
        out.append((rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK)
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


def test_splitmix_seeding_reference_values():
    """splitmix64 from 0 gives 0xE220A8397B1DCDAF first (Vigna's reference output)."""
    assert _splitmix64(0)[1] == 0xE220A8397B1DCDAF
    for seed in (0, 1, 12345, -7, 2**64 - 1):
        x, want = seed % (1 << 64), []
        for _ in range(4):
            x, z = _splitmix64(x)
            want.append(z)
        got = fastcpu.seed_states([seed])[0]
        assert [int(v) for v in got] == want


def test_xoshiro_words_match_the_reference_code():
    s = [1, 2, 3, 4]
    assert _xoshiro_words(s, 1)[0] == (5 << 23) + 1
    st = tuple(np.uint64(v) for v in s)
    words = []
    for _ in range(50):
        w, *st = fastcpu._next(*st)
        st = [np.uint64(v) for v in st]  # keep the uint64 typing across calls
        words.append(int(w))
    assert words == _xoshiro_words(s, 50)


def test_ziggurat_tables():
    """Equal layer areas v, x_255 = r, x decreasing to the base; thresholds in range."""
    ki, wi, fi = fastcpu.ZIGGURAT
    x = wi * 2.0**52  # right edges x_i (x_0: the base width v/f(r))
    assert x[255] == pytest.approx(fastcpu._ZIG_R)
    assert np.all(np.diff(x[1:]) > 0) and x[1] > 0
    np.testing.assert_allclose(fi[1:], np.exp(-0.5 * x[1:] ** 2), rtol=1e-14)
    area = x[1:] * (np.r_[1.0, fi[1:-1]] - fi[1:])  # layer i: [0, x_i) × [f_i, f_{i−1}]
    np.testing.assert_allclose(area, fastcpu._ZIG_V, rtol=2e-9)  # (r, v) to ~10 digits
    # the base strip plus tail has area v as well: r f(r) + ∫_r^∞ f = v
    tail = math.sqrt(math.pi / 2) * math.erfc(fastcpu._ZIG_R / math.sqrt(2))
    assert fastcpu._ZIG_R * fi[255] + tail == pytest.approx(fastcpu._ZIG_V, rel=1e-9)
    assert np.all(ki[2:].astype(float) < 2.0**52) and ki[1] == 0


# --------------------------------------------------------------------------- distribution
@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    """4 streams × 1,000,000 normals."""
    return ReplicaStreams([0, 1, 2, 3], CPU, F64).normal(1_000_000).numpy()


def test_moments(sample):
    x = sample.ravel()
    n = x.size
    z = lambda est, mean, sd: abs(est - mean) / (sd / math.sqrt(n))
    assert z(x.mean(), 0.0, 1.0) < 4
    assert z((x**2).mean(), 1.0, math.sqrt(2.0)) < 4
    assert z((x**3).mean(), 0.0, math.sqrt(15.0)) < 4
    assert z((x**4).mean(), 3.0, math.sqrt(96.0)) < 4


def test_kolmogorov_smirnov_and_tails(sample):
    for row in sample:
        assert stats.kstest(row, "norm").pvalue > 1e-3
    x = np.abs(sample.ravel())
    n = x.size
    for t in (1.0, 2.0, 3.0, fastcpu._ZIG_R, 4.0):  # beyond r: the tail algorithm
        p = math.erfc(t / math.sqrt(2))
        k = int((x > t).sum())
        assert abs(k - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 1, t
    # chi-square over 100 equiprobable bins
    edges = stats.norm.ppf(np.linspace(0, 1, 101)[1:-1])
    counts = np.bincount(np.searchsorted(edges, sample.ravel()), minlength=100)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_independence_of_streams_and_within_a_stream(sample):
    n = sample.shape[1]
    bound = 4.5 / math.sqrt(n)
    c = np.corrcoef(sample)  # consecutive seeds
    assert np.all(np.abs(c[np.triu_indices(4, 1)]) < bound)
    c2 = np.corrcoef(sample**2)  # dependence beyond linear correlation
    assert np.all(np.abs(c2[np.triu_indices(4, 1)]) < bound)
    for row in sample:
        for lag in (1, 2, 3, 1000):
            assert abs(np.corrcoef(row[:-lag], row[lag:])[0, 1]) < bound
            assert abs(np.corrcoef(row[:-lag] ** 2, row[lag:] ** 2)[0, 1]) < bound
    # the sign is independent of the magnitude (they come from different bits of one word)
    assert abs(np.corrcoef(np.sign(sample[0]), np.abs(sample[0]))[0, 1]) < bound


# --------------------------------------------------------------------------- determinism
def test_numbers_do_not_depend_on_threads_or_batching():
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = ReplicaStreams(list(range(8)), CPU, F64).normal(5, 300)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = ReplicaStreams(list(range(8)), CPU, F64).normal(5, 300)
    finally:
        numba.set_num_threads(threads)
    assert torch.equal(one, many)
    alone = ReplicaStreams([3], CPU, F64).normal(5, 300)
    assert torch.equal(alone[0], many[3])
    # a draw split into pieces continues the stream
    s = ReplicaStreams([3, 4], CPU, F64)
    pieces = torch.cat([s.normal(2, 300), s.normal(3, 300)], dim=1)
    assert torch.equal(pieces[0], alone[0])


def test_replica_view_shares_the_state():
    s = ReplicaStreams([10, 11, 12], CPU, F64)
    ref = ReplicaStreams([10, 11, 12], CPU, F64)
    a = s.replica(1).normal(7)
    assert torch.equal(a[0], ref.normal(7)[1])
    # stream 1 has moved on, the others have not
    nxt = s.normal(7)
    want = ref.normal(7)
    assert torch.equal(nxt[1], want[1])
    assert not torch.equal(nxt[0], want[0])


def test_float32_is_the_rounded_float64_stream():
    a = ReplicaStreams([5, 6], CPU, F64).normal(100)
    b = ReplicaStreams([5, 6], CPU, torch.float32).normal(100)
    assert b.dtype == torch.float32
    assert torch.equal(b, a.float())


@pytest.mark.parametrize("kind", ["numba", "numpy"])
def test_state_round_trip(kind):
    s = ReplicaStreams([1, 2], CPU, F64, kind)
    s.normal(13)
    st = s.get_state()
    a = s.normal(50)
    s.normal(9)
    s.set_state(st)
    assert torch.equal(s.normal(50), a)
    other = ReplicaStreams([1, 2], CPU, F64, "numpy" if kind == "numba" else "numba")
    with pytest.raises(ConfigError, match="another generator"):
        other.set_state(st)
    with pytest.raises(ConfigError, match="number of streams"):
        ReplicaStreams([1, 2, 3], CPU, F64, kind).set_state(st)


def test_numpy_kind_is_pcg64_and_unknown_kind_refused():
    got = ReplicaStreams([4, 9], CPU, F64, "numpy").normal(20).numpy()
    for r, seed in enumerate((4, 9)):
        np.testing.assert_array_equal(got[r], np.random.default_rng(seed).standard_normal(20))
    with pytest.raises(ConfigError, match="simulation.rng"):
        ReplicaStreams([1], CPU, F64, "mt19937")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_streams():
    dev = torch.device("cuda")
    s = ReplicaStreams([1, 2], dev, F64)
    assert s.kind == "torch"
    st = s.get_state()
    a = s.normal(3, 4)
    assert a.device.type == "cuda" and a.shape == (2, 3, 4)
    s.set_state(st)
    assert torch.equal(s.normal(3, 4), a)
