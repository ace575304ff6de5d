//! End to end in headless Chromium: `groupy explore gms2` serves the Explorer, the agreement
//! counterexample link opens it at the trace's last step, and the page renders stateright's
//! sequence diagram; `groupy check gms2 --svg` draws a picture a person can read. Also saves
//! screenshots of both to `notes/img/`.
//!
//! Needs Chromium (`apt-get install -y chromium`); without it the test fails and says so.
//! Every child process is bounded by a deadline and killed if the test fails.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCREENSHOT: &str = "notes/img/explorer-gms2-agreement.png";
const SVG_SCREENSHOT: &str = "notes/img/check-gms2-agreement.png";
/// Tall enough for the whole diagram and the path of actions of the agreement trace.
const WINDOW_SIZE: &str = "1400,1100";
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(90);

/// A child process killed when dropped.
struct Guard(Child);

impl Guard {
    /// Waits for the child to exit by `deadline`; panics (and so kills it) otherwise.
    fn wait(&mut self, what: &str, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{what} did not finish in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Whether `.ci/test` could not install Chromium on this machine (it says why in
/// `GROUPY_SKIP_BROWSER`): then the browser tests say so and stop, instead of failing for a
/// reason that has nothing to do with groupy. Without that variable a missing browser fails.
fn skipped() -> bool {
    match std::env::var("GROUPY_SKIP_BROWSER") {
        Ok(why) => {
            eprintln!("SKIPPED: browser test: Chromium could not be installed here ({why})");
            true
        }
        Err(_) => false,
    }
}

/// Chromium's binary (`$CHROMIUM`, else the Debian package's), or a failure that says how
/// to install it: a missing browser must not pass silently.
fn chromium() -> PathBuf {
    let candidates: Vec<PathBuf> = match std::env::var_os("CHROMIUM") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            PathBuf::from("/usr/bin/chromium"),
            PathBuf::from("/usr/bin/chromium-browser"),
        ],
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "Chromium is not installed (looked for {candidates:?}): run \
                 `apt-get install -y chromium` (or set CHROMIUM to its binary); .ci/test does this"
            )
        })
}

/// A fresh, empty directory under cargo's scratch space.
fn fresh_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("browser-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `groupy explore gms2` on an ephemeral port and returns it with its stdout lines
/// up to `Serving until Ctrl-C.`.
fn start_explorer() -> (Guard, Receiver<String>, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_groupy"))
        .args(["explore", "gms2", "--addr", "127.0.0.1:0", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("groupy explore starts");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|e| {
            panic!("groupy explore: no 'Serving until Ctrl-C.' ({e}); stdout: {lines:?}")
        });
        let done = line == "Serving until Ctrl-C.";
        lines.push(line);
        if done {
            return (guard, rx, lines);
        }
    }
}

/// A minimal HTTP/1.0 GET of a JSON document.
fn get_json(hostport: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "GET {path}: {head}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e})"))
}

/// Runs headless Chromium on `url` with `extra` flags; returns its stdout.
fn run_chromium(url: &str, extra: &[&str]) -> String {
    let dir = fresh_dir("chromium");
    let profile = dir.join("profile");
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start Chromium: {e}; run `apt-get install -y chromium`")
        });
    let mut guard = Guard(child);
    let status = guard.wait("chromium", Instant::now() + CHROMIUM_DEADLINE);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium {extra:?} failed ({status}); stderr:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    stdout
}

/// Escapes text the way a DOM serialiser does in element content.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// The text of the first element whose opening tag contains `marker` (an element without
/// children: its text runs from the end of the opening tag to the next `</`).
fn element_text<'a>(dom: &'a str, marker: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let rest = &dom[at..];
    let element = &rest[..rest.find("</")?];
    element.rsplit('>').next()
}

#[test]
fn explorer_shows_the_gms2_agreement_counterexample() {
    if skipped() {
        return;
    }
    chromium();
    let started = Instant::now();

    let (mut explorer, lines_rx, lines) = start_explorer();
    let link = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("counterexample agreement "))
        .unwrap_or_else(|| panic!("no agreement counterexample link in {lines:?}"));
    let url = link.rsplit(' ').next().unwrap().to_string();
    let (base, path) = url.split_once("/#/steps/").expect("a #/steps/ link");
    let hostport = base.strip_prefix("http://").expect("an http URL");

    // The last step's action, as the Explorer names it: entry `last` of the choices at the
    // path's parent state.
    let (parent, last) = path.rsplit_once('/').unwrap();
    let choices = get_json(hostport, &format!("/.states/{parent}"));
    let action = choices[last.parse::<usize>().unwrap()]["action"]
        .as_str()
        .expect("the last step has an action")
        .to_string();
    assert!(action.contains("msg(m1.0)"), "last action {action:?}");

    // The DOM after the page's scripts ran.
    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("Stateright Explorer"),
        "not the Explorer page:\n{dom}"
    );
    let svg_at = dom
        .find("<svg")
        .unwrap_or_else(|| panic!("no <svg> sequence diagram in the DOM:\n{dom}"));
    let svg = &dom[svg_at..];
    let svg = &svg[..svg.find("</svg>").unwrap_or(svg.len())];
    assert!(
        svg.contains("svg-actor-timeline"),
        "the svg is not a sequence diagram"
    );
    for label in ["msg(m0.0)", "view([n1,n2])", "msg(m1.0)", "Crash"] {
        assert!(svg.contains(label), "the diagram lacks {label:?}:\n{svg}");
    }
    // The selected step in the path of actions is the trace's last step.
    let selected = element_text(&dom, "is-selected-state\"")
        .unwrap_or_else(|| panic!("no selected step in the DOM:\n{dom}"));
    assert_eq!(selected, html_escape(&action), "the selected step");
    assert!(
        dom.contains(&html_escape(&action)),
        "the DOM does not show the last action {action:?}"
    );

    // A screenshot for the notes.
    let shot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SCREENSHOT);
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={WINDOW_SIZE}"),
        ],
    );
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "the screenshot is only {} bytes",
        png.len()
    );

    // Stop the Explorer as Ctrl-C would.
    let status = Command::new("kill")
        .args(["-INT", &explorer.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = explorer.wait("groupy explore", Instant::now() + Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(0),
        "groupy explore after SIGINT: {status}"
    );
    let mut rest = Vec::new();
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(5)) {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l == "stopped."),
        "stdout after SIGINT: {rest:?}"
    );
    eprintln!(
        "browser test took {:?}; screenshot at {}",
        started.elapsed(),
        shot.display()
    );
}

/// The standalone `--svg` drawing, opened on its own in Chromium: its lifelines, node names,
/// every numbered step, the crash mark, the send the crash cut from the broadcast, the title
/// and the final logs must be laid out inside the picture and visible (not just present in
/// the file). A script in a wrapper page measures every element, then draws the SVG into a
/// canvas and reads its pixels (not blank, nothing running off the right edge, the colour
/// swatches told apart), and prints the verdict into the DOM, which `--dump-dom` returns.
/// Also saves a screenshot to `notes/img/check-gms2-agreement.png`.
#[test]
fn the_standalone_svg_is_readable_in_a_browser() {
    if skipped() {
        return;
    }
    chromium();
    let dir = fresh_dir("svg");
    let svg = dir.join("cex.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_groupy"))
        .args(["check", "gms2", "--quiet", "--no-save", "--svg"])
        .arg(&svg)
        .stdout(Stdio::null())
        .status()
        .expect("groupy runs");
    assert_eq!(status.code(), Some(1));
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    let page = dir.join("page.html");
    let script = r#"
      const doc = document.getElementById('svg').contentDocument;
      const root = doc.documentElement;
      const box = root.viewBox.baseVal;
      const inside = e => { const b = e.getBBox();
        return (b.width > 0 || b.height > 0) && b.x >= box.x - 1 && b.y >= box.y - 1 &&
               b.x + b.width <= box.x + box.width + 1 && b.y + b.height <= box.y + box.height + 1; };
      const shown = e => { const s = getComputedStyle(e);
        return s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0' &&
               (e.getAttribute('stroke') || e.getAttribute('fill') || 'x') !== 'none'; };
      const lines = [...doc.querySelectorAll('line')];
      const lifelines = lines.filter(l => l.x1.baseVal.value === l.x2.baseVal.value
          && l.y2.baseVal.value - l.y1.baseVal.value > 200);
      const texts = [...doc.querySelectorAll('text')];
      const visible = t => inside(t) && shown(t);
      const has = s => texts.some(t => t.textContent.includes(s) && visible(t));
      const heads = ['n0','n1','n2'].filter(n => texts.some(t => t.textContent === n && visible(t)));
      const steps = [...Array(12).keys()].map(i => i + 1)
          .filter(i => texts.some(t => t.textContent.startsWith(i + '. ') && visible(t)));
      const labels = texts.filter(t => /^\d+\./.test(t.textContent) && visible(t));
      const arrows = lines.filter(l => l.getAttribute('marker-end') && inside(l) && shown(l));
      const logs = ['log []', 'log [m0.0, view[n1,n2], m1.0]', 'log [view[n1,n2], m1.0]']
          .filter(has);
      const swatches = [...doc.querySelectorAll('rect')]
          .filter(r => r.getAttribute('width') === '34' && inside(r))
          .map(r => { const b = r.getBBox(); return [b.x + b.width / 2, b.y + b.height / 2]; });
      const found = {
        lifelines: lifelines.filter(l => inside(l) && shown(l)).length,
        heads: heads.length, steps, labels: labels.length,
        crash: has('n0 CRASHES'), title: has('agreement violated'),
        cut: has('never sent, the crash cut the broadcast: msg(m0.0) to n2'),
        arrows: arrows.length, logs,
        divergence: has('logs diverge at position 1'),
        values: ['rgb(0,0,0)', 'rgb(0,2,7)', 'rgb(0,0,7)'].filter(has) };
      // The picture itself: the SVG drawn into a canvas at its own size.
      const img = new Image();
      img.onload = () => {
        const c = document.createElement('canvas');
        c.width = box.width; c.height = box.height;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let ink = 0, right = 0, bottom = 0;
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
          const i = (y * c.width + x) * 4;
          if (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235) {
            ink++; right = Math.max(right, x); bottom = Math.max(bottom, y);
          }
        }
        const pixel = ([x, y]) => { const i = (Math.round(y) * c.width + Math.round(x)) * 4;
          return [d[i], d[i + 1], d[i + 2]].join(','); };
        Object.assign(found, { ink: ink / (c.width * c.height), right, bottom,
          width: c.width, height: c.height, swatches: swatches.map(pixel) });
        document.getElementById('result').textContent = JSON.stringify(found);
      };
      img.onerror = () => { document.getElementById('result').textContent = 'image failed'; };
      img.src = URL.createObjectURL(new Blob([SVG], { type: 'image/svg+xml' }));
    "#;
    std::fs::write(
        &page,
        format!(
            "<html><body><object id=\"svg\" type=\"image/svg+xml\" data=\"cex.svg\"></object>\
             <pre id=\"result\">pending</pre><script>const SVG = {};\
             document.getElementById('svg').addEventListener('load', () => {{ {script} }});\
             </script></body></html>",
            serde_json::to_string(&svg_text).unwrap()
        ),
    )
    .unwrap();
    let dom = run_chromium(
        &format!("file://{}", page.display()),
        &["--allow-file-access-from-files", "--dump-dom"],
    );
    let result = element_text(&dom, "id=\"result\"").expect("the result element");
    let v: serde_json::Value = serde_json::from_str(&result.replace("&quot;", "\""))
        .unwrap_or_else(|e| panic!("no measurement ({e}): {result}"));
    eprintln!("measured: {v}");
    assert_eq!(v["lifelines"], 3, "{v}");
    assert_eq!(v["heads"], 3, "{v}");
    assert_eq!(
        v["steps"],
        serde_json::json!((1..=12).collect::<Vec<_>>()),
        "every numbered step: {v}"
    );
    assert_eq!(v["labels"], 12, "one label per step: {v}");
    assert_eq!(v["crash"], true, "{v}");
    assert_eq!(v["cut"], true, "the send the crash cut is drawn: {v}");
    assert_eq!(v["title"], true, "{v}");
    assert_eq!(v["arrows"], 3, "every receive has its send: {v}");
    assert_eq!(
        v["logs"].as_array().map(Vec::len),
        Some(3),
        "final logs: {v}"
    );
    assert_eq!(
        v["values"].as_array().map(Vec::len),
        Some(3),
        "colour values: {v}"
    );
    assert_eq!(v["divergence"], true, "{v}");
    // The pixels: a drawing, not a blank page; nothing runs off the right or bottom edge;
    // the three nodes' different colours show as three different swatches.
    let ink = v["ink"].as_f64().expect("pixels were read");
    assert!(ink > 0.02, "the picture is nearly blank: {v}");
    let (right, width) = (v["right"].as_u64().unwrap(), v["width"].as_u64().unwrap());
    assert!(right + 4 < width, "the drawing touches the right edge: {v}");
    assert!(
        right * 10 > width * 7,
        "the picture is much wider than its drawing: {v}"
    );
    assert!(
        v["bottom"].as_u64().unwrap() + 4 < v["height"].as_u64().unwrap(),
        "{v}"
    );
    let swatches: Vec<&str> = v["swatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(swatches.len(), 3, "{v}");
    assert!(
        swatches[0] != swatches[1] && swatches[1] != swatches[2] && swatches[0] != swatches[2],
        "different colours look different: {swatches:?}"
    );
    let bright = |s: &str| {
        s.split(',')
            .filter_map(|c| c.parse::<u32>().ok())
            .sum::<u32>()
    };
    assert!(
        swatches[1..].iter().all(|s| bright(s) >= 200),
        "the live nodes' swatches are not near black: {swatches:?}"
    );

    // A screenshot for the notes, at the drawing's own size.
    let size = |attr: &str| -> u64 {
        let at = svg_text.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
        svg_text[at..].split('"').next().unwrap().parse().unwrap()
    };
    let shot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SVG_SCREENSHOT);
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &format!("file://{}", svg.display()),
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={},{}", size("width"), size("height")),
        ],
    );
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let _ = std::fs::remove_dir_all(&dir);
}
