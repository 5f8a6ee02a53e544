"""Policies for every world: Gaussian heads, per-agent sizes, GRU memories, ACPO's pieces with
continuous actions and its auxiliary loss."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config
from worlds import ACTION_SIZES, HeteroWorld

from acjax.algos.acpo import BeliefChain, ChainedCritic
from acjax.belief import belief_chain, policy_inputs, split_inputs
from acjax.harness import make_trainer
from acjax.nets import GaussianHead, MaskedDiagGaussian, Net, unroll
from acjax.runner import AXIS


def one_device(cfg, env=None):
    return make_trainer(cfg, devices=jax.devices()[:1], env=env)


# ---------------------------------------------------------------------- Gaussian heads
def test_masked_gaussian_matches_distrax_on_true_dimensions():
    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    sizes = np.array([1, 3, 2])
    mask = jnp.arange(3)[None, :] < sizes[:, None]  # [N, A]
    mean = jax.random.normal(ks[0], (5, 3, 3))
    log_std = jax.random.normal(ks[1], (3, 3)) * 0.3
    action = jax.random.normal(ks[2], (5, 3, 3))
    dist = MaskedDiagGaussian(mean, jnp.broadcast_to(log_std, mean.shape), mask)
    logp, ent = np.asarray(dist.log_prob(action)), np.asarray(dist.entropy())
    for i, a in enumerate(sizes):
        ref = distrax.MultivariateNormalDiag(mean[:, i, :a], jnp.exp(log_std[i, :a]))
        np.testing.assert_allclose(logp[:, i], ref.log_prob(action[:, i, :a]), rtol=1e-5)
        np.testing.assert_allclose(ent[:, i], np.broadcast_to(ref.entropy(), (5,)), rtol=1e-5)
    # padded dimensions enter neither: changing them changes nothing
    pad = ~np.asarray(mask)
    other = MaskedDiagGaussian(
        jnp.where(pad, 7.0, mean), jnp.where(pad, 3.0, jnp.broadcast_to(log_std, mean.shape)), mask
    )
    np.testing.assert_allclose(other.log_prob(jnp.where(pad, -9.0, action)), logp, rtol=1e-6)
    np.testing.assert_allclose(other.entropy(), ent, rtol=1e-6)
    sample = np.asarray(dist.sample(seed=ks[3]))
    assert (sample[:, pad] == 0).all() and (sample[:, ~pad] != 0).all()
    np.testing.assert_array_equal(np.asarray(dist.mode())[:, pad], 0.0)


def test_heads_draw_from_given_noise_exactly_as_distrax_samples():
    """The belief chain draws its noise for a whole step at once (`head.noise`) and samples
    with `head.draw`: the same actions as `dist.sample(seed=key)`, bit for bit."""
    from acjax.nets import CategoricalHead

    ks = jax.random.split(jax.random.PRNGKey(3), 4)
    batch = (64, 3)
    cat = CategoricalHead(5)
    logits = 4.0 * jax.random.normal(ks[0], (*batch, 5))
    mask = jax.random.uniform(ks[1], (*batch, 5)) < 0.7
    mask = mask.at[..., 0].set(True)
    gauss = GaussianHead(3, -1.0, 1.0)
    out = jax.random.normal(ks[2], (*batch, 6))
    gmask = jnp.arange(3) < 2
    for head, dist in ((cat, cat.dist(logits, mask)), (gauss, gauss.dist(out, gmask))):
        for key in jax.random.split(ks[3], 5):
            drawn = head.draw(dist, head.noise(key, batch))
            np.testing.assert_array_equal(drawn, dist.sample(seed=key))
    # the categorical draw never picks a masked action
    drawn = jax.vmap(lambda k: cat.draw(cat.dist(logits, mask), cat.noise(k, batch)))(
        jax.random.split(ks[0], 50)
    )
    assert bool(jnp.take_along_axis(mask[None], drawn[..., None], -1).all())


def test_gaussian_head_clips_only_what_the_world_receives():
    head = GaussianHead(3, -1.0, 1.0)
    a = jnp.array([[2.5, -0.3, -4.0], [0.2, 9.0, 1.5]])
    mask = jnp.array([[True, True, True], [True, False, False]])
    np.testing.assert_allclose(head.to_env(a, mask), [[1.0, -0.3, -1.0], [0.2, 0.0, 0.0]])
    np.testing.assert_allclose(head.encode(a)[0], [1.0, 1.0, -0.3, -1.0])  # present + clipped


@pytest.mark.parametrize("algo", ["mappo", "acpo"])
def test_agents_of_different_sizes_train_and_padding_never_reaches_the_world(algo):
    # long episodes: the world's counters see every action of the run
    world = HeteroWorld(max_steps=10**6)
    cfg = tiny_config(f"algo={algo}", "net.log_std_init=1.0", "num_seeds=2")
    trainer = make_trainer(cfg, env=world)
    learner, runner = trainer.init()
    fn = trainer.compile(learner, runner, 2)
    for _ in range(2):
        learner, runner, m = fn(learner, runner)
        for k in ("actor_loss", "value_loss", "grad_norm", "entropy", "aux_loss"):
            assert np.isfinite(m[k]).all(), k
    state = runner.env_state.inner.env_state
    assert int(np.asarray(state.t).min()) == 4 * cfg.ppo.rollout_len
    assert float(np.max(state.max_padded)) == 0.0  # no padded dimension reached the world
    assert 0.99 < float(np.max(state.max_abs)) <= 1.0  # clipped into the bounds (std e^1)


def test_stored_actions_stay_unclipped_and_padded_dimensions_zero():
    cfg = tiny_config("algo=mappo", "net.log_std_init=1.0")
    trainer = one_device(cfg, HeteroWorld())
    learner, runner = trainer.init()
    traj = jax.vmap(lambda ln, r: trainer.rollout(ln.params, r, ln.key)[1], axis_name=AXIS)(
        learner, runner
    )
    act, mask = np.asarray(traj.action), np.asarray(traj.mask)
    assert np.abs(act[mask]).max() > 1.5 and (act[~mask] == 0).all()
    np.testing.assert_array_equal(
        mask[0, 0, 0], np.arange(3)[None, :] < np.array(ACTION_SIZES)[:, None]
    )


# ---------------------------------------------------------------------- ACPO, continuous
def linear_policy(n, a, d, seed=0):
    """Agent i's Gaussian policy: a fixed random linear map of its input (no memory)."""
    w = jax.random.normal(jax.random.PRNGKey(seed), (d, a)) * 0.3

    def step(h, x, reset):
        return h, jnp.concatenate([x @ w, jnp.full((*x.shape[:-1], a), -1.0)], axis=-1)

    return step


@pytest.mark.parametrize("mode", ["sample", "mode"])
def test_continuous_belief_chain_fills_present_slots_with_clipped_vectors(mode):
    n, a, obs_dim = 3, 2, 4
    head = GaussianHead(a, -0.5, 0.5)
    d = obs_dim + n + (n - 1) * head.slot_dim
    policy = linear_policy(n, a, d)
    obs = jax.random.normal(jax.random.PRNGKey(1), (64, n, obs_dim)) * 3
    mask = jnp.ones((64, n, a), bool).at[:, 0, 1].set(False)  # agent 0 has one dimension
    h = jnp.zeros((64, n, 0))
    actions, logp, x, _ = belief_chain(
        policy, head, obs, mask, h, False, jax.random.PRNGKey(2), mode
    )
    _, ids, prefix = split_inputs(x, n, head.slot_dim)  # [64, N(i), N-1, 1 + A]
    prefix = np.asarray(prefix)
    for i in range(n):
        np.testing.assert_array_equal(prefix[:, i, :i, 0], 1.0)  # present
        np.testing.assert_array_equal(prefix[:, i, i:], 0.0)  # absent
    assert np.abs(prefix[..., 1:]).max() <= 0.5 and np.abs(prefix[..., 1:]).max() == 0.5
    np.testing.assert_array_equal(prefix[:, 1:, 0, 2], 0.0)  # agent 0's padded dimension
    np.testing.assert_array_equal(np.asarray(actions)[:, 0, 1], 0.0)
    if mode == "mode":  # agent 2's prediction of agent 0 is the clipped mean for id=0
        x0 = policy_inputs(obs[:, 2], jax.nn.one_hot(jnp.zeros(64, int), n), prefix[:, 2] * 0)
        mean0 = np.clip(np.asarray(policy(None, x0, False)[1][:, :a]), -0.5, 0.5)
        np.testing.assert_allclose(prefix[:, 2, 0, 1], mean0[:, 0], rtol=1e-5)
    # the stored log-probability is the agent's own action's under its own input
    out = policy(None, x, False)[1]
    np.testing.assert_allclose(head.dist(out, mask).log_prob(actions), logp, rtol=1e-5)


def test_chained_critic_sees_the_actual_earlier_action_vectors():
    n, a = 3, 2
    head = GaussianHead(a, -1.0, 1.0)
    critic = ChainedCritic(n, head)
    actions = jnp.array([[[0.3, 0.0], [-2.0, 0.7], [0.1, 0.2]]])  # agent 0: one dimension
    x = critic.inputs(jnp.zeros((1, n, 2)), jnp.ones((1, 5)), actions, None)
    _, ids, prefix = split_inputs(x, n, head.slot_dim)
    np.testing.assert_array_equal(ids[0], np.eye(n))
    expected = np.zeros((n, n - 1, 1 + a))
    expected[1, 0] = expected[2, 0] = [1.0, 0.3, 0.0]
    expected[2, 1] = [1.0, -1.0, 0.7]  # clipped
    np.testing.assert_allclose(prefix[0], expected)


# ---------------------------------------------------------------------- ACPO's auxiliary loss
def test_aux_loss_trains_each_agent_on_the_earlier_agents_only():
    """Against a plain loop over the pairs (i, j): agent i predicts a_j for every j < i."""
    n, a, obs_dim, b = 4, 3, 2, 6
    from acjax.nets import CategoricalHead

    head = CategoricalHead(a)
    acting = BeliefChain(n, head.slot_dim, aux_coef=1.0)
    d = obs_dim + n + (n - 1) * a
    ws = jax.random.normal(jax.random.PRNGKey(0), (n, d, a))  # agent i's logits x @ ws[i]
    ks = jax.random.split(jax.random.PRNGKey(1), 3)
    obs = jax.random.normal(ks[0], (b, 1, n, obs_dim))
    actions = jax.random.randint(ks[1], (b, 1, n), 0, a)
    pred = jax.nn.one_hot(jax.random.randint(ks[2], (b, 1, n, n - 1), 0, a), a)
    pred = pred * (jnp.arange(n - 1)[None, :] < jnp.arange(n)[:, None])[..., None]
    x = policy_inputs(obs, jnp.broadcast_to(jnp.eye(n), (b, 1, n, n)), pred)

    class B:  # the fields the loss reads
        actor_in, action, mask = x, actions, jnp.ones((b, 1, n, a), bool)

    def policy_out(inp):  # agent i's network on row i (axis -2)
        return jnp.einsum("...id,ida->...ia", inp, ws)

    got = float(acting.aux_loss(policy_out, head, B))
    x_np, w_np, act = np.asarray(x, np.float64), np.asarray(ws, np.float64), np.asarray(actions)
    pairs = []
    for i in range(n):
        for j in range(i):
            inp = x_np[:, 0, i].copy()
            inp[:, obs_dim : obs_dim + n] = np.eye(n)[j]
            slots = inp[:, obs_dim + n :].reshape(b, n - 1, a)
            slots[:, j:] = 0.0
            inp[:, obs_dim + n :] = slots.reshape(b, -1)
            logits = inp @ w_np[i]
            logz = np.log(np.exp(logits).sum(-1))
            pairs.append(np.mean(logz - logits[np.arange(b), act[:, 0, j]]))
    np.testing.assert_allclose(got, np.mean(pairs), rtol=1e-5)
    # agent 0 predicts nobody: its network gets no gradient; the last agent's does
    g = jax.grad(
        lambda w: acting.aux_loss(lambda i: jnp.einsum("...id,ida->...ia", i, w), head, B)
    )(ws)
    assert float(jnp.abs(g[0]).max()) == 0.0 and float(jnp.abs(g[n - 1]).max()) > 0.0


# ---------------------------------------------------------------------- GRU memories
def test_gru_memory_resets_where_an_episode_starts():
    net = Net((8,), 3, 1.0, rnn_hidden=5)
    d = 4
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((5,)), jnp.zeros((d,)), jnp.bool_(0))
    step = lambda h, x, r: net.apply(params, h, x, r)  # noqa: E731
    xs = jax.random.normal(jax.random.PRNGKey(1), (6, 2, d))
    h0 = jax.random.normal(jax.random.PRNGKey(2), (2, 5))
    resets = jnp.zeros((6, 2), bool).at[3, 0].set(True)  # env 0's episode starts at t=3
    out, h_in, _ = unroll(step, h0, xs, resets)
    fresh, _, _ = unroll(step, jnp.zeros((2, 5)), xs[3:], jnp.zeros((3, 2), bool))
    np.testing.assert_allclose(out[3:, 0], fresh[:, 0], rtol=1e-6)  # nothing crosses the start
    assert not np.allclose(out[3:, 1], fresh[:, 1])  # env 1 keeps its memory
    other, _, _ = unroll(step, h0 * 2, xs, resets)
    assert not np.allclose(out[:3, 0], other[:3, 0])  # the memory matters before the start
    np.testing.assert_allclose(h_in[0], h0)


@pytest.mark.parametrize(
    "algo, world",  # the world of unequal agents with ACPO: make test-slow
    [("acpo", None), pytest.param("acpo", "hetero", marks=pytest.mark.slow), ("happo", "hetero")],
)
def test_stored_chunk_start_memories_reproduce_the_rollout_log_probs(algo, world):
    env = HeteroWorld() if world else None  # 5-step episodes: ends fall inside the 4-step chunks
    over = ["net.rnn=gru", "net.rnn_hidden=8", "ppo.chunk_len=4", "ppo.rollout_len=16"]
    # on the test world: per-agent networks (ACPO's auxiliary loss runs on GRU memories)
    extra = ["net.share_params=false"] if world else ["env=jumanji-rware-tiny-2ag"]
    trainer = one_device(tiny_config(f"algo={algo}", *over, *extra), env)
    learner, runner = trainer.init()

    def replay(learner, runner):
        _, traj, _ = trainer.rollout(learner.params, runner, learner.key)
        z = jnp.zeros(traj.logp.shape)
        critic_h = jnp.zeros((*traj.logp.shape, trainer.critic.hidden_dim))
        batch = trainer.chunks(traj, z, z, z, critic_h)
        out, _ = trainer.context().actor_outputs(trainer.actor.step(learner.params["actor"]), batch)
        return batch, trainer.head.dist(out, batch.mask).log_prob(batch.action)

    for _ in range(2):  # the second rollout starts from carried, non-zero memories
        batch, logp = jax.jit(jax.vmap(replay, axis_name=AXIS))(learner, runner)
        np.testing.assert_allclose(logp, batch.logp, rtol=1e-5, atol=1e-5)
        learner, runner, m = trainer.compile(learner, runner, 1)(learner, runner)
        assert all(np.isfinite(np.asarray(v)).all() for k, v in m.items() if k != "episode_return")
        if world and algo == "acpo":
            assert float(np.min(m["aux_loss"])) > 0
    first = np.asarray(batch.first)  # [seeds, C, L]
    if world:
        assert first[..., 1:].any()  # an episode started inside a chunk
    assert np.abs(np.asarray(batch.actor_h0)).max() > 0  # memories were carried


def test_critic_multiplies_the_global_state_once_and_equals_the_whole_product():
    """`PPOContext.critic_values` and `PPOContext.bootstrap_values` feed the first layer
    W_s s + W_a x_i + b (the global state's product once per state,
    `BoundStep.pre_activation`): the values of the concatenated inputs, to float32 rounding,
    for MAPPO's and ACPO's critics; IPPO's local view has no shared block."""
    from acjax.config import load_config
    from acjax.nets import unroll

    for algo, split in (("mappo", True), ("acpo", True), ("ippo", False)):
        tr = make_trainer(
            load_config(None, ["env=jumanji-rware-tiny-4ag", f"algo={algo}", "devices=1"])
        )
        ks = jax.random.split(jax.random.PRNGKey(0), 3)
        t, e, n = 4, 3, tr.spec.num_agents
        obs = jax.random.normal(ks[0], (t, e, n, tr.spec.obs_dim))
        state = jax.random.normal(ks[1], (t, e, tr.spec.state_dim))
        act = jax.random.randint(ks[2], (t, e, n), 0, tr.spec.num_actions)
        actor_in, first = tr.algo.acting.inputs(obs), jnp.zeros((t, e), bool)
        d = tr.algo.critic.inputs(obs, state, act, actor_in).shape[-1]
        p = jax.tree.map(lambda w: 3.0 * w, tr.critic.init(jax.random.PRNGKey(1), d))
        h0 = tr.critic.initial_hidden((e,))
        parts = tr.algo.critic.input_parts(obs, state, act, actor_in)
        assert (tr.critic.step(p).pre_activation(*parts) is not None) == split, algo
        v = tr.context().critic_values(p, h0, obs, state, act, actor_in, first)[0]
        x = tr.algo.critic.inputs(obs, state, act, actor_in)
        ref = unroll(tr.critic.step(p), h0, x, first)[0][..., 0]
        np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-5, err_msg=algo)
        k = tr.algo.critic.bootstrap_agent  # and the values of the states after each step
        h = h0 if k is None else h0[..., k, :]
        boot = tr.context().bootstrap_values(p, h, obs[0], state[0])
        x = tr.algo.critic.bootstrap_inputs(obs[0], state[0])
        ref = tr.critic.apply(p, h, x, False, k)[1][..., 0]
        np.testing.assert_allclose(boot, ref, rtol=1e-5, atol=1e-5, err_msg=f"{algo} bootstrap")
