"""Ahead-of-time kernels: the ODE solver compiled once into an extension module.

Numba compiles the kernels on first use and keeps them in its on-disk cache; loading that
cache still costs most of a second per process (numba's import and its type system, then
linking the machine code), several times the default run itself. :func:`build` (the
``teacherstudent compile`` command) compiles the same Python functions —
:func:`~teacherstudent.ode.solvers.integrate_kernel` and
:func:`~teacherstudent.ode.drift.errors_kernel`, with everything they call — into one
extension module with numba's ahead-of-time compiler, for this machine's processor. A run
then imports that module like any other (milliseconds) and never imports numba.

*Same numbers.* The module is built from the same source as the JIT kernels, for the host
processor as the JIT compiles, so its results equal the JIT's bit for bit (tested). Numba's
threading layer cannot be linked into an extension module, so there the parallel loops of
the large-K drift run on one thread: :func:`kernels` uses the module only below
``K = BLOCK_K`` (where the JIT drift runs on one thread too) and the JIT kernels from there on.

*Which module.* Its name carries a fingerprint of the kernel sources, numba's version and
the processor (:func:`fingerprint`): after an edit, an upgrade or on another machine the
module is simply not found and the JIT kernels run, as without one. It lives in
``$TEACHERSTUDENT_KERNEL_DIR`` when set, else in ``__pycache__`` beside these sources when
writable, else in ``~/.cache/teacherstudent`` (:func:`kernel_dir`).
``TEACHERSTUDENT_AOT=0`` turns the module off (the JIT kernels always).

This module imports no numba; only :func:`build`'s child process does.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import machinery, util
from pathlib import Path
from types import ModuleType

from ..fingerprint import ROOT, sources_sha256
from ..version import library_version
from .kernel_cache import KERNEL_SOURCES
from .layout import BLOCK_K

__all__ = ["Kernels", "kernels", "build", "BuildError", "fingerprint", "kernel_dir",
           "module_path", "DIR_ENV", "OFF_ENV"]

DIR_ENV = "TEACHERSTUDENT_KERNEL_DIR"
OFF_ENV = "TEACHERSTUDENT_AOT"
SERIAL_ENV = "TEACHERSTUDENT_SERIAL_KERNELS"  # read by drift.py in the build's child process
PREFIX = "_teacherstudent_kernels_"
SUFFIX = machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so

# The exported signatures: the argument types :func:`teacherstudent.ode.frontend.solve` and
# VectorField pass (VectorField.args: pi int64, pf/T/ubar/Su float64, all C-contiguous).
_A1, _I1, _A2 = "f8[::1]", "i8[::1]", "f8[:, ::1]"
SIGNATURES = {
    "integrate_kernel": f"i8(i8, {_A1}, {_I1}, {_A1}, {_A2}, {_A1}, {_A2}, {_A1}, f8, f8, f8, "
                        f"i8, f8, f8, f8, {_A2}, {_A1}, {_A1}, i8)",
    "errors_kernel": f"i8({_A1}, {_I1}, {_A1}, {_A2}, {_A1}, {_A2}, {_A1}, b1)",
}


class BuildError(RuntimeError):
    """The ahead-of-time build failed (no C compiler, numba without ``numba.pycc``, ...)."""


@dataclass(frozen=True)
class Kernels:
    """The solver and error kernels a run calls, and where they come from."""

    integrate: Callable[..., int]
    errors: Callable[..., int]
    kind: str  # "ahead-of-time" or "jit"


@functools.cache
def cpu_id() -> str:
    """The processor the module is compiled for: model name and instruction-set flags
    (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere).

    Returns
    -------
    str
        The text that enters :func:`fingerprint`.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            block = f.read().split("\n\n", 1)[0]
        keep = [line for line in block.splitlines()
                if line.split(":")[0].strip() in ("vendor_id", "model name", "flags", "Features",
                                                  "CPU implementer", "CPU part")]
        if keep:
            return "\n".join(keep)
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


@functools.cache
def _sources_digest() -> str:  # once per process: every error evaluation asks for the module
    # the kernels' sources and this file (its exported signatures)
    return sources_sha256(ROOT / name for name in (*KERNEL_SOURCES, "ode/aot.py"))


def fingerprint() -> str:
    """Hex digest (20 digits) naming the module.

    Returns
    -------
    str
        sha256 over the kernel sources (``kernel_cache.KERNEL_SOURCES``) and this module,
        numba's version, Python's version and :func:`cpu_id`.
    """
    text = "\n".join([_sources_digest(), library_version("numba"), sys.version, cpu_id()])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def module_name() -> str:
    """The module's import name, ``_teacherstudent_kernels_`` + :func:`fingerprint`."""
    return PREFIX + fingerprint()


def _candidate_dirs() -> list[Path]:
    if os.environ.get(DIR_ENV):
        return [Path(os.environ[DIR_ENV])]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "teacherstudent"
    return [ROOT / "ode" / "__pycache__", cache]


def kernel_dir() -> Path:
    """Where :func:`build` writes the module.

    Returns
    -------
    pathlib.Path
        ``$TEACHERSTUDENT_KERNEL_DIR`` when set, else ``__pycache__`` beside the sources if
        writable, else ``~/.cache/teacherstudent`` (created).
    """
    dirs = _candidate_dirs()
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    return dirs[-1]


def module_path() -> Path | None:
    """The module's file, if it has been built for these sources, numba and processor.

    Returns
    -------
    pathlib.Path or None
        The first match in ``$TEACHERSTUDENT_KERNEL_DIR``, or in ``__pycache__`` beside the
        sources and then ``~/.cache/teacherstudent``; None when there is none.
    """
    name = module_name() + SUFFIX
    for d in _candidate_dirs():
        if (d / name).is_file():
            return d / name
    return None


_loaded: dict[Path, ModuleType | None] = {}


def _load(path: Path) -> ModuleType | None:
    if path not in _loaded:
        try:
            loader = machinery.ExtensionFileLoader(path.name[: -len(SUFFIX)], str(path))
            spec = util.spec_from_file_location(loader.name, path, loader=loader)
            module = util.module_from_spec(spec)
            loader.exec_module(module)
            if not all(hasattr(module, name) for name in SIGNATURES):
                module = None
        except (ImportError, OSError):  # truncated or foreign file: the JIT kernels run
            module = None
        _loaded[path] = module
    return _loaded[path]


def kernels(K: int) -> Kernels:
    """The kernels for a run with ``K`` students.

    Parameters
    ----------
    K : int
        The number of student units.

    Returns
    -------
    Kernels
        The ahead-of-time module's when it is built (:func:`module_path`), loads, ``K <
        BLOCK_K`` and ``TEACHERSTUDENT_AOT`` is not ``0``; the JIT kernels of
        :mod:`.solvers` and :mod:`.drift` otherwise (a foreign or truncated file under the
        module's name is not loaded: the JIT kernels then, no error).
    """
    if K < BLOCK_K and os.environ.get(OFF_ENV, "1") != "0":
        path = module_path()
        module = _load(path) if path is not None else None
        if module is not None:
            return Kernels(module.integrate_kernel, module.errors_kernel, "ahead-of-time")
    from .drift import errors_kernel
    from .solvers import integrate_kernel

    return Kernels(integrate_kernel, errors_kernel, "jit")


def build(directory: str | Path | None = None,
          tick: Callable[[float], None] | None = None) -> Path:
    """Compile the ahead-of-time module (a minute or two) and return its path.

    Parameters
    ----------
    directory : str or Path, optional
        Where to put it (default :func:`kernel_dir`; a run finds it there only if it is that
        directory or ``$TEACHERSTUDENT_KERNEL_DIR``).
    tick : callable, optional
        Called with the seconds elapsed about every 0.2 s while the compiler runs.

    Returns
    -------
    pathlib.Path
        The module's file. Older modules of this package in that directory are removed.

    Raises
    ------
    BuildError
        The compiler failed; its last lines are in the message. Nothing is written then.

    Notes
    -----
    The compilation runs in a child process (numba's ahead-of-time compiler, with the
    parallel loops as plain loops and its own numba cache in ``aot-numba-cache`` beside the
    module, so the JIT cache is not touched); the module is written to a temporary folder
    and moved into place in one step. Ctrl-C stops the child and leaves nothing behind.
    """
    target = Path(directory) if directory is not None else kernel_dir()
    target.mkdir(parents=True, exist_ok=True)
    name = module_name()
    env = dict(os.environ, **{SERIAL_ENV: "1",
                              "NUMBA_CACHE_DIR": str(target / "aot-numba-cache")})
    with tempfile.TemporaryDirectory(dir=target, prefix=".aot-build-") as tmp:
        log = Path(tmp) / "build.log"
        t0 = time.perf_counter()
        with open(log, "w") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "teacherstudent.ode.aot", tmp, name],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp)
            try:
                while child.poll() is None:
                    time.sleep(0.2)
                    if tick is not None:
                        tick(time.perf_counter() - t0)
            except BaseException:  # Ctrl-C: stop the compiler, keep nothing
                child.kill()
                child.wait()
                raise
        built = Path(tmp) / (name + SUFFIX)
        if child.returncode != 0 or not built.is_file():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise BuildError(f"the ahead-of-time compilation failed "
                             f"(exit {child.returncode}):\n{tail}")
        final = target / built.name
        os.replace(built, final)
    for old in target.glob(PREFIX + "*"):
        if old != final and old.name.endswith(SUFFIX):
            old.unlink(missing_ok=True)
    return final


def _compile(out_dir: str, name: str) -> None:
    """The child process of :func:`build`: numba.pycc over the two kernels."""
    import warnings

    warnings.simplefilter("ignore")  # pycc's pending-deprecation notice
    from numba.pycc import CC

    from . import drift, solvers

    assert not drift.PARALLEL, f"{SERIAL_ENV}=1 must be set before drift is imported"
    cc = CC(name)
    cc.output_dir = out_dir
    cc.target_cpu = "host"  # as the JIT compiles: the same instructions, the same bits
    cc.verbose = False
    functions = {"integrate_kernel": solvers.integrate_kernel, "errors_kernel": drift.errors_kernel}
    for export, dispatcher in functions.items():
        cc.export(export, SIGNATURES[export])(dispatcher.py_func)
    cc.compile()


if __name__ == "__main__":
    _compile(*sys.argv[1:3])
