"""`teacherstudent plot` and `teacherstudent reproduce` (figures, registry, one quick study)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from teacherstudent import plotting, studies
from teacherstudent.cli import plot as plot_cli
from teacherstudent.cli import reproduce
from teacherstudent.config import ConfigError
from teacherstudent.dataset import save

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli(argv: list[str]) -> int:
    """Run ``teacherstudent plot|reproduce ARGS`` in-process the way teacherstudent.cli does
    (ConfigError -> status 2), without importing every other command (torch, dask)."""
    import argparse
    import sys

    mod = {"plot": plot_cli, "reproduce": reproduce}[argv[0]]
    parser = argparse.ArgumentParser(prog=f"teacherstudent {argv[0]}")
    mod.add_arguments(parser)
    try:
        return int(mod.main(parser.parse_args(argv[1:])) or 0)
    except ConfigError as exc:
        print(f"teacherstudent {argv[0]}: error: {exc}", file=sys.stderr)
        return 2


def test_commands_are_registered_in_the_cli():
    from teacherstudent.cli import COMMANDS

    assert COMMANDS["plot"][0] == "teacherstudent.cli.plot"
    assert COMMANDS["reproduce"][0] == "teacherstudent.cli.reproduce"
    for mod in (plot_cli, reproduce):
        assert mod.HELP and callable(mod.add_arguments) and callable(mod.main)


def _is_png(path) -> bool:
    return path.exists() and path.stat().st_size > 5000 and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def ode_nc(tmp_path_factory):
    import teacherstudent as ts

    ds = ts.integrate(None, **{"run.alpha_max": 40.0, "run.n_save": 80, "run.eg_threshold": 0.01})
    return save(ds, tmp_path_factory.mktemp("ode") / "small.nc")


def test_plot_ode_result_writes_png_and_pdf(ode_nc, tmp_path):
    out = tmp_path / "fig.png"
    assert cli(["plot", str(ode_nc), "-o", str(out), "--alpha", "5", "20", "40", "--pdf"]) == 0
    assert _is_png(out)
    assert out.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"


def test_plot_default_output_next_to_result(ode_nc):
    assert cli(["plot", str(ode_nc)]) == 0
    assert _is_png(ode_nc.with_suffix(".png"))


def _compare_ds(seeds=3, A=30, K=3, M=3):
    rng = np.random.default_rng(1)
    alpha = np.linspace(0, 30, A)
    eg_ode = (1 / 6) / (1 + (alpha / 15) ** 6) + 1e-6
    R_ode = np.zeros((A, K, M))
    for k in range(K):
        R_ode[:, k, (k + 1) % M] = (-1) ** k * np.tanh(alpha / 15) ** 4
    Q_ode = np.broadcast_to(np.eye(K) * 0.5, (A, K, K)) * (1 + np.tanh(alpha / 15) ** 4)[:, None,
                                                                                        None]
    noise = 1 + 0.05 * rng.standard_normal((seeds, A))
    return xr.Dataset(
        {
            "eg_ode": ("alpha", eg_ode),
            "eg_sim": (("seed", "alpha"), eg_ode[None] * noise),
            "R_ode": (("alpha", "k", "n"), R_ode),
            "R_sim": (("seed", "alpha", "k", "n"),
                      R_ode[None] + 0.02 * rng.standard_normal((seeds, A, K, M))),
            "Q_ode": (("alpha", "k", "l"), Q_ode),
            "Q_sim": (("seed", "alpha", "k", "l"),
                      Q_ode[None] + 0.01 * rng.standard_normal((seeds, A, K, K))),
        },
        coords={"alpha": alpha, "seed": np.arange(seeds)},
        attrs={"algorithm.name": "fo-anil", "model.K": K, "model.M": M, "simulation.N": 500},
    )


def test_plot_compare_detects_variables(tmp_path):
    ds = _compare_ds()
    assert plotting.detect_kind(ds) == "compare"
    path = save(ds, tmp_path / "cmp.nc")
    assert cli(["plot", str(path), "-o", str(tmp_path / "cmp.png")]) == 0
    assert _is_png(tmp_path / "cmp.png")
    # only the error pair present (no overlaps): still a figure
    only_eg = ds[["eg_sim", "eg_ode"]]
    assert plotting.detect_kind(only_eg) == "compare"
    fig = plotting.plot_compare(only_eg, tmp_path / "eg_only.png")
    assert isinstance(fig, Figure)
    assert _is_png(tmp_path / "eg_only.png")


def test_plot_sweep_and_linear_kinds(tmp_path):
    alpha = np.logspace(-2, 2.5, 50)
    eJ, ew = np.array([0.5, 1, 2, 4]), np.array([3.0, 9.0, 27.0])
    eg = (1 / 6) / (1 + (alpha[None, None, :] * eJ[:, None, None] * ew[None, :, None] / 300) ** 4)
    sweep = xr.Dataset({"eg": (("eta_J", "eta_w", "alpha"), eg)},
                       coords={"eta_J": eJ, "eta_w": ew, "alpha": alpha})
    assert plotting.detect_kind(sweep) == "sweep"
    p = save(sweep, tmp_path / "sweep.nc")
    assert cli(["plot", str(p), "--kind", "sweep"]) == 0
    assert _is_png(p.with_suffix(".png"))
    one = sweep.isel(eta_w=1)
    fig = plotting.plot_sweep(one, tmp_path / "sweep1.png")
    assert isinstance(fig, Figure)
    assert _is_png(tmp_path / "sweep1.png")

    rounds = np.arange(50)
    dist = np.exp(-rounds[None, None, :] * np.array([0.05, 0.1])[:, None, None]) * np.ones(
        (2, 3, 50))
    lin = xr.Dataset({"dist": (("algorithm", "seed", "round"), dist)},
                     coords={"algorithm": ["arm", "fo-anil"], "round": rounds})
    assert plotting.detect_kind(lin) == "linear"
    p = save(lin, tmp_path / "lin.nc")
    assert cli(["plot", str(p)]) == 0
    assert _is_png(p.with_suffix(".png"))


def test_plot_grid_summary_without_alpha(tmp_path):
    eJ, ew = np.array([0.3, 1.0, 3.0]), np.array([3.0, 9.0, 27.0, 81.0])
    th = 67.5 / eJ[:, None] * np.ones((3, 4))
    th[:, 0] = np.nan  # never reached
    ds = xr.Dataset({"alpha_threshold": (("eta_J", "eta_w"), th),
                     "min_rate": ("K", np.array([0.15, 0.3, 0.6]))},
                    coords={"eta_J": eJ, "eta_w": ew, "K": [3, 6, 12]})
    assert plotting.detect_kind(ds) == "sweep"
    p = save(ds, tmp_path / "grid.nc")
    assert cli(["plot", str(p)]) == 0
    assert _is_png(p.with_suffix(".png"))


def test_plot_bad_input_exits_2(tmp_path, capsys):
    assert cli(["plot", str(tmp_path / "missing.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err
    odd = save(xr.Dataset({"x": ((), 1.0), "name": ("i", ["a", "b"])}), tmp_path / "odd.nc")
    assert cli(["plot", str(odd)]) == 2
    assert "cannot tell" in capsys.readouterr().err


def test_reproduce_list(capsys):
    assert cli(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name in studies.STUDIES:
        assert name in out
    assert {"default-run", "lr-phase-diagram", "overparameterization", "task-variability",
            "inner-steps", "algorithms"} <= set(studies.STUDIES)


def test_reproduce_unknown_study_exits_2(capsys):
    assert cli(["reproduce", "no-such-study"]) == 2
    assert "unknown study" in capsys.readouterr().err


def test_study_files_are_valid():
    from teacherstudent.config import apply_overrides, load_config

    load_config(studies.simulations_dir() / "default_run.toml")
    for f in ("lr_phase_diagram.toml", "overparameterization.toml", "task_variability.toml",
              "inner_steps.toml", "algorithms.toml"):
        spec = studies.read_study(f)
        assert spec["kind"] == "ode"
        first = {k: v[0] for k, v in spec["grid"].items()}
        load_config(apply_overrides(spec["base"], first))
    try:  # they are sweep specs too (when the sweep module is there)
        from teacherstudent.sweep.spec import load_spec
    except ImportError:
        return
    for f in ("lr_phase_diagram.toml", "task_variability.toml", "algorithms.toml"):
        assert load_spec(studies.simulations_dir() / f).shape


def test_missing_simulations_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the studies are looked for in ./simulations
    with pytest.raises(ConfigError, match="simulations"):
        studies.simulations_dir()


def test_reproduce_quick_study_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv("TEACHERSTUDENT_QUICK", raising=False)
    out = tmp_path / "figs"
    assert cli(["reproduce", "inner-steps", "--quick", "--out", str(out)]) == 0
    assert _is_png(out / "fig5-inner-steps.png")
    assert (out / "fig5-inner-steps.pdf").exists()
    summ = json.loads((out / "data" / "inner_steps.json").read_text())
    rows = {r["s"]: r for r in summ["eta_w_9"]}
    assert set(rows) == {1, 2}
    # s = 1 is the default run: it reaches ε ≤ 0.01 at α ≈ 22.5 and specializes fully
    assert rows[1]["alpha_threshold"] == pytest.approx(22.49, abs=0.05)
    assert rows[1]["S_final"] == pytest.approx(1.0, abs=1e-4)
    import os

    assert "TEACHERSTUDENT_QUICK" not in os.environ
