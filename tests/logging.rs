//! Logs as an operator reads them: `--log-format json` gives one JSON object per line, every
//! line names its node, the Raft loop's lines (raft-rs's own elections among them) also name
//! the shard and the term, and no password ever appears, whether it came from the config file,
//! `AUTH` or `ACL SETUSER`.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, ClusterOptions};
use common::{Node, NodeOptions};
use serde_json::Value;

const CONFIG_PASSWORD: &str = "config-Secret-4711";
const ACL_PASSWORD: &str = "acl-Secret-0815";

/// The JSON lines a node wrote (the harness's own marker lines left out); fails on any other.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.starts_with("==== harness") && !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The node id the line's spans carry.
fn node_of(line: &Value) -> Option<u64> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|span| span["node"].as_u64())
}

#[test]
fn json_lines_name_their_node_and_never_hold_a_password() {
    let config = format!(
        "[[users]]\nname = \"admin\"\npassword = \"{CONFIG_PASSWORD}\"\nrole = \"admin\"\n"
    );
    let mut node = Node::start_with(NodeOptions {
        config_toml: Some(config),
        args: vec!["--log-format".into(), "json".into()],
        ..NodeOptions::default()
    });
    let mut conn = node.conn_as("admin", CONFIG_PASSWORD);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("bob")
        .arg("on")
        .arg(format!(">{ACL_PASSWORD}"))
        .arg("~*")
        .arg("+@all")
        .query(&mut conn)
        .unwrap();
    // A failed login must not echo what was tried either.
    let wrong: redis::RedisResult<()> = redis::cmd("AUTH")
        .arg("bob")
        .arg(format!("{ACL_PASSWORD}-wrong"))
        .query(&mut conn);
    assert!(wrong.is_err());
    drop(conn);
    node.terminate();

    let log = node.log_text();
    assert!(
        !log.contains(CONFIG_PASSWORD),
        "config password logged:\n{log}"
    );
    assert!(!log.contains(ACL_PASSWORD), "ACL password logged:\n{log}");
    let lines = json_lines(&log);
    assert!(lines.len() >= 3, "too few log lines:\n{log}");
    for line in &lines {
        assert_eq!(node_of(line), Some(1), "line without its node id: {line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["target"] == "raft" && l["fields"]["message"] == "became leader at term 2"),
        "raft-rs's election is not in the log:\n{log}"
    );
}

#[test]
fn raft_lines_of_a_cluster_carry_shard_and_term() {
    let mut cluster = Cluster::start_with(ClusterOptions {
        nodes: 3,
        args: vec!["--log-format".into(), "json".into()],
        ..ClusterOptions::default()
    });
    let leader = cluster.wait_for_leader(Duration::from_secs(10));
    cluster.kill9(leader);
    let survivors: Vec<usize> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    let new_leader = cluster.wait_for_leader_among(&survivors, Duration::from_secs(10));
    cluster.node_mut(new_leader).terminate();

    let log = cluster.node(new_leader).log_text();
    let lines = json_lines(&log);
    for line in &lines {
        assert_eq!(
            node_of(line),
            Some(new_leader as u64),
            "line without its node id: {line}"
        );
    }
    let elected = lines
        .iter()
        .rfind(|l| {
            l["target"] == "raft"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("became leader at term"))
        })
        .unwrap_or_else(|| panic!("no election of node {new_leader} in its log:\n{log}"));
    assert!(
        elected["fields"]["raft"]
            .as_str()
            .is_some_and(|kv| kv.contains("term=")),
        "no term on {elected}"
    );
    let spans = elected["spans"].as_array().expect("spans");
    assert!(
        spans.iter().any(|s| s["name"] == "raft" && s["shard"] == 1),
        "no shard on {elected}"
    );
}
