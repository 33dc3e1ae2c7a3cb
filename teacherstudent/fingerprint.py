"""sha256 of package source files: which code computed a result, or compiled a kernel."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def sources_sha256(paths: Iterable[Path], salt: str = "") -> str:
    """Hex sha256 over ``salt`` and, per file (in the order given), its path relative to the
    package and its bytes: a rename, an edit or a moved file all change it."""
    h = hashlib.sha256(salt.encode())
    for f in paths:
        h.update(Path(f).resolve().relative_to(ROOT).as_posix().encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()
