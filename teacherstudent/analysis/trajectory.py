"""Plateaus, escape times and threshold times of ε(α) (rules: :mod:`teacherstudent.analysis`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


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
    return crossing_time(np.asarray(ds["alpha"]), np.asarray(ds["eg"]), threshold, alpha_final)
