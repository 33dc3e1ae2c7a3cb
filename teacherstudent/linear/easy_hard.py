r"""MAML against ERM on a mixture of easy and hard linear-regression tasks (closed forms).

Tasks ``y = θ^{*ᵀ}x + σξ`` in ``ℝ^d``; a task of group ``g`` (share ``q_g``) has inputs
``x ~ N(0, λ_g I_d)`` and optimum ``θ^* ~ N(c_g, r_g² I_d)``.  Hardness is the number of
gradient steps a task needs: a step of rate ``α`` contracts the error of a task of curvature
``λ`` by ``|1 − αλ|``, so a small ``λ_h`` makes the hard group.  The model ``θ`` is fine-tuned
on a new task by one gradient step of rate ``α`` on ``m`` samples, from the learnt ``θ_0``.

Expected excess risk after fine-tuning (``½λ‖θ_1 − θ^*‖²``), exact for Gaussian inputs
(``E Σ̂² = λ²(1 + (d+1)/m) I`` for ``Σ̂ = XᵀX/m``, Wishart second moment):

    e(θ_0) = ½ λ [ρ ‖θ_0 − θ^*‖² + α²σ²λ d/m],      ρ = 1 − 2αλ + α²λ²(1 + (d+1)/m)

(``m = ∞``: ``ρ = (1 − αλ)²``, no noise term).  Averaged over the group,
``E_g(θ_0) = ½λ_g[ρ_g(‖θ_0 − c_g‖² + d r_g²) + α²σ²λ_g d/m]``; over the mixture
``E = Σ_g q_g E_g``.  Optima (the fixed points of the population dynamics of each):

    θ_MAML = Σ q_g λ_g ρ_g c_g / Σ q_g λ_g ρ_g      (MAML with the same fine-tuning),
    θ_ERM  = Σ q_g λ_g c_g / Σ q_g λ_g              (ERM on the pooled tasks),

and the gain ``E(θ_ERM) − E(θ_MAML) = ½ (Σ q_g λ_g ρ_g) ‖θ_ERM − θ_MAML‖²``: it grows with
the squared distance of the group centres and the difference of the two weightings, while
the spread ``r_g`` only adds to both errors (so packed hard tasks give a large *relative*
gain).  Derivation: ``theory/linear.md`` section 11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Groups", "contraction", "group_errors", "optimum", "gain", "fine_tune_monte_carlo",
           "from_settings", "sweep"]


@dataclass(frozen=True)
class Groups:
    """Task groups: shares ``q``, curvatures ``lam``, centres ``c`` ``(G, d)``, spreads ``r``."""

    q: np.ndarray
    lam: np.ndarray
    c: np.ndarray
    r: np.ndarray

    @classmethod
    def easy_hard(cls, d: int, q_hard: float, lam_easy: float, lam_hard: float,
                  distance: float, r_easy: float, r_hard: float) -> Groups:
        """Two groups: easy at the origin, hard at ``distance`` along the first axis."""
        c = np.zeros((2, d))
        c[1, 0] = distance
        return cls(np.array([1 - q_hard, q_hard]), np.array([lam_easy, lam_hard]), c,
                   np.array([r_easy, r_hard]))

    @property
    def d(self) -> int:
        return self.c.shape[1]


def contraction(lam, alpha: float, m: float, d: int):
    """``ρ = E‖(I − αΣ̂)v‖²/‖v‖² = 1 − 2αλ + α²λ²(1 + (d+1)/m)`` (``m = ∞``: ``(1 − αλ)²``)."""
    lam = np.asarray(lam, dtype=float)
    extra = 0.0 if np.isinf(m) else (d + 1) / m
    return 1 - 2 * alpha * lam + alpha**2 * lam**2 * (1 + extra)


def group_errors(theta0: np.ndarray, groups: Groups, alpha: float, m: float,
                 noise: float = 0.0) -> np.ndarray:
    """``E_g(θ_0)``: each group's expected excess risk after one fine-tuning step, ``(G,)``."""
    d = groups.d
    rho = contraction(groups.lam, alpha, m, d)
    dist2 = np.sum((theta0 - groups.c) ** 2, axis=-1) + d * groups.r**2
    noise_term = 0.0 if np.isinf(m) else alpha**2 * noise**2 * groups.lam * d / m
    return 0.5 * groups.lam * (rho * dist2 + noise_term)


def optimum(groups: Groups, alpha: float, m: float, method: str) -> np.ndarray:
    """``θ_MAML`` (``method="maml"``) or ``θ_ERM`` (``"erm"``), ``(d,)``."""
    if method == "maml":
        weight = groups.q * groups.lam * contraction(groups.lam, alpha, m, groups.d)
    elif method == "erm":
        weight = groups.q * groups.lam
    else:
        raise ValueError(f"method must be 'maml' or 'erm', got {method!r}")
    return weight @ groups.c / weight.sum()


def gain(groups: Groups, alpha: float, m: float, noise: float = 0.0) -> dict[str, float]:
    """Mixture errors after fine-tuning from ``θ_ERM`` and ``θ_MAML``, the gain and its share."""
    e_erm = float(groups.q @ group_errors(optimum(groups, alpha, m, "erm"), groups, alpha, m,
                                          noise))
    e_maml = float(groups.q @ group_errors(optimum(groups, alpha, m, "maml"), groups, alpha, m,
                                           noise))
    return {"erm": e_erm, "maml": e_maml, "gain": e_erm - e_maml,
            "relative_gain": (e_erm - e_maml) / e_erm}


def fine_tune_monte_carlo(theta0: np.ndarray, groups: Groups, alpha: float, m: int,
                          noise: float, tasks: int, rng: np.random.Generator) -> np.ndarray:
    """Each group's excess risk after one step on ``m`` samples, by simulation, ``(G,)``."""
    out = []
    for lam, c, r in zip(groups.lam, groups.c, groups.r, strict=True):
        theta = c + r * rng.standard_normal((tasks, groups.d))
        X = np.sqrt(lam) * rng.standard_normal((tasks, m, groups.d))
        y = (X @ theta[..., None])[..., 0] + noise * rng.standard_normal((tasks, m))
        grad = (np.swapaxes(X, 1, 2) @ ((X @ theta0) - y)[..., None])[..., 0] / m
        theta1 = theta0 - alpha * grad
        out.append(0.5 * lam * np.mean(np.sum((theta1 - theta) ** 2, axis=-1)))
    return np.array(out)


def from_settings(p: Mapping[str, Any], distance: float | None = None,
                  r_hard: float | None = None) -> Groups:
    """The groups of a study's ``[easy_hard]`` table (``distance``, ``r_hard`` overridable)."""
    return Groups.easy_hard(p["d"], p["q_hard"], p["lam_easy"], p["lam_hard"],
                            p["distance"] if distance is None else distance,
                            p["r_easy"], p["r_hard"] if r_hard is None else r_hard)


def sweep(p: Mapping[str, Any], values: Sequence[float], what: str, **fixed) -> np.ndarray:
    """Relative gains over ``values`` of ``what`` (``"distance"``, ``"r_hard"`` or ``"m"``)."""
    out = []
    for v in values:
        kw = dict(fixed)
        m = kw.pop("m", p["m"])
        if what == "m":
            m = v
        else:
            kw[what] = v
        out.append(gain(from_settings(p, **kw), p["alpha"], m, p["noise"])["relative_gain"])
    return np.array(out)
