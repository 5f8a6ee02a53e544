"""The agents' networks split for ACPO's belief chain at what changes along the chain.

During one step of the chain agent i queries its network once per micro-step j <= i, always
with its own observation and its own memory; only the id (j) and the prefix (its predictions
of a_0..a_{j-1}) change. So what depends on the observation and the memory alone is computed
once per agent and step (`ChainNet.begin`), and only the rest per micro-step (`ChainNet.rows`):

- the first Dense layer's product with the observation and its bias (`acjax.nets.FirstLayer`:
  the id adds one kernel row, each written prediction one slot's product);
- a GRU's memory after the episode's reset and its products with the recurrent kernels
  (W_hr h, W_hz h, W_hn h + b_hn: flax's `GRUCell` with the input side per micro-step);
- per micro-step: the first layer's activation, the hidden layers above it, the GRU's input
  side and gates, the output layer (and a Gaussian head's log-std).

The parameters are the `Net`'s own (same tree, same names), read where they lie: checkpoints
need no conversion. Networks that start with layer normalization (before the first Dense) have
no such split (`ChainNet.of` gives None; the chain then evaluates whole networks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from acjax.nets import ACTIVATIONS, FirstLayer


def _dense(p: dict, x: jax.Array) -> jax.Array:
    """flax's `nn.Dense`: x @ kernel, then the bias added (where it has one)."""
    y = x @ p["kernel"]
    return y + p["bias"] if "bias" in p else y


def _agent_axis(x: jax.Array, lo: int) -> jax.Array:
    """Rows lo.. of the agent axis (-2)."""
    return jax.lax.slice_in_dim(x, lo, None, axis=x.ndim - 2)


class ChainNet:
    """`BoundStep` (every agent's network, shared or one per agent) split for the chain:
    `begin` once per step, `rows(j, z, mem)` at micro-step j for agents j..N-1."""

    def __init__(self, first: FirstLayer, module, params, share: bool):
        self.first, self.module, self.params, self.share = first, module, params, share

    @classmethod
    def of(cls, step, obs_dim: int, slot_dim: int) -> ChainNet | None:
        """The split of a bound step (`acjax.nets.BoundStep`), or None where its network does
        not start with a Dense layer on the raw input (`BoundStep.first_layer`)."""
        first_of = getattr(step, "first_layer", None)
        first = first_of(obs_dim, slot_dim) if first_of else None
        if first is None:
            return None
        return cls(first, step.net.module, step.params, step.net.share)

    def _per_agent(self, fn, lo: int, *xs):
        """fn(params, *xs) for rows lo.. (xs [..., N - lo, ...] on axis -2)."""
        if self.share:
            return fn(self.params, *xs)
        p = jax.tree.map(lambda a: a[lo:], self.params)
        return jax.vmap(fn, in_axes=(0,) + (-2,) * len(xs), out_axes=-2)(p, *xs)

    def begin(self, obs: jax.Array, hidden: jax.Array, reset: jax.Array):
        """What every micro-step of an agent shares: (W_obs o + b [..., N, H1], the memory's
        part: None without a GRU, else (h after the reset, W_hr h, W_hz h, W_hn h + b_hn),
        each [..., N, H])."""
        pre = self.first.base(obs)
        if not self.module.rnn_hidden:
            return pre, None
        r = jnp.asarray(reset)
        r = r.reshape(r.shape + (1,) * (hidden.ndim - 1 - r.ndim))
        r = jnp.broadcast_to(r, hidden.shape[:-1])
        h = jnp.where(r[..., None], jnp.zeros_like(hidden), hidden)
        return pre, (h, *self._per_agent(_hidden_side, 0, h))

    def rows(self, j: int, z: jax.Array, mem) -> tuple[jax.Array | None, jax.Array]:
        """Micro-step j for agents j..N-1: z [..., N - j, H1] the first layer's pre-activation
        (id and prefix included), mem `begin`'s memory part -> (the new memories
        [..., N - j, H] or None without a GRU, outputs [..., N - j, out])."""
        mem_j = () if mem is None else tuple(_agent_axis(m, j) for m in mem)
        return self._per_agent(lambda p, *xs: _above(self.module, p, *xs), j, z, *mem_j)


def _hidden_side(params: dict, h: jax.Array):
    """The GRU's products with its memory: W_hr h, W_hz h, W_hn h + b_hn."""
    g = params["params"]["GRUCell_0"]
    return _dense(g["hr"], h), _dense(g["hz"], h), _dense(g["hn"], h)


def _above(module, params: dict, z: jax.Array, *mem):
    """`Net` from its first layer's pre-activation z on (no layer norm), the GRU's memory side
    given (`_hidden_side`): (h' or None, out)."""
    p, act = params["params"], ACTIVATIONS[module.activation]
    x = act(z)
    for k in range(1, len(module.hidden)):
        x = act(_dense(p[f"Dense_{k}"], x))
    h_new = None
    if module.rnn_hidden:
        h, hr, hz, hn = mem
        g = p["GRUCell_0"]
        r = jax.nn.sigmoid(_dense(g["ir"], x) + hr)
        u = jax.nn.sigmoid(_dense(g["iz"], x) + hz)
        n = jnp.tanh(_dense(g["in"], x) + r * hn)
        x = h_new = (1.0 - u) * n + u * h
    out = _dense(p[f"Dense_{len(module.hidden)}"], x)
    if module.log_std_dim:
        log_std = jnp.broadcast_to(p["log_std"], (*out.shape[:-1], module.log_std_dim))
        out = jnp.concatenate([out, log_std], axis=-1)
    return h_new, out
