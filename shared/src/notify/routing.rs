//! Which channel a notification goes to, and whom it mentions: `SLACK_ROUTES`, a JSON array of rules,
//! first match wins, `SLACK_CHANNEL` when none matches.
//!
//! `[{"alarm": "payments-*", "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAYONCALL>"},
//!   {"topic": "prod-*", "channel": "C0PROD"}, {"state": ["OK"], "channel": "C0QUIET"}]`

use serde::Deserialize;
use serde_json::Value;

use crate::config::ConfigError;

pub const ROUTES_VAR: &str = "SLACK_ROUTES";

/// One rule. Every condition given must match; a rule without conditions matches everything.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Glob (`*`, `?`) on the alarm name.
    #[serde(default)]
    pub alarm: Option<String>,
    /// Glob on the SNS topic's name.
    #[serde(default)]
    pub topic: Option<String>,
    /// Glob on the account: its ID, or its name (`ACCOUNT_NAMES`, AWS Organizations).
    #[serde(default)]
    pub account: Option<String>,
    /// Glob on the region code.
    #[serde(default)]
    pub region: Option<String>,
    /// Globs on labels an Alertmanager group's alerts all share (`{"team": "payments", "severity": "crit*"}`):
    /// every one given must match.
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// Glob on where the notification came from: the EventBridge source (`aws.guardduty`,
    /// `aws.cloudwatch`, `aws.codedeploy`, ...) or `alertmanager`.
    #[serde(default)]
    pub source: Option<String>,
    /// The states this rule is for (`ALARM`, `OK`, `INSUFFICIENT_DATA`; a deployment's `READY`, `SUCCESS`, ...;
    /// Alertmanager's `FIRING`, `RESOLVED`).
    #[serde(default)]
    pub state: Option<Vec<String>>,
    pub channel: String,
    /// Added to the message only when it pages: an alarm in ALARM, a firing Alertmanager group, a
    /// finding or service notice of high severity (`<!subteam^S0...>`, `<@U0...>`, `<!here>`).
    #[serde(default)]
    pub mention: Option<String>,
    /// The team whose channel this is (`payments`): `/status payments` lists its alerts, and the reports
    /// go to each team's channel.
    #[serde(default)]
    pub team: Option<String>,
}

/// What a notification offers to match on.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteKey<'a> {
    pub alarm: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub account: Option<&'a str>,
    /// The account's name, when one is known.
    pub account_name: Option<&'a str>,
    pub region: Option<&'a str>,
    pub source: Option<&'a str>,
    /// An Alertmanager group's common labels.
    pub labels: Option<&'a std::collections::BTreeMap<String, String>>,
    pub state: &'a str,
    /// The notification pages (the rule's mention applies).
    pub urgent: bool,
}

/// Where a notification goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// `None`: no rule matched and no `SLACK_CHANNEL` is set.
    pub channel: Option<String>,
    /// The matching rule's mention, when the state is ALARM.
    pub mention: Option<String>,
    /// Index of the rule that matched, for logs.
    pub rule: Option<usize>,
    /// The matching rule's team.
    pub team: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    rules: Vec<Rule>,
    default_channel: Option<String>,
}

impl Routes {
    /// Parses `SLACK_ROUTES`; an error names the rule at fault (by position, with its text).
    pub fn parse(routes: Option<&str>, default_channel: Option<String>) -> Result<Self, ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid { var: ROUTES_VAR, problem };
        let Some(text) = routes.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Self { rules: Vec::new(), default_channel });
        };
        let items: Vec<Value> = match serde_json::from_str(text) {
            Ok(Value::Array(items)) => items,
            Ok(_) => return Err(invalid("is not a JSON array of rules".into())),
            Err(e) => return Err(invalid(format!("is not valid JSON: {e}"))),
        };
        let mut rules = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let shown = crate::text::truncate(&item.to_string(), 200).into_owned();
            let rule: Rule =
                serde_json::from_value(item.clone()).map_err(|e| invalid(format!("rule {} {shown}: {e}", i + 1)))?;
            if rule.channel.trim().is_empty() {
                return Err(invalid(format!("rule {} {shown}: channel is empty", i + 1)));
            }
            if rule.team.as_deref().is_some_and(|t| t.trim().is_empty() || t.chars().any(char::is_whitespace)) {
                return Err(invalid(format!("rule {} {shown}: team must be one word (`payments`)", i + 1)));
            }
            if rule.state.as_ref().is_some_and(Vec::is_empty) {
                return Err(invalid(format!("rule {} {shown}: state is an empty list, which never matches", i + 1)));
            }
            rules.push(rule);
        }
        Ok(Self { rules, default_channel })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether every notification gets a channel: a default channel, or a rule without conditions.
    pub fn covers_everything(&self) -> bool {
        self.default_channel.is_some()
            || self.rules.iter().any(|r| {
                r.alarm.is_none()
                    && r.topic.is_none()
                    && r.account.is_none()
                    && r.region.is_none()
                    && r.source.is_none()
                    && r.labels.is_none()
                    && r.state.is_none()
            })
    }

    /// The first matching rule's channel (and mention, for ALARM), else the default channel.
    pub fn route(&self, key: &RouteKey<'_>) -> Route {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matches(key) {
                return Route {
                    channel: Some(rule.channel.clone()),
                    mention: rule.mention.clone().filter(|_| key.urgent),
                    rule: Some(i + 1),
                    team: rule.team.clone(),
                };
            }
        }
        Route { channel: self.default_channel.clone(), mention: None, rule: None, team: None }
    }
}

impl Rule {
    fn matches(&self, key: &RouteKey<'_>) -> bool {
        let field = |pattern: &Option<String>, value: Option<&str>| match pattern {
            None => true,
            Some(p) => value.is_some_and(|v| glob(p, v)),
        };
        field(&self.alarm, key.alarm)
            && field(&self.topic, key.topic)
            && (field(&self.account, key.account)
                || self.account.as_deref().zip(key.account_name).is_some_and(|(p, name)| glob(p, name)))
            && field(&self.region, key.region)
            && field(&self.source, key.source)
            && self.labels.as_ref().is_none_or(|want| {
                want.iter()
                    .all(|(name, pattern)| key.labels.and_then(|l| l.get(name)).is_some_and(|v| glob(pattern, v)))
            })
            && self.state.as_ref().is_none_or(|states| states.iter().any(|s| s.eq_ignore_ascii_case(key.state)))
    }
}

/// `*` matches any run of characters, `?` one character; everything else itself. Iterative, with one
/// backtrack point, so no pattern can make it slow.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        // The wildcard first: a `*` in the text must not be taken as the pattern's literal `*`.
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"[{"alarm": "payments-*", "channel": "C0PAYMENTS", "mention": "<!subteam^S0PAYONCALL>"},
        {"topic": "prod-*", "channel": "C0PROD"}, {"state": ["OK"], "channel": "C0QUIET"}]"#;

    fn key<'a>(alarm: &'a str, topic: Option<&'a str>, state: &'a str) -> RouteKey<'a> {
        RouteKey { alarm: Some(alarm), topic, state, urgent: state == "ALARM", ..RouteKey::default() }
    }

    #[test]
    fn first_match_wins_and_the_mention_is_for_alarm_only() {
        let routes = Routes::parse(Some(EXAMPLE), Some("C0DEFAULT".into())).unwrap();
        let r = routes.route(&key("payments-5xx", Some("prod-alarms"), "ALARM"));
        assert_eq!(r.channel.as_deref(), Some("C0PAYMENTS"));
        assert_eq!(r.mention.as_deref(), Some("<!subteam^S0PAYONCALL>"));
        assert_eq!(r.rule, Some(1));
        let r = routes.route(&key("payments-5xx", None, "OK"));
        assert_eq!((r.channel.as_deref(), r.mention), (Some("C0PAYMENTS"), None));
        assert_eq!(routes.route(&key("api-cpu", Some("prod-alarms"), "OK")).channel.as_deref(), Some("C0PROD"));
        assert_eq!(routes.route(&key("api-cpu", Some("dev-alarms"), "OK")).channel.as_deref(), Some("C0QUIET"));
        let r = routes.route(&key("api-cpu", Some("dev-alarms"), "ALARM"));
        assert_eq!((r.channel.as_deref(), r.rule), (Some("C0DEFAULT"), None));
        assert!(routes.covers_everything());
        assert!(!Routes::parse(Some(EXAMPLE), None).unwrap().covers_everything());
    }

    #[test]
    fn account_region_and_state_lists_match() {
        let routes = Routes::parse(
            Some(
                r#"[{"account": "1111*", "region": "eu-*", "state": ["alarm", "INSUFFICIENT_DATA"], "channel": "C1"}]"#,
            ),
            None,
        )
        .unwrap();
        let mut k = RouteKey {
            account: Some("111122223333"),
            region: Some("eu-west-1"),
            state: "ALARM",
            ..RouteKey::default()
        };
        assert_eq!(routes.route(&k).channel.as_deref(), Some("C1"));
        k.state = "OK";
        assert_eq!(routes.route(&k).channel, None);
        k.state = "INSUFFICIENT_DATA";
        k.region = None;
        assert_eq!(routes.route(&k).channel, None, "a condition on a field the notification lacks does not match");
    }

    #[test]
    fn a_label_shows_the_name_beside_the_id() {
        use crate::notify::account_label;
        assert_eq!(account_label("111122223333", Some("payments-prod")), "payments-prod (111122223333)");
        assert_eq!(account_label("111122223333", None), "111122223333");
        assert_eq!(account_label("111122223333", Some(" ")), "111122223333");
    }

    #[test]
    fn an_account_matches_by_name_or_by_id() {
        let routes = Routes::parse(
            Some(r#"[{"account": "payments-*", "channel": "C0PAY"}, {"account": "2222*", "channel": "C0TWO"}]"#),
            Some("C0DEFAULT".into()),
        )
        .unwrap();
        let key = |account, account_name| RouteKey { account, account_name, state: "ALARM", ..RouteKey::default() };
        let channel = |k: RouteKey<'_>| routes.route(&k).channel;
        assert_eq!(channel(key(Some("111122223333"), Some("payments-prod"))).as_deref(), Some("C0PAY"));
        assert_eq!(channel(key(Some("222233334444"), Some("payments-dev"))).as_deref(), Some("C0PAY"), "first match");
        assert_eq!(channel(key(Some("222233334444"), None)).as_deref(), Some("C0TWO"), "by ID when unnamed");
        assert_eq!(channel(key(Some("111122223333"), None)).as_deref(), Some("C0DEFAULT"), "no name: no name match");
        assert_eq!(channel(key(None, Some("payments-prod"))).as_deref(), Some("C0PAY"));
    }

    /// The manual's example (docs/notifier.md) parses, and routes as the manual says.
    #[test]
    fn the_manuals_example_parses() {
        let readme = include_str!("../../../docs/notifier.md");
        let section = &readme[readme.find("## Routing (`SLACK_ROUTES`)").unwrap()..];
        let start = section.find("```json").unwrap() + "```json".len();
        let end = start + section[start..].find("```").unwrap();
        let routes = Routes::parse(Some(&section[start..end]), Some("C0DEFAULT".into())).unwrap();
        let k = RouteKey { source: Some("aws.guardduty"), state: "HIGH", urgent: true, ..RouteKey::default() };
        assert_eq!(routes.route(&k).channel.as_deref(), Some("C0SECURITY"));
        assert_eq!(routes.route(&k).mention.as_deref(), Some("<!subteam^S0SECONCALL>"));
    }

    #[test]
    fn source_globs_route_and_the_mention_follows_urgency() {
        let routes = Routes::parse(
            Some(r#"[{"source": "aws.guardduty", "channel": "C0SEC", "mention": "<!subteam^S0SEC>"}, {"source": "aws.*", "channel": "C0AWS"}]"#),
            Some("C0DEFAULT".into()),
        )
        .unwrap();
        let mut k = RouteKey { source: Some("aws.guardduty"), state: "HIGH", urgent: true, ..RouteKey::default() };
        assert_eq!(routes.route(&k).mention.as_deref(), Some("<!subteam^S0SEC>"));
        k.urgent = false;
        assert_eq!((routes.route(&k).channel.as_deref(), routes.route(&k).mention), (Some("C0SEC"), None));
        k.source = Some("aws.backup");
        assert_eq!(routes.route(&k).channel.as_deref(), Some("C0AWS"));
        k.source = None;
        assert_eq!(routes.route(&k).channel.as_deref(), Some("C0DEFAULT"));
    }

    #[test]
    fn a_bad_rule_set_is_a_config_error_naming_the_rule() {
        for (routes, expect) in [
            ("{}", "not a JSON array"),
            ("[{", "not valid JSON"),
            (r#"[{"channel": "C1"}, {"alarm": "x"}]"#, "rule 2"),
            (r#"[{"chanel": "C1"}]"#, "unknown field `chanel`"),
            (r#"[{"channel": " "}]"#, "channel is empty"),
            (r#"[{"channel": "C1", "state": []}]"#, "never matches"),
            (r#"[{"channel": "C1", "state": "OK"}]"#, "rule 1"),
        ] {
            let err = Routes::parse(Some(routes), None).unwrap_err();
            assert_eq!(err.var(), ROUTES_VAR);
            assert!(err.to_string().contains(expect), "{routes}: {err}");
        }
        assert!(Routes::parse(Some("  "), None).unwrap().is_empty());
    }

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("payments-*", "payments-5xx", true),
            ("payments-*", "payments-", true),
            ("payments-*", "pay", false),
            ("*-prod-*", "api-prod-cpu", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("**a**", "bab", true),
            ("ü*", "über", true),
            ("*", "*¡", true), // found by the property test: a `*` in the text is no wildcard
            ("a*", "a*b", true),
        ] {
            assert_eq!(glob(p, t), m, "{p} ~ {t}");
        }
        // Pathological patterns stay linear-ish.
        let long = "a".repeat(5000);
        assert!(!glob(&format!("{}b", "*a".repeat(50)), &long));
    }
}
