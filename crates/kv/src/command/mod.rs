//! Typed data commands: the request argument vector becomes a [`Command`].
//!
//! Place in the data flow: `server::conn` decodes a RESP array into `args`, calls [`parse`], and
//! proposes the resulting [`Command`] to Raft (bincode-encoded), or answers a parse error at once.
//! Every replica later applies the same [`Command`] with [`crate::Keyspace::execute`].
//!
//! Invariants:
//! - Parsing is pure: it never reads a clock or the keyspace. Checks that need the entry's time
//!   (a relative expiry overflowing when added to `now`) or a key's value happen on execute.
//! - Errors are Redis 7's, in Redis's order: the arity check from the command table first, then
//!   each command's own checks as Redis performs them.
//! - A [`Command`] carries only owned [`Bytes`] and plain numbers, so it serializes into the log
//!   and means the same on every replica.

mod args;
mod expire;
mod keys;
mod string;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::CommandError;
use crate::table;

pub(crate) use args::{format_float, parse_f64, parse_i64};

/// Seconds or milliseconds: which spelling of a time command was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeUnit {
    /// `EX`, `EXPIRE`, `TTL`, ...
    Seconds,
    /// `PX`, `PEXPIRE`, `PTTL`, ...
    Millis,
}

/// An expiry option of SET, SETEX/PSETEX or GETEX, as typed. It becomes an absolute deadline only
/// on execute, from the log entry's `now_ms`, so every replica computes the same deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// `EX seconds`: relative.
    Ex(i64),
    /// `PX milliseconds`: relative.
    Px(i64),
    /// `EXAT unix-seconds`: absolute.
    ExAt(i64),
    /// `PXAT unix-milliseconds`: absolute.
    PxAt(i64),
}

/// SET's `NX` / `XX` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// Only set if the key does not exist.
    Nx,
    /// Only set if the key exists.
    Xx,
}

/// The arguments of SET, boxed into the enum to keep [`Command`] small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetArgs {
    /// The key to set.
    pub key: Bytes,
    /// The new value.
    pub value: Bytes,
    /// `EX`/`PX`/`EXAT`/`PXAT`, already checked to be positive and convertible.
    pub expiry: Option<Expiry>,
    /// `KEEPTTL`: keep the old deadline instead of clearing it.
    pub keep_ttl: bool,
    /// `NX` / `XX`.
    pub condition: Option<SetCondition>,
    /// `GET`: reply with the old value instead of `OK`.
    pub get: bool,
}

/// What GETEX does to the key's deadline besides returning the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GetExOption {
    /// `PERSIST`: clear the deadline.
    Persist,
    /// `EX`/`PX`/`EXAT`/`PXAT`: validated on execute, after the key lookup, as Redis does.
    Expire(Expiry),
    /// An expiry option whose value is not an integer; Redis reports it only if the key exists.
    NotInteger,
}

/// The `NX XX GT LT` flags of the EXPIRE family (XX may be combined with GT or LT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExpireCondition {
    /// Only if the key has no deadline.
    pub nx: bool,
    /// Only if the key has a deadline.
    pub xx: bool,
    /// Only if the new deadline is later than the current one (none counts as infinite).
    pub gt: bool,
    /// Only if the new deadline is earlier than the current one (none counts as infinite).
    pub lt: bool,
}

/// The arguments of SCAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanArgs {
    /// Where to resume: 0 starts, and a reply cursor of 0 means done.
    pub cursor: u64,
    /// `MATCH pattern` (Redis glob).
    pub pattern: Option<Bytes>,
    /// `COUNT n`: how many hash positions to visit per call (default 10).
    pub count: u64,
    /// `TYPE name`, lowercased and known to Redis.
    pub type_filter: Option<String>,
}

/// A data command: everything that reads or writes the keyspace. It is the payload of a Raft log
/// entry, hence serializable; variants map one to one to command names (see [`Command::name`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // Variants are the Redis commands of the same name; fields are their args.
pub enum Command {
    Get {
        key: Bytes,
    },
    Set(Box<SetArgs>),
    SetNx {
        key: Bytes,
        value: Bytes,
    },
    /// SETEX (`Expiry::Ex`) or PSETEX (`Expiry::Px`).
    SetEx {
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    },
    GetSet {
        key: Bytes,
        value: Bytes,
    },
    GetDel {
        key: Bytes,
    },
    GetEx {
        key: Bytes,
        option: Option<GetExOption>,
    },
    MGet {
        keys: Vec<Bytes>,
    },
    MSet {
        pairs: Vec<(Bytes, Bytes)>,
    },
    MSetNx {
        pairs: Vec<(Bytes, Bytes)>,
    },
    Del {
        keys: Vec<Bytes>,
    },
    Unlink {
        keys: Vec<Bytes>,
    },
    Exists {
        keys: Vec<Bytes>,
    },
    Type {
        key: Bytes,
    },
    Rename {
        key: Bytes,
        newkey: Bytes,
    },
    RenameNx {
        key: Bytes,
        newkey: Bytes,
    },
    Incr {
        key: Bytes,
    },
    Decr {
        key: Bytes,
    },
    IncrBy {
        key: Bytes,
        delta: i64,
    },
    /// `delta` as typed; never `i64::MIN` (rejected at parse).
    DecrBy {
        key: Bytes,
        delta: i64,
    },
    IncrByFloat {
        key: Bytes,
        delta: f64,
    },
    Append {
        key: Bytes,
        value: Bytes,
    },
    StrLen {
        key: Bytes,
    },
    /// GETRANGE, or its old name SUBSTR when `substr` is set.
    GetRange {
        key: Bytes,
        start: i64,
        end: i64,
        substr: bool,
    },
    /// `offset` is non-negative (checked at parse).
    SetRange {
        key: Bytes,
        offset: i64,
        value: Bytes,
    },
    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `when` as typed, in `unit`.
    Expire {
        key: Bytes,
        when: i64,
        unit: TimeUnit,
        absolute: bool,
        condition: ExpireCondition,
    },
    /// EXPIRETIME / PEXPIRETIME.
    ExpireTime {
        key: Bytes,
        unit: TimeUnit,
    },
    /// TTL / PTTL.
    Ttl {
        key: Bytes,
        unit: TimeUnit,
    },
    Persist {
        key: Bytes,
    },
    Keys {
        pattern: Bytes,
    },
    Scan(Box<ScanArgs>),
    DbSize,
    RandomKey,
    /// FLUSHDB \[ASYNC|SYNC\]: both modes flush at once, deterministically.
    FlushDb,
    /// FLUSHALL \[ASYNC|SYNC\]: every database of the caller's tenant.
    FlushAll,
}

/// Parses one request. `args[0]` is the command name in any case.
///
/// Returns `Ok(None)` when the name is not a data command (the server then tries its own
/// commands), `Err` with Redis's exact error for bad arguments, else the typed command.
pub fn parse(args: &[Bytes]) -> Result<Option<Command>, CommandError> {
    let position = args.first().and_then(|name| table::position(name));
    parse_at(position, args)
}

/// [`parse`] for a caller that has already looked the name up (`table::position(&args[0])`,
/// which it needs anyway, e.g. for per-command metrics): one lookup per request instead of two.
pub fn parse_at(position: Option<usize>, args: &[Bytes]) -> Result<Option<Command>, CommandError> {
    let Some(position) = position.filter(|p| is_data_command(*p)) else {
        return Ok(None);
    };
    let Some(spec) = table::all().get(position) else {
        return Ok(None);
    };
    check_arity(spec, args.len())?;
    // The table's name is the lowercase form of the one the client sent.
    let name = spec.name;
    let cmd = string::parse(name, args)
        .or_else(|| keys::parse(name, args))
        .or_else(|| expire::parse(name, args));
    match cmd {
        Some(result) => result.map(Some),
        None => Ok(None),
    }
}

/// The data commands [`parse`] answers for, sorted; all others in the table belong to the
/// server.
const DATA_COMMANDS: &[&str] = &[
    "append",
    "dbsize",
    "decr",
    "decrby",
    "del",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "flushall",
    "flushdb",
    "get",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "incr",
    "incrby",
    "incrbyfloat",
    "keys",
    "mget",
    "mset",
    "msetnx",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "psetex",
    "pttl",
    "randomkey",
    "rename",
    "renamenx",
    "scan",
    "set",
    "setex",
    "setnx",
    "setrange",
    "strlen",
    "substr",
    "ttl",
    "type",
    "unlink",
];

/// Whether the table's command at `position` is one of [`DATA_COMMANDS`]: a flag per table
/// entry, computed once, since every request asks.
fn is_data_command(position: usize) -> bool {
    static DATA: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        table::all()
            .iter()
            .map(|spec| DATA_COMMANDS.binary_search(&spec.name).is_ok())
            .collect()
    })
    .get(position)
    .copied()
    .unwrap_or(false)
}

/// Redis's generic arity rule: positive arity is exact, negative is a minimum.
fn check_arity(spec: &table::CommandSpec, argc: usize) -> Result<(), CommandError> {
    let argc = i64::try_from(argc).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(CommandError::WrongArity(spec.name.to_string()));
    }
    Ok(())
}

impl Command {
    /// The lowercase Redis name, for metrics, ACL checks and error messages.
    pub fn name(&self) -> &'static str {
        use Command::*;
        match self {
            Get { .. } => "get",
            Set(_) => "set",
            SetNx { .. } => "setnx",
            SetEx {
                expiry: Expiry::Px(_) | Expiry::PxAt(_),
                ..
            } => "psetex",
            SetEx { .. } => "setex",
            GetSet { .. } => "getset",
            GetDel { .. } => "getdel",
            GetEx { .. } => "getex",
            MGet { .. } => "mget",
            MSet { .. } => "mset",
            MSetNx { .. } => "msetnx",
            Del { .. } => "del",
            Unlink { .. } => "unlink",
            Exists { .. } => "exists",
            Type { .. } => "type",
            Rename { .. } => "rename",
            RenameNx { .. } => "renamenx",
            Incr { .. } => "incr",
            Decr { .. } => "decr",
            IncrBy { .. } => "incrby",
            DecrBy { .. } => "decrby",
            IncrByFloat { .. } => "incrbyfloat",
            Append { .. } => "append",
            StrLen { .. } => "strlen",
            GetRange { substr: true, .. } => "substr",
            GetRange { .. } => "getrange",
            SetRange { .. } => "setrange",
            Expire { unit, absolute, .. } => expire_name(*unit, *absolute),
            ExpireTime {
                unit: TimeUnit::Seconds,
                ..
            } => "expiretime",
            ExpireTime { .. } => "pexpiretime",
            Ttl {
                unit: TimeUnit::Seconds,
                ..
            } => "ttl",
            Ttl { .. } => "pttl",
            Persist { .. } => "persist",
            Keys { .. } => "keys",
            Scan(_) => "scan",
            DbSize => "dbsize",
            RandomKey => "randomkey",
            FlushDb => "flushdb",
            FlushAll => "flushall",
        }
    }

    /// True if applying the command may change the keyspace; read-only commands may be served
    /// by [`crate::Keyspace::read`] after a ReadIndex instead of going through the log.
    pub fn is_write(&self) -> bool {
        table::lookup(self.name().as_bytes()).is_some_and(table::CommandSpec::is_write)
    }

    /// The keys the command touches, in argument order, for routing to hash slots.
    pub fn keys(&self) -> Vec<&[u8]> {
        use Command::*;
        match self {
            Set(args) => vec![&args.key[..]],
            MGet { keys } | Del { keys } | Unlink { keys } | Exists { keys } => {
                keys.iter().map(|k| &k[..]).collect()
            }
            MSet { pairs } | MSetNx { pairs } => pairs.iter().map(|(k, _)| &k[..]).collect(),
            Rename { key, newkey } | RenameNx { key, newkey } => vec![&key[..], &newkey[..]],
            Keys { .. } | Scan(_) | DbSize | RandomKey | FlushDb | FlushAll => Vec::new(),
            Get { key }
            | SetNx { key, .. }
            | SetEx { key, .. }
            | GetSet { key, .. }
            | GetDel { key }
            | GetEx { key, .. }
            | Type { key }
            | Incr { key }
            | Decr { key }
            | IncrBy { key, .. }
            | DecrBy { key, .. }
            | IncrByFloat { key, .. }
            | Append { key, .. }
            | StrLen { key }
            | GetRange { key, .. }
            | SetRange { key, .. }
            | Expire { key, .. }
            | ExpireTime { key, .. }
            | Ttl { key, .. }
            | Persist { key } => vec![&key[..]],
        }
    }
}

fn expire_name(unit: TimeUnit, absolute: bool) -> &'static str {
    match (unit, absolute) {
        (TimeUnit::Seconds, false) => "expire",
        (TimeUnit::Millis, false) => "pexpire",
        (TimeUnit::Seconds, true) => "expireat",
        (TimeUnit::Millis, true) => "pexpireat",
    }
}

#[cfg(test)]
mod tests;
