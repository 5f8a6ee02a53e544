"""The PPO maths as pure functions of arrays and hyper-parameters (in the style of brax's PPO
`losses.py`): no networks, no config, no trainer state, so that each equation can be tested on
its own against a plain numpy reference.

    ppo_surrogate          PPO's clipped surrogate objective (Schulman et al. 2017, eq. 7),
                           with HAPPO's per-sample factor M as `weight` (Kuba et al. 2022)
    value_loss             MAPPO's value loss: Huber or squared error, optionally with the clipped
                           value loss (Yu et al. 2022, "The Surprising Effectiveness of PPO in
                           Cooperative Multi-Agent Games", sections 4.1-4.2 and appendix)
    entropy_loss           the entropy bonus of PPO (Schulman et al. 2017, eq. 9) as a loss term
    normalize_advantages   advantage normalization, jointly or per agent, over all devices
    ValueNorm              MAPPO's running normalization of value targets (PopArt-style
                           debiased EMA of the first two moments, Yu et al. 2022, section 4.1)
    categorical_kl,        KL(pi_old || pi_new) of two action distributions, as RLlib's
    gaussian_kl            TorchCategorical.kl and TorchDiagGaussian.kl
    adapt_kl_coef          RLlib's adaptive KL coefficient (KLCoeffMixin.update_kl)

Every loss takes an optional `valid` mask (bool or float, broadcastable to the data): the mean is
then over the valid entries only, and a masked entry changes neither the loss nor its gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


def masked_mean(x, valid=None):
    """Mean of x over all entries; with `valid` (bool/float, broadcastable to x) the mean over
    valid entries only (0 when none is valid).

    A float `valid` acts as per-entry weights: sum(valid * x) / sum(valid). Masked entries are
    selected away with `jnp.where`, so a NaN or inf there reaches neither the value nor the
    gradient."""
    x = jnp.asarray(x)
    if valid is None:
        return jnp.mean(x)
    w = jnp.broadcast_to(jnp.asarray(valid), x.shape).astype(x.dtype)
    num = jnp.sum(jnp.where(w != 0, x * w, jnp.zeros_like(x)))
    den = jnp.sum(w)
    safe_den = jnp.where(den > 0, den, jnp.ones_like(den))
    return jnp.where(den > 0, num / safe_den, jnp.zeros_like(num))


def ppo_surrogate(logp, old_logp, adv, clip_eps, weight=1.0, valid=None):
    """PPO's clipped surrogate objective as a loss (Schulman et al. 2017, eq. 7):

        L = -mean(w * min(r * A, clip(r, 1 - eps, 1 + eps) * A)),   r = exp(logp - old_logp)

    `weight` w is HAPPO's factor M (data, broadcastable to `adv`; 1 for MAPPO/IPPO/ACPO).
    Returns (loss, stats) where stats is a dict with
        'actor_loss'  the loss itself,
        'approx_kl'   mean((r - 1) - log r), the k3 estimator of KL(old || new),
        'clip_frac'   mean(|r - 1| > eps) as a float, the fraction of clipped ratios.
    With `valid`, every mean is over the valid entries only."""
    log_ratio = logp - old_logp
    ratio = jnp.exp(log_ratio)
    surr = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    loss = -masked_mean(weight * surr, valid)
    stats = dict(
        actor_loss=loss,
        approx_kl=masked_mean((ratio - 1) - log_ratio, valid),
        clip_frac=masked_mean((jnp.abs(ratio - 1) > clip_eps).astype(ratio.dtype), valid),
    )
    return loss, stats


def value_loss(v, target, old_v, kind="huber", huber_delta=10.0, value_clip=0.0, valid=None):
    """MAPPO's value loss (Yu et al. 2022) on err = v - target.

    With value_clip c > 0, MAPPO's clipped value loss (as in PPO's reference implementation):
    v_clip = old_v + clip(v - old_v, -c, c), and per entry the error whose loss is larger is
    used, err <- v_clip - target where |v_clip - target| > |err|, i.e. max(l(err), l(err_clip))
    for the (even, monotone in |err|) losses below.

        kind 'huber':  mean(huber(err, delta=huber_delta))   (optax.huber_loss)
        kind 'mse':    0.5 * mean(err ** 2)

    Any other kind raises ValueError. With `valid`, the mean is over valid entries only."""
    if kind not in ("huber", "mse"):
        raise ValueError(f"unknown value loss kind {kind!r}: expected 'huber' or 'mse'")
    err = v - target
    if value_clip > 0:
        v_clip = old_v + jnp.clip(v - old_v, -value_clip, value_clip)
        err = jnp.where(jnp.abs(v_clip - target) > jnp.abs(err), v_clip - target, err)
    if kind == "huber":
        return masked_mean(optax.huber_loss(err, delta=huber_delta), valid)
    return 0.5 * masked_mean(err**2, valid)


def entropy_loss(entropy, ent_coef, valid=None):
    """-ent_coef * mean(entropy): PPO's entropy bonus (Schulman et al. 2017, eq. 9) as a loss
    term to add to the total loss (minimizing it raises the policy's entropy)."""
    return -ent_coef * masked_mean(entropy, valid)


def categorical_kl(logits_old, logits_new, mask=None):
    """KL(p_old || p_new) = sum_a p_old(a) (log p_old(a) - log p_new(a)) of two categoricals
    given by their logits [..., A], over the available actions (`mask` True; the unavailable
    ones have no probability under either). Returns [...]."""
    if mask is not None:
        low = jnp.finfo(logits_old.dtype).min
        logits_old = jnp.where(mask, logits_old, low)
        logits_new = jnp.where(mask, logits_new, low)
    logp_old = jax.nn.log_softmax(logits_old, axis=-1)
    logp_new = jax.nn.log_softmax(logits_new, axis=-1)
    terms = jnp.exp(logp_old) * (logp_old - logp_new)
    if mask is not None:
        terms = jnp.where(mask, terms, 0.0)
    return jnp.sum(terms, axis=-1)


def gaussian_kl(mean_old, log_std_old, mean_new, log_std_new, mask=None):
    """KL(N_old || N_new) of two diagonal Gaussians [..., A], summed over the dimensions where
    `mask` is True: log(s_new / s_old) + (s_old^2 + (m_old - m_new)^2) / (2 s_new^2) - 1/2.
    Returns [...]."""
    terms = (
        log_std_new
        - log_std_old
        + (jnp.exp(2 * log_std_old) + (mean_old - mean_new) ** 2) / (2 * jnp.exp(2 * log_std_new))
        - 0.5
    )
    if mask is not None:
        terms = jnp.where(mask, terms, 0.0)
    return jnp.sum(terms, axis=-1)


def adapt_kl_coef(coef, kl, target):
    """RLlib's adaptive KL coefficient after an update whose measured KL is `kl`: x1.5 when
    kl > 2 * target, x0.5 when kl < target / 2, unchanged otherwise."""
    grown = jnp.where(kl > 2.0 * target, coef * 1.5, coef)
    return jnp.where(kl < 0.5 * target, coef * 0.5, grown)


def moments(x, axes=None, axis_name=None):
    """Mean and population variance of x over `axes` (None: all), with the moments averaged by
    jax.lax.pmean over the mapped axis `axis_name` (devices, equal shards) when given:
        m = pmean(mean(x)),  var = pmean(mean((x - m) ** 2))."""
    m = jnp.mean(x, axis=axes)
    if axis_name is not None:
        m = jax.lax.pmean(m, axis_name)
    var = jnp.mean((x - m) ** 2, axis=axes)
    if axis_name is not None:
        var = jax.lax.pmean(var, axis_name)
    return m, var


def normalize_advantages(adv, per_agent=False, axis_name=None, eps=1e-8):
    """Advantage normalization (adv - mean) / (std + eps), as in PPO/MAPPO implementations.

    Jointly over all entries, or with `per_agent` per agent: statistics over every axis but the
    last, which is the agent axis. With `axis_name`, every device normalizes with the statistics
    of the whole batch (`moments`). The std is the population (biased) standard deviation."""
    m, var = moments(adv, tuple(range(adv.ndim - 1)) if per_agent else None, axis_name)
    return (adv - m) / (jnp.sqrt(var) + eps)


class ValueNorm(NamedTuple):
    """MAPPO's running normalization of value targets (Yu et al. 2022, section 4.1): debiased
    exponential moving averages of the mean and the mean square (beta = 0.99999); the variance
    is clamped at >= 1e-2 and the debias term at >= 1e-5.

    The critic is trained on normalized targets (`normalize`) and its outputs are mapped back to
    returns with `denormalize` when computing advantages."""

    mean: jax.Array
    mean_sq: jax.Array
    debias: jax.Array

    @staticmethod
    def create() -> ValueNorm:
        """All statistics zero (float32 scalars)."""
        z = jnp.zeros((), jnp.float32)
        return ValueNorm(z, z, z)

    def stats(self) -> tuple[jax.Array, jax.Array]:
        """(mean, std) of the debiased EMAs: d = max(debias, 1e-5), mean = self.mean / d,
        var = max(self.mean_sq / d - mean ** 2, 1e-2), std = sqrt(var)."""
        d = jnp.maximum(self.debias, 1e-5)
        mean = self.mean / d
        var = jnp.maximum(self.mean_sq / d - mean**2, 1e-2)
        return mean, jnp.sqrt(var)

    def update(self, x, beta: float = 0.99999, axis_name=None) -> ValueNorm:
        """One EMA step on the batch x: m = mean(x), m2 = mean(x ** 2) (each pmean'ed over
        `axis_name` when given); mean <- beta * mean + (1 - beta) * m, mean_sq likewise with m2,
        debias <- beta * debias + (1 - beta)."""
        m = jnp.mean(x)
        m2 = jnp.mean(x**2)
        if axis_name is not None:
            m = jax.lax.pmean(m, axis_name)
            m2 = jax.lax.pmean(m2, axis_name)
        return ValueNorm(
            beta * self.mean + (1 - beta) * m,
            beta * self.mean_sq + (1 - beta) * m2,
            beta * self.debias + (1 - beta),
        )

    def normalize(self, x):
        """(x - mean) / std with `stats()`."""
        mean, std = self.stats()
        return (x - mean) / std

    def denormalize(self, x):
        """x * std + mean with `stats()`: the inverse of `normalize`."""
        mean, std = self.stats()
        return x * std + mean
