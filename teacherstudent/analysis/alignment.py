"""Alignment of student to teacher units, specialization, and the scalar summary of a run
(rules: :mod:`teacherstudent.analysis`).

**Signs and the activation.** ``(J_k, w_k) → (−J_k, −w_k)`` leaves the student's function
unchanged only for an odd activation, ``g(−z) = −g(z)`` (erf, linear, tanh): then a unit
with ``R_kn < 0`` is as specialised as one with ``R_kn > 0`` and units are matched on
``|r_kn|`` with a sign per unit. For the other activations (relu, softplus, gelu, and
sigmoid, which is odd only up to the constant ½ that a head without bias cannot absorb)
``−J_k`` computes a different function: units are matched on the signed ``r_kn``
(maximising ``Σ r``), every sign is +1, and S uses the signed overlaps. Only the student's
activation decides (the symmetry acts on the student); pass it as ``activation``
(datasets carry it in ``attrs["model.activation"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np

from .trajectory import plateau, threshold_time

# --------------------------------------------------------------------------- alignment
#: Activations with g(−z) = −g(z) (see the module docstring for sigmoid).
ODD_ACTIVATIONS = ("erf", "linear", "tanh")

_ENUMERATE_MAX = 50_000  # assignments tried one by one below this count (K = M = 8: 40 320)


def best_assignment(score: Any) -> tuple[np.ndarray, np.ndarray]:
    """The assignment of rows to columns with the largest total ``score`` (each row and
    column used at most once, ``min(K, M)`` pairs), as ``(rows, cols)`` with ``rows``
    increasing, like ``scipy.optimize.linear_sum_assignment(score, maximize=True)``.

    Small problems (every figure's K × M) try all assignments, in numpy, without importing
    scipy.optimize (a fifth of a second, more than the figure's ODE run); larger ones are
    scipy's. Ties go to the first assignment in lexicographic order.

    Parameters
    ----------
    score : array_like, shape (K, M)
        The gain of pairing row k with column n.

    Returns
    -------
    rows, cols : ndarray of int
        The ``min(K, M)`` pairs ``(rows[i], cols[i])``.

    Examples
    --------
    >>> best_assignment(np.array([[0.1, 0.9], [0.8, 0.2]]))[1].tolist()
    [1, 0]
    """
    score = np.asarray(score, dtype=float)
    K, M = score.shape
    if K > M:
        cols, rows = best_assignment(score.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    if math.perm(M, K) > _ENUMERATE_MAX:
        from scipy.optimize import linear_sum_assignment

        return linear_sum_assignment(score, maximize=True)
    choices = np.array(list(permutations(range(M), K)), dtype=int).reshape(-1, K)
    totals = score[np.arange(K), choices].sum(axis=1)
    return np.arange(K), choices[int(np.argmax(totals))]


def is_odd(activation: str) -> bool:
    """Whether ``g(−z) = −g(z)``: the sign flip of a student unit is a symmetry."""
    return activation in ODD_ACTIVATIONS


def dataset_activation(ds: Any) -> str:
    """The student's activation of a result (``attrs["model.activation"]``, default erf)."""
    return str(getattr(ds, "attrs", {}).get("model.activation", "erf"))


def normalized_overlaps(R: Any, Q: Any | None = None, T: Any | None = None) -> np.ndarray:
    """``r_kn = R_kn / √(Q_kk T_nn)`` (Q or T missing: their diagonal is taken as 1)."""
    R = np.asarray(R, dtype=float)
    qd = np.ones(R.shape[0]) if Q is None else np.diagonal(np.asarray(Q, dtype=float))
    td = np.ones(R.shape[1]) if T is None else np.diagonal(np.asarray(T, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = R / np.sqrt(np.outer(qd, td))
    return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)


@dataclass(frozen=True)
class Alignment:
    """Assignment of student units (k) to teacher units (n); see the module rules."""

    teacher_of: np.ndarray  # (K,) assigned teacher unit, -1 for extra student units
    student_of: np.ndarray  # (M,) assigned student unit, -1 for unpaired teacher units
    nearest: np.ndarray  # (K,) argmax_n |r_kn| for every student unit
    sign: np.ndarray  # (K,) ±1: sign of R at the assigned (extras: nearest) teacher unit;
    # all +1 for an activation that is not odd
    overlap: np.ndarray  # (K, M) normalised overlaps r_kn
    extra: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (K,) bool

    @property
    def K(self) -> int:
        return self.teacher_of.size

    @property
    def M(self) -> int:
        return self.student_of.size

    @property
    def colour_index(self) -> np.ndarray:
        """Teacher unit that gives student unit k its colour (assigned, else nearest)."""
        return np.where(self.teacher_of >= 0, self.teacher_of, self.nearest)

    @property
    def order(self) -> np.ndarray:
        """Student units in display order: assigned ones by teacher, then extras by nearest."""
        assigned = [int(self.student_of[n]) for n in range(self.M) if self.student_of[n] >= 0]
        extras = sorted(np.nonzero(self.extra)[0], key=lambda k: (self.nearest[k], k))
        return np.array(assigned + [int(k) for k in extras], dtype=int)

    def aligned(self) -> np.ndarray:
        """Sign-corrected overlaps ``sign_k r_kn`` with rows in :attr:`order`."""
        return (self.sign[:, None] * self.overlap)[self.order]


def align_units(
    R: Any, Q: Any | None = None, T: Any | None = None, activation: str = "erf"
) -> Alignment:
    """Hungarian alignment of student to teacher units (module rules): on ``|r_kn|`` with a
    sign per unit for an odd student ``activation``, on the signed ``r_kn`` otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> R = np.array([[-0.9, 0.1], [0.0, 0.5]])
    >>> align_units(R).sign.tolist(), align_units(R, activation="relu").teacher_of.tolist()
    ([-1.0, 1.0], [1, 0])
    """
    r = normalized_overlaps(R, Q, T)
    K, M = r.shape
    score = np.abs(r) if is_odd(activation) else r
    rows, cols = best_assignment(score)
    teacher_of = np.full(K, -1, dtype=int)
    student_of = np.full(M, -1, dtype=int)
    teacher_of[rows] = cols
    student_of[cols] = rows
    nearest = np.argmax(score, axis=1).astype(int)
    ref = np.where(teacher_of >= 0, teacher_of, nearest)
    sign = np.where(r[np.arange(K), ref] < 0, -1.0, 1.0)
    if not is_odd(activation):
        sign = np.ones(K)
    return Alignment(
        teacher_of=teacher_of,
        student_of=student_of,
        nearest=nearest,
        sign=sign,
        overlap=r,
        extra=teacher_of < 0,
    )


def specialization(
    R: Any, Q: Any | None = None, T: Any | None = None, activation: str = "erf"
) -> float:
    """The specialization order parameter S of one state.

    Student units are matched to teacher units by the Hungarian assignment on the normalised
    overlaps ``|r_kn|``, ``r = R_kn / √(Q_kk T_nn)``; S is the mean ``|r|`` of the matched
    pairs minus the mean ``|r|`` between the other matched units. For a student activation
    that is not odd (relu, sigmoid, softplus, gelu) the signed ``r`` replaces ``|r|``: a unit
    anti-aligned with its teacher unit computes a different function (module docstring).

    Parameters
    ----------
    R : array_like
        ``(K, M)`` student–teacher overlaps.
    Q, T : array_like, optional
        ``(K, K)`` and ``(M, M)`` overlaps for the normalisation (default: identity).
    activation : str
        The student's activation (``model.activation``); decides whether signs count.

    Returns
    -------
    float
        1 when every teacher unit has its own student unit, ≈ 0 in the symmetric state.

    Examples
    --------
    >>> import numpy as np
    >>> specialization(np.array([[0.0, 1.0], [-1.0, 0.0]]))
    1.0
    >>> specialization(np.array([[0.0, 1.0], [-1.0, 0.0]]), activation="relu")
    0.0
    """
    al = align_units(R, Q, T, activation)
    pairs = [(int(al.student_of[n]), n) for n in range(al.M) if al.student_of[n] >= 0]
    ks = [k for k, _ in pairs]
    ns = [n for _, n in pairs]
    block = al.overlap[np.ix_(ks, ns)]
    if is_odd(activation):
        block = np.abs(block)
    P = len(pairs)
    diag = float(np.mean(np.diagonal(block)))
    if P == 1:
        return diag
    off = (block.sum() - np.trace(block)) / (P * (P - 1))
    return float(diag - off)


def specialization_along(ds: Any) -> np.ndarray:
    """S(α) of a dataset (assignment recomputed at every saved α; the student's activation
    from ``attrs["model.activation"]``)."""
    act = dataset_activation(ds)
    R = np.asarray(ds["R"])
    Q = np.asarray(ds["Q"]) if "Q" in ds else None
    T = np.asarray(ds["T"]) if "T" in ds else None
    out = np.full(R.shape[0], np.nan)
    for i in range(R.shape[0]):
        if np.all(np.isfinite(R[i])) and (Q is None or np.all(np.isfinite(Q[i]))):
            out[i] = specialization(R[i], None if Q is None else Q[i], T, act)
    return out


def unit_roles(
    R: Any, Q: Any, T: Any | None = None, share: float = 0.5, activation: str = "erf"
) -> dict[str, Any]:
    """What every student unit does in one state (for K > M: the extra units).

    Returns ``teacher_of``, ``nearest``, ``extra``, ``sign``, ``norm`` (``√Q_kk``),
    ``best_overlap`` (``max_n |r_kn|``), ``sharing`` (per teacher unit: how many student units
    have ``|r_kn| > share``) and ``cos_students`` (``Q_kl/√(Q_kk Q_ll)``).
    """
    Q = np.asarray(Q, dtype=float)
    al = align_units(R, Q, T, activation)
    r = np.abs(al.overlap) if is_odd(activation) else al.overlap
    norm = np.sqrt(np.clip(np.diagonal(Q), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.nan_to_num(Q / np.outer(norm, norm))
    return {
        "teacher_of": al.teacher_of,
        "nearest": al.nearest,
        "extra": al.extra,
        "sign": al.sign,
        "norm": norm,
        "best_overlap": r.max(axis=1),
        "sharing": (r > share).sum(axis=0),
        "cos_students": cos,
    }


# --------------------------------------------------------------------------- summary
def summarize(
    ds: Any,
    threshold: float | None = None,
    alpha_final: float | None = None,
    tol: float = 0.05,
    delta: float = 0.1,
) -> dict[str, float]:
    """Scalar summary of an ODE run: the final and smallest ε, the plateau, α*, α(ε ≤ ε_th),
    the final S.

    Parameters
    ----------
    ds : xarray.Dataset
        An ODE result.
    threshold : float, optional
        Also the first α with ``ε ≤ threshold`` (``alpha_threshold``).
    alpha_final : float, optional
        The α up to which the threshold counts.
    tol, delta : float
        The plateau rules of :func:`plateau`.

    Returns
    -------
    dict
        ``eg_final``, ``eg_min``, ``alpha_reached``, ``plateau_height``, ``plateau_start``,
        ``plateau_end``, ``alpha_escape``, ``S_final`` (and ``alpha_threshold``).

    Examples
    --------
    >>> import teacherstudent as ts
    >>> ds = ts.integrate(None, **{"run.alpha_max": 50.0})
    >>> round(summarize(ds, 0.01)["alpha_threshold"], 1)
    22.5
    """
    alpha = ds["alpha"].values
    eg = ds["eg"].values
    p = plateau(alpha, eg, tol=tol, delta=delta)
    finite = np.isfinite(eg)
    last = int(np.nonzero(finite)[0][-1]) if finite.any() else -1
    out = {
        "eg_final": float(eg[last]) if last >= 0 else math.nan,
        "eg_min": float(np.nanmin(eg)) if finite.any() else math.nan,
        "alpha_reached": float(ds.attrs.get("alpha_reached", alpha[last])),
        "plateau_height": p.height,
        "plateau_start": p.start,
        "plateau_end": p.end,
        "alpha_escape": p.escape,
        "S_final": math.nan,
    }
    if threshold is not None:
        out["alpha_threshold"] = threshold_time(ds, threshold, alpha_final)
    if "R" in ds and last >= 0:
        Q = ds["Q"].values[last] if "Q" in ds else None
        T = ds["T"].values if "T" in ds else None
        out["S_final"] = specialization(ds["R"].values[last], Q, T, dataset_activation(ds))
    return out
