//! Masking of identity numbers for display, logs and notifications.

/// Characters kept at the start of a masked number (the region code).
const KEEP_HEAD: usize = 6;

/// Characters kept at the end of a masked number.
const KEEP_TAIL: usize = 4;

/// Characters in an identity number.
const ID_NUMBER_LENGTH: usize = 18;

/// Masks an identity number: the first 6 and last 4 characters stay, every other one becomes `*`.
///
/// Works on characters, not bytes, and keeps the length, so `411721199001011237` becomes
/// `411721********1237`. Input of 10 characters or fewer is masked entirely, since keeping both
/// ends would reveal all of it. The input is not trimmed or validated.
pub fn mask_id_number(raw: &str) -> String {
    let length = raw.chars().count();
    if length <= KEEP_HEAD + KEEP_TAIL {
        return "*".repeat(length);
    }
    let tail_start = length - KEEP_TAIL;
    raw.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < KEEP_HEAD || i >= tail_start {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Masks every identity number in `text` as [`mask_id_number`] does, however it was typed:
/// 18 digits (or 17 and a check character `X`), or a 15-digit first-generation number, in
/// ASCII or full-width digits, written together or in groups split by single spaces or
/// hyphens (`4117 2119 9001 0112 37`, `411721-19900101-1237`). Separators stay where they
/// were. Runs of other lengths (phone numbers, dates, longer references) are left alone.
pub fn mask_id_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut masked = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        if !is_digit(c) {
            masked.push(c);
            at += 1;
            continue;
        }
        let end = group_end(&chars, at);
        let group = chars.get(at..end).unwrap_or_default();
        let digits = group.iter().filter(|c| !is_separator(**c)).count();
        let checked = group.last().is_some_and(|c| is_check_x(*c));
        let is_number = (digits == ID_NUMBER_LENGTH) || (digits == LEGACY_LENGTH && !checked);
        let mut index = 0;
        for &c in group {
            if is_separator(c) || !is_number {
                masked.push(c);
            } else {
                let kept = index < KEEP_HEAD || index >= digits - KEEP_TAIL;
                masked.push(if kept { c } else { '*' });
            }
            if !is_separator(c) {
                index += 1;
            }
        }
        at = end;
    }
    masked
}

/// Digits in a first-generation identity number.
const LEGACY_LENGTH: usize = 15;

/// Where the group of digits starting at `start` ends: digits, single separators between
/// digits, and a check character `X` as the 18th digit, which ends the group.
fn group_end(chars: &[char], start: usize) -> usize {
    let mut digits = 0;
    let mut at = start;
    while let Some(&c) = chars.get(at) {
        if is_digit(c) {
            digits += 1;
            at += 1;
        } else if is_check_x(c) && digits == ID_NUMBER_LENGTH - 1 {
            return at + 1;
        } else if is_separator(c)
            && chars
                .get(at + 1)
                .is_some_and(|next| is_digit(*next) || (is_check_x(*next) && digits == 17))
        {
            at += 1;
        } else {
            break;
        }
    }
    at
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn is_check_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{3000}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_region_and_last_four() {
        assert_eq!(mask_id_number("411721199001011237"), "411721********1237");
        assert_eq!(mask_id_number("41172119880517108X"), "411721********108X");
    }

    #[test]
    fn short_input_is_masked_entirely() {
        assert_eq!(mask_id_number(""), "");
        assert_eq!(mask_id_number("1234567890"), "**********");
        assert_eq!(mask_id_number("12345678901"), "123456*8901");
    }

    #[test]
    fn numbers_are_masked_however_they_were_typed() {
        for (typed, masked) in [
            ("411721199001011237", "411721********1237"),
            ("号码41172119880517108X。", "号码411721********108X。"),
            ("4117 2119 9001 0112 37", "4117 21** **** **12 37"),
            ("411721-19900101-1237", "411721-********-1237"),
            (
                "４１１７２１１９９００１０１１２３７",
                "４１１７２１********１２３７",
            ),
            ("41172119880517108 x", "411721********108 x"),
            ("旧号码412824900101123", "旧号码412824*****1123"),
        ] {
            assert_eq!(mask_id_numbers(typed), masked, "{typed}");
        }
    }

    #[test]
    fn other_numbers_stay() {
        for text in [
            "phone 138-0000-0000, 2026-12-04",
            "4117211990010112370",
            "1234567890123456",
            "12345678901234567 ",
            "case XP-2026-000001",
        ] {
            assert_eq!(mask_id_numbers(text), text, "{text}");
        }
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(
            mask_id_number("河南省西平县五沟营镇人民政府"),
            "河南省西平县****人民政府"
        );
        assert_eq!(mask_id_number("身份证"), "***");
    }
}
