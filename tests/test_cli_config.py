"""``teacherstudent config``: the defaults, a filled-in template, a key explained."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tomllib

from teacherstudent.cli import main
from teacherstudent.config import CHECKS, DEFAULTS, load_config
from teacherstudent.linear import config as linear_config


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["config", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_defaults_print_as_toml_that_loads_back_to_the_defaults(capsys):
    rc, out, _ = _run(capsys)
    assert rc == 0
    raw = tomllib.loads(out)
    assert list(raw) == list(CHECKS)
    assert load_config(raw) == load_config(None)
    for table, keys in DEFAULTS.items():  # every key with a default is written out
        for key, value in keys.items():
            if value is not None:
                assert key in raw[table], f"{table}.{key}"
    assert "# eta_0 = ...  (not set by default)" in out


def test_linear_defaults(capsys):
    rc, out, _ = _run(capsys, "--linear")
    assert rc == 0
    raw = tomllib.loads(out)
    assert linear_config.load_config(raw) == linear_config.load_config(None)


@pytest.mark.parametrize("linear", [False, True])
def test_template_is_commented_complete_and_loads_to_the_defaults(capsys, tmp_path, linear):
    path = tmp_path / "run.toml"
    rc, out, _ = _run(capsys, "--template", str(path), *(["--linear"] if linear else []))
    assert rc == 0 and str(path) in out
    text = path.read_text(encoding="utf-8")
    if linear:
        assert linear_config.load_config(path) == linear_config.load_config(None)
        assert "principal-angle distance" in text
    else:
        assert load_config(path) == load_config(None)
        assert "INNER learning rate of the head" in text  # the meaning of algorithm.eta_w
        assert "#   float (finite, ≥ 0)" in text  # its type and constraint
    assert sum(line.startswith("# ") for line in text.splitlines()) > 40


def test_template_never_replaces_a_file(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("precious = 1\n")
    rc, _, err = _run(capsys, "--template", str(path))
    assert rc == 2 and "never replaced" in err
    assert path.read_text() == "precious = 1\n"
    rc, _, err = _run(capsys, "--template", str(tmp_path / "no" / "such" / "dir.toml"))
    assert rc == 2 and "does not exist" in err


def test_explain_a_key_a_table_and_an_unknown_key(capsys):
    rc, out, _ = _run(capsys, "--explain", "algorithm.eta_w")
    assert rc == 0
    assert out.splitlines()[0] == "algorithm.eta_w"
    assert "default:    9.0" in out and "type:       float (finite, ≥ 0)" in out
    rc, out, _ = _run(capsys, "--explain", "run")
    assert rc == 0 and all(f"run.{k}\n" in out for k in CHECKS["run"])
    rc, out, _ = _run(capsys, "--explain", "linear.alpha")
    assert rc == 0 and "inner (adaptation)" in out
    rc, _, err = _run(capsys, "--explain", "algorithm.eta")
    assert rc == 2 and "known keys of [algorithm]" in err and "\n" == err[-1]
    rc, _, err = _run(capsys, "--explain", "nope")
    assert rc == 2 and "unknown table [nope]" in err


def test_top_level_help_points_to_the_config_command():
    out = subprocess.run([sys.executable, "-m", "teacherstudent", "--help"], check=True,
                         capture_output=True, text=True).stdout
    assert "config" in out and "--explain TABLE.KEY" in out
    out = subprocess.run([sys.executable, "-m", "teacherstudent", "config", "--help"],
                         check=True, capture_output=True, text=True).stdout
    assert "--template FILE" in out and "--explain TABLE.KEY" in out
