r"""The drift for every activation (issue 14) against references written here.

* **V = ∞** (arm, fo-anil, anil): the drift is the gradient of
  ``G(Q, R, w) = E_u[½ cᵀ I2 c] + σ²/2`` (tests/test_drift_autograd.py explains the map
  from ∂G to dQ, dR, dw). ``I2`` of every pair of activations is computed here in torch,
  independently of the package: ``E[g_a(z_a) g_b(z_b)] = E_x[g_a(√C_aa x) m_b(x)]`` with the
  conditional mean ``m_b(x) = E[g_b(μ(x) + s ξ)]`` in closed form (relu, erf, linear) or by a
  100-point Gauss–Hermite rule (smooth activations), and the outer integral by Gauss–Legendre
  on [−10, 0] ∪ [0, 10] (the relu kink at x = 0 is a node boundary, so the rule converges
  spectrally); autograd gives the derivatives.
* **Finite V** (arm, fo-anil): Monte Carlo of the literal one-task update (as in
  tests/test_drift_montecarlo.py, with the student's and the teacher's activation), 5 SE.
  **anil at finite V**: its extra terms are V-independent (theory/anil.md §4), so
  ``anil(V) − fo-anil(V) = anil(∞) − fo-anil(∞)``, with ``anil(∞)`` checked by the oracle.
* **Exact limit**: a perfect student (R = Q = T, w = ū, Σ_u = 0, K = M) has zero drift.
* **Refusals**: exact ANIL at finite P for non-erf students (relu included; finite P
  itself takes every activation: F4 of relu by the orthant engine), bad activation names
  (exit 2).

The default suite runs a few states; ``-m slow`` runs more states and the tanh/sigmoid/
softplus/gelu Monte Carlo.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from random_states import random_fields_and_heads

from teacherstudent.config import ConfigError, load_config

drift = pytest.importorskip("teacherstudent.ode.drift")
from teacherstudent.ode.field import VectorField  # noqa: E402

ACTS = ("erf", "linear", "relu", "tanh", "sigmoid", "softplus", "gelu")
PAIRS = [(a, a) for a in ACTS] + [("relu", "erf"), ("tanh", "erf")]  # (student, teacher)

# ------------------------------------------------------------------ independent I2 (torch)
_XL, _WL = np.polynomial.legendre.leggauss(160)
_X = np.concatenate([5.0 * (_XL - 1.0), 5.0 * (_XL + 1.0)])  # [-10, 0] ∪ [0, 10]
_W = np.concatenate([5.0 * _WL, 5.0 * _WL]) * np.exp(-0.5 * _X**2) / math.sqrt(2 * math.pi)
_XH, _WH = np.polynomial.hermite_e.hermegauss(100)
_WH = _WH / _WH.sum()


def _g(name, z):
    if name == "erf":
        return torch.erf(z / math.sqrt(2.0))
    if name == "linear":
        return z
    if name == "relu":
        return torch.clamp(z, min=0.0)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + torch.exp(-z))
    if name == "softplus":
        return torch.log1p(torch.exp(-torch.abs(z))) + torch.clamp(z, min=0.0)
    if name == "gelu":
        return 0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))
    raise ValueError(name)


def _cond_mean(name, mu, s):
    """E[g(μ + s ξ)], ξ ~ N(0, 1)."""
    if name == "linear":
        return mu
    if name == "erf":
        return torch.erf(mu / torch.sqrt(2.0 * (1.0 + s * s)))
    if name == "relu":
        t = mu / s
        return mu * 0.5 * (1.0 + torch.erf(t / math.sqrt(2.0))) + s * torch.exp(
            -0.5 * t * t
        ) / math.sqrt(2 * math.pi)
    xi = torch.tensor(_XH)
    return _g(name, mu[:, None] + s * xi[None, :]) @ torch.tensor(_WH)


def i2_pair(ga, gb, Caa, Cab, Cbb):
    """E[g_a(z_a) g_b(z_b)] for z ~ N(0, [[Caa, Cab], [Cab, Cbb]])."""
    if gb == "relu" and ga != "relu":  # the kinked variable outside (split at 0)
        ga, gb, Caa, Cbb = gb, ga, Cbb, Caa
    x = torch.tensor(_X)
    sa = torch.sqrt(Caa)
    mu = Cab / sa * x
    s = torch.sqrt(torch.clamp(Cbb - Cab * Cab / Caa, min=1e-30))
    return (_g(ga, sa * x) * _cond_mean(gb, mu, s)) @ torch.tensor(_W)


def i2_acts(C, acts):
    n = C.shape[0]
    rows = []
    for a in range(n):
        row = []
        for b in range(n):
            if a == b:
                x = torch.tensor(_X)
                v = (_g(acts[a], torch.sqrt(C[a, a]) * x) ** 2) @ torch.tensor(_W)
            else:
                v = i2_pair(acts[a], acts[b], C[a, a], C[a, b], C[b, b])
            row.append(v)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def test_reference_i2_is_right_for_erf_and_relu():
    """The reference itself: erf against Saad & Solla, relu against the arc-cosine kernel
    E[relu relu] = √(C_aa C_bb)(sin θ + (π − θ) cos θ)/(2π) (the 2π, not 4π or 8π)."""
    C = torch.tensor([[1.2, 0.5], [0.5, 0.7]], dtype=torch.float64)
    v = i2_pair("erf", "erf", C[0, 0], C[0, 1], C[1, 1])
    exact = 2 / math.pi * math.asin(0.5 / math.sqrt(2.2 * 1.7))
    assert abs(float(v) - exact) < 1e-12
    v = i2_pair("relu", "relu", C[0, 0], C[0, 1], C[1, 1])
    th = math.acos(0.5 / math.sqrt(1.2 * 0.7))
    exact = math.sqrt(1.2 * 0.7) * (math.sin(th) + (math.pi - th) * math.cos(th)) / (2 * math.pi)
    assert abs(float(v) - exact) < 1e-12
    v = i2_acts(C, ["relu", "relu"])[0, 0]
    assert abs(float(v) - 0.6) < 1e-12  # E[relu(z)²] = C/2


# ------------------------------------------------------------------ states and configs
SHAPES = [(2, 2), (1, 2), (3, 2), (2, 1), (3, 3)]


def random_state(seed: int) -> dict:
    rng = np.random.default_rng(4000 + seed)
    K, M = SHAPES[seed % len(SHAPES)]
    C, Su = random_fields_and_heads(rng, K, M)
    return dict(
        K=K,
        M=M,
        Q=C[:K, :K].copy(),
        R=C[:K, K:].copy(),
        T=C[K:, K:].copy(),
        w=0.8 * rng.standard_normal(K),
        ubar=0.7 * rng.standard_normal(M),
        Su=Su,
        gamma=1.0 if seed % 3 == 2 else float(rng.uniform(0.4, 0.95)),
        s=int(rng.integers(1, 3)),
        readout=("sqrt", "none", "mean")[seed % 3],
        noise=float(rng.uniform(0.0, 0.5)),
        eta_J=float(rng.uniform(1.0, 2.5)),
        eta_w=float(rng.uniform(0.3, 1.5)),
        eta_0=float(rng.uniform(0.2, 2.0)),
    )


def config(st, student, teacher, algorithm, V="inf", **extra):
    alg = {
        "name": algorithm,
        "eta_J": st["eta_J"],
        "eta_w": st["eta_w"],
        "eta_0": st["eta_0"],
        "inner_steps": st["s"],
        "val_size": V,
    }
    alg.update(extra)
    return load_config(
        {
            "model": {
                "K": st["K"],
                "M": st["M"],
                "activation": student,
                "teacher_activation": teacher,
                "readout": st["readout"],
                "noise": st["noise"],
            },
            "tasks": {
                "head_mean": st["ubar"].tolist(),
                "head_cov": st["Su"].tolist(),
                "gamma": st["gamma"],
                "teacher_overlap": st["T"].tolist(),
            },
            "algorithm": alg,
            "init": {"Q": st["Q"].tolist(), "R": st["R"].tolist(), "w": st["w"].tolist()},
        }
    )


def scales(st):
    K, M = st["K"], st["M"]
    return {
        "sqrt": (1 / math.sqrt(K), 1 / math.sqrt(M)),
        "mean": (1 / K, 1 / M),
        "none": (1.0, 1.0),
    }[st["readout"]]


def task_cov(Q, R, T, gamma):
    M = T.shape[0]
    Tt = gamma**2 * T + (1 - gamma**2) * torch.eye(M, dtype=torch.float64)
    return torch.cat([torch.cat([Q, gamma * R], 1), torch.cat([gamma * R.T, Tt], 1)], 0)


def inner_loop(I2, w, K, M, s, eta_w, sK, sM):
    Phi, Psi = I2[:K, :K], I2[:K, K:]
    a, W = w, torch.zeros(K, M, dtype=torch.float64)
    for _ in range(s):
        a = a - eta_w * sK * (sK * Phi @ a)
        W = W - eta_w * sK * (sK * Phi @ W - sM * Psi)
    return a, W


def expected_loss(I2, a, W, ubar, Su, sK, sM, noise):
    M = ubar.shape[0]
    c0 = torch.cat([sK * a, torch.zeros(M, dtype=torch.float64)])
    H = torch.cat([sK * W, -sM * torch.eye(M, dtype=torch.float64)], 0)
    cbar = c0 + H @ ubar
    S = H @ Su @ H.T
    return 0.5 * (cbar @ I2 @ cbar + torch.trace(I2 @ S)) + 0.5 * noise**2


def oracle(st, student, teacher, algorithm):
    """(dQ, dR, dw) at V = ∞ from autograd of G(Q, R, w)."""
    t = lambda x: torch.tensor(np.asarray(x, dtype=float))
    Q, R, w = (t(st[k]).requires_grad_(True) for k in ("Q", "R", "w"))
    T, ubar, Su = t(st["T"]), t(st["ubar"]), t(st["Su"])
    K, M = st["K"], st["M"]
    sK, sM = scales(st)
    s = 0 if algorithm == "arm" else st["s"]
    I2 = i2_acts(task_cov(Q, R, T, st["gamma"]), [student] * K + [teacher] * M)
    if algorithm == "fo-anil":
        with torch.no_grad():
            a, W = inner_loop(I2, w, K, M, s, st["eta_w"], sK, sM)
        a = a.clone().requires_grad_(True)
        G = expected_loss(I2, a, W, ubar, Su, sK, sM, st["noise"])
        gQ, gR, gw = torch.autograd.grad(G, (Q, R, a))
    else:
        a, W = inner_loop(I2, w, K, M, s, st["eta_w"], sK, sM)
        G = expected_loss(I2, a, W, ubar, Su, sK, sM, st["noise"])
        gQ, gR, gw = torch.autograd.grad(G, (Q, R, w))
    D = gQ + gQ.T
    Qd, Rd = Q.detach(), R.detach()
    dR = -st["eta_J"] * (D @ Rd + gR @ T)
    dQ = -st["eta_J"] * (D @ Qd + Qd @ D + gR @ Rd.T + Rd @ gR.T)
    return {"Q": dQ.numpy(), "R": dR.numpy(), "w": (-st["eta_0"] * gw).numpy()}


def _check_oracle(seed, student, teacher, algorithm, rtol=1e-7):
    st = random_state(seed)
    vf = VectorField.from_config(config(st, student, teacher, algorithm))
    d = vf(st["Q"], st["R"], st["w"])
    ref = oracle(st, student, teacher, algorithm)
    scale = max(np.max(np.abs(ref[k])) for k in ref)
    for k in ("Q", "R", "w"):
        err = np.max(np.abs(d[k] - ref[k])) / scale
        assert err < rtol, (
            f"{student}/{teacher} {algorithm} d{k}: rel. error {err:.2e}\n"
            f"drift  = {d[k]!r}\noracle = {ref[k]!r}"
        )


@pytest.mark.parametrize("algorithm", ["arm", "fo-anil", "anil"])
@pytest.mark.parametrize("student, teacher", PAIRS)
def test_drift_at_infinite_V_is_the_gradient_of_G(student, teacher, algorithm):
    _check_oracle(0, student, teacher, algorithm)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 5))
@pytest.mark.parametrize("algorithm", ["arm", "fo-anil", "anil"])
@pytest.mark.parametrize("student, teacher", PAIRS)
def test_drift_at_infinite_V_more_states(seed, student, teacher, algorithm):
    _check_oracle(seed, student, teacher, algorithm)


# ------------------------------------------------------------------ Monte Carlo, finite V
def _g_np(name, z):
    return _g(name, torch.from_numpy(z)).numpy()


def _gp_np(name, z):
    zt = torch.from_numpy(z).clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(_g(name, zt).sum(), zt)
    return gr.numpy()


def monte_carlo(st, student, teacher, algorithm, V, n_tasks, rng):
    """Mean and SE of the per-task N·Δ(Q, R, w) of one outer step (fields sampled)."""
    K, M, gam = st["K"], st["M"], st["gamma"]
    sK, sM = scales(st)
    eJ, e0 = st["eta_J"], st["eta_0"]
    t = lambda x: torch.tensor(np.asarray(x, dtype=float))
    with torch.no_grad():
        I2 = i2_acts(
            task_cov(t(st["Q"]), t(st["R"]), t(st["T"]), gam), [student] * K + [teacher] * M
        )
        a, W = inner_loop(
            I2, t(st["w"]), K, M, 0 if algorithm == "arm" else st["s"], st["eta_w"], sK, sM
        )
    a, W = a.numpy(), W.numpy()
    C = np.block([[st["Q"], st["R"]], [st["R"].T, st["T"]]])
    Lc = np.linalg.cholesky(C)
    ev, U = np.linalg.eigh(st["Su"])
    Lu = U * np.sqrt(np.clip(ev, 0, None))
    u = st["ubar"] + rng.standard_normal((n_tasks, M)) @ Lu.T
    z = (rng.standard_normal((n_tasks * V, K + M)) @ Lc.T).reshape(n_tasks, V, K + M)
    lam, nu = z[..., :K], z[..., K:]
    nut = gam * nu + math.sqrt(1 - gam**2) * rng.standard_normal((n_tasks, V, M))
    xi = rng.standard_normal((n_tasks, V))
    ck = sK * (a + u @ W.T)
    g_lam = _g_np(student, lam)
    f = np.einsum("nk,nvk->nv", ck, g_lam)
    y = sM * np.einsum("nm,nvm->nv", u, _g_np(teacher, nut)) + st["noise"] * xi
    delta = f - y
    X = ck[:, None, :] * delta[..., None] * _gp_np(student, lam)
    Xt = X.transpose(0, 2, 1)
    dR = -eJ * (Xt @ nu) / V
    first = Xt @ lam
    dQ = -eJ * (first + first.transpose(0, 2, 1)) / V + eJ**2 * (Xt @ X) / V**2
    dw = -e0 * sK * (delta[:, None, :] @ g_lam)[:, 0, :] / V
    stats = lambda x: (x.mean(0), x.std(0, ddof=1) / math.sqrt(n_tasks))
    return {"Q": stats(dQ), "R": stats(dR), "w": stats(dw)}


def _check_monte_carlo(seed, student, teacher, n_tasks=60_000):
    st = random_state(seed)
    rng = np.random.default_rng(seed)
    for algorithm in ("arm", "fo-anil"):
        V = 1
        d = VectorField.from_config(config(st, student, teacher, algorithm, V))(
            st["Q"], st["R"], st["w"]
        )
        mc = monte_carlo(st, student, teacher, algorithm, V, n_tasks, rng)
        for k in ("Q", "R", "w"):
            mean, se = mc[k]
            z = np.abs(d[k] - mean) / np.where(se > 0, se, 1.0)
            assert np.max(z) < 5.0, (
                f"{student}/{teacher} {algorithm} V={V} d{k}: "
                f"{np.max(z):.2f} SE\ndrift = {d[k]!r}\nMC = {mean!r}"
            )
    # anil: the exact-meta-gradient terms do not depend on V (theory/anil.md §4)
    f = lambda alg, V: VectorField.from_config(config(st, student, teacher, alg, V))(
        st["Q"], st["R"], st["w"]
    )
    a1, b1, ai, bi = f("anil", 1), f("fo-anil", 1), f("anil", "inf"), f("fo-anil", "inf")
    for k in ("Q", "R", "w"):
        scale = np.max(np.abs(ai[k])) + np.max(np.abs(a1[k]))
        np.testing.assert_allclose(a1[k] - b1[k], ai[k] - bi[k], rtol=0, atol=1e-10 * scale)


@pytest.mark.parametrize("student, teacher", [("relu", "relu"), ("relu", "erf"), ("tanh", "tanh")])
def test_drift_at_V1_matches_monte_carlo(student, teacher):
    _check_monte_carlo(0, student, teacher)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 4))
@pytest.mark.parametrize("student, teacher", PAIRS)
def test_drift_at_V1_matches_monte_carlo_more(seed, student, teacher):
    _check_monte_carlo(seed, student, teacher, n_tasks=100_000)


# ------------------------------------------------------------------ exact limits
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("algorithm", ["arm", "fo-anil", "anil"])
def test_perfect_student_has_zero_drift(activation, algorithm):
    """R = Q = T (γ = 1), w = ū with Σ_u = 0 and K = M: the student computes the label for
    every input, so Δ ≡ 0 and every term of the drift vanishes (also the η_J²/V term)."""
    rng = np.random.default_rng(7)
    K = 2
    A = rng.standard_normal((K, K + 1))
    T = A @ A.T / (K + 1) + 0.3 * np.eye(K)
    ubar = rng.standard_normal(K)
    for V in (1, "inf"):
        cfg = load_config(
            {
                "model": {"K": K, "M": K, "activation": activation},
                "tasks": {
                    "head_mean": ubar.tolist(),
                    "head_cov": 0.0,
                    "teacher_overlap": T.tolist(),
                },
                "algorithm": {"name": algorithm, "val_size": V},
            }
        )
        vf = VectorField.from_config(cfg)
        d = vf(T, T, ubar)
        for k in ("Q", "R", "w"):
            assert np.max(np.abs(d[k])) < 1e-9, (activation, algorithm, V, k, d[k])
        assert abs(vf.errors(T, T, ubar)["eg"]) < 1e-10


# ------------------------------------------------------------------ refusals
def test_finite_p_takes_relu_and_refuses_exact_anil_for_relu_students():
    """relu has F4 (tests/test_finite_p_montecarlo.py checks the drift): finite P runs
    for fo-anil with relu fields and for exact ANIL with an erf student and a relu
    teacher; exact ANIL at finite P with a relu student is refused."""
    st = random_state(0)
    st["s"] = 1
    for student, teacher, algorithm in (
        ("relu", "relu", "fo-anil"),
        ("relu", "erf", "fo-anil"),
        ("erf", "relu", "anil"),
    ):
        vf = VectorField.from_config(
            config(st, student, teacher, algorithm, train_size=10)
        )
        d = vf(st["Q"], st["R"], st["w"])
        assert all(np.all(np.isfinite(d[k])) for k in ("Q", "R", "w")), (student, teacher)
    with pytest.raises(ConfigError, match="model.activation = 'relu'.*anil.*erf and linear"):
        VectorField.from_config(config(st, "relu", "relu", "anil", train_size=10))


def test_relu_with_a_quadrature_activation_refused():
    st = random_state(0)
    with pytest.raises(ConfigError, match="'tanh' with model.teacher_activation = 'relu'"):
        VectorField.from_config(config(st, "tanh", "relu", "arm"))


def test_exact_anil_at_finite_p_refused_for_non_erf_students():
    st = random_state(0)
    st["s"] = 1
    with pytest.raises(ConfigError, match="model.activation = 'tanh'.*anil.*erf and linear"):
        VectorField.from_config(config(st, "tanh", "tanh", "anil", train_size=10))


@pytest.mark.parametrize("key", ["model.activation", "model.teacher_activation"])
def test_bad_activation_name_exits_2(tmp_path, key):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "teacherstudent.cli",
            "ode",
            "-o",
            str(tmp_path / "x.nc"),
            "--set",
            f"{key}=swish",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert key in proc.stderr and "Traceback" not in proc.stderr


def test_config_activations_match_the_backend():
    from teacherstudent import config as config_module
    from teacherstudent.ode import integrals

    assert config_module.ACTIVATIONS == integrals.ACTIVATIONS
    assert config_module.DEFAULT_QUADRATURE_ORDER == integrals.DEFAULT_QUADRATURE_ORDER
    cfg = load_config(None, {"model.activation": "relu"})
    assert cfg["model"]["teacher_activation"] == "relu"  # the default: the student's


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "erf"])
def test_head_drift_is_linear_and_unstable_above_the_adaptation_edge(activation):
    """FO-ANIL at P = V = ∞ with task heads of mean 0: the head's drift is exactly linear in
    w, dw/dα = −η_0 s_K² Φ (I − η_w s_K² Φ) w with Φ = I2 of the students (the inner step
    w' = (I − η_w s_K² Φ) w + terms linear in u, which average out). So w = 0 is unstable
    along an eigenvector of Φ exactly when η_w s_K² λ > 1: sigmoid's uniform mode (λ ≈ K/4,
    its mean 1/2) at η_w = 9, not at η_w = 3 (simulations/activations.toml)."""
    from teacherstudent.ode.integrals import backend

    K = 3
    rng = np.random.default_rng(5)
    A = rng.normal(size=(K, K))
    Q = 0.5 * np.eye(K) + 0.05 * (A + A.T)
    R = 0.05 * rng.normal(size=(K, K))
    w = rng.normal(size=K)
    Phi = backend.I2(Q, activation)
    lam, vec = np.linalg.eigh(Phi)
    for eta_w in (3.0, 9.0):
        cfg = load_config(
            None,
            {
                "model.activation": activation,
                "algorithm.name": "fo-anil",
                "algorithm.eta_w": eta_w,
                "algorithm.eta_0": 0.7,
            },
        )
        vf = VectorField.from_config(cfg)
        c = eta_w * vf.problem.s_K**2
        ref = -0.7 * vf.problem.s_K**2 * Phi @ (np.eye(K) - c * Phi) @ w
        np.testing.assert_allclose(vf(Q, R, w)["w"], ref, rtol=1e-10, atol=1e-13)
        # growth rate of the top mode: positive exactly when c λ_max > 1
        top = vec[:, -1]
        rate = top @ vf(Q, R, top)["w"]
        assert (rate > 0) == (c * lam[-1] > 1.0), (eta_w, c * lam[-1], rate)
    if activation == "sigmoid":  # the study's choice: unstable at 9, stable at 3
        assert 9.0 * vf.problem.s_K**2 * lam[-1] > 1.0 > 3.0 * vf.problem.s_K**2 * lam[-1]
