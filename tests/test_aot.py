"""The ahead-of-time kernels (teacherstudent.ode.aot, `teacherstudent compile`).

Fast tests: which kernels a run takes (module missing, foreign, switched off, K ≥ BLOCK_K),
the module's name, the command's answers and its failure path, the unit assignment of the
figures without scipy.optimize. Slow: a real build, whose runs must equal the JIT kernels'
bit for bit and must not import numba.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from teacherstudent.analysis import best_assignment
from teacherstudent.cli import main as cli
from teacherstudent.ode import aot, field, layout
from teacherstudent.ode.frontend import integrate_table

ROOT = Path(__file__).resolve().parents[1]
# imported by kernel modules, but nothing of them is compiled in
HOUSEKEEPING = ("ode/kernel_cache.py", "fingerprint.py", "ode/integrals/__init__.py")


@pytest.fixture
def kernel_dir(tmp_path, monkeypatch):
    """An empty kernel folder of its own: no module a user compiled is seen."""
    d = tmp_path / "kernels"
    d.mkdir()
    monkeypatch.setenv(aot.DIR_ENV, str(d))
    monkeypatch.delenv(aot.OFF_ENV, raising=False)
    return d


def test_without_a_module_the_jit_kernels_run(kernel_dir):
    assert aot.module_path() is None
    assert aot.kernels(3).kind == "jit"
    t = integrate_table(None, **{"run.alpha_max": 2.0})
    assert t.attrs["ode_kernels"] == "jit"


def test_a_foreign_file_under_the_module_name_is_not_loaded(kernel_dir):
    bad = kernel_dir / (aot.module_name() + aot.SUFFIX)
    bad.write_bytes(b"not an extension module")
    assert aot.module_path() == bad
    assert aot.kernels(3).kind == "jit"  # the JIT kernels, no error
    assert bad.read_bytes() == b"not an extension module"  # and the file is left alone


def test_the_module_is_taken_below_block_k_unless_switched_off(kernel_dir, monkeypatch):
    fake = SimpleNamespace(integrate_kernel=lambda *a: 0, errors_kernel=lambda *a: 0)
    monkeypatch.setattr(aot, "module_path", lambda: kernel_dir / "m.so")
    monkeypatch.setattr(aot, "_load", lambda path: fake)
    k = aot.kernels(layout.BLOCK_K - 1)
    assert k.kind == "ahead-of-time" and k.integrate is fake.integrate_kernel
    assert aot.kernels(layout.BLOCK_K).kind == "jit"  # the parallel JIT drift from there on
    monkeypatch.setenv(aot.OFF_ENV, "0")
    assert aot.kernels(3).kind == "jit"


def test_the_module_name_follows_the_numba_version_and_the_processor(monkeypatch):
    name = aot.module_name()
    assert name.startswith(aot.PREFIX) and len(name) == len(aot.PREFIX) + 20
    assert aot.cpu_id()
    monkeypatch.setattr(aot, "cpu_id", lambda: "another processor")
    other_cpu = aot.module_name()
    monkeypatch.setattr(aot, "library_version", lambda lib: "0.0.1")
    assert len({name, other_cpu, aot.module_name()}) == 3


def test_the_kernel_sources_cover_every_kernel_module():
    """The fingerprint must change with any source compiled into the module: every file with
    a jitted function, and every package module such a file imports (its constants)."""
    import ast

    from teacherstudent.fingerprint import ROOT as PKG
    from teacherstudent.ode.kernel_cache import KERNEL_SOURCES

    sources = set(KERNEL_SOURCES)
    jitted = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if "@njit" in p.read_text()}
    assert jitted and jitted <= sources, jitted - sources
    for name in sources:
        path = PKG / name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0 and node.module:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                target = base.joinpath(*node.module.split("."))
                module = target.with_suffix(".py") if target.with_suffix(".py").exists() \
                    else target / "__init__.py"
                rel = module.relative_to(PKG).as_posix()
                if rel not in HOUSEKEEPING:
                    assert rel in sources, f"{name} imports {rel}, not a kernel source"


def test_compile_status_names_the_folder(kernel_dir, capsys):
    assert cli(["compile", "--status"]) == 0
    out = capsys.readouterr().out
    assert "not compiled" in out and str(kernel_dir) in out


def test_a_failed_build_says_so_and_leaves_nothing(kernel_dir, monkeypatch, capsys):
    monkeypatch.setattr(aot.sys, "executable", "/bin/false")  # the compiler's child fails
    with pytest.raises(aot.BuildError, match="failed"):
        aot.build()
    assert not any(p.name.startswith(aot.PREFIX) for p in kernel_dir.iterdir())
    assert not any(p.name.startswith(".aot-build-") for p in kernel_dir.iterdir())
    assert cli(["compile"]) == 1
    err = capsys.readouterr().err
    assert "nothing was written" in err and "JIT kernels" in err
    assert "Traceback" not in err


def test_best_assignment_is_scipys():
    """The figures' unit assignment without scipy.optimize: the same pairs (random scores:
    no ties), and scipy's own answer above the enumeration limit."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(7)
    for K, M in [(1, 1), (1, 4), (4, 1), (3, 3), (2, 5), (5, 2), (7, 7), (6, 8), (10, 10)]:
        for _ in range(20):
            score = rng.normal(size=(K, M))
            rows, cols = best_assignment(score)
            ref_rows, ref_cols = linear_sum_assignment(score, maximize=True)
            np.testing.assert_array_equal(rows, ref_rows)
            np.testing.assert_array_equal(cols, ref_cols)


def test_eg_opt_of_two_identical_students_is_that_of_one():
    """Φ singular (a student copied): the best head per task puts the copies' weight on one,
    so eg_opt is that of the network without the copy (Cholesky, no LAPACK solve)."""
    from teacherstudent.config import load_config

    Q = np.array([[1.0, 1.0, 0.2], [1.0, 1.0, 0.2], [0.2, 0.2, 1.0]])
    R = np.array([[0.5, 0.1, 0.0], [0.5, 0.1, 0.0], [0.0, 0.2, 0.6]])
    three = field.VectorField.from_config(load_config(None)).errors(Q, R, np.zeros(3))
    cfg = load_config(None)
    cfg["model"]["K"] = 2
    two = field.VectorField.from_config(cfg).errors(Q[1:, 1:], R[1:], np.zeros(2))
    assert three["eg_opt"] == pytest.approx(two["eg_opt"], rel=1e-9)
    assert np.isfinite(three["eg"]) and np.isfinite(three["eg_pre"])


# --------------------------------------------------------------------------- a real build
CASES = [
    {},
    {"algorithm.name": "anil"},
    {"algorithm.val_size": 1.0},
    {"algorithm.train_size": 5.0},
    {"model.activation": "relu", "model.teacher_activation": "relu"},
    {"model.activation": "tanh"},
    {"tasks.gamma": 0.6, "model.K": 4, "model.M": 2},
    {"run.solver": "euler", "run.dt": 0.05},
    {"run.solver": "rk4", "run.dt": 0.05},
    {"run.eg_threshold": 0.01},
    {"algorithm.eta_J": 40.0},  # diverges: the status and the state kept must agree too
]


@pytest.mark.slow
def test_the_compiled_module_gives_the_jit_numbers_without_numba(kernel_dir, tmp_path):
    env = dict(os.environ)
    run = subprocess.run([sys.executable, "-m", "teacherstudent", "compile"], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    path = aot.module_path()
    assert path is not None and path.parent == kernel_dir
    again = subprocess.run([sys.executable, "-m", "teacherstudent", "compile"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already compiled" in again.stderr

    # the command starts from the module and never imports numba (nor scipy)
    out = tmp_path / "r.nc"
    code = ("import sys\nfrom teacherstudent.cli import main\n"
            f"assert main(['ode', '-o', {str(out)!r}, '--no-plot', '-q']) == 0\n"
            "print(sorted(m for m in ('numba', 'llvmlite', 'scipy') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    assert res.stdout.strip() == "[]"
    import h5netcdf

    with h5netcdf.File(out, "r") as f:
        assert f.attrs["ode_kernels"] == "ahead-of-time"

    # the same numbers as the JIT kernels, bit for bit
    for case in CASES:
        overrides = {"run.alpha_max": 60.0, **case}
        os.environ.pop(aot.OFF_ENV, None)
        a = integrate_table(None, **overrides)
        os.environ[aot.OFF_ENV] = "0"
        try:
            b = integrate_table(None, **overrides)
        finally:
            os.environ.pop(aot.OFF_ENV, None)
        assert a.attrs["ode_kernels"] == "ahead-of-time" and b.attrs["ode_kernels"] == "jit"
        for key in ("status", "alpha_reached", "nfev", "n_accepted", "n_rejected"):
            assert a.attrs[key] == b.attrs[key], (case, key)
        np.testing.assert_equal(a.attrs["alpha_threshold"], b.attrs["alpha_threshold"])
        for v in ("Q", "R", "w", "eg", "eg_pre", "eg_opt"):
            np.testing.assert_array_equal(a[v], b[v], err_msg=f"{case} {v}")
