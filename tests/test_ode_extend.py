"""Extending a finished ODE run (``teacherstudent ode --extend``, :func:`ode.extend`).

The oracle is the uninterrupted run: the ODEs are autonomous, so integrating to α₀ and then
from the state at α₀ to α_max is the same computation (fixed-step methods take the very same
steps when α₀ is a multiple of dt; dopri5 agrees to its tolerance).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from teacherstudent.cli import main
from teacherstudent.config import ConfigError
from teacherstudent.dataset import load
from teacherstudent.ode import extend, integrate

LINEAR = {"run.save_spacing": "linear"}


@pytest.mark.parametrize(("solver", "atol"), [("euler", 1e-13), ("rk4", 1e-13),
                                              ("dopri5", 1e-8)])
def test_extension_equals_the_uninterrupted_run(solver, atol):
    full = integrate(None, **LINEAR, **{"run.solver": solver, "run.alpha_max": 60.0,
                                        "run.n_save": 121, "run.eg_threshold": 2e-3})
    half = integrate(None, **LINEAR, **{"run.solver": solver, "run.alpha_max": 30.0,
                                        "run.n_save": 61, "run.eg_threshold": 2e-3})
    assert np.isnan(half.attrs["alpha_threshold"])  # the threshold is crossed after α₀
    ext = extend(half, **{"run.alpha_max": 60.0, "run.n_save": 121})
    np.testing.assert_array_equal(ext["alpha"].values, full["alpha"].values)
    for v in ("Q", "R", "w", "eg", "eg_pre", "eg_opt"):
        np.testing.assert_allclose(ext[v].values, full[v].values, rtol=0, atol=atol, err_msg=v)
    assert ext.attrs["alpha_threshold"] == pytest.approx(full.attrs["alpha_threshold"],
                                                         abs=1e-6)
    assert ext.attrs["run.alpha_max"] == 60.0 and ext.attrs["extended_at_alpha"] == 30.0
    assert ext.attrs["nfev"] > half.attrs["nfev"]
    np.testing.assert_array_equal(ext["T"].values, full["T"].values)


def test_cli_extends_in_place_and_refuses_bad_requests(tmp_path):
    out = tmp_path / "run.nc"
    assert main(["ode", "-o", str(out), "-q", "--no-plot", "--set", "run.alpha_max=20"]) == 0
    first = load(out)
    assert main(["ode", "--extend", str(out), "-o", str(out), "-q",
                 "--set", "run.alpha_max=40"]) == 0
    ext = load(out)
    assert ext["alpha"].values[-1] == 40.0 and out.with_suffix(".png").exists()
    n = first.sizes["alpha"]
    np.testing.assert_array_equal(ext["eg"].values[:n], first["eg"].values)  # kept as is
    assert np.all(np.diff(ext["alpha"].values) > 0)

    def refused(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "teacherstudent.cli", "ode", *args,
                               "-o", str(tmp_path / "x.nc")], capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        return proc.stderr

    assert "run.alpha_max" in refused("--extend", str(out), "--set", "run.alpha_max=30")
    assert "--extend" in refused("--extend", str(out), str(tmp_path / "c.toml"))
    assert "no such file" in refused("--extend", str(tmp_path / "none.nc"))
    (tmp_path / "junk.nc").write_text("not netCDF")
    assert "cannot read" in refused("--extend", str(tmp_path / "junk.nc"))
    assert "algorithm.eta_X" in refused("--extend", str(out), "--set", "run.alpha_max=80",
                                        "--set", "algorithm.eta_X=1")


def test_a_stopped_run_is_not_extended():
    div = integrate(None, **{"run.solver": "euler", "run.dt": 1.0, "algorithm.eta_w": 200.0,
                             "run.alpha_max": 60.0})
    assert div.attrs["status"] < 0
    with pytest.raises(ConfigError, match="stopped"):
        extend(div, **{"run.alpha_max": 120.0})
    with pytest.raises(ConfigError, match="not a dataset"):
        extend(div.assign_attrs(kind="simulation"), **{"run.alpha_max": 120.0})
