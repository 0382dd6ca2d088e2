//! Commands answered by the server itself rather than the keyspace: connection state (PING,
//! HELLO, AUTH, SELECT, MULTI/EXEC/WATCH, CLIENT), introspection (INFO, COMMAND, CONFIG, TIME)
//! and administration (ACL, SAVE, BGSAVE). Replies and errors follow Redis 7's wording.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tinkerdb_kv::table;
use tinkerdb_resp::{Frame, Protocol};

use super::clients::MAX_CLIENT_NAME_LEN;
use super::errors::{shard_error, unknown_command, unknown_subcommand, wrong_arity};
use super::info;
use super::session::{is_one_of, no_permission, Flow, Session};
use crate::acl::{self, Access, AclRule};
use crate::shard::{Payload, ReadOp, Watched};

/// Server commands that keep their meaning inside MULTI (they manage the transaction itself).
const MULTI_CONTROL: &[&str] = &[
    "exec", "discard", "multi", "watch", "quit", "reset", "unwatch",
];

/// The version reported to clients, which gate features on it; TinkerDB implements Redis 7.2's
/// behaviour for the commands it has.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// Whether a server command may be sent inside MULTI.
pub fn allowed_in_multi(name: &[u8]) -> bool {
    is_one_of(name, MULTI_CONTROL)
}

/// Whether the name is a command TinkerDB knows at all.
pub fn is_known(name: &[u8]) -> bool {
    table::lookup(name).is_some()
}

/// Runs one server command.
pub async fn execute(session: &mut Session, args: &[Bytes]) -> (Frame, Flow) {
    let Some(spec) = table::lookup(&args[0]) else {
        return (unknown_command(args), Flow::Continue);
    };
    let argc = args.len() as i32;
    if (spec.arity > 0 && argc != spec.arity) || (spec.arity < 0 && argc < -spec.arity) {
        return (wrong_arity(spec.name), Flow::Continue);
    }
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    if let Some(user) = session.user() {
        let access = access_of(spec.name, sub.as_deref());
        if !user.role.allows(access) {
            let name = match (&sub, has_subcommands(spec.name)) {
                (Some(sub), true) => format!("{}|{sub}", spec.name),
                _ => spec.name.to_string(),
            };
            return (no_permission(&user.name.clone(), &name), Flow::Continue);
        }
    }
    let frame = match spec.name {
        "ping" => ping(session, args),
        "echo" => Frame::Bulk(args[1].clone()),
        "quit" => return (Frame::ok(), Flow::Close),
        "reset" => {
            session.reset();
            Frame::Simple("RESET".into())
        }
        "hello" => hello(session, args),
        "auth" => auth(session, &args[1..]),
        "select" => select(session, &args[1]),
        "multi" => multi(session),
        "exec" => exec(session).await,
        "discard" => match session.end_multi() {
            Some(_) => Frame::ok(),
            None => Frame::error("ERR DISCARD without MULTI"),
        },
        "watch" => watch(session, &args[1..]).await,
        "unwatch" => {
            session.unwatch();
            Frame::ok()
        }
        "time" => time(),
        "readonly" => {
            session.set_stale_reads(true);
            Frame::ok()
        }
        "readwrite" => {
            session.set_stale_reads(false);
            Frame::ok()
        }
        "cluster" => cluster(session, args).await,
        "info" => info::render(session, &args[1..]).await,
        "command" => command(args),
        "client" => client(session, args),
        "config" => config(session, args),
        "acl" => acl_command(session, args).await,
        "save" => save(session).await,
        "bgsave" => bgsave(session).await,
        "lastsave" => {
            Frame::Integer(session.ctx().stats.last_save_unix.load(Ordering::Relaxed) as i64)
        }
        _ => unknown_command(args),
    };
    (frame, Flow::Continue)
}

/// How much a server command needs (data commands are classified by the keyspace's table).
fn access_of(name: &str, sub: Option<&str>) -> Access {
    match (name, sub) {
        ("acl", Some("whoami" | "cat" | "help")) => Access::Read,
        ("acl", _) => Access::Admin,
        ("config", Some("get" | "help")) => Access::Read,
        ("config", _) => Access::Admin,
        ("client", Some("kill")) => Access::Admin,
        ("save" | "bgsave", _) => Access::Admin,
        _ => Access::Read,
    }
}

fn has_subcommands(name: &str) -> bool {
    matches!(name, "acl" | "config" | "client" | "command")
}

fn ping(session: &Session, args: &[Bytes]) -> Frame {
    match args.len() {
        1 => Frame::Simple("PONG".into()),
        2 => Frame::Bulk(args[1].clone()),
        _ => {
            let _ = session;
            wrong_arity("ping")
        }
    }
}

fn hello(session: &mut Session, args: &[Bytes]) -> Frame {
    let mut i = 1;
    let mut protocol = session.protocol();
    if let Some(version) = args.get(1) {
        let Some(v) = std::str::from_utf8(version)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        else {
            return Frame::error("ERR Protocol version is not an integer or out of range");
        };
        protocol = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Frame::error("NOPROTO unsupported protocol version"),
        };
        i = 2;
    }
    let mut name = None;
    while i < args.len() {
        let opt = String::from_utf8_lossy(&args[i]).to_ascii_lowercase();
        match opt.as_str() {
            "auth" if i + 2 < args.len() => {
                let reply = auth(session, &args[i + 1..i + 3]);
                if reply.is_error() {
                    return reply;
                }
                i += 3;
            }
            "setname" if i + 1 < args.len() => {
                name = Some(args[i + 1].clone());
                i += 2;
            }
            _ => {
                return Frame::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&args[i])
                ))
            }
        }
    }
    if session.user().is_none() {
        return Frame::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if let Err(e) = set_client_name(session, &name) {
            return e;
        }
    }
    session.set_protocol(protocol);
    let version = if protocol == Protocol::Resp3 { 3 } else { 2 };
    Frame::Map(vec![
        (Frame::bulk("server"), Frame::bulk("redis")),
        (Frame::bulk("version"), Frame::bulk(REDIS_COMPAT_VERSION)),
        (Frame::bulk("proto"), Frame::Integer(version)),
        (
            Frame::bulk("id"),
            Frame::Integer(session.client().id as i64),
        ),
        (Frame::bulk("mode"), Frame::bulk("standalone")),
        (Frame::bulk("role"), Frame::bulk("master")),
        (Frame::bulk("modules"), Frame::Array(Vec::new())),
    ])
}

fn auth(session: &mut Session, args: &[Bytes]) -> Frame {
    let (name, password) = match args {
        [password] => {
            let needs = {
                let table = session.ctx().router.primary().users().read();
                let table = table.unwrap_or_else(|p| p.into_inner());
                session.ctx().directory.default_needs_password(&table)
            };
            if !needs {
                return Frame::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            }
            (acl::DEFAULT_USER.to_string(), password)
        }
        [name, password] => (String::from_utf8_lossy(name).into_owned(), password),
        _ => return Frame::error("ERR syntax error"),
    };
    let user = {
        let table = session.ctx().router.primary().users().read();
        let table = table.unwrap_or_else(|p| p.into_inner());
        session.ctx().directory.lookup(&table, &name)
    };
    match user.filter(|u| u.accepts(password)) {
        Some(user) => {
            session.login(user);
            Frame::ok()
        }
        None => Frame::error("WRONGPASS invalid username-password pair or user is disabled."),
    }
}

fn select(session: &mut Session, arg: &Bytes) -> Frame {
    let Some(db) = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return Frame::error("ERR value is not an integer or out of range");
    };
    if !(0..i64::from(tinkerdb_kv::DATABASES)).contains(&db) {
        return Frame::error("ERR DB index is out of range");
    }
    session.select(db as u8);
    Frame::ok()
}

fn multi(session: &mut Session) -> Frame {
    if session.in_multi() {
        return Frame::error("ERR MULTI calls can not be nested");
    }
    session.begin_multi();
    Frame::ok()
}

async fn exec(session: &mut Session) -> Frame {
    let Some((ops, watched)) = session.end_multi() else {
        return Frame::error("ERR EXEC without MULTI");
    };
    let Some(ops) = ops else {
        return Frame::error("EXECABORT Transaction discarded because of previous errors.");
    };
    let payload = Payload::Exec {
        tenant: session.tenant().to_string(),
        now_ms: 0,
        watched,
        ops,
    };
    match session.ctx().router.shard_for(&[]).propose(payload).await {
        Ok(mut frames) if frames.len() == 1 => frames.remove(0),
        Ok(_) => Frame::error("ERR internal error: EXEC produced no reply"),
        Err(e) => shard_error(&e),
    }
}

async fn watch(session: &mut Session, keys: &[Bytes]) -> Frame {
    if session.in_multi() {
        return Frame::error("ERR WATCH inside MULTI is not allowed");
    }
    let db = session.db();
    let keys: Vec<(u8, Bytes)> = keys.iter().map(|k| (db, k.clone())).collect();
    let op = ReadOp::Versions {
        tenant: session.tenant(),
        keys: &keys,
    };
    match session.ctx().router.shard_for(&[]).read(&op).await {
        Ok(versions) => {
            let watched = keys
                .into_iter()
                .zip(versions)
                .map(|((db, key), v)| Watched {
                    db,
                    key,
                    version: match v {
                        Frame::Integer(v) => v as u64,
                        _ => 0,
                    },
                })
                .collect();
            session.watch(watched);
            Frame::ok()
        }
        Err(e) => shard_error(&e),
    }
}

/// `CLUSTER INFO | NODES | MYID`: the Raft group's membership in Redis Cluster's shapes (one
/// shard for now, so no slot ranges yet). Node ids are the Raft ids as 40 hex digits.
async fn cluster(session: &Session, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let status = match session.status().await {
        Ok(status) => status,
        Err(frame) => return frame,
    };
    let r = &status.raft;
    let node_name = |id: u64| format!("{id:040x}");
    match sub.as_str() {
        "myid" => Frame::bulk(node_name(r.node_id)),
        "info" => {
            let state = if r.leader != 0 { "ok" } else { "fail" };
            let text = format!(
                "cluster_state:{state}\r\ncluster_slots_assigned:0\r\ncluster_known_nodes:{}\r\ncluster_size:1\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\nraft_leader_id:{}\r\nraft_commit_index:{}\r\n",
                r.voters
                    .iter()
                    .chain(&r.voters_outgoing)
                    .chain(&r.learners)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                r.term,
                r.term,
                r.leader,
                r.commit
            );
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(text),
            }
        }
        "nodes" => {
            let members = session.ctx().member_addresses(&status);
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(cluster_nodes_text(r, &members)),
            }
        }
        _ => unknown_subcommand("cluster", &args[1]),
    }
}

/// `CLUSTER NODES` lines for the group's members (`members`: their addresses). During a joint
/// configuration (replace-node) the outgoing voters are still members until it is left; they
/// are listed with `nofailover`, as learners are.
fn cluster_nodes_text(
    r: &crate::shard::RaftStatus,
    members: &std::collections::BTreeMap<u64, String>,
) -> String {
    let node_name = |id: u64| format!("{id:040x}");
    let leaving = r
        .voters_outgoing
        .iter()
        .filter(|id| !r.voters.contains(id) && !r.learners.contains(id));
    let mut text = String::new();
    for id in r.voters.iter().chain(&r.learners).chain(leaving) {
        let addr = members.get(id).cloned().unwrap_or_default();
        let mut flags = Vec::new();
        if *id == r.node_id {
            flags.push("myself");
        }
        flags.push(if *id == r.leader { "master" } else { "slave" });
        if !r.voters.contains(id) {
            flags.push("nofailover");
        }
        let master = if *id == r.leader || r.leader == 0 {
            "-".to_string()
        } else {
            node_name(r.leader)
        };
        text.push_str(&format!(
            "{} {addr}@{} {} {master} 0 0 {} connected\n",
            node_name(*id),
            addr.rsplit(':').next().unwrap_or("0"),
            flags.join(","),
            r.term
        ));
    }
    text
}

fn time() -> Frame {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Frame::Array(vec![
        Frame::bulk(now.as_secs().to_string()),
        Frame::bulk(now.subsec_micros().to_string()),
    ])
}

fn command(args: &[Bytes]) -> Frame {
    let Some(sub) = args.get(1) else {
        return Frame::Array(table::all().iter().map(table::command_info_frame).collect());
    };
    let sub_lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    match sub_lower.as_str() {
        "count" if args.len() == 2 => Frame::Integer(table::all().len() as i64),
        "list" => Frame::Array(table::all().iter().map(|s| Frame::bulk(s.name)).collect()),
        "info" => {
            if args.len() == 2 {
                return Frame::Array(table::all().iter().map(table::command_info_frame).collect());
            }
            Frame::Array(
                args[2..]
                    .iter()
                    .map(|name| {
                        table::lookup(name).map_or(Frame::NullArray, table::command_info_frame)
                    })
                    .collect(),
            )
        }
        "docs" => {
            let specs: Vec<_> = if args.len() == 2 {
                table::all().iter().collect()
            } else {
                args[2..].iter().filter_map(|n| table::lookup(n)).collect()
            };
            Frame::Map(
                specs
                    .into_iter()
                    .map(|s| (Frame::bulk(s.name), table::command_docs_frame(s)))
                    .collect(),
            )
        }
        "getkeys" if args.len() >= 3 => match tinkerdb_kv::parse(&args[2..]) {
            Ok(Some(cmd)) => {
                let keys = cmd.keys();
                if keys.is_empty() {
                    Frame::error("ERR The command has no key arguments")
                } else {
                    Frame::Array(
                        keys.into_iter()
                            .map(|k| Frame::Bulk(Bytes::copy_from_slice(k)))
                            .collect(),
                    )
                }
            }
            Ok(None) => Frame::error("ERR Invalid command specified"),
            Err(_) => Frame::error("ERR Invalid number of arguments specified for command"),
        },
        "help" => help_frame(&[
            "COMMAND",
            "COMMAND COUNT",
            "COMMAND DOCS [<command-name> ...]",
            "COMMAND INFO [<command-name> ...]",
            "COMMAND LIST",
            "COMMAND GETKEYS <full-command>",
        ]),
        _ => unknown_subcommand("command", sub),
    }
}

fn client(session: &mut Session, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let me = session.client();
    match (sub.as_str(), args.len()) {
        ("id", 2) => Frame::Integer(me.id as i64),
        ("getname", 2) => {
            let name = me.details().name.clone();
            if name.is_empty() {
                Frame::Null
            } else {
                Frame::bulk(name)
            }
        }
        ("setname", 3) => match set_client_name(session, &args[2]) {
            Ok(()) => Frame::ok(),
            Err(e) => e,
        },
        ("setinfo", 4) => {
            let attr = String::from_utf8_lossy(&args[2]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&args[3]).into_owned();
            if value.len() > MAX_CLIENT_NAME_LEN || value.bytes().any(|b| b == b' ' || b == b'\n') {
                return Frame::error(format!(
                    "ERR {attr} cannot contain spaces, newlines or special characters."
                ));
            }
            match attr.as_str() {
                "lib-name" => me.details().lib_name = value,
                "lib-ver" => me.details().lib_ver = value,
                _ => {
                    return Frame::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&args[2])
                    ))
                }
            }
            Frame::ok()
        }
        ("info", 2) => Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from(format!("{}\n", me.describe())),
        },
        ("list", _) => {
            let text: String = session
                .ctx()
                .clients
                .list()
                .iter()
                .map(|c| format!("{}\n", c.describe()))
                .collect();
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(text),
            }
        }
        ("kill", n) if n >= 3 => client_kill(session, &args[2..]),
        ("no-evict" | "no-touch", 3) => Frame::ok(),
        ("help", 2) => help_frame(&[
            "CLIENT ID",
            "CLIENT GETNAME",
            "CLIENT SETNAME <name>",
            "CLIENT SETINFO <LIB-NAME|LIB-VER> <value>",
            "CLIENT INFO",
            "CLIENT LIST",
            "CLIENT KILL <ip:port> | ID <id> | ADDR <ip:port> | USER <name>",
        ]),
        ("id" | "getname" | "setname" | "info" | "setinfo", _) => Frame::error(format!(
            "ERR wrong number of arguments for 'client|{sub}' command"
        )),
        _ => unknown_subcommand("client", &args[1]),
    }
}

fn client_kill(session: &Session, args: &[Bytes]) -> Frame {
    let clients = session.ctx().clients.list();
    if args.len() == 1 {
        let addr = String::from_utf8_lossy(&args[0]);
        return match clients.iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                c.kill();
                Frame::ok()
            }
            None => Frame::error("ERR No such client"),
        };
    }
    if args.len() % 2 != 0 {
        return Frame::error("ERR syntax error");
    }
    let mut killed = 0;
    'clients: for c in &clients {
        for pair in args.chunks(2) {
            let filter = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]);
            let matches = match filter.as_str() {
                "id" => value.parse::<u64>().ok() == Some(c.id),
                "addr" => c.addr.to_string() == value,
                "laddr" => c.laddr.to_string() == value,
                "user" => c.details().user == value,
                "skipme" => !(value.eq_ignore_ascii_case("yes") && c.id == session.client().id),
                _ => return Frame::error("ERR syntax error"),
            };
            if !matches {
                continue 'clients;
            }
        }
        c.kill();
        killed += 1;
    }
    Frame::Integer(killed)
}

fn set_client_name(session: &Session, name: &Bytes) -> Result<(), Frame> {
    if name.len() > MAX_CLIENT_NAME_LEN || name.iter().any(|b| !(b'!'..=b'~').contains(b)) {
        return Err(Frame::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    session.client().details().name = String::from_utf8_lossy(name).into_owned();
    Ok(())
}

/// CONFIG GET answers the parameters clients and tools ask about; CONFIG SET changes the few
/// that can change at runtime.
fn config(session: &mut Session, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match sub.as_str() {
        "get" if args.len() >= 3 => {
            let params = config_params(session);
            let mut out = Vec::new();
            for (name, value) in &params {
                if args[2..]
                    .iter()
                    .any(|p| tinkerdb_kv::glob::matches(&p.to_ascii_lowercase(), name.as_bytes()))
                {
                    out.push((Frame::bulk(*name), Frame::bulk(value.clone())));
                }
            }
            Frame::Map(out)
        }
        "set" if args.len() >= 4 && args.len() % 2 == 0 => config_set(session, &args[2..]),
        "resetstat" if args.len() == 2 => Frame::ok(),
        "help" => help_frame(&[
            "CONFIG GET <pattern>",
            "CONFIG SET <parameter> <value>",
            "CONFIG RESETSTAT",
        ]),
        "get" | "set" | "resetstat" => Frame::error(format!(
            "ERR wrong number of arguments for 'config|{sub}' command"
        )),
        _ => unknown_subcommand("config", &args[1]),
    }
}

fn config_params(session: &Session) -> Vec<(&'static str, String)> {
    let c = &session.ctx().config;
    let fsync = match c.fsync {
        crate::config::FsyncPolicy::Always => "always",
        crate::config::FsyncPolicy::Batch => "everysec",
    };
    vec![
        ("appendonly", "yes".to_string()),
        ("appendfsync", fsync.to_string()),
        ("bind", c.listen.ip().to_string()),
        ("databases", tinkerdb_kv::DATABASES.to_string()),
        ("dir", c.data_dir.display().to_string()),
        (
            "maxclients",
            session
                .ctx()
                .max_clients
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        ("maxmemory", "0".to_string()),
        ("maxmemory-policy", "noeviction".to_string()),
        ("port", c.listen.port().to_string()),
        ("proto-max-bulk-len", c.max_bulk_len.to_string()),
        ("save", String::new()),
        ("timeout", "0".to_string()),
        ("cluster-enabled", "no".to_string()),
    ]
}

fn config_set(session: &Session, pairs: &[Bytes]) -> Frame {
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]);
        match name.as_str() {
            "maxclients" => match value.parse::<usize>() {
                Ok(n) if n > 0 => session.ctx().max_clients.store(n, Ordering::Relaxed),
                _ => {
                    return Frame::error(
                        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer",
                    )
                }
            },
            // Accepted so tools that set them keep working; TinkerDB persists through its WAL
            // and snapshots regardless.
            "save" | "appendonly" => {}
            _ => {
                return Frame::error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            }
        }
    }
    Frame::ok()
}

async fn acl_command(session: &mut Session, args: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let primary = session.ctx().router.primary().clone();
    let snapshot_users = || {
        let table = primary.users().read();
        let table = table.unwrap_or_else(|p| p.into_inner());
        session.ctx().directory.all(&table)
    };
    match (sub.as_str(), args.len()) {
        ("whoami", 2) => Frame::bulk(session.user().map_or(String::new(), |u| u.name.clone())),
        ("users", 2) => Frame::Array(snapshot_users().into_iter().map(|u| Frame::bulk(u.name)).collect()),
        ("list", 2) => Frame::Array(snapshot_users().into_iter().map(|u| Frame::bulk(u.describe())).collect()),
        ("getuser", 3) => {
            let name = String::from_utf8_lossy(&args[2]);
            match snapshot_users().into_iter().find(|u| u.name == name) {
                Some(u) => Frame::Map(vec![
                    (Frame::bulk("flags"), Frame::Array(vec![Frame::bulk(if u.enabled { "on" } else { "off" })]
                        .into_iter()
                        .chain(u.nopass.then(|| Frame::bulk("nopass")))
                        .collect())),
                    (Frame::bulk("passwords"), Frame::Array(u.passwords.iter().map(|p| Frame::bulk(hex::encode(p))).collect())),
                    (Frame::bulk("tenant"), Frame::bulk(u.tenant.clone())),
                    (Frame::bulk("role"), Frame::bulk(u.role.as_str())),
                ]),
                None => Frame::Null,
            }
        }
        ("setuser", n) if n >= 3 => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            if let Err(e) = acl::check_name("user name", &name) {
                return Frame::error(format!("ERR {e}"));
            }
            let rule_args: Vec<&[u8]> = args[3..].iter().map(|a| &a[..]).collect();
            let rules: Vec<AclRule> = match acl::parse_rules(&rule_args) {
                Ok(rules) => rules,
                Err(e) => return Frame::error(e),
            };
            // Start from the user as it stands now (config file or implicit `default`), so that
            // `ACL SETUSER default >pw` keeps `default` enabled, as in Redis.
            let base = {
                let table = primary.users().read();
                let table = table.unwrap_or_else(|p| p.into_inner());
                session.ctx().directory.lookup(&table, &name)
            };
            propose_one(session, Payload::SetUser { name, rules, base }).await
        }
        ("deluser", n) if n >= 3 => {
            let names = args[2..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            propose_one(session, Payload::DelUsers { names }).await
        }
        ("cat", _) => Frame::Array(["read", "write", "admin", "keyspace", "string", "connection"].iter().map(|c| Frame::bulk(*c)).collect()),
        ("help", _) => help_frame(&["ACL WHOAMI", "ACL USERS", "ACL LIST", "ACL GETUSER <username>", "ACL SETUSER <username> [rule ...] (rules: on off >pass <pass #hash !hash nopass resetpass reset tenant=<name> role=<admin|readwrite|readonly>)", "ACL DELUSER <username> [...]"]),
        ("whoami" | "users" | "list" | "getuser" | "setuser" | "deluser", _) => {
            Frame::error(format!("ERR wrong number of arguments for 'acl|{sub}' command"))
        }
        _ => unknown_subcommand("acl", &args[1]),
    }
}

async fn propose_one(session: &Session, payload: Payload) -> Frame {
    match session.ctx().router.primary().propose(payload).await {
        Ok(mut frames) if frames.len() == 1 => frames.remove(0),
        Ok(_) => Frame::error("ERR internal error: no reply"),
        Err(e) => shard_error(&e),
    }
}

async fn save(session: &Session) -> Frame {
    match session.ctx().router.primary().save().await {
        Ok(_) => {
            record_save(session);
            Frame::ok()
        }
        Err(e) => {
            session
                .ctx()
                .stats
                .save_failures
                .fetch_add(1, Ordering::Relaxed);
            shard_error(&e)
        }
    }
}

async fn bgsave(session: &Session) -> Frame {
    match session.ctx().router.primary().save_in_background().await {
        Ok(()) => {
            record_save(session);
            Frame::Simple("Background saving started".into())
        }
        Err(e) => shard_error(&e),
    }
}

fn record_save(session: &Session) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    session
        .ctx()
        .stats
        .last_save_unix
        .store(now, Ordering::Relaxed);
}

fn help_frame(lines: &[&str]) -> Frame {
    Frame::Array(
        lines
            .iter()
            .map(|l| Frame::Simple((*l).to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_subcommands_need_admin() {
        assert_eq!(access_of("acl", Some("setuser")), Access::Admin);
        assert_eq!(access_of("acl", Some("whoami")), Access::Read);
        assert_eq!(access_of("config", Some("get")), Access::Read);
        assert_eq!(access_of("config", Some("set")), Access::Admin);
        assert_eq!(access_of("ping", None), Access::Read);
    }

    #[test]
    fn cluster_nodes_lists_outgoing_voters_during_a_replacement() {
        // Node 2 is being replaced by node 4: joint configuration {1,3,4} x {1,2,3}.
        let r = crate::shard::RaftStatus {
            node_id: 1,
            leader: 1,
            term: 7,
            voters: vec![1, 3, 4],
            voters_outgoing: vec![1, 2, 3],
            ..Default::default()
        };
        let members = (1..=4)
            .map(|id| (id, format!("10.0.0.{id}:7380")))
            .collect();
        let text = cluster_nodes_text(&r, &members);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let line_of = |id: u64| {
            lines
                .iter()
                .find(|l| l.starts_with(&format!("{id:040x} ")))
                .unwrap_or_else(|| panic!("node {id} missing: {text}"))
        };
        assert!(line_of(1).contains(" myself,master - "), "{text}");
        assert!(line_of(2).contains(" slave,nofailover "), "{text}");
        assert!(line_of(4).contains(" slave "), "{text}");
        assert!(!line_of(4).contains("nofailover"), "{text}");
    }
}
