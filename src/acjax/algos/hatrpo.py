"""HATRPO (Zhong et al. 2024, "Heterogeneous-Agent Reinforcement Learning"), as HARL implements it.

Sources: docs/references.md, "HATRPO (PKU-MARL/HARL)".

HAPPO's acting, critic, team advantage and agent loop (`acjax.algos.happo`) with a trust-region
step in place of each agent's PPO epochs (`TrustRegion`):

- No parameter sharing: per-agent actors stacked on a leading agent axis (`algo=hatrpo` forces
  `net.share_params=false`; setting it true is a config error, `acjax.algos.REGISTRY`).
- A random agent order per update; agent k = order[j] maximizes the surrogate
  L_k(theta) = mean(M * pi_theta(a_k) / pi_old(a_k) * A) over its column of the batch (no
  clipping, no entropy bonus, death masking where agents die), M the product of the new/old
  ratios of the agents updated before it (`acjax.algos.happo.sequential_agents`).
- The step: g = grad L_k at theta_old; x ~ (F + d I)^{-1} g by `hatrpo.cg_iters` iterations of
  conjugate gradient (`conjugate_gradient`), F the Hessian of the mean KL(pi_old || pi_theta) at
  theta_old, d = `hatrpo.cg_damping` (`fisher_vector_product`); the full step
  s = sqrt(delta / (x^T (F + d I) x / 2)) x reaches the KL bound delta = `hatrpo.kl_threshold`
  on the quadratic model. A backtracking line search (`line_search`) tries theta_old + c^i s,
  i = 0..`hatrpo.ls_step`-1, c = `hatrpo.backtrack_coeff`, and takes the first whose measured
  mean KL is under delta and whose surrogate improves by more than `hatrpo.accept_ratio` times
  the predicted improvement c^i g^T s (and by more than 0); if none does, the agent keeps
  theta_old.
- The critic trains last, Adam epochs x minibatches on MAPPO's value loss, as in HAPPO.

The Fisher-vector product is exact at theta_old, where the KL's gradient in the policy's
outputs vanishes: F = J^T H J with J the outputs' Jacobian in the parameters and H the Hessian of
the KL in the outputs. The network is linearized once per agent (`jax.linearize`); each product
is then a forward tangent pass, the outputs' KL Hessian and the transposed pass on the stored
linearization, without evaluating the network again. Discrete actions use the true KL of the
categoricals (HARL's discrete KL is sum_a (r_a - 1 - log r_a) over the log-probabilities, whose
Hessian weighs every action alike); every mean, gradient and product is averaged over the
devices, so every device takes the same step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from acjax import losses as L
from acjax.algos.base import Algorithm
from acjax.algos.happo import (
    TeamGAE,
    agent_batch,
    agent_loop_metrics,
    agent_order,
    critic_steps,
    sequential_agents,
)
from acjax.algos.mappo import IndependentActing, StateCritic
from acjax.ppo import adam
from acjax.runner import AXIS


def conjugate_gradient(matvec, b: jax.Array, iters: int, tol: float = 1e-10):
    """(x, r): x ~ A^{-1} b after `iters` conjugate gradient iterations from x = 0 (A = matvec,
    symmetric positive definite) and its residual r = b - A x (so x^T A x = x^T (b - r) without
    another product); iterations after the squared residual falls under `tol` leave x as it
    is."""

    def body(_, carry):
        x, r, p, rr = carry
        go = rr >= tol
        ap = matvec(p)
        pap = jnp.vdot(p, ap)
        alpha = jnp.where(go & (pap > 0), rr / jnp.where(pap > 0, pap, 1.0), 0.0)
        x, r = x + alpha * p, r - alpha * ap
        rr_new = jnp.vdot(r, r)
        beta = jnp.where(go, rr_new / jnp.where(rr > 0, rr, 1.0), 0.0)
        p = jnp.where(go, r + beta * p, p)
        return x, r, p, jnp.where(go, rr_new, rr)

    init = (jnp.zeros_like(b), b, b, jnp.vdot(b, b))
    x, r, _, _ = jax.lax.fori_loop(0, iters, body, init)
    return x, r


def fisher_vector_product(outputs, kl, flat: jax.Array, damping, axis_name=AXIS):
    """(outputs at `flat`, v -> (F + damping I) v): F the Hessian at `flat` of
    kl(outputs(flat), outputs(theta)) in theta, the old outputs held fixed, averaged over the
    devices of `axis_name` (None: none). outputs(flat) -> the policy's outputs; kl(old, new) ->
    the mean KL(pi_old || pi_new)."""
    out, lin = jax.linearize(outputs, flat)
    lin_t = jax.linear_transpose(lin, flat)
    grad_kl = jax.grad(lambda z: kl(out, z))
    pmean = (lambda x: jax.lax.pmean(x, axis_name)) if axis_name else (lambda x: x)

    def fvp(v):
        hv = jax.jvp(grad_kl, (out,), (lin(v),))[1]
        return pmean(lin_t(hv)[0]) + damping * v

    return out, fvp, lin_t


class Search(NamedTuple):
    """The line search's outcome: the accepted fraction of the full step (0 if none), whether
    one was accepted, and the tries it took."""

    fraction: jax.Array
    accepted: jax.Array
    tries: jax.Array


def line_search(
    evaluate, expected, kl_threshold, accept_ratio, ls_step: int, coeff, rejected=()
) -> tuple[Search, Any]:
    """Backtracking: fractions f = coeff^i, i = 0..ls_step-1, until one is accepted.
    evaluate(f) -> (the surrogate's improvement, the mean KL, what else it computed) at
    theta_old + f * full_step; `expected` is the predicted improvement of the full step
    (g^T full_step). f is accepted when kl < kl_threshold, improvement > 0 and
    improvement > accept_ratio * f * expected. Returns the `Search` and what the accepted
    evaluation computed besides (`rejected`, of the same structure, when none is accepted)."""

    def cond(c):
        i, done, _, _ = c
        return (i < ls_step) & ~done

    def body(c):
        i, _, _, _ = c
        f = coeff**i
        improve, kl, extra = evaluate(f)
        ok = (kl < kl_threshold) & (improve > 0) & (improve > accept_ratio * f * expected)
        return jnp.where(ok, i, i + 1), ok, f, extra

    init = (jnp.zeros((), jnp.int32), jnp.asarray(False), jnp.ones(()), rejected)
    i, done, f, extra = jax.lax.while_loop(cond, body, init)
    ok = done & (expected > 0)
    extra = jax.tree.map(lambda a, b: jnp.where(ok, a, b), extra, rejected)
    return Search(jnp.where(ok, f, 0.0), ok, jnp.minimum(i + 1, ls_step)), extra


class TrustRegionOptimizer(NamedTuple):
    """Only the critic has an optimizer state (Adam); the actors take trust-region steps."""

    critic: optax.GradientTransformation

    def init(self, params):
        return {"critic": self.critic.init(params["critic"])}


@dataclass(frozen=True)
class TrustRegion:
    """Agents one after another in a random order, each a trust-region step, then the critic
    (module docstring). Fields: the config's `hatrpo` section."""

    kl_threshold: float = 0.01
    accept_ratio: float = 0.5
    ls_step: int = 10
    backtrack_coeff: float = 0.8
    cg_iters: int = 10
    cg_damping: float = 0.1
    metric_names = ("kl", "ls_accepted")  # metrics besides the PPO family's

    def make_optimizer(self, ppo, num_updates):
        return TrustRegionOptimizer(adam(ppo, num_updates, ppo.critic_lr))

    def agent_step(self, ctx, batch):
        """step(k, params_k, {}, factor [C, L], key) -> (params_k, {}, ratio_k [C, L], aux):
        agent k's trust-region step with the factor M."""
        module, head = ctx.actor.module, ctx.head
        valid = batch.alive if ctx.spec.agents_die else None

        def step(k, p_k, s_k, factor, key):
            data = agent_batch(batch, k)
            ok = None if valid is None else data.alive
            flat0, unravel = ravel_pytree(p_k)
            policy = lambda f: lambda h, x, r: module.apply(unravel(f), h, x, r)  # noqa: E731
            outputs = lambda f: ctx.actor_outputs(policy(f), data)[0]  # noqa: E731
            m = factor[..., None]

            def surrogate(out):  # the local mean of M * r * A
                ratio = jnp.exp(head.dist(out, data.mask).log_prob(data.action) - data.logp)
                return L.masked_mean(m * ratio * data.adv, ok)

            def kl(old, new):
                return L.masked_mean(head.kl(jax.lax.stop_gradient(old), new, data.mask), ok)

            tr = self
            out0, fvp, lin_t = fisher_vector_product(outputs, kl, flat0, tr.cg_damping)
            g = jax.lax.pmean(lin_t(jax.grad(surrogate)(out0))[0], AXIS)
            x, r = conjugate_gradient(fvp, g, tr.cg_iters)
            shs = 0.5 * jnp.vdot(x, g - r)  # x^T (F + d I) x
            scale = jnp.where(shs > 0, jnp.sqrt(tr.kl_threshold / jnp.where(shs > 0, shs, 1.0)), 0)
            full = scale * x
            surr0 = jax.lax.pmean(surrogate(out0), AXIS)

            def evaluate(f):
                out = outputs(flat0 + f * full)
                gain = jax.lax.pmean(surrogate(out), AXIS) - surr0
                return gain, jax.lax.pmean(kl(out0, out), AXIS), out

            search, out = line_search(
                evaluate, jnp.vdot(g, full), tr.kl_threshold, tr.accept_ratio, tr.ls_step,
                tr.backtrack_coeff, out0,
            )  # fmt: skip
            flat = flat0 + search.fraction * full
            dist = head.dist(out, data.mask)
            log_ratio = dist.log_prob(data.action) - data.logp
            ratio = jnp.exp(log_ratio)
            aux = {
                "actor_loss": -L.masked_mean(m * ratio * data.adv, ok),
                "entropy": L.masked_mean(dist.entropy(), ok),
                "approx_kl": L.masked_mean((ratio - 1) - log_ratio, ok),
                "clip_frac": L.masked_mean(jnp.abs(ratio - 1) > ctx.ppo.clip_eps, ok),
                "kl": kl(out0, out),
                "ls_accepted": search.accepted.astype(jnp.float32),
                "grad_norm": jnp.linalg.norm(g),
            }
            return unravel(flat), s_k, ratio[..., 0], aux

        return step

    def optimize(self, ctx, params, opt_state, batch, value_norm, key):
        n = batch.actor_in.shape[2]
        k_order, k_actor, k_critic = jax.random.split(key, 3)
        order = agent_order(k_order, n)
        actor, _, _, aux = sequential_agents(
            self.agent_step(ctx, batch), order, params["actor"], {},
            jnp.ones(batch.first.shape, jnp.float32), jax.random.split(k_actor, n),
        )  # fmt: skip
        critic, critic_state, c_aux = critic_steps(
            ctx, params, opt_state, batch, value_norm, k_critic
        )
        # grad_norm: the actors' surrogate gradient and one critic step's together
        metrics = agent_loop_metrics(aux, c_aux, order, [k for k in aux if k != "grad_norm"])
        return {"actor": actor, "critic": critic}, {"critic": critic_state}, metrics


def hatrpo(cfg, spec, head) -> Algorithm:
    h = cfg.hatrpo
    opt = TrustRegion(
        h.kl_threshold, h.accept_ratio, h.ls_step, h.backtrack_coeff, h.cg_iters, h.cg_damping
    )
    adv = TeamGAE(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    return Algorithm("hatrpo", IndependentActing(), StateCritic("global"), adv, opt)
