"""Solvers: convergence order, exact save points, agreement of methods, events, divergence."""

from __future__ import annotations

import numpy as np
import pytest

from teacherstudent import integrate, load_config
from teacherstudent.ode import SaveAt, Solver, solve
from teacherstudent.ode.field import VectorField


def _smooth_problem():
    """Plain SGD, K = M = 2, away from plateaus: a smooth, non-trivial trajectory."""
    return load_config(
        {
            "model": {"K": 2, "M": 2, "readout": "none"},
            "tasks": {"head_mean": 1.0, "head_cov": 0.0},
            "algorithm": {"name": "arm", "eta_J": 0.8, "eta_0": 0.5, "val_size": 1},
            "init": {
                "Q": [[0.6, 0.1], [0.1, 0.4]],
                "R": [[0.3, -0.1], [0.2, 0.25]],
                "w": [0.7, 1.3],
            },
        }
    )


def _final(cfg, method, **kw):
    vf = VectorField.from_config(cfg)
    sol = solve(vf, Solver(method=method, **kw), SaveAt(np.array([0.0, 2.0])))
    assert sol.success
    return sol.y[-1]


def test_fixed_step_methods_converge_at_their_order():
    cfg = _smooth_problem()
    ref = _final(cfg, "dopri5", rtol=1e-13, atol=1e-15)
    for method, dts, order in [("euler", [0.02, 0.01, 0.005], 1), ("rk4", [0.2, 0.1, 0.05], 4)]:
        errs = [np.abs(_final(cfg, method, dt=dt) - ref).max() for dt in dts]
        rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
        assert np.all(np.abs(rates - order) < 0.25), (method, errs, rates)


def test_adaptive_tolerance_controls_error():
    cfg = _smooth_problem()
    ref = _final(cfg, "dopri5", rtol=1e-13, atol=1e-15)
    errs = [np.abs(_final(cfg, "dopri5", rtol=r, atol=r * 1e-2) - ref).max() for r in (1e-5, 1e-8)]
    assert errs[1] < errs[0] / 100
    assert errs[1] < 1e-7


def test_adaptive_matches_rk4_small_dt_through_plateau_escape():
    """Default FO-ANIL run through the plateau and the specialisation transition."""
    base = {"run": {"alpha_max": 30.0, "n_save": 30, "save_spacing": "linear"}}
    a = integrate(load_config(base, {"run.solver": "dopri5", "run.rtol": 1e-10, "run.atol": 1e-12}))
    b = integrate(load_config(base, {"run.solver": "rk4", "run.dt": 0.005}))
    assert a.eg.values[-1] < 0.1 < a.eg.values[0]  # the window contains the transition
    for v in ("Q", "R", "w", "eg"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=0, atol=1e-8)


def test_states_are_saved_exactly_at_requested_alpha():
    cfg = load_config(
        _smooth_problem(), {"run.save_alpha": [0.0, 0.1, 0.25, 1.0], "run.alpha_max": 1.0}
    )
    vf = VectorField.from_config(cfg)
    sol = solve(vf, Solver("euler", dt=0.3), SaveAt.from_config(cfg))
    np.testing.assert_array_equal(sol.alpha, [0.0, 0.1, 0.25, 1.0])
    # the first Euler step is shortened to land on α = 0.1 exactly
    np.testing.assert_allclose(sol.y[1], vf.y0 + 0.1 * vf.rhs(vf.y0), rtol=1e-15, atol=1e-15)


def test_log_spaced_default_grid_starts_at_zero_and_ends_at_alpha_max():
    cfg = load_config(None)
    alpha = SaveAt.from_config(cfg).alpha
    assert alpha[0] == 0.0 and alpha[-1] == cfg["run"]["alpha_max"]
    assert len(alpha) == cfg["run"]["n_save"]
    assert np.all(np.diff(alpha) > 0)


def test_threshold_event_locates_the_crossing():
    ds = integrate(load_config(None, {"run.eg_threshold": 0.01, "run.n_save": 2000}))
    a_star = ds.attrs["alpha_threshold"]
    eg = ds.eg.values
    i = np.argmax(eg <= 0.01)
    assert ds.alpha.values[i - 1] <= a_star <= ds.alpha.values[i]


@pytest.mark.parametrize("solver", ["dopri5", "euler"])
def test_divergence_stops_cleanly_and_keeps_the_trajectory(solver):
    """Linear network with η = 3 > 2: ε grows like exp(η(η−2)α) (see test_classic_ode)."""
    cfg = load_config(
        {
            "model": {"K": 1, "M": 1, "readout": "none", "activation": "linear"},
            "tasks": {"head_mean": 1.0, "head_cov": 0.0},
            "algorithm": {"name": "arm", "eta_J": 3.0, "eta_0": 0.0, "val_size": 1},
            "init": {"Q": [[0.8]], "R": [[0.1]], "w": [1.0]},
            "run": {"alpha_max": 200.0, "solver": solver, "dt": 0.01},
        }
    )
    ds = integrate(cfg)
    assert ds.attrs["status"] < 0
    assert "at alpha =" in ds.attrs["message"]
    a = ds.attrs["alpha_reached"]
    assert 0 < a < 200.0
    assert ds.alpha.values[-1] == pytest.approx(a)
    assert np.all(np.isfinite(ds.Q.values)) and np.all(np.isfinite(ds.R.values))
    assert len(ds.alpha) > 2


@pytest.mark.parametrize("method", ["euler", "rk4", "dopri5"])
def test_all_methods_agree_on_default_run_endpoint(method):
    ds = integrate(load_config(None, {"run.solver": method, "run.dt": 0.01, "run.alpha_max": 60.0}))
    assert ds.attrs["status"] == 0
    assert ds.eg.values[-1] < 1e-3  # specialised well before α = 60
