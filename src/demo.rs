//! `tinkerdb demo`: a local multi-node cluster for learning. Starts N `tinkerdb server`
//! processes (this same binary) with their own data folders and ports, prints how to reach
//! them, reports when one exits (say, after you `kill -9` it) with the command that restarts
//! it, and stops them all on Ctrl-C or SIGTERM.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Most nodes a demo starts.
pub const MAX_DEMO_NODES: usize = 7;
/// Port step between nodes: node i uses base + STEP*(i-1) for RESP, +1 peer, +2 admin.
const PORT_STEP: u16 = 10;
/// How often the demo checks on its nodes.
const POLL: Duration = Duration::from_millis(500);

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
    /// A process could not be started.
    #[error("cannot start node {node}: {source}")]
    Spawn {
        /// The node id.
        node: usize,
        /// What the OS said.
        source: std::io::Error,
    },
}

struct DemoNode {
    id: usize,
    args: Vec<String>,
    child: Option<Child>,
}

/// Runs the demo until Ctrl-C.
pub fn run(nodes: usize, base_port: u16, data_dir: &Path) -> Result<(), DemoError> {
    if !(1..=MAX_DEMO_NODES).contains(&nodes) {
        return Err(DemoError::Invalid(format!(
            "--nodes must be 1 to {MAX_DEMO_NODES}"
        )));
    }
    let last = u32::from(base_port) + u32::from(PORT_STEP) * (nodes as u32) + 2;
    if last > u32::from(u16::MAX) {
        return Err(DemoError::Invalid(
            "--base-port is too high for that many nodes".into(),
        ));
    }
    let exe = std::env::current_exe().map_err(|e| DemoError::Invalid(e.to_string()))?;
    let addr = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port)).to_string();
    let port = |i: usize, offset: u16| base_port + PORT_STEP * (i as u16 - 1) + offset;
    let initial: Vec<String> = (1..=nodes)
        .map(|i| format!("{i}={}", addr(port(i, 1))))
        .collect();
    let initial = initial.join(",");
    let threads = io_threads_per_node(nodes).to_string();
    let mut demo_nodes: Vec<DemoNode> = (1..=nodes)
        .map(|i| DemoNode {
            id: i,
            args: vec![
                "server".into(),
                "--node-id".into(),
                i.to_string(),
                "--initial-cluster".into(),
                initial.clone(),
                "--data-dir".into(),
                node_dir(data_dir, i).display().to_string(),
                "--listen".into(),
                addr(port(i, 0)),
                "--peer-listen".into(),
                addr(port(i, 1)),
                "--admin-listen".into(),
                addr(port(i, 2)),
                "--io-threads".into(),
                threads.clone(),
                "--log-level".into(),
                "warn".into(),
            ],
            child: None,
        })
        .collect();
    for node in &mut demo_nodes {
        node.child = Some(spawn(&exe, node)?);
    }
    println!(
        "TinkerDB demo: {nodes} nodes, data in {}",
        data_dir.display()
    );
    println!(
        "{:<6} {:<18} {:<18} {:<18}",
        "node", "RESP", "peer", "admin"
    );
    for i in 1..=nodes {
        println!(
            "{:<6} {:<18} {:<18} {:<18}",
            i,
            addr(port(i, 0)),
            addr(port(i, 1)),
            addr(port(i, 2))
        );
    }
    println!("\nTry: redis-cli -p {} set hello world", port(1, 0));
    println!("     tinkerdb cluster --admin {} status", addr(port(1, 2)));
    println!(
        "     open the dashboard: http://{}/ (any node's admin address)",
        addr(port(nodes.min(2), 2))
    );
    println!(
        "     kill -9 a node's pid and watch the others elect a new leader. Ctrl-C stops all.\n"
    );
    for node in &demo_nodes {
        if let Some(child) = &node.child {
            println!("node {} pid {}", node.id, child.id());
        }
    }
    watch(&mut demo_nodes, &exe);
    for node in &mut demo_nodes {
        if let Some(child) = &mut node.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    println!("demo stopped");
    Ok(())
}

/// The nodes share this machine's cores: each gets its share (at least one runtime thread),
/// rather than the default (one per core but one) each, which on few cores makes them wake
/// one another's threads far more than they work (see "Sizing a node" in docs/OPERATIONS.md).
fn io_threads_per_node(nodes: usize) -> usize {
    (crate::config::host_cores() / nodes.max(1)).max(1)
}

fn node_dir(data_dir: &Path, i: usize) -> PathBuf {
    data_dir.join(format!("node{i}"))
}

fn spawn(exe: &Path, node: &DemoNode) -> Result<Child, DemoError> {
    Command::new(exe)
        .args(&node.args)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|source| DemoError::Spawn {
            node: node.id,
            source,
        })
}

/// Polls the children until Ctrl-C, telling the user about exits.
fn watch(nodes: &mut [DemoNode], exe: &Path) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tinkerdb demo: cannot wait for Ctrl-C: {e}");
            return;
        }
    };
    runtime.block_on(async {
        let mut ticker = tokio::time::interval(POLL);
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            let terminated = async {
                match &mut term {
                    Some(term) => {
                        term.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = terminated => return,
                _ = ticker.tick() => {}
            }
            for node in nodes.iter_mut() {
                let Some(child) = &mut node.child else {
                    continue;
                };
                if let Ok(Some(status)) = child.try_wait() {
                    println!(
                        "node {} exited ({status}). Restart it with:\n  {} {}",
                        node.id,
                        exe.display(),
                        node.args.join(" ")
                    );
                    node.child = None;
                }
            }
        }
    });
}
