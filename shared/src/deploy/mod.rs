//! Deploys requested from Slack: the mapping of which channel may deploy which project through which CI
//! pipeline (`DEPLOY_TARGETS_SECRET_ARN`), and starting that pipeline on GitLab or GitHub Actions behind
//! one small seam ([`Pipelines::trigger`]).
//!
//! A pipeline is started by one POST that is never retried once it may have reached the CI server: a
//! second POST could start a second deploy. What the caller learns is therefore one of three things:
//! started (with the link), not started (nothing happened: safe to ask again), or unknown (the request
//! left and no answer came back: look at the pipelines page before asking again).
//!
//! Adapter floor: imports `http` and the base floor.

pub mod github;
pub mod gitlab;
pub mod issues;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::http::Exchange;
use crate::secret::Secret;

pub const TARGETS_VAR: &str = "DEPLOY_TARGETS_SECRET_ARN";
pub const GITLAB_URL_VAR: &str = "GITLAB_URL";
pub const GITHUB_API_URL_VAR: &str = "GITHUB_API_URL";
pub const DEFAULT_GITLAB_URL: &str = "https://gitlab.com";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

/// One project a channel may deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    GitLab(gitlab::GitLabTarget),
    GitHub(github::GitHubTarget),
}

impl Target {
    pub fn provider(&self) -> &'static str {
        match self {
            Self::GitLab(_) => "gitlab",
            Self::GitHub(_) => "github",
        }
    }

    /// The branch or tag deployed: the configured one, never one the requester chose.
    pub fn git_ref(&self) -> &str {
        match self {
            Self::GitLab(t) => &t.git_ref,
            Self::GitHub(t) => &t.git_ref,
        }
    }
}

/// The mapping, team → channel → project → target, as kept in the secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeployTargets {
    teams: BTreeMap<String, BTreeMap<String, BTreeMap<String, Target>>>,
    /// The `issues` entries: team → channel (or `*`, the team's default) → where follow-ups are filed.
    trackers: BTreeMap<String, BTreeMap<String, issues::Tracker>>,
}

/// The project name under a channel that is its issue tracker, not a deploy target.
pub const ISSUES_ENTRY: &str = "issues";

/// The mapping does not parse. Names the entry, never a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deploy targets: {at}: {problem}")]
pub struct TargetsError {
    pub at: String,
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    provider: String,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    token: Option<String>,
    // GitLab
    project_id: Option<serde_json::Value>,
    url: Option<String>,
    // GitHub
    repository: Option<String>,
    workflow: Option<String>,
    return_run_details: Option<bool>,
    // Both: the project's page, for links when the CI server gave none.
    web_url: Option<String>,
}

impl DeployTargets {
    /// Parses the secret's JSON; every entry is checked, so a typo fails the first mention with a clear
    /// error instead of a deploy that goes nowhere.
    pub fn parse(json: &str) -> Result<Self, TargetsError> {
        let err = |at: String, problem: String| TargetsError { at, problem };
        let raw: BTreeMap<String, BTreeMap<String, BTreeMap<String, serde_json::Value>>> = serde_json::from_str(json)
            .map_err(|e| {
            err("the secret".into(), format!("must be JSON {{team: {{channel: {{project: target}}}}}} ({e})"))
        })?;
        let mut teams = BTreeMap::new();
        let mut trackers: BTreeMap<String, BTreeMap<String, issues::Tracker>> = BTreeMap::new();
        for (team, channels) in raw {
            let mut out_channels = BTreeMap::new();
            for (channel, projects) in channels {
                let mut out_projects = BTreeMap::new();
                for (project, value) in projects {
                    let at = format!("{team} / {channel} / {project}");
                    if project == ISSUES_ENTRY {
                        let raw: issues::RawTracker =
                            serde_json::from_value(value).map_err(|e| err(at.clone(), e.to_string()))?;
                        let tracker = issues::Tracker::parse(raw).map_err(|p| err(at, p))?;
                        trackers.entry(team.clone()).or_default().insert(channel.clone(), tracker);
                        continue;
                    }
                    let raw: RawTarget = serde_json::from_value(value).map_err(|e| err(at.clone(), e.to_string()))?;
                    out_projects.insert(project, Self::target(raw).map_err(|p| err(at, p))?);
                }
                out_channels.insert(channel, out_projects);
            }
            teams.insert(team, out_channels);
        }
        Ok(Self { teams, trackers })
    }

    fn target(raw: RawTarget) -> Result<Target, String> {
        let need = |v: Option<String>, name: &str| {
            v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).ok_or(format!("{name} is required"))
        };
        let git_ref = need(raw.git_ref, "ref")?;
        let token = Secret::new(need(raw.token, "token")?);
        match raw.provider.as_str() {
            "gitlab" => {
                let project_id = match raw.project_id {
                    Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => return Err("project_id is required (the number, or the path like group/project)".into()),
                };
                Ok(Target::GitLab(gitlab::GitLabTarget {
                    project_id,
                    git_ref,
                    token,
                    url: raw.url,
                    web_url: raw.web_url,
                }))
            }
            "github" => {
                let repository = need(raw.repository, "repository")?;
                if repository.split('/').count() != 2 || repository.split('/').any(str::is_empty) {
                    return Err(format!("repository must be owner/name, not {repository:?}"));
                }
                Ok(Target::GitHub(github::GitHubTarget {
                    repository,
                    workflow: need(raw.workflow, "workflow")?,
                    git_ref,
                    token,
                    return_run_details: raw.return_run_details.unwrap_or(true),
                    web_url: raw.web_url,
                }))
            }
            other => Err(format!("provider must be gitlab or github, not {other:?}")),
        }
    }

    /// The projects `channel` of `team` may deploy (empty when none).
    pub fn projects(&self, team: &str, channel: &str) -> Vec<&str> {
        self.teams
            .get(team)
            .and_then(|c| c.get(channel))
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Where follow-ups of incidents declared in `channel` of `team` are filed: the channel's `issues`
    /// entry, else the team's (`"*"`).
    pub fn tracker(&self, team: &str, channel: &str) -> Option<&issues::Tracker> {
        let trackers = self.trackers.get(team)?;
        trackers.get(channel).or_else(|| trackers.get("*"))
    }

    /// The target of `project` for `channel`; the name matched as typed, then ignoring case.
    pub fn find(&self, team: &str, channel: &str, project: &str) -> Option<(&str, &Target)> {
        let projects = self.teams.get(team)?.get(channel)?;
        projects
            .get_key_value(project)
            .or_else(|| projects.iter().find(|(name, _)| name.eq_ignore_ascii_case(project)))
            .map(|(name, target)| (name.as_str(), target))
    }
}

/// Who asked for the deploy and where the answer goes: passed to the pipeline so its last job can call
/// back (`/deploy/notify`) into the same thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRequest {
    pub project: String,
    pub channel: String,
    pub thread_ts: String,
    pub requested_by: String,
}

/// A pipeline that the CI server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// The pipeline or run ID, when the CI server gave one.
    pub id: Option<String>,
    /// Its page (or, without an ID, the workflow's runs page).
    pub url: String,
}

/// Why no pipeline link came back. Never carries a token or a URL with one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// Nothing was started: the CI server refused (4xx) or could not be reached. Asking again is safe.
    #[error("{provider} did not start the pipeline: {detail}")]
    NotStarted { provider: &'static str, detail: String, check: String },
    /// The request may have reached the CI server and no answer came (timeout, 5xx): look before asking again.
    #[error("{provider} did not answer in time, the pipeline may have started: {detail}")]
    Unknown { provider: &'static str, detail: String, check: String },
}

impl TriggerError {
    /// Where a person can look: the project's pipelines page.
    pub fn check_url(&self) -> &str {
        match self {
            Self::NotStarted { check, .. } | Self::Unknown { check, .. } => check,
        }
    }
}

/// Starts pipelines, over the container's one HTTP client.
#[derive(Clone, Debug)]
pub struct Pipelines {
    client: reqwest::Client,
    gitlab_url: String,
    github_api_url: String,
}

impl Pipelines {
    pub fn new(client: reqwest::Client, gitlab_url: Option<&str>, github_api_url: Option<&str>) -> Self {
        let base = |url: Option<&str>, default: &str| url.unwrap_or(default).trim().trim_end_matches('/').to_owned();
        Self {
            client,
            gitlab_url: base(gitlab_url, DEFAULT_GITLAB_URL),
            github_api_url: base(github_api_url, DEFAULT_GITHUB_API_URL),
        }
    }

    /// Starts `target`'s pipeline for `request`, answering before `deadline`.
    pub async fn trigger(
        &self,
        target: &Target,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Started, TriggerError> {
        match target {
            Target::GitLab(t) => t.trigger(&self.client, &self.gitlab_url, request, deadline).await,
            Target::GitHub(t) => t.trigger(&self.client, &self.github_api_url, request, deadline).await,
        }
    }

    /// The page to look at for `target`'s pipelines.
    pub fn pipelines_page(&self, target: &Target) -> String {
        match target {
            Target::GitLab(t) => t.pipelines_page(&self.gitlab_url),
            Target::GitHub(t) => t.runs_page(&self.github_api_url),
        }
    }
}

/// Sends the POST once. A connection that could not be made started nothing; a timeout or a broken
/// answer after the request left may have.
pub(crate) async fn send_once(
    provider: &'static str,
    request: reqwest::RequestBuilder,
    deadline: Instant,
    check: &str,
) -> Result<Exchange, TriggerError> {
    let check = check.to_owned();
    let Some(timeout) = deadline.checked_duration_since(Instant::now()).filter(|d| *d > Duration::from_millis(20))
    else {
        return Err(TriggerError::NotStarted { provider, detail: "no time left to ask".into(), check });
    };
    Exchange::send(request, timeout).await.map_err(|failed| {
        if failed.no_connection {
            TriggerError::NotStarted { provider, detail: failed.why, check }
        } else {
            TriggerError::Unknown { provider, detail: failed.why, check }
        }
    })
}

/// An error answer's message, short, for the thread and the log.
pub(crate) fn answer_detail(answer: &Exchange) -> String {
    let message = serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| {
            v.get("message").map(|m| match m {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
        .unwrap_or_else(|| answer.body.trim().to_owned());
    format!("HTTP {}: {}", answer.status, crate::text::truncate(&message, 200))
}

/// Classifies a non-success answer: 5xx may have started something; anything else did not.
pub(crate) fn refused(provider: &'static str, answer: &Exchange, check: &str) -> TriggerError {
    let detail = answer_detail(answer);
    let check = check.to_owned();
    if answer.status >= 500 {
        TriggerError::Unknown { provider, detail, check }
    } else {
        TriggerError::NotStarted { provider, detail, check }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = r#"{"T0TEAM": {"C0OPS": {
        "orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": "glptt-secret"},
        "billing": {"provider": "github", "repository": "acme/billing", "workflow": "deploy.yml", "ref": "main", "token": "github_pat_secret"}
    }}}"#;

    #[test]
    fn the_mapping_is_read_per_team_and_channel() {
        let targets = DeployTargets::parse(MAPPING).unwrap();
        assert_eq!(targets.projects("T0TEAM", "C0OPS"), ["billing", "orders"]);
        assert!(targets.projects("T0TEAM", "C0OTHER").is_empty());
        assert!(targets.projects("T0OTHER", "C0OPS").is_empty());
        let (name, target) = targets.find("T0TEAM", "C0OPS", "Orders").unwrap();
        assert_eq!((name, target.provider(), target.git_ref()), ("orders", "gitlab", "main"));
        assert!(targets.find("T0TEAM", "C0OPS", "payments").is_none());
        assert!(!format!("{targets:?}").contains("secret"), "tokens must not print");
    }

    #[test]
    fn a_channels_issues_entry_is_its_tracker_not_a_project_and_the_teams_star_is_the_default() {
        let mapping = r#"{"T0TEAM": {
            "C0OPS": {"orders": {"provider": "gitlab", "project_id": "42", "ref": "main", "token": "glptt-secret"},
                      "issues": {"provider": "github", "repository": "acme/ops", "token": "github_pat_issues"}},
            "*": {"issues": {"provider": "gitlab", "project_id": "sre/incidents", "token": "glpat-secret"}}
        }}"#;
        let targets = DeployTargets::parse(mapping).unwrap();
        assert_eq!(targets.projects("T0TEAM", "C0OPS"), ["orders"], "`issues` is not deployable");
        assert!(targets.find("T0TEAM", "C0OPS", "issues").is_none());
        assert_eq!(targets.tracker("T0TEAM", "C0OPS").map(|t| t.provider()), Some("github"));
        assert_eq!(targets.tracker("T0TEAM", "C0ELSE").map(|t| t.provider()), Some("gitlab"), "the team's default");
        assert!(targets.tracker("T0OTHER", "C0OPS").is_none());
        assert!(DeployTargets::parse(MAPPING).unwrap().tracker("T0TEAM", "C0OPS").is_none());
        let bad = r#"{"T0": {"C0": {"issues": {"provider": "github", "repository": "acme/ops", "token": "t", "workflow": "x"}}}}"#;
        let err = DeployTargets::parse(bad).unwrap_err();
        assert!(err.at == "T0 / C0 / issues" && err.problem.contains("workflow"), "{err}");
    }

    #[test]
    fn a_bad_entry_is_named_without_its_token() {
        let bad = r#"{"T0": {"C0": {"orders": {"provider": "gitlab", "ref": "main", "token": "glptt-secret"}}}}"#;
        let err = DeployTargets::parse(bad).unwrap_err();
        assert_eq!(err.at, "T0 / C0 / orders");
        assert!(err.problem.contains("project_id") && !err.to_string().contains("glptt"), "{err}");
        let bad = r#"{"T0": {"C0": {"web": {"provider": "jenkins", "ref": "main", "token": "t"}}}}"#;
        assert!(DeployTargets::parse(bad).unwrap_err().problem.contains("jenkins"));
        let bad = r#"{"T0": {"C0": {"web": {"provider": "github", "repository": "acme", "workflow": "d.yml", "ref": "main", "token": "t"}}}}"#;
        assert!(DeployTargets::parse(bad).unwrap_err().problem.contains("owner/name"));
        let bad = r#"{"T0": {"C0": {"web": {"provider": "gitlab", "project_id": 1, "ref": "main", "token": "t", "branch": "dev"}}}}"#;
        assert!(DeployTargets::parse(bad).unwrap_err().problem.contains("branch"));
        assert!(DeployTargets::parse("[1,2]").is_err());
    }
}
