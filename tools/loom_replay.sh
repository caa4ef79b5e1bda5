#!/usr/bin/env bash
# Watch a loom model fail, step by step (docs/loom.md walks through the output).
#
#   bash tools/loom_replay.sh [MODEL]
#
# MODEL is a loom model that must fail, by default the one without wakep's fence
# (proc/idle_model.rs: loom_idle_no_wakep_fence_loses_local_wakeup). The script
# runs it twice:
#   1. search: loom explores interleavings, writing the one it is about to run to
#      a checkpoint file before each (LOOM_CHECKPOINT_FILE, _INTERVAL=1), so when
#      an oracle panics the file holds the failing interleaving;
#   2. replay: loom starts from that file, so its first interleaving is the
#      failing one, and prints it: each protocol step of idle.rs with its source
#      line (LOOM_LOG=gort=info; the `step!` lines), loom's own reports with
#      source locations (LOOM_LOCATION), and the oracle's panic.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-loom_idle_no_wakep_fence_loses_local_wakeup}
export RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom
export LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-2}
# The oracle's panic message is the end of the story; a backtrace would bury it.
export RUST_BACKTRACE=0
CHECKPOINT=$PWD/target/loom/$MODEL.json
run() {
  cargo test -q -p gort-runtime --release --features loom-checkpoint --lib "$MODEL" \
    -- --nocapture --test-threads=1
}
cargo test -q -p gort-runtime --release --features loom-checkpoint --lib --no-run 2>/dev/null
rm -f "$CHECKPOINT"
echo "== 1. searching for an interleaving in which $MODEL fails"
start=$(date +%s)
LOOM_CHECKPOINT_FILE=$CHECKPOINT LOOM_CHECKPOINT_INTERVAL=1 run >/dev/null 2>&1 || true
if [ ! -s "$CHECKPOINT" ]; then
  echo "no checkpoint written: is $MODEL a loom model that fails?" >&2
  exit 1
fi
echo "   found in $(( $(date +%s) - start )) s; saved to ${CHECKPOINT#"$PWD"/}"
echo "== 2. replaying it"
LOOM_CHECKPOINT_FILE=$CHECKPOINT LOOM_CHECKPOINT_INTERVAL=1 LOOM_LOG=gort=info,loom::rt::execution=info \
  LOOM_LOCATION=1 run 2>&1 |
  sed -n '/^running 1 test/,/^test result/p' | grep -v '^running\|^test result\|^note:\|^\.$\|^$' |
  sed 's/^ *INFO \(gort\|loom::rt::execution\): //'
