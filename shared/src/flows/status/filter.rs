//! `/status <filter>`: what narrows the overview. Each word of the filter must match (AND):
//! - a channel (`#alerts`, which Slack sends as `<#C0123|alerts>`): items shown or asked for there;
//! - an account ID (12 digits): alerts of that account;
//! - a word: an alert's team (`SLACK_ROUTES` `team`), its account's name, or a part of its name (any case);
//!   an incident's title, an approval's request, a deploy's project;
//! - a glob (`payments-*`, `api-?`): an alert's name or account name as a whole.

use crate::notify::routing::glob;
use crate::state::{OpenAlert, OpenDeploy, OpenItem};

/// One word of the filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Channel(String),
    Account(String),
    /// Lowercase.
    Word(String),
    /// Lowercase.
    Glob(String),
}

/// The filter: no terms matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub terms: Vec<Term>,
    /// As typed (unescaped), for the answer and the [Share] button.
    pub text: String,
}

impl Filter {
    /// Parses the command's text (as Slack sends it, escaped).
    pub fn parse(text: &str) -> Self {
        let mut terms = Vec::new();
        let mut shown = Vec::new();
        for word in text.split_whitespace().take(8) {
            if let Some(inner) = word.strip_prefix("<#").and_then(|w| w.strip_suffix('>')) {
                let (id, name) = inner.split_once('|').unwrap_or((inner, ""));
                terms.push(Term::Channel(id.to_owned()));
                shown.push(if name.is_empty() { format!("<#{id}>") } else { format!("#{name}") });
                continue;
            }
            let plain = crate::slack::unescape(word);
            shown.push(plain.clone());
            let lower = plain.to_lowercase();
            if lower.len() == 12 && lower.bytes().all(|b| b.is_ascii_digit()) {
                terms.push(Term::Account(lower));
            } else if lower.contains(['*', '?']) {
                terms.push(Term::Glob(lower));
            } else {
                terms.push(Term::Word(lower.trim_start_matches('#').to_owned()));
            }
        }
        Self { terms, text: shown.join(" ") }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The alert name this filter asks about, when it is one plain word: `/status api-high-cpu`.
    pub fn single_word(&self) -> Option<&str> {
        match self.terms.as_slice() {
            [Term::Word(word)] => Some(word),
            _ => None,
        }
    }

    pub fn alert(&self, a: &OpenAlert) -> bool {
        let title = a.title.to_lowercase();
        let account_name = a.account_name.as_deref().map(str::to_lowercase);
        self.terms.iter().all(|term| match term {
            Term::Channel(c) => a.thread.as_ref().is_some_and(|t| &t.channel == c),
            Term::Account(id) => a.account.as_deref() == Some(id.as_str()),
            Term::Word(w) => {
                a.team.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(w))
                    || account_name.as_deref() == Some(w.as_str())
                    || title.contains(w.as_str())
            }
            Term::Glob(g) => glob(g, &title) || account_name.as_deref().is_some_and(|n| glob(g, n)),
        })
    }

    /// Anything else: `words` are what a word may be part of, `channels` where it is.
    fn other(&self, words: &[&str], channels: &[Option<&str>]) -> bool {
        let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        self.terms.iter().all(|term| match term {
            Term::Channel(c) => channels.contains(&Some(c.as_str())),
            Term::Account(_) => false,
            Term::Word(w) => words.iter().any(|text| text.contains(w.as_str())),
            Term::Glob(g) => words.iter().any(|text| glob(g, text)),
        })
    }

    pub fn item(&self, item: &OpenItem) -> bool {
        match item {
            OpenItem::Alert(a) => self.alert(a),
            OpenItem::Incident(i) => self.other(
                &[&i.title, &i.name()],
                &[i.channel_id.as_deref(), i.announcement.as_ref().map(|a| a.0.as_str())],
            ),
            OpenItem::Approval(id, request) => {
                let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
                let text = |p: &str| body.pointer(p).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let (summary, resource, channel) =
                    (text("/proposal/summary"), text("/proposal/resource"), text("/requester/channel_id"));
                let message = request.message.as_ref().map(|m| m.0.as_str());
                self.other(&[&summary, &resource, id], &[Some(channel.as_str()), message])
            }
            OpenItem::Deploy(d) => {
                let OpenDeploy { record, .. } = d.as_ref();
                self.other(&[&record.project], &[Some(record.channel.as_str())])
            }
            OpenItem::Storm(s) => self.other(&[], &[Some(s.channel.as_str())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Thread;

    fn alert(title: &str, account: &str, name: Option<&str>, team: Option<&str>, channel: &str) -> OpenAlert {
        OpenAlert {
            title: title.into(),
            account: Some(account.into()),
            account_name: name.map(Into::into),
            team: team.map(Into::into),
            thread: Some(Thread { channel: channel.into(), ts: "1.2".into() }),
            ..OpenAlert::default()
        }
    }

    #[test]
    fn words_channels_accounts_and_globs_narrow_as_described() {
        let a = alert("payments-api-5xx", "111111111111", Some("prod"), Some("payments"), "C0PAY");
        let b = alert("search-latency", "222222222222", Some("staging"), None, "C0OPS");
        let keep = |text: &str| {
            let f = Filter::parse(text);
            [&a, &b].iter().filter(|x| f.alert(x)).map(|x| x.title.clone()).collect::<Vec<_>>()
        };
        assert_eq!(keep(""), ["payments-api-5xx", "search-latency"]);
        assert_eq!(keep("payments"), ["payments-api-5xx"], "the team (and a part of the name)");
        assert_eq!(keep("PROD"), ["payments-api-5xx"], "the account's name, any case");
        assert_eq!(keep("222222222222"), ["search-latency"]);
        assert_eq!(keep("<#C0OPS|ops>"), ["search-latency"]);
        assert_eq!(keep("*-5xx"), ["payments-api-5xx"]);
        assert_eq!(keep("search-*"), ["search-latency"]);
        assert_eq!(keep("latency <#C0PAY|pay>"), Vec::<String>::new(), "every word must match");
        assert_eq!(keep("sta*"), ["search-latency"], "a glob on the account's name");
        let f = Filter::parse("<#C0OPS|ops> 5xx &lt;x&gt;");
        assert_eq!(f.text, "#ops 5xx <x>");
        assert_eq!(Filter::parse("api-high-cpu").single_word(), Some("api-high-cpu"));
        assert_eq!(Filter::parse("api *").single_word(), None);
    }
}
