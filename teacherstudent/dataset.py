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
    """The attributes every dataset carries: settings, versions, wall time, creation time.

    Parameters
    ----------
    cfg : mapping or None
        The resolved configuration: written as ``config_toml`` and flattened as
        ``"table.key"`` attributes.
    kind : str
        ``"ode"``, ``"simulation"``, ``"linear"``, ...
    wall_time_s : float
        The wall time of the computation.

    Returns
    -------
    dict
        ``kind``, ``teacherstudent_version``, ``version``, ``code_sha256``,
        ``python_version``, ``numpy_version``, ``numba_version``, ``wall_time_s``, ``created``
        and, with ``cfg``, ``config_toml`` and every setting.
    """
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
    """Write a dataset as netCDF-4 (h5netcdf engine), atomically; parent folders are created.

    Parameters
    ----------
    ds : xarray.Dataset
        A result.
    path : str or Path
        The file; it is written to ``path.part`` first and renamed, so a crash never leaves a
        half-written result.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib, teacherstudent as ts
    >>> ds = ts.integrate(None, **{"run.alpha_max": 5.0})
    >>> out = save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
    >>> load(out).attrs["kind"]
    'ode'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    ds.to_netcdf(tmp, engine="h5netcdf")
    tmp.replace(path)  # atomic: a crash never leaves a half-written result
    return path


def load(path: str | Path) -> xr.Dataset:
    """Read a dataset written by :func:`save` (fully loaded, the file closed).

    Parameters
    ----------
    path : str or Path
        The netCDF file.

    Returns
    -------
    xarray.Dataset
    """
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
