"""A non-editable install runs without the checkout: `teacherstudent ode` from a folder
outside the repository, and `reproduce` refuses clearly when no studies are there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_runs_outside_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    site = tmp_path / "site"
    wheel = next(wheels.glob("teacherstudent-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    where = subprocess.run(
        [sys.executable, "-c", "import teacherstudent; print(teacherstudent.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site)  # the installed copy, not the checkout
    run = subprocess.run([sys.executable, "-m", "teacherstudent", "ode", "-o", "out.nc", "-q",
                          "--set", "run.alpha_max=50"], cwd=work, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert (work / "out.nc").exists() and (work / "out.png").exists()
    rep = subprocess.run([sys.executable, "-m", "teacherstudent", "reproduce", "--list"], cwd=work,
                         env=env, capture_output=True, text=True)
    assert rep.returncode == 2
    assert "simulations" in rep.stderr and "Traceback" not in rep.stderr
