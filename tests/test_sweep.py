"""Sweeps on Dask (issue 7): equality with single runs, fault tolerance, resume, validation.

Uses one real ``LocalCluster`` of 2 worker processes for the module (and two CLI runs in
subprocesses with their own cluster for the interrupt/resume test).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from teacherstudent.config import ConfigError, load_config
from teacherstudent.ode import integrate
from teacherstudent.sweep import (
    alpha_to_threshold,
    load_spec,
    phase_diagram,
    plateau,
    plateau_length,
    run_sweep,
)
from teacherstudent.sweep.store import INVALID, Store
from teacherstudent.sweep.tasks import ERROR, WarmUp, worker_stats

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BOOKKEEPING = ("point_time", "computed_at", "worker", "worker_seq")

# Small but non-trivial: diverging points (euler, dt = 1, eta_w = 200 loses positive
# definiteness at alpha ~ 1) next to dopri5 runs that reach the threshold.
SMALL = {
    "kind": "ode",
    "base": {"run": {"alpha_max": 60.0, "n_save": 200, "dt": 1.0, "eg_threshold": 1e-2}},
    "grid": {
        "algorithm.eta_J": [1.0, 3.0],
        "algorithm.eta_w": [9.0, 200.0],
        "run.solver": ["dopri5", "euler"],
    },
}


def slow_spec(n_j: int, n_w: int, chunk: int = 2) -> dict:
    """~0.05-0.1 s points (fixed-step euler at dt = 0.01 to alpha = 450)."""
    return {
        "kind": "ode",
        "chunk_size": chunk,
        "save": ["eg", "eg_final", "alpha_threshold"],
        "base": {"run": {"solver": "euler", "dt": 0.01, "n_save": 40}},
        "grid": {
            "algorithm.eta_J": [round(1.0 + 0.25 * i, 3) for i in range(n_j)],
            "algorithm.eta_w": [round(2.0 + 0.5 * i, 3) for i in range(n_w)],
        },
    }


SLOW = slow_spec(5, 4)  # 20 points in 10 chunks: the fault-tolerance tests


def _toml(spec: dict) -> str:
    from teacherstudent.config import _toml_value

    lines = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    for table in ("base", "grid"):
        if table == "base":
            for sub, values in spec["base"].items():
                lines.append(f"[base.{sub}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        else:
            lines.append("[grid]")
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in spec["grid"].items()]
    return "\n".join(lines) + "\n"


def _data(ds: xr.Dataset) -> xr.Dataset:
    """The dataset without per-run bookkeeping (timings, worker ids) and attrs."""
    out = ds.drop_vars([v for v in BOOKKEEPING if v in ds])
    out.attrs = {}
    return out


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()




@pytest.fixture(scope="module")
def slow_reference(client):
    """The fault-tolerance sweep run undisturbed (in memory)."""
    return run_sweep(SLOW, scheduler=client, progress=False)


@pytest.fixture(scope="module")
def small(client):
    client.register_plugin(WarmUp("ode"))
    before = client.run(worker_stats)
    ds = run_sweep(SMALL, scheduler=client, progress=False)
    after = client.run(worker_stats)
    return ds, before, after


# --------------------------------------------------------------------------- equality
def test_sweep_equals_single_runs_bitwise(small):
    ds, _, _ = small
    assert ds["status"].dims == ("algorithm.eta_J", "algorithm.eta_w", "run.solver")
    assert list(ds["run.solver"].values) == ["dopri5", "euler"]
    assert ds.attrs["n_computed"] == 8 and ds.attrs["n_skipped"] == 0
    n_diverged = 0
    for eJ in SMALL["grid"]["algorithm.eta_J"]:
        for ew in SMALL["grid"]["algorithm.eta_w"]:
            for solver in SMALL["grid"]["run.solver"]:
                over = {"algorithm.eta_J": eJ, "algorithm.eta_w": ew, "run.solver": solver}
                ref = integrate(load_config(SMALL["base"], over))
                pt = ds.sel({"algorithm.eta_J": eJ, "algorithm.eta_w": ew, "run.solver": solver})
                assert int(pt["status"]) == ref.attrs["status"]
                assert str(pt["message"].values) == ref.attrs["message"]
                n = int(np.searchsorted(ds["alpha"].values, ref.attrs["alpha_reached"], "right"))
                on_grid = np.isin(ref["alpha"].values, ds["alpha"].values)
                assert np.array_equal(ref["alpha"].values[on_grid], ds["alpha"].values[:n])
                for name in ("eg", "eg_pre", "eg_opt", "Q", "R", "w"):
                    got = pt[name].values[:n]
                    assert np.array_equal(got, ref[name].values[on_grid]), name
                    assert np.all(np.isnan(pt[name].values[n:])), name
                for name in ("alpha_threshold", "alpha_reached"):
                    assert np.array_equal(float(pt[name]), ref.attrs[name], equal_nan=True)
                assert float(pt["eg_final"]) == float(ref["eg"][-1])
                n_diverged += ref.attrs["status"] < 0
    assert n_diverged >= 1  # the failed point is recorded, the sweep went on
    assert ds.attrs["n_failed"] == n_diverged


def test_store_file_matches_returned_dataset(tmp_path, client):
    ds = run_sweep(SMALL, store=tmp_path / "s", scheduler=client, progress=False)
    on_disk = xr.open_dataset(tmp_path / "s" / "sweep.nc", engine="h5netcdf").load()
    xr.testing.assert_identical(_data(on_disk), _data(ds))
    assert "algorithm.eta_J" in on_disk.coords
    again = run_sweep(SMALL, store=tmp_path / "s", scheduler=client, progress=False)
    assert again.attrs["n_computed"] == 0 and again.attrs["n_skipped"] == 8
    xr.testing.assert_identical(_data(again), _data(ds))


def test_numba_loaded_once_per_worker(small):
    """The plugin loads the kernels once per worker; no point compiles."""
    ds, before, after = small
    for addr, stats in before.items():
        assert "ode" in stats["warm"]
        # the warm-up loaded numba's kernels, or ran the compiled module (no numba overloads)
        assert stats["numba_overloads"] >= 1 or stats["ode_kernels"] == "ahead-of-time"
        assert after[addr]["numba_overloads"] == stats["numba_overloads"]  # no compilation
        assert after[addr]["warm_up_s"] == stats["warm_up_s"]  # warmed once, not per point
    assert sum(a["points"] - b["points"] for a, b in zip(after.values(), before.values(),
                                                        strict=True)) == 8
    # Each worker numbers its points 1, 2, ...: the points of this sweep continue each
    # worker's count where `before` left it (other tests may have used the cluster first),
    # so every point ran on a warmed worker that compiled nothing.
    seq_by_pid: dict[int, list[int]] = {}
    for w, q in zip(ds["worker"].values.ravel(), ds["worker_seq"].values.ravel(), strict=True):
        seq_by_pid.setdefault(int(str(w).rsplit(":", 1)[1]), []).append(int(q))
    assert set(seq_by_pid) <= {stats["pid"] for stats in before.values()}
    for addr, stats in before.items():
        got = sorted(seq_by_pid.get(stats["pid"], []))
        assert got == list(range(stats["points"] + 1, after[addr]["points"] + 1))
    assert np.all(ds["point_time"].values > 0)


# --------------------------------------------------------------------------- faults
def test_killed_worker_gives_complete_identical_result(tmp_path, client, slow_reference):
    spec = SLOW  # 20 points, 10 chunks
    client.wait_for_workers(2)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    store = tmp_path / "killed"
    killed = threading.Event()
    at_kill = []

    def killer():
        deadline = time.time() + 30
        while time.time() < deadline:
            n_parts = len(Store(store).part_files())
            if n_parts >= 1:
                os.kill(pids[victim], signal.SIGKILL)  # a worker process started by the fixture
                at_kill.append(n_parts)
                killed.set()
                return
            time.sleep(0.005)

    th = threading.Thread(target=killer)
    th.start()
    ds = run_sweep(spec, store=store, scheduler=client, progress=False)
    th.join()
    assert killed.is_set() and at_kill[0] < 10  # killed while chunks were pending
    assert ds.attrs["n_lost"] == 0 and ds.attrs["n_computed"] == 20
    assert (ds["status"] == 0).all()
    xr.testing.assert_identical(_data(ds), _data(slow_reference))
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the worker
    assert pids[victim] not in client.run(os.getpid).values()


def _check_resumed(ds: xr.Dataset, before: dict, t_rerun: float, n: int, reference) -> None:
    """Only the points missing from the store were computed by the re-run."""
    assert 0 < len(before) < n
    assert ds.attrs["n_skipped"] == len(before)
    assert ds.attrs["n_computed"] == n - len(before)
    old = np.isin(ds["key"].values, list(before))
    assert old.sum() == len(before)
    assert np.all(ds["computed_at"].values[old] < t_rerun)  # kept, not recomputed
    assert np.all(ds["computed_at"].values[~old] >= t_rerun)  # only the missing ones
    xr.testing.assert_identical(_data(ds), _data(reference))


def test_killed_command_resumes_missing_points_only(tmp_path, client, slow_reference):
    """``teacherstudent sweep`` killed (SIGKILL, whole process group) after a few chunks;
    the same sweep re-run on the same store computes only the missing points."""
    spec = SLOW  # 20 points, 10 chunks
    spec_path = tmp_path / "resume.toml"
    spec_path.write_text(_toml(spec))
    store = tmp_path / "resume.sweep"
    cmd = [PY, "-m", "teacherstudent.cli", "sweep", str(spec_path), "-o", str(store),
           "--workers", "2", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    try:
        deadline = time.time() + 90
        while time.time() < deadline and len(Store(store).part_files()) < 3:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        print(f"3 chunks after {time.time() - t0:.1f} s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    print(f"killed after {time.time() - t0:.1f} s")
    before = Store(store).scan()
    assert not (store / "sweep.nc").exists()
    t_rerun = time.time()
    ds = run_sweep(spec_path, store=store, scheduler=client, progress=False)  # the re-run
    on_disk = xr.open_dataset(store / "sweep.nc", engine="h5netcdf").load()
    xr.testing.assert_identical(_data(on_disk), _data(ds))
    print(f"re-run done after {time.time() - t0:.1f} s")
    _check_resumed(ds, before, t_rerun, 20, slow_reference)


def test_interrupted_sweep_resumes_missing_points_only(tmp_path, client, slow_reference):
    """Ctrl-C (SIGINT to the main thread) during a sweep, then re-run."""
    spec = SLOW
    store = tmp_path / "ctrl-c"
    caught = threading.Event()
    last = [0.0]

    def on_sigint(signum, frame):
        # Python drops an exception raised inside a finaliser (__del__, weakref callbacks:
        # "Exception ignored in ..."), as it would a real Ctrl-C landing there; so, like a
        # user, press again until the sweep has stopped, and never raise once it has.
        if not caught.is_set() and time.monotonic() - last[0] > 0.3:
            last[0] = time.monotonic()
            raise KeyboardInterrupt

    def press():
        deadline = time.time() + 60
        while time.time() < deadline and len(Store(store).part_files()) < 2:
            time.sleep(0.005)
        while not caught.is_set() and time.time() < deadline:
            signal.pthread_kill(main, signal.SIGINT)
            caught.wait(0.05)

    main = threading.main_thread().ident
    previous = signal.signal(signal.SIGINT, on_sigint)
    th = threading.Thread(target=press)
    try:
        th.start()
        try:
            run_sweep(spec, store=store, scheduler=client, progress=False)
            time.sleep(30)  # not reached when the interrupt lands during the sweep
        except KeyboardInterrupt:
            caught.set()
            stopped = True
        else:
            stopped = False
        th.join()
    finally:
        caught.set()  # the presser stops in any case
        signal.signal(signal.SIGINT, previous)
    assert stopped
    before = Store(store).scan()
    t_rerun = time.time()
    ds = run_sweep(spec, store=store, scheduler=client, progress=False)
    _check_resumed(ds, before, t_rerun, 20, slow_reference)


def test_exception_in_a_point_is_recorded(client, monkeypatch):
    # K = 1 with a 3-vector init.w is refused up front; with on_invalid = "skip" it is
    # recorded as INVALID and the other points run.
    spec = {"kind": "ode", "on_invalid": "skip", "base": {"run": {"alpha_max": 5.0}},
            "grid": {"init.w": [0.0, [0.1, 0.2, 0.3]], "model.K": [3, 1]}}
    ds = run_sweep(spec, scheduler=client, progress=False)
    st = ds["status"].values
    assert st[0, 0] == 0 and st[1, 0] == 0 and st[0, 1] == 0
    assert st[1, 1] == INVALID and "init.w" in str(ds["message"].values[1, 1])
    assert ds["Q"].sizes["k"] == 3 and np.isnan(ds["Q"].values[0, 1, :, 1:, :]).all()
    # a point whose computation raises is recorded with ERROR and its message
    from teacherstudent.sweep import tasks

    monkeypatch.setattr(tasks, "_ode_point", lambda *a: 1 / 0)
    meta, data = tasks.run_point("ode", "k", load_config(None), None, None)
    assert meta["status"] == ERROR and "ZeroDivisionError" in meta["message"] and data is None


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"kind": "odes", "grid": {"algorithm.eta_J": [1.0]}}, "kind"),
        ({"kind": "ode", "grid": {"algorithm.eta_X": [1.0]}}, "algorithm.eta_X"),
        ({"kind": "ode", "grid": {"algo.eta_J": [1.0]}}, "algo"),
        ({"kind": "ode", "grid": {"algorithm.eta_J": [1.0, -1.0]}}, "algorithm.eta_J"),
        ({"kind": "ode", "grid": {"algorithm.eta_J": 1.0}}, "algorithm.eta_J"),
        ({"kind": "ode", "grid": {"algorithm.eta_J": [1.0]}, "save": ["eg", "foo"]}, "foo"),
        ({"kind": "ode", "grid": {"algorithm.eta_J": [1.0]}, "grids": {}}, "grids"),
        ({"kind": "ode", "mode": "zip",
          "grid": {"algorithm.eta_J": [1.0, 2.0], "algorithm.eta_w": [1.0]}}, "zip"),
        ({"kind": "ode", "base": {"model": {"K": 0}}, "grid": {"algorithm.eta_J": [1.0]}},
         "model.K"),
        ({"kind": "linear", "grid": {"algorithm.eta_J": [1.0]}}, "algorithm"),
        ({"kind": "ode", "base": "missing.toml", "grid": {"algorithm.eta_J": [1.0]}},
         "missing.toml"),
    ],
)
def test_invalid_spec_is_refused_naming_the_key(spec, needle, tmp_path):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_spec(spec, root=tmp_path)
    with pytest.raises(ConfigError):  # before any work: no store, no cluster
        run_sweep(spec, store=tmp_path / "never", workers=1, progress=False)
    assert not (tmp_path / "never").exists()


def test_cli_invalid_spec_exits_2(tmp_path, capsys):
    from teacherstudent.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "ode"\n[grid]\n"algorithm.eta_J" = [1.0, -2.0]\n')
    assert main(["sweep", str(bad), "-o", str(tmp_path / "st"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "algorithm.eta_J" in err and "Traceback" not in err
    assert not (tmp_path / "st").exists()
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2


def test_base_file_relative_to_spec_and_check(tmp_path, capsys):
    from teacherstudent.cli import main

    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "base.toml").write_text("[algorithm]\neta_w = 4.0\n")
    (tmp_path / "s.toml").write_text(
        'kind = "ode"\nbase = "cfg/base.toml"\n[grid]\n"algorithm.eta_J" = [1, 2, "3.0"]\n')
    with pytest.raises(ConfigError, match="algorithm.eta_J"):
        load_spec(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text(
        'kind = "ode"\nbase = "cfg/base.toml"\nmode = "zip"\n[grid]\n'
        '"algorithm.eta_J" = [1, 2]\n"algorithm.eta_0" = [0.5, 1.5]\n')
    spec = load_spec(tmp_path / "s.toml")
    assert spec.dims == ("point",) and [p.config["algorithm"]["eta_w"] for p in spec.points] == [
        4.0, 4.0]
    assert main(["sweep", str(tmp_path / "s.toml"), "--check"]) == 0
    assert "2 points" in capsys.readouterr().out


# --------------------------------------------------------------------------- other kinds
def test_linear_sweep_matches_single_runs(client):
    linear = pytest.importorskip("teacherstudent.linear")
    base = {"linear": {"d": 8, "k": 2, "rounds": 15, "seeds": 2, "n_tasks": 5,
                       "algorithms": ["anil", "fo-anil"]}}
    spec = {"kind": "linear", "base": base, "grid": {"linear.mu": [0.5, 1.0]}}
    ds = run_sweep(spec, scheduler=client.scheduler.address, progress=False)  # by address
    assert ds["dist"].dims == ("linear.mu", "algorithm", "seed", "round")
    for mu in (0.5, 1.0):
        ref = linear.run(linear.load_config(base, {"linear.mu": mu}))
        assert np.array_equal(ds["dist"].sel({"linear.mu": mu}).values, ref["dist"].values)


def test_simulate_kind_validation():
    spec = {"kind": "simulate", "grid": {"algorithm.eta_J": [1.0]},
            "base": {"simulation": {"checkpoint_every": 1.0}}}
    try:
        import teacherstudent.simulation  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="simulation"):
            load_spec(spec)
        return
    with pytest.raises(ConfigError, match="simulation.checkpoint_every"):
        load_spec(spec)


@pytest.mark.slow
def test_simulate_sweep_matches_single_runs(client):
    sim = pytest.importorskip("teacherstudent.simulation")
    base = {"run": {"alpha_max": 2.0, "n_save": 5},
            "simulation": {"N": 50, "seeds": 2, "device": "cpu"}}
    spec = {"kind": "simulate", "base": base, "grid": {"algorithm.eta_J": [1.0, 2.0]}}
    ds = run_sweep(spec, scheduler=client, progress=False)
    assert (ds["status"] == 0).all(), ds["message"].values
    assert "seed" in ds["eg"].dims
    cfg = load_config(base, {"algorithm.eta_J": 2.0})
    ref = sim.simulate(cfg, N=50, seeds=2, device="cpu", progress=False)
    got = ds["eg"].sel({"algorithm.eta_J": 2.0}).transpose(*ref["eg"].dims)
    np.testing.assert_allclose(got.values, ref["eg"].values, rtol=1e-10)


# --------------------------------------------------------------------------- reductions
def test_alpha_to_threshold_exact_and_interpolated(small):
    ds, _, _ = small
    ok = ds.sel({"run.solver": "dopri5"})
    exact = alpha_to_threshold(ok, 1e-2)  # the runs' eg_threshold: recorded values
    assert np.array_equal(exact.values, ok["alpha_threshold"].values, equal_nan=True)
    assert np.isfinite(exact.values).any()
    no_event = ok.drop_vars("alpha_threshold")
    interp = alpha_to_threshold(no_event, 1e-2)
    fin = np.isfinite(exact.values)
    assert np.array_equal(fin, np.isfinite(interp.values))
    assert np.allclose(interp.values[fin], exact.values[fin], rtol=0.05)
    # another threshold: interpolated, monotone in the threshold
    lower = alpha_to_threshold(ok, 1e-3)
    both = np.isfinite(lower.values) & fin
    assert np.all(lower.values[both] >= exact.values[both])
    with pytest.raises(ConfigError, match="eg"):
        alpha_to_threshold(ok.drop_vars("eg"), 1e-3)


def test_plateau_on_a_synthetic_curve():
    # eg falls as 0.5 − 0.03 α to 0.2 at α = 10, sits at 0.2 until α = 60, then decays as
    # 0.2 e^{−(α−60)}: by construction the plateau is [10, 60] at height 0.2, and eg drops
    # below (1 − δ) · 0.2 at α* = 60 + ln(1/0.9).
    alpha = np.linspace(0.5, 100, 400)
    eg = np.where(alpha < 10, 0.5 - 0.03 * alpha, 0.2)
    eg = np.where(alpha >= 60, 0.2 * np.exp(-(alpha - 60)), eg)
    ds = xr.Dataset({"eg": (("point", "alpha"), eg[None, :]),
                     "status": (("point",), [0])}, coords={"alpha": alpha})
    p = plateau(ds)
    step = alpha[1] - alpha[0]
    assert 10.0 <= p["start"].item() <= 10.0 + 2 * step
    assert 60.0 - 2 * step <= p["end"].item() <= 60.0
    assert p["level"].item() == pytest.approx(0.2)
    assert p["escape"].item() == pytest.approx(60 + np.log(1 / 0.9), abs=1e-2)
    assert plateau_length(ds).item() == p["end"].item() - p["start"].item()
    # a curve stuck on its plateau until the end: no escaped plateau, unless asked for
    stuck = ds.assign(eg=(("point", "alpha"), np.where(alpha < 10, eg, 0.2)[None, :]))
    assert np.isnan(plateau_length(stuck).item())
    assert 90.0 - 2 * step <= plateau_length(stuck, escaped_only=False).item() <= 90.0
    pd = phase_diagram(ds.assign(alpha_threshold=("point", [np.nan])), 0.1)
    assert set(pd.data_vars) >= {"alpha_to_threshold", "plateau_length", "status"}
    # eg = 0.1 at α = 60 + ln 2; interpolation in (α, ln eg) is exact on an exponential
    assert pd["alpha_to_threshold"].item() == pytest.approx(60 + np.log(2), rel=1e-12)


def test_reductions_equal_single_run_analysis(small):
    """A sweep's reductions are analysis.plateau / crossing_time of each point's run."""
    from teacherstudent import analysis

    ds, _, _ = small
    ok = ds.sel({"run.solver": "dopri5"})
    p = plateau(ok, escaped_only=False)
    a_th = alpha_to_threshold(ok.drop_vars("alpha_threshold"), 3e-2)
    for eJ in SMALL["grid"]["algorithm.eta_J"]:
        for ew in SMALL["grid"]["algorithm.eta_w"]:
            over = {"algorithm.eta_J": eJ, "algorithm.eta_w": ew, "run.solver": "dopri5"}
            ref = integrate(load_config(SMALL["base"], over))
            at = {"algorithm.eta_J": eJ, "algorithm.eta_w": ew}
            want = analysis.plateau(ref["alpha"].values, ref["eg"].values)
            got = p.sel(at)
            if want.found:
                assert float(got["start"]) == want.start and float(got["level"]) == want.height
                assert np.array_equal(float(got["escape"]), want.escape, equal_nan=True)
            else:
                assert np.isnan(float(got["start"]))
            want_th = analysis.crossing_time(ref["alpha"].values, ref["eg"].values, 3e-2)
            assert np.array_equal(float(a_th.sel(at)), want_th, equal_nan=True)


# --------------------------------------------------------------------------- code changes
def test_store_of_other_code_is_refused_reused_or_recomputed(tmp_path, client, monkeypatch):
    from teacherstudent.sweep import store as store_mod

    spec = {"kind": "ode", "base": {"run": {"alpha_max": 5.0}},
            "grid": {"algorithm.eta_J": [1.0, 2.0]}}
    path = tmp_path / "s"
    first = run_sweep(spec, store=path, scheduler=client, progress=False)
    assert first.attrs["code_sha256"] == (path / "code.sha256").read_text().strip()
    old = first.attrs["code_sha256"]
    old_parts = sorted(p.name for p in Store(path).part_files())
    monkeypatch.setattr(store_mod, "code_fingerprint", lambda: "edited-code")
    with pytest.raises(ConfigError, match="--on-code-change") as err:
        run_sweep(spec, store=path, scheduler=client, progress=False)
    assert old in str(err.value) and "edited-code" in str(err.value)
    with pytest.raises(ConfigError, match="on_code_change"):
        run_sweep(spec, store=path, scheduler=client, progress=False, on_code_change="keep")
    reused = run_sweep(spec, store=path, scheduler=client, progress=False,
                       on_code_change="reuse")
    assert reused.attrs["n_skipped"] == 2 and reused.attrs["reused_code_sha256"] == old
    assert (path / "code.sha256").read_text().strip() == "edited-code"
    monkeypatch.setattr(store_mod, "code_fingerprint", lambda: "edited-again")
    fresh = run_sweep(spec, store=path, scheduler=client, progress=False,
                      on_code_change="recompute")
    assert fresh.attrs["n_computed"] == 2 and fresh.attrs["n_skipped"] == 0
    kept = path / "parts-edited-code"  # the old parts are moved aside, not deleted
    assert sorted(p.name for p in kept.glob("chunk-*.nc")) == old_parts
    xr.testing.assert_identical(_data(fresh), _data(first))
