//! Starting and stopping a node: open storage, start the Raft loop, bind the three ports, run
//! until SIGINT/SIGTERM (or a fatal storage error), then shut down in order: stop accepting,
//! close connections, stop the Raft loop after a final WAL sync.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn, Instrument};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::router::Router;
use crate::server::ServerContext;
use crate::shard::{self, ShardError};
use crate::transport;

/// The longest start-up waits for the log replay before it serves clients anyway (requests
/// then wait for the shard as usual).
const CATCH_UP_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The same for a member of a multi-node cluster, whose peers may not be up yet.
const CLUSTER_CATCH_UP_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data folder could not be created.
    #[error("cannot use data dir {path}: {source}")]
    DataDir {
        /// The folder.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A port could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which port.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Storage or Raft failed to start or failed while running.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The configuration asks for something this version cannot do yet.
    #[error("{0}")]
    Unsupported(String),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs a node until it is told to stop. Blocks the calling thread.
pub fn run(config: Config) -> Result<(), NodeError> {
    // One thread: tokio's single-threaded scheduler, which skips the work-stealing machinery
    // a multi-threaded runtime keeps up even with one worker (10-20% more `-P 1` SETs on a
    // three-node cluster of two cores, see docs/OPERATIONS.md "Sizing a node").
    let threads = config.runtime_threads();
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().thread_name("tinkerdb-io");
    let runtime = builder.build().map_err(NodeError::Runtime)?;
    // Every log line of this node (its tasks included) carries its id.
    let span = tracing::info_span!("node", node = config.node_id);
    runtime.block_on(run_async(config).instrument(span))
}

async fn run_async(config: Config) -> Result<(), NodeError> {
    let members = config
        .parse_initial_cluster()
        .map_err(|e| NodeError::Unsupported(e.to_string()))?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let bind = |what, addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| NodeError::Bind { what, addr, source })
    };
    let client_listener = bind("RESP clients", config.listen).await?;
    let peer_listener = bind("peers", config.peer_listen).await?;
    let admin_listener = bind("admin API", config.admin_listen).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let identity = transport::Identity {
        cluster_id: transport::cluster_id(&members),
        node_id: config.node_id,
        advertised: transport::Advertised {
            resp: config.listen,
            admin: config.admin_listen,
        },
    };
    let (peers, inbox) = transport::start(identity, peer_listener, &members, shutdown_rx.clone());
    let metrics = Arc::new(Metrics::new());
    let peer_directory = peers.directory();
    let (shard, mut shard_exit) = shard::start(&config, peers, inbox, metrics.shard.clone())?;
    // Clients connecting meanwhile wait in the listen backlog: nobody should see the state
    // (or the users) of a half-replayed log.
    // A lone voter catches up by itself; a cluster member may wait for its peers to start, so
    // it waits only briefly (requests get a retryable error until a leader is known).
    let max_wait = if members.len() == 1 {
        CATCH_UP_MAX_WAIT
    } else {
        CLUSTER_CATCH_UP_MAX_WAIT
    };
    match shard.wait_caught_up(max_wait).await {
        Ok(true) => {}
        Ok(false) => warn!("the data shard has not caught up after {max_wait:?}; serving anyway"),
        // The Raft loop stopped while starting: report why it stopped.
        Err(_) => {
            return Err(NodeError::Shard(match shard_exit.await {
                Ok(Err(e)) => e,
                _ => ShardError::Stopped,
            }))
        }
    }
    info!(
        node = config.node_id,
        resp = %config.listen,
        peer = %config.peer_listen,
        admin = %config.admin_listen,
        data_dir = %config.data_dir.display(),
        "TinkerDB node started"
    );
    let mut ctx = ServerContext::new(config, Router::single(shard.clone()), Arc::clone(&metrics));
    ctx.peer_directory = peer_directory;
    let ctx = Arc::new(ctx);
    let resp = tokio::spawn(
        crate::server::serve(client_listener, Arc::clone(&ctx), shutdown_rx.clone())
            .in_current_span(),
    );
    let admin = tokio::spawn(
        crate::admin::serve(admin_listener, Arc::clone(&ctx), shutdown_rx).in_current_span(),
    );
    let outcome = tokio::select! {
        _ = stop_signal() => {
            info!("stop signal received; shutting down");
            Ok(())
        }
        exit = &mut shard_exit => match exit {
            Ok(Err(e)) => Err(NodeError::Shard(e)),
            Ok(Ok(())) => {
                info!("the Raft loop finished (this node left the cluster)");
                Ok(())
            }
            Err(_) => Err(NodeError::Shard(ShardError::Stopped)),
        },
    };
    let _ = shutdown_tx.send(true);
    let _ = resp.await;
    let _ = admin.await;
    if outcome.is_ok() && !shard_exit_done(&mut shard_exit) {
        shard.shutdown().await;
    } else if let Err(e) = &outcome {
        error!(error = %e, "node failed");
    }
    info!("TinkerDB node stopped");
    outcome
}

/// Whether the Raft loop has already finished.
fn shard_exit_done(exit: &mut tokio::sync::oneshot::Receiver<Result<(), ShardError>>) -> bool {
    !matches!(
        exit.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty)
    )
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
