#!/usr/bin/env bash
# End-to-end test of the Docker image and docker-compose.yml: a three-node cluster in
# containers survives `docker kill` of its leader without losing an acknowledged write.
#
#   scripts/test-docker.sh [STATIC_TINKERDB_BINARY]
#
# The binary defaults to the test build's, target/<host triple>/debug/tinkerdb, which
# scripts/test.sh builds static (one build per run serves cargo test and this test).
#
# Steps, each bounded in time:
#   1. build the image tinkerdb:test-<pid> from the binary (scripts/docker-build.sh);
#   2. start docker-compose.yml as project tinkerdb-test-<pid>, its host ports chosen free;
#   3. wait until every container's healthcheck (`tinkerdb health --ready`) passes;
#   4. write KEYS keys through node 1 with redis-cli;
#   5. ask INFO raft who leads, and `docker kill` that node's container;
#   6. read every key back through a surviving node (retrying while a new leader is elected),
#      write once more, then start the killed container again and wait until it is healthy.
# Whatever happens, the project is removed with its volumes and the image is deleted.
#
# Without a working Docker daemon (`docker info` fails) or without Compose, it prints a
# `SKIPPED: docker test: ...` line and exits 0: the rest of the suite still counts.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS="${TINKERDB_DOCKER_TEST_KEYS:-500}"
# Bounds of the waits, in seconds.
HEALTHY_WAIT_S=90
FAILOVER_WAIT_S=30
# Timeout of one redis-cli run, in seconds.
CLI_TIMEOUT_S=10

started=$SECONDS
log() { printf 'test-docker [%3ss]: %s\n' "$((SECONDS - started))" "$*" >&2; }
skip() {
    printf 'SKIPPED: docker test: %s\n' "$*"
    exit 0
}
die() {
    log "FAILED: $*"
    exit 1
}

if ! info_error="$(docker info 2>&1 >/dev/null)"; then
    skip "docker info failed ($(printf '%s' "$info_error" | tail -n 1))"
fi
if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
else
    skip "neither 'docker compose' nor 'docker-compose' is installed"
fi
command -v redis-cli >/dev/null 2>&1 || die "redis-cli is missing (scripts/install-test-deps.sh installs it)"

host_triple="$(rustc -vV | sed -n 's/^host: //p')"
binary="${1:-target/$host_triple/debug/tinkerdb}"
[ -x "$binary" ] || die "no binary at $binary (scripts/test.sh builds it; or pass a static one)"

project="tinkerdb-test-$$"
export TINKERDB_IMAGE="tinkerdb:test-$$"
export TINKERDB_BIND=127.0.0.1
# Every docker and compose call is bounded: a wedged daemon fails the test instead of hanging CI.
DOCKER_STEP_TIMEOUT=120
compose() {
    timeout "$DOCKER_STEP_TIMEOUT" "${compose_cmd[@]}" --project-name "$project" \
        --file docker-compose.yml "$@"
}

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        log "container logs (tail):"
        compose logs --no-color --tail 40 >&2 2>&1 || true
    fi
    compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    docker image rm "$TINKERDB_IMAGE" >/dev/null 2>&1 || true
    log "cleaned up project $project and image $TINKERDB_IMAGE"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Six host ports free a moment ago, all bound at once so they differ. Docker takes them when
# the project starts, a second later.
read -r -a ports < <(python3 -c '
import socket
held = [socket.socket() for _ in range(6)]
for s in held:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))
')
resp_port=()
admin_port=()
for n in 1 2 3; do
    resp_port[n]="${ports[2 * n - 2]}"
    admin_port[n]="${ports[2 * n - 1]}"
    export "TINKERDB${n}_RESP_PORT=${resp_port[n]}" "TINKERDB${n}_ADMIN_PORT=${admin_port[n]}"
done

# cli N ARGS...: redis-cli against node N's published RESP port.
cli() {
    local n="$1"
    shift
    timeout "$CLI_TIMEOUT_S" redis-cli -h 127.0.0.1 -p "${resp_port[n]}" "$@"
}

# Container ids by node number, filled once the project is up (a stopped container drops out
# of `docker compose ps` in Compose v2).
container=()
container_of() { printf '%s' "${container[$1]}"; }

# wait_healthy SECONDS N...: until the containers of nodes N... report healthy.
wait_healthy() {
    local deadline=$((SECONDS + $1))
    shift
    local n status pending
    while :; do
        pending=()
        for n in "$@"; do
            status="$(docker inspect --format '{{.State.Status}}/{{.State.Health.Status}}' "$(container_of "$n")")"
            case "$status" in
                running/healthy) ;;
                running/*) pending+=("tinkerdb$n:$status") ;;
                *) die "tinkerdb$n is $status" ;;
            esac
        done
        [ "${#pending[@]}" -eq 0 ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && die "not healthy after $1 s: ${pending[*]}"
        sleep 1
    done
}

t0=$SECONDS
timeout "$DOCKER_STEP_TIMEOUT" scripts/docker-build.sh "$binary"
log "image $TINKERDB_IMAGE built in $((SECONDS - t0)) s"

t0=$SECONDS
compose up -d 2>&1 | sed 's/^/  compose: /' >&2
for n in 1 2 3; do
    container[n]="$(compose ps -q "tinkerdb$n")"
    [ -n "${container[n]}" ] || die "compose started no container for tinkerdb$n"
done
log "project $project up (RESP ports ${resp_port[*]:1}, admin ports ${admin_port[*]:1})"
wait_healthy "$HEALTHY_WAIT_S" 1 2 3
log "all three nodes healthy (/ready) in $((SECONDS - t0)) s"

t0=$SECONDS
writes="$(for ((i = 0; i < KEYS; i++)); do printf 'SET key:%d value:%d\n' "$i" "$i"; done | cli 1)"
ok="$(grep -c '^OK$' <<<"$writes" || true)"
[ "$ok" -eq "$KEYS" ] || die "$ok of $KEYS writes through node 1 answered OK: $(grep -v '^OK$' <<<"$writes" | head -n 3)"
log "wrote $KEYS keys through tinkerdb1 in $((SECONDS - t0)) s"

leader="$(cli 1 INFO raft | tr -d '\r' | sed -n 's/^raft_leader_id://p')"
case "$leader" in
    1 | 2 | 3) ;;
    *) die "INFO raft on node 1 names no leader (raft_leader_id: '$leader')" ;;
esac
survivor=$((leader % 3 + 1))
t0=$SECONDS
timeout "$DOCKER_STEP_TIMEOUT" docker kill "$(container_of "$leader")" >/dev/null
log "killed the leader, tinkerdb$leader; reading back through tinkerdb$survivor"

expected="$(for ((i = 0; i < KEYS; i++)); do printf 'value:%d\n' "$i"; done)"
deadline=$((SECONDS + FAILOVER_WAIT_S))
while :; do
    reads="$(for ((i = 0; i < KEYS; i++)); do printf 'GET key:%d\n' "$i"; done | cli "$survivor" 2>&1 || true)"
    [ "$reads" = "$expected" ] && break
    [ "$SECONDS" -ge "$deadline" ] \
        && die "reads through tinkerdb$survivor still differ after $FAILOVER_WAIT_S s: $(diff <(printf '%s\n' "$expected") <(printf '%s\n' "$reads") | head -n 4 | tr '\n' ' ')"
    sleep 0.5
done
log "all $KEYS values read back through tinkerdb$survivor $((SECONDS - t0)) s after the kill"

while [ "$(cli "$survivor" SET after-failover yes 2>&1 || true)" != "OK" ]; do
    [ "$SECONDS" -ge "$deadline" ] && die "no write succeeded through tinkerdb$survivor after the kill"
    sleep 0.5
done
new_leader="$(cli "$survivor" INFO raft | tr -d '\r' | sed -n 's/^raft_leader_id://p')"
log "writes go on: tinkerdb$new_leader leads, $((SECONDS - t0)) s after the kill"

t0=$SECONDS
timeout "$DOCKER_STEP_TIMEOUT" docker start "$(container_of "$leader")" >/dev/null
wait_healthy "$HEALTHY_WAIT_S" "$leader"
[ "$(cli "$leader" GET after-failover)" = "yes" ] || die "tinkerdb$leader restarted without the write made while it was down"
[ "$(cli "$leader" DBSIZE)" = "$((KEYS + 1))" ] || die "tinkerdb$leader restarted with DBSIZE $(cli "$leader" DBSIZE), not $((KEYS + 1))"
log "tinkerdb$leader restarted on its volume and caught up in $((SECONDS - t0)) s"

log "PASSED in $((SECONDS - started)) s"
