"""Output safety rules (teacherstudent.outputs): foreign files and inputs are never replaced,
results only with force, bad locations are refused before any work."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import xarray as xr

from teacherstudent.dataset import provenance, save
from teacherstudent.outputs import FIGURE_METADATA, check_output, check_store, is_result
from teacherstudent.validation import ConfigError


def _result(path):
    ds = xr.Dataset({"eg": ("alpha", [1.0, 0.5])}, coords={"alpha": [0.0, 1.0]})
    ds.attrs.update(provenance(None, "ode", 0.0))
    return save(ds, path)


def test_recognises_our_files_and_only_those(tmp_path):
    nc = _result(tmp_path / "r.nc")
    foreign_nc = tmp_path / "f.nc"
    xr.Dataset({"x": ("t", [1.0])}).to_netcdf(foreign_nc, engine="h5netcdf")
    text = tmp_path / "notes.nc"
    text.write_text("my notes")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ours_png = tmp_path / "ours.png"
    fig.savefig(ours_png, metadata=FIGURE_METADATA[".png"])
    ours_pdf = tmp_path / "ours.pdf"
    fig.savefig(ours_pdf, metadata=FIGURE_METADATA[".pdf"])
    plain_png = tmp_path / "plain.png"
    fig.savefig(plain_png)
    plt.close(fig)
    assert is_result(nc) and is_result(ours_png) and is_result(ours_pdf)
    assert not is_result(foreign_nc) and not is_result(text) and not is_result(plain_png)
    assert not is_result(tmp_path / "missing.nc")


def test_refusals_name_the_path(tmp_path):
    nc = _result(tmp_path / "r.nc")
    cfg = tmp_path / "run.toml"
    cfg.write_text("[model]\nK = 2\n")
    before = cfg.read_bytes()
    cases = [
        (dict(path=tmp_path), "is a folder"),
        (dict(path=cfg / "below.nc"), "is a file, not a folder"),
        (dict(path=cfg, inputs=[cfg], force=True), "own input"),
        (dict(path=cfg, force=True), "not a teacherstudent result"),
        (dict(path=nc), "--force"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(ConfigError, match=needle) as err:
            check_output(what="-o", **kwargs)
        assert str(kwargs["path"]) in str(err.value)
    assert cfg.read_bytes() == before
    assert check_output(nc, force=True) == nc
    assert check_output(nc, inputs=[nc], replaces_input=True) == nc
    deep = tmp_path / "new" / "deeper" / "x.nc"
    assert check_output(deep) == deep


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_output(ro / "x.nc")
    finally:
        ro.chmod(0o700)


def test_store_rules(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        check_store(tmp_path / "file")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_text("x")
    with pytest.raises(ConfigError, match="not a sweep store"):
        check_store(other)
    store = tmp_path / "s.sweep"
    (store / "parts").mkdir(parents=True)
    assert check_store(store) == store
    assert check_store(tmp_path / "fresh") == tmp_path / "fresh"
