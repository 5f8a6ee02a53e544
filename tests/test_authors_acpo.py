"""ACPO's beliefs as the authors ran them (docs/acpo.md §8): probability vectors from the
policy's own chain (`acpo.belief=soft`) or from a separate belief network (`acpo.belief=net`)
with its own optimizer, trained towards the predecessors' policy distributions."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import tiny_config
from test_train import _assert_same_rows, _rows

from acjax.belief import (
    belief_chain,
    belief_chain_square,
    empty_prefix,
    policy_inputs,
    split_inputs,
)
from acjax.config import ConfigError, load_config
from acjax.harness import make_trainer
from acjax.run import train
from acjax.runner import AXIS

WORLD = ("env=rware-tiny-4ag", "devices=1")


def test_soft_beliefs_are_the_predicted_probability_vectors():
    tr = make_trainer(tiny_config("algo=acpo", "acpo.belief=soft", *WORLD))
    learner, _ = tr.init()
    params = jax.tree.map(lambda x: x[0], learner.params["actor"])
    n, o, a = 4, tr.spec.obs_dim, tr.spec.num_actions
    obs = jax.random.normal(jax.random.PRNGKey(0), (5, n, o))
    mask = jnp.ones((5, n, a), bool)
    h, reset, key = jnp.zeros((5, n, 0)), jnp.zeros((5,), bool), jax.random.PRNGKey(1)
    step = tr.actor.step(params)
    _, _, x, _ = belief_chain(step, tr.head, obs, mask, h, reset, key, "soft")
    _, _, x_sq, _ = belief_chain_square(step, tr.head, obs, mask, h, reset, key, "soft")
    np.testing.assert_allclose(x, x_sq, atol=1e-5)
    prefix = split_inputs(x, n, a)[2]  # [5, N(i), N-1, A]
    # agent 3 by hand: slot j = pi(. | o_3, id=j, its slots < j)
    slots = empty_prefix((5,), n, a)
    for j in range(n - 1):
        xi = policy_inputs(obs[:, 3], jnp.broadcast_to(jax.nn.one_hot(j, n), (5, n)), slots)
        probs = jax.nn.softmax(tr.actor.apply(params, h[:, 3], xi, reset)[1], axis=-1)
        np.testing.assert_allclose(prefix[:, 3, j], probs, atol=1e-5)
        slots = slots.at[:, j].set(probs)
    assert np.allclose(prefix.sum(-1), np.tril(np.ones((n, n - 1)), -1)[None], atol=1e-5)


def cfg_args():
    return ("algo=acpo", "acpo.belief=net", "acpo.critic_prefix=predicted", *WORLD)


def test_the_belief_network_gives_the_stored_beliefs_and_its_loss_falls():
    tr = make_trainer(tiny_config(*cfg_args()))
    learner, runner = tr.init()
    assert set(learner.params) == {"actor", "critic", "belief"}
    traj = jax.jit(jax.vmap(lambda ln, r: tr.rollout(ln.params, r, ln.key)[1], axis_name=AXIS))(
        learner, runner
    )
    params = jax.tree.map(lambda x: x[0], learner.params)
    traj = jax.tree.map(lambda x: x[0], traj)
    acting = tr.algo.acting
    n, a = tr.spec.num_agents, tr.spec.num_actions
    stored = split_inputs(traj.actor_in, n, a)[2]  # what each agent acted on
    again = acting.beliefs(params["belief"], traj.obs, traj.mask)  # at update time
    np.testing.assert_allclose(stored, again, atol=1e-6)
    lower = np.tril(np.ones((n, n - 1)), -1)  # agent i holds a belief about every j < i
    # B's logits with its first layer split by input block equal B on the joined inputs
    i, j = acting.pairs
    o = traj.obs[..., i, :]
    eye = jnp.eye(n)
    x = jnp.concatenate([o, jnp.broadcast_to(eye[i], (*o.shape[:-1], n)),
                         jnp.broadcast_to(eye[j], (*o.shape[:-1], n))], axis=-1)  # fmt: skip
    whole = acting.net.apply(params["belief"], jnp.zeros((*x.shape[:-1], 0)), x, False)[1]
    np.testing.assert_allclose(acting.logits(params["belief"], traj.obs), whole, atol=1e-5)
    total = np.asarray(stored).sum(-1)
    np.testing.assert_allclose(total, np.broadcast_to(lower, total.shape), atol=1e-5)

    z = jnp.zeros(traj.logp.shape)
    batch = tr.chunks(traj, z, z, z, jnp.zeros((*traj.logp.shape, 0)))
    ctx = tr.context()
    batch = tr.behaviour_outputs(ctx, params, batch)  # the belief network's targets
    # ... are the distributions the agents acted with: their log-probabilities of the actions
    behaviour = ctx.head.dist(batch.old_out, batch.mask)
    np.testing.assert_allclose(behaviour.log_prob(batch.action), batch.logp, atol=1e-5)

    def loss(b):
        return acting.param_losses(ctx, dict(params, belief=b), batch)["belief_loss"]

    opt = optax.adam(1e-2)
    b, state = params["belief"], opt.init(params["belief"])
    first = float(loss(b))
    grad = jax.jit(jax.value_and_grad(loss))
    for _ in range(30):
        _, g = grad(b)
        u, state = opt.update(g, state)
        b = optax.apply_updates(b, u)
    # the cross-entropy's floor: the entropy of the predecessors' distributions, over the pairs
    ent = jnp.mean(behaviour.entropy().reshape(-1, n), axis=0)  # [N(j)]
    pairs = jnp.arange(n - 1, -1, -1)  # agent j is predicted by the N - 1 - j agents after it
    floor = float(jnp.sum(ent * pairs) / jnp.sum(pairs))
    assert first - floor > 0.05
    assert float(loss(b)) - floor < 0.1 * (first - floor)


def test_vmapped_seeds_with_a_belief_network_equal_the_runs_one_by_one(tmp_path):
    base = (*cfg_args()[:3], "env=rware-tiny-2ag", "updates_per_call=4", "total_timesteps=256")
    train(tiny_config(*base, "num_seeds=2", "seed=5", "split=envs", tmp_path=tmp_path / "two"))
    train(tiny_config(*base, "num_seeds=1", "seed=6", tmp_path=tmp_path / "one"))
    two = [r for r in _rows(tmp_path / "two") if r["seed"] == 6]
    one = _rows(tmp_path / "one")
    assert len(one) == 4 and all(np.isfinite(r["belief_loss"]) for r in one)
    _assert_same_rows(two, one)


@pytest.mark.parametrize("belief", ["soft", "net"])
def test_probability_beliefs_on_continuous_actions_are_one_line_errors(belief):
    over = ["env=matrix-continuous", "algo=acpo", f"acpo.belief={belief}"]
    with pytest.raises(ConfigError, match=r"^config key 'acpo.belief': .* continuous ones$"):
        load_config(None, over)


def test_unknown_belief_is_a_one_line_error():
    with pytest.raises(
        ConfigError,
        match=r"^config key 'acpo.belief': expected sample, mode, none, soft or net, got 'guess'$",
    ):
        load_config(None, ["acpo.belief=guess"])
