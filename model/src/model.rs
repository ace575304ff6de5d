//! The model the checker explores: stateright's [`ActorModel`] over one protocol's actors,
//! wrapped in a thin [`Model`] that turns its crash/recover and timer actions into the
//! environment of design.md §2.
//!
//! Why a wrapper: `ActorModel` offers `Recover` for every crashed actor and bounds how many
//! actors are down *at the same time*, i.e. crash-recovery with a budget that refreshes. Here
//! a crashed node never comes back, so `Recover` is filtered out and `max_crashes` becomes
//! "at most C crashes in a run". The same filter restricts *where* a crash may happen
//! (`crash-at`) and carves the perfect failure detector out of the timer-driven one the
//! actors use live: a `Suspect` timeout is offered only when the suspected leader has crashed
//! and (unless copies linger forever, on the duplicating network) nothing it sent to the
//! suspecting node is still in flight.

use crate::config::{Config, CrashAt, Detector, NetworkKind};
use crate::group::{Member, Role, Setup, Timer};
use crate::properties;
use stateright::actor::{
    Actor, ActorModel, ActorModelAction, ActorModelState, Id, LossyNetwork, Network,
};
use stateright::{Model, Path, Property};
use std::fmt::Debug;

/// A protocol version the checker can explore.
pub trait Protocol:
    Actor<
        Timer = Timer,
        Random = (),
        Storage = (),
        State: Member + Send + Sync + 'static,
        Msg: Ord + Send + Sync + 'static,
    > + Clone
    + Debug
    + Send
    + Sync
    + 'static
{
    const NAME: &'static str;
    /// The properties this version promises; the checker's exit code judges these.
    const CLAIMS: &'static [&'static str];
    /// Whether slaves elect a new leader (gms2 onwards).
    const ELECTS: bool;
    /// Whether leader messages are numbered and duplicates discarded (gms3 onwards).
    const NUMBERS: bool;
    fn with_setup(setup: Setup) -> Self;
}

const SAFETY: &[&str] = &[
    properties::AGREEMENT,
    properties::CONVERGENCE,
    properties::NO_DUPLICATION,
    properties::INTEGRITY,
    properties::FIFO,
    properties::VIEW_AGREEMENT,
];

/// The claims of gms1: the safety properties and, with no failure handling to excuse a
/// lost multicast, `validity`.
const SAFETY_AND_VALIDITY: &[&str] = &[
    properties::AGREEMENT,
    properties::CONVERGENCE,
    properties::NO_DUPLICATION,
    properties::INTEGRITY,
    properties::FIFO,
    properties::VIEW_AGREEMENT,
    properties::VALIDITY,
];

macro_rules! protocol {
    ($actor:ty, $name:literal, $claims:expr, elects: $elects:literal, numbers: $numbers:literal) => {
        impl Protocol for $actor {
            const NAME: &'static str = $name;
            const CLAIMS: &'static [&'static str] = $claims;
            const ELECTS: bool = $elects;
            const NUMBERS: bool = $numbers;
            fn with_setup(setup: Setup) -> Self {
                Self(setup)
            }
        }
    };
}

protocol!(crate::gms1::Gms1, "gms1", SAFETY_AND_VALIDITY, elects: false, numbers: false);
protocol!(crate::gms2::Gms2, "gms2", SAFETY, elects: true, numbers: false);
protocol!(crate::gms3::Gms3, "gms3", SAFETY, elects: true, numbers: true);
protocol!(crate::gms3::Gms3Selective, "gms3-selective", SAFETY, elects: true, numbers: true);
protocol!(crate::gms3::Gms3Greedy, "gms3-greedy", SAFETY, elects: true, numbers: true);

pub type GroupState<A> = ActorModelState<A>;
pub type GroupAction<A> = ActorModelAction<<A as Actor>::Msg, Timer, ()>;

/// One protocol under one environment, ready for the checker or the Explorer.
#[derive(Clone)]
pub struct GroupModel<A: Protocol> {
    pub inner: ActorModel<A, Config>,
    pub(crate) properties: Vec<Property<GroupModel<A>>>,
    /// Offer only actions whose `next_state` is `Some` (see `check::check_protocol`).
    pub only_transitions: bool,
}

impl<A: Protocol> GroupModel<A> {
    pub fn new(cfg: Config) -> Self {
        let actors: Vec<A> = (0..cfg.actor_count())
            .map(|i| A::with_setup(Setup::for_node(&cfg, i)))
            .collect();
        let network = match cfg.network {
            NetworkKind::Ordered => Network::new_ordered([]),
            NetworkKind::Unordered | NetworkKind::Lossy => {
                Network::new_unordered_nonduplicating([])
            }
            NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
        };
        let lossy = if cfg.network == NetworkKind::Lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        };
        let crashes = cfg.crashes;
        let properties = properties::for_protocol::<A>(&cfg);
        GroupModel {
            inner: ActorModel::new(cfg, ())
                .actors(actors)
                .init_network(network)
                .lossy_network(lossy)
                .max_crashes(crashes),
            properties,
            only_transitions: false,
        }
    }

    pub fn cfg(&self) -> &Config {
        &self.inner.cfg
    }

    /// Whether a property is one this protocol promises.
    pub fn claims(name: &str) -> bool {
        A::CLAIMS.contains(&name)
    }

    /// The environment's filter over stateright's actions (see the module doc).
    fn allowed(&self, state: &GroupState<A>, action: &GroupAction<A>) -> bool {
        let cfg = self.cfg();
        match action {
            ActorModelAction::Recover(_) => false,
            ActorModelAction::Crash(id) => match cfg.crash_at {
                CrashAt::Any => true,
                CrashAt::Bcast => {
                    let node = &state.actor_states[usize::from(*id)];
                    node.role() == Role::Leader && node.mid_broadcast()
                }
            },
            ActorModelAction::Timeout(id, Timer::Suspect) if cfg.detector == Detector::Perfect => {
                let node = &state.actor_states[usize::from(*id)];
                match node.monitors() {
                    Some(leader) => {
                        state.crashed[usize::from(leader)]
                            && (cfg.network == NetworkKind::Duplicating
                                || !in_flight(state, leader, *id))
                    }
                    None => true,
                }
            }
            _ => true,
        }
    }
}

/// Whether any message from `src` to `dst` is still in the network.
///
/// Not `Network::iter_all`: in stateright 0.31 its ordered-network iterator never advances
/// past the head of a channel, so it loops forever once a channel holds a message.
fn in_flight<A: Protocol>(state: &GroupState<A>, src: Id, dst: Id) -> bool {
    match &state.network {
        Network::Ordered(channels) => channels.get(&(src, dst)).is_some_and(|q| !q.is_empty()),
        Network::UnorderedNonDuplicating(bag) => {
            bag.keys().any(|env| env.src == src && env.dst == dst)
        }
        Network::UnorderedDuplicating(set, _) => {
            set.iter().any(|env| env.src == src && env.dst == dst)
        }
    }
}

impl<A: Protocol> Model for GroupModel<A> {
    type State = GroupState<A>;
    type Action = GroupAction<A>;

    fn init_states(&self) -> Vec<Self::State> {
        self.inner.init_states()
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        self.inner.actions(state, actions);
        actions.retain(|a| self.allowed(state, a));
        if self.only_transitions {
            actions.retain(|a| self.inner.next_state(state, a.clone()).is_some());
        }
    }

    fn next_state(&self, state: &Self::State, action: Self::Action) -> Option<Self::State> {
        self.inner.next_state(state, action)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        self.inner.format_action(action)
    }

    fn format_step(&self, state: &Self::State, action: Self::Action) -> Option<String> {
        self.inner.format_step(state, action)
    }

    fn as_svg(&self, path: Path<Self::State, Self::Action>) -> Option<String> {
        self.inner.as_svg(path)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        Model::within_boundary(&self.inner, state)
    }
}
