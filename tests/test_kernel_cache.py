"""The on-disk kernel cache is dropped when any kernel source changes (numba alone only
tracks a function's own file, not the jitted functions it calls from other modules)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from teacherstudent.ode import kernel_cache as _kernel_cache

ROOT = Path(__file__).resolve().parents[1]


def _fill(d: Path) -> list[Path]:
    files = [d / "drift.rhs-197.py311.nbi", d / "drift.rhs-197.py311.1.nbc", d / "keep.pyc"]
    for f in files:
        f.write_bytes(b"x")
    return files


def test_stale_kernels_dropped_fresh_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(_kernel_cache, "cache_dirs", lambda: [tmp_path])
    nbi, nbc, pyc = _fill(tmp_path)
    (tmp_path / _kernel_cache.STAMP).write_text("an older version of the kernels")
    monkeypatch.setattr(_kernel_cache, "_done", False)
    _kernel_cache.drop_stale()
    assert not nbi.exists() and not nbc.exists() and pyc.exists()
    assert (tmp_path / _kernel_cache.STAMP).read_text() == _kernel_cache.fingerprint()
    # same sources: the cache is kept
    nbi, nbc, pyc = _fill(tmp_path)
    monkeypatch.setattr(_kernel_cache, "_done", False)
    _kernel_cache.drop_stale()
    assert nbi.exists() and nbc.exists()
    # a changed source (any of them) changes the fingerprint
    before = _kernel_cache.fingerprint()
    monkeypatch.setattr(_kernel_cache, "KERNEL_SOURCES", _kernel_cache.KERNEL_SOURCES[:-1])
    assert _kernel_cache.fingerprint() != before


def test_cache_dirs_follow_numba_cache_dir(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c",
         "from teacherstudent.ode import kernel_cache as k; print(*k.cache_dirs(), sep='\\n')"],
        env=env, capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == 3 and all(Path(p).is_relative_to(tmp_path) for p in out)
