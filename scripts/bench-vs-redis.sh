#!/usr/bin/env bash
# Measures TinkerDB against redis-server, the speed of light for RESP on one node.
#
# Servers, each on free loopback ports with its own fresh temporary directory:
#   redis(always)  redis-server --appendonly yes --appendfsync always --save ""  (durable, as we are)
#   redis(no)      redis-server --appendonly yes --appendfsync no     --save ""  (the OS flushes)
#   tinkerdb       target/release/tinkerdb server (single node; every acknowledged write fsynced)
#
# Sections of the report:
#   1. throughput and latency: redis-benchmark SET, GET, INCR, MSET (10 keys) and MGET (10 keys),
#      without pipelining and with 16-deep pipelines;
#   2. memory: RSS of fresh redis(always) and tinkerdb before and after loading BENCH_LOAD_KEYS
#      distinct keys with 64-byte values through `redis-cli --pipe` (an exact key count, unlike
#      redis-benchmark -r);
#   3. restart: kill -9 with the data loaded, start again, time until PING answers and DBSIZE
#      shows every key;
#   4. the disk's own rate of 4 KiB append + fdatasync, the ceiling for unbatched durable writes.
#
# The report is printed as Markdown and written to bench-results/latest.md.
#
# Knobs (environment):
#   BENCH_N=200000          requests per redis-benchmark test
#   BENCH_CLIENTS=50        redis-benchmark connections
#   BENCH_PIPELINES="1 16"  pipeline depths
#   BENCH_LOAD_KEYS=1000000 keys loaded for the memory and restart sections
#   BENCH_STEP_TIMEOUT=900  seconds any single step may take
# A quick run: BENCH_N=20000 BENCH_LOAD_KEYS=100000 scripts/bench-vs-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N="${BENCH_N:-200000}"
CLIENTS="${BENCH_CLIENTS:-50}"
PIPELINES="${BENCH_PIPELINES:-1 16}"
LOAD_KEYS="${BENCH_LOAD_KEYS:-1000000}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-900}"
VALUE_BYTES=64
# Polls of 0.1 s while waiting for a server to answer PING (60 s).
READY_POLLS_MAX=600
# Random ports are drawn below Linux's ephemeral range, so client sockets never hold them.
PORT_MIN=20000
PORT_SPAN=12000
PORT_TRIES_MAX=200
SERVERS="redis-always redis-no tinkerdb"

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in redis-server redis-cli redis-benchmark timeout awk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/install-test-deps.sh installs the redis tools)"
done

mkdir -p target bench-results
work=$(mktemp -d "$PWD/target/bench.XXXXXX")
declare -A PID PORT DIR
started_pids=()

cleanup() {
    local status=$? pid log
    for pid in "${started_pids[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # On failure keep the servers' logs: they usually say why.
    if [ "$status" -ne 0 ]; then
        mkdir -p bench-results/failed
        for log in "$work"/*/server.log; do
            [ -f "$log" ] || continue
            cp "$log" "bench-results/failed/$(basename "$(dirname "$log")").log"
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

# wait_ready NAME: waits until the server answers PING; prints its log and fails if not.
wait_ready() {
    local name="$1" i
    for ((i = 0; i < READY_POLLS_MAX; i++)); do
        if [ "$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>/dev/null)" = "PONG" ]; then
            return 0
        fi
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            tail -n 30 "${DIR[$name]}/server.log" >&2 || true
            die "$name exited before answering PING"
        fi
        sleep 0.1
    done
    tail -n 30 "${DIR[$name]}/server.log" >&2 || true
    die "$name did not answer PING within $((READY_POLLS_MAX / 10)) s"
}

# start_redis NAME FSYNC_POLICY
start_redis() {
    local name="$1" fsync="$2"
    DIR[$name]="$work/$name"
    mkdir -p "${DIR[$name]}"
    PORT[$name]=$(free_port)
    redis-server --port "${PORT[$name]}" --bind 127.0.0.1 --dir "${DIR[$name]}" \
        --appendonly yes --appendfsync "$fsync" --save "" --daemonize no \
        >"${DIR[$name]}/server.log" 2>&1 &
    PID[$name]=$!
    started_pids+=("$!")
    wait_ready "$name"
}

TINKERDB_BIN="target/release/tinkerdb"
# start_tinkerdb: (re)starts the node; keeps its data dir and ports across restarts.
start_tinkerdb() {
    local name=tinkerdb
    if [ -z "${DIR[$name]:-}" ]; then
        DIR[$name]="$work/$name"
        mkdir -p "${DIR[$name]}/data"
        PORT[$name]=$(free_port)
        TINKERDB_PEER_PORT=$(free_port)
        TINKERDB_ADMIN_PORT=$(free_port)
    fi
    "$TINKERDB_BIN" server --data-dir "${DIR[$name]}/data" \
        --listen "127.0.0.1:${PORT[$name]}" \
        --peer-listen "127.0.0.1:$TINKERDB_PEER_PORT" \
        --admin-listen "127.0.0.1:$TINKERDB_ADMIN_PORT" \
        >>"${DIR[$name]}/server.log" 2>&1 &
    PID[$name]=$!
    started_pids+=("$!")
}

# restart_redis_always: starts redis(always) again on its directory and port.
restart_redis_always() {
    redis-server --port "${PORT[redis-always]}" --bind 127.0.0.1 --dir "${DIR[redis-always]}" \
        --appendonly yes --appendfsync always --save "" --daemonize no \
        >>"${DIR[redis-always]}/server.log" 2>&1 &
    PID[redis-always]=$!
    started_pids+=("$!")
}

kill9() {
    kill -9 "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
}

rss_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/${PID[$1]}/status"; }

now() { date +%s.%N; }

cli() {
    local name="$1"
    shift
    timeout "$STEP_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$name]}" "$@"
}

# bench NAME PIPELINE: runs the redis-benchmark tests, appending CSV rows to $work/NAME-PPIPELINE.csv.
bench() {
    local name="$1" pipeline="$2" out="$work/$1-P$2.csv"
    local common=(-h 127.0.0.1 -p "${PORT[$name]}" -n "$N" -c "$CLIENTS" -d "$VALUE_BYTES" -P "$pipeline" --csv)
    log "$name: redis-benchmark -t set,get,incr,mset -P $pipeline -n $N -c $CLIENTS"
    timeout "$STEP_TIMEOUT" redis-benchmark "${common[@]}" -t set,get,incr,mset >>"$out" \
        || die "redis-benchmark against $name failed or timed out"
    # redis-benchmark has no MGET test; this reads the key its SET test wrote, ten times over.
    local keys=()
    for _ in 1 2 3 4 5 6 7 8 9 10; do keys+=("key:__rand_int__"); done
    timeout "$STEP_TIMEOUT" redis-benchmark "${common[@]}" MGET "${keys[@]}" \
        | sed 's/^"MGET [^"]*"/"MGET (10 keys)"/' >>"$out" \
        || die "redis-benchmark MGET against $name failed or timed out"
}

# field NAME PIPELINE TEST COLUMN: one value from the CSV (columns: 2 rps, 5 p50, 7 p99).
field() {
    awk -F'","' -v t="$3" -v c="$4" '
        { gsub(/^"|"$/, "") }
        $1 == t { print ($c == "" ? "-" : $c); found = 1; exit }
        END { if (!found) print "-" }' "$work/$1-P$2.csv"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

fsync_rate() {
    local file="$work/fsync-probe"
    if command -v python3 >/dev/null 2>&1; then
        timeout 30 python3 - "$file" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
block = b"\0" * 4096
n, start = 0, time.monotonic()
while time.monotonic() - start < 2.0:
    os.write(fd, block)
    os.fdatasync(fd)
    n += 1
print(f"{n / (time.monotonic() - start):.0f} fdatasync/s (python, 4 KiB appends, 2 s)")
PY
    else
        timeout 60 dd if=/dev/zero of="$file" bs=4k count=2000 oflag=dsync 2>&1 \
            | awk '/copied/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^s,?$/) printf "%.0f O_DSYNC writes/s (dd, 4 KiB, 2000 writes)\n", 2000 / $i }'
    fi
}

# ---- build and start -------------------------------------------------------------------------
log "cargo build --release"
cargo build --release --bin tinkerdb >&2
start_redis redis-always always
start_redis redis-no no
start_tinkerdb
wait_ready tinkerdb

commit=unknown
if git rev-parse --short HEAD >/dev/null 2>&1; then
    commit=$(git rev-parse --short HEAD)
    git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
fi
report="$work/report.md"
{
    echo "# TinkerDB vs redis-server"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr)"
    echo "- disk: $(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')"
    echo "- $(redis-server --version | cut -d' ' -f1-3); redis-benchmark -n $N -c $CLIENTS -d $VALUE_BYTES, clients on the same machine"
    echo
} >"$report"

# ---- 1. throughput ---------------------------------------------------------------------------
for name in $SERVERS; do
    for p in $PIPELINES; do
        bench "$name" "$p"
    done
done

{
    echo "## Throughput (requests/s) and latency (ms)"
    echo
    echo "| test | pipeline | redis(always) ops/s | p50 | p99 | redis(no) ops/s | tinkerdb ops/s | p50 | p99 | tinkerdb / redis(always) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for test in "SET" "GET" "INCR" "MSET (10 keys)" "MGET (10 keys)"; do
        for p in $PIPELINES; do
            ra=$(field redis-always "$p" "$test" 2)
            ti=$(field tinkerdb "$p" "$test" 2)
            echo "| $test | $p | $ra | $(field redis-always "$p" "$test" 5) | $(field redis-always "$p" "$test" 7) | $(field redis-no "$p" "$test" 2) | $ti | $(field tinkerdb "$p" "$test" 5) | $(field tinkerdb "$p" "$test" 7) | $(ratio "$ti" "$ra") |"
        done
    done
    echo
} >>"$report"

# ---- 2. memory -------------------------------------------------------------------------------
log "generating $LOAD_KEYS distinct SETs with $VALUE_BYTES-byte values"
awk -v n="$LOAD_KEYS" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = "load:" i
        v = sprintf("%064d", i)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n", length(k), k, v
    }
}' >"$work/load.resp"

# Fresh, empty servers, so memory the throughput runs left behind does not count.
kill9 redis-no
kill9 redis-always
rm -rf "${DIR[redis-always]:?}"/*
restart_redis_always
wait_ready redis-always
kill9 tinkerdb
rm -rf "${DIR[tinkerdb]:?}/data"
mkdir -p "${DIR[tinkerdb]}/data"
start_tinkerdb
wait_ready tinkerdb

declare -A RSS_BEFORE RSS_AFTER HWM LOAD_S
for name in redis-always tinkerdb; do
    RSS_BEFORE[$name]=$(rss_kib "$name" VmRSS)
    log "$name: loading $LOAD_KEYS keys with redis-cli --pipe"
    t0=$(now)
    out=$(cli "$name" --pipe <"$work/load.resp") || die "redis-cli --pipe into $name failed: $out"
    LOAD_S[$name]=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    case "$out" in *"errors: 0, replies: $LOAD_KEYS"*) ;; *) die "loading $name: $out" ;; esac
    size=$(cli "$name" DBSIZE)
    [ "$size" = "$LOAD_KEYS" ] || die "$name has DBSIZE $size after loading $LOAD_KEYS keys"
    RSS_AFTER[$name]=$(rss_kib "$name" VmRSS)
    HWM[$name]=$(rss_kib "$name" VmHWM)
done

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
per_key() { awk -v a="$1" -v b="$2" -v n="$LOAD_KEYS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'; }
{
    echo "## Memory with $LOAD_KEYS keys ($VALUE_BYTES-byte values, loaded by redis-cli --pipe)"
    echo
    echo "Fresh servers; \"before\" is the empty server, bytes/key is (after - before) / keys."
    echo
    echo "| server | load time s | RSS before MiB | RSS after MiB | peak RSS MiB | bytes/key |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for name in redis-always tinkerdb; do
        echo "| $name | ${LOAD_S[$name]} | $(mib "${RSS_BEFORE[$name]}") | $(mib "${RSS_AFTER[$name]}") | $(mib "${HWM[$name]}") | $(per_key "${RSS_BEFORE[$name]}" "${RSS_AFTER[$name]}") |"
    done
    echo
    echo "RSS ratio tinkerdb / redis(always): current $(ratio "${RSS_AFTER[tinkerdb]}" "${RSS_AFTER[redis-always]}"), peak $(ratio "${HWM[tinkerdb]}" "${HWM[redis-always]}")"
    echo
} >>"$report"

# ---- 3. restart ------------------------------------------------------------------------------
# restart_time NAME START_FUNCTION...: kill -9, start, and set RESTART_S to the seconds until
# PING answers and DBSIZE = LOAD_KEYS. (Not a $(...) subshell: the new PID must stay recorded.)
restart_time() {
    local name="$1" i t0 size=""
    shift
    kill9 "$name"
    t0=$(now)
    "$@"
    for ((i = 0; i < STEP_TIMEOUT * 20; i++)); do
        if [ "$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>/dev/null)" = "PONG" ]; then
            size=$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" dbsize 2>/dev/null || true)
            [ "$size" = "$LOAD_KEYS" ] && break
        fi
        kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited while restarting"
        sleep 0.05
    done
    [ "$size" = "$LOAD_KEYS" ] || die "$name did not come back with $LOAD_KEYS keys (DBSIZE $size)"
    RESTART_S=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
}

log "restart times (kill -9 with $LOAD_KEYS keys)"
restart_time tinkerdb start_tinkerdb
tinkerdb_restart_s=$RESTART_S
tinkerdb_rss_restarted=$(rss_kib tinkerdb VmRSS)
restart_time redis-always restart_redis_always
redis_restart_s=$RESTART_S
{
    echo "## Restart after kill -9 with $LOAD_KEYS keys"
    echo
    echo "Time from start until PING answers and DBSIZE = $LOAD_KEYS."
    echo
    echo "| server | restart s | RSS after restart MiB |"
    echo "| --- | ---: | ---: |"
    echo "| tinkerdb | $tinkerdb_restart_s | $(mib "$tinkerdb_rss_restarted") |"
    echo "| redis(always), AOF replay | $redis_restart_s | $(mib "$(rss_kib redis-always VmRSS)") |"
    echo
    echo "## Disk"
    echo
    echo "- raw durable write rate: $(fsync_rate || echo unavailable)"
} >>"$report"

cp "$report" bench-results/latest.md
cat "$report"
log "written to bench-results/latest.md"
