//! Checks on text that arrives from outside: names, addresses, references, phone numbers and
//! dates. Each check returns the cleaned value or a short problem worded for a field-level
//! error, and none of them panics, whatever the input.

use chrono::{Datelike, NaiveDate};

/// Why a piece of text was rejected, worded for a field-level error.
pub type Problem = String;

/// The problem with full-width digits (U+FF10 to U+FF19) where digits are expected. They are
/// refused rather than converted, so what is stored is exactly what was sent.
pub const HALF_WIDTH_DIGITS: &str = "must use half-width digits 0-9, not full-width ones";

/// The earliest year a date field accepts; an earlier one is a typing error.
pub const MIN_YEAR: i32 = 1900;

/// The latest year a date field accepts; a later one is a typing error.
pub const MAX_YEAR: i32 = 2199;

/// Removes leading and trailing spaces, including the ideographic space (U+3000) and the
/// no-break space (U+00A0), but never a control or invisible character: those are refused
/// wherever they are, not silently dropped.
pub fn trim(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() && !is_control_or_invisible(c))
}

/// Trims `value` and checks it is a plain line of text of `min..=max` characters: no control
/// characters, no invisible formatting characters such as zero-width spaces or bidirectional
/// overrides, no replacement characters left by broken encodings.
pub fn line(value: &str, min: usize, max: usize) -> Result<String, Problem> {
    let trimmed = trim(value);
    if trimmed.is_empty() {
        return Err("must not be empty or whitespace".into());
    }
    if let Some(bad) = trimmed.chars().find(|c| is_control_or_invisible(*c)) {
        return Err(format!(
            "must not contain control or invisible characters (found U+{:04X})",
            bad as u32
        ));
    }
    let length = trimmed.chars().count();
    if length < min || length > max {
        return Err(format!("must be {min} to {max} characters, got {length}"));
    }
    Ok(trimmed.to_owned())
}

/// Free text a person writes (a reason, a comment, a note): a [`line`] of `min..=max`
/// characters in which every identity number is masked, so that none travels in full in
/// events, audit records or listings.
pub fn free_text(value: &str, min: usize, max: usize) -> Result<String, Problem> {
    line(value, min, max).map(|text| residence_rules::mask_id_numbers(&text))
}

/// A person's name: a [`line`] of 2 to 30 characters, no digits.
pub fn person_name(value: &str) -> Result<String, Problem> {
    let name = line(value, 2, 30)?;
    if name.chars().any(|c| c.is_numeric()) {
        return Err("must not contain digits".into());
    }
    Ok(name)
}

/// A mainland mobile number: 11 half-width digits starting with 1.
pub fn mobile_phone(value: &str) -> Result<String, Problem> {
    let phone = trim(value);
    if phone.is_empty() {
        return Err("is required".into());
    }
    if has_full_width_digit(phone) {
        return Err(HALF_WIDTH_DIGITS.into());
    }
    let ok =
        phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err("must be an 11-digit mainland mobile number starting with 1".into());
    }
    Ok(phone.to_owned())
}

/// A calendar date that exists, written `YYYY-MM-DD` with half-width digits, in the years
/// [`MIN_YEAR`] to [`MAX_YEAR`].
pub fn date(value: &str) -> Result<NaiveDate, Problem> {
    let value = trim(value);
    if value.is_empty() {
        return Err("is required".into());
    }
    if has_full_width_digit(value) {
        return Err(HALF_WIDTH_DIGITS.into());
    }
    if !is_date_shaped(value) {
        return Err("must be a date written YYYY-MM-DD".into());
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| "must be a real calendar date written YYYY-MM-DD")?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
        return Err(format!("must be a date from {MIN_YEAR} to {MAX_YEAR}"));
    }
    Ok(date)
}

/// Whether `value` holds a full-width digit (U+FF10 to U+FF19).
pub fn has_full_width_digit(value: &str) -> bool {
    value
        .chars()
        .any(|c| ('\u{FF10}'..='\u{FF19}').contains(&c))
}

/// Whether `c` is a control character (C0, DEL, C1) or one that shows nothing but changes how
/// text around it reads or compares: zero-width characters, bidirectional marks, overrides
/// and isolates, the byte order mark, line and paragraph separators, invisible fillers and
/// tags, and the replacement character left by a broken encoding.
pub fn is_control_or_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{FFFD}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// `NNNN-NN-NN` in ASCII digits: the only spelling [`date`] reads.
fn is_date_shaped(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_checked() {
        assert_eq!(line("  张三\u{3000}\u{00A0}", 2, 30).unwrap(), "张三");
        assert!(line("   ", 1, 10).is_err());
        assert!(line("\u{3000}\u{00A0}", 1, 10).is_err());
        assert!(line("张\u{200B}三", 1, 10).is_err());
        assert!(line("a\u{0007}b", 1, 10).is_err());
        assert!(
            line(&"长".repeat(31), 2, 30)
                .unwrap_err()
                .contains("2 to 30")
        );
    }

    #[test]
    fn control_characters_at_the_edges_are_refused_not_trimmed() {
        for text in [
            "\t张三",
            "张三\n",
            "\u{0085}张三",
            "张三\u{2028}",
            "\u{FEFF}张三",
        ] {
            assert!(line(text, 1, 10).is_err(), "{text:?}");
        }
    }

    #[test]
    fn bidirectional_and_zero_width_characters_are_refused() {
        for c in [
            '\u{200D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2064}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert!(
                line(&format!("张{c}三"), 1, 10).is_err(),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn names_and_phones() {
        assert!(person_name("王小明").is_ok());
        assert!(person_name("王2").is_err());
        assert!(person_name("王２").is_err());
        assert_eq!(mobile_phone(" 13800000000 ").unwrap(), "13800000000");
        assert_eq!(
            mobile_phone("１３８００００００００").unwrap_err(),
            HALF_WIDTH_DIGITS
        );
        assert_eq!(mobile_phone("\u{3000}").unwrap_err(), "is required");
        assert!(mobile_phone("23800000000").is_err());
        assert!(mobile_phone("\t13800000000").is_err());
    }

    #[test]
    fn dates_must_exist() {
        assert!(date("2026-02-28").is_ok());
        for impossible in ["2026-02-30", "2026-13-01", "2026-00-10", "0000-01-01"] {
            assert!(date(impossible).is_err(), "{impossible}");
        }
        for misspelt in [
            "2026-1-1",
            "2026/01/01",
            "20260101",
            "+026-01-01",
            "2026-01-1 ",
        ] {
            assert!(
                date(misspelt).unwrap_err().contains("YYYY-MM-DD"),
                "{misspelt}"
            );
        }
        assert_eq!(date("２０２６-02-28").unwrap_err(), HALF_WIDTH_DIGITS);
        assert_eq!(date(" ").unwrap_err(), "is required");
        assert!(date("9999-12-31").unwrap_err().contains("2199"));
    }

    /// Properties that hold for every input, checked with generated strings.
    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// A control or invisible character, from every class [`is_control_or_invisible`]
        /// refuses.
        fn hidden() -> impl Strategy<Value = char> {
            prop_oneof![
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
                (0x7Fu32..0xA0).prop_map(|c| char::from_u32(c).unwrap()),
                (0x200Bu32..=0x200F).prop_map(|c| char::from_u32(c).unwrap()),
                (0x202Au32..=0x202E).prop_map(|c| char::from_u32(c).unwrap()),
                (0x2060u32..=0x2064).prop_map(|c| char::from_u32(c).unwrap()),
                (0x2066u32..=0x2069).prop_map(|c| char::from_u32(c).unwrap()),
                Just('\u{FEFF}'),
            ]
        }

        /// Plain text a name or an address could hold: CJK, Latin letters and spaces.
        fn plain(max: usize) -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop_oneof![
                    (0x4E00u32..0x9FA6).prop_map(|c| char::from_u32(c).unwrap()),
                    prop::char::range('a', 'z'),
                    Just(' '),
                    Just('\u{3000}'),
                ],
                0..max,
            )
            .prop_map(|chars| chars.into_iter().collect())
        }

        proptest! {
            #[test]
            fn no_check_panics_on_any_text(text in any::<String>()) {
                let _ = line(&text, 1, 30);
                let _ = person_name(&text);
                let _ = mobile_phone(&text);
                let _ = date(&text);
                let _ = trim(&text);
                let mut violations = crate::grpc::Violations::default();
                let _ = crate::grpc::case_number("case_number", &text, &mut violations);
            }

            #[test]
            fn no_check_panics_on_long_text(text in ".{0,4000}") {
                let _ = line(&text, 1, 120);
                let _ = person_name(&text);
                let _ = mobile_phone(&text);
                let _ = date(&text);
            }

            #[test]
            fn a_hidden_character_anywhere_is_refused(
                before in plain(20),
                c in hidden(),
                after in plain(20),
            ) {
                let text = format!("{before}{c}{after}");
                prop_assert!(line(&text, 1, 200).is_err(), "address {:?} accepted", text);
                prop_assert!(person_name(&text).is_err(), "name {:?} accepted", text);
            }

            #[test]
            fn accepted_lines_are_trimmed_and_within_bounds(text in plain(40)) {
                if let Ok(cleaned) = line(&text, 2, 30) {
                    let length = cleaned.chars().count();
                    prop_assert!((2..=30).contains(&length));
                    prop_assert_eq!(cleaned.as_str(), trim(&cleaned));
                    prop_assert!(!cleaned.chars().any(is_control_or_invisible));
                }
            }

            #[test]
            fn full_width_digits_are_never_read_as_digits(
                digits in prop::collection::vec(0u32..10, 11),
                at in 0usize..11,
            ) {
                let mut chars: Vec<char> = digits
                    .iter()
                    .map(|d| char::from_digit(*d, 10).unwrap())
                    .collect();
                chars[at] = char::from_u32(0xFF10 + digits[at]).unwrap();
                let phone: String = chars.into_iter().collect();
                prop_assert_eq!(mobile_phone(&phone).unwrap_err(), HALF_WIDTH_DIGITS);
            }

            #[test]
            fn every_accepted_date_prints_back_as_given(
                year in 0i32..10_000,
                month in 0u32..14,
                day in 0u32..33,
            ) {
                let text = format!("{year:04}-{month:02}-{day:02}");
                if let Ok(date) = date(&text) {
                    prop_assert_eq!(date.to_string(), text);
                    prop_assert!((MIN_YEAR..=MAX_YEAR).contains(&date.year()));
                }
            }
        }
    }
}
