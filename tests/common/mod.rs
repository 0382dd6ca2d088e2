//! The one harness that starts TinkerDB nodes for the end-to-end tests.
//!
//! A [`Node`] is a real `tinkerdb server` child process (the binary cargo built for these tests,
//! `CARGO_BIN_EXE_tinkerdb`) listening on free loopback ports. The tests talk to it the way users
//! do: through the `redis` crate, or through the `redis-cli` and `redis-benchmark` binaries.
//!
//! Layout of a node's temporary home (removed when the `Node` drops):
//! ```text
//! <home>/data/          --data-dir (or a directory the test gave)
//! <home>/node.log       the child's stdout and stderr, appended across restarts
//! <home>/tinkerdb.toml  --config, when the test gave one
//! ```
//! The log lives beside the data directory rather than in it, so the server owns every file in
//! its data directory.
//!
//! Multi-node clusters ([`cluster::Cluster`]) are sets of `Node`s started with extra flags
//! (`--node-id`, `--initial-cluster`) on ports fixed in advance; [`proxy::Network`] puts
//! fault-injecting TCP proxies between their peer ports.
//!
//! Invariants:
//! - Only 127.0.0.1. Ports are chosen by binding port 0 and releasing it; if the server then
//!   finds a port taken (another test won the race) a first start retries with fresh ports
//!   (or, for ports the caller fixed, with the same ones after a pause).
//! - Every wait is bounded in time and in iterations: readiness ([`READY_TIMEOUT`]), graceful
//!   shutdown ([`SHUTDOWN_TIMEOUT`]), external tools ([`TOOL_TIMEOUT`]) and socket reads.
//! - A node that fails to come up fails the test with the tail of its log.
//! - Dropping a `Node` kills its child; a test that is panicking also prints the log tail.

// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod proxy;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a node may take from spawn until `PING` answers `+PONG`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node may take to exit after SIGTERM.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one run of `redis-cli`, `redis-benchmark` or `kill` may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Read and write timeout on the `redis` crate connections the harness hands out, so a hung
/// server fails a test instead of hanging it.
pub const CONN_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary under test; cargo builds it with the tests' profile.
const TINKERDB_BIN: &str = env!("CARGO_BIN_EXE_tinkerdb");
const HOST: &str = "127.0.0.1";
/// Pause between readiness probes and between polls of a child's exit.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Timeout of one readiness probe (connect, write, read).
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Spawns per start when the server reports a port already in use.
const START_ATTEMPTS_MAX: u32 = 3;
/// `TINKERDB_*` variables passed on to nodes, so a developer can turn up their logging.
const KEPT_ENV: [&str; 2] = ["TINKERDB_LOG_LEVEL", "TINKERDB_LOG_FORMAT"];
/// How much of the end of the node's log a failure prints.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The three ports of one node.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// RESP clients (`--listen`).
    pub client: u16,
    /// Raft peers (`--peer-listen`).
    pub peer: u16,
    /// HTTP admin (`--admin-listen`).
    pub admin: u16,
}

/// Where test servers listen: below Linux's default ephemeral range (32768-60999), so no
/// outgoing connection can be holding the port when the server binds it.
const LISTEN_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Attempts at finding free ports before giving up.
const PORT_PICK_TRIES_MAX: usize = 10_000;

impl Ports {
    /// Three distinct ports that were free a moment ago: all three are bound at once (so the
    /// kernel hands out different ones), then released for the server to take.
    fn pick() -> Ports {
        Ports::pick_many(1)[0]
    }

    /// `count` port sets, all distinct: every port is bound before any is released.
    ///
    /// Ports come from below the kernel's ephemeral range (see [`LISTEN_PORTS`]): ports picked
    /// by binding to port 0 come *from* that range, so a moment later an outgoing connection
    /// (a peer dialer of another test's cluster) may take one as its source port and the
    /// server's listen fails with "address in use", on every retry.
    pub fn pick_many(count: usize) -> Vec<Ports> {
        let mut held: Vec<TcpListener> = Vec::with_capacity(count * 3);
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let span = u64::from(LISTEN_PORTS.end - LISTEN_PORTS.start);
        for _ in 0..PORT_PICK_TRIES_MAX {
            if held.len() == count * 3 {
                break;
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let port = LISTEN_PORTS.start + (seed % span) as u16;
            if let Ok(listener) = TcpListener::bind((HOST, port)) {
                held.push(listener);
            }
        }
        assert_eq!(held.len(), count * 3, "no free ports in {LISTEN_PORTS:?}");
        let port = |l: &TcpListener| l.local_addr().expect("local_addr").port();
        held.chunks(3)
            .map(|trio| Ports {
                client: port(&trio[0]),
                peer: port(&trio[1]),
                admin: port(&trio[2]),
            })
            .collect()
    }

    /// `127.0.0.1:<peer port>`, the address this node's `--peer-listen` takes.
    pub fn peer_addr(&self) -> String {
        format!("{HOST}:{}", self.peer)
    }
}

/// How to start a [`Node`]; `NodeOptions::default()` is a fresh, unconfigured node.
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Contents of a TOML config file passed with `--config`.
    pub config_toml: Option<String>,
    /// Use this data directory instead of a fresh one (the caller owns it).
    pub data_dir: Option<PathBuf>,
    /// Listen on these ports instead of fresh ones; a clash is then retried on the same ports
    /// (other nodes may already know them, e.g. through `--initial-cluster`).
    pub ports: Option<Ports>,
    /// More `tinkerdb server` flags, after the harness's own (`--node-id`, `--initial-cluster`).
    pub args: Vec<String>,
}

/// One running (or stopped) `tinkerdb server` process with its ports and data.
pub struct Node {
    /// Held for its `Drop`: the log, the config and a fresh data directory go with the node.
    _home: tempfile::TempDir,
    data_dir: PathBuf,
    log_path: PathBuf,
    config_path: Option<PathBuf>,
    /// Flags appended to every spawn ([`NodeOptions::args`]).
    args: Vec<String>,
    /// The caller chose the ports: never pick others.
    fixed_ports: bool,
    /// User and password the readiness probe logs in with, when the config defines users.
    probe_login: Option<(String, String)>,
    ports: Ports,
    child: Option<Child>,
    /// Length of the log when the current child was spawned: its own output starts here.
    log_offset: u64,
    /// Number of spawns so far, written into the log as a marker.
    spawns: u32,
}

/// Why a spawned node did not become ready.
enum BootError {
    /// The server exited saying a port was taken; worth a retry.
    AddrInUse,
    /// Anything else; the message says what happened.
    Failed(String),
}

impl Node {
    /// Starts a single node on a fresh data directory and waits until it answers `PING`.
    pub fn start() -> Node {
        Node::start_with(NodeOptions::default())
    }

    /// Starts a node with `toml` as its `--config` file. If it defines `[[users]]`, the readiness
    /// probe logs in as the first one.
    pub fn start_with_config(toml: &str) -> Node {
        Node::start_with(NodeOptions {
            config_toml: Some(toml.to_owned()),
            ..NodeOptions::default()
        })
    }

    /// Starts a node on an existing data directory (which the caller keeps).
    pub fn start_in(data_dir: &Path) -> Node {
        Node::start_with(NodeOptions {
            data_dir: Some(data_dir.to_owned()),
            ..NodeOptions::default()
        })
    }

    /// Starts a node as `options` say and waits until it answers `PING`.
    pub fn start_with(options: NodeOptions) -> Node {
        let mut node = Node::launch(options);
        node.await_ready();
        node
    }

    /// Spawns a node as `options` say without waiting for it; [`Node::await_ready`] waits. A
    /// cluster launches all its nodes first, since each may wait for the others to elect a leader.
    pub fn launch(options: NodeOptions) -> Node {
        let home = tempfile::Builder::new()
            .prefix("tinkerdb-test-")
            .tempdir()
            .expect("create a temporary node home");
        let data_dir = match options.data_dir {
            Some(dir) => dir,
            None => {
                let dir = home.path().join("data");
                fs::create_dir(&dir).expect("create the data directory");
                dir
            }
        };
        let probe_login = options.config_toml.as_deref().and_then(first_user);
        let config_path = options.config_toml.map(|toml| {
            let path = home.path().join("tinkerdb.toml");
            fs::write(&path, toml).expect("write the config file");
            path
        });
        let log_path = home.path().join("node.log");
        let mut node = Node {
            _home: home,
            data_dir,
            log_path,
            config_path,
            args: options.args,
            fixed_ports: options.ports.is_some(),
            probe_login,
            ports: options.ports.unwrap_or_else(Ports::pick),
            child: None,
            log_offset: 0,
            spawns: 0,
        };
        node.child = Some(node.spawn());
        node
    }

    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> String {
        format!("{HOST}:{}", self.ports.client)
    }

    /// The RESP client port.
    pub fn port(&self) -> u16 {
        self.ports.client
    }

    /// All three ports.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the server process is running (it was not killed or terminated through the
    /// harness).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The OS process id of the running server.
    pub fn pid(&self) -> u32 {
        self.running_child("pid").id()
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    /// A `redis` crate client for this node (it connects lazily).
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid redis URL")
    }

    /// A `redis` crate client that authenticates as `user` on every connection.
    pub fn client_as(&self, user: &str, password: &str) -> redis::Client {
        let url = format!("redis://{user}:{password}@{}/", self.addr());
        redis::Client::open(url).expect("a valid redis URL")
    }

    /// A connected, synchronous connection with bounded reads and writes.
    pub fn conn(&self) -> redis::Connection {
        connect(&self.client())
    }

    /// Like [`Node::conn`], authenticated as `user`.
    pub fn conn_as(&self, user: &str, password: &str) -> redis::Connection {
        connect(&self.client_as(user, password))
    }

    /// Runs `redis-cli -h 127.0.0.1 -p <port> <args>` and returns its stdout. Fails the test if
    /// redis-cli exits non-zero. (It exits 0 on error replies and prints them.)
    pub fn redis_cli(&self, args: &[&str]) -> String {
        self.redis_cli_stdin(args, b"")
    }

    /// Like [`Node::redis_cli`], feeding `stdin` to redis-cli (commands one per line, or a RESP
    /// stream with `--pipe`).
    pub fn redis_cli_stdin(&self, args: &[&str], stdin: &[u8]) -> String {
        let port = self.port().to_string();
        let mut all_args = vec!["-h", HOST, "-p", port.as_str()];
        all_args.extend_from_slice(args);
        let output = run_tool("redis-cli", &all_args, stdin, TOOL_TIMEOUT);
        assert!(
            output.status.success(),
            "redis-cli {args:?} exited with {}; stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("redis-cli printed UTF-8")
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("kill9: the node is not running");
        kill_and_reap(&mut child);
    }

    /// Sends SIGTERM and waits up to [`SHUTDOWN_TIMEOUT`] for the server to exit; returns its
    /// exit status. Fails the test (after a SIGKILL) if it does not exit in time.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .expect("terminate: the node is not running");
        let pid = child.id().to_string();
        let kill = run_tool("kill", &["-TERM", pid.as_str()], b"", TOOL_TIMEOUT);
        if !kill.status.success() {
            kill_and_reap(&mut child);
            panic!(
                "kill -TERM {pid} failed: {}",
                String::from_utf8_lossy(&kill.stderr)
            );
        }
        match wait_with_deadline(&mut child, SHUTDOWN_TIMEOUT) {
            Some(status) => status,
            None => {
                kill_and_reap(&mut child);
                panic!(
                    "the node did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM\n{}",
                    self.log_tail()
                );
            }
        }
    }

    /// Waits up to `timeout` for the server to exit by itself (a member removed from the
    /// cluster stops on its own) and reaps it; its exit status, or None if it still runs.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self
            .child
            .as_mut()
            .expect("wait_for_exit: the node is not running");
        let status = wait_with_deadline(child, timeout)?;
        self.child = None;
        Some(status)
    }

    /// Starts the stopped server again on the same data directory and ports.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart: the node is still running; call kill9() or terminate() first"
        );
        self.child = Some(self.spawn());
        self.await_ready();
    }

    /// The whole log, every start of this node included, with the harness's marker lines.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last part of the current run's log (stdout and stderr), with a header.
    pub fn log_tail(&self) -> String {
        let tail = read_tail(&self.log_path, self.log_offset, LOG_TAIL_BYTES)
            .unwrap_or_else(|e| format!("(could not read {}: {e})", self.log_path.display()));
        format!(
            "---- tail of {} (start #{}) ----\n{tail}\n---- end of log ----",
            self.log_path.display(),
            self.spawns
        )
    }

    fn running_child(&self, what: &str) -> &Child {
        self.child
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: the node is not running"))
    }

    /// Waits until the launched server answers `PING`. When it reports a port in use it is
    /// spawned again, on fresh ports (first start without fixed ports) or after a pause.
    pub fn await_ready(&mut self) {
        let may_repick_ports = self.spawns == 1 && !self.fixed_ports;
        for attempt in 1..=START_ATTEMPTS_MAX {
            let mut child = self
                .child
                .take()
                .expect("await_ready: the node was not launched");
            match self.wait_ready(&mut child) {
                Ok(()) => {
                    self.child = Some(child);
                    return;
                }
                Err(BootError::AddrInUse) if attempt < START_ATTEMPTS_MAX => {
                    kill_and_reap(&mut child);
                    if may_repick_ports {
                        self.ports = Ports::pick();
                    }
                    thread::sleep(POLL_INTERVAL * 5 * attempt);
                    self.child = Some(self.spawn());
                }
                Err(BootError::AddrInUse) => {
                    kill_and_reap(&mut child);
                    panic!(
                        "the node found a port in use {START_ATTEMPTS_MAX} times ({:?})\n{}",
                        self.ports,
                        self.log_tail()
                    );
                }
                Err(BootError::Failed(why)) => {
                    kill_and_reap(&mut child);
                    panic!("the node did not start: {why}\n{}", self.log_tail());
                }
            }
        }
    }

    fn spawn(&mut self) -> Child {
        self.spawns += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the node log");
        self.log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let listen = |port: u16| format!("{HOST}:{port}");
        let mut cmd = Command::new(TINKERDB_BIN);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(listen(self.ports.client))
            .arg("--peer-listen")
            .arg(listen(self.ports.peer))
            .arg("--admin-listen")
            .arg(listen(self.ports.admin));
        if let Some(config) = &self.config_path {
            cmd.arg("--config").arg(config);
        }
        cmd.args(&self.args);
        writeln!(log, "==== harness: start #{} {cmd:?} ====", self.spawns)
            .expect("write the node log");
        let stdout = log.try_clone().expect("clone the node log handle");
        // The test decides the node's settings: drop `TINKERDB_*` variables from the caller's
        // environment (a stray TINKERDB_CONFIG would change every test), except the log knobs.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("TINKERDB_") && !KEPT_ENV.contains(&name_text.as_ref()) {
                cmd.env_remove(&name);
            }
        }
        cmd.env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log);
        cmd.spawn()
            .unwrap_or_else(|e| panic!("spawn {TINKERDB_BIN}: {e}"))
    }

    /// Probes with `PING` until `+PONG`, the child exits, or [`READY_TIMEOUT`] passes.
    fn wait_ready(&self, child: &mut Child) -> Result<(), BootError> {
        let addr: SocketAddr = self.addr().parse().expect("a socket address");
        let started = Instant::now();
        let probes_max = READY_TIMEOUT.as_millis() / POLL_INTERVAL.as_millis() + 1;
        let mut last_probe = String::from("no probe yet");
        for _ in 0..probes_max {
            if let Some(status) = child.try_wait().expect("try_wait on the node") {
                let log =
                    read_tail(&self.log_path, self.log_offset, LOG_TAIL_BYTES).unwrap_or_default();
                if log.contains("Address already in use") || log.contains("AddrInUse") {
                    return Err(BootError::AddrInUse);
                }
                return Err(BootError::Failed(format!(
                    "it exited with {status} before answering PING"
                )));
            }
            match probe(addr, self.probe_login.as_ref()) {
                // Still alive after answering: the PONG came from our child, not from a
                // stranger that took the port while our child failed to bind it.
                Ok(()) if child.try_wait().ok().flatten().is_none() => return Ok(()),
                Ok(()) => last_probe = String::from("PONG, but the child then exited"),
                Err(e) => last_probe = e,
            }
            if started.elapsed() >= READY_TIMEOUT {
                break;
            }
            thread::sleep(POLL_INTERVAL);
        }
        Err(BootError::Failed(format!(
            "PING on {addr} did not answer +PONG within {READY_TIMEOUT:?} (last probe: {last_probe})"
        )))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// One readiness probe over a fresh connection: `PING` must answer `+PONG`. With `login`, the
/// probe first sends `AUTH user password` (a server with users answers a bare PING with NOAUTH)
/// and expects `+OK` then `+PONG`.
fn probe(addr: SocketAddr, login: Option<&(String, String)>) -> Result<(), String> {
    let mut request = Vec::new();
    let mut expected = Vec::new();
    if let Some((user, password)) = login {
        request.extend(resp_command(&[
            b"AUTH",
            user.as_bytes(),
            password.as_bytes(),
        ]));
        expected.extend_from_slice(b"+OK\r\n");
    }
    request.extend(resp_command(&[b"PING"]));
    expected.extend_from_slice(b"+PONG\r\n");

    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(PROBE_TIMEOUT)))
        .and_then(|()| stream.write_all(&request))
        .map_err(|e| e.to_string())?;
    let lines_expected = expected.iter().filter(|&&b| b == b'\n').count();
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    // The replies are a line each; a few reads are plenty, each bounded by PROBE_TIMEOUT.
    for _ in 0..8 {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        reply.extend_from_slice(&buf[..n]);
        let lines = reply.iter().filter(|&&b| b == b'\n').count();
        if n == 0 || lines >= lines_expected {
            break;
        }
    }
    if reply == expected {
        Ok(())
    } else {
        Err(format!("replied {:?}", String::from_utf8_lossy(&reply)))
    }
}

/// The RESP encoding of one command: an array of bulk strings.
pub fn resp_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Name and password of the config's first `[[users]]` entry, if any.
fn first_user(config_toml: &str) -> Option<(String, String)> {
    let config: toml::Table = config_toml
        .parse()
        .unwrap_or_else(|e| panic!("the test's config is not valid TOML: {e}"));
    let user = config.get("users")?.as_array()?.first()?;
    let field = |name: &str| Some(user.get(name)?.as_str()?.to_owned());
    Some((field("name")?, field("password")?))
}

/// Opens a synchronous connection with bounded connect, read and write times.
fn connect(client: &redis::Client) -> redis::Connection {
    let conn = client
        .get_connection_with_timeout(CONN_IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {:?}: {e}", client.get_connection_info().addr));
    conn.set_read_timeout(Some(CONN_IO_TIMEOUT))
        .expect("set the read timeout");
    conn.set_write_timeout(Some(CONN_IO_TIMEOUT))
        .expect("set the write timeout");
    conn
}

/// SIGKILL (a no-op if it already exited) and reap, so no zombie outlives the test.
fn kill_and_reap(child: &mut Child) {
    // kill() fails only when the child was already reaped; wait() then returns its status.
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` to exit, polling; `None` if it is still running after `timeout`.
fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    let polls_max = timeout.as_millis() / POLL_INTERVAL.as_millis() + 1;
    for _ in 0..polls_max {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if started.elapsed() >= timeout {
            break;
        }
        thread::sleep(POLL_INTERVAL);
    }
    child.try_wait().expect("try_wait")
}

/// The end of `path` from byte `from` on, at most `max_bytes` of it.
fn read_tail(path: &Path, from: u64, max_bytes: u64) -> io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = from.max(len.saturating_sub(max_bytes)).min(len);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs an external program with `stdin` as its input, collecting its output; kills it and
/// fails the test if it runs longer than `timeout`.
pub fn run_tool(program: &str, args: &[&str], stdin: &[u8], timeout: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    // Feed and drain on threads so a large input or output cannot deadlock on a full pipe.
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    let feeder = thread::spawn(move || input.write_all(&stdin));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = match wait_with_deadline(&mut child, timeout) {
        Some(status) => status,
        None => {
            kill_and_reap(&mut child);
            panic!("{program} {args:?} did not finish within {timeout:?}");
        }
    };
    // A program may exit without reading all its input (e.g. on an error); that is its answer.
    let _ = feeder.join().expect("stdin feeder thread");
    let collect = |h: thread::JoinHandle<io::Result<Vec<u8>>>| {
        h.join()
            .expect("output reader thread")
            .unwrap_or_else(|e| panic!("read the output of {program}: {e}"))
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

/// Whether `program` is installed. When it is not, the test must skip: this says so loudly and
/// returns `false` on a developer machine, and fails the test on CI (`CI` set), where
/// `scripts/install-test-deps.sh` installs it.
pub fn require_tool(program: &str) -> bool {
    if on_path(program) {
        return true;
    }
    let ci = std::env::var("CI").unwrap_or_default();
    if !ci.is_empty() && ci != "false" && ci != "0" {
        panic!(
            "{program} is not installed but CI={ci}: scripts/install-test-deps.sh must run first"
        );
    }
    // Straight to the process's stderr: the test harness captures eprintln! of passing tests,
    // and a skip must be seen.
    let _ = writeln!(
        io::stderr(),
        "SKIPPED: {program} is not installed, so this test did not run. \
         Install it with scripts/install-test-deps.sh."
    );
    false
}

fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(program);
        candidate.is_file()
            && fs::metadata(&candidate)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                .unwrap_or(false)
    })
}
