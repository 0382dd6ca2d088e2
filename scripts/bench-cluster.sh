#!/usr/bin/env bash
# Measures a 3-node release cluster against one redis-server, in the same run.
#
# Servers, each on free loopback ports with its own fresh temporary directory:
#   redis      redis-server --appendonly yes --appendfsync always --save ""  (durable, as we are)
#   cluster    3 x target/release/tinkerdb server --node-id N --initial-cluster ... (every
#              acknowledged write is committed by a majority and fsynced)
#
# Sections of the report:
#   1. throughput and latency: redis-benchmark -t set,get -n BENCH_N -c 50 -d 64 with pipelines
#      of 1 and 16, against redis, the cluster's leader, and a follower (which forwards writes to
#      the leader and reads through ReadIndex), in BENCH_ROUNDS rounds that each measure all
#      three one after the other; each round's ratios against redis, and their median (a
#      minute-long drift of the machine then moves both sides of a ratio alike);
#   2. catch-up of a new node: BENCH_LOAD_KEYS keys are loaded into the leader with
#      `redis-cli --pipe`, then a new, empty node is added (`tinkerdb cluster add-node`, started
#      with --join); the time until its raft_applied_index reaches the leader's raft_commit_index
#      (it receives a snapshot, then the log after it), and the leader's and the new node's
#      peak resident memory meanwhile (what the snapshot transfer costs on each side).
#
# The report is printed as Markdown and written to bench-results/cluster.md.
#
# Knobs (environment):
#   BENCH_N=200000          requests per redis-benchmark test
#   BENCH_CLIENTS=50        redis-benchmark connections
#   BENCH_PIPELINES="1 16"  pipeline depths
#   BENCH_ROUNDS=3          rounds of the throughput section (each: redis, leader, follower)
#   BENCH_LOAD_KEYS=1000000 keys loaded for the catch-up section
#   BENCH_STEP_TIMEOUT=900  seconds any single step may take
#   BENCH_CATCHUP_WIPE=1    1: a new, empty node joins; 0: a follower stopped during the load
#                           restarts on its old data (a node that fell behind)
#   BENCH_NODE_ARGS=""      extra `tinkerdb server` flags for every node, e.g. "--read-mode lease"
# A quick run: BENCH_N=20000 BENCH_ROUNDS=1 BENCH_LOAD_KEYS=100000 scripts/bench-cluster.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"
cd "$(dirname "$0")/.."

N="${BENCH_N:-200000}"
CLIENTS="${BENCH_CLIENTS:-50}"
PIPELINES="${BENCH_PIPELINES:-1 16}"
ROUNDS="${BENCH_ROUNDS:-3}"
LOAD_KEYS="${BENCH_LOAD_KEYS:-1000000}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-900}"
CATCHUP_WIPE="${BENCH_CATCHUP_WIPE:-1}"
VALUE_BYTES=64
NODES=3
LOG_TAG=bench-cluster
FAILED_LOG_PREFIX=cluster-

case "$ROUNDS" in '' | *[!0-9]* | 0) die "BENCH_ROUNDS must be a positive integer, not '$ROUNDS'" ;; esac
require_tools redis-server redis-cli redis-benchmark timeout awk
bench_init_work bench-cluster

# bench NAME PIPELINE ROUND: redis-benchmark SET and GET against NAME (a node id or "redis"),
# CSV in bench-NAME.rROUND-PPIPELINE.csv (read back with `field NAME.rROUND PIPELINE ...`).
bench() {
    local name="$1" pipeline="$2" round="$3"
    log "round $round, $name: redis-benchmark -t set,get -P $pipeline -n $N -c $CLIENTS"
    timeout "$STEP_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" -n "$N" -c "$CLIENTS" \
        -d "$VALUE_BYTES" -P "$pipeline" -t set,get --csv \
        >"$work/bench-$name.r$round-P$pipeline.csv" \
        || die "redis-benchmark against $name failed or timed out"
}

# median NUMBER...: the middle value (the mean of the two middle ones for an even count);
# "-" if any is not a number.
median() {
    printf '%s\n' "$@" | sort -g | awk '
        $1 !~ /^[0-9.]+$/ { bad = 1 } { v[NR] = $1 }
        END {
            if (bad || NR == 0) { print "-"; exit }
            if (NR % 2) printf "%.2f", v[(NR + 1) / 2]
            else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# ---- build and start -------------------------------------------------------------------------
build_release
use_private_binary
start_redis redis always
start_cluster "$NODES"
all=$(seq 1 $NODES)
# shellcheck disable=SC2086
leader_id=$(wait_leader $all)
follower_id=$((leader_id % NODES + 1))
log "cluster up: leader node $leader_id, benchmarking follower node $follower_id"

report="$work/cluster.md"
{
    echo "# TinkerDB 3-node cluster vs redis-server"
    echo
    report_host_lines
    echo "- disk: $(disk_of "$work")"
    echo "- $(redis-server --version | cut -d' ' -f1-3) with appendonly yes, appendfsync always; all $NODES nodes, redis and the clients on the same machine"
    echo "- redis-benchmark -n $N -c $CLIENTS -d $VALUE_BYTES"
    echo "- node flags beyond the defaults: ${BENCH_NODE_ARGS:-none}"
    echo
} >"$report"

# ---- 1. throughput ---------------------------------------------------------------------------
for ((round = 1; round <= ROUNDS; round++)); do
    for p in $PIPELINES; do
        bench redis "$p" "$round"
        bench "$leader_id" "$p" "$round"
        bench "$follower_id" "$p" "$round"
    done
done
# shellcheck disable=SC2086
[ "$(leader $all)" = "$leader_id" ] || log "warning: the leader changed during the benchmarks"
{
    echo "## Throughput: ratios against redis-server, per round and their median"
    echo
    echo "Each round measures redis-server, the leader and the follower one after the other; a"
    echo "ratio divides the cluster's requests/s by redis-server's in the same round."
    echo
    echo "| test | pipeline | leader / redis per round | median | follower / redis per round | median |"
    echo "| --- | ---: | --- | ---: | --- | ---: |"
    for test in SET GET; do
        for p in $PIPELINES; do
            lr=() fr=()
            for ((round = 1; round <= ROUNDS; round++)); do
                r=$(field "redis.r$round" "$p" "$test" 2)
                lr+=("$(ratio "$(field "$leader_id.r$round" "$p" "$test" 2)" "$r")")
                fr+=("$(ratio "$(field "$follower_id.r$round" "$p" "$test" 2)" "$r")")
            done
            echo "| $test | $p | ${lr[*]} | $(median "${lr[@]}") | ${fr[*]} | $(median "${fr[@]}") |"
        done
    done
    echo
    for ((round = 1; round <= ROUNDS; round++)); do
        echo "## Throughput (requests/s) and latency (ms), round $round of $ROUNDS"
        echo
        echo "| test | pipeline | redis ops/s | p50 | p99 | leader ops/s | p50 | p99 | follower ops/s | p50 | p99 | leader / redis | follower / redis |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for test in SET GET; do
            for p in $PIPELINES; do
                rn=redis.r$round ln=$leader_id.r$round fn=$follower_id.r$round
                r=$(field "$rn" "$p" "$test" 2)
                l=$(field "$ln" "$p" "$test" 2)
                f=$(field "$fn" "$p" "$test" 2)
                echo "| $test | $p | $r | $(field "$rn" "$p" "$test" 5) | $(field "$rn" "$p" "$test" 7) | $l | $(field "$ln" "$p" "$test" 5) | $(field "$ln" "$p" "$test" 7) | $f | $(field "$fn" "$p" "$test" 5) | $(field "$fn" "$p" "$test" 7) | $(ratio "$l" "$r") | $(ratio "$f" "$r") |"
            done
        done
        echo
    done
} >>"$report"

# ---- 2. catch-up of a new node ---------------------------------------------------------------
# BENCH_CATCHUP_WIPE=1 (default): a brand-new node (id NODES+1, empty data) is added with
# `tinkerdb cluster add-node` and started with --join after the load: it must receive a snapshot.
# BENCH_CATCHUP_WIPE=0: a follower is stopped during the load and restarted on its old data.
survivors=()
if [ "$CATCHUP_WIPE" = 1 ]; then
    newbie=$((NODES + 1))
    mkdir -p "$work/node$newbie/data"
    PORT[$newbie]=$(free_port)
    PEER[$newbie]=$(free_port)
    ADMIN[$newbie]=$(free_port)
    how="added as a new, empty node"
    # shellcheck disable=SC2206
    survivors=($all)
else
    newbie=$follower_id
    log "stopping node $newbie during the load"
    kill -9 "${PID[$newbie]}"
    wait "${PID[$newbie]}" 2>/dev/null || true
    how="restarted on its old data"
    for id in $all; do [ "$id" = "$newbie" ] || survivors+=("$id"); done
fi
leader_id=$(wait_leader "${survivors[@]}")

log "generating $LOAD_KEYS distinct SETs with $VALUE_BYTES-byte values"
write_load_resp "$work/load.resp"
log "loading $LOAD_KEYS keys into leader $leader_id with redis-cli --pipe"
t0=$(now)
out=$(timeout "$STEP_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$leader_id]}" --pipe <"$work/load.resp") \
    || die "redis-cli --pipe into the cluster failed: $out"
load_s=$(s_since "$t0" 1)
case "$out" in *"errors: 0, replies: $LOAD_KEYS"*) ;; *) die "loading the cluster: $out" ;; esac
rm -f "$work/load.resp"
target_index=$(raft_field "$leader_id" raft_commit_index)
[ -n "$target_index" ] || die "leader $leader_id did not answer INFO raft"
log "loaded in $load_s s; leader commit index $target_index; node $newbie is $how"

# rss_mib PID: resident memory of a process in MiB (empty once it is gone).
rss_mib() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$1/status" 2>/dev/null; }
# sample_peaks LEADER_PID NEW_PID FILE: every 10 ms until NEW_PID exits (or this is killed),
# writes "leader-peak new-peak" (MiB) to FILE: what a snapshot transfer costs in memory.
sample_peaks() {
    local peak_l=0 peak_n=0 a b
    while kill -0 "$2" 2>/dev/null; do
        a=$(rss_mib "$1")
        b=$(rss_mib "$2")
        [ -n "$a" ] && [ "$a" -gt "$peak_l" ] && peak_l=$a
        [ -n "$b" ] && [ "$b" -gt "$peak_n" ] && peak_n=$b
        echo "$peak_l $peak_n" >"$3.tmp" && mv "$3.tmp" "$3"
        sleep 0.01
    done
}
leader_rss_before=$(rss_mib "${PID[$leader_id]}")
if [ "$CATCHUP_WIPE" = 1 ]; then
    "$TINKERDB_BIN" cluster --admin "127.0.0.1:${ADMIN[$leader_id]}" add-node --id "$newbie" \
        --peer-addr "127.0.0.1:${PEER[$newbie]}" >&2 || die "add-node failed"
    t0=$(now)
    start_node "$newbie" --join "127.0.0.1:${PEER[$leader_id]}"
else
    t0=$(now)
    start_node "$newbie"
fi
sample_peaks "${PID[$leader_id]}" "${PID[$newbie]}" "$work/rss.peak" &
sampler=$!
applied=""
caught_up=""
# The new node's Raft loop answers INFO raft: the slowest answer shows how long the loop stalled
# while catching up (receiving, loading and installing the snapshot). Counted from its first
# answer on: before it, the node is still starting.
slowest_info_ms=0
for ((i = 0; i < STEP_TIMEOUT * 20; i++)); do
    t1=$(date +%s%N)
    answered_before=$applied
    applied=$(raft_field "$newbie" raft_applied_index)
    info_ms=$(( ($(date +%s%N) - t1) / 1000000 ))
    if [ -n "$answered_before" ] && [ "$info_ms" -gt "$slowest_info_ms" ]; then
        slowest_info_ms=$info_ms
    fi
    if [ -n "$applied" ] && [ "$applied" -ge "$target_index" ]; then
        caught_up=$(s_since "$t0" 2)
        break
    fi
    kill -0 "${PID[$newbie]}" 2>/dev/null || die "node $newbie exited while catching up"
    sleep 0.05
done
[ -n "$caught_up" ] || die "node $newbie reached applied index ${applied:-?} of $target_index within $STEP_TIMEOUT s"
sleep 0.2
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
read -r leader_rss_peak new_rss_peak <"$work/rss.peak" || true
new_rss_after=$(rss_mib "${PID[$newbie]}")
size=$(timeout 60 redis-cli -h 127.0.0.1 -p "${PORT[$newbie]}" dbsize 2>/dev/null || echo "?")
snapshots=$(grep -ci "snapshot" "$work/node$newbie/server.log" || true)
{
    echo "## Catch-up of a node ($how) after $LOAD_KEYS keys"
    echo
    echo "$LOAD_KEYS keys ($VALUE_BYTES-byte values) were loaded into"
    echo "leader $leader_id with redis-cli --pipe in $load_s s; node $newbie was then $how. Time from its start until its"
    echo "raft_applied_index reached the leader's commit index ($target_index) after the load:"
    echo
    echo "| keys | load s | catch-up s | DBSIZE on the new node after |"
    echo "| ---: | ---: | ---: | ---: |"
    echo "| $LOAD_KEYS | $load_s | $caught_up | $size |"
    echo
    echo "Lines mentioning snapshots in the new node's log: $snapshots"
    echo
    echo "Slowest INFO raft answer from the new node while it caught up (polled every 50 ms from"
    echo "its first answer on; its Raft loop answers it, so this bounds how long the loop"
    echo "stalled): $slowest_info_ms ms"
    echo
    echo "Resident memory (MiB, sampled every 10 ms from the new node's start until it caught up):"
    echo
    echo "| leader before | leader peak | new node peak | new node after |"
    echo "| ---: | ---: | ---: | ---: |"
    echo "| ${leader_rss_before:-?} | ${leader_rss_peak:-?} | ${new_rss_peak:-?} | ${new_rss_after:-?} |"
} >>"$report"

publish_report "$report" cluster.md
