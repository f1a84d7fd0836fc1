//! ISO 7064 MOD 37,36 check characters over digits and capital letters, as used by e-license
//! identifiers (GB/T 36904) and by our case numbers.

const MODULUS: u32 = 36;

/// The check character of `body` (0–9, A–Z; lower-case letters count as capitals), or `None`
/// when `body` is empty or holds any other character.
pub fn mod_37_36(body: &str) -> Option<char> {
    if body.is_empty() {
        return None;
    }
    let mut product = MODULUS;
    for c in body.chars() {
        let value = c.to_ascii_uppercase().to_digit(36)?;
        let mut sum = (product + value) % MODULUS;
        if sum == 0 {
            sum = MODULUS;
        }
        product = (sum * 2) % (MODULUS + 1);
    }
    let check = (MODULUS + 1 - product) % MODULUS;
    char::from_digit(check, 36).map(|c| c.to_ascii_uppercase())
}

/// Whether the last character of `text` is the right check character for the rest.
pub fn is_valid(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(last) = chars.next_back() else {
        return false;
    };
    mod_37_36(chars.as_str()) == Some(last.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_substitution_is_detected() {
        let body = "1141282400596722961000709005000202612040001";
        let check = mod_37_36(body).unwrap();
        let full = format!("{body}{check}");
        assert!(is_valid(&full));
        for (index, original) in full.char_indices() {
            for replacement in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars() {
                if replacement == original {
                    continue;
                }
                let mut changed = full.clone();
                changed.replace_range(index..index + 1, &replacement.to_string());
                assert!(!is_valid(&changed), "{changed} should be rejected");
            }
        }
    }

    #[test]
    fn the_result_is_consistent_with_the_iso_condition() {
        // Processing the body and its check character must leave a running sum of 1.
        for body in ["0", "A", "ZZZ", "123456789", "L001"] {
            let check = mod_37_36(body).unwrap();
            let mut product = MODULUS;
            let mut sum = 0;
            for c in format!("{body}{check}").chars() {
                sum = (product + c.to_digit(36).unwrap()) % MODULUS;
                if sum == 0 {
                    sum = MODULUS;
                }
                product = (sum * 2) % (MODULUS + 1);
            }
            assert_eq!(sum, 1, "{body}{check}");
        }
    }

    #[test]
    fn bad_input_has_no_check_character() {
        assert_eq!(mod_37_36(""), None);
        assert_eq!(mod_37_36("12-3"), None);
        assert_eq!(mod_37_36("居住"), None);
        assert!(!is_valid(""));
    }
}
