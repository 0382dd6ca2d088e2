#!/usr/bin/env bash
# Builds the TinkerDB image (default tag tinkerdb:dev) without pulling anything: a static
# `tinkerdb` is copied into a build context of its own and docker/Dockerfile.prebuilt puts it
# in a FROM scratch image. Works offline; the build context is one binary, not the repository.
#
#   scripts/docker-build.sh            build a static release binary first, then the image
#   scripts/docker-build.sh BINARY     use this static binary (e.g. the test build's,
#                                      target/x86_64-unknown-linux-gnu/debug/tinkerdb)
#
# TINKERDB_IMAGE names the tag. The binary must be statically linked (ldd lists no libraries):
# the image has no libc to load. Its DWARF sections are stripped on the way in (the symbols stay,
# so panics still name functions): the image is about a tenth of a debug build's size.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${TINKERDB_IMAGE:-tinkerdb:dev}"
log() { printf 'docker-build: %s\n' "$*" >&2; }

if [ "$#" -gt 1 ]; then
    log "usage: scripts/docker-build.sh [STATIC_TINKERDB_BINARY]"
    exit 2
fi

if [ "$#" -eq 1 ]; then
    binary="$1"
else
    # The host's triple named explicitly, so RUSTFLAGS reach only the target's code (build
    # scripts and proc macros stay dynamic, as they must to be loaded by cargo and rustc).
    target="$(rustc -vV | sed -n 's/^host: //p')"
    log "building a static release binary for $target"
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$target" --bin tinkerdb
    binary="target/$target/release/tinkerdb"
fi

[ -x "$binary" ] || { log "no executable at $binary"; exit 1; }
if ldd "$binary" 2>&1 | grep -q '=>'; then
    log "$binary is dynamically linked; build it with RUSTFLAGS=\"-C target-feature=+crt-static\" and an explicit --target"
    exit 1
fi

context="$(mktemp -d "${TMPDIR:-/tmp}/tinkerdb-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$context/tinkerdb" "$binary"
else
    cp "$binary" "$context/tinkerdb"
fi
mkdir "$context/data"
cp docker/Dockerfile.prebuilt "$context/Dockerfile"

log "building $image from $binary ($(du -h "$context/tinkerdb" | cut -f1) after strip)"
docker build --quiet --tag "$image" "$context" >/dev/null
log "built $image: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$image")"
