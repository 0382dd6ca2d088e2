//! The `tinkerdb` binary: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;
use tinkerdb::cli::{Cli, ClusterAction, ClusterArgs, Command, HealthArgs, ServerArgs};

/// `println!` for the CLI's answers: if the reader went away (`tinkerdb cluster status | head`),
/// the rest of the output is dropped quietly instead of panicking on the broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("tinkerdb: cannot write the answer: {e}");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => server(ServerArgs::default()),
        Some(Command::Server(args)) => server(*args),
        Some(Command::Demo(args)) => {
            match tinkerdb::demo::run(args.nodes, args.base_port, &args.data_dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Some(Command::Cluster(args)) => cluster(args),
        Some(Command::Health(args)) => health(&args),
    }
}

fn server(args: ServerArgs) -> ExitCode {
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tinkerdb: {e}");
            return ExitCode::from(2);
        }
    };
    tinkerdb::logging::init(&config);
    match tinkerdb::node::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "tinkerdb stopped on an error");
            fail(&e)
        }
    }
}

fn cluster(args: ClusterArgs) -> ExitCode {
    let (method, path) = match &args.action {
        ClusterAction::Status => ("GET", "/api/cluster".to_string()),
        ClusterAction::TransferLeader { to } => {
            ("POST", format!("/api/cluster/transfer-leader?to={to}"))
        }
        ClusterAction::AddNode { id, peer_addr } => (
            "POST",
            format!("/api/cluster/add-node?id={id}&peer_addr={peer_addr}"),
        ),
        ClusterAction::Promote { id } => ("POST", format!("/api/cluster/promote?id={id}")),
        ClusterAction::RemoveNode { id } => ("POST", format!("/api/cluster/remove-node?id={id}")),
        ClusterAction::ReplaceNode { remove, add } => (
            "POST",
            format!("/api/cluster/replace-node?remove={remove}&add={add}"),
        ),
    };
    let request = tinkerdb::admin_client::Request {
        method,
        path: &path,
        authorization: args.user.as_deref().map(|user| {
            tinkerdb::admin_client::basic_auth(user, args.password.as_deref().unwrap_or(""))
        }),
        ..Default::default()
    };
    let response = match tinkerdb::admin_client::send(&args.admin, &request) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if response.status != 200 {
        if args.json {
            say!("{}", response.body.trim());
        } else {
            eprintln!(
                "tinkerdb: {} (HTTP {})",
                error_text(&response.body),
                response.status
            );
        }
        if response.status == 401 {
            eprintln!("tinkerdb: give --user and --password (or TINKERDB_ADMIN_USER and TINKERDB_ADMIN_PASSWORD)");
        }
        return ExitCode::FAILURE;
    }
    if args.json {
        say!("{}", response.body.trim());
        return ExitCode::SUCCESS;
    }
    match &args.action {
        ClusterAction::Status => print_status(&response.body),
        ClusterAction::TransferLeader { to } => {
            say!("asked the cluster to move leadership to node {to}");
            ExitCode::SUCCESS
        }
        ClusterAction::AddNode { id, .. } => {
            say!("proposed: add node {id} as a learner; start it with --join, then promote it");
            ExitCode::SUCCESS
        }
        ClusterAction::Promote { id } => {
            say!("proposed: node {id} becomes a voter");
            ExitCode::SUCCESS
        }
        ClusterAction::RemoveNode { id } => {
            say!("proposed: remove node {id}");
            ExitCode::SUCCESS
        }
        ClusterAction::ReplaceNode { remove, add } => {
            say!(
                "proposed: node {add} becomes a voter and node {remove} leaves, in one joint \
                 configuration change; node {remove} stops once the change completes"
            );
            ExitCode::SUCCESS
        }
    }
}

/// One line and an exit status a container healthcheck or a script can use: 0 only on a 200.
fn health(args: &HealthArgs) -> ExitCode {
    let path = if args.ready { "/ready" } else { "/health" };
    match tinkerdb::admin_client::request(&args.admin, "GET", path) {
        Ok(response) => {
            let line = response.body.lines().next().unwrap_or("").trim();
            say!("{}{path}: {} {line}", args.admin, response.status);
            if response.status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e),
    }
}

fn print_status(body: &str) -> ExitCode {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        eprintln!("tinkerdb: the admin API answered something that is not JSON");
        return ExitCode::FAILURE;
    };
    say!(
        "node {} is {} in term {}; leader: node {}",
        v["node_id"],
        v["role"].as_str().unwrap_or("?"),
        v["term"],
        v["leader"]
    );
    say!(
        "commit index {}, applied {}, log {}..{}, keys {}",
        v["commit_index"],
        v["applied_index"],
        v["first_index"],
        v["last_index"],
        v["keys"]
    );
    say!("voters {}  learners {}", v["voters"], v["learners"]);
    if let Some(outgoing) = v["voters_outgoing"].as_array().filter(|o| !o.is_empty()) {
        say!(
            "joint configuration: leaving voters {}, entering voters {} (a replace-node in progress)",
            serde_json::Value::Array(outgoing.clone()),
            v["voters"]
        );
    }
    let receive = &v["snapshot_receive"];
    if receive.is_object() {
        let mib = |n: &serde_json::Value| n.as_u64().unwrap_or(0) as f64 / (1 << 20) as f64;
        say!(
            "{} the leader's snapshot at index {} from node {}: {:.1} of {:.1} MiB",
            receive["stage"].as_str().unwrap_or("?"),
            receive["index"],
            receive["from"],
            mib(&receive["bytes"]),
            mib(&receive["total"])
        );
    }
    if let Some(progress) = v["progress"].as_array().filter(|p| !p.is_empty()) {
        say!(
            "\n{:<6} {:<8} {:<10} {:<10} {:<10}",
            "node",
            "voter",
            "matched",
            "next",
            "state"
        );
        for p in progress {
            let mut state = p["state"].as_str().unwrap_or("?").to_string();
            if let Some(index) = p["pending_snapshot"].as_u64().filter(|&i| i > 0) {
                state.push_str(&format!(" (sending snapshot {index})"));
            }
            say!(
                "{:<6} {:<8} {:<10} {:<10} {:<10}",
                p["id"].to_string(),
                p["voter"].to_string(),
                p["matched"].to_string(),
                p["next"].to_string(),
                state
            );
        }
    } else {
        say!("(replication progress is known to the leader: ask its admin address)");
    }
    ExitCode::SUCCESS
}

/// The admin API's reason for a refusal: the `error` of its JSON answer, else the body as is.
fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string())
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("tinkerdb: {e}");
    ExitCode::FAILURE
}
