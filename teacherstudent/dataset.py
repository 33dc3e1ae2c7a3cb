"""Self-describing outputs: provenance attributes and netCDF I/O shared by all commands."""

from __future__ import annotations

import datetime as _dt
import functools
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from .config import flat_attrs, to_toml
from .fingerprint import ROOT, sources_sha256

__all__ = ["provenance", "save", "load", "code_fingerprint"]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Which code computed a result: sha256 (16 hex digits) over the package's Python
    sources. The version number alone does not change when the code is edited."""
    return sources_sha256(sorted(ROOT.rglob("*.py")))[:16]


def provenance(cfg: Mapping[str, Any] | None, kind: str, wall_time_s: float) -> dict[str, Any]:
    """Attributes every dataset carries: settings, versions, wall time, creation time."""
    import numba
    import numpy

    from .version import __version__

    attrs: dict[str, Any] = {
        "kind": kind,
        "teacherstudent_version": __version__,
        "version": __version__,
        "code_sha256": code_fingerprint(),
        "python_version": platform.python_version(),
        "numpy_version": numpy.__version__,
        "numba_version": numba.__version__,
        "wall_time_s": float(wall_time_s),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if cfg is not None:
        attrs["config_toml"] = to_toml(cfg)
        attrs.update(flat_attrs(cfg))
    return attrs


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a dataset as netCDF-4 (h5netcdf engine); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    ds.to_netcdf(tmp, engine="h5netcdf")
    tmp.replace(path)  # atomic: a crash never leaves a half-written result
    return path


def load(path: str | Path) -> xr.Dataset:
    """Read a dataset written by :func:`save` (fully loaded, file closed)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
