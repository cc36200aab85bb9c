//! People's names, for what is read outside Slack (a post-mortem draft): Slack renders `<@U…>` as the
//! person's name, a Markdown file does not. `users.info` (scope `users:read`), one call per person at once,
//! kept per container for [`NAMES_TTL`]. A name that cannot be read is the user ID (the document is written
//! anyway).
//!
//! Adapter floor: imports `slack::bot` and the base floor.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bot::Bot;

/// A future to run beside others.
pub type Task<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;
type Read<'a> = Task<'a, (String, Option<Value>)>;

/// Runs `tasks` side by side (two halves joined, each the same way) and returns their outputs in order.
pub fn join_all<'a, T: 'a>(mut tasks: Vec<Task<'a, T>>) -> Task<'a, Vec<T>> {
    Box::pin(async move {
        match tasks.len() {
            0 => Vec::new(),
            1 => match tasks.pop() {
                Some(task) => vec![task.await],
                None => Vec::new(),
            },
            n => {
                let right = tasks.split_off(n / 2);
                let (mut left, right) = tokio::join!(join_all(tasks), join_all(right));
                left.extend(right);
                left
            }
        }
    })
}

/// How long a name is kept before `users.info` is asked again.
pub const NAMES_TTL: Duration = Duration::from_secs(3600);

/// The names read so far: user ID → (read at, name).
#[derive(Debug, Default)]
pub struct UserNames {
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

/// The name Slack shows: the display name, else the real name, else the handle.
pub fn name_of(user: &Value) -> Option<String> {
    [user.pointer("/profile/display_name"), user.pointer("/profile/real_name"), user.get("real_name"), user.get("name")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|n| !n.is_empty())
        .map(str::to_owned)
}

impl UserNames {
    /// The names of `ids` that could be read by `deadline` (the others are left out).
    pub async fn names(&self, bot: &Arc<Bot>, ids: &[String], deadline: Instant) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        if let Ok(cache) = self.cache.lock() {
            for id in ids {
                match cache.get(id) {
                    Some((at, name)) if at.elapsed() < NAMES_TTL => {
                        found.insert(id.clone(), name.clone());
                    }
                    _ => missing.push(id.clone()),
                }
            }
        }
        missing.sort();
        missing.dedup();
        let reads: Vec<Read<'_>> = missing
            .into_iter()
            .map(|id| -> Read<'_> {
                Box::pin(async move {
                    let answer = bot.read("users.info", &[("user", id.as_str())], deadline).await;
                    (id, answer.ok())
                })
            })
            .collect();
        let read = tokio::time::timeout_at(deadline.into(), join_all(reads)).await.unwrap_or_default();
        for (id, answer) in read {
            match answer.as_ref().and_then(|a| name_of(&a["user"])) {
                Some(name) => {
                    if let Ok(mut cache) = self.cache.lock() {
                        cache.insert(id.clone(), (Instant::now(), name.clone()));
                    }
                    found.insert(id, name);
                }
                None => {
                    tracing::warn!(user = %id, "a name could not be read (users.info; scope users:read): its ID is shown")
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_name_first_then_the_real_name_then_the_handle() {
        let user = |display: &str, real: &str| serde_json::json!({"id": "U1", "name": "alice", "real_name": real, "profile": {"display_name": display, "real_name": real}});
        assert_eq!(name_of(&user("Ali", "Alice Liddell")).as_deref(), Some("Ali"));
        assert_eq!(name_of(&user(" ", "Alice Liddell")).as_deref(), Some("Alice Liddell"));
        assert_eq!(name_of(&user("", "")).as_deref(), Some("alice"));
        assert_eq!(name_of(&serde_json::json!({})), None);
    }
}
