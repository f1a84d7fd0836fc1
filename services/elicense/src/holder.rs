//! The holder as the license table knows them: a key that finds their earlier licenses, the
//! serial all their versions share, and their name masked for display.

pub use residence_license::mask_name;
use sha2::{Digest, Sha256};

/// Characters in a serial.
pub const SERIAL_LENGTH: usize = 12;

/// The key that finds a holder's licenses: the keyed hash of the ID number under the
/// service's data key, read the way intake stores it (trimmed, check character `X` in
/// capitals). Unlike a plain hash, it cannot be reversed by trying every plausible number.
pub fn key(id_number: &str) -> String {
    residence_sealing::keys().lookup_key(&normalised(id_number))
}

/// The key licenses issued before keys were keyed carry: SHA-256 (hex) of the ID number.
/// Looked for too, so that a holder's next license still follows their earlier one.
pub fn legacy_key(id_number: &str) -> String {
    Sha256::digest(normalised(id_number).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn normalised(id_number: &str) -> String {
    id_number.trim().to_ascii_uppercase()
}

/// The serial of a holder's next license: the one of their earlier license, so every version
/// of one holder's license shares it; else a fresh random one.
///
/// The serial is public (it is part of the identifier), so it is not derived from the ID
/// number: a hash of an ID number can be reversed by trying every plausible number.
pub fn serial(earlier: Option<&str>) -> String {
    match earlier {
        Some(serial) => serial.to_owned(),
        None => fresh_serial(),
    }
}

/// Twelve random capital hexadecimal characters (48 random bits of a version 4 UUID).
fn fresh_serial() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..SERIAL_LENGTH].to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_stable_and_ignores_how_the_number_was_typed() {
        let key_a = key("41172119900101123X");
        assert_eq!(key_a.len(), 64);
        assert_eq!(key_a, key(" 41172119900101123x "));
        assert_ne!(key_a, key("411721199001011237"));
        // Keyed: not the plain hash anyone could compute from a guessed number.
        assert_ne!(key_a, legacy_key("41172119900101123X"));
        assert_eq!(legacy_key(" 41172119900101123x ").len(), 64);
    }

    #[test]
    fn a_holder_keeps_their_serial_across_versions() {
        let first = serial(None);
        assert_eq!(first.len(), SERIAL_LENGTH);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
        assert_eq!(serial(Some(&first)), first);
        assert_eq!(serial(Some(&serial(Some(&first)))), first);
    }

    #[test]
    fn new_holders_get_different_serials() {
        assert_ne!(serial(None), serial(None));
    }
}
