"""Output safety: every path a command will write is checked before any work.

The rule, the same for every command:

* a path that is a folder (where a file is expected), lies below a file, or cannot be
  written is refused before the work starts;
* the command's own input (a config, a spec, a dataset it reads) is never replaced;
* a file that is not a teacherstudent result is never replaced — whatever the flags;
* an existing teacherstudent result is replaced only with ``--force``
  (``force=True``); the one exception is ``teacherstudent ode --extend A.nc -o A.nc``, whose
  new file holds every point of the old one bit for bit.

A *result* is recognised by what we write into it: netCDF datasets carry the attribute
``teacherstudent_version``; figures carry ``teacherstudent`` in their metadata (PNG
``Software``, PDF ``Creator``); simulation checkpoints hold a ``teacherstudent`` marker;
sweep stores have ``code.sha256`` and ``parts/``. Refusals are :class:`ConfigError` (exit
status 2 in the CLI) naming the path and what to do.

If writing still fails at the end (a disk filled up, a folder removed meanwhile),
:func:`write_with_fallback` writes to a fallback path in the temporary folder and says where.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .validation import ConfigError

__all__ = [
    "FIGURE_METADATA",
    "is_result",
    "check_output",
    "check_store",
    "check_folder",
    "write_with_fallback",
]

MARKER = b"teacherstudent"
#: Metadata that marks a figure as ours (``savefig(..., metadata=FIGURE_METADATA[suffix])``).
FIGURE_METADATA = {
    ".png": {"Software": "teacherstudent"},
    ".pdf": {"Creator": "teacherstudent"},
    ".svg": {"Creator": "teacherstudent"},
}
_SCAN_LIMIT = 64 * 2**20  # bytes read to look for the marker of a figure


def _is_dataset(path: Path) -> bool:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "teacherstudent_version" in f.attrs
    except Exception:  # not HDF5, unreadable: not ours
        return False


def _has_marker(path: Path) -> bool:
    try:
        if path.stat().st_size > _SCAN_LIMIT:
            return False
        return MARKER in path.read_bytes()
    except OSError:
        return False


def is_result(path: str | Path) -> bool:
    """Whether ``path`` is something teacherstudent wrote (and may replace with ``--force``).

    Parameters
    ----------
    path : str or Path
        A file (dataset, figure, checkpoint, JSON summary) or a sweep store folder.

    Returns
    -------
    bool
        ``False`` for anything else, including unreadable files.
    """
    p = Path(path)
    if p.is_dir():
        return (p / "code.sha256").is_file() or (p / "parts").is_dir()
    if not p.is_file():
        return False
    if p.suffix in (".nc", ".h5", ".nc4"):
        return _is_dataset(p)
    return _has_marker(p)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_parent(p: Path, what: str) -> None:
    """The parent exists as a folder (or can be created) and is writable."""
    parent = p.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{what} '{p}': '{probe}' is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} '{p}': the folder '{probe}' is not writable")


def check_output(
    path: str | Path,
    *,
    what: str = "output",
    inputs: Iterable[str | Path | None] = (),
    force: bool = False,
    replaces_input: bool = False,
) -> Path:
    """Check, before any work, that ``path`` may be written.

    Parameters
    ----------
    path : str or Path
        The file the command will write.
    what : str
        How messages name it (``"-o"``, ``"--plot"``, ``"checkpoint"`` ...).
    inputs : iterable of paths
        The command's own inputs; ``path`` must not be one of them.
    force : bool
        Allow replacing an existing teacherstudent result.
    replaces_input : bool
        The command writes a superset of its input (``ode --extend A -o A``): replacing
        that input is allowed.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        Naming the path and the reason.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} '{p}' is a folder; give a file name")
    _check_parent(p, what)
    if not p.exists():
        return p
    for src in inputs:
        if src is not None and _same(p, Path(src)) and not replaces_input:
            raise ConfigError(f"{what} '{p}' is this command's own input; choose another file")
    if replaces_input and any(src is not None and _same(p, Path(src)) for src in inputs):
        return p
    if not is_result(p):
        raise ConfigError(
            f"{what} '{p}' exists and is not a teacherstudent result; it is never replaced "
            "(choose another file or move it away)"
        )
    if not force:
        raise ConfigError(f"{what} '{p}' exists; pass --force to replace it")
    if not os.access(p, os.W_OK):
        raise ConfigError(f"{what} '{p}' is not writable")
    return p


def check_store(path: str | Path, *, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check a sweep store folder: new, or an existing store (which is resumed).

    A file, or a non-empty folder that is not a store, is refused.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"sweep store '{p}' is a file; give a folder")
    for src in inputs:
        if src is not None and Path(src).exists() and _same(p, Path(src)):
            raise ConfigError(f"sweep store '{p}' is this command's own input")
    if p.is_dir() and any(p.iterdir()) and not is_result(p):
        raise ConfigError(
            f"sweep store '{p}' is a folder with other files in it, not a sweep store; "
            "choose a new folder"
        )
    if not p.exists():
        _check_parent(p, "sweep store")
    elif not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"sweep store '{p}' is not writable")
    return p


def check_folder(path: str | Path, *, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` can be a folder of outputs: an existing folder
    that is writable, or a new one that can be created (not a file, not below a file)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} '{p}' is a file; give a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"{what} '{p}' is not writable")
        return p
    _check_parent(p, what)
    return p


def write_with_fallback(write: Callable[[Path], Path], path: str | Path, what: str = "result",
                        ) -> Path:
    """Call ``write(path)``; if that fails with an ``OSError``, write to a fallback file in
    the temporary folder instead, say where on stderr, and return that path."""
    p = Path(path)
    try:
        return write(p)
    except OSError as exc:
        fd, name = tempfile.mkstemp(prefix=f"{p.stem}-", suffix=p.suffix)
        os.close(fd)
        fallback = Path(name)
        out = write(fallback)
        print(f"teacherstudent: could not write {what} '{p}' ({exc}); it was saved to "
              f"'{out}' instead", file=sys.stderr)
        return out
