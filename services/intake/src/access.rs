//! Access codes: the secret an applicant needs to see their case.
//!
//! Derived from the case number with a keyed hash, so a retried submission returns the same
//! code without the code ever being stored.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Letters and digits that cannot be confused when read aloud or copied (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const LENGTH: usize = 8;

/// Computes and checks access codes with one secret key.
#[derive(Clone)]
pub struct AccessCodes {
    key: Vec<u8>,
}

impl std::fmt::Debug for AccessCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessCodes { key: <secret> }")
    }
}

impl AccessCodes {
    /// Reads the key file, creating it with a fresh random key on first start. Every replica of
    /// intake must read the same file.
    pub fn from_key_file(path: &Path) -> anyhow::Result<Self> {
        // Made whole and readable by this service's user only, and agreed on by replicas that
        // start at once.
        let key = residence_sealing::read_or_create_key(path, "access code key")?;
        Ok(Self { key })
    }

    /// The access code of `case_number`.
    pub fn code_for(&self, case_number: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes any key size");
        mac.update(case_number.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest
            .iter()
            .take(LENGTH)
            .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
            .collect()
    }

    /// Whether `code` opens `case_number`, compared in constant time.
    pub fn verify(&self, case_number: &str, code: &str) -> bool {
        let expected = self.code_for(case_number);
        let given = code.trim().to_ascii_uppercase();
        expected.len() == given.len()
            && expected
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_checked() {
        let codes = AccessCodes { key: vec![7; 32] };
        let code = codes.code_for("CASE-1");
        assert_eq!(code.len(), LENGTH);
        assert_eq!(code, codes.code_for("CASE-1"));
        assert!(codes.verify("CASE-1", &code.to_lowercase()));
        assert!(!codes.verify("CASE-2", &code));
        assert!(!codes.verify("CASE-1", ""));
    }
}
