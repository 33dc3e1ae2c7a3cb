"""Self-describing outputs: provenance attributes and netCDF I/O shared by all commands.

xarray (with pandas and, through xarray, dask) is imported only when a dataset is built or
read: ``teacherstudent ode`` writes its result from a :class:`Table` of plain arrays, the
same netCDF file that xarray writes, in a fraction of the start-up time and memory.
"""

from __future__ import annotations

import datetime as _dt
import functools
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import flat_attrs, to_toml
from .fingerprint import ROOT, sources_sha256

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["provenance", "save", "load", "code_fingerprint", "Table"]

#: A variable of a :class:`Table`: its dimensions, values and attributes.
Variable = tuple[tuple[str, ...], np.ndarray, dict[str, Any]]


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
    import numpy

    from .version import __version__, library_version

    attrs: dict[str, Any] = {
        "kind": kind,
        "teacherstudent_version": __version__,
        "version": __version__,
        "code_sha256": code_fingerprint(),
        "python_version": platform.python_version(),
        "numpy_version": numpy.__version__,
        "numba_version": library_version("numba"),
        "wall_time_s": float(wall_time_s),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if cfg is not None:
        attrs["config_toml"] = to_toml(cfg)
        attrs.update(flat_attrs(cfg))
    return attrs


@dataclass
class Table:
    """A result as plain arrays, laid out as the :class:`xarray.Dataset` it stands for.

    ``data_vars`` and ``coords`` map a name to ``(dims, values, attrs)``; ``attrs`` are the
    global attributes. :meth:`to_xarray` builds the dataset; :func:`save` writes the same
    netCDF file from either. Only numeric (float or integer) arrays are supported.

    Examples
    --------
    >>> import numpy as np
    >>> t = Table({"eg": (("alpha",), np.array([0.2, 0.1]), {})},
    ...           {"alpha": (("alpha",), np.array([0.0, 1.0]), {})}, {"kind": "demo"})
    >>> t.sizes["alpha"], float(t["eg"][-1])
    (2, 0.1)
    >>> t.to_xarray().eg.dims
    ('alpha',)
    """

    data_vars: dict[str, Variable]
    coords: dict[str, Variable]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        """The values of a data variable or coordinate."""
        return (self.data_vars.get(name) or self.coords[name])[1]

    def __contains__(self, name: str) -> bool:
        return name in self.data_vars or name in self.coords

    @property
    def variables(self) -> dict[str, Variable]:
        """Every variable in the order xarray keeps them (data variables, then coordinates)."""
        return {**self.data_vars, **self.coords}

    @property
    def sizes(self) -> dict[str, int]:
        """Length of every dimension (in order of first appearance)."""
        out: dict[str, int] = {}
        for dims, values, _ in self.variables.values():
            out.update(zip(dims, np.shape(values), strict=True))
        return out

    def isel(self, indexers: dict[str, Any]) -> Table:
        """The table at integer positions along some dimensions, as ``xarray.Dataset.isel``
        (``indexers`` maps a dimension to an index array; the attributes are shared).

        Parameters
        ----------
        indexers : dict
            Dimension name → integer index array.

        Returns
        -------
        Table
            The selected table.
        """

        def pick(var: Variable) -> Variable:
            dims, values, attrs = var
            for axis, dim in enumerate(dims):
                if dim in indexers:
                    values = np.take(values, np.asarray(indexers[dim]), axis=axis)
            return dims, values, attrs

        return Table({k: pick(v) for k, v in self.data_vars.items()},
                     {k: pick(v) for k, v in self.coords.items()}, self.attrs)

    def to_xarray(self) -> xr.Dataset:
        """The :class:`xarray.Dataset` (the attributes are copied)."""
        import xarray as xr

        ds = xr.Dataset(dict(self.data_vars), coords=dict(self.coords))
        ds.attrs.update(self.attrs)
        return ds


def _atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    write(tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written result
    return path


def _write_table(table: Table, path: Path) -> None:
    """Write ``table`` with h5netcdf exactly as xarray's h5netcdf backend writes the dataset:
    global attributes, then the dimensions (in order of first appearance), then every
    variable with its attributes; float variables get ``_FillValue = NaN`` (xarray's default
    encoding), integer ones none. ``tests/test_dataset_table.py`` compares both files."""
    import h5netcdf

    variables = table.variables
    for name, (_, values, _) in variables.items():
        if np.asarray(values).dtype.kind not in "fiu":
            raise TypeError(f"Table variable {name!r}: only numeric arrays can be written")
    with h5netcdf.File(path, "w", invalid_netcdf=None, decode_vlen_strings=True) as f:
        for key, value in table.attrs.items():
            f.attrs[key] = value
        for dim, length in table.sizes.items():
            f.dimensions[dim] = length
        for name, (dims, values, attrs) in variables.items():
            values = np.asarray(values)
            fill = np.nan if values.dtype.kind == "f" else None
            var = f.create_variable(name, dimensions=dims, dtype=values.dtype, fillvalue=fill)
            for key, value in attrs.items():
                var.attrs[key] = value
            var[...] = values


def save(ds: xr.Dataset | Table, path: str | Path) -> Path:
    """Write a dataset as netCDF-4 (h5netcdf engine), atomically; parent folders are created.

    Parameters
    ----------
    ds : xarray.Dataset or Table
        A result (a :class:`Table` is written without importing xarray; the file is the
        same as that of ``ds.to_xarray()``).
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
    if isinstance(ds, Table):
        return _atomic(path, lambda tmp: _write_table(ds, tmp))
    return _atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


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
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
