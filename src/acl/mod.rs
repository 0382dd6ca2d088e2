//! # Users, tenants and roles
//!
//! A *tenant* is an isolated keyspace; a *user* belongs to one tenant and has one [`Role`].
//! `AUTH user pass` picks both for the connection. Users come from two places:
//! the config file (node-local, read at start) and `ACL SETUSER` (replicated through the Raft
//! log, so every node agrees). Replicated users take precedence over config users of the same
//! name.
//!
//! Passwords are only ever held as SHA-256 digests (as Redis's ACL does); the log and snapshots
//! carry digests, never plain text.
//!
//! Unless the config file defines users, the `default` user has full access to the `default`
//! tenant without a password, exactly like a fresh Redis, until `ACL SETUSER default ...`
//! redefines it (e.g. gives it a password or turns it off).

mod rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::UserConfig;

pub use rules::{parse_rules, AclRule};

/// The tenant of the `default` user and of every user created without `tenant=`.
pub const DEFAULT_TENANT: &str = "default";

/// The user every connection starts as.
pub const DEFAULT_USER: &str = "default";

/// Longest user or tenant name accepted, to keep names printable in logs and INFO.
pub const MAX_NAME_LEN: usize = 128;

/// What a user may do. Deliberately coarse: three roles cover what operators ask for and are
/// easy to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including user management, CONFIG SET and SAVE.
    Admin,
    /// Read and write data in the user's tenant.
    Readwrite,
    /// Read data in the user's tenant; any write gets `NOPERM`.
    Readonly,
}

impl Role {
    /// The name used in config files, `ACL SETUSER role=...` and `ACL GETUSER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Readwrite => "readwrite",
            Role::Readonly => "readonly",
        }
    }

    /// Parses a role name (case-insensitive).
    pub fn parse(name: &str) -> Option<Role> {
        match name.to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "readwrite" => Some(Role::Readwrite),
            "readonly" => Some(Role::Readonly),
            _ => None,
        }
    }
}

/// How much a command needs, decided by the server before it runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Reads data or the connection's own state.
    Read,
    /// Changes data.
    Write,
    /// Changes users, configuration or persistence, or affects other clients.
    Admin,
}

impl Role {
    /// Whether this role may run a command needing `access`.
    pub fn allows(self, access: Access) -> bool {
        match self {
            Role::Admin => true,
            Role::Readwrite => access <= Access::Write,
            Role::Readonly => access == Access::Read,
        }
    }
}

/// A SHA-256 password digest.
pub type PasswordHash = [u8; 32];

/// Hashes a password the way `AUTH` checks it.
pub fn hash_password(password: &[u8]) -> PasswordHash {
    Sha256::digest(password).into()
}

/// One user: who it is, how it proves it, where it works and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// A disabled user (`off`) cannot authenticate.
    pub enabled: bool,
    /// Any of these passwords is accepted.
    pub passwords: Vec<PasswordHash>,
    /// `nopass`: any password is accepted.
    pub nopass: bool,
    /// The keyspace the user sees.
    pub tenant: String,
    /// What the user may do.
    pub role: Role,
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: disabled, no password, default tenant,
    /// read-write (Redis creates users with no permissions; a role-less user would be useless
    /// here, and `off` already keeps it out until configured).
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            passwords: Vec::new(),
            nopass: false,
            tenant: DEFAULT_TENANT.to_string(),
            role: Role::Readwrite,
        }
    }

    /// The implicit `default` user of a node with no users configured.
    pub fn implicit_default() -> User {
        User {
            name: DEFAULT_USER.to_string(),
            enabled: true,
            passwords: Vec::new(),
            nopass: true,
            tenant: DEFAULT_TENANT.to_string(),
            role: Role::Admin,
        }
    }

    /// Builds a user from the config file, checking names and the password digest.
    pub fn from_config(config: &UserConfig) -> Result<User, String> {
        check_name("user name", &config.name)?;
        check_name("tenant", &config.tenant)?;
        let mut passwords = Vec::new();
        if let Some(password) = &config.password {
            passwords.push(hash_password(password.as_bytes()));
        }
        if let Some(hex_digest) = &config.password_sha256 {
            passwords.push(parse_hash(hex_digest).ok_or_else(|| {
                format!(
                    "user {}: password_sha256 must be 64 hex digits",
                    config.name
                )
            })?);
        }
        Ok(User {
            name: config.name.clone(),
            enabled: true,
            nopass: passwords.is_empty(),
            passwords,
            tenant: config.tenant.clone(),
            role: config.role,
        })
    }

    /// Whether `password` logs this user in.
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        // Compared in constant time and against every password, so the time taken says
        // nothing about how much of a digest matched, or which one.
        let digest = hash_password(password);
        self.passwords
            .iter()
            .fold(subtle::Choice::from(0), |found, p| found | p.ct_eq(&digest))
            .into()
    }

    /// Applies `ACL SETUSER` rules in order, as Redis does.
    pub fn apply_rules(&mut self, rules: &[AclRule]) {
        for rule in rules {
            match rule {
                AclRule::On => self.enabled = true,
                AclRule::Off => self.enabled = false,
                AclRule::AddPassword(hash) => {
                    if !self.passwords.contains(hash) {
                        self.passwords.push(*hash);
                    }
                    self.nopass = false;
                }
                AclRule::RemovePassword(hash) => self.passwords.retain(|p| p != hash),
                AclRule::NoPass => {
                    self.nopass = true;
                    self.passwords.clear();
                }
                AclRule::ResetPass => {
                    self.nopass = false;
                    self.passwords.clear();
                }
                AclRule::Reset => *self = User::new(&self.name),
                AclRule::Tenant(tenant) => self.tenant = tenant.clone(),
                AclRule::Role(role) => self.role = *role,
                AclRule::AllKeys => {}
            }
        }
    }

    /// The `ACL LIST` line for this user.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("user {}", self.name),
            (if self.enabled { "on" } else { "off" }).to_string(),
        ];
        if self.nopass {
            parts.push("nopass".to_string());
        }
        parts.extend(
            self.passwords
                .iter()
                .map(|p| format!("#{}", hex::encode(p))),
        );
        parts.push(format!("tenant={}", self.tenant));
        parts.push(format!("role={}", self.role.as_str()));
        parts.join(" ")
    }
}

/// Parses a 64-hex-digit SHA-256 digest.
pub fn parse_hash(text: &str) -> Option<PasswordHash> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// Checks a user or tenant name: printable, no spaces, bounded.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("{what} must have 1 to {MAX_NAME_LEN} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{what} `{name}` may only contain printable characters without spaces"
        ));
    }
    Ok(())
}

/// The replicated user table: part of the state machine, changed only by applied log entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTable {
    users: BTreeMap<String, User>,
}

impl UserTable {
    /// Applies `ACL SETUSER`: creates the user if needed, then applies the rules.
    pub fn set_user(&mut self, name: &str, rules: &[AclRule], base: Option<&User>) {
        let user = self
            .users
            .entry(name.to_string())
            .or_insert_with(|| base.cloned().unwrap_or_else(|| User::new(name)));
        user.apply_rules(rules);
    }

    /// Applies `ACL DELUSER`; returns whether the user existed.
    pub fn delete_user(&mut self, name: &str) -> bool {
        self.users.remove(name).is_some()
    }

    /// Looks a user up by name.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// All users, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
}

/// Resolves users from the replicated table first, then the config file, then the implicit
/// `default` user when no user is defined anywhere.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    config_users: BTreeMap<String, User>,
}

impl Directory {
    /// Builds the directory from the config file's users (already validated).
    pub fn new(config_users: &[UserConfig]) -> Directory {
        let config_users = config_users
            .iter()
            .filter_map(|u| User::from_config(u).ok())
            .map(|u| (u.name.clone(), u))
            .collect();
        Directory { config_users }
    }

    /// The user called `name`, as the cluster currently knows it.
    pub fn lookup(&self, table: &UserTable, name: &str) -> Option<User> {
        if let Some(user) = table.get(name) {
            return Some(user.clone());
        }
        if let Some(user) = self.config_users.get(name) {
            return Some(user.clone());
        }
        if name == DEFAULT_USER && self.config_users.is_empty() {
            // As in Redis, `default` exists until it is redefined (`ACL SETUSER default ...`),
            // except that defining users in the config file means the operator wants logins.
            return Some(User::implicit_default());
        }
        None
    }

    /// The user a new connection starts as: `default` if it needs no password, else none
    /// (the client must `AUTH` first).
    pub fn initial_user(&self, table: &UserTable) -> Option<User> {
        self.lookup(table, DEFAULT_USER)
            .filter(|u| u.enabled && u.nopass)
    }

    /// Whether any password-free `default` login exists (for `AUTH` with one argument).
    pub fn default_needs_password(&self, table: &UserTable) -> bool {
        self.lookup(table, DEFAULT_USER).is_some_and(|u| !u.nopass)
    }

    /// All users: replicated ones and config ones not shadowed by them.
    pub fn all(&self, table: &UserTable) -> Vec<User> {
        let mut users: BTreeMap<String, User> = self.config_users.clone();
        for user in table.iter() {
            users.insert(user.name.clone(), user.clone());
        }
        if self.config_users.is_empty() && !users.contains_key(DEFAULT_USER) {
            users.insert(DEFAULT_USER.to_string(), User::implicit_default());
        }
        users.into_values().collect()
    }

    /// The config-file definition of a user, used as the starting point when `ACL SETUSER`
    /// modifies a config user (the change is replicated; the file is not rewritten).
    pub fn config_user(&self, name: &str) -> Option<&User> {
        self.config_users.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_user(name: &str, password: &str, tenant: &str, role: Role) -> UserConfig {
        UserConfig {
            name: name.into(),
            password: Some(password.into()),
            password_sha256: None,
            tenant: tenant.into(),
            role,
        }
    }

    #[test]
    fn implicit_default_user_only_without_any_user() {
        let table = UserTable::default();
        let open = Directory::new(&[]);
        assert!(open.initial_user(&table).is_some());
        let closed = Directory::new(&[config_user("alice", "pw", "acme", Role::Readonly)]);
        assert!(closed.initial_user(&table).is_none());
        assert!(closed.lookup(&table, "default").is_none());
    }

    #[test]
    fn passwords_are_checked_by_digest() {
        let user =
            User::from_config(&config_user("alice", "pw", "acme", Role::Readonly)).expect("valid");
        assert!(user.accepts(b"pw"));
        assert!(!user.accepts(b"PW"));
        assert!(!user.describe().contains("pw "));
    }

    #[test]
    fn any_of_several_passwords_logs_in_and_a_disabled_user_never() {
        let mut user =
            User::from_config(&config_user("alice", "pw", "acme", Role::Readonly)).expect("valid");
        user.apply_rules(&[AclRule::AddPassword(hash_password(b"second"))]);
        assert!(user.accepts(b"pw"));
        assert!(user.accepts(b"second"));
        assert!(!user.accepts(b"third"));
        user.enabled = false;
        assert!(!user.accepts(b"pw"));
    }

    #[test]
    fn roles_order_access() {
        assert!(Role::Readonly.allows(Access::Read));
        assert!(!Role::Readonly.allows(Access::Write));
        assert!(Role::Readwrite.allows(Access::Write));
        assert!(!Role::Readwrite.allows(Access::Admin));
        assert!(Role::Admin.allows(Access::Admin));
    }

    #[test]
    fn replicated_users_shadow_config_users() {
        let dir = Directory::new(&[config_user("alice", "pw", "acme", Role::Readonly)]);
        let mut table = UserTable::default();
        let rules = parse_rules(&[
            b"on".as_slice(),
            b">new".as_slice(),
            b"role=admin".as_slice(),
        ])
        .expect("rules");
        table.set_user("alice", &rules, dir.config_user("alice"));
        let alice = dir.lookup(&table, "alice").expect("exists");
        assert_eq!(alice.role, Role::Admin);
        assert!(alice.accepts(b"new"));
        assert!(
            alice.accepts(b"pw"),
            "rules apply on top of the config definition"
        );
    }
}
