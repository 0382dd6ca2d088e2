//! The command table: metadata for every command TinkerDB answers, its own data commands and
//! the connection-level commands the server handles.
//!
//! Place in the data flow: [`crate::parse`] takes each command's arity from here (so arity errors
//! come from one source); the server answers COMMAND INFO / COMMAND DOCS / COMMAND COUNT from it
//! and derives ACL permissions from the categories (`@write` commands need a read-write role).
//!
//! The facts (arity, flags, key positions, ACL categories, summaries) are those of Redis 7's
//! `src/commands/*.json`, with Redis's derived values applied: implicit categories (`@write` for
//! write commands, `@read` for read-only ones, `@fast` or else `@slow`, `@admin` and
//! `@dangerous` for admin commands) and the legacy `(first, last, step)` key range. Flags and
//! categories are listed in the order Redis prints them.
//!
//! Invariant: [`all`] is sorted by name (checked by a test). [`position`] runs for every
//! request (the session passes its answer on to parsing, the write check and metrics), so it
//! goes through an index by name length and first letter, built on first use, instead of a
//! binary search of string compares.

use std::sync::OnceLock;

use tinkerdb_resp::Frame;

/// Metadata of one command or subcommand, as COMMAND INFO and COMMAND DOCS report it.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lowercase name; subcommands are `container|sub`, e.g. `client|list`.
    pub name: &'static str,
    /// Argument count including the name: exact if positive, minimum if negative.
    pub arity: i32,
    /// Redis command flags, lowercase (`write`, `readonly`, `fast`, `denyoom`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key (0: no keys).
    pub first_key: i32,
    /// Position of the last key (-1: the last argument).
    pub last_key: i32,
    /// Distance between keys (2 for MSET's key/value pairs).
    pub step: i32,
    /// ACL categories with their `@`, including `@read`/`@write`, which the server uses for roles.
    pub acl_categories: &'static [&'static str],
    /// One-line description, for COMMAND DOCS.
    pub summary: &'static str,
    /// The Redis version that introduced the command.
    pub since: &'static str,
    /// Redis's command group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    /// Time complexity, for COMMAND DOCS.
    pub complexity: &'static str,
    /// Subcommands of a container command (CLIENT, CONFIG, ACL, COMMAND, CLUSTER), else empty.
    pub subcommands: &'static [CommandSpec],
}

/// Longest command name in the table; a longer name is no command.
const NAME_LEN_MAX: usize = 32;

/// Looks a top-level command up by name, in any case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    position(name).map(|i| &COMMANDS[i])
}

/// The position of a top-level command in [`all`], by name in any case: a dense id for
/// per-command counters.
pub fn position(name: &[u8]) -> Option<usize> {
    let bucket = name_index().get(bucket_of(name)?)?;
    bucket
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|&(_, i)| usize::from(i))
}

/// Buckets per name length: one per first letter, one for anything else.
const BUCKETS_PER_LEN: usize = 27;

/// The bucket of names of this length and first letter (any case), if the length is possible.
/// Every request looks its name up once; a bucket holds a few names of the same length and
/// first letter, compared in place, which costs less than hashing a lowercased copy.
fn bucket_of(name: &[u8]) -> Option<usize> {
    let first = name.first()?.to_ascii_lowercase();
    if name.len() > NAME_LEN_MAX {
        return None;
    }
    let letter = if first.is_ascii_lowercase() {
        usize::from(first - b'a')
    } else {
        BUCKETS_PER_LEN - 1
    };
    Some(name.len() * BUCKETS_PER_LEN + letter)
}

/// The lowercase names of one length and first letter, each with its position in [`COMMANDS`].
type NameBucket = Vec<(&'static [u8], u16)>;

/// Names and positions in [`COMMANDS`] by (length, first letter), built once. The names sit
/// in the index itself, so a lookup reads a few adjacent entries, not one spec per candidate.
fn name_index() -> &'static [NameBucket] {
    static INDEX: OnceLock<Vec<NameBucket>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = vec![Vec::new(); (NAME_LEN_MAX + 1) * BUCKETS_PER_LEN];
        for (i, spec) in COMMANDS.iter().enumerate() {
            let bucket = bucket_of(spec.name.as_bytes()).expect("command names fit NAME_LEN_MAX");
            let position = u16::try_from(i).expect("fewer than 65536 commands");
            index[bucket].push((spec.name.as_bytes(), position));
        }
        index
    })
}

impl CommandSpec {
    /// Whether the command may change the keyspace (Redis's `write` flag).
    pub fn is_write(&self) -> bool {
        self.flags.contains(&"write")
    }
}

/// Looks a subcommand of `container` up by its own name (`list` for `CLIENT LIST`), any case.
pub fn lookup_subcommand(container: &CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    let prefix_len = container.name.len() + 1;
    lookup(container.name.as_bytes())?
        .subcommands
        .iter()
        .find(|spec| {
            spec.name
                .as_bytes()
                .get(prefix_len..)
                .is_some_and(|s| s.eq_ignore_ascii_case(sub))
        })
}

/// Every top-level command, sorted by name (COMMAND, COMMAND COUNT, COMMAND LIST).
pub fn all() -> &'static [CommandSpec] {
    COMMANDS
}

fn statuses(names: &[&str]) -> Vec<Frame> {
    names
        .iter()
        .map(|n| Frame::Simple((*n).to_string()))
        .collect()
}

/// One element of the COMMAND INFO reply, in Redis 7's layout: name, arity, flags, first key,
/// last key, step, ACL categories, tips, key specifications, subcommands.
pub fn command_info_frame(spec: &CommandSpec) -> Frame {
    Frame::Array(vec![
        Frame::bulk(spec.name),
        Frame::Integer(i64::from(spec.arity)),
        Frame::Set(statuses(spec.flags)),
        Frame::Integer(i64::from(spec.first_key)),
        Frame::Integer(i64::from(spec.last_key)),
        Frame::Integer(i64::from(spec.step)),
        Frame::Set(statuses(spec.acl_categories)),
        Frame::Set(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(spec.subcommands.iter().map(command_info_frame).collect()),
    ])
}

/// The value of one COMMAND DOCS entry (the caller pairs it with the name): a map of summary,
/// since, group, complexity and, for containers, subcommands. Arguments are not documented yet.
pub fn command_docs_frame(spec: &CommandSpec) -> Frame {
    let field = |k: &str, v: &'static str| (Frame::bulk(k.to_string()), Frame::bulk(v));
    let mut map = vec![
        field("summary", spec.summary),
        field("since", spec.since),
        field("group", spec.group),
        field("complexity", spec.complexity),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (Frame::bulk(s.name), command_docs_frame(s)))
            .collect();
        map.push((Frame::bulk("subcommands"), Frame::Map(subs)));
    }
    Frame::Map(map)
}

/// Subcommands of `CLIENT`, as Redis lists them under the container.
static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "client|getname",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns the name of the connection.",
        since: "2.6.9",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|id",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns the unique client ID of the connection.",
        since: "5.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|info",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns information about the connection.",
        since: "6.2.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|kill",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous", "@connection"],
        summary: "Terminates open connections.",
        since: "2.4.0",
        group: "connection",
        complexity: "O(N) where N is the number of client connections",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|list",
        arity: -2,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous", "@connection"],
        summary: "Lists open connections.",
        since: "2.4.0",
        group: "connection",
        complexity: "O(N) where N is the number of client connections",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|no-evict",
        arity: 3,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous", "@connection"],
        summary: "Sets the client eviction mode of the connection.",
        since: "7.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|no-touch",
        arity: 3,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary:
            "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        since: "7.2.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|reply",
        arity: 3,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Instructs the server whether to reply to commands.",
        since: "3.2.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|setinfo",
        arity: 4,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Sets information specific to the client or connection.",
        since: "7.2.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|setname",
        arity: 3,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Sets the connection name.",
        since: "2.6.9",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client|help",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
];

/// Subcommands of `CONFIG`, as Redis lists them under the container.
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "config|get",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Returns the effective values of configuration parameters.",
        since: "2.0.0",
        group: "server",
        complexity: "O(N) when N is the number of configuration parameters provided",
        subcommands: &[],
    },
    CommandSpec {
        name: "config|set",
        arity: -4,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Sets configuration parameters in-flight.",
        since: "2.0.0",
        group: "server",
        complexity: "O(N) when N is the number of configuration parameters provided",
        subcommands: &[],
    },
    CommandSpec {
        name: "config|resetstat",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Resets the server's statistics.",
        since: "2.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "config|rewrite",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Persists the effective configuration to file.",
        since: "2.8.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "config|help",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
];

/// Subcommands of `ACL`, as Redis lists them under the container.
static ACL_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "acl|cat",
        arity: -2,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Lists the ACL categories, or the commands inside a category.",
        since: "6.0.0",
        group: "server",
        complexity: "O(1) since the categories and commands are a fixed set.",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|deluser",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Deletes ACL users, and terminates their connections.",
        since: "6.0.0",
        group: "server",
        complexity: "O(1) amortized time considering the typical user.",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|getuser",
        arity: 3,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Lists the ACL rules of a user.",
        since: "6.0.0",
        group: "server",
        complexity:
            "O(N). Where N is the number of password, command and pattern rules that the user has.",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|list",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Dumps the effective rules in ACL file format.",
        since: "6.0.0",
        group: "server",
        complexity: "O(N). Where N is the number of configured users.",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|setuser",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Creates and modifies an ACL user and its rules.",
        since: "6.0.0",
        group: "server",
        complexity: "O(N). Where N is the number of rules provided.",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|users",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Lists all ACL users.",
        since: "6.0.0",
        group: "server",
        complexity: "O(N). Where N is the number of configured users.",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|whoami",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns the authenticated username of the current connection.",
        since: "6.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "acl|help",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns helpful text about the different subcommands.",
        since: "6.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
];

/// Subcommands of `COMMAND`, as Redis lists them under the container.
static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "command|count",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns a count of commands.",
        since: "2.8.13",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "command|docs",
        arity: -2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns documentary information about one, multiple or all commands.",
        since: "7.0.0",
        group: "server",
        complexity: "O(N) where N is the number of commands to look up",
        subcommands: &[],
    },
    CommandSpec {
        name: "command|info",
        arity: -2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns information about one, multiple or all commands.",
        since: "2.8.13",
        group: "server",
        complexity: "O(N) where N is the number of commands to look up",
        subcommands: &[],
    },
    CommandSpec {
        name: "command|list",
        arity: -2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns a list of command names.",
        since: "7.0.0",
        group: "server",
        complexity: "O(N) where N is the total number of Redis commands",
        subcommands: &[],
    },
    CommandSpec {
        name: "command|getkeys",
        arity: -3,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Extracts the key names from an arbitrary command.",
        since: "2.8.13",
        group: "server",
        complexity: "O(N) where N is the number of arguments to the command",
        subcommands: &[],
    },
    CommandSpec {
        name: "command|help",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
];

/// Subcommands of `CLUSTER`, as Redis lists them under the container.
static CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster|info",
        arity: 2,
        flags: &["stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns information about the state of a node.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "cluster|keyslot",
        arity: 3,
        flags: &["stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns the hash slot for a key.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(N) where N is the number of bytes in the key",
        subcommands: &[],
    },
    CommandSpec {
        name: "cluster|myid",
        arity: 2,
        flags: &["stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns the ID of a node.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "cluster|nodes",
        arity: 2,
        flags: &["stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns the cluster configuration for a node.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(N) where N is the total number of Cluster nodes",
        subcommands: &[],
    },
    CommandSpec {
        name: "cluster|shards",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns the mapping of cluster slots to shards.",
        since: "7.0.0",
        group: "cluster",
        complexity: "O(N) where N is the total number of cluster nodes",
        subcommands: &[],
    },
    CommandSpec {
        name: "cluster|slots",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns the mapping of cluster slots to nodes.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(N) where N is the total number of Cluster nodes",
        subcommands: &[],
    },
    CommandSpec {
        name: "cluster|help",
        arity: 2,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        group: "cluster",
        complexity: "O(1)",
        subcommands: &[],
    },
];

/// Every top-level command TinkerDB answers, sorted by name (the order COMMAND LIST prints).
static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "acl",
        arity: -2,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "A container for Access List Control commands.",
        since: "6.0.0",
        group: "server",
        complexity: "Depends on subcommand.",
        subcommands: ACL_SUBCOMMANDS,
    },
    CommandSpec {
        name: "append",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        group: "string",
        complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
        subcommands: &[],
    },
    CommandSpec {
        name: "auth",
        arity: -2,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Authenticates the connection.",
        since: "1.0.0",
        group: "connection",
        complexity: "O(N) where N is the number of passwords defined for the user",
        subcommands: &[],
    },
    CommandSpec {
        name: "bgsave",
        arity: -1,
        flags: &["admin", "noscript", "no_async_loading"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Asynchronously saves the database(s) to disk.",
        since: "1.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "client",
        arity: -2,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "A container for client connection commands.",
        since: "2.4.0",
        group: "connection",
        complexity: "Depends on subcommand.",
        subcommands: CLIENT_SUBCOMMANDS,
    },
    CommandSpec {
        name: "cluster",
        arity: -2,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "A container for Redis Cluster commands.",
        since: "3.0.0",
        group: "cluster",
        complexity: "Depends on subcommand.",
        subcommands: CLUSTER_SUBCOMMANDS,
    },
    CommandSpec {
        name: "command",
        arity: -1,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@connection"],
        summary: "Returns detailed information about all commands.",
        since: "2.8.13",
        group: "server",
        complexity: "O(N) where N is the total number of Redis commands",
        subcommands: COMMAND_SUBCOMMANDS,
    },
    CommandSpec {
        name: "config",
        arity: -2,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow"],
        summary: "A container for server configuration commands.",
        since: "2.0.0",
        group: "server",
        complexity: "Depends on subcommand.",
        subcommands: CONFIG_SUBCOMMANDS,
    },
    CommandSpec {
        name: "dbsize",
        arity: 1,
        flags: &["readonly", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Returns the number of keys in the database.",
        since: "1.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "decr",
        arity: 2,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "decrby",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "del",
        arity: -2,
        flags: &["write"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@slow"],
        summary: "Deletes one or more keys.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        subcommands: &[],
    },
    CommandSpec {
        name: "discard",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@transaction"],
        summary: "Discards a transaction.",
        since: "2.0.0",
        group: "transactions",
        complexity: "O(N), when N is the number of queued commands",
        subcommands: &[],
    },
    CommandSpec {
        name: "echo",
        arity: 2,
        flags: &["loading", "stale", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Returns the given string.",
        since: "1.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "exec",
        arity: 1,
        flags: &["noscript", "loading", "stale", "skip_slowlog"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@transaction"],
        summary: "Executes all commands in a transaction.",
        since: "1.2.0",
        group: "transactions",
        complexity: "Depends on commands in the transaction",
        subcommands: &[],
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Determines whether one or more keys exist.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(N) where N is the number of keys to check.",
        subcommands: &[],
    },
    CommandSpec {
        name: "expire",
        arity: -3,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Sets the expiration time of a key in seconds.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "expireat",
        arity: -3,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Sets the expiration time of a key to a Unix timestamp.",
        since: "1.2.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "expiretime",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Returns the expiration time of a key as a Unix timestamp.",
        since: "7.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: &["write"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        summary: "Removes all keys from all databases.",
        since: "1.0.0",
        group: "server",
        complexity: "O(N) where N is the total number of keys in all databases",
        subcommands: &[],
    },
    CommandSpec {
        name: "flushdb",
        arity: -1,
        flags: &["write"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@keyspace", "@write", "@slow", "@dangerous"],
        summary: "Remove all keys from the current database.",
        since: "1.0.0",
        group: "server",
        complexity: "O(N) where N is the number of keys in the selected database",
        subcommands: &[],
    },
    CommandSpec {
        name: "get",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        summary: "Returns the string value of a key.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "getdel",
        arity: 2,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Returns the string value of a key after deleting the key.",
        since: "6.2.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "getex",
        arity: -2,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Returns the string value of a key after setting its expiration time.",
        since: "6.2.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "getrange",
        arity: 4,
        flags: &["readonly"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@read", "@string", "@slow"],
        summary: "Returns a substring of the string stored at a key.",
        since: "2.4.0",
        group: "string",
        complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        subcommands: &[],
    },
    CommandSpec {
        name: "getset",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Returns the previous string value of a key after setting it to a new value.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "hello",
        arity: -1,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Handshakes with the Redis server.",
        since: "6.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "incr",
        arity: 2,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "incrby",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "incrbyfloat",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        since: "2.6.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "info",
        arity: -1,
        flags: &["loading", "stale"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@slow", "@dangerous"],
        summary: "Returns information and statistics about the server.",
        since: "1.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "keys",
        arity: 2,
        flags: &["readonly"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@keyspace", "@read", "@slow", "@dangerous"],
        summary: "Returns all key names that match a pattern.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        subcommands: &[],
    },
    CommandSpec {
        name: "lastsave",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@fast", "@dangerous"],
        summary: "Returns the Unix timestamp of the last successful save to disk.",
        since: "1.0.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        summary: "Atomically returns the string values of one or more keys.",
        since: "1.0.0",
        group: "string",
        complexity: "O(N) where N is the number of keys to retrieve.",
        subcommands: &[],
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: -1,
        step: 2,
        acl_categories: &["@write", "@string", "@slow"],
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
        group: "string",
        complexity: "O(N) where N is the number of keys to set.",
        subcommands: &[],
    },
    CommandSpec {
        name: "msetnx",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: -1,
        step: 2,
        acl_categories: &["@write", "@string", "@slow"],
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        since: "1.0.1",
        group: "string",
        complexity: "O(N) where N is the number of keys to set.",
        subcommands: &[],
    },
    CommandSpec {
        name: "multi",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@transaction"],
        summary: "Starts a transaction.",
        since: "1.2.0",
        group: "transactions",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "persist",
        arity: 2,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Removes the expiration time of a key.",
        since: "2.2.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "pexpire",
        arity: -3,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Sets the expiration time of a key in milliseconds.",
        since: "2.6.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "pexpireat",
        arity: -3,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        since: "2.6.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "pexpiretime",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        since: "7.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "ping",
        arity: -1,
        flags: &["fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Returns the server's liveliness response.",
        since: "1.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "psetex",
        arity: 4,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        since: "2.6.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "pttl",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Returns the expiration time in milliseconds of a key.",
        since: "2.6.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "quit",
        arity: -1,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Closes the connection.",
        since: "1.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "randomkey",
        arity: 1,
        flags: &["readonly"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@keyspace", "@read", "@slow"],
        summary: "Returns a random key name from the database.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "readonly",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Enables read-only queries for a connection to a Redis Cluster replica node.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "readwrite",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Enables read-write queries for a connection to a Reids Cluster replica node.",
        since: "3.0.0",
        group: "cluster",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "rename",
        arity: 3,
        flags: &["write"],
        first_key: 1,
        last_key: 2,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@slow"],
        summary: "Renames a key and overwrites the destination.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "renamenx",
        arity: 3,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: 2,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Renames a key only when the target key name doesn't exist.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "reset",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Resets the connection.",
        since: "6.2.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "save",
        arity: 1,
        flags: &["admin", "noscript", "no_async_loading", "no_multi"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@admin", "@slow", "@dangerous"],
        summary: "Synchronously saves the database(s) to disk.",
        since: "1.0.0",
        group: "server",
        complexity: "O(N) where N is the total number of keys in all databases",
        subcommands: &[],
    },
    CommandSpec {
        name: "scan",
        arity: -2,
        flags: &["readonly"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@keyspace", "@read", "@slow"],
        summary: "Iterates over the key names in the database.",
        since: "2.8.0",
        group: "generic",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        subcommands: &[],
    },
    CommandSpec {
        name: "select",
        arity: 2,
        flags: &["loading", "stale", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@connection"],
        summary: "Changes the selected database.",
        since: "1.0.0",
        group: "connection",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "setex",
        arity: 4,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "setnx",
        arity: 3,
        flags: &["write", "denyoom", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@fast"],
        summary: "Set the string value of a key only when the key doesn't exist.",
        since: "1.0.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "setrange",
        arity: 4,
        flags: &["write", "denyoom"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@write", "@string", "@slow"],
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        since: "2.2.0",
        group: "string",
        complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
        subcommands: &[],
    },
    CommandSpec {
        name: "strlen",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@read", "@string", "@fast"],
        summary: "Returns the length of a string value.",
        since: "2.2.0",
        group: "string",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "substr",
        arity: 4,
        flags: &["readonly"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@read", "@string", "@slow"],
        summary: "Returns a substring from a string value.",
        since: "1.0.0",
        group: "string",
        complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.",
        subcommands: &[],
    },
    CommandSpec {
        name: "time",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast"],
        summary: "Returns the server time.",
        since: "2.6.0",
        group: "server",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "ttl",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Returns the expiration time in seconds of a key.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "type",
        arity: 2,
        flags: &["readonly", "fast"],
        first_key: 1,
        last_key: 1,
        step: 1,
        acl_categories: &["@keyspace", "@read", "@fast"],
        summary: "Determines the type of value stored at a key.",
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "unlink",
        arity: -2,
        flags: &["write", "fast"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl_categories: &["@keyspace", "@write", "@fast"],
        summary: "Asynchronously deletes one or more keys.",
        since: "4.0.0",
        group: "generic",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
        subcommands: &[],
    },
    CommandSpec {
        name: "unwatch",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl_categories: &["@fast", "@transaction"],
        summary: "Forgets about watched keys of a transaction.",
        since: "2.2.0",
        group: "transactions",
        complexity: "O(1)",
        subcommands: &[],
    },
    CommandSpec {
        name: "watch",
        arity: -2,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl_categories: &["@fast", "@transaction"],
        summary: "Monitors changes to keys to determine the execution of a transaction.",
        since: "2.2.0",
        group: "transactions",
        complexity: "O(1) for every key.",
        subcommands: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lowercase() {
        for pair in all().windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for spec in all() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            let rw = spec.acl_categories.contains(&"@write") as u8
                + spec.acl_categories.contains(&"@read") as u8;
            assert!(rw <= 1, "{} is both read and write", spec.name);
            assert!(spec.name.len() <= NAME_LEN_MAX, "{} is too long", spec.name);
        }
    }

    #[test]
    fn every_command_is_found_at_its_position() {
        for (i, spec) in all().iter().enumerate() {
            assert_eq!(position(spec.name.to_ascii_uppercase().as_bytes()), Some(i));
        }
        assert_eq!(position(b""), None);
        assert_eq!(position(b"ge"), None);
        assert_eq!(position(b"gets"), None);
        assert_eq!(position(b"1et"), None);
        assert_eq!(position("g\u{e9}t".as_bytes()), None);
        assert_eq!(position(&[b'g'; NAME_LEN_MAX + 1]), None);
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        let client = lookup(b"client").expect("client");
        assert_eq!(
            lookup_subcommand(client, b"SETNAME").map(|s| s.name),
            Some("client|setname")
        );
    }

    #[test]
    fn facts_match_redis() {
        let get = lookup(b"get").expect("get");
        assert_eq!(
            (get.arity, get.first_key, get.last_key, get.step),
            (2, 1, 1, 1)
        );
        assert_eq!(get.flags, &["readonly", "fast"]);
        assert_eq!(get.acl_categories, &["@read", "@string", "@fast"]);
        let mset = lookup(b"mset").expect("mset");
        assert_eq!(
            (mset.arity, mset.first_key, mset.last_key, mset.step),
            (-3, 1, -1, 2)
        );
        let rename = lookup(b"rename").expect("rename");
        assert_eq!((rename.first_key, rename.last_key), (1, 2));
        let flushall = lookup(b"flushall").expect("flushall");
        assert!(flushall.acl_categories.contains(&"@dangerous"));
        let ping = lookup(b"ping").expect("ping");
        assert_eq!((ping.first_key, ping.last_key, ping.step), (0, 0, 0));
    }

    #[test]
    fn info_frame_layout() {
        let Frame::Array(items) = command_info_frame(lookup(b"set").expect("set")) else {
            panic!("not an array");
        };
        assert_eq!(items.len(), 10);
        assert_eq!(items[0], Frame::bulk("set"));
        assert_eq!(items[1], Frame::Integer(-3));
        let Frame::Map(docs) = command_docs_frame(lookup(b"config").expect("config")) else {
            panic!("not a map");
        };
        assert_eq!(
            docs.last().map(|(k, _)| k.clone()),
            Some(Frame::bulk("subcommands"))
        );
    }
}
