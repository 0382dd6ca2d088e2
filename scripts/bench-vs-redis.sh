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
# shellcheck source-path=SCRIPTDIR source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"
cd "$(dirname "$0")/.."

N="${BENCH_N:-200000}"
CLIENTS="${BENCH_CLIENTS:-50}"
PIPELINES="${BENCH_PIPELINES:-1 16}"
LOAD_KEYS="${BENCH_LOAD_KEYS:-1000000}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-900}"
VALUE_BYTES=64
SERVERS="redis-always redis-no tinkerdb"
LOG_TAG=bench

require_tools redis-server redis-cli redis-benchmark timeout awk
bench_init_work bench
declare -A DIR

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
restart_redis_always() { run_redis redis-always always; }

kill9() {
    kill -9 "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
}

rss_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/${PID[$1]}/status"; }

cli() {
    local name="$1"
    shift
    timeout "$STEP_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$name]}" "$@"
}

# bench NAME PIPELINE: runs the redis-benchmark tests, appending CSV rows to $work/bench-NAME-PPIPELINE.csv.
bench() {
    local name="$1" pipeline="$2" out="$work/bench-$1-P$2.csv"
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
build_release
start_redis redis-always always
start_redis redis-no no
start_tinkerdb
wait_ready tinkerdb

report="$work/report.md"
{
    echo "# TinkerDB vs redis-server"
    echo
    report_host_lines
    echo "- disk: $(disk_of "$work")"
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
write_load_resp "$work/load.resp"

# Fresh, empty servers, so memory the throughput runs left behind does not count.
kill9 redis-no
kill9 redis-always
rm -rf "${work:?}"/redis-always/*
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
    LOAD_S[$name]=$(s_since "$t0" 1)
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
    RESTART_S=$(s_since "$t0" 2)
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

publish_report "$report" latest.md
