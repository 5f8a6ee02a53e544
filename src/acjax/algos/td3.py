"""The off-policy algorithms' pieces: AC-TD3 (the paper's Appendix N), HATD3 and MADDPG.

    ac_td3  belief chain   chained twin Q^(i)([s, a^<i], a^(i))  chained targets  joint actors
    hatd3   independent    centralized twin Q(s, a)              k-step targets   one at a time
    maddpg  independent    centralized Q(s, a)                   k-step targets   joint actors

(HATD3's agents train in a random order; MADDPG has no twin, no smoothing and no delay.) Policies
are deterministic: the actor's output through tanh into the action bounds (`DeterministicHead`).
The trainer that runs them is `acjax.offpolicy.OffPolicyTrainer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from acjax.algos.acpo import BeliefChain, ChainedCritic
from acjax.algos.base import Algorithm
from acjax.algos.mappo import IndependentActing
from acjax.nets import GaussianHead


class NoisyDeterministic:
    """A deterministic action `mu` with Gaussian noise (std, clipped at +-clip when clip > 0)
    as a 'distribution': `sample` is the noisy action in the bounds, `mode` the action; it has
    no log-probability or entropy (0), which off-policy training never uses."""

    def __init__(self, mu, std, clip, low, high, mask):
        self.mu, self.std, self.clip, self.low, self.high = mu, std, clip, low, high
        self.mask = jnp.broadcast_to(mask, mu.shape)

    def sample(self, seed):
        return self.draw(jax.random.normal(seed, (1, *self.mu.shape), self.mu.dtype))

    def draw(self, noise):
        """The noisy action from standard normal draws [1, ...] (`GaussianHead.noise`)."""
        eps = self.std * noise[0]
        if self.clip > 0:
            eps = jnp.clip(eps, -self.clip, self.clip)
        return jnp.where(self.mask, jnp.clip(self.mu + eps, self.low, self.high), 0.0)

    def mode(self):
        return jnp.where(self.mask, self.mu, 0.0)

    def log_prob(self, action):
        return jnp.zeros(action.shape[:-1], action.dtype)

    def entropy(self):
        return jnp.zeros(self.mu.shape[:-1], self.mu.dtype)


class DeterministicHead(GaussianHead):
    """Deterministic continuous policies: mu = low + (tanh(out) + 1) (high - low) / 2, acting
    with noise of std `std` (clipped at `clip`, both in units of (high - low) / 2). Prefix slots
    and what the world receives are the Gaussian head's."""

    def __init__(self, action_dim: int, low: float, high: float, std=0.0, clip=0.0):
        super().__init__(action_dim, low, high)
        self.std, self.clip = std, clip

    def action(self, out):
        return self.low + (jnp.tanh(out) + 1.0) * (self.high - self.low) / 2.0

    def dist(self, out, mask):
        half = (self.high - self.low) / 2.0
        return NoisyDeterministic(
            self.action(out), self.std * half, self.clip * half, self.low, self.high, mask
        )

    def noisy(self, std: float, clip: float = 0.0) -> DeterministicHead:
        return DeterministicHead(self.num_actions, self.low, self.high, std, clip)


@dataclass(frozen=True)
class CentralQ:
    """Q(s, a_0..a_{N-1}) of HATD3 and MADDPG: one critic of the state and every action
    (as one 'agent': inputs [..., 1, S + N A])."""

    def inputs(self, obs, global_state, actions, actor_inputs):
        flat = actions.reshape(*actions.shape[:-2], -1)
        return jnp.concatenate([global_state, flat], axis=-1)[..., None, :]


@dataclass(frozen=True)
class ChainedQ:
    """Q^(i)([s, a^<i], a^(i)) of AC-TD3: ACPO's chained critic input (global state, id i, the
    actual earlier actions in prefix slots) with agent i's own action appended."""

    chain: ChainedCritic

    def inputs(self, obs, global_state, actions, actor_inputs, own=None):
        """own: agent i's action in its critic (default `actions`; the prefix always is)."""
        x = self.chain.inputs(obs, global_state, actions, actor_inputs)
        own = jnp.clip(actions if own is None else own, self.chain.head.low, self.chain.head.high)
        return jnp.concatenate([x, own], axis=-1)


@dataclass(frozen=True)
class OffPolicy:
    """What differs between AC-TD3, HATD3 and MADDPG."""

    chained: bool  # per-agent chained critics and targets (else one centralized critic)
    twin: bool  # the minimum of two critics (TD3)
    smoothing: bool  # target policy smoothing (TD3)
    delayed: bool  # policy_freq critic steps per actor step (TD3)
    sequential: bool  # actors updated one agent at a time in a random order (HATD3)


def _algo(name: str, acting, critic, how: OffPolicy) -> Algorithm:
    """The optimization piece is `how`: `acjax.offpolicy.OffPolicyTrainer` reads it."""
    return Algorithm(name, acting, critic, None, how)


def ac_td3(cfg, spec, head) -> Algorithm:
    n = spec.num_agents
    acting = BeliefChain(n, head.slot_dim, cfg.acpo.belief, False, 0.0)
    critic = ChainedQ(ChainedCritic(n, head, "global", "actual"))
    return _algo("ac_td3", acting, critic, OffPolicy(True, True, True, True, False))


def hatd3(cfg, spec, head) -> Algorithm:
    how = OffPolicy(False, True, True, True, True)
    return _algo("hatd3", IndependentActing(), CentralQ(), how)


def maddpg(cfg, spec, head) -> Algorithm:
    how = OffPolicy(False, False, False, False, False)
    return _algo("maddpg", IndependentActing(), CentralQ(), how)
