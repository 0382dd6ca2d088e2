# TinkerDB's image for users: a statically linked `tinkerdb` alone in a `FROM scratch` image.
#
#   docker build -t tinkerdb .
#   docker run -p 7379:7379 -p 7381:7381 -v tinkerdb-data:/data tinkerdb     # a single node
#   docker compose up -d                                                    # three nodes
#
# Stage 1 builds a static release binary (glibc's libc.a, `+crt-static`); stage 2 holds that
# binary and nothing else: no shell, no libc, no CA certificates, no /etc files of its own.
# Hostnames still resolve: static glibc 2.34+ has its `files` and `dns` lookups built in and reads
# the /etc/hosts and /etc/resolv.conf that Docker and Kubernetes mount into every container
# (docs/OPERATIONS.md, "Docker").
#
# This file cannot be built on TinkerDB's own build machines, which reach no image registry to
# pull rust:1-bookworm from; there scripts/docker-build.sh makes the same image from a binary
# built on the host (docker/Dockerfile.prebuilt). Keep the two files' final stages alike.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Build for the host's own triple, named explicitly: with --target, RUSTFLAGS reach only the
# target's code, not build scripts and proc macros (which must stay dynamic to be loaded).
# `strip --strip-debug` drops the DWARF sections but keeps the symbols panics print.
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
    && RUSTFLAGS="-C target-feature=+crt-static" \
       cargo build --release --locked --target "$target" --bin tinkerdb \
    && mkdir -p /out/data \
    && strip --strip-debug -o /out/tinkerdb "target/$target/release/tinkerdb" \
    && if ldd /out/tinkerdb 2>&1 | grep -q '=>'; then echo "tinkerdb is not static" >&2; exit 1; fi

FROM scratch
COPY --from=build /out/tinkerdb /tinkerdb
# An empty /data owned by the server's user: Docker copies it, ownership included, into a new
# named volume mounted there, so the unprivileged server can write its data.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# 7379 RESP clients, 7380 Raft peers, 7381 admin HTTP (health, readiness, cluster API).
EXPOSE 7379 7380 7381
VOLUME /data
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/tinkerdb", "health", "--ready", "--admin", "127.0.0.1:7381"]
ENTRYPOINT ["/tinkerdb"]
CMD ["server", "--listen", "0.0.0.0:7379", "--peer-listen", "0.0.0.0:7380", "--admin-listen", "0.0.0.0:7381", "--data-dir", "/data"]
