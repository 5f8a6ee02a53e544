"""ACPO: belief chain properties and short training runs of acpo / acpo_nochain."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from acjax.belief import belief_chain, split_inputs
from acjax.nets import CategoricalHead, Net
from acjax.run import train

A = 5


def random_policy(n, seed=0):
    net = Net((32,), A, 1.0)
    d = 3 + n + (n - 1) * A
    params = net.init(jax.random.PRNGKey(seed), jnp.zeros((0,)), jnp.zeros((d,)), jnp.bool_(0))
    return lambda h, x, r: (h, 3.0 * net.apply(params, h, x, r)[1])


def chain(policy, obs, mask, key, mode="sample"):
    """The belief chain of a feed-forward policy (no memory): (actions, log_probs, inputs)."""
    h = jnp.zeros((*obs.shape[:-1], 0))
    actions, logp, x, _ = belief_chain(policy, CategoricalHead(A), obs, mask, h, False, key, mode)
    return actions, logp, x


def random_mask(key, shape):
    mask = jax.random.bernoulli(key, 0.5, shape)
    return mask.at[..., 0].set(mask[..., 0] | ~mask.any(-1))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 12])
def test_belief_chain_shapes_and_empty_prefix_of_agent_zero(n):
    obs = jax.random.normal(jax.random.PRNGKey(1), (7, n, 3))
    mask = jnp.ones((7, n, A), bool)
    actions, logp, x = jax.jit(lambda o, m, k: chain(random_policy(n), o, m, k))(
        obs, mask, jax.random.PRNGKey(2)
    )
    assert (
        actions.shape == (7, n) and logp.shape == (7, n) and x.shape == (7, n, 3 + n + (n - 1) * A)
    )
    o, ids, prefix = split_inputs(x, n, A)
    np.testing.assert_array_equal(o, obs)
    np.testing.assert_array_equal(ids, np.broadcast_to(np.eye(n), (7, n, n)))
    np.testing.assert_array_equal(prefix[:, 0], 0.0)  # agent 0 predicts nobody
    for i in range(n):  # agent i fills exactly slots 0..i-1, each one-hot
        np.testing.assert_array_equal(prefix[:, i, :i].sum(-1), 1.0)
        np.testing.assert_array_equal(prefix[:, i, i:], 0.0)
    assert np.all(np.asarray(logp) <= 0)


def test_agent_depends_only_on_its_own_observation_and_key():
    n = 4
    fn = jax.jit(lambda o, m, k: chain(random_policy(n), o, m, k))
    obs = jax.random.normal(jax.random.PRNGKey(3), (64, n, 3))
    mask = jnp.ones((64, n, A), bool)
    key = jax.random.PRNGKey(4)
    a1, lp1, x1 = fn(obs, mask, key)
    for i in range(n):
        other = obs.at[:, [j for j in range(n) if j != i]].add(5.0)
        a2, lp2, x2 = fn(other, mask, key)
        np.testing.assert_array_equal(a1[:, i], a2[:, i])
        np.testing.assert_allclose(lp1[:, i], lp2[:, i], rtol=1e-6)
        np.testing.assert_array_equal(x1[:, i, 3:], x2[:, i, 3:])  # same predicted prefix
    # the prefix is predicted: it is not the earlier agents' actual actions in general
    _, _, prefix = split_inputs(x1, n, A)
    actual = jax.nn.one_hot(a1[:, 0], A)
    assert not np.array_equal(np.asarray(prefix[:, 1, 0]), np.asarray(actual))


@pytest.mark.parametrize("mode", ["sample", "mode", "none"])
def test_masked_actions_never_taken(mode):
    n = 3
    fn = jax.jit(lambda o, m, k: chain(random_policy(n), o, m, k, mode))
    obs = jax.random.normal(jax.random.PRNGKey(5), (512, n, 3))
    mask = random_mask(jax.random.PRNGKey(6), (512, n, A))
    actions, _, x = fn(obs, mask, jax.random.PRNGKey(7))
    taken = np.take_along_axis(np.asarray(mask), np.asarray(actions)[..., None], -1)
    assert taken.all()
    prefix = np.asarray(split_inputs(x, n, A)[2])
    if mode == "none":
        assert (prefix == 0).all()
    else:
        assert prefix[:, 2, :2].sum() == 2 * 512


@pytest.mark.parametrize(
    "algo, share",  # unshared networks without the chain: make test-slow
    [("acpo", "true"), ("acpo", "false"), ("acpo_nochain", "true"),
     pytest.param("acpo_nochain", "false", marks=pytest.mark.slow)],
)  # fmt: skip
def test_short_acpo_runs(algo, share, tmp_path):
    cfg = tiny_config(
        f"algo={algo}", f"net.share_params={share}", "env=jumanji-rware-tiny-4ag", tmp_path=tmp_path
    )
    summary = train(cfg)
    assert summary["algo"] == algo and summary["env_steps"] == 256
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    for r in rows:
        assert np.isfinite([r["actor_loss"], r["value_loss"], r["grad_norm"], r["aux_loss"]]).all()
        # sampled predictions of 5 actions match the sampled actual ones sometimes, not always
        assert 0.05 < r["pred_match"] < 0.95
        assert r["adv_var"] > 0 and np.isfinite(r["adv_var_ratio"])
        # the chained critic's value moves with a counterfactual prefix; MAPPO's critic has none
        assert r["prefix_sens"] > 0 if algo == "acpo" else "prefix_sens" not in r
    aux = [r["aux_loss"] for r in rows]
    if algo == "acpo" and share == "true":  # the same run with the prefix its chain predicted
        cfg = tiny_config(
            "algo=acpo", "acpo.belief=none", "acpo.critic_prefix=predicted",
            "env=jumanji-rware-tiny-4ag", tmp_path=tmp_path / "predicted",
        )  # fmt: skip
        train(cfg)
        lines = (tmp_path / "predicted/metrics.jsonl").read_text().splitlines()
        rows = [json.loads(x) for x in lines]
        # without beliefs every prefix is empty, so a counterfactual one changes nothing
        assert [r["prefix_sens"] for r in rows] == [0.0] * 4
    if algo == "acpo" and share == "false":
        assert min(aux) > 0  # the prediction loss trains unshared networks
    elif share == "true":
        assert max(aux) == 0


def test_prediction_match_counts_earlier_agents_predicted_right():
    from acjax.algos.acpo import prediction_match
    from acjax.belief import policy_inputs

    head, n = CategoricalHead(3), 3
    actions = jnp.array([[2, 0, 1], [1, 1, 0]])  # [batch, N]
    enc = head.encode(actions)  # [B, N, 3]
    # agent i's slots hold the actual a_j for j < i: a perfect chain
    lower = (jnp.arange(n - 1)[None, :] < jnp.arange(n)[:, None])[None, :, :, None]
    prefix = jnp.broadcast_to(enc[:, None, : n - 1, :], (2, n, n - 1, 3)) * lower
    obs, ids = jnp.zeros((2, n, 4)), jnp.broadcast_to(jnp.eye(n), (2, n, n))
    assert float(prediction_match(policy_inputs(obs, ids, prefix), actions, head, n)) == 1.0
    # agent 2 mispredicts agent 0 in the first sample: 1 of the 2 x 3 pairs (j < i) is wrong
    wrong = prefix.at[0, 2, 0].set(head.encode(jnp.array(0)))
    match = prediction_match(policy_inputs(obs, ids, wrong), actions, head, n)
    assert float(match) == pytest.approx(5 / 6)


MODES = (("sample", False), ("sample", True), ("mode", False), ("none", False))
CHAIN_OUT = ("actions", "logp", "inputs", "memories")


def _both_chains(net, modes, head, params, obs, mask, hidden, reset, keys):
    """[(the shared-projection chain, the chain before it, triangular with whole networks,
    square reference)] for every (mode, belief_mask), vmapped over keys."""
    from chain_reference import belief_chain_before

    from acjax.belief import belief_chain_square

    args = (net.step(params), head, obs, mask, hidden, reset)
    three = lambda k, m, b: (  # noqa: E731
        belief_chain(*args, k, m, b),
        belief_chain_before(*args, k, m, b),
        belief_chain(*args, k, m, b, factor_first=False),
        belief_chain_square(*args, k, m, b),
    )
    return [jax.vmap(lambda k, m=m, b=b: three(k, m, b))(keys) for m, b in modes]


# two of the eight combinations in make test (about 12 s each), all of them in make test-slow
_FAST = {(8, False, False), (0, True, True)}
_CHAINS = [
    pytest.param(
        rnn, share, cont,
        id=f"{'gru' if rnn else 'mlp'}-{'shared' if share else 'per-agent'}-"
        f"{'gaussian' if cont else 'categorical'}",
        marks=() if (rnn, share, cont) in _FAST else pytest.mark.slow,
    )
    for rnn in (0, 8) for share in (False, True) for cont in (False, True)
]  # fmt: skip


@pytest.mark.parametrize("rnn, share, continuous", _CHAINS)
def test_triangular_chain_equals_the_square_reference(rnn, share, continuous):
    """The triangular schedule (agents j..N-1 at micro-step j) against the reference that
    evaluates every agent at every micro-step, same keys, every mode: the rows it evaluates see
    the same inputs and parameters, and every draw is made over all N rows with the same keys,
    so discrete actions and the stored inputs built from them are equal bit for bit. Floats
    computed by the network may differ in the last bits: it runs on N - j rows instead of N,
    and XLA:CPU picks the matrix product's kernel and blocking, and the vectorization of fused
    element-wise maths, by the shape; so log-probabilities, memories and Gaussian actions (and
    the Gaussian predictions in the inputs, which carry such differences along the chain)
    agree to float32 rounding.

    The chain before the shared projections (tests/chain_reference.py) splits the first layer's
    product by input block (`FirstLayer`): the
    same maths summed in another order. Discrete actions and inputs stay equal; floats agree to
    rounding, except that a Gaussian chain feeds each rounding difference into the next agents'
    inputs, where these 3x-scaled networks amplify it along 12 agents (tolerance 5e-3 there; a
    missing or misplaced block changes the outputs by O(1)).

    The default chain (`acjax.belief._shared_chain`: each agent's observation projection and a
    GRU's memory side computed once per step, `acjax.chain_net.ChainNet`) against that chain
    before it: `_same_as_before`."""
    from acjax.nets import AgentNet, GaussianHead

    head = GaussianHead(2, -1.0, 1.0) if continuous else CategoricalHead(A)
    kw = dict(log_std_dim=2) if continuous else {}
    e = 8
    for n in (3, 12):
        net = AgentNet(Net((32, 32), head.out_dim, 1.0, rnn_hidden=rnn, **kw), n, share)
        d = 3 + n + (n - 1) * head.slot_dim
        params = jax.tree.map(lambda p: 3.0 * p, net.init(jax.random.PRNGKey(n), d))
        keys = jax.random.split(jax.random.PRNGKey(4), 4)
        obs = jax.random.normal(keys[0], (e, n, 3))
        if continuous:
            mask = jnp.broadcast_to(jnp.arange(2) < 1 + jnp.arange(n)[:, None] % 2, (e, n, 2))
        else:
            mask = random_mask(keys[1], (e, n, A))
        hidden = jax.random.normal(keys[2], (e, n, rnn))
        reset = jnp.arange(e) % 3 == 0
        modes = MODES if n < 12 else MODES[:1]
        inputs = (params, obs, mask, hidden, reset, jax.random.split(keys[3], 3))
        results = jax.jit(_both_chains, static_argnums=(0, 1, 2))(net, modes, head, *inputs)
        for mode, (shared, before, ours, ref) in zip(modes, results, strict=True):
            for what, s, a, b in zip(CHAIN_OUT, before, ours, ref, strict=True):
                msg = f"N={n} {mode} {what}"
                if what in ("actions", "inputs") and not continuous:
                    np.testing.assert_array_equal(a, b, err_msg=msg)
                    np.testing.assert_array_equal(s, b, err_msg=f"{msg} (first layer split)")
                else:
                    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=msg)
                    tol = 5e-3 if continuous and n == 12 else 1e-4
                    np.testing.assert_allclose(
                        s, b, rtol=tol, atol=tol / 10, err_msg=f"{msg} (first layer split)"
                    )
            _same_as_before(shared, before, continuous, f"N={n} {mode}")


def _same_as_before(shared, before, continuous: bool, msg: str):
    """The shared-projection chain against the chain before it (tests/chain_reference.py):
    the same sums in the same order, so discrete actions and the stored inputs agree bit for
    bit; log-probabilities, memories and Gaussian chains to float32 rounding (a GRU's memory
    side runs on all N rows at once instead of N - j, and XLA:CPU picks kernels by shape:
    last-bit differences in a few log-probabilities of per-agent GRUs, vmapped over keys)."""
    for what, a, b in zip(CHAIN_OUT, shared, before, strict=True):
        if continuous or what in ("logp", "memories"):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{msg} {what}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{msg} {what} (shared projections)")


def test_checkpoint_written_by_the_chain_before_restores(tmp_path, monkeypatch):
    """The split network reads the `Net`'s parameters where they lie (no conversion): a run
    checkpointed while acting with the chain before (tests/chain_reference.py; per-agent GRU
    actors, the layout with the most parts) resumes with the shared-projection chain, and its
    restored actor acts as the chain before would on it."""
    from chain_reference import belief_chain_before

    import acjax.algos.acpo as acpo_module
    from acjax.checkpoint import Checkpointer
    from acjax.cli import resolve_config
    from acjax.harness import make_trainer

    over = ("algo=acpo", "env=jumanji-rware-tiny-2ag", "net.rnn=gru", "net.rnn_hidden=4",
            "net.share_params=false", "updates_per_call=1", "ppo.chunk_len=8")  # fmt: skip
    with monkeypatch.context() as m:
        m.setattr(acpo_module, "belief_chain", belief_chain_before)
        train(tiny_config(*over, "total_timesteps=64", tmp_path=tmp_path))
    tr = make_trainer(tiny_config(*over, tmp_path=tmp_path))
    ckpt = Checkpointer(tmp_path / "checkpoints", 3)
    learner, _ = ckpt.restore(ckpt.latest(), tr.init())
    ckpt.close()
    params = jax.tree.map(lambda p: p[0], learner.params["actor"])  # the run's axis
    n, step = 2, tr.actor.step(params)
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    obs = jax.random.normal(keys[0], (4, n, tr.spec.obs_dim))
    mask = random_mask(keys[1], (4, n, tr.spec.num_actions))
    hidden = jax.random.normal(keys[2], (4, n, 4))
    args = (step, tr.head, obs, mask, hidden, jnp.zeros(4, bool), keys[2])
    _same_as_before(belief_chain(*args), belief_chain_before(*args), False, "restored")
    summary = train(resolve_config(None, [f"resume={tmp_path}", "total_timesteps=128"]))
    assert summary["updates"] == 2 and summary["status"] == "finished"
