"""Config sections of single algorithms and of world families, kept beside `acjax.config`
(which holds the `Config` that gathers them and re-exports them)."""

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


@dataclass(frozen=True)
class MaMuJoCoConfig:
    """Options of the multi-agent MuJoCo worlds (`mamujoco-<robot>-<partition>`)."""

    obsk: int = 1  # observation depth k in the joint graph
    backend: str = "positional"  # brax pipeline: positional | generalized | spring | mjx
    max_steps: int = 1000  # episode time limit (truncation)
    stagger: bool = True  # first episodes start at a random step of the limit (desynchronized)

    def validate(self) -> None:
        from acjax.envs.mamujoco import BACKENDS

        require_nonnegative(self, "mamujoco", ("obsk",))
        require_positive(self, "mamujoco", ("max_steps",))
        require(
            self.backend in BACKENDS,
            "mamujoco.backend",
            f"expected one of {', '.join(BACKENDS)}, got {self.backend!r}",
        )


@dataclass(frozen=True)
class ExternalConfig:
    """Options of the worlds stepped on the host (`external-rware-*`, `pettingzoo:*`,
    `smacv2-*`; `acjax.envs.external.PoolOptions`)."""

    workers: int = 0  # 0: instances step in this process; W > 0: in W worker processes
    fault_rate: float = 0.0  # injected: probability that an instance's step raises
    worker_fault_rate: float = 0.0  # injected: probability that a worker dies at a step
    timeout_s: float = 600.0  # a worker silent this long in one call is replaced (hung)

    def validate(self) -> None:
        require_nonnegative(self, "external", ("workers",))
        require_positive(self, "external", ("timeout_s",))
        for key in ("fault_rate", "worker_fault_rate"):
            rate = getattr(self, key)
            require(0 <= rate < 1, f"external.{key}", f"must lie in [0, 1), got {rate}")
