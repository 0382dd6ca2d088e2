//! `tinkerdb health`, the probe that container healthchecks run (docker-compose.yml, the
//! images' HEALTHCHECK): exit 0 with one line when the admin API answers 200, exit 1 otherwise.
//! A node that is up but has no quorum is alive (`/health`) and not ready (`/ready`).

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Node, NodeOptions, Ports};

/// How long a node may take before the probe should pass.
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// Runs `tinkerdb health --admin 127.0.0.1:PORT [--ready]`: (exit code, first line printed).
fn health(admin_port: u16, ready: bool) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tinkerdb"));
    cmd.arg("health")
        .arg("--admin")
        .arg(format!("127.0.0.1:{admin_port}"));
    if ready {
        cmd.arg("--ready");
    }
    let output = cmd.output().expect("run tinkerdb health");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let line = text.lines().next().unwrap_or_default().to_owned();
    (output.status.code().expect("exited, not signalled"), line)
}

/// Probes until the exit code is `code` or [`WAIT`] passes; returns the last result.
fn health_until(admin_port: u16, ready: bool, code: i32) -> (i32, String) {
    let started = Instant::now();
    loop {
        let result = health(admin_port, ready);
        if result.0 == code || started.elapsed() >= WAIT {
            return result;
        }
        thread::sleep(POLL);
    }
}

#[test]
fn a_single_node_is_healthy_and_ready_then_unreachable_once_killed() {
    let mut node = Node::start();
    let admin = node.ports().admin;
    let (code, line) = health_until(admin, false, 0);
    assert_eq!(code, 0, "/health: {line}");
    assert!(line.ends_with("/health: 200 ok"), "{line}");
    let (code, line) = health_until(admin, true, 0);
    assert_eq!(code, 0, "/ready: {line}");
    assert!(line.contains("/ready: 200 ready: leader 1"), "{line}");

    node.kill9();
    let (code, line) = health(admin, false);
    assert_eq!(code, 1, "a dead node must fail the probe: {line}");
    assert!(line.contains("cannot reach the admin API"), "{line}");
}

#[test]
fn a_node_without_quorum_is_alive_but_not_ready() {
    // Node 1 of a three-node cluster whose other two members never start.
    let ports = Ports::pick_many(3);
    let members: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}={}", i + 1, p.peer_addr()))
        .collect();
    let node = Node::launch(NodeOptions {
        ports: Some(ports[0]),
        args: vec![
            "--node-id".into(),
            "1".into(),
            "--initial-cluster".into(),
            members.join(","),
        ],
        ..NodeOptions::default()
    });
    let admin = node.ports().admin;
    let (code, line) = health_until(admin, false, 0);
    assert_eq!(code, 0, "/health: {line}\n{}", node.log_tail());
    let (code, line) = health(admin, true);
    assert_eq!(code, 1, "/ready without a leader: {line}");
    assert!(line.contains("/ready: 503 not ready"), "{line}");
}
