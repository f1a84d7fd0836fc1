//! Checks on free text that arrives from outside: names, addresses, references.

/// Why a piece of text was rejected, worded for a field-level error.
pub type Problem = String;

/// Trims `value` (including the full-width space) and checks it is a plain line of text of
/// `min..=max` characters: no control characters, no invisible formatting characters such as
/// zero-width spaces, no replacement characters left by broken encodings.
pub fn line(value: &str, min: usize, max: usize) -> Result<String, Problem> {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}');
    if trimmed.is_empty() {
        return Err("must not be empty or whitespace".into());
    }
    if let Some(bad) = trimmed.chars().find(|c| is_hidden(*c)) {
        return Err(format!(
            "must not contain control or invisible characters (U+{:04X})",
            bad as u32
        ));
    }
    let length = trimmed.chars().count();
    if length < min || length > max {
        return Err(format!("must be {min} to {max} characters, got {length}"));
    }
    Ok(trimmed.to_owned())
}

/// A person's name: 2 to 30 characters of text, no digits.
pub fn person_name(value: &str) -> Result<String, Problem> {
    let name = line(value, 2, 30)?;
    if name.chars().any(|c| c.is_numeric()) {
        return Err("must not contain digits".into());
    }
    Ok(name)
}

/// A mainland mobile number: 11 ASCII digits starting with 1.
pub fn mobile_phone(value: &str) -> Result<String, Problem> {
    let phone = value.trim();
    if phone.chars().any(|c| c.is_numeric() && !c.is_ascii_digit()) {
        return Err("must use ASCII digits, not full-width ones".into());
    }
    let ok =
        phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err("must be an 11-digit mainland mobile number starting with 1".into());
    }
    Ok(phone.to_owned())
}

/// An ISO calendar date `YYYY-MM-DD` that exists.
pub fn date(value: &str) -> Result<chrono::NaiveDate, Problem> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() != 10 || !value.is_ascii() {
        return Err("must be a date written YYYY-MM-DD".into());
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| "must be a real calendar date written YYYY-MM-DD".into())
}

fn is_hidden(c: char) -> bool {
    c.is_control()
        || c == '\u{FFFD}'
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}')
        || c == '\u{FEFF}'
        || c == '\u{00AD}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_checked() {
        assert_eq!(line("  张三\u{3000}", 2, 30).unwrap(), "张三");
        assert!(line("   ", 1, 10).is_err());
        assert!(line("张\u{200B}三", 1, 10).is_err());
        assert!(line("a\u{0007}b", 1, 10).is_err());
        assert!(line(&"长".repeat(31), 2, 30).is_err());
    }

    #[test]
    fn names_and_phones() {
        assert!(person_name("王小明").is_ok());
        assert!(person_name("王2").is_err());
        assert!(person_name("王２").is_err());
        assert_eq!(mobile_phone("13800000000").unwrap(), "13800000000");
        assert!(
            mobile_phone("１３８００００００００")
                .unwrap_err()
                .contains("full-width")
        );
        assert!(mobile_phone("23800000000").is_err());
    }

    #[test]
    fn dates_must_exist() {
        assert!(date("2026-02-28").is_ok());
        assert!(date("2026-02-30").is_err());
        assert!(date("2026-2-3").is_err());
        assert!(date("２０２６-02-28").is_err());
    }
}
