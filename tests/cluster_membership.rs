//! Membership changes on real processes, driven the way an operator does it: `tinkerdb cluster
//! add-node`, a new node started with `--join` catching up from a snapshot, `promote`,
//! `remove-node` (the removed process stops by itself), and `transfer-leader`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::Cluster;
use common::{Node, NodeOptions, Ports};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `tinkerdb cluster --admin ADDR ARGS...` and returns (success, stdout + stderr).
fn cluster_cli(admin_port: u16, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tinkerdb"))
        .arg("cluster")
        .arg("--admin")
        .arg(format!("127.0.0.1:{admin_port}"))
        .args(args)
        .output()
        .expect("run tinkerdb cluster");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn initial_cluster(cluster: &Cluster) -> String {
    cluster
        .ids()
        .into_iter()
        .map(|id| format!("{id}={}", cluster.node(id).ports().peer_addr()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a process has exited (gone, or a zombie its parent has not reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

fn dbsize(node: &Node) -> Option<i64> {
    let client = node.client();
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    redis::cmd("DBSIZE").query(&mut con).ok()
}

#[test]
fn a_node_joins_catches_up_is_promoted_and_another_is_removed() {
    // Small snapshots, so the joiner must be sent one (the log it would need is compacted).
    let cluster = Cluster::start_with(common::cluster::ClusterOptions {
        nodes: 3,
        proxies: false,
        args: vec!["--snapshot-entries".into(), "100".into()],
    });
    let leader = cluster.wait_for_leader(WAIT);
    let mut con = cluster.conn(leader);
    for i in 0..500 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .expect("set");
    }
    let leader_admin = cluster.node(leader).ports().admin;

    // Add node 4 as a learner, then start it empty with --join.
    let ports = Ports::pick_many(1)[0];
    let (ok, out) = cluster_cli(
        leader_admin,
        &["add-node", "--id", "4", "--peer-addr", &ports.peer_addr()],
    );
    assert!(ok, "add-node failed: {out}");
    let follower_peer = cluster.node(leader % 3 + 1).ports().peer_addr();
    let mut joiner = Node::launch(NodeOptions {
        ports: Some(ports),
        args: vec![
            "--node-id".into(),
            "4".into(),
            "--initial-cluster".into(),
            initial_cluster(&cluster),
            "--join".into(),
            follower_peer,
        ],
        ..NodeOptions::default()
    });
    joiner.await_ready();
    cluster.wait_until(WAIT, "the joiner to catch up", || {
        (dbsize(&joiner) == Some(500)).then_some(())
    });

    let (ok, out) = cluster_cli(leader_admin, &["promote", "--id", "4"]);
    assert!(ok, "promote failed: {out}");
    let (ok, out) = cluster_cli(leader_admin, &["--json", "status"]);
    assert!(ok, "status failed: {out}");
    cluster.wait_until(WAIT, "node 4 to become a voter", || {
        let (_, out) = cluster_cli(leader_admin, &["--json", "status"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        let voters = v["voters"].as_array()?;
        voters.iter().any(|id| id == 4).then_some(())
    });

    // The leader refuses to remove itself; removing a follower stops that process.
    let (ok, out) = cluster_cli(leader_admin, &["remove-node", "--id", &leader.to_string()]);
    assert!(!ok && out.contains("move leadership first"), "{out}");
    let victim = leader % 3 + 1;
    let (ok, out) = cluster_cli(leader_admin, &["remove-node", "--id", &victim.to_string()]);
    assert!(ok, "remove-node failed: {out}");
    let victim_pid = cluster.node(victim).pid();
    cluster.wait_until(WAIT, "the removed node to stop", || {
        process_gone(victim_pid).then_some(())
    });

    // The cluster (old leader, the other old node, node 4) keeps serving writes via node 4.
    let client = joiner.client();
    let mut con4 = client.get_connection().expect("connect to node 4");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("yes")
        .query(&mut con4)
        .expect("set via node 4");
    let got: String = redis::cmd("GET")
        .arg("after")
        .query(&mut con4)
        .expect("get via node 4");
    assert_eq!(got, "yes");

    // Leadership moves on request.
    let target = 4;
    let (ok, out) = cluster_cli(
        leader_admin,
        &["transfer-leader", "--to", &target.to_string()],
    );
    assert!(ok, "transfer-leader failed: {out}");
    cluster.wait_until(WAIT, "node 4 to lead", || {
        let (_, out) = cluster_cli(ports.admin, &["--json", "status"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        (v["leader"] == 4 && v["role"] == "leader").then_some(())
    });
}
