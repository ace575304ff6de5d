//! The `groupy` command line: exit codes, the JSON report's schema, the text trace, the
//! files written by `--svg` and `--trace-json`, the verdict matrix and the help texts.
//!
//! Every run is bounded by a timeout: the default model configurations are checked in well
//! under a second, so a hang is a bug.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

const PROTOCOLS: [&str; 8] = [
    "gms1",
    "gms2",
    "gms3",
    "gms3-selective",
    "gms3-greedy",
    "gms4",
    "gms4-naive-join",
    "gms5",
];
const NETWORKS: [&str; 4] = ["ordered", "unordered", "lossy", "duplicating"];

/// `groupy` with the given arguments, killed if it runs longer than a minute.
fn groupy(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("groupy").expect("the groupy binary is built for tests");
    // Saved counterexamples (groupy-results/) land in cargo's scratch space, not the tree.
    cmd.args(args)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .timeout(Duration::from_secs(60));
    cmd
}

/// Runs `groupy check <args> --format json --quiet`, asserts the exit code and returns the
/// parsed report.
fn check_json(args: &[&str], code: i32) -> Value {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json", "--quiet"]);
    let out = groupy(&all).assert().code(code).get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "groupy {all:?} printed invalid JSON ({e}):\n{}",
            String::from_utf8_lossy(&out)
        )
    })
}

/// A fresh directory for files a test writes.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn sorted(mut k: Vec<&str>) -> Vec<&str> {
    k.sort_unstable();
    k
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn uint_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a non-negative integer in {v}"))
}

fn is_explorer_path(p: &str) -> bool {
    let Some(p) = p.strip_prefix("#/steps/") else {
        return false;
    };
    !p.is_empty()
        && p.split('/')
            .all(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Asserts the schema of a counterexample (or witness) trace for a run of `nodes` nodes.
fn validate_trace(t: &Value, nodes: u64) {
    assert_eq!(
        keys(t),
        sorted(vec![
            "protocol",
            "config",
            "property",
            "start",
            "path",
            "steps",
            "nodes",
            "divergence",
            "explorer_path",
            "in_flight",
            "lost",
            "logs",
            "shortest"
        ]),
        "trace keys"
    );
    assert!(t["shortest"].is_boolean(), "shortest is a boolean");
    let steps = t["steps"].as_array().expect("steps is an array");
    assert!(!steps.is_empty(), "a trace has at least one step");
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(
            keys(s),
            sorted(vec![
                "step",
                "model_step",
                "node",
                "action",
                "text",
                "effects"
            ]),
            "step keys"
        );
        assert_eq!(
            uint_of(s, "step"),
            i as u64 + 1,
            "steps are numbered from 1"
        );
        assert!(uint_of(s, "node") < nodes, "step node out of range: {s}");
        let act = str_of(&s["action"], "act");
        assert!(
            [
                "receive",
                "multicast",
                "broadcast_step",
                "suspect",
                "retransmit",
                "propose",
                "crash",
                "lose"
            ]
            .contains(&act),
            "unknown step action {act:?}"
        );
        assert_eq!(uint_of(&s["action"], "node"), uint_of(s, "node"));
        assert!(!str_of(s, "text").is_empty());
        for e in s["effects"].as_array().expect("effects is an array") {
            assert!(e["effect"].is_string(), "effects are tagged: {s}");
        }
    }
    let path = t["path"].as_array().expect("path is an array");
    assert!(
        path.iter().all(|a| a["act"].is_string()),
        "the path is tagged actions"
    );
    let summaries = t["nodes"].as_array().expect("nodes is an array");
    assert_eq!(summaries.len() as u64, nodes, "one summary per node");
    for (i, n) in summaries.iter().enumerate() {
        assert_eq!(
            keys(n),
            sorted(vec!["node", "role", "crashed", "view", "log", "colour"]),
            "node keys"
        );
        assert_eq!(uint_of(n, "node"), i as u64);
        assert!(
            ["leader", "slave", "outside"].contains(&str_of(n, "role")),
            "unknown role in {n}"
        );
        assert!(n["crashed"].is_boolean());
        assert!(n["view"].is_array());
        for entry in n["log"].as_array().expect("log is an array") {
            assert!(entry["Deliver"].is_object() || entry["View"].is_array());
        }
        let colour = n["colour"].as_array().expect("colour is an array");
        assert_eq!(colour.len(), 3, "colour is an RGB triple");
        assert!(colour.iter().all(|c| c.as_u64().is_some_and(|c| c <= 255)));
    }
    match &t["divergence"] {
        Value::Null => {}
        d => {
            assert_eq!(
                keys(d),
                sorted(vec![
                    "a",
                    "a_crashed",
                    "b",
                    "b_crashed",
                    "position",
                    "a_has",
                    "b_has"
                ]),
                "divergence keys"
            );
            assert!(uint_of(d, "a") < nodes && uint_of(d, "b") < nodes);
            assert!(uint_of(d, "position") >= 1, "positions are 1-based");
            assert!(d["a_has"].is_object() || d["a_has"].is_null());
            assert!(d["b_has"].is_object() || d["b_has"].is_null());
        }
    }
    let path = str_of(t, "explorer_path");
    assert!(is_explorer_path(path), "bad explorer_path {path:?}");
    let model_steps = steps.last().map_or(0, |s| uint_of(s, "model_step")) as usize;
    assert_eq!(
        path.trim_start_matches("#/steps/").split('/').count(),
        model_steps + 1,
        "the explorer path is the initial state's index then one index per model step"
    );
    let mut last = 0;
    for s in steps {
        let m = uint_of(s, "model_step");
        assert!(m == last || m == last + 1, "model steps are consecutive");
        last = m;
    }
}

/// Asserts the schema of a `groupy check --format json` report and its internal consistency.
fn validate_report(r: &Value) {
    assert_eq!(
        keys(r),
        sorted(vec![
            "protocol",
            "config",
            "strategy",
            "complete",
            "cut_short",
            "states",
            "unique_states",
            "max_depth",
            "quiescent_states",
            "seconds",
            "verdict",
            "properties",
            "livelock",
        ]),
        "report keys"
    );
    assert!(uint_of(r, "quiescent_states") <= uint_of(r, "unique_states"));
    let livelock = str_of(r, "livelock");
    assert!(
        livelock.starts_with("ran")
            || livelock.starts_with("not run")
            || livelock.starts_with("could not run"),
        "livelock: {livelock}"
    );
    assert!(PROTOCOLS.contains(&str_of(r, "protocol")));
    let c = &r["config"];
    assert_eq!(
        keys(c),
        sorted(vec![
            "nodes", "msgs", "joins", "senders", "join_via", "crashes", "crash_at", "detector",
            "network", "reduce"
        ]),
        "config keys"
    );
    for k in ["nodes", "msgs", "joins", "crashes"] {
        uint_of(c, k);
    }
    assert!(["any", "bcast"].contains(&str_of(c, "crash_at")));
    assert!(["initial", "all", "leader", "slaves"].contains(&str_of(c, "senders")));
    assert!(["slave", "leader"].contains(&str_of(c, "join_via")));
    assert!(["perfect", "unreliable"].contains(&str_of(c, "detector")));
    assert!(NETWORKS.contains(&str_of(c, "network")));
    assert!(["bfs", "dfs", "simulation"].contains(&str_of(r, "strategy")));
    let complete = r["complete"].as_bool().expect("complete is a boolean");
    match &r["cut_short"] {
        Value::Null => assert!(complete, "no cut_short reason, so complete"),
        Value::String(why) => assert!(!complete && !why.is_empty()),
        other => panic!("cut_short is neither null nor a string: {other}"),
    }
    let states = uint_of(r, "states");
    let unique = uint_of(r, "unique_states");
    assert!(unique <= states && unique > 0);
    uint_of(r, "max_depth");
    assert!(r["seconds"].as_f64().is_some_and(|s| s >= 0.0));
    let verdict = str_of(r, "verdict");
    assert!(["holds", "violated", "inconclusive"].contains(&verdict));

    let nodes = uint_of(c, "nodes") + uint_of(c, "joins");
    let props = r["properties"].as_array().expect("properties is an array");
    assert!(!props.is_empty());
    let mut claimed_violated = false;
    let mut unwitnessed = false;
    for p in props {
        assert_eq!(
            keys(p),
            sorted(vec![
                "name",
                "kind",
                "claimed",
                "status",
                "description",
                "counterexample"
            ]),
            "property keys"
        );
        let name = str_of(p, "name");
        let kind = str_of(p, "kind");
        let status = str_of(p, "status");
        let claimed = p["claimed"].as_bool().expect("claimed is a boolean");
        assert!(!str_of(p, "description").is_empty());
        match kind {
            "always" | "at quiescence" | "eventually" | "from anywhere" => assert!(
                ["holds", "violated"].contains(&status),
                "{name}: status {status} for an {kind} property"
            ),
            "sometimes" => {
                assert!(
                    ["witnessed", "unwitnessed"].contains(&status),
                    "{name}: status {status} for a sometimes property"
                );
                assert!(
                    !claimed,
                    "{name}: sometimes properties are witnesses, not claims"
                );
            }
            other => panic!("{name}: unknown kind {other:?}"),
        }
        claimed_violated |= claimed && status == "violated";
        unwitnessed |= status == "unwitnessed";
        match &p["counterexample"] {
            Value::Null => assert!(
                ["holds", "unwitnessed"].contains(&status),
                "{name}: {status} without a trace"
            ),
            t => {
                assert!(
                    ["violated", "witnessed"].contains(&status),
                    "{name}: a trace although {status}"
                );
                validate_trace(t, nodes);
            }
        }
    }
    let expected = if claimed_violated {
        "violated"
    } else if !complete || unwitnessed {
        "inconclusive"
    } else {
        "holds"
    };
    assert_eq!(
        verdict, expected,
        "verdict inconsistent with the properties"
    );
}

fn exit_code_of(verdict: &str) -> i32 {
    match verdict {
        "holds" => 0,
        "violated" => 1,
        "inconclusive" => 3,
        other => panic!("unknown verdict {other}"),
    }
}

fn property<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

// ---------------------------------------------------------------------------------------
// Exit codes

#[test]
fn gms3_holds_exit_0() {
    groupy(&["check", "gms3", "--quiet"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("verdict: HOLDS"))
        .stdout(predicate::str::contains("agreement").and(predicate::str::contains("holds")));
}

#[test]
fn gms2_violated_exit_1() {
    groupy(&["check", "gms2", "--quiet"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("verdict: VIOLATED"));
    groupy(&["check", "gms2", "--quiet", "--fail-fast"])
        .assert()
        .code(1);
    groupy(&["check", "gms2", "--quiet", "--strategy", "dfs"])
        .assert()
        .code(1);
    groupy(&["check", "gms2", "--quiet", "--threads", "2"])
        .assert()
        .code(1);
}

/// A gms3 configuration that holds but whose exploration (about 470,000 states, 2-3 s)
/// cannot finish within the tiny limits below: with the default 3 nodes the whole space
/// (about 3,300 states) is explored before a limit can bite.
const BIG: [&str; 5] = ["gms3", "--nodes", "4", "--msgs", "3"];

#[test]
fn inconclusive_exit_3() {
    let big = |limit: &[&'static str]| {
        let mut a = vec!["check", "--quiet"];
        a.extend_from_slice(&BIG);
        a.extend_from_slice(limit);
        a
    };
    for args in [
        &["check", "gms3", "--quiet", "--max-states", "100"][..],
        &big(&["--max-states", "100"]),
        &big(&["--timeout", "0.001"]),
        &["check", "gms3", "--quiet", "--max-depth", "5"],
        &[
            "check",
            "gms3",
            "--quiet",
            "--strategy",
            "simulation",
            "--timeout",
            "1",
        ],
    ] {
        groupy(args)
            .assert()
            .code(3)
            .stdout(predicate::str::contains("verdict: INCONCLUSIVE"));
    }
}

/// `--timeout` must bound the run. It does not with one checker thread (the default):
/// stateright 0.31's BFS and DFS workers only look at the deadline when their own queue runs
/// dry, which never happens single-threaded, so this run takes ~100 s instead of ~2 s.
#[test]
fn timeout_bounds_a_long_run() {
    let started = std::time::Instant::now();
    groupy(&[
        "check",
        "gms1",
        "--network",
        "duplicating",
        "--timeout",
        "2",
        "--quiet",
    ])
    .timeout(Duration::from_secs(30))
    .assert()
    .code(predicate::in_iter([1, 3]));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "--timeout 2 took {:?}",
        started.elapsed()
    );
}

#[test]
fn inconclusive_json_says_why() {
    let r = check_json(&["gms3", "--max-states", "100"], 3);
    validate_report(&r);
    assert_eq!(r["verdict"], "inconclusive");
    assert_eq!(r["complete"], false);
    assert!(str_of(&r, "cut_short").contains("state cap"));

    let r = check_json(&["gms3", "--strategy", "simulation", "--timeout", "1"], 3);
    validate_report(&r);
    assert_eq!(r["strategy"], "simulation");
    assert!(str_of(&r, "cut_short").contains("simulation"));
}

/// Asserts a usage error: exit 2, nothing on stdout, `needles` on stderr.
fn usage_error(args: &[&str], needles: &[&str]) {
    let a = groupy(args)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("error"), "groupy {args:?}: stderr {err:?}");
    for n in needles {
        assert!(
            err.contains(n),
            "groupy {args:?}: stderr does not name {n:?}:\n{err}"
        );
    }
}

#[test]
fn bad_network_names_the_valid_ones() {
    usage_error(
        &["check", "gms2", "--network", "foo"],
        &["foo", "ordered, unordered, lossy, duplicating"],
    );
}

#[test]
fn unknown_protocol_names_the_valid_ones() {
    let valid = "gms1, gms2, gms3, gms3-selective, gms3-greedy";
    usage_error(&["check", "gms9"], &["gms9", valid]);
    usage_error(&["explore", "gms9"], &["gms9", valid]);
}

#[test]
fn bad_usage_exit_2() {
    usage_error(&["check", "gms3", "--symmetry"], &["--symmetry"]);
    usage_error(&["check", "gms3", "--nodes", "0"], &["--nodes"]);
    usage_error(&["check", "gms3", "--crashes", "5"], &["--crashes"]);
    usage_error(
        &["check", "gms4", "--restarts", "1"],
        &[
            "gms4 does not model restarts",
            "--restarts works with: gms5",
        ],
    );
    usage_error(
        &["check", "gms4", "--restarts", "2"],
        &["--restarts 2 exceeds"],
    );
    usage_error(&["check", "--restarts", "1"], &["--restarts"]);
    usage_error(
        &["check", "gms3", "--fd", "maybe"],
        &["perfect, unreliable"],
    );
    usage_error(
        &["check", "gms3", "--crash-at", "sometimes"],
        &["any, bcast"],
    );
    usage_error(
        &["check", "gms3", "--strategy", "foo"],
        &["bfs, dfs, simulation"],
    );
    usage_error(&["check", "gms3", "--format", "xml"], &["text, json"]);
    usage_error(&["check", "gms3", "--timeout", "0"], &["--timeout"]);
    usage_error(&["check", "gms3", "--nodes", "three"], &["--nodes"]);
    usage_error(&["check", "gms3", "--bogus"], &["--bogus"]);
    usage_error(&["explore"], &["PROTOCOL"]);
    usage_error(&["explore", "gms2", "--addr", "nonsense"], &["--addr"]);
    usage_error(&["frobnicate"], &["frobnicate"]);
}

// ---------------------------------------------------------------------------------------
// The JSON report

#[test]
fn json_schema_gms2() {
    let r = check_json(&["gms2"], 1);
    validate_report(&r);
    assert_eq!(r["protocol"], "gms2");
    assert_eq!(
        r["config"],
        serde_json::json!({
            "nodes": 3, "msgs": 2, "joins": 0, "senders": "initial", "join_via": "slave",
            "crashes": 1, "crash_at": "any", "detector": "perfect", "network": "ordered",
            "reduce": "all"
        })
    );
    assert_eq!(r["strategy"], "dfs", "auto: depth-first on a finite space");
    assert_eq!(r["verdict"], "violated");
    assert_eq!(r["complete"], true);
    assert_eq!(r["cut_short"], Value::Null);

    let names: Vec<&str> = r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| str_of(p, "name"))
        .collect();
    for n in [
        "agreement",
        "validity",
        "broadcast cut by crash",
        "election held",
    ] {
        assert!(names.contains(&n), "no property {n} in {names:?}");
    }

    let agreement = property(&r, "agreement");
    assert_eq!(agreement["kind"], "always");
    assert_eq!(agreement["claimed"], true);
    assert_eq!(agreement["status"], "violated");
    let cex = &agreement["counterexample"];
    assert_eq!(cex["explorer_path"], "#/steps/0/0/1/0/1/0/0/0/0/0");
    assert_eq!(
        cex["shortest"], true,
        "BFS reports a shortest counterexample"
    );
    assert_eq!(cex["steps"].as_array().unwrap().len(), 12);
    let crash = &cex["steps"][2];
    assert_eq!(crash["action"]["act"], "crash");
    assert_eq!(crash["action"]["broadcast"]["sent"], 1);
    assert_eq!(crash["node"], 0);
    assert!(str_of(crash, "text").contains("cutting it: msg(m0.0) sent to 1/2 of [n1,n2]"));
    assert_eq!(
        cex["divergence"],
        serde_json::json!({"position": 1, "a": 1, "a_crashed": false,
            "a_has": {"Deliver": {"from": 0, "seq": 0, "value": 2}},
            "b": 2, "b_crashed": false, "b_has": {"View": [1, 2]}})
    );
    assert_eq!(cex["nodes"][0]["crashed"], true);
    assert_eq!(cex["nodes"][2]["role"], "slave");

    assert_eq!(property(&r, "validity")["kind"], "eventually");
    assert_eq!(property(&r, "convergence")["kind"], "at quiescence");
    assert_eq!(property(&r, "broadcast cut by crash")["kind"], "sometimes");
    assert_eq!(
        property(&r, "broadcast cut by crash")["status"],
        "witnessed"
    );
}

#[test]
fn json_schema_gms3_holds() {
    let r = check_json(&["gms3"], 0);
    validate_report(&r);
    assert_eq!(r["verdict"], "holds");
    assert_eq!(r["complete"], true);
    for p in r["properties"].as_array().unwrap() {
        if p["claimed"] == true {
            assert_eq!(p["status"], "holds", "{}", p["name"]);
            assert_eq!(p["counterexample"], Value::Null);
        }
    }
}

/// Every protocol in every environment of the verdict matrix (with --fail-fast, as the
/// matrix runs them): the report is well formed and the exit code agrees with the verdict.
#[test]
fn json_schema_every_protocol_and_environment() {
    for protocol in PROTOCOLS {
        let envs = NETWORKS
            .iter()
            .map(|n| ["--network", n, "--fd", "perfect"])
            .chain([["--network", "ordered", "--fd", "unreliable"]]);
        for env in envs {
            let mut args = vec!["check", protocol];
            args.extend_from_slice(&env);
            // Without --fail-fast the lossy and duplicating networks take minutes to
            // exhaust; the matrix stops at the first claimed violation too.
            args.extend_from_slice(&["--fail-fast", "--format", "json", "--quiet"]);
            // gms5 holds in every environment, so --fail-fast does not cut it short: its
            // cells are long rows, or (a wrong detector without a budget) infinite.
            if protocol == "gms5" {
                args.extend_from_slice(&["--max-states", "20000"]);
            }
            let out = groupy(&args).output().unwrap();
            let r: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("groupy {args:?}: invalid JSON ({e})"));
            validate_report(&r);
            assert_eq!(r["protocol"], protocol);
            assert_eq!(r["config"]["network"], env[1]);
            assert_eq!(r["config"]["detector"], env[3]);
            assert_eq!(
                out.status.code(),
                Some(exit_code_of(str_of(&r, "verdict"))),
                "groupy {args:?}: exit code vs verdict {}",
                r["verdict"]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The text trace

#[test]
fn gms2_text_trace_names_the_cutting_crash() {
    let a = groupy(&["check", "gms2", "--quiet"]).assert().code(1);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("counterexample: agreement violated"),
        "no agreement counterexample in:\n{out}"
    );
    // The agreement trace is the first one printed; look at it alone.
    let start = out.find("counterexample: agreement violated").unwrap();
    let trace = &out[start..];
    let trace = &trace[..trace.find("explorer path:").expect("an explorer path line")];

    let crash = trace
        .lines()
        .find(|l| l.contains("CRASHES"))
        .expect("a crash step");
    let crash = crash.trim_start();
    let (number, text) = crash.split_once(". ").expect("a numbered step");
    assert!(
        number.parse::<usize>().is_ok(),
        "the crash step is numbered: {crash:?}"
    );
    assert_eq!(
        text,
        "n0 CRASHES in the middle of a broadcast, cutting it: msg(m0.0) sent to 1/2 of [n1,n2]"
    );
    // Steps are numbered 1, 2, 3, ... in order.
    let numbers: Vec<usize> = trace
        .lines()
        .filter_map(|l| l.trim_start().split_once(". "))
        .filter_map(|(n, _)| n.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=numbers.len()).collect::<Vec<_>>());
    assert_eq!(numbers.len(), 12);

    assert!(out.contains("logs diverge at position 1: n1 delivered m0.0, n2 installed view[n1,n2]"));
    assert!(out.contains("explorer path: #/steps/0/0/1/0/1/0/0/0/0/0"));
    assert!(out.contains("final state:"));
}

#[test]
fn quiet_keeps_stderr_empty() {
    groupy(&["check", "gms2", "--quiet"])
        .assert()
        .code(1)
        .stderr(predicate::str::is_empty());
}

// ---------------------------------------------------------------------------------------
// --svg and --trace-json

#[test]
fn svg_and_trace_json_files() {
    let dir = scratch_dir("files");
    let svg = dir.join("cex.svg");
    let json = dir.join("cex.json");
    groupy(&[
        "check",
        "gms2",
        "--quiet",
        "--svg",
        svg.to_str().unwrap(),
        "--trace-json",
        json.to_str().unwrap(),
    ])
    .assert()
    .code(1);

    let svg_text = std::fs::read_to_string(&svg).expect("the svg file was written");
    assert!(
        svg_text.starts_with("<svg"),
        "svg starts with {:?}",
        &svg_text[..40.min(svg_text.len())]
    );
    assert!(svg_text.trim_end().ends_with("</svg>"));
    assert!(
        svg_text.contains("msg(m0.0)"),
        "the diagram labels the cut broadcast"
    );

    let trace: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the json file was written"))
            .expect("the trace file is JSON");
    validate_trace(&trace, 3);
    // It is the agreement counterexample, the first violated claimed property.
    assert_eq!(trace["explorer_path"], "#/steps/0/0/1/0/1/0/0/0/0/0");
    assert_eq!(trace["steps"].as_array().unwrap().len(), 12);
}

#[test]
fn unwritable_output_file_exit_2() {
    let dir = scratch_dir("unwritable");
    let svg = dir.join("no/such/dir/cex.svg");
    groupy(&["check", "gms2", "--quiet", "--svg", svg.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot write"));
}

// ---------------------------------------------------------------------------------------
// The verdict matrix

/// The whole matrix: about 40 s alone, longer while other tests share the cores.
fn matrix(args: &[&str]) -> Command {
    let mut all = vec!["check", "--quiet"];
    all.extend_from_slice(args);
    let mut cmd = groupy(&all);
    cmd.timeout(Duration::from_secs(300));
    cmd
}

#[test]
fn matrix_has_a_row_per_protocol_and_environment() {
    let a = matrix(&[]).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    let header = out.lines().next().expect("a header line");
    for col in ["protocol", "network", "fd", "verdict"] {
        assert!(header.contains(col), "header {header:?} lacks {col}");
    }
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.first().is_some_and(|p| PROTOCOLS.contains(p)))
        .collect();
    for protocol in PROTOCOLS {
        let mine: Vec<_> = rows.iter().filter(|w| w[0] == protocol).collect();
        assert_eq!(mine.len(), 5, "{protocol}: one row per environment");
        for network in NETWORKS {
            assert!(
                mine.iter().any(|w| w[1] == network && w[2] == "perfect"),
                "{protocol}: no {network}/perfect row"
            );
        }
        assert!(mine
            .iter()
            .any(|w| w[1] == "ordered" && w[2] == "unreliable"));
        for w in mine {
            assert!(
                ["HOLDS", "VIOLATED", "INCONCLUSIVE"].contains(&w[3]),
                "verdict column {:?}",
                w[3]
            );
        }
    }
    assert!(rows
        .iter()
        .any(|w| w[0] == "gms3" && w[1] == "ordered" && w[2] == "perfect" && w[3] == "HOLDS"));
    assert!(rows
        .iter()
        .any(|w| w[0] == "gms2" && w[1] == "ordered" && w[2] == "perfect" && w[3] == "VIOLATED"));
    assert!(out.contains("every one matches"), "{out}");
    // gms5's long cells are shown as documented, with the command that re-runs each.
    assert!(
        out.contains("(long row, not re-run: groupy check gms5 --network unordered)")
            && out.contains("groupy check gms5 --network lossy)"),
        "{out}"
    );
    assert!(
        out.contains("`groupy check --long` re-runs them too"),
        "{out}"
    );
}

#[test]
fn matrix_json() {
    let a = matrix(&["--format", "json"]).assert().code(0);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON");
    let cells = v.as_array().expect("an array of reports");
    assert_eq!(cells.len(), PROTOCOLS.len() * 5);
    for c in cells {
        assert_eq!(
            c["differences"],
            serde_json::json!([]),
            "{} {}",
            c["protocol"],
            c["config"]
        );
        assert!(c["documented"].is_string());
        // A long row's cell is not run: the row as documented, and why.
        if let Some(row) = c.get("not_rerun") {
            assert!(row["why"].as_str().is_some_and(|w| w.contains("--long")));
            assert!(PROTOCOLS.contains(&str_of(row, "protocol")));
            assert!(row["unique_states"].as_u64().is_some_and(|n| n > 1_000_000));
            assert!(["holds", "violated"].contains(&str_of(row, "verdict")));
            assert!(c.get("verdict").is_none(), "no report beside a row");
            continue;
        }
        let mut report = c.clone();
        let obj = report.as_object_mut().unwrap();
        obj.remove("differences");
        obj.remove("documented");
        validate_report(&report);
    }
}

/// `--long` runs the long cells too instead of showing them as documented (cut short here by
/// --max-states, so every cell is a report and the matrix is INCONCLUSIVE, exit 3).
#[test]
fn matrix_long_runs_every_cell() {
    let a = matrix(&["--long", "--max-states", "2000", "--format", "json"])
        .assert()
        .code(3);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON");
    let cells = v.as_array().expect("an array of reports");
    assert_eq!(cells.len(), PROTOCOLS.len() * 5);
    for c in cells {
        assert!(c.get("not_rerun").is_none(), "{c}");
        assert!(c["verdict"].is_string(), "{c}");
    }
}

#[test]
fn matrix_at_undocumented_bounds_is_inconclusive() {
    // No row of notes/verdicts.md documents N=2: nothing to compare, exit 3.
    let a = matrix(&["--nodes", "2"]).assert().code(3);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("no row in notes/verdicts.md"), "{out}");
}

#[test]
fn list_reads_the_protocol_table() {
    let a = groupy(&["list", "--format", "json"]).assert().code(0);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON");
    let names: Vec<_> = v["protocols"]
        .as_array()
        .expect("an array of protocols")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_string())
        .collect();
    assert_eq!(names, PROTOCOLS);
    let properties: Vec<_> = v["properties"]
        .as_array()
        .expect("an array of properties")
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_string())
        .collect();
    for p in [
        "agreement",
        "uniform_agreement",
        "convergence",
        "validity",
        "election held",
    ] {
        assert!(properties.iter().any(|q| q == p), "{p}");
    }
    let environment = v["environment"].as_array().expect("an array");
    for value in [
        "ordered",
        "lossy",
        "perfect",
        "unreliable",
        "bcast",
        "slaves",
    ] {
        assert!(environment.iter().any(|e| e["name"] == value), "{value}");
    }
    groupy(&["list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("claims: agreement"))
        .stdout(predicate::str::contains("at quiescence"))
        .stdout(predicate::str::contains("--network   duplicating"));
    // --help lists the protocols from the same table, each with its summary.
    groupy(&["check", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("gms3-selective"))
        .stdout(predicate::str::contains("selective receive"));
}

#[test]
fn workload_flags_name_their_valid_values() {
    groupy(&["check", "gms3", "--senders", "everyone"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("initial, all, leader, slaves"));
    groupy(&["check", "gms3", "--join-via", "n0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("slave, leader"));
}

// ---------------------------------------------------------------------------------------
// Help

#[test]
fn help_has_examples() {
    groupy(&["check", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Examples"))
        .stdout(predicate::str::contains("Exit codes"))
        .stdout(predicate::str::contains("--format"));
    groupy(&["explore", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Examples"))
        .stdout(predicate::str::contains("--addr"));
    groupy(&["--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("check").and(predicate::str::contains("explore")));
}

// ---------------------------------------------------------------------------------------
// The command line as users of cargo, SPIN and Maelstrom expect it

#[test]
fn every_run_ends_with_a_summary_and_unclaimed_traces_wait_for_verbose() {
    let a = groupy(&["check", "gms3", "--quiet"]).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("summary: gms3 HOLDS: 0 of 6 claimed properties violated"),
        "{last}"
    );
    assert!(last.ends_with("exit 0"), "{last}");
    assert!(
        !out.contains("counterexample: validity"),
        "unclaimed traces are not shown"
    );
    assert!(out.contains("1 unclaimed violated (--verbose)"), "{out}");
    let a = groupy(&["check", "gms3", "--quiet", "--verbose"])
        .assert()
        .code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("  validity: after "), "{out}");
    // --property shows one property, even an unclaimed one, and judges it alone.
    let a = groupy(&["check", "gms3", "--quiet", "--property", "validity"])
        .assert()
        .code(1);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("counterexample: validity violated (not claimed)"));
    assert!(
        out.contains("  lost: "),
        "a validity trace names the lost multicast: {out}"
    );
    assert!(!out.contains("  agreement "), "{out}");
    groupy(&["check", "gms3", "--property", "nonsense"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("valid values: agreement"));
}

#[test]
fn the_greedy_race_shows_the_message_still_in_flight() {
    let a = groupy(&["check", "gms3-greedy", "--quiet", "--no-save"])
        .assert()
        .code(1);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("still in flight: "), "{out}");
}

#[test]
fn a_violation_is_saved_under_results() {
    let dir = scratch("results");
    let a = groupy(&["check", "gms2", "--results", dir.to_str().unwrap()])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    let saved = dir.join("gms2-N=3_M=2_J=0_C=1_crash-at=any_fd=perfect_network=ordered");
    assert!(err.contains("saved the agreement counterexample"), "{err}");
    for f in ["agreement.json", "agreement.svg", "convergence.json"] {
        assert!(saved.join(f).is_file(), "{f}");
    }
    let empty = scratch("no-save");
    groupy(&[
        "check",
        "gms2",
        "--no-save",
        "--results",
        empty.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    assert!(std::fs::read_dir(&empty).unwrap().next().is_none());
}

#[test]
fn svg_without_a_violation_warns_and_keeps_the_verdict() {
    let dir = scratch("svg-holds");
    let svg = dir.join("none.svg");
    // gms1 without crashes violates nothing, claimed or not.
    groupy(&[
        "check",
        "gms1",
        "-c",
        "0",
        "--quiet",
        "--svg",
        svg.to_str().unwrap(),
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::contains("verdict: HOLDS"))
    .stderr(predicate::str::contains("no counterexample to write"));
    assert!(!svg.exists());
}

#[test]
fn an_unwritable_svg_writes_nothing() {
    let dir = scratch("unwritable");
    let json = dir.join("cex.json");
    groupy(&[
        "check",
        "gms2",
        "--no-save",
        "--trace-json",
        json.to_str().unwrap(),
        "--svg",
        "/nonexistent-dir/cex.svg",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "cannot write /nonexistent-dir/cex.svg",
    ));
    assert!(!json.exists(), "no half-written output");
}

#[test]
fn written_files_are_confirmed() {
    let dir = scratch("confirm");
    let svg = dir.join("c.svg");
    groupy(&["check", "gms2", "--no-save", "--svg", svg.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wrote "))
        .stderr(predicate::str::contains(
            "sequence diagram of the agreement counterexample",
        ));
    let data = std::fs::read_to_string(&svg).unwrap();
    assert!(data.contains("viewBox=") && !data.contains("viewbox="));
    assert!(data.contains("<title>groupy check gms2: agreement violated</title>"));
}

#[test]
fn long_is_the_matrixs_flag() {
    groupy(&["check", "gms1", "--long"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--long is the matrix's"));
}

#[test]
fn the_matrix_refuses_flags_it_cannot_honour() {
    for args in [
        vec!["check", "--network", "lossy"],
        vec!["check", "--fd", "unreliable"],
        vec!["check", "--svg", "x.svg"],
        vec!["check", "--trace-json", "x.json"],
    ] {
        groupy(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot honour"))
            .stderr(predicate::str::contains("It honours the bounds"));
    }
}

#[test]
fn simulation_keeps_its_deadline() {
    let started = std::time::Instant::now();
    groupy(&[
        "check",
        "gms2",
        "--strategy",
        "simulation",
        "--timeout",
        "2",
        "--quiet",
        "--no-save",
    ])
    .timeout(Duration::from_secs(40))
    .assert()
    .code(predicate::in_iter([1, 3]));
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "--timeout 2 took {:?}",
        started.elapsed()
    );
    groupy(&["check", "--help"])
        .assert()
        .stdout(predicate::str::contains("depth 200"));
}

#[test]
fn timeout_zero_names_the_valid_range() {
    groupy(&["check", "gms3", "--timeout", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("greater than 0"));
}

/// Starts `groupy <args>`, sends it SIGINT after two seconds, returns (exit code, stdout,
/// stderr).
fn interrupted(args: &[&str]) -> (Option<i32>, String, String) {
    use std::process::{Command as Process, Stdio};
    let child = Process::new(assert_cmd::cargo::cargo_bin("groupy"))
        .args(args)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groupy starts");
    std::thread::sleep(Duration::from_secs(2));
    let status = Process::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("groupy exits");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn ctrl_c_reports_what_was_found_and_exits_3() {
    // Big enough to run for minutes.
    let (code, stdout, stderr) = interrupted(&[
        "check",
        "gms3",
        "-n",
        "5",
        "-m",
        "4",
        "-c",
        "2",
        "--no-save",
    ]);
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("NOT complete: interrupted"), "{stdout}");
    assert!(stdout.contains("verdict: INCONCLUSIVE"), "{stdout}");
    assert!(stdout.contains("summary: gms3 INCONCLUSIVE"), "{stdout}");
    // The matrix too: the cells done so far, then exit 3.
    let (code, stdout, stderr) = interrupted(&["check", "-n", "5", "-m", "4", "-c", "2"]);
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("INCONCLUSIVE"), "{stdout}");
    assert!(stderr.contains("interrupted after"), "{stderr}");
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        groupy(&["completions", shell])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("groupy"))
            .stdout(predicate::str::contains("check"));
    }
    groupy(&["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bash"));
    groupy(&["man"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(".TH groupy"));
}

#[test]
fn man_pages_per_command() {
    for (cmd, title, flag) in [
        ("check", ".TH groupy-check 1", "network"),
        ("run", ".TH groupy-run 1", "suspect"),
        ("bench", ".TH groupy-bench 1", "suspect"),
    ] {
        let a = groupy(&["man", cmd]).assert().code(0);
        let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        assert!(out.contains(title), "groupy man {cmd}:\n{out}");
        assert!(out.contains(flag), "groupy man {cmd} has no {flag}:\n{out}");
        assert!(out.contains("Examples"), "groupy man {cmd}: no examples");
    }
    // groupy's own page lists the commands; an unknown one is named with the valid ones.
    groupy(&["man"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(".TH groupy 1"))
        .stdout(predicate::str::contains("groupy\\-check(1)"));
    usage_error(
        &["man", "frobnicate"],
        &["frobnicate", "check, explore, list", "bench"],
    );
}

#[test]
fn completions_offer_every_named_value() {
    let a = groupy(&["completions", "bash"]).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    for values in [
        "ordered unordered lossy duplicating udp",
        "perfect unreliable",
        "any bcast",
        "initial all leader slaves",
        "slave leader",
        "all none",
        "auto bfs dfs simulation",
        "text json",
        "fifo raw",
    ] {
        assert!(out.contains(values), "bash completions lack {values:?}");
    }
}

/// The help says what the code does (issue 25: stale words).
#[test]
fn help_matches_the_code() {
    let help = |args: &[&str]| {
        let a = groupy(args).assert().code(0);
        String::from_utf8_lossy(&a.get_output().stdout).into_owned()
    };
    let top = help(&["--help"]);
    assert!(!top.contains("gms1..gms3"), "{top}");
    let check = help(&["check", "--help"]);
    // --max-states is off by default; the memory guard's default is printed.
    assert!(!check.contains("[default: 20000000]"), "{check}");
    assert!(check.contains("--max-memory <SIZE>"), "{check}");
    assert!(
        check.contains("auto:") && check.contains("depth-first"),
        "{check}"
    );
    assert!(!check.contains("single-threaded"), "{check}");
    assert!(help(&["verify", "--help"]).contains("*.jsonl"));
    // run, node and bench share their timers, with one default each.
    for cmd in ["run", "node", "bench"] {
        let h = help(&[cmd, "--help"]);
        for flag in [
            "--heartbeat <MS>",
            "[default: 100]",
            "--suspect-after <MS>",
            "[default: 500]",
            "--rto <MS>",
            "[default: 50]",
            "--seed",
            "--key-file",
        ] {
            assert!(h.contains(flag), "groupy {cmd} --help lacks {flag}");
        }
    }
}

#[test]
fn live_values_are_checked_before_anything_runs() {
    usage_error(
        &["run", "gms3", "--duration", "-1"],
        &["--duration", "seconds"],
    );
    usage_error(&["run", "gms3", "--duration", "1e9"], &["at most 86400"]);
    usage_error(&["run", "gms3", "--nodes", "65"], &["--nodes", "1 to 64"]);
    usage_error(
        &["run", "gms3", "--heartbeat", "0"],
        &["--heartbeat", "at least 1"],
    );
    usage_error(
        &["run", "gms3", "--sleep", "1.5"],
        &["--sleep", "milliseconds"],
    );
    usage_error(&["run", "gms3", "--drop", "2"], &["--drop", "0 to 1"]);
    usage_error(
        &["run", "gms3", "--max-datagram", "100"],
        &["1200 to 65507"],
    );
    usage_error(&["run", "gms3", "--pause", "0:100"], &["NODE:AT_MS:FOR_MS"]);
    usage_error(&["run", "gms3", "--link", "tcp"], &["fifo, raw"]);
    usage_error(&["bench", "--rto", "0"], &["--rto", "at least 1"]);
    usage_error(&["bench", "--nodes", "3,1"], &["--nodes", "2 to 64"]);
    usage_error(&["bench", "--drop", "2"], &["--drop", "0 to 1"]);
    usage_error(
        &[
            "node",
            "gms3",
            "--id",
            "0",
            "--listen",
            "127.0.0.1:9",
            "--peers",
            "127.0.0.1:9",
            "--duration",
            "0",
        ],
        &["--duration", "greater than 0"],
    );
}

/// Issue 23: two ids at one address are refused, naming the address and both entries.
#[test]
fn node_refuses_a_peer_address_listed_twice() {
    usage_error(
        &[
            "node",
            "gms3",
            "--id",
            "0",
            "--listen",
            "127.0.0.1:9",
            "--peers",
            "127.0.0.1:9,127.0.0.1:10,127.0.0.1:9",
        ],
        &["--peers lists 127.0.0.1:9 twice", "entries 0 and 2"],
    );
}

/// Issue 23: an unkeyed node listening beyond loopback says once what that exposes; on
/// loopback, or with a key, it says nothing.
#[test]
fn an_unkeyed_node_beyond_loopback_warns_once() {
    let dir = scratch("warn");
    let key = dir.join("group.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let key = key.to_str().unwrap();
    let stderr = |ip: &str, extra: &[&str]| {
        let port = std::net::UdpSocket::bind((ip, 0))
            .and_then(|s| s.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("{ip}:{port}");
        let mut args = vec!["node", "gms3", "--id", "0", "--listen", &addr];
        args.extend(["--peers", &addr, "--duration", "0.2", "--drain", "100"]);
        args.extend(extra);
        let a = groupy(&args).assert().code(0);
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    let open = stderr("0.0.0.0", &[]);
    assert_eq!(open.matches("warning:").count(), 1, "{open}");
    assert!(
        open.contains("without --key-file") && open.contains("forge any member's messages"),
        "{open}"
    );
    for (ip, extra) in [
        ("127.0.0.1", &[][..]),
        ("0.0.0.0", &["--key-file", key][..]),
    ] {
        let quiet = stderr(ip, extra);
        assert!(!quiet.contains("warning"), "{ip} {extra:?}: {quiet}");
    }
}

/// A fresh directory under cargo's scratch space.
fn scratch(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_state_cap_says_what_it_stopped_and_why() {
    let a = groupy(&["check", "gms3", "--max-states", "1", "--quiet"])
        .assert()
        .code(3);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(
        out.contains("stopped at the state cap (--max-states 1)"),
        "{out}"
    );
    assert!(out.contains("verdict: INCONCLUSIVE"), "{out}");
}

/// gms4 as first landed (`gms4-naive-join`) forwards a join once per leader: if that forward
/// is lost, the joiner's retries are discarded for ever. No quiescent state is reachable after
/// the loss, so liveness was never judged there and the run passed; the livelock check reports
/// it with a lasso (issue 24). gms4 itself gets through (its row in notes/verdicts.md).
#[test]
fn a_join_livelock_is_reported_with_a_lasso() {
    let a = groupy(&[
        "check",
        "gms4-naive-join",
        "--nodes",
        "2",
        "--msgs",
        "1",
        "--joins",
        "1",
        "--crashes",
        "0",
        "--network",
        "lossy",
        "--losses",
        "1",
        "--no-save",
    ])
    .assert()
    .code(1);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("livelock check: ran on"), "{out}");
    assert!(out.contains("counterexample: progress violated"), "{out}");
    assert!(out.contains("the network loses join(n2)"), "{out}");
    assert!(
        out.contains("from here the protocol cycles for ever"),
        "{out}"
    );
    // Where the protocol claims no liveness, the check is not run, and says so.
    let a = groupy(&["check", "gms3", "--quiet"]).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(
        out.contains("livelock check: not run: the protocol claims no liveness"),
        "{out}"
    );
}

#[test]
fn the_memory_guard_stops_a_search_with_the_reason_and_exit_3() {
    // gms3's space is infinite where copies linger: without the guard this run would grow
    // until the kernel killed it. (A run that meets a claimed violation first exits 1.)
    let a = groupy(&[
        "check",
        "gms3",
        "--network",
        "duplicating",
        "--max-depth",
        "1000000",
        "--max-memory",
        "300M",
        "--quiet",
    ])
    .assert();
    let code = a.get_output().status.code();
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(code == Some(3) || code == Some(1), "{code:?}: {out}");
    assert!(out.contains("memory:"), "{out}");
    assert!(out.contains("allowed by --max-memory"), "{out}");
    // Unbounded, the same search is refused at once: the space is infinite.
    let refused = groupy(&["check", "gms3", "--network", "duplicating"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        stderr.contains("infinite") && stderr.contains("--fail-fast"),
        "{stderr}"
    );
    let err = groupy(&["check", "gms3", "--max-memory", "lots"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&err.get_output().stderr).to_string();
    assert!(stderr.contains("e.g. 12G"), "{stderr}");
}

#[test]
fn verify_judges_saved_logs_with_the_checkers_properties() {
    // The final logs of gms2's counterexamples, judged from files, break what the checker
    // said they break.
    let dir = scratch("verify");
    groupy(&["check", "gms2", "--results", dir.to_str().unwrap()])
        .assert()
        .code(1);
    let logs = dir
        .join("gms2-N=3_M=2_J=0_C=1_crash-at=any_fd=perfect_network=ordered")
        .join("agreement-logs");
    let a = groupy(&["verify", logs.to_str().unwrap(), "--format", "json"])
        .assert()
        .code(1);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON");
    let agreement = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["property"] == "agreement")
        .expect("agreement is judged");
    assert_eq!(agreement["holds"], false);
    assert_eq!(v["nodes"], 3);
    // The same divergence, in the same words, as `check` printed for these logs.
    groupy(&["verify", logs.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "logs diverge at position 1: n1 delivered m0.0, n2 installed view[n1,n2]",
        ));
    // A clean run's logs hold.
    let good = scratch("verify-good");
    for (i, mcast) in [(0, true), (1, false), (2, false)] {
        let multicast = if mcast {
            r#"[{"from": 0, "seq": 0, "value": 7}]"#
        } else {
            "[]"
        };
        std::fs::write(
            good.join(format!("n{i}.json")),
            format!(
                r#"{{"node": {i}, "crashed": false, "member": true,
                    "events": [{{"Deliver": {{"from": 0, "seq": 0, "value": 7}}}}],
                    "multicast": {multicast}}}"#
            ),
        )
        .unwrap();
    }
    groupy(&["verify", good.to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "summary: 0 of 11 properties violated",
        ));
    // A malformed file is an error that names it, not a panic.
    std::fs::write(good.join("n2.json"), "{\"node\": 2, \"crashed\": fal").unwrap();
    groupy(&["verify", good.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("n2.json is not a node log"));
    groupy(&["verify", "/nonexistent-logs"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read /nonexistent-logs"));
}

/// A consistent live gms3 group of three, as `groupy node --log-dir` writes it: n0 and n1
/// multicast once each, every node delivers both. Node `i`'s lines, in order.
fn live_log(i: usize) -> Vec<String> {
    let deliver = |pos: usize, from: usize, value: u8| {
        format!(
            r#"{{"line":"deliver","node":{i},"pos":{pos},"id":{{"from":{from},"seq":0}},"value":{value},"view":[0,1,2],"at_ms":{}}}"#,
            1000 + pos
        )
    };
    let issued = u32::from(i < 2);
    let mut lines = vec![
        format!(
            r#"{{"line":"header","format":"groupy-live-log","version":1,"node":{i},"protocol":"gms3","member":true}}"#
        ),
        // `Payload::issued_by`: n0's first multicast carries 2, n1's 7.
        deliver(0, 0, 2),
        deliver(1, 1, 7),
    ];
    if issued > 0 {
        lines.push(format!(r#"{{"line":"issued","node":{i},"count":1}}"#));
    }
    lines.push(format!(
        r#"{{"line":"end","node":{i},"crashed":false,"member":true,"issued":{issued}}}"#
    ));
    lines
}

fn write_live_logs(dir: &std::path::Path, logs: &[(usize, Vec<String>)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (i, lines) in logs {
        let text = lines.join("\n") + "\n";
        std::fs::write(dir.join(format!("node-{i}.jsonl")), text).unwrap();
    }
}

/// Issue 23: what a set of live logs cannot show is reported, not assumed: a duplicated line,
/// a position written twice and text after `end` are malformed logs (exit 2, naming the
/// line); a log without `end` is "crashed or truncated", said in the output; a node the
/// views name without a log makes the verdict inconclusive (exit 3).
#[test]
fn verify_reports_what_live_logs_cannot_show() {
    let dir = scratch_dir("verify-live");
    let d = dir.to_str().unwrap();
    let clean = || (0..3).map(|i| (i, live_log(i))).collect::<Vec<_>>();
    let stdout = |a: &assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stdout).into_owned()
    };

    write_live_logs(&dir, &clean());
    let a = groupy(&["verify", d]).assert().code(0);
    assert!(
        stdout(&a).contains("properties violated; exit 0"),
        "{}",
        stdout(&a)
    );
    assert!(!stdout(&a).contains("no end line"), "{}", stdout(&a));

    let malformed = |logs: Vec<(usize, Vec<String>)>, says: &[&str]| {
        write_live_logs(&dir, &logs);
        let a = groupy(&["verify", d]).assert().code(2);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        for s in says {
            assert!(err.contains(s), "{s:?} not in: {err}");
        }
    };
    // n1's second line copied right after it.
    let mut logs = clean();
    let copy = logs[1].1[1].clone();
    logs[1].1.insert(2, copy);
    malformed(
        logs,
        &["node-1.jsonl:3: a duplicated line (the same as line 2)"],
    );
    // The same position again, logged a millisecond later: not a copy, still never written.
    let mut logs = clean();
    let again = logs[1].1[1].replace("\"at_ms\":1000", "\"at_ms\":1001");
    logs[1].1.insert(2, again);
    malformed(
        logs,
        &["node-1.jsonl:3: position 0 again, the same entry again (first at line 2)"],
    );
    // Anything after `end`, even a well-formed line.
    let mut logs = clean();
    logs[2].1.push("garbage".to_string());
    malformed(logs, &["node-2.jsonl:5: text after the end line (line 4)"]);
    let mut logs = clean();
    let extra = logs[0].1[1].replace("\"pos\":0", "\"pos\":2");
    logs[0].1.push(extra);
    malformed(logs, &["node-0.jsonl:6: text after the end line (line 5)"]);

    // No end line: read as crashed, and said to be crashed or truncated.
    let mut logs = clean();
    logs[2].1.pop();
    write_live_logs(&dir, &logs);
    let a = groupy(&["verify", d]).assert().code(0);
    assert!(
        stdout(&a).contains(
            "n2: no end line: the node crashed (its process was killed) or its log was truncated"
        ),
        "{}",
        stdout(&a)
    );

    // n1's log missing: its multicast looks forged (integrity), but the verdict is
    // inconclusive, and says why.
    let logs: Vec<_> = clean().into_iter().filter(|(i, _)| *i != 1).collect();
    write_live_logs(&dir, &logs);
    let a = groupy(&["verify", d]).assert().code(3);
    let out = stdout(&a);
    assert!(
        out.contains("missing: no log for n1, which the logs' views"),
        "{out}"
    );
    assert!(out.contains("summary: INCONCLUSIVE"), "{out}");
    assert!(out.contains("n1 missing; exit 3"), "{out}");
    let a = groupy(&["verify", d, "--format", "json"]).assert().code(3);
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON");
    assert_eq!(v["verdict"], "inconclusive");
    assert_eq!(v["missing"], serde_json::json!([1]));
}

// ---------------------------------------------------------------------------------------
// groupy replay

/// The agreement block of a report: from its heading to its explorer path line.
fn agreement_block(out: &str) -> &str {
    let start = out
        .find("counterexample: agreement violated")
        .unwrap_or_else(|| panic!("no agreement counterexample in:\n{out}"));
    let rest = &out[start..];
    let end = rest
        .find("  explorer path:")
        .expect("an explorer path line");
    let end = end + rest[end..].find('\n').expect("a line end");
    &rest[..end]
}

#[test]
fn replay_reprints_a_saved_gms2_trace_and_rechecks_its_path() {
    let dir = scratch("replay");
    let a = groupy(&[
        "check",
        "gms2",
        "--quiet",
        "--results",
        dir.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    let checked = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    let saved = dir
        .join("gms2-N=3_M=2_J=0_C=1_crash-at=any_fd=perfect_network=ordered")
        .join("agreement.json");
    let file = saved.to_str().unwrap();

    // The same trace as the check that saved it, and the path still replays.
    let a = groupy(&["replay", file]).assert().code(0);
    let replayed = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(agreement_block(&replayed), agreement_block(&checked));
    assert!(
        replayed.contains("replay: every step is still enabled in today's gms2 model"),
        "{replayed}"
    );

    // JSON: the saved trace; SVG: the drawing, to stdout or to a file.
    let a = groupy(&["replay", file, "--format", "json"])
        .assert()
        .code(0);
    let json: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON");
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(json, on_disk);
    let a = groupy(&["replay", file, "--format", "svg"])
        .assert()
        .code(0);
    assert!(String::from_utf8_lossy(&a.get_output().stdout).starts_with("<svg"));
    let svg = dir.join("replayed.svg");
    groupy(&["replay", file, "--svg", svg.to_str().unwrap()])
        .assert()
        .code(0);
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("never sent"));

    // A path today's model does not take: exit 1, naming the step.
    let mut t = on_disk.clone();
    // n2 receiving the message the crash kept from it: never sent, so never enabled.
    t["path"][2] = serde_json::json!({"act": "receive", "node": 2, "from": 0, "msg": "msg(m0.0)"});
    let stuck = dir.join("stuck.json");
    std::fs::write(&stuck, t.to_string()).unwrap();
    groupy(&["replay", stuck.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "replay: step 4 (n1 receives msg(m0.0) from n0) is no longer enabled",
        ));

    // Not a trace, or no file: exit 2 with a message, no panic.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"property\": 1").unwrap();
    groupy(&["replay", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is not a trace saved by groupy check",
        ));
    groupy(&["replay", "/nonexistent.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read /nonexistent.json"));
    groupy(&["replay", file, "--format", "xml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values: text, svg, json"));
}

#[test]
fn the_files_written_are_the_property_asked_for() {
    let dir = scratch("property-files");
    let json = dir.join("convergence.json");
    groupy(&[
        "check",
        "gms2",
        "--quiet",
        "--no-save",
        "--property",
        "convergence",
        "--trace-json",
        json.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(t["property"], "convergence");
    validate_trace(&t, 3);
}

/// `groupy sim`: gms2 is caught out of sync by some seed, and the command printed for that
/// seed replays it, logs byte for byte; gms4 holds under loss, duplication, reordering and
/// a kill; bad seeds are usage errors.
#[test]
fn sim_catches_gms2_and_its_replay_command_reproduces_the_logs() {
    let dir = scratch_dir("sim");
    let root = dir.join("all");
    let root_s = root.to_str().unwrap();
    let out = groupy(&[
        "sim",
        "gms2",
        "--crash-rate",
        "1/50",
        "--seeds",
        "1..12",
        "--virtual-secs",
        "5",
        "--log-dir",
        root_s,
        "-q",
    ])
    .assert()
    .code(1)
    .get_output()
    .stdout
    .clone();
    let text = String::from_utf8_lossy(&out);
    let replay = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: groupy "))
        .unwrap_or_else(|| panic!("no replay command in:\n{text}"));
    let seed = replay
        .split_whitespace()
        .skip_while(|w| *w != "--seeds")
        .nth(1)
        .unwrap()
        .to_string();
    let first = dir.join("first");
    std::fs::rename(root.join(format!("seed-{seed}")), &first).unwrap();
    // The printed command, as a user would paste it (no quoting needed without --partition).
    let args: Vec<&str> = replay.split_whitespace().collect();
    groupy(&args).assert().code(1);
    let again = root.join(format!("seed-{seed}"));
    for node in 0..5 {
        let name = format!("node-{node}.jsonl");
        let a = std::fs::read(first.join(&name)).unwrap();
        let b = std::fs::read(again.join(&name)).unwrap();
        assert!(
            a == b && !a.is_empty(),
            "seed {seed}: {name} differs on replay"
        );
    }
    groupy(&["verify", again.to_str().unwrap()])
        .assert()
        .code(1);

    let out = groupy(&[
        "sim",
        "gms4",
        "--seeds",
        "1..40",
        "--drop",
        "0.05",
        "--duplicate",
        "0.05",
        "--delay",
        "5",
        "--kill",
        "3:4000",
        "--format",
        "json",
        "-q",
    ])
    .assert()
    .code(0)
    .get_output()
    .stdout
    .clone();
    let r: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((uint_of(&r, "runs"), uint_of(&r, "consistent")), (40, 40));
    assert_eq!(str_of(&r, "verdict"), "consistent");

    // A settled group's logs say so in their end lines, and then verify judges validity:
    // take every node's last delivery away and a multicast was never delivered.
    let settled = dir.join("settled");
    groupy(&[
        "sim",
        "gms4",
        "--seeds",
        "1",
        "--log-dir",
        settled.to_str().unwrap(),
        "-q",
    ])
    .assert()
    .code(0);
    let seed_dir = settled.join("seed-1");
    groupy(&["verify", seed_dir.to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("had settled"));
    for node in 0..5 {
        let f = seed_dir.join(format!("node-{node}.jsonl"));
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let last = lines
            .iter()
            .rposition(|l| l.contains("\"line\":\"deliver\""))
            .unwrap();
        lines.remove(last);
        std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    }
    groupy(&["verify", seed_dir.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("(validity)"));

    groupy(&["sim", "gms4", "--seeds", "9..3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("A..B"));
    groupy(&["sim", "gms4", "--seed", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--seeds"));
}

#[test]
fn sim_restarts_a_node_as_a_new_life_and_verify_judges_every_life() {
    let dir = scratch_dir("sim-restart");
    let root = dir.join("logs");
    groupy(&[
        "sim",
        "gms5",
        "--seeds",
        "3",
        "--virtual-secs",
        "4",
        "--restart",
        "0:1000:300",
        "--restart",
        "2:2000:0",
        "--validate",
        "--log-dir",
        root.to_str().unwrap(),
        "-q",
    ])
    .assert()
    .code(0);
    let seed_dir = root.join("seed-3");
    for name in ["node-0-restart-1.jsonl", "node-2-restart-1.jsonl"] {
        let text = std::fs::read_to_string(seed_dir.join(name)).unwrap();
        assert!(text.contains("\"restarts\":1") && text.contains("\"line\":\"deliver\""));
    }
    groupy(&["verify", seed_dir.to_str().unwrap()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("7 node logs"));
    // Two files of one life are refused.
    std::fs::copy(
        seed_dir.join("node-0-restart-1.jsonl"),
        seed_dir.join("copy.jsonl"),
    )
    .unwrap();
    groupy(&["verify", seed_dir.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("same life"));
    // A protocol without incarnations cannot restart a node.
    groupy(&["sim", "gms4", "--restart", "1:1000:100"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("works with: gms5"));
}

/// `groupy check --processes 2`: two real processes on loopback find what one finds (verdict,
/// counts, the shortest trace), each holding a share; `--hostfile` without its process, a
/// bad host file, and flags a distributed search cannot honour are refused with the reason.
#[test]
fn check_across_two_processes_finds_what_one_finds() {
    let args = ["gms3", "--nodes", "4", "--msgs", "2", "--crashes", "1"];
    let one = check_json(&[&args[..], &["--strategy", "bfs"]].concat(), 0);
    let two = check_json(&[&args[..], &["--processes", "2"]].concat(), 0);
    for key in [
        "verdict",
        "unique_states",
        "states",
        "max_depth",
        "quiescent_states",
    ] {
        assert_eq!(one[key], two[key], "{key}");
    }
    let shares = two["processes"].as_array().expect("processes");
    assert_eq!(shares.len(), 2);
    let states: Vec<u64> = shares.iter().map(|p| uint_of(p, "states")).collect();
    assert_eq!(states.iter().sum::<u64>(), uint_of(&two, "unique_states"));
    assert!(
        states
            .iter()
            .all(|s| s * 3 > uint_of(&two, "unique_states")),
        "{states:?}"
    );

    // gms2 is caught across processes too, with a trace as short as one process finds.
    let one = check_json(&["gms2", "--no-save", "--strategy", "bfs"], 1);
    let two = check_json(&["gms2", "--no-save", "--processes", "2"], 1);
    let path = |r: &Value| {
        r["properties"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "agreement"))
            .map(|p| p["counterexample"]["path"].as_array().map(Vec::len))
    };
    assert!(path(&two).flatten().is_some());
    assert_eq!(path(&one), path(&two));
    let results = scratch_dir("processes-results");
    let at = results.to_str().unwrap();
    groupy(&["check", "gms2", "--processes", "2", "--results", at])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("across 2 processes"))
        .stdout(predicate::str::contains(
            "counterexample: agreement violated",
        ));
    // The saved trace's logs are confirmed by verify, which reads them with no model.
    let logs = std::fs::read_dir(&results)
        .unwrap()
        .filter_map(Result::ok)
        .map(|d| d.path().join("agreement-logs"))
        .find(|p| p.is_dir())
        .expect("the saved agreement logs");
    groupy(&["verify", logs.to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("agreement"));

    for (bad, why) in [
        (vec!["--hostfile", "hosts"], "--process"),
        (
            vec!["--processes", "2", "--strategy", "dfs"],
            "breadth first",
        ),
        (
            vec!["--processes", "2", "--max-states", "10"],
            "--max-states",
        ),
    ] {
        let mut all = vec!["check", "gms3"];
        all.extend(bad);
        groupy(&all)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(why));
    }
    let dir = scratch_dir("hostfile");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.1\n").unwrap();
    groupy(&[
        "check",
        "gms3",
        "--hostfile",
        hosts.to_str().unwrap(),
        "--process",
        "0",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("not host:port"));
}

/// A process of a search across hosts killed midway: the other ends the search inconclusive
/// (exit 3), naming the lost connection, and prints no panic of timely's threads.
#[test]
fn a_process_lost_midway_ends_the_search_without_a_panic() {
    use std::process::{Command as Process, Stdio};
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    };
    let dir = scratch_dir("process-lost");
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", port(), port()),
    )
    .unwrap();
    // A search of minutes, so that it is still running when process 1 is killed.
    let start = |i: &str| {
        Process::new(assert_cmd::cargo::cargo_bin("groupy"))
            .args(["check", "gms4", "--network", "lossy", "--msgs", "3"])
            .args(["--crashes", "2", "--no-save", "--quiet"])
            .args(["--hostfile", hosts.to_str().unwrap(), "--process", i])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("groupy starts")
    };
    let first = start("0");
    let mut second = start("1");
    std::thread::sleep(Duration::from_secs(3));
    second.kill().expect("process 1 is killed");
    let _ = second.wait();
    let out = first.wait_with_output().expect("process 0 ends");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("a process of the search was lost (its connection closed)"),
        "{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
