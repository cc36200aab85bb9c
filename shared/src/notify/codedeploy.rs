//! CodeDeploy deployment state changes (EventBridge `CodeDeploy Deployment State-change Notification`).
//! A blue/green deployment waiting for traffic to be rerouted (`READY`) becomes a message with the
//! green environment to check and three buttons, always in the order an operator needs them:
//! Switch traffic, Roll back, Terminate original.

use aws_lambda_events::event::codedeploy::CodeDeployEventDetail;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::Deserialize as _;
use serde_json::{Map, Value};

use super::time_fmt::slack_date;
use crate::json::text;
use crate::slack::{Block, Message, escape};

/// `action_id`s of the buttons; slack-command routes clicks by them.
pub const ACTION_SWITCH: &str = "codedeploy:switch";
pub const ACTION_ROLLBACK: &str = "codedeploy:rollback";
pub const ACTION_TERMINATE: &str = "codedeploy:terminate";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentNotice {
    pub application: String,
    pub deployment_group: String,
    pub deployment_id: String,
    /// `START`, `READY`, `SUCCESS`, `FAILURE`, `STOP`, ... as sent.
    pub state: String,
    pub account: Option<String>,
    /// The account's name, shown beside its ID.
    pub account_name: Option<String>,
    pub region: Option<String>,
    pub time: Option<String>,
}

impl DeploymentNotice {
    /// `application/deployment-group`, the key of the per-group settings.
    pub fn group_key(&self) -> String {
        format!("{}/{}", self.application, self.deployment_group)
    }

    pub(crate) fn from_eventbridge(event: &Map<String, Value>) -> Option<Self> {
        if text(event.get("source")).as_deref() != Some("aws.codedeploy")
            || text(event.get("detail-type")).as_deref() != Some("CodeDeploy Deployment State-change Notification")
        {
            return None;
        }
        // Read with aws_lambda_events' CodeDeploy detail (it reads every real deployment event).
        let event = EventBridgeEvent::<CodeDeployEventDetail>::deserialize(event).ok()?;
        let detail = event.detail;
        let non_blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Some(Self {
            application: non_blank(detail.application)?,
            deployment_group: non_blank(detail.deployment_group)?,
            deployment_id: non_blank(detail.deployment_id)?,
            state: Some(detail.state)
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "UNKNOWN".into())
                .to_ascii_uppercase(),
            account: non_blank(event.account),
            account_name: None,
            region: non_blank(detail.region).or_else(|| non_blank(event.region)),
            time: event.time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        })
    }

    /// The deployment in the CodeDeploy console.
    pub fn console_url(&self) -> Option<String> {
        let region = self.region.as_deref().filter(|r| !r.contains(' '))?;
        // The event has no ARN to read the partition from: the region's name tells it.
        let partition = match region {
            r if r.starts_with("cn-") => "aws-cn",
            r if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        };
        let host = super::render::console_host(partition, region);
        Some(format!("https://{host}/codesuite/codedeploy/deployments/{}?region={region}", self.deployment_id))
    }
}

/// What a button asks CodeDeploy to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentAction {
    /// `ContinueDeployment` with wait type `READY_WAIT`: reroute traffic to the green environment.
    SwitchTraffic,
    /// `StopDeployment` with auto-rollback.
    RollBack,
    /// `ContinueDeployment` with wait type `TERMINATION_WAIT`: terminate the original environment now.
    TerminateOriginal,
}

impl DeploymentAction {
    /// The buttons in the order an operator uses them.
    pub const ALL: [Self; 3] = [Self::SwitchTraffic, Self::RollBack, Self::TerminateOriginal];

    pub fn action_id(self) -> &'static str {
        match self {
            Self::SwitchTraffic => ACTION_SWITCH,
            Self::RollBack => ACTION_ROLLBACK,
            Self::TerminateOriginal => ACTION_TERMINATE,
        }
    }

    pub fn from_action_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.action_id() == id)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::SwitchTraffic => "🔁 Switch traffic",
            Self::RollBack => "🔙 Roll back",
            Self::TerminateOriginal => "🧹 Terminate original",
        }
    }

    /// What was done, for the message update: "switched traffic".
    pub fn past_tense(self) -> &'static str {
        match self {
            Self::SwitchTraffic => "switched traffic to the green environment",
            Self::RollBack => "rolled the deployment back",
            Self::TerminateOriginal => "terminated the original environment",
        }
    }

    /// The buttons that still make sense after this action succeeded.
    pub fn remaining_after(self) -> &'static [Self] {
        match self {
            Self::SwitchTraffic => &[Self::RollBack, Self::TerminateOriginal],
            Self::RollBack | Self::TerminateOriginal => &[],
        }
    }

    pub fn button(self, deployment_id: &str) -> crate::slack::Button {
        let confirm = match self {
            Self::SwitchTraffic => None,
            Self::RollBack => Some((
                "Roll back?".to_owned(),
                format!("Stop deployment `{deployment_id}` and send traffic back to the original environment?"),
                "Roll back".to_owned(),
                "Cancel".to_owned(),
            )),
            Self::TerminateOriginal => Some((
                "Terminate the original?".to_owned(),
                format!(
                    "Terminate the original (blue) environment of `{deployment_id}` now? After this there is no quick way back."
                ),
                "Terminate".to_owned(),
                "Cancel".to_owned(),
            )),
        };
        crate::slack::Button {
            text: self.label().to_owned(),
            action_id: self.action_id().to_owned(),
            value: Some(deployment_id.to_owned()),
            url: None,
            style: match self {
                Self::SwitchTraffic => Some("primary"),
                Self::RollBack => Some("danger"),
                Self::TerminateOriginal => None,
            },
            confirm,
        }
    }
}

/// The actions block for a deployment, with `actions` in the given order.
pub fn actions_block(deployment_id: &str, actions: &[DeploymentAction]) -> crate::slack::Block {
    crate::slack::Block::Actions {
        block_id: Some(format!("codedeploy:{deployment_id}")),
        buttons: actions.iter().map(|a| a.button(deployment_id)).collect(),
    }
}

/// Which deployment groups may be operated from Slack, and their green URLs: `CODEDEPLOY_DEPLOYMENT_GROUPS`
/// (`application/group,...`) and `CODEDEPLOY_GREEN_URLS` (`application/group=https://...,...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeDeploySettings {
    pub groups: std::collections::BTreeSet<String>,
    pub green_urls: std::collections::BTreeMap<String, String>,
}

impl CodeDeploySettings {
    /// Names of the two variables, for error messages.
    pub const GROUPS_VAR: &'static str = "CODEDEPLOY_DEPLOYMENT_GROUPS";
    pub const GREEN_URLS_VAR: &'static str = "CODEDEPLOY_GREEN_URLS";

    /// Parses both settings; an error names the variable at fault and the bad item.
    pub fn parse(groups: Option<&str>, green_urls: Option<&str>) -> Result<Self, crate::config::ConfigError> {
        let invalid = |var: &'static str, problem: String| crate::config::ConfigError::Invalid { var, problem };
        let items = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or_default().split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect()
        };
        let mut settings = Self::default();
        for group in items(groups) {
            if group.split('/').count() != 2 || group.starts_with('/') || group.ends_with('/') {
                return Err(invalid(
                    Self::GROUPS_VAR,
                    format!("has `{group}`, which is not application/deployment-group"),
                ));
            }
            settings.groups.insert(group);
        }
        for pair in items(green_urls) {
            let Some((group, url)) = pair.split_once('=') else {
                return Err(invalid(
                    Self::GREEN_URLS_VAR,
                    format!("has `{pair}`, which is not application/deployment-group=https://..."),
                ));
            };
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(Self::GREEN_URLS_VAR, format!("has a URL for `{group}` that is not http(s)")));
            }
            settings.green_urls.insert(group.trim().to_owned(), url.trim().to_owned());
        }
        Ok(settings)
    }

    pub fn allows(&self, application: &str, group: &str) -> bool {
        self.groups.contains(&format!("{application}/{group}"))
    }
}

/// Emoji, colour and words for a deployment state.
pub(crate) fn deployment_style(state: &str) -> (&'static str, &'static str, &'static str) {
    match state {
        "READY" => ("🚦", "#1D9BD1", "ready to switch traffic"),
        "START" => ("🚀", "#1D9BD1", "started"),
        "SUCCESS" => ("✅", "#2EB67D", "succeeded"),
        "FAILURE" => ("❌", "#E01E5A", "failed"),
        "STOP" => ("⏹️", "#ECB22E", "stopped"),
        _ => ("🔔", "#9E9E9E", "changed state"),
    }
}

pub(crate) fn deployment_message(d: &DeploymentNotice, settings: &CodeDeploySettings) -> Message {
    let (emoji, color, what) = deployment_style(&d.state);
    let title = format!("{emoji} Deployment {what}: {} / {}", d.application, d.deployment_group);
    let mut msg = Message::new(format!(
        "{emoji} CodeDeploy {} {what} ({} / {}, state {})",
        escape(&d.deployment_id),
        escape(&d.application),
        escape(&d.deployment_group),
        escape(&d.state)
    ))
    .block(Block::Header(title));
    msg.color = Some(color.to_owned());
    let id = match d.console_url() {
        Some(url) => format!("<{url}|{}>", escape(&d.deployment_id)),
        None => format!("`{}`", escape(&d.deployment_id)),
    };
    let mut fields = vec![
        format!("*Application*\n{}", escape(&d.application)),
        format!("*Deployment group*\n{}", escape(&d.deployment_group)),
        format!("*Deployment*\n{id}"),
        format!("*State*\n{}", escape(&d.state)),
    ];
    if let Some(a) = &d.account {
        fields.push(format!("*Account*\n{}", escape(&super::account_label(a, d.account_name.as_deref()))));
    }
    if let Some(r) = &d.region {
        fields.push(format!("*Region*\n{}", escape(r)));
    }
    if let Some(t) = &d.time {
        fields.push(format!("*Time*\n{}", slack_date(t)));
    }
    msg = msg.block(Block::Fields(fields));
    match d.state.as_str() {
        "READY" => {
            let green = match settings.green_urls.get(&d.group_key()) {
                Some(url) => format!("*Check the green environment:* <{url}>"),
                None => {
                    format!("_No green URL is configured for `{}` (CODEDEPLOY_GREEN_URLS)._", escape(&d.group_key()))
                }
            };
            msg = msg.block(Block::section(format!(
                "The new version is installed on the replacement (green) environment; production traffic still goes to the original.\n{green}"
            )));
            if settings.allows(&d.application, &d.deployment_group) {
                msg = msg
                    .block(Block::section(
                        "*Next steps:* 1. test the green environment  2. *Switch traffic*  3. watch, then *Terminate original* to finish. *Roll back* is possible until the original is terminated.",
                    ))
                    .block(actions_block(&d.deployment_id, &DeploymentAction::ALL));
            } else {
                msg = msg.block(Block::Context(vec![format!(
                    "Buttons are off for `{}`: add it to CODEDEPLOY_DEPLOYMENT_GROUPS to operate it from Slack.",
                    escape(&d.group_key())
                )]));
            }
        }
        "SUCCESS" => msg = msg.block(Block::section("Traffic is on the new version and the deployment is complete.")),
        "FAILURE" => {
            msg = msg.block(Block::section("The deployment failed; see the console for the failing lifecycle event."))
        }
        "STOP" => msg = msg.block(Block::section("The deployment was stopped (rolled back if auto-rollback is on).")),
        _ => {}
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_url_follows_the_partition_of_the_region() {
        let notice = |region: &str| DeploymentNotice {
            application: "orders".into(),
            deployment_group: "bg".into(),
            deployment_id: "d-1".into(),
            state: "READY".into(),
            account: None,
            account_name: None,
            region: Some(region.into()),
            time: None,
        };
        let path = "/codesuite/codedeploy/deployments/d-1?region=";
        assert_eq!(
            notice("eu-west-1").console_url().unwrap(),
            format!("https://eu-west-1.console.aws.amazon.com{path}eu-west-1")
        );
        assert_eq!(
            notice("cn-north-1").console_url().unwrap(),
            format!("https://cn-north-1.console.amazonaws.cn{path}cn-north-1")
        );
        assert_eq!(
            notice("us-gov-west-1").console_url().unwrap(),
            format!("https://console.amazonaws-us-gov.com{path}us-gov-west-1")
        );
        assert_eq!(notice("not a region").console_url(), None);
    }
}
