r"""Simulation against theory from the same initial overlaps.

:func:`compare` runs :func:`~teacherstudent.simulation.simulate`, integrates the ODEs from the
measured initial state (seed means of ``Q``, ``R``, ``w`` at ``α = 0`` and of the measured
``T``) and returns both in one dataset: ``eg_sim(seed, alpha)`` / ``eg_ode(alpha)`` and the
same for ``eg_pre``, ``Q``, ``R``, ``w``.  MAML / FO-MAML are compared with their ``N → ∞``
limits, the ANIL / FO-ANIL ODEs. A finite training set ``P`` is integrated at the
simulation's ``P`` (theory/finite_p.md): the drift at ``train_size = P`` and ``eg_ode`` the
few-shot error after adapting on ``P`` fresh samples, which is what the simulation estimates
on its test tasks (``attrs["ode_train_size"]``, ``attrs["ode_test_size"]``).

**Aligned overlaps.**  Which student unit specialises to which teacher unit (and with which
sign: ``(J_k, w_k) → (−J_k, −w_k)`` is a symmetry of the network for an odd activation such
as erf) is decided by the fluctuations of each run.  For each seed, and for the ODE, the
assignment ``n ↦ π(n)`` and the signs maximising ``Σ_n |R_{π(n) n}|`` at the last saved α
define ``R̃_n(α) = sign_n R_{π(n) n}(α)``, stored as ``R_aligned_sim(seed, alpha, n)`` and
``R_aligned_ode(alpha, n)``. For a student activation that is not odd (relu, sigmoid,
softplus, gelu; :func:`teacherstudent.analysis.is_odd`) the sign flip is no symmetry: the
assignment maximises ``Σ_n R_{π(n) n}`` and no sign is changed.

**Deviations** (``attrs``): ``max_abs_deg = max_α |⟨eg_sim⟩_seeds − eg_ode|``, the same for
``eg_pre`` and for the aligned ``R`` (``max_abs_dR``), and the seed spread of ``eg`` at
the α of the largest deviation (standard error ``eg_sem_at_max``).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from ..analysis.alignment import is_odd
from ..config import load_config
from ..ode import integrate, prepare
from .runner import simulate

__all__ = ["compare", "align_overlaps", "deviation_table"]


def align_overlaps(R: np.ndarray, activation: str = "erf") -> np.ndarray:
    """``R (alpha, K, M)`` → ``R̃ (alpha, M)``: matched student unit per teacher, sign fixed.

    The matching maximises ``Σ_n |R_{π(n) n}|`` at the last α where ``R`` is finite (signed
    ``Σ_n R_{π(n) n}`` and no sign change for a student ``activation`` that is not odd);
    teacher units left without a student (``K < M``) get NaN.
    """
    odd = is_odd(activation)
    A, K, M = R.shape
    out = np.full((A, M), np.nan)
    finite = np.nonzero(np.all(np.isfinite(R.reshape(A, -1)), axis=1))[0]
    if finite.size == 0:
        return out
    last = R[finite[-1]]
    rows, cols = linear_sum_assignment(-np.abs(last) if odd else -last)
    for k, n in zip(rows, cols, strict=True):
        out[:, n] = (np.sign(last[k, n] or 1.0) if odd else 1.0) * R[:, k, n]
    return out


def _ode_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The theory's configuration: the simulation's, with the error measured at the shot
    count the simulation adapts its test tasks on (``train_size``)."""
    c = copy.deepcopy(cfg)
    c["algorithm"]["test_size"] = c["algorithm"]["train_size"]
    return c


def compare(
    config: Any = None,
    N: int | None = None,
    seeds: int | None = None,
    *,
    device: str | None = "auto",
    progress: bool = False,
    per_seed: bool = False,
    sim: xr.Dataset | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    checkpoint: str | Path | None = None,
) -> xr.Dataset:
    """Simulate (or take ``sim``) and integrate the ODEs from the measured initial overlaps.

    Parameters
    ----------
    config : str, Path, dict or None
        The configuration, as for :func:`teacherstudent.simulate`.
    N, seeds : int, optional
        Input dimension and replicas of the simulation.
    device : str, optional
        As for :func:`~teacherstudent.simulation.simulate`.
    progress : bool
        Show the simulation's progress bar.
    per_seed : bool
        Also integrate the ODE from each seed's own initial state (``eg_ode_seed(seed,
        alpha)``).
    sim : xarray.Dataset, optional
        A simulation result to compare instead of running one.
    overrides : dict, optional
        Dotted keys.
    resume, checkpoint
        The simulation's (see :func:`~teacherstudent.simulation.simulate`): after Ctrl-C the
        result holds the α the simulation reached (``attrs["status"]`` interrupted) and
        ``resume=True`` continues it.

    Returns
    -------
    xarray.Dataset
        ``eg_sim(seed, alpha)`` and ``eg_ode(alpha)``, the same for ``eg_pre``, ``Q``, ``R``,
        ``w``, the aligned overlaps ``R_aligned_sim``/``R_aligned_ode`` and the deviations in
        ``attrs`` (``max_abs_deg``, ...). MAML / FO-MAML are compared with the ANIL / FO-ANIL
        ODEs, a finite ``train_size`` with the ``P = ∞`` ODE.

    Examples
    --------
    >>> from teacherstudent.simulation import compare
    >>> ds = compare(None, N=200, seeds=2, device="cpu", overrides={"run.alpha_max": 1.0})
    >>> ds.eg_sim.dims, ds.eg_ode.dims
    (('seed', 'alpha'), ('alpha',))
    """
    cfg = load_config(config, overrides)
    ode_cfg = _ode_config(cfg)
    if sim is None:
        # the theory's size check and kernels first: after a Ctrl-C in the simulation only
        # the integration remains
        prepare(ode_cfg)
        sim = simulate(cfg, N=N, seeds=seeds, device=device, progress=progress,
                       resume=resume, checkpoint=checkpoint)
    start = sim.isel(alpha=0)
    initial = {
        "Q": start.Q.mean("seed").values,
        "R": start.R.mean("seed").values,
        "w": start.w.mean("seed").values,
        "T": sim.T.mean("seed").values,
    }
    ode = integrate(ode_cfg, initial=initial).reindex(alpha=sim.alpha.values)
    act = cfg["model"]["activation"]
    R_al_sim = np.stack([align_overlaps(r, act) for r in sim.R.values])
    R_al_ode = align_overlaps(ode.R.values, act)
    ds = xr.Dataset(
        {
            "eg_sim": sim.eg,
            "eg_ode": ode.eg,
            "eg_pre_sim": sim.eg_pre,
            "eg_pre_ode": ode.eg_pre,
            "Q_sim": sim.Q,
            "Q_ode": ode.Q,
            "R_sim": sim.R,
            "R_ode": ode.R,
            "w_sim": sim.w,
            "w_ode": ode.w,
            "T_sim": sim.T,
            "R_aligned_sim": (("seed", "alpha", "n"), R_al_sim),
            "R_aligned_ode": (("alpha", "n"), R_al_ode),
            "tasks": sim.tasks,
        }
    )
    if per_seed:
        eg_seed = np.full(sim.eg.shape, np.nan)
        for i in range(sim.sizes["seed"]):
            s0 = start.isel(seed=i)
            init_i = {"Q": s0.Q.values, "R": s0.R.values, "w": s0.w.values,
                      "T": sim.T.isel(seed=i).values}
            eg_seed[i] = integrate(ode_cfg, initial=init_i).reindex(alpha=sim.alpha.values).eg
        ds["eg_ode_seed"] = (("seed", "alpha"), eg_seed)
    ds.attrs.update(sim.attrs)
    ds.attrs["kind"] = "compare"
    ds.attrs["ode_message"] = ode.attrs["message"]
    ds.attrs["ode_status"] = int(ode.attrs["status"])
    ds.attrs["ode_algorithm"] = ode.attrs["ode_algorithm"]
    for key in ("train_size", "test_size"):  # the P the theory was integrated at
        v = ode_cfg["algorithm"][key]
        ds.attrs[f"ode_{key}"] = "inf" if v == math.inf else int(v)
    ds.attrs.update(deviations(ds))
    return ds


def deviations(ds: xr.Dataset) -> dict[str, float]:
    """Largest deviations of the seed means from the ODE (see the module docstring)."""
    out: dict[str, float] = {}
    with np.errstate(all="ignore"):
        d = np.abs(ds.eg_sim.mean("seed", skipna=True) - ds.eg_ode).values
        i = int(np.nanargmax(d)) if np.any(np.isfinite(d)) else 0
        out["max_abs_deg"] = float(np.nanmax(d)) if np.any(np.isfinite(d)) else math.nan
        out["alpha_at_max_deg"] = float(ds.alpha.values[i])
        S = int(np.sum(np.isfinite(ds.eg_sim.values[:, i])))
        out["eg_sem_at_max"] = (
            float(np.nanstd(ds.eg_sim.values[:, i], ddof=1) / math.sqrt(S)) if S > 1 else math.nan
        )
        dp = np.abs(ds.eg_pre_sim.mean("seed", skipna=True) - ds.eg_pre_ode).values
        out["max_abs_deg_pre"] = float(np.nanmax(dp)) if np.any(np.isfinite(dp)) else math.nan
        dR = np.abs(ds.R_aligned_sim.mean("seed", skipna=True) - ds.R_aligned_ode).values
        out["max_abs_dR"] = float(np.nanmax(dR)) if np.any(np.isfinite(dR)) else math.nan
        out["eg_final_sim"] = float(ds.eg_sim.isel(alpha=-1).mean("seed", skipna=True))
        out["eg_final_ode"] = float(ds.eg_ode.isel(alpha=-1))
    return out


def deviation_table(ds: xr.Dataset, title: str | None = None):
    """A :class:`rich.table.Table` of :func:`deviations`."""
    from rich.table import Table

    a = ds.attrs
    t = Table(title=title or f"simulation vs ODE — {a.get('algorithm.name')} N={a.get('N')} "
              f"seeds={a.get('seeds')}")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    rows = [
        ("max_α |⟨ε_sim⟩ − ε_ode|", a["max_abs_deg"]),
        ("  at α", a["alpha_at_max_deg"]),
        ("  seed s.e.m. of ε_sim there", a["eg_sem_at_max"]),
        ("max_α |⟨ε_pre,sim⟩ − ε_pre,ode|", a["max_abs_deg_pre"]),
        ("max_α |⟨R̃_sim⟩ − R̃_ode| (aligned)", a["max_abs_dR"]),
        ("final ε: simulation", a["eg_final_sim"]),
        ("final ε: ODE", a["eg_final_ode"]),
    ]
    for name, v in rows:
        t.add_row(name, f"{v:.4g}")
    return t

