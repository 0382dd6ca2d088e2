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
set -euo pipefail
cd "$(dirname "$0")/.."

KILLS="${BENCH_KILLS:-20}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-60}"
NODES=3
# Polls of 0.1 s while waiting for a node to answer PING (60 s).
READY_POLLS_MAX=600
# Random ports are drawn below Linux's ephemeral range, so client sockets never hold them.
PORT_MIN=20000
PORT_SPAN=12000
PORT_TRIES_MAX=200
# Pause between the cluster settling and the next kill, so the load runs against a full cluster.
SETTLE_S=1

log() { printf 'bench-failover: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in redis-cli redis-benchmark timeout awk sort; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/install-test-deps.sh installs the redis tools)"
done

mkdir -p target bench-results
work=$(mktemp -d "$PWD/target/bench-failover.XXXXXX")
declare -A PID PORT PEER ADMIN
started_pids=()
load_pid=""

cleanup() {
    local status=$? pid
    if [ -n "$load_pid" ]; then
        kill "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    for pid in "${started_pids[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        mkdir -p bench-results/failed
        for id in $(seq 1 $NODES); do
            if [ -f "$work/node$id/server.log" ]; then
                cp "$work/node$id/server.log" "bench-results/failed/failover-node$id.log"
            fi
        done
        log "failed (exit $status); node logs kept in bench-results/failed/"
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
    "$TINKERDB_BIN" server --node-id "$id" --initial-cluster "$initial_cluster" \
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
            tail -n 30 "$work/node$id/server.log" >&2
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
log "cargo build --release"
cargo build --release --bin tinkerdb >&2
# Run a private copy: a rebuild during the run must not change the binary that restarts use.
mkdir -p "$work/bin"
cp target/release/tinkerdb "$work/bin/tinkerdb"
TINKERDB_BIN="$work/bin/tinkerdb"
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
commit=unknown
if git rev-parse --short HEAD >/dev/null 2>&1; then
    commit=$(git rev-parse --short HEAD)
    git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
fi
report="$work/failover.md"
{
    echo "# TinkerDB failover after kill -9 of the leader"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr)"
    echo "- $NODES nodes on one machine, default election timeout (tick 100 ms x 5-10), background redis-benchmark SET load"
    echo "- measured: from kill -9 of the leader to the first acknowledged SET through a surviving node"
    echo
    echo "| kills | p50 ms | p90 ms | max ms | min ms | mean ms |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| ${#times[@]} | $(stat 0.5) | $(stat 0.9) | $(stat 1) | $(stat 0) | $(stat mean) |"
    echo
    echo "All times (ms, in kill order): ${times[*]}"
} >"$report"
cp "$report" bench-results/failover.md
cat "$report"
log "written to bench-results/failover.md"
