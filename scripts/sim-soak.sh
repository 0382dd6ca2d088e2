#!/usr/bin/env bash
# Runs the deterministic cluster simulator over fresh random seeds and prints any failing seed
# with the command that replays it.
#
#   scripts/sim-soak.sh [COUNT] [OPS]     COUNT seeds (default 1000), OPS client ops per seed
#
# The first seed is random (from $RANDOM and the clock), so every soak explores new runs; the
# seeds are consecutive from there, and the summary names the range.
set -euo pipefail

count="${1:-1000}"
ops="${2:-1000}"
first=$(( (RANDOM << 32 | RANDOM << 16 | RANDOM) ^ $(date +%s%N) ))
first=$(( first < 0 ? -first : first ))
first=$(( first % 1000000000000 + 1000000 ))

cd "$(dirname "$0")/.."
echo "sim-soak: seeds ${first}..$(( first + count - 1 )), ${ops} ops each"
log=$(mktemp -t tinkerdb-sim-soak.XXXXXX)
if TINKERDB_SIM_FIRST="$first" TINKERDB_SIM_SEEDS="$count" TINKERDB_SIM_OPS="$ops" \
    cargo test -p tinkerdb --lib sim::tests::simulate_fixed_seeds -- --nocapture >"$log" 2>&1; then
    grep -E '^simulated' "$log" || true
    echo "sim-soak: all ${count} seeds passed"
    rm -f "$log"
else
    grep -E '^simulated|seeds failed|first failure' "$log" || tail -n 40 "$log"
    echo
    echo "sim-soak: FAILED; full log in ${log}"
    echo "replay one seed with: TINKERDB_SIM_SEED=<seed> TINKERDB_SIM_OPS=${ops} cargo test -p tinkerdb --lib sim:: -- --nocapture"
    exit 1
fi
