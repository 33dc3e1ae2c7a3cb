"""Keep numba's on-disk kernel cache consistent across modules.

Numba (``cache=True``) keys a cached function on the timestamp of *its own* source file.
Our kernels call jitted functions of other modules (``solvers`` → ``drift`` →
``integrals``; ``simulation.fastcpu`` → ``integrals``), and numba inlines/links them at
compile time, so editing ``integrals.py`` would leave stale machine code for ``drift`` and
``solvers`` on disk. :func:`drop_stale` fingerprints every kernel source file together and,
when the fingerprint differs from the one stamped in a cache folder, deletes that folder's
``*.nbi``/``*.nbc`` files before any kernel is loaded. It runs once per process, at the
import of the first kernel module; a stale cache then costs one recompilation, never a
wrong result.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..fingerprint import ROOT, sources_sha256

KERNEL_SOURCES = (
    "ode/layout.py",
    "ode/solver_state.py",
    "ode/integrals/codes.py",
    "ode/integrals/closed_form.py",
    "ode/integrals/fourpoint.py",
    "ode/integrals/backend.py",
    "ode/drift.py",
    "ode/solvers.py",
    "simulation/activations.py",
    "simulation/fastcpu.py",
)
STAMP = "teacherstudent-kernels.sha256"
_done = False


def fingerprint() -> str:
    """sha256 over the kernel sources and the numba version."""
    import numba

    return sources_sha256((ROOT / name for name in KERNEL_SOURCES), numba.__version__)


def _probe() -> None:  # numba's cache locators want a function object
    pass


def cache_dirs() -> list[Path]:
    """Where numba keeps the cache of each kernel source file (numba's own choice of locator:
    NUMBA_CACHE_DIR, ``__pycache__`` next to the source, or the user-wide cache)."""
    from numba.core.caching import CacheImpl

    out: list[Path] = []
    for name in KERNEL_SOURCES:
        py_file = str(ROOT / name)
        for locator in CacheImpl._locator_classes:
            try:
                loc = locator.from_function(_probe, py_file)
            except Exception:  # a locator that does not apply (zip, IPython, ...)
                continue
            if loc is not None:
                path = Path(loc.get_cache_path())
                if path not in out:
                    out.append(path)
                break
    return out


def drop_stale() -> None:
    """Delete cached kernels compiled from other versions of the kernel sources (once)."""
    global _done
    if _done:
        return
    _done = True
    try:
        digest = fingerprint()
        dirs = cache_dirs()
    except Exception:  # never let cache housekeeping stop an import
        return
    for d in dirs:
        stamp = d / STAMP
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:
            pass
        try:
            d.mkdir(parents=True, exist_ok=True)
            for f in list(d.glob("*.nbi")) + list(d.glob("*.nbc")):
                f.unlink(missing_ok=True)
            tmp = d / f"{STAMP}.{os.getpid()}"
            tmp.write_text(digest)
            tmp.replace(stamp)  # atomic: concurrent importers see the old or the new stamp
        except OSError:
            pass
