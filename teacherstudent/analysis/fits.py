"""Power-law fits, bootstrap resampling, rates and first-passage times of result series."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


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


# --------------------------------------------------------------------------- bisection
def bisect_log(ok: Any, lo: float, hi: float, steps: int) -> tuple[float, float, str]:
    """Smallest ``x`` in ``[lo, hi]`` with ``ok(x)``, by bisection in ``ln x`` (``ok`` assumed
    monotone: False below some ``x``, True above), e.g. a minimal learning rate.

    Parameters
    ----------
    ok : callable
        ``ok(x) -> bool``.
    lo, hi : float
        The bracket (> 0).
    steps : int
        Bisection steps.

    Returns
    -------
    (float, float, str)
        ``(x, x_fail, note)``: the smallest succeeding value found and the largest failing
        one (their ratio is ``(hi/lo)^(2^-steps)``); ``(lo, nan, note)`` when ``ok(lo)``,
        ``(nan, nan, note)`` when not ``ok(hi)``.

    Examples
    --------
    >>> x, x_fail, _ = bisect_log(lambda v: v >= 2.0, 1.0, 4.0, 20)
    >>> x_fail < 2.0 <= x < 2.0 * (1 + 1e-5)
    True
    """
    lo, hi = float(lo), float(hi)
    if ok(lo):
        return lo, math.nan, "bracket low end already reaches the threshold"
    if not ok(hi):
        return math.nan, math.nan, "bracket high end does not reach the threshold"
    for _ in range(int(steps)):
        mid = math.sqrt(lo * hi)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi, lo, ""
