"""acjax beside JaxMARL's own trainers (FLAIROx/JaxMARL baselines) at the peer's settings: its
recurrent MAPPO on SMAX (`baselines/MAPPO/mappo_rnn_smax.py`), its IPPO on MPE
(`baselines/IPPO/ippo_ff_mpe.py`) and, through `jaxmarl_qmix_peer.py`, its QMIX on MPE.

    benchmarks/jaxmarl_peer_setup.sh MIRROR_GIT_DIR /tmp/jaxmarl-src   # extracts baselines/
    python benchmarks/jaxmarl_peer.py --algo mappo --src /tmp/jaxmarl-src [--rounds 2 --updates 3]
    python benchmarks/jaxmarl_peer.py --algo ippo --src /tmp/jaxmarl-src [--rounds 2 --updates 100]
    python benchmarks/jaxmarl_peer.py --algo qmix --src /tmp/jaxmarl-src [its own options]

The peer is a yardstick, never a dependency: its script is imported from the source tree as it
is (`make_train(config)`), its command-line imports (hydra, omegaconf, wandb) stood in for when
absent; its per-update `wandb.log` (an `io_callback` inside its program, kept: its script runs it)
is caught to read its returns. Without the tree the script prints "skipped: ..." and exits 0.

Each round r runs both sides from scratch with seed r: acjax's compiled program of U updates
(`updates_per_call` U, its lr decaying to 0 over those U, as the peer's over its NUM_UPDATES U),
then the peer's `jit(make_train(config))(PRNGKey(r))` (a whole run of U updates). Both are
compiled once, before the rounds. Env steps/s: U * envs * rollout over the call's time (the
peer's call includes its in-program init: network init and env reset; acjax's init is outside
its program and recorded apart). Returns at equal steps: each side's per-update curve (the mean
return of the episodes that ended in the update; SMAX: and the win rate), per seed.

Settings, read from the peer's config file and translated (`acjax_overrides`):
  mappo (config/mappo_homogenous_rnn_smax.yaml): SMAX 2s3z against HeuristicEnemySMAX
    (see_enemy_actions, walls_cause_death, attack_mode closest: acjax's `smax-` defaults), 128
    envs x 128 steps, 4 epochs x 4 minibatches of whole 128-step sequences, lr 0.002 linearly
    decayed (actor and critic: separate networks with their own Adam, eps 1e-5), gamma 0.99,
    GAE lambda 0.95, clip 0.2 (not scaled), value clipped at 0.2, MSE, no entropy bonus,
    gradient norm 0.25, advantages normalized, no value normalization; actor and critic Dense
    128 + relu -> GRU 128; the critic sees the world state and the agent's one-hot id
    (`OBS_WITH_AGENT_ID`), one value per agent (acjax's MAPPO: V(s, id=i)).
  ippo (config/ippo_ff_mpe.yaml): MPE simple spread v3, 16 envs x 128 steps, 4 epochs x 4
    minibatches, lr 2.5e-4 linearly decayed, gamma 0.99, lambda 0.95, clip 0.2, value clipped
    at 0.2, MSE, entropy 0.01, gradient norm 0.5, tanh, actor and critic MLPs 64-64 with
    parameters shared by the agents, no GRU.

What could not be made equal:
  * mappo: the peer's actor and critic have a second Dense 128 + relu after the GRU; acjax's
    networks go from the GRU straight to the output layer (one 128x128 layer less per side).
  * mappo: the peer's value loss is scaled by VF_COEF 0.5 on its own critic optimizer (a
    rescaling of the critic's gradient, which Adam mostly undoes); acjax has no coefficient.
  * ippo: the peer's actor and critic are two towers of one module under one Adam and one
    global gradient norm (loss = actor + 0.5 value - 0.01 entropy); acjax's are separate
    networks, each with its Adam and its own norm clipping.
  * ippo: the peer's actor sees the agent's observation alone, acjax's also its one-hot id.
  * ippo: the peer learns each agent from its own reward, acjax from the team reward (the sum
    of the agents' rewards). The returns compared are the team's on both sides: the peer's
    MPELogWrapper logs each agent's return times the agents ("as per on-policy codebase"),
    whose mean over the agents is the sum of their returns, acjax's team return. The peer's
    `returned_episode_returns` is the last finished episode's, averaged over the update's
    steps (it lags by up to one episode); acjax's the mean of the episodes ended in the update.
  * Seeds: the peer's IPPO script vmaps NUM_SEEDS 10 runs, its MAPPO script runs one; here both
    sides run one seed per call, the rounds giving the seeds.
  * Minibatches: the peer shuffles agents' sequences (mappo) or single steps (ippo) across the
    envs; acjax splits its own way; the samples per minibatch are the same.

Output: benchmarks/results/cpu<cores>-<date>-jaxmarl-peer.{json,md} (or --out PREFIX); a run of
one algorithm keeps the other algorithm's records already in that file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import jaxmarl_peer_common as common  # noqa: E402
from jaxmarl_peer_common import timed  # noqa: E402

PEERS = {
    "mappo": (Path("baselines/MAPPO/mappo_rnn_smax.py"), "mappo_homogenous_rnn_smax.yaml"),
    "ippo": (Path("baselines/IPPO/ippo_ff_mpe.py"), "ippo_ff_mpe.yaml"),
}
DEFAULT_UPDATES = {"mappo": 3, "ippo": 100}


def peer_config(root: Path, algo: str, updates: int) -> dict:
    """The peer's config file for a run of `updates` updates, logging off."""
    import yaml

    file, name = PEERS[algo]
    cfg = yaml.safe_load((root / file.parent / "config" / name).read_text())
    steps = int(cfg["NUM_ENVS"]) * int(cfg["NUM_STEPS"])
    cfg.update(TOTAL_TIMESTEPS=updates * steps, WANDB_MODE="disabled", NUM_SEEDS=1)
    return cfg


def acjax_world(algo: str, cfg: dict) -> str:
    return f"smax-{cfg['MAP_NAME']}" if algo == "mappo" else f"jaxmarl:{cfg['ENV_NAME']}"


def acjax_overrides(algo: str, cfg: dict, num_agents: int) -> list[str]:
    """acjax's config (key=value overrides) at the peer's settings (its config dictionary)."""
    clip = float(cfg["CLIP_EPS"])
    if cfg.get("SCALE_CLIP_EPS"):
        clip /= num_agents
    steps = int(cfg["NUM_STEPS"])
    updates = int(cfg["TOTAL_TIMESTEPS"]) // steps // int(cfg["NUM_ENVS"])
    hidden = [cfg["FC_DIM_SIZE"]] if algo == "mappo" else [64, 64]  # ippo_ff_mpe: 64-64 fixed
    h = "[" + ",".join(str(int(x)) for x in hidden) + "]"
    out = [
        f"env={acjax_world(algo, cfg)}",
        f"algo={algo}",
        f"num_envs={int(cfg['NUM_ENVS'])}",
        "num_seeds=1",
        "devices=1",
        f"total_timesteps={updates * steps * int(cfg['NUM_ENVS'])}",
        f"updates_per_call={updates}",
        "progress=false",
        f"ppo.rollout_len={steps}",
        f"ppo.epochs={int(cfg['UPDATE_EPOCHS'])}",
        f"ppo.num_minibatches={int(cfg['NUM_MINIBATCHES'])}",
        f"ppo.lr={cfg['LR']}",
        f"ppo.critic_lr={cfg['LR']}",
        f"ppo.lr_decay={str(bool(cfg['ANNEAL_LR'])).lower()}",
        f"ppo.gamma={cfg['GAMMA']}",
        f"ppo.gae_lambda={cfg['GAE_LAMBDA']}",
        f"ppo.clip_eps={clip}",
        f"ppo.value_clip={clip}",
        "ppo.value_loss=mse",
        "ppo.value_norm=false",
        "ppo.adv_norm=true",
        "ppo.adam_eps=1e-5",
        f"ppo.ent_coef={cfg['ENT_COEF']}",
        f"ppo.max_grad_norm={cfg['MAX_GRAD_NORM']}",
        f"net.actor_hidden={h}",
        f"net.critic_hidden={h}",
        f"net.activation={cfg['ACTIVATION']}",
        "net.share_params=true",
    ]
    if algo == "mappo":  # recurrent: whole rollouts as sequences, as the peer's
        out += ["net.rnn=gru", f"net.rnn_hidden={int(cfg['GRU_HIDDEN_DIM'])}"]
        out += [f"ppo.chunk_len={steps}"]
    return out


def _curve(rows: list[dict], ret: str, win: str | None) -> dict:
    """{'return': [...], 'win_rate': [...]} per update from metric rows (NaN: no episode)."""
    out = {"return": [r.get(ret, float("nan")) for r in rows]}
    if win:
        out["win_rate"] = [r.get(win, float("nan")) for r in rows]
    return out


def acjax_program(algo: str, cfg: dict, updates: int):
    """acjax's compiled program of `updates` updates; call() is a fresh run of seed p.seed."""
    import jax
    from bench_timing import Program, timed_compile

    from acjax.config import load_config
    from acjax.harness import make_trainer

    started = time.perf_counter()
    overrides = acjax_overrides(algo, cfg, 1)
    tr = make_trainer(load_config(None, overrides))
    n = tr.spec.num_agents
    if cfg.get("SCALE_CLIP_EPS") and n > 1:  # the peer's clip / agents: rebuild with them
        overrides = acjax_overrides(algo, cfg, n)
        tr = make_trainer(load_config(None, overrides))
    learner, runner = tr.init()
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(lambda: tr.compile(learner, runner, updates))
    assert tr.num_updates == updates, (tr.num_updates, updates)
    p = None

    def call():
        t0 = time.perf_counter()
        tr.run_seeds = [p.seed]  # this call's run: seed p.seed, from scratch
        learner, runner = jax.block_until_ready(tr.init())
        p.init_seconds.append(time.perf_counter() - t0)
        p.t_begin = time.perf_counter()  # the timed part starts here (see `timed_call`)
        _, _, metrics = fn(learner, runner)
        m = {k: np.asarray(v)[0] for k, v in metrics.items()}
        rows = [{k: float(v[i]) for k, v in m.items()} for i in range(updates)]
        win = "win_rate" if algo == "mappo" else None
        p.curves.append(_curve(rows, "episode_return", win))

    record = dict(side="acjax", algo=algo, env=acjax_world(algo, cfg), n_agents=n,
                  acjax_overrides=overrides)  # fmt: skip
    steps = updates * tr.steps_per_update
    p = Program(record, call, steps, compile_s, setup, 0.0, [], started)
    p.seed, p.curves, p.init_seconds = 0, [], []
    return p


def peer_program(mod, algo: str, cfg: dict, updates: int):
    """The peer's train function as its script jits it; call() is a whole run of seed p.seed."""
    import jax
    from bench_timing import Program, timed_compile

    started = time.perf_counter()
    train = jax.jit(mod.make_train(dict(cfg)))
    setup = time.perf_counter() - started
    fn, compile_s = timed_compile(lambda: train.lower(jax.random.PRNGKey(0)).compile())
    mod.wandb.take()
    p = None

    def call():
        p.t_begin = time.perf_counter()
        jax.block_until_ready(fn(jax.random.PRNGKey(p.seed)))
        rows = mod.wandb.take()
        if algo == "mappo":
            rows.sort(key=lambda r: r["env_step"])
        assert len(rows) == updates, (len(rows), updates)
        p.curves.append(_curve(rows, *(("returns", "win_rate") if algo == "mappo"
                                       else ("returned_episode_returns", None))))  # fmt: skip

    peer_file = PEERS[algo][0]
    record = dict(side="peer", algo=f"jaxmarl-{peer_file.stem}", env=acjax_world(algo, cfg),
                  peer_config={k: v for k, v in cfg.items() if k.isupper()})  # fmt: skip
    steps = updates * int(cfg["NUM_ENVS"]) * int(cfg["NUM_STEPS"])
    p = Program(record, call, steps, compile_s, setup, 0.0, [], started)
    p.seed, p.curves, p.init_seconds = 0, [], []
    return p


def timed_call(p) -> float:
    """One call of p, timed from `p.t_begin` (acjax: after the run's init) to its end."""
    timed(p)
    p.times[-1] = time.perf_counter() - p.t_begin
    return p.times[-1]


def summary(curves: list[dict], key: str, last: int) -> dict:
    """Per seed: the mean of the last `last` updates' values; their mean and spread."""
    per_seed = [float(np.nanmean(c[key][-last:])) for c in curves]
    sd = statistics.stdev(per_seed) if len(per_seed) > 1 else float("nan")
    return {"per_seed": per_seed, "mean": float(np.mean(per_seed)), "sd": sd}


def measure(mod, algo: str, cfg: dict, updates: int, rounds: int) -> list[dict]:
    """Both sides compiled, then `rounds` rounds (acjax, peer; seed = round): their records."""
    from bench_timing import finish

    progs = {}
    for side, build in (("acjax", lambda: acjax_program(algo, cfg, updates)),
                        ("peer", lambda: peer_program(mod, algo, cfg, updates))):  # fmt: skip
        progs[side] = build()
        print(f"[jaxmarl-peer] {algo} {side}: compiled in {progs[side].compile_seconds:.1f} s "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
    per_round = []
    for r in range(rounds):
        got = {}
        for side, p in progs.items():
            p.seed = r
            got[side] = p.steps_per_call / timed_call(p)
        row = {"round": r, "seed": r, "load_avg_1min": os.getloadavg()[0],
               **{f"{s}_steps_per_second": v for s, v in got.items()},
               "acjax_vs_peer": got["acjax"] / got["peer"]}  # fmt: skip
        per_round.append(row)
        print(f"[jaxmarl-peer] {algo} round {r}: acjax {got['acjax']:,.0f}, peer "
              f"{got['peer']:,.0f} env steps/s ({row['acjax_vs_peer']:.2f}x, load "
              f"{row['load_avg_1min']:.2f})", flush=True)  # fmt: skip
    last = max(1, updates // 10)
    recs = []
    for p in progs.values():
        rec = finish(p, "jaxmarl-peer")
        rec.update(section="jaxmarl-peer", peer_algo=algo, updates_per_call=updates,
                   rounds=per_round, curves=p.curves, init_seconds=p.init_seconds,
                   last_updates_averaged=last,
                   vs_peer=statistics.median(x["acjax_vs_peer"] for x in per_round))  # fmt: skip
        rec["return"] = summary(p.curves, "return", last)
        if "win_rate" in p.curves[0]:
            rec["win_rate"] = summary(p.curves, "win_rate", last)
        recs.append(rec)
    return recs


def _fmt_stat(s: dict | None) -> str:
    if not s:
        return "-"
    seeds = ", ".join(f"{x:.3g}" for x in s["per_seed"])
    return f"{s['mean']:.3g} ± {s['sd']:.2g} ({seeds})"


def markdown(recs: list[dict], head: str) -> str:
    from bench_timing import fmt, table

    out = [head]
    for algo in ("mappo", "ippo"):
        group = [r for r in recs if r.get("peer_algo") == algo]
        if not group:
            continue
        a = next(r for r in group if r["side"] == "acjax")
        peer = next(r for r in group if r["side"] == "peer")
        rows = [
            [
                r["algo"] if r["side"] == "peer" else f"acjax {r['algo']}",
                fmt(r["steps_per_second"]),
                fmt(r["compile_seconds"], 1),
                _fmt_stat(r["return"]),
                _fmt_stat(r.get("win_rate")),
            ]
            for r in (a, peer)
        ]
        load = [round(x["load_avg_1min"], 2) for x in a["rounds"]]
        ratios = [round(x["acjax_vs_peer"], 2) for x in a["rounds"]]
        out.append(
            f"## {algo}: {a['env']}, {peer['peer_config']['NUM_ENVS']} envs x "
            f"{peer['peer_config']['NUM_STEPS']} steps, {a['updates_per_call']} updates "
            f"({a['steps_per_call']:,} env steps) per run, {len(a['rounds'])} rounds\n\n"
            + table(
                rows,
                [
                    "program",
                    "env steps/s",
                    "compile s",
                    f"return, last {a['last_updates_averaged']} updates (seeds)",
                    "win rate",
                ],
            )  # fmt: skip
            + f"\nacjax / peer env steps/s: **{a['vs_peer']:.2f}x** (median; per round "
            f"{ratios}); load average (1 min) per round {load}. acjax's run init (outside its "
            f"program) {fmt(statistics.median(a['init_seconds']), 2)} s per run.\n"
        )
    return "\n".join(out)


def write(recs: list[dict], prefix: Path, head: str) -> None:
    """Merges recs into prefix.json (replacing the same algorithm's) and rewrites prefix.md."""
    path = prefix.with_suffix(".json")
    mine = {r["peer_algo"] for r in recs}
    old = json.loads(path.read_text()) if path.is_file() else []
    allrecs = [r for r in old if r.get("peer_algo") not in mine] + recs
    prefix.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(allrecs, indent=1, default=str) + "\n")
    prefix.with_suffix(".md").write_text(markdown(allrecs, head))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algo", choices=("mappo", "ippo", "qmix"), required=True)
    ap.add_argument("--src", help="JaxMARL source tree holding baselines/")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--updates", type=int, help="updates per run (mappo 3, ippo 100)")
    ap.add_argument("--out", help="output prefix (default results/cpu<N>-<date>-jaxmarl-peer)")
    args, rest = ap.parse_known_args(argv)
    if args.algo == "qmix":  # its own script: a warm acjax against the peer's long - short
        import jaxmarl_qmix_peer

        return jaxmarl_qmix_peer.main([a for a in argv if not a.startswith("--algo")
                                       and a != "qmix"])  # fmt: skip
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    file = PEERS[args.algo][0]
    root = common.find_source(args.src, file)
    if root is None:
        print(f"skipped: no JaxMARL source with {file} at --src {args.src!r}")
        return 0
    try:
        mod, stubbed = common.load_peer(root, file, f"jaxmarl_{file.stem}")
    except Exception as e:  # noqa: BLE001 - a peer that cannot be imported is a skip
        print(f"skipped: JaxMARL's {file} does not import: {type(e).__name__}: {e}")
        return 0

    import jax
    from bench_timing import device_kind, machine_name

    updates = args.updates or DEFAULT_UPDATES[args.algo]
    cfg = peer_config(root, args.algo, updates)
    load0 = os.getloadavg()
    recs = measure(mod, args.algo, cfg, updates, args.rounds)
    commit = common.commit_of(root)
    for r in recs:
        r.update(peer_commit=commit, stood_in_modules=stubbed, load_avg_at_start=list(load0),
                 load_avg_at_end=list(os.getloadavg()))  # fmt: skip
    date = datetime.date.today().isoformat()
    name = f"{machine_name()}-{date}-jaxmarl-peer"
    prefix = Path(args.out) if args.out else HERE / "results" / name
    head = (
        f"# acjax beside JaxMARL's own trainers ({date}, {device_kind()}, {os.cpu_count()} "
        f"cores, jax {jax.__version__}, JaxMARL {commit[:7]})\n\n"
        "Both sides compiled once, then rounds in alternation (acjax, peer), round r = seed r, "
        "each call a whole run from scratch at the peer's settings (benchmarks/jaxmarl_peer.py's "
        "docstring lists them and what differs). Env steps/s: the median call's (compile "
        "excluded; acjax's run init outside its program excluded, the peer's in-program init "
        "included). Returns at equal steps: per seed, the mean over the last updates of the "
        "mean return of the episodes ended in each update (MPE: the team's, the agents' sum).\n"
    )
    write(recs, prefix, head)
    print(prefix.with_suffix(".md").read_text())
    print(f"[jaxmarl-peer] wrote {prefix.with_suffix('.json')} and .md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
