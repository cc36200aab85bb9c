//! Issue trackers for incidents' follow-ups: the `issues` entry of a channel in the deploy mapping (or of
//! the team's `"*"` channel), a GitHub repository (`POST /repos/:owner/:repo/issues`, a fine-grained token
//! with Issues: write) or a GitLab project (`POST /api/v4/projects/:id/issues`, a project or group access
//! token with the `api` scope, sent as `PRIVATE-TOKEN`: a pipeline trigger token cannot file issues).
//!
//! Like a pipeline, an issue is filed by one POST that is never retried once it may have reached the
//! tracker: a second POST would file it twice.

use std::time::Instant;

use serde::Deserialize;
use serde_json::json;

use super::{Pipelines, TriggerError, refused, send_once};
use crate::secret::Secret;

/// Where an incident's follow-ups are filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tracker {
    GitHub {
        /// `owner/name`.
        repository: String,
        token: Secret,
        labels: Vec<String>,
        /// The repository's page, when it is not on github.com (for the issues page in messages).
        web_url: Option<String>,
    },
    GitLab {
        /// The number, or the path like `group/project`.
        project_id: String,
        token: Secret,
        labels: Vec<String>,
        /// The GitLab instance, when not `GITLAB_URL`.
        url: Option<String>,
        /// The project's page (for the issues page in messages).
        web_url: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTracker {
    provider: String,
    token: Option<String>,
    repository: Option<String>,
    project_id: Option<serde_json::Value>,
    labels: Option<Vec<String>>,
    url: Option<String>,
    web_url: Option<String>,
}

impl Tracker {
    pub(super) fn parse(raw: RawTracker) -> Result<Self, String> {
        let token = raw
            .token
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or("token is required (GitHub: Issues write; GitLab: an access token with the api scope)")?;
        let labels = raw.labels.unwrap_or_else(|| vec!["incident-follow-up".to_owned()]);
        if labels.iter().any(|l| l.trim().is_empty() || l.contains(',')) {
            return Err("labels must be names without commas".into());
        }
        match raw.provider.as_str() {
            "github" => {
                let repository = raw.repository.map(|r| r.trim().to_owned()).unwrap_or_default();
                if repository.split('/').count() != 2 || repository.split('/').any(str::is_empty) {
                    return Err(format!("repository must be owner/name, not {repository:?}"));
                }
                Ok(Self::GitHub { repository, token, labels, web_url: raw.web_url })
            }
            "gitlab" => {
                let project_id = match raw.project_id {
                    Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => return Err("project_id is required (the number, or the path like group/project)".into()),
                };
                Ok(Self::GitLab { project_id, token, labels, url: raw.url, web_url: raw.web_url })
            }
            other => Err(format!("provider must be gitlab or github, not {other:?}")),
        }
    }

    pub fn provider(&self) -> &'static str {
        match self {
            Self::GitHub { .. } => "github",
            Self::GitLab { .. } => "gitlab",
        }
    }
}

/// An issue to file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIssue {
    pub title: String,
    /// Markdown.
    pub body: String,
}

impl Pipelines {
    /// The page listing `tracker`'s issues, for people to look at.
    pub fn issues_page(&self, tracker: &Tracker) -> String {
        match tracker {
            Tracker::GitHub { repository, web_url, .. } => {
                let web = super::github::repository_page(&self.github_api_url, repository, web_url.as_deref());
                format!("{web}/issues")
            }
            Tracker::GitLab { project_id, url, web_url, .. } => {
                let base = url.as_deref().map_or(self.gitlab_url.as_str(), |u| u.trim().trim_end_matches('/'));
                match web_url {
                    Some(web) => format!("{}/-/issues", web.trim_end_matches('/')),
                    None if project_id.contains('/') => format!("{base}/{project_id}/-/issues"),
                    // GitLab redirects /projects/:id to the project.
                    None => format!("{base}/projects/{project_id}"),
                }
            }
        }
    }

    /// Files `issue` in `tracker`, once; answers with the issue's page.
    pub async fn file_issue(
        &self,
        tracker: &Tracker,
        issue: &NewIssue,
        deadline: Instant,
    ) -> Result<String, TriggerError> {
        let check = self.issues_page(tracker);
        let provider = tracker.provider();
        let request = match tracker {
            Tracker::GitHub { repository, token, labels, .. } => self
                .client
                .post(format!("{}/repos/{repository}/issues", self.github_api_url))
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json!({"title": issue.title, "body": issue.body, "labels": labels}).to_string()),
            Tracker::GitLab { project_id, token, labels, url, .. } => {
                let base = url.as_deref().map_or(self.gitlab_url.as_str(), |u| u.trim().trim_end_matches('/'));
                self.client
                    .post(format!("{base}/api/v4/projects/{}/issues", super::gitlab::project_segment(project_id)))
                    .header("PRIVATE-TOKEN", token.expose())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(
                        json!({"title": issue.title, "description": issue.body, "labels": labels.join(",")})
                            .to_string(),
                    )
            }
        };
        let answer = send_once(provider, request, deadline, &check).await?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(provider, &answer, &check));
        }
        let created: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
        let page = created["html_url"].as_str().or_else(|| created["web_url"].as_str());
        Ok(page.map_or(check, str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_are_read_with_clear_errors_and_the_issues_page_is_linked() {
        let raw = |json: &str| serde_json::from_str::<RawTracker>(json).unwrap();
        let github =
            Tracker::parse(raw(r#"{"provider": "github", "repository": "acme/ops", "token": "github_pat_x"}"#))
                .unwrap();
        assert!(matches!(&github, Tracker::GitHub { labels, .. } if labels == &["incident-follow-up"]));
        let gitlab = Tracker::parse(raw(
            r#"{"provider": "gitlab", "project_id": 42, "token": "glpat-x", "labels": ["incident", "sre"]}"#,
        ))
        .unwrap();
        assert!(matches!(&gitlab, Tracker::GitLab { project_id, .. } if project_id == "42"));
        assert!(!format!("{github:?}{gitlab:?}").contains("glpat"), "tokens must not print");
        for (bad, says) in [
            (r#"{"provider": "github", "repository": "acme", "token": "t"}"#, "owner/name"),
            (r#"{"provider": "gitlab", "token": "t"}"#, "project_id"),
            (r#"{"provider": "github", "repository": "a/b"}"#, "token"),
            (r#"{"provider": "github", "repository": "a/b", "token": "t", "labels": ["a,b"]}"#, "commas"),
            (r#"{"provider": "jira", "token": "t"}"#, "jira"),
        ] {
            assert!(Tracker::parse(raw(bad)).unwrap_err().contains(says), "{bad}");
        }
        let pipelines = Pipelines::new(crate::http::http_client().unwrap(), None, None);
        assert_eq!(pipelines.issues_page(&github), "https://github.com/acme/ops/issues");
        let ghes = Pipelines::new(crate::http::http_client().unwrap(), None, Some("https://ghe.example.com/api/v3"));
        assert_eq!(ghes.issues_page(&github), "https://ghe.example.com/acme/ops/issues");
        assert_eq!(pipelines.issues_page(&gitlab), "https://gitlab.com/projects/42");
    }
}
