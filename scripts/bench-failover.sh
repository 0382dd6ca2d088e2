#!/usr/bin/env bash
# Measures failover: how long a 3-node release cluster takes to accept writes again after its
# leader is killed with SIGKILL.
#
# Each node is a separate `target/release/tinkerdb server --node-id N --initial-cluster ...` on
# free loopback ports with its own data directory. A background load (redis-benchmark SETs against
# a random running node, restarted whenever its node dies) keeps the cluster busy. Then, BENCH_KILLS
# times: find the leader (every running node's `INFO raft` names it), kill -9 it, and time until a
# write through a surviving node (alternating between them) is acknowledged; restart the killed node
# and wait until all three agree on a leader again.
#
# The failover time includes the election timeout (500-1000 ms by default), the election, and the
# first commit in the new term; the probe is `redis-cli SET` in a loop, a few ms per attempt.
#
# The report is printed as Markdown and written to bench-results/failover.md.
#
# Knobs (environment):
#   BENCH_KILLS=20          leader kills
#   BENCH_STEP_TIMEOUT=60   seconds any single step (a failover, a restart) may take
#   BENCH_NODE_ARGS=""      extra `tinkerdb server` flags for every node, e.g. "--read-mode lease"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"
cd "$(dirname "$0")/.."

KILLS="${BENCH_KILLS:-20}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-60}"
NODES=3
# Pause between the cluster settling and the next kill, so the load runs against a full cluster.
SETTLE_S=1
LOG_TAG=bench-failover
FAILED_LOG_PREFIX=failover-
KEPT_LOGS="node logs"

require_tools redis-cli redis-benchmark timeout awk sort
bench_init_work bench-failover

# load: redis-benchmark SETs against random running nodes until killed.
load() {
    local id
    while :; do
        id=$((RANDOM % NODES + 1))
        timeout "$STEP_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$id]}" -t set -n 20000 \
            -c 8 -d 64 -r 100000 -q >/dev/null 2>&1 || sleep 0.05
    done
}

# ---- build and start -------------------------------------------------------------------------
build_release
use_private_binary
start_cluster "$NODES"
all=$(seq 1 $NODES)
# shellcheck disable=SC2086
first_leader=$(wait_leader $all)
log "cluster up, leader node $first_leader; starting the background load"
load &
load_pid=$!

# ---- kills -----------------------------------------------------------------------------------
times=()
for ((round = 1; round <= KILLS; round++)); do
    sleep "$SETTLE_S"
    # shellcheck disable=SC2086
    victim=$(wait_leader $all)
    survivors=()
    for id in $all; do [ "$id" = "$victim" ] || survivors+=("$id"); done
    kill -9 "${PID[$victim]}"
    wait "${PID[$victim]}" 2>/dev/null || true
    t0=$(now)
    ok=""
    for ((try = 0; try < STEP_TIMEOUT * 200; try++)); do
        target=${survivors[$((try % ${#survivors[@]}))]}
        reply=$(timeout 2 redis-cli -h 127.0.0.1 -p "${PORT[$target]}" set "failover:$round" "$try" 2>/dev/null || true)
        if [ "$reply" = "OK" ]; then
            ok=$(ms_since "$t0")
            break
        fi
        if [ "$(ms_since "$t0")" -gt $((STEP_TIMEOUT * 1000)) ]; then break; fi
    done
    [ -n "$ok" ] || die "round $round: no write acknowledged within $STEP_TIMEOUT s of killing leader $victim"
    new_leader=$(wait_leader "${survivors[@]}")
    log "round $round: killed leader $victim, write acknowledged through node $target after $ok ms (new leader $new_leader)"
    times+=("$ok")
    start_node "$victim"
    wait_ready "$victim"
    # shellcheck disable=SC2086
    wait_leader $all >/dev/null
done

kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
load_pid=""

# ---- report ----------------------------------------------------------------------------------
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
stat() { awk -v q="$1" '{ v[NR] = $1; s += $1 } END {
    if (q == "mean") { printf "%.0f", s / NR; exit }
    i = int(q * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }' <<<"$sorted"; }
report="$work/failover.md"
{
    echo "# TinkerDB failover after kill -9 of the leader"
    echo
    report_host_lines
    echo "- $NODES nodes on one machine, default election timeout (tick 100 ms x 5-10), background redis-benchmark SET load"
    echo "- node flags beyond the defaults: ${BENCH_NODE_ARGS:-none}"
    echo "- measured: from kill -9 of the leader to the first acknowledged SET through a surviving node"
    echo
    echo "| kills | p50 ms | p90 ms | max ms | min ms | mean ms |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| ${#times[@]} | $(stat 0.5) | $(stat 0.9) | $(stat 1) | $(stat 0) | $(stat mean) |"
    echo
    echo "All times (ms, in kill order): ${times[*]}"
} >"$report"
publish_report "$report" failover.md
