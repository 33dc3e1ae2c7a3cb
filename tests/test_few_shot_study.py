"""The `few-shot` study (simulations/few_shot.py) in quick mode: files, and physics that could fail.

The quick grid is P ∈ {1, 20, ∞} × η_w ∈ {4.5, 9, 18} (FO-ANIL, ANIL) with the large-P runs
P = 10³, 10⁴ at η_w = 9 (about 20–40 s on 2 cores).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from teacherstudent import studies

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("few_shot")
    registry = studies.discover(ROOT / "simulations")
    failed = studies.run_studies(registry, ["few-shot"], out, quick=True, log=lambda _: None)
    assert failed == []
    return out, json.loads((out / "data" / "few_shot.json").read_text())


def test_files_written(quick):
    out, summ = quick
    for f in ("few-shot.png", "few-shot.pdf", "few-shot.txt", "data/few_shot.nc"):
        assert (out / f).stat().st_size > 1000, f
    assert (out / "few-shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ds = xr.open_dataset(out / "data" / "few_shot.nc")
    assert dict(ds.sizes) == {"algorithm": 2, "eta_w": 3, "train_size": 3}
    assert summ["errors"] == {}


@pytest.mark.parametrize("alg", ["fo-anil", "anil"])
def test_excess_falls_like_one_over_P(quick, alg):
    _, summ = quick
    e = summ[alg]["excess"]
    P, d = np.array(e["P"], float), np.array(e["excess"], float)
    assert np.all(d > 0) and np.all(np.diff(d) < 0)  # more shots, smaller excess
    assert e["exponent"] == pytest.approx(1.0, abs=0.1)
    # the 1/P coefficient: the Richardson limit of P*excess, equal to the test-time
    # adaptation's coefficient of the converged P = inf solution (the representation enters
    # at O(1/P^2)), and approached by P*excess at the largest P
    c = e["c_one_over_P"]
    assert 0.1 < c < 2.0
    assert e["c_test_time_only"] == pytest.approx(c, rel=1e-3)
    assert P[-1] * d[-1] == pytest.approx(c, rel=0.01)


@pytest.mark.parametrize("alg", ["fo-anil", "anil"])
def test_minimal_P_brackets_the_target(quick, alg):
    _, summ = quick
    rows = {r["eta_w"]: r for r in summ[alg]["minimal_P_detail"]["0.01"]}
    r9 = rows[9.0]
    # P = 20 (a grid point) misses 0.01 at eta_w = 9, P = inf reaches it
    assert 20 < r9["P_min"] < 1000
    assert r9["eg_min_at_P_min"] <= 0.01 < r9["eg_min_at_P_min_minus_1"]
    for r in rows.values():
        assert math.isfinite(r["P_min"])  # every quick eta_w reaches 0.01 at P = inf
        assert r["eg_min_at_P_min"] <= 0.01


def test_maps_are_consistent(quick):
    _, summ = quick
    fo = summ["fo-anil"]
    # P = inf at the default rates is the default run: eps <= 0.01 at alpha = 22.49
    assert fo["alpha_threshold_at_default_eta_w"]["inf"] == pytest.approx(22.49, abs=0.05)
    for alg in ("fo-anil", "anil"):
        eg = summ[alg]["eg_final_at_default_eta_w"]
        assert eg["1"] > eg["20"] > eg["inf"]  # the floor falls with P
        # the few-shot floor at P = 1, 20 lies above 0.01: never reached on the map
        th = np.array(summ[alg]["alpha_threshold"], dtype=float)  # (eta_w, P); NaN as None
        assert np.all(np.isnan(th[:, :2]))
        assert np.all(np.isfinite(th[:, 2]))
