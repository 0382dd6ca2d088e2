//! Parsing of `ACL SETUSER` rules. Redis's key/channel/command rules that grant everything are
//! accepted (clients send them); finer ones are refused, because TinkerDB isolates by tenant and
//! role rather than by key pattern.

use serde::{Deserialize, Serialize};

use super::{check_name, hash_password, parse_hash, PasswordHash, Role};

/// One parsed `ACL SETUSER` rule, ready to be replicated (passwords already hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclRule {
    /// `on`: the user may log in.
    On,
    /// `off`: the user may not log in.
    Off,
    /// `>password` or `#digest`.
    AddPassword(PasswordHash),
    /// `<password` or `!digest`.
    RemovePassword(PasswordHash),
    /// `nopass`: any password works.
    NoPass,
    /// `resetpass`: no password works until one is added.
    ResetPass,
    /// `reset`: back to a fresh, disabled user.
    Reset,
    /// `tenant=<name>` (TinkerDB): the user's keyspace.
    Tenant(String),
    /// `~*`, `allkeys`, `&*`, ...: every key of the tenant, which is always the case; accepted
    /// because clients and tools send it.
    AllKeys,
    /// `role=<admin|readwrite|readonly>` (TinkerDB), or Redis's `+@all`/`allcommands` (admin),
    /// `-@write`/`+@read` (readonly) shorthands.
    Role(Role),
}

/// Parses rules; the error is the full Redis-style message for the client.
pub fn parse_rules(args: &[&[u8]]) -> Result<Vec<AclRule>, String> {
    args.iter().map(|arg| parse_rule(arg)).collect()
}

fn parse_rule(arg: &[u8]) -> Result<AclRule, String> {
    let text = String::from_utf8_lossy(arg);
    let error = |why: &str| format!("ERR Error in ACL SETUSER modifier '{text}': {why}");
    let lower = text.to_ascii_lowercase();
    let rule = match lower.as_str() {
        "on" => AclRule::On,
        "off" => AclRule::Off,
        "nopass" => AclRule::NoPass,
        "resetpass" => AclRule::ResetPass,
        "reset" => AclRule::Reset,
        "+@all" | "allcommands" => AclRule::Role(Role::Admin),
        "-@write" | "+@read" => AclRule::Role(Role::Readonly),
        "~*" | "allkeys" | "%rw~*" | "&*" | "allchannels" | "resetkeys" | "resetchannels" => {
            AclRule::AllKeys
        }
        _ => return parse_valued_rule(arg, &text, &error),
    };
    Ok(rule)
}

fn parse_valued_rule(
    arg: &[u8],
    text: &str,
    error: &dyn Fn(&str) -> String,
) -> Result<AclRule, String> {
    match arg.first() {
        Some(b'>') => Ok(AclRule::AddPassword(hash_password(&arg[1..]))),
        Some(b'<') => Ok(AclRule::RemovePassword(hash_password(&arg[1..]))),
        Some(b'#') => parse_hash(&text[1..])
            .map(AclRule::AddPassword)
            .ok_or_else(|| error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")),
        Some(b'!') => parse_hash(&text[1..])
            .map(AclRule::RemovePassword)
            .ok_or_else(|| error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")),
        _ => {
            if let Some(tenant) = text.strip_prefix("tenant=") {
                check_name("tenant", tenant).map_err(|e| error(&e))?;
                return Ok(AclRule::Tenant(tenant.to_string()));
            }
            if let Some(role) = text.strip_prefix("role=") {
                return Role::parse(role)
                    .map(AclRule::Role)
                    .ok_or_else(|| error("role must be admin, readwrite or readonly"));
            }
            Err(error("Syntax error"))
        }
    }
}
