"""Ctrl-C with a real SIGINT, in a real process: ``ode``, ``simulate``, ``compare``, ``sweep``.

Each test starts the command (stderr on a pseudo-terminal where the command shows progress,
so the test presses Ctrl-C once the work is visibly under way), sends SIGINT, and asserts
that the process stops promptly with exit status 130, what it kept on disk, that the message
names what was kept and the command that continues the run, and that this command works.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from teacherstudent.dataset import load
from teacherstudent.ode.solvers import INTERRUPTED

CLI = [sys.executable, "-m", "teacherstudent.cli"]
STOP_WITHIN = 15.0  # s from SIGINT to exit, generous for a loaded 2-core machine
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _command(line: str) -> list[str]:
    """``teacherstudent ARGS`` as printed → an argv running this interpreter."""
    args = shlex.split(line)
    assert args[0] == "teacherstudent"
    return [*CLI, *args[1:]]


def _default_sigint() -> None:
    """In the child before exec: SIGINT as in a terminal's foreground job.

    A shell starts background jobs with SIGINT ignored and children inherit that, so a test
    run from such a job (``pytest ... &``, ``nohup``) would hand the command an ignored
    Ctrl-C; the command itself rightly leaves an ignored SIGINT alone.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(argv: list[str], cwd: Path, ready: Callable[[str], bool],
              start_timeout: float = 240.0) -> tuple[int, str, float]:
    """Run ``teacherstudent argv`` with stderr on a pty; SIGINT once ``ready(stderr so far)``.

    Returns (exit status, stderr without colour codes, seconds from SIGINT to exit).
    """
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "200"}
    proc = subprocess.Popen([*CLI, *argv], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, env=env,
                            preexec_fn=_default_sigint)
    os.close(slave)
    buf = b""
    sent = None
    deadline = time.monotonic() + start_timeout
    try:
        while True:
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the pty
                    data = b""
                if not data and proc.poll() is not None:
                    break
                buf += data
            if sent is None and ready(ANSI.sub("", buf.decode(errors="replace"))):
                proc.send_signal(signal.SIGINT)
                sent = time.monotonic()
            if proc.poll() is not None and not r:
                break
            if sent is None and time.monotonic() > deadline:
                pytest.fail("the run never started: " + buf.decode(errors="replace")[-2000:])
            if sent is not None and time.monotonic() - sent > 120:
                pytest.fail("the run did not stop after SIGINT")
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert sent is not None, "finished before the interrupt: " + buf.decode(errors="replace")
    return proc.returncode, ANSI.sub("", buf.decode(errors="replace")), time.monotonic() - sent


def _continuation(err: str, marker: str) -> str:
    m = re.search(marker + r" (teacherstudent .*?)\s*$", err, re.M)
    assert m, err
    return m.group(1)


def test_ode_ctrl_c_keeps_the_trajectory_and_extend_continues(tmp_path):
    out = tmp_path / "run.nc"
    argv = ["ode", "-o", str(out), "--no-plot", "-q", "--set", "run.solver=euler",
            "--set", "run.dt=2e-5", "--set", "run.alpha_max=500", "--set", "run.n_save=60"]
    # the progress display (α reached and ε) shows on a terminal; press when it does
    rc, err, took = interrupt(argv, tmp_path, lambda s: re.search(r"α = [0-9.]+ / 500", s)
                              is not None and "ε = " in s)
    assert rc == 130, err
    assert took < STOP_WITHIN, took
    ds = load(out)
    assert ds.attrs["status"] == INTERRUPTED and "interrupted" in ds.attrs["message"]
    reached = float(ds.attrs["alpha_reached"])
    assert 0 < reached < 500 and float(ds.alpha[-1]) == pytest.approx(reached)
    assert np.isfinite(ds.Q.values).all()
    assert f"interrupted at alpha = {reached:.6g}" in err and str(out) in err
    cmd = _continuation(err, "continue it with:")
    assert cmd == f"teacherstudent ode --extend {out} -o {out}"
    # the printed command continues the run (here with a faster solver: run.* may change)
    done = subprocess.run([*_command(cmd), "-q", "--no-plot", "--set", "run.solver=dopri5"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    full = load(out)
    assert full.attrs["status"] == 0 and float(full.alpha[-1]) == 500.0
    n = ds.sizes["alpha"]
    np.testing.assert_array_equal(full.Q.values[:n], ds.Q.values)  # every old point kept


SIM = ["--N", "100", "--seeds", "2", "--set", "run.alpha_max=40", "--set", "run.n_save=50",
       "--device", "cpu"]


def _sim_ready(s: str) -> bool:
    done = re.findall(r"(\d+)/4000 tasks", s)  # the progress bar of the simulation
    return bool(done) and 0 < int(done[-1]) < 2000


@pytest.mark.parametrize("command", ["simulate", "compare"])
def test_simulation_ctrl_c_keeps_partial_result_and_checkpoint_and_resumes(command, tmp_path):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = tmp_path / "res" / "run.nc"
    argv = [command, *SIM, "-o", str(out), "-q"]
    rc, err, took = interrupt(argv, cwd, _sim_ready)
    assert rc == 130, err
    assert took < STOP_WITHIN, took
    ckpt = out.with_suffix(".ckpt.pt")
    assert ckpt.is_file(), "the checkpoint sits next to the output"
    assert list(cwd.iterdir()) == [], "nothing in the current folder"
    part = load(out)
    assert part.attrs["status"] == INTERRUPTED
    reached = float(part.attrs["alpha_reached"])
    assert 0 < reached < 40 and int(part.tasks[-1]) <= round(reached * 100)
    assert f"interrupted at alpha = {reached:.6g}" in err
    assert str(out) in err and str(ckpt) in err
    cmd = _continuation(err, "continue with:")
    assert cmd.endswith("--resume") and f"teacherstudent {command}" in cmd
    done = subprocess.run(_command(cmd), cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    full = load(out)
    assert full.attrs["status"] == 0 and float(full.alpha[-1]) == 40.0
    if command == "simulate":  # resumed = uninterrupted, bit for bit
        ref = tmp_path / "ref.nc"
        once = subprocess.run([*CLI, command, *SIM, "-o", str(ref), "-q", "--checkpoint",
                               str(tmp_path / "ref.ckpt.pt")],
                              cwd=cwd, capture_output=True, text=True)
        assert once.returncode == 0, once.stderr
        ref_ds = load(ref)
        for v in ("Q", "R", "w", "eg"):
            np.testing.assert_array_equal(full[v].values, ref_ds[v].values)
    else:
        assert {"eg_sim", "eg_ode"} <= set(full.data_vars)
        assert np.isfinite(full.eg_ode.values).all()


SPEC = """kind = "ode"
chunk_size = 1
[base.run]
alpha_max = 300.0
n_save = 20
solver = "euler"
dt = 0.002
[grid]
"algorithm.eta_J" = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
"""


def test_sweep_ctrl_c_keeps_finished_points_and_the_same_command_resumes(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "store"

    def ready(_: str) -> bool:
        parts = store / "parts"
        return parts.is_dir() and any(parts.glob("chunk-*.nc"))

    argv = ["sweep", str(spec), "-o", str(store), "--workers", "1", "-q"]
    rc, err, took = interrupt(argv, tmp_path, ready)
    assert rc == 130, err
    assert took < 2 * STOP_WITHIN, took  # the local cluster is closed too
    kept = len(list((store / "parts").glob("chunk-*.nc")))
    assert 1 <= kept < 6
    m = re.search(r"(\d+) of 6 points are kept in", err)
    assert m and int(m.group(1)) == kept, err
    cmd = _continuation(err, "compute the rest with:")
    done = subprocess.run(_command(cmd), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ds = load(store / "sweep.nc")
    assert int(ds.attrs["n_skipped"]) == kept and int(ds.attrs["n_ok"]) == 6
