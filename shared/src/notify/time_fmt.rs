//! Timestamps as AWS sends them (`2024-05-01T12:00:00.000+0000`, RFC 3339), shown with Slack's date
//! token so every reader sees their own time zone.

use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::macros::format_description;

pub(crate) fn parse(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    OffsetDateTime::parse(raw, &Rfc3339)
        .ok()
        .or_else(|| {
            let fmt = format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
            );
            OffsetDateTime::parse(raw, fmt).ok()
        })
        // AWS Health writes `Sat, 05 Jun 2016 15:10:09 GMT`.
        .or_else(|| OffsetDateTime::parse(raw, &Rfc2822).ok())
}

/// `<!date^...|fallback>` for a parseable time, the raw text (escaped) otherwise.
pub(crate) fn slack_date(raw: &str) -> String {
    match parse(raw) {
        Some(t) => date_token(t, "{date_short_pretty} {time_secs}", raw),
        None => crate::slack::escape(raw),
    }
}

/// `<!date^...|fallback>` for epoch seconds, to the minute (an expiry, a deadline).
pub fn slack_date_at(epoch_s: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(epoch_s) {
        Ok(t) => date_token(t, "{date_short_pretty} at {time}", &epoch_s.to_string()),
        Err(_) => epoch_s.to_string(),
    }
}

fn date_token(t: OffsetDateTime, tokens: &str, raw: &str) -> String {
    let fallback = t
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC"))
        .unwrap_or_else(|_| raw.to_owned());
    format!("<!date^{}^{tokens}|{fallback}>", t.unix_timestamp())
}

/// The shortest useful description of how long something lasted: `45 s`, `12 min`, `2 h 5 min`, `3 d 4 h`.
pub fn duration_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_health_format_too() {
        let t = parse("Sat, 05 Jun 2016 15:10:09 GMT").unwrap();
        assert_eq!(t.unix_timestamp(), 1_465_139_409);
    }

    #[test]
    fn parses_both_aws_formats() {
        assert_eq!(parse("2024-05-01T12:00:00.000+0000").map(|t| t.unix_timestamp()), Some(1_714_564_800));
        assert_eq!(parse("2024-05-01T12:00:00Z").map(|t| t.unix_timestamp()), Some(1_714_564_800));
        assert_eq!(parse("2024-05-01T14:00:00.123+0200").map(|t| t.unix_timestamp()), Some(1_714_564_800));
        assert!(parse("yesterday").is_none());
        assert_eq!(slack_date("<now>"), "&lt;now&gt;");
        assert_eq!(
            slack_date("2024-05-01T12:00:00Z"),
            "<!date^1714564800^{date_short_pretty} {time_secs}|2024-05-01 12:00:00 UTC>"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(std::time::Duration::from_secs(45)), "45 s");
        assert_eq!(duration_text(std::time::Duration::from_secs(12 * 60 + 30)), "12 min");
        assert_eq!(duration_text(std::time::Duration::from_secs(2 * 3600 + 5 * 60)), "2 h 5 min");
        assert_eq!(duration_text(std::time::Duration::from_secs(3600)), "1 h");
        assert_eq!(duration_text(std::time::Duration::from_secs(3 * 86_400 + 4 * 3600 + 59)), "3 d 4 h");
    }
}
