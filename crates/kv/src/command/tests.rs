//! Parse tests: arity, syntax and value errors of each command, in Redis's words.

use bytes::Bytes;

use super::*;

fn args(line: &str) -> Vec<Bytes> {
    line.split_whitespace()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

fn ok(line: &str) -> Command {
    match parse(&args(line)) {
        Ok(Some(cmd)) => cmd,
        other => panic!("{line}: {other:?}"),
    }
}

fn err(line: &str) -> String {
    match parse(&args(line)) {
        Err(e) => e.to_string(),
        other => panic!("{line}: expected an error, got {other:?}"),
    }
}

#[test]
fn connection_commands_and_unknown_names_are_not_ours() {
    for line in [
        "PING",
        "echo hi",
        "MULTI",
        "nosuch a b",
        "CLIENT LIST",
        "select 1",
    ] {
        assert_eq!(parse(&args(line)), Ok(None), "{line}");
    }
    assert_eq!(parse(&[]), Ok(None));
    assert_eq!(parse(&[Bytes::from(vec![b'g'; 100])]), Ok(None));
}

#[test]
fn arity_errors_use_the_lowercase_name() {
    let cases = [
        ("GET", "get"),
        ("get a b", "get"),
        ("SET k", "set"),
        ("SETEX k 10", "setex"),
        ("MSET a", "mset"),
        ("MSET a b c", "mset"),
        ("MSETNX a b c", "msetnx"),
        ("DEL", "del"),
        ("RENAME a", "rename"),
        ("INCRBY k", "incrby"),
        ("GETRANGE k 0", "getrange"),
        ("SUBSTR k 0", "substr"),
        ("EXPIRE k", "expire"),
        ("TTL", "ttl"),
        ("KEYS", "keys"),
        ("SCAN", "scan"),
        ("DBSIZE x", "dbsize"),
        ("RANDOMKEY x", "randomkey"),
        ("PERSIST", "persist"),
        ("GETEX", "getex"),
        ("EXISTS", "exists"),
        ("TYPE", "type"),
    ];
    for (line, name) in cases {
        assert_eq!(
            err(line),
            format!("ERR wrong number of arguments for '{name}' command"),
            "{line}"
        );
    }
}

#[test]
fn set_options() {
    let Command::Set(a) = ok("set k v NX GET PX 100") else {
        panic!()
    };
    assert_eq!(
        (a.condition, a.get, a.expiry, a.keep_ttl),
        (Some(SetCondition::Nx), true, Some(Expiry::Px(100)), false)
    );
    let Command::Set(a) = ok("SET k v xx keepttl") else {
        panic!()
    };
    assert_eq!((a.condition, a.keep_ttl), (Some(SetCondition::Xx), true));
    let Command::Set(a) = ok("SET k v EX 1 EX 2") else {
        panic!()
    };
    assert_eq!(
        a.expiry,
        Some(Expiry::Ex(2)),
        "repeating the same expiry option is allowed"
    );
    let Command::Set(a) = ok("SET k v exat 1700000000 nx nx get get") else {
        panic!()
    };
    assert_eq!(a.expiry, Some(Expiry::ExAt(1_700_000_000)));
    for line in [
        "SET k v NX XX",
        "SET k v XX NX",
        "SET k v EX 10 PX 10",
        "SET k v EX 10 KEEPTTL",
        "SET k v KEEPTTL PXAT 5",
        "SET k v EXAT 1 PXAT 1",
        "SET k v EX",
        "SET k v PERSIST",
        "SET k v foo",
        "SET k v EX 10 extra",
    ] {
        assert_eq!(err(line), "ERR syntax error", "{line}");
    }
    assert_eq!(
        err("SET k v EX abc"),
        "ERR value is not an integer or out of range"
    );
    for line in [
        "SET k v EX 0",
        "SET k v PX -1",
        "SET k v EX 9223372036854775807",
        "SET k v EXAT 0",
    ] {
        assert_eq!(
            err(line),
            "ERR invalid expire time in 'set' command",
            "{line}"
        );
    }
    assert_eq!(
        err("SETEX k 0 v"),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err("PSETEX k -5 v"),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        err("SETEX k x v"),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn getex_options() {
    assert_eq!(
        ok("GETEX k"),
        Command::GetEx {
            key: "k".into(),
            option: None
        }
    );
    assert_eq!(
        ok("GETEX k persist"),
        Command::GetEx {
            key: "k".into(),
            option: Some(GetExOption::Persist)
        }
    );
    assert_eq!(
        ok("GETEX k PXAT 10"),
        Command::GetEx {
            key: "k".into(),
            option: Some(GetExOption::Expire(Expiry::PxAt(10)))
        }
    );
    assert_eq!(
        ok("GETEX k EX x"),
        Command::GetEx {
            key: "k".into(),
            option: Some(GetExOption::NotInteger)
        }
    );
    for line in [
        "GETEX k PERSIST EX 1",
        "GETEX k EX 1 PERSIST",
        "GETEX k KEEPTTL",
        "GETEX k NX",
        "GETEX k GET",
        "GETEX k EX",
    ] {
        assert_eq!(err(line), "ERR syntax error", "{line}");
    }
}

#[test]
fn integer_and_float_arguments() {
    for line in [
        "INCRBY k 1.5",
        "INCRBY k +1",
        "INCRBY k 01",
        "INCRBY k 9223372036854775808",
        "DECRBY k x",
        "GETRANGE k a 1",
        "SETRANGE k x v",
    ] {
        assert_eq!(
            err(line),
            "ERR value is not an integer or out of range",
            "{line}"
        );
    }
    assert_eq!(
        ok("INCRBY k -9223372036854775808"),
        Command::IncrBy {
            key: "k".into(),
            delta: i64::MIN
        }
    );
    assert_eq!(
        err("DECRBY k -9223372036854775808"),
        "ERR decrement would overflow"
    );
    assert_eq!(err("INCRBYFLOAT k abc"), "ERR value is not a valid float");
    assert_eq!(err("INCRBYFLOAT k nan"), "ERR value is not a valid float");
    assert_eq!(
        ok("INCRBYFLOAT k 5.0e3"),
        Command::IncrByFloat {
            key: "k".into(),
            delta: 5000.0
        }
    );
    assert_eq!(err("SETRANGE k -1 v"), "ERR offset is out of range");
    assert_eq!(ok("substr k 0 -1").name(), "substr");
}

#[test]
fn expire_options() {
    let Command::Expire { condition, .. } = ok("EXPIRE k 10 xx GT") else {
        panic!()
    };
    assert!(condition.xx && condition.gt);
    assert_eq!(
        err("EXPIRE k 10 NX XX"),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err("EXPIRE k 10 NX LT"),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err("EXPIRE k 10 GT LT"),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(err("EXPIRE k 10 foo"), "ERR Unsupported option foo");
    assert_eq!(
        err("EXPIRE k abc foo"),
        "ERR Unsupported option foo",
        "options are checked first"
    );
    assert_eq!(
        err("EXPIRE k abc"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err("EXPIRE k 9223372036854775807"),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err("EXPIREAT k -9223372036854775807"),
        "ERR invalid expire time in 'expireat' command"
    );
    assert!(
        matches!(ok("PEXPIRE k 9223372036854775807"), Command::Expire { .. }),
        "overflow vs now is checked on execute"
    );
    assert_eq!(ok("EXPIRE k -1").name(), "expire");
    assert_eq!(ok("pexpireat k 1").name(), "pexpireat");
}

#[test]
fn scan_and_flush_options() {
    let Command::Scan(s) = ok("SCAN 0") else {
        panic!()
    };
    assert_eq!(
        (s.cursor, s.count, s.pattern.clone(), s.type_filter.clone()),
        (0, 10, None, None)
    );
    let Command::Scan(s) = ok("scan 42 MATCH a* count 5 TYPE STRING") else {
        panic!()
    };
    assert_eq!(
        (s.cursor, s.count, s.type_filter.as_deref()),
        (42, 5, Some("string"))
    );
    assert_eq!(err("SCAN x"), "ERR invalid cursor");
    assert_eq!(err("SCAN -1"), "ERR invalid cursor");
    assert_eq!(err("SCAN 0 COUNT 0"), "ERR syntax error");
    assert_eq!(
        err("SCAN 0 COUNT x"),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err("SCAN 0 MATCH"), "ERR syntax error");
    assert_eq!(err("SCAN 0 TYPE foo"), "ERR unknown type name 'foo'");
    assert_eq!(ok("FLUSHDB async"), Command::FlushDb);
    assert_eq!(ok("flushall SYNC"), Command::FlushAll);
    assert_eq!(err("FLUSHDB now"), "ERR syntax error");
    assert_eq!(err("FLUSHALL async sync"), "ERR syntax error");
}

#[test]
fn metadata_methods() {
    assert!(ok("SET k v").is_write());
    assert!(ok("GETEX k").is_write());
    assert!(!ok("GET k").is_write());
    assert!(!ok("SCAN 0").is_write());
    assert!(ok("FLUSHALL").is_write());
    assert_eq!(ok("MSET a 1 b 2").keys(), vec![&b"a"[..], &b"b"[..]]);
    assert_eq!(ok("RENAME a b").keys(), vec![&b"a"[..], &b"b"[..]]);
    assert!(ok("KEYS *").keys().is_empty());
    assert_eq!(ok("PSETEX k 10 v").name(), "psetex");
    assert_eq!(ok("DECRBY k 3").name(), "decrby");
}

#[test]
fn commands_round_trip_through_bincode() {
    for line in [
        "SET k v PX 5 GET",
        "MSET a 1 b 2",
        "INCRBYFLOAT k 0.1",
        "SCAN 3 MATCH x* TYPE string",
        "EXPIRE k 1 XX LT",
    ] {
        let cmd = ok(line);
        let bytes = bincode::serialize(&cmd).expect("serialize");
        let back: Command = bincode::deserialize(&bytes).expect("deserialize");
        assert_eq!(back, cmd, "{line}");
    }
}

#[test]
fn data_commands_are_sorted_and_in_the_table() {
    for pair in DATA_COMMANDS.windows(2) {
        assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
    }
    for name in DATA_COMMANDS {
        let position = table::position(name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
        assert!(is_data_command(position), "{name}");
    }
    let ping = table::position(b"ping").expect("ping");
    assert!(!is_data_command(ping), "a server command");
    assert!(!is_data_command(usize::MAX));
}
