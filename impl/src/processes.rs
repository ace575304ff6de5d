//! `groupy check --processes K` and `--hostfile FILE --process I`: where the processes of a
//! distributed search are, and the local ones `--processes` starts (the search itself is
//! `groupy_model::distributed`).

use groupy_model::check::{Cluster, Strategy};
use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Why the flags given cannot run across processes, if they cannot.
pub fn distributable(
    protocol_given: bool,
    strategy: Strategy,
    given: &[String],
) -> Result<(), String> {
    if !protocol_given {
        return Err(
            "the matrix (groupy check without a protocol) runs on one process; name a protocol \
             to search across processes"
                .to_string(),
        );
    }
    if matches!(strategy, Strategy::Dfs | Strategy::Simulation) {
        return Err(format!(
            "a search across processes is breadth first; --strategy {} runs on one process \
             (drop --strategy, or give bfs)",
            if strategy == Strategy::Dfs {
                "dfs"
            } else {
                "simulation"
            }
        ));
    }
    for flag in ["max_states", "max_depth"] {
        if given.iter().any(|g| g == flag) {
            return Err(format!(
                "--{} is not supported across processes; bound the search with --timeout, \
                 --max-memory or --fail-fast, or run it on one process",
                flag.replace('_', "-")
            ));
        }
    }
    Ok(())
}

/// The cluster a host file describes, this process being line `process` of it.
pub fn from_hostfile(file: &Path, process: usize, workers: usize) -> Result<Cluster, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the host file {}: {e}", file.display()))?;
    let addresses =
        parse_hostfile(&text).map_err(|e| format!("{} is not a host file: {e}", file.display()))?;
    if process >= addresses.len() {
        return Err(format!(
            "--process {process}: {} lists {} processes, 0 to {}",
            file.display(),
            addresses.len(),
            addresses.len() - 1
        ));
    }
    Ok(Cluster {
        addresses,
        process,
        workers,
    })
}

/// `host:port` a line, process 0 first; blank lines and `#` comments are skipped.
fn parse_hostfile(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let port = line.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(p)) if p > 0) {
            return Err(format!("line {}: '{line}' is not host:port", n + 1));
        }
        out.push(line.to_string());
    }
    if out.is_empty() {
        return Err("it lists no process (host:port, one a line)".to_string());
    }
    Ok(out)
}

/// The local processes a `--processes K` search started (1 to K-1; this one is 0).
pub struct Children {
    watch: JoinHandle<Result<(), String>>,
    done: Arc<AtomicBool>,
    hostfile: PathBuf,
}

impl Children {
    /// Waits for every process to end; an error if one failed.
    pub fn wait(self) -> Result<(), String> {
        self.done.store(true, Ordering::Relaxed);
        let r = self
            .watch
            .join()
            .map_err(|_| "the process watcher panicked".to_string())
            .and_then(|r| r);
        let _ = std::fs::remove_file(&self.hostfile);
        r
    }
}

/// Starts processes 1 to K-1 of a search on this machine: this command again, without
/// `--processes`, with a host file of loopback ports. A process that fails ends the search
/// (this one cannot go on without it): the error is printed and groupy exits 2.
pub fn spawn(k: usize, quiet_given: bool) -> Result<(Vec<String>, Children), String> {
    // Ports the system hands out now; released just before the processes bind them.
    let listeners = (0..k)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find free loopback ports: {e}"))?;
    let addresses = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find free loopback ports: {e}"))?;
    drop(listeners);
    let hostfile = std::env::temp_dir().join(format!("groupy-hosts-{}", std::process::id()));
    std::fs::write(&hostfile, addresses.join("\n") + "\n")
        .map_err(|e| format!("cannot write {}: {e}", hostfile.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find groupy itself: {e}"))?;
    let args = without_processes(std::env::args_os().skip(1));
    let mut kids = Vec::new();
    for i in 1..k {
        let mut c = Command::new(&exe);
        c.args(&args)
            .arg("--hostfile")
            .arg(&hostfile)
            .arg("--process")
            .arg(i.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if !quiet_given {
            c.arg("--quiet");
        }
        let child = c
            .spawn()
            .map_err(|e| format!("cannot start process {i} of the search: {e}"))?;
        kids.push((i, child));
    }
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let watch = std::thread::spawn(move || watch(kids, &flag));
    Ok((
        addresses,
        Children {
            watch,
            done,
            hostfile,
        },
    ))
}

/// Until every child has ended: a child that fails while the search runs ends it.
fn watch(mut kids: Vec<(usize, Child)>, done: &AtomicBool) -> Result<(), String> {
    loop {
        let mut running = false;
        for (i, kid) in &mut kids {
            match kid.try_wait() {
                Ok(Some(status)) if !status.success() => {
                    let why = format!("process {i} of the search ended ({status})");
                    if done.load(Ordering::Relaxed) {
                        return Err(why);
                    }
                    eprintln!("error: {why}; the search cannot go on without it");
                    std::process::exit(2);
                }
                Ok(Some(_)) => {}
                Ok(None) => running = true,
                Err(e) => return Err(format!("cannot watch process {i}: {e}")),
            }
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The arguments without `--processes K` (or `--processes=K`).
fn without_processes(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        match a.to_str() {
            Some("--processes") => skip = true,
            Some(s) if s.starts_with("--processes=") => {}
            _ => out.push(a),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_file_lists_host_ports_and_says_what_is_wrong() {
        let ok = parse_hostfile("# the cluster\n10.0.0.1:2101\n\nhost-b:2101  # second\n");
        assert_eq!(ok, Ok(vec!["10.0.0.1:2101".into(), "host-b:2101".into()]));
        let bad = parse_hostfile("10.0.0.1\n").unwrap_err();
        assert!(bad.contains("line 1") && bad.contains("host:port"), "{bad}");
        assert!(parse_hostfile("# nothing\n").is_err());
        assert!(parse_hostfile("h:0\n").is_err());
    }

    #[test]
    fn the_processes_flag_is_taken_out_in_either_spelling() {
        let args = [
            "check",
            "gms3",
            "--processes",
            "2",
            "--nodes",
            "4",
            "--processes=3",
        ];
        let out = without_processes(args.iter().map(OsString::from));
        assert_eq!(out, ["check", "gms3", "--nodes", "4"].map(OsString::from));
    }
}
