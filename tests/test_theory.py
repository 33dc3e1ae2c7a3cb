"""The derivations in theory/ (sympy + quadrature + autograd) pass, can fail, and agree with
the package's drift.

theory/integrals.py derives I2, J2, I3, I4 (and the Isserlis M4) from one Gaussian integral
and checks them against quadrature; theory/anil.py checks the exact-ANIL terms three ways.
Here they run in their quick settings, plus negative controls (a wrong formula must be
caught) and a comparison of the theory's own numpy implementation of the spec formulas,
including the η_J²/V (I4) term, with teacherstudent.ode.drift.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

THEORY = Path(__file__).resolve().parents[1] / "theory"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_theory_{name}", THEORY / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look the module up while the class is built
    spec.loader.exec_module(mod)
    return mod


integrals = _load("integrals")
anil = _load("anil")


def test_integral_derivations():
    results = integrals.run_all(verbose=False, quick=True)
    assert all(results.values()), {k: v for k, v in results.items() if not v}


def test_anil_derivations():
    results = anil.run_all(verbose=False, n_states=8)
    assert all(results.values()), {k: v for k, v in results.items() if not v}


def test_quadrature_catches_a_wrong_formula(monkeypatch):
    """Negative control: swap the sign of the C_ab C_ac term of I3 — the quadrature check
    must report an error far above its tolerance."""
    good = integrals._np_I3

    def bad(C, a, b, c):
        lam3 = (1 + C[a, a]) * (1 + C[c, c]) - C[a, c] ** 2
        return 2 / np.pi * (C[b, c] * (1 + C[a, a]) + C[a, b] * C[a, c]) / (
            (1 + C[a, a]) * np.sqrt(lam3))

    monkeypatch.setattr(integrals, "_np_I3", bad)
    assert integrals.quadrature_check(n_cov=1, n_nodes=16) > 1e3 * integrals.QUAD_TOL
    monkeypatch.setattr(integrals, "_np_I3", good)


def test_symbolic_check_catches_a_wrong_formula():
    """Negative control for the symbolic zero test used by the derivations."""
    c = integrals
    wrong = c.I3_spec(c.caa, c.ccc, c.cab, c.cac, c.cbc) * (1 + c.cab / 100)
    i2 = c.I2_spec(c.caa, c.ccc, c.cac)
    derived = 2 * c.cab * c.sp.diff(i2, c.caa) + c.cbc * c.sp.diff(i2, c.cac)
    assert not c._is_zero(derived - wrong)


def test_anil_routes_catch_a_missing_gamma():
    """Negative control: the D^R term without its factor γ disagrees with autograd."""
    st = anil.random_state(3)
    assert st.gamma < 1
    dQ, dR, _ = anil.autograd_drift(st, "anil")
    # rebuild route 2 with γ removed from the R^t-gradient terms
    C = anil.field_cov(st)
    I2 = anil.i2(C, st.activation)
    A, a, W = anil.inner_loop(st, I2, st.s)
    eQ_good, eR_good = anil.anil_extra(st, C, I2, A, a, W)
    eQ_bad, eR_bad = anil.anil_extra(replace(st, gamma=1.0), C, I2, A, a, W)
    fQ, fR, _ = anil.spec_drift(st, "fo-anil")
    assert np.max(np.abs(fR + eR_good - dR)) < 1e-10 * np.max(np.abs(dR))
    assert np.max(np.abs(fR + eR_bad - dR)) > 1e-4 * np.max(np.abs(dR))


drift = pytest.importorskip("teacherstudent.ode.drift")
from teacherstudent.ode.field import VectorField  # noqa: E402


def _config(st, algorithm, V):
    from teacherstudent.config import load_config

    K, M = st.K, st.M
    readout = {(K**-0.5, M**-0.5): "sqrt", (1.0, 1.0): "none", (1 / K, 1 / M): "mean"}
    # K = M = 1 makes all readouts coincide; any of them is then correct
    name = readout.get((st.sK, st.sM), "none")
    return load_config({
        "model": {"K": K, "M": M, "activation": st.activation, "readout": name,
                  "noise": st.noise},
        "tasks": {"head_mean": st.ubar.tolist(), "head_cov": (0.5 * (st.Su + st.Su.T)).tolist(),
                  "gamma": st.gamma, "teacher_overlap": st.T.tolist()},
        "algorithm": {"name": algorithm, "eta_J": st.eta_J, "eta_w": st.eta_w,
                      "eta_0": st.eta_0, "inner_steps": st.s,
                      "val_size": "inf" if V == math.inf else int(V)},
        "init": {"Q": st.Q.tolist(), "R": st.R.tolist(), "w": st.w.tolist()},
    })


@pytest.mark.parametrize("seed", range(8))
def test_theory_reference_matches_package(seed):
    """theory/anil.py's numpy implementation of the spec drift (M2·I3, Isserlis M4·I4,
    σ² M2·J2, closed-form ANIL terms) equals VectorField for V = ∞, 1, 3.  Both are float64
    evaluations of the same closed forms written independently: 1e-10 relative."""
    st = anil.random_state(seed)
    st = replace(st, Su=0.5 * (st.Su + st.Su.T))
    for V in (math.inf, 1, 3):
        stV = replace(st, V=float(V))
        for algorithm in ("arm", "fo-anil", "anil"):
            ref = anil.spec_drift(stV, algorithm)
            got = VectorField.from_config(_config(stV, algorithm, V))(st.Q, st.R, st.w)
            scale = max(np.max(np.abs(x)) for x in ref)
            for key, r in zip(("Q", "R", "w"), ref, strict=True):
                np.testing.assert_allclose(got[key], r, rtol=0, atol=1e-10 * scale,
                                           err_msg=f"{algorithm} V={V} d{key}")
