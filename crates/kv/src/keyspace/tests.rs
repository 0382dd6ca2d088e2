//! Keyspace behaviour, command by command, mirroring Redis's documentation examples and edge
//! cases; then determinism, SCAN completeness and snapshot robustness as properties.

use bytes::Bytes;
use proptest::prelude::*;
use tinkerdb_resp::Frame;

use super::*;
use crate::{parse, SetArgs};

/// A keyspace driven like a log: every `run` is a new entry with the next index.
struct Log {
    ks: Keyspace,
    ns: Namespace,
    now_ms: u64,
    index: u64,
}

fn args(line: &str) -> Vec<Bytes> {
    line.split_whitespace()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

impl Log {
    fn new() -> Self {
        Log {
            ks: Keyspace::new(),
            ns: ns("t", 0),
            now_ms: 1_000_000,
            index: 0,
        }
    }

    fn run(&mut self, line: &str) -> Frame {
        let cmd = match parse(&args(line)) {
            Ok(Some(cmd)) => cmd,
            other => panic!("{line}: {other:?}"),
        };
        self.index += 1;
        let ctx = ApplyCtx {
            now_ms: self.now_ms,
            index: self.index,
        };
        let applied = self.ks.execute(&self.ns, &cmd, &ctx);
        if !cmd.is_write() {
            let read = self.ks.read(
                &self.ns,
                &cmd,
                &ReadCtx {
                    now_ms: self.now_ms,
                    random: mix64(self.index),
                },
            );
            assert_eq!(read, applied, "{line}: read and execute disagree");
        }
        applied
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.ks.write_snapshot(&mut out).expect("write to a Vec");
        out
    }
}

fn ns(tenant: &str, db: u8) -> Namespace {
    Namespace {
        tenant: tenant.to_string(),
        db,
    }
}

fn bulk(s: &str) -> Frame {
    Frame::bulk(s.to_string())
}

fn int(i: i64) -> Frame {
    Frame::Integer(i)
}

fn err(s: &str) -> Frame {
    Frame::Error(s.to_string())
}

#[test]
fn get_set_basics() {
    let mut l = Log::new();
    assert_eq!(l.run("GET k"), Frame::Null);
    assert_eq!(l.run("SET k hello"), Frame::ok());
    assert_eq!(l.run("GET k"), bulk("hello"));
    assert_eq!(l.run("STRLEN k"), int(5));
    assert_eq!(l.run("STRLEN nokey"), int(0));
    assert_eq!(l.run("TYPE k"), Frame::Simple("string".into()));
    assert_eq!(l.run("TYPE nokey"), Frame::Simple("none".into()));
    assert_eq!(
        l.run("MGET k nokey k"),
        Frame::Array(vec![bulk("hello"), Frame::Null, bulk("hello")])
    );
}

#[test]
fn set_conditions_and_get() {
    let mut l = Log::new();
    assert_eq!(l.run("SET k v1 XX"), Frame::Null);
    assert_eq!(l.run("SET k v1 NX"), Frame::ok());
    assert_eq!(l.run("SET k v2 NX"), Frame::Null);
    assert_eq!(l.run("SET k v2 XX GET"), bulk("v1"));
    assert_eq!(
        l.run("SET k v3 NX GET"),
        bulk("v2"),
        "NX GET returns the old value and sets nothing"
    );
    assert_eq!(l.run("GET k"), bulk("v2"));
    assert_eq!(l.run("SET new v GET"), Frame::Null);
    assert_eq!(l.run("SET other v XX GET"), Frame::Null);
    assert_eq!(l.run("EXISTS other"), int(0));
}

#[test]
fn set_expiry_options() {
    let mut l = Log::new();
    l.run("SET k v EX 10");
    assert_eq!(l.run("TTL k"), int(10));
    assert_eq!(l.run("PTTL k"), int(10_000));
    l.run("SET k v PX 1500");
    assert_eq!(l.run("TTL k"), int(2), "TTL rounds to the nearest second");
    l.run("SET k v KEEPTTL");
    assert_eq!(l.run("PTTL k"), int(1500));
    l.run("SET k v");
    assert_eq!(l.run("TTL k"), int(-1), "a plain SET clears the deadline");
    l.run("SET k v PXAT 2000000");
    assert_eq!(l.run("PEXPIRETIME k"), int(2_000_000));
    assert_eq!(l.run("EXPIRETIME k"), int(2000));
    l.run("SET k v EXAT 3000");
    assert_eq!(l.run("PTTL k"), int(2_000_000));
    assert_eq!(l.run("SET k v PXAT 5"), Frame::ok());
    assert_eq!(
        l.run("EXISTS k"),
        int(0),
        "a deadline in the past deletes the key"
    );
    assert_eq!(
        l.run("SET k v PX 9223372036854775807"),
        err("ERR invalid expire time in 'set' command")
    );
}

#[test]
fn setnx_setex_getset_getdel() {
    let mut l = Log::new();
    assert_eq!(l.run("SETNX k a"), int(1));
    assert_eq!(l.run("SETNX k b"), int(0));
    assert_eq!(l.run("SETEX k 5 c"), Frame::ok());
    assert_eq!(l.run("TTL k"), int(5));
    assert_eq!(l.run("PSETEX k 700 d"), Frame::ok());
    assert_eq!(l.run("PTTL k"), int(700));
    assert_eq!(l.run("GETSET k e"), bulk("d"));
    assert_eq!(l.run("TTL k"), int(-1));
    assert_eq!(l.run("GETSET nokey x"), Frame::Null);
    assert_eq!(l.run("GETDEL k"), bulk("e"));
    assert_eq!(l.run("GETDEL k"), Frame::Null);
}

#[test]
fn getex_options() {
    let mut l = Log::new();
    assert_eq!(
        l.run("GETEX nokey EX x"),
        Frame::Null,
        "a missing key hides a bad value, as Redis"
    );
    l.run("SET k v");
    assert_eq!(
        l.run("GETEX k EX x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        l.run("GETEX k EX 0"),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(l.run("GETEX k EX 100"), bulk("v"));
    assert_eq!(l.run("TTL k"), int(100));
    assert_eq!(l.run("GETEX k"), bulk("v"));
    assert_eq!(l.run("TTL k"), int(100));
    assert_eq!(l.run("GETEX k PX 200"), bulk("v"));
    assert_eq!(l.run("PTTL k"), int(200));
    assert_eq!(l.run("GETEX k PERSIST"), bulk("v"));
    assert_eq!(l.run("TTL k"), int(-1));
    assert_eq!(l.run("GETEX k EXAT 5000"), bulk("v"));
    assert_eq!(l.run("EXPIRETIME k"), int(5000));
    assert_eq!(l.run("GETEX k PXAT 1"), bulk("v"));
    assert_eq!(
        l.run("EXISTS k"),
        int(0),
        "an absolute deadline in the past deletes"
    );
}

#[test]
fn mset_and_msetnx_all_or_nothing() {
    let mut l = Log::new();
    assert_eq!(l.run("MSET a 1 b 2 a 3"), Frame::ok());
    assert_eq!(l.run("MGET a b"), Frame::Array(vec![bulk("3"), bulk("2")]));
    assert_eq!(l.run("MSETNX c 1 b 9"), int(0));
    assert_eq!(
        l.run("EXISTS c"),
        int(0),
        "nothing is set when one key exists"
    );
    assert_eq!(l.run("MSETNX c 1 d 2"), int(1));
    assert_eq!(l.run("MGET c d"), Frame::Array(vec![bulk("1"), bulk("2")]));
}

#[test]
fn counters_and_overflow() {
    let mut l = Log::new();
    assert_eq!(l.run("INCR n"), int(1));
    assert_eq!(l.run("INCRBY n 10"), int(11));
    assert_eq!(l.run("DECR n"), int(10));
    assert_eq!(l.run("DECRBY n 20"), int(-10));
    l.run("SET n 9223372036854775806");
    assert_eq!(l.run("INCR n"), int(i64::MAX));
    assert_eq!(
        l.run("INCR n"),
        err("ERR increment or decrement would overflow")
    );
    l.run("SET n -9223372036854775808");
    assert_eq!(
        l.run("DECR n"),
        err("ERR increment or decrement would overflow")
    );
    for bad in ["abc", "01", "+1", "1.0", "", " 1"] {
        l.ks.execute(
            &l.ns,
            &Command::Set(Box::new(SetArgs {
                key: "s".into(),
                value: Bytes::copy_from_slice(bad.as_bytes()),
                expiry: None,
                keep_ttl: false,
                condition: None,
                get: false,
            })),
            &ApplyCtx {
                now_ms: 0,
                index: 1,
            },
        );
        assert_eq!(
            l.run("INCR s"),
            err("ERR value is not an integer or out of range"),
            "{bad:?}"
        );
    }
    l.run("SET t 5 EX 100");
    l.run("INCR t");
    assert_eq!(l.run("TTL t"), int(100), "INCR keeps the deadline");
}

#[test]
fn incrbyfloat_formatting() {
    let mut l = Log::new();
    l.run("SET f 10.50");
    assert_eq!(l.run("INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(l.run("INCRBYFLOAT f -5"), bulk("5.6"));
    l.run("SET f 5.0e3");
    assert_eq!(l.run("INCRBYFLOAT f 2.0e2"), bulk("5200"));
    assert_eq!(l.run("GET f"), bulk("5200"));
    assert_eq!(l.run("INCRBYFLOAT g 3"), bulk("3"));
    // Plain digits, never an exponent. (Redis's 80-bit long double would keep the 3 here:
    // "100000000000000000003"; f64 cannot, a documented difference.)
    assert_eq!(l.run("INCRBYFLOAT g 1e20"), bulk("100000000000000000000"));
    assert_eq!(
        l.run("INCRBYFLOAT h -0.0"),
        bulk("0"),
        "0 + -0 is +0, as in C"
    );
    l.run("SET z -0");
    assert_eq!(l.run("INCRBYFLOAT z -0.0"), bulk("-0"));
    l.run("DEL h");
    assert_eq!(
        l.run("INCRBYFLOAT h 1.5e308"),
        bulk(&format!("{}", 1.5e308))
    );
    assert_eq!(
        l.run("INCRBYFLOAT h 1.5e308"),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(
        l.run("INCRBYFLOAT g inf"),
        err("ERR increment would produce NaN or Infinity")
    );
    l.run("SET s abc");
    assert_eq!(
        l.run("INCRBYFLOAT s 1"),
        err("ERR value is not a valid float")
    );
}

#[test]
fn append_getrange_setrange() {
    let mut l = Log::new();
    assert_eq!(l.run("APPEND k Hello"), int(5));
    assert_eq!(l.run("APPEND k _World"), int(11));
    assert_eq!(l.run("GETRANGE k 0 4"), bulk("Hello"));
    assert_eq!(l.run("GETRANGE k -3 -1"), bulk("rld"));
    assert_eq!(l.run("GETRANGE k 0 -1"), bulk("Hello_World"));
    assert_eq!(l.run("GETRANGE k 10 100"), bulk("d"));
    assert_eq!(l.run("GETRANGE k 5 3"), bulk(""));
    assert_eq!(l.run("GETRANGE k -1 -5"), bulk(""));
    assert_eq!(l.run("GETRANGE k -100 2"), bulk("Hel"));
    assert_eq!(l.run("SUBSTR k 0 0"), bulk("H"));
    assert_eq!(l.run("GETRANGE nokey 0 -1"), bulk(""));
    assert_eq!(l.run("SETRANGE k 6 Redis"), int(11));
    assert_eq!(l.run("GET k"), bulk("Hello_Redis"));
    assert_eq!(l.run("SETRANGE pad 3 x"), int(4));
    assert_eq!(l.run("GET pad"), Frame::bulk(&b"\0\0\0x"[..]));
    let empty = Command::SetRange {
        key: "empty".into(),
        offset: 5,
        value: Bytes::new(),
    };
    assert_eq!(
        l.ks.execute(
            &l.ns,
            &empty,
            &ApplyCtx {
                now_ms: 0,
                index: 100
            }
        ),
        int(0)
    );
    assert_eq!(
        l.run("EXISTS empty"),
        int(0),
        "an empty SETRANGE creates nothing"
    );
    assert_eq!(
        l.run("SETRANGE k 536870911 ab"),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    let empty = Command::SetRange {
        key: "k".into(),
        offset: 536_870_912,
        value: Bytes::new(),
    };
    let reply = l.ks.execute(
        &l.ns,
        &empty,
        &ApplyCtx {
            now_ms: 0,
            index: 101,
        },
    );
    assert_eq!(reply, int(11), "an empty value does not check the size");
}

#[test]
fn append_size_limit() {
    let mut l = Log::new();
    let big = Bytes::from(vec![b'x'; 512 * 1024 * 1024]);
    let cmd = Command::Append {
        key: "k".into(),
        value: big,
    };
    assert_eq!(
        l.ks.execute(
            &l.ns,
            &cmd,
            &ApplyCtx {
                now_ms: 0,
                index: 1
            }
        ),
        int(512 * 1024 * 1024)
    );
    assert_eq!(
        l.run("APPEND k y"),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
}

#[test]
fn del_exists_rename() {
    let mut l = Log::new();
    l.run("MSET a 1 b 2");
    assert_eq!(l.run("EXISTS a a b c"), int(3));
    assert_eq!(l.run("DEL a c"), int(1));
    assert_eq!(l.run("UNLINK b"), int(1));
    assert_eq!(l.run("RENAME a z"), err("ERR no such key"));
    assert_eq!(l.run("RENAMENX a z"), err("ERR no such key"));
    l.run("SET a 1 EX 50");
    assert_eq!(l.run("RENAME a a"), Frame::ok());
    assert_eq!(l.run("RENAMENX a a"), int(0));
    assert_eq!(l.run("RENAME a b"), Frame::ok());
    assert_eq!(l.run("TTL b"), int(50), "RENAME carries the deadline");
    assert_eq!(l.run("EXISTS a"), int(0));
    l.run("SET c 3");
    assert_eq!(l.run("RENAMENX b c"), int(0));
    assert_eq!(l.run("RENAMENX b d"), int(1));
    assert_eq!(l.run("RENAME d c"), Frame::ok());
    assert_eq!(l.run("GET c"), bulk("1"));
}

#[test]
fn expire_family_and_conditions() {
    let mut l = Log::new();
    assert_eq!(l.run("EXPIRE nokey 10"), int(0));
    assert_eq!(l.run("TTL nokey"), int(-2));
    l.run("SET k v");
    assert_eq!(l.run("TTL k"), int(-1));
    assert_eq!(l.run("EXPIRETIME k"), int(-1));
    assert_eq!(l.run("EXPIRE k 100 XX"), int(0));
    assert_eq!(
        l.run("EXPIRE k 100 GT"),
        int(0),
        "no deadline counts as infinite for GT"
    );
    assert_eq!(l.run("EXPIRE k 100 LT"), int(1));
    assert_eq!(l.run("EXPIRE k 50 NX"), int(0));
    assert_eq!(l.run("EXPIRE k 200 XX GT"), int(1));
    assert_eq!(l.run("TTL k"), int(200));
    assert_eq!(l.run("EXPIRE k 100 GT"), int(0));
    assert_eq!(l.run("EXPIRE k 300 LT"), int(0));
    assert_eq!(l.run("PEXPIRE k 1500"), int(1));
    assert_eq!(l.run("PTTL k"), int(1500));
    assert_eq!(l.run("EXPIREAT k 2000"), int(1));
    assert_eq!(l.run("PEXPIRETIME k"), int(2_000_000));
    assert_eq!(l.run("PEXPIREAT k 3000000"), int(1));
    assert_eq!(l.run("EXPIRETIME k"), int(3000));
    assert_eq!(l.run("PERSIST k"), int(1));
    assert_eq!(l.run("PERSIST k"), int(0));
    assert_eq!(l.run("PERSIST nokey"), int(0));
    assert_eq!(
        l.run("PEXPIRE k 9223372036854775807"),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(l.run("EXPIRE k -1"), int(1), "a past deadline deletes");
    assert_eq!(l.run("EXISTS k"), int(0));
    l.run("SET k v");
    assert_eq!(l.run("EXPIREAT k 1"), int(1));
    assert_eq!(l.run("TTL k"), int(-2));
}

#[test]
fn expired_keys_are_hidden_then_deleted_by_writes() {
    let mut l = Log::new();
    l.run("SET k v PX 100");
    l.run("SET j v PX 100");
    l.now_ms += 100;
    assert_eq!(l.run("GET k"), Frame::Null, "a key is gone at its deadline");
    assert_eq!(l.run("EXISTS k"), int(0));
    assert_eq!(l.run("TTL k"), int(-2));
    assert_eq!(l.run("KEYS *"), Frame::Array(vec![]));
    assert_eq!(l.run("RANDOMKEY"), Frame::Null);
    assert_eq!(l.ks.dbsize(&l.ns), 2, "reads only hide");
    assert_eq!(
        l.run("SETNX k new"),
        int(1),
        "writes treat the expired key as absent"
    );
    assert_eq!(l.run("TTL k"), int(-1));
    assert_eq!(l.ks.key_version(&l.ns, b"j", l.now_ms), 0);
    assert_eq!(
        l.ks.sample_expired(l.now_ms, 10),
        vec![(l.ns.clone(), Bytes::from("j"))]
    );
    assert_eq!(l.ks.stats().expires, 1);
}

#[test]
fn active_expiry_sample_and_purge() {
    let mut l = Log::new();
    for i in 0..20 {
        l.run(&format!("SET k{i} v PX {}", 10 + i));
    }
    l.run("SET keep v");
    assert!(l.ks.sample_expired(l.now_ms, 100).is_empty());
    l.now_ms += 15;
    let sample = l.ks.sample_expired(l.now_ms, 100);
    assert_eq!(sample.len(), 6, "deadlines +10..=+15 have passed");
    assert_eq!(l.ks.sample_expired(l.now_ms, 4).len(), 4, "the limit holds");
    l.run("SET k3 fresh");
    let purged = l.ks.purge_expired(
        &sample,
        &ApplyCtx {
            now_ms: l.now_ms,
            index: 99,
        },
    );
    assert_eq!(purged, 5, "a key rewritten since the sample survives");
    assert_eq!(l.run("GET k3"), bulk("fresh"));
    assert_eq!(l.ks.stats().keys, 16);
    assert_eq!(l.ks.stats().expires, 14);
}

#[test]
fn key_versions_follow_log_indexes() {
    let mut l = Log::new();
    assert_eq!(l.ks.key_version(&l.ns, b"k", l.now_ms), 0);
    l.run("SET k v");
    assert_eq!(l.ks.key_version(&l.ns, b"k", l.now_ms), l.index);
    let before = l.index;
    l.run("GET k");
    l.run("GETEX k");
    assert_eq!(
        l.ks.key_version(&l.ns, b"k", l.now_ms),
        before,
        "reads and no-op GETEX don't bump"
    );
    l.run("EXPIRE k 10");
    assert_eq!(l.ks.key_version(&l.ns, b"k", l.now_ms), l.index);
    l.run("APPEND k x");
    assert_eq!(l.ks.key_version(&l.ns, b"k", l.now_ms), l.index);
    l.run("DEL k");
    assert_eq!(l.ks.key_version(&l.ns, b"k", l.now_ms), 0);
}

#[test]
fn keys_dbsize_randomkey_flush() {
    let mut l = Log::new();
    l.run("MSET hello 1 hallo 2 hxllo 3 world 4");
    let Frame::Array(mut found) = l.run("KEYS h?llo") else {
        panic!()
    };
    found.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(found, vec![bulk("hallo"), bulk("hello"), bulk("hxllo")]);
    assert_eq!(l.run("DBSIZE"), int(4));
    let Frame::Bulk(k) = l.run("RANDOMKEY") else {
        panic!()
    };
    assert!(["hello", "hallo", "hxllo", "world"].contains(&std::str::from_utf8(&k).unwrap_or("")));
    l.ns.db = 1;
    l.run("SET other 1");
    assert_eq!(l.run("DBSIZE"), int(1));
    assert_eq!(l.run("FLUSHDB"), Frame::ok());
    assert_eq!(l.run("DBSIZE"), int(0));
    l.ns.db = 0;
    assert_eq!(
        l.run("DBSIZE"),
        int(4),
        "FLUSHDB only flushes the selected database"
    );
    l.ns.db = 2;
    l.run("SET x 1");
    assert_eq!(l.run("FLUSHALL"), Frame::ok());
    l.ns.db = 0;
    assert_eq!(l.run("DBSIZE"), int(0));
    assert_eq!(l.ks.stats(), KeyspaceStats::default());
}

#[test]
fn tenants_are_isolated() {
    let mut l = Log::new();
    l.run("SET k a");
    l.run("SET x 1");
    l.ns = ns("other", 0);
    assert_eq!(l.run("GET k"), Frame::Null);
    l.run("SET k b");
    assert_eq!(l.run("DBSIZE"), int(1));
    assert_eq!(l.run("KEYS *"), Frame::Array(vec![bulk("k")]));
    l.run("FLUSHALL");
    l.ns = ns("t", 0);
    assert_eq!(
        l.run("GET k"),
        bulk("a"),
        "FLUSHALL stays inside the tenant"
    );
    assert_eq!(l.ks.tenant_dbs("t"), vec![(0, 2, 0)]);
    assert_eq!(l.ks.tenant_dbs("other"), vec![]);
    assert_eq!(l.ks.tenant_dbs("nobody"), vec![]);
}

#[test]
fn tenant_stats_split_the_totals_by_tenant() {
    let mut l = Log::new();
    l.run("SET k a");
    l.ns = ns("t", 3);
    l.run("SET x 1 PX 5000");
    l.ns = ns("other", 0);
    l.run("SET k bb");
    let tenants = l.ks.tenant_stats();
    let names: Vec<&str> = tenants.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["other", "t"]);
    assert_eq!((tenants[0].1.keys, tenants[1].1.keys), (1, 2));
    assert_eq!(tenants[1].1.expires, 1);
    let total = l.ks.stats();
    assert_eq!(
        tenants.iter().map(|(_, s)| s.used_bytes).sum::<u64>(),
        total.used_bytes,
        "the per-tenant memory estimates add up to INFO's used_memory"
    );
    assert!(tenants[0].1.used_bytes > 0);
}

#[test]
fn out_of_range_db_and_write_on_read_path() {
    let mut ks = Keyspace::new();
    let bad = ns("t", DATABASES);
    let ctx = ApplyCtx {
        now_ms: 0,
        index: 1,
    };
    let set = Command::SetNx {
        key: "k".into(),
        value: "v".into(),
    };
    assert!(ks.execute(&bad, &set, &ctx).is_error());
    assert!(ks
        .read(
            &ns("t", 0),
            &set,
            &ReadCtx {
                now_ms: 0,
                random: 0
            }
        )
        .is_error());
    assert!(ks
        .read(
            &bad,
            &Command::DbSize,
            &ReadCtx {
                now_ms: 0,
                random: 0
            }
        )
        .is_error());
}

fn scan_all(l: &mut Log, extra: &str) -> Vec<Frame> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Frame::Array(reply) = l.run(&format!("SCAN {cursor} {extra}")) else {
            panic!()
        };
        let [Frame::Bulk(next), Frame::Array(keys)] = &reply[..] else {
            panic!()
        };
        out.extend(keys.iter().cloned());
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return out;
        }
    }
    panic!("SCAN did not finish");
}

#[test]
fn scan_options() {
    let mut l = Log::new();
    for i in 0..100 {
        l.run(&format!("SET key:{i} v"));
    }
    l.run("SET other v");
    assert_eq!(scan_all(&mut l, "").len(), 101);
    assert_eq!(scan_all(&mut l, "COUNT 7 MATCH key:*").len(), 100);
    assert_eq!(scan_all(&mut l, "MATCH other TYPE string").len(), 1);
    assert_eq!(scan_all(&mut l, "TYPE list").len(), 0);
    let Frame::Array(reply) = l.run("SCAN 0 COUNT 1000") else {
        panic!()
    };
    assert_eq!(reply[0], bulk("0"));
}

#[test]
fn snapshot_round_trip() {
    let mut l = Log::new();
    l.run("SET a 1");
    l.run("SET b 2 PX 5000");
    l.ns.db = 15;
    l.run("SET c 3");
    l.ns = ns("zeta", 3);
    l.run("SET d 4");
    l.ns = ns("empty", 0);
    l.run("SET e 5");
    l.run("DEL e");
    let bytes = l.snapshot();
    let restored = Keyspace::read_snapshot(&mut &bytes[..]).expect("read back");
    let mut again = Vec::new();
    restored.write_snapshot(&mut again).expect("write");
    assert_eq!(again, bytes);
    assert_eq!(
        restored.stats(),
        KeyspaceStats {
            keys: 4,
            expires: 1,
            ..l.ks.stats()
        }
    );
    assert_eq!(restored.key_version(&ns("t", 0), b"b", l.now_ms), 2);
    let got = restored.read(
        &ns("zeta", 3),
        &parse(&args("GET d")).ok().flatten().expect("get"),
        &ReadCtx {
            now_ms: 0,
            random: 0,
        },
    );
    assert_eq!(got, bulk("4"));
    assert_eq!(
        restored.read(
            &ns("t", 0),
            &Command::Ttl {
                key: "b".into(),
                unit: crate::TimeUnit::Millis
            },
            &ReadCtx {
                now_ms: l.now_ms,
                random: 0
            }
        ),
        int(5000)
    );
}

#[test]
fn corrupt_snapshots_are_errors_never_panics() {
    let mut l = Log::new();
    l.run("MSET a 1 bb 22 ccc 333");
    l.run("SET d 4 EX 10");
    l.ns = ns("u", 7);
    l.run("SET e 5");
    let bytes = l.snapshot();
    for cut in 0..bytes.len() {
        assert!(
            Keyspace::read_snapshot(&mut &bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0xff;
        let _ = Keyspace::read_snapshot(&mut &flipped[..]);
    }
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(
        Keyspace::read_snapshot(&mut &bad[..]),
        Err(SnapshotError::BadMagic)
    ));
    bad = bytes.clone();
    bad[8] = 9;
    assert!(matches!(
        Keyspace::read_snapshot(&mut &bad[..]),
        Err(SnapshotError::UnsupportedVersion(9))
    ));
    let mut huge = b"TKDBSNAP\x01\x01".to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Keyspace::read_snapshot(&mut &huge[..]),
        Err(SnapshotError::Corrupt(_))
    ));
    let mut dup = b"TKDBSNAP\x01\x01\x01\0\0\0t\x02\x00".to_vec();
    let entry = b"\x03\x01\0\0\0k\x01\x01\0\0\0v\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0";
    dup.extend_from_slice(entry);
    dup.extend_from_slice(entry);
    dup.extend_from_slice(b"\xff\x02\0\0\0\0\0\0\0");
    assert!(matches!(
        Keyspace::read_snapshot(&mut &dup[..]),
        Err(SnapshotError::Corrupt("duplicate key"))
    ));
}

#[test]
fn memory_per_entry_is_compact() {
    assert!(
        std::mem::size_of::<db::Bucket>() <= 48,
        "bucket is {} bytes",
        std::mem::size_of::<db::Bucket>()
    );
}

/// Small vocabularies so that generated commands collide on keys and interact.
fn arb_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["a", "b", "c", "d", "e", "{x}f"]);
    let num = -3i64..30;
    (0..16usize, key.clone(), key, num).prop_map(|(op, k, k2, n)| match op {
        0 => format!("SET {k} {n}"),
        1 => format!("SET {k} v{n} PX {}", n.max(1) * 10),
        2 => format!("DEL {k} {k2}"),
        3 => format!("INCRBY {k} {n}"),
        4 => format!("APPEND {k} {n}"),
        5 => format!("EXPIRE {k} {n} {}", if n % 2 == 0 { "GT" } else { "" }),
        6 => format!("RENAME {k} {k2}"),
        7 => format!("GETEX {k} PX {}", n.max(1)),
        8 => format!("PERSIST {k}"),
        9 => format!("MSETNX {k} 1 {k2} 2"),
        10 => format!("SETRANGE {k} {} xy", n.max(0)),
        11 => format!("INCRBYFLOAT {k} {n}.25"),
        12 => "RANDOMKEY".to_string(),
        13 => format!("SCAN 0 COUNT {}", n.max(1)),
        14 => format!("GETDEL {k}"),
        _ => format!("SET {k} w GET KEEPTTL"),
    })
}

proptest! {
    #[test]
    fn execute_is_deterministic(lines in prop::collection::vec((arb_line(), 0u64..40, 0u8..3), 1..80)) {
        let mut a = Log::new();
        let mut b = Log::new();
        for (line, dt, db) in &lines {
            for l in [&mut a, &mut b] {
                l.now_ms += dt;
                l.ns.db = *db;
            }
            prop_assert_eq!(a.run(line), b.run(line));
        }
        prop_assert_eq!(a.snapshot(), b.snapshot());
        let restored = Keyspace::read_snapshot(&mut &a.snapshot()[..]).expect("restore");
        let mut again = Vec::new();
        restored.write_snapshot(&mut again).expect("write");
        prop_assert_eq!(again, a.snapshot());
    }

    #[test]
    fn scan_returns_every_key_present_throughout(
        initial in prop::collection::btree_set(0u32..500, 0..200),
        churn in prop::collection::vec((any::<bool>(), 0u32..1000), 0..200),
        count in 1u64..20,
    ) {
        let mut l = Log::new();
        for k in &initial {
            l.run(&format!("SET k{k} v"));
        }
        let mut deleted = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0u64;
        let mut churn = churn.into_iter();
        loop {
            let Frame::Array(reply) = l.run(&format!("SCAN {cursor} COUNT {count}")) else { panic!() };
            let [Frame::Bulk(next), Frame::Array(keys)] = &reply[..] else { panic!() };
            seen.extend(keys.iter().map(|k| format!("{k:?}")));
            cursor = std::str::from_utf8(next).ok().and_then(|s| s.parse().ok()).expect("cursor");
            if cursor == 0 {
                break;
            }
            for (insert, k) in churn.by_ref().take(3) {
                if insert {
                    l.run(&format!("SET k{k} v"));
                } else {
                    l.run(&format!("DEL k{k}"));
                    deleted.insert(k);
                }
            }
        }
        for k in initial.difference(&deleted) {
            prop_assert!(seen.contains(&format!("{:?}", bulk(&format!("k{k}")))), "k{} missed", k);
        }
    }

    /// A snapshot written chunk by chunk while commands keep changing the keyspace holds
    /// exactly the state of the moment of the freeze, byte for byte, and the changes are all
    /// there afterwards: the copy-on-write of `Db::preserve` and `Db::clear`.
    #[test]
    fn a_frozen_snapshot_is_the_state_at_the_freeze_whatever_changes_meanwhile(
        initial in prop::collection::vec((0u8..3, 0u8..3, 0u32..300), 0..300),
        churn in prop::collection::vec((0u8..3, 0u8..3, arb_line(), 0u8..40, 0u32..300), 0..200),
        chunk in 1usize..40,
    ) {
        let tenants = ["a", "b", "c"];
        let mut log = Log::new();
        for (t, db, k) in &initial {
            log.ns = ns(tenants[usize::from(*t)], *db);
            log.run(&format!("SET k{k} v{k}"));
        }
        let mut reference = Keyspace::read_snapshot(&mut &log.snapshot()[..]).expect("copy");
        let at_freeze = log.snapshot();
        let mut writer = log.ks.freeze().with_chunk_buckets(chunk);
        let mut written = Vec::new();
        let mut done = false;
        for (t, db, line, roll, k) in &churn {
            log.ns = ns(tenants[usize::from(*t)], *db);
            // Changes to keys that existed at the freeze (some already written, some not),
            // new keys, and now and then a FLUSHDB or FLUSHALL, which moves what the writer
            // still needs.
            let line = match roll {
                0 => "FLUSHDB".to_string(),
                1 => "FLUSHALL".to_string(),
                2..=9 => format!("SET k{k} changed"),
                10..=14 => format!("DEL k{k}"),
                15..=17 => format!("PEXPIRE k{k} 100"),
                _ => line.clone(),
            };
            log.run(&line);
            let cmd = parse(&args(&line)).expect("parses").expect("a data command");
            reference.execute(&log.ns, &cmd, &ApplyCtx { now_ms: log.now_ms, index: log.index });
            if !done && roll % 3 == 0 {
                done = writer.write_chunk(&log.ks, &mut written).expect("chunk");
            }
        }
        while !done {
            done = writer.write_chunk(&log.ks, &mut written).expect("chunk");
        }
        prop_assert_eq!(&written, &at_freeze);
        log.ks.thaw();
        let mut after = Vec::new();
        reference.write_snapshot(&mut after).expect("write");
        prop_assert_eq!(log.snapshot(), after);
    }
}

#[test]
fn a_frozen_writer_fails_once_its_freeze_ended() {
    let mut log = Log::new();
    log.run("SET k v");
    let mut writer = log.ks.freeze();
    log.ks.thaw();
    let err = writer
        .write_chunk(&log.ks, &mut Vec::new())
        .expect_err("thawed");
    assert!(err.to_string().contains("abandoned"), "{err}");
    let mut first = log.ks.freeze();
    let _second = log.ks.freeze();
    assert!(
        first.write_chunk(&log.ks, &mut Vec::new()).is_err(),
        "a new freeze ends it"
    );
}
