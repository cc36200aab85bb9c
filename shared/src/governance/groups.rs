//! The members of the user groups the policy names, read with `usergroups.users.list` and kept for
//! [`GROUPS_TTL`]. A group that cannot be read counts as one the user is not in (the safe side) and is
//! asked again on the next request.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::slack::bot::Bot;

/// How long a user group's members are kept before `usergroups.users.list` is asked again.
pub const GROUPS_TTL: Duration = Duration::from_secs(60);

/// A user group's members and when they were read.
type Members = (Instant, Arc<BTreeSet<String>>);

pub(crate) struct GroupCache {
    /// The user groups the policy names (worked out once, not per request).
    named: BTreeSet<String>,
    /// User group → (read at, members).
    groups: Mutex<HashMap<String, Members>>,
}

impl GroupCache {
    pub(crate) fn new(named: BTreeSet<String>) -> Self {
        Self { named, groups: Mutex::new(HashMap::new()) }
    }

    /// The user groups the policy names that `user` is in.
    pub(crate) async fn groups_of(&self, bot: Option<&Bot>, user: &str, deadline: Instant) -> BTreeSet<String> {
        let mut mine = BTreeSet::new();
        for group in &self.named {
            if let Some(members) = self.members(bot, group, deadline).await
                && members.contains(user)
            {
                mine.insert(group.clone());
            }
        }
        mine
    }

    async fn members(&self, bot: Option<&Bot>, group: &str, deadline: Instant) -> Option<Arc<BTreeSet<String>>> {
        let cached = self.groups.lock().ok().and_then(|g| g.get(group).cloned());
        if let Some((at, members)) = cached
            && at.elapsed() < GROUPS_TTL
        {
            return Some(members);
        }
        match bot?.usergroup_members(group, deadline).await {
            Ok(members) => {
                let members = Arc::new(members.into_iter().collect::<BTreeSet<_>>());
                if let Ok(mut groups) = self.groups.lock() {
                    groups.insert(group.to_owned(), (Instant::now(), members.clone()));
                }
                Some(members)
            }
            Err(err) => {
                tracing::warn!(error = %err, group, "could not read a user group: its members are refused this time");
                None
            }
        }
    }
}
