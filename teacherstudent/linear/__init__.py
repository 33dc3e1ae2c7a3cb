r"""Linear representation learning (Collins et al. 2022) and 1-D "MAML needs depth".

Tasks ``y = ⟨B_*θ, x⟩ + z`` (``x ~ N(0, I_d)``, ``z ~ N(0, σ²)``, ``B_*`` orthonormal
``d×k``, heads ``θ ~ N(θ̄, diag(1,…,1,μ²))``); model ``ŷ = wᵀBᵀx``, ``B ∈ ℝ^{d×k'}``.
Algorithms ``arm anil fo-anil maml fo-maml reptile imaml fedavg dsgd fedrep tr-maml``
(:mod:`.algorithms`; ``tr-maml``: task-robust MAML over task groups), population or
finite-sample losses (:mod:`.model`, :mod:`.population`), principal-angle distance and other
metrics (:mod:`.metrics`), the 1-D shallow-vs-deep closed forms (:mod:`.depth1d`), and
``arm-lora meta-lora``: retraining vs meta-learning with rank-r adaptation in a multi-output
linear model ``ŷ = Ax`` (:mod:`.lora`); MAML vs ERM on easy and hard regression tasks in
closed form (:mod:`.easy_hard`).

Public API::

    cfg = teacherstudent.linear.load_config("run.toml", overrides={"linear.mu": 0.5})
    ds = teacherstudent.linear.run(cfg)        # dist(algorithm, seed, round), …
"""

from __future__ import annotations

from .config import ALGORITHMS, DEFAULTS, load_config
from .dynamics import run

__all__ = ["ALGORITHMS", "DEFAULTS", "load_config", "run"]
