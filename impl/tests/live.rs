//! The live group on loopback UDP: `groupy run` and `groupy node` drive the checker's own
//! actors, and `groupy verify` judges their logs with the checker's own properties.
//!
//! Each test takes a few seconds, on 127.0.0.1 only, on ports the OS picks. They run one at
//! a time (a lock): the failure detector's timing should not depend on how many other groups
//! share the machine's two cores.

use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn groupy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groupy"))
        .args(args)
        .output()
        .expect("groupy runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("groupy-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The lines of a node's live log.
fn lines(dir: &Path, node: usize) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(format!("node-{node}.jsonl"))).expect("log");
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The messages a node delivered, in order, as (from, seq).
fn delivered(dir: &Path, node: usize) -> Vec<(u64, u64)> {
    lines(dir, node)
        .iter()
        .filter(|l| l["line"] == "deliver")
        .map(|l| {
            let id = &l["id"];
            (id["from"].as_u64().unwrap(), id["seq"].as_u64().unwrap())
        })
        .collect()
}

/// `n` loopback addresses with ports free at the time of asking.
fn free_addrs(n: usize) -> Vec<String> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.local_addr().unwrap().port()))
        .collect()
}

fn verify(dir: &Path) -> Output {
    groupy(&["verify", dir.to_str().unwrap()])
}

#[test]
fn gms3_on_fifo_links_delivers_one_sequence_everywhere() {
    let _one = serial();
    let dir = scratch("gms3");
    let d = dir.to_str().unwrap();
    // No crash here: a longer detector timeout only guards against a false suspicion when
    // the machine is busy (the idle tests check the defaults).
    let run = groupy(&[
        "run",
        "gms3",
        "--duration",
        "2",
        "--suspect-after",
        "1500",
        "--log-dir",
        d,
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let first = delivered(&dir, 0);
    assert!(first.len() > 20, "only {} delivered", first.len());
    for n in 1..5 {
        assert_eq!(delivered(&dir, n), first, "node {n}");
    }
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert!(text(&v).contains("live gms3 group"), "{}", text(&v));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gms2_goes_out_of_sync_when_leaders_crash_mid_broadcast() {
    let _one = serial();
    let mut outcomes = Vec::new();
    for seed in ["1", "2", "3", "4", "5", "6", "7", "8"] {
        let dir = scratch(&format!("gms2-{seed}"));
        let d = dir.to_str().unwrap();
        let run = groupy(&[
            "run",
            "gms2",
            "--duration",
            "2",
            "--crash-rate",
            "1/20",
            "--seed",
            seed,
            "--log-dir",
            d,
            "--quiet",
        ]);
        let v = verify(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        // What the run concluded from its threads' logs, verify concludes from the files.
        assert_eq!(
            run.status.code(),
            v.status.code(),
            "{}{}",
            text(&run),
            text(&v)
        );
        if v.status.code() == Some(1) {
            assert!(text(&v).contains("agreement"), "{}", text(&v));
            assert!(
                text(&v).contains("logs diverge at position"),
                "{}",
                text(&v)
            );
            return;
        }
        outcomes.push((seed, text(&run)));
    }
    panic!("no seed put gms2 out of sync: {outcomes:#?}");
}

#[test]
fn gms3_on_fifo_links_stays_consistent_under_five_percent_loss() {
    let _one = serial();
    let dir = scratch("gms3-drop");
    let d = dir.to_str().unwrap();
    let run = groupy(&[
        "run",
        "gms3",
        "--duration",
        "2",
        "--suspect-after",
        "1500",
        "--drop",
        "0.05",
        "--seed",
        "5",
        "--log-dir",
        d,
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let report: Value = serde_json::from_slice(&run.stdout).expect("json report");
    let nodes = report["node_reports"].as_array().expect("node reports");
    let resent: u64 = nodes
        .iter()
        .map(|n| n["link"]["resent"].as_u64().unwrap())
        .sum();
    let dropped: u64 = nodes
        .iter()
        .map(|n| n["faults"]["dropped"].as_u64().unwrap())
        .sum();
    assert!(
        dropped > 0 && resent > 0,
        "dropped {dropped}, resent {resent}"
    );
    let colours: Vec<_> = nodes.iter().map(|n| n["colour"].clone()).collect();
    assert!(colours.windows(2).all(|w| w[0] == w[1]), "{colours:?}");
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An idle group (the workers' first multicast is far off) for `secs`: the leader's heartbeats
/// alone must keep every slave from suspecting it.
fn idle_group_suspects_nobody(secs: &str) {
    let dir = scratch(&format!("idle-{secs}"));
    let d = dir.to_str().unwrap();
    let run = groupy(&[
        "run",
        "gms3",
        "--duration",
        secs,
        "--sleep",
        "100000000",
        "--log-dir",
        d,
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    for n in 0..5 {
        let views = lines(&dir, n)
            .iter()
            .filter(|l| l["line"] == "view")
            .count();
        assert_eq!(views, 0, "node {n} installed a view: a false suspicion");
    }
    assert!(text(&run).contains("n0    leader"), "{}", text(&run));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_idle_group_suspects_nobody_for_3_seconds() {
    let _one = serial();
    idle_group_suspects_nobody("3");
}

#[test]
#[ignore = "takes a minute: cargo test --release -p groupy --test live -- --ignored"]
fn an_idle_group_suspects_nobody_for_60_seconds() {
    let _one = serial();
    idle_group_suspects_nobody("60");
}

/// Three `groupy node` processes form a group and multicast; the leader's process is
/// SIGKILLed; the survivors' heartbeat detector elects node 1, multicasting goes on, and
/// their logs (the killed node's too, cut where it died) verify.
#[test]
fn three_processes_survive_the_leaders_sigkill() {
    let _one = serial();
    let (view, next) = the_leader_sigkilled("gms3", 3, "50", "4", 1500, "procs");
    println!(
        "leader SIGKILLed: new view at node 2 after {view} ms, next delivery after {next} ms \
         (--suspect-after 500, --heartbeat 100)"
    );
}

/// Five gms5 processes, every worker multicasting every 2 ms (a saturating load on two
/// cores), the leader SIGKILLed at 6 s of 11: the group must change its view and deliver
/// again while the load lasts. Before the retransmission timeout backed off, the slaves
/// repeated their windows of multicasts to the candidate every millisecond and the
/// election waited for the load to end (notes/gms5.md, "A failover starved by retries");
/// this test failed then (a kill at 3 s, with a shorter log to gather, did not show it).
#[test]
fn five_gms5_processes_fail_over_under_a_saturating_load() {
    let _one = serial();
    let (view, next) = the_leader_sigkilled("gms5", 5, "2", "11", 6000, "saturated");
    println!("gms5 under load, leader SIGKILLed: new view after {view} ms, next delivery after {next} ms");
}

/// Runs `n` node processes of `protocol`, SIGKILLs node 0 after `kill_after_ms`, and returns
/// how long after the kill node 2 installed a new view and then delivered (both within 3 s,
/// or it panics); then checks that the survivors exit cleanly and agree, and that the logs
/// verify.
fn the_leader_sigkilled(
    protocol: &str,
    n: usize,
    sleep: &str,
    duration: &str,
    kill_after_ms: u64,
    name: &str,
) -> (u64, u64) {
    let dir = scratch(name);
    let d = dir.to_str().unwrap().to_string();
    // Ports the OS hands out, released just before the nodes bind them.
    let addrs = free_addrs(n);
    let peers = addrs.join(",");
    let mut nodes: Vec<_> = (0..n)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_groupy"))
                .args([
                    "node",
                    protocol,
                    "--id",
                    &i.to_string(),
                    "--listen",
                    &addrs[i],
                    "--peers",
                    &peers,
                    "--log-dir",
                    &d,
                    "--sleep",
                    sleep,
                    "--duration",
                    duration,
                    "--drain",
                    "1500",
                    "--quiet",
                ])
                .spawn()
                .expect("groupy node starts")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(kill_after_ms));
    let before = delivered(&dir, 1).len();
    nodes[0].kill().expect("SIGKILL the leader");
    let killed = Instant::now();
    let killed_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let _ = nodes[0].wait();
    // The first delivery after the new view, at node 2 (a slave of the new leader).
    let mut view_ms = None;
    let mut next_ms = None;
    while killed.elapsed() < Duration::from_secs(3) && next_ms.is_none() {
        for l in lines(&dir, 2) {
            let at = l["at_ms"].as_u64().unwrap_or(0);
            if l["line"] == "view" && at >= killed_ms && view_ms.is_none() {
                view_ms = Some(at);
            }
            if l["line"] == "deliver" && view_ms.is_some_and(|v| at >= v) {
                next_ms = Some(at);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (Some(view_ms), Some(next_ms)) = (view_ms, next_ms) else {
        panic!("no new view and delivery at node 2 within 3 s of the kill");
    };
    for (i, node) in nodes.iter_mut().enumerate().skip(1) {
        let status = node.wait().expect("node exits");
        assert_eq!(status.code(), Some(0), "node {i}");
    }
    assert!(before > 0, "nothing delivered before the kill");
    let survivors = delivered(&dir, 1);
    assert!(survivors.len() > before, "nothing delivered after the kill");
    for i in 2..n {
        assert_eq!(delivered(&dir, i), survivors, "node {i}");
    }
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let _ = std::fs::remove_dir_all(&dir);
    (view_ms - killed_ms, next_ms - killed_ms)
}

/// A gms5 node's process SIGKILLed and started again with the same command comes back as a
/// new life (its incarnation kept in --log-dir), joins, and delivers again; its first life's
/// log is kept beside the new one, and every life's log verifies. gms4, which has no
/// incarnations, refuses to start over an earlier run's files rather than lead a group of its
/// own.
#[test]
fn a_restarted_gms5_process_rejoins_as_a_new_life() {
    let _one = serial();
    let dir = scratch("restart");
    let d = dir.to_str().unwrap().to_string();
    let addrs = free_addrs(3);
    let peers = addrs.join(",");
    let node = |i: usize, secs: &str| {
        Command::new(env!("CARGO_BIN_EXE_groupy"))
            .args([
                "node",
                "gms5",
                "--id",
                &i.to_string(),
                "--listen",
                &addrs[i],
                "--peers",
                &peers,
                "--log-dir",
                &d,
                "--sleep",
                "50",
                "--duration",
                secs,
                "--drain",
                "1500",
                "--quiet",
            ])
            .spawn()
            .expect("groupy node starts")
    };
    let mut nodes: Vec<_> = (0..3).map(|i| node(i, "5")).collect();
    std::thread::sleep(Duration::from_millis(1500));
    nodes[2].kill().expect("SIGKILL node 2");
    let _ = nodes[2].wait();
    std::thread::sleep(Duration::from_millis(500));
    nodes[2] = node(2, "3");
    for (i, n) in nodes.iter_mut().enumerate() {
        let status = n.wait().expect("node exits");
        assert_eq!(status.code(), Some(0), "node {i}");
    }
    let first = std::fs::read_to_string(dir.join("node-2.jsonl")).unwrap();
    let second = std::fs::read_to_string(dir.join("node-2-restart-1.jsonl")).unwrap();
    assert!(first.contains("\"line\":\"deliver\"") && !first.contains("\"line\":\"end\""));
    assert!(second.contains("\"restarts\":1"));
    let rejoined = second
        .lines()
        .filter(|l| l.contains("\"line\":\"deliver\""))
        .count();
    assert!(rejoined > 0, "the new life delivers:\n{second}");
    assert_eq!(
        std::fs::read_to_string(dir.join("node-2.life"))
            .unwrap()
            .trim(),
        "1 1",
        "one restart, incarnation 1"
    );
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert!(text(&v).contains("4 node logs"), "{}", text(&v));

    let o = groupy(&[
        "node",
        "gms4",
        "--id",
        "0",
        "--listen",
        &addrs[0],
        "--peers",
        &peers,
        "--log-dir",
        &d,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--fresh"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--pause` freezes the leader long enough for the slaves to suspect it: they elect node 1
/// (a false suspicion; what gms3 then does to the old leader's log is information here).
#[test]
fn a_paused_leader_is_suspected_and_replaced() {
    let _one = serial();
    let dir = scratch("pause");
    let d = dir.to_str().unwrap();
    let run = groupy(&[
        "run",
        "gms3",
        "--duration",
        "2",
        "--pause",
        "0:500:1000",
        "--log-dir",
        d,
        "--quiet",
    ]);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", text(&run));
    let views: Vec<Value> = lines(&dir, 2)
        .into_iter()
        .filter(|l| l["line"] == "view")
        .collect();
    assert_eq!(
        views.first().map(|v| v["view"][0].clone()),
        Some(1.into()),
        "{views:?}"
    );
    println!("{}", text(&run));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--partition` cuts {n0,n1} off from {n2,n3,n4} for 2 s, from 1 s into the run. gms5's
/// minority (the leader's side) stops delivering, the majority elects a leader and goes on,
/// and after the heal the minority rejoins and catches up: every log verifies and the logs
/// agree. gms4 under the same cut ends with two groups (exit 1).
#[test]
fn a_partition_stops_gms5s_minority_and_the_majority_goes_on() {
    let _one = serial();
    let dir = scratch("partition");
    let d = dir.to_str().unwrap();
    let cut = ["--partition", "0,1|2,3,4:1000:2000"];
    let args = |protocol| {
        let mut a = vec![
            "run",
            protocol,
            "--duration",
            "5",
            "--sleep",
            "20",
            "--quiet",
        ];
        a.extend_from_slice(&cut);
        a
    };
    let mut gms5 = args("gms5");
    gms5.extend_from_slice(&["--log-dir", d]);
    let run = groupy(&gms5);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(text(&run).contains("{n0,n1}|{n2,n3,n4} cut 1000+2000 ms"));
    let at = |node| -> Vec<u64> {
        lines(&dir, node)
            .iter()
            .filter(|l| l["line"] == "deliver")
            .filter_map(|l| l["at_ms"].as_u64())
            .collect()
    };
    // The run starts a few ms before its first delivery; inside the cut, leave 300 ms for
    // what was stable before it to arrive, and 200 ms at the end for the start's slack.
    let start = (0..5).flat_map(at).min().expect("deliveries");
    let during = |node| {
        at(node)
            .into_iter()
            .filter(|&t| t >= start + 1300 && t < start + 2800)
            .count()
    };
    assert_eq!(during(1), 0, "the minority delivered during the cut");
    assert!(
        during(2) > 0,
        "the majority delivered nothing during the cut"
    );
    assert_eq!(
        delivered(&dir, 1),
        delivered(&dir, 2),
        "n1 did not catch up"
    );
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let split = groupy(&args("gms4"));
    assert_eq!(split.status.code(), Some(1), "{}", text(&split));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Multi-host for real: notes/netns-cut.sh puts three `groupy node gms5` processes in
/// network namespaces of their own (veth pairs on a bridge), takes the leader's link down
/// for 4 s and brings it back. Every log verifies, the majority delivered during the cut and
/// the cut-off leader did not. Namespaces need root: elsewhere the test says so and passes.
#[test]
fn gms5_across_network_namespaces_survives_the_leaders_link_going_down() {
    let _one = serial();
    let dir = scratch("netns");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../notes/netns-cut.sh");
    let o = Command::new("bash")
        .args([script, env!("CARGO_BIN_EXE_groupy"), dir.to_str().unwrap()])
        .output()
        .expect("bash runs");
    if o.status.code() == Some(2) {
        eprintln!("skipped: {}", text(&o));
        return;
    }
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("n0 delivered 0 during the cut"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A view carries the whole application log a joiner adopts: after 1.5 s at a multicast every
/// 2 ms per node it no longer fits a 1200-byte datagram (`--max-datagram`), and goes in paced
/// parts that reassemble.
#[test]
fn a_view_larger_than_a_datagram_goes_in_parts() {
    let _one = serial();
    let dir = scratch("parts");
    let d = dir.to_str().unwrap();
    let run = groupy(&[
        "run",
        "gms3",
        "--nodes",
        "3",
        "--duration",
        "2",
        "--sleep",
        "2",
        "--pause",
        "0:1500:1500",
        // Postcard packs a delivery in about five bytes: a small limit makes the new
        // leader's view (the whole log) too large for one datagram within the test's time.
        "--max-datagram",
        "1200",
        "--log-dir",
        d,
        "--format",
        "json",
        "--quiet",
    ]);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", text(&run));
    let report: Value = serde_json::from_slice(&run.stdout).expect("json report");
    let n1 = &report["node_reports"][1];
    assert!(n1["sent_in_parts"].as_u64() > Some(0), "{n1}");
    let views: Vec<Value> = lines(&dir, 2)
        .into_iter()
        .filter(|l| l["line"] == "view")
        .collect();
    assert_eq!(views.len(), 1, "node 2 never got node 1's view");
    assert_eq!(views[0]["view"], serde_json::json!([1, 2]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `groupy node` started with `--join` asks a slave of a running 2-node group to let it in
/// (gms3's slave forwards the join to the leader; gms4's answers with a redirect to it); it
/// adopts the group's log and view, then multicasts like the others; the three logs verify.
#[test]
fn a_node_process_joins_a_running_group() {
    let _one = serial();
    for protocol in ["gms3", "gms4"] {
        joins_a_running_group(protocol);
    }
}

fn joins_a_running_group(protocol: &str) {
    let dir = scratch(&format!("join-{protocol}"));
    let d = dir.to_str().unwrap().to_string();
    let addrs = free_addrs(3);
    let peers = addrs.join(",");
    let node = |i: usize, extra: &[&str], secs: &str| {
        Command::new(env!("CARGO_BIN_EXE_groupy"))
            .args([
                "node",
                protocol,
                "--id",
                &i.to_string(),
                "--listen",
                &addrs[i],
                "--peers",
                &peers,
                "--initial",
                "2",
                "--log-dir",
                &d,
                "--duration",
                secs,
                "--drain",
                "1000",
                "--quiet",
            ])
            .args(extra)
            .spawn()
            .expect("groupy node starts")
    };
    let mut members = [node(0, &[], "3"), node(1, &[], "3")];
    std::thread::sleep(Duration::from_millis(800));
    let mut joiner = node(2, &["--join", &addrs[1]], "2");
    for n in members.iter_mut().chain([&mut joiner]) {
        assert_eq!(n.wait().expect("node exits").code(), Some(0));
    }
    let joined = lines(&dir, 2);
    let view = joined
        .iter()
        .find(|l| l["line"] == "view")
        .expect("the joiner's view");
    assert_eq!(view["view"], serde_json::json!([0, 1, 2]));
    assert!(
        view["pos"].as_u64() > Some(0),
        "the adopted log comes first: {view}"
    );
    let own = delivered(&dir, 2)
        .into_iter()
        .filter(|(from, _)| *from == 2)
        .count();
    assert!(own > 0, "the joiner's own multicasts were delivered");
    assert_eq!(delivered(&dir, 0), delivered(&dir, 2));
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM stops a node cleanly: exit 0, and its log ends with an `end` line (not crashed).
#[test]
fn sigterm_stops_a_node_cleanly() {
    let _one = serial();
    let dir = scratch("sigterm");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut node = Command::new(env!("CARGO_BIN_EXE_groupy"))
        .args([
            "node",
            "gms3",
            "--id",
            "0",
            "--listen",
            &addr,
            "--peers",
            &addr,
            "--log-dir",
            dir.to_str().unwrap(),
            "--quiet",
        ])
        .spawn()
        .expect("groupy node starts");
    std::thread::sleep(Duration::from_millis(700));
    let term = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = node.wait().expect("node exits");
    assert_eq!(status.code(), Some(0));
    let log = lines(&dir, 0);
    let end = log.last().expect("a log");
    assert_eq!(end["line"], "end", "{end}");
    assert_eq!(end["crashed"], false);
    assert!(
        log.iter().any(|l| l["line"] == "deliver"),
        "a lone leader delivers its own"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Garbage, truncated and foreign datagrams are dropped and counted; the node goes on.
#[test]
fn junk_datagrams_are_dropped_and_counted() {
    let _one = serial();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let node = Command::new(env!("CARGO_BIN_EXE_groupy"))
        .args([
            "node",
            "gms3",
            "--id",
            "0",
            "--listen",
            &addr,
            "--peers",
            &addr,
            "--duration",
            "1",
            "--drain",
            "200",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groupy node starts");
    std::thread::sleep(Duration::from_millis(300));
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut long = b"GRPY".to_vec();
    long.extend([0xff; 200]);
    for datagram in [&b"hi"[..], &[0u8; 64][..], &long[..], &[0xffu8; 2000][..]] {
        junk.send_to(datagram, &addr).unwrap();
    }
    let out = node.wait_with_output().expect("node exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("dropped in: "), "{stderr}");
    assert!(!stderr.contains("dropped in: none"), "{stderr}");
}

#[test]
fn bad_arguments_name_the_valid_values() {
    let usage = |args: &[&str], says: &str| {
        let o = groupy(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    };
    usage(&["run", "gms3", "--link", "tcp"], "fifo, raw");
    usage(&["run", "gms3", "--crash-rate", "1/x"], "1/K");
    usage(
        &["run", "gms5", "--partition", "0,1|1,2:100:100"],
        "both sides",
    );
    usage(
        &["run", "gms5", "--partition", "0|1:x:100"],
        "SIDE|SIDE:AT_MS:FOR_MS",
    );
    usage(
        &[
            "run",
            "gms5",
            "--duration",
            "2",
            "--partition",
            "0|1,2:1500:1000",
        ],
        "heals after the multicasting time",
    );
    usage(
        &[
            "run",
            "gms5",
            "--nodes",
            "3",
            "--partition",
            "0|1,7:100:100",
        ],
        "names node 7",
    );
    usage(&["run", "gms9"], "gms3");
    usage(
        &[
            "node",
            "gms3",
            "--id",
            "3",
            "--listen",
            "127.0.0.1:9",
            "--peers",
            "127.0.0.1:9",
        ],
        "not an index in --peers",
    );
}

/// A stranger without the group's key cannot get in: its join is dropped as unauthenticated,
/// no view names it, and the members stay consistent.
#[test]
fn a_stranger_without_the_key_changes_no_view_and_no_delivery() {
    let _one = serial();
    let dir = scratch("stranger");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_string();
    let key = dir.join("group.key");
    let other = dir.join("stranger.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::write(&other, [9u8; 32]).unwrap();
    let addrs = free_addrs(3);
    let peers = addrs.join(",");
    let node = |i: usize, key: &Path, log: Option<&str>, extra: &[&str], secs: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_groupy"));
        c.args([
            "node",
            "gms3",
            "--id",
            &i.to_string(),
            "--listen",
            &addrs[i],
        ])
        .args(["--peers", &peers, "--initial", "2", "--duration", secs])
        .args(["--drain", "1000", "--key-file", key.to_str().unwrap()])
        .args(extra)
        .stderr(std::process::Stdio::piped());
        if let Some(dir) = log {
            c.args(["--log-dir", dir]);
        }
        c.spawn().expect("groupy node starts")
    };
    let members = [
        node(0, &key, Some(&d), &[], "3"),
        node(1, &key, Some(&d), &[], "3"),
    ];
    std::thread::sleep(Duration::from_millis(800));
    let stranger = node(2, &other, None, &["--join", &addrs[1]], "2");
    let _ = stranger.wait_with_output();
    let mut dropped = String::new();
    for m in members {
        let out = m.wait_with_output().expect("node exits");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        dropped.push_str(&stderr);
    }
    assert!(dropped.contains("unauthenticated"), "{dropped}");
    for n in 0..2 {
        for l in lines(&dir, n).iter().filter(|l| l["line"] == "view") {
            assert_eq!(l["view"], serde_json::json!([0, 1]), "{l}");
        }
    }
    assert!(!delivered(&dir, 0).is_empty());
    assert_eq!(delivered(&dir, 0), delivered(&dir, 1));
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--batch`: a turn's frames to one peer share a datagram; on fifo links and on raw UDP the
/// group stays consistent, and the logs `groupy verify` reads agree.
#[test]
fn batched_frames_keep_gms3_and_gms4_consistent() {
    let _one = serial();
    for (protocol, link) in [("gms3", "fifo"), ("gms4", "raw")] {
        let dir = scratch(&format!("batch-{protocol}"));
        let d = dir.to_str().unwrap();
        let run = groupy(&[
            "run",
            protocol,
            "--nodes",
            "3",
            "--duration",
            "1",
            "--sleep",
            "1",
            "--batch",
            "--link",
            link,
            "--suspect-after",
            "1500",
            "--log-dir",
            d,
            "--quiet",
        ]);
        assert_eq!(run.status.code(), Some(0), "{protocol}: {}", text(&run));
        let first = delivered(&dir, 0);
        assert!(
            first.len() > 20,
            "{protocol}: only {} delivered",
            first.len()
        );
        for n in 1..3 {
            assert_eq!(delivered(&dir, n), first, "{protocol}: node {n}");
        }
        let v = verify(&dir);
        assert_eq!(v.status.code(), Some(0), "{}", text(&v));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `groupy bench` prints its table: the bound measured in the run, each figure's ratio.
#[test]
fn groupy_bench_prints_figures_against_the_bound() {
    let _one = serial();
    let run = groupy(&[
        "bench", "--quick", "--reps", "1", "--only", "idle", "--nodes", "3",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let out = String::from_utf8_lossy(&run.stdout);
    for want in [
        "raw UDP round trip p50",
        "sequencer bound N=3",
        "false suspicions",
        "every run's logs consistent",
    ] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
}

/// An unkeyed datagram from a stranger's port that names the leader as its sender, with the
/// highest counter there is, must not move the leader's replay window at the slaves: if it
/// did, every real datagram of the leader after it would be dropped as replayed, the slaves
/// would suspect it and the group would split (issue 23). It is dropped as foreign, the group
/// keeps its view, and the logs agree.
#[test]
fn a_forged_datagram_from_a_strangers_port_freezes_no_window() {
    let _one = serial();
    let dir = scratch("forged");
    let d = dir.to_str().unwrap().to_string();
    let addrs = free_addrs(3);
    let peers = addrs.join(",");
    let nodes: Vec<_> = (0..3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_groupy"))
                .args(["node", "gms3", "--id", &i.to_string()])
                .args(["--listen", &addrs[i], "--peers", &peers, "--log-dir", &d])
                // A slow detector: only the forgery, not a busy machine, may cause a suspicion.
                .args([
                    "--suspect-after",
                    "1500",
                    "--duration",
                    "3",
                    "--drain",
                    "1000",
                ])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("groupy node starts")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (receiver, addr) in addrs.iter().enumerate().skip(1) {
        stranger
            .send_to(&forged_heartbeat(0, receiver as u32, 1 << 63), addr)
            .unwrap();
    }
    let mut stderr = String::new();
    for (i, n) in nodes.into_iter().enumerate() {
        let out = n.wait_with_output().expect("node exits");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "node {i}: {err}");
        stderr.push_str(&err);
    }
    assert!(stderr.contains("foreign"), "{stderr}");
    for n in 0..3 {
        let views = lines(&dir, n)
            .iter()
            .filter(|l| l["line"] == "view")
            .count();
        assert_eq!(views, 0, "node {n} installed a view: a suspicion\n{stderr}");
    }
    let first = delivered(&dir, 0);
    assert!(first.len() > 10, "only {} delivered", first.len());
    for n in 1..3 {
        assert_eq!(delivered(&dir, n), first, "node {n}");
    }
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unkeyed `Heartbeat` frame of group 1 (the default) as the codec's module doc lays it
/// out, written by hand as an attacker would.
fn forged_heartbeat(sender: u32, receiver: u32, counter: u64) -> Vec<u8> {
    let mut d = b"GY".to_vec();
    d.push(5); // wire version
    d.push(0); // flags: unkeyed, one frame
    d.extend(1u32.to_le_bytes()); // group
    d.extend(sender.to_le_bytes());
    d.extend(receiver.to_le_bytes());
    d.extend(counter.to_le_bytes());
    d.push(3); // postcard: variant 3 of `Frame`, `Heartbeat`
    d
}

/// `groupy sim --validate`: every simulated step checked against the model, on either link.
#[test]
fn sim_validate_counts_the_steps_checked_on_either_link() {
    let dir = scratch("sim-validate");
    let logs = dir.to_string_lossy().to_string();
    let common = ["--nodes", "4", "--virtual-secs", "3", "--drop", "0.05"];
    let mut args = vec!["sim", "gms4", "--seeds", "1..3", "--validate"];
    args.extend(common);
    args.extend(["--format", "json", "--log-dir", &logs]);
    let o = groupy(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).expect("a JSON report");
    assert_eq!(r["validate"], true);
    assert!(
        r["steps_checked"].as_u64().is_some_and(|n| n > 1_000),
        "{r}"
    );

    // gms4 over the fifo link is judged against its own network, `udp`, whose behaviours
    // the link's are. A run the model cannot take fails with its step: simulate.rs's test.
    let mut args = vec![
        "sim",
        "gms4",
        "--link",
        "fifo",
        "--seeds",
        "1",
        "--validate",
    ];
    args.extend(common);
    let o = groupy(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
