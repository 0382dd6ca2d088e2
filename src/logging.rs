//! Structured logging with `tracing`: text for people, JSON for pipelines. Every line carries
//! the node id (the `node` span every task runs in), lines of the Raft loop also the shard
//! (`raft` span), and raft-rs's own lines (elections, role changes, each with its term) are
//! bridged from slog into the same stream under the `raft` target.
//!
//! No secret ever reaches a log line: passwords are hashed when the config is read and the
//! hashes are never logged; client commands (AUTH among them) are never logged.

use std::fmt::{self, Write as _};

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber; call once at start. Logs go to stderr.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never in files, `docker logs` or pipelines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second call (e.g. from tests) keeps the first subscriber; that is fine.
    let _ = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The slog logger handed to raft-rs: its records become `tracing` events with target `raft`
/// (so `--log-level raft=debug` shows raft-rs's debug lines), carrying raft-rs's key-values
/// (`term`, `raft_id`, ...) as one `raft` field.
pub fn raft_logger() -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!())
}

/// Forwards slog records to `tracing`.
struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        // raft-rs logs every message step at debug: skip the formatting unless it is wanted.
        let enabled = match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::enabled!(target: "raft", tracing::Level::ERROR)
            }
            slog::Level::Warning => tracing::enabled!(target: "raft", tracing::Level::WARN),
            slog::Level::Info => tracing::enabled!(target: "raft", tracing::Level::INFO),
            slog::Level::Debug => tracing::enabled!(target: "raft", tracing::Level::DEBUG),
            slog::Level::Trace => tracing::enabled!(target: "raft", tracing::Level::TRACE),
        };
        if !enabled {
            return Ok(());
        }
        let mut kv = KeyValues(String::new());
        let _ = slog::KV::serialize(&record.kv(), record, &mut kv);
        let _ = slog::KV::serialize(values, record, &mut kv);
        let (msg, raft) = (record.msg(), kv.0);
        match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::error!(target: "raft", %raft, "{msg}")
            }
            slog::Level::Warning => tracing::warn!(target: "raft", %raft, "{msg}"),
            slog::Level::Info => tracing::info!(target: "raft", %raft, "{msg}"),
            slog::Level::Debug => tracing::debug!(target: "raft", %raft, "{msg}"),
            slog::Level::Trace => tracing::trace!(target: "raft", %raft, "{msg}"),
        }
        Ok(())
    }
}

/// slog key-values written as `key=value key=value`.
struct KeyValues(String);

impl slog::Serializer for KeyValues {
    fn emit_arguments(&mut self, key: slog::Key, val: &fmt::Arguments) -> slog::Result {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{key}={val}");
        Ok(())
    }
}
