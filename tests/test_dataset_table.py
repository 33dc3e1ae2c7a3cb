"""A :class:`teacherstudent.dataset.Table` is written as the same netCDF file as its xarray
dataset (``teacherstudent ode`` writes its result without importing xarray)."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import xarray as xr

from teacherstudent.dataset import Table, load, save


def _describe(value, f: h5py.File):
    """An attribute or array with HDF5 object references replaced by the referenced names."""
    if isinstance(value, h5py.Reference):
        return ("ref", f[value].name)
    if isinstance(value, np.ndarray) and value.dtype.fields:
        return (
            "struct",
            str(value.dtype.names),
            [tuple(_describe(v, f) for v in row) for row in value.tolist()],
        )
    if isinstance(value, np.ndarray) and value.dtype == object:
        return ("objects", value.shape, [_describe(v, f) for v in value.ravel()])
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return (
        type(value).__name__,
        getattr(value, "dtype", None) and value.dtype.str,
        value.tobytes() if isinstance(value, np.generic) else value,
    )


def _structure(path):
    """Everything the file holds: objects in order, dtypes, shapes, storage, fill values,
    attributes (name, type, dtype, value) in order, and the data bytes."""
    out = []
    with h5py.File(path, "r") as f:
        out.append(("/", [(k, _describe(v, f)) for k, v in f.attrs.items()]))
        for name, obj in f.items():
            out.append(
                (
                    name,
                    obj.dtype.str,
                    obj.shape,
                    obj.chunks,
                    obj.compression,
                    obj.fillvalue.tobytes() if hasattr(obj.fillvalue, "tobytes") else obj.fillvalue,
                    obj[()].tobytes(),
                    [(k, _describe(v, f)) for k, v in obj.attrs.items()],
                )
            )
    return out


def _table() -> Table:
    rng = np.random.default_rng(3)
    alpha = np.array([0.0, 0.5, 2.0, 7.0])
    return Table(
        {
            "Q": (("alpha", "k", "l"), rng.standard_normal((4, 2, 2)), {"long_name": "Q_kl"}),
            "R": (("alpha", "k", "n"), rng.standard_normal((4, 2, 3)), {"long_name": "R·B"}),
            "eg": (("alpha",), np.array([0.2, 0.1, np.nan, 0.05]), {"units": "1"}),
            "T": (("n", "m"), np.eye(3), {}),
        },
        {
            "alpha": (("alpha",), alpha, {"long_name": "tasks / N"}),
            "k": (("k",), np.arange(2), {}),
            "l": (("l",), np.arange(2), {}),
            "n": (("n",), np.arange(3), {}),
            "m": (("m",), np.arange(3), {}),
        },
        {
            "kind": "ode",
            "status": 0,
            "wall_time_s": 0.25,
            "alpha_threshold": float("nan"),
            "model.K": 2,
            "config_toml": "[model]\nK = 2\n",
            "message": "reached alpha_max",
        },
    )


def test_table_file_is_the_xarray_file(tmp_path):
    t = _table()
    a = save(t, tmp_path / "table.nc")
    b = save(t.to_xarray(), tmp_path / "xarray.nc")
    assert _structure(a) == _structure(b)
    xr.testing.assert_identical(load(a), load(b))
    assert load(a).attrs["status"] == 0 and load(a).attrs["config_toml"] == "[model]\nK = 2\n"


def test_ode_table_file_is_the_xarray_file(tmp_path):
    from teacherstudent.ode import integrate_table

    t = integrate_table(None, **{"run.alpha_max": 5.0, "run.n_save": 20})
    a = save(t, tmp_path / "table.nc")
    b = save(t.to_xarray(), tmp_path / "xarray.nc")
    assert _structure(a) == _structure(b)
    ds = load(a)
    xr.testing.assert_identical(ds, load(b))
    assert ds.Q.dims == ("alpha", "k", "l") and ds.sizes["alpha"] == t.sizes["alpha"] == 20
    np.testing.assert_array_equal(ds.eg.values, t["eg"])


def test_table_refuses_non_numeric_variables(tmp_path):
    t = Table({"name": (("x",), np.array(["a", "b"]), {})}, {})
    with pytest.raises(TypeError, match="name"):
        save(t, tmp_path / "t.nc")
    assert not (tmp_path / "t.nc").exists()


def _loaded_after_ode(args: str, modules: tuple[str, ...], check: str = "") -> str:
    """Which of ``modules`` a fresh process has loaded after ``teacherstudent ode -o r.nc
    -q --set run.alpha_max=5`` plus ``args`` (``check``: more lines run after it)."""
    code = (
        "import sys, tempfile, pathlib\n"
        "from teacherstudent.cli import main\n"
        "out = pathlib.Path(tempfile.mkdtemp()) / 'r.nc'\n"
        f"assert main(['ode', '-o', str(out), {args}'-q', '--set', 'run.alpha_max=5']) == 0\n"
        f"{check}"
        f"print(sorted(m for m in {modules!r} if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return res.stdout.strip()


def test_ode_command_path_does_not_import_xarray():
    """What `teacherstudent ode --no-plot` imports before, during and after its run."""
    heavy = ("xarray", "pandas", "dask", "matplotlib", "torch", "scipy.optimize")
    assert _loaded_after_ode("'--no-plot', ", heavy) == "[]"


def test_table_isel_is_xarrays_isel():
    from teacherstudent.ode import integrate_table

    t = integrate_table(None, **{"run.alpha_max": 5.0, "run.n_save": 20})
    idx = np.array([0, 3, 4, 19])
    xr.testing.assert_identical(t.isel({"alpha": idx}).to_xarray(),
                                t.to_xarray().isel({"alpha": idx}))
    sub = t.isel({"k": [1]})
    assert sub["Q"].shape == (20, 1, 3) and sub["R"].shape == (20, 1, 3)


def test_ode_command_figure_does_not_import_xarray():
    """The default figure of `teacherstudent ode` is drawn from the plain arrays."""
    png = "assert out.with_suffix('.png').stat().st_size > 10_000\n"
    assert _loaded_after_ode("", ("xarray", "pandas", "dask", "scipy.optimize"), png) == "[]"
