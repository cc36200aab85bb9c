//! Account names people recognise, for messages from many accounts: `ACCOUNT_NAMES` (a JSON object of
//! account ID → name, the contract) and, with `ORGANIZATIONS_LOOKUP=true`, the names AWS Organizations
//! knows (`DescribeAccount`), each read once per container.
//!
//! A lookup never holds a message back: the names of one invocation are waited for at most
//! [`LOOKUP_BUDGET`], and a failed, refused or slow lookup leaves the bare ID (a slow one still fills the
//! cache for the next message). A failure is logged once per account, and tried again after
//! [`RETRY_AFTER`].
//!
//! Adapter floor: imports the base floor (`config`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_organizations::error::ProvideErrorMetadata;

use crate::config::{ConfigError, non_empty};

pub const NAMES_VAR: &str = "ACCOUNT_NAMES";
pub const LOOKUP_VAR: &str = "ORGANIZATIONS_LOOKUP";

/// How long one invocation waits for the names it does not know yet.
pub const LOOKUP_BUDGET: Duration = Duration::from_millis(1000);
/// When a failed lookup is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);
/// The most one `DescribeAccount` may take, retries included, before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// `ACCOUNT_NAMES` and `ORGANIZATIONS_LOOKUP`, read once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountsConfig {
    pub names: BTreeMap<String, String>,
    pub lookup: bool,
}

impl AccountsConfig {
    /// Fails naming the variable, and the entry at fault.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |var, problem: String| ConfigError::Invalid { var, problem };
        let names = match non_empty(lookup, NAMES_VAR) {
            None => BTreeMap::new(),
            Some(text) => {
                let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
                    invalid(
                        NAMES_VAR,
                        format!(
                            "must be a JSON object of account ID to name ({{\"111122223333\": \"payments-prod\"}}): {e}"
                        ),
                    )
                })?;
                let mut names = BTreeMap::new();
                for (id, name) in map {
                    if !is_account_id(&id) {
                        return Err(invalid(NAMES_VAR, format!("has {id:?}, which is not a 12-digit account ID")));
                    }
                    let name = name.as_str().map(str::trim).filter(|n| !n.is_empty()).ok_or_else(|| {
                        invalid(NAMES_VAR, format!("gives account {id} no name (a non-empty string is needed)"))
                    })?;
                    names.insert(id, name.to_owned());
                }
                names
            }
        };
        let lookup = match non_empty(lookup, LOOKUP_VAR) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(invalid(LOOKUP_VAR, "must be true or false".into())),
        };
        Ok(Self { names, lookup })
    }
}

pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Clone, Debug)]
enum Known {
    Named(String),
    /// Being read: by a lookup of an earlier invocation that outlived its budget, or of this one.
    Pending,
    /// The lookup failed: the ID alone until then.
    Unnamed {
        retry_at: Instant,
    },
}

/// The names a container knows, and the lookups that find the others.
pub struct AccountNames {
    fixed: BTreeMap<String, String>,
    organizations: Option<aws_sdk_organizations::Client>,
    known: Arc<Mutex<HashMap<String, Known>>>,
    budget: Duration,
}

impl AccountNames {
    pub fn new(fixed: BTreeMap<String, String>) -> Self {
        Self { fixed, organizations: None, known: Arc::default(), budget: LOOKUP_BUDGET }
    }

    /// Looks the names `ACCOUNT_NAMES` does not give up in AWS Organizations.
    pub fn use_organizations(&mut self, client: aws_sdk_organizations::Client) {
        self.organizations = Some(client);
    }

    /// An Organizations client for these lookups: each call given up after a few seconds.
    pub fn organizations_client(sdk: &aws_types::SdkConfig) -> aws_sdk_organizations::Client {
        let config = aws_sdk_organizations::config::Builder::from(sdk)
            .timeout_config(aws_smithy_types::timeout::TimeoutConfig::builder().operation_timeout(CALL_TIMEOUT).build())
            .retry_config(aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(2))
            .build();
        aws_sdk_organizations::Client::from_conf(config)
    }

    /// Whether there is anything to name accounts with.
    pub fn is_active(&self) -> bool {
        !self.fixed.is_empty() || self.organizations.is_some()
    }

    /// The names of `ids` that are known, or found within the budget.
    pub async fn names<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> HashMap<String, String> {
        let mut found = HashMap::new();
        let mut lookups = Vec::new();
        let now = Instant::now();
        for id in ids {
            if found.contains_key(id) {
                continue;
            }
            if let Some(name) = self.fixed.get(id) {
                found.insert(id.to_owned(), name.clone());
                continue;
            }
            let Some(client) = self.organizations.as_ref().filter(|_| is_account_id(id)) else { continue };
            let Ok(mut known) = self.known.lock() else { continue };
            match known.get(id) {
                Some(Known::Named(name)) => {
                    found.insert(id.to_owned(), name.clone());
                }
                Some(Known::Unnamed { retry_at }) if *retry_at > now => {}
                Some(Known::Pending) => {}
                None | Some(Known::Unnamed { .. }) => {
                    known.insert(id.to_owned(), Known::Pending);
                    // Spawned: a lookup that outlives this invocation's budget still fills the cache.
                    lookups.push(tokio::spawn(describe(client.clone(), id.to_owned(), self.known.clone())));
                }
            }
        }
        if lookups.is_empty() {
            return found;
        }
        let wait = async {
            for lookup in lookups {
                let _ = lookup.await;
            }
        };
        if tokio::time::timeout(self.budget, wait).await.is_err() {
            tracing::warn!(
                budget_ms = self.budget.as_millis() as u64,
                "AWS Organizations did not name every account in time: those messages show the account ID"
            );
        }
        if let Ok(known) = self.known.lock() {
            for (id, entry) in known.iter() {
                if let Known::Named(name) = entry {
                    found.entry(id.clone()).or_insert_with(|| name.clone());
                }
            }
        }
        found
    }
}

/// One `DescribeAccount`, its answer kept in `known`.
async fn describe(client: aws_sdk_organizations::Client, id: String, known: Arc<Mutex<HashMap<String, Known>>>) {
    let entry = match client.describe_account().account_id(&id).send().await {
        Ok(out) => match out.account.and_then(|a| a.name).map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
            Some(name) => Known::Named(name),
            None => Known::Unnamed { retry_at: Instant::now() + RETRY_AFTER },
        },
        Err(err) => {
            let code = err.code().unwrap_or("no answer").to_owned();
            let message = err.message().map(|m| crate::text::truncate(m, 200).into_owned()).unwrap_or_default();
            tracing::warn!(
                account = %id,
                error = %code,
                detail = %message,
                retry_after_s = RETRY_AFTER.as_secs(),
                "AWS Organizations did not name the account: its messages show the ID"
            );
            Known::Unnamed { retry_at: Instant::now() + RETRY_AFTER }
        }
    };
    if let Ok(mut known) = known.lock() {
        known.insert(id, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_lookup as lookup;

    #[test]
    fn account_names_are_read_and_checked() {
        let config =
            AccountsConfig::from_lookup(&lookup(&[(NAMES_VAR, r#"{"111122223333": " payments-prod "}"#)])).unwrap();
        assert_eq!(config.names.get("111122223333").map(String::as_str), Some("payments-prod"));
        assert!(!config.lookup);
        for (value, says) in [
            ("[1]", "JSON object"),
            (r#"{"1111": "x"}"#, "12-digit"),
            (r#"{"111122223333": ""}"#, "no name"),
            (r#"{"111122223333": 7}"#, "no name"),
        ] {
            let err = AccountsConfig::from_lookup(&lookup(&[(NAMES_VAR, value)])).unwrap_err();
            assert_eq!(err.var(), NAMES_VAR);
            assert!(err.to_string().contains(says), "{value}: {err}");
        }
        assert!(AccountsConfig::from_lookup(&lookup(&[(LOOKUP_VAR, "TRUE")])).unwrap().lookup);
        let err = AccountsConfig::from_lookup(&lookup(&[(LOOKUP_VAR, "yes")])).unwrap_err();
        assert_eq!(err.var(), LOOKUP_VAR);
    }

    #[tokio::test]
    async fn fixed_names_need_no_lookup() {
        let names = AccountNames::new(BTreeMap::from([("111122223333".to_owned(), "payments-prod".to_owned())]));
        assert!(names.is_active());
        let got = names.names(["111122223333", "444455556666", "111122223333"]).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got["111122223333"], "payments-prod");
        assert!(!AccountNames::new(BTreeMap::new()).is_active());
    }
}
