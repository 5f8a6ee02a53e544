"""acjax's QMIX and VDN beside JaxMARL's QMIX (FLAIROx/JaxMARL `baselines/QLearning/qmix_rnn.py`)
at equal settings on the same world, compiled once each and timed in alternation.

    benchmarks/jaxmarl_peer_setup.sh MIRROR_GIT_DIR /tmp/jaxmarl-src   # extracts baselines/
    python benchmarks/jaxmarl_qmix_peer.py --src /tmp/jaxmarl-src [--rounds 3] [--updates 200]

Without the source tree (`--src` missing or without baselines/QLearning/qmix_rnn.py) the script
prints one line "skipped: ..." and exits 0. The peer's code is read from that tree and imported as
it is (its `make_train(config, env)` and `env_from_config(config)`); nothing of it enters acjax.
Its script-level imports that only its command line uses (hydra, omegaconf, wandb) are stood in
for by empty modules when they are not installed: `make_train` never calls them with
WANDB_MODE=disabled.

The world: MPE simple spread v3 (3 agents, 5 actions, episodes of 26 steps: its MAX_STEPS 25
is tested before the step is counted), `jaxmarl:` in acjax, JaxMARL's own `make` +
`MPELogWrapper` + `CTRolloutManager` in the peer; on both sides the agent network sees the 18
observation values and a one-hot agent id (21), the mixer the 54 values of the three
observations. The settings are the peer's MPE file (config/alg/ql_rnn_mpe.yaml), acjax's made
equal to them:

    num envs 8; one whole episode (26 env steps) per env per update from a reset (the peer's
    NUM_STEPS 26, acjax's q.episode_len 26); replay 5000 episodes (625 per env);
    32 episodes per gradient step; 1 gradient step per update; agent network Dense 64 + ReLU ->
    GRU 64 -> Q head, parameters shared, one-hot agent id appended to the observation; mixer
    embed 32, hypernetworks 128 wide (two layers), state bias, V(s) of width 32; double Q;
    gamma 0.9; lr 0.005; global-norm clipping 25; target copied every 200 updates
    (acjax: q.target_update_episodes = 200 * 8); no evaluation inside the timed program.

Settings that could not be made equal, and why:
  * Transitions learned per episode: both sides step 26 * 8 env steps per update (the peer's
    count is its `env_step` metric). The peer stores the 26 observations before each step and
    learns from the first 25 transitions (the last has no next observation in its rollout);
    acjax also keeps the final observation (27 per episode) and learns from all 26. The learning
    work per gradient step is thus 26 vs 27 observations unrolled (4% more for acjax).
  * Optimizer: the peer's is RAdam (hard-coded), acjax offers RMSprop and Adam: acjax runs Adam
    (the same per-parameter cost). The peer decays lr linearly (LR_LINEAR_DECAY), acjax keeps it
    constant (no schedule for `q`); neither changes the cost of a step.
  * When learning starts: the peer learns once its replay can sample (flashbax: 32 rollouts per
    env, i.e. after 32 updates) and after LEARNING_STARTS env steps (set to 0 here); acjax once
    the replay holds one batch (4 updates). acjax's timed program runs from a warmed-up state
    that already learns. The peer's `train(rng)` always starts a fresh run (init, buffer, the 32
    updates without learning), so its steady rate is measured as the difference of two of its
    programs, of U_short and U_long updates (both compiled once, timed in the same round):
    (U_long - U_short) * 26 * 8 / (t_long - t_short) - the `steps_per_second` reported for the
    peer. Its whole-call rate (U_long updates over t_long, start-up included) is kept too
    (`whole_call_steps_per_second`).
  * Epsilon schedule: the peer anneals over 10% of its updates, acjax over
    q.epsilon_anneal_steps env steps; the acting cost is the same.
  * Masking: acjax masks the steps of a sampled episode after its end (none here: MPE episodes
    are all 26 steps); the peer has no mask.
  * Seeds: the peer's script vmaps its train function over NUM_SEEDS (1 here), as run here;
    acjax runs one seed.

Output: benchmarks/results/cpu<cores>-<date>-qmix-peer.{json,md} (or --out PREFIX).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import jaxmarl_peer_common as common  # noqa: E402
from jaxmarl_peer_common import timed  # noqa: E402

PEER_FILE = Path("baselines/QLearning/qmix_rnn.py")
PEER_CONFIG = Path("baselines/QLearning/config")
NUM_ENVS = 8
EPISODE = 26  # MPE simple spread's episode: MAX_STEPS 25 + 1 (acjax's `episode_limit`)
PEER_STEPS = EPISODE  # the peer's NUM_STEPS (its MPE file): one whole episode
TARGET_UPDATES = 200  # the peer's TARGET_UPDATE_INTERVAL (updates)


def load_peer(root: Path):
    """The peer's qmix_rnn module, imported from the source tree."""
    return common.load_peer(root, PEER_FILE, "jaxmarl_qmix_rnn")


def peer_config(root: Path, updates: int) -> dict:
    """The peer's config for MPE simple spread (its config.yaml + alg/ql_rnn_mpe.yaml), for a
    run of `updates` updates, without evaluation or logging."""
    import yaml

    cfg = yaml.safe_load((root / PEER_CONFIG / "config.yaml").read_text())
    cfg.pop("defaults", None)
    cfg.update(yaml.safe_load((root / PEER_CONFIG / "alg" / "ql_rnn_mpe.yaml").read_text()))
    assert cfg["ENV_NAME"] == "MPE_simple_spread_v3", cfg["ENV_NAME"]
    cfg.update(
        NUM_ENVS=NUM_ENVS,
        NUM_STEPS=PEER_STEPS,
        NUM_EPOCHS=1,
        BUFFER_SIZE=5000,
        BUFFER_BATCH_SIZE=32,
        HIDDEN_SIZE=64,
        MIXER_EMBEDDING_DIM=32,
        MIXER_HYPERNET_HIDDEN_DIM=128,
        TARGET_UPDATE_INTERVAL=TARGET_UPDATES,
        TOTAL_TIMESTEPS=updates * PEER_STEPS * NUM_ENVS,
        LEARNING_STARTS=0,
        TEST_DURING_TRAINING=False,
        WANDB_MODE="disabled",
        NUM_SEEDS=1,
        SAVE_PATH=None,
    )
    return cfg


def acjax_extra(cfg: dict) -> tuple[str, ...]:
    """acjax's `q` section at the peer's settings."""
    return (
        f"q.episode_len={EPISODE}",
        f"q.buffer_episodes={cfg['BUFFER_SIZE']}",
        f"q.batch_episodes={cfg['BUFFER_BATCH_SIZE']}",
        f"q.train_steps={cfg['NUM_EPOCHS']}",
        f"q.target_update_episodes={TARGET_UPDATES * NUM_ENVS}",
        "q.optimizer=adam",
        f"q.lr={cfg['LR']}",
        f"q.max_grad_norm={cfg['MAX_GRAD_NORM']}",
        f"q.gamma={cfg['GAMMA']}",
        "q.double_q=true",
        f"q.agent_hidden=[{cfg['HIDDEN_SIZE']}]",
        f"q.rnn_hidden={cfg['HIDDEN_SIZE']}",
        f"q.mixing_embed={cfg['MIXER_EMBEDDING_DIM']}",
        f"q.hypernet_embed={cfg['MIXER_HYPERNET_HIDDEN_DIM']}",
    )


def acjax_program(algo: str, k: int, extra: tuple[str, ...]):
    """acjax's compiled chunk of k updates (`train_program`), warm state carried between calls."""
    from throughput_programs import train_program

    p = train_program(
        "qmix-peer",
        algo,
        "jaxmarl:MPE_simple_spread_v3",
        NUM_ENVS,
        devices=1,
        k=k,
        rollout=EPISODE,
        epochs=1,
        minibatches=1,
        hidden=(64,),
        extra=extra,
    )
    for key in ("rollout_len", "epochs", "num_minibatches", "actor_hidden", "critic_hidden"):
        p.record.pop(key, None)  # PPO's keys: not this trainer's
    p.record.update(
        side="acjax",
        episode_len=EPISODE,
        q_settings=list(extra),
        env_steps_per_update=NUM_ENVS * EPISODE,
    )
    return p


def peer_program(mod, cfg: dict, updates: int):
    """The peer's train function as its script runs it (jit of vmap over seeds), for `updates`
    updates: one call is a whole fresh run."""
    import jax
    from bench_timing import Program, timed_compile

    started = time.perf_counter()
    cfg = {**cfg, "TOTAL_TIMESTEPS": updates * PEER_STEPS * NUM_ENVS}
    env, _ = mod.env_from_config(copy.deepcopy(cfg))
    rngs = jax.random.split(jax.random.PRNGKey(cfg["SEED"]), cfg["NUM_SEEDS"])
    train = jax.jit(jax.vmap(mod.make_train(cfg, env)))
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(lambda: train.lower(rngs).compile())

    def call():
        out = jax.block_until_ready(fn(rngs))
        steps = int(out["runner_state"][0].timesteps[0])
        grads = int(out["runner_state"][0].grad_steps[0])
        assert steps == updates * PEER_STEPS * NUM_ENVS, (steps, updates)
        assert grads > 0, "the peer did not learn"
        last.update(timesteps=steps, grad_steps=grads)

    last: dict = {}
    record = dict(
        section="qmix-peer",
        side="peer",
        algo="jaxmarl-qmix_rnn",
        env="MPE_simple_spread_v3",
        n_agents=env.num_agents,
        num_envs=NUM_ENVS,
        num_seeds=cfg["NUM_SEEDS"],
        devices=1,
        updates_per_call=updates,
        env_steps_per_update=NUM_ENVS * PEER_STEPS,
        peer_config={k: v for k, v in cfg.items() if k.isupper()},
    )
    p = Program(record, call, updates * NUM_ENVS * PEER_STEPS, compile_s, setup, 0.0, [], started)
    p.last = last
    return p


def build_programs(mod, cfg: dict, extra: tuple[str, ...], args) -> dict:
    """The four programs, compiled, each called once (acjax's state reaches learning here)."""
    progs = {}
    for name, build in (
        ("acjax-qmix", lambda: acjax_program("qmix", args.updates, extra)),
        ("acjax-vdn", lambda: acjax_program("vdn", args.updates, extra)),
        ("peer-long", lambda: peer_program(mod, cfg, args.peer_long)),
        ("peer-short", lambda: peer_program(mod, cfg, args.peer_short)),
    ):
        progs[name] = build()
        print(f"[qmix-peer] {name}: compiled in {progs[name].compile_seconds:.1f} s", flush=True)
    for name, p in progs.items():  # warm-up: acjax's state reaches learning here
        t0 = time.perf_counter()
        p.call()
        p.warmup_seconds = time.perf_counter() - t0
        print(f"[qmix-peer] {name}: warm-up call {p.warmup_seconds:.2f} s", flush=True)
    return progs


def run_rounds(progs: dict, args) -> list[dict]:
    """args.rounds rounds of one call of each program, in alternation."""
    rounds = []
    for r in range(args.rounds):
        got = {name: timed(p) for name, p in progs.items()}
        d_steps = (args.peer_long - args.peer_short) * NUM_ENVS * PEER_STEPS
        peer_sps = d_steps / (got["peer-long"] - got["peer-short"])
        row = {"round": r, "call_seconds": got, "peer_steps_per_second": peer_sps,
               "load_avg_1min": os.getloadavg()[0]}  # fmt: skip
        for a in ("acjax-qmix", "acjax-vdn"):
            row[f"{a}_steps_per_second"] = progs[a].steps_per_call / got[a]
            row[f"{a}_vs_peer"] = row[f"{a}_steps_per_second"] / peer_sps
        rounds.append(row)
        print(
            f"[qmix-peer] round {r}: acjax qmix {row['acjax-qmix_steps_per_second']:,.0f}, "
            f"vdn {row['acjax-vdn_steps_per_second']:,.0f}, peer {peer_sps:,.0f} steps/s "
            f"(load {row['load_avg_1min']:.2f})",
            flush=True,
        )
    return rounds


def records(progs: dict, rounds: list[dict], root: Path, commit: str, stubbed, load0) -> list:
    """The peer's steady record (long - short) and acjax's two, with their ratios."""
    from bench_timing import finish

    recs = {name: finish(p, "qmix-peer") for name, p in progs.items()}
    peer_sps = statistics.median(x["peer_steps_per_second"] for x in rounds)
    peer = dict(recs["peer-long"])
    peer.update(
        variant="steady (long - short)",
        steps_per_second=peer_sps,
        seconds_per_env_step=1 / peer_sps,
        updates_per_second=peer_sps / (NUM_ENVS * PEER_STEPS),
        whole_call_steps_per_second=recs["peer-long"]["steps_per_second"],
        short_program=recs["peer-short"],
        compile_seconds=recs["peer-long"]["compile_seconds"],
        peer_source=str(root),
        peer_commit=commit,
        stood_in_modules=stubbed,
    )
    out_recs = [peer]
    for a in ("acjax-qmix", "acjax-vdn"):
        rec = recs[a]
        rec["updates_per_second"] = rec["steps_per_second"] / (NUM_ENVS * EPISODE)
        rec["vs_peer_rounds"] = [x[f"{a}_vs_peer"] for x in rounds]
        rec["vs_peer"] = statistics.median(rec["vs_peer_rounds"])
        rec["peer_steps_per_second"] = peer_sps
        out_recs.append(rec)
    for rec in out_recs:
        rec["rounds"] = rounds
        rec["load_avg_at_start"] = list(load0)
        rec["load_avg_at_end"] = list(os.getloadavg())
    return out_recs


def markdown(out_recs: list[dict], rounds: list[dict], args, meta: dict) -> str:
    """The results table and the notes (meta: date, load0, t_start, commit, stubbed)."""
    import jax
    from bench_timing import device_kind, fmt, table

    date, load0, t_start = meta["date"], meta["load0"], meta["t_start"]
    commit, stubbed, peer = meta["commit"], meta["stubbed"], out_recs[0]
    rows = []
    for rec in out_recs:
        name = ("acjax " if rec["side"] == "acjax" else "") + rec["algo"]
        rows.append([
            name, fmt(rec["steps_per_second"]), fmt(rec["updates_per_second"]),
            fmt(rec["compile_seconds"], 1), fmt(rec.get("vs_peer")),
        ])  # fmt: skip
    load = [round(r["load_avg_1min"], 2) for r in rounds]
    md = (
        f"# acjax QMIX/VDN beside JaxMARL's QMIX ({date}, {device_kind()}, "
        f"{os.cpu_count()} cores, jax {jax.__version__})\n\n"
        f"MPE simple spread v3, {NUM_ENVS} envs, one {EPISODE}-step episode per env per update "
        f"(the peer's NUM_STEPS {PEER_STEPS}), replay 5000 episodes, batch 32, 1 gradient step "
        "per update, "
        "agent 64 -> GRU 64, mixer 32 / hypernet 128. Compiled once each, then "
        f"{len(rounds)} rounds in alternation (acjax QMIX, acjax VDN, peer long, peer short); "
        f"acjax: {args.updates} updates per call from a warm state; the peer's steady rate: "
        f"({args.peer_long} - {args.peer_short}) updates over the difference of its two "
        "programs' call times (each call of the peer is a fresh run). Ratios: the median of the "
        "rounds' acjax / peer (env steps/s).\n\n"
        + table(
            rows,
            [
                "program",
                "env steps/s",
                "updates/s",
                "compile s",
                "acjax/peer",
            ],
        )  # fmt: skip
        + f"\nPeer whole call ({args.peer_long} updates, start-up included): "
        f"{fmt(peer['whole_call_steps_per_second'])} steps/s. Load average (1 min) per round: "
        f"{load}; at start {[round(x, 2) for x in load0]}. Wall time "
        f"{time.perf_counter() - t_start:.0f} s. Env steps timed per call: acjax "
        f"{args.updates * NUM_ENVS * EPISODE:,}, the peer's difference "
        f"{(args.peer_long - args.peer_short) * NUM_ENVS * PEER_STEPS:,}. JaxMARL {commit[:7]} "
        f"(modules stood in for: {', '.join(stubbed) or 'none'}). Script: "
        "benchmarks/jaxmarl_qmix_peer.py (its docstring lists the settings that differ).\n"
    )
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", help="JaxMARL source tree holding baselines/QLearning")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--updates", type=int, default=200, help="acjax updates per call")
    ap.add_argument("--peer-short", type=int, default=40, help="peer updates, short program")
    ap.add_argument("--peer-long", type=int, default=240, help="peer updates, long program")
    ap.add_argument("--out", help="output prefix (default results/cpu<N>-<date>-qmix-peer)")
    args = ap.parse_args(argv)

    root = common.find_source(args.src, PEER_FILE)
    if root is None:
        print(f"skipped: no JaxMARL source with {PEER_FILE} at --src {args.src!r}")
        return 0
    try:
        mod, stubbed = load_peer(root)
    except Exception as e:  # noqa: BLE001 - a peer that cannot be imported is a skip
        print(f"skipped: JaxMARL's {PEER_FILE} does not import: {type(e).__name__}: {e}")
        return 0

    from bench_timing import machine_name

    if args.peer_long <= args.peer_short or args.peer_short < 33:
        ap.error("--peer-short must be at least 33 (the peer learns from update 32) and less "
                 "than --peer-long")  # fmt: skip
    commit = common.commit_of(root)
    cfg = peer_config(root, args.peer_long)
    load0 = os.getloadavg()
    t_start = time.perf_counter()
    progs = build_programs(mod, cfg, acjax_extra(cfg), args)
    rounds = run_rounds(progs, args)
    out_recs = records(progs, rounds, root, commit, stubbed, load0)

    date = datetime.date.today().isoformat()
    prefix = Path(args.out) if args.out else HERE / "results" / f"{machine_name()}-{date}-qmix-peer"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(out_recs, indent=1, default=str) + "\n")
    meta = dict(date=date, load0=load0, t_start=t_start, commit=commit, stubbed=stubbed)
    md = markdown(out_recs, rounds, args, meta)
    prefix.with_suffix(".md").write_text(md)
    print(md)
    print(f"[qmix-peer] wrote {prefix.with_suffix('.json')} and .md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
