//! The admin HTTP API against real nodes: every endpoint, bad input answered with 4xx JSON,
//! HTTP Basic authentication once users are configured, and `/api/nodes` on a 3-node cluster
//! (every member reachable, then a killed one marked unreachable).
//!
//! Requests go through `tinkerdb::admin_client`, the same small client `tinkerdb cluster` uses.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::Node;
use serde_json::{json, Value};
use tinkerdb::admin_client::{self, basic_auth, Request, Response};

/// Longest wait for a cluster-wide condition in these tests.
const WAIT: Duration = Duration::from_secs(15);
/// Pause between polls.
const POLL: Duration = Duration::from_millis(100);

fn admin_addr(node: &Node) -> String {
    format!("127.0.0.1:{}", node.ports().admin)
}

fn send(
    node: &Node,
    method: &str,
    path: &str,
    body: &[u8],
    auth: Option<(&str, &str)>,
) -> Response {
    let request = Request {
        method,
        path,
        body,
        authorization: auth.map(|(user, password)| basic_auth(user, password)),
    };
    admin_client::send(&admin_addr(node), &request)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn get(node: &Node, path: &str) -> Response {
    send(node, "GET", path, b"", None)
}

fn json_of(response: &Response) -> Value {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", response.body))
}

/// `POST /api/command` with `body`; status and JSON.
fn command(node: &Node, body: &Value) -> (u16, Value) {
    let r = send(
        node,
        "POST",
        "/api/command",
        body.to_string().as_bytes(),
        None,
    );
    (r.status, json_of(&r))
}

fn run(node: &Node, args: &[&str]) -> Value {
    let (status, body) = command(node, &json!({ "args": args }));
    assert_eq!(status, 200, "{args:?}: {body}");
    body["reply"].clone()
}

/// Polls `probe` until it returns `Some`, for at most `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    for _ in 0..(timeout.as_millis() / POLL.as_millis() + 1) {
        if let Some(found) = probe() {
            return found;
        }
        if started.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(POLL);
    }
    panic!("no {what} within {timeout:?}");
}

#[test]
fn probes_node_info_and_events_answer() {
    let node = Node::start();
    assert_eq!(get(&node, "/health").status, 200);
    assert_eq!(get(&node, "/ready").status, 200);

    let info = json_of(&get(&node, "/api/node"));
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["pid"], node.pid());
    assert_eq!(info["node_id"], 1);
    assert_eq!(info["addresses"]["admin"], admin_addr(&node));
    assert_eq!(info["addresses"]["resp"], node.addr());
    assert!(info["uptime_seconds"].is_u64(), "{info}");
    assert!(
        info["disk"]["wal_bytes"].as_u64().unwrap_or(0) > 0,
        "the WAL takes room on disk: {info}"
    );
    assert_eq!(info["config"]["fsync"], "always");
    assert_eq!(info["config"]["read_mode"], "read-index");

    // A single voter confirms reads alone; /api/cluster counts them as INFO and /metrics do.
    let _: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut node.conn())
        .expect("GET");
    let cluster = json_of(&get(&node, "/api/cluster"));
    assert_eq!(cluster["read_mode"], "read-index");
    assert!(cluster["reads"]["local"].as_u64() >= Some(1), "{cluster}");
    assert_eq!(cluster["reads"]["read_index"], 0, "{cluster}");

    let events = wait_for("a first event", WAIT, || {
        let body = json_of(&get(&node, "/api/events"));
        (!body["events"].as_array()?.is_empty()).then_some(body)
    });
    let first = &events["events"][0];
    assert_eq!(first["kind"], "observed");
    assert_eq!(
        (first["leader"].as_u64(), first["role"].as_str()),
        (Some(1), Some("leader"))
    );
    assert_eq!(events["capacity"], tinkerdb::admin::EVENT_LOG_CAPACITY);

    let missing = get(&node, "/api/nope");
    assert_eq!(missing.status, 404);
    assert!(json_of(&missing)["error"].is_string());
}

#[test]
fn commands_run_through_the_session_and_replies_keep_their_types() {
    let node = Node::start();
    assert_eq!(
        run(&node, &["SET", "greeting", "hello world"]),
        json!({"type": "string", "value": "OK", "simple": true})
    );
    let (status, body) = command(&node, &json!({"command": "GET greeting"}));
    assert_eq!(status, 200);
    assert_eq!(
        body["reply"],
        json!({"type": "string", "value": "hello world"})
    );
    // One line, split with redis-cli's quoting.
    run(&node, &["DEL", "greeting"]);
    let (_, body) = command(&node, &json!({"command": "SET greeting \"hi there\""}));
    assert_eq!(body["reply"]["value"], "OK");
    assert_eq!(run(&node, &["GET", "greeting"])["value"], "hi there");
    assert_eq!(
        run(&node, &["INCR", "n"]),
        json!({"type": "integer", "value": 1})
    );
    assert_eq!(run(&node, &["GET", "missing"]), json!({"type": "null"}));
    let mget = run(&node, &["MGET", "greeting", "missing"]);
    assert_eq!(mget["type"], "array");
    assert_eq!(mget["value"][1], json!({"type": "null"}));
    // The database is chosen per request.
    let (status, _) = command(&node, &json!({"args": ["SET", "only-in-3", "x"], "db": 3}));
    assert_eq!(status, 200);
    let (_, body) = command(&node, &json!({"args": ["GET", "only-in-3"], "db": 3}));
    assert_eq!(body["reply"]["value"], "x");
    assert_eq!(run(&node, &["GET", "only-in-3"]), json!({"type": "null"}));
    // What the RESP side sees of it.
    let mut conn = node.conn();
    let seen: String = redis::cmd("GET")
        .arg("greeting")
        .query(&mut conn)
        .expect("get");
    assert_eq!(seen, "hi there");
}

#[test]
fn bad_input_gets_4xx_json() {
    let node = Node::start();
    let expect_error = |body: &[u8], want: u16, contains: &str| {
        let r = send(&node, "POST", "/api/command", body, None);
        assert_eq!(
            r.status,
            want,
            "{:?} -> {}",
            String::from_utf8_lossy(body),
            r.body
        );
        let error = json_of(&r)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            error.contains(contains),
            "{error:?} should mention {contains:?}"
        );
    };
    expect_error(b"{not json", 400, "must be JSON");
    expect_error(br#"{"args": "GET k"}"#, 400, "must be JSON");
    expect_error(
        br#"{"args": ["GET", "k"], "command": "GET k"}"#,
        400,
        "exactly one",
    );
    expect_error(br#"{}"#, 400, "exactly one");
    expect_error(br#"{"args": []}"#, 400, "empty");
    expect_error(br#"{"command": "SET k \"unclosed"}"#, 400, "unbalanced");
    expect_error(
        br#"{"args": ["NOPE", "x"]}"#,
        400,
        "ERR unknown command 'NOPE'",
    );
    expect_error(br#"{"args": ["GET"]}"#, 400, "wrong number of arguments");
    expect_error(br#"{"args": ["GET", "k"], "db": 16}"#, 400, "db must be");
    expect_error(
        br#"{"args": ["GET", "k"], "oops": 1}"#,
        400,
        "unknown field",
    );
    let big = format!(
        r#"{{"args": ["SET", "k", "{}"]}}"#,
        "x".repeat(tinkerdb::admin::MAX_COMMAND_BODY_BYTES)
    );
    expect_error(big.as_bytes(), 413, "over the limit");
    // An error reply keeps its RESP form too.
    run(&node, &["SET", "s", "v"]);
    let (status, body) = command(&node, &json!({"args": ["INCR", "s"]}));
    assert_eq!(status, 400);
    assert_eq!(body["reply"]["type"], "error");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("ERR value is not an integer"),
        "{body}"
    );

    for (path, contains) in [
        ("/api/keys?count=0", "count"),
        ("/api/keys?count=many", "count"),
        ("/api/keys?cursor=abc", "cursor"),
        ("/api/keys?db=99", "db must be"),
        ("/api/cluster/transfer-leader", "?to="),
    ] {
        let method = if path.starts_with("/api/cluster/") {
            "POST"
        } else {
            "GET"
        };
        let r = send(&node, method, path, b"", None);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let error = json_of(&r)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(contains), "{path}: {error}");
    }
}

/// Sends `request` as is to the node's admin port; the whole answer (status line, headers,
/// body).
fn raw_request(node: &Node, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin_addr(node)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// A POST the way a form on another web page would send it: no `X-TinkerDB-Request` header.
fn forged_post(node: &Node, path: &str, body: &str) -> String {
    raw_request(
        node,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            admin_addr(node),
            body.len()
        ),
    )
}

#[test]
fn a_post_without_the_api_header_is_refused_and_changes_nothing() {
    let node = Node::start();
    let answer = forged_post(&node, "/api/command", r#"{"args":["SET","forged","1"]}"#);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("X-TinkerDB-Request"), "{answer}");
    let answer = forged_post(&node, "/api/cluster/remove-node?id=1", "");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(
        run(&node, &["EXISTS", "forged"]),
        json!({"type": "integer", "value": 0})
    );
}

/// A raw GET naming `host` in its `Host` header (as a page whose DNS name was rebound to the
/// node's address would), with `authorization` if given.
fn get_as_host(node: &Node, path: &str, host: &str, authorization: Option<&str>) -> String {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    raw_request(
        node,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"),
    )
}

#[test]
fn without_users_a_request_naming_another_host_is_refused_as_dns_rebinding() {
    let node = Node::start_with_config("admin_allowed_hosts = [\"db1.internal\"]\n");
    let port = node.ports().admin;
    let rebound = format!("evil.example:{port}");
    let answer = get_as_host(&node, "/api/cluster", &rebound, None);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("DNS-rebinding"), "{answer}");
    assert!(answer.contains("admin_allowed_hosts"), "{answer}");
    let answer = get_as_host(&node, "/", &rebound, None);
    assert!(
        answer.starts_with("HTTP/1.1 403"),
        "the dashboard too: {answer}"
    );
    // Probes stay open, and IP addresses, localhost and listed names pass.
    let answer = get_as_host(&node, "/health", &rebound, None);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("DB1.internal:{port}"),
    ] {
        let answer = get_as_host(&node, "/api/cluster", &host, None);
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
    }
}

#[test]
fn with_users_valid_credentials_pass_whatever_the_host() {
    let node = Node::start_with_config(USERS_TOML);
    let alice = basic_auth("alice", "wonderland");
    let answer = get_as_host(&node, "/api/cluster", "db.example.com:7381", Some(&alice));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = get_as_host(&node, "/api/cluster", "db.example.com:7381", None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[test]
fn keys_are_scanned_in_pages_with_type_and_ttl() {
    let node = Node::start();
    let mut conn = node.conn();
    for i in 0..30 {
        let _: () = redis::cmd("SET")
            .arg(format!("user:{i}"))
            .arg(i)
            .query(&mut conn)
            .expect("set");
    }
    let _: () = redis::cmd("SET")
        .arg("user:expiring")
        .arg("x")
        .arg("EX")
        .arg(1000)
        .query(&mut conn)
        .expect("set ex");
    let _: () = redis::cmd("SET")
        .arg("other")
        .arg("x")
        .query(&mut conn)
        .expect("set");
    let _: () = redis::cmd("SET")
        .arg(&b"bin:\xff\xfe"[..])
        .arg("x")
        .query(&mut conn)
        .expect("set binary key");

    let mut cursor = "0".to_string();
    let mut found = Vec::new();
    for page in 0.. {
        assert!(page < 100, "the scan did not finish");
        let body = json_of(&get(
            &node,
            &format!("/api/keys?match=user:*&count=5&cursor={cursor}"),
        ));
        assert_eq!(body["count"], 5);
        found.extend(body["keys"].as_array().expect("keys").iter().cloned());
        cursor = body["cursor"].as_str().expect("cursor").to_string();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(found.len(), 31, "{found:?}");
    assert!(found.iter().all(|k| k["type"] == "string"));
    let expiring = found
        .iter()
        .find(|k| k["key"] == "user:expiring")
        .expect("the expiring key");
    let ttl_ms = expiring["ttl_ms"].as_u64().expect("a TTL");
    assert!(ttl_ms > 900_000 && ttl_ms <= 1_000_000, "{ttl_ms}");
    assert!(found
        .iter()
        .filter(|k| k["key"] != "user:expiring")
        .all(|k| k["ttl_ms"].is_null()));

    let all = json_of(&get(&node, "/api/keys?count=5000"));
    assert_eq!(
        all["count"],
        tinkerdb::admin::MAX_SCAN_COUNT,
        "count is capped"
    );
    let binary = all["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key"].as_str().is_some_and(|t| t.starts_with("bin:")))
        .expect("the binary key")
        .clone();
    assert_eq!(binary["lossy"], true, "{binary}");
    assert_eq!(binary["key"], "bin:\u{fffd}\u{fffd}");
}

const USERS_TOML: &str = r#"
[[users]]
name = "alice"
password = "wonderland"
role = "admin"

[[users]]
name = "reader"
password = "look"
role = "readonly"

[[users]]
name = "bob"
password = "builder"
tenant = "globex"
role = "readwrite"
"#;

#[test]
fn with_users_every_route_but_the_probes_needs_basic_auth() {
    let node = Node::start_with_config(USERS_TOML);
    let alice = Some(("alice", "wonderland"));
    let reader = Some(("reader", "look"));
    let bob = Some(("bob", "builder"));
    for open in tinkerdb::admin::OPEN_PATHS {
        assert_eq!(get(&node, open).status, 200, "{open} stays open");
    }
    for path in [
        "/api/cluster",
        "/api/node",
        "/api/nodes",
        "/api/events",
        "/api/keys",
        "/metrics",
        "/",
        "/dashboard/app.js",
        "/api/nope",
    ] {
        let r = get(&node, path);
        assert_eq!(r.status, 401, "{path} without credentials");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"tinkerdb\", charset=\"UTF-8\""),
            "{path}"
        );
        assert!(json_of(&r)["error"].is_string(), "{path}");
        let wrong = send(&node, "GET", path, b"", Some(("alice", "nope")));
        assert_eq!(wrong.status, 401, "{path} with a wrong password");
        let unknown = send(&node, "GET", path, b"", Some(("mallory", "x")));
        assert_eq!(unknown.status, 401, "{path} as an unknown user");
    }
    for path in [
        "/api/cluster",
        "/api/node",
        "/api/events",
        "/api/keys",
        "/",
        "/dashboard/app.js",
    ] {
        assert_eq!(
            send(&node, "GET", path, b"", alice).status,
            200,
            "{path} as alice"
        );
    }
    let metrics = send(&node, "GET", "/metrics", b"", alice);
    assert_ne!(metrics.status, 401, "/metrics as alice");

    // Commands run as the caller: its role and tenant apply.
    let cmd = |auth, args: Value| {
        let r = send(
            &node,
            "POST",
            "/api/command",
            json!({ "args": args }).to_string().as_bytes(),
            auth,
        );
        (r.status, json_of(&r))
    };
    assert_eq!(cmd(alice, json!(["SET", "k", "alice's"])).0, 200);
    let (status, body) = cmd(reader, json!(["SET", "k", "x"]));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").starts_with("NOPERM"),
        "{body}"
    );
    assert_eq!(
        cmd(reader, json!(["GET", "k"])).1["reply"]["value"],
        "alice's"
    );
    assert_eq!(
        cmd(bob, json!(["GET", "k"])).1["reply"],
        json!({"type": "null"}),
        "another tenant"
    );
    assert_eq!(
        cmd(bob, json!(["ACL", "WHOAMI"])).1["reply"]["value"],
        "bob"
    );
    let bobs_keys = json_of(&send(&node, "GET", "/api/keys", b"", bob));
    assert_eq!(bobs_keys["keys"], json!([]), "bob's tenant has no keys");

    // Per-tenant metrics: all of them for an admin, only one's own for anybody else.
    assert_eq!(cmd(bob, json!(["SET", "b", "bob's"])).0, 200);
    let scrape = |auth| send(&node, "GET", "/metrics", b"", auth).body;
    let everyone = scrape(alice);
    assert!(
        everyone.contains("tenant=\"globex\"") && everyone.contains("tenant=\"default\""),
        "{everyone}"
    );
    let bobs = scrape(bob);
    assert!(bobs.contains("tenant=\"globex\""), "{bobs}");
    assert!(!bobs.contains("tenant=\"default\""), "{bobs}");
    let readers = scrape(reader);
    assert!(!readers.contains("tenant=\"globex\""), "{readers}");

    // Membership changes need the admin role.
    let denied = send(
        &node,
        "POST",
        "/api/cluster/transfer-leader?to=1",
        b"",
        reader,
    );
    assert_eq!(denied.status, 403, "{}", denied.body);

    // Users show as names, tenants and roles, to admins only; never a password.
    let info = send(&node, "GET", "/api/node", b"", alice).body;
    assert!(
        info.contains("\"globex\"") && info.contains("\"readonly\""),
        "{info}"
    );
    for secret in ["wonderland", "look\"", "builder", "password"] {
        assert!(!info.contains(secret), "{secret} leaked: {info}");
    }
    let hidden = json_of(&send(&node, "GET", "/api/node", b"", reader));
    assert!(hidden["config"]["users"].is_string(), "{hidden}");

    // `tinkerdb cluster` takes credentials from the environment or flags.
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tinkerdb"));
        command
            .args(["cluster", "--admin", &admin_addr(&node)])
            .args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("TINKERDB_") {
                command.env_remove(k);
            }
        }
        command.envs(env.iter().copied());
        command.output().expect("run tinkerdb cluster")
    };
    let refused = cli(&["status"], &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--user"));
    let by_env = cli(
        &["status"],
        &[
            ("TINKERDB_ADMIN_USER", "alice"),
            ("TINKERDB_ADMIN_PASSWORD", "wonderland"),
        ],
    );
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stdout)
    );
    assert!(String::from_utf8_lossy(&by_env.stdout).contains("leader: node 1"));
    let by_flags = cli(
        &["--user", "reader", "--password", "look", "--json", "status"],
        &[],
    );
    assert!(by_flags.status.success());
}

#[test]
fn nodes_lists_every_member_then_a_killed_one_as_unreachable() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(WAIT);
    let viewer = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    let view = |cluster: &Cluster| json_of(&get(cluster.node(viewer), "/api/nodes"));
    // Peers' admin addresses are learnt from their handshakes, right after they connect.
    let nodes = wait_for("3 reachable members", WAIT, || {
        let body = view(&cluster);
        let nodes = body["nodes"].as_array()?.clone();
        let all_up = nodes.len() == 3
            && nodes
                .iter()
                .all(|n| n["reachable"] == true && n["cluster"]["node_id"].is_u64());
        all_up.then_some(nodes)
    });
    for (i, n) in nodes.iter().enumerate() {
        let id = i + 1;
        assert_eq!(n["id"], id);
        assert_eq!(n["admin_addr"], admin_addr(cluster.node(id)), "node {id}");
        assert_eq!(n["resp_addr"], cluster.node(id).addr(), "node {id}");
        assert_eq!(n["cluster"]["node_id"], id, "node {id} answered for itself");
        assert_eq!(n["self"] == true, id == viewer);
    }
    let leaders: Vec<_> = nodes
        .iter()
        .filter(|n| n["cluster"]["role"] == "leader")
        .collect();
    assert_eq!(leaders.len(), 1, "{nodes:?}");
    assert_eq!(leaders[0]["id"], leader);

    cluster.kill9(leader);
    let body = wait_for("the killed leader marked unreachable", WAIT, || {
        let body = view(&cluster);
        let dead = body["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["id"] == leader)?
            .clone();
        (dead["reachable"] == false).then_some(body)
    });
    let dead = body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == leader)
        .expect("the dead node is still a member")
        .clone();
    assert_eq!(
        dead["admin_addr"],
        admin_addr(cluster.node(leader)),
        "its address is remembered"
    );
    assert!(dead["error"].is_string(), "{dead}");

    // The survivors elect a new leader, and the viewer's event log shows the election.
    let new_leader = cluster.wait_for_leader_among(
        &cluster
            .ids()
            .into_iter()
            .filter(|&id| id != leader)
            .collect::<Vec<_>>(),
        WAIT,
    );
    assert_ne!(new_leader, leader);
    wait_for("the election in /api/events", WAIT, || {
        let events = json_of(&get(cluster.node(viewer), "/api/events"));
        events["events"]
            .as_array()?
            .iter()
            .any(|e| (e["kind"] == "term" || e["kind"] == "leader") && e["leader"] == new_leader)
            .then_some(())
    });
}

#[test]
fn cluster_status_into_a_closed_pipe_ends_quietly() {
    let node = Node::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinkerdb"))
        .args(["cluster", "--admin", &admin_addr(&node), "status"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tinkerdb cluster status");
    // The reader goes away before the answer is written (`... | head -0`).
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for the CLI");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}
