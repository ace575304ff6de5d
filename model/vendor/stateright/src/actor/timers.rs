use crate::{util::HashableHashSet, Rewrite, RewritePlan};
use std::hash::Hash;
use std::sync::Arc;

use super::Id;

/// A collection of timers that have been set for a given actor.
///
/// (groupy's patch: shared between the states that hold it unchanged, copied on write, as
/// a step changes one actor's timers at most.)
#[derive(Clone, Debug, Hash, PartialEq, Eq, serde::Serialize)]
pub struct Timers<T: Hash + Eq>(Arc<HashableHashSet<T>>);

impl<T: Hash + Eq> Default for Timers<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Timers<T>
where
    T: Hash + Eq,
{
    /// Create a new timer set.
    pub fn new() -> Self {
        Self(Arc::new(HashableHashSet::new()))
    }

    /// Iterate through the currently set timers.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
}

impl<T> Timers<T>
where
    T: Hash + Eq + Clone,
{
    /// Set a timer.
    pub fn set(&mut self, timer: T) -> bool {
        if self.0.contains(&timer) {
            return false;
        }
        Arc::make_mut(&mut self.0).insert(timer)
    }

    /// Cancel a timer.
    pub fn cancel(&mut self, timer: &T) -> bool {
        if !self.0.contains(timer) {
            return false;
        }
        Arc::make_mut(&mut self.0).remove(timer)
    }

    /// Cancels all timers.
    pub fn cancel_all(&mut self) {
        if !self.0.is_empty() {
            Arc::make_mut(&mut self.0).clear();
        }
    }
}

impl<T> Rewrite<Id> for Timers<T>
where
    T: Eq + Hash + Clone,
{
    fn rewrite<S>(&self, _plan: &RewritePlan<Id, S>) -> Self {
        self.clone()
    }
}
