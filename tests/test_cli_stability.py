"""``teacherstudent stability``: the plateau's fixed point, spectrum and predicted escape."""

from __future__ import annotations

import json
import math

import pytest

from teacherstudent.cli import main
from teacherstudent.outputs import is_result


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["stability", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_default_run_prints_rate_and_escape_and_writes_json(capsys, tmp_path):
    path = tmp_path / "st.json"
    rc, out, err = _run(capsys, "--set", "run.alpha_max=60", "--N", "250,1000", "--json", str(path))
    assert rc == 0, err
    assert "unspecialised, unstable" in out
    assert "escape rate        0.405285" in out  # 4/π²
    data = json.loads(path.read_text())
    assert data["rate"] == pytest.approx(4 / math.pi**2, abs=1e-10)
    assert data["alpha_escape"] == pytest.approx(data["alpha_escape_integrated"], rel=5e-3)
    a250, a1000 = data["alpha_escape_N"]["250"], data["alpha_escape_N"]["1000"]
    assert a1000 - a250 == pytest.approx(math.log(4) / (2 * data["rate"]))
    assert data["state"]["zero_modes"] == 6
    assert is_result(path)  # so that --force may replace it
    # an existing result is replaced only with --force
    rc, _, err = _run(capsys, "--no-integrate", "--json", str(path))
    assert rc == 2 and "--force" in err
    rc, out, _ = _run(capsys, "--no-integrate", "--json", str(path), "--force")
    assert rc == 0 and "α* integrated      nan" in out


def test_foreign_file_is_never_replaced(capsys, tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("{}")
    rc, _, err = _run(capsys, "--no-integrate", "--json", str(path), "--force")
    assert rc == 2 and "notes.json" in err
    assert path.read_text() == "{}"


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--set", "algorithm.eta_J=-1"], "algorithm.eta_J"),
        (["--N", "0"], "--N"),
        (["--N", "abc"], "--N"),
        (["--delta", "0"], "--delta"),
        (["--set", "model.K=0"], "model.K"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(capsys, argv, word):
    rc, out, err = _run(capsys, "--no-integrate", *argv)
    assert rc == 2
    assert word in err and "Traceback" not in err
    assert out == ""


def test_saddles_prints_the_stages_of_a_hierarchical_teacher(capsys, tmp_path):
    path = tmp_path / "saddles.json"
    rc, out, err = _run(capsys, "--set", "tasks.head_cov=[2.0, 1.0, 0.5]", "--set",
                        "run.alpha_max=150", "--saddles", "--json", str(path))
    assert rc == 0, err
    assert "saddle sequence" in out and "final              specialised" in out
    data = json.loads(path.read_text())
    stages = data["saddles"]["stages"]
    assert [s["learnt"] for s in stages] == [[], [0], [0, 1]]
    for s in stages:
        assert s["alpha_escape"] == pytest.approx(s["alpha_escape_integrated"], rel=2e-3)


@pytest.mark.parametrize(
    "argv, word",
    [(["--saddles", "--no-integrate"], "--no-integrate"),
     (["--saddles", "--set", "tasks.head_mean=0.5"], "head_mean")],
)
def test_saddles_bad_input_is_one_message(capsys, argv, word):
    rc, out, err = _run(capsys, "--set", "run.alpha_max=30", *argv)
    assert rc == 2 and word in err and "Traceback" not in err
