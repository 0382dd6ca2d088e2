//! Snapshots through a client, on a real node: `BGSAVE` while one is being written answers as
//! Redis does, writes and reads go on while it is written (the keyspace's copy-on-write
//! freeze), and after `kill -9` the node comes back from that snapshot plus the WAL after it
//! with every acknowledged write, including those made while the snapshot was written.

mod common;

use std::time::{Duration, Instant};

use common::Node;

/// Keys loaded before the snapshot: enough that writing it takes tens of milliseconds.
const KEYS: usize = 200_000;
/// Longest wait for a background snapshot to finish.
const WAIT: Duration = Duration::from_secs(60);

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {info}"))
        .trim()
        .to_string()
}

fn load(node: &Node, keys: usize) {
    let mut input = Vec::new();
    for i in 0..keys {
        let key = format!("key:{i}");
        let value = format!("v{i}");
        input.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    let out = node.redis_cli_stdin(&["--pipe"], &input);
    assert!(
        out.contains(&format!("errors: 0, replies: {keys}")),
        "loading: {out}"
    );
}

#[test]
fn writes_go_on_during_a_background_snapshot_and_survive_a_kill_after_it() {
    let mut node = Node::start();
    load(&node, KEYS);
    let mut con = node.conn();

    let started: String = redis::cmd("BGSAVE").query(&mut con).expect("BGSAVE");
    assert_eq!(started, "Background saving started");
    let second = redis::cmd("BGSAVE").query::<String>(&mut con);
    let err = second.expect_err("a second BGSAVE while the first runs");
    assert!(
        err.to_string()
            .contains("Background save already in progress"),
        "{err}"
    );

    // While it is written: overwrite some keys, delete others, add new ones, and read.
    for i in (0..KEYS).step_by(997) {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg("changed")
            .query(&mut con)
            .expect("SET");
        let _: () = redis::cmd("DEL")
            .arg(format!("key:{}", i + 1))
            .query(&mut con)
            .expect("DEL");
        let _: () = redis::cmd("SET")
            .arg(format!("new:{i}"))
            .arg("fresh")
            .query(&mut con)
            .expect("SET");
    }
    let during: Option<String> = redis::cmd("GET").arg("key:5").query(&mut con).expect("GET");
    assert_eq!(during.as_deref(), Some("v5"));

    let deadline = Instant::now() + WAIT;
    while info_field(&mut con, "persistence", "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "the snapshot never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let index: u64 = info_field(&mut con, "persistence", "snapshot_last_index")
        .parse()
        .expect("an index");
    assert!(index > 0, "a snapshot was written");
    let applied: u64 = info_field(&mut con, "raft", "raft_applied_index")
        .parse()
        .expect("an index");
    assert!(
        applied > index,
        "the writes made during the snapshot come after it in the log ({applied} vs {index})"
    );

    node.kill9();
    node.restart();
    let mut con = node.conn();
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(dbsize, KEYS, "as many keys deleted as added");
    for i in (0..KEYS).step_by(997) {
        let changed: Option<String> = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query(&mut con)
            .expect("GET");
        assert_eq!(changed.as_deref(), Some("changed"), "key:{i}");
        let deleted: Option<String> = redis::cmd("GET")
            .arg(format!("key:{}", i + 1))
            .query(&mut con)
            .expect("GET");
        assert_eq!(deleted, None, "key:{}", i + 1);
        let fresh: Option<String> = redis::cmd("GET")
            .arg(format!("new:{i}"))
            .query(&mut con)
            .expect("GET");
        assert_eq!(fresh.as_deref(), Some("fresh"), "new:{i}");
    }
    let untouched: Option<String> = redis::cmd("GET").arg("key:5").query(&mut con).expect("GET");
    assert_eq!(untouched.as_deref(), Some("v5"));
    assert!(
        node.log_text().contains("snapshot written"),
        "the node logged its snapshot"
    );
}
