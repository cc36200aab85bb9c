//! The access list: one workspace (`SLACK_TEAM_ID`), and optionally a list of users
//! (`SLACK_ALLOWED_USERS`). Asked first, for every entry point, before any rule.

use std::collections::BTreeSet;

use super::outcome::{Caller, Decision, Outcome};
use crate::slack::escape;

/// Who may use the commands: one workspace, and optionally a list of users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    pub team_id: Option<String>,
    /// `None`: every member of the workspace.
    pub allowed_users: Option<BTreeSet<String>>,
}

impl AccessPolicy {
    /// `SLACK_ALLOWED_USERS` is a comma-separated list of user IDs; blank entries are ignored.
    pub fn parse_users(list: Option<&str>) -> Option<BTreeSet<String>> {
        let users: BTreeSet<String> =
            list?.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        (!users.is_empty()).then_some(users)
    }

    /// `Some(refusal)` when the caller may not run commands or press buttons here.
    pub fn refuse(&self, command: &Caller) -> Option<Outcome> {
        if let Some(team) = &self.team_id
            && &command.team_id != team
        {
            return Some(Outcome::ephemeral(
                "This app does not take commands from this workspace.",
                Decision::Refused("workspace not allowed".into()),
            ));
        }
        if let Some(users) = &self.allowed_users
            && !users.contains(&command.user_id)
        {
            return Some(Outcome::ephemeral(
                format!(
                    "Sorry <@{}>, you are not allowed to run `{}`. Ask an admin to add your user ID to SLACK_ALLOWED_USERS.",
                    escape(&command.user_id),
                    escape(&command.command)
                ),
                Decision::Refused("user not allowed".into()),
            ));
        }
        None
    }
}
