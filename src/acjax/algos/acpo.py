"""ACPO: MAPPO with exactly three different pieces.

The paper Agent-Chained Policy Optimization, §4-6; how acjax reads it: docs/acpo.md.

1. Acting (docs/acpo.md §2, paper App. L): `BeliefChain`. Agent i predicts the actions of
   agents 0..i-1 with its own policy network queried with their ids, feeding each prediction into
   the next, then samples its own action given the predicted prefix (`acjax.belief`). Without
   parameter sharing an auxiliary loss trains agent i's network to predict the earlier agents'
   actual actions.
2. Critic (docs/acpo.md §3): `ChainedCritic`, V(x_t, id=i, a_{t,<i}) with the actual actions of
   the earlier agents; the bootstrap value of a state is V(x, id=0, empty prefix).
3. Advantages (docs/acpo.md §4, paper App. D): `ChainedGAE` over T*N micro-steps with
   gamma' = gamma^(1/N) and lambda' = lambda^(1/N).

`acpo_nochain` (the paper's ablation, Fig. 4) combines piece 1 with MAPPO's critic and GAE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from acjax import advantages as adv_lib
from acjax.algos.base import Algorithm, OwnsNoParams
from acjax.algos.mappo import GAE, JointPPO, StateCritic, critic_view
from acjax.belief import belief_chain, empty_prefix, policy_inputs, split_inputs
from acjax.losses import moments
from acjax.nets import Net, agent_ids, join_inputs
from acjax.runner import AXIS


@dataclass(frozen=True)
class BeliefChain(OwnsNoParams):
    n: int
    slot_dim: int
    mode: str = "sample"  # sample | mode | none
    belief_mask: bool = False
    aux_coef: float = 0.0

    def inputs(self, obs):
        """Own id and an empty prefix (the shape of every policy input)."""
        batch = obs.shape[:-2]
        prefix = empty_prefix((*batch, self.n), self.n, self.slot_dim)
        return policy_inputs(obs, agent_ids(self.n, batch), prefix)

    def act(self, policy, head, obs, mask, hidden, reset, key):
        return belief_chain(
            policy, head, obs, mask, hidden, reset, key, self.mode, self.belief_mask
        )

    def aux_loss(self, policy_out, head, batch):
        """Without sharing (docs/acpo.md §2): the negative log-likelihood of the actual a_j
        under agent i's prediction pi_i(. | o_i, id=j, a~_{<j}), for every pair j < i (the
        earlier agents that agent i conditions on), averaged over samples and pairs."""
        n = self.n
        if self.aux_coef == 0 or n == 1:
            return jnp.zeros(())
        obs, _, prefix = split_inputs(batch.actor_in, n, self.slot_dim)  # [..., N(i), ...]
        j = jnp.arange(n)
        keep = jnp.arange(n - 1)[None, :] < j[:, None]  # [N(j), N-1]: slots before j
        pre_j = prefix[..., None, :, :, :] * keep[:, None, :, None]  # [..., N(j), N(i), N-1, S]
        lead = pre_j.shape[:-2]
        obs_j = jnp.broadcast_to(obs[..., None, :, :], (*lead, obs.shape[-1]))
        ids = jnp.broadcast_to(jax.nn.one_hot(j, n)[:, None, :], (*lead, n))
        out = policy_out(policy_inputs(obs_j, ids, pre_j))  # [..., N(j), N(i), out]
        act = batch.action  # a_j, repeated for every predicting agent i
        if head.continuous:
            target = jnp.broadcast_to(act[..., :, None, :], (*lead, act.shape[-1]))
        else:
            target = jnp.broadcast_to(act[..., :, None], lead)
        mask_j = batch.mask[..., :, None, :]  # [..., N(j), 1, A]
        nll = -head.prediction_dist(out, mask_j, self.belief_mask).log_prob(target)
        valid = j[:, None] < j[None, :]  # [N(j), N(i)]: agent i predicts an earlier agent j
        per_pair = jnp.mean(nll.reshape(-1, n, n), axis=0)
        return self.aux_coef * jnp.sum(per_pair * valid) / jnp.sum(valid)


@dataclass(frozen=True)
class BeliefNetActing:
    """The authors' warehouse acting (docs/acpo.md §8): agent i's belief about agent j < i is
    the probability vector softmax(B(o_i, one-hot i, one-hot j)) of a separate belief network B
    (parameters `params["belief"]`, its own Adam), not a chain of the policy's own predictions;
    agent i then samples a_i ~ pi(. | o_i, id=i, beliefs) in one call of its policy. B is
    trained by the cross-entropy from agent j's policy distribution to B's prediction
    (`param_losses`), without gradient into the policy."""

    n: int
    slot_dim: int
    net: object  # acjax.nets.Net: [o, one-hot i, one-hot j] -> logits over agent j's actions
    belief_mask: bool = False
    lr: float = 1e-3
    params: object = None  # B's parameters (`bind`)

    inputs = BeliefChain.inputs
    aux_loss = BeliefChain.aux_loss
    mode = "net"
    aux_coef = 0.0
    reads_behaviour = True  # its targets: the behaviour policy's outputs (Batch.old_out)

    def init_params(self, key, obs_dim: int) -> dict:
        x = jnp.zeros((obs_dim + 2 * self.n,))
        return {"belief": jax.jit(self.net.init)(key, jnp.zeros((0,)), x, jnp.asarray(False))}

    def bind(self, params):
        return dataclasses.replace(self, params=params["belief"])

    @property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) of every pair j < i: the beliefs that exist (N(N-1)/2 of them)."""
        i, j = np.tril_indices(self.n, -1)
        return i, j

    def logits(self, belief_params, obs):
        """B's logits of every pair j < i, [..., P, A] in `pairs` order. The first layer is
        split by input block (B is linear there): agent i's observation is multiplied once for
        all its pairs, the one-hots of i and j are rows of the kernel."""
        i, j = self.pairs
        dense = belief_params["params"]["Dense_0"]
        w, o = dense["kernel"], obs.shape[-1]
        own = obs @ w[:o] + dense["bias"]  # [..., N, H]
        pre = own[..., i, :] + w[o + i] + w[o + self.n + j]  # [..., P, H]
        h, reset = jnp.zeros((*pre.shape[:-1], 0)), jnp.zeros(pre.shape[:-1], bool)
        return self.net.apply(belief_params, h, pre, reset, pre=True)[1]

    def beliefs(self, belief_params, obs, mask):
        """The prefix slots: agent i's probability vector for a_j in slot j < i, else zero,
        [..., N, N-1, A]; with `belief_mask` agent j's unavailable actions get none."""
        i, j = self.pairs
        logits = self.logits(belief_params, obs)
        if self.belief_mask:
            logits = jnp.where(mask[..., j, :], logits, -jnp.inf)
        slots = jnp.zeros((*obs.shape[:-1], self.n - 1, logits.shape[-1]), logits.dtype)
        return slots.at[..., i, j, :].set(jax.nn.softmax(logits, axis=-1))

    def act(self, policy, head, obs, mask, hidden, reset, key):
        ids = agent_ids(self.n, obs.shape[:-2])
        x = policy_inputs(obs, ids, self.beliefs(self.params, obs, mask))
        hidden, out = policy(hidden, x, reset)
        dist = head.dist(out, mask)
        actions = dist.sample(seed=key)
        return actions, dist.log_prob(actions), x, hidden

    def param_losses(self, ctx, params, batch) -> dict:
        """B's loss on the update's batch: the cross-entropy from agent j's policy distribution
        when it acted (the behaviour policy's outputs, `Batch.old_out`, as the authors store
        them) to B's prediction of it by agent i, over pairs j < i and samples: the
        `belief_loss` metric."""
        target = ctx.head.dist(batch.old_out, batch.mask).probs  # [C, L, N(j), A]
        obs = split_inputs(batch.actor_in, self.n, self.slot_dim)[0]
        logp = jax.nn.log_softmax(self.logits(params["belief"], obs), axis=-1)  # [C, L, P, A]
        ce = -jnp.sum(target[..., self.pairs[1], :] * logp, axis=-1)  # [C, L, P]
        return {"belief_loss": jnp.mean(ce)}  # every pair weighs the same


def prediction_match(actor_in, actions, head, n: int) -> jax.Array:
    """The share of agent i's predictions a~_j (j < i) written into its policy inputs that
    equal the actual a_j, over every such pair and sample (discrete actions; a diagnostic of
    the belief chain, the `pred_match` metric)."""
    prefix = split_inputs(actor_in, n, head.slot_dim)[2]  # [..., N(i), N-1, S]
    # the predicted action: the one-hot's index, or the likeliest of a probability vector
    same = jnp.argmax(prefix, axis=-1) == actions[..., None, : n - 1]  # [..., N(i), N-1]
    lower = jnp.arange(n - 1)[None, :] < jnp.arange(n)[:, None]  # slot j < i holds a~_j
    return jnp.sum(same * lower) / (lower.sum() * same[..., 0, 0].size)


@dataclass(frozen=True)
class ChainedCritic:
    """V(x, id=i, a_{<i}): the actual actions of agents 0..i-1 (or, as an ablation, the
    prefix agent i predicted); B_t = V(x_{t+1}, id=0, empty prefix)."""

    n: int
    head: object
    view: str = "global"
    prefix: str = "actual"  # actual | predicted
    bootstrap_agent = 0

    def input_parts(self, obs, global_state, actions, actor_inputs):
        """(the global state, or None with the local view; each agent's own block: [its
        observation with the local view,] its id and its prefix)."""
        n, s = self.n, self.head.slot_dim
        if self.prefix == "predicted":
            prefix = split_inputs(actor_inputs, n, s)[2]
        else:
            enc = self.head.encode(actions)[..., : n - 1, :]  # [..., N-1, S]
            lower = jnp.arange(n - 1)[None, :] < jnp.arange(n)[:, None]  # [N(i), N-1]: j < i
            prefix = enc[..., None, :, :] * lower[..., None]
        flat = prefix.reshape(*prefix.shape[:-2], -1)  # [..., N, (N-1)S]
        own = jnp.concatenate([agent_ids(n, prefix.shape[:-3]), flat], axis=-1)
        if self.view == "local":
            return None, jnp.concatenate([obs, own], axis=-1)
        return global_state, own

    def inputs(self, obs, global_state, actions, actor_inputs):
        return join_inputs(*self.input_parts(obs, global_state, actions, actor_inputs))

    def bootstrap_inputs(self, final_obs, final_global_state):
        x = critic_view(self.view, final_obs, final_global_state)[..., 0, :]
        batch = x.shape[:-1]
        id0 = jnp.broadcast_to(jax.nn.one_hot(0, self.n), (*batch, self.n))
        return policy_inputs(x, id0, empty_prefix(batch, self.n, self.head.slot_dim))


def prefix_sensitivity(ctx, critic_params, traj, values, h_in, stride: int = 16):
    """How much the chained critic's value moves with its prefix (the `prefix_sens` metric):
    at every stride-th step of the rollout, the mean |V(x, i, a_<i) - V(x, i, a'_<i)| over
    agents i >= 1, where a' are the actions of the neighbouring environment of the batch
    (a counterfactual prefix; with `acpo.critic_prefix=predicted` its predicted prefix),
    divided by the standard deviation of V over those samples. 0: the prefix is ignored."""
    pick = lambda x: x[::stride]  # noqa: E731
    other = lambda x: jnp.roll(pick(x), 1, axis=1)  # noqa: E731
    step, x = ctx.critic_step(  # as `critic_values` computes the values it compares with
        critic_params,
        pick(traj.obs),
        pick(traj.global_state),
        other(traj.action),
        other(traj.actor_in),
    )
    v = step(pick(h_in), x, pick(traj.first))[1][..., 0]
    ref = pick(values)[..., 1:]
    _, var = moments(ref, None, AXIS)
    change = jax.lax.pmean(jnp.mean(jnp.abs(v[..., 1:] - ref)), AXIS)
    return change / (jnp.sqrt(var) + 1e-8)


@dataclass(frozen=True)
class ChainDiagnostics:
    """ACPO's diagnostics: `pred_match` (the belief chain predicts discrete actions) and
    `prefix_sens` (the critic is chained), each where it applies."""

    pred_match: bool
    prefix_sens: bool
    belief_net: bool = False  # `belief_loss` (from the optimization phase)

    @property
    def names(self) -> tuple[str, ...]:
        on = {"pred_match": self.pred_match, "prefix_sens": self.prefix_sens}
        on["belief_loss"] = self.belief_net
        return tuple(k for k, v in on.items() if v)

    def __call__(self, ctx, critic_params, traj, values, critic_h):
        out = {}
        if self.prefix_sens:
            out["prefix_sens"] = prefix_sensitivity(ctx, critic_params, traj, values, critic_h)
        if self.pred_match:
            match = prediction_match(traj.actor_in, traj.action, ctx.head, ctx.spec.num_agents)
            out["pred_match"] = jax.lax.pmean(match, AXIS)
        return out


def diagnostics(cfg, spec, head, chained: bool) -> ChainDiagnostics:
    multi = spec.num_agents > 1
    chain = multi and not head.continuous and cfg.acpo.belief != "none"
    return ChainDiagnostics(chain, chained and multi, cfg.acpo.belief == "net")


def _optimization(cfg) -> JointPPO:
    return JointPPO(cfg.acpo.belief_lr if cfg.acpo.belief == "net" else None)


@dataclass(frozen=True)
class ChainedGAE:
    """`acjax.advantages.chained_gae` with micro-step gamma' and lambda'."""

    gamma_micro: float
    lambda_micro: float

    def __call__(self, rewards, values, bootstrap, terminated, truncated):
        return adv_lib.chained_gae(
            rewards, values, bootstrap, terminated, truncated, self.gamma_micro, self.lambda_micro
        )


def belief_acting(cfg, spec, head) -> BeliefChain | BeliefNetActing:
    c, n = cfg.acpo, spec.num_agents
    if c.belief == "net":
        net = Net(tuple(c.belief_hidden), head.slot_dim, 1.0)
        return BeliefNetActing(n, head.slot_dim, net, c.belief_mask, c.belief_lr)
    aux = c.aux_coef
    aux = aux if aux >= 0 else (0.0 if cfg.net.share_params else 1.0)
    return BeliefChain(n, head.slot_dim, c.belief, c.belief_mask, aux)


def acpo(cfg, spec, head) -> Algorithm:
    n, ppo, c = spec.num_agents, cfg.ppo, cfg.acpo
    critic = ChainedCritic(n, head, c.critic_view, c.critic_prefix)
    auto = not isinstance(c.lambda_micro, jax.Array) and c.lambda_micro == 0  # (swept: an array)
    lambda_m = ppo.gae_lambda ** (1.0 / n) if auto else c.lambda_micro
    adv = ChainedGAE(ppo.gamma ** (1.0 / n), lambda_m)
    diag = diagnostics(cfg, spec, head, chained=True)
    return Algorithm("acpo", belief_acting(cfg, spec, head), critic, adv, _optimization(cfg), diag)


def acpo_nochain(cfg, spec, head) -> Algorithm:
    """The paper's ablation: ACPO's acting with MAPPO's critic and GAE."""
    gae = GAE(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    critic = StateCritic("global")
    diag = diagnostics(cfg, spec, head, chained=False)
    return Algorithm(
        "acpo_nochain", belief_acting(cfg, spec, head), critic, gae, _optimization(cfg), diag
    )
