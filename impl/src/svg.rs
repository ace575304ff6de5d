//! A counterexample as a standalone SVG sequence diagram, in the manner of Maelstrom's
//! `messages.svg`: one lifeline per node, an arrow from every send to its receive, the
//! property violated in the title, and every node's final colour and log underneath.
//! Self-contained: styles inline, no classes, no scripts.
//!
//! Drawn from the trace's typed events ([`Act`], [`Effect`]), never from its wording: a send
//! that never arrived (lost, still in flight, or addressed to a node that crashed) ends in a
//! mark that says so; a crash that cut a broadcast shows the sends it never made; a joiner's
//! request to join is step 0; a suspicion points at the suspected node.

use groupy_model::log::Divergence;
use groupy_model::trace::{Act, Effect, NodeList, NodeSummary, Trace, TraceStep};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

/// Distance between lifelines.
const LANE: f64 = 220.0;
/// Left margin before the first lifeline.
const LEFT: f64 = 50.0;
const MARGIN: f64 = 20.0;
/// Height of a step's row, and of each extra line of text.
const ROW: f64 = 30.0;
const LINE: f64 = 16.0;
/// Text gets a white halo, so that it stays readable where a line crosses it.
const FONT: &str = "font-family=\"DejaVu Sans, Arial, sans-serif\" stroke-linejoin=\"round\"";
const HALO: &str = "stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"";
/// How far right of its lifeline a step's words start (clear of the crash mark).
const INDENT: f64 = 14.0;
const BLUE: &str = "#1f5fbf";
const RED: &str = "#c62828";
const ORANGE: &str = "#ef6c00";
const GREY: &str = "#757575";
const INK: &str = "#111111";

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A generous estimate of a text's width in DejaVu Sans (the widest of the fonts named), so
/// that the picture is laid out wide enough without measuring.
fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    s.chars().count() as f64 * size * if bold { 0.66 } else { 0.61 }
}

/// Breaks `s` at spaces into lines of at most `max` characters.
fn wrap(s: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in s.split(' ') {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= max => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

fn x_of(node: usize) -> f64 {
    LEFT + LANE * node as f64
}

/// One send: the step that made it (an index into the drawn steps), its addressee and
/// message, and how it ended.
struct Route {
    from: usize,
    to: usize,
    msg: String,
    end: End,
}

enum End {
    /// Taken by the receive at this step.
    Received(usize),
    /// Lost by the network at this step.
    Lost(usize),
    /// Never arrived.
    Tail(Tail),
}

enum Tail {
    /// A send a crash cut from its broadcast.
    NeverSent,
    /// Addressed to a node that crashed before taking it.
    ToCrashed,
    InFlight,
}

/// Every send and how it ended: each receive (or loss) takes the earliest send of the same
/// message on its channel not taken yet.
fn routes(steps: &[&TraceStep], nodes: &[NodeSummary]) -> Vec<Route> {
    let mut pending: HashMap<(usize, usize), VecDeque<(usize, String)>> = HashMap::new();
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let mut take = |from: usize, msg: &str, end: End| {
            let q = pending.get_mut(&(from, s.node))?;
            let (sent, msg) = q.remove(q.iter().position(|(_, m)| m == msg)?)?;
            out.push(Route {
                from: sent,
                to: s.node,
                msg,
                end,
            });
            Some(())
        };
        match &s.action {
            Act::Receive { from, msg, .. } => {
                take(*from, msg, End::Received(i));
            }
            Act::Lose { from, msg, .. } => {
                take(*from, msg, End::Lost(i));
            }
            Act::Crash {
                broadcast: Some(b), ..
            } if b.is_cut() => out.extend(b.unsent().iter().map(|&to| Route {
                from: i,
                to,
                msg: b.msg.clone(),
                end: End::Tail(Tail::NeverSent),
            })),
            _ => {}
        }
        for e in &s.effects {
            if let Effect::Send { to, msg } = e {
                pending
                    .entry((s.node, *to))
                    .or_default()
                    .push_back((i, msg.clone()));
            }
        }
    }
    let mut left: Vec<((usize, usize), (usize, String))> = pending
        .into_iter()
        .flat_map(|(channel, q)| q.into_iter().map(move |sent| (channel, sent)))
        .collect();
    left.sort();
    for ((_, to), (from, msg)) in left {
        let crashed = nodes.get(to).is_some_and(|n| n.crashed);
        out.push(Route {
            from,
            to,
            msg,
            end: End::Tail(if crashed {
                Tail::ToCrashed
            } else {
                Tail::InFlight
            }),
        });
    }
    out.sort_by_key(|r| r.from);
    out
}

/// The diagram's elements, collected before the canvas size is known.
#[derive(Default)]
struct Canvas {
    body: String,
    /// The rightmost x any text reaches.
    right: f64,
}

impl Canvas {
    fn text(&mut self, x: f64, y: f64, size: f64, fill: &str, attrs: &str, s: &str) {
        let bold = attrs.contains("bold");
        self.right = self.right.max(x + text_width(s, size, bold));
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" fill=\"{fill}\" {HALO} {attrs}>{}</text>",
            esc(s)
        );
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, attrs: &str) {
        let _ = writeln!(
            self.body,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\" \
             {attrs}/>"
        );
    }

    /// An X: a crash, a loss, a send never made.
    fn cross(&mut self, x: f64, y: f64, r: f64, stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            "<path d=\"M {:.1} {:.1} L {:.1} {:.1} M {:.1} {:.1} L {:.1} {:.1}\" stroke=\"{stroke}\" \
             stroke-width=\"{width}\"/>",
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        );
    }

    fn dot(&mut self, x: f64, y: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{fill}\"/>"
        );
    }
}

/// The colour a step's mark and label take.
fn hue(a: &Act) -> &'static str {
    match a {
        Act::Crash { .. } | Act::CutBroadcast { .. } => RED,
        Act::Suspect { .. } => ORANGE,
        Act::Multicast { .. } | Act::Start { .. } => "#2e7d32",
        Act::Receive { .. }
        | Act::BroadcastStep { .. }
        | Act::RunBroadcast { .. }
        | Act::Propose { .. } => BLUE,
        Act::Lose { .. } => GREY,
        Act::Retransmit { .. } | Act::Other { .. } => "#6a1b9a",
    }
}

/// The effects a step's second line lists: all but its sends, which are drawn as arrows.
fn effect_line(step: &TraceStep) -> Option<String> {
    let words: Vec<String> = step
        .effects
        .iter()
        .filter(|e| !matches!(e, Effect::Send { .. }))
        .map(ToString::to_string)
        .collect();
    (!words.is_empty()).then(|| words.join("; "))
}

/// The whole diagram: `description` is the violated property's.
pub fn render(t: &Trace, description: &str) -> String {
    let title = format!("groupy check {}: {} violated", t.protocol, t.property);
    let subtitle = format!("{} — {}", t.config, description);
    // The subtitle wraps to the width the drawing needs, and the drawing starts below it.
    let (c, _) = draw(t, 0.0);
    let nodes = t.nodes.len().max(1);
    let width = (c.right + MARGIN)
        .max(x_of(nodes - 1) + LEFT)
        .max(text_width(&title, 18.0, true) + 2.0 * MARGIN)
        .max(640.0);
    let per_line = ((width - 2.0 * MARGIN) / text_width("x", 13.0, false)) as usize;
    let subtitle = wrap(&subtitle, per_line.max(20));
    let (c, height) = draw(t, 52.0 + LINE * subtitle.len() as f64);

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         width=\"{width:.0}\" height=\"{height:.0}\" {FONT} font-size=\"13\">"
    );
    let _ = writeln!(s, "<title>{}</title>", esc(&title));
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        s,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"{BLUE}\"/></marker></defs>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{MARGIN}\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
        esc(&title)
    );
    for (i, line) in subtitle.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{MARGIN}\" y=\"{:.0}\" font-size=\"13\" fill=\"#333333\">{}</text>",
            52.0 + LINE * i as f64,
            esc(line)
        );
    }
    s.push_str(&c.body);
    s.push_str("</svg>\n");
    s
}

/// Everything below the title, from `top` down; returns it and the height it reaches.
fn draw(t: &Trace, top: f64) -> (Canvas, f64) {
    let nodes = t.nodes.len().max(1);
    let heads = top + 40.0;
    let mut c = Canvas::default();
    let steps: Vec<&TraceStep> = t.start.iter().chain(&t.steps).collect();

    let routes = routes(&steps, &t.nodes);
    // Rows: one per step, taller when it has effects to list or sends that end nowhere.
    let mut ys = Vec::with_capacity(steps.len());
    let mut y = heads + 30.0;
    for (i, s) in steps.iter().enumerate() {
        ys.push(y);
        let tails = routes
            .iter()
            .filter(|r| r.from == i && matches!(r.end, End::Tail(_)))
            .count();
        y += ROW + LINE * (tails as f64 + if effect_line(s).is_some() { 1.0 } else { 0.0 });
    }
    let bottom = y;
    let crash_y: HashMap<usize, f64> = steps
        .iter()
        .zip(&ys)
        .filter(|(s, _)| matches!(s.action, Act::Crash { .. }))
        .map(|(s, y)| (s.node, *y))
        .collect();

    // Arrows for sends that arrived; a dashed line to a mark for those that did not, the
    // ones that end nowhere on lines of their own below their step.
    let mut arrows = String::new();
    let mut tails_drawn: HashMap<usize, usize> = HashMap::new();
    for r in &routes {
        let (x1, y1) = (x_of(steps[r.from].node), ys[r.from]);
        let x2 = x_of(r.to);
        let dashed = "stroke-width=\"1.4\" stroke-dasharray=\"6 4\"";
        match &r.end {
            End::Received(i) => {
                let _ = writeln!(
                    arrows,
                    "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{:.1}\" \
                     stroke=\"{BLUE}\" stroke-width=\"1.6\" marker-end=\"url(#arrow)\"/>",
                    ys[*i]
                );
            }
            End::Lost(i) => {
                c.line((x1, y1), (x2, ys[*i]), GREY, dashed);
                c.cross(x2, ys[*i], 5.0, GREY, 2.0);
            }
            End::Tail(tail) => {
                let k = tails_drawn.entry(r.from).or_insert(0);
                *k += 1;
                let effects = if effect_line(steps[r.from]).is_some() {
                    1.0
                } else {
                    0.0
                };
                let y2 = y1 + LINE * (effects + *k as f64) + 4.0;
                let (colour, what) = match tail {
                    Tail::NeverSent => (
                        RED,
                        format!(
                            "never sent, the crash cut the broadcast: {} to n{}",
                            r.msg, r.to
                        ),
                    ),
                    Tail::ToCrashed => (
                        GREY,
                        format!("never delivered, n{} crashed: {}", r.to, r.msg),
                    ),
                    Tail::InFlight => (GREY, format!("still in flight at the end: {}", r.msg)),
                };
                c.line((x1, y1), (x2, y2), colour, dashed);
                // A message still on its way is not gone: an open ring, not a cross.
                match tail {
                    Tail::InFlight => {
                        let _ = writeln!(
                            c.body,
                            "<circle cx=\"{x2:.1}\" cy=\"{y2:.1}\" r=\"5\" fill=\"#ffffff\" \
                             stroke=\"{colour}\" stroke-width=\"2\"/>"
                        );
                    }
                    Tail::NeverSent | Tail::ToCrashed => c.cross(x2, y2, 5.0, colour, 2.0),
                }
                c.text(x1.max(x2) + 9.0, y2 + 4.0, 11.0, colour, "", &what);
            }
        }
    }

    // Lifelines: solid while the node runs, dotted after its crash.
    for n in 0..nodes {
        let x = x_of(n);
        match crash_y.get(&n) {
            Some(&cy) => {
                c.line((x, heads), (x, cy), "#555555", "stroke-width=\"2\"");
                c.line(
                    (x, cy),
                    (x, bottom),
                    "#bbbbbb",
                    "stroke-width=\"2\" stroke-dasharray=\"2 4\"",
                );
            }
            None => c.line((x, heads), (x, bottom), "#555555", "stroke-width=\"2\""),
        }
        c.text(
            x,
            heads - 8.0,
            16.0,
            INK,
            "text-anchor=\"middle\" font-weight=\"bold\"",
            &format!("n{n}"),
        );
    }
    c.body.push_str(&arrows);

    // Steps: a mark on the lifeline, the step's words, and its effects below them.
    let mut suspected = Vec::new();
    for (s, &y) in steps.iter().zip(&ys) {
        let x = x_of(s.node);
        let fill = hue(&s.action);
        match &s.action {
            Act::Crash { .. } => c.cross(x, y, 10.0, RED, 4.0),
            Act::Suspect { whom: Some(w), .. } => {
                c.line(
                    (x, y),
                    (x_of(*w), y),
                    ORANGE,
                    "stroke-width=\"1.4\" stroke-dasharray=\"2 3\"",
                );
                suspected.push((x_of(*w), y));
                c.dot(x, y, fill);
            }
            _ => c.dot(x, y, fill),
        }
        let number = format!("{}.", s.step);
        let label = format!(" {}", s.action);
        c.right = c
            .right
            .max(x + INDENT + text_width(&number, 12.0, true) + text_width(&label, 12.0, false));
        let _ = writeln!(
            c.body,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"{fill}\" {HALO}><tspan \
             font-weight=\"bold\">{number}</tspan>{}</text>",
            x + INDENT,
            y - 6.0,
            esc(&label)
        );
        if let Some(effects) = effect_line(s) {
            c.text(x + INDENT, y + 9.0, 11.0, "#444444", "", &effects);
        }
    }
    // The suspected node's `?` on top of any words it falls on.
    for (x, y) in suspected {
        c.text(
            x,
            y + 5.0,
            15.0,
            ORANGE,
            "text-anchor=\"middle\" font-weight=\"bold\"",
            "?",
        );
    }

    // Final state: a swatch per node (stretched so that different colours look different),
    // its value, role, view and log.
    let mut y = bottom + 36.0;
    c.text(
        MARGIN,
        y,
        15.0,
        INK,
        "font-weight=\"bold\"",
        "Final state (swatches stretched for contrast; values as rgb)",
    );
    let shown = stretched(&t.nodes);
    for (n, [r, g, b]) in t.nodes.iter().zip(shown) {
        y += 26.0;
        let _ = writeln!(
            c.body,
            "<rect x=\"{MARGIN}\" y=\"{:.1}\" width=\"34\" height=\"20\" \
             fill=\"rgb({r},{g},{b})\" stroke=\"#333333\"/>",
            y - 15.0
        );
        final_line(&mut c, MARGIN + 44.0, y, n, t.divergence.as_ref());
    }
    if let Some(d) = &t.divergence {
        y += 26.0;
        c.text(MARGIN, y, 13.0, RED, "", &d.to_string());
    }
    y += 26.0;
    c.text(
        MARGIN,
        y,
        11.0,
        GREY,
        "",
        &format!("explorer path: {}", t.explorer_path),
    );
    (c, y + MARGIN)
}

/// One node's final line: name, role, view, colour value and log, the entry where the logs
/// diverge in bold red.
fn final_line(c: &mut Canvas, x: f64, y: f64, n: &NodeSummary, d: Option<&Divergence>) {
    let [r, g, b] = n.colour;
    let head = format!(
        "n{} {}{}  view {}  colour rgb({r},{g},{b})  log [",
        n.node,
        format!("{:?}", n.role).to_lowercase(),
        if n.crashed { " CRASHED" } else { "" },
        NodeList(&n.view)
    );
    let diverging =
        d.and_then(|d| (d.a == n.node || d.b == n.node).then_some(d.position.saturating_sub(1)));
    let mut spans = String::new();
    let mut chars = head.chars().count();
    for (i, e) in n.log.iter().enumerate() {
        let entry = format!("{}{e:?}", if i > 0 { ", " } else { "" });
        chars += entry.chars().count();
        if diverging == Some(i) {
            let _ = write!(
                spans,
                "<tspan font-weight=\"bold\" fill=\"{RED}\">{}</tspan>",
                esc(&entry)
            );
        } else {
            spans.push_str(&esc(&entry));
        }
    }
    c.right = c.right.max(x + (chars + 1) as f64 * 13.0 * 0.66);
    let _ = writeln!(
        c.body,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"13\" fill=\"{INK}\">{}{spans}]</text>",
        esc(&head)
    );
}

/// Colours as swatches a person can tell apart. The assignment's colours are small numbers
/// (a few deliveries of values up to 20), all near black; each channel's distinct values are
/// spread over 0..=255 in their order (0 stays black), so two different colours differ
/// visibly and equal ones stay equal.
fn stretched(nodes: &[NodeSummary]) -> Vec<[u8; 3]> {
    let mut out = vec![[0u8; 3]; nodes.len()];
    for ch in 0..3 {
        let mut values: Vec<u8> = nodes.iter().map(|n| n.colour[ch]).collect();
        values.sort_unstable();
        values.dedup();
        let nonzero: Vec<u8> = values.into_iter().filter(|v| *v > 0).collect();
        for (o, n) in out.iter_mut().zip(nodes) {
            let v = n.colour[ch];
            o[ch] = match nonzero.iter().position(|x| *x == v) {
                None => 0,
                // From 110 up, so that the darkest non-zero value still shows.
                Some(rank) => (110 + 145 * (rank + 1) / nonzero.len()).min(255) as u8,
            };
        }
    }
    out
}
