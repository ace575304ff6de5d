//! The judgement of delivery logs with the checker's own property functions: shared by
//! `groupy verify`, `groupy run` and `groupy bench` (and the criterion bench, through the
//! library).

use groupy_model::properties::{When, PROPERTIES};
use groupy_model::NodeLog;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    pub property: &'static str,
    pub when: &'static str,
    pub holds: bool,
    /// Whether it decides the verdict: claimed by the protocol (every property when the
    /// protocol is unknown). Liveness (`validity`) never decides a live run's verdict: a run
    /// is cut off, not infinite.
    pub claimed: bool,
    /// The protocol claims it (every property when the protocol is unknown), whether or not
    /// it decides here: a liveness claim, or one judged at quiescence in a run that had not
    /// settled, is reported and does not decide.
    pub in_claims: bool,
    pub description: &'static str,
}

/// Judges `logs` with every property; `claims` (the protocol's, if known) decide whether
/// the result is a violation.
pub fn judge(logs: &[NodeLog], claims: Option<&[&str]>) -> (Vec<Judgement>, bool) {
    // Logs of an unknown protocol are judged on every property, but on one that reads a
    // record only where some log keeps it.
    let records = logs.iter().any(|l| !l.accepted.is_empty());
    let properties: Vec<Judgement> = PROPERTIES
        .iter()
        .filter(|p| match claims {
            Some(c) => p.judged_for(c),
            None => records || !p.only_where_claimed,
        })
        .map(|p| Judgement {
            property: p.name,
            when: p.when.name(),
            holds: (p.holds)(logs),
            claimed: match claims {
                Some(c) => c.contains(&p.name) && p.when != When::Eventually,
                None => true,
            },
            in_claims: claims.is_none_or(|c| c.contains(&p.name)),
            description: p.description,
        })
        .collect();
    let violated = properties.iter().any(|p| p.claimed && !p.holds);
    (properties, violated)
}

/// Judges the logs of a run that drained (`groupy run`, `groupy sim`). Once the group
/// settled (no node made progress for longer than the failure detector and the links need)
/// the run is over as far as the protocol can tell, so every claim decides, its liveness
/// (`validity`) and what holds at quiescence included. Otherwise only the safety claims do:
/// a group cut off before it settled is not quiescent.
pub fn judge_run(logs: &[NodeLog], claims: &[&str], settled: bool) -> (Vec<Judgement>, bool) {
    let (mut properties, _) = judge(logs, Some(claims));
    for p in &mut properties {
        p.claimed = claims.contains(&p.property) && (settled || p.when == When::Always.name());
    }
    let violated = properties.iter().any(|p| p.claimed && !p.holds);
    (properties, violated)
}

/// The claimed properties that fail, by name.
pub fn broken_claims(properties: &[Judgement]) -> Vec<&'static str> {
    properties
        .iter()
        .filter(|p| p.claimed && !p.holds)
        .map(|p| p.property)
        .collect()
}
