"""Algorithms: names, the constraints each one puts on the config, and `make`.

An algorithm is an `acjax.algos.base.Algorithm`: four pieces (acting, critic, advantages,
optimization) that the trainer calls. The algorithms combine the pieces and differ only where the
maths differs:

    mappo         independent acting   centralized critic V(s, i)        GAE        joint PPO
    ippo          independent acting   local critic V(o_i, i)            GAE        joint PPO
    acpo          belief chain         chained critic V(s, i, a_<i)      chained    joint PPO
    acpo_nochain  belief chain         centralized critic V(s, i)        GAE        joint PPO
    happo         independent acting   centralized critic V(s, i)        team GAE   sequential
    hatrpo        independent acting   centralized critic V(s, i)        team GAE   sequential
                                                                                    trust regions

and, off-policy (`acjax.offpolicy`: replay, deterministic policies, TD targets):

    ac_td3   belief chain         chained twin Q^(i)([s, a^<i], a^(i))   chained k-step targets
    hatd3    independent acting   centralized twin Q(s, a)               sequential actor updates
    maddpg   independent acting   centralized Q(s, a)                    no TD3 additions

and, value-based (`acjax.valuebased`: replay of whole episodes, epsilon-greedy recurrent agent
Q-networks with parameter sharing, double-Q targets; pieces in `acjax.algos.qmix`):

    qmix     Q_tot = monotonic mixing network of the Q_i on the global state (PyMARL's QMixer)
    vdn      Q_tot = sum of the Q_i
    iql      no mixer: each agent's own TD error on the team reward

This module imports nothing heavy: the config reads `NAMES`, `REGISTRY` and `SWEEPABLE` from it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# the keys the compiled PPO update takes as arrays (`sweep.<key>=[...]`;
# `acjax.onpolicy.PPOTrainer.context` builds the run's config from them)
SWEEPABLE = (
    "ppo.lr",
    "ppo.critic_lr",
    "ppo.clip_eps",
    "ppo.ent_coef",
    "ppo.gamma",
    "ppo.gae_lambda",
    "ppo.max_grad_norm",
    "ppo.huber_delta",
    "ppo.adam_eps",
    "acpo.lambda_micro",
)


@dataclass(frozen=True)
class AlgoInfo:
    """An algorithm's entry: where it lives and the constraints it puts on the config (checked by
    `acjax.config.Config.validate` and `acjax.config.validate`)."""

    module: str  # where the factory lives
    factory: str  # factory(cfg, spec, head) -> Algorithm
    share_params: bool | None = None  # a value the algorithm forces on net.share_params
    why: str = ""
    share_params_strict: bool = False  # a config that asks for the other value is an error
    kl_penalty: bool = True  # ppo.kl_coef > 0 (RLlib's KL penalty) is allowed
    family: str = "onpolicy"  # the trainer family (`acjax.harness.FAMILIES`)
    continuous_only: bool = False  # worlds with continuous actions only
    discrete_only: bool = False  # worlds with discrete actions only
    feed_forward_only: bool = False  # net.rnn must be none
    sweepable: tuple[str, ...] = SWEEPABLE  # keys it can sweep in one program (none: no sweeps)

    @property
    def off_policy(self) -> bool:
        """Trained by acjax.offpolicy.OffPolicyTrainer (continuous actions, the td3 section)."""
        return self.family == "offpolicy"


# the off-policy family (`acjax.offpolicy`): continuous actions, feed-forward, no sweeps yet
_OFF_POLICY = dict(family="offpolicy", continuous_only=True, feed_forward_only=True, sweepable=())
# the value-based family (`acjax.valuebased`): discrete actions, its own networks, no sweeps yet
_VALUE = dict(family="valuebased", discrete_only=True, sweepable=())
REGISTRY = {
    "mappo": AlgoInfo("acjax.algos.mappo", "mappo"),
    "ippo": AlgoInfo("acjax.algos.mappo", "ippo"),
    "acpo": AlgoInfo("acjax.algos.acpo", "acpo"),
    "acpo_nochain": AlgoInfo("acjax.algos.acpo", "acpo_nochain"),
    "happo": AlgoInfo(
        "acjax.algos.happo", "happo", share_params=False, why="happo trains per-agent parameters"
    ),
    "hatrpo": AlgoInfo(
        "acjax.algos.hatrpo",
        "hatrpo",
        share_params=False,
        why="hatrpo trains per-agent parameters",
        share_params_strict=True,
        kl_penalty=False,
    ),  # fmt: skip
    "ac_td3": AlgoInfo("acjax.algos.td3", "ac_td3", **_OFF_POLICY),
    "hatd3": AlgoInfo(
        "acjax.algos.td3",
        "hatd3",
        share_params=False,
        why="hatd3 trains per-agent parameters",
        **_OFF_POLICY,
    ),  # fmt: skip
    "maddpg": AlgoInfo("acjax.algos.td3", "maddpg", share_params=False, **_OFF_POLICY),
    "qmix": AlgoInfo("acjax.algos.qmix", "qmix", **_VALUE),
    "vdn": AlgoInfo("acjax.algos.qmix", "vdn", **_VALUE),
    "iql": AlgoInfo("acjax.algos.qmix", "iql", **_VALUE),
}
FAMILY_NAMES = ("onpolicy", "offpolicy", "valuebased")
NAMES = tuple(REGISTRY)


def make(cfg, spec, head):
    """The algorithm named by cfg.algo for a world with this spec and action head."""
    if cfg.algo not in REGISTRY:
        raise ValueError(f"unknown algorithm {cfg.algo!r}; expected one of {NAMES}")
    info = REGISTRY[cfg.algo]
    return getattr(importlib.import_module(info.module), info.factory)(cfg, spec, head)
