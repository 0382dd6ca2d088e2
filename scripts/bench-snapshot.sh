#!/usr/bin/env bash
# Measures what a snapshot of a large keyspace costs a 3-node release cluster under load.
#
# BENCH_LOAD_KEYS keys (64-byte values) are loaded into the leader with `redis-cli --pipe`; then,
# while redis-benchmark runs SETs against the leader and GETs against a follower, the leader is
# told to SAVE BENCH_SAVES times. A snapshot is written off the Raft loop from a copy-on-write
# freeze of the keyspace (docs/ARCHITECTURE.md), so neither load should pause while it runs,
# and no election should start. (Written inside the loop, as before e0330f4, a snapshot
# longer than the election timeout stopped heartbeats and moved leadership.)
# The report gives each snapshot's duration, both loads' throughput and latency, the term
# before and after, and the elections the nodes started (log lines "starting a new election",
# the cluster's first election included).
#
# The report is printed as Markdown and written to bench-results/snapshot.md.
#
# Knobs (environment):
#   BENCH_LOAD_KEYS=3000000  keys loaded before the snapshots
#   BENCH_SAVES=3            SAVEs on the leader during the loads (0: the same loads without
#                            any, for reference)
#   BENCH_STEP_TIMEOUT=900   seconds any single step may take
#   BENCH_NODE_ARGS=""       extra `tinkerdb server` flags for every node
#   BENCH_TINKERDB_BIN=""    run this binary instead of building target/release/tinkerdb (to
#                            measure an older build with the same script)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/bench-common.sh
source "$(dirname "$0")/lib/bench-common.sh"
cd "$(dirname "$0")/.."

LOAD_KEYS="${BENCH_LOAD_KEYS:-3000000}"
SAVES="${BENCH_SAVES:-3}"
STEP_TIMEOUT="${BENCH_STEP_TIMEOUT:-900}"
NODES=3
LOG_TAG=bench-snapshot
FAILED_LOG_PREFIX=snapshot-

require_tools redis-cli redis-benchmark timeout awk
bench_init_work bench-snapshot

if [ -n "${BENCH_TINKERDB_BIN:-}" ]; then
    mkdir -p "$work/bin"
    cp "$BENCH_TINKERDB_BIN" "$work/bin/tinkerdb"
    TINKERDB_BIN="$work/bin/tinkerdb"
else
    build_release
    use_private_binary
fi
start_cluster "$NODES"
all=$(seq 1 $NODES)
# shellcheck disable=SC2086
leader_id=$(wait_leader $all)
follower_id=$((leader_id % NODES + 1))

log "generating $LOAD_KEYS SETs"
write_load_resp "$work/load.resp"
log "loading them into leader $leader_id"
out=$(timeout "$STEP_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$leader_id]}" --pipe <"$work/load.resp") \
    || die "redis-cli --pipe failed: $out"
case "$out" in *"errors: 0, replies: $LOAD_KEYS"*) ;; *) die "loading: $out" ;; esac
rm -f "$work/load.resp"
sleep 2
term_before=$(raft_field "$leader_id" raft_term)
elections_before=$(cat "$work"/node*/server.log | grep -c 'starting a new election' || true)

log "SET load on leader $leader_id, GET load on follower $follower_id, $SAVES SAVEs on the leader"
timeout "$STEP_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$leader_id]}" -t set -n 40000 -c 10 \
    -r "$LOAD_KEYS" -d 64 --csv >"$work/set.csv" 2>/dev/null &
set_pid=$!
timeout "$STEP_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "${PORT[$follower_id]}" -t get -n 200000 -c 10 \
    -r "$LOAD_KEYS" --csv >"$work/get.csv" 2>/dev/null &
get_pid=$!
sleep 0.5
for ((i = 0; i < SAVES; i++)); do
    timeout "$STEP_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$leader_id]}" save >/dev/null \
        || die "SAVE failed"
    sleep 0.5
done
# A load that fails (errors from an election, a timeout) is reported, not fatal: that is what
# the run is looking for.
set_status=ok
get_status=ok
wait "$set_pid" || set_status="failed (exit $?)"
wait "$get_pid" || get_status="failed (exit $?)"
term_after=$(raft_field "$leader_id" raft_term)
role_after=$(raft_field "$leader_id" raft_role)
elections_after=$(cat "$work"/node*/server.log | grep -c 'starting a new election' || true)

# csv_field FILE TEST COLUMN: a redis-benchmark --csv value.
csv_field() {
    awk -F'","' -v t="$2" -v c="$3" '{ gsub(/^"|"$/, "") } $1 == t { print $c; exit }' "$1"
}

report="$work/snapshot.md"
{
    echo "# Snapshots of a large keyspace under load (3-node cluster)"
    echo
    report_host_lines
    echo "- disk: $(disk_of "$work")"
    echo "- $LOAD_KEYS keys of 64 bytes; $SAVES SAVEs on the leader during the loads"
    echo "- node flags beyond the defaults: ${BENCH_NODE_ARGS:-none}${BENCH_TINKERDB_BIN:+; binary $BENCH_TINKERDB_BIN}"
    echo
    if [ "$SAVES" -gt 0 ]; then
        echo "| snapshot on the leader | bytes | ms |"
        echo "| --- | ---: | ---: |"
        grep -h 'snapshot written' "$work/node$leader_id/server.log" | tail -n "$SAVES" \
            | sed -E 's/.*index=([0-9]+).*bytes=([0-9]+).*ms=([0-9]+).*/| index \1 | \2 | \3 |/'
        echo
    fi
    echo "| load | node | redis-benchmark | ops/s | p50 ms | p99 ms | max ms |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: |"
    echo "| SET | leader | $set_status | $(csv_field "$work/set.csv" SET 2) | $(csv_field "$work/set.csv" SET 5) | $(csv_field "$work/set.csv" SET 7) | $(csv_field "$work/set.csv" SET 8) |"
    echo "| GET | follower | $get_status | $(csv_field "$work/get.csv" GET 2) | $(csv_field "$work/get.csv" GET 5) | $(csv_field "$work/get.csv" GET 7) | $(csv_field "$work/get.csv" GET 8) |"
    echo
    echo "- term on node $leader_id before: $term_before, after: $term_after (role after: $role_after)"
    echo "- elections started during the loads: $((elections_after - elections_before))"
} >"$report"
publish_report "$report" snapshot.md
