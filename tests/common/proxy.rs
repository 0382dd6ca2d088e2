//! Fault-injecting TCP proxies between the peer ports of a test cluster.
//!
//! Place in the data flow: node A's Raft transport dials the address `--initial-cluster` gives
//! for node B. The [`Network`] puts a [`Proxy`] there (one per destination node) that forwards to
//! B's real `--peer-listen` port. Every node gets the same `--initial-cluster` text (the cluster
//! id is its hash), so every node dials the same proxy for B; the proxy tells the dialers apart
//! by the `from` field of the transport's handshake, the first frame of each connection:
//!
//! ```text
//! [u32 len = 36][u32 crc32c]["TKDBPEER" | u32 version | u64 cluster | u64 from | u64 to]
//! ```
//!
//! Peer connections are one-way (the dialer sends, the acceptor receives), so one connection is
//! one directed link `from -> to`, and a switch per (from, to) pair can cut any link, including
//! one direction only. A [`Fault`] on a link:
//! - [`Fault::Refuse`]: open connections are closed and new ones are closed right after the
//!   handshake (the dialer sees a reset and reconnects with backoff);
//! - [`Fault::Blackhole`]: connections stay open but the bytes are swallowed, like a network that
//!   silently drops packets (the dialer notices nothing).
//!
//! Healing a link closes its blackholed connections, so what was swallowed never leaves a torn
//! frame behind: the dialer reconnects and starts with a fresh handshake.
//!
//! Invariants and limits: only 127.0.0.1; at most [`CONNECTIONS_MAX`] open connections per
//! proxy (more are closed at once); every blocking call has a timeout ([`IO_POLL`]) so threads
//! see the switches and the stop flag; dropping the `Network` stops and joins every thread.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Most connections one proxy keeps open; a cluster of n nodes needs n - 1 per proxy.
pub const CONNECTIONS_MAX: usize = 64;
/// How often blocked threads wake up to look at the switches and the stop flag.
const IO_POLL: Duration = Duration::from_millis(20);
/// Time the proxy allows for the handshake frame and for dialing the real peer port.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// A write that makes no progress for this long closes the connection (a stalled receiver).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Handshake frame: 8-byte header plus the 36-byte payload.
const HANDSHAKE_BYTES: usize = 8 + 36;
/// Offset of the `from` node id in the handshake frame.
const HANDSHAKE_FROM_AT: usize = 8 + 20;
/// Copy buffer per direction.
const BUFFER_BYTES: usize = 64 * 1024;

/// What a link does to traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close connections; refuse new ones after their handshake.
    Refuse,
    /// Keep connections open and drop every byte.
    Blackhole,
}

/// The switches of every link, shared by all proxies of a [`Network`].
#[derive(Default)]
struct Switches {
    faults: Mutex<HashMap<(u64, u64), Fault>>,
    /// Bumped by every change, so pumps re-read the switches only when something changed.
    version: AtomicUsize,
}

impl Switches {
    fn get(&self, from: u64, to: u64) -> Option<Fault> {
        self.faults
            .lock()
            .expect("switches lock")
            .get(&(from, to))
            .copied()
    }

    fn set(&self, from: u64, to: u64, fault: Option<Fault>) {
        let mut faults = self.faults.lock().expect("switches lock");
        match fault {
            Some(fault) => faults.insert((from, to), fault),
            None => faults.remove(&(from, to)),
        };
        self.version.fetch_add(1, Ordering::SeqCst);
    }
}

/// The proxies of one cluster: one per node, in front of its peer port.
pub struct Network {
    proxies: HashMap<u64, Proxy>,
    switches: Arc<Switches>,
}

impl Network {
    /// Starts a proxy for each `(node id, real peer address)`.
    pub fn start(members: &[(usize, SocketAddr)]) -> Network {
        let switches = Arc::new(Switches::default());
        let proxies = members
            .iter()
            .map(|&(id, target)| {
                let proxy = Proxy::start(id as u64, target, Arc::clone(&switches));
                (id as u64, proxy)
            })
            .collect();
        Network { proxies, switches }
    }

    /// The address other nodes must dial to reach node `id` (its `--initial-cluster` entry).
    pub fn proxy_addr(&self, id: usize) -> SocketAddr {
        self.proxies
            .get(&(id as u64))
            .unwrap_or_else(|| panic!("no proxy for node {id}"))
            .addr
    }

    /// Applies `fault` to the link `from -> to` (one direction).
    pub fn cut(&self, from: usize, to: usize, fault: Fault) {
        assert_ne!(from, to, "a node has no link to itself");
        self.switches.set(from as u64, to as u64, Some(fault));
    }

    /// Restores the link `from -> to`.
    pub fn heal(&self, from: usize, to: usize) {
        self.switches.set(from as u64, to as u64, None);
    }

    /// Cuts every link between the two sides, both directions.
    pub fn partition(&self, side_a: &[usize], side_b: &[usize], fault: Fault) {
        for &a in side_a {
            for &b in side_b {
                self.cut(a, b, fault);
                self.cut(b, a, fault);
            }
        }
    }

    /// Cuts node `id` off from every other node, both directions.
    pub fn isolate(&self, id: usize, fault: Fault) {
        let others: Vec<usize> = self.ids().into_iter().filter(|&o| o != id).collect();
        self.partition(&[id], &others, fault);
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        let ids = self.ids();
        for &from in &ids {
            for &to in ids.iter().filter(|&&to| to != from) {
                self.heal(from, to);
            }
        }
    }

    /// Connections the proxy in front of `to` has accepted from `from`, for tests that want
    /// to see that traffic flows.
    pub fn connections_seen(&self, from: usize, to: usize) -> usize {
        self.proxies[&(to as u64)]
            .seen
            .lock()
            .expect("seen lock")
            .get(&(from as u64))
            .copied()
            .unwrap_or(0)
    }

    fn ids(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = self.proxies.keys().map(|&id| id as usize).collect();
        ids.sort_unstable();
        ids
    }
}

/// One listener in front of one node's peer port.
struct Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    /// Connections accepted per dialing node id.
    seen: Arc<Mutex<HashMap<u64, usize>>>,
}

/// What one connection's threads share.
struct Link {
    to: u64,
    target: SocketAddr,
    switches: Arc<Switches>,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    seen: Arc<Mutex<HashMap<u64, usize>>>,
}

impl Proxy {
    fn start(to: u64, target: SocketAddr, switches: Arc<Switches>) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a proxy port");
        listener
            .set_nonblocking(true)
            .expect("make the proxy listener non-blocking");
        let addr = listener.local_addr().expect("proxy local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let link = Arc::new(Link {
            to,
            target,
            switches,
            stop: Arc::clone(&stop),
            open: Arc::new(AtomicUsize::new(0)),
            seen: Arc::clone(&seen),
        });
        let acceptor = thread::Builder::new()
            .name(format!("proxy-to-{to}"))
            .spawn(move || accept_loop(&listener, &link))
            .expect("spawn the proxy acceptor");
        Proxy {
            addr,
            stop,
            acceptor: Some(acceptor),
            seen,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts until stopped; each connection gets a thread that joins its two pumps, and the
/// acceptor joins those before it returns.
fn accept_loop(listener: &TcpListener, link: &Arc<Link>) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !link.stop.load(Ordering::SeqCst) {
        connections.retain(|c| !c.is_finished());
        match listener.accept() {
            Ok((stream, _)) => {
                if link.open.load(Ordering::SeqCst) >= CONNECTIONS_MAX {
                    continue; // dropping `stream` closes it
                }
                link.open.fetch_add(1, Ordering::SeqCst);
                let link = Arc::clone(link);
                connections.push(thread::spawn(move || {
                    serve(stream, &link);
                    link.open.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(IO_POLL),
            Err(_) => thread::sleep(IO_POLL),
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Reads the handshake to learn the dialer, then relays both ways until either side closes,
/// the link is refused, or the proxy stops.
fn serve(mut inbound: TcpStream, link: &Link) {
    let Ok(hello) = read_handshake(&mut inbound) else {
        return;
    };
    let from = u64::from_le_bytes(
        hello[HANDSHAKE_FROM_AT..HANDSHAKE_FROM_AT + 8]
            .try_into()
            .expect("8 bytes"),
    );
    *link
        .seen
        .lock()
        .expect("seen lock")
        .entry(from)
        .or_default() += 1;
    if link.switches.get(from, link.to) == Some(Fault::Refuse) {
        return;
    }
    let Ok(mut outbound) = TcpStream::connect_timeout(&link.target, HANDSHAKE_TIMEOUT) else {
        return;
    };
    let ready = [&inbound, &outbound].iter().all(|s| {
        s.set_read_timeout(Some(IO_POLL)).is_ok()
            && s.set_write_timeout(Some(WRITE_TIMEOUT)).is_ok()
            && s.set_nodelay(true).is_ok()
    });
    if !ready || outbound.write_all(&hello).is_err() {
        return;
    }
    let (Ok(inbound2), Ok(outbound2)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    let done = Arc::new(AtomicBool::new(false));
    let back = {
        let (done, stop) = (Arc::clone(&done), Arc::clone(&link.stop));
        let switches = Arc::clone(&link.switches);
        let to = link.to;
        // The acceptor never answers on a peer connection, but relay whatever it sends.
        thread::spawn(move || pump(outbound2, inbound2, &switches, (from, to), &stop, &done))
    };
    pump(
        inbound,
        outbound,
        &link.switches,
        (from, link.to),
        &link.stop,
        &done,
    );
    let _ = back.join();
}

fn read_handshake(stream: &mut TcpStream) -> io::Result<[u8; HANDSHAKE_BYTES]> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut hello = [0u8; HANDSHAKE_BYTES];
    stream.read_exact(&mut hello)?;
    Ok(hello)
}

/// Copies `src` to `dst` until the end of `src`, an error, a fault on `link` (a blackhole
/// swallows instead), the proxy's stop, or the other direction's end (`done`).
fn pump(
    mut src: TcpStream,
    mut dst: TcpStream,
    switches: &Switches,
    (from, to): (u64, u64),
    stop: &AtomicBool,
    done: &AtomicBool,
) {
    let mut buf = vec![0u8; BUFFER_BYTES];
    let mut seen_version = usize::MAX;
    let mut fault = None;
    let mut swallowed = false;
    loop {
        if stop.load(Ordering::SeqCst) || done.load(Ordering::SeqCst) {
            break;
        }
        let version = switches.version.load(Ordering::SeqCst);
        if version != seen_version {
            seen_version = version;
            fault = switches.get(from, to);
        }
        // A healed blackhole would resume mid-frame: close instead, the dialer reconnects.
        if fault == Some(Fault::Refuse) || (swallowed && fault.is_none()) {
            break;
        }
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(_) if fault == Some(Fault::Blackhole) => swallowed = true,
            Ok(n) => {
                if dst.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    done.store(true, Ordering::SeqCst);
    let _ = src.shutdown(Shutdown::Both);
    let _ = dst.shutdown(Shutdown::Both);
}
