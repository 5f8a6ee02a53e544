"""The value-based family (acjax.valuebased, acjax.algos.qmix): QMIX's monotonic mixer, VDN's sum,
double-Q n-step targets against a plain loop, the replay of whole episodes, the episodes an update
stores, vmapped seeds against seeds one by one, resume against an uninterrupted run, and the
one-line error for continuous actions."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from acjax.algos import qmix as Q
from acjax.buffer import make_episode_buffer
from acjax.cli import main
from acjax.harness import make_trainer
from acjax.run import train
from acjax.stop import StopFlag

# 4 environments x 6 steps per update (episodes cut there: truncated), learning from update 2
SMALL = [
    "env=rware-tiny-2ag", "num_envs=4", "q.episode_len=6", "q.batch_episodes=8",
    "q.buffer_episodes=16", "q.target_update_episodes=8", "q.agent_hidden=[16]",
    "q.rnn_hidden=8", "q.mixing_embed=8", "q.hypernet_embed=8", "updates_per_call=2",
    "progress=false", "checkpoint_interval_s=0",
]  # fmt: skip


def _rows(run):
    return [json.loads(x) for x in (Path(run) / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------- mixers
@pytest.mark.parametrize("hypernet_embed", [0, 16])
def test_qmix_mixer_is_monotonic_in_every_agent_value(hypernet_embed):
    n, s = 3, 5
    mixer = Q.QMixer(n, mixing_embed=8, hypernet_embed=hypernet_embed)
    params = mixer.init(jax.random.PRNGKey(0), jnp.zeros((n,)), jnp.zeros((s,)))
    k_q, k_s = jax.random.split(jax.random.PRNGKey(1))
    qs = 10 * jax.random.normal(k_q, (256, n))
    states = 3 * jax.random.normal(k_s, (256, s))
    grads = jax.vmap(jax.grad(lambda q, st: mixer.apply(params, q, st)))(qs, states)
    assert grads.shape == (256, n)
    assert np.all(np.asarray(grads) >= 0)
    assert np.mean(np.asarray(grads) > 0) > 0.5  # not monotonic by being constant
    q_tot = Q.mix("qmix", mixer, params, qs, states)
    assert q_tot.shape == (256,) and np.isfinite(np.asarray(q_tot)).all()


def test_vdn_is_the_sum_and_iql_mixes_nothing():
    q = jax.random.normal(jax.random.PRNGKey(0), (4, 7, 3))
    np.testing.assert_allclose(Q.mix("vdn", None, None, q, None), np.asarray(q).sum(-1), rtol=1e-6)
    np.testing.assert_array_equal(Q.mix("none", None, None, q, None), q)


# ---------------------------------------------------------------------- targets
def _numpy_targets(q_on, q_tg, avail, reward, term, trunc, gamma, n, double):
    """A plain loop: next values per agent, summed (VDN), then n-step targets per step."""
    b, t = reward.shape
    nxt = np.zeros((b, t))
    for i in range(b):
        for s in range(t):
            for a in range(q_on.shape[2]):
                ok = avail[i, s, a]
                if double:
                    on = np.where(ok, q_on[i, s, a], -np.inf)
                    nxt[i, s] += q_tg[i, s, a, np.argmax(on)]
                else:
                    nxt[i, s] += np.max(q_tg[i, s, a][ok])
    y = np.zeros((b, t))
    for i in range(b):
        for s in range(t):
            ret, disc, j = 0.0, 1.0, s
            while True:
                ret += disc * reward[i, j]
                disc *= gamma
                if term[i, j]:
                    y[i, s] = ret
                    break
                if trunc[i, j] or j == s + n - 1 or j == t - 1:
                    y[i, s] = ret + disc * nxt[i, j]
                    break
                j += 1
    return y


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("double_q", [True, False])
def test_double_q_n_step_targets_match_a_plain_loop(n_step, double_q):
    rng = np.random.default_rng(0)
    b, t, n, a = 3, 7, 2, 4
    q_on = rng.normal(size=(b, t, n, a)).astype(np.float32)
    q_tg = rng.normal(size=(b, t, n, a)).astype(np.float32)
    avail = rng.random((b, t, n, a)) < 0.6
    avail[..., 0] = True  # every agent has an action
    reward = rng.normal(size=(b, t)).astype(np.float32)
    term = np.zeros((b, t), bool)
    trunc = np.zeros((b, t), bool)
    term[0, 2] = True  # an episode ends inside the window: no bootstrap there
    trunc[1, 4] = True  # a time limit: bootstrap from the final observation's value
    term[2, 5] = trunc[2, 1] = True
    nxt = Q.bootstrap_values(q_on, q_tg, avail, double_q).sum(-1)
    got = Q.n_step_targets(reward, term, trunc, nxt, 0.9, n_step)
    want = _numpy_targets(q_on, q_tg, avail, reward, term, trunc, 0.9, n_step, double_q)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # per-agent values (IQL) give per-agent targets of the same form
    per_agent = Q.n_step_targets(reward, term, trunc, jnp.stack([nxt, 2 * nxt], -1), 0.9, n_step)
    assert per_agent.shape == (b, t, 2)
    np.testing.assert_allclose(per_agent[..., 0], want, rtol=1e-5, atol=1e-5)


def test_the_greedy_choice_and_the_target_max_ignore_unavailable_actions():
    q = jnp.asarray([[5.0, 1.0, 3.0], [0.0, 9.0, 2.0]])
    avail = jnp.asarray([[False, True, True], [True, False, True]])
    acts = Q.egreedy(q, avail, 0.0, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(acts, [2, 2])
    keys = jax.random.split(jax.random.key(1), 400)
    draws = jax.vmap(lambda k: Q.egreedy(q, avail, 1.0, k))(keys)
    assert not np.any(np.asarray(avail)[[0, 1], np.asarray(draws)] == False)  # noqa: E712
    assert set(np.asarray(draws[:, 0]).tolist()) == {1, 2}
    np.testing.assert_allclose(Q.bootstrap_values(q, q, avail, False), [3.0, 2.0])
    assert float(Q.epsilon(25_000, 1.0, 0.05, 50_000)) == pytest.approx(0.525)
    assert float(Q.epsilon(80_000, 1.0, 0.05, 50_000)) == pytest.approx(0.05)


# ---------------------------------------------------------------------- replay
def test_sampled_episodes_are_whole_stored_episodes_never_across_the_write_position():
    envs, capacity, length = 2, 3, 5
    buf = make_episode_buffer(envs, capacity, 64)
    state = buf.init({"id": jnp.zeros((length,), jnp.int32)})
    for k in range(5):  # episode ids 10 * k + env; a ring of 3 keeps the last 3 of each env
        ids = 10 * k + jnp.arange(envs)
        state = buf.add(state, {"id": jnp.broadcast_to(ids[:, None, None], (envs, 1, length))})
        got = np.asarray(buf.sample(state, jax.random.PRNGKey(k)).experience["id"][:, 0])
        assert (got == got[:, :1]).all()  # every step of a sample is from one stored episode
        stored = {10 * j + e for j in range(max(0, k - capacity + 1), k + 1) for e in range(envs)}
        assert set(got[:, 0].tolist()) <= stored
    assert set(got[:, 0].tolist()) == {20, 21, 30, 31, 40, 41}


def test_an_update_stores_each_environments_first_episode_from_its_reset(tmp_path):
    cfg = tiny_config("algo=vdn", *SMALL, tmp_path=tmp_path)
    trainer = make_trainer(cfg).trainer
    L = trainer.length
    tr = {  # [L, E=2]: env 0 terminates at step 2, env 1 runs into the window's end
        "terminated": np.zeros((L, 2), bool), "truncated": np.zeros((L, 2), bool),
        "reward": np.ones((L, 2), np.float32), "won": np.zeros((L, 2), bool),
        "restarts": np.zeros((L, 2), np.int32), "action": np.zeros((L, 2, 2), np.int32),
        "obs": np.arange(L)[:, None, None, None] * np.ones((L, 2, 2, 3)),
        "next_obs": 100 + np.arange(L)[:, None, None, None] * np.ones((L, 2, 2, 3)),
        "state": np.zeros((L, 2, 4)), "next_state": np.zeros((L, 2, 4)),
        "avail": np.ones((L, 2, 2, 5), bool), "next_avail": np.zeros((L, 2, 2, 5), bool),
    }  # fmt: skip
    tr["terminated"][2, 0] = True
    episode, eps = trainer.episodes(jax.tree.map(jnp.asarray, tr))
    ep = jax.tree.map(lambda x: np.asarray(x[:, 0]), episode)
    np.testing.assert_array_equal(ep["filled"][0], np.arange(L) <= 2)
    np.testing.assert_array_equal(ep["filled"][1], np.ones(L, bool))
    np.testing.assert_array_equal(ep["terminated"][0], np.arange(L) == 2)
    assert not ep["truncated"][0].any() and not ep["terminated"][1].any()
    np.testing.assert_array_equal(ep["truncated"][1], np.arange(L) == L - 1)  # cut: bootstrap
    # observation t + 1 is the one after step t: the true final one at the end
    np.testing.assert_array_equal(ep["obs"][0, :, 0, 0], [0, *(100 + np.arange(L))])
    assert ep["avail"][0, 3].all() and not ep["avail"][0, 2].any()  # unknown at an end: all
    np.testing.assert_array_equal(np.asarray(eps.done).sum(0), [1, 1])
    np.testing.assert_allclose(np.asarray(eps.episode_return)[np.asarray(eps.done)], [3.0, L])


def test_replayed_memories_start_at_zero_at_the_episodes_start(tmp_path):
    cfg = tiny_config("algo=iql", *SMALL, tmp_path=tmp_path)
    trainer = make_trainer(cfg).trainer
    params = trainer.init_learner(jax.random.PRNGKey(0)).params["agent"]
    obs = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 2, trainer.spec.obs_dim))
    q = trainer.q_sequence(params, obs)
    step = trainer.agent.step(params)
    h = trainer.agent.initial_hidden((2,))
    for t in range(4):  # step by step from zero memory, as acting does after a reset
        h, q_t = step(h, trainer.inputs(obs[:, t]), jnp.asarray(t == 0))
        np.testing.assert_allclose(q[:, t], q_t, rtol=1e-5, atol=1e-5)
    # the memory matters: a nonzero memory at the start gives other values
    _, q_carried = step(h, trainer.inputs(obs[:, 0]), jnp.asarray(False))
    assert not np.allclose(q[:, 0], q_carried, atol=1e-4)
    _, q_reset = step(h, trainer.inputs(obs[:, 0]), jnp.asarray(True))
    np.testing.assert_allclose(q[:, 0], q_reset, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- runs
def test_vmapped_seeds_equal_seeds_run_one_by_one(tmp_path):
    base = ["algo=qmix", *SMALL, "env=matrix-climbing", "q.episode_len=3", "total_timesteps=60",
            "q.reward_standardize=true"]  # fmt: skip
    assert main(["train", *base, "num_seeds=2", "seed=3", f"run_dir={tmp_path / 'two'}"]) == 0
    one = ["num_seeds=1", "seed=4", "devices=1", f"run_dir={tmp_path / 'one'}"]
    assert main(["train", *base, *one]) == 0
    two = [r for r in _rows(tmp_path / "two") if r["seed"] == 4]
    one = _rows(tmp_path / "one")
    assert len(two) == len(one) == 5
    assert one[0]["q_loss"] == 0 and one[0]["q_taken"] is None  # 4 episodes: not a batch yet
    assert all(r["q_loss"] > 0 for r in one[1:])
    for a, b in zip(two, one, strict=True):
        for k in a:
            if b[k] is None:
                assert a[k] is None, k
            else:
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    other = [r["q_loss"] for r in _rows(tmp_path / "two") if r["seed"] == 3]
    assert other != [r["q_loss"] for r in one]


def test_a_replay_the_budget_fills_gives_the_run_of_a_larger_one(tmp_path):
    """5 updates of 4 episodes: a replay of the 20 episodes the budget writes draws exactly what
    one of 64 does (the ring never wraps), which the memory check's hint promises."""
    base = ["algo=qmix", *SMALL, "env=matrix-climbing", "q.episode_len=3", "total_timesteps=60"]
    for size in (20, 64):
        assert (
            main(["train", *base, f"q.buffer_episodes={size}", f"run_dir={tmp_path / str(size)}"])
            == 0
        )
    small, large = _rows(tmp_path / "20"), _rows(tmp_path / "64")
    assert len(small) == 5 and all(r["q_loss"] > 0 for r in small[1:])
    assert small == large


@pytest.mark.parametrize(
    "args, key",
    [
        (["algo=qmix", *SMALL, "q.buffer_episodes=1000"], "q.buffer_episodes"),
        (["algo=maddpg", "env=matrix-continuous", "td3.buffer_size=100000"], "td3.buffer_size"),
    ],
)
def test_a_replay_beyond_the_machines_memory_is_a_one_line_error(
    args, key, tmp_path, capsys, monkeypatch
):
    """Before anything is allocated or written: the key, the memory, and the size the budget
    fills where it is smaller (the same results)."""
    monkeypatch.setattr("acjax.buffer.host_memory", lambda: 2**10)  # a 1 KiB machine
    run = tmp_path / "run"
    assert main(["train", *args, "total_timesteps=480", "progress=false", f"run_dir={run}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"config key '{key}'" in err[0], err
    assert "more than 90% of the 0.0 GiB of this machine" in err[0], err
    assert "gives the same results" in err[0], err
    assert not run.exists()


class _StopAfter(StopFlag):
    """A stop asked after `calls` compiled calls (as SIGTERM would be, in this process)."""

    def __init__(self, calls):
        super().__init__()
        self.reads, self.calls = 0, calls

    @property
    def requested(self):
        self.reads += 1
        return self.reads > self.calls + 1  # the first read is before training

    @requested.setter
    def requested(self, value):
        pass


@pytest.mark.slow  # three compiles of the warehouse program (about 2.5 min); `make test-slow`
def test_resume_with_the_replay_equals_an_uninterrupted_run(tmp_path):
    """Stopped after a few calls (the ring of 4 episodes per environment full by then), the
    checkpoint holds the replay and the target networks: the resumed run computes exactly what
    the uninterrupted one does."""
    args = ["algo=qmix", *SMALL, "total_timesteps=240", "q.n_step=2"]
    run = tmp_path / "interrupted"
    summary = train(tiny_config(*args, tmp_path=run), stop=_StopAfter(2))
    assert summary["status"] == "interrupted" and 2 <= summary["updates"] < 10
    assert main(["train", f"resume={run}"]) == 0
    assert main(["train", *args, f"run_dir={tmp_path / 'full'}"]) == 0
    full = _rows(tmp_path / "full")
    assert len(full) == 10 and _rows(run) == full


def test_continuous_actions_are_a_one_line_error(capsys):
    assert main(["train", "algo=qmix", "env=matrix-continuous", "progress=false"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "acjax: config key 'algo': qmix needs discrete actions; matrix-continuous has continuous "
        "ones"
    ] or (len(err) == 1 and "qmix needs discrete actions" in err[0]), err


# the greedy payoff every seed ends on (epsilon 0 after 10k of 20k steps; 8 seeds), as measured
# in benchmarks/results/cpu2-2026-12-05-qmix.md. VDN's Q_tot = Q_1 + Q_2 fitted to uniformly
# explored joint actions ranks each agent's actions by the payoff's row (column) means: climbing
# (a2, a2) = 5 instead of the optimum 11, penalty (a1, a1) = 2 instead of 10, table1 (C, C) = 20.
# QMIX's monotonic mixing cannot represent the climbing or penalty payoffs either.
MATRIX = {
    ("climbing", "vdn"): lambda r: all(x == 5 for x in r),
    ("climbing", "qmix"): lambda r: all(x in (5, 6, 7) for x in r),  # never 11
    ("penalty", "vdn"): lambda r: all(x == 2 for x in r),
    ("penalty", "qmix"): lambda r: all(x == 2 for x in r),
    ("table1", "vdn"): lambda r: sum(x == 20 for x in r) >= 6,
    ("table1", "qmix"): lambda r: sum(x == 20 for x in r) >= 6,
}


@pytest.mark.slow  # six runs of 20k steps x 8 seeds (about 5 min on 2 shared cores)
@pytest.mark.parametrize("game, algo", list(MATRIX))
def test_matrix_games_reach_what_their_mixing_can_represent(game, algo, tmp_path):
    config = Path(__file__).resolve().parents[1] / "experiments" / "matrix" / f"{game}-{algo}.yaml"
    over = ["progress=false", "checkpoint_interval_s=1000", f"run_dir={tmp_path}"]
    assert main(["train", "--config", str(config), *over]) == 0
    rows = _rows(tmp_path)
    last = max(r["update"] for r in rows)
    final = sorted(r["episode_return"] for r in rows if r["update"] == last)
    assert len(final) == 8 and MATRIX[game, algo](final), final


@pytest.mark.parametrize("command", ["eval", "render"])
def test_eval_and_render_of_a_value_based_run_are_one_line_errors(command, tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("algo: vdn\nenv: matrix-climbing\n")
    assert main([command, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{command}: vdn runs (value-based) are not supported yet" in err[0]
