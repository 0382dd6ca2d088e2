//! The web dashboard in a real (headless) browser: runs `tests/browser/test_dashboard.py` with the
//! Python of `target/py-venv` against the `tinkerdb` binary cargo built for these tests. The
//! script starts its own 3-node demo, drives Chromium with selenium, and kills what it started;
//! its docstring lists what it checks. Screenshots land in `target/test-artifacts/`.
//!
//! It needs what `scripts/install-test-deps.sh` installs: the venv with selenium, `chromium` and
//! `chromedriver`. Without them the test prints a line starting with `SKIPPED:` (which
//! `scripts/test.sh` counts) and passes; on CI (`CI` set) a missing piece fails it instead, as
//! the other tool-dependent tests do.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest the script may run before it is killed (it bounds itself at 240 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The script's exit status for "a prerequisite is missing".
const SKIP_EXIT: i32 = 3;
const POLL: Duration = Duration::from_millis(100);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Prints `SKIPPED: why` straight to stderr (past the test harness's capture) and returns, or
/// fails on CI, where the install script must have run.
fn skip(why: &str) {
    let ci = std::env::var("CI").unwrap_or_default();
    if !ci.is_empty() && ci != "false" && ci != "0" {
        panic!("{why}, but CI={ci}: scripts/install-test-deps.sh must run first");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {why}, so the dashboard browser test did not run. Install it with scripts/install-test-deps.sh."
    );
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[test]
fn dashboard_pages_render_the_cluster_in_a_browser() {
    let python = repo().join("target/py-venv/bin/python");
    if !python.is_file() {
        return skip("target/py-venv is missing");
    }
    let has_selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_selenium {
        return skip("selenium is not installed in target/py-venv");
    }
    if !(on_path("chromium") || on_path("chromium-browser")) || !on_path("chromedriver") {
        return skip("chromium or chromedriver is not installed");
    }
    let script = repo().join("tests/browser/test_dashboard.py");
    let started = Instant::now();
    let (status, output) = run_bounded(&python, &script);
    let text = String::from_utf8_lossy(&output);
    if status == Some(SKIP_EXIT) {
        let why = text
            .lines()
            .find_map(|l| l.strip_prefix("SKIPPED: "))
            .unwrap_or("the script skipped")
            .to_string();
        return skip(&why);
    }
    assert_eq!(
        status,
        Some(0),
        "the browser test failed after {:?} (screenshots in target/test-artifacts/):\n{text}",
        started.elapsed()
    );
    println!("{text}");
}

/// Runs the script with its output in a file (so a chatty run cannot block on a pipe), killing
/// it after [`SCRIPT_TIMEOUT`]. Returns its exit code (None if killed) and output.
fn run_bounded(python: &Path, script: &Path) -> (Option<i32>, Vec<u8>) {
    let log = tempfile::NamedTempFile::new().expect("a temporary log file");
    let mut child = Command::new(python)
        .arg(script)
        .env("TINKERDB_BIN", env!("CARGO_BIN_EXE_tinkerdb"))
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("reopen the log"))
        .stderr(log.reopen().expect("reopen the log"))
        .spawn()
        .expect("start the browser test script");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status.code();
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            // The script kills its demo on SIGTERM; SIGKILL only if it does not go.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            std::thread::sleep(Duration::from_secs(3));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL);
    };
    (status, std::fs::read(log.path()).unwrap_or_default())
}
