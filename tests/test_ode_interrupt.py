"""The ODE solver runs in resumable calls: cutting a run into many calls takes exactly the
steps of one call; Ctrl-C keeps what was computed, and ``extend`` continues it."""

from __future__ import annotations

import numpy as np
import pytest

from teacherstudent.config import load_config
from teacherstudent.ode import SaveAt, Solver, VectorField, extend, integrate, solve, to_dataset
from teacherstudent.ode import solvers as S

CFG = {"run": {"alpha_max": 60.0, "save_spacing": "linear", "n_save": 31, "dt": 0.05,
               "eg_threshold": 0.05}}


def _run(method: str, budget: int):
    cfg = load_config(CFG, {"run.solver": method})
    vf = VectorField.from_config(cfg)
    t_save = SaveAt.from_config(cfg).alpha
    y = vf.y0.copy()
    st = S.new_state()
    k1 = np.empty_like(y)
    ys = np.full((t_save.size, y.size), np.nan)
    sol = Solver.from_config(cfg)
    calls = 0
    while st[S.S_STATUS] == S.PAUSED:
        S.integrate_kernel(S.METHODS[method], y, *vf.args, t_save, sol.dt, sol.rtol, sol.atol,
                           sol.max_steps, 0.05, sol.blowup, sol.psd_tol, ys, st, k1, budget)
        calls += 1
    return ys, st, calls


@pytest.mark.parametrize("method", ["euler", "rk4", "dopri5"])
def test_many_calls_take_the_steps_of_one(method):
    ys1, st1, calls1 = _run(method, 1 << 30)
    ys2, st2, calls2 = _run(method, 7)
    assert calls1 == 1 and calls2 > 20
    assert st1[S.S_STATUS] == st2[S.S_STATUS] == S.SUCCESS
    np.testing.assert_array_equal(ys1, ys2)
    np.testing.assert_array_equal(st1, st2)  # counters, α reached and the event too


def test_ctrl_c_keeps_the_states_and_extend_continues():
    cfg = load_config(CFG, {"run.solver": "euler", "run.dt": 1e-4})
    vf = VectorField.from_config(cfg)
    calls = []

    def interrupt(alpha, y):
        calls.append(alpha)
        if len(calls) == 3:
            raise KeyboardInterrupt

    sol = solve(vf, Solver.from_config(cfg), SaveAt.from_config(cfg), progress=interrupt)
    assert sol.status == S.INTERRUPTED and "interrupted" in sol.message
    assert 0 < sol.alpha_reached < 60.0 and len(sol.alpha) >= 1
    assert np.all(np.isfinite(sol.y)) and np.all(np.isfinite(sol.y_last))
    part = to_dataset(vf, sol, cfg)
    assert part.attrs["status"] == S.INTERRUPTED
    assert float(part.alpha[-1]) == pytest.approx(sol.alpha_reached)
    full = integrate(cfg)
    cont = extend(part)
    assert cont.attrs["status"] == 0 and float(cont.alpha[-1]) == 60.0
    # the continuation starts from the interrupted state: the end agrees with one run
    np.testing.assert_allclose(cont.Q.values[-1], full.Q.values[-1], atol=1e-9)
    np.testing.assert_allclose(cont.eg.values[-1], full.eg.values[-1], atol=1e-9)
