//! Execution of the string commands against one database.
//!
//! Reads take `&Db` and hide expired keys; writes take `&mut Db`, delete the expired keys they
//! touch first, and stamp every key they change with `ctx.index`. No clock: time is `now_ms`.

use bytes::Bytes;
use tinkerdb_resp::Frame;

use super::db::{Db, Entry};
use super::{ApplyCtx, Value};
use crate::command::{
    format_float, parse_f64, parse_i64, Command, Expiry, GetExOption, SetArgs, SetCondition,
};
use crate::error::ExecError;

/// Largest string APPEND and SETRANGE may build: Redis's default proto-max-bulk-len, 512 MiB.
pub const STRING_LEN_MAX: u64 = 512 * 1024 * 1024;

/// The string payload of an entry, or WRONGTYPE.
fn string_of(e: &Entry) -> Result<&[u8], ExecError> {
    match &e.value {
        Value::Str(s) => Ok(s),
    }
}

fn bulk(s: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s))
}

/// The value of a live key as a bulk reply, Null if absent, WRONGTYPE if not a string.
fn get_frame(db: &Db, key: &[u8], now_ms: u64) -> Frame {
    match db.get(key, now_ms).map(string_of) {
        None => Frame::Null,
        Some(Ok(s)) => bulk(s),
        Some(Err(e)) => e.into_frame(),
    }
}

/// Answers a read-only string command; `None` if `cmd` is not one.
pub(super) fn read(db: &Db, cmd: &Command, now_ms: u64) -> Option<Frame> {
    Some(match cmd {
        Command::Get { key } => get_frame(db, key, now_ms),
        Command::MGet { keys } => Frame::Array(
            keys.iter()
                .map(|k| match db.get(k, now_ms).map(string_of) {
                    Some(Ok(s)) => bulk(s),
                    _ => Frame::Null,
                })
                .collect(),
        ),
        Command::StrLen { key } => match db.get(key, now_ms).map(string_of) {
            None => Frame::Integer(0),
            Some(Ok(s)) => Frame::Integer(s.len() as i64),
            Some(Err(e)) => e.into_frame(),
        },
        Command::GetRange {
            key, start, end, ..
        } => match db.get(key, now_ms).map(string_of) {
            None => Frame::bulk(Bytes::new()),
            Some(Ok(s)) => bulk(substring(s, *start, *end)),
            Some(Err(e)) => e.into_frame(),
        },
        _ => return None,
    })
}

/// GETRANGE's index rules: negative indexes count from the end, both ends inclusive, clamped.
fn substring(s: &[u8], start: i64, end: i64) -> &[u8] {
    let len = s.len() as i64;
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return &[];
    }
    let start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    }
    .max(0)
    .min(len - 1);
    if start > end {
        return &[];
    }
    &s[start as usize..=end as usize]
}

/// Applies a string write; `None` if `cmd` is not one.
pub(super) fn write(db: &mut Db, cmd: &Command, ctx: &ApplyCtx) -> Option<Frame> {
    let result = match cmd {
        Command::Set(args) => set(db, args, ctx),
        Command::SetNx { key, value } => Ok(set_nx(db, key, value, ctx)),
        Command::SetEx { key, value, expiry } => set_ex(db, key, value, *expiry, cmd.name(), ctx),
        Command::GetSet { key, value } => get_set(db, key, value, ctx),
        Command::GetDel { key } => get_del(db, key),
        Command::GetEx { key, option } => get_ex(db, key, *option, ctx),
        Command::MSet { pairs } => {
            for (k, v) in pairs {
                db.insert(k, Value::Str(v[..].into()), 0, ctx.index);
            }
            Ok(Frame::ok())
        }
        Command::MSetNx { pairs } => Ok(mset_nx(db, pairs, ctx)),
        Command::Incr { key } => incr_by(db, key, Some(1), ctx),
        Command::Decr { key } => incr_by(db, key, Some(-1), ctx),
        Command::IncrBy { key, delta } => incr_by(db, key, Some(*delta), ctx),
        Command::DecrBy { key, delta } => incr_by(db, key, delta.checked_neg(), ctx),
        Command::IncrByFloat { key, delta } => incr_by_float(db, key, *delta, ctx),
        Command::Append { key, value } => append(db, key, value, ctx),
        Command::SetRange { key, offset, value } => set_range(db, key, *offset, value, ctx),
        _ => return None,
    };
    Some(result.unwrap_or_else(ExecError::into_frame))
}

/// Stores `value` with an absolute deadline (0 = none); a deadline already past deletes the key,
/// as Redis does for EXAT/PXAT in the past.
fn store(db: &mut Db, key: &[u8], value: &[u8], deadline_ms: u64, ctx: &ApplyCtx) {
    if deadline_ms != 0 && deadline_ms <= ctx.now_ms {
        db.remove(key);
    } else {
        db.insert(key, Value::Str(value.into()), deadline_ms, ctx.index);
    }
}

fn deadline(expiry: Expiry, ctx: &ApplyCtx, command: &'static str) -> Result<u64, ExecError> {
    let ms = expiry.deadline_ms(ctx.now_ms, command)?;
    u64::try_from(ms).map_err(|_| ExecError::InvalidExpireTime(command))
}

fn set(db: &mut Db, a: &SetArgs, ctx: &ApplyCtx) -> Result<Frame, ExecError> {
    let new_deadline = a.expiry.map(|e| deadline(e, ctx, "set")).transpose()?;
    let old = db.get_any(&a.key);
    let old_frame = match (a.get, old) {
        (false, _) => Frame::ok(),
        (true, None) => Frame::Null,
        (true, Some(e)) => bulk(string_of(e)?),
    };
    let found = old.is_some();
    let blocked = match a.condition {
        Some(SetCondition::Nx) => found,
        Some(SetCondition::Xx) => !found,
        None => false,
    };
    if blocked {
        return Ok(if a.get { old_frame } else { Frame::Null });
    }
    let deadline_ms = match new_deadline {
        Some(d) => d,
        None if a.keep_ttl => old.map_or(0, |e| e.deadline_ms),
        None => 0,
    };
    store(db, &a.key, &a.value, deadline_ms, ctx);
    Ok(old_frame)
}

fn set_nx(db: &mut Db, key: &[u8], value: &[u8], ctx: &ApplyCtx) -> Frame {
    if db.get_any(key).is_some() {
        return Frame::Integer(0);
    }
    store(db, key, value, 0, ctx);
    Frame::Integer(1)
}

fn set_ex(
    db: &mut Db,
    key: &[u8],
    value: &[u8],
    expiry: Expiry,
    name: &'static str,
    ctx: &ApplyCtx,
) -> Result<Frame, ExecError> {
    let deadline_ms = deadline(expiry, ctx, name)?;
    store(db, key, value, deadline_ms, ctx);
    Ok(Frame::ok())
}

fn get_set(db: &mut Db, key: &[u8], value: &[u8], ctx: &ApplyCtx) -> Result<Frame, ExecError> {
    let old = match db.get_any(key) {
        Some(e) => bulk(string_of(e)?),
        None => Frame::Null,
    };
    store(db, key, value, 0, ctx);
    Ok(old)
}

fn get_del(db: &mut Db, key: &[u8]) -> Result<Frame, ExecError> {
    let Some(e) = db.get_any(key) else {
        return Ok(Frame::Null);
    };
    let reply = bulk(string_of(e)?);
    db.remove(key);
    Ok(reply)
}

fn get_ex(
    db: &mut Db,
    key: &[u8],
    option: Option<GetExOption>,
    ctx: &ApplyCtx,
) -> Result<Frame, ExecError> {
    let Some(e) = db.get_any(key) else {
        return Ok(Frame::Null);
    };
    let reply = bulk(string_of(e)?);
    let had_deadline = e.deadline_ms != 0;
    match option {
        None => {}
        Some(GetExOption::NotInteger) => return Err(ExecError::NotInteger),
        Some(GetExOption::Persist) if had_deadline => {
            db.set_deadline(key, 0, ctx.index);
        }
        Some(GetExOption::Persist) => {}
        Some(GetExOption::Expire(expiry)) => {
            let deadline_ms = deadline(expiry, ctx, "getex")?;
            if deadline_ms <= ctx.now_ms {
                db.remove(key);
            } else {
                db.set_deadline(key, deadline_ms, ctx.index);
            }
        }
    }
    Ok(reply)
}

fn mset_nx(db: &mut Db, pairs: &[(Bytes, Bytes)], ctx: &ApplyCtx) -> Frame {
    if pairs.iter().any(|(k, _)| db.get_any(k).is_some()) {
        return Frame::Integer(0);
    }
    for (k, v) in pairs {
        db.insert(k, Value::Str(v[..].into()), 0, ctx.index);
    }
    Frame::Integer(1)
}

/// INCR, DECR, INCRBY, DECRBY. `delta` is `None` when DECRBY's negation overflowed.
fn incr_by(
    db: &mut Db,
    key: &[u8],
    delta: Option<i64>,
    ctx: &ApplyCtx,
) -> Result<Frame, ExecError> {
    let current = match db.get_any(key) {
        Some(e) => parse_i64(string_of(e)?).ok_or(ExecError::NotInteger)?,
        None => 0,
    };
    let delta = delta.ok_or(ExecError::Overflow)?;
    let new = current.checked_add(delta).ok_or(ExecError::Overflow)?;
    db.set_value(
        key,
        Value::Str(new.to_string().into_bytes().into()),
        ctx.index,
    );
    Ok(Frame::Integer(new))
}

fn incr_by_float(db: &mut Db, key: &[u8], delta: f64, ctx: &ApplyCtx) -> Result<Frame, ExecError> {
    let current = match db.get_any(key) {
        Some(e) => parse_f64(string_of(e)?).ok_or(ExecError::NotFloat)?,
        None => 0.0,
    };
    if delta.is_nan() {
        return Err(ExecError::NotFloat);
    }
    let new = current + delta;
    if !new.is_finite() {
        return Err(ExecError::NanOrInfinity);
    }
    let text = format_float(new);
    db.set_value(key, Value::Str(text.as_bytes().into()), ctx.index);
    Ok(Frame::bulk(text))
}

fn append(db: &mut Db, key: &[u8], value: &[u8], ctx: &ApplyCtx) -> Result<Frame, ExecError> {
    let new = match db.get_any(key) {
        None => value.to_vec(),
        Some(e) => {
            let old = string_of(e)?;
            if (old.len() + value.len()) as u64 > STRING_LEN_MAX {
                return Err(ExecError::StringTooLong);
            }
            [old, value].concat()
        }
    };
    let len = new.len() as i64;
    db.set_value(key, Value::Str(new.into()), ctx.index);
    Ok(Frame::Integer(len))
}

fn set_range(
    db: &mut Db,
    key: &[u8],
    offset: i64,
    value: &[u8],
    ctx: &ApplyCtx,
) -> Result<Frame, ExecError> {
    let old: &[u8] = match db.get_any(key) {
        None => &[],
        Some(e) => string_of(e)?,
    };
    if value.is_empty() {
        return Ok(Frame::Integer(old.len() as i64));
    }
    let offset = u64::try_from(offset).map_err(|_| ExecError::StringTooLong)?;
    let end = offset.saturating_add(value.len() as u64);
    if end > STRING_LEN_MAX {
        return Err(ExecError::StringTooLong);
    }
    let (offset, end) = (offset as usize, end as usize);
    let mut new = old.to_vec();
    if new.len() < end {
        new.resize(end, 0);
    }
    new[offset..end].copy_from_slice(value);
    let len = new.len() as i64;
    db.set_value(key, Value::Str(new.into()), ctx.index);
    Ok(Frame::Integer(len))
}
