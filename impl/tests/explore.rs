//! `groupy explore`: it serves stateright's Explorer on an ephemeral port, prints links to
//! the counterexamples, answers the Explorer's HTTP API, and stops cleanly on SIGINT.
//!
//! HTTP is spoken with a plain `TcpStream` (HTTP/1.0, one request per connection). Every
//! wait is bounded, and the child is killed if the test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long the Explorer may take to check the model and start serving.
const STARTUP: Duration = Duration::from_secs(60);

/// A running `groupy explore`, killed when dropped (so a failing test leaves no server).
struct Explorer {
    child: Child,
    /// Lines of its stdout, read on a thread of their own.
    lines: Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Explorer {
    fn spawn(args: &[&str]) -> Explorer {
        Self::spawn_with_stderr(args, Stdio::inherit())
    }

    fn spawn_with_stderr(args: &[&str], stderr: Stdio) -> Explorer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_groupy"))
            .arg("explore")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("groupy explore starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Explorer {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stdout until a line equal to `last`, by `deadline`; returns the lines read.
    fn read_until(&mut self, last: &str, deadline: Instant) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let done = line.trim_end() == last;
                    got.push(line);
                    if done {
                        return got;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {last:?} line in time; stdout so far:\n{}",
                        self.seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "groupy explore closed stdout before {last:?} (status {:?}); stdout:\n{}",
                    self.child.try_wait(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT failed: {status}");
    }

    /// Waits for the process to exit, by `deadline`.
    fn wait(&mut self, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "groupy explore did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Explorer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What `groupy explore` printed before serving.
struct Banner {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    base: String,
    /// `(kind, property, path)` for each link line: kind is `counterexample` or `witness`,
    /// path the action indices after `#/steps/`.
    links: Vec<(String, String, String)>,
}

fn parse_banner(lines: &[String]) -> Banner {
    let first = &lines[0];
    assert!(
        first.starts_with("Explorer for gms2 (") && first.ends_with('/'),
        "unexpected first line {first:?}"
    );
    let url = first.rsplit(" at ").next().unwrap();
    let base = url.trim_end_matches('/').to_string();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "the Explorer URL {url:?} is not on 127.0.0.1"
    );
    let port: u16 = base
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .expect("a port number");
    assert_ne!(port, 0, "the banner shows the bound port, not :0");

    let mut links = Vec::new();
    for line in &lines[1..] {
        let t = line.trim();
        let Some(kind) = ["counterexample", "witness"]
            .into_iter()
            .find(|k| t.starts_with(&format!("{k} ")))
        else {
            continue;
        };
        let (rest, link) = t.rsplit_once(' ').unwrap();
        let name = rest[kind.len()..].trim().to_string();
        let prefix = format!("{base}/#/steps/");
        let path = link
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("link {link:?} is not under {prefix}"))
            .to_string();
        links.push((kind.to_string(), name, path));
    }
    Banner { base, links }
}

/// A minimal HTTP/1.0 GET: returns the status code and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    let hostport = base.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("connect {hostport}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let raw = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header end in {raw:?}"));
    let status_line = head.lines().next().unwrap();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line {status_line:?}"));
    (code, body.to_string())
}

fn get_json(base: &str, path: &str) -> serde_json::Value {
    let (code, body) = get(base, path);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

#[test]
fn explore_serves_the_api_and_stops_on_sigint() {
    let started = Instant::now();
    let mut ex = Explorer::spawn(&["gms2", "--addr", "127.0.0.1:0", "--quiet"]);
    let lines = ex.read_until("Serving until Ctrl-C.", Instant::now() + STARTUP);
    let banner = parse_banner(&lines);
    assert!(
        lines.iter().any(|l| l.starts_with("checked: VIOLATED")),
        "no checked line in {lines:?}"
    );

    // The agreement counterexample is linked, at the path `groupy check gms2` reports.
    let agreement = banner
        .links
        .iter()
        .find(|(kind, name, _)| kind == "counterexample" && name == "agreement")
        .unwrap_or_else(|| panic!("no agreement counterexample link in {lines:?}"));
    assert_eq!(agreement.2, "0/0/1/0/1/0/0/0/0/0");
    assert!(
        banner
            .links
            .iter()
            .any(|(kind, name, _)| kind == "witness" && name == "broadcast cut by crash"),
        "no witness link for the cut broadcast in {lines:?}"
    );

    // /.status lists the model's properties as [expectation, name, path-or-null].
    let status = get_json(&banner.base, "/.status");
    let props = status["properties"]
        .as_array()
        .expect("/.status has a properties array");
    let named = |name: &str| props.iter().find(|p| p[1] == name);
    for (name, expectation) in [
        ("agreement", "Always"),
        // Judged at every quiescent state, so an always-property of the model (gated on
        // quiescence), not stateright's `eventually`.
        ("validity", "Always"),
        ("broadcast cut by crash", "Sometimes"),
    ] {
        let p = named(name).unwrap_or_else(|| panic!("/.status lacks {name}: {props:?}"));
        assert_eq!(p[0], expectation, "{name}");
        assert!(p[2].is_null() || p[2].is_string(), "{name}: path {}", p[2]);
    }

    // Every linked path leads to a state: the steps from it are a JSON array.
    for (_, name, path) in &banner.links {
        let next = get_json(&banner.base, &format!("/.states/{path}"));
        let next = next
            .as_array()
            .unwrap_or_else(|| panic!("{name}: /.states/{path} is not an array"));
        for step in next {
            assert!(step["action"].is_string(), "{name}: step without an action");
        }
    }
    // The last step of the agreement counterexample is n1's message m1.0 reaching n2,
    // labelled in groupy's words.
    let (parent, last) = agreement.2.rsplit_once('/').unwrap();
    let choices = get_json(&banner.base, &format!("/.states/{parent}"));
    let last: usize = last.parse().unwrap();
    let action = choices[last]["action"].as_str().expect("the last action");
    assert_eq!(action, "n2 receives msg(m1.0) from n1");

    // Invalid paths: 404.
    for bad in ["/.states/0/99/99", "/.states/7", "/.states/0/0/x"] {
        let (code, body) = get(&banner.base, bad);
        assert_eq!(code, 404, "GET {bad}: {body}");
    }
    // The UI page itself.
    let (code, page) = get(&banner.base, "/");
    assert_eq!(code, 200);
    assert!(page.contains("Stateright Explorer"), "{page}");

    // Ctrl-C: "stopped." and exit status 0.
    ex.interrupt();
    let status = ex.wait(Instant::now() + Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "exit status after SIGINT: {status}");
    let rest = ex.read_until("stopped.", Instant::now() + Duration::from_secs(5));
    assert_eq!(rest.last().map(String::as_str), Some("stopped."));
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the whole test took {:?}",
        started.elapsed()
    );
}

#[test]
fn explore_reports_a_busy_port() {
    // Hold a port, then ask the Explorer to serve on it: exit 2 with a hint, not a panic.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let mut ex = Explorer::spawn_with_stderr(&["gms2", "--addr", &addr, "--quiet"], Stdio::piped());
    let status = ex.wait(Instant::now() + Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(2),
        "exit status on a busy port: {status}"
    );
    let mut err = String::new();
    ex.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("cannot listen on") && err.contains(&addr),
        "stderr: {err}"
    );
    drop(held);
}
