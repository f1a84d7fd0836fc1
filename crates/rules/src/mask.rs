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

/// Masks every identity number in `text` as [`mask_id_number`] does: 18 digits, or 17 digits
/// and a check character `X`, not part of a longer run of digits.
pub fn mask_id_numbers(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    // The run of digits (and a check character after 17 of them) being read.
    let mut run = String::new();
    let flush = |run: &mut String, masked: &mut String| {
        if run.len() == ID_NUMBER_LENGTH {
            masked.push_str(&mask_id_number(run));
        } else {
            masked.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        let digits_so_far = run.bytes().all(|b| b.is_ascii_digit());
        if c.is_ascii_digit() && digits_so_far {
            run.push(c);
        } else if matches!(c, 'X' | 'x') && run.len() == ID_NUMBER_LENGTH - 1 && digits_so_far {
            run.push(c);
            flush(&mut run, &mut masked);
        } else {
            flush(&mut run, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut run, &mut masked);
    masked
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
    fn counts_characters_not_bytes() {
        assert_eq!(
            mask_id_number("河南省西平县五沟营镇人民政府"),
            "河南省西平县****人民政府"
        );
        assert_eq!(mask_id_number("身份证"), "***");
    }
}
