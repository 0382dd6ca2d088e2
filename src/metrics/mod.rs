//! # Prometheus metrics
//!
//! One [`Metrics`] per node, made in `node::run_async` and shared: the server records commands
//! through [`ServerContext::metrics`], the Raft loop records its events through the
//! [`ShardMetrics`] handed to `shard::start`, and `GET /metrics` on the admin port returns
//! [`scrape`]'s OpenMetrics text. docs/OPERATIONS.md lists every family.
//!
//! What it owns: the `prometheus-client` registry (every name prefixed `tinkerdb_`) and the
//! handles registered in it. Every family has a fixed, bounded label set: `command` ranges over
//! the command table plus `unknown`, `peer` over the cluster's members, `tenant` over tenants.
//!
//! What it must never do: take a lock or allocate on a request or in the Raft loop. Handles
//! there are atomics (`histogram.rs` has our own histogram: prometheus-client's locks); levels
//! the shard already knows (term, indexes, sizes, keys) and totals already counted for INFO are
//! copied in at scrape time instead of being tracked twice, so a scrape costs one status round
//! trip to the Raft loop, like `/api/cluster`.
//!
//! Layout: `server.rs` (commands, connections, bytes), `shard.rs` (Raft, WAL, snapshots,
//! keyspace), `histogram.rs` (the lock-free histogram and the bucket bounds).

mod histogram;
mod server;
mod shard;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::debug;

use crate::server::ServerContext;

pub use server::{CommandId, ServerMetrics};
pub use shard::{ReadPath, ShardMetrics};

/// The `Content-Type` of [`scrape`]'s answer: OpenMetrics text 1.0.0, as prometheus-client
/// encodes it (ending in `# EOF`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A gauge of a non-negative integer (indexes, sizes, counts of things).
type U64Gauge = Gauge<u64, AtomicU64>;

/// Every metric of a node, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Commands, connections and client bytes, recorded by the RESP front end.
    pub server: ServerMetrics,
    /// Events the Raft loop records as they happen (it holds a clone).
    pub shard: ShardMetrics,
    /// Levels copied from the shard's status at scrape time.
    status: shard::StatusMetrics,
    /// Serializes scrapes: refreshing a labelled family clears it and fills it again.
    scrape: Mutex<()>,
}

impl Metrics {
    /// A node's metrics, every family registered and at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tinkerdb");
        let server = ServerMetrics::register(&mut registry);
        let shard = ShardMetrics::register(&mut registry);
        let status = shard::StatusMetrics::register(&mut registry);
        Metrics {
            registry,
            server,
            shard,
            status,
            scrape: Mutex::new(()),
        }
    }

    /// The current values as OpenMetrics text (see [`CONTENT_TYPE`]), without refreshing the
    /// scrape-time levels; [`scrape`] refreshes first.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing metrics into a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Refreshes the levels from the node's status and encodes everything: the body of
/// `GET /metrics`. If the Raft loop cannot answer (stopping), the shard's levels keep their
/// last values and the rest is still reported.
pub async fn scrape(ctx: &ServerContext) -> String {
    let status = ctx
        .router
        .primary()
        .status(crate::acl::DEFAULT_TENANT)
        .await;
    let metrics = &ctx.metrics;
    let _one_at_a_time = metrics.scrape.lock().unwrap_or_else(|p| p.into_inner());
    metrics.server.refresh(&ctx.stats, ctx.clients.len());
    match status {
        Ok(status) => metrics.status.refresh(&status),
        Err(e) => debug!(error = %e, "metrics scrape without the shard's status"),
    }
    metrics.encode()
}

/// Sets a counter that mirrors a total counted elsewhere (INFO's counters, the WAL's stats).
/// `fetch_max` keeps it monotonic even if two scrapes race with stale totals.
fn mirror(counter: &Counter, total: u64) {
    counter.inner().fetch_max(total, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The encoded text of a node's metrics with a few values set.
    fn sample() -> String {
        let metrics = Metrics::new();
        let get = metrics.server.command(b"GET");
        metrics.server.record(get, true, Duration::from_micros(80));
        metrics.server.record(
            metrics.server.command(b"nope"),
            false,
            Duration::from_micros(20),
        );
        metrics.shard.proposed();
        metrics.shard.leader_seen(1);
        metrics.shard.wal_fsynced(Duration::from_micros(700));
        metrics.encode()
    }

    #[test]
    fn encoded_output_is_openmetrics_that_prometheus_parse_reads() {
        let text = sample();
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
        // prometheus-parse reads the Prometheus text format: it skips the OpenMetrics-only lines
        // (`# EOF`, `# UNIT`) as comments, so it takes the text as it is, but it looks a sample's
        // type up by the sample's own name, so an OpenMetrics counter (`# TYPE x counter`,
        // sample `x_total`) comes out untyped.
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
        let value = |name: &str, labels: &[(&str, &str)]| {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
                })
                .map(|s| s.value.clone())
        };
        use prometheus_parse::Value;
        assert!(matches!(
            value("tinkerdb_commands_total", &[("command", "get"), ("result", "ok")]),
            Some(Value::Counter(n)) | Some(Value::Untyped(n)) if n == 1.0
        ));
        assert!(matches!(
            value("tinkerdb_commands_total", &[("command", "unknown"), ("result", "error")]),
            Some(Value::Counter(n)) | Some(Value::Untyped(n)) if n == 1.0
        ));
        assert!(matches!(
            value("tinkerdb_command_duration_seconds", &[("command", "get")]),
            Some(Value::Histogram(_))
        ));
        assert!(
            matches!(
                value("tinkerdb_commands_total", &[("command", "set"), ("result", "ok")]),
                Some(Value::Counter(n)) | Some(Value::Untyped(n)) if n == 0.0
            ),
            "commands never sent are listed at zero"
        );
        assert!(matches!(
            value("tinkerdb_command_duration_seconds", &[("command", "set")]),
            Some(Value::Histogram(_))
        ));
        assert!(matches!(
            value("tinkerdb_wal_fsync_duration_seconds", &[]),
            Some(Value::Histogram(_))
        ));
        for name in [
            "tinkerdb_raft_term",
            "tinkerdb_raft_is_leader",
            "tinkerdb_connected_clients",
            "tinkerdb_wal_segments",
        ] {
            assert!(value(name, &[]).is_some(), "{name} is exported");
        }
    }
}
