//! GitLab: a pipeline trigger (`POST /api/v4/projects/:id/trigger/pipeline`) with the project's trigger
//! token, the configured ref, and the `CHATOPS_*` variables the pipeline's jobs read.

use std::time::Instant;

use super::{DeployRequest, Started, TriggerError, refused, send_once};
use crate::secret::Secret;

const PROVIDER: &str = "gitlab";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitLabTarget {
    /// The numeric ID, or the full path (`group/project`).
    pub project_id: String,
    pub git_ref: String,
    /// A pipeline trigger token (`glptt-...`).
    pub token: Secret,
    /// This project's GitLab, when it is not `GITLAB_URL`.
    pub url: Option<String>,
    /// The project's page, for the pipelines link when GitLab gives none.
    pub web_url: Option<String>,
}

/// The path segment GitLab wants for a project: the ID, or the path with `/` encoded.
pub(super) fn project_segment(project_id: &str) -> String {
    project_id.replace('%', "%25").replace('/', "%2F")
}

impl GitLabTarget {
    fn base<'a>(&'a self, default: &'a str) -> &'a str {
        self.url.as_deref().map_or(default, |u| u.trim().trim_end_matches('/'))
    }

    pub fn pipelines_page(&self, gitlab_url: &str) -> String {
        match &self.web_url {
            Some(web) => format!("{}/-/pipelines", web.trim_end_matches('/')),
            None if self.project_id.contains('/') => {
                format!("{}/{}/-/pipelines", self.base(gitlab_url), self.project_id)
            }
            // GitLab redirects /projects/:id to the project.
            None => format!("{}/projects/{}", self.base(gitlab_url), self.project_id),
        }
    }

    pub(crate) async fn trigger(
        &self,
        client: &reqwest::Client,
        gitlab_url: &str,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Started, TriggerError> {
        let url =
            format!("{}/api/v4/projects/{}/trigger/pipeline", self.base(gitlab_url), project_segment(&self.project_id));
        let form = [
            ("token", self.token.expose()),
            ("ref", self.git_ref.as_str()),
            ("variables[CHATOPS_RELEASE]", "true"),
            ("variables[CHATOPS_PROJECT]", request.project.as_str()),
            ("variables[CHATOPS_SLACK_CHANNEL]", request.channel.as_str()),
            ("variables[CHATOPS_SLACK_THREAD_TS]", request.thread_ts.as_str()),
            ("variables[CHATOPS_REQUESTED_BY]", request.requested_by.as_str()),
        ];
        let body = serde_urlencoded::to_string(form).unwrap_or_default();
        let check = self.pipelines_page(gitlab_url);
        let http = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        let answer = send_once(PROVIDER, http, deadline, &check).await?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(PROVIDER, &answer, &check));
        }
        let pipeline: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
        let id = match &pipeline["id"] {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let url = pipeline["web_url"].as_str().map_or(check, str::to_owned);
        Ok(Started { id, url })
    }
}
