//! `/scale <group> [n | +n | -n]`: show or change the desired capacity of an Auto Scaling group tagged
//! `chatops:scale=enabled`, within the group's min..max, under the command's time budget.

use std::fmt::Write as _;
use std::time::Instant;

use aws_sdk_autoscaling::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_autoscaling::types::AutoScalingGroup;

use super::{Decision, Outcome, Services, remaining};
use crate::slack::form::SlashCommand;
use crate::slack::{Block, Message, escape};

pub const SUMMARY: &str = "show or change the desired capacity of an Auto Scaling group";
/// Only groups with this tag set to [`TAG_VALUE`] may be shown or changed.
pub const TAG_KEY: &str = "chatops:scale";
pub const TAG_VALUE: &str = "enabled";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    To(i64),
    By(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleRequest {
    Help,
    Show { group: String },
    Set { group: String, change: Change },
}

fn usage(command: &str) -> String {
    format!(
        "*Usage*\n`{command} <group>`: desired, min, max and instances\n`{command} <group> <n>`: set the desired capacity to n\n`{command} <group> +<n>` / `-<n>`: change it by n\nOnly groups tagged `{TAG_KEY}` = `{TAG_VALUE}` can be used."
    )
}

/// Parses the command text. A group name may contain spaces; the last word is the capacity if it is one.
pub fn parse(text: &str) -> Result<ScaleRequest, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] | ["help"] | ["-h"] | ["--help"] => Ok(ScaleRequest::Help),
        [.., last] if words.len() >= 2 && looks_numeric(last) => {
            let group = words[..words.len() - 1].join(" ");
            let change = parse_change(last)?;
            Ok(ScaleRequest::Set { group, change })
        }
        _ => Ok(ScaleRequest::Show { group: words.join(" ") }),
    }
}

fn looks_numeric(word: &str) -> bool {
    let digits = word.trim_start_matches(['+', '-']);
    !digits.is_empty() && digits.chars().next().is_some_and(|c| c.is_ascii_digit())
}

fn parse_change(word: &str) -> Result<Change, String> {
    let bad = || format!("`{}` is not a whole number of instances", escape(word));
    let (sign, digits) = match word.as_bytes().first() {
        Some(b'+') => (1, &word[1..]),
        Some(b'-') => (-1, &word[1..]),
        _ => (0, word),
    };
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    Ok(if sign == 0 { Change::To(n) } else { Change::By(sign * n) })
}

fn budget_exceeded(what: &str, group: &str, command: &str) -> String {
    format!(
        "⏱️ AWS did not answer in time while {what} `{}`. {}",
        escape(group),
        if what == "changing" {
            format!("The change may still be applied: check with `{command} {}`.", escape(group))
        } else {
            "Nothing was changed; please try again.".to_owned()
        }
    )
}

/// The honest answer when AWS did not answer within the budget.
fn out_of_time(what: &str, group: &str, command: &str, why: &str) -> Outcome {
    Outcome::ephemeral(budget_exceeded(what, group, command), Decision::Failed(why.to_owned())).on(group)
}

/// Runs `/scale`. Every path returns an outcome; nothing is changed unless every check passed.
pub async fn run(services: &Services, cmd: &SlashCommand, deadline: Instant) -> Outcome {
    let request = match parse(&cmd.text) {
        Ok(ScaleRequest::Help) => return Outcome::ephemeral(usage(&cmd.command), Decision::Info),
        Ok(r) => r,
        Err(problem) => {
            return Outcome::ephemeral(
                format!("{problem}\n\n{}", usage(&cmd.command)),
                Decision::Refused("unparseable".into()),
            );
        }
    };
    let group_name = match &request {
        ScaleRequest::Show { group } | ScaleRequest::Set { group, .. } => group.clone(),
        ScaleRequest::Help => String::new(),
    };
    let refuse = |text: String, why: &str| Outcome::ephemeral(text, Decision::Refused(why.to_owned())).on(&group_name);

    let Some(budget) = remaining(deadline) else {
        return out_of_time("reading", &group_name, &cmd.command, "time budget exhausted");
    };
    let described = tokio::time::timeout(
        budget,
        services.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group_name).send(),
    )
    .await;
    let group = match described {
        Err(_) => {
            return out_of_time("reading", &group_name, &cmd.command, "AWS timed out");
        }
        Ok(Err(err)) => return aws_failure("reading", &group_name, &err),
        Ok(Ok(out)) => match out.auto_scaling_groups.unwrap_or_default().into_iter().next() {
            Some(g) => g,
            None => {
                return refuse(
                    format!("There is no Auto Scaling group named `{}` here.", escape(&group_name)),
                    "unknown group",
                );
            }
        },
    };
    if !is_enabled(&group) {
        return refuse(
            format!(
                "`{}` is not enabled for ChatOps. To allow `{}`, add the tag `{TAG_KEY}` = `{TAG_VALUE}` to the group.",
                escape(&group_name),
                escape(&cmd.command)
            ),
            "group not tagged chatops:scale=enabled",
        );
    }
    let (desired, min, max) = (
        i64::from(group.desired_capacity.unwrap_or(0)),
        i64::from(group.min_size.unwrap_or(0)),
        i64::from(group.max_size.unwrap_or(0)),
    );
    let change = match request {
        ScaleRequest::Set { change, .. } => change,
        _ => {
            let mut outcome = Outcome::ephemeral(status_text(&group_name, &group), Decision::Info).on(&group_name);
            outcome.before = Some(desired);
            return outcome;
        }
    };
    let target = match change {
        Change::To(n) => n,
        Change::By(d) => desired + d,
    };
    if target < min || target > max {
        let mut outcome = refuse(
            format!(
                "Can't set `{}` to {target}: it must stay within min {min} and max {max} (now {desired}). Nothing was changed.",
                escape(&group_name)
            ),
            "target outside min..max",
        );
        outcome.before = Some(desired);
        return outcome;
    }
    if target == desired {
        let mut outcome = Outcome::ephemeral(
            format!("`{}` is already at a desired capacity of {desired}. Nothing was changed.", escape(&group_name)),
            Decision::Info,
        )
        .on(&group_name);
        outcome.before = Some(desired);
        outcome.after = Some(desired);
        return outcome;
    }
    let Some(budget) = remaining(deadline) else {
        return out_of_time("reading", &group_name, &cmd.command, "time budget exhausted");
    };
    let Ok(target32) = i32::try_from(target) else {
        return refuse(format!("{target} is not a valid capacity."), "target out of range");
    };
    let set = tokio::time::timeout(
        budget,
        services
            .autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(&group_name)
            .desired_capacity(target32)
            .honor_cooldown(false)
            .send(),
    )
    .await;
    match set {
        Err(_) => {
            let mut outcome =
                out_of_time("changing", &group_name, &cmd.command, "AWS timed out during SetDesiredCapacity");
            outcome.before = Some(desired);
            outcome
        }
        Ok(Err(err)) => {
            let mut outcome = aws_failure("changing", &group_name, &err);
            outcome.before = Some(desired);
            outcome
        }
        Ok(Ok(_)) => {
            let arrow = if target > desired { "⬆️" } else { "⬇️" };
            let text = format!(
                "{arrow} <@{}> scaled `{}` from {desired} to {target} instances (min {min}, max {max}).",
                escape(&cmd.user_id),
                escape(&group_name)
            );
            let mut message = Message::new(text.clone()).block(Block::section(text));
            message.response_type = Some("in_channel");
            Outcome {
                message,
                decision: Decision::Done,
                resource: Some(group_name),
                before: Some(desired),
                after: Some(target),
                pipeline: None,
            }
        }
    }
}

fn is_enabled(group: &AutoScalingGroup) -> bool {
    group.tags().iter().any(|t| t.key() == Some(TAG_KEY) && t.value().map(str::trim) == Some(TAG_VALUE))
}

fn status_text(name: &str, group: &AutoScalingGroup) -> String {
    let (mut in_service, mut pending, mut other) = (0, 0, 0);
    for instance in group.instances() {
        match instance.lifecycle_state().map(|s| s.as_str()) {
            Some("InService") => in_service += 1,
            Some(s) if s.starts_with("Pending") => pending += 1,
            _ => other += 1,
        }
    }
    let mut text = format!(
        "*`{}`*\nDesired *{}* · min {} · max {}\nInstances: {in_service} in service, {pending} pending",
        escape(name),
        group.desired_capacity.unwrap_or(0),
        group.min_size.unwrap_or(0),
        group.max_size.unwrap_or(0),
    );
    if other > 0 {
        let _ = write!(text, ", {other} other");
    }
    text
}

fn aws_failure<E>(what: &str, group: &str, err: &aws_sdk_autoscaling::error::SdkError<E>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or("error");
    let detail = err.message().map_or_else(|| DisplayErrorContext(err).to_string(), str::to_owned);
    tracing::warn!(group, code, detail = %detail, "Auto Scaling call failed");
    Outcome::ephemeral(
        format!("❌ AWS refused {what} `{}`: {} ({})", escape(group), escape(&detail), escape(code)),
        Decision::Failed(format!("{code}: {detail}")),
    )
    .on(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse(""), Ok(ScaleRequest::Help));
        assert_eq!(parse("  help "), Ok(ScaleRequest::Help));
        assert_eq!(parse("web"), Ok(ScaleRequest::Show { group: "web".into() }));
        assert_eq!(parse("web 4"), Ok(ScaleRequest::Set { group: "web".into(), change: Change::To(4) }));
        assert_eq!(parse("web +2"), Ok(ScaleRequest::Set { group: "web".into(), change: Change::By(2) }));
        assert_eq!(parse("web -1"), Ok(ScaleRequest::Set { group: "web".into(), change: Change::By(-1) }));
        assert_eq!(
            parse("my web  group 0"),
            Ok(ScaleRequest::Set { group: "my web group".into(), change: Change::To(0) })
        );
        assert!(parse("web 3.5").is_err());
        assert!(parse("web 99999999999").is_err());
        assert!(parse("web +").is_ok_and(|r| r == ScaleRequest::Show { group: "web +".into() }));
    }
}
