"""`teacherstudent plot` on a plain simulation result (seed dimension, T measured per seed)."""

from __future__ import annotations

from teacherstudent.cli import main


def test_plot_of_a_simulation_result(tmp_path):
    out = tmp_path / "sim.nc"
    args = ["simulate", "--N", "100", "--seeds", "2", "-o", str(out), "--set", "run.alpha_max=1",
            "--set", "run.n_save=10", "--set", "algorithm.val_size=1"]
    assert main(args) == 0
    png = tmp_path / "sim.png"
    assert main(["plot", str(out), "-o", str(png)]) == 0
    assert png.stat().st_size > 10_000
