//! `groupy explore`: check the model, print links to its counterexamples, then serve
//! stateright's Explorer until Ctrl-C.

use crate::render::{self, Progress};
use crate::ExploreArgs;
use groupy_model::check::{self, Search, Status};
use groupy_model::registry::Visit;
use groupy_model::{Config, GroupModel, Protocol};
use stateright::Model;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn run(args: ExploreArgs) -> u8 {
    let cfg = match args.model.clone().validated() {
        Ok(c) => c,
        Err(e) => return crate::usage_error(&e),
    };
    let addr: SocketAddr = match args.addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => {
            return crate::usage_error(&format!(
                "--addr '{}' is not a HOST:PORT address (for example localhost:3000)",
                args.addr
            ))
        }
    };
    // stateright's server panics if it cannot bind: find out first, and say what to do.
    let addr = match TcpListener::bind(addr).and_then(|l| l.local_addr()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e} (is another Explorer running? try --addr localhost:0)");
            return 2;
        }
    };
    let (stop_tx, stop_rx) = mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        eprintln!("error: cannot install the Ctrl-C handler: {e}");
        return 2;
    }
    let server = args.protocol.visit(Serve { cfg: &cfg, addr });
    if !listening(addr, &server) {
        eprintln!("error: the Explorer did not start on {addr}");
        return 2;
    }
    // Let the Explorer's own checker explore everything, so its Properties panel links the
    // discoveries. Not on the duplicating network: its state space is infinite.
    if !cfg.network.duplicates() {
        post(addr, "/.runtocompletion");
    }
    let url = format!("http://{addr}");
    println!("Explorer for {} ({cfg}) at {url}/", args.protocol.name());

    let mut progress = Progress::new(!args.quiet);
    let search = Search {
        memory: Some(groupy_model::memory::Guard::new(None, crate::committed)),
        fail_fast: cfg.network.duplicates(),
        ..Search::default()
    };
    let report = check::check(args.protocol, &cfg, &search, &mut |p| progress.update(p));
    progress.finish();
    println!(
        "checked: {} ({} unique states)",
        render::verdict_word(report.verdict),
        render::group(report.unique_states)
    );
    for p in &report.properties {
        if let Some(t) = &p.counterexample {
            let what = if p.status == Status::Violated {
                "counterexample"
            } else {
                "witness"
            };
            println!("  {what:<14} {:<24} {url}/{}", p.name, t.explorer_path);
        }
    }
    println!("Serving until Ctrl-C.");
    let _ = stop_rx.recv();
    println!("stopped.");
    0
}

/// Starts the Explorer on its own thread (stateright's `serve` blocks forever).
struct Serve<'a> {
    cfg: &'a Config,
    addr: SocketAddr,
}

impl Visit for Serve<'_> {
    type Output = JoinHandle<()>;
    fn visit<A: Protocol>(self) -> JoinHandle<()> {
        let model = GroupModel::<A>::new(self.cfg.clone());
        let addr = self.addr;
        std::thread::spawn(move || {
            let _ = model.checker().serve(addr);
        })
    }
}

/// Waits (up to 5 s) until the Explorer accepts connections; false if its thread died.
fn listening(addr: SocketAddr, server: &JoinHandle<()>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !server.is_finished() {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A bodiless HTTP POST; the Explorer's answer does not matter.
fn post(addr: SocketAddr, path: &str) {
    if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        let req = format!("POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
        let _ = s.write_all(req.as_bytes());
        let _ = s.read(&mut [0u8; 256]);
    }
}
