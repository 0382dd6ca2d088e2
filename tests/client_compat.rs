//! TinkerDB through the `redis` crate, the way Rust applications will use it.
//!
//! Each test names one behaviour a Redis client relies on: typed SET options, transactions and
//! WATCH, databases, RESP3 `HELLO`, pipelining, large and binary values, client names, the
//! `CONFIG GET` calls redis-benchmark makes, Redis-exact error text, and tenants with ACL users.
//!
//! Error replies are compared as `"<CODE> <detail>"`, the text the server sent; the crate splits
//! it at the first space.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Node;
use redis::{Commands, ExistenceCheck, Expiry, RedisError, SetExpiry, SetOptions, Value};

/// Upper bound on SCAN calls when walking a small keyspace.
const SCAN_CALLS_MAX: usize = 1_000;

/// The error line the server sent, rebuilt from the crate's split of it.
fn error_text(err: &RedisError) -> String {
    match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => panic!("expected an error reply from the server, got {err:?}"),
    }
}

/// Runs `cmd`, which must fail with an error reply, and returns that reply's text.
fn expect_error(cmd: &redis::Cmd, con: &mut redis::Connection) -> String {
    match cmd.query::<Value>(con) {
        Ok(value) => panic!("expected an error reply, got {value:?}"),
        Err(err) => error_text(&err),
    }
}

/// A RESP2 or RESP3 string-ish reply as text, for reading maps such as HELLO's.
fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Okay => "OK".to_owned(),
        Value::Int(n) => n.to_string(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// HELLO's reply as field name → value. RESP3 sends a map; the crate may also hand over the
/// RESP2 shape, a flat array of pairs.
fn hello_fields(reply: Value) -> BTreeMap<String, Value> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Map(pairs) => pairs,
        Value::Array(items) if items.len() % 2 == 0 => {
            let mut items = items.into_iter();
            std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
        }
        other => panic!("HELLO 3 should answer a map, got {other:?}"),
    };
    pairs.into_iter().map(|(k, v)| (text(&k), v)).collect()
}

fn assert_hello_3(reply: Value) {
    let fields = hello_fields(reply);
    for field in ["server", "version", "proto", "role", "modules"] {
        assert!(
            fields.contains_key(field),
            "HELLO lacks {field:?}: {fields:?}"
        );
    }
    assert_eq!(fields["proto"], Value::Int(3), "HELLO 3 proto field");
    assert!(
        !text(&fields["server"]).is_empty(),
        "HELLO server field is empty"
    );
    assert!(
        !text(&fields["version"]).is_empty(),
        "HELLO version field is empty"
    );
    assert!(
        matches!(fields["modules"], Value::Array(_) | Value::Set(_)),
        "HELLO modules should be a list, got {:?}",
        fields["modules"]
    );
}

/// Every key the connection can see, by walking SCAN until the cursor returns to 0.
fn scan_all(con: &mut redis::Connection) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut cursor: u64 = 0;
    for _ in 0..SCAN_CALLS_MAX {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(5)
            .query(con)
            .expect("SCAN");
        keys.extend(page);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
    panic!("SCAN did not finish within {SCAN_CALLS_MAX} calls");
}

#[test]
fn set_options_ex_px_nx_xx_get_keepttl() {
    let node = Node::start();
    let mut con = node.conn();

    let ex = SetOptions::default().with_expiration(SetExpiry::EX(100));
    let reply: Option<String> = con.set_options("k", "v1", ex).unwrap();
    assert_eq!(reply.as_deref(), Some("OK"));
    let ttl: i64 = con.ttl("k").unwrap();
    assert!((99..=100).contains(&ttl), "TTL after SET EX 100 is {ttl}");

    let px = SetOptions::default().with_expiration(SetExpiry::PX(100_000));
    let _: () = con.set_options("p", "v", px).unwrap();
    let pttl: i64 = con.pttl("p").unwrap();
    assert!(
        (98_000..=100_000).contains(&pttl),
        "PTTL after SET PX 100000 is {pttl}"
    );

    let nx = SetOptions::default().conditional_set(ExistenceCheck::NX);
    let reply: Option<String> = con.set_options("k", "v2", nx).unwrap();
    assert_eq!(reply, None, "SET NX on an existing key does nothing");
    let reply: Option<String> = con.set_options("fresh", "f", nx).unwrap();
    assert_eq!(
        reply.as_deref(),
        Some("OK"),
        "SET NX on a missing key sets it"
    );

    let xx = SetOptions::default().conditional_set(ExistenceCheck::XX);
    let reply: Option<String> = con.set_options("missing", "m", xx).unwrap();
    assert_eq!(reply, None, "SET XX on a missing key does nothing");
    let exists: bool = con.exists("missing").unwrap();
    assert!(!exists);

    let get = SetOptions::default().get(true);
    let old: Option<String> = con.set_options("k", "v3", get).unwrap();
    assert_eq!(old.as_deref(), Some("v1"), "SET GET returns the old value");
    let old: Option<String> = con.set_options("new", "n", get).unwrap();
    assert_eq!(old, None, "SET GET on a missing key returns nil");
    let ttl: i64 = con.ttl("k").unwrap();
    assert_eq!(ttl, -1, "a SET without KEEPTTL clears the TTL");

    let _: () = con
        .set_options(
            "kt",
            "a",
            SetOptions::default().with_expiration(SetExpiry::EX(100)),
        )
        .unwrap();
    let keep = SetOptions::default().with_expiration(SetExpiry::KEEPTTL);
    let _: () = con.set_options("kt", "b", keep).unwrap();
    let ttl: i64 = con.ttl("kt").unwrap();
    assert!((99..=100).contains(&ttl), "TTL after SET KEEPTTL is {ttl}");
    let value: String = con.get("kt").unwrap();
    assert_eq!(value, "b");

    let both = SetOptions::default()
        .conditional_set(ExistenceCheck::XX)
        .get(true)
        .with_expiration(SetExpiry::PX(50_000));
    let old: Option<String> = con.set_options("kt", "c", both).unwrap();
    assert_eq!(
        old.as_deref(),
        Some("b"),
        "SET XX GET PX returns the old value"
    );
    let pttl: i64 = con.pttl("kt").unwrap();
    assert!((48_000..=50_000).contains(&pttl), "PTTL is {pttl}");
}

#[test]
fn incrbyfloat_and_getex() {
    let node = Node::start();
    let mut con = node.conn();

    let _: () = con.set("f", "10.5").unwrap();
    let reply: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut con)
        .unwrap();
    assert_eq!(reply, "10.6");
    let _: () = con.set("e", "5.0e3").unwrap();
    let reply: f64 = con.incr("e", 2.0e2_f64).unwrap();
    assert_eq!(reply, 5200.0);
    let stored: String = con.get("e").unwrap();
    assert_eq!(
        stored, "5200",
        "the result is stored without exponent or trailing zeros"
    );
    let reply: String = redis::cmd("INCRBYFLOAT")
        .arg("nofloat")
        .arg("-2.5")
        .query(&mut con)
        .unwrap();
    assert_eq!(reply, "-2.5", "INCRBYFLOAT on a missing key starts at 0");
    let _: () = con.set("word", "abc").unwrap();
    assert_eq!(
        expect_error(redis::cmd("INCRBYFLOAT").arg("word").arg("1"), &mut con),
        "ERR value is not a valid float"
    );

    let _: () = con.set("g", "gv").unwrap();
    let value: String = con.get_ex("g", Expiry::EX(100)).unwrap();
    assert_eq!(value, "gv");
    let ttl: i64 = con.ttl("g").unwrap();
    assert!((99..=100).contains(&ttl), "TTL after GETEX EX 100 is {ttl}");
    let value: String = con.get_ex("g", Expiry::PERSIST).unwrap();
    assert_eq!(value, "gv");
    let ttl: i64 = con.ttl("g").unwrap();
    assert_eq!(ttl, -1, "GETEX PERSIST removes the TTL");
    let value: Option<String> = con.get_ex("nothing", Expiry::PX(100)).unwrap();
    assert_eq!(value, None);
}

#[test]
fn multi_exec_runs_queued_commands_atomically() {
    let node = Node::start();
    let mut con = node.conn();

    let (count, value): (i64, String) = redis::pipe()
        .atomic()
        .incr("tx:count", 5)
        .set("tx:value", "set in a transaction")
        .ignore()
        .get("tx:value")
        .query(&mut con)
        .unwrap();
    assert_eq!((count, value.as_str()), (5, "set in a transaction"));

    // The same by hand: every queued command answers QUEUED, EXEC answers them all.
    let ok: String = redis::cmd("MULTI").query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let queued: String = redis::cmd("INCR").arg("tx:count").query(&mut con).unwrap();
    assert_eq!(queued, "QUEUED");
    let queued: String = redis::cmd("GET").arg("tx:count").query(&mut con).unwrap();
    assert_eq!(queued, "QUEUED");
    let results: (i64, String) = redis::cmd("EXEC").query(&mut con).unwrap();
    assert_eq!(results, (6, "6".to_owned()));

    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("tx:dropped")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let ok: String = redis::cmd("DISCARD").query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let exists: bool = con.exists("tx:dropped").unwrap();
    assert!(!exists, "DISCARD dropped the queued SET");
}

#[test]
fn watch_aborts_exec_when_another_client_changes_the_key() {
    let node = Node::start();
    let mut mine = node.conn();
    let mut theirs = node.conn();
    let _: () = mine.set("balance", 100).unwrap();

    let _: () = redis::cmd("WATCH").arg("balance").query(&mut mine).unwrap();
    let _: () = theirs.set("balance", 50).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut mine).unwrap();
    let _: () = redis::cmd("SET")
        .arg("balance")
        .arg(0)
        .query(&mut mine)
        .unwrap();
    let exec: Value = redis::cmd("EXEC").query(&mut mine).unwrap();
    assert_eq!(
        exec,
        Value::Nil,
        "EXEC after a conflicting write answers nil"
    );
    let balance: i64 = mine.get("balance").unwrap();
    assert_eq!(balance, 50, "the aborted transaction changed nothing");

    // Without a conflict the same transaction goes through, and EXEC ends the WATCH.
    let _: () = redis::cmd("WATCH").arg("balance").query(&mut mine).unwrap();
    let (balance,): (i64,) = redis::pipe()
        .atomic()
        .set("balance", 0)
        .ignore()
        .get("balance")
        .query(&mut mine)
        .unwrap();
    assert_eq!(balance, 0);
}

#[test]
fn select_isolates_databases() {
    let node = Node::start();
    let mut db0 = node.conn();
    let db1_client = redis::Client::open(format!("{}1", node.url())).unwrap();
    let mut db1 = db1_client.get_connection().unwrap();

    let _: () = db1.set("only-in-1", "x").unwrap();
    let in_0: Option<String> = db0.get("only-in-1").unwrap();
    assert_eq!(in_0, None, "a key set in db 1 is not visible in db 0");
    let size_0: i64 = redis::cmd("DBSIZE").query(&mut db0).unwrap();
    let size_1: i64 = redis::cmd("DBSIZE").query(&mut db1).unwrap();
    assert_eq!((size_0, size_1), (0, 1));

    let _: () = redis::cmd("SELECT").arg(1).query(&mut db0).unwrap();
    let seen: String = db0.get("only-in-1").unwrap();
    assert_eq!(seen, "x", "after SELECT 1 the key is visible");
    let _: () = redis::cmd("SELECT").arg(0).query(&mut db0).unwrap();
    let _: () = redis::cmd("FLUSHDB").query(&mut db0).unwrap();
    let still: String = db1.get("only-in-1").unwrap();
    assert_eq!(still, "x", "FLUSHDB on db 0 leaves db 1 alone");
}

#[test]
fn hello_3_answers_a_map_and_switches_to_resp3() {
    let node = Node::start();
    let mut con = node.conn();
    let reply: Value = redis::cmd("HELLO").arg(3).query(&mut con).unwrap();
    assert_hello_3(reply);
    let _: () = con.set("after-hello", "works").unwrap();
    let value: String = con.get("after-hello").unwrap();
    assert_eq!(value, "works");
    let missing: Option<String> = con.get("nothing").unwrap();
    assert_eq!(missing, None, "RESP3 null reads as nil");

    // A client configured for RESP3 sends HELLO 3 itself when it connects.
    let resp3 = redis::Client::open(format!("{}?protocol=resp3", node.url())).unwrap();
    let mut con = resp3.get_connection().unwrap();
    let value: String = con.get("after-hello").unwrap();
    assert_eq!(value, "works");
}

#[test]
fn pipeline_of_1000_commands() {
    let node = Node::start();
    let mut con = node.conn();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.set(format!("p:{i}"), i).ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();

    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.get(format!("p:{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(values, (0..1000).collect::<Vec<i64>>());

    let mut pipe = redis::pipe();
    for _ in 0..1000 {
        pipe.incr("p:counter", 1);
    }
    let counts: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(counts, (1..=1000).collect::<Vec<i64>>(), "replies in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_async_clients_share_a_multiplexed_connection() {
    let node = tokio::task::spawn_blocking(Node::start).await.unwrap();
    let con = node
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..10 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let _: () = redis::AsyncCommands::incr(&mut con, "async:counter", 1)
                    .await
                    .unwrap();
                let key = format!("async:{task}:{i}");
                let _: () = redis::AsyncCommands::set(&mut con, &key, i).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut con = con;
    let total: i64 = redis::AsyncCommands::get(&mut con, "async:counter")
        .await
        .unwrap();
    assert_eq!(total, 1000);
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 1001);
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
}

#[test]
fn one_mib_value_round_trips() {
    let node = Node::start();
    let mut con = node.conn();
    let value: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let _: () = con.set("big", &value).unwrap();
    let back: Vec<u8> = con.get("big").unwrap();
    assert!(back == value, "the 1 MiB value came back different");
    let len: i64 = redis::cmd("STRLEN").arg("big").query(&mut con).unwrap();
    assert_eq!(len, 1024 * 1024);
}

#[test]
fn keys_and_values_are_binary_safe() {
    let node = Node::start();
    let mut con = node.conn();
    let key: &[u8] = b"bin\0key\r\nwith\xffbytes";
    let value: &[u8] = b"\r\n\0\r\n$5\r\n*1\r\n\xfe";
    let _: () = con.set(key, value).unwrap();
    let back: Vec<u8> = con.get(key).unwrap();
    assert_eq!(back, value);
    let truncated: Option<Vec<u8>> = con.get(&key[..3]).unwrap();
    assert_eq!(truncated, None, "a key is not cut at NUL");
    let keys: Vec<Vec<u8>> = con.keys("bin*").unwrap();
    assert_eq!(keys, vec![key.to_vec()]);
    let _: () = con.set("", "empty key").unwrap();
    let _: () = con.set("empty value", "").unwrap();
    let empty_key: String = con.get("").unwrap();
    let empty_value: Option<String> = con.get("empty value").unwrap();
    assert_eq!(
        (empty_key.as_str(), empty_value.as_deref()),
        ("empty key", Some(""))
    );
}

#[test]
fn client_setname_and_getname() {
    let node = Node::start();
    let mut con = node.conn();
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, None, "a new connection has no name");
    let ok: String = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("compat-test")
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, "compat-test");
    let mut other = node.conn();
    let name: Option<String> = redis::cmd("CLIENT")
        .arg("GETNAME")
        .query(&mut other)
        .unwrap();
    assert_eq!(name, None, "the name belongs to one connection");
}

#[test]
fn config_get_answers_what_redis_benchmark_asks() {
    let node = Node::start();
    let mut con = node.conn();
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut con)
        .unwrap();
    assert_eq!(save.len(), 2, "CONFIG GET save: {save:?}");
    assert_eq!(save[0], "save");
    let appendonly: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query(&mut con)
        .unwrap();
    assert_eq!(appendonly.len(), 2, "CONFIG GET appendonly: {appendonly:?}");
    assert_eq!(appendonly[0], "appendonly");
    assert!(
        appendonly[1] == "yes" || appendonly[1] == "no",
        "appendonly is {:?}",
        appendonly[1]
    );
}

#[test]
fn error_replies_match_redis_text() {
    let node = Node::start();
    let mut con = node.conn();
    let _: () = con.set("word", "abc").unwrap();
    assert_eq!(
        expect_error(redis::cmd("INCR").arg("word"), &mut con),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        expect_error(redis::cmd("INCRBY").arg("n").arg("1.5"), &mut con),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        expect_error(redis::cmd("SET").arg("k").arg("v").arg("BOGUS"), &mut con),
        "ERR syntax error"
    );
    assert_eq!(
        expect_error(
            redis::cmd("SET").arg("k").arg("v").arg("NX").arg("XX"),
            &mut con
        ),
        "ERR syntax error"
    );
    assert_eq!(
        expect_error(&redis::cmd("GET"), &mut con),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        expect_error(redis::cmd("GET").arg("a").arg("b"), &mut con),
        "ERR wrong number of arguments for 'get' command"
    );
    let value: String = con.get("word").unwrap();
    assert_eq!(value, "abc", "errors leave the connection usable");
}

/// Two tenants with a read-write user each, and a read-only user in `acme`.
const TENANTS_CONFIG: &str = r#"
[[users]]
name = "alice"
password = "alice-secret"
tenant = "acme"
role = "readwrite"

[[users]]
name = "bob"
password = "bob-secret"
tenant = "globex"
role = "readwrite"

[[users]]
name = "carol"
password = "carol-secret"
tenant = "acme"
role = "readonly"
"#;

#[test]
fn tenants_cannot_see_each_others_keys() {
    let node = Node::start_with_config(TENANTS_CONFIG);
    let mut alice = node.conn_as("alice", "alice-secret");
    let mut bob = node.conn_as("bob", "bob-secret");

    for key in ["acme:1", "acme:2", "shared"] {
        let _: () = alice.set(key, format!("alice {key}")).unwrap();
    }
    let _: () = bob.set("shared", "bob shared").unwrap();
    let _: () = bob.set("globex:1", "bob globex:1").unwrap();

    let seen: Option<String> = bob.get("acme:1").unwrap();
    assert_eq!(seen, None, "bob reads alice's key");
    let shared: String = alice.get("shared").unwrap();
    assert_eq!(
        shared, "alice shared",
        "the same key name is separate per tenant"
    );
    let shared: String = bob.get("shared").unwrap();
    assert_eq!(shared, "bob shared");

    let alice_keys: BTreeSet<String> = alice
        .keys::<_, Vec<String>>("*")
        .unwrap()
        .into_iter()
        .collect();
    let bob_keys: BTreeSet<String> = bob
        .keys::<_, Vec<String>>("*")
        .unwrap()
        .into_iter()
        .collect();
    let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        alice_keys,
        set(&["acme:1", "acme:2", "shared"]),
        "KEYS * for alice"
    );
    assert_eq!(bob_keys, set(&["globex:1", "shared"]), "KEYS * for bob");
    assert_eq!(scan_all(&mut alice), alice_keys, "SCAN for alice");
    assert_eq!(scan_all(&mut bob), bob_keys, "SCAN for bob");
    let alice_size: i64 = redis::cmd("DBSIZE").query(&mut alice).unwrap();
    let bob_size: i64 = redis::cmd("DBSIZE").query(&mut bob).unwrap();
    assert_eq!(
        (alice_size, bob_size),
        (3, 2),
        "DBSIZE counts only the tenant's keys"
    );

    let ok: String = redis::cmd("FLUSHDB").query(&mut bob).unwrap();
    assert_eq!(ok, "OK");
    let bob_size: i64 = redis::cmd("DBSIZE").query(&mut bob).unwrap();
    assert_eq!(bob_size, 0);
    let alice_size: i64 = redis::cmd("DBSIZE").query(&mut alice).unwrap();
    assert_eq!(alice_size, 3, "bob's FLUSHDB removed alice's keys");
    let shared: String = alice.get("shared").unwrap();
    assert_eq!(shared, "alice shared");
}

#[test]
fn readonly_user_can_read_but_not_write() {
    let node = Node::start_with_config(TENANTS_CONFIG);
    let mut alice = node.conn_as("alice", "alice-secret");
    let mut carol = node.conn_as("carol", "carol-secret");
    let _: () = alice.set("report", "q3").unwrap();

    let report: String = carol.get("report").unwrap();
    assert_eq!(report, "q3", "carol reads her tenant's keys");
    let denied = expect_error(redis::cmd("SET").arg("report").arg("forged"), &mut carol);
    assert!(
        denied.starts_with("NOPERM"),
        "a readonly SET answered {denied:?}"
    );
    let denied = expect_error(redis::cmd("INCR").arg("counter"), &mut carol);
    assert!(
        denied.starts_with("NOPERM"),
        "a readonly INCR answered {denied:?}"
    );
    let report: String = alice.get("report").unwrap();
    assert_eq!(report, "q3", "the denied SET changed nothing");
}

#[test]
fn auth_as_each_user_and_wrong_password() {
    let node = Node::start_with_config(TENANTS_CONFIG);
    let mut con = node.conn();
    for (user, password) in [
        ("alice", "alice-secret"),
        ("bob", "bob-secret"),
        ("carol", "carol-secret"),
    ] {
        let ok: String = redis::cmd("AUTH")
            .arg(user)
            .arg(password)
            .query(&mut con)
            .unwrap();
        assert_eq!(ok, "OK", "AUTH {user}");
    }
    let wrong = "WRONGPASS invalid username-password pair or user is disabled.";
    assert_eq!(
        expect_error(redis::cmd("AUTH").arg("alice").arg("nope"), &mut con),
        wrong
    );
    assert_eq!(
        expect_error(redis::cmd("AUTH").arg("mallory").arg("x"), &mut con),
        wrong,
        "an unknown user gets the same answer as a wrong password"
    );
    match node.client_as("alice", "nope").get_connection() {
        Ok(_) => panic!("connecting with a wrong password succeeded"),
        // The crate reports a failed AUTH during connection setup as its own error kind.
        Err(err) => assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}"),
    }
}

#[test]
fn hello_3_with_auth_logs_in() {
    let node = Node::start_with_config(TENANTS_CONFIG);
    let mut alice = node.conn_as("alice", "alice-secret");
    let _: () = alice.set("greeting", "from acme").unwrap();

    let mut con = node.conn();
    let reply: Value = redis::cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("alice")
        .arg("alice-secret")
        .query(&mut con)
        .unwrap();
    assert_hello_3(reply);
    let greeting: String = con.get("greeting").unwrap();
    assert_eq!(greeting, "from acme", "HELLO AUTH logged in as alice");

    let mut con = node.conn();
    let err = redis::cmd("HELLO")
        .arg(3)
        .arg("AUTH")
        .arg("alice")
        .arg("nope")
        .query::<Value>(&mut con)
        .expect_err("HELLO with a wrong password fails");
    assert_eq!(
        error_text(&err),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
}
