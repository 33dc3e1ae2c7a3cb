"""The finite-P theory (theory/finite_p.md): the reference's checks pass and can fail, the
package kernel equals the reference implementation (theory/finite_p.py: a different route —
Isserlis given the Gram matrix, autograd Hessians and gradients, per-sample autograd of the
ANIL adjoint), the P → ∞ limit, and the special cases that are exact at P = 1."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from teacherstudent.config import load_config
from teacherstudent.ode.field import VectorField

THEORY = Path(__file__).resolve().parents[1] / "theory"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_theory_{name}", THEORY / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


fp = _load("finite_p")


def _config(st, algorithm, P, V=math.inf, P_test=None):
    K, M = st.K, st.M
    readout = {(K**-0.5, M**-0.5): "sqrt", (1.0, 1.0): "none", (1 / K, 1 / M): "mean"}
    size = lambda v: "inf" if v == math.inf else int(v)
    alg = {"name": algorithm, "eta_J": st.eta_J, "eta_w": st.eta_w, "eta_0": st.eta_0,
           "inner_steps": st.s, "val_size": size(V), "train_size": size(P)}
    if P_test is not None:
        alg["test_size"] = size(P_test)
    return load_config({
        "model": {"K": K, "M": M, "activation": st.activation,
                  "readout": readout.get((st.sK, st.sM), "none"), "noise": st.noise},
        "tasks": {"head_mean": st.ubar.tolist(), "head_cov": st.Su.tolist(),
                  "gamma": st.gamma, "teacher_overlap": st.T.tolist()},
        "algorithm": alg,
        "init": {"Q": st.Q.tolist(), "R": st.R.tolist(), "w": st.w.tolist()},
    })


def _package(st, algorithm, P, V=math.inf):
    vf = VectorField.from_config(_config(st, algorithm, P, V))
    d = vf(st.Q, st.R, st.w)
    return d["Q"], d["R"], d["w"]


def _rel(a, b):
    scale = max(np.max(np.abs(x)) for x in b)
    return max(np.max(np.abs(x - y)) for x, y in zip(a, b, strict=True)) / scale


# --------------------------------------------------------------------------- reference
def test_reference_checks_quick():
    results = fp.run_all(verbose=False, quick=True)
    assert all(results.values()), {k: v for k, v in results.items() if not v}


def test_reference_catches_a_missing_noise_slot(monkeypatch):
    """Negative control: without the label noise of the training samples (the ĥ column of
    the Gram matrix) the reference drift differs from the package far above round-off."""
    st = fp.random_state(0, K=2, M=2, s=1)
    assert st.noise > 0.05
    good = _rel(fp.drift(st, "fo-anil", 2), _package(st, "fo-anil", 2))
    orig = fp.kappa

    def no_noise(C, K, act):
        kap = orig(C, K, act)
        kap[:, -1, :, -1] = 0.0
        return kap

    monkeypatch.setattr(fp, "kappa", no_noise)
    bad = _rel(fp.drift(st, "fo-anil", 2), _package(st, "fo-anil", 2))
    assert good < 1e-10 < 1e-4 < bad, (good, bad)


# (seed, K, M): γ < 1 for seeds 1, 3, …; seed 2 and 7: the linear activation
STATES = [(0, 2, 2), (1, 1, 3), (2, 2, 1), (7, 2, 2)]


@pytest.mark.parametrize("seed, K, M", STATES + [
    pytest.param(3, 3, 1, marks=pytest.mark.slow), pytest.param(4, 3, 2, marks=pytest.mark.slow)])
def test_package_matches_reference(seed, K, M):
    """Kernel vs theory/finite_p.py: arm, fo-anil (s = 1, 2), anil (s = 1); V = ∞, 2;
    P = 1, 3. Float64 evaluations of the same quantities by different routes: 1e-10."""
    for algorithm, s in (("arm", 1), ("fo-anil", 1), ("fo-anil", 2), ("anil", 1)):
        st = fp.random_state(seed, K=K, M=M, s=s)
        for V in (math.inf, 2.0):
            stV = replace(st, V=V)
            for P in (1, 3):
                err = _rel(_package(stV, algorithm, P, V), fp.drift(stV, algorithm, P))
                assert err < 1e-10, (algorithm, s, V, P, err)


@pytest.mark.parametrize("seed, K, M", STATES[:3])
def test_errors_match_reference(seed, K, M):
    """eg after adapting on test_size samples (s = 1, 2), eg_pre and eg_opt."""
    for s in (1, 2):
        st = fp.random_state(seed, K=K, M=M, s=s)
        for P_test in (1, 4, math.inf):
            vf = VectorField.from_config(_config(st, "fo-anil", math.inf, P_test=P_test))
            got = vf.errors(st.Q, st.R, st.w)
            ref = fp.errors(st, P_test)
            np.testing.assert_allclose([got["eg"], got["eg_pre"], got["eg_opt"]], ref,
                                       rtol=1e-11, err_msg=f"s={s} P'={P_test}")


# --------------------------------------------------------------------------- limits
@pytest.mark.parametrize("seed", range(6))
def test_p_to_infinity_equals_todays_drift(seed):
    """P = 10¹² against train_size = inf (the unchanged P = ∞ code): 1e-10 relative."""
    st = fp.random_state(seed)
    for algorithm in ("arm", "fo-anil", "anil"):
        stx = replace(st, s=1) if algorithm == "anil" else st
        for V in (math.inf, 1.0):
            err = _rel(_package(stx, algorithm, 10**12, V), _package(stx, algorithm, math.inf, V))
            assert err < 1e-10, (algorithm, V, err)
    vf = VectorField.from_config(_config(st, "fo-anil", math.inf, P_test=10**12))
    vf_inf = VectorField.from_config(_config(st, "fo-anil", math.inf))
    a, b = vf.errors(st.Q, st.R, st.w), vf_inf.errors(st.Q, st.R, st.w)
    assert abs(a["eg"] - b["eg"]) < 1e-10 * b["eg"]


# --------------------------------------------------------------------------- exact cases
@pytest.mark.parametrize("seed", range(4))
def test_exact_special_cases_at_p_1(seed):
    """η_w = 0 (no adaptation: fo-anil, anil) and arm (s = 0): the drift at P = 1 equals
    the P = ∞ drift exactly; fo-anil with s = 1: dw does not depend on P (E[w_t] = w_t^∞)."""
    st = fp.random_state(seed)
    for algorithm in ("fo-anil", "anil"):
        frozen = replace(st, eta_w=0.0, s=1)
        for V in (math.inf, 1.0):
            for a, b in zip(_package(frozen, algorithm, 1, V),
                            _package(frozen, algorithm, math.inf, V), strict=True):
                np.testing.assert_array_equal(a, b)
    for V in (math.inf, 1.0):
        for a, b in zip(_package(st, "arm", 1, V), _package(st, "arm", math.inf, V),
                        strict=True):
            np.testing.assert_array_equal(a, b)
    st1 = replace(st, s=1)
    np.testing.assert_allclose(_package(st1, "fo-anil", 1)[2], _package(st1, "fo-anil",
                               math.inf)[2], rtol=1e-13, atol=1e-15)


def test_linear_few_shot_error_exact_at_p_1():
    """Linear activation, K = M = 1, s = 1: the package's few-shot error equals the exact
    one from the Gaussian moments of the P-sample means (sympy, exact in P) at P = 1, 2, 5."""
    st, eg_exact = fp.linear_exact_few_shot_error()
    for P in (1, 2, 5):
        vf = VectorField.from_config(_config(st, "fo-anil", math.inf, P_test=P))
        got = vf.errors(st.Q, st.R, st.w)["eg"]
        assert abs(got - eg_exact(P)) < 1e-13, (P, got, eg_exact(P))


@pytest.mark.slow
def test_reference_checks_full():
    results = fp.run_all(verbose=False, quick=False)
    assert all(results.values()), {k: v for k, v in results.items() if not v}
