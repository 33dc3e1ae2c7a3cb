r"""Saddle-to-saddle dynamics: the sequence of fixed points a run visits and how long it stays.

Theory: ``theory/plateau.md`` §8. With unequal teacher units (e.g. ``tasks.head_cov =
[2, 1, 0.5]``) a run does not leave its plateau in one step: it learns the teacher units one
group at a time and lingers on a *shoulder* after each. Everything here uses the public ODE
API and the fixed-point tools of :mod:`.fixed_point_theory`.

**Invariant subspaces.** At ``ū = 0`` with orthogonal teacher units (diagonal ``T``) and an
odd activation, the drift is odd in each column ``R_{·n}`` (flipping ``B_n`` and ``u_n``
leaves the task distribution unchanged), so the set where the columns of the teacher units
not yet learnt vanish is invariant; so is the set of states invariant under a permutation of
the student units (the drift is equivariant). A *stage* is the flow inside such a subspace
``𝒮`` (orthogonal projector ``P`` in reduced coordinates): the *learnt* columns are those with
normalised norm ``|R_{·n}|/√T_nn ≥ learnt_tol`` on arrival, and the subspace is *symmetric*
(averaged over student permutations) when the learnt columns are equal across student units
to ``symmetric_tol``.

**Inner solution** (exact to first order in the transverse deviation). Split the state on
arrival into ``z_∥ = P z`` and ``z_⊥ = (I − P) z``. ``z_∥`` follows the drift restricted to
``𝒮`` (integrated, re-projected after every step so that rounding cannot grow along the
unstable transverse directions); since ``𝒮`` is invariant, ``z_⊥`` obeys
``dz_⊥/dα = J_⊥(z_∥(α)) z_⊥ + O(|z_⊥|²)`` with ``J_⊥ = (I − P) J (I − P)`` (``J``: the Jacobian
of the drift, central differences), propagated exactly (matrix exponential) over steps of
``Δα = clip(0.1/rate, 0.25, 5)`` with ``J_⊥`` frozen on each step, until ``|z_⊥| = δ``
(``t_m`` later). The
shoulder need not be a fixed point: the run can escape from a slow, algebraic approach to one
(the growth is exponential), so the transverse rate is taken along the way
(``rate``: the largest real part of ``J_⊥`` on arrival).

**Outer solution.** The full drift from ``z_∥(t_m) + z_⊥(t_m)``; the stage's escape α* is
the first α at which ``ε < 0.9 ε_s`` (``ε_s`` the shoulder height, ε of ``z_∥(t_m)``: the
rule of :func:`.trajectory.plateau`); the outer solution is continued to the next arrival
(the first local minimum of ``|drift|`` after the escape), which starts the next stage.
The prediction uses the initial state and the drift only; the integrated run is used for the
comparison (its α* with the same rule and heights).

**Independent-mode law** (leading order; ``alpha_escape_law``). On the plateau ``R = 0`` the
column ``R_{·n}`` of teacher unit ``n`` grows at its own rate ``λ_n`` (∝ ``(Σ_u)_nn`` for
diagonal ``Σ_u`` and ``T``: the closed-form R block of :mod:`.fixed_point_theory`), and the
transverse rates on the later shoulders stay close to these (measured in
``theory/plateau.md`` §8). If every column kept its rate, column ``n`` would escape like the
plateau itself on the time scale ``1/λ_n``: with ``a_n = |R_{·n}(0)|`` and ``τ`` the outer
time of the plateau escape, ``α*_n = [ln(δ/a_n) + λ_1 τ]/λ_n``. Stage ``s`` ends with the
escape of the unit with the ``(s+1)``-th largest rate. It ignores the competition between
student units (a symmetric state, where the units must first split, lasts longer).

**Fixed point of a stage.** The restricted flow is integrated on (to ``α_fp``) and the limit
polished by Gauss–Newton inside ``𝒮``: the fixed point the stage approaches, with its full
spectrum (:func:`.fixed_point_theory.describe_point`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import ConfigError, load_config
from .alignment import ODD_ACTIVATIONS
from .fixed_point_theory import (
    FixedPoint,
    ThresholdPrediction,
    describe_point,
    expand_state,
    jacobian,
    outer_threshold,
    reduce_state,
    reduced_drift,
    state_blocks,
)
from .trajectory import escape_time

# shortest step of the frozen-Jacobian transverse propagation, and the longest step of it
# and of the re-projected restricted flow (rounding grows like e^{rate·Δ} per chunk)
_DT_INNER = 0.25
_DT_PROJECT = 5.0


@dataclass(frozen=True)
class Stage:
    """One shoulder of a run: its invariant subspace, transverse rate and escape."""

    index: int
    learnt: tuple[int, ...]  # teacher units whose columns of R span the subspace
    symmetric: bool  # the subspace is also symmetric under student permutations
    alpha_in: float  # arrival (predicted chain)
    amplitude: float  # |z_⊥| on arrival
    rate: float  # largest real part of J_⊥ on arrival
    rates: np.ndarray  # leading real parts of the transverse spectrum on arrival
    t_inner: float  # linear transverse flow to |z_⊥| = δ
    height: float  # ε of the restricted flow at matching: the shoulder
    alpha_escape: float  # predicted (first α with ε < 0.9 height)
    alpha_escape_integrated: float  # of the integrated run, same rule and height
    alpha_escape_law: float = math.nan  # independent-mode law (module docstring)
    fixed_point: FixedPoint | None = field(repr=False, default=None)

    @property
    def duration(self) -> float:
        """Predicted α from arrival to escape."""
        return self.alpha_escape - self.alpha_in

    def summary(self) -> dict[str, Any]:
        fp = self.fixed_point
        return {
            "index": self.index,
            "learnt": list(self.learnt),
            "symmetric": self.symmetric,
            "alpha_in": self.alpha_in,
            "amplitude": self.amplitude,
            "rate": self.rate,
            "rates": self.rates.tolist(),
            "t_inner": self.t_inner,
            "height": self.height,
            "alpha_escape": self.alpha_escape,
            "alpha_escape_integrated": self.alpha_escape_integrated,
            "alpha_escape_law": self.alpha_escape_law,
            "fixed_point": None if fp is None else fp.summary(),
        }


@dataclass(frozen=True)
class SaddleSequence:
    """The stages of a run (:func:`saddle_sequence`), its final fixed point and the run."""

    stages: list[Stage]
    final: FixedPoint | None
    alpha: np.ndarray = field(repr=False)  # the integrated run
    eg: np.ndarray = field(repr=False)
    prediction_alpha: np.ndarray = field(repr=False)  # ε along the predicted chain (outer parts)
    prediction_eg: np.ndarray = field(repr=False)
    delta: float = 1e-2

    def summary(self) -> dict[str, Any]:
        return {
            "generator": "teacherstudent.analysis.saddle_sequence",
            "delta": self.delta,
            "stages": [s.summary() for s in self.stages],
            "final": None if self.final is None else self.final.summary(),
        }


def invariant_projector(vf: Any, learnt: Any, symmetric: bool = False) -> np.ndarray:
    """Orthogonal projector (reduced coordinates) onto an invariant subspace of the drift.

    Parameters
    ----------
    vf : VectorField
        The vector field.
    learnt : sequence of int
        Teacher units whose columns ``R_{·n}`` are kept; the others are set to 0.
    symmetric : bool
        Also average over the permutations of the student units (``K!`` of them).

    Returns
    -------
    ndarray
        ``P`` with ``P = Pᵀ = P²``.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> vf = ts.ode.VectorField.from_config(ts.load_config(None))
    >>> P = invariant_projector(vf, [0])
    >>> int(round(P.trace()))  # 6 of Q, 3 of R (column 0), 3 of w
    12
    """
    K, M = vf.problem.K, vf.problem.M
    n = reduce_state(vf, vf.y0).size
    keep = np.ones(n, bool)
    cols = np.zeros((K, M), bool)
    cols[:, [m for m in range(M) if m not in set(int(i) for i in learnt)]] = True
    keep[state_blocks(vf)["R"]] = ~cols.ravel()
    D = np.diag(keep.astype(float))
    if not symmetric:
        return D
    eye = np.eye(n)
    S = np.zeros((n, n))
    perms = list(itertools.permutations(range(K)))
    for p in perms:
        p = list(p)
        for j in range(n):
            Q, R, w = vf.unpack(expand_state(vf, eye[j]))
            S[:, j] += reduce_state(vf, vf.pack(Q[np.ix_(p, p)], R[p], np.asarray(w)[p]))
    S /= len(perms)
    # the permutation average is orthogonal in the reduced coordinates only up to the weight
    # of the off-diagonal Q entries; symmetrise so that P is an orthogonal projector
    P = D @ S @ D
    P = 0.5 * (P + P.T)
    ev, V = np.linalg.eigh(P)
    B = V[:, ev > 0.5]
    return D @ (B @ B.T) @ D  # D again: the removed columns exactly 0, not 1e-18


def require_invariant_subspaces(cfg: dict[str, Any], who: str = "saddle_sequence") -> None:
    """Refuse, before any work, a configuration whose unlearnt-teacher subspaces are not
    invariant: ``tasks.head_mean ≠ 0``, correlated teacher units (off-diagonal ``T``) or a
    student or teacher activation that is not odd.

    Raises
    ------
    ConfigError
        Naming the key.
    """
    from ..config import build_problem

    prob = build_problem(cfg)
    if np.any(np.asarray(prob.u_mean) != 0.0):
        raise ConfigError(
            f"{who}: tasks.head_mean must be 0 (the subspaces of unlearnt "
            "teacher units are invariant only then)"
        )
    T = np.asarray(prob.T)
    if np.any(T - np.diag(np.diag(T)) != 0.0):
        raise ConfigError(
            f"{who}: tasks.teacher_overlap must be diagonal (orthogonal teacher "
            "units) for the subspaces of unlearnt teacher units to be invariant"
        )
    model = cfg["model"]
    for key in ("activation", "teacher_activation"):
        act = model.get(key) or model["activation"]
        if act not in ODD_ACTIVATIONS:
            raise ConfigError(
                f"{who}: model.{key} = {act!r} is not odd; the subspaces of "
                f"unlearnt teacher units are invariant only for "
                f"{', '.join(ODD_ACTIVATIONS)}"
            )


def _check_invariant(vf: Any, P: np.ndarray, z: np.ndarray, who: str) -> None:
    f = reduced_drift(vf, P @ z)
    off = float(np.max(np.abs(f - P @ f)))
    if not off <= 1e-10 * max(1.0, float(np.max(np.abs(f)))):
        raise ConfigError(
            f"{who}: the subspace of the unlearnt teacher units is not invariant here "
            f"(transverse drift {off:.3g}); saddle_sequence needs tasks.head_mean = 0, "
            "orthogonal teacher units and an odd activation"
        )


def _flow(vf: Any, cfg: dict[str, Any], z: np.ndarray, grid: np.ndarray):
    """Full drift from reduced ``z`` saved on ``grid`` (relative α, grid[0] = 0): (α, z(α))."""
    from ..ode import SaveAt, Solver, solve

    sol = solve(vf, Solver.from_config(cfg), SaveAt(np.asarray(grid, float)), expand_state(vf, z))
    zs = reduce_state(vf, np.asarray(sol.y))
    return np.asarray(sol.alpha), zs, np.asarray(sol.y)


def _restricted(vf: Any, cfg: dict[str, Any], P: np.ndarray, z: np.ndarray, grid: np.ndarray):
    """The flow inside ``range(P)`` from ``P z`` on ``grid`` (relative α, increasing, from 0),
    re-projected every ``_DT_PROJECT``."""
    out = np.empty((len(grid), z.size))
    cur, a_cur = P @ z, 0.0
    out[0] = cur
    i = 1
    while i < len(grid):
        a_end = min(a_cur + _DT_PROJECT, grid[-1])
        sel = [j for j in range(i, len(grid)) if grid[j] <= a_end + 1e-12]
        pts = sorted(set([0.0] + [grid[j] - a_cur for j in sel] + [a_end - a_cur]))
        a, zs, _ = _flow(vf, cfg, cur, np.array(pts))
        if not np.all(np.isfinite(zs)):
            out[i:] = np.nan
            break
        for j in sel:
            out[j] = P @ zs[int(np.argmin(np.abs(a - (grid[j] - a_cur))))]
        cur, a_cur = P @ zs[-1], a_end
        i += len(sel)  # 0 for a chunk without save points: the loop goes on from a_end
    return out


def _transverse(
    vf: Any, cfg: dict[str, Any], P: np.ndarray, z_in: np.ndarray, delta: float, t_max: float
):
    """Inner solution: ``(t_m, z_∥(t_m), z_⊥(t_m), rates on arrival, α grid, z_∥ on it)``;
    ``t_m`` NaN when the transverse amplitude does not reach ``delta`` by ``t_max``.

    Steps of ``Δα = clip(0.1/rate, 0.25, 5)``: the transverse part grows by at most ``e^{0.1}``
    per step, on which ``J_⊥`` is frozen; ``z_∥`` is advanced by the restricted flow and
    re-projected after each step."""
    from scipy.linalg import expm

    n = z_in.size
    Iperp = np.eye(n) - P
    zt = Iperp @ z_in
    zp = P @ z_in
    t = 0.0
    ts, zs = [0.0], [zp]
    rates = None
    amp = float(np.linalg.norm(zt))
    while True:
        J = Iperp @ jacobian(vf, expand_state(vf, zp), cfg).matrix @ Iperp
        ev = np.sort(np.linalg.eigvals(J).real)[::-1]
        if rates is None:
            rates = ev
        if amp >= delta:
            return t, zp, zt, rates, np.array(ts), np.array(zs)
        if t >= t_max or not np.all(np.isfinite(zp)):
            return math.nan, zp, zt, rates, np.array(ts), np.array(zs)
        dt = min(max(0.1 / max(float(ev[0]), 1e-12), _DT_INNER), _DT_PROJECT, t_max - t)
        zn = expm(J * dt) @ zt
        an = float(np.linalg.norm(zn))
        zp_next = P @ _flow(vf, cfg, zp, np.array([0.0, dt]))[1][-1]
        if an >= delta:
            # log-linear interpolation of the crossing inside the step
            f = math.log(delta / amp) / math.log(an / amp) if an > amp else 1.0
            zt_m = expm(J * f * dt) @ zt
            zp_m = zp + f * (zp_next - zp)
            ts.append(t + f * dt)
            zs.append(zp_m)
            return t + f * dt, zp_m, zt_m, rates, np.array(ts), np.array(zs)
        zt, amp, zp, t = zn, an, zp_next, t + dt
        ts.append(t)
        zs.append(zp)


def _polish(vf: Any, P: np.ndarray, z: np.ndarray, tol: float = 1e-12, max_iter: int = 40):
    """Gauss–Newton inside ``range(P)``: ``(z, max |drift|)``."""
    ev, V = np.linalg.eigh(P)
    B = V[:, ev > 0.5]
    z = P @ z
    f = reduced_drift(vf, z)
    res = float(np.max(np.abs(f)))
    for _ in range(max_iter):
        if res <= tol:
            break
        J = jacobian(vf, expand_state(vf, z)).matrix
        dc = -np.linalg.lstsq(J @ B, f, rcond=1e-12)[0]
        t = 1.0
        while t > 1e-6:
            zn = P @ (z + t * (B @ dc))  # P: the held coordinates stay exactly 0
            fn = reduced_drift(vf, zn)
            rn = float(np.max(np.abs(fn)))
            if np.isfinite(rn) and rn < res:
                break
            t *= 0.5
        else:
            break
        z, f, res = zn, fn, rn
    return z, res


def _subspace_of(vf: Any, z: np.ndarray, learnt_tol: float, symmetric_tol: float):
    """``(learnt teacher units, symmetric)`` of a state on arrival at a shoulder."""
    _, R, _ = vf.unpack(expand_state(vf, z))
    T = vf.problem.T
    col = np.linalg.norm(R, axis=0) / np.sqrt(np.diag(T))
    learnt = tuple(int(n) for n in np.nonzero(col >= learnt_tol)[0])
    if not learnt:
        return learnt, False
    Rl = R[:, list(learnt)]
    spread = float(np.max(np.abs(Rl - Rl.mean(axis=0))))
    return learnt, spread <= symmetric_tol * float(np.max(np.abs(Rl)))


def _eg_of(vf: Any, zs: np.ndarray) -> np.ndarray:
    """ε of the rows of ``zs`` (reduced coordinates)."""
    return vf.errors_along(np.array([expand_state(vf, z) for z in np.atleast_2d(zs)]))[:, 0]


def _column_rates(vf: Any, cfg: dict[str, Any], z: np.ndarray) -> np.ndarray:
    """Growth rate of each teacher column ``R_{·n}`` at the plateau ``R = 0`` (largest real
    eigenvalue of the Jacobian block of that column)."""
    K, M = vf.problem.K, vf.problem.M
    P0 = invariant_projector(vf, ())
    J = jacobian(vf, expand_state(vf, P0 @ z), cfg).matrix
    b = state_blocks(vf)["R"].start
    out = np.empty(M)
    for n in range(M):
        idx = [b + k * M + n for k in range(K)]
        out[n] = float(np.linalg.eigvals(J[np.ix_(idx, idx)]).real.max())
    return out


def _final(vf: Any, cfg: dict[str, Any], z: np.ndarray, alpha_on: float) -> FixedPoint:
    """The fixed point the run converges to: the flow from ``z`` to ``alpha_on``, polished."""
    P = np.eye(z.size)
    zf, res = _polish(vf, P, _flow(vf, cfg, z, np.array([0.0, alpha_on]))[1][-1])
    return describe_point(vf, expand_state(vf, zf), cfg, res, "final")


def _first_minimum(a: np.ndarray, dn: np.ndarray, start: int) -> int | None:
    for i in range(max(start, 1), len(a) - 1):
        if dn[i] < dn[i - 1] and dn[i] <= dn[i + 1]:
            return i
    return None


def saddle_sequence(
    config: Any = None,
    *,
    overrides: dict[str, Any] | None = None,
    delta: float = 1e-2,
    learnt_tol: float = 0.3,
    symmetric_tol: float = 0.05,
    max_stages: int | None = None,
    alpha_fixed_point: float = 2000.0,
    dataset: Any = None,
) -> SaddleSequence:
    """The shoulders a run visits, their fixed points, transverse rates and predicted escapes.

    Parameters
    ----------
    config : str, Path, dict or None
        A configuration (as for :func:`teacherstudent.integrate`); ``tasks.head_mean`` must be
        0, ``T`` diagonal and the activation odd (the invariant subspaces need it).
    overrides : dict, optional
        Dotted keys.
    delta : float
        Transverse amplitude at which the inner (linear) solution is matched to the outer one.
    learnt_tol : float
        A teacher unit counts as learnt on arrival when ``|R_{·n}|/√T_nn ≥ learnt_tol``.
    symmetric_tol : float
        The subspace is symmetric when the learnt columns differ across student units by at
        most this fraction of their largest entry.
    max_stages : int, optional
        Most stages (default ``M + 1``).
    alpha_fixed_point : float
        How far the restricted flow is integrated to find each stage's fixed point.
    dataset : xarray.Dataset, optional
        The integrated run, if at hand (else integrated here, for the comparison).

    Returns
    -------
    SaddleSequence
        ``stages`` (each with ``learnt``, ``symmetric``, ``rate``, ``alpha_escape``,
        ``alpha_escape_integrated``, ``duration`` and ``fixed_point``) and ``final`` (the
        fixed point the run converges to).

    Raises
    ------
    ConfigError
        When the subspaces are not invariant for this configuration.

    Examples
    --------
    >>> seq = saddle_sequence(None, overrides={"tasks.head_cov": [2, 1, 0.5],
    ...                                        "run.alpha_max": 150.0}, alpha_fixed_point=200)
    >>> [s.learnt for s in seq.stages]
    [(), (0,), (0, 1)]
    """
    from ..ode import integrate
    from ..ode.field import VectorField

    cfg = load_config(config, overrides or None)
    require_invariant_subspaces(cfg)
    vf = VectorField.from_config(cfg)
    ds = integrate(cfg) if dataset is None else dataset
    a_run, eg_run = np.asarray(ds.alpha.values, float), np.asarray(ds.eg.values, float)
    alpha_max = float(cfg["run"]["alpha_max"])
    M = vf.problem.M
    max_stages = M + 1 if max_stages is None else int(max_stages)

    z = reduce_state(vf, vf.y0)
    alpha = 0.0
    stages: list[Stage] = []
    pa, pe = [0.0], [float(vf.errors_along(vf.y0[None, :])[0, 0])]
    final = None
    # independent-mode law (module docstring), set on the plateau: the rates λ_n of the teacher
    # columns there, their initial norms a_n, and λ_1 τ
    law_rates = law_amps = None
    law_outer = math.nan
    for s in range(max_stages):
        learnt, sym = _subspace_of(vf, z, learnt_tol, symmetric_tol)
        P = invariant_projector(vf, learnt, sym)
        if np.allclose(P, np.eye(P.shape[0])):  # nothing transverse: the final approach
            final = _final(vf, cfg, z, alpha_fixed_point)
            break
        _check_invariant(vf, P, z, "saddle_sequence")
        t_m, zpar, zt, rates, g_in, z_in = _transverse(vf, cfg, P, z, delta, alpha_max - alpha)
        if not math.isfinite(t_m):
            break
        height = float(_eg_of(vf, zpar[None, :])[0])
        pa.extend(alpha + g_in)
        pe.extend(_eg_of(vf, z_in))  # inner part: ε of z_∥ (z_⊥ enters ε at second order)
        # outer solution: escape, then on to the next arrival
        span = alpha_max - alpha - t_m
        if span <= 0:
            break
        grid = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 600) * span])
        ao, zo, yo = _flow(vf, cfg, zpar + zt, grid)
        eo = vf.errors_along(yo)[:, 0]
        tau = escape_time(ao + 1e-300, eo, height, 0.0)
        a_esc = alpha + t_m + tau if math.isfinite(tau) else math.nan
        a_int = (
            escape_time(a_run, eg_run, height, alpha)
            if stages
            else escape_time(a_run, eg_run, height, 0.0)
        )
        if s == 0 and not learnt and math.isfinite(tau):
            law_rates = _column_rates(vf, cfg, z)
            law_amps = np.linalg.norm(vf.unpack(vf.y0)[1], axis=0)
            law_outer = float(law_rates.max()) * tau
        a_law = math.nan
        if law_rates is not None and s < M:
            n = int(np.argsort(-law_rates, kind="stable")[s])
            if law_amps[n] > 0 and law_rates[n] > 0:
                a_law = (math.log(delta / law_amps[n]) + law_outer) / law_rates[n]
        # the fixed point this stage approaches
        zlim = _restricted(vf, cfg, P, zpar, np.array([0.0, alpha_fixed_point]))[-1]
        fp = None
        if np.all(np.isfinite(zlim)):
            zf, res = _polish(vf, P, zlim)
            fp = describe_point(vf, expand_state(vf, zf), cfg, res, f"stage {s}")
        stages.append(
            Stage(
                index=s,
                learnt=learnt,
                symmetric=sym,
                alpha_in=alpha,
                amplitude=float(np.linalg.norm((np.eye(P.shape[0]) - P) @ z)),
                rate=float(rates[0]),
                rates=np.asarray(rates[:6]),
                t_inner=float(t_m),
                height=height,
                alpha_escape=float(a_esc),
                alpha_escape_integrated=float(a_int),
                alpha_escape_law=float(a_law),
                fixed_point=fp,
            )
        )
        if not math.isfinite(tau):
            pa.extend(alpha + t_m + ao)
            pe.extend(eo)
            break
        dn = np.array([np.linalg.norm(reduced_drift(vf, zz)) for zz in zo])
        i = _first_minimum(ao, dn, int(np.searchsorted(ao, tau)))
        stop = len(ao) if i is None else i + 1
        pa.extend(alpha + t_m + ao[:stop])
        pe.extend(eo[:stop])
        if i is None:
            final = _final(vf, cfg, zo[-1], alpha_fixed_point)
            break
        z, alpha = zo[i], alpha + t_m + float(ao[i])
    order = np.argsort(pa, kind="stable")
    return SaddleSequence(
        stages=stages,
        final=final,
        alpha=a_run,
        eg=eg_run,
        prediction_alpha=np.asarray(pa)[order],
        prediction_eg=np.asarray(pe)[order],
        delta=delta,
    )


# --------------------------------------------------------------------------- finite V
def predict_threshold_subspace(
    config: Any = None,
    *,
    overrides: dict[str, Any] | None = None,
    threshold: float | None = None,
    alpha_max: float | None = None,
    delta: float = 1e-2,
) -> ThresholdPrediction:
    """Predicted α at which ``ε ≤ threshold``, the plateau ``R = 0`` taken as an invariant
    subspace rather than a set of fixed points.

    The prediction of :func:`.fixed_point_theory.predict_threshold` with the inner solution
    of a stage (module docstring): ``Q`` and ``w`` follow the restricted flow on ``R = 0`` and
    ``R`` the linear transverse flow along it, until ``|R| = delta``; then the full drift to
    ``alpha_max``. Where the run starts on a fixed point of ``R = 0`` (``w(0) = 0``, any ``V``:
    the ``η_J²/V`` term vanishes there too) the restricted flow is at rest and both give the
    same α; a start off it (``w(0) ≠ 0``, whose relaxation on ``R = 0`` is nonlinear) is
    followed exactly here, not by the linear flow at the fixed point.

    Parameters
    ----------
    config : str, Path, dict or None
        A configuration (``ū = 0``, orthogonal teacher units, odd activation).
    overrides : dict, optional
        Dotted keys.
    threshold : float, optional
        Error threshold (default ``run.eg_threshold``; must be > 0).
    alpha_max : float, optional
        End of the outer solution (default ``run.alpha_max``).
    delta : float
        Matching amplitude.

    Returns
    -------
    ThresholdPrediction

    Raises
    ------
    ConfigError
        No threshold, or ``R = 0`` is not invariant for this configuration.

    Examples
    --------
    >>> tt = predict_threshold_subspace(None, overrides={"algorithm.val_size": 10},
    ...                                 threshold=0.01, alpha_max=100.0)
    >>> round(tt.alpha_escape, 1), round(tt.alpha_threshold, 1)
    (13.5, 22.5)
    """
    from ..ode.field import VectorField

    cfg = load_config(config, overrides or None)
    thr = float(cfg["run"]["eg_threshold"] if threshold is None else threshold)
    if not thr > 0.0:
        raise ConfigError(
            "predict_threshold_subspace: set a threshold > 0 (run.eg_threshold or threshold=)"
        )
    amax = float(cfg["run"]["alpha_max"] if alpha_max is None else alpha_max)
    require_invariant_subspaces(cfg, "predict_threshold_subspace")
    vf = VectorField.from_config(cfg)
    z0 = reduce_state(vf, vf.y0)
    P = invariant_projector(vf, ())
    _check_invariant(vf, P, z0, "predict_threshold_subspace")
    t_m, zpar, zt, rates, _, _ = _transverse(vf, cfg, P, z0, delta, amax)
    rate = float(rates[0])
    height = float(_eg_of(vf, (P @ z0)[None, :])[0])
    if not math.isfinite(t_m):
        return ThresholdPrediction(amax, math.inf, math.inf, rate, height, thr, amax)
    return outer_threshold(vf, cfg, expand_state(vf, zpar + zt), t_m, rate, height, thr, amax)


@dataclass(frozen=True)
class ThresholdWindow:
    """The predicted range of ``η_J`` reaching ``ε ≤ threshold`` by ``alpha_final``, per
    ``η_w`` (:func:`threshold_window`): NaN where no ``η_J`` of the bracket reaches it."""

    eta_w: np.ndarray
    eta_J_min: np.ndarray
    eta_J_max: np.ndarray  # NaN also when the bracket's top still reaches (then eta_J_top)
    eta_J_top: float
    alpha_final: float
    threshold: float


def threshold_window(
    config: Any = None,
    *,
    eta_w: Any,
    eta_J: Any,
    overrides: dict[str, Any] | None = None,
    alpha_final: float | None = None,
    threshold: float | None = None,
    steps: int = 10,
) -> ThresholdWindow:
    """Lower and upper ``η_J`` boundaries of the phase diagram at finite ``V`` from
    :func:`predict_threshold_subspace` (``η_0 = η_J``).

    At finite ``V`` the times do not scale as ``1/η_J`` (the ``η_J²/V`` term), so each ``η_w``
    row is scanned on ``eta_J`` (ascending) and both edges of the reaching interval are
    refined by bisection in ``ln η_J`` (``steps`` each): too slow below, too noisy (the final
    fixed point loses stability, or its floor rises) above.

    Parameters
    ----------
    config : str, Path, dict or None
        The base configuration (with its ``algorithm.val_size``).
    eta_w : sequence of float
        Inner rates (rows).
    eta_J : sequence of float
        Ascending outer rates scanned before the bisections.
    overrides : dict, optional
        Dotted keys.
    alpha_final : float, optional
        Default ``run.alpha_max``.
    threshold : float, optional
        Default ``run.eg_threshold``.
    steps : int
        Bisection steps per edge.

    Returns
    -------
    ThresholdWindow
    """
    cfg = load_config(config, overrides or None)
    a_fin = float(cfg["run"]["alpha_max"] if alpha_final is None else alpha_final)
    eJ = np.asarray(eta_J, float)

    def ok(w: float, j: float) -> bool:
        tt = predict_threshold_subspace(
            cfg,
            overrides={"algorithm.eta_w": w, "algorithm.eta_J": j, "algorithm.eta_0": j},
            threshold=threshold,
            alpha_max=a_fin,
        )
        return tt.alpha_threshold <= a_fin

    lo_edge, hi_edge = [], []
    for w in np.asarray(eta_w, float):
        hits = np.array([ok(float(w), float(j)) for j in eJ])
        if not hits.any():
            lo_edge.append(math.nan)
            hi_edge.append(math.nan)
            continue
        i0, i1 = int(np.argmax(hits)), int(len(hits) - 1 - np.argmax(hits[::-1]))
        if i0 == 0:
            lo_edge.append(float(eJ[0]))
        else:
            lo, hi = float(eJ[i0 - 1]), float(eJ[i0])
            for _ in range(steps):
                mid = math.sqrt(lo * hi)
                lo, hi = (lo, mid) if ok(float(w), mid) else (mid, hi)
            lo_edge.append(hi)
        if i1 == len(eJ) - 1:
            hi_edge.append(math.nan)
        else:
            lo, hi = float(eJ[i1]), float(eJ[i1 + 1])
            for _ in range(steps):
                mid = math.sqrt(lo * hi)
                lo, hi = (mid, hi) if ok(float(w), mid) else (lo, mid)
            hi_edge.append(lo)
    return ThresholdWindow(
        eta_w=np.asarray(eta_w, float),
        eta_J_min=np.array(lo_edge),
        eta_J_max=np.array(hi_edge),
        eta_J_top=float(eJ[-1]),
        alpha_final=a_fin,
        threshold=float(cfg["run"]["eg_threshold"] if threshold is None else threshold),
    )
