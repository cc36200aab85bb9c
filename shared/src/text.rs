//! Cutting text for logs and messages. Base floor: imports nothing from this crate.

/// Cuts `text` to at most `max` characters, ending with `…` when cut, never inside an `&amp;`-style
/// entity (a half entity would show as garbage).
pub fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= max {
        return text.into();
    }
    let keep = max.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut cut = &text[..end];
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
        && cut.len() - amp <= 5
    {
        cut = &cut[..amp];
    }
    format!("{cut}…").into()
}
