#!/usr/bin/env python3
"""The web dashboard, end to end, in headless Chromium.

Starts `tinkerdb demo --nodes 3` (binary from $TINKERDB_BIN, default target/debug/tinkerdb) on
free loopback ports, waits for a leader, then opens a follower's dashboard and checks what each
page renders:

  cluster      3 node cards, exactly one of them the leader, all reachable
  replication  one progress bar per voter, the election log has the start of the watch
  metrics      the ops/s and latency charts have drawn samples (fsync too once it is measured)
  data         a key written with a RESP client shows up in the key browser; the console runs
               GET and shows its value
  failover     after `kill -9` of the leader's process, the page shows another leader within
               10 s and the old one as unreachable
  unreachable  after `kill -9` of the node serving the page, it says so and links to the
               other nodes' dashboards

Screenshots of every page go to target/test-artifacts/dashboard-*.png; the healthy cluster page
is also copied to docs/dashboard.png when that file is missing or TINKERDB_UPDATE_SCREENSHOT=1.

Invariants: every wait is bounded (and the whole run by RUN_TIMEOUT_S); everything it starts
(the demo's process group, the browser) is killed on every exit path; only 127.0.0.1.
Exit status: 0 passed, 1 failed, 3 skipped (selenium, chromium or chromedriver missing; a line
starting with SKIPPED: says which).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import json
import random
import re
import urllib.request
import urllib.error

HOST = "127.0.0.1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(REPO, "target", "test-artifacts")
DOCS_SCREENSHOT = os.path.join(REPO, "docs", "dashboard.png")

NODES = 3
PORT_STEP = 10                      # tinkerdb demo: node i uses base + 10*(i-1) (+1 peer, +2 admin)
LISTEN_PORTS = range(20_000, 32_000)  # below the ephemeral range, as tests/common does
PORT_PICK_TRIES = 200
RUN_TIMEOUT_S = 240                 # the whole test, whatever happens
LEADER_TIMEOUT_S = 30
PAGE_TIMEOUT_S = 20                 # one page's assertions
FAILOVER_TIMEOUT_S = 10             # the brief: a new leader on the page within 10 s
HTTP_TIMEOUT_S = 2
WINDOW = (1280, 900)
SKIP_EXIT = 3
BROWSER_GROUPS = []                 # process groups of the chromedrivers started, killed at exit

started = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)


def skip(why):
    print(f"SKIPPED: {why}", flush=True)
    sys.exit(SKIP_EXIT)


# ---------- prerequisites ----------

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
except ImportError as e:
    skip(f"the browser test needs selenium ({e}); run scripts/install-test-deps.sh")

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver")
if not CHROMIUM or not CHROMEDRIVER:
    skip("the browser test needs chromium and chromedriver; run scripts/install-test-deps.sh")


# ---------- helpers ----------

def pick_base_port():
    """A base port whose 3 x 3 demo ports are all free right now."""
    rng = random.Random(os.getpid() ^ time.time_ns())
    top = LISTEN_PORTS.stop - PORT_STEP * NODES
    for _ in range(PORT_PICK_TRIES):
        base = rng.randrange(LISTEN_PORTS.start, top)
        held = []
        try:
            for i in range(NODES):
                for offset in range(3):
                    s = socket.socket()
                    s.bind((HOST, base + PORT_STEP * i + offset))
                    held.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port range for the demo")


def get_json(port, path):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=HTTP_TIMEOUT_S) as r:
        return json.loads(r.read())


def resp(port, *args):
    """Sends one command over RESP and returns the first reply line (enough for SET/GET)."""
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += f"${len(a)}\r\n".encode() + a + b"\r\n"
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT_S) as s:
        s.sendall(out)
        return s.recv(4096)


def wait_for(what, timeout, probe, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as e:  # a probe may fail while things settle
            last = e
        time.sleep(interval)
    raise AssertionError(f"no {what} within {timeout} s" + (f" (last error: {last})" if last else ""))


class Demo:
    """`tinkerdb demo` in its own process group; its output is kept for pids and diagnostics."""

    def __init__(self, binary):
        self.base = pick_base_port()
        self.data_dir = tempfile.mkdtemp(prefix="tinkerdb-browser-")
        self.lines = []
        self.pids = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("TINKERDB_")}
        self.proc = subprocess.Popen(
            [binary, "demo", "--nodes", str(NODES), "--base-port", str(self.base),
             "--data-dir", self.data_dir],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            m = re.match(r"node (\d+) pid (\d+)", line)
            if m:
                self.pids[int(m.group(1))] = int(m.group(2))

    def resp_port(self, node):
        return self.base + PORT_STEP * (node - 1)

    def admin_port(self, node):
        return self.base + PORT_STEP * (node - 1) + 2

    def kill_node(self, node):
        pid = self.pids[node]
        log(f"kill -9 node {node} (pid {pid})")
        os.kill(pid, signal.SIGKILL)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.data_dir, ignore_errors=True)


def leader_of(demo, nodes):
    """The leader every answering node among `nodes` names, if they agree and it says so."""
    views = {}
    for n in nodes:
        try:
            views[n] = get_json(demo.admin_port(n), "/api/cluster")
        except (OSError, urllib.error.URLError, ValueError):
            pass
    leaders = {v["leader"] for v in views.values()}
    if len(views) < 2 or len(leaders) != 1:
        return None
    leader = leaders.pop()
    if leader in views and views[leader]["role"] == "leader":
        return leader
    return None


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--no-first-run",
                "--disable-background-networking", "--disable-extensions"):
        options.add_argument(arg)
    # chromedriver (and the chromium it starts) get their own process group, so that every
    # exit path can kill them all, even when chromedriver no longer answers.
    service = Service(executable_path=CHROMEDRIVER, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(service=service, options=options)
    BROWSER_GROUPS.append(service.process.pid)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    return driver


def until(driver, what, probe, timeout=PAGE_TIMEOUT_S):
    # The dashboard re-renders its cards and tables on every refresh, so an element a probe
    # found may be replaced before the probe reads it: that probe simply runs again.
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=[StaleElementReferenceException]).until(lambda d: probe(d))
    except TimeoutException:
        raise AssertionError(f"the page did not show {what} within {timeout} s") from None


def screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"dashboard-{name}.png")
    driver.save_screenshot(path)
    log(f"screenshot {os.path.relpath(path, REPO)}")
    return path


def open_page(driver, url, page):
    driver.get(f"{url}#{page}")
    # A hash change on the same document does not reload it: make sure the page switched.
    until(driver, f"the {page} tab", lambda d: d.find_element(By.ID, f"page-{page}").is_displayed())


def cards(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#node-cards .node-card")


def load(demo, port, stop):
    """Writes keys to `port` until `stop` is set, so the metrics charts have something to draw."""
    i = 0
    while not stop.is_set() and i < 100_000:
        try:
            resp(port, "SET", f"load:{i % 200}", "x" * 16)
        except OSError:
            time.sleep(0.05)
        i += 1
        time.sleep(0.005)


# ---------- the test ----------

def run(demo):
    nodes = list(range(1, NODES + 1))
    leader = wait_for("leader", LEADER_TIMEOUT_S, lambda: leader_of(demo, nodes))
    wait_for("node pids in the demo's output", 10, lambda: len(demo.pids) == NODES)
    viewer = next(n for n in nodes if n != leader)
    url = f"http://{HOST}:{demo.admin_port(viewer)}/"
    log(f"leader is node {leader}; opening node {viewer}'s dashboard {url}")

    resp(demo.resp_port(leader), "SET", "dashboard:greeting", "hello from redis")
    stop_load = threading.Event()
    loader = threading.Thread(target=load, args=(demo, demo.resp_port(viewer), stop_load), daemon=True)
    loader.start()

    driver = start_browser()
    try:
        # -- cluster
        open_page(driver, url, "cluster")
        until(driver, "3 reachable node cards with one leader", lambda d: len(cards(d)) == NODES
              and all(c.get_attribute("data-role") != "unreachable" for c in cards(d))
              and len(d.find_elements(By.CSS_SELECTOR, ".node-card.leader")) == 1)
        shown = until(driver, "the leader's card", lambda d: [
            c.get_attribute("data-node-id") for c in d.find_elements(By.CSS_SELECTOR, ".node-card.leader")])
        assert shown == [str(leader)], f"leader cards {shown}, expected node {leader}"
        until(driver, "how each node confirmed its reads", lambda d: all(
            "by ReadIndex" in c.text and "read-index mode" in c.text for c in cards(d)))
        healthy = screenshot(driver, "cluster")
        if not os.path.exists(DOCS_SCREENSHOT) or os.environ.get("TINKERDB_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(healthy, DOCS_SCREENSHOT)
            log(f"copied to {os.path.relpath(DOCS_SCREENSHOT, REPO)}")

        # -- replication
        open_page(driver, url, "replication")
        until(driver, "a progress bar per voter", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#replication-bars .bar-row")) == NODES)
        until(driver, "the election log", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#events-table tbody tr")) >= 1)
        screenshot(driver, "replication")

        # -- metrics
        open_page(driver, url, "metrics")
        points = lambda d, id: int(d.find_element(By.ID, id).get_attribute("data-points") or 0)
        until(driver, "ops/s and latency samples on the charts",
              lambda d: points(d, "chart-ops") >= 3 and points(d, "chart-latency") >= 1)
        fsyncs = get_json_metric(demo.admin_port(viewer), "tinkerdb_wal_fsync_duration_seconds_count")
        if fsyncs:
            until(driver, "fsync latency samples", lambda d: points(d, "chart-fsync") >= 1)
        else:
            log("WARNING: tinkerdb_wal_fsync_duration_seconds has no observations on this node; fsync chart not asserted")
        time.sleep(1.5)  # a few more points, for a readable screenshot
        screenshot(driver, "metrics")
        stop_load.set()

        # -- data: key browser and console
        open_page(driver, url, "data")
        pattern = driver.find_element(By.ID, "scan-pattern")
        pattern.clear()
        pattern.send_keys("dashboard:*")
        count = driver.find_element(By.ID, "scan-count")
        count.clear()
        count.send_keys("1000")
        driver.find_element(By.ID, "scan-button").click()
        until(driver, "the key written with redis in the key browser",
              lambda d: d.find_elements(By.CSS_SELECTOR, '#keys-table tr.key-row[data-key="dashboard:greeting"]'))
        console = driver.find_element(By.ID, "console-input")
        console.clear()
        console.send_keys("GET dashboard:greeting")
        driver.find_element(By.ID, "console-run").click()
        until(driver, "the GET reply in the console",
              lambda d: '"hello from redis"' in d.find_element(By.ID, "console-output").text)
        screenshot(driver, "data")

        # -- failover: kill the leader, watch the page elect another
        open_page(driver, url, "cluster")
        demo.kill_node(leader)
        t0 = time.monotonic()
        until(driver, "a different leader", lambda d: any(
            c.get_attribute("data-node-id") != str(leader) for c in d.find_elements(By.CSS_SELECTOR, ".node-card.leader")),
            timeout=FAILOVER_TIMEOUT_S)
        new_leader = until(driver, "the new leader's card", lambda d: d.find_element(
            By.CSS_SELECTOR, ".node-card.leader").get_attribute("data-node-id"))
        log(f"the page shows node {new_leader} as leader {time.monotonic() - t0:.1f} s after the kill")
        until(driver, "the old leader as unreachable", lambda d: d.find_element(
            By.CSS_SELECTOR, f'.node-card[data-node-id="{leader}"]').get_attribute("data-role") == "unreachable",
            timeout=FAILOVER_TIMEOUT_S)
        screenshot(driver, "failover")
        open_page(driver, url, "replication")
        until(driver, "the election in the log", lambda d: any(
            r.get_attribute("data-kind") in ("term", "leader") for r in d.find_elements(By.CSS_SELECTOR, "#events-table tbody tr")))
        screenshot(driver, "replication-after-failover")

        # -- the serving node dies: the page says so and links to the others
        open_page(driver, url, "cluster")
        demo.kill_node(viewer)
        until(driver, "the 'not answering' banner", lambda d: d.find_element(By.ID, "unreachable-banner").is_displayed())
        links = {a.get_attribute("data-node-link") for a in driver.find_elements(By.CSS_SELECTOR, "#unreachable-links a")}
        expected = {str(n) for n in nodes if n != viewer}
        assert links == expected, f"the banner links to nodes {links}, expected {expected}"
        screenshot(driver, "unreachable")
    except Exception:
        try:
            screenshot(driver, "failure")
            with open(os.path.join(ARTIFACTS, "dashboard-failure.html"), "w") as f:
                f.write(driver.page_source)
            for entry in driver.get_log("browser")[-20:]:
                log(f"browser console: {entry}")
        except Exception:
            pass
        raise
    finally:
        stop_load.set()
        try:
            driver.quit()
        finally:
            kill_browsers()


def kill_browsers():
    while BROWSER_GROUPS:
        try:
            os.killpg(BROWSER_GROUPS.pop(), signal.SIGKILL)
        except ProcessLookupError:
            pass


def get_json_metric(port, name):
    """The value of an unlabelled sample in a node's /metrics (0 when absent)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=HTTP_TIMEOUT_S) as r:
            text = r.read().decode()
    except (OSError, urllib.error.URLError):
        return 0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0


def main():
    binary = os.environ.get("TINKERDB_BIN", os.path.join(REPO, "target", "debug", "tinkerdb"))
    if not os.access(binary, os.X_OK):
        print(f"FAILED: no tinkerdb binary at {binary} (build it or set TINKERDB_BIN)", flush=True)
        return 1
    os.environ["SE_OFFLINE"] = "true"  # selenium must never try to download a driver
    demo = Demo(binary)
    # Whatever happens (an exception, SIGTERM, the overall deadline), the demo's group dies.
    def on_signal(signum, _frame):
        kill_browsers()
        demo.stop()
        print(f"FAILED: stopped by signal {signum}", flush=True)
        os._exit(1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(RUN_TIMEOUT_S)
    try:
        run(demo)
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
        print("---- demo output ----\n" + "\n".join(demo.lines[-40:]), flush=True)
        return 1
    finally:
        signal.alarm(0)
        demo.stop()
    log(f"dashboard browser test passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
