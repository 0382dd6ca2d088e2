//! The registry of connected clients, for `CLIENT LIST/INFO/KILL`, INFO clients and the
//! `max_clients` limit. Each connection owns an `Arc<ClientState>` and updates it as it goes;
//! the registry only lists and signals them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

/// Longest client name accepted by `CLIENT SETNAME` and `HELLO SETNAME`.
pub const MAX_CLIENT_NAME_LEN: usize = 256;

/// One connection's externally visible state.
#[derive(Debug)]
pub struct ClientState {
    /// Unique, increasing id (`CLIENT ID`).
    pub id: u64,
    /// The client's address.
    pub addr: SocketAddr,
    /// Our address the client connected to.
    pub laddr: SocketAddr,
    /// When it connected.
    pub created: Instant,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Selected database.
    pub db: AtomicU8,
    /// Milliseconds after `created` of the last command.
    pub last_active_ms: AtomicU64,
    /// Set by `CLIENT KILL`; the connection closes at its next chance.
    pub killed: AtomicBool,
    /// Wakes the connection when it is killed.
    pub kill_signal: Notify,
    details: Mutex<ClientDetails>,
}

/// The string-valued parts of a client's state.
#[derive(Debug, Default, Clone)]
pub struct ClientDetails {
    /// `CLIENT SETNAME`.
    pub name: String,
    /// The authenticated user.
    pub user: String,
    /// The last command's name.
    pub last_cmd: String,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: String,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: String,
    /// Inside MULTI: how many commands are queued.
    pub multi: Option<usize>,
}

impl ClientState {
    /// Locks the string-valued details.
    pub fn details(&self) -> MutexGuard<'_, ClientDetails> {
        self.details.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the client killed and wakes its connection.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_signal.notify_one();
    }

    /// The `CLIENT LIST` / `CLIENT INFO` line, in Redis's field order.
    pub fn describe(&self) -> String {
        let d = self.details();
        let age = self.created.elapsed().as_secs();
        let idle = self
            .created
            .elapsed()
            .as_millis()
            .saturating_sub(self.last_active_ms.load(Ordering::Relaxed) as u128)
            / 1000;
        let (flags, multi) = match d.multi {
            Some(n) => ("x", n as i64),
            None => ("N", -1),
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={age} idle={idle} flags={flags} db={} sub=0 psub=0 ssub=0 multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            d.name,
            self.db.load(Ordering::Relaxed),
            if d.last_cmd.is_empty() { "NULL" } else { &d.last_cmd },
            d.user,
            self.resp.load(Ordering::Relaxed),
            d.lib_name,
            d.lib_ver,
        )
    }
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientState>>>,
}

impl ClientRegistry {
    /// Registers a new connection.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, user: &str) -> Arc<ClientState> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let state = Arc::new(ClientState {
            id,
            addr,
            laddr,
            created: Instant::now(),
            resp: AtomicU8::new(2),
            db: AtomicU8::new(0),
            last_active_ms: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            details: Mutex::new(ClientDetails {
                user: user.to_string(),
                ..Default::default()
            }),
        });
        self.lock().insert(id, Arc::clone(&state));
        state
    }

    /// Removes a closed connection.
    pub fn unregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// All clients, in id order.
    pub fn list(&self) -> Vec<Arc<ClientState>> {
        self.lock().values().cloned().collect()
    }

    /// Kills every client (shutdown).
    pub fn kill_all(&self) {
        for client in self.lock().values() {
            client.kill();
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ClientState>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}
