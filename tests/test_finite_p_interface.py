"""Finite training-set size P through the public interface: ``ts.integrate``, the
``teacherstudent ode`` command, ``algorithm.test_size``, sweeps over ``train_size`` and
``compare`` (theory/finite_p.md)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import teacherstudent as ts
from teacherstudent.cli import main
from teacherstudent.config import ConfigError, load_config
from teacherstudent.dataset import load
from teacherstudent.ode.field import VectorField

SHORT = {"run": {"alpha_max": 5.0, "n_save": 12}}


def _raw(**alg):
    return {**SHORT, "algorithm": dict(alg)}


def test_integrate_at_finite_p_records_p_and_costs_accuracy():
    inf = ts.integrate(_raw())
    ds = ts.integrate(_raw(train_size=5))
    assert ds.attrs["status"] == 0 and ds.attrs["algorithm.train_size"] == 5
    assert "algorithm.test_size" not in ds.attrs  # not set: the same as train_size
    # few-shot error: adapting on 5 samples is worse than on the population, from α = 0
    assert ds.eg.values[0] > inf.eg.values[0]
    np.testing.assert_allclose(ds.eg_pre.values[0], inf.eg_pre.values[0], rtol=1e-14)
    assert not np.allclose(ds.Q.values[-1], inf.Q.values[-1])


def test_test_size_changes_only_the_error():
    cfg5 = load_config(_raw(train_size=5))
    vf5 = VectorField.from_config(cfg5)
    vf5t = VectorField.from_config(load_config(_raw(train_size=5, test_size="inf")))
    vf_inf = VectorField.from_config(load_config(_raw()))
    vf_t2 = VectorField.from_config(load_config(_raw(test_size=2)))
    p = vf5.problem
    rng = np.random.default_rng(0)
    R = 0.3 * rng.standard_normal((3, 3))
    w = 0.5 * rng.standard_normal(3)
    a, b = vf5(p.Q0, R, w), vf5t(p.Q0, R, w)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # eg at test_size = inf is the P = inf error; eg_pre and eg_opt never depend on P
    e5, e5t, einf = vf5.errors(p.Q0, R, w), vf5t.errors(p.Q0, R, w), vf_inf.errors(p.Q0, R, w)
    assert e5t == einf
    assert e5["eg"] > einf["eg"] and e5["eg_pre"] == einf["eg_pre"]
    assert e5["eg_opt"] == einf["eg_opt"]
    # a P = inf run measured at 2 shots: the drift is that of P = inf
    for k, v in vf_t2(p.Q0, R, w).items():
        np.testing.assert_array_equal(v, vf_inf(p.Q0, R, w)[k])
    assert vf_t2.errors(p.Q0, R, w)["eg"] > e5["eg"]


@pytest.mark.parametrize(
    "alg, needle",
    [
        ({"test_size": 0}, "algorithm.test_size"),
        ({"test_size": 2.5}, "algorithm.test_size"),
        ({"train_size": -1}, "algorithm.train_size"),
        ({"name": "anil", "inner_steps": 2, "train_size": 4}, "algorithm.train_size"),
        ({"name": "maml", "inner_steps": 3, "train_size": 4}, "algorithm.train_size"),
    ],
)
def test_refusals_name_the_key(alg, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        VectorField.from_config(load_config(_raw(**alg)))


def test_allowed_combinations():
    """Only exact ANIL with inner_steps > 1 at finite P lacks a kernel (theory/finite_p.md
    §8); everything else runs, and a finite test_size is fine for every algorithm."""
    for alg in ({"name": "fo-anil", "inner_steps": 3, "train_size": 2},
                {"name": "fo-maml", "inner_steps": 2, "train_size": 1, "val_size": 1},
                {"name": "anil", "inner_steps": 1, "train_size": 1, "val_size": 3},
                {"name": "maml", "inner_steps": 1, "train_size": 7},
                {"name": "arm", "inner_steps": 4, "train_size": 1},
                {"name": "anil", "inner_steps": 2, "test_size": 3}):
        VectorField.from_config(load_config(_raw(**alg)))


def test_cli_ode_at_finite_p(tmp_path):
    out = tmp_path / "p5.nc"
    rc = main(["ode", "-o", str(out), "--no-plot", "-q", "--set", "run.alpha_max=5",
               "--set", "run.n_save=10", "--set", "algorithm.train_size=5"])
    assert rc == 0
    ds = load(out)
    assert ds.attrs["algorithm.train_size"] == 5 and "train_size = 5" in ds.attrs["config_toml"]


def test_cli_refused_combination_exits_2_with_one_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "teacherstudent.cli", "ode", "-o", str(tmp_path / "x.nc"),
         "--set", "algorithm.name=anil", "--set", "algorithm.inner_steps=2",
         "--set", "algorithm.train_size=3"],
        capture_output=True, text=True)
    assert proc.returncode == 2
    assert "algorithm.train_size" in proc.stderr and "inner_steps" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sweep_over_p_and_eta_is_one_grid(tmp_path):
    """A P × η grid (P = 2, 5, inf; two η_J) is one sweep; each point equals its single run."""
    from teacherstudent.sweep import run_sweep

    spec = {"kind": "ode", "save": ["eg", "eg_final"],
            "base": {"run": {"alpha_max": 3.0, "n_save": 8}},
            "grid": {"algorithm.train_size": [2, 5, "inf"], "algorithm.eta_J": [1.0, 3.0]}}
    ds = run_sweep(spec, workers=1, progress=False)
    assert ds.eg_final.dims == ("algorithm.train_size", "algorithm.eta_J")
    P = ds["algorithm.train_size"].values
    assert list(P[:2]) == [2, 5] and math.isinf(P[2])
    for i, p in enumerate([2, 5, "inf"]):
        for j, eta in enumerate([1.0, 3.0]):
            single = ts.integrate({"run": {"alpha_max": 3.0, "n_save": 8},
                                   "algorithm": {"train_size": p, "eta_J": eta}})
            np.testing.assert_array_equal(ds.eg.values[i, j], single.eg.values)
    # at α = 0 (the same state) the few-shot error decreases with P: ½ tr(I2 Cov(c)) ≥ 0
    assert np.all(np.diff(ds.eg.values[:, :, 0], axis=0) < 0)


def test_compare_integrates_the_theory_at_the_simulations_p():
    from teacherstudent.simulation import compare

    raw = {"model": {"K": 2, "M": 2}, "algorithm": {"train_size": 4, "eta_J": 1.0},
           "run": {"alpha_max": 0.5, "save_alpha": [0.0, 0.25, 0.5]},
           "simulation": {"device": "cpu", "test_tasks": 8}}
    ds = compare(raw, N=60, seeds=2, device="cpu")
    assert ds.attrs["ode_train_size"] == 4 and ds.attrs["ode_test_size"] == 4
    start = ds.isel(alpha=0)
    initial = {"Q": start.Q_sim.mean("seed").values, "R": start.R_sim.mean("seed").values,
               "w": start.w_sim.mean("seed").values, "T": ds.T_sim.mean("seed").values}
    cfg = load_config(raw)
    ode = ts.integrate(cfg, initial=initial)
    np.testing.assert_allclose(ds.eg_ode.values, ode.eg.values, rtol=1e-12)
    inf = ts.integrate(load_config(raw, {"algorithm.train_size": "inf"}), initial=initial)
    assert np.all(ode.eg.values > inf.eg.values)
