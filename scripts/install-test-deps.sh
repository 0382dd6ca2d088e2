#!/usr/bin/env bash
# Installs what the end-to-end tests and the benchmark drive TinkerDB with:
# redis-cli, redis-benchmark (package redis-tools) and redis-server (the
# yardstick in scripts/bench-vs-redis.sh); headless chromium and chromedriver
# (the dashboard's browser test); and the Python packages of
# scripts/test-requirements.txt in a venv under target/.
#
# Idempotent: when every binary is on PATH it installs nothing. Either
# way it makes sure no packaged redis-server service keeps running, so port
# 6379 stays free and the machine's CPU goes to the tests.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

missing=()
for bin in redis-cli redis-benchmark redis-server; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "missing: ${missing[*]}; installing redis-tools and redis-server"
    command -v apt-get >/dev/null 2>&1 \
        || { log "no apt-get here: install redis-cli, redis-benchmark and redis-server (Redis 7) by hand"; exit 1; }
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools redis-server
else
    log "redis-cli, redis-benchmark and redis-server already installed"
fi

# The package starts a service on 6379. Stop it through the service manager,
# then end any daemon the package left that was started from its system
# config file. Our own benchmark servers are started with command-line
# arguments on other ports, so the pattern below never matches them.
if command -v service >/dev/null 2>&1; then
    as_root service redis-server stop >/dev/null 2>&1 || true
fi
if command -v pgrep >/dev/null 2>&1; then
    for pid in $(pgrep -f '^/usr/bin/redis-server (127\.0\.0\.1|\*|0\.0\.0\.0):6379' || true); do
        log "stopping the packaged redis-server (pid $pid)"
        as_root kill "$pid" 2>/dev/null || true
    done
fi

for bin in redis-cli redis-benchmark redis-server; do
    command -v "$bin" >/dev/null 2>&1 || { log "$bin still missing after install"; exit 1; }
done
log "$(redis-cli --version); $(redis-server --version | cut -d' ' -f1-3)"

# Headless Chromium and its WebDriver, for the dashboard's browser test
# (tests/browser/test_dashboard.py, run by tests/browser.rs). Debian's packages, so the
# driver always matches the browser and nothing is downloaded at test time.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    log "missing chromium or chromedriver; installing chromium and chromium-driver"
    command -v apt-get >/dev/null 2>&1 \
        || { log "no apt-get here: install chromium and chromedriver by hand"; exit 1; }
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
else
    log "chromium and chromedriver already installed"
fi
for bin in chromium chromedriver; do
    command -v "$bin" >/dev/null 2>&1 || { log "$bin still missing after install"; exit 1; }
done
log "$(chromium --version 2>/dev/null | head -n1); $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"

# Python packages for the end-to-end tests (browser, manifests) live in a venv under target/,
# so the system Python is never changed. Reinstalled only when the requirements file changes.
venv="target/py-venv"
requirements="scripts/test-requirements.txt"
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv"
fi
if ! cmp -s "$requirements" "$venv/requirements.installed" 2>/dev/null; then
    if grep -qv '^\s*\(#\|$\)' "$requirements"; then
        log "installing $(grep -cv '^\s*\(#\|$\)' "$requirements") python package(s) from $requirements"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    fi
    cp "$requirements" "$venv/requirements.installed"
fi
