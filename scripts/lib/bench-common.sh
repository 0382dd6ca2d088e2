# shellcheck shell=bash
# Helpers shared by scripts/bench-vs-redis.sh, scripts/bench-cluster.sh and
# scripts/bench-failover.sh. Sourced, never run:
#
#   set -euo pipefail
#   source "$(dirname "$0")/lib/bench-common.sh"   # before any cd: $0 may be relative
#   cd "$(dirname "$0")/.."                         # the helpers expect the repository root
#
# Sourcing only defines the functions, constants and (empty) state below; it starts nothing
# and traps nothing.
#
# Variables the caller sets (after sourcing):
#   LOG_TAG             prefix of every log line, e.g. "bench-cluster" (set before any log/die)
#   FAILED_LOG_PREFIX   prefix of the server logs kept in bench-results/failed/ on failure
#                       (default none), e.g. "cluster-" gives failed/cluster-node1.log
#   KEPT_LOGS           how the failure message names those logs (default "server logs")
#   STEP_TIMEOUT        seconds any single step may take (wait_leader)
#   LOAD_KEYS           keys write_load_resp generates
#   TINKERDB_BIN        the tinkerdb binary start_node runs (use_private_binary sets it)
#   load_pid            a background job (e.g. a load generator) cleanup stops with SIGTERM
#                       before the servers; empty (the default) when there is none
#
# State this file declares and its functions fill in:
#   work                the run's scratch directory (bench_init_work); removed on exit
#   started_pids        every server PID this run started; cleanup kills exactly those, and
#                       nothing else, so other tinkerdb processes on the machine are safe
#   PID PORT            associative arrays keyed by server name: a number N is cluster node N,
#                       any other word (redis, redis-always, tinkerdb, ...) a named server
#   PEER ADMIN          associative arrays of cluster nodes' peer and admin ports
#   initial_cluster     the --initial-cluster value start_node passes (start_cluster sets it)
#
# Every server NAME lives in server_dir NAME: $work/nodeN for node N, $work/NAME otherwise, and
# logs to server.log there.
#
# Constants (the same in every script):
#   READY_POLLS_MAX     polls of 0.1 s wait_ready makes (60 s)
#   PORT_MIN PORT_SPAN  free_port draws from [PORT_MIN, PORT_MIN + PORT_SPAN), below Linux's
#                       ephemeral range so client sockets never hold them
#   PORT_TRIES_MAX      draws free_port makes before giving up
#
# Functions:
#   log MSG... / die MSG...       "LOG_TAG: MSG" on stderr / the same with "error: ", then exit 1
#   require_tools TOOL...         dies naming the first TOOL not on PATH
#   bench_init_work NAME          creates target/ and bench-results/, sets work to a fresh
#                                 target/NAME.XXXXXX, traps EXIT (cleanup) and INT/TERM (exit 130)
#   cleanup                       EXIT trap: stops load_pid, kill -9 every started_pids entry, on
#                                 a non-zero exit copies $work/*/server.log to
#                                 bench-results/failed/FAILED_LOG_PREFIX<dir>.log; removes $work
#   free_port                     prints a loopback port nobody listens on and not yet handed out
#   now                           prints the time as seconds.nanoseconds
#   ms_since T0                   prints whole milliseconds since T0 (a `now` value)
#   s_since T0 DIGITS             prints seconds since T0 with DIGITS decimals
#   server_dir NAME / server_log NAME   where server NAME keeps its data / its log
#   wait_ready NAME               waits until NAME answers PING; dies with its log's tail if it
#                                 exits first or takes longer than READY_POLLS_MAX polls
#   run_redis NAME FSYNC          starts redis-server (appendonly, appendfsync FSYNC, no RDB) on
#                                 PORT[NAME] in server_dir NAME, appending to its log; sets
#                                 PID[NAME]; does not wait
#   start_redis NAME FSYNC        a fresh directory and port, run_redis, wait_ready
#   build_release                 cargo build --release --bin tinkerdb (output on stderr)
#   use_private_binary            copies target/release/tinkerdb to $work/bin and sets
#                                 TINKERDB_BIN to it, so a rebuild during the run cannot change
#                                 the binary that restarts use
#   start_node ID [ARGS...]       starts cluster node ID (tinkerdb server --node-id ID
#                                 --initial-cluster ... ARGS $BENCH_NODE_ARGS) on its ports and
#                                 data directory, kept across restarts; sets PID[ID]; does not
#                                 wait. BENCH_NODE_ARGS (environment, split on spaces) goes to
#                                 every node, e.g. "--read-mode lease"
#   start_cluster N               nodes 1..N: data directories, free PORT/PEER/ADMIN ports,
#                                 initial_cluster; starts them all and waits for each PING
#   raft_field ID FIELD           one field of node ID's INFO raft (empty if it does not answer)
#   leader IDS...                 the leader every node of IDS names (and which says it leads),
#                                 or nothing
#   wait_leader IDS...            polls leader for up to STEP_TIMEOUT s, prints it or dies
#   write_load_resp FILE          LOAD_KEYS distinct SETs load:I -> 64-byte value, as RESP for
#                                 redis-cli --pipe
#   field NAME PIPELINE TEST COL  one value of the redis-benchmark CSV $work/bench-NAME-PPIPELINE.csv
#                                 (columns: 2 rps, 5 p50, 7 p99), "-" if absent
#   ratio A B                     A / B with two decimals, "-" unless both are positive
#   report_host_lines             the report's "- date: ..., commit ..." and "- machine: ..." lines
#   disk_of PATH                  "FSTYPE on DEVICE" of the filesystem holding PATH
#   publish_report FILE NAME      copies FILE to bench-results/NAME, prints it, logs where it went

# LOG_TAG, STEP_TIMEOUT and LOAD_KEYS are set by the caller (see above).
# shellcheck disable=SC2154

READY_POLLS_MAX=600
PORT_MIN=20000
PORT_SPAN=12000
PORT_TRIES_MAX=200

work=""
started_pids=()
load_pid=""
declare -A PID PORT PEER ADMIN
initial_cluster=""
TINKERDB_BIN=""
used_ports=" "

log() { printf '%s: %s\n' "$LOG_TAG" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/install-test-deps.sh installs the redis tools)"
    done
}

bench_init_work() {
    mkdir -p target bench-results
    work=$(mktemp -d "$PWD/target/$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local status=$? pid log
    if [ -n "$load_pid" ]; then
        kill "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    for pid in "${started_pids[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # On failure keep the servers' logs: they usually say why.
    if [ "$status" -ne 0 ]; then
        mkdir -p bench-results/failed
        for log in "$work"/*/server.log; do
            [ -f "$log" ] || continue
            cp "$log" "bench-results/failed/${FAILED_LOG_PREFIX:-}$(basename "$(dirname "$log")").log"
        done
        log "failed (exit $status); ${KEPT_LOGS:-server logs} kept in bench-results/failed/"
    fi
    rm -rf "$work"
}

free_port() {
    local try port
    # Callers run this in $(...), a subshell: the ports handed out so far live in a file under
    # $work (a variable set here would be lost, and two calls could return the same port).
    local ledger="${work:-/tmp}/.ports-handed-out"
    [ -f "$ledger" ] && used_ports=" $(tr '\n' ' ' <"$ledger")"
    for ((try = 0; try < PORT_TRIES_MAX; try++)); do
        port=$((PORT_MIN + RANDOM % PORT_SPAN))
        case "$used_ports" in *" $port "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            used_ports+="$port "
            [ -n "$work" ] && echo "$port" >>"$ledger"
            echo "$port"
            return 0
        fi
    done
    die "no free port after $PORT_TRIES_MAX tries"
}

now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
s_since() { awk -v a="$1" -v b="$(now)" -v f="%.$2f" 'BEGIN { printf f, b - a }'; }

server_dir() {
    case "$1" in
        *[!0-9]* | "") echo "$work/$1" ;;
        *) echo "$work/node$1" ;;
    esac
}
server_log() { echo "$(server_dir "$1")/server.log"; }

wait_ready() {
    local name="$1" what="$1" i status=0
    case "$name" in *[!0-9]* | "") ;; *) what="node $name" ;; esac
    for ((i = 0; i < READY_POLLS_MAX; i++)); do
        [ "$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>/dev/null)" = "PONG" ] && return 0
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            wait "${PID[$name]}" || status=$?
            tail -n 30 "$(server_log "$name")" >&2 || true
            die "$what exited with status $status before answering PING"
        fi
        sleep 0.1
    done
    tail -n 30 "$(server_log "$name")" >&2 || true
    die "$what did not answer PING within $((READY_POLLS_MAX / 10)) s"
}

run_redis() {
    local name="$1" fsync="$2" dir
    dir=$(server_dir "$name")
    redis-server --port "${PORT[$name]}" --bind 127.0.0.1 --dir "$dir" \
        --appendonly yes --appendfsync "$fsync" --save "" --daemonize no \
        >>"$dir/server.log" 2>&1 &
    PID[$name]=$!
    started_pids+=("$!")
}

start_redis() {
    mkdir -p "$(server_dir "$1")"
    PORT[$1]=$(free_port)
    run_redis "$1" "$2"
    wait_ready "$1"
}

build_release() {
    log "cargo build --release"
    cargo build --release --bin tinkerdb >&2
}

use_private_binary() {
    mkdir -p "$work/bin"
    cp target/release/tinkerdb "$work/bin/tinkerdb"
    TINKERDB_BIN="$work/bin/tinkerdb"
}

start_node() {
    local id="$1"
    shift
    local extra=()
    read -r -a extra <<<"${BENCH_NODE_ARGS:-}"
    "$TINKERDB_BIN" server --node-id "$id" --initial-cluster "$initial_cluster" "$@" "${extra[@]}" \
        --data-dir "$work/node$id/data" \
        --listen "127.0.0.1:${PORT[$id]}" \
        --peer-listen "127.0.0.1:${PEER[$id]}" \
        --admin-listen "127.0.0.1:${ADMIN[$id]}" \
        >>"$work/node$id/server.log" 2>&1 &
    PID[$id]=$!
    started_pids+=("$!")
}

start_cluster() {
    local n="$1" id members=()
    for ((id = 1; id <= n; id++)); do
        mkdir -p "$work/node$id/data"
        PORT[$id]=$(free_port)
        PEER[$id]=$(free_port)
        ADMIN[$id]=$(free_port)
        members+=("$id=127.0.0.1:${PEER[$id]}")
    done
    initial_cluster=$(IFS=,; echo "${members[*]}")
    for ((id = 1; id <= n; id++)); do start_node "$id"; done
    for ((id = 1; id <= n; id++)); do wait_ready "$id"; done
}

raft_field() {
    timeout 2 redis-cli -h 127.0.0.1 -p "${PORT[$1]}" info raft 2>/dev/null \
        | awk -F: -v f="$2" '$1 == f { sub(/\r$/, "", $2); print $2 }' || true
}

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

write_load_resp() {
    awk -v n="$LOAD_KEYS" 'BEGIN {
        for (i = 0; i < n; i++) {
            k = "load:" i
            v = sprintf("%064d", i)
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n", length(k), k, v
        }
    }' >"$1"
}

field() {
    awk -F'","' -v t="$3" -v c="$4" '
        { gsub(/^"|"$/, "") }
        $1 == t { print ($c == "" ? "-" : $c); found = 1; exit }
        END { if (!found) print "-" }' "$work/bench-$1-P$2.csv"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

report_host_lines() {
    local commit=unknown
    if git rev-parse --short HEAD >/dev/null 2>&1; then
        commit=$(git rev-parse --short HEAD)
        git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
    fi
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr)"
}

disk_of() { df -T "$1" | awk 'NR == 2 { print $2 " on " $1 }'; }

publish_report() {
    cp "$1" "bench-results/$2"
    cat "$1"
    log "written to bench-results/$2"
}
