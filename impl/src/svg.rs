//! A counterexample as a standalone SVG sequence diagram, in the manner of Maelstrom's
//! `messages.svg`: one lifeline per node, an arrow from every send to its receive, the crash
//! marked where it cut a broadcast, the property violated in the title, and every node's final
//! log and colour underneath. Self-contained: styles inline, no classes, no scripts.

use groupy_model::check::Report;
use groupy_model::trace::{Trace, TraceStep};
use groupy_model::{Config, ProtocolName};
use std::collections::HashMap;
use std::fmt::Write as _;

const LANE: f64 = 190.0;
const LEFT: f64 = 110.0;
const TOP: f64 = 110.0;
const ROW: f64 = 34.0;
const FONT: &str = "font-family=\"DejaVu Sans, Arial, sans-serif\"";

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn x_of(node: usize) -> f64 {
    LEFT + LANE * node as f64
}

fn y_of(step: usize) -> f64 {
    TOP + ROW * step as f64
}

/// `sends msg(1, m0.0) to n2` -> (`msg(1, m0.0)`, 2).
fn parse_send(effect: &str) -> Option<(&str, usize)> {
    let rest = effect.strip_prefix("sends ")?;
    let (msg, to) = rest.rsplit_once(" to n")?;
    Some((msg, to.parse().ok()?))
}

/// `n2 receives msg(1, m0.0) from n0` -> (`msg(1, m0.0)`, 0).
fn parse_receive(step: &TraceStep) -> Option<(&str, usize)> {
    let rest = step.text.split_once(" receives ")?.1;
    let (msg, from) = rest.rsplit_once(" from n")?;
    Some((msg, from.parse().ok()?))
}

/// The whole diagram.
pub fn render(report: &Report, t: &Trace, protocol: ProtocolName, cfg: &Config) -> String {
    let nodes = t.nodes.len().max(1);
    let steps = t.steps.len();
    let width = LEFT * 2.0 + LANE * (nodes.saturating_sub(1)) as f64 + 260.0;
    let bottom = y_of(steps + 1);
    let height = bottom + 60.0 + 22.0 * (t.nodes.len() + t.in_flight.len().min(8) + 3) as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         width=\"{width:.0}\" height=\"{height:.0}\" {FONT} font-size=\"13\">"
    );
    let _ = writeln!(
        s,
        "<title>groupy {}: {} violated</title>",
        protocol.name(),
        esc(&t.property)
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        s,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#1f5fbf\"/></marker></defs>"
    );
    let description = report
        .property(&t.property)
        .map(|p| p.description)
        .unwrap_or("");
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"#111111\">groupy \
         check {}: {} violated</text>",
        protocol.name(),
        esc(&t.property)
    );
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"52\" fill=\"#333333\">{} — {}</text>",
        esc(&cfg.to_string()),
        esc(description)
    );
    // Lifelines and their heads.
    for n in &t.nodes {
        let x = x_of(n.node);
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#555555\" \
             stroke-width=\"2\"/>",
            TOP - 20.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"16\" \
             font-weight=\"bold\" fill=\"#111111\">n{}</text>",
            TOP - 28.0,
            n.node
        );
    }
    // Each send waits for the receive of the same message on the same channel, in order.
    let mut pending: HashMap<(usize, usize, &str), Vec<usize>> = HashMap::new();
    for step in &t.steps {
        for e in &step.effects {
            if let Some((msg, to)) = parse_send(e) {
                pending
                    .entry((step.node, to, msg))
                    .or_default()
                    .push(step.step);
            }
        }
    }
    let mut received: HashMap<(usize, usize, &str), usize> = HashMap::new();
    for step in &t.steps {
        let y = y_of(step.step);
        let x = x_of(step.node);
        if let Some((msg, from)) = parse_receive(step) {
            let k = received.entry((from, step.node, msg)).or_insert(0);
            let sent_at = pending
                .get(&(from, step.node, msg))
                .and_then(|v| v.get(*k))
                .copied();
            *k += 1;
            if let Some(sent) = sent_at {
                let _ = writeln!(
                    s,
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{x}\" y2=\"{y}\" stroke=\"#1f5fbf\" \
                     stroke-width=\"1.6\" marker-end=\"url(#arrow)\"/>",
                    x_of(from),
                    y_of(sent)
                );
            }
        }
        let fill = match step.kind {
            "crash" => "#c62828",
            "suspect" => "#ef6c00",
            "mcast" => "#2e7d32",
            "receive" | "send" => "#1f5fbf",
            "local" => "#6a1b9a",
            "drop" => "#757575",
            _ => "#333333",
        };
        if step.kind == "crash" {
            let _ = writeln!(
                s,
                "<path d=\"M {} {} L {} {} M {} {} L {} {}\" stroke=\"{fill}\" \
                 stroke-width=\"4\"/>",
                x - 10.0,
                y - 10.0,
                x + 10.0,
                y + 10.0,
                x - 10.0,
                y + 10.0,
                x + 10.0,
                y - 10.0
            );
        } else {
            let _ = writeln!(s, "<circle cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"{fill}\"/>");
        }
        // The step's own words, shortened: the node is given by the lifeline.
        let text = step
            .text
            .strip_prefix(&format!("n{} ", step.node))
            .unwrap_or(&step.text);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"{fill}\" font-size=\"12\"><tspan \
             font-weight=\"bold\">{}.</tspan> {}</text>",
            x + 9.0,
            y - 6.0,
            step.step,
            esc(&short(text, 60))
        );
    }
    // Final state.
    let mut y = bottom + 40.0;
    let _ = writeln!(
        s,
        "<text x=\"20\" y=\"{y}\" font-size=\"15\" font-weight=\"bold\" fill=\"#111111\">Final \
         state</text>"
    );
    for n in &t.nodes {
        y += 22.0;
        let [r, g, b] = n.colour;
        let _ = writeln!(
            s,
            "<rect x=\"20\" y=\"{}\" width=\"16\" height=\"16\" fill=\"#{r:02x}{g:02x}{b:02x}\" \
             stroke=\"#333333\"/>",
            y - 13.0
        );
        let _ = writeln!(
            s,
            "<text x=\"44\" y=\"{y}\" fill=\"#111111\">n{} {}{} view {} colour \
             #{r:02x}{g:02x}{b:02x} log [{}]</text>",
            n.node,
            format!("{:?}", n.role).to_lowercase(),
            if n.crashed { " CRASHED" } else { "" },
            esc(&n.view),
            esc(&n.log.join(", "))
        );
    }
    if let Some(d) = &t.divergence {
        y += 22.0;
        let _ = writeln!(
            s,
            "<text x=\"20\" y=\"{y}\" fill=\"#c62828\">logs diverge at position {}: n{} \
             delivered {}, n{} delivered {}</text>",
            d.position,
            d.a,
            esc(d.a_has.as_deref().unwrap_or("nothing")),
            d.b,
            esc(d.b_has.as_deref().unwrap_or("nothing"))
        );
    }
    for m in t.in_flight.iter().take(8) {
        y += 22.0;
        let _ = writeln!(
            s,
            "<text x=\"20\" y=\"{y}\" fill=\"#555555\">still in flight: {}</text>",
            esc(m)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
