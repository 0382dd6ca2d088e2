//! Metrics of the RESP front end: commands by name and outcome, their latency, connections and
//! client bytes.
//!
//! Commands are counted on every request, so nothing here takes a lock or allocates per
//! command: each command of the kv command table has a slot made at start (a `CommandId` is its
//! position in the table, found by binary search over the static names), and any name not in
//! the table shares the `unknown` slot, which bounds the label's cardinality by the table. A
//! collector encodes every slot, zeros included: each series exists from the first scrape, so
//! `rate()` and `increase()` see a command's first use (about 1,400 lines per scrape).
//!
//! Connections and bytes are not counted twice: INFO's counters ([`crate::server::Stats`]) and
//! the client registry are the source, mirrored into the metrics at scrape time.

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tinkerdb_kv::table;

use super::histogram::{DurationHistogram, COMMAND_BUCKETS};
use super::{mirror, U64Gauge};
use crate::server::Stats;

/// The `command` label of every name that is not in the command table.
const UNKNOWN_COMMAND: &str = "unknown";

/// Which command a request was, as an index into the metric slots. Cheap to copy and to keep
/// beside a batched command until its reply is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandId(usize);

/// The front end's metric handles.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    commands: Arc<CommandSlots>,
    connections: U64Gauge,
    connections_total: Counter,
    received_bytes: Counter,
    sent_bytes: Counter,
}

impl ServerMetrics {
    /// Makes the handles and registers them under `registry`'s prefix.
    pub(super) fn register(registry: &mut Registry) -> ServerMetrics {
        let metrics = ServerMetrics {
            commands: Arc::new(CommandSlots::new()),
            connections: U64Gauge::default(),
            connections_total: Counter::default(),
            received_bytes: Counter::default(),
            sent_bytes: Counter::default(),
        };
        registry.register_collector(Box::new(CommandCollector(Arc::clone(&metrics.commands))));
        registry.register(
            "connected_clients",
            "RESP client connections open now",
            metrics.connections.clone(),
        );
        // The gauge above is not `connections`: OpenMetrics names this counter's family
        // `tinkerdb_connections`, and two families may not share a name.
        registry.register(
            "connections",
            "RESP client connections accepted since start (refused ones included)",
            metrics.connections_total.clone(),
        );
        registry.register(
            "network_received_bytes",
            "Bytes read from RESP clients",
            metrics.received_bytes.clone(),
        );
        registry.register(
            "network_sent_bytes",
            "Bytes written to RESP clients",
            metrics.sent_bytes.clone(),
        );
        metrics
    }

    /// The metric slot of a command name (any case); names not in the command table map to
    /// `unknown`. No allocation: one lookup in the command table's name index.
    pub fn command(&self, name: &[u8]) -> CommandId {
        self.command_at(table::position(name))
    }

    /// The metric slot of a command already looked up in the command table (`None`: not in
    /// it, `unknown`).
    pub fn command_at(&self, position: Option<usize>) -> CommandId {
        CommandId(position.unwrap_or(table::all().len()))
    }

    /// Records one command's outcome (`ok`: the reply was not an error) and how long it took
    /// from being read to having its reply. Three relaxed atomic additions.
    pub fn record(&self, id: CommandId, ok: bool, took: Duration) {
        let slot = &self.commands.slots[id.0];
        let counter = if ok { &slot.ok } else { &slot.error };
        counter.fetch_add(1, Ordering::Relaxed);
        slot.duration.observe(took);
    }

    /// Copies the front end's own counters in (at scrape time).
    pub(super) fn refresh(&self, stats: &Stats, connections: usize) {
        self.connections.set(connections as u64);
        mirror(
            &self.connections_total,
            stats.connections_received.load(Ordering::Relaxed),
        );
        mirror(
            &self.received_bytes,
            stats.net_input_bytes.load(Ordering::Relaxed),
        );
        mirror(
            &self.sent_bytes,
            stats.net_output_bytes.load(Ordering::Relaxed),
        );
    }
}

/// One command's counters.
#[derive(Debug)]
struct CommandSlot {
    ok: AtomicU64,
    error: AtomicU64,
    duration: DurationHistogram,
}

/// A slot per command of the table, in table order, then the `unknown` slot.
#[derive(Debug)]
struct CommandSlots {
    slots: Box<[CommandSlot]>,
}

impl CommandSlots {
    fn new() -> CommandSlots {
        let specs = table::all();
        assert!(
            specs
                .windows(2)
                .all(|w| w[0].name.cmp(w[1].name) == CmpOrdering::Less),
            "the command table must be sorted for CommandId lookups"
        );
        CommandSlots {
            slots: (0..=specs.len())
                .map(|_| CommandSlot {
                    ok: AtomicU64::new(0),
                    error: AtomicU64::new(0),
                    duration: DurationHistogram::new(COMMAND_BUCKETS),
                })
                .collect(),
        }
    }

    /// `(command label, slot)` for every slot.
    fn labelled(&self) -> impl Iterator<Item = (&'static str, &CommandSlot)> {
        table::all()
            .iter()
            .map(|spec| spec.name)
            .chain([UNKNOWN_COMMAND])
            .zip(self.slots.iter())
    }
}

/// Encodes `tinkerdb_commands_total` and `tinkerdb_command_duration_seconds` from the slots.
#[derive(Debug)]
struct CommandCollector(Arc<CommandSlots>);

impl Collector for CommandCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            // The registry ends registered metrics' help with a period; collectors write their own.
            let mut family = encoder.encode_descriptor(
                "commands",
                "Commands run, by lower-case command name (`unknown`: not a TinkerDB command) and result (`ok`, or `error`: the reply was an error).",
                None,
                MetricType::Counter,
            )?;
            for (command, slot) in self.0.labelled() {
                for (result, counter) in [("ok", &slot.ok), ("error", &slot.error)] {
                    let labels = [("command", command), ("result", result)];
                    let n = counter.load(Ordering::Relaxed);
                    ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "command_duration",
            "Time from reading a command to having its reply (a pipelined batch's commands share the batch's round trip to the Raft loop).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (command, slot) in self.0.labelled() {
            let labels = [("command", command)];
            slot.duration.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_map_to_their_slot_in_any_case_and_unknown_ones_share_one() {
        let metrics = ServerMetrics::register(&mut Registry::default());
        assert_eq!(metrics.command(b"GET"), metrics.command(b"get"));
        assert_ne!(metrics.command(b"get"), metrics.command(b"set"));
        let unknown = CommandId(table::all().len());
        assert_eq!(metrics.command(b"NOSUCHCOMMAND"), unknown);
        assert_eq!(metrics.command(b""), unknown);
        let (label, _) = metrics
            .commands
            .labelled()
            .nth(metrics.command(b"Set").0)
            .unwrap();
        assert_eq!(label, "set");
    }
}
