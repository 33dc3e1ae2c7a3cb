"""Configuration: defaults, shorthands, validation messages naming the key, round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from teacherstudent.config import (
    ConfigError,
    build_problem,
    load_config,
    parse_overrides,
    to_toml,
)


def test_defaults_are_the_paper_like_run():
    cfg = load_config(None)
    assert cfg["model"] == {"K": 3, "M": 3, "activation": "erf", "teacher_activation": "erf",
                            "readout": "sqrt", "noise": 0.0, "quadrature_order": 129}
    alg = cfg["algorithm"]
    assert (alg["name"], alg["eta_J"], alg["eta_w"], alg["eta_0"]) == ("fo-anil", 3.0, 9.0, 3.0)
    assert alg["inner_steps"] == 1 and alg["train_size"] == math.inf and alg["val_size"] == math.inf
    assert cfg["run"]["alpha_max"] == 450.0
    p = build_problem(cfg)
    np.testing.assert_array_equal(p.Q0, 0.5 * np.eye(3))
    np.testing.assert_array_equal(p.w0, np.zeros(3))
    assert 1e-4 < np.abs(p.R0).max() < 1e-2  # random, scale 1e-3
    np.testing.assert_array_equal(p.T, np.eye(3))
    np.testing.assert_array_equal(p.u_cov, np.eye(3))


def test_seeded_random_initial_overlaps_are_reproducible():
    a = build_problem(load_config({"init": {"seed": 4}}))
    b = build_problem(load_config({"init": {"seed": 4}}))
    c = build_problem(load_config({"init": {"seed": 5}}))
    np.testing.assert_array_equal(a.R0, b.R0)
    assert not np.array_equal(a.R0, c.R0)


def test_shorthands_for_task_law():
    p = build_problem(load_config({"tasks": {"head_mean": 0.5, "head_cov": [1.0, 2.0, 3.0]}}))
    np.testing.assert_array_equal(p.u_mean, [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(p.u_cov, np.diag([1.0, 2.0, 3.0]))


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"model": {"K": 0}}, "model.K"),
        ({"model": {"K": 2.5}}, "model.K"),
        ({"model": {"Kx": 3}}, "model.Kx"),
        ({"modle": {"K": 3}}, "modle"),
        ({"model": {"activation": "swish"}}, "model.activation"),
        ({"model": {"teacher_activation": "swish"}}, "model.teacher_activation"),
        ({"model": {"quadrature_order": 1}}, "model.quadrature_order"),
        ({"algorithm": {"eta_J": -1.0}}, "algorithm.eta_J"),
        ({"algorithm": {"eta_w": "fast"}}, "algorithm.eta_w"),
        ({"algorithm": {"name": "sgd"}}, "algorithm.name"),
        ({"algorithm": {"val_size": 0}}, "algorithm.val_size"),
        ({"tasks": {"gamma": 1.5}}, "tasks.gamma"),
        ({"tasks": {"head_cov": [[1.0, 2.0], [2.0, 1.0]]}, "model": {"M": 2}}, "tasks.head_cov"),
        ({"tasks": {"head_cov": [1.0, 2.0]}}, "tasks.head_cov"),
        ({"tasks": {"teacher_overlap": -1.0}}, "tasks.teacher_overlap"),
        ({"init": {"Q": -0.5}}, "init.Q"),
        ({"init": {"Q": [[1.0, 0.0], [0.0, 1.0]]}}, "init.Q"),
        ({"init": {"Q": 0.1, "R": [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]}}, "init.R"),
        ({"run": {"solver": "rk45"}}, "run.solver"),
        ({"run": {"save_alpha": [0.0, 2.0, 1.0]}}, "run.save_alpha"),
        ({"run": {"alpha_max": 10.0, "save_alpha": [0.0, 20.0]}}, "run.save_alpha"),
        ({"linear": {"d": 3}}, "linear"),
    ],
)
def test_bad_input_names_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(raw)


def test_finite_train_size_is_integrated_and_the_one_gap_is_refused_with_a_reason():
    """Finite P has a theory (theory/finite_p.md): the ODE runs and records the P; the one
    combination without a kernel (exact ANIL, inner_steps > 1, finite P) names the key."""
    from teacherstudent import integrate

    ds = integrate({"algorithm": {"train_size": 10}, "run": {"alpha_max": 1.0, "n_save": 5}})
    assert ds.attrs["algorithm.train_size"] == 10 and ds.attrs["status"] == 0
    with pytest.raises(ConfigError, match="algorithm.train_size.*inner_steps"):
        integrate({"algorithm": {"name": "anil", "inner_steps": 2, "train_size": 10}})


def test_overrides_parse_toml_literals_and_bare_words():
    o = parse_overrides(
        [
            "algorithm.eta_J=2",
            "algorithm.name=anil",
            "algorithm.val_size=inf",
            "init.w=[1.0, 2.0, 3.0]",
        ]
    )
    assert o == {
        "algorithm.eta_J": 2,
        "algorithm.name": "anil",
        "algorithm.val_size": math.inf,
        "init.w": [1.0, 2.0, 3.0],
    }
    cfg = load_config(None, o)
    assert cfg["algorithm"]["eta_J"] == 2.0 and cfg["algorithm"]["val_size"] == math.inf
    with pytest.raises(ConfigError, match="table.key=value"):
        parse_overrides(["eta_J"])


def test_toml_round_trip(tmp_path):
    cfg = load_config(
        {
            "tasks": {"head_cov": [[1.0, 0.2, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 0.5]]},
            "algorithm": {"val_size": 4},
        }
    )
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    again = load_config(path)
    assert again == cfg


def test_invalid_toml_file_is_reported(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\nK = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
