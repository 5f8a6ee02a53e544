#!/usr/bin/env bash
# Extracts JaxMARL's baselines (github.com/FLAIROx/JaxMARL: baselines/QLearning, MAPPO, IPPO) from a
# git copy, for benchmarks/jaxmarl_peer.py --src DEST. Nothing of it enters the project.
# Usage: jaxmarl_peer_setup.sh JAXMARL_GIT [DEST]
#   JAXMARL_GIT: a bare git directory (a mirror) or a checkout of JaxMARL
#   DEST: where baselines/ goes (default ${TMPDIR:-/tmp}/jaxmarl-src); COMMIT (default HEAD) picks
#   the commit. The peer imports jaxmarl, flashbax, flax, optax and chex (acjax's venv has them);
#   hydra, omegaconf and wandb, which only its command line uses, are stood in for when absent.
set -euo pipefail
SRC=${1:?usage: jaxmarl_peer_setup.sh JAXMARL_GIT [DEST]}
DEST=${2:-${TMPDIR:-/tmp}/jaxmarl-src}
COMMIT=${COMMIT:-HEAD}
if [ -d "$SRC/.git" ]; then G=(git -C "$SRC"); else G=(git --git-dir="$SRC"); fi
SHA=$("${G[@]}" rev-parse "$COMMIT^{commit}")
mkdir -p "$DEST"
# (a mirror without its largest files may warn "invalid object" about one of docs/: harmless)
"${G[@]}" archive "$SHA" baselines/QLearning baselines/MAPPO baselines/IPPO | tar -x -C "$DEST"
echo "$SHA" > "$DEST/JAXMARL_COMMIT"
test -f "$DEST/baselines/QLearning/qmix_rnn.py"
test -f "$DEST/baselines/MAPPO/mappo_rnn_smax.py"
test -f "$DEST/baselines/IPPO/ippo_ff_mpe.py"
echo "JaxMARL baselines at $SHA in $DEST (python benchmarks/jaxmarl_peer.py --algo mappo|ippo|qmix --src $DEST)"
