"""Networks (MLP, optionally followed by a GRU), action heads, parameter sharing.

Every network is one step of a possibly recurrent function

    (h, x, reset) -> (h', out)        h [..., H], x [..., D], reset [...] bool

where h is the network's memory (H = 0 for an MLP: nothing is carried) and `reset` marks the
first step of an episode (the memory is zeroed before the step). Inputs are built by the
algorithms (observation or global state, one-hot agent id, and for ACPO the action prefix). With
parameter sharing one network serves every agent; without it the parameters are stacked on a
leading agent axis and the network is vmapped over the agent axis of its input (axis -2).

Action heads turn a network's output into a distribution:
- `CategoricalHead`: masked categorical over the available actions (discrete worlds);
- `GaussianHead`: diagonal Gaussian with a state-independent log-std (a parameter of the actor,
  appended to its output), over each agent's true action dimensions only. Actions are kept in
  the bounds by clipping only what is sent to the world (`to_env`): the stored action and its
  log-probability stay those of the unclipped Gaussian sample, so the PPO ratio is exact and the
  entropy is the Gaussian's closed form (tanh squashing would need a Jacobian correction, has no
  closed-form entropy and saturates at the bounds; HARL sends the unsquashed sample and lets
  MuJoCo clamp it to the control range, which is the same for the world).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from acjax.losses import categorical_kl, gaussian_kl

ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh, "gelu": nn.gelu}


class Net(nn.Module):
    """MLP layers, then (rnn_hidden > 0) a GRU cell, then a linear output; with log_std_dim > 0
    a state-independent log-std parameter is appended to the output (Gaussian heads)."""

    hidden: Sequence[int]
    out_dim: int
    out_scale: float
    activation: str = "relu"
    layer_norm: bool = False
    rnn_hidden: int = 0
    log_std_dim: int = 0
    log_std_init: float = 0.0

    @nn.compact
    def __call__(self, h, x, reset, pre: bool = False):
        """pre: x is already the first hidden layer's pre-activation (`FirstLayer`: its Dense
        applied by the caller); only without layer norm, which comes before that Dense."""
        act = ACTIVATIONS[self.activation]
        if self.layer_norm:
            if pre:
                raise ValueError("pre-activation inputs with layer_norm")
            x = nn.LayerNorm()(x)
        for k, size in enumerate(self.hidden):
            if not (pre and k == 0):
                init = nn.initializers.orthogonal(np.sqrt(2.0))
                x = nn.Dense(size, kernel_init=init, name=f"Dense_{k}")(x)
            x = act(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        if self.rnn_hidden:
            h = jnp.where(reset[..., None], jnp.zeros_like(h), h)
            h, x = nn.GRUCell(self.rnn_hidden)(h, x)
        out = nn.Dense(
            self.out_dim,
            kernel_init=nn.initializers.orthogonal(self.out_scale),
            name=f"Dense_{len(self.hidden)}",
        )(x)
        if self.log_std_dim:
            log_std = self.param(
                "log_std", nn.initializers.constant(self.log_std_init), (self.log_std_dim,)
            )
            out = jnp.concatenate(
                [out, jnp.broadcast_to(log_std, (*out.shape[:-1], self.log_std_dim))], axis=-1
            )
        return h, out


# a network step with its parameters bound: (h, x, reset) -> (h', out)
Step = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


class AgentNet:
    """A `Net` applied per agent: x [..., N, D], h [..., N, H] -> (h', out [..., N, out])."""

    def __init__(self, module: Net, num_agents: int, share: bool):
        self.module, self.num_agents, self.share = module, num_agents, share
        self.hidden_dim = module.rnn_hidden

    def init(self, key: jax.Array, in_dim: int):
        """Parameters (stacked on a leading agent axis without sharing). Call outside jit/vmap:
        XLA:CPU can deadlock on batched QR (orthogonal init) with several host devices, so
        each network is initialized by its own call of one compiled init."""
        init = jax.jit(self.module.init)
        dummy = (jnp.zeros((self.hidden_dim,)), jnp.zeros((in_dim,)), jnp.zeros((), bool))
        if self.share:
            return init(key, *dummy)
        params = [init(k, *dummy) for k in jax.random.split(key, self.num_agents)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *params)

    def initial_hidden(self, batch_shape: tuple[int, ...]) -> jax.Array:
        return jnp.zeros((*batch_shape, self.num_agents, self.hidden_dim), jnp.float32)

    def apply(self, params, h, x, reset, agent: int | None = None, pre: bool = False):
        """One step for every agent; `reset` (per environment, or finer) broadcasts to x's batch
        and agent axes, trailing axes added. With `agent`, x [..., D] and h [..., H] are fed to
        that agent's network alone. `pre`: x is the first layer's pre-activation (`Net`)."""
        reset = jnp.broadcast_to(_expand(jnp.asarray(reset), x.ndim - 1), x.shape[:-1])
        fn = functools.partial(self.module.apply, pre=pre)
        if self.share:
            return fn(params, h, x, reset)
        if agent is not None:
            return fn(jax.tree.map(lambda p: p[agent], params), h, x, reset)
        vmapped = jax.vmap(fn, in_axes=(0, -2, -2, -1), out_axes=(-2, -2))
        return vmapped(params, h, x, reset)

    def step(self, params, agent: int | None = None) -> BoundStep:
        return BoundStep(self, params, agent)


class BoundStep:
    """`AgentNet.apply` with its parameters bound, a `Step`: (h, x, reset) -> (h', out) for
    every agent (or the one `agent`); `rows(lo)` is the step of agents lo..N-1 alone, on
    x [..., N - lo, D] and h [..., N - lo, H] (ACPO's triangular belief chain). `first_layer`
    and `after_first` split the network after its first layer's product (`FirstLayer`)."""

    def __init__(self, net: AgentNet, params, agent: int | None = None, pre: bool = False):
        self.net, self.params, self.agent, self.pre = net, params, agent, pre

    def __call__(self, h, x, reset):
        return self.net.apply(self.params, h, x, reset, self.agent, self.pre)

    def rows(self, lo: int) -> BoundStep:
        if self.agent is not None:
            raise ValueError("rows() of a single agent's step")
        if self.net.share or lo == 0:  # one network serves any rows
            return self
        return BoundStep(self.net, jax.tree.map(lambda p: p[lo:], self.params), pre=self.pre)

    def _first_dense(self) -> dict | None:
        """The first Dense layer's parameters, or None where the network does not start with a
        Dense on its raw input (layer norm first, no hidden layer) or this step starts after it."""
        m = self.net.module
        if m.layer_norm or not m.hidden or self.agent is not None or self.pre:
            return None
        return self.params["params"]["Dense_0"]

    def first_layer(self, obs_dim: int, slot_dim: int) -> FirstLayer | None:
        """The first layer split by input block (None: see `_first_dense`)."""
        dense = self._first_dense()
        if dense is None:
            return None
        n = self.net.num_agents
        return FirstLayer(dense["kernel"], dense["bias"], obs_dim, n, slot_dim, self.net.share)

    def pre_activation(self, shared: jax.Array | None, per_agent: jax.Array) -> jax.Array | None:
        """The first layer's pre-activation for the inputs `join_inputs(shared, per_agent)`,
        the shared block (the global state a centralized critic sees) multiplied once per state
        instead of once per agent: W_s s + W_a x_i + b, [..., N, H1]. None where that does not
        apply (no shared block, one network per agent, or see `_first_dense`)."""
        dense = self._first_dense()
        if shared is None or not self.net.share or dense is None:
            return None
        w, g = dense["kernel"], shared.shape[-1]
        return (shared @ w[:g] + dense["bias"])[..., None, :] + per_agent @ w[g:]

    def after_first(self) -> BoundStep:
        """The rest of the network: inputs are the first layer's pre-activations [..., H1]."""
        return BoundStep(self.net, self.params, self.agent, pre=True)


class FirstLayer:
    """The first Dense layer of the agents' networks split by input block. A chain input is
    [observation (O), one-hot id (N), prefix (N-1 slots of S)] and enters the layer linearly:

        W x + b = (W_obs o + b) + W_id[:, j] + sum_k W_slot_k enc_k

    so ACPO's belief chain multiplies each agent's observation once, adds one kernel row for the
    id and one slot's product when a prediction is written, instead of multiplying the whole
    input at every micro-step. Kernel [D, H] (shared) or [N, D, H] (one per agent)."""

    def __init__(self, kernel, bias, obs_dim: int, num_agents: int, slot_dim: int, share: bool):
        self.kernel, self.bias, self.share = kernel, bias, share
        self.o, self.n, self.s = obs_dim, num_agents, slot_dim

    def base(self, obs: jax.Array) -> jax.Array:
        """obs [..., N, O] -> W_obs o + b [..., N, H]."""
        w = self.kernel[..., : self.o, :]
        if self.share:
            return obs @ w + self.bias
        return jnp.einsum("...nd,ndh->...nh", obs, w) + self.bias

    def id_row(self, j: int, lo: int) -> jax.Array:
        """W_id[:, j] for the rows lo..N-1: [H] (shared) or [N - lo, H]."""
        k = self.kernel[..., self.o + j, :]
        return k if self.share else k[lo:]

    def slot(self, k: int, enc: jax.Array, lo: int) -> jax.Array:
        """enc [..., N - lo, S] written into slot k of rows lo.. -> its product [..., N - lo, H]."""
        start = self.o + self.n + k * self.s
        w = self.kernel[..., start : start + self.s, :]
        if self.share:
            return enc @ w
        return jnp.einsum("...ns,nsh->...nh", enc, w[lo:])


def join_inputs(shared: jax.Array | None, per_agent: jax.Array) -> jax.Array:
    """Inputs [..., N, S + P] from a block every agent sees, [..., S] (or None), and each
    agent's own block [..., N, P]."""
    if shared is None:
        return per_agent
    shared = jnp.broadcast_to(shared[..., None, :], (*per_agent.shape[:-1], shared.shape[-1]))
    return jnp.concatenate([shared, per_agent], axis=-1)


def unroll(step: Step, h0: jax.Array, xs: jax.Array, resets: jax.Array):
    """Run a network step over a leading time axis: xs [L, ..., D], resets [L, ...] (broadcast
    to the batch of xs), h0 [..., H]. Returns (outs [L, ...], h_in [L, ..., H], h_last) where
    h_in[t] is the memory entering step t before its reset. A feed-forward network (H = 0) is
    one batched call."""
    if h0.shape[-1] == 0:
        h = jnp.broadcast_to(h0, (xs.shape[0], *h0.shape))
        _, outs = step(h, xs, _expand(resets, xs.ndim - 1))
        return outs, h, h0

    def body(h, inp):
        x, r = inp
        h_new, out = step(h, x, _expand(r, x.ndim - 1))
        return h_new, (out, h)

    h_last, (outs, h_in) = jax.lax.scan(body, h0, (xs, resets))
    return outs, h_in, h_last


def _expand(r: jax.Array, ndim: int) -> jax.Array:
    """Trailing singleton axes so that per-environment flags broadcast over agents."""
    return r.reshape(r.shape + (1,) * (ndim - r.ndim))


# ---------------------------------------------------------------------- action heads
def masked_categorical(logits: jax.Array, mask: jax.Array | None) -> distrax.Categorical:
    """Categorical over available actions only (mask True = available)."""
    if mask is not None:
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    return distrax.Categorical(logits=logits)


class MaskedDiagGaussian:
    """Diagonal Gaussian over the dimensions where `mask` is True (an agent's true action
    dimensions); padded dimensions are 0 in samples and modes and enter neither the
    log-probability nor the entropy. Per dimension it is distrax.Normal(mean, exp(log_std))."""

    def __init__(self, mean: jax.Array, log_std: jax.Array, mask: jax.Array):
        self.normal = distrax.Normal(mean, jnp.exp(log_std))
        self.mask = jnp.broadcast_to(mask, mean.shape)

    def sample(self, seed: jax.Array) -> jax.Array:
        return jnp.where(self.mask, self.normal.sample(seed=seed), 0.0)

    def draw(self, noise: jax.Array) -> jax.Array:
        """`sample` with its standard normal draws given ([1, ...], distrax's layout)."""
        n = self.normal
        return jnp.where(self.mask, (n.scale[None] * noise + n.loc[None])[0], 0.0)

    def mode(self) -> jax.Array:
        return jnp.where(self.mask, self.normal.mode(), 0.0)

    def log_prob(self, action: jax.Array) -> jax.Array:
        return jnp.sum(jnp.where(self.mask, self.normal.log_prob(action), 0.0), axis=-1)

    def entropy(self) -> jax.Array:
        return jnp.sum(jnp.where(self.mask, self.normal.entropy(), 0.0), axis=-1)


class CategoricalHead:
    """Discrete actions: int32 [..., N]; a prefix slot holds a one-hot (all zero = absent)."""

    continuous = False

    def __init__(self, num_actions: int):
        self.num_actions = self.out_dim = self.slot_dim = num_actions

    def dist(self, out: jax.Array, mask: jax.Array) -> distrax.Categorical:
        return masked_categorical(out, mask)

    def kl(self, out_old: jax.Array, out_new: jax.Array, mask: jax.Array) -> jax.Array:
        """KL(dist(out_old) || dist(out_new)) over the available actions."""
        return categorical_kl(out_old, out_new, mask)

    def prediction_dist(self, out, mask, use_mask: bool) -> distrax.Categorical:
        """Another agent's action as this agent predicts it: its mask only on request."""
        return masked_categorical(out, mask if use_mask else None)

    def noise(self, key: jax.Array, batch_shape: tuple[int, ...]) -> jax.Array:
        """The Gumbel draws `dist(...).sample(seed=key)` makes for a batch of that shape
        (distrax samples through jax.random.categorical: argmax(gumbel + logits))."""
        return jax.random.gumbel(key, (1, *batch_shape, self.num_actions))

    def draw(self, dist: distrax.Categorical, noise: jax.Array) -> jax.Array:
        """dist.sample(seed=key) from `noise(key, ...)`: the same actions."""
        return jnp.argmax(noise + dist.logits[None], axis=-1)[0].astype(jnp.int32)

    def encode(self, action: jax.Array) -> jax.Array:
        return jax.nn.one_hot(action, self.num_actions)

    def to_env(self, action: jax.Array, mask: jax.Array) -> jax.Array:
        return action

    def zeros(self, shape: tuple[int, ...]) -> jax.Array:
        """No-op actions for `shape` = batch + (N,)."""
        return jnp.zeros(shape, jnp.int32)


class GaussianHead:
    """Continuous actions: float32 [..., N, A] (A the largest action size, padded dims 0). The
    network outputs the mean and the log-std; a prefix slot holds [present, action clipped into
    the bounds] (A + 1 numbers; all zero = absent)."""

    continuous = True

    def __init__(self, action_dim: int, low: float, high: float):
        self.num_actions = self.out_dim = action_dim
        self.slot_dim = action_dim + 1
        self.low, self.high = low, high

    def dist(self, out: jax.Array, mask: jax.Array) -> MaskedDiagGaussian:
        a = self.num_actions
        return MaskedDiagGaussian(out[..., :a], out[..., a:], mask)

    def kl(self, out_old: jax.Array, out_new: jax.Array, mask: jax.Array) -> jax.Array:
        """KL(dist(out_old) || dist(out_new)) over each agent's true action dimensions."""
        a = self.num_actions
        old, new = (out_old[..., :a], out_old[..., a:]), (out_new[..., :a], out_new[..., a:])
        return gaussian_kl(*old, *new, mask)

    def prediction_dist(self, out, mask, use_mask: bool) -> MaskedDiagGaussian:
        """Another agent's action: its true dimensions (structure, not state) always apply."""
        return self.dist(out, mask)

    def noise(self, key: jax.Array, batch_shape: tuple[int, ...]) -> jax.Array:
        """The standard normal draws `dist(...).sample(seed=key)` makes for that batch."""
        return jax.random.normal(key, (1, *batch_shape, self.num_actions))

    def draw(self, dist: MaskedDiagGaussian, noise: jax.Array) -> jax.Array:
        """dist.sample(seed=key) from `noise(key, ...)`: the same actions."""
        return dist.draw(noise)

    def encode(self, action: jax.Array) -> jax.Array:
        present = jnp.ones((*action.shape[:-1], 1), action.dtype)
        return jnp.concatenate([present, jnp.clip(action, self.low, self.high)], axis=-1)

    def to_env(self, action: jax.Array, mask: jax.Array) -> jax.Array:
        """What the world receives: clipped into the bounds, padded dimensions zero."""
        return jnp.where(mask, jnp.clip(action, self.low, self.high), 0.0)

    def zeros(self, shape: tuple[int, ...]) -> jax.Array:
        return jnp.zeros((*shape, self.num_actions), jnp.float32)


def make_head(spec) -> CategoricalHead | GaussianHead:
    if spec.continuous:
        return GaussianHead(spec.num_actions, spec.action_low, spec.action_high)
    return CategoricalHead(spec.num_actions)


def make_nets(num_agents: int, head, net_cfg) -> tuple[AgentNet, AgentNet]:
    """(actor, critic) from the `net` section of the config."""
    kw = dict(
        activation=net_cfg.activation,
        layer_norm=net_cfg.layer_norm,
        rnn_hidden=net_cfg.rnn_hidden if net_cfg.rnn == "gru" else 0,
    )
    gauss = dict(log_std_dim=head.num_actions, log_std_init=net_cfg.log_std_init)
    actor = Net(
        tuple(net_cfg.actor_hidden), head.out_dim, 0.01, **kw, **(gauss if head.continuous else {})
    )
    critic = Net(tuple(net_cfg.critic_hidden), 1, 1.0, **kw)
    share = net_cfg.share_params
    return AgentNet(actor, num_agents, share), AgentNet(critic, num_agents, share)


def agent_ids(num_agents: int, batch_shape: tuple[int, ...] = ()) -> jax.Array:
    """One-hot agent ids broadcast to batch_shape + [N, N]."""
    return jnp.broadcast_to(
        jnp.eye(num_agents, dtype=jnp.float32), (*batch_shape, num_agents, num_agents)
    )
