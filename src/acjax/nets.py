"""Actor and critic networks (MLP), masked categorical action heads, parameter sharing.

Inputs are built by the algorithms (observation or global state, one-hot agent id, and for ACPO
the action prefix); the networks only map a feature vector to logits or a value. With parameter
sharing one network serves every agent; without it the parameters are stacked on a leading agent
axis and the network is vmapped over the agent axis of its input (axis -2).
"""

from __future__ import annotations

from collections.abc import Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh, "gelu": nn.gelu}


class MLP(nn.Module):
    hidden: Sequence[int]
    out_dim: int
    out_scale: float
    activation: str = "relu"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        if self.layer_norm:
            x = nn.LayerNorm()(x)
        for h in self.hidden:
            x = nn.Dense(h, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)))(x)
            x = act(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


def masked_categorical(logits: jax.Array, mask: jax.Array | None) -> distrax.Categorical:
    """Categorical over available actions only (mask True = available)."""
    if mask is not None:
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    return distrax.Categorical(logits=logits)


class AgentNet:
    """An MLP applied per agent: x [..., N, D] -> [..., N, out_dim] (shared or stacked params)."""

    def __init__(self, module: MLP, num_agents: int, share: bool):
        self.module, self.num_agents, self.share = module, num_agents, share

    def init(self, key: jax.Array, in_dim: int):
        """Parameters (stacked on a leading agent axis without sharing). Call outside jit/vmap:
        XLA:CPU can deadlock on batched QR (orthogonal init) with several host devices, so
        each network is initialized by its own call of one compiled init."""
        init = jax.jit(self.module.init)
        dummy = jnp.zeros((in_dim,), jnp.float32)
        if self.share:
            return init(key, dummy)
        params = [init(k, dummy) for k in jax.random.split(key, self.num_agents)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *params)

    def apply(self, params, x: jax.Array, agent: int | None = None) -> jax.Array:
        """x [..., N, D] -> [..., N, out]; with `agent`, x [..., D] is fed to that agent's net."""
        if self.share:
            return self.module.apply(params, x)
        if agent is not None:
            return self.module.apply(jax.tree.map(lambda p: p[agent], params), x)
        return jax.vmap(self.module.apply, in_axes=(0, -2), out_axes=-2)(params, x)


def make_nets(num_agents: int, num_actions: int, net_cfg) -> tuple[AgentNet, AgentNet]:
    """(actor, critic) from the `net` section of the config."""
    kw = dict(activation=net_cfg.activation, layer_norm=net_cfg.layer_norm)
    actor = MLP(tuple(net_cfg.actor_hidden), num_actions, 0.01, **kw)
    critic = MLP(tuple(net_cfg.critic_hidden), 1, 1.0, **kw)
    share = net_cfg.share_params
    return AgentNet(actor, num_agents, share), AgentNet(critic, num_agents, share)


def agent_ids(num_agents: int, batch_shape: tuple[int, ...] = ()) -> jax.Array:
    """One-hot agent ids broadcast to batch_shape + [N, N]."""
    return jnp.broadcast_to(
        jnp.eye(num_agents, dtype=jnp.float32), (*batch_shape, num_agents, num_agents)
    )
