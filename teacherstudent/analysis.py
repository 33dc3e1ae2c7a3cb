"""Analysis of learning trajectories: plateaus, unit alignment, specialization, threshold times.

All functions work on plain arrays; the ``*_along`` / ``summarize`` helpers take the
:class:`xarray.Dataset` returned by :func:`teacherstudent.integrate` (coordinate ``alpha``,
variables ``eg``, ``Q(alpha,k,l)``, ``R(alpha,k,n)``, optionally ``T(n,m)``).

Rules (each is what the code does, and what the tests check)
-----------------------------------------------------------
**Plateau.** On the points with ``α > 0`` and finite ``ε > 0`` the logarithmic slope
``s(α) = d ln ε / d ln α`` is taken by second-order finite differences
(:func:`numpy.gradient` on the possibly non-uniform ``ln α`` grid). A point is *flat* when
``|s| < tol`` (default 0.05) and ``ε > floor_rel · max ε`` (default ``floor_rel = 1e-6``: a
converged error floor is not a plateau). A plateau is a maximal run of consecutive flat
points (at least two). *The* plateau of a trajectory is the first one (in α) that lasts at
least ``min_decades`` decades of α (default 0.25); if none lasts that long, the longest one.
(The first, not the longest: a run that converges to a non-zero residual error, e.g. with a
mis-tuned inner rate, ends on a long flat stretch that is not the plateau it escaped from.)
Its *height* is the median of ``ε`` over the run, its *start*/*end* the first/last ``α`` of
the run.

**Escape time α\\*.** The first ``α`` after the plateau start at which
``ε < (1 − δ) · height`` (default ``δ = 0.1``), linearly interpolated in ``(ln α, ln ε)``
between the two saved points that bracket the crossing; ``NaN`` when ``ε`` never drops that
far (the run stays on the plateau).

**Alignment of student to teacher units.** With the normalised overlaps
``r_kn = R_kn / √(Q_kk T_nn)`` the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`, maximising ``Σ |r_kπ(k)|``) pairs
``min(K, M)`` student units with distinct teacher units. For ``K > M`` the ``K − M``
unpaired student units are marked *extra*; each of them still has a *nearest* teacher unit
``argmax_n |r_kn|`` (used for its colour). For ``K < M`` the unpaired teacher units are
marked with ``student_of = −1``. The sign of a student unit is ``sign R`` at its assigned
(or, for extras, nearest) teacher unit; ``0`` counts as ``+``.

**Specialization order parameter.** On the aligned ``P × P`` block (``P = min(K, M)``,
rows: the assigned student units, columns: their teacher units, both in teacher order)

    S = mean_k |r_k,π(k)|  −  mean_{k, n ≠ π(k)} |r_kn|,

i.e. the mean normalised overlap of the assigned pairs minus the mean overlap of the same
student units with the other assigned teacher units (for ``P = 1`` the second term is 0).
``S = 1``: every teacher unit has its own student unit, parallel to it and orthogonal to the
others (perfect specialization); ``S ≈ 0``: the symmetric (unspecialised) states, where each
student unit overlaps all teacher units alike — including ``R = 0`` at the start;
``S < 0`` is possible only when the best assignment is still dominated by cross overlaps.
Along a trajectory the assignment is recomputed at every ``α`` (``S`` is a property of the
state); extra units do not enter ``S`` (see :func:`unit_roles` for what they do).

**Time to a threshold ε_th.** :func:`threshold_time`: when the dataset was integrated with
``run.eg_threshold == ε_th`` the solver's event time (``attrs["alpha_threshold"]``, exact to
the solver tolerance; ``NaN`` = never reached) is used; otherwise the first crossing of the
saved ``ε(α)`` is interpolated linearly in ``(α, ln ε)``. With ``alpha_final`` a crossing after
``alpha_final`` counts as never (``NaN``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "Plateau",
    "log_slope",
    "find_plateaus",
    "plateau",
    "escape_time",
    "crossing_time",
    "threshold_time",
    "normalized_overlaps",
    "Alignment",
    "align_units",
    "specialization",
    "specialization_along",
    "unit_roles",
    "summarize",
    "fit_power",
    "bootstrap_indices",
    "bootstrap_fit",
    "tail_rate",
    "first_below",
]


# --------------------------------------------------------------------------- plateaus
@dataclass(frozen=True)
class Plateau:
    """A plateau of ε(α): height, extent and escape time α* (NaN where undefined)."""

    found: bool
    height: float = math.nan
    start: float = math.nan
    end: float = math.nan
    escape: float = math.nan
    i_start: int = -1  # indices into the arrays passed to plateau()/find_plateaus()
    i_end: int = -1

    @property
    def decades(self) -> float:
        """Length of the plateau in decades of α, log10(end/start)."""
        return math.log10(self.end / self.start) if self.found else math.nan

    @property
    def escaped(self) -> bool:
        return self.found and math.isfinite(self.escape)


def _valid(alpha: np.ndarray, eg: np.ndarray) -> np.ndarray:
    return np.isfinite(alpha) & np.isfinite(eg) & (alpha > 0) & (eg > 0)


def log_slope(alpha: Any, eg: Any) -> np.ndarray:
    """``d ln ε / d ln α`` at every point (NaN where α ≤ 0 or ε ≤ 0 or too few points)."""
    alpha = np.asarray(alpha, dtype=float)
    eg = np.asarray(eg, dtype=float)
    out = np.full(alpha.shape, np.nan)
    ok = _valid(alpha, eg)
    if ok.sum() >= 3:
        out[ok] = np.gradient(np.log(eg[ok]), np.log(alpha[ok]))
    elif ok.sum() == 2:
        la, le = np.log(alpha[ok]), np.log(eg[ok])
        out[ok] = (le[1] - le[0]) / (la[1] - la[0])
    return out


def escape_time(alpha: Any, eg: Any, height: float, start: float, delta: float = 0.1) -> float:
    """First α ≥ ``start`` with ε < (1 − δ)·height, interpolated in (ln α, ln ε); NaN if never."""
    alpha = np.asarray(alpha, dtype=float)
    eg = np.asarray(eg, dtype=float)
    level = (1.0 - delta) * height
    ok = _valid(alpha, eg) & (alpha >= start)
    a, e = alpha[ok], eg[ok]
    below = np.nonzero(e < level)[0]
    if below.size == 0 or not math.isfinite(level) or level <= 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(a[0])
    la0, la1 = math.log(a[i - 1]), math.log(a[i])
    le0, le1, lv = math.log(e[i - 1]), math.log(e[i]), math.log(level)
    frac = (le0 - lv) / (le0 - le1) if le0 != le1 else 1.0
    return float(math.exp(la0 + frac * (la1 - la0)))


def find_plateaus(
    alpha: Any,
    eg: Any,
    tol: float = 0.05,
    delta: float = 0.1,
    floor_rel: float = 1e-6,
    min_decades: float = 0.0,
) -> list[Plateau]:
    """Every plateau (maximal run of flat points, see the module rules), in α order.

    ``min_decades`` drops runs shorter than that many decades of α.
    """
    alpha = np.asarray(alpha, dtype=float)
    eg = np.asarray(eg, dtype=float)
    s = log_slope(alpha, eg)
    ok = _valid(alpha, eg)
    if not ok.any():
        return []
    floor = floor_rel * float(np.max(eg[ok]))
    flat = ok & (np.abs(s) < tol) & (eg > floor)
    idx = np.nonzero(ok)[0]  # consecutive valid points
    out: list[Plateau] = []
    run: list[int] = []
    for j in list(idx) + [-1]:
        if j >= 0 and flat[j]:
            run.append(j)
            continue
        if len(run) >= 2:
            i0, i1 = run[0], run[-1]
            height = float(np.median(eg[run]))
            p = Plateau(
                found=True,
                height=height,
                start=float(alpha[i0]),
                end=float(alpha[i1]),
                escape=escape_time(alpha, eg, height, float(alpha[i0]), delta),
                i_start=int(i0),
                i_end=int(i1),
            )
            if p.decades >= min_decades:
                out.append(p)
        run = []
    return out


def plateau(
    alpha: Any,
    eg: Any,
    tol: float = 0.05,
    delta: float = 0.1,
    floor_rel: float = 1e-6,
    min_decades: float = 0.25,
) -> Plateau:
    """The plateau of ε(α): the first one lasting at least ``min_decades`` decades, else the
    longest.

    Parameters
    ----------
    alpha, eg : array_like
        The saved α and the error at them.
    tol : float
        A plateau is where ``|d ln ε / d ln α| < tol``.
    delta : float
        The escape time α* is the first α after the plateau's start with
        ``ε < (1 − delta) · height``.
    floor_rel : float
        Errors below ``floor_rel · max ε`` do not count (the converged tail).
    min_decades : float
        The shortest plateau taken as *the* plateau.

    Returns
    -------
    Plateau
        ``found``, ``height`` (median ε over it), ``start``, ``end``, ``escape`` (α*);
        ``Plateau(found=False)`` if there is none.

    Examples
    --------
    >>> import teacherstudent as ts
    >>> ds = ts.integrate(None, **{"run.alpha_max": 50.0})
    >>> p = plateau(ds.alpha.values, ds.eg.values)
    >>> round(p.height, 3), 13 < p.escape < 14
    (0.167, True)
    """
    ps = find_plateaus(alpha, eg, tol=tol, delta=delta, floor_rel=floor_rel)
    if not ps:
        return Plateau(found=False)
    for p in ps:
        if p.decades >= min_decades:
            return p
    return max(ps, key=lambda p: p.decades)


# --------------------------------------------------------------------------- thresholds
def crossing_time(alpha: Any, eg: Any, threshold: float, alpha_final: float | None = None) -> float:
    """First α with ε ≤ threshold, interpolated linearly in (α, ln ε); NaN if never."""
    alpha = np.asarray(alpha, dtype=float)
    eg = np.asarray(eg, dtype=float)
    ok = np.isfinite(alpha) & np.isfinite(eg)
    a, e = alpha[ok], eg[ok]
    hit = np.nonzero(e <= threshold)[0]
    if hit.size == 0:
        return math.nan
    i = int(hit[0])
    if i == 0:
        t = float(a[0])
    elif e[i - 1] > 0 and e[i] > 0 and threshold > 0:
        l0, l1, lt = math.log(e[i - 1]), math.log(e[i]), math.log(threshold)
        frac = (l0 - lt) / (l0 - l1) if l0 != l1 else 1.0
        t = float(a[i - 1] + frac * (a[i] - a[i - 1]))
    else:
        t = float(a[i])
    if alpha_final is not None and t > alpha_final:
        return math.nan
    return t


def threshold_time(ds: Any, threshold: float, alpha_final: float | None = None) -> float:
    """α at which ε first reaches ``threshold`` (see the module rules); NaN if never.

    ``ds`` is a dataset with ``eg(alpha)``; its ``attrs['alpha_threshold']`` is used when
    ``attrs['run.eg_threshold'] == threshold`` and the run finished (``status == 0``) or the
    event was found before it stopped.
    """
    attrs = getattr(ds, "attrs", {}) or {}
    used = attrs.get("run.eg_threshold")
    event = attrs.get("alpha_threshold")
    if used is not None and event is not None and float(used) == float(threshold) and threshold > 0:
        event = float(event)
        if math.isfinite(event):
            return math.nan if (alpha_final is not None and event > alpha_final) else event
        if int(attrs.get("status", 0)) == 0:
            return math.nan  # the event search covered the whole run: never reached
    return crossing_time(ds["alpha"].values, ds["eg"].values, threshold, alpha_final)


# --------------------------------------------------------------------------- alignment
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
    sign: np.ndarray  # (K,) ±1: sign of R at the assigned (extras: nearest) teacher unit
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


def align_units(R: Any, Q: Any | None = None, T: Any | None = None) -> Alignment:
    """Hungarian alignment of student to teacher units on ``|r_kn|`` (module rules)."""
    r = normalized_overlaps(R, Q, T)
    K, M = r.shape
    rows, cols = linear_sum_assignment(np.abs(r), maximize=True)
    teacher_of = np.full(K, -1, dtype=int)
    student_of = np.full(M, -1, dtype=int)
    teacher_of[rows] = cols
    student_of[cols] = rows
    nearest = np.argmax(np.abs(r), axis=1).astype(int)
    ref = np.where(teacher_of >= 0, teacher_of, nearest)
    sign = np.where(r[np.arange(K), ref] < 0, -1.0, 1.0)
    return Alignment(
        teacher_of=teacher_of,
        student_of=student_of,
        nearest=nearest,
        sign=sign,
        overlap=r,
        extra=teacher_of < 0,
    )


def specialization(R: Any, Q: Any | None = None, T: Any | None = None) -> float:
    """The specialization order parameter S of one state.

    Student units are matched to teacher units by the Hungarian assignment on the normalised
    overlaps ``|r_kn|``, ``r = R_kn / √(Q_kk T_nn)``; S is the mean ``|r|`` of the matched
    pairs minus the mean ``|r|`` between the other matched units.

    Parameters
    ----------
    R : array_like
        ``(K, M)`` student–teacher overlaps.
    Q, T : array_like, optional
        ``(K, K)`` and ``(M, M)`` overlaps for the normalisation (default: identity).

    Returns
    -------
    float
        1 when every teacher unit has its own student unit, ≈ 0 in the symmetric state.

    Examples
    --------
    >>> import numpy as np
    >>> specialization(np.array([[0.0, 1.0], [-1.0, 0.0]]))
    1.0
    """
    al = align_units(R, Q, T)
    pairs = [(int(al.student_of[n]), n) for n in range(al.M) if al.student_of[n] >= 0]
    ks = [k for k, _ in pairs]
    ns = [n for _, n in pairs]
    block = np.abs(al.overlap[np.ix_(ks, ns)])
    P = len(pairs)
    diag = float(np.mean(np.diagonal(block)))
    if P == 1:
        return diag
    off = (block.sum() - np.trace(block)) / (P * (P - 1))
    return float(diag - off)


def specialization_along(ds: Any) -> np.ndarray:
    """S(α) of a dataset (assignment recomputed at every saved α)."""
    R = np.asarray(ds["R"].values)
    Q = np.asarray(ds["Q"].values) if "Q" in ds else None
    T = np.asarray(ds["T"].values) if "T" in ds else None
    out = np.full(R.shape[0], np.nan)
    for i in range(R.shape[0]):
        if np.all(np.isfinite(R[i])) and (Q is None or np.all(np.isfinite(Q[i]))):
            out[i] = specialization(R[i], None if Q is None else Q[i], T)
    return out


def unit_roles(R: Any, Q: Any, T: Any | None = None, share: float = 0.5) -> dict[str, Any]:
    """What every student unit does in one state (for K > M: the extra units).

    Returns ``teacher_of``, ``nearest``, ``extra``, ``sign``, ``norm`` (``√Q_kk``),
    ``best_overlap`` (``max_n |r_kn|``), ``sharing`` (per teacher unit: how many student units
    have ``|r_kn| > share``) and ``cos_students`` (``Q_kl/√(Q_kk Q_ll)``).
    """
    Q = np.asarray(Q, dtype=float)
    al = align_units(R, Q, T)
    r = np.abs(al.overlap)
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
        out["S_final"] = specialization(ds["R"].values[last], Q, T)
    return out


# --------------------------------------------------------------------------- fits
def fit_power(x: Any, y: Any) -> tuple[float, float]:
    """Power law ``y ≈ c·x^{-a}`` by least squares in log–log.

    Parameters
    ----------
    x, y : array_like
        The points; those with ``y`` not finite or ``≤ 0`` are left out.

    Returns
    -------
    a : float
        The exponent (NaN with fewer than 2 usable points).
    c : float
        The prefactor (NaN likewise).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    slope, icpt = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(-slope), float(math.exp(icpt))


def bootstrap_indices(S: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap resamples of ``S`` seeds (drawn with replacement).

    Parameters
    ----------
    S : int
        Seeds.
    B : int
        Resamples, the data itself included.
    rng : numpy.random.Generator
        The random stream.

    Returns
    -------
    numpy.ndarray
        ``(B, S)`` seed indices; row 0 is the data itself (``0, 1, …, S−1``).
    """
    idx = rng.integers(0, S, size=(B, S))
    idx[0] = np.arange(S)
    return idx


def bootstrap_fit(
    x: Any, samples: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Values, bootstrap errors and the fitted power law ``value ∝ x^{-a}`` of a metric.

    Parameters
    ----------
    x : array_like
        The abscissae (``N``, ``P``, ...).
    samples : list of numpy.ndarray
        ``samples[i]``: the ``(B,)`` bootstrap values of the metric at ``x[i]``, entry 0 the
        data itself (resamples from :func:`bootstrap_indices`).

    Returns
    -------
    value : numpy.ndarray
        The data values (entry 0 of each sample).
    error : numpy.ndarray
        Their bootstrap standard deviations (NaN with fewer than 2 resamples).
    a : float
        The exponent fitted to the data (:func:`fit_power`).
    a_err : float
        The bootstrap standard deviation of the exponent.
    c : float
        The prefactor of the fit to the data.
    """
    vals = np.array([s[0] for s in samples])
    errs = np.array([np.std(s[1:], ddof=1) if len(s) > 2 else math.nan for s in samples])
    a, c = fit_power(x, vals)
    B = min(len(s) for s in samples)
    slopes = [fit_power(x, np.array([s[b] for s in samples]))[0] for b in range(1, B)]
    slopes = np.asarray(slopes)
    a_err = float(np.nanstd(slopes, ddof=1)) if np.isfinite(slopes).sum() > 2 else math.nan
    return vals, errs, a, a_err, c


def tail_rate(dist: Any, rounds: Any, lo: float, hi: float) -> float:
    """Per-round contraction ``1 − ρ`` of ``dist_t ∝ ρ^t``, fitted where ``lo < dist < hi``.

    Parameters
    ----------
    dist : array_like
        The distance per recorded round.
    rounds : array_like
        The rounds.
    lo, hi : float
        The window of the log-linear fit.

    Returns
    -------
    float
        ``1 − ρ`` (NaN with fewer than 5 points in the window).
    """
    dist, rounds = np.asarray(dist, float), np.asarray(rounds)
    m = np.isfinite(dist) & (dist > lo) & (dist < hi)
    if m.sum() < 5:
        return float("nan")
    slope = np.polyfit(rounds[m], np.log(dist[m]), 1)[0]
    return float(1.0 - np.exp(slope))


def first_below(values: Any, times: Any, level: float) -> float:
    """The first time at which ``values < level``.

    Parameters
    ----------
    values, times : array_like
        The series and its times (rounds, α).
    level : float
        The level.

    Returns
    -------
    float
        That time (NaN when never).
    """
    idx = np.flatnonzero(np.asarray(values) < level)
    return float(np.asarray(times)[idx[0]]) if idx.size else float("nan")
