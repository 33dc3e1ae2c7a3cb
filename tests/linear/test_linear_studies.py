"""The study files under simulations/linear/ and the studies themselves (quick mode)."""

from __future__ import annotations

import pytest

import teacherstudent.linear as L
from teacherstudent.linear import studies


def test_every_study_has_a_valid_toml():
    for name in studies.STUDIES:
        spec = studies.read_study(name)
        assert spec["study"]["figure"] == name
        if name == "linear-depth1d":
            assert {"alpha", "beta", "steps", "depths"} <= set(spec["depth1d"])
            continue
        for cfg in studies.variant_configs(spec).values():
            L.load_config(cfg)  # raises ConfigError on any bad key or value


@pytest.mark.parametrize("name", sorted(studies.STUDIES))
def test_study_quick_mode_writes_png_and_pdf(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHERSTUDENT_QUICK", "1")
    paths = studies.STUDIES[name](tmp_path)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000 and p.name.startswith("linear-")
    assert name in studies.SUMMARIES
