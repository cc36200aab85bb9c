//! `/scale <group> [n | +n | -n]`: show or change the desired capacity of an Auto Scaling group tagged
//! `chatops:scale=enabled`, within the group's min..max, under the command's time budget.

use std::fmt::Write as _;
use std::time::Instant;

use aws_sdk_autoscaling::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_autoscaling::types::AutoScalingGroup;

use super::{Services, remaining};
use crate::governance::{Decision, Gate, Outcome, Pass, Proposal, Rerun};
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
    /// No group named: the groups this caller may scale.
    List,
    Show {
        group: String,
    },
    Set {
        group: String,
        change: Change,
    },
}

fn usage(command: &str) -> String {
    format!(
        "*Usage*\n`{command}`: the groups you may scale\n`{command} <group>`: desired, min, max and instances\n`{command} <group> <n>`: set the desired capacity to n\n`{command} <group> +<n>` / `-<n>`: change it by n\nAdd `-- <reason>` to say why (approvers see it).\nOnly groups tagged `{TAG_KEY}` = `{TAG_VALUE}` can be used."
    )
}

/// Parses the command text. A group name may contain spaces; the last word is the capacity if it is one.
pub fn parse(text: &str) -> Result<ScaleRequest, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(ScaleRequest::List),
        ["help"] | ["-h"] | ["--help"] => Ok(ScaleRequest::Help),
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
pub async fn run(services: &Services, cmd: &SlashCommand, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    let request = match parse(&cmd.text) {
        Ok(ScaleRequest::Help) => return Outcome::ephemeral(usage(&cmd.command), Decision::Info),
        Ok(ScaleRequest::List) => return list(services, cmd, gate, deadline).await,
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
        ScaleRequest::Help | ScaleRequest::List => String::new(),
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
                let shown = matches!(request, ScaleRequest::Show { .. });
                return unknown_group(services, cmd, &group_name, shown, deadline).await;
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
    match gate.check("scale", &group_name, Some((desired, target))) {
        Pass::Go => {}
        Pass::Refused(mut outcome) => {
            outcome.before = Some(desired);
            return *outcome;
        }
        Pass::NeedsApproval(rule) => {
            let mut outcome = Outcome::pending(Proposal {
                rule,
                action: "scale".into(),
                resource: group_name.clone(),
                summary: format!(
                    "scale `{}` from {desired} to {target} instances (min {min}, max {max})",
                    escape(&group_name)
                ),
                // The absolute target: what runs once approved is what the approvers saw.
                rerun: Rerun::Command { command: cmd.command.clone(), text: format!("{group_name} {target}") },
            });
            outcome.before = Some(desired);
            outcome.after = Some(target);
            return outcome;
        }
    }
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
                proposal: None,
                approval: None,
            }
        }
    }
}

/// The groups tagged for ChatOps, read page by page within the budget; the answer to give when AWS
/// did not answer in time or refused.
async fn tagged_groups(services: &Services, deadline: Instant) -> Result<Vec<AutoScalingGroup>, Outcome> {
    let filter = aws_sdk_autoscaling::types::Filter::builder().name(format!("tag:{TAG_KEY}")).values(TAG_VALUE).build();
    let mut groups = Vec::new();
    let mut token: Option<String> = None;
    // 10 pages of 100: more than any team tags for ChatOps; the list says when it stopped.
    for _ in 0..10 {
        let Some(budget) = remaining(deadline) else { break };
        let call = services
            .autoscaling
            .describe_auto_scaling_groups()
            .filters(filter.clone())
            .max_records(100)
            .set_next_token(token.clone())
            .send();
        match tokio::time::timeout(budget, call).await {
            Err(_) => return Err(out_of_time("listing", "the groups", "/scale", "AWS timed out")),
            Ok(Err(err)) => return Err(aws_failure("listing", "the groups", &err)),
            Ok(Ok(out)) => {
                token = out.next_token.clone();
                groups.extend(out.auto_scaling_groups.unwrap_or_default().into_iter().filter(is_enabled));
            }
        }
        if token.is_none() {
            break;
        }
    }
    Ok(groups)
}

/// `/scale` alone: the tagged groups the caller may scale, with their capacity.
async fn list(services: &Services, cmd: &SlashCommand, gate: &Gate<'_>, deadline: Instant) -> Outcome {
    let groups = match tagged_groups(services, deadline).await {
        Ok(groups) => groups,
        Err(outcome) => return outcome,
    };
    let mut mine: Vec<&AutoScalingGroup> =
        groups.iter().filter(|g| gate.may_request("scale", g.auto_scaling_group_name().unwrap_or_default())).collect();
    mine.sort_by_key(|g| g.auto_scaling_group_name().unwrap_or_default());
    if mine.len() > 1 {
        return Outcome { message: group_list(&mine, &cmd.command), ..Outcome::ephemeral("", Decision::Info) };
    }
    let text = if mine.is_empty() {
        format!(
            "There is no group you may scale here. Groups must be tagged `{TAG_KEY}` = `{TAG_VALUE}`{}.\n\n{}",
            if gate.policy.is_some() { ", and the policy must let you ask" } else { "" },
            usage(&cmd.command)
        )
    } else {
        let mut text = String::from("*Groups you may scale*");
        for g in &mine {
            let _ = write!(
                text,
                "\n• `{}`: desired *{}* · min {} · max {}",
                escape(g.auto_scaling_group_name().unwrap_or_default()),
                g.desired_capacity.unwrap_or(0),
                g.min_size.unwrap_or(0),
                g.max_size.unwrap_or(0)
            );
        }
        let _ = write!(text, "\n\n`{0} <group> <n>` sets one; `{0} help` for more.", cmd.command);
        text
    };
    Outcome::ephemeral(text, Decision::Info)
}

/// The groups, by name, in as many sections as they need (a section holds 3,000 characters), within
/// Slack's 50 blocks: what does not fit is counted in the last line, never cut silently.
fn group_list(groups: &[&AutoScalingGroup], command: &str) -> Message {
    const SECTION: usize = 2_900;
    const SECTIONS: usize = crate::slack::message::MAX_BLOCKS - 2;
    let mut sections: Vec<String> = vec![String::from("*Groups you may scale*")];
    let mut shown = 0;
    for g in groups {
        let line = format!(
            "\n• `{}`: desired *{}* · min {} · max {}",
            escape(g.auto_scaling_group_name().unwrap_or_default()),
            g.desired_capacity.unwrap_or(0),
            g.min_size.unwrap_or(0),
            g.max_size.unwrap_or(0)
        );
        let last = sections.len() - 1;
        if sections[last].len() + line.len() > SECTION {
            if sections.len() == SECTIONS {
                break;
            }
            sections.push(line.trim_start().to_owned());
        } else {
            sections[last].push_str(&line);
        }
        shown += 1;
    }
    let mut footer = format!("`{0} <group> <n>` sets one; `{0} help` for more.", command);
    if shown < groups.len() {
        footer = format!(
            "… and {} more groups not shown here: `{command} <group>` shows one. {footer}",
            groups.len() - shown
        );
    }
    // The notification text: the same list (cut at Slack's length for it, where the blocks are not).
    let mut message = Message::new(format!("{}\n\n{footer}", sections.join("\n")));
    for text in sections {
        message = message.block(Block::section(text));
    }
    message = message.block(Block::section(footer));
    message.response_type = Some("ephemeral");
    message
}

/// No group of that name: a number that is not one (`web three`, only when no number was read from
/// the text: `my web 3` is the group `my web`), or a near miss (`did you mean`).
async fn unknown_group(services: &Services, cmd: &SlashCommand, name: &str, shown: bool, deadline: Instant) -> Outcome {
    let words: Vec<&str> = name.split_whitespace().collect();
    if let [.., last] = words.as_slice()
        && shown
        && words.len() >= 2
    {
        return Outcome::ephemeral(
            format!("`{}` is not a number of instances.\n\n{}", escape(last), usage(&cmd.command)),
            Decision::Refused("unparseable".into()),
        )
        .on(name);
    }
    let mut text = format!("There is no Auto Scaling group named `{}` here.", escape(name));
    if let Ok(groups) = tagged_groups(services, deadline).await {
        let names: Vec<&str> = groups.iter().filter_map(|g| g.auto_scaling_group_name()).collect();
        let near = closest(name, &names);
        if !near.is_empty() {
            let near: Vec<String> = near.iter().map(|n| format!("`{}`", escape(n))).collect();
            let _ = write!(text, " Did you mean {}?", near.join(" or "));
        }
    }
    Outcome::ephemeral(text, Decision::Refused("unknown group".into())).on(name)
}

/// Up to three names near `wanted`: containing it, or a few edits away, nearest first.
fn closest<'n>(wanted: &str, names: &[&'n str]) -> Vec<&'n str> {
    let wanted_lower = wanted.to_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|n| {
            let lower = n.to_lowercase();
            let distance = edit_distance(&wanted_lower, &lower);
            let contains = wanted_lower.len() >= 3 && (lower.contains(&wanted_lower) || wanted_lower.contains(&lower));
            (distance <= limit || contains).then_some((distance, *n))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
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
    fn a_long_list_of_groups_fits_slacks_limits_and_counts_what_does_not_fit() {
        let groups: Vec<AutoScalingGroup> = (0..5_000)
            .map(|i| {
                AutoScalingGroup::builder()
                    .auto_scaling_group_name(format!("web-{i:04}"))
                    .desired_capacity(2)
                    .min_size(1)
                    .max_size(6)
                    .build()
            })
            .collect();
        let refs: Vec<&AutoScalingGroup> = groups.iter().collect();
        let json = group_list(&refs, "/scale").to_json();
        let blocks = json["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{}", blocks.len());
        let texts: Vec<&str> = blocks.iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
        assert!(texts.iter().all(|t| t.chars().count() <= 3000));
        let shown: usize = texts.iter().map(|t| t.matches("• `web-").count()).sum();
        let footer = texts.last().unwrap();
        assert!(footer.contains(&format!("… and {} more groups not shown", 5_000 - shown)), "{footer}");
        assert!(texts.iter().all(|t| !t.ends_with('…')), "nothing cut in the middle of a line");
        // A list that fits is shown whole, without the count.
        let few = group_list(&refs[..40], "/scale").to_json()["blocks"].to_string();
        assert_eq!(few.matches("• `web-").count(), 40);
        assert!(!few.contains("more groups not shown"));
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse(""), Ok(ScaleRequest::List));
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

    #[test]
    fn near_names_are_suggested() {
        let names = ["web-asg", "web-asg-canary", "api-asg", "batch"];
        assert_eq!(closest("web-sag", &names), vec!["web-asg"]);
        assert_eq!(closest("web", &names), vec!["web-asg", "web-asg-canary"]);
        assert_eq!(closest("WEB-ASG", &names)[0], "web-asg");
        assert!(closest("database", &names).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
