//! Slack mrkdwn, the inline markup of the one `Message` model, read into spans and written again in
//! another platform's Markdown: `*bold*` → `**bold**`, `<url|text>` → `[text](url)`, entities decoded,
//! date tokens as the platform shows times. Text that is not markup is escaped for the target, so a
//! `*` in an alarm name stays a `*`.

use time::OffsetDateTime;

/// One piece of inline text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    Text(String),
    Bold(Vec<Span>),
    Italic(Vec<Span>),
    Strike(Vec<Span>),
    Code(String),
    CodeBlock(String),
    Link {
        url: String,
        label: Option<String>,
    },
    /// `<!date^epoch^format|fallback>`
    Date {
        epoch: i64,
        fallback: String,
    },
    /// `<!here>`, `<!subteam^S0|@oncall>`, `<@U0>`: what a reader of another platform can make of it.
    Mention(String),
}

/// Which Markdown to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// Discord: CommonMark-like, backslash escapes, `<t:epoch:f>` timestamps.
    Discord,
    /// Mattermost: CommonMark-like, backslash escapes.
    Mattermost,
    /// Teams Adaptive Card TextBlock: bold, italic, links and lists only; `{{DATE()}}` functions.
    Teams,
}

/// Reads mrkdwn into spans. Never fails: what is not markup is text.
pub(crate) fn parse(s: &str) -> Vec<Span> {
    let chars: Vec<char> = s.chars().collect();
    parse_chars(&chars)
}

fn parse_chars(c: &[char]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    let flush = |text: &mut String, out: &mut Vec<Span>| {
        if !text.is_empty() {
            out.push(Span::Text(std::mem::take(text)));
        }
    };
    while i < c.len() {
        match c[i] {
            '`' if c[i..].starts_with(&['`', '`', '`']) => {
                if let Some(end) = find_seq(c, i + 3, &['`', '`', '`']) {
                    flush(&mut text, &mut out);
                    out.push(Span::CodeBlock(decode(&c[i + 3..end]).trim_matches('\n').to_owned()));
                    i = end + 3;
                    continue;
                }
                text.push('`');
            }
            '`' => {
                if let Some(end) = c[i + 1..].iter().position(|&x| x == '`').map(|p| p + i + 1)
                    && end > i + 1
                {
                    flush(&mut text, &mut out);
                    out.push(Span::Code(decode(&c[i + 1..end])));
                    i = end + 1;
                    continue;
                }
                text.push('`');
            }
            '<' => {
                if let Some(end) = c[i + 1..].iter().position(|&x| x == '>' || x == '<').map(|p| p + i + 1)
                    && c[end] == '>'
                    && end > i + 1
                {
                    flush(&mut text, &mut out);
                    out.push(special(&c[i + 1..end]));
                    i = end + 1;
                    continue;
                }
                text.push('<');
            }
            '&' => {
                let rest: String = c[i..c.len().min(i + 5)].iter().collect();
                let (ch, len) = if rest.starts_with("&amp;") {
                    ('&', 5)
                } else if rest.starts_with("&lt;") {
                    ('<', 4)
                } else if rest.starts_with("&gt;") {
                    ('>', 4)
                } else {
                    ('&', 1)
                };
                text.push(ch);
                i += len;
                continue;
            }
            d @ ('*' | '_' | '~') if opens(c, i) => {
                if let Some(end) = closing(c, i) {
                    flush(&mut text, &mut out);
                    let inner = parse_chars(&c[i + 1..end]);
                    out.push(match d {
                        '*' => Span::Bold(inner),
                        '_' => Span::Italic(inner),
                        _ => Span::Strike(inner),
                    });
                    i = end + 1;
                    continue;
                }
                text.push(d);
            }
            other => text.push(other),
        }
        i += 1;
    }
    flush(&mut text, &mut out);
    out
}

fn find_seq(c: &[char], from: usize, seq: &[char]) -> Option<usize> {
    (from..c.len().saturating_sub(seq.len() - 1)).find(|&j| c[j..].starts_with(seq))
}

fn is_boundary(ch: Option<&char>) -> bool {
    ch.is_none_or(|c| c.is_whitespace() || (c.is_ascii_punctuation() && !matches!(c, '*' | '_' | '~')))
}

/// A delimiter opens at the start of a word and before a non-space, as Slack reads it.
fn opens(c: &[char], i: usize) -> bool {
    is_boundary(i.checked_sub(1).and_then(|p| c.get(p)))
        && c.get(i + 1).is_some_and(|n| !n.is_whitespace() && *n != c[i])
}

/// The same delimiter closing on the same line, after a non-space, at the end of a word.
fn closing(c: &[char], i: usize) -> Option<usize> {
    let d = c[i];
    let mut j = i + 2;
    while j < c.len() {
        if c[j] == '\n' {
            return None;
        }
        if c[j] == d && !c[j - 1].is_whitespace() && is_boundary(c.get(j + 1)) {
            return Some(j);
        }
        j += 1;
    }
    None
}

fn decode(c: &[char]) -> String {
    let s: String = c.iter().collect();
    crate::slack::unescape(&s)
}

/// What is between `<` and `>`.
fn special(inner: &[char]) -> Span {
    let s = decode(inner);
    let (head, label) = match s.split_once('|') {
        Some((h, l)) => (h.to_owned(), Some(l.to_owned()).filter(|l| !l.is_empty())),
        None => (s.clone(), None),
    };
    if let Some(rest) = head.strip_prefix("!date^") {
        let epoch = rest.split('^').next().and_then(|e| e.parse().ok()).unwrap_or(0);
        return Span::Date { epoch, fallback: label.unwrap_or_default() };
    }
    if let Some(rest) = head.strip_prefix('!') {
        return Span::Mention(match (rest, label) {
            (_, Some(label)) => label,
            ("here", _) => "@here".into(),
            ("channel" | "everyone", _) => "@channel".into(),
            (other, None) => format!("@{}", other.split('^').next_back().unwrap_or(other)),
        });
    }
    if let Some(id) = head.strip_prefix('@').or_else(|| head.strip_prefix('#')) {
        let sigil = if head.starts_with('@') { "@" } else { "#" };
        return Span::Mention(match label {
            Some(l) if l.starts_with(sigil) => l,
            Some(l) => format!("{sigil}{l}"),
            None => format!("{sigil}{id}"),
        });
    }
    Span::Link { url: head, label }
}

/// Writes spans in `flavour`'s Markdown.
pub(crate) fn write(spans: &[Span], flavour: Flavour) -> String {
    let mut out = String::new();
    for span in spans {
        match span {
            Span::Text(t) => out.push_str(&escape(t, flavour)),
            Span::Bold(inner) => out.push_str(&format!("**{}**", write(inner, flavour))),
            Span::Italic(inner) => out.push_str(&format!("_{}_", write(inner, flavour))),
            Span::Strike(inner) if flavour == Flavour::Teams => out.push_str(&write(inner, flavour)),
            Span::Strike(inner) => out.push_str(&format!("~~{}~~", write(inner, flavour))),
            Span::Code(code) if flavour == Flavour::Teams => out.push_str(&escape(code, flavour)),
            Span::Code(code) => out.push_str(&format!("`{}`", code.replace('`', "'"))),
            Span::CodeBlock(code) if flavour == Flavour::Teams => out.push_str(&escape(code, flavour)),
            Span::CodeBlock(code) => out.push_str(&format!("```\n{}\n```", code.replace("```", "'''"))),
            Span::Link { url, label } => {
                // Only web links become links; anything else is shown as text, never made clickable.
                if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("mailto:") {
                    let label = label.as_deref().unwrap_or(url);
                    out.push_str(&format!(
                        "[{}]({})",
                        escape(label, flavour),
                        url.replace(')', "%29").replace(' ', "%20")
                    ));
                } else {
                    out.push_str(&escape(label.as_deref().unwrap_or(url), flavour));
                }
            }
            Span::Date { epoch, fallback } => out.push_str(&date(*epoch, fallback, flavour)),
            Span::Mention(who) => out.push_str(&escape(who, flavour)),
        }
    }
    out
}

/// The text a reader sees, without markup (titles, fallbacks, card summaries).
pub(crate) fn plain(spans: &[Span]) -> String {
    let mut out = String::new();
    for span in spans {
        match span {
            Span::Text(t) | Span::Code(t) | Span::CodeBlock(t) | Span::Mention(t) => out.push_str(t),
            Span::Bold(inner) | Span::Italic(inner) | Span::Strike(inner) => out.push_str(&plain(inner)),
            Span::Link { url, label } => out.push_str(label.as_deref().unwrap_or(url)),
            Span::Date { fallback, .. } => out.push_str(fallback),
        }
    }
    out
}

/// mrkdwn straight to `flavour`.
pub(crate) fn convert(mrkdwn: &str, flavour: Flavour) -> String {
    write(&parse(mrkdwn), flavour)
}

fn escape(text: &str, flavour: Flavour) -> String {
    let special: &[char] = match flavour {
        Flavour::Discord => &['\\', '*', '_', '~', '`', '[', ']', '|', '<', '>', '#'],
        Flavour::Mattermost => &['\\', '*', '_', '~', '`', '[', ']', '<', '>', '#'],
        // Teams' TextBlock reads few marks and no escapes: only what would start one is spaced out.
        Flavour::Teams => &[],
    };
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if special.contains(&ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn date(epoch: i64, fallback: &str, flavour: Flavour) -> String {
    match flavour {
        Flavour::Discord => format!("<t:{epoch}:f>"),
        Flavour::Teams => match OffsetDateTime::from_unix_timestamp(epoch)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        {
            // Teams shows these in each reader's time zone, like Slack's date token.
            Some(iso) => format!("{{{{DATE({iso}, SHORT)}}}} {{{{TIME({iso})}}}}"),
            None => fallback.to_owned(),
        },
        Flavour::Mattermost => escape(fallback, flavour),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_markup_becomes_markdown() {
        let m = "*State*\nOK → *ALARM* in `AWS/EC2` — see <https://x.example/a?b=1|the console> &amp; _why_ ~old~";
        assert_eq!(
            convert(m, Flavour::Discord),
            "**State**\nOK → **ALARM** in `AWS/EC2` — see [the console](https://x.example/a?b=1) & _why_ ~~old~~"
        );
        assert_eq!(
            convert(m, Flavour::Teams),
            "**State**\nOK → **ALARM** in AWS/EC2 — see [the console](https://x.example/a?b=1) & _why_ old"
        );
    }

    #[test]
    fn literal_marks_stay_literal() {
        assert_eq!(convert("api_high_cpu * 2 &lt;b&gt;", Flavour::Discord), "api\\_high\\_cpu \\* 2 \\<b\\>");
        assert_eq!(convert("2*3*4", Flavour::Mattermost), "2\\*3\\*4");
        assert_eq!(convert("a <b", Flavour::Mattermost), "a \\<b");
        assert_eq!(convert("``", Flavour::Discord), "\\`\\`");
    }

    #[test]
    fn dates_mentions_and_odd_links() {
        let d = "<!date^1714564800^{date_short_pretty} {time}|2024-05-01 12:00 UTC>";
        assert_eq!(convert(d, Flavour::Discord), "<t:1714564800:f>");
        assert_eq!(convert(d, Flavour::Mattermost), "2024-05-01 12:00 UTC");
        assert_eq!(convert(d, Flavour::Teams), "{{DATE(2024-05-01T12:00:00Z, SHORT)}} {{TIME(2024-05-01T12:00:00Z)}}");
        assert_eq!(convert("<!here> <!subteam^S0|@oncall> <@U0>", Flavour::Teams), "@here @oncall @U0");
        assert_eq!(convert("<javascript:alert(1)|click>", Flavour::Discord), "click");
        assert_eq!(plain(&parse("*a* <https://x|b> `c`")), "a b c");
    }
}
