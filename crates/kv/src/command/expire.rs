//! Parsing of the expiry commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (with NX XX GT LT),
//! EXPIRETIME PEXPIRETIME TTL PTTL PERSIST.
//!
//! Like Redis, options are checked before the time argument; the time is checked for unit
//! overflow here, and for overflow against `now` on execute.

use bytes::Bytes;

use super::args::{int_arg, is};
use super::{Command, ExpireCondition, TimeUnit};
use crate::error::CommandError;

/// Parses `name` if it is an expiry command; `None` if it belongs to another group.
pub(super) fn parse(name: &str, args: &[Bytes]) -> Option<Result<Command, CommandError>> {
    let key = args[1].clone();
    let cmd = match name {
        "expire" => parse_expire(args, TimeUnit::Seconds, false, name),
        "pexpire" => parse_expire(args, TimeUnit::Millis, false, name),
        "expireat" => parse_expire(args, TimeUnit::Seconds, true, name),
        "pexpireat" => parse_expire(args, TimeUnit::Millis, true, name),
        "expiretime" => Ok(Command::ExpireTime {
            key,
            unit: TimeUnit::Seconds,
        }),
        "pexpiretime" => Ok(Command::ExpireTime {
            key,
            unit: TimeUnit::Millis,
        }),
        "ttl" => Ok(Command::Ttl {
            key,
            unit: TimeUnit::Seconds,
        }),
        "pttl" => Ok(Command::Ttl {
            key,
            unit: TimeUnit::Millis,
        }),
        "persist" => Ok(Command::Persist { key }),
        _ => return None,
    };
    Some(cmd)
}

fn parse_expire(
    args: &[Bytes],
    unit: TimeUnit,
    absolute: bool,
    name: &str,
) -> Result<Command, CommandError> {
    let condition = parse_condition(&args[3..])?;
    let when = int_arg(&args[2])?;
    if unit == TimeUnit::Seconds && !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
        return Err(CommandError::InvalidExpireTime(static_name(name)));
    }
    Ok(Command::Expire {
        key: args[1].clone(),
        when,
        unit,
        absolute,
        condition,
    })
}

fn static_name(name: &str) -> &'static str {
    match name {
        "expire" => "expire",
        "pexpire" => "pexpire",
        "expireat" => "expireat",
        _ => "pexpireat",
    }
}

fn parse_condition(options: &[Bytes]) -> Result<ExpireCondition, CommandError> {
    let mut c = ExpireCondition::default();
    for opt in options {
        if is(opt, "nx") {
            c.nx = true;
        } else if is(opt, "xx") {
            c.xx = true;
        } else if is(opt, "gt") {
            c.gt = true;
        } else if is(opt, "lt") {
            c.lt = true;
        } else {
            return Err(CommandError::UnsupportedOption(
                String::from_utf8_lossy(opt).into(),
            ));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(CommandError::ExpireNxConflict);
    }
    if c.gt && c.lt {
        return Err(CommandError::ExpireGtLtConflict);
    }
    Ok(c)
}
