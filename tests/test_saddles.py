"""Saddle sequences of a hierarchical teacher (analysis.saddles, theory/plateau.md §8).

References independent of the code under test: the closed-form plateau rates
``4 σ_n²/π²`` (Price's and Stein's lemmas), the closed-form error of a student that has
learnt a subset of the teacher units (``ε = Σ_unlearnt σ_n² E[g(ν)²] / (2M)``), the NumPy
re-implementation of the FO-ANIL drift of ``test_fixed_points`` (its central-difference
Jacobian), and the integrated ODE for the escape times.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_fixed_points import reference_drift, reference_jacobian

import teacherstudent as ts
from teacherstudent.analysis import fixed_point_theory as fpm
from teacherstudent.analysis import (
    invariant_projector,
    predict_threshold_subspace,
    saddle_sequence,
    threshold_window,
)
from teacherstudent.config import ConfigError
from teacherstudent.ode import VectorField

HEADS = [2.0, 1.0, 0.5]
BASE = {"tasks.head_cov": HEADS, "run.alpha_max": 150.0, "run.n_save": 600}


def _vf(**over):
    return VectorField.from_config(ts.load_config(None, {**BASE, **over}))


def _symmetric_R(r0=1e-3, asym=1e-4):
    vf = _vf(**{"init.R": r0})
    R = np.array(vf.unpack(vf.y0)[1])
    R[:, 0] = r0 * (1 + asym * np.random.default_rng(1).standard_normal(3))
    return R.tolist()


@pytest.fixture(scope="module")
def generic():
    return saddle_sequence(None, overrides=BASE)


@pytest.fixture(scope="module")
def symmetric():
    return saddle_sequence(None, overrides={**BASE, "init.R": _symmetric_R()})


# --------------------------------------------------------------------------- projectors
@pytest.mark.parametrize("learnt, symmetric", [((), False), ((0,), False), ((0, 1), True)])
def test_projector_is_orthogonal_and_invariant(learnt, symmetric):
    vf = _vf()
    P = invariant_projector(vf, learnt, symmetric)
    np.testing.assert_allclose(P, P.T, atol=1e-14)
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    rng = np.random.default_rng(3)
    z = fpm.reduce_state(vf, vf.y0) + 0.05 * rng.standard_normal(P.shape[0])
    zp = P @ z
    Q, R, w = vf.unpack(fpm.expand_state(vf, zp))
    unlearnt = [n for n in range(3) if n not in learnt]
    assert np.all(R[:, unlearnt] == 0.0)
    if symmetric:  # every student permutation leaves the projected state unchanged
        for p in itertools.permutations(range(3)):
            p = list(p)
            np.testing.assert_allclose(Q[np.ix_(p, p)], Q, atol=1e-14)
            np.testing.assert_allclose(R[p], R, atol=1e-14)
    # the subspace is invariant: the drift at a state in it has no transverse part
    f = fpm.reduced_drift(vf, zp)
    assert np.max(np.abs(f - P @ f)) < 1e-13


@pytest.mark.parametrize(
    "over, word",
    [
        ({"tasks.head_mean": 0.3}, "head_mean"),
        (
            {"tasks.teacher_overlap": [[1.0, 0.2, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]]},
            "teacher_overlap",
        ),
        ({"model.activation": "relu"}, "model.activation"),
    ],
)
def test_configurations_without_invariant_subspaces_are_refused(over, word):
    with pytest.raises(ConfigError, match=word):
        saddle_sequence(None, overrides={**BASE, **over})
    # and the reason is real: the drift leaves the subspace (head mean, overlaps) ...
    if word != "model.activation":
        vf = _vf(**over)
        P = invariant_projector(vf, (0,))
        z = fpm.reduce_state(vf, vf.y0) + 0.05
        f = fpm.reduced_drift(vf, P @ z)
        assert np.max(np.abs(f - P @ f)) > 1e-6


# --------------------------------------------------------------------------- the stages
def test_generic_start_learns_the_teacher_units_one_at_a_time(generic):
    assert [s.learnt for s in generic.stages] == [(), (0,), (0, 1)]
    assert not any(s.symmetric for s in generic.stages)
    assert generic.final is not None and generic.final.kind == "specialised"
    assert generic.final.eg < 1e-12


def test_plateau_rates_are_four_sigma_squared_over_pi_squared(generic):
    rates = np.sort(generic.stages[0].rates)[::-1][:6]
    closed = np.repeat(4 * np.array(HEADS[:2]) / math.pi**2, 3)
    np.testing.assert_allclose(rates, closed, atol=1e-8)
    fp0 = generic.stages[0].fixed_point
    ev = np.sort(fp0.eigenvalues.real)[::-1][:9]
    np.testing.assert_allclose(ev, np.repeat(4 * np.array(HEADS) / math.pi**2, 3), atol=1e-8)


def test_stage_fixed_points_have_the_error_of_the_unlearnt_units(generic):
    # erf(x/√2) at T = 1: E[g(ν)²] = (2/π) asin(1/2) = 1/3; readout 1/√M
    per_unit = np.array(HEADS) * (2 / math.pi) * math.asin(0.5) / (2 * 3)
    for s in generic.stages:
        want = per_unit[[n for n in range(3) if n not in s.learnt]].sum()
        assert s.fixed_point.eg == pytest.approx(want, abs=2e-6)
        # the shoulder lies above its fixed point (the run leaves before reaching it)
        assert s.height >= s.fixed_point.eg - 1e-12


def test_symmetric_start_passes_the_symmetric_suboptimal_state(symmetric):
    st = symmetric.stages
    assert [s.learnt for s in st] == [(), (0,), (0, 1)]
    assert st[1].symmetric  # all student units share the dominant teacher unit
    fp = st[1].fixed_point
    assert fp.residual < 1e-12  # an interior fixed point: zero drift
    assert np.ptp(fp.R[:, 0]) < 1e-8 and np.all(fp.R[:, 1:] == 0)
    assert fp.kind == "unspecialised" and fp.stability == "unstable"
    # its spectrum against the central-difference Jacobian of the independent NumPy drift
    vf = _vf()
    z = fpm.reduce_state(vf, fp.y)
    T, ubar, Su = np.eye(3), np.zeros(3), np.diag(HEADS)
    eta_0 = ts.load_config(None)["algorithm"]["eta_0"]  # = η_J by default
    J = reference_jacobian(z, 3, 3, (T, ubar, Su, 3.0, 9.0, eta_0))
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvals(J).real), np.sort(fp.eigenvalues.real), atol=1e-6
    )
    dQ, dR, dw = reference_drift(fp.Q, fp.R, fp.w, T, ubar, Su, 3.0, 9.0, eta_0)
    assert max(np.abs(dQ).max(), np.abs(dR).max()) < 1e-11


def test_predicted_escapes_match_integration(generic, symmetric):
    for seq in (generic, symmetric):
        for s in seq.stages:
            assert s.alpha_escape == pytest.approx(s.alpha_escape_integrated, rel=2e-3)
    # the independent-mode law (no competition between student units) for the generic start
    for s in generic.stages:
        assert s.alpha_escape_law == pytest.approx(s.alpha_escape_integrated, rel=0.08)


def test_first_stage_equals_the_plateau_stability_prediction():
    st = fpm.stability(None, overrides=BASE)
    seq = saddle_sequence(None, overrides=BASE, max_stages=1)
    assert seq.stages[0].rate == pytest.approx(st.rate, abs=1e-9)
    assert seq.stages[0].alpha_escape == pytest.approx(st.alpha_escape, rel=2e-3)


# --------------------------------------------------------------------------- finite V
def test_subspace_threshold_prediction_equals_the_fixed_point_one_at_V_inf():
    # independent code paths: the linear flow at the fixed point R = 0 against the transverse
    # flow along the (here resting) invariant subspace
    a = fpm.predict_threshold(None, threshold=0.01, alpha_max=100.0)
    b = predict_threshold_subspace(None, threshold=0.01, alpha_max=100.0)
    assert b.alpha_threshold == pytest.approx(a.alpha_threshold, rel=1e-4)
    assert b.alpha_escape == pytest.approx(a.alpha_escape, rel=1e-4)


@pytest.mark.parametrize("eta_J", [3.0, 20.0])
def test_subspace_threshold_prediction_at_finite_V_matches_integration(eta_J):
    over = {"algorithm.val_size": 10, "algorithm.eta_J": eta_J, "algorithm.eta_0": eta_J}
    tt = predict_threshold_subspace(None, overrides=over, threshold=0.01, alpha_max=100.0)
    ds = ts.integrate(None, **over, **{"run.alpha_max": 100.0, "run.eg_threshold": 0.01})
    assert tt.alpha_threshold == pytest.approx(ds.attrs["alpha_threshold"], rel=5e-4)


def test_subspace_prediction_follows_a_start_off_the_fixed_point():
    # w(0) ≠ 0: R = 0 is still invariant but the head relaxes on it (not a fixed point). The
    # linear flow at the fixed point R = 0, w = 0 misses the nonlinear relaxation of w; the
    # restricted flow does not
    over = {"init.w": 0.5}
    ds = ts.integrate(None, **over, **{"run.alpha_max": 100.0, "run.eg_threshold": 0.01})
    ref = ds.attrs["alpha_threshold"]
    sub = predict_threshold_subspace(None, overrides=over, threshold=0.01, alpha_max=100.0)
    fix = fpm.predict_threshold(None, overrides=over, threshold=0.01, alpha_max=100.0)
    assert sub.alpha_threshold == pytest.approx(ref, rel=2e-4)
    assert abs(fix.alpha_threshold / ref - 1) > 10 * abs(sub.alpha_threshold / ref - 1)


def test_threshold_window_edges_separate_integrated_success_and_failure():
    over = {"algorithm.val_size": 10.0, "run.alpha_max": 450.0, "run.eg_threshold": 0.01}
    win = threshold_window(None, eta_w=[9.0], eta_J=[0.1, 0.3, 3.0, 30.0], overrides=over, steps=8)
    lo, hi = float(win.eta_J_min[0]), float(win.eta_J_max[0])
    assert 0.1 < lo < 0.3 and 3.0 < hi < 30.0

    def reaches(eta_J):
        ds = ts.integrate(None, **over, **{"algorithm.eta_J": eta_J, "algorithm.eta_0": eta_J})
        return math.isfinite(ds.attrs["alpha_threshold"])

    assert reaches(1.02 * lo) and not reaches(0.98 * lo)
    assert reaches(0.98 * hi) and not reaches(1.03 * hi)
    # the upper edge is where the perfect student (the final fixed point at η_w = 9) is about
    # to lose stability: its Jacobian at the edge has every non-zero eigenvalue < 0
    cfg = ts.load_config(None, {**over, "algorithm.eta_J": hi, "algorithm.eta_0": hi})
    vf = VectorField.from_config(cfg)
    y = vf.pack(np.eye(3), np.eye(3), np.zeros(3))
    ev = np.linalg.eigvals(fpm.jacobian(vf, y, cfg).matrix).real
    assert ev[np.abs(ev) > 1e-7].max() < 0
    cfg2 = ts.load_config(
        None, {**over, "algorithm.eta_J": 1.05 * hi, "algorithm.eta_0": 1.05 * hi}
    )
    vf2 = VectorField.from_config(cfg2)
    ev2 = np.linalg.eigvals(fpm.jacobian(vf2, y, cfg2).matrix).real
    assert ev2.max() > 0
