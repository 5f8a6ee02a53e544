"""Value decomposition: the pieces of QMIX, VDN and IQL (`acjax.valuebased.QTrainer` trains them).

Every agent has a Q-network Q_i(tau_i, .) over its actions (one recurrent network shared by the
agents, its input the observation and the one-hot agent id: PyMARL's RNNAgent). The team's value
of the joint action is a mixture Q_tot = f_s(Q_1(a_1), ..., Q_N(a_N)) of the chosen agents'
values:

- VDN (Sunehag et al. 2018): f = sum_i Q_i;
- QMIX (Rashid et al. 2018): f_s a two-layer network whose weights are produced from the global
  state s by hypernetworks and made non-negative (absolute values), so dQ_tot/dQ_i >= 0
  (`QMixer`, as PyMARL's QMixer: ELU hidden layer of `mixing_embed`, a state-dependent bias and
  a state value V(s));
- IQL: no mixing, each agent's Q_i learns from the team reward by itself.

The TD target of step t is y_t = R_t^(n) + gamma^k Q'_tot(t + k) (`n_step_targets`), Q' from the
target networks at the next observation, each agent's maximising action there among its
available ones: double Q takes the argmax from the online network and the value from the target
(`bootstrap_values`). Acting is epsilon-greedy over the available actions (`egreedy`), epsilon
annealed linearly (`epsilon`).
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from acjax import td

MIXERS = ("qmix", "vdn", "none")
NEG = -1e10  # the value of an unavailable action in a max


@dataclass(frozen=True)
class ValueDecomposition:
    """An algorithm of the value-based family: its name and its mixer (qmix | vdn | none)."""

    name: str
    mixer: str


def qmix(cfg, spec, head) -> ValueDecomposition:
    return ValueDecomposition("qmix", "qmix")


def vdn(cfg, spec, head) -> ValueDecomposition:
    return ValueDecomposition("vdn", "vdn")


def iql(cfg, spec, head) -> ValueDecomposition:
    return ValueDecomposition("iql", "none")


class QMixer(nn.Module):
    """QMIX's monotonic mixing network: Q_tot(q [..., N], s [..., S]) -> [...].

    W1 = |hyper_w1(s)| [N, E], b1 = hyper_b1(s), h = elu(q W1 + b1), W2 = |hyper_w2(s)| [E],
    Q_tot = h . W2 + V(s) with V a ReLU MLP of width E. The weight hypernetworks are one linear
    layer (hypernet_embed = 0: MARLlib) or linear-ReLU-linear of width hypernet_embed (PyMARL)."""

    num_agents: int
    mixing_embed: int = 32
    hypernet_embed: int = 64

    def _hyper(self, s, out: int, name: str):
        if not self.hypernet_embed:
            return nn.Dense(out, name=name)(s)
        h = nn.relu(nn.Dense(self.hypernet_embed, name=f"{name}_0")(s))
        return nn.Dense(out, name=f"{name}_1")(h)

    @nn.compact
    def __call__(self, q, s):
        e, n = self.mixing_embed, self.num_agents
        w1 = jnp.abs(self._hyper(s, n * e, "hyper_w1")).reshape(*s.shape[:-1], n, e)
        b1 = nn.Dense(e, name="hyper_b1")(s)
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", q, w1) + b1)
        w2 = jnp.abs(self._hyper(s, e, "hyper_w2"))
        v = nn.Dense(1, name="v_1")(nn.relu(nn.Dense(e, name="v_0")(s)))[..., 0]
        return jnp.sum(hidden * w2, axis=-1) + v


def mix(kind: str, mixer: QMixer | None, params, q, state):
    """The team value of the agents' values q [..., N]: [...] (qmix, vdn) or q itself (none)."""
    if kind == "vdn":
        return jnp.sum(q, axis=-1)
    if kind == "qmix":
        return mixer.apply(params, q, state)
    return q


def epsilon(env_steps, start: float, finish: float, anneal_steps: int):
    """Linear anneal from start to finish over anneal_steps env steps, then finish."""
    frac = jnp.minimum(env_steps / max(anneal_steps, 1), 1.0) if anneal_steps else 1.0
    return start + (finish - start) * frac


def egreedy(q, avail, eps, key):
    """Each agent's action [..., N] of q [..., N, A]: with probability eps uniform among its
    available actions, otherwise the greedy available one."""
    k_explore, k_random = jax.random.split(key)
    greedy = jnp.argmax(jnp.where(avail, q, NEG), axis=-1)
    random = jax.random.categorical(k_random, jnp.where(avail, 0.0, NEG))
    explore = jax.random.uniform(k_explore, greedy.shape) < eps
    return jnp.where(explore, random, greedy).astype(jnp.int32)


def bootstrap_values(q_online, q_target, avail, double_q: bool):
    """Each agent's value at the next observation [..., N] from q [..., N, A]: the target
    network's max over the available actions, or (double Q) its value at the online network's
    available argmax."""
    if double_q:
        best = jnp.argmax(jnp.where(avail, q_online, NEG), axis=-1)
        return jnp.take_along_axis(q_target, best[..., None], axis=-1)[..., 0]
    return jnp.max(jnp.where(avail, q_target, NEG), axis=-1)


def n_step_targets(reward, terminated, truncated, q_next, gamma: float, n: int):
    """Targets [B, T, ...] of the steps of episodes [B, T]: y_t = sum_{j<k} gamma^j r_{t+j} +
    gamma^k q_next[t+k-1], k = n or up to the episode's end (`acjax.td.window_returns`), no
    bootstrap where it terminated; q_next[t] [B, T, ...] is the value at the observation after
    step t (the true final one at an end). The array's last step counts as truncated."""
    t = reward.shape[1]
    truncated = truncated | (jnp.arange(t) == t - 1)
    idx = jnp.arange(t)[:, None] + jnp.arange(n)[None, :]  # [T, n]
    inside = idx < t

    def windows(x, fill):
        return jnp.where(inside, x[:, jnp.minimum(idx, t - 1)], fill)  # [B, T, n]

    ret, last, disc = td.window_returns(
        windows(reward, 0.0), windows(terminated, False), windows(truncated, True), gamma
    )
    boot = jnp.minimum(jnp.arange(t)[None, :] + last, t - 1)  # [B, T]
    extra = q_next.ndim - 2
    q_boot = jnp.take_along_axis(q_next, boot.reshape(*boot.shape, *([1] * extra)), axis=1)
    expand = lambda x: x.reshape(*x.shape, *([1] * extra))  # noqa: E731
    return expand(ret) + expand(disc) * q_boot


def standardize(reward, mask, axis_name: str | None = None):
    """Rewards of the filled steps (mask) to mean 0 and std 1 over the batch (MARLlib's
    reward_standardize), averaged over `axis_name` too."""
    count, total = jnp.sum(mask), jnp.sum(jnp.where(mask, reward, 0.0))
    if axis_name is not None:
        count, total = jax.lax.psum((count, total), axis_name)
    mean = total / jnp.maximum(count, 1)
    sq = jnp.sum(jnp.where(mask, (reward - mean) ** 2, 0.0))
    if axis_name is not None:
        sq = jax.lax.psum(sq, axis_name)
    std = jnp.sqrt(sq / jnp.maximum(count - 1, 1))
    return (reward - mean) / (std + 1e-5)
