//! Personal data sealed at rest (PIPL Art. 51, DOMAIN: "encrypt ID numbers at rest").
//!
//! Columns that hold personal data (applications, courier recipients, license holders) are
//! [`Sealed`] values: written to the database as `sealed:v1:<key id>:<base64>`, AES-256-GCM
//! with a fresh random nonce each time, and opened again when read, so that a copy of a
//! database file or a backup shows no ID number, name, phone or address. A row can be found
//! by a holder's ID number through [`DataKeys::lookup_key`], a keyed hash that cannot be
//! reversed by trying every plausible number without the key.
//!
//! Every service reads its data key at start ([`install`]), from a file it creates on first
//! start; the replicas of one service must share that file. Text written before sealing
//! existed (without the `sealed:v1:` prefix) is read as it is, and [`seal_legacy_rows`] seals
//! it where it lies.

mod column;
mod database;
mod key_file;
mod legacy;

use std::sync::OnceLock;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

pub use column::Sealed;
pub use database::check_database;
pub use key_file::{read_key, read_or_create_key};
pub use legacy::{OUTBOX_PAYLOAD, SealedColumn, seal_legacy_rows};

/// What every sealed value starts with.
const PREFIX: &str = "sealed:v1:";

/// The keys derived from one service's data key.
pub struct DataKeys {
    id: String,
    cipher: LessSafeKey,
    lookup: [u8; 32],
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeys").field("id", &self.id).finish()
    }
}

impl DataKeys {
    /// Derives the sealing and lookup keys from `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        if secret.len() < 32 {
            bail!("a data key needs at least 32 bytes, got {}", secret.len());
        }
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac takes any key size");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let sealing = derive(b"residence data sealing v1");
        let cipher = UnboundKey::new(&AES_256_GCM, &sealing)
            .map(LessSafeKey::new)
            .map_err(|_| anyhow::anyhow!("AES-256-GCM refused a 32-byte key"))?;
        let fingerprint = Sha256::digest(derive(b"residence data key id v1"));
        let id = fingerprint[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            id,
            cipher,
            lookup: derive(b"residence data lookup v1"),
        })
    }

    /// A random key, for tests and for a process that installed none.
    pub fn ephemeral() -> Self {
        let secret: [u8; 32] = rand::random();
        Self::new(&secret).expect("32 random bytes are a valid key")
    }

    /// The key's public id, 8 hex characters, written into every value it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plain` as `sealed:v1:<key id>:<base64 of nonce, ciphertext and tag>`.
    pub fn seal(&self, plain: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plain.as_bytes().to_vec();
        self.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(self.id.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals any text shorter than 64 GiB");
        let mut body = nonce_bytes.to_vec();
        body.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", self.id, STANDARD.encode(body))
    }

    /// Opens what [`DataKeys::seal`] made; text without the prefix, written before sealing,
    /// comes back as it is.
    pub fn open(&self, stored: &str) -> anyhow::Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest
            .split_once(':')
            .context("a sealed value without its key id")?;
        if id != self.id {
            bail!(
                "sealed with data key {id}, but this service holds key {}: is the data key \
                 file the one this database was written with?",
                self.id
            );
        }
        let body = STANDARD
            .decode(body)
            .context("a sealed value that is not base64")?;
        if body.len() < NONCE_LEN {
            bail!("a sealed value too short to hold its nonce");
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| anyhow::anyhow!("a malformed nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .cipher
            .open_in_place(nonce, Aad::from(self.id.as_bytes()), &mut buffer)
            .map_err(|_| anyhow::anyhow!("a sealed value failed its integrity check"))?;
        String::from_utf8(plain.to_vec()).context("a sealed value that is not UTF-8")
    }

    /// The keyed hash (HMAC-SHA-256, hex) that finds rows by `value`, e.g. a holder's
    /// normalised ID number.
    pub fn lookup_key(&self, value: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.lookup).expect("hmac takes any key size");
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// About how many bytes of plain text `rows` sealed values of `sealed_bytes` in all hold, for
/// size estimates that can only read a column's length in SQL.
pub fn plain_bytes(sealed_bytes: u64, rows: u64) -> u64 {
    // `sealed:v1:` and an 8-character key id and `:`, then base64 of nonce, text and tag.
    let framing = (PREFIX.len() + 8 + 1) as u64;
    let overhead = (NONCE_LEN + AES_256_GCM.tag_len()) as u64;
    (sealed_bytes.saturating_sub(framing * rows) * 3 / 4).saturating_sub(overhead * rows)
}

// TODO(privacy): one data key per deployment, with no rotation: a new key would need every
// sealed row opened with the old one and sealed again, which no command does yet.
static KEYS: OnceLock<DataKeys> = OnceLock::new();

/// Makes `keys` the process's data keys. A service calls it once at start, before it opens
/// its database; a second call with another key is refused.
pub fn install(keys: DataKeys) -> anyhow::Result<()> {
    let id = keys.id.clone();
    let installed = KEYS.get_or_init(|| keys);
    if installed.id != id {
        bail!(
            "data key {} is installed already; a process has one data key",
            installed.id
        );
    }
    Ok(())
}

/// The process's data keys: those installed, else a random key for this process alone (what
/// in-process tests use), with an error logged once since nothing it seals outlives the
/// process.
pub fn keys() -> &'static DataKeys {
    KEYS.get_or_init(|| {
        tracing::error!(
            "no data key installed; personal data is sealed with a key that dies with this \
             process"
        );
        DataKeys::ephemeral()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNTHETIC: &str = r#"{"holder":{"id_number":"411721199001011237","name":"测试"}}"#;

    #[test]
    fn sealing_hides_the_text_and_opens_it_again() {
        let keys = DataKeys::new(&[7; 32]).unwrap();
        let sealed = keys.seal(SYNTHETIC);
        assert!(sealed.starts_with(&format!("sealed:v1:{}:", keys.id())));
        assert!(!sealed.contains("411721"));
        assert!(!sealed.contains("测试"));
        assert_eq!(keys.open(&sealed).unwrap(), SYNTHETIC);
        // A fresh nonce each time: equal texts do not give equal columns.
        assert_ne!(keys.seal(SYNTHETIC), sealed);
    }

    #[test]
    fn text_from_before_sealing_reads_as_it_is() {
        let keys = DataKeys::new(&[7; 32]).unwrap();
        assert_eq!(keys.open(SYNTHETIC).unwrap(), SYNTHETIC);
    }

    #[test]
    fn another_key_or_a_changed_byte_is_refused() {
        let keys = DataKeys::new(&[7; 32]).unwrap();
        let other = DataKeys::new(&[8; 32]).unwrap();
        let sealed = keys.seal(SYNTHETIC);
        let error = other.open(&sealed).unwrap_err().to_string();
        assert!(error.contains(keys.id()), "{error}");

        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(keys.open(&tampered).is_err());
        assert!(keys.open("sealed:v1:").is_err());
        assert!(keys.open(&format!("sealed:v1:{}:!!", keys.id())).is_err());
    }

    #[test]
    fn lookup_keys_are_stable_per_key_and_differ_between_keys() {
        let keys = DataKeys::new(&[7; 32]).unwrap();
        let other = DataKeys::new(&[8; 32]).unwrap();
        let id = "411721199001011237";
        assert_eq!(keys.lookup_key(id), keys.lookup_key(id));
        assert_ne!(keys.lookup_key(id), other.lookup_key(id));
        assert_eq!(keys.lookup_key(id).len(), 64);
    }

    #[test]
    fn plain_sizes_are_recovered_from_sealed_ones() {
        let keys = DataKeys::new(&[7; 32]).unwrap();
        let texts = [SYNTHETIC, "{}", &"x".repeat(999)];
        let sealed: u64 = texts.iter().map(|text| keys.seal(text).len() as u64).sum();
        let plain: u64 = texts.iter().map(|text| text.len() as u64).sum();
        let estimate = plain_bytes(sealed, texts.len() as u64);
        assert!(
            estimate.abs_diff(plain) <= 3 * texts.len() as u64,
            "{estimate} vs {plain}"
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(DataKeys::new(&[1; 31]).is_err());
    }
}
