//! Parsing of the string commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET
//! MSETNX INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE SUBSTR SETRANGE.
//!
//! The arity has been checked against the command table before these functions run, so fixed
//! positions may be indexed directly.

use bytes::Bytes;

use super::args::{int_arg, is, parse_f64, parse_i64};
use super::{Command, Expiry, GetExOption, SetArgs, SetCondition};
use crate::error::{CommandError, ExecError};

/// Parses `name` if it is a string command; `None` if it belongs to another group.
pub(super) fn parse(name: &str, args: &[Bytes]) -> Option<Result<Command, CommandError>> {
    let key = || args[1].clone();
    let arg = |i: usize| args[i].clone();
    let cmd = match name {
        "get" => Ok(Command::Get { key: key() }),
        "set" => parse_set(args),
        "setnx" => Ok(Command::SetNx {
            key: key(),
            value: arg(2),
        }),
        "setex" => parse_setex(args, Expiry::Ex, "setex"),
        "psetex" => parse_setex(args, Expiry::Px, "psetex"),
        "getset" => Ok(Command::GetSet {
            key: key(),
            value: arg(2),
        }),
        "getdel" => Ok(Command::GetDel { key: key() }),
        "getex" => parse_getex(args),
        "mget" => Ok(Command::MGet {
            keys: args[1..].to_vec(),
        }),
        "mset" | "msetnx" => parse_mset(name, args),
        "incr" => Ok(Command::Incr { key: key() }),
        "decr" => Ok(Command::Decr { key: key() }),
        "incrby" => int_arg(&args[2]).map(|delta| Command::IncrBy { key: key(), delta }),
        "decrby" => parse_decrby(args),
        "incrbyfloat" => parse_f64(&args[2])
            .map(|delta| Command::IncrByFloat { key: key(), delta })
            .ok_or(CommandError::NotFloat),
        "append" => Ok(Command::Append {
            key: key(),
            value: arg(2),
        }),
        "strlen" => Ok(Command::StrLen { key: key() }),
        "getrange" | "substr" => parse_getrange(args, name == "substr"),
        "setrange" => parse_setrange(args),
        _ => return None,
    };
    Some(cmd)
}

/// Builds an expiry option from its value.
type ExpiryKind = fn(i64) -> Expiry;

/// The constructor for an expiry option name (`EX`, `PX`, `EXAT`, `PXAT`, any case).
fn expiry_kind(opt: &[u8]) -> Option<ExpiryKind> {
    const KINDS: [(&str, ExpiryKind); 4] = [
        ("ex", Expiry::Ex),
        ("px", Expiry::Px),
        ("exat", Expiry::ExAt),
        ("pxat", Expiry::PxAt),
    ];
    KINDS
        .iter()
        .find(|(name, _)| is(opt, name))
        .map(|(_, kind)| *kind)
}

/// Option bits of SET/GETEX, mirroring Redis's conflict rules option by option.
#[derive(Default)]
struct SetFlags {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expiry: Option<Expiry>,
}

impl SetFlags {
    fn has_expiry_other_than(&self, kind: fn(i64) -> Expiry) -> bool {
        self.expiry
            .is_some_and(|e| std::mem::discriminant(&e) != std::mem::discriminant(&kind(0)))
    }
}

/// Parses the options after the key (GETEX, `is_set == false`) or value (SET).
/// Returns the flags and the raw expiry text, whose integer check belongs to the caller.
fn parse_set_options(
    options: &[Bytes],
    is_set: bool,
) -> Result<(SetFlags, Option<&Bytes>), CommandError> {
    let mut f = SetFlags::default();
    let mut raw_expiry = None;
    let mut i = 0;
    while i < options.len() {
        let opt = &options[i][..];
        let next = options.get(i + 1);
        let expiry_kind = expiry_kind(opt);
        if is_set && is(opt, "nx") && !f.xx {
            f.nx = true;
        } else if is_set && is(opt, "xx") && !f.nx {
            f.xx = true;
        } else if is_set && is(opt, "get") {
            f.get = true;
        } else if is_set && is(opt, "keepttl") && !f.persist && f.expiry.is_none() {
            f.keep_ttl = true;
        } else if !is_set && is(opt, "persist") && f.expiry.is_none() && !f.keep_ttl {
            f.persist = true;
        } else if let (Some(kind), Some(value)) = (expiry_kind, next) {
            if f.keep_ttl || f.persist || f.has_expiry_other_than(kind) {
                return Err(CommandError::Syntax);
            }
            f.expiry = Some(kind(0));
            raw_expiry = Some(value);
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    Ok((f, raw_expiry))
}

fn with_value(kind: Expiry, v: i64) -> Expiry {
    match kind {
        Expiry::Ex(_) => Expiry::Ex(v),
        Expiry::Px(_) => Expiry::Px(v),
        Expiry::ExAt(_) => Expiry::ExAt(v),
        Expiry::PxAt(_) => Expiry::PxAt(v),
    }
}

fn parse_set(args: &[Bytes]) -> Result<Command, CommandError> {
    let (flags, raw) = parse_set_options(&args[3..], true)?;
    let expiry = match (flags.expiry, raw) {
        (Some(kind), Some(raw)) => {
            let e = with_value(kind, int_arg(raw)?);
            e.check()
                .map_err(|_| CommandError::InvalidExpireTime("set"))?;
            Some(e)
        }
        _ => None,
    };
    let condition = match (flags.nx, flags.xx) {
        (true, _) => Some(SetCondition::Nx),
        (_, true) => Some(SetCondition::Xx),
        _ => None,
    };
    Ok(Command::Set(Box::new(SetArgs {
        key: args[1].clone(),
        value: args[2].clone(),
        expiry,
        keep_ttl: flags.keep_ttl,
        condition,
        get: flags.get,
    })))
}

fn parse_setex(
    args: &[Bytes],
    kind: fn(i64) -> Expiry,
    name: &'static str,
) -> Result<Command, CommandError> {
    let expiry = kind(int_arg(&args[2])?);
    expiry
        .check()
        .map_err(|_| CommandError::InvalidExpireTime(name))?;
    Ok(Command::SetEx {
        key: args[1].clone(),
        value: args[3].clone(),
        expiry,
    })
}

fn parse_getex(args: &[Bytes]) -> Result<Command, CommandError> {
    let (flags, raw) = parse_set_options(&args[2..], false)?;
    let option = match (flags.expiry, raw) {
        (Some(kind), Some(raw)) => Some(match parse_i64(raw) {
            Some(v) => GetExOption::Expire(with_value(kind, v)),
            None => GetExOption::NotInteger,
        }),
        _ if flags.persist => Some(GetExOption::Persist),
        _ => None,
    };
    Ok(Command::GetEx {
        key: args[1].clone(),
        option,
    })
}

fn parse_mset(name: &str, args: &[Bytes]) -> Result<Command, CommandError> {
    if args.len() % 2 == 0 {
        return Err(CommandError::WrongArity(name.to_string()));
    }
    let pairs = args[1..]
        .chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    Ok(if name == "mset" {
        Command::MSet { pairs }
    } else {
        Command::MSetNx { pairs }
    })
}

fn parse_decrby(args: &[Bytes]) -> Result<Command, CommandError> {
    let delta = int_arg(&args[2])?;
    if delta == i64::MIN {
        return Err(CommandError::DecrementOverflow);
    }
    Ok(Command::DecrBy {
        key: args[1].clone(),
        delta,
    })
}

fn parse_getrange(args: &[Bytes], substr: bool) -> Result<Command, CommandError> {
    let start = int_arg(&args[2])?;
    let end = int_arg(&args[3])?;
    Ok(Command::GetRange {
        key: args[1].clone(),
        start,
        end,
        substr,
    })
}

fn parse_setrange(args: &[Bytes]) -> Result<Command, CommandError> {
    let offset = int_arg(&args[2])?;
    if offset < 0 {
        return Err(CommandError::OffsetOutOfRange);
    }
    Ok(Command::SetRange {
        key: args[1].clone(),
        offset,
        value: args[3].clone(),
    })
}

impl Expiry {
    /// The checks Redis makes before it knows the time: positive, and seconds convertible to
    /// milliseconds without overflow.
    fn check(self) -> Result<(), ()> {
        let (v, seconds) = self.raw();
        if v <= 0 || (seconds && v > i64::MAX / 1000) {
            return Err(());
        }
        Ok(())
    }

    fn raw(self) -> (i64, bool) {
        match self {
            Expiry::Ex(v) | Expiry::ExAt(v) => (v, true),
            Expiry::Px(v) | Expiry::PxAt(v) => (v, false),
        }
    }

    /// The absolute deadline in Unix milliseconds, from the log entry's `now_ms`. Errors carry
    /// the command name, as Redis's "invalid expire time in '...' command".
    pub(crate) fn deadline_ms(self, now_ms: u64, command: &'static str) -> Result<i64, ExecError> {
        let invalid = ExecError::InvalidExpireTime(command);
        self.check().map_err(|_| invalid.clone())?;
        let (v, seconds) = self.raw();
        let ms = if seconds { v * 1000 } else { v };
        match self {
            Expiry::ExAt(_) | Expiry::PxAt(_) => Ok(ms),
            Expiry::Ex(_) | Expiry::Px(_) => {
                let now = i64::try_from(now_ms).map_err(|_| invalid.clone())?;
                ms.checked_add(now).ok_or(invalid)
            }
        }
    }
}
