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

**Fixed points and stability.** :func:`fixed_points` and :func:`stability`
(:mod:`teacherstudent.analysis.fixed_point_theory`, theory in ``theory/plateau.md``): fixed points
of the drift by Newton's method, their spectra, kinds and zero modes; the escape rate of the
plateau and the predicted α* (same definition as above) by matched asymptotics;
:func:`floor_boundary`: where the error of the final fixed point crosses a threshold;
:func:`predict_threshold`, :func:`rate_boundary`, :func:`minimal_eta_w`: the predicted time to
the error threshold and the minimal learning rates of the phase diagrams.

**Saddle sequences.** :func:`saddle_sequence` (:mod:`teacherstudent.analysis.saddles`,
``theory/plateau.md`` §8): the shoulders a run with unequal teacher units rests on, each in an
invariant subspace (the teacher units learnt so far, student units equal or not), with the
fixed point it approaches, its spectrum, the transverse growth rate and the predicted escape.
"""

from __future__ import annotations

from .alignment import (
    ODD_ACTIVATIONS,
    Alignment,
    align_units,
    best_assignment,
    dataset_activation,
    is_odd,
    normalized_overlaps,
    specialization,
    specialization_along,
    summarize,
    unit_roles,
)
from .fits import (
    bisect_log,
    bootstrap_fit,
    bootstrap_indices,
    first_below,
    fit_power,
    tail_rate,
)
from .fixed_point_theory import (
    FixedPoint,
    FloorBoundary,
    Jacobian,
    RateBoundary,
    Stability,
    ThresholdPrediction,
    continuation,
    fixed_points,
    floor_boundary,
    jacobian,
    minimal_eta_w,
    predict_threshold,
    rate_boundary,
    stability,
)
from .saddles import (
    SaddleSequence,
    Stage,
    ThresholdWindow,
    invariant_projector,
    predict_threshold_subspace,
    saddle_sequence,
    threshold_window,
)
from .trajectory import (
    Plateau,
    crossing_time,
    escape_time,
    find_plateaus,
    log_slope,
    plateau,
    threshold_time,
)

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
    "best_assignment",
    "ODD_ACTIVATIONS",
    "is_odd",
    "dataset_activation",
    "specialization",
    "specialization_along",
    "unit_roles",
    "summarize",
    "fit_power",
    "bootstrap_indices",
    "bootstrap_fit",
    "tail_rate",
    "first_below",
    "bisect_log",
    "FixedPoint",
    "Jacobian",
    "Stability",
    "fixed_points",
    "stability",
    "jacobian",
    "continuation",
    "FloorBoundary",
    "floor_boundary",
    "ThresholdPrediction",
    "predict_threshold",
    "RateBoundary",
    "rate_boundary",
    "minimal_eta_w",
    "Stage",
    "SaddleSequence",
    "saddle_sequence",
    "invariant_projector",
    "predict_threshold_subspace",
    "ThresholdWindow",
    "threshold_window",
]
