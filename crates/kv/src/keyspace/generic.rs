//! Execution of the generic keyspace and expiry commands against one database: DEL UNLINK
//! EXISTS TYPE RENAME RENAMENX KEYS SCAN DBSIZE RANDOMKEY FLUSHDB, EXPIRE* TTL PTTL EXPIRETIME
//! PEXPIRETIME PERSIST.
//!
//! Everything that lists keys walks the database in hash order, which is the same on every
//! replica; RANDOMKEY's choice comes from the caller's `random` (derived from the log index on
//! the apply path).

use bytes::Bytes;
use tinkerdb_resp::Frame;

use super::db::Db;
use super::{ApplyCtx, ReadCtx};
use crate::command::{Command, ExpireCondition, ScanArgs, TimeUnit};
use crate::error::ExecError;
use crate::glob;

/// Answers a read-only generic command; `None` if `cmd` is not one.
pub(super) fn read(db: &Db, cmd: &Command, ctx: &ReadCtx) -> Option<Frame> {
    let now = ctx.now_ms;
    Some(match cmd {
        Command::Exists { keys } => {
            Frame::Integer(keys.iter().filter(|k| db.get(k, now).is_some()).count() as i64)
        }
        Command::Type { key } => Frame::Simple(
            db.get(key, now)
                .map_or("none", |e| e.value.type_name())
                .to_string(),
        ),
        Command::Ttl { key, unit } => time_frame(db, key, now, *unit, false),
        Command::ExpireTime { key, unit } => time_frame(db, key, now, *unit, true),
        Command::Keys { pattern } => keys(db, pattern, now),
        Command::Scan(args) => scan(db, args, now),
        Command::DbSize => Frame::Integer(db.len() as i64),
        Command::RandomKey => random_key(db, ctx.random, now),
        _ => return None,
    })
}

/// TTL/PTTL (`absolute == false`) and EXPIRETIME/PEXPIRETIME: -2 no key, -1 no deadline.
fn time_frame(db: &Db, key: &[u8], now_ms: u64, unit: TimeUnit, absolute: bool) -> Frame {
    let Some(e) = db.get(key, now_ms) else {
        return Frame::Integer(-2);
    };
    if e.deadline_ms == 0 {
        return Frame::Integer(-1);
    }
    let ms = if absolute {
        e.deadline_ms
    } else {
        e.deadline_ms.saturating_sub(now_ms)
    };
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Frame::Integer(match unit {
        TimeUnit::Millis => ms,
        TimeUnit::Seconds => ms.saturating_add(500) / 1000,
    })
}

fn keys(db: &Db, pattern: &[u8], now_ms: u64) -> Frame {
    let found = db
        .buckets_from(0)
        .flat_map(|(_, b)| b.entries())
        .filter(|e| e.is_live(now_ms) && glob::matches(pattern, &e.key))
        .map(|e| Frame::Bulk(Bytes::copy_from_slice(&e.key)))
        .collect();
    Frame::Array(found)
}

/// SCAN: visits up to `count` hash positions from the cursor; the reply cursor is the next
/// position, or 0 when the walk is over. Positions never move, so a key present for the whole
/// scan is returned, and no key twice in one scan (the cursor only moves forward).
fn scan(db: &Db, args: &ScanArgs, now_ms: u64) -> Frame {
    let mut found = Vec::new();
    let mut next_cursor = 0;
    for (visited, (hash, bucket)) in (0u64..).zip(db.buckets_from(args.cursor)) {
        if visited == args.count {
            next_cursor = hash;
            break;
        }
        for e in bucket.entries() {
            let type_ok = args
                .type_filter
                .as_deref()
                .map_or(true, |t| t == e.value.type_name());
            let pattern_ok = args
                .pattern
                .as_deref()
                .map_or(true, |p| glob::matches(p, &e.key));
            if e.is_live(now_ms) && type_ok && pattern_ok {
                found.push(Frame::Bulk(Bytes::copy_from_slice(&e.key)));
            }
        }
    }
    Frame::Array(vec![
        Frame::bulk(next_cursor.to_string()),
        Frame::Array(found),
    ])
}

/// The first live key at or after hash position `random`, wrapping around.
/// Cost grows with the run of expired keys it must skip; active expiry keeps that short.
fn random_key(db: &Db, random: u64, now_ms: u64) -> Frame {
    let after = db.buckets_from(random);
    let before = db.buckets_from(0).take_while(|(h, _)| *h < random);
    after
        .chain(before)
        .flat_map(|(_, b)| b.entries())
        .find(|e| e.is_live(now_ms))
        .map_or(Frame::Null, |e| Frame::Bulk(Bytes::copy_from_slice(&e.key)))
}

/// Applies a generic write; `None` if `cmd` is not one.
pub(super) fn write(db: &mut Db, cmd: &Command, ctx: &ApplyCtx) -> Option<Frame> {
    let result = match cmd {
        Command::Del { keys } | Command::Unlink { keys } => {
            let deleted = keys.iter().filter(|k| db.remove(k).is_some()).count();
            Ok(Frame::Integer(deleted as i64))
        }
        Command::Rename { key, newkey } => rename(db, key, newkey, false, ctx),
        Command::RenameNx { key, newkey } => rename(db, key, newkey, true, ctx),
        Command::Expire {
            key,
            when,
            unit,
            absolute,
            condition,
        } => {
            let when_ms = expire_deadline(*when, *unit, *absolute, ctx.now_ms, cmd.name());
            when_ms.map(|w| expire(db, key, w, *condition, ctx))
        }
        Command::Persist { key } => {
            let has_deadline = db.get_any(key).is_some_and(|e| e.deadline_ms != 0);
            Ok(Frame::Integer(i64::from(
                has_deadline && db.set_deadline(key, 0, ctx.index),
            )))
        }
        Command::FlushDb => {
            db.clear();
            Ok(Frame::ok())
        }
        _ => return None,
    };
    Some(result.unwrap_or_else(ExecError::into_frame))
}

fn rename(
    db: &mut Db,
    key: &[u8],
    newkey: &[u8],
    nx: bool,
    ctx: &ApplyCtx,
) -> Result<Frame, ExecError> {
    let done = if nx { Frame::Integer(1) } else { Frame::ok() };
    let refused = if nx { Frame::Integer(0) } else { Frame::ok() };
    if db.get_any(key).is_none() {
        return Err(ExecError::NoSuchKey);
    }
    if key == newkey {
        return Ok(refused);
    }
    if nx && db.get_any(newkey).is_some() {
        return Ok(refused);
    }
    let Some(entry) = db.remove(key) else {
        return Err(ExecError::NoSuchKey);
    };
    db.insert(newkey, entry.value, entry.deadline_ms, ctx.index);
    Ok(done)
}

/// The absolute deadline of an EXPIRE-family command, with Redis's overflow checks.
fn expire_deadline(
    when: i64,
    unit: TimeUnit,
    absolute: bool,
    now_ms: u64,
    name: &'static str,
) -> Result<i64, ExecError> {
    let invalid = || ExecError::InvalidExpireTime(name);
    let ms = match unit {
        TimeUnit::Seconds => when.checked_mul(1000).ok_or_else(invalid)?,
        TimeUnit::Millis => when,
    };
    let base = if absolute {
        0
    } else {
        i64::try_from(now_ms).map_err(|_| invalid())?
    };
    ms.checked_add(base).ok_or_else(invalid)
}

fn expire(db: &mut Db, key: &[u8], when_ms: i64, c: ExpireCondition, ctx: &ApplyCtx) -> Frame {
    let Some(e) = db.get_any(key) else {
        return Frame::Integer(0);
    };
    let current = (e.deadline_ms != 0).then_some(e.deadline_ms as i64);
    let refused = (c.nx && current.is_some())
        || (c.xx && current.is_none())
        || (c.gt && current.map_or(true, |cur| when_ms <= cur))
        || (c.lt && current.is_some_and(|cur| when_ms >= cur));
    if refused {
        return Frame::Integer(0);
    }
    if when_ms <= ctx.now_ms as i64 {
        db.remove(key);
    } else {
        db.set_deadline(key, when_ms as u64, ctx.index);
    }
    Frame::Integer(1)
}
