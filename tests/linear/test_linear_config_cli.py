"""Configuration validation, the run() contract, the CLI backend, and the study files."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import xarray as xr

import teacherstudent
import teacherstudent.linear as L
from teacherstudent.cli import linear as cli
from teacherstudent.config import ConfigError
from teacherstudent.linear.config import ALGORITHMS, CHECKS, DEFAULTS, LORA_ALGORITHMS

SMALL = {"d": 8, "k": 2, "n_tasks": 4, "rounds": 5, "seeds": 2, "test_tasks": 4}


# --------------------------------------------------------------------------- config
def test_defaults_cover_every_checked_key():
    assert set(DEFAULTS) == set(CHECKS)
    for key in ("d", "k", "k_model", "n_tasks", "m_in", "m_out", "mu", "head_mean", "noise",
                "alpha", "beta", "inner_steps", "tau", "rounds", "algorithms", "seeds", "init",
                "task_pool"):
        assert key in CHECKS  # the spec's keys


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"linear": {"foo": 1}}, "linear.foo"),
        ({"linear": {"alpha": -0.1}}, "linear.alpha"),
        ({"linear": {"beta": -1}}, "linear.beta"),
        ({"linear": {"mu": -0.5}}, "linear.mu"),
        ({"linear": {"noise": -1.0}}, "linear.noise"),
        ({"linear": {"k": 6, "d": 5}}, "linear.k"),
        ({"linear": {"k": 3, "k_model": 2}}, "linear.k_model"),
        ({"linear": {"algorithms": ["anil", "sgd"]}}, "linear.algorithms"),
        ({"linear": {"algorithms": ["anil", "anil"]}}, "linear.algorithms"),
        ({"linear": {"m_in": 0}}, "linear.m_in"),
        ({"linear": {"m_out": "many"}}, "linear.m_out"),
        ({"linear": {"init": "zeros"}}, "linear.init"),
        ({"linear": {"task_pool": 3, "n_tasks": 5}}, "linear.task_pool"),
        ({"linear": {"head_mean": [1.0, 2.0], "k": 3}}, "linear.head_mean"),
        ({"linear": {"seeds": 0}}, "linear.seeds"),
        ({"linear": {"imaml_lambda": 0.0}}, "linear.imaml_lambda"),
        ({"linear": {"tau": 0}}, "linear.tau"),
        ({"model": {"K": 3}}, "[model]"),
    ],
)
def test_bad_input_is_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        L.load_config(table)


def test_load_config_resolves_and_is_idempotent(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[linear]\nd = 10\nk = 2\nm_in = "inf"\nm_out = 7\nseeds = [3, 5]\n'
                    'algorithms = "anil"\n')
    cfg = L.load_config(path, overrides={"linear.mu": 0.5, "beta": 0.1})
    p = cfg["linear"]
    assert p["k_model"] == 2 and math.isinf(p["m_in"]) and p["m_out"] == 7
    assert p["mu"] == 0.5 and p["beta"] == 0.1 and p["algorithms"] == ["anil"]
    assert L.load_config(cfg) == cfg
    with pytest.raises(ConfigError, match="does not exist"):
        L.load_config(tmp_path / "missing.toml")


# --------------------------------------------------------------------------- run()
def test_run_contract_and_attrs():
    ds = L.run({"linear": {**SMALL, "algorithms": list(ALGORITHMS), "m_in": 5, "m_out": 6,
                           "k_model": 3, "record_every": 2}})
    assert ds.dist.dims == ("algorithm", "seed", "round")
    for var in ("dist", "dist2", "dist_cover", "cond", "head_norm", "post_error",
                "post_error_full"):
        assert ds[var].dims == ("algorithm", "seed", "round")
    assert list(ds.algorithm.values) == list(ALGORITHMS)
    assert list(ds["round"].values) == [0, 2, 4, 5]
    np.testing.assert_allclose(ds.dist2, ds.dist**2)
    rep = [a for a in ALGORITHMS if a not in LORA_ALGORITHMS]
    assert np.allclose(ds.dist.sel(algorithm=rep), 1.0)  # k' > k: the distance is 1
    assert np.isfinite(ds.lora_error.sel(algorithm=list(LORA_ALGORITHMS))).all()
    assert (ds.dist_cover.isel(round=0).sel(algorithm=rep) < 1).all()
    assert ds.attrs["version"] == teacherstudent.__version__
    assert ds.attrs["wall_time_s"] > 0
    assert ds.attrs["linear.d"] == 8 and ds.attrs["linear.algorithms"].startswith("[")
    assert ds.attrs["seeds"] == "[0, 1]"


def test_seeds_are_independent_and_reproducible():
    a = L.run({"linear": {**SMALL, "seeds": [0, 1, 2], "algorithms": ["anil"]}})
    b = L.run({"linear": {**SMALL, "seeds": [2], "algorithms": ["anil"]}})
    np.testing.assert_array_equal(a.dist.sel(seed=2).values, b.dist.sel(seed=2).values)
    assert not np.allclose(a.dist.sel(seed=0), a.dist.sel(seed=1))


def test_algorithms_see_the_same_initial_condition():
    ds = L.run({"linear": {**SMALL, "algorithms": ["arm", "maml", "fedavg"]}})
    first = ds.dist.isel(round=0).values
    assert np.all(first == first[0])


def test_near_initialisation_has_the_requested_distance():
    ds = L.run({"linear": {**SMALL, "init": "near", "init_dist": 0.3, "rounds": 1,
                           "algorithms": ["arm"]}})
    np.testing.assert_allclose(ds.dist.isel(round=0), 0.3, rtol=1e-12)


def test_divergence_is_recorded_not_raised():
    ds = L.run({"linear": {**SMALL, "beta": 50.0, "rounds": 30, "algorithms": ["arm", "anil"]}})
    assert (ds.diverged_round > 0).any()
    div = ds.diverged_round.values
    for a, s in zip(*np.nonzero(div > 0), strict=True):
        after = ds.dist.isel(algorithm=a, seed=s).sel(round=slice(div[a, s], None))
        assert np.isnan(after).all()


# --------------------------------------------------------------------------- CLI
def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_writes_netcdf_with_contract_variables(tmp_path, capsys):
    cfg = tmp_path / "lin.toml"
    cfg.write_text('[linear]\nd = 8\nk = 2\nn_tasks = 4\nrounds = 6\nseeds = 2\n'
                   'algorithms = ["arm", "anil"]\n')
    out = tmp_path / "res" / "lin.nc"
    rc = cli.main(_parse([str(cfg), "-o", str(out), "--set", "mu=0.5",
                          "--set", "linear.beta=0.1"]))
    assert rc == 0
    assert out.exists() and out.with_suffix(".png").exists()
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds.dist.dims == ("algorithm", "seed", "round")
    assert {"dist2", "cond", "head_norm", "post_error"} <= set(ds.data_vars)
    assert ds.attrs["linear.mu"] == 0.5 and ds.attrs["linear.beta"] == 0.1
    assert "version" in ds.attrs and "wall_time_s" in ds.attrs
    ds.close()
    text = capsys.readouterr().out
    assert "anil" in text and "arm" in text


def test_cli_no_plot_and_bad_input(tmp_path):
    out = tmp_path / "x.nc"
    assert cli.main(_parse(["-o", str(out), "--no-plot", "-q", "--set", "rounds=2",
                            "--set", "d=6", "--set", "seeds=1"])) == 0
    assert out.exists() and not out.with_suffix(".png").exists()
    with pytest.raises(ConfigError, match="linear.bogus"):
        cli.main(_parse(["-o", str(out), "--set", "bogus=1"]))
    with pytest.raises(ConfigError, match="linear.alpha"):
        cli.main(_parse(["-o", str(out), "--set", "alpha=-2"]))


def test_main_cli_exit_status_two_on_bad_key(tmp_path):
    from teacherstudent.cli import main

    assert main(["linear", "-o", str(tmp_path / "y.nc"), "--set", "nope=3"]) == 2
