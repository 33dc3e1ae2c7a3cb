"""Analysis rules on constructed trajectories (teacherstudent.analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from teacherstudent import analysis as an

ALPHA = np.logspace(-2, 3, 400)


def sigmoid_drop(alpha, h, ac, p):
    """ε = h / (1 + (α/α_c)^p): plateau at h, ε = 0.9 h exactly at α_c · 9^(-1/p)."""
    return h / (1.0 + (alpha / ac) ** p)


def test_plateau_height_and_escape_of_a_known_trajectory():
    h, ac, p = 1 / 6, 15.0, 6.0
    eg = sigmoid_drop(ALPHA, h, ac, p) + 1e-13
    pl = an.plateau(ALPHA, eg)
    assert pl.found
    assert pl.height == pytest.approx(h, rel=1e-3)
    assert pl.start == pytest.approx(ALPHA[0])
    # flat while |d ln ε/d ln α| < 0.05: p x/(1+x) = 0.05 with x = (α/α_c)^p
    x = 0.05 / (p - 0.05)
    assert pl.end == pytest.approx(ac * x ** (1 / p), rel=0.03)
    assert pl.escape == pytest.approx(ac * 9 ** (-1 / p), rel=5e-3)
    assert pl.end < pl.escape
    assert pl.decades > 2.5
    assert pl.escaped


def test_escape_rule_uses_delta():
    h, ac, p = 0.2, 10.0, 4.0
    eg = sigmoid_drop(ALPHA, h, ac, p)
    pl = an.plateau(ALPHA, eg, delta=0.5)  # ε = h/2 at α = α_c exactly
    assert pl.escape == pytest.approx(ac, rel=5e-3)


def test_converged_floor_is_not_a_plateau_and_first_plateau_wins():
    # plateau at 0.2 (~2.7 decades), a drop near α = 1 to an intermediate plateau at 2e-3
    # (~2 decades), a drop near α = 1000 to a converged floor at 1e-12 (~2.7 decades).
    a = np.logspace(-3, 6, 600)
    eg = 0.2 - (0.2 - 2e-3) / (1 + (a / 1.0) ** -8)
    eg = eg - (2e-3 - 1e-12) / (1 + (a / 1000.0) ** -8)
    ps = an.find_plateaus(a, eg, min_decades=0.3)
    heights = [p.height for p in ps]
    assert len(ps) == 2
    assert heights[0] == pytest.approx(0.2, rel=1e-3)
    assert heights[1] == pytest.approx(2e-3, rel=1e-2)
    assert ps[1].start > ps[0].end
    assert ps[0].escape == pytest.approx(9 ** (-1 / 8), rel=2e-2)
    assert an.plateau(a, eg).height == pytest.approx(0.2, rel=1e-3)
    # without the floor rule, the floor would be a third plateau (and the longest)
    no_floor = an.find_plateaus(a, eg, floor_rel=0.0, min_decades=0.3)
    assert len(no_floor) == 3
    assert no_floor[2].height == pytest.approx(1e-12, rel=1e-3)


def test_first_plateau_wins_over_a_longer_residual_plateau():
    # a short initial plateau (0.7 decades) escaped at α ≈ 0.1, then a residual error of
    # 6e-3 for 3 decades (as with a mis-tuned inner rate): the plateau is the first one
    a = np.logspace(-2, 3, 300)
    eg = 6e-3 + (1 / 6 - 6e-3) / (1 + (a / 0.12) ** 8)
    ps = an.find_plateaus(a, eg)
    assert len(ps) == 2 and ps[1].decades > ps[0].decades > 0.25
    pl = an.plateau(a, eg)
    assert pl.height == pytest.approx(1 / 6, rel=1e-3)
    assert pl.escape == pytest.approx(0.12 * (0.1 * (1 / 6) / (0.9 * (1 / 6) - 6e-3)) ** (1 / 8),
                                      rel=1e-2)
    # too short to count: then the longest is taken
    assert an.plateau(a, eg, min_decades=1.0).height == pytest.approx(6e-3, rel=1e-3)


def test_stuck_run_has_a_plateau_without_escape_and_power_law_has_none():
    flat = np.full_like(ALPHA, 1 / 6)
    pl = an.plateau(ALPHA, flat)
    assert pl.found and math.isnan(pl.escape) and not pl.escaped
    assert pl.start == ALPHA[0] and pl.end == ALPHA[-1]
    power = 1.0 / ALPHA
    assert not an.plateau(ALPHA, power).found
    assert math.isnan(an.plateau(ALPHA, power).height)


def test_log_slope_of_power_law():
    s = an.log_slope(ALPHA, 3.0 * ALPHA**-2)
    assert np.allclose(s, -2.0)
    s0 = an.log_slope(np.r_[0.0, ALPHA], np.r_[1.0, ALPHA**-2])
    assert math.isnan(s0[0])


def test_crossing_time_interpolates_in_log_eps():
    a = np.linspace(0, 20, 41)
    eg = np.exp(-a)
    assert an.crossing_time(a, eg, math.exp(-5.2)) == pytest.approx(5.2, rel=1e-12)
    assert an.crossing_time(a, eg, math.exp(-5.2), alpha_final=5.0) != an.crossing_time(
        a, eg, math.exp(-5.2))
    assert math.isnan(an.crossing_time(a, eg, math.exp(-5.2), alpha_final=5.0))
    assert math.isnan(an.crossing_time(a, eg, 1e-20))
    assert an.crossing_time(a, eg, 2.0) == 0.0


def _ds(eg, alpha, **attrs):
    return xr.Dataset({"eg": ("alpha", eg)}, coords={"alpha": alpha}, attrs=attrs)


def test_threshold_time_prefers_the_solver_event():
    a = np.linspace(0, 20, 41)
    eg = np.exp(-a)
    ds = _ds(eg, a, **{"run.eg_threshold": 0.01, "alpha_threshold": 4.6051, "status": 0})
    assert an.threshold_time(ds, 0.01) == 4.6051
    assert math.isnan(an.threshold_time(ds, 0.01, alpha_final=4.0))
    # another threshold: interpolation
    assert an.threshold_time(ds, math.exp(-7.3)) == pytest.approx(7.3)
    # event searched over the whole run and not found: never
    never = _ds(eg, a, **{"run.eg_threshold": 0.01, "alpha_threshold": math.nan, "status": 0})
    assert math.isnan(an.threshold_time(never, 0.01))
    # no event recorded: interpolate
    plain = _ds(eg, a, **{"run.eg_threshold": 0.0, "alpha_threshold": math.nan, "status": 0})
    assert an.threshold_time(plain, 0.01) == pytest.approx(-math.log(0.01))


def _perm_matrix(K, M, pairs, signs, value=0.9, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    R = noise * rng.uniform(-1, 1, size=(K, M))
    for (k, n), s in zip(pairs, signs, strict=True):
        R[k, n] = s * value
    return R


def test_alignment_recovers_permutation_and_signs_K_equals_M():
    pairs = [(0, 2), (1, 0), (2, 3), (3, 1)]
    signs = [1, -1, -1, 1]
    R = _perm_matrix(4, 4, pairs, signs)
    al = an.align_units(R)
    assert list(al.teacher_of) == [2, 0, 3, 1]
    assert list(al.student_of) == [1, 3, 0, 2]
    assert list(al.sign) == signs
    assert not al.extra.any()
    assert list(al.order) == [1, 3, 0, 2]
    aligned = al.aligned()
    assert np.allclose(np.diagonal(aligned), 0.9)


def test_alignment_K_greater_than_M_marks_extra_units():
    # teacher units 0, 1, 2 -> students 3, 0, 4; students 1 and 2 are weaker copies
    R = _perm_matrix(5, 3, [(3, 0), (0, 1), (4, 2), (1, 2), (2, 0)], [1, -1, 1, -1, 1])
    R[1, 2] = -0.6
    R[2, 0] = 0.5
    al = an.align_units(R)
    assert list(al.teacher_of) == [1, -1, -1, 0, 2]
    assert list(al.student_of) == [3, 0, 4]
    assert list(al.extra) == [False, True, True, False, False]
    assert list(al.nearest[[1, 2]]) == [2, 0]
    assert list(al.sign) == [-1, -1, 1, 1, 1]
    assert list(al.colour_index) == [1, 2, 0, 0, 2]
    assert list(al.order) == [3, 0, 4, 2, 1]  # assigned by teacher, then extras by nearest


def test_alignment_K_smaller_than_M():
    R = _perm_matrix(2, 3, [(0, 2), (1, 0)], [-1, 1])
    al = an.align_units(R)
    assert list(al.teacher_of) == [2, 0]
    assert list(al.student_of) == [1, -1, 0]
    assert list(al.sign) == [-1, 1]


def test_normalized_overlaps_and_assignment_use_norms():
    # raw R favours student 0 for teacher 0, but student 0 is long: normalised it is weaker
    R = np.array([[0.8, 0.0], [0.5, 0.45]])
    Q = np.diag([4.0, 0.25])
    r = an.normalized_overlaps(R, Q, np.eye(2))
    assert np.allclose(r, [[0.4, 0.0], [1.0, 0.9]])
    # maximising Σ|r|: (0->1, 1->0) gives 1.0 + 0.0, (0->0, 1->1) gives 0.4 + 0.9 = 1.3
    assert list(an.align_units(R, Q).teacher_of) == [0, 1]


def test_specialization_values():
    assert an.specialization(np.eye(3)) == pytest.approx(1.0)
    P = np.eye(3)[[2, 0, 1]] * np.array([1, -1, 1])[:, None]
    assert an.specialization(P) == pytest.approx(1.0)
    assert an.specialization(np.full((3, 3), 0.3)) == pytest.approx(0.0)
    assert an.specialization(np.zeros((3, 3))) == pytest.approx(0.0)
    r = np.array([[0.8, 0.2], [0.1, 0.6]])
    assert an.specialization(r) == pytest.approx(0.7 - 0.15)
    # extra units do not enter S; K < M uses the assigned square block
    extra = np.vstack([np.eye(3), [[0.7, 0.7, 0.0]]])
    assert an.specialization(extra) == pytest.approx(1.0)
    assert an.specialization(np.array([[0.0, 0.9, 0.1]])) == pytest.approx(0.9)


def test_unit_roles_counts_sharing_units():
    R = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.9, 0, 0], [0, 0.1, 0]])
    Q = np.diag([1.0, 1.0, 1.0, 0.81, 0.04])
    Q[0, 3] = Q[3, 0] = 0.9
    ro = an.unit_roles(R, Q, np.eye(3))
    assert list(ro["sharing"]) == [2, 1, 1]
    assert list(ro["extra"]) == [False, False, False, True, True]
    assert np.allclose(ro["norm"], [1, 1, 1, 0.9, 0.2])
    assert ro["cos_students"][0, 3] == pytest.approx(1.0)
    assert np.allclose(ro["best_overlap"], [1, 1, 1, 1, 0.5])


def test_summarize_default_run():
    import teacherstudent as ts

    ds = ts.integrate(None, **{"run.eg_threshold": 0.01, "run.n_save": 200})
    sm = an.summarize(ds, 0.01)
    assert sm["plateau_height"] == pytest.approx(1 / 6, rel=1e-3)  # ε = 1/6 at R = 0, w = 0
    assert 10 < sm["alpha_escape"] < 20
    assert sm["alpha_escape"] < sm["alpha_threshold"] == ds.attrs["alpha_threshold"]
    assert sm["S_final"] == pytest.approx(1.0, abs=1e-6)
    S = an.specialization_along(ds)
    assert abs(S[0]) < 0.05 and S[-1] > 0.99
