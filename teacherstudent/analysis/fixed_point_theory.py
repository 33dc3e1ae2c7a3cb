r"""Fixed points of the order-parameter drift, their stability and the predicted plateau escape.

Theory: ``theory/plateau.md``. Everything here uses the public ODE API only
(:class:`teacherstudent.ode.VectorField`, :func:`teacherstudent.ode.solve`).

**Coordinates.** A state is ``(Q, R, w)``; since ``Q`` is symmetric and the drift keeps it so,
fixed points and Jacobians live in the *reduced* coordinates
``z = (Q_kl for k ≤ l, R_kn, w_k)`` of dimension ``K(K+1)/2 + KM + K`` (an antisymmetric
perturbation of ``Q`` is not a state and has no meaning for the dynamics).

**Jacobian.** Central differences of the jitted drift, step ``h·max(1, |z_i|)`` with
``h = 1e-6`` (truncation ``O(h²)``, rounding ``O(1e-16/h)``: about 1e-10 absolute). On the
manifold ``R = 0, w = 0`` with ``ū = 0`` at ``P = V = ∞``, ``γ = 1`` and one inner step
(``fo-anil``/``fo-maml``; ``arm``) the ``R`` block is also known in closed form
(Price's and Stein's lemmas, ``theory/plateau.md`` §2)::

    dR/dα = η_J η_w s_K² s_M² · D_Q² R D_T Σ_u D_T T,  D = diag κ(C_aa),  κ(q) = E g'(z ~ N(0, q))

(``κ(q) = √(2/π)/√(1+q)`` for erf, 1 for linear) and it decouples from ``Q`` and ``w``;
:func:`jacobian` then uses the closed form for that block and records its largest deviation
from the finite differences (``Jacobian.check``).

**Fixed points.** Gauss–Newton steps ``δz = −J⁺ f`` (least squares, so that a continuum of fixed
points — a singular Jacobian — is no obstacle: the iteration lands on the nearest point of
it) with step halving when the residual grows or the state leaves the physical domain,
until ``max |f| ≤ tol`` (default 1e-13).

**Classification** (:func:`classify`): with the specialization order parameter ``S`` of
:func:`teacherstudent.analysis.specialization`, *unspecialised* when ``S < 0.05`` (every
student unit overlaps every teacher unit alike, ``R = 0`` included), *specialised* when
``S > 0.9``, *partially specialised* otherwise. **Stability**: *unstable* when the largest
real part exceeds the zero tolerance ``1e-7·max(1, max|λ|)``, *stable* when every eigenvalue
is below minus it, *marginal* otherwise; eigenvalues within the tolerance are *zero modes*,
their number the dimension of the continuum of fixed points through the point (when the
point is a fixed point of a continuum, e.g. every ``Q`` on ``R = 0``).

**Escape time** (:func:`stability`, ``theory/plateau.md`` §3): the deviation ``d₀`` of the
run from the fixed point ``z*`` is evolved by the linearised flow ``d(t) = e^{Jt} d₀`` (exact
for small ``d``) until its unstable part reaches ``δ`` (default 1e-2), at ``t_m``; from
``z* + d(t_m)`` the full drift is integrated (the outer, nonlinear solution) until
``ε < (1 − 0.1)·ε(z*)``, ``τ`` later. ``α* = α₀ + t_m + τ``: matched asymptotics, exact as the
initial symmetry breaking goes to 0; ``α₀`` is where the run is nearest the fixed point (0 for
a run that starts on it). Scaling the unstable amplitude by ``c`` moves ``α*`` by
``−ln c / rate``: with the ``N^{-1/2}`` initial overlaps of a simulation,
``α*(N) = α*(1) + ln N / (2·rate)`` (:meth:`Stability.alpha_escape_N`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import ConfigError, load_config
from .alignment import specialization
from .fits import bisect_log
from .trajectory import escape_time, find_plateaus, plateau

__all__ = [
    "FixedPoint",
    "Jacobian",
    "Stability",
    "reduce_state",
    "expand_state",
    "reduced_drift",
    "state_blocks",
    "analytic_r_block",
    "describe_point",
    "predict_escape",
    "jacobian",
    "newton",
    "classify",
    "fixed_points",
    "stability",
    "continuation",
    "FloorBoundary",
    "floor_boundary",
    "ThresholdPrediction",
    "predict_threshold",
    "RateBoundary",
    "rate_boundary",
    "minimal_eta_w",
]

#: Relative size of the zero tolerance of the eigenvalues (times max(1, max |λ|)).
ZERO_TOL = 1e-7
#: Step of the central differences (times max(1, |z_i|)).
FD_STEP = 1e-6


# --------------------------------------------------------------------------- coordinates
@functools.lru_cache(maxsize=16)
def _triu(K: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(K)  # cached: the reduced coordinates are converted per state


def reduce_state(vf: Any, y: Any) -> np.ndarray:
    """Reduced coordinates ``z = (Q_kl for k ≤ l, R, w)`` of a packed state ``y``.

    Parameters
    ----------
    vf : VectorField
        The vector field (for ``K`` and ``M``).
    y : array_like
        Packed state ``vf.pack(Q, R, w)``.

    Returns
    -------
    ndarray
        ``z`` of length ``K(K+1)/2 + KM + K``.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> vf = ts.ode.VectorField.from_config(ts.load_config(None))
    >>> reduce_state(vf, vf.y0).shape
    (18,)
    """
    Q, R, w = vf.unpack(np.asarray(y, float))
    iu = _triu(vf.problem.K)
    Qs = 0.5 * (Q + np.swapaxes(Q, -1, -2))
    return np.concatenate([Qs[..., iu[0], iu[1]], R.reshape(*R.shape[:-2], -1), w], axis=-1)


def expand_state(vf: Any, z: Any) -> np.ndarray:
    """The packed state ``y`` (symmetric ``Q``) of reduced coordinates ``z``."""
    K, M = vf.problem.K, vf.problem.M
    z = np.asarray(z, float)
    nq = K * (K + 1) // 2
    iu = _triu(K)
    Q = np.zeros((K, K))
    Q[iu] = z[:nq]
    Q = Q + Q.T - np.diag(np.diag(Q))
    R = z[nq : nq + K * M].reshape(K, M)
    w = z[nq + K * M :]
    return vf.pack(Q, R, w)


def state_blocks(vf: Any) -> dict[str, slice]:
    """Slices of ``Q`` (upper triangle), ``R`` and ``w`` in the reduced coordinates."""
    K, M = vf.problem.K, vf.problem.M
    nq = K * (K + 1) // 2
    return {"Q": slice(0, nq), "R": slice(nq, nq + K * M), "w": slice(nq + K * M, nq + K * M + K)}


def reduced_drift(vf: Any, z: Any) -> np.ndarray:
    """The drift ``dz/dα`` in reduced coordinates (``vf.rhs`` of the expanded state)."""
    dy = vf.rhs(expand_state(vf, z))
    return reduce_state(vf, dy)


def _covariance_ok(vf: Any, z: np.ndarray) -> bool:
    Q, R, _ = vf.unpack(expand_state(vf, z))
    C = np.block([[Q, R], [R.T, vf.problem.T]])
    # the integrals need only 1 + C_aa > 0 and |correlations| < 1; a symmetric fixed point
    # with identical student units lies on the boundary C ⪰ 0, so Newton may step across
    # it by rounding: allow that much
    return bool(np.all(np.isfinite(C)) and np.linalg.eigvalsh(C).min() > -1e-6)


# --------------------------------------------------------------------------- Jacobian
@dataclass(frozen=True)
class Jacobian:
    """The Jacobian of the reduced drift at a state.

    ``matrix`` is what is used; ``method`` is ``"finite-difference"`` or ``"analytic R block"``;
    ``check`` the largest absolute deviation between the closed-form block and the finite
    differences (NaN when there is no closed form at that state).
    """

    matrix: np.ndarray
    method: str
    check: float = math.nan
    finite_difference: np.ndarray | None = None


def _activation_slope(activation: str, q: np.ndarray) -> np.ndarray | None:
    """κ(q) = E g'(z), z ~ N(0, q): the linear response of the activation (None: unknown)."""
    if activation == "erf":
        return math.sqrt(2.0 / math.pi) / np.sqrt(1.0 + q)
    if activation == "linear":
        return np.ones_like(q)
    return None


def analytic_r_block(vf: Any, cfg: dict[str, Any], y: Any) -> np.ndarray | None:
    """The closed-form ``∂(dR/dα)/∂R`` on the manifold ``R = 0, w = 0`` (module docstring).

    Returns None where the closed form does not hold: ``R ≠ 0`` or ``w ≠ 0``, ``ū ≠ 0``,
    ``γ < 1``, finite ``train_size``, exact ``anil``/``maml``, ``inner_steps ≠ 1`` or an
    activation other than erf/linear. The matrix acts on ``R`` flattened row-major.
    """
    p = vf.problem
    K, M = p.K, p.M
    alg = cfg["algorithm"]
    Q, R, w = vf.unpack(np.asarray(y, float))
    if np.any(R != 0.0) or np.any(w != 0.0) or np.any(p.u_mean != 0.0) or p.gamma != 1.0:
        return None
    if alg["train_size"] != math.inf or alg["name"] in ("anil", "maml"):
        return None
    kq = _activation_slope(cfg["model"]["activation"], np.diag(Q))
    kt = _activation_slope(cfg["model"]["activation"], np.diag(p.T))
    if kq is None or kt is None:
        return None
    if alg["name"] == "arm" or alg["inner_steps"] == 0:
        return np.zeros((K * M, K * M))  # no inner loop: the task-averaged R drift is O(R²)
    if alg["inner_steps"] != 1:
        return None
    c = alg["eta_J"] * alg["eta_w"] * p.s_K**2 * p.s_M**2
    left = c * np.diag(kq**2)
    right = np.diag(kt) @ p.u_cov @ np.diag(kt) @ p.T
    # dR = left R right  ->  vec_row(dR) = (left ⊗ rightᵀ) vec_row(R)
    return np.kron(left, right.T)


def jacobian(vf: Any, y: Any, cfg: dict[str, Any] | None = None, step: float = FD_STEP) -> Jacobian:
    """The Jacobian of the reduced drift at the packed state ``y``.

    Parameters
    ----------
    vf : VectorField
        The vector field.
    y : array_like
        Packed state.
    cfg : dict, optional
        The configuration of ``vf``; with it the closed-form ``R`` block is used where it
        holds (see :func:`analytic_r_block`).
    step : float
        Relative step of the central differences.

    Returns
    -------
    Jacobian
        ``matrix`` (n×n, reduced coordinates), ``method``, ``check``.

    Examples
    --------
    >>> import math, numpy as np, teacherstudent as ts
    >>> cfg = ts.load_config(None, {"init.R": 0.0})
    >>> vf = ts.ode.VectorField.from_config(cfg)
    >>> J = jacobian(vf, vf.y0, cfg)
    >>> J.method, bool(abs(np.linalg.eigvals(J.matrix).real.max() - 4 / math.pi**2) < 1e-8)
    ('analytic R block', True)
    """
    z0 = reduce_state(vf, y)
    n = z0.size
    Jfd = np.empty((n, n))
    for i in range(n):
        h = step * max(1.0, abs(z0[i]))
        zp, zm = z0.copy(), z0.copy()
        zp[i] += h
        zm[i] -= h
        Jfd[:, i] = (reduced_drift(vf, zp) - reduced_drift(vf, zm)) / (2.0 * h)
    block = analytic_r_block(vf, cfg, y) if cfg is not None else None
    if block is None:
        return Jacobian(Jfd, "finite-difference", math.nan, Jfd)
    b = state_blocks(vf)["R"]
    J = Jfd.copy()
    J[b, b] = block
    return Jacobian(J, "analytic R block", float(np.max(np.abs(block - Jfd[b, b]))), Jfd)


# --------------------------------------------------------------------------- fixed points
def newton(
    vf: Any,
    y0: Any,
    tol: float = 1e-13,
    max_iter: int = 60,
    fixed: dict[str, Any] | None = None,
    hold: Any = None,
) -> tuple[np.ndarray, float, int]:
    """Gauss–Newton iteration for a zero of the drift from the packed state ``y0``.

    Parameters
    ----------
    vf : VectorField
        The vector field.
    y0 : array_like
        Start (packed).
    tol : float
        Stop when ``max |drift| ≤ tol``.
    max_iter : int
        Most iterations.
    fixed : dict, optional
        Blocks held at their start values (``{"w": True}``: a frozen head, e.g. ``η_0 = 0``,
        whose drift is zero anyway).
    hold : array_like of bool, optional
        Reduced coordinates (:func:`reduce_state` order) held at their start values, e.g.
        the columns of ``R`` of teacher units not yet learnt, set to 0: an invariant subspace
        of the drift, in which Newton then finds the saddle a run passes near.

    Returns
    -------
    (ndarray, float, int)
        The packed state reached, its ``max |drift|`` and the iterations used.
    """
    z = reduce_state(vf, y0)
    free = np.ones(z.size, bool)
    for name, on in (fixed or {}).items():
        if on:
            free[state_blocks(vf)[name]] = False
    if hold is not None:
        free &= ~np.asarray(hold, bool)
    f = reduced_drift(vf, z)
    res = float(np.max(np.abs(f)))
    it = 0
    while res > tol and it < max_iter:
        it += 1
        J = jacobian(vf, expand_state(vf, z)).matrix
        dz = np.zeros_like(z)
        dz[free] = -np.linalg.lstsq(J[:, free], f, rcond=1e-12)[0]
        t = 1.0
        while t > 1e-6:
            zn = z + t * dz
            if _covariance_ok(vf, zn):
                fn = reduced_drift(vf, zn)
                rn = float(np.max(np.abs(fn)))
                if np.isfinite(rn) and rn < res:
                    break
            t *= 0.5
        else:
            break  # no step reduces the residual: stop where we are
        z, f, res = zn, fn, rn
    return expand_state(vf, z), res, it


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point of the drift (reduced coordinates for the eigenvectors)."""

    Q: np.ndarray
    R: np.ndarray
    w: np.ndarray
    eg: float  # ε at the point
    residual: float  # max |drift| there
    eigenvalues: np.ndarray  # spectrum of the reduced Jacobian, sorted by decreasing real part
    eigenvectors: np.ndarray  # columns, reduced coordinates
    kind: str  # "unspecialised" | "partially specialised" | "specialised"
    specialization: float
    stability: str  # "stable" | "unstable" | "marginal"
    zero_modes: int  # eigenvalues within the zero tolerance
    jacobian_method: str
    jacobian_check: float
    origin: str = ""  # where the search started ("plateau", "final", ...)

    @property
    def y(self) -> np.ndarray:
        return np.concatenate([self.Q.ravel(), self.R.ravel(), self.w])

    @property
    def rate(self) -> float:
        """Largest real part of the spectrum."""
        return float(self.eigenvalues.real.max())

    @property
    def is_continuum(self) -> bool:
        return self.zero_modes > 0

    def zero_mode_vectors(self) -> np.ndarray:
        """Real basis (rows, reduced coordinates) of the zero modes: the tangent space of the
        continuum of fixed points through this point."""
        tol = _zero_tol(self.eigenvalues)
        sel = np.abs(self.eigenvalues) <= tol
        if not sel.any():
            return np.zeros((0, self.eigenvectors.shape[0]))
        u, s, _ = np.linalg.svd(np.real(self.eigenvectors[:, sel]), full_matrices=False)
        return u[:, s > 1e-8 * s.max()].T

    def summary(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "kind": self.kind,
            "stability": self.stability,
            "eg": self.eg,
            "residual": self.residual,
            "rate": self.rate,
            "zero_modes": self.zero_modes,
            "specialization": self.specialization,
            "Q": self.Q.tolist(),
            "R": self.R.tolist(),
            "w": self.w.tolist(),
            "eigenvalues_real": self.eigenvalues.real.tolist(),
            "eigenvalues_imag": self.eigenvalues.imag.tolist(),
            "jacobian": self.jacobian_method,
            "jacobian_check": self.jacobian_check,
        }


def _zero_tol(ev: np.ndarray) -> float:
    return ZERO_TOL * max(1.0, float(np.max(np.abs(ev))) if ev.size else 1.0)


def classify(Q: Any, R: Any, T: Any) -> tuple[str, float]:
    """``(kind, S)``: unspecialised (S < 0.05), specialised (S > 0.9) or partially specialised.

    Examples
    --------
    >>> import numpy as np
    >>> classify(np.eye(2), np.zeros((2, 2)), np.eye(2))[0]
    'unspecialised'
    >>> classify(np.eye(2), np.eye(2), np.eye(2))[0]
    'specialised'
    """
    R = np.asarray(R, float)
    if not np.any(R):
        return "unspecialised", 0.0
    S = specialization(R, Q, T)
    if S < 0.05:
        return "unspecialised", S
    if S > 0.9:
        return "specialised", S
    return "partially specialised", S


def _eg(vf: Any, y: np.ndarray) -> float:
    Q, R, w = vf.unpack(y)
    try:
        return float(vf.errors(Q, R, w)["eg"])
    except Exception:  # a singular Φ (identical student units) breaks eg_opt, not eg
        return float(vf.errors_along(y[None, :])[0, 0])


def describe_point(
    vf: Any, y: Any, cfg: dict[str, Any] | None = None, residual: float = math.nan, origin: str = ""
) -> FixedPoint:
    """Eigenvalues, kind and stability of the (fixed) point ``y``."""
    y = np.asarray(y, float)
    jac = jacobian(vf, y, cfg)
    ev, vec = np.linalg.eig(jac.matrix)
    order = np.argsort(-ev.real, kind="stable")
    ev, vec = ev[order], vec[:, order]
    tol = _zero_tol(ev)
    top = float(ev.real.max())
    stab = "unstable" if top > tol else ("stable" if top < -tol else "marginal")
    Q, R, w = vf.unpack(y)
    kind, S = classify(Q, R, vf.problem.T)
    if not math.isfinite(residual):
        residual = float(np.max(np.abs(vf.rhs(y))))
    return FixedPoint(
        Q=Q.copy(),
        R=R.copy(),
        w=np.array(w),
        eg=_eg(vf, y),
        residual=residual,
        eigenvalues=ev,
        eigenvectors=vec,
        kind=kind,
        specialization=S,
        stability=stab,
        zero_modes=int(np.sum(np.abs(ev) <= tol)),
        jacobian_method=jac.method,
        jacobian_check=jac.check,
        origin=origin,
    )


def _config(config: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
    return load_config(config, overrides or None)


def _trajectory(cfg: dict[str, Any]):
    from ..ode import integrate

    ds = integrate(cfg)
    return ds


def _same_point(a: FixedPoint, b: FixedPoint, tol: float = 1e-6) -> bool:
    return bool(np.max(np.abs(a.y - b.y)) < tol)


def fixed_points(
    config: Any = None,
    *,
    overrides: dict[str, Any] | None = None,
    starts: dict[str, dict[str, Any]] | None = None,
    tol: float = 1e-13,
    dataset: Any = None,
) -> list[FixedPoint]:
    """Fixed points of a configuration's drift, found by Newton's method from the plateau of
    its run and from its final state.

    Parameters
    ----------
    config : str, Path, dict or None
        A configuration (as for :func:`teacherstudent.integrate`).
    overrides : dict, optional
        Dotted keys.
    starts : dict, optional
        More starting points ``{"name": {"Q": ..., "R": ..., "w": ...}}`` (missing entries:
        the configured initial state).
    tol : float
        Newton stops at ``max |drift| ≤ tol``.
    dataset : xarray.Dataset, optional
        The integrated run (else it is integrated here, with the configuration's ``run``).

    Returns
    -------
    list of FixedPoint
        Distinct points with ``residual ≤ 1e3·tol``, in the order plateau, final, ``starts``;
        each with ``eigenvalues``, ``stability``, ``kind``, ``zero_modes`` (the dimension of
        the continuum of fixed points through it).

    Examples
    --------
    >>> import teacherstudent as ts
    >>> pts = fixed_points(None, overrides={"run.alpha_max": 60.0})
    >>> [(p.origin, p.kind, p.stability) for p in pts][0]
    ('plateau', 'unspecialised', 'unstable')
    """
    cfg = _config(config, overrides)
    from ..ode.field import VectorField

    vf = VectorField.from_config(cfg)
    ds = _trajectory(cfg) if dataset is None else dataset
    cands: list[tuple[str, np.ndarray]] = []
    y_pl, _, _ = _plateau_state(vf, cfg, ds)
    if y_pl is not None:
        cands.append(("plateau", y_pl))
    ys = _states(ds)
    finite = np.nonzero(np.all(np.isfinite(ys), axis=1))[0]
    if finite.size:  # the last finite state (a diverged run keeps what it computed)
        cands.append(("final", ys[finite[-1]]))
    p = vf.problem
    for name, st in (starts or {}).items():
        cands.append((name, vf.pack(st.get("Q", p.Q0), st.get("R", p.R0), st.get("w", p.w0))))
    fixed = {"w": cfg["algorithm"]["eta_0"] == 0.0}
    out: list[FixedPoint] = []
    for name, y in cands:
        if name == "plateau":
            y, res = _snap_plateau(vf, y, tol, fixed)
        else:
            y, res, _ = newton(vf, y, tol=tol, fixed=fixed)
        if not res <= 1e3 * tol:
            continue
        pt = describe_point(vf, y, cfg, res, name)
        if not any(_same_point(pt, q) for q in out):
            out.append(pt)
    return out


def _states(ds: Any) -> np.ndarray:
    K, M = ds.sizes["k"], ds.sizes["n"]
    n = ds.sizes["alpha"]
    return np.concatenate(
        [
            ds["Q"].values.reshape(n, K * K),
            ds["R"].values.reshape(n, K * M),
            ds["w"].values.reshape(n, K),
        ],
        axis=1,
    )


def _plateau_state(vf: Any, cfg: dict[str, Any], ds: Any) -> tuple[np.ndarray | None, float, float]:
    """The saved state of the run nearest a fixed point (smallest ``max |drift|``) before the
    end of its last plateau that it escapes from, its α, and the integrated escape time α* of
    the plateau it lies on (:func:`analysis.plateau`'s rules; the first plateau ending after
    it). A run can pass several plateaus (plain SGD: a short initial one, then the symmetric
    one); the closest approach picks the saddle, whatever its order."""
    a = ds.alpha.values
    eg = ds.eg.values
    pls = [p for p in find_plateaus(a, eg, min_decades=0.25) if p.escaped]
    if not pls:
        first = plateau(a, eg)
        pls = [first] if first.found else []
    ys = _states(ds)
    end = pls[-1].end if pls else a[-1]
    idx = [i for i in range(len(a)) if a[i] <= end and np.all(np.isfinite(ys[i]))]
    if not idx:
        return None, math.nan, math.nan
    res = [float(np.max(np.abs(vf.rhs(ys[i])))) for i in idx]
    i = idx[int(np.argmin(res))]
    on = [p for p in pls if p.end >= a[i]]
    return ys[i], float(a[i]), (on[0].escape if on else math.nan)


def _snap_plateau(
    vf: Any, y: np.ndarray, tol: float, fixed: dict[str, Any]
) -> tuple[np.ndarray, float]:
    """The fixed point the run passes: on the manifold ``R = 0`` (``w = 0``) when that is one
    (every ``Q`` is then a fixed point: keep the run's ``Q``), else Newton from ``y``."""
    Q, R, w = vf.unpack(y)
    y0 = vf.pack(Q, np.zeros_like(R), w if fixed.get("w") else np.zeros_like(w))
    f = np.max(np.abs(vf.rhs(y0)))
    if f <= tol:
        return y0, float(f)
    y1, res, _ = newton(vf, y, tol=tol, fixed=fixed)
    return y1, res


# --------------------------------------------------------------------------- stability
@dataclass(frozen=True)
class Stability:
    """The unspecialised fixed point a run passes, its spectrum and the predicted escape.

    ``alpha_escape`` is the predicted α* (same definition as :func:`analysis.plateau`: the
    first α with ε < 0.9 × the plateau height, here ε at the fixed point);
    ``alpha_escape_integrated`` the α* of the integrated run (NaN if not integrated);
    ``amplitude`` the norm of the unstable part of the run's deviation from ``state`` at
    ``alpha_near``; ``offset`` = ``alpha_escape + ln(amplitude)/rate`` (the α* of a unit
    amplitude in the leading-mode approximation).
    """

    state: FixedPoint
    eigenvalues: np.ndarray
    rate: float
    alpha_escape: float
    alpha_escape_integrated: float
    plateau_height: float
    amplitude: float
    alpha_near: float
    offset: float
    delta: float
    Q0: np.ndarray = field(repr=False, default=None)  # the configured initial Q
    T: np.ndarray = field(repr=False, default=None)  # the teacher overlaps

    @property
    def jacobian_method(self) -> str:
        return self.state.jacobian_method

    def alpha_escape_amplitude(self, amplitude: float) -> float:
        """α* for an unstable amplitude ``amplitude`` along the same direction (leading mode)."""
        return self.offset - math.log(amplitude) / self.rate

    def alpha_escape_N(self, N: Any) -> np.ndarray:
        """α* of a simulation at input dimension ``N`` (leading-mode law).

        A random first layer with ``J·J/N = Q₀`` has ``R_kn ~ N(0, Q_kk T_nn / N)``, whose
        root-mean-square norm is ``√(Σ_kn Q_kk T_nn / N)``; at that unstable amplitude (along
        the direction of this run's deviation) ``α*(N) = const + ln N / (2·rate)``. A
        particular draw of norm ``|R₀|`` escapes ``ln(rms/|R₀|)/rate`` later.

        Parameters
        ----------
        N : int or array_like
            Input dimension(s).

        Returns
        -------
        ndarray
            The predicted α*.
        """
        Q0, T = np.asarray(self.Q0), np.asarray(self.T)
        scale = math.sqrt(float(np.sum(np.outer(np.diag(Q0), np.diag(T)))))
        N = np.asarray(N, float)
        return self.offset - np.log(scale / np.sqrt(N)) / self.rate

    def summary(self) -> dict[str, Any]:
        return {
            "generator": "teacherstudent stability",
            "rate": self.rate,
            "alpha_escape": self.alpha_escape,
            "alpha_escape_integrated": self.alpha_escape_integrated,
            "plateau_height": self.plateau_height,
            "amplitude": self.amplitude,
            "alpha_near": self.alpha_near,
            "offset": self.offset,
            "delta": self.delta,
            "state": self.state.summary(),
        }


def _unstable_projector(J: np.ndarray, tol: float) -> tuple[np.ndarray, float]:
    """Spectral projector onto the eigenvalues with real part > tol, and the largest one."""
    ev, V = np.linalg.eig(J)
    sel = ev.real > tol
    if not sel.any():
        return np.zeros_like(J), float(ev.real.max())
    W = np.linalg.inv(V)
    P = V[:, sel] @ W[sel, :]
    return np.real(P), float(ev.real.max())


def _expm(J: np.ndarray, t: float) -> np.ndarray:
    from scipy.linalg import expm

    return expm(J * t)


def _linear_match(
    vf: Any, cfg: dict[str, Any], fp: FixedPoint, y_start: np.ndarray, delta: float
) -> tuple[float, np.ndarray, float, float]:
    """Inner solution: the linear flow from ``y_start`` near ``fp`` until its unstable part
    reaches ``delta``. Returns ``(t_m, y_match, amplitude, rate)``; ``t_m`` NaN when ``fp``
    is not unstable or the start has no unstable part."""
    jac = jacobian(vf, fp.y, cfg).matrix
    tol = _zero_tol(fp.eigenvalues)
    P, rate = _unstable_projector(jac, tol)
    d0 = reduce_state(vf, y_start) - reduce_state(vf, fp.y)
    amp = float(np.linalg.norm(P @ d0))
    if rate <= tol or amp == 0.0:
        return math.nan, y_start, amp, rate
    # a second pass corrects the leading-mode estimate of t_m for the other unstable modes
    t_m = max(0.0, math.log(delta / amp) / rate) if amp < delta else 0.0
    for _ in range(3):
        if t_m == 0.0:
            break
        d = _expm(jac, t_m) @ d0
        a = float(np.linalg.norm(P @ d))
        t_m = max(0.0, t_m + math.log(delta / a) / rate)
    d = _expm(jac, t_m) @ d0 if t_m > 0 else d0
    return t_m, expand_state(vf, reduce_state(vf, fp.y) + d), amp, rate


def predict_escape(
    vf: Any,
    cfg: dict[str, Any],
    fp: FixedPoint,
    y_start: np.ndarray,
    alpha_start: float,
    delta: float = 1e-2,
    height: float | None = None,
) -> tuple[float, float, float]:
    """Matched-asymptotics α* from ``y_start`` (at ``alpha_start``) near the fixed point ``fp``.

    Returns ``(alpha_escape, amplitude, rate)``; NaN α* when the point is not unstable or the
    outer solution never escapes before ``run.alpha_max`` after matching.
    """
    t_m, y_match, amp, rate = _linear_match(vf, cfg, fp, y_start, delta)
    if not math.isfinite(t_m):
        return math.nan, amp, rate
    h = fp.eg if height is None else height
    # outer solution: the full drift from the matching point
    span = max(10.0, 40.0 / rate + 10.0 * math.log(max(delta, amp)) / -rate)
    a, eg = _outer(
        vf, cfg, y_match, np.concatenate([[0.0], np.linspace(0.02, 1.0, 400) ** 2]) * span
    )
    return alpha_start + t_m + _escape_after(a, eg, h), amp, rate


def _outer(vf: Any, cfg: dict[str, Any], y: np.ndarray, grid: np.ndarray):
    """The full drift integrated from ``y`` (outer solution): ``(α, ε)`` on ``grid``."""
    from ..ode import SaveAt, Solver, solve

    sol = solve(vf, Solver.from_config(cfg), SaveAt(grid), y)
    return sol.alpha, vf.errors_along(sol.y)[:, 0]


def _escape_after(a: np.ndarray, eg: np.ndarray, h: float) -> float:
    """Escape time of an outer solution starting on a plateau of height ``h``."""
    tau = escape_time(a + 1e-300, eg, h, 0.0)  # α > 0 is required by escape_time
    if not math.isfinite(tau) or tau <= 1e-200:
        tau = _first_below(a, eg, 0.9 * h)
    return tau


def _first_below(a: np.ndarray, e: np.ndarray, level: float) -> float:
    ok = np.nonzero(np.isfinite(e) & (e < level))[0]
    if ok.size == 0:
        return math.nan
    i = int(ok[0])
    if i == 0:
        return float(a[0])
    f = (e[i - 1] - level) / (e[i - 1] - e[i])
    return float(a[i - 1] + f * (a[i] - a[i - 1]))


def stability(
    config: Any = None,
    *,
    overrides: dict[str, Any] | None = None,
    delta: float = 1e-2,
    integrate: bool = True,
    dataset: Any = None,
) -> Stability:
    """The unspecialised fixed point a run passes, its spectrum and the predicted escape α*.

    Parameters
    ----------
    config : str, Path, dict or None
        A configuration (as for :func:`teacherstudent.integrate`).
    overrides : dict, optional
        Dotted keys.
    delta : float
        Unstable amplitude at which the linear (inner) solution is matched to the integrated
        nonlinear (outer) one.
    integrate : bool
        Integrate the run (``run.alpha_max``): the saved state closest to a fixed point
        (smallest drift, before the end of the last plateau the run escapes from) is where
        the fixed point is sought and the deviation measured; the α* of the plateau it lies
        on is ``alpha_escape_integrated``. False: the fixed point is sought from the initial state
        (the run is assumed to start on its plateau, as the default one does).
    dataset : xarray.Dataset, optional
        The integrated run, if already at hand.

    Returns
    -------
    Stability
        ``state``, ``eigenvalues``, ``rate`` (the largest real part), ``alpha_escape``
        (predicted), ``alpha_escape_integrated``, ``alpha_escape_N(N)``.

    Raises
    ------
    ConfigError
        Bad configuration, or no fixed point near the run's plateau.

    Examples
    --------
    >>> import math, teacherstudent as ts
    >>> st = stability(None, overrides={"run.alpha_max": 60.0})
    >>> round(st.rate * math.pi**2, 9), round(st.alpha_escape, 1)
    (4.0, 13.6)
    """
    cfg = _config(config, overrides)
    from ..ode.field import VectorField

    vf = VectorField.from_config(cfg)
    fixed = {"w": cfg["algorithm"]["eta_0"] == 0.0}
    if integrate or dataset is not None:
        ds = _trajectory(cfg) if dataset is None else dataset
        y_near, a_near, a_int = _plateau_state(vf, cfg, ds)
    else:
        y_near, a_near, a_int = vf.y0, 0.0, math.nan
    if y_near is None:
        raise ConfigError("stability: the run has no finite state before its plateau ends")
    y_fp, res = _snap_plateau(vf, y_near, 1e-13, fixed)
    if not res <= 1e-10:
        raise ConfigError(
            f"stability: Newton's method found no fixed point near the run's plateau (residual "
            f"{res:.3g} at α = {a_near:.4g}); the run may have no plateau (see "
            "teacherstudent.analysis.plateau)"
        )
    fp = describe_point(vf, y_fp, cfg, res, "plateau")
    a_pred, amp, rate = predict_escape(vf, cfg, fp, y_near, a_near, delta)
    offset = a_pred + math.log(amp) / rate if amp > 0 and rate > 0 else math.nan
    return Stability(
        state=fp,
        eigenvalues=fp.eigenvalues,
        rate=fp.rate,
        alpha_escape=a_pred,
        alpha_escape_integrated=a_int,
        plateau_height=fp.eg,
        amplitude=amp,
        alpha_near=a_near,
        offset=offset,
        delta=delta,
        Q0=vf.problem.Q0,
        T=vf.problem.T,
    )


def continuation(
    config: Any,
    key: str,
    values: Any,
    start: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    tol: float = 1e-13,
) -> list[FixedPoint]:
    """Natural-parameter continuation: follow a fixed point while the key ``key`` takes
    ``values`` in turn, each Newton solve started from the previous point.

    Parameters
    ----------
    config : str, Path, dict or None
        The base configuration.
    key : str
        Dotted key varied, e.g. ``"algorithm.eta_J"``.
    values : sequence of float
        Its values, in order (small steps keep Newton on the same branch).
    start : dict
        ``{"Q", "R", "w"}`` near the point at ``values[0]``.
    overrides : dict, optional
        Further dotted keys.
    tol : float
        Newton's tolerance.

    Returns
    -------
    list of FixedPoint
        One per value (``residual`` says whether Newton converged).
    """
    from ..ode.field import VectorField

    out: list[FixedPoint] = []
    y = None
    for v in values:
        cfg = _config(config, {**(overrides or {}), key: v})
        vf = VectorField.from_config(cfg)
        if y is None:
            p = vf.problem
            y = vf.pack(start.get("Q", p.Q0), start.get("R", p.R0), start.get("w", p.w0))
        y, res, _ = newton(vf, y, tol=tol, fixed={"w": cfg["algorithm"]["eta_0"] == 0.0})
        out.append(describe_point(vf, y, cfg, res, f"{key}={v:g}"))
    return out


@dataclass(frozen=True)
class FloorBoundary:
    """The error of the final fixed point along one parameter, and where it crosses a
    threshold (:func:`floor_boundary`)."""

    key: str
    values: np.ndarray
    eg: np.ndarray  # ε at the followed fixed point (NaN where Newton did not converge)
    points: list[FixedPoint]
    threshold: float
    boundary: float  # first value at which ε crosses the threshold (NaN: no crossing)


def floor_boundary(
    config: Any = None,
    *,
    key: str = "algorithm.eta_w",
    values: Any,
    threshold: float = 0.01,
    overrides: dict[str, Any] | None = None,
    tol: float = 1e-12,
) -> FloorBoundary:
    """Where the error floor of the final fixed point crosses ``threshold`` along ``key``.

    An inexact adaptation leaves a residual error at the fixed point the run converges to;
    where it exceeds the threshold, ``ε ≤ threshold`` is never reached, whatever the time.
    The final fixed point of the configuration's run (:func:`fixed_points`, origin
    ``"final"``) is followed by :func:`continuation` over ``values`` (start with the
    configuration's own value of ``key``) and the crossing is interpolated linearly in
    ``(value, ln ε)``.

    Parameters
    ----------
    config : str, Path, dict or None
        The configuration whose run gives the starting fixed point.
    key : str
        Dotted key varied (default the inner head rate).
    values : sequence of float
        Its values, in order, in small steps.
    threshold : float
        The error threshold (fig2: 0.01).
    overrides : dict, optional
        Further dotted keys.
    tol : float
        Newton's tolerance; points with a larger residual count as not found (NaN).

    Returns
    -------
    FloorBoundary
        ``values``, ``eg``, ``points``, ``boundary``.
    """
    start = [p for p in fixed_points(config, overrides=overrides) if p.origin == "final"]
    if not start:
        raise ConfigError(
            "floor_boundary: Newton's method found no fixed point at the end of "
            "the run (integrate longer: run.alpha_max)"
        )
    fp0 = start[0]
    pts = continuation(
        config, key, values, {"Q": fp0.Q, "R": fp0.R, "w": fp0.w}, overrides=overrides, tol=tol
    )
    vals = np.asarray(values, float)
    eg = np.array([p.eg if p.residual <= 1e3 * tol else math.nan for p in pts])
    boundary = math.nan
    for i in range(1, len(vals)):
        e0, e1 = eg[i - 1], eg[i]
        if np.isfinite(e0) and np.isfinite(e1) and (e0 - threshold) * (e1 - threshold) <= 0:
            if e0 == e1:
                boundary = float(vals[i])
            elif e0 > 0 and e1 > 0:
                f = (math.log(threshold) - math.log(e0)) / (math.log(e1) - math.log(e0))
                boundary = float(vals[i - 1] + f * (vals[i] - vals[i - 1]))
            else:
                f = (threshold - e0) / (e1 - e0)
                boundary = float(vals[i - 1] + f * (vals[i] - vals[i - 1]))
            break
    return FloorBoundary(key, vals, eg, pts, threshold, boundary)


# --------------------------------------------------------------------------- phase boundaries
@dataclass(frozen=True)
class ThresholdPrediction:
    """Predicted time to the error threshold (:func:`predict_threshold`).

    ``alpha_match`` is where the inner (linear) solution ends, ``alpha_escape`` the predicted
    plateau escape α*, ``alpha_threshold`` the predicted first α with ``ε ≤ threshold``
    (``inf`` when not before ``alpha_max``), ``eg_end`` the ε of the outer solution at
    ``alpha_max`` (the error floor, once converged).
    """

    alpha_match: float
    alpha_escape: float
    alpha_threshold: float
    rate: float
    eg_end: float
    threshold: float
    alpha_max: float


def predict_threshold(
    config: Any = None,
    *,
    overrides: dict[str, Any] | None = None,
    threshold: float | None = None,
    alpha_max: float | None = None,
    delta: float = 1e-2,
) -> ThresholdPrediction:
    """Predicted α at which ``ε ≤ threshold``: plateau escape plus convergence, without
    integrating the plateau.

    The run is taken to start near its plateau fixed point (as the default one does; found
    from the initial state as in :func:`stability` with ``integrate=False``). Inner
    solution: the linear flow ``e^{Jα} d₀`` until the unstable part of the deviation is
    ``delta`` (at ``alpha_match``, analytic in the initial symmetry breaking); outer
    solution: the full drift from there, integrated until ``alpha_max`` (``theory/plateau.md``
    §7). The time after the escape is the convergence onto the final fixed point, whose
    error floor decides whether the threshold is reached at all.

    Parameters
    ----------
    config : str, Path, dict or None
        A configuration.
    overrides : dict, optional
        Dotted keys.
    threshold : float, optional
        Error threshold (default ``run.eg_threshold``; must be > 0).
    alpha_max : float, optional
        End of the outer solution (default ``run.alpha_max``).
    delta : float
        Matching amplitude (default 1e-2: the initial unstable amplitude of a run with
        ``init.R = 1e-3`` is 2e-3, so a smaller one would leave no inner region; at the
        default run α* = 13.5677, 13.5661 and α_th = 22.4871, 22.4869 at δ = 1e-2, 3e-2 against
        13.5679, 22.4873 when the full drift is integrated from the start).

    Returns
    -------
    ThresholdPrediction

    Raises
    ------
    ConfigError
        No threshold, or the initial state is not near an unstable fixed point.

    Examples
    --------
    >>> tt = predict_threshold(None, threshold=0.01, alpha_max=100.0)
    >>> round(tt.alpha_escape, 1), round(tt.alpha_threshold, 1)
    (13.6, 22.5)
    """
    cfg = _config(config, overrides)
    from ..ode.field import VectorField

    thr = float(cfg["run"]["eg_threshold"] if threshold is None else threshold)
    if not thr > 0.0:
        raise ConfigError("predict_threshold: set a threshold > 0 (run.eg_threshold or threshold=)")
    amax = float(cfg["run"]["alpha_max"] if alpha_max is None else alpha_max)
    vf = VectorField.from_config(cfg)
    fixed = {"w": cfg["algorithm"]["eta_0"] == 0.0}
    y_fp, res = _snap_plateau(vf, vf.y0, 1e-13, fixed)
    if not res <= 1e-10:
        raise ConfigError(
            f"predict_threshold: no fixed point near the initial state (residual {res:.3g}); "
            "the run does not start on a plateau"
        )
    fp = describe_point(vf, y_fp, cfg, res, "plateau")
    t_m, y_match, _, rate = _linear_match(vf, cfg, fp, vf.y0, delta)
    if not math.isfinite(t_m):
        raise ConfigError("predict_threshold: the fixed point at the initial state is not unstable")
    return outer_threshold(vf, cfg, y_match, t_m, rate, fp.eg, thr, amax)


def outer_threshold(
    vf: Any,
    cfg: dict[str, Any],
    y_match: np.ndarray,
    alpha_match: float,
    rate: float,
    height: float,
    threshold: float,
    alpha_max: float,
) -> ThresholdPrediction:
    """The outer solution of a threshold prediction: the full drift from the matching point
    ``y_match`` (packed, at ``alpha_match``) to ``alpha_max``, with the escape from a plateau
    of ``height`` and the first α with ``ε < threshold``.

    Returns
    -------
    ThresholdPrediction
        ``inf`` for an escape or threshold not reached before ``alpha_max``.
    """
    t_m, amax = float(alpha_match), float(alpha_max)
    if t_m >= amax:
        return ThresholdPrediction(t_m, math.inf, math.inf, rate, height, threshold, amax)
    # log spacing (0.5 % steps even for a span of 1e5): the escape and the threshold crossing
    # are resolved wherever they fall
    grid = np.concatenate([[0.0], np.geomspace(1e-3, amax - t_m, 4000)])
    a, eg = _outer(vf, cfg, y_match, grid)
    esc = _escape_after(a, eg, height)
    hit = _first_below(a, eg, threshold)
    fin = np.isfinite(eg)
    return ThresholdPrediction(
        alpha_match=t_m,
        alpha_escape=t_m + esc if math.isfinite(esc) else math.inf,
        alpha_threshold=t_m + hit if math.isfinite(hit) else math.inf,
        rate=rate,
        eg_end=float(eg[fin][-1]) if fin.any() else math.nan,
        threshold=threshold,
        alpha_max=amax,
    )


@dataclass(frozen=True)
class RateBoundary:
    """Predicted minimal outer rate ``η_J`` reaching ``ε ≤ threshold`` by ``alpha_final``,
    along the inner rate ``η_w`` (:func:`rate_boundary`)."""

    eta_w: np.ndarray
    eta_J_min: np.ndarray  # inf: not reached for η_J ≤ eta_J_max (error floor or too slow)
    alpha_threshold: np.ndarray  # predicted α(ε ≤ threshold) at eta_J_ref
    alpha_escape: np.ndarray  # predicted α* at eta_J_ref
    eg_end: np.ndarray  # ε of the outer solution at its end (the floor once converged)
    eta_J_ref: float
    alpha_final: float
    threshold: float


def _check_eta_J_scaling(cfg: dict[str, Any], who: str) -> None:
    alg = cfg["algorithm"]
    if not (
        alg["val_size"] == math.inf
        and alg["eta_in_J"] == 0.0
        and alg["eta_0"] in (0.0, alg["eta_J"])
    ):
        raise ConfigError(
            f"{who}: the drift is proportional to eta_J only at algorithm.val_size = inf, "
            "eta_in_J = 0 and eta_0 = eta_J (or 0); this configuration has val_size = "
            f"{alg['val_size']}, eta_in_J = {alg['eta_in_J']}, eta_0 = {alg['eta_0']}"
        )


def rate_boundary(
    config: Any = None,
    *,
    eta_w: Any,
    overrides: dict[str, Any] | None = None,
    alpha_final: float | None = None,
    threshold: float | None = None,
    eta_J_max: float = 30.0,
) -> RateBoundary:
    """The predicted lower ``η_J`` boundary of the phase diagram over ``(η_J, η_w)``.

    At ``V = ∞`` with ``η_0 = η_J`` the drift is proportional to ``η_J`` (the ``η_J²/V`` term
    is the only other one), so every time scales as ``1/η_J`` and
    ``η_J,min(η_w) = η_J,ref · α_th(η_J,ref, η_w) / α_final`` with ``α_th`` the predicted
    time to the threshold of :func:`predict_threshold` at the configuration's ``η_J``. Where
    the error floor of the final fixed point is above the threshold (:func:`floor_boundary`),
    ``α_th = ∞``.

    Parameters
    ----------
    config : str, Path, dict or None
        The base configuration (its ``algorithm.eta_J`` is the reference).
    eta_w : sequence of float
        Inner rates.
    overrides : dict, optional
        Dotted keys.
    alpha_final : float, optional
        Default ``run.alpha_max``.
    threshold : float, optional
        Default ``run.eg_threshold``.
    eta_J_max : float
        Largest ``η_J`` considered (the outer solution is integrated to
        ``alpha_final · eta_J_max / η_J,ref``).

    Returns
    -------
    RateBoundary

    Raises
    ------
    ConfigError
        The drift is not proportional to ``η_J`` (finite ``val_size``, ``eta_in_J ≠ 0`` or
        ``eta_0`` not tied to ``eta_J``).
    """
    cfg = _config(config, overrides)
    _check_eta_J_scaling(cfg, "rate_boundary")
    a_fin = float(cfg["run"]["alpha_max"] if alpha_final is None else alpha_final)
    ref = float(cfg["algorithm"]["eta_J"])
    ew = np.asarray(eta_w, float)
    rows = []
    for v in ew:
        tt = predict_threshold(
            cfg,
            overrides={"algorithm.eta_w": float(v)},
            threshold=threshold,
            alpha_max=a_fin * eta_J_max / ref,
        )
        rows.append((tt.alpha_threshold, tt.alpha_escape, tt.eg_end, tt.threshold))
    ath, aes, egend, thr = (np.array(c) for c in zip(*rows, strict=True))
    return RateBoundary(
        eta_w=ew,
        eta_J_min=ref * ath / a_fin,
        alpha_threshold=ath,
        alpha_escape=aes,
        eg_end=egend,
        eta_J_ref=ref,
        alpha_final=a_fin,
        threshold=float(thr[0]) if thr.size else math.nan,
    )


def minimal_eta_w(
    config: Any = None,
    *,
    bracket: tuple[float, float] = (0.5, 200.0),
    steps: int = 16,
    overrides: dict[str, Any] | None = None,
    alpha_final: float | None = None,
    threshold: float | None = None,
) -> tuple[float, float]:
    """Predicted minimal inner rate ``η_w`` (at the configuration's ``η_J``) whose predicted
    time to the threshold (:func:`predict_threshold`) is at most ``alpha_final``: bisection in
    ``ln η_w`` over ``bracket`` (success assumed monotone in ``η_w``, as for the integrated
    runs of ``fig3``).

    Returns
    -------
    (float, float)
        ``(min, lo)``: the smallest succeeding and the largest failing rate found (NaN, NaN
        when the bracket's high end fails; ``(low, nan)`` when its low end succeeds).
    """
    cfg = _config(config, overrides)
    a_fin = float(cfg["run"]["alpha_max"] if alpha_final is None else alpha_final)

    def ok(v: float) -> bool:
        tt = predict_threshold(
            cfg, overrides={"algorithm.eta_w": v}, threshold=threshold, alpha_max=a_fin
        )
        return tt.alpha_threshold <= a_fin

    x, x_fail, _ = bisect_log(ok, bracket[0], bracket[1], steps)
    return x, x_fail
