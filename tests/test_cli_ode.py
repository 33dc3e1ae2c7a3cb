"""The ``teacherstudent ode`` command and the dataset contract (spec §3)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from teacherstudent import __version__
from teacherstudent.cli import main
from teacherstudent.dataset import load


def test_ode_writes_dataset_and_figure(tmp_path, capsys):
    out = tmp_path / "run.nc"
    rc = main(["ode", "-o", str(out), "--set", "run.alpha_max=50", "--set", "run.n_save=40"])
    assert rc == 0
    assert out.exists() and out.with_suffix(".png").exists()
    ds = load(out)
    assert ds.Q.dims == ("alpha", "k", "l") and ds.R.dims == ("alpha", "k", "n")
    assert ds.w.dims == ("alpha", "k") and ds.eg.dims == ("alpha",)
    assert ds.alpha.values[0] == 0 and ds.alpha.values[-1] == 50
    assert ds.attrs["version"] == __version__
    assert ds.attrs["algorithm.eta_J"] == 3.0 and ds.attrs["run.alpha_max"] == 50.0
    assert ds.attrs["wall_time_s"] > 0 and "config_toml" in ds.attrs
    assert "reached alpha_max" in capsys.readouterr().out


def test_config_in_attrs_reproduces_the_run(tmp_path):
    out = tmp_path / "run.nc"
    main(
        [
            "ode",
            "-o",
            str(out),
            "--no-plot",
            "-q",
            "--set",
            "run.alpha_max=30",
            "--set",
            "algorithm.val_size=2",
        ]
    )
    ds = load(out)
    cfg_file = tmp_path / "again.toml"
    cfg_file.write_text(ds.attrs["config_toml"])
    out2 = tmp_path / "again.nc"
    main(["ode", str(cfg_file), "-o", str(out2), "--no-plot", "-q"])
    np.testing.assert_array_equal(load(out2).R.values, ds.R.values)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--set", "model.K=0"], "model.K"),
        (["--set", "algorithm.eta_J=-2"], "algorithm.eta_J"),
        (["--set", "model.bogus=1"], "model.bogus"),
        (["/no/such/file.toml"], "does not exist"),
        (["--set", "init.Q=0.001", "--set", "init.R=1.0"], "init.R"),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path, args, needle):
    proc = subprocess.run(
        [sys.executable, "-m", "teacherstudent.cli", "ode", "-o", str(tmp_path / "x.nc"), *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_diverging_run_exits_nonzero_and_keeps_data(tmp_path):
    out = tmp_path / "div.nc"
    rc = main(
        [
            "ode",
            "-o",
            str(out),
            "--no-plot",
            "-q",
            "--set",
            "model.activation=linear",
            "--set",
            "model.K=1",
            "--set",
            "model.M=1",
            "--set",
            "algorithm.name=arm",
            "--set",
            "algorithm.eta_J=3",
            "--set",
            "algorithm.eta_0=0",
            "--set",
            "algorithm.val_size=1",
            "--set",
            "tasks.head_mean=1.0",
            "--set",
            "tasks.head_cov=0.0",
            "--set",
            "init.w=[1.0]",
        ]
    )
    assert rc == 1
    ds = load(out)
    assert ds.attrs["status"] < 0 and "at alpha" in ds.attrs["message"]
    assert np.isfinite(ds.Q.values).all()


@pytest.mark.parametrize(
    "command", ["ode", "simulate", "compare", "sweep", "plot", "linear", "reproduce"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: teacherstudent " + command in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
