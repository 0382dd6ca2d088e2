#!/usr/bin/env bash
# The one command that runs TinkerDB's whole test suite, locally and on CI (.ci/run):
#   1. install the external tools the end-to-end tests drive (redis-cli, redis-benchmark);
#   2. check formatting (cargo fmt --check);
#   3. run every test of every crate in the workspace (cargo test --workspace --no-fail-fast);
#   4. lint every crate and target (cargo clippy --workspace --all-targets -- -D warnings:
#      metadata only, so it adds a check of the dependencies, not a second build);
#   5. run the Docker test (scripts/test-docker.sh: the compose cluster survives a killed
#      leader), which prints SKIPPED and passes where Docker is not running.
# Every step runs even if an earlier one failed, so one run shows every problem; the summary
# at the end lists each step's result and time, and the exit status is non-zero if any failed.
#
# One build per run: everything is compiled static (`-C target-feature=+crt-static`, glibc)
# for the host's triple named explicitly (CARGO_BUILD_TARGET), so the test binaries and the
# `tinkerdb` they start, target/<triple>/debug/tinkerdb, are static, and the Docker test puts
# that same binary in its FROM scratch image instead of building another. Naming the target is
# what keeps RUSTFLAGS away from build scripts and proc macros (they stay dynamic, as cargo and
# rustc must load them); it also moves the build from target/debug to target/<triple>/debug,
# which tests never name (they use CARGO_BIN_EXE_tinkerdb).
set -uo pipefail
cd "$(dirname "$0")/.."

export RUST_BACKTRACE=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}"
CARGO_BUILD_TARGET="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_BUILD_TARGET
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"

log_dir="target/test-logs"
mkdir -p "$log_dir"
cargo_log="$log_dir/cargo-test.log"
docker_log="$log_dir/docker-test.log"

names=()
results=()
seconds=()
failed=0

# run_step NAME COMMAND...: runs the command, records PASS/FAIL and its duration.
run_step() {
    local name="$1"
    shift
    printf '\n==== %s: %s\n' "$name" "$*"
    local start=$SECONDS
    if "$@"; then
        results+=("PASS")
    else
        results+=("FAIL")
        failed=1
    fi
    names+=("$name")
    seconds+=($((SECONDS - start)))
}

cargo_test() {
    # Keep cargo's own exit status through the tee; the log feeds the summary's counts.
    cargo test --workspace --no-fail-fast 2>&1 | tee "$cargo_log"
    return "${PIPESTATUS[0]}"
}

docker_test() {
    scripts/test-docker.sh "target/$CARGO_BUILD_TARGET/debug/tinkerdb" 2>&1 | tee "$docker_log"
    return "${PIPESTATUS[0]}"
}

run_step "install test deps" scripts/install-test-deps.sh
run_step "cargo fmt --check" cargo fmt --all -- --check
run_step "cargo test --workspace" cargo_test
run_step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
run_step "docker test" docker_test

# Totals over every "test result:" line (unit tests, integration tests and doc tests).
totals=$(sed 's/\x1b\[[0-9;]*m//g' "$cargo_log" 2>/dev/null | awk '
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) p += $i
            if ($(i + 1) ~ /^failed/) f += $i
            if ($(i + 1) ~ /^ignored/) g += $i
        }
        n++
    }
    END { printf "%d passed, %d failed, %d ignored in %d test binaries", p, f, g, n }')
failing=$(sed 's/\x1b\[[0-9;]*m//g' "$cargo_log" 2>/dev/null | grep -E '^test .* FAILED$' | sort -u || true)
skipped=$(cat "$cargo_log" "$docker_log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | grep -c '^SKIPPED:' || true)

printf '\n==================== TinkerDB test summary ====================\n'
for i in "${!names[@]}"; do
    printf '  %-4s  %-26s %5ss\n' "${results[$i]}" "${names[$i]}" "${seconds[$i]}"
done
printf '  tests: %s\n' "$totals"
if [ "${skipped:-0}" -gt 0 ]; then
    printf '  %s test(s) printed SKIPPED (a tool was missing or Docker was not running)\n' "$skipped"
fi
if [ -n "$failing" ]; then
    printf '  failing tests:\n'
    printf '%s\n' "$failing" | sed 's/^/    /'
fi
printf '  full cargo output: %s; docker test output: %s\n' "$cargo_log" "$docker_log"
if [ "$failed" -ne 0 ]; then
    printf '  RESULT: FAILED\n'
    exit 1
fi
printf '  RESULT: OK\n'
