"""Fixed points, Jacobians and the predicted plateau escape (analysis.fixed_point_theory).

References independent of the code under test: a NumPy re-implementation of the FO-ANIL drift
(P = V = ∞) from the closed-form Gaussian integrals of Saad & Solla (written here, not
imported), the classic symmetric plateau of plain SGD, the closed-form rate 4/π², and the
integrated ODE for the escape time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import teacherstudent as ts
from teacherstudent.analysis import fixed_point_theory as fpm
from teacherstudent.ode import VectorField


# --------------------------------------------------------------------------- reference drift
def _i2(C, a, b):
    return 2 / math.pi * math.asin(C[a, b] / math.sqrt((1 + C[a, a]) * (1 + C[b, b])))


def _i3(C, a, b, c):
    """E[g'(x_a) x_b g(x_c)] for g = erf(·/√2) (Saad & Solla 1995)."""
    lam = (1 + C[a, a]) * (1 + C[c, c]) - C[a, c] ** 2
    num = C[b, c] * (1 + C[a, a]) - C[a, b] * C[a, c]
    return 2 / math.pi * num / ((1 + C[a, a]) * math.sqrt(lam))


def reference_drift(Q, R, w, T, ubar, Su, eta_J, eta_w, eta_0, s=1):
    """FO-ANIL at P = V = ∞, γ = 1, erf, readout 1/√K, 1/√M: one loop per term."""
    K, M = R.shape
    sK, sM = 1 / math.sqrt(K), 1 / math.sqrt(M)
    F = K + M
    C = np.block([[Q, R], [R.T, T]])
    I2 = np.array([[_i2(C, a, b) for b in range(F)] for a in range(F)])
    Phi, Psi = I2[:K, :K], I2[:K, K:]
    a, W = np.array(w, float), np.zeros((K, M))
    for _ in range(s):  # inner steps on the task loss ½E(sK wᵀg(λ) − sM uᵀg(ν))²
        a, W = (a - eta_w * sK**2 * Phi @ a, W - eta_w * sK**2 * Phi @ W + eta_w * sK * sM * Psi)
    H = np.vstack([sK * W, -sM * np.eye(M)])
    cbar = np.concatenate([sK * a, np.zeros(M)]) + H @ ubar
    M2 = np.outer(cbar, cbar) + H @ Su @ H.T
    dR = np.zeros((K, M))
    dQ = np.zeros((K, K))
    for k in range(K):
        for n in range(M):
            dR[k, n] = -eta_J * sum(M2[k, i] * _i3(C, k, K + n, i) for i in range(F))
        for l in range(K):
            dQ[k, l] = -eta_J * sum(
                M2[k, i] * _i3(C, k, l, i) + M2[l, i] * _i3(C, l, k, i) for i in range(F)
            )
    dw = -eta_0 * sK * I2[:K, :] @ cbar
    return dQ, dR, dw


def reference_jacobian(z, K, M, args, h=1e-6):
    """Central differences of the reference drift in z = (Q upper triangle, R, w)."""
    iu = np.triu_indices(K)
    nq = len(iu[0])

    def f(z):
        Q = np.zeros((K, K))
        Q[iu] = z[:nq]
        Q = Q + Q.T - np.diag(np.diag(Q))
        R = z[nq : nq + K * M].reshape(K, M)
        w = z[nq + K * M :]
        dQ, dR, dw = reference_drift(Q, R, w, *args)
        return np.concatenate([dQ[iu], dR.ravel(), dw])

    J = np.empty((z.size, z.size))
    for i in range(z.size):
        e = np.zeros(z.size)
        e[i] = h * max(1.0, abs(z[i]))
        J[:, i] = (f(z + e) - f(z - e)) / (2 * e[i])
    return J


def _cfg(**over):
    return ts.load_config(None, over)


def _committee(K: int, **more) -> dict:
    """Plain SGD (arm) as the soft committee machine: fixed unit heads, T = I, K = M."""
    return {
        "algorithm.name": "arm",
        "model.K": K,
        "model.M": K,
        "tasks.head_mean": 1.0,
        "tasks.head_cov": 0.0,
        "algorithm.eta_0": 0.0,
        "init.w": [1.0] * K,
        **more,
    }


def _symmetric_start(K: int) -> dict:
    return {
        "Q": 0.2 * np.ones((K, K)) + 0.1 * np.eye(K),
        "R": 0.2 * np.ones((K, K)),
        "w": np.ones(K),
    }


# --------------------------------------------------------------------------- the default plateau
def test_default_plateau_rate_is_four_over_pi_squared():
    st = fpm.stability(None, integrate=False)
    assert st.rate == pytest.approx(4 / math.pi**2, abs=1e-10)
    fp = st.state
    assert fp.kind == "unspecialised" and fp.stability == "unstable"
    assert fp.jacobian_method == "analytic R block"
    assert fp.jacobian_check < 1e-8  # closed-form R block against central differences
    # every Q on R = 0 is a fixed point: K(K+1)/2 zero modes, all of them along Q
    assert fp.zero_modes == 6
    modes = fp.zero_mode_vectors()
    assert modes.shape == (6, 18)
    assert np.max(np.abs(modes[:, 6:])) < 1e-8
    # the R block is nine-fold degenerate at 4/π² (Q = ½ I, T = Σ_u = I)
    assert np.sum(np.abs(fp.eigenvalues - 4 / math.pi**2) < 1e-9) == 9


def test_zero_modes_span_a_continuum_of_fixed_points():
    cfg = _cfg(**{"init.R": 0.0})
    vf = VectorField.from_config(cfg)
    fp = fpm.describe_point(vf, vf.y0, cfg)
    z = fpm.reduce_state(vf, fp.y)
    for v in fp.zero_mode_vectors():
        assert np.max(np.abs(fpm.reduced_drift(vf, z + 1e-2 * v))) < 1e-14
    # a step of the same size along an unstable direction is not a fixed point
    u = np.real(fp.eigenvectors[:, 0])
    assert np.max(np.abs(fpm.reduced_drift(vf, z + 1e-2 * u))) > 1e-4


@pytest.mark.parametrize(
    "over",
    [
        {},
        {
            "model.activation": "linear",
            "init.Q": [[0.8, 0.1, 0.0], [0.1, 0.5, 0.05], [0.0, 0.05, 0.6]],
        },
        {
            "tasks.head_cov": [[1.0, 0.3, 0.0], [0.3, 0.7, 0.1], [0.0, 0.1, 1.5]],
            "tasks.teacher_overlap": [[1.2, 0.2, 0.0], [0.2, 0.9, 0.0], [0.0, 0.0, 1.0]],
            "algorithm.eta_w": 4.0,
            "model.K": 3,
            "model.M": 3,
        },
        {"model.K": 2, "model.M": 4, "tasks.head_cov": [1.0, 2.0, 0.5, 1.0]},
    ],
)
def test_analytic_r_block_matches_finite_differences(over):
    cfg = _cfg(**{"init.R": 0.0, **over})
    vf = VectorField.from_config(cfg)
    jac = fpm.jacobian(vf, vf.y0, cfg)
    assert jac.method == "analytic R block"
    assert jac.check < 1e-8 * max(1.0, np.max(np.abs(jac.matrix)))
    # and it decouples from Q and w on R = 0 (what the closed form assumes)
    b = fpm.state_blocks(vf)["R"]
    J = jac.finite_difference
    mask = np.zeros(J.shape, bool)
    mask[b, :] = True
    mask[:, b] = True
    mask[b, b] = False
    assert np.max(np.abs(J[mask])) < 1e-9


def test_no_closed_form_where_it_does_not_hold():
    cfg = _cfg(**{"init.R": 0.0, "tasks.head_mean": 0.5})
    vf = VectorField.from_config(cfg)
    assert fpm.jacobian(vf, vf.y0, cfg).method == "finite-difference"
    cfg = _cfg(**{"init.R": 0.0, "algorithm.name": "anil"})
    assert fpm.analytic_r_block(VectorField.from_config(cfg), cfg, vf.y0) is None


# --------------------------------------------------------------------------- independent drift
def test_jacobian_matches_an_independent_implementation_at_a_generic_state():
    """Full Jacobian, FO-ANIL, K = 2, M = 3, ū ≠ 0, Σ_u and T not diagonal, two inner steps."""
    K, M = 2, 3
    T = np.array([[1.0, 0.2, 0.0], [0.2, 0.8, 0.1], [0.0, 0.1, 1.1]])
    Su = np.array([[0.5, 0.1, 0.0], [0.1, 1.0, 0.0], [0.0, 0.0, 0.3]])
    ubar = np.array([0.3, -0.2, 0.5])
    over = {
        "model.K": K,
        "model.M": M,
        "tasks.teacher_overlap": T.tolist(),
        "tasks.head_cov": Su.tolist(),
        "tasks.head_mean": ubar.tolist(),
        "algorithm.eta_J": 1.3,
        "algorithm.eta_w": 2.1,
        "algorithm.eta_0": 0.7,
        "algorithm.inner_steps": 2,
    }
    cfg = _cfg(**over)
    vf = VectorField.from_config(cfg)
    Q = np.array([[0.7, 0.15], [0.15, 0.5]])
    R = np.array([[0.3, -0.1, 0.05], [0.02, 0.25, -0.2]])
    w = np.array([0.4, -0.3])
    y = vf.pack(Q, R, w)
    args = (T, ubar, Su, 1.3, 2.1, 0.7, 2)
    dQ, dR, dw = reference_drift(Q, R, w, *args)
    d = vf(Q, R, w)
    np.testing.assert_allclose(d["R"], dR, atol=1e-13)
    np.testing.assert_allclose(d["Q"], dQ, atol=1e-13)
    np.testing.assert_allclose(d["w"], dw, atol=1e-13)
    J = fpm.jacobian(vf, y, cfg)
    Jref = reference_jacobian(fpm.reduce_state(vf, y), K, M, args)
    np.testing.assert_allclose(J.matrix, Jref, atol=2e-8)
    ev = np.sort_complex(np.linalg.eigvals(J.matrix))
    evref = np.sort_complex(np.linalg.eigvals(Jref))
    np.testing.assert_allclose(ev, evref, atol=1e-6)


def test_fixed_points_of_the_default_run():
    pts = fpm.fixed_points(None)
    kinds = {p.origin: p for p in pts}
    assert set(kinds) == {"plateau", "final"}
    vf = VectorField.from_config(_cfg())
    for p in pts:
        assert p.residual <= 1e-12
        assert np.max(np.abs(vf.rhs(p.y))) <= 1e-12  # recomputed: zero drift
    pl, fin = kinds["plateau"], kinds["final"]
    assert pl.kind == "unspecialised" and pl.stability == "unstable"
    assert pl.eg == pytest.approx(1 / 6, abs=1e-12)  # R = 0, w = 0: ε = ½ s_M² E‖u‖²·I2(ν,ν)
    assert fin.kind == "specialised" and fin.stability in ("stable", "marginal")
    assert fin.eg < 1e-12
    assert np.all(fin.eigenvalues.real < 1e-7)
    # eigenvalues at the specialised point against the independent drift
    T = np.eye(3)
    Jref = reference_jacobian(
        fpm.reduce_state(vf, fin.y), 3, 3, (T, np.zeros(3), np.eye(3), 3.0, 9.0, 3.0, 1)
    )
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvals(Jref).real), np.sort(fin.eigenvalues.real), atol=1e-6
    )


# --------------------------------------------------------------------------- plain SGD
@pytest.mark.parametrize("K", [2, 3])
def test_plain_sgd_has_the_classic_symmetric_plateau(K):
    """Soft committee machine (arm, fixed unit heads, T = I): Q = 1/(2K−1), R = 1/√(K(2K−1)).

    The fixed point has identical student units (Q = q·11ᵀ, on the boundary of the state
    space) where the drift is degenerate in the direction separating them, so Newton
    reaches it to ~1e-5 in the state while the drift is 1e-13.
    """
    cfg = _cfg(**_committee(K, **{"algorithm.eta_J": 0.1}))
    vf = VectorField.from_config(cfg)
    y0 = vf.pack(*_symmetric_start(K).values())
    y, res, _ = fpm.newton(vf, y0, fixed={"w": True})
    assert res < 1e-11
    Q, R, w = vf.unpack(y)
    np.testing.assert_allclose(Q, np.full((K, K), 1 / (2 * K - 1)), atol=3e-5)
    np.testing.assert_allclose(R, np.full((K, K), 1 / math.sqrt(K * (2 * K - 1))), atol=3e-5)
    p = fpm.describe_point(vf, y, cfg, res)
    assert p.kind == "unspecialised" and p.stability == "unstable"


# --------------------------------------------------------------------------- escape time
def test_predicted_escape_matches_integration_for_the_default_run():
    st = fpm.stability(None, overrides={"run.alpha_max": 60.0})
    assert st.alpha_near == 0.0  # the run starts on its plateau
    assert st.alpha_escape_integrated == pytest.approx(13.56, abs=0.02)
    # matched asymptotics: within 0.5 % of the integrated α*
    assert st.alpha_escape == pytest.approx(st.alpha_escape_integrated, rel=5e-3)
    # leading-mode scaling: one decade of amplitude costs ln 10 / rate
    a1 = st.alpha_escape_amplitude(st.amplitude)
    a2 = st.alpha_escape_amplitude(st.amplitude / 10)
    assert a1 == pytest.approx(st.alpha_escape)
    assert a2 - a1 == pytest.approx(math.log(10) / st.rate)
    aN = st.alpha_escape_N(np.array([250.0, 1000.0]))
    assert aN[1] - aN[0] == pytest.approx(math.log(4) / (2 * st.rate))


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e-6, 1e-5, 1e-4, 1e-2, 3e-2])
def test_predicted_escape_over_initial_scales(scale):
    st = fpm.stability(None, overrides={"run.alpha_max": 150.0, "init.R": scale})
    assert st.alpha_escape == pytest.approx(st.alpha_escape_integrated, rel=1e-2)


def test_continuation_in_the_learning_rate_reaches_the_classic_plateau_as_eta_goes_to_zero():
    """Online SGD (V = 1): the η_J²/V term moves the symmetric fixed point by O(η_J); followed
    by continuation, it extrapolates to the small-η values 1/(2K−1) and 1/√(K(2K−1))."""
    K = 2
    over = _committee(K, **{"algorithm.val_size": 1})
    start = _symmetric_start(K)
    etas = [0.01, 0.02, 0.04]
    pts = fpm.continuation(None, "algorithm.eta_J", etas, start, overrides=over)
    assert [p.origin for p in pts] == [f"algorithm.eta_J={e:g}" for e in etas]
    for p in pts:
        assert p.residual < 1e-11
        assert p.kind == "unspecialised" and p.stability == "unstable"
    q = np.array([p.Q[0, 0] for p in pts]) - 1 / (2 * K - 1)
    r = np.array([p.R[0, 1] for p in pts]) - 1 / math.sqrt(K * (2 * K - 1))
    assert np.all(q > 0) and q[1] / q[0] == pytest.approx(2, rel=0.02)  # linear in η_J
    assert abs(2 * q[0] - q[1]) < 2e-6 and abs(2 * r[0] - r[1]) < 2e-6  # η_J → 0


def test_error_floor_of_the_final_fixed_point_and_the_minimal_inner_rate():
    """fig2's lower η_w boundary (ε ≤ 0.01 never reached below η_w ≈ 4.3) from the error of
    the specialised fixed point; checked against long integrations."""
    values = [9.0, 7.0, 6.0, 5.0, 4.6, 4.4, 4.3, 4.2, 4.0]
    fb = fpm.floor_boundary(None, values=values, threshold=0.01)
    assert np.all(np.isfinite(fb.eg))
    assert np.all(np.diff(fb.eg) > 0)  # the floor grows as the inner rate falls below 9
    assert fb.eg[0] < 1e-12  # η_w = 9 adapts exactly at Q = I
    assert 4.2 < fb.boundary < 4.3
    assert all(p.kind == "specialised" and p.stability == "stable" for p in fb.points[1:])
    for eta_w, eg in ((4.0, fb.eg[-1]), (6.0, fb.eg[2])):
        ds = ts.integrate(None, **{"algorithm.eta_w": eta_w, "run.alpha_max": 3000.0})
        assert float(ds.eg[-1]) == pytest.approx(eg, rel=1e-4)


def test_plain_sgd_escape_from_the_symmetric_plateau_is_predicted():
    """The run passes a short initial plateau first; the saddle is found by the closest
    approach, and its escape predicted from a state far from it (α = 0.06)."""
    over = _committee(2, **{"algorithm.eta_J": 1.0, "run.alpha_max": 1000.0})
    st = fpm.stability(None, overrides=over)
    np.testing.assert_allclose(st.state.Q, 1 / 3, atol=3e-5)
    assert st.state.stability == "unstable" and st.state.kind == "unspecialised"
    assert st.rate == pytest.approx(0.03287, rel=1e-3)
    assert 250 < st.alpha_escape_integrated < 300
    assert st.alpha_escape == pytest.approx(st.alpha_escape_integrated, rel=0.03)


# --------------------------------------------------------------------------- phase boundaries
def _reaches(eta_J, eta_w, alpha_final=450.0, **over):
    """Integrated run: ε ≤ 0.01 by α_final (the solver's threshold event)."""
    ds = ts.integrate(
        None,
        **{
            "algorithm.eta_J": eta_J,
            "algorithm.eta_w": eta_w,
            "run.alpha_max": alpha_final,
            "run.n_save": 20,
            "run.eg_threshold": 0.01,
            **over,
        },
    )
    return math.isfinite(float(ds.attrs["alpha_threshold"]))


def _bisect(ok, lo, hi, steps):
    assert not ok(lo) and ok(hi)
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return lo, hi


def test_predicted_time_to_threshold_matches_integration_and_scales_as_one_over_eta_J():
    """Inner linear flow + outer solution against the integrated run; at V = ∞ every time
    scales as 1/η_J (the drift is proportional to η_J), which rate_boundary relies on."""
    tt = fpm.predict_threshold(None, threshold=0.01, alpha_max=100.0)
    assert tt.alpha_match > 3.0  # there is an inner (linear) region
    ds = ts.integrate(None, **{"run.alpha_max": 100.0, "run.eg_threshold": 0.01})
    assert tt.alpha_threshold == pytest.approx(float(ds.attrs["alpha_threshold"]), rel=1e-3)
    half = fpm.predict_threshold(
        None, overrides={"algorithm.eta_J": 1.5}, threshold=0.01, alpha_max=100.0
    )
    assert half.alpha_threshold == pytest.approx(2 * tt.alpha_threshold, rel=1e-4)
    # below the error-floor boundary (η_w ≈ 4.27) the threshold is never reached
    low = fpm.predict_threshold(
        None, overrides={"algorithm.eta_w": 4.0}, threshold=0.01, alpha_max=600.0
    )
    assert low.alpha_threshold == math.inf and low.eg_end == pytest.approx(1.2334e-2, rel=1e-3)
    with pytest.raises(ts.ConfigError, match="val_size"):
        fpm.rate_boundary(None, eta_w=[9.0], overrides={"algorithm.val_size": 10})


def test_predicted_minimal_rates_match_bisection_of_integrated_runs():
    """fig2/fig3 (K = M = 3, α_final = 450): the minimal η_J at η_w = 9 and the minimal η_w at
    η_J = 3, predicted without integrating the plateau, against 10-step bisections of
    integrated runs (bracket ratio ≤ 3^(1/1024) ≈ 0.11 %): within 0.5 %."""
    rb = fpm.rate_boundary(None, eta_w=[9.0], alpha_final=450.0, threshold=0.01)
    lo, hi = _bisect(lambda e: _reaches(e, 9.0), 0.1, 0.3, 10)
    assert lo * 0.995 < rb.eta_J_min[0] < hi * 1.005
    pred_w, _ = fpm.minimal_eta_w(
        None, bracket=(4.0, 5.0), steps=10, alpha_final=450.0, threshold=0.01
    )
    lo, hi = _bisect(lambda w: _reaches(3.0, w), 4.0, 5.0, 10)
    assert lo * 0.995 < pred_w < hi * 1.005
    # the error floor of the final fixed point bounds it from below (theory/plateau.md §6)
    assert 4.2658 * 0.999 < lo
