//! GitHub Actions: a `workflow_dispatch` (`POST /repos/:owner/:repo/actions/workflows/:workflow/dispatches`)
//! with a fine-grained token (Actions: write), the configured ref and the `chatops_*` inputs. With
//! `return_run_details` GitHub answers 200 with the run's ID and page (github.com, GHES 3.21+); without,
//! 204 and the link is the workflow's runs page.

use std::time::Instant;

use serde_json::json;

use super::{DeployRequest, Started, TriggerError, refused, send_once};
use crate::secret::Secret;

const PROVIDER: &str = "github";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHubTarget {
    /// `owner/name`.
    pub repository: String,
    /// The workflow file name (`deploy.yml`) or its ID.
    pub workflow: String,
    pub git_ref: String,
    pub token: Secret,
    /// Ask for the run's ID and page (older GitHub Enterprise Server refuses the field: set false there).
    pub return_run_details: bool,
    /// The repository's page, when it is not on github.com (GitHub Enterprise Server).
    pub web_url: Option<String>,
}

/// `repository`'s page: `web_url` when given, else from the API's URL (github.com, or GitHub Enterprise
/// Server's `https://host/api/v3`).
pub(super) fn repository_page(api_url: &str, repository: &str, web_url: Option<&str>) -> String {
    match web_url {
        Some(web) => web.trim_end_matches('/').to_owned(),
        None => {
            let host = match api_url.strip_suffix("/api/v3") {
                Some(ghes) => ghes.to_owned(),
                None => api_url.replace("://api.github.com", "://github.com"),
            };
            format!("{host}/{repository}")
        }
    }
}

impl GitHubTarget {
    pub fn runs_page(&self, api_url: &str) -> String {
        let web = repository_page(api_url, &self.repository, self.web_url.as_deref());
        format!("{web}/actions/workflows/{}", self.workflow)
    }

    pub(crate) async fn trigger(
        &self,
        client: &reqwest::Client,
        api_url: &str,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Started, TriggerError> {
        let url = format!("{api_url}/repos/{}/actions/workflows/{}/dispatches", self.repository, self.workflow);
        let mut body = json!({
            "ref": self.git_ref,
            "inputs": {
                "chatops_release": "true",
                "chatops_project": request.project,
                "chatops_slack_channel": request.channel,
                "chatops_slack_thread_ts": request.thread_ts,
                "chatops_requested_by": request.requested_by,
            },
        });
        if self.return_run_details {
            body["return_run_details"] = json!(true);
        }
        let check = self.runs_page(api_url);
        let http = client
            .post(url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let answer = send_once(PROVIDER, http, deadline, &check).await?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(PROVIDER, &answer, &check));
        }
        let run: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
        let id = run["workflow_run_id"].as_u64().map(|id| id.to_string());
        let url = run["html_url"].as_str().map_or(check, str::to_owned);
        Ok(Started { id, url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(web_url: Option<&str>) -> GitHubTarget {
        GitHubTarget {
            repository: "acme/billing".into(),
            workflow: "deploy.yml".into(),
            git_ref: "main".into(),
            token: Secret::new("t"),
            return_run_details: true,
            web_url: web_url.map(str::to_owned),
        }
    }

    #[test]
    fn the_runs_page_on_github_com_and_enterprise_server() {
        assert_eq!(
            target(None).runs_page("https://api.github.com"),
            "https://github.com/acme/billing/actions/workflows/deploy.yml"
        );
        assert_eq!(
            target(None).runs_page("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/acme/billing/actions/workflows/deploy.yml"
        );
        assert_eq!(
            target(Some("https://code.example.com/acme/billing/")).runs_page("http://127.0.0.1:9"),
            "https://code.example.com/acme/billing/actions/workflows/deploy.yml"
        );
    }
}
