"""Config sections of single algorithms, kept beside `acjax.config` (which holds the `Config`
that gathers them and re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass

from acjax.config_io import require, require_nonnegative, require_positive


@dataclass(frozen=True)
class HATRPOConfig:
    """HATRPO's trust-region step per agent (HARL's `algos_cfgs/hatrpo.yaml`;
    `acjax.algos.hatrpo.TrustRegion`)."""

    kl_threshold: float = 0.01  # the KL bound of each agent's step (HARL's kl_threshold)
    accept_ratio: float = 0.5  # line search: improvement > this x the predicted one
    ls_step: int = 10  # line search: step fractions tried (1, c, c^2, ...)
    backtrack_coeff: float = 0.8  # line search: c, the fraction's factor per try
    cg_iters: int = 10  # conjugate gradient iterations on the Fisher-vector product
    cg_damping: float = 0.1  # damping d of the Fisher-vector product (F + d I) v

    def validate(self) -> None:
        require_positive(self, "hatrpo", ("kl_threshold", "ls_step", "cg_iters"))
        require_nonnegative(self, "hatrpo", ("cg_damping",))
        for key in ("accept_ratio", "backtrack_coeff"):
            v = getattr(self, key)
            require(0 < v < 1, f"hatrpo.{key}", f"must lie in (0, 1), got {v}")
