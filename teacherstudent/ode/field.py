"""The vector field as a Python object: a configuration packed for the kernels (no numba).

:class:`VectorField` turns a configuration into the integer and float parameter vectors
``pi``, ``pf`` (their layout: :mod:`.layout`) and the problem's arrays, which the
jitted drift (:mod:`.drift`) and solvers (:mod:`.solvers`) read; it refuses the
combinations the drift does not provide. Its evaluation methods call the kernels, whose
modules are imported only then, so that a run started from the ahead-of-time kernels
(:mod:`.aot`) never imports numba.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Problem, build_problem
from . import aot
from .integrals.codes import DEFAULT_QUADRATURE_ORDER, activation_code, has_f4, quadrature_rule
from .layout import ALGORITHM_CODES, ANIL, BLOCK_K

__all__ = ["VectorField"]

# Whether this process has built a drift that may run the parallel kernel (OpenMP): forking
# after such a run is unsafe, so process pools then start fresh workers (studies._pool).
parallel_drift_built = False


def _check_activations(algorithm: str, student: str, teacher: str, P: float, P_test) -> None:
    """Refuse the activation combinations the drift does not provide (ConfigError)."""
    from ..config import ConfigError

    pair = {student, teacher}
    if "relu" in pair and not pair <= {"relu", "erf", "linear"}:
        raise ConfigError(
            f"model.activation = {student!r} with model.teacher_activation = {teacher!r}: "
            "relu combines with erf, linear or relu only (its integrals are exact orthant "
            "reductions; a smooth quadrature activation beside it is not implemented)"
        )
    for key, name in (("model.activation", student), ("model.teacher_activation", teacher)):
        code = activation_code(name)  # unknown names: validated before, ValueError here
        for size_key, size in (("algorithm.train_size", P), ("algorithm.test_size", P_test)):
            if size != math.inf and not has_f4(code):
                raise ConfigError(
                    f"{key} = {name!r} with {size_key} = {size}: the finite-P theory needs "
                    f"the four-point function F4 = E[g g g g], which is not available for "
                    f"{name} (finite P works with the activations that have it; "
                    f'{size_key} = "inf" works with every activation)'
                )
    if P != math.inf and ALGORITHM_CODES[algorithm] == ANIL and student not in ("erf", "linear"):
        raise ConfigError(
            f"model.activation = {student!r} with algorithm.name = {algorithm!r} at "
            f"algorithm.train_size = {P}: the exact-ANIL few-shot drift differentiates F4 "
            "with respect to the students' variances, derived for erf and linear students "
            "only (fo-anil/fo-maml take every activation with F4 at finite P; "
            'train_size = "inf" takes every activation)'
        )


@dataclass(frozen=True)
class VectorField:
    """The ODE right-hand side for one configuration (numbers packed for the kernels).

    ``vf(Q, R, w)`` returns ``{"Q": dQ/dα, "R": dR/dα, "w": dw/dα}``;
    ``vf.errors(Q, R, w)`` returns ``{"eg", "eg_pre", "eg_opt"}``.
    """

    problem: Problem
    algorithm: str
    pi: np.ndarray
    pf: np.ndarray

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> VectorField:
        from ..config import ConfigError

        prob = build_problem(cfg)
        alg = cfg["algorithm"]
        P = alg["train_size"]
        P_test = alg.get("test_size")
        P_test = P if P_test is None else P_test
        inner = 0 if alg["name"] == "arm" else alg["inner_steps"]
        if P != math.inf and inner > 1 and ALGORITHM_CODES[alg["name"]] == ANIL:
            raise ConfigError(
                f"algorithm.train_size: exact ANIL ({alg['name']}) at finite P = {P} is "
                f"derived for inner_steps = 1; inner_steps = {inner} needs the derivative of "
                "the O(1/P) head moments through the s steps, which is not implemented "
                "(fo-anil/fo-maml take any inner_steps; train_size = \"inf\" any algorithm)"
            )
        model = cfg["model"]
        student = model["activation"]
        teacher = model.get("teacher_activation") or student
        order = model.get("quadrature_order", DEFAULT_QUADRATURE_ORDER)
        _check_activations(alg["name"], student, teacher, P, P_test)
        K, M = prob.K, prob.M
        two_fields = prob.gamma < 1.0
        L = K + 2 * M if two_fields else K + M
        nu0 = K + M if two_fields else K
        V = alg["val_size"]
        pi = np.array(
            [
                K,
                M,
                ALGORITHM_CODES[alg["name"]],
                activation_code(student),
                alg["inner_steps"],
                L,
                nu0,
                int(V != math.inf),
                int(P != math.inf),
                int(P_test != math.inf),
            ]
            + [activation_code(student)] * K
            + [activation_code(teacher)] * (L - K),
            dtype=np.int64,
        )
        pf = np.array(
            [
                alg["eta_J"],
                alg["eta_w"],
                alg["eta_0"],
                0.0 if V == math.inf else 1.0 / V,
                prob.noise,
                prob.s_K,
                prob.s_M,
                prob.gamma,
                0.0 if P == math.inf else 1.0 / P,
                0.0 if P_test == math.inf else 1.0 / P_test,
            ],
            dtype=np.float64,
        )
        pf = np.concatenate([pf, quadrature_rule(order).ravel()])
        if K >= BLOCK_K:
            global parallel_drift_built
            parallel_drift_built = True
        return cls(problem=prob, algorithm=alg["name"], pi=pi, pf=pf)

    # ---- packing -------------------------------------------------------------------
    @property
    def size(self) -> int:
        K, M = self.problem.K, self.problem.M
        return K * K + K * M + K

    def pack(self, Q, R, w) -> np.ndarray:
        return np.concatenate(
            [np.ravel(np.asarray(Q, float)), np.ravel(np.asarray(R, float)), np.asarray(w, float)]
        )

    def unpack(self, y):
        K, M = self.problem.K, self.problem.M
        y = np.asarray(y)
        lead = y.shape[:-1]
        Q = y[..., : K * K].reshape(*lead, K, K)
        R = y[..., K * K : K * K + K * M].reshape(*lead, K, M)
        w = y[..., K * K + K * M :]
        return Q, R, w

    @property
    def y0(self) -> np.ndarray:
        p = self.problem
        return self.pack(p.Q0, p.R0, p.w0)

    @property
    def args(self) -> tuple:
        """The kernel arguments after ``y``: ``(pi, pf, T, ubar, Su)``."""
        p = self.problem
        # contiguous float64: the ahead-of-time kernels take exactly these types
        return (self.pi, self.pf, *(np.ascontiguousarray(a, dtype=np.float64)
                                    for a in (p.T, p.u_mean, p.u_cov)))

    # ---- evaluation ----------------------------------------------------------------
    @functools.cached_property
    def kernels(self) -> aot.Kernels:
        """The solver and error kernels of this field (:func:`.aot.kernels`), chosen once:
        the ahead-of-time module or numba's."""
        return aot.kernels(self.problem.K)

    def workspace(self) -> tuple:
        """Scratch arrays for the :func:`~teacherstudent.ode.drift.rhs` kernel."""
        from .drift import make_workspace

        return make_workspace(self.pi, self.pf)

    def rhs(self, y) -> np.ndarray:
        """``dy/dα`` at the packed state ``y`` (:func:`teacherstudent.ode.drift.rhs`, jitted)."""
        from .drift import rhs

        dy = np.empty(self.size)
        rhs(np.ascontiguousarray(y, dtype=np.float64), *self.args, dy, self.workspace())
        return dy

    def __call__(self, Q, R, w) -> dict[str, np.ndarray]:
        dQ, dR, dw = self.unpack(self.rhs(self.pack(Q, R, w)))
        return {"Q": dQ, "R": dR, "w": dw}

    def errors(self, Q, R, w) -> dict[str, float]:
        out = np.empty(3)
        self.kernels.errors(self.pack(Q, R, w), *self.args, out, True)
        return {"eg": float(out[0]), "eg_pre": float(out[1]), "eg_opt": float(out[2])}

    def errors_along(self, ys: np.ndarray) -> np.ndarray:
        """Errors ``(n, 3)`` for a stack of states ``(n, size)`` (NaN states give NaN)."""
        out = np.full((len(ys), 3), np.nan)
        buf = np.empty(3)
        errors_kernel = self.kernels.errors
        for i, y in enumerate(ys):
            if np.all(np.isfinite(y)):
                try:
                    errors_kernel(np.ascontiguousarray(y), *self.args, buf, True)
                    out[i] = buf
                except Exception:  # singular Φ after divergence: leave NaN
                    pass
        return out
