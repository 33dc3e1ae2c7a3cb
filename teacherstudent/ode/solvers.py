r"""Jitted ODE solvers for the order-parameter vector field.

Three methods, in the spirit of :func:`scipy.integrate.solve_ivp`:

* ``euler`` — explicit Euler with fixed ``dt`` (parity with published code, e.g. nn2pp);
* ``rk4`` — classic fourth-order Runge–Kutta with fixed ``dt``;
* ``dopri5`` — Dormand–Prince 5(4) with embedded error estimate, FSAL, and the standard
  step-size control ``h ← h·min(5, max(0.2, 0.9·err^{-1/5}))`` with
  ``err = ‖e / (atol + rtol·max(|y|, |y_new|))‖_RMS`` (Hairer, Nørsett & Wanner II.4).

Steps are shortened to land *exactly* on every requested save point (the proposal of the
adaptive controller is kept, so saving does not slow it down). After every accepted step
the solver checks for divergence: non-finite state, an integral outside its domain
(``|arcsin argument| > 1``), or a field covariance ``C`` that lost positive definiteness
(Cholesky). It then stops, returning the status and the α reached; everything saved up to
there is kept. An optional event records the first α at which the meta-generalisation
error falls below a threshold (linear interpolation between accepted steps).

The vector field is :func:`teacherstudent.ode.drift.rhs` (numba cannot cache functions that take
other jitted functions as arguments, so the kernel is bound here, once).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .drift import (
    P_GAMMA,
    P_K,
    P_L,
    P_M,
    cholesky,
    errors_kernel,
    field_covariance,
    make_workspace,
    rhs,
)
from .solver_state import (  # noqa: F401 - re-exported: the kernels' constants
    DIVERGED_BLOWUP,
    DIVERGED_DOMAIN,
    DIVERGED_NONFINITE,
    DIVERGED_NOT_PD,
    INTERRUPTED,
    MAX_STEPS,
    METHODS,
    PAUSED,
    S_EGPREV,
    S_H,
    S_ISAVE,
    S_NACC,
    S_NFEV,
    S_NREJ,
    S_STARTED,
    S_STATUS,
    S_T,
    S_TEVENT,
    STATE_SIZE,
    STATUS_MESSAGES,
    STEP_TOO_SMALL,
    SUCCESS,
    new_state,
)

__all__ = ["METHODS", "STATUS_MESSAGES", "integrate_kernel", "new_state", "PAUSED", "INTERRUPTED",
           "SUCCESS"]


_PD_EVERY = 16  # fixed-step methods: steps between positive-definiteness checks

# Dormand–Prince 5(4) tableau
_C2, _C3, _C4, _C5 = 1 / 5, 3 / 10, 4 / 5, 8 / 9
_A21 = 1 / 5
_A31, _A32 = 3 / 40, 9 / 40
_A41, _A42, _A43 = 44 / 45, -56 / 15, 32 / 9
_A51, _A52, _A53, _A54 = 19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729
_A61, _A62, _A63, _A64, _A65 = 9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656
_B1, _B3, _B4, _B5, _B6 = 35 / 384, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84
# error coefficients b - b* (b* the embedded 4th-order weights)
_E1, _E3, _E4, _E5, _E6, _E7 = (
    71 / 57600,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)


@njit(cache=True)
def _is_pd(y, pi, pf, T, C, psd_tol):
    """Cholesky test of the field covariance (admissible iff C ⪰ 0 up to a tolerance)."""
    L = pi[P_L]
    field_covariance(y, pi[P_K], pi[P_M], L, pf[P_GAMMA], T, C)
    # A specialised student (J_k in the span of the B_n) makes C singular: the dynamics
    # converge to the boundary of the PSD cone and solver error can put the state a hair
    # outside (explicit Euler without the η² term loses the O(dt²) Gram part of every step,
    # an O(dt) bias). Only λ_min(C) < −psd_tol·max(1, max C_ii) counts as divergence:
    # Cholesky of C + psd_tol·scale·I succeeds exactly when λ_min(C) > −psd_tol·scale.
    scale = 1.0
    for j in range(L):
        scale = max(scale, C[j, j])
    for j in range(L):
        C[j, j] += psd_tol * scale
    return cholesky(C, L)


@njit(cache=True)
def _eg(y, pi, pf, T, ubar, Su, buf):
    errors_kernel(y, pi, pf, T, ubar, Su, buf, False)
    return buf[0]


@njit(cache=True)
def integrate_kernel(
    method,
    y,
    pi,
    pf,
    T,
    ubar,
    Su,
    t_save,
    dt,
    rtol,
    atol,
    max_steps,
    eg_threshold,
    blowup,
    psd_tol,
    ys,
    st,
    k1,
    step_budget,
):
    """Integrate from α = 0 and store the state at every ``t_save`` into ``ys``.

    Resumable: ``y`` (the current state, updated in place), ``st`` (from :func:`new_state`)
    and ``k1`` (the drift at ``y``) carry everything between calls, so a run cut into calls
    of at most ``step_budget`` step attempts takes exactly the steps of one uninterrupted
    call. Returns the status: ``PAUSED`` when the budget is used up (call again), else
    ``SUCCESS`` or a negative stop code; also stored in ``st[S_STATUS]``, with the α reached
    ``st[S_T]``, the number of saved points ``st[S_ISAVE]``, the counters and ``t_event``
    (NaN unless ``eg_threshold > 0`` and the error fell below it). ``y`` always holds the
    last accepted state.
    """
    n = y.size
    n_save = t_save.size
    t_end = t_save[n_save - 1]
    L = pi[P_L]
    Cw = np.empty((L, L))
    ebuf = np.empty(3)
    ws = make_workspace(pi, pf)
    t = st[S_T]
    i_save = int(st[S_ISAVE])
    nfev = int(st[S_NFEV])
    n_acc = int(st[S_NACC])
    n_rej = int(st[S_NREJ])
    # one integer type for every status assignment: numba's ahead-of-time compiler (ode.aot)
    # does not unify distinct integer literals as the JIT does
    status = np.int64(SUCCESS)
    t_event = st[S_TEVENT]
    eg_prev = st[S_EGPREV]
    h_prop = st[S_H]
    if st[S_STARTED] == 0.0:
        st[S_STARTED] = 1.0
        if eg_threshold > 0.0:
            eg_prev = _eg(y, pi, pf, T, ubar, Su, ebuf)
            if eg_prev <= eg_threshold:
                t_event = 0.0
        while i_save < n_save and t_save[i_save] <= t:
            ys[i_save, :] = y
            i_save += 1
        bad = rhs(y, pi, pf, T, ubar, Su, k1, ws)
        nfev += 1
        if bad > 0:
            status = np.int64(DIVERGED_DOMAIN)
            _store(st, t, h_prop, i_save, nfev, n_acc, n_rej, t_event, eg_prev, status)
            return status
        # initial adaptive step: Hairer's heuristic, simplified
        h_prop = dt
        if method == 2:
            d0 = 0.0
            d1 = 0.0
            for j in range(n):
                sc = atol + rtol * abs(y[j])
                d0 += (y[j] / sc) ** 2
                d1 += (k1[j] / sc) ** 2
            d0 = math.sqrt(d0 / n)
            d1 = math.sqrt(d1 / n)
            h_prop = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
            h_prop = min(h_prop, t_end)

    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    k7 = np.empty(n)
    yt = np.empty(n)
    ynew = np.empty(n)

    attempts = 0
    while t < t_end:
        if n_acc >= max_steps:
            status = np.int64(MAX_STEPS)
            break
        if attempts >= step_budget:
            status = np.int64(PAUSED)
            break
        attempts += 1
        t_next = t_save[i_save]
        h = min(h_prop, t_next - t)
        last_to_save = h >= t_next - t
        if method == 0:
            for j in range(n):
                ynew[j] = y[j] + h * k1[j]
        elif method == 1:
            for j in range(n):
                yt[j] = y[j] + 0.5 * h * k1[j]
            bad = rhs(yt, pi, pf, T, ubar, Su, k2, ws)
            for j in range(n):
                yt[j] = y[j] + 0.5 * h * k2[j]
            bad += rhs(yt, pi, pf, T, ubar, Su, k3, ws)
            for j in range(n):
                yt[j] = y[j] + h * k3[j]
            bad += rhs(yt, pi, pf, T, ubar, Su, k4, ws)
            nfev += 3
            if bad > 0:
                status = np.int64(DIVERGED_DOMAIN)
                break
            for j in range(n):
                ynew[j] = y[j] + h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
        else:
            for j in range(n):
                yt[j] = y[j] + h * _A21 * k1[j]
            bad = rhs(yt, pi, pf, T, ubar, Su, k2, ws)
            for j in range(n):
                yt[j] = y[j] + h * (_A31 * k1[j] + _A32 * k2[j])
            bad += rhs(yt, pi, pf, T, ubar, Su, k3, ws)
            for j in range(n):
                yt[j] = y[j] + h * (_A41 * k1[j] + _A42 * k2[j] + _A43 * k3[j])
            bad += rhs(yt, pi, pf, T, ubar, Su, k4, ws)
            for j in range(n):
                yt[j] = y[j] + h * (_A51 * k1[j] + _A52 * k2[j] + _A53 * k3[j] + _A54 * k4[j])
            bad += rhs(yt, pi, pf, T, ubar, Su, k5, ws)
            for j in range(n):
                yt[j] = y[j] + h * (
                    _A61 * k1[j] + _A62 * k2[j] + _A63 * k3[j] + _A64 * k4[j] + _A65 * k5[j]
                )
            bad += rhs(yt, pi, pf, T, ubar, Su, k6, ws)
            for j in range(n):
                ynew[j] = y[j] + h * (
                    _B1 * k1[j] + _B3 * k3[j] + _B4 * k4[j] + _B5 * k5[j] + _B6 * k6[j]
                )
            bad += rhs(ynew, pi, pf, T, ubar, Su, k7, ws)
            nfev += 6
            err = 0.0
            finite = True
            for j in range(n):
                e = h * (
                    _E1 * k1[j]
                    + _E3 * k3[j]
                    + _E4 * k4[j]
                    + _E5 * k5[j]
                    + _E6 * k6[j]
                    + _E7 * k7[j]
                )
                sc = atol + rtol * max(abs(y[j]), abs(ynew[j]))
                err += (e / sc) ** 2
                if not math.isfinite(ynew[j]):
                    finite = False
            err = math.sqrt(err / n)
            if bad > 0 or not finite or not math.isfinite(err):
                # a stage left the admissible region: retry with a much smaller step
                n_rej += 1
                h_prop = 0.25 * h
                if h_prop < 1e-14 * max(1.0, t):
                    status = np.int64(DIVERGED_DOMAIN if bad > 0 else DIVERGED_NONFINITE)
                    break
                continue
            fac = 0.9 * err ** (-0.2) if err > 0.0 else 5.0
            fac = min(5.0, max(0.2, fac))
            if err > 1.0:  # rejected
                n_rej += 1
                h_prop = h * min(1.0, fac)
                if h_prop < 1e-14 * max(1.0, t):
                    status = np.int64(STEP_TOO_SMALL)
                    break
                continue
            if not last_to_save or h * fac > h_prop:
                h_prop = h * fac
        # ---- accepted step ------------------------------------------------------
        finite = True
        big = False
        for j in range(n):
            if not math.isfinite(ynew[j]):
                finite = False
            elif abs(ynew[j]) > blowup:
                big = True
        if not finite:
            status = np.int64(DIVERGED_NONFINITE)
            break
        if big:
            status = np.int64(DIVERGED_BLOWUP)
            break
        # The Cholesky test costs ~5% of an Euler step: fixed-step methods run it every
        # _PD_EVERY steps and on every save point (adaptive steps are 6 evaluations: always).
        if (method == 2 or n_acc % _PD_EVERY == 0 or last_to_save) and not _is_pd(
            ynew, pi, pf, T, Cw, psd_tol
        ):
            status = np.int64(DIVERGED_NOT_PD)
            break
        t_new = t_next if last_to_save else t + h
        if method == 2:
            for j in range(n):
                k1[j] = k7[j]  # FSAL
        else:
            bad = rhs(ynew, pi, pf, T, ubar, Su, k1, ws)
            nfev += 1
            if bad > 0:
                status = np.int64(DIVERGED_DOMAIN)
                break
        for j in range(n):
            y[j] = ynew[j]
        if eg_threshold > 0.0 and math.isnan(t_event):
            eg_new = _eg(y, pi, pf, T, ubar, Su, ebuf)
            if eg_new <= eg_threshold:
                t_event = t + (t_new - t) * (eg_prev - eg_threshold) / (eg_prev - eg_new)
            eg_prev = eg_new
        t = t_new
        n_acc += 1
        while i_save < n_save and t_save[i_save] <= t:
            ys[i_save, :] = y
            i_save += 1
    _store(st, t, h_prop, i_save, nfev, n_acc, n_rej, t_event, eg_prev, status)
    return status


@njit(cache=True)
def _store(st, t, h_prop, i_save, nfev, n_acc, n_rej, t_event, eg_prev, status):
    st[S_T] = t
    st[S_H] = h_prop
    st[S_ISAVE] = i_save
    st[S_NFEV] = nfev
    st[S_NACC] = n_acc
    st[S_NREJ] = n_rej
    st[S_TEVENT] = t_event
    st[S_EGPREV] = eg_prev
    st[S_STATUS] = status
