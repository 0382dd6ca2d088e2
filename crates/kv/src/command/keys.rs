//! Parsing of the generic keyspace commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX KEYS SCAN
//! DBSIZE RANDOMKEY FLUSHDB FLUSHALL.

use bytes::Bytes;

use super::args::{int_arg, is, parse_u64};
use super::{Command, ScanArgs};
use crate::error::CommandError;

/// SCAN's COUNT when none is given, as Redis.
pub const SCAN_COUNT_DEFAULT: u64 = 10;

/// The type names Redis knows for `SCAN ... TYPE`; only `string` exists in TinkerDB so far, the
/// others are accepted and simply match nothing.
const TYPE_NAMES: &[&str] = &["string", "list", "set", "zset", "hash", "stream"];

/// Parses `name` if it is a generic keyspace command; `None` if it belongs to another group.
pub(super) fn parse(name: &str, args: &[Bytes]) -> Option<Result<Command, CommandError>> {
    let cmd = match name {
        "del" => Ok(Command::Del {
            keys: args[1..].to_vec(),
        }),
        "unlink" => Ok(Command::Unlink {
            keys: args[1..].to_vec(),
        }),
        "exists" => Ok(Command::Exists {
            keys: args[1..].to_vec(),
        }),
        "type" => Ok(Command::Type {
            key: args[1].clone(),
        }),
        "rename" => Ok(Command::Rename {
            key: args[1].clone(),
            newkey: args[2].clone(),
        }),
        "renamenx" => Ok(Command::RenameNx {
            key: args[1].clone(),
            newkey: args[2].clone(),
        }),
        "keys" => Ok(Command::Keys {
            pattern: args[1].clone(),
        }),
        "scan" => parse_scan(args),
        "dbsize" => Ok(Command::DbSize),
        "randomkey" => Ok(Command::RandomKey),
        "flushdb" => parse_flush(args).map(|()| Command::FlushDb),
        "flushall" => parse_flush(args).map(|()| Command::FlushAll),
        _ => return None,
    };
    Some(cmd)
}

/// `FLUSHDB|FLUSHALL [ASYNC|SYNC]`: the mode is accepted and ignored, flushing is immediate.
fn parse_flush(args: &[Bytes]) -> Result<(), CommandError> {
    match args {
        [_] => Ok(()),
        [_, mode] if is(mode, "async") || is(mode, "sync") => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

fn parse_scan(args: &[Bytes]) -> Result<Command, CommandError> {
    let cursor = parse_u64(&args[1]).ok_or(CommandError::InvalidCursor)?;
    let mut scan = ScanArgs {
        cursor,
        pattern: None,
        count: SCAN_COUNT_DEFAULT,
        type_filter: None,
    };
    let mut i = 2;
    while i < args.len() {
        let (opt, value) = (&args[i], args.get(i + 1));
        match value {
            Some(v) if is(opt, "count") => {
                let count = int_arg(v)?;
                if count < 1 {
                    return Err(CommandError::Syntax);
                }
                scan.count = count.unsigned_abs();
            }
            Some(v) if is(opt, "match") => scan.pattern = Some(v.clone()),
            Some(v) if is(opt, "type") => {
                let lower = String::from_utf8_lossy(v).to_ascii_lowercase();
                if !TYPE_NAMES.contains(&lower.as_str()) {
                    return Err(CommandError::UnknownType(String::from_utf8_lossy(v).into()));
                }
                scan.type_filter = Some(lower);
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 2;
    }
    Ok(Command::Scan(Box::new(scan)))
}
