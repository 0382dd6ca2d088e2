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
#      the leader and reads through ReadIndex); ratios against redis;
#   2. catch-up of a new node: BENCH_LOAD_KEYS keys are loaded into the leader with
#      `redis-cli --pipe`, then a new, empty node is added (`tinkerdb cluster add-node`, started
#      with --join); the time until its raft_applied_index reaches the leader's raft_commit_index
#      (it receives a snapshot, then the log after it).
#
# The report is printed as Markdown and written to bench-results/cluster.md.
#
# Knobs (environment):
#   BENCH_N=200000          requests per redis-benchmark test
#   BENCH_CLIENTS=50        redis-benchmark connections
#   BENCH_PIPELINES="1 16"  pipeline depths
#   BENCH_LOAD_KEYS=1000000 keys loaded for the catch-up section
#   BENCH_STEP_TIMEOUT=900  seconds any single step may take
#   BENCH_CATCHUP_WIPE=1    1: a new, empty node joins; 0: a follower stopped during the load
#                           restarts on its old data (a node that fell behind)
# A quick run: BENCH_N=20000 BENCH_LOAD_KEYS=100000 scripts/bench-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N="${BENCH_N:-200000}"
CLIENTS="${BENCH_CLIENTS:-50}"
PIPELINES="${BENCH_PIPELINES:-1 16}"
LOAD_KEYS="${BENCH_LOAD_KEYS:-1000000}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-900}"
CATCHUP_WIPE="${BENCH_CATCHUP_WIPE:-1}"
VALUE_BYTES=64
NODES=3
# Polls of 0.1 s while waiting for a server to answer PING (60 s).
READY_POLLS_MAX=600
# Random ports are drawn below Linux's ephemeral range, so client sockets never hold them.
PORT_MIN=20000
PORT_SPAN=12000
PORT_TRIES_MAX=200

log() { printf 'bench-cluster: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in redis-server redis-cli redis-benchmark timeout awk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/install-test-deps.sh installs the redis tools)"
done

mkdir -p target bench-results
work=$(mktemp -d "$PWD/target/bench-cluster.XXXXXX")
declare -A PID PORT PEER ADMIN
started_pids=()

cleanup() {
    local status=$? pid log
    for pid in "${started_pids[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        mkdir -p bench-results/failed
        for log in "$work"/*/server.log; do
            if [ -f "$log" ]; then
                cp "$log" "bench-results/failed/cluster-$(basename "$(dirname "$log")").log"
            fi
        done
        log "failed (exit $status); server logs kept in bench-results/failed/"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

used_ports=" "
# free_port: a loopback port nobody listens on and this run has not handed out yet.
free_port() {
    local try port
    for ((try = 0; try < PORT_TRIES_MAX; try++)); do
        port=$((PORT_MIN + RANDOM % PORT_SPAN))
        case "$used_ports" in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            used_ports+="$port "
            echo "$port"
            return 0
        fi
    done
    die "no free port after $PORT_TRIES_MAX tries"
}

now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

TINKERDB_BIN=""
initial_cluster=""

# start_node ID: starts node ID on its ports and data directory (kept across restarts).
start_node() {
    local id="$1"
    shift
    "$TINKERDB_BIN" server --node-id "$id" --initial-cluster "$initial_cluster" "$@" \
        --data-dir "$work/node$id/data" \
        --listen "127.0.0.1:${PORT[$id]}" \
        --peer-listen "127.0.0.1:${PEER[$id]}" \
        --admin-listen "127.0.0.1:${ADMIN[$id]}" \
        >>"$work/node$id/server.log" 2>&1 &
    PID[$id]=$!
    started_pids+=("$!")
}

wait_ready() {
    local id="$1" i
    for ((i = 0; i < READY_POLLS_MAX; i++)); do
        [ "$(redis-cli -h 127.0.0.1 -p "${PORT[$id]}" ping 2>/dev/null)" = "PONG" ] && return 0
        if ! kill -0 "${PID[$id]}" 2>/dev/null; then
            local status=0
            wait "${PID[$id]}" || status=$?
            tail -n 30 "$(server_log "$id")" >&2
            die "node $id exited with status $status before answering PING"
        fi
        sleep 0.1
    done
    die "node $id did not answer PING within $((READY_POLLS_MAX / 10)) s"
}

# raft_field ID FIELD: one field of node ID's INFO raft (empty if it does not answer).
raft_field() {
    timeout 2 redis-cli -h 127.0.0.1 -p "${PORT[$1]}" info raft 2>/dev/null \
        | awk -F: -v f="$2" '$1 == f { sub(/\r$/, "", $2); print $2 }' || true
}

# leader IDS...: prints the leader every node of IDS names (and which says it leads), or nothing.
leader() {
    local id lead="" l
    for id in "$@"; do
        l=$(raft_field "$id" raft_leader_id)
        [ -n "$l" ] && [ "$l" != 0 ] || return 0
        [ -z "$lead" ] || [ "$lead" = "$l" ] || return 0
        lead=$l
    done
    [ -n "$lead" ] && [ "$(raft_field "$lead" raft_role)" = "leader" ] && echo "$lead"
    return 0
}

wait_leader() {
    local i l
    for ((i = 0; i < STEP_TIMEOUT * 20; i++)); do
        l=$(leader "$@")
        [ -n "$l" ] && { echo "$l"; return 0; }
        sleep 0.05
    done
    die "no agreed leader among nodes $* within $STEP_TIMEOUT s"
}


# server_log NAME: the log of a node id or of "redis".
server_log() {
    if [ "$1" = redis ]; then echo "$work/redis/server.log"; else echo "$work/node$1/server.log"; fi
}

# start_redis: redis-server, durable like the cluster (PORT[redis], PID[redis]).
start_redis() {
    mkdir -p "$work/redis"
    PORT[redis]=$(free_port)
    redis-server --port "${PORT[redis]}" --bind 127.0.0.1 --dir "$work/redis" \
        --appendonly yes --appendfsync always --save "" --daemonize no \
        >"$work/redis/server.log" 2>&1 &
    PID[redis]=$!
    started_pids+=("$!")
    wait_ready redis
}

# bench NAME PIPELINE: redis-benchmark SET and GET against NAME (a node id or "redis"), CSV.
bench() {
    local name="$1" pipeline="$2"
    log "$name: redis-benchmark -t set,get -P $pipeline -n $N -c $CLIENTS"
    timeout "$STEP_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" -n "$N" -c "$CLIENTS" \
        -d "$VALUE_BYTES" -P "$pipeline" -t set,get --csv >"$work/bench-$name-P$pipeline.csv" \
        || die "redis-benchmark against $name failed or timed out"
}

# field NAME PIPELINE TEST COLUMN: one value from the CSV (columns: 2 rps, 5 p50, 7 p99).
field() {
    awk -F'","' -v t="$3" -v c="$4" '
        { gsub(/^"|"$/, "") }
        $1 == t { print ($c == "" ? "-" : $c); found = 1; exit }
        END { if (!found) print "-" }' "$work/bench-$1-P$2.csv"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# ---- build and start -------------------------------------------------------------------------
log "cargo build --release"
cargo build --release --bin tinkerdb >&2
# Run a private copy: a rebuild during the run must not change the binary that restarts use.
mkdir -p "$work/bin"
cp target/release/tinkerdb "$work/bin/tinkerdb"
TINKERDB_BIN="$work/bin/tinkerdb"
start_redis
members=()
for id in $(seq 1 $NODES); do
    mkdir -p "$work/node$id/data"
    PORT[$id]=$(free_port)
    PEER[$id]=$(free_port)
    ADMIN[$id]=$(free_port)
    members+=("$id=127.0.0.1:${PEER[$id]}")
done
initial_cluster=$(IFS=,; echo "${members[*]}")
for id in $(seq 1 $NODES); do start_node "$id"; done
for id in $(seq 1 $NODES); do wait_ready "$id"; done
all=$(seq 1 $NODES)
# shellcheck disable=SC2086
leader_id=$(wait_leader $all)
follower_id=$((leader_id % NODES + 1))
log "cluster up: leader node $leader_id, benchmarking follower node $follower_id"

commit=unknown
if git rev-parse --short HEAD >/dev/null 2>&1; then
    commit=$(git rev-parse --short HEAD)
    git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
fi
report="$work/cluster.md"
{
    echo "# TinkerDB 3-node cluster vs redis-server"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr)"
    echo "- disk: $(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')"
    echo "- $(redis-server --version | cut -d' ' -f1-3) with appendonly yes, appendfsync always; all $NODES nodes, redis and the clients on the same machine"
    echo "- redis-benchmark -n $N -c $CLIENTS -d $VALUE_BYTES"
    echo
} >"$report"

# ---- 1. throughput ---------------------------------------------------------------------------
for p in $PIPELINES; do
    bench redis "$p"
    bench "$leader_id" "$p"
    bench "$follower_id" "$p"
done
# shellcheck disable=SC2086
[ "$(leader $all)" = "$leader_id" ] || log "warning: the leader changed during the benchmarks"
{
    echo "## Throughput (requests/s) and latency (ms)"
    echo
    echo "| test | pipeline | redis ops/s | p50 | p99 | leader ops/s | p50 | p99 | follower ops/s | p50 | p99 | leader / redis | follower / redis |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for test in SET GET; do
        for p in $PIPELINES; do
            r=$(field redis "$p" "$test" 2)
            l=$(field "$leader_id" "$p" "$test" 2)
            f=$(field "$follower_id" "$p" "$test" 2)
            echo "| $test | $p | $r | $(field redis "$p" "$test" 5) | $(field redis "$p" "$test" 7) | $l | $(field "$leader_id" "$p" "$test" 5) | $(field "$leader_id" "$p" "$test" 7) | $f | $(field "$follower_id" "$p" "$test" 5) | $(field "$follower_id" "$p" "$test" 7) | $(ratio "$l" "$r") | $(ratio "$f" "$r") |"
        done
    done
    echo
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
awk -v n="$LOAD_KEYS" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = "load:" i
        v = sprintf("%064d", i)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n", length(k), k, v
    }
}' >"$work/load.resp"
log "loading $LOAD_KEYS keys into leader $leader_id with redis-cli --pipe"
t0=$(now)
out=$(timeout "$STEP_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$leader_id]}" --pipe <"$work/load.resp") \
    || die "redis-cli --pipe into the cluster failed: $out"
load_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
case "$out" in *"errors: 0, replies: $LOAD_KEYS"*) ;; *) die "loading the cluster: $out" ;; esac
rm -f "$work/load.resp"
target_index=$(raft_field "$leader_id" raft_commit_index)
[ -n "$target_index" ] || die "leader $leader_id did not answer INFO raft"
log "loaded in $load_s s; leader commit index $target_index; node $newbie is $how"

if [ "$CATCHUP_WIPE" = 1 ]; then
    "$TINKERDB_BIN" cluster --admin "127.0.0.1:${ADMIN[$leader_id]}" add-node --id "$newbie" \
        --peer-addr "127.0.0.1:${PEER[$newbie]}" >&2 || die "add-node failed"
    t0=$(now)
    start_node "$newbie" --join "127.0.0.1:${PEER[$leader_id]}"
else
    t0=$(now)
    start_node "$newbie"
fi
applied=""
caught_up=""
for ((i = 0; i < STEP_TIMEOUT * 20; i++)); do
    applied=$(raft_field "$newbie" raft_applied_index)
    if [ -n "$applied" ] && [ "$applied" -ge "$target_index" ]; then
        caught_up=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
        break
    fi
    kill -0 "${PID[$newbie]}" 2>/dev/null || die "node $newbie exited while catching up"
    sleep 0.05
done
[ -n "$caught_up" ] || die "node $newbie reached applied index ${applied:-?} of $target_index within $STEP_TIMEOUT s"
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
} >>"$report"

cp "$report" bench-results/cluster.md
cat "$report"
log "written to bench-results/cluster.md"
