//! The flows: what people do, each its own module with its tests, built on the floors below.
//! - [`requests`]: slash commands and button clicks, the approvals' clicks and the approved re-run, the
//!   replay check; [`requests::SlackApp`] is what the Slack-facing function keeps per container.
//! - [`deploys`]: the Events API route (`/slack/events`): deploy by mention, the chit-chat, the
//!   pipeline's callback (`/deploy/notify`).
//! - [`alerts`]: acting on an alert where it is shown ([Acknowledge]).
//! - [`logs`]: [Show logs] on an alarm: a Logs Insights query, the lines in its thread.
//! - [`incidents`]: `/incident`, the incident's channel, status, timeline and post-mortem draft, and an
//!   alert's [Declare incident] button.
//! - [`status`]: `/status`, the App Home and help derived from the policy, from the open index.
//! - [`reports`]: the operations report, from the history (scheduled, and `/status report`).
//! - [`timers`]: what happens later without a click (expiries, timeouts, unmutes), when a schedule fires.
//! - [`notifier`]: notifications to chat: one message per alarm lifecycle, exactly-once claims, pacing
//!   and the storm digest, the Alertmanager route.
//!
//! Flows floor (the top): imports `commands`, `governance`, `notify`, `chat`, the adapters, `http` and
//! the base floor. Functions import flows; nothing in this crate does.

pub mod alerts;
pub mod deploys;
pub mod incidents;
pub mod logs;
pub mod notifier;
pub mod reports;
pub mod requests;
pub mod status;
pub mod timers;
