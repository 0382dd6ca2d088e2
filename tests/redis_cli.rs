//! TinkerDB driven by the real `redis-cli` and `redis-benchmark`, as a user at a shell would.
//!
//! Most tests are scripts: a list of `redis-cli` command lines with the exact output each must
//! print. redis-cli prints raw replies when its output is not a terminal: `OK`, `hello`, `1`, an
//! empty line for nil or an empty array, one element per line for arrays, and error text followed
//! by an empty line.
//!
//! Without `redis-cli` these tests skip with a printed reason, except on CI (`CI` set), where a
//! missing tool is a failure: `scripts/install-test-deps.sh` installs it.

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use common::Node;

/// Upper bound on SCAN calls when walking a keyspace of a few dozen keys.
const SCAN_CALLS_MAX: usize = 1_000;

/// Runs `line` (split on whitespace) through redis-cli and returns what it printed.
fn cli(node: &Node, line: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    node.redis_cli(&args)
}

/// Runs each command line in order; each must print exactly its expected output (a trailing
/// newline is implied, so a nil reply is `""`).
fn run_script(node: &Node, script: &[(&str, &str)]) {
    for (step, (line, expected)) in script.iter().enumerate() {
        let printed = cli(node, line);
        assert_eq!(
            printed,
            format!("{expected}\n"),
            "step {step}: `redis-cli {line}` printed {printed:?}, expected {expected:?}"
        );
    }
}

/// Output lines, sorted, for replies whose order is unspecified (KEYS, SCAN).
fn sorted_lines(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Every key, by walking SCAN until the cursor comes back to 0.
fn scan_all(node: &Node) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut cursor = String::from("0");
    for _ in 0..SCAN_CALLS_MAX {
        let output = cli(node, &format!("SCAN {cursor} COUNT 7"));
        let mut lines = output.lines();
        cursor = lines.next().expect("SCAN prints a cursor").to_owned();
        // An empty page prints as one empty line; no key in these tests is empty.
        keys.extend(lines.filter(|key| !key.is_empty()).map(str::to_owned));
        if cursor == "0" {
            return keys;
        }
    }
    panic!("SCAN did not finish within {SCAN_CALLS_MAX} calls");
}

#[test]
fn string_commands_print_exact_replies() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let node = Node::start();
    run_script(
        &node,
        &[
            ("PING", "PONG"),
            ("GET greeting", ""),
            ("SET greeting hello", "OK"),
            ("GET greeting", "hello"),
            ("EXISTS greeting", "1"),
            ("EXISTS greeting greeting nothing", "2"),
            ("TYPE greeting", "string"),
            ("TYPE nothing", "none"),
            ("APPEND greeting _world", "11"),
            ("GET greeting", "hello_world"),
            ("GETRANGE greeting 0 4", "hello"),
            ("GETRANGE greeting -5 -1", "world"),
            ("GETRANGE greeting 100 200", ""),
            ("APPEND fresh abc", "3"),
            ("INCR counter", "1"),
            ("INCR counter", "2"),
            ("GET counter", "2"),
            ("MSET a 1 b 2 c 3", "OK"),
            ("MGET a b nothing c", "1\n2\n\n3"),
            ("DEL a b nothing", "2"),
            ("EXISTS a b c", "1"),
            (
                "INCR greeting",
                "ERR value is not an integer or out of range\n",
            ),
            ("DBSIZE", "4"),
        ],
    );
}

#[test]
fn expire_sets_a_ttl_and_the_key_disappears() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let node = Node::start();
    run_script(
        &node,
        &[
            ("SET session token", "OK"),
            ("TTL session", "-1"),
            ("TTL nothing", "-2"),
            ("EXPIRE nothing 100", "0"),
            ("EXPIRE session 100", "1"),
        ],
    );
    let ttl = cli(&node, "TTL session");
    assert!(
        ttl == "100\n" || ttl == "99\n",
        "TTL right after EXPIRE 100 printed {ttl:?}"
    );

    run_script(&node, &[("SET brief moment PX 150", "OK")]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while cli(&node, "EXISTS brief") != "0\n" {
        assert!(
            Instant::now() < deadline,
            "a key set with PX 150 still exists after 5 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    run_script(&node, &[("GET brief", ""), ("TTL brief", "-2")]);
}

#[test]
fn keys_scan_dbsize_and_flushdb_see_the_whole_keyspace() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let node = Node::start();
    let mut expected = BTreeSet::new();
    for i in 0..25 {
        let key = format!("user:{i}");
        assert_eq!(cli(&node, &format!("SET {key} v{i}")), "OK\n");
        expected.insert(key);
    }
    assert_eq!(cli(&node, "SET other:1 x"), "OK\n");

    assert_eq!(cli(&node, "DBSIZE"), "26\n");
    let user_keys: Vec<String> = expected.iter().cloned().collect();
    assert_eq!(sorted_lines(&cli(&node, "KEYS user:*")), user_keys);
    assert_eq!(cli(&node, "KEYS nomatch*"), "\n");

    let mut all = expected.clone();
    all.insert("other:1".to_owned());
    assert_eq!(scan_all(&node), all, "SCAN walked a different key set");
    let scanned = node.redis_cli(&["--scan", "--pattern", "user:*"]);
    assert_eq!(sorted_lines(&scanned), user_keys, "redis-cli --scan");

    run_script(
        &node,
        &[
            ("FLUSHDB", "OK"),
            ("DBSIZE", "0"),
            ("KEYS *", ""),
            ("GET user:1", ""),
        ],
    );
    assert_eq!(scan_all(&node), BTreeSet::new());
}

#[test]
fn commands_read_from_stdin_run_in_order() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let node = Node::start();
    let input = b"SET n 10\nINCR n\nINCR n\nGET n\nAPPEND n 0\nGET n\nDEL n\nGET n\n";
    let printed = node.redis_cli_stdin(&[], input);
    assert_eq!(printed, "OK\n11\n12\n12\n3\n120\n1\n\n");
}

#[test]
fn pipe_mode_mass_insert_applies_every_command() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let node = Node::start();
    let count = 10_000;
    let mut stream = Vec::new();
    for i in 0..count {
        let (key, value) = (format!("mass:{i}"), format!("value-{i}"));
        stream.extend(common::resp_command(&[
            b"SET",
            key.as_bytes(),
            value.as_bytes(),
        ]));
    }
    let printed = node.redis_cli_stdin(&["--pipe"], &stream);
    assert!(
        printed.contains(&format!("errors: 0, replies: {count}")),
        "redis-cli --pipe printed:\n{printed}"
    );
    assert_eq!(cli(&node, "DBSIZE"), format!("{count}\n"));
    assert_eq!(cli(&node, "GET mass:0"), "value-0\n");
    assert_eq!(cli(&node, "GET mass:9999"), "value-9999\n");
}

#[test]
fn unknown_command_error_matches_redis_word_for_word() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let node = Node::start();
    assert_eq!(
        cli(&node, "foo bar"),
        "ERR unknown command 'foo', with args beginning with: 'bar' \n\n"
    );
    assert_eq!(
        cli(&node, "foo"),
        "ERR unknown command 'foo', with args beginning with: \n\n"
    );
    assert_eq!(cli(&node, "PING"), "PONG\n", "the connection still works");
}

/// Writes through redis-cli, each acknowledged before the next starts.
fn write_sample(node: &Node) {
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(&format!("SET keep:{i} value-{i}\n"));
    }
    input.push_str("INCR hits\nINCR hits\nINCR hits\n");
    let printed = node.redis_cli_stdin(&[], input.as_bytes());
    let expected = format!("{}1\n2\n3\n", "OK\n".repeat(200));
    assert_eq!(
        printed, expected,
        "the sample writes were not all acknowledged"
    );
}

fn assert_sample_survived(node: &Node) {
    run_script(
        node,
        &[
            ("DBSIZE", "201"),
            ("GET keep:0", "value-0"),
            ("GET keep:117", "value-117"),
            ("GET keep:199", "value-199"),
            ("GET hits", "3"),
            ("INCR hits", "4"),
        ],
    );
}

#[test]
fn data_survives_sigterm_and_restart() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let mut node = Node::start();
    write_sample(&node);
    let status = node.terminate();
    assert!(
        status.success(),
        "SIGTERM should shut down cleanly, got {status}\n{}",
        node.log_tail()
    );
    node.restart();
    assert_sample_survived(&node);
}

#[test]
fn data_survives_kill9_and_restart() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let mut node = Node::start();
    write_sample(&node);
    node.kill9();
    node.restart();
    assert_sample_survived(&node);
    // A second crash right after recovery loses nothing either.
    node.kill9();
    node.restart();
    run_script(&node, &[("DBSIZE", "201"), ("GET hits", "4")]);
}

#[test]
fn redis_benchmark_runs_set_and_get() {
    if !common::require_tool("redis-benchmark") {
        return;
    }
    let node = Node::start();
    let port = node.port().to_string();
    let args = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "set,get",
        "-n",
        "2000",
        "-c",
        "5",
        "-q",
    ];
    let output = common::run_tool("redis-benchmark", &args, b"", common::TOOL_TIMEOUT);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redis-benchmark exited with {}:\n{printed}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // -q prints progress lines ending in '\r' and a final "SET: 12345.67 requests per second".
    for test in ["SET", "GET"] {
        let prefix = format!("{test}: ");
        let rps = printed
            .split(['\r', '\n'])
            .filter_map(|line| line.trim().strip_prefix(&prefix))
            .filter_map(|rest| rest.split_once(" requests per second"))
            .find_map(|(rps, _)| rps.parse::<f64>().ok());
        match rps {
            Some(rps) => assert!(rps > 0.0, "{test} ran at {rps} requests per second"),
            None => panic!("redis-benchmark printed no {test} result:\n{printed}"),
        }
    }
}
