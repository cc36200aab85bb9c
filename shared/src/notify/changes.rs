//! The `🔧 Recent changes` line of an alert's message, from the changes the state table keeps.

use crate::state::Change;

/// The `🔧 Recent changes: …` line: up to `max` changes, newest first, each with who and how long
/// before `now_ms`, de-duplicated across the account's and the channel's lists. `None` when there are none.
pub fn recent_changes_line(lists: &[Vec<Change>], now_ms: i64, max: usize) -> Option<String> {
    let mut all: Vec<&Change> = lists.iter().flatten().collect();
    all.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then_with(|| a.id.cmp(&b.id)));
    all.dedup_by(|a, b| a.id == b.id && a.at_ms == b.at_ms);
    let parts: Vec<String> = all
        .into_iter()
        .take(max)
        .map(|c| {
            let mut part = crate::slack::escape(&c.what);
            if let Some(by) = &c.by {
                part.push_str(&format!(" by <@{by}>"));
            }
            let ago = ((now_ms - c.at_ms).max(0) / 1000) as u64;
            part.push_str(&format!(
                " {} ago",
                super::duration_text(std::time::Duration::from_secs(ago.max(60) / 60 * 60))
            ));
            if let Some((label, url)) = &c.link {
                part.push_str(&format!(" (<{url}|{}>)", crate::slack::escape(label).replace('|', "¦")));
            }
            part
        })
        .collect();
    (!parts.is_empty()).then(|| format!("🔧 Recent changes: {}", parts.join(" · ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at_ms: i64, id: &str, what: &str) -> Change {
        Change { at_ms, id: id.into(), kind: "scale".into(), what: what.into(), ..Change::default() }
    }

    #[test]
    fn the_line_lists_the_newest_first_once_each() {
        let now = 10_000_000;
        let a = Change { by: Some("U0BOB".into()), ..change(now - 40 * 60_000, "r1", "web-asg 4 → 6") };
        let b = Change {
            by: Some("U0ALICE".into()),
            link: Some(("pipeline #4101".into(), "https://ci/p/4101".into())),
            ..change(now - 14 * 60_000, "d1", "orders deployed")
        };
        let line = recent_changes_line(&[vec![a.clone(), b.clone()], vec![b.clone()]], now, 3).unwrap();
        assert_eq!(
            line,
            "🔧 Recent changes: orders deployed by <@U0ALICE> 14 min ago (<https://ci/p/4101|pipeline #4101>) · web-asg 4 → 6 by <@U0BOB> 40 min ago"
        );
        assert_eq!(recent_changes_line(&[vec![], vec![]], now, 3), None);
        let many: Vec<Change> = (0..6).map(|i| change(now - i * 60_000, &format!("c{i}"), "x & y")).collect();
        let line = recent_changes_line(&[many], now, 3).unwrap();
        assert_eq!(line.matches(" · ").count(), 2, "three at most: {line}");
        assert!(line.contains("x &amp; y"), "escaped: {line}");
    }
}
