//! The Ed25519 keys of staff tokens: private keys (PKCS#8 PEM) stay with whoever issues
//! tokens; the services read the public halves (SPKI PEM) from a directory.
//!
//! A key is named in tokens by its key id, derived from the public key itself, so a file can
//! be renamed without breaking the tokens it verifies.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// File name ending of a public key the services read.
pub const PUBLIC_KEY_SUFFIX: &str = ".pub.pem";

/// File name ending of a private key; never read from the services' key directory.
pub const PRIVATE_KEY_SUFFIX: &str = ".key.pem";

/// Hex characters of the SHA-256 of the public key that make up a key id.
const KEY_ID_LENGTH: usize = 16;

/// Why keys cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 {expected} PEM file")]
    Format {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("key name must be 1 to 64 letters, digits, `-` or `_`, got {0:?}")]
    Name(String),
}

/// The id tokens name a key by: the first 16 hex characters of the SHA-256 of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..KEY_ID_LENGTH].to_owned()
}

/// The public keys a service verifies tokens with, by key id.
#[derive(Clone, Debug, Default)]
pub struct StaffKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl StaffKeys {
    /// Reads every `*.pub.pem` file in `dir`. A directory that does not exist holds no keys;
    /// a file that is not a public key is an error naming it.
    pub fn load_dir(dir: &Path) -> Result<Self, KeyError> {
        let read_error = |source| KeyError::Read {
            path: dir.to_owned(),
            source,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => return Err(read_error(error)),
        };
        let mut keys = Self::default();
        for entry in entries {
            let path = entry.map_err(read_error)?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(PRIVATE_KEY_SUFFIX) {
                tracing::warn!(
                    file = %path.display(),
                    "a private staff key lies in the public key directory; keep it with the \
                     operator who issues tokens"
                );
            }
            if name.ends_with(PUBLIC_KEY_SUFFIX) {
                keys.insert(read_public_key(&path)?);
            }
        }
        Ok(keys)
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: VerifyingKey) {
        self.keys.insert(key_id(&key), key);
    }

    /// The key with id `key_id`.
    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_id)
    }

    /// The ids of every key held.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether no key is held, so that every token is refused.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Reads an Ed25519 public key from an SPKI PEM file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = read(path)?;
    VerifyingKey::from_public_key_pem(&text).map_err(|_| KeyError::Format {
        path: path.to_owned(),
        expected: "public key (SPKI)",
    })
}

/// Reads an Ed25519 private key from a PKCS#8 PEM file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = read(path)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::Format {
        path: path.to_owned(),
        expected: "private key (PKCS#8)",
    })
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A key pair written by [`generate`].
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// `<name>.key.pem`, readable by its owner only.
    pub private_key_file: PathBuf,
    /// `<name>.pub.pem`, to copy into every service's staff key directory.
    pub public_key_file: PathBuf,
    /// The id tokens signed with it carry.
    pub key_id: String,
}

/// Makes a new key pair in `dir` as `<name>.key.pem` (mode 0600) and `<name>.pub.pem`.
/// Refuses to overwrite either file.
pub fn generate(dir: &Path, name: &str) -> Result<GeneratedKey, KeyError> {
    let valid_name = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        return Err(KeyError::Name(name.to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private_key_file = dir.join(format!("{name}{PRIVATE_KEY_SUFFIX}"));
    let public_key_file = dir.join(format!("{name}{PUBLIC_KEY_SUFFIX}"));

    let private_pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::Format {
            path: private_key_file.clone(),
            expected: "private key (PKCS#8)",
        })?;
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::Format {
            path: public_key_file.clone(),
            expected: "public key (SPKI)",
        })?;
    write_new(&private_key_file, private_pem.as_bytes(), 0o600)?;
    write_new(&public_key_file, public_pem.as_bytes(), 0o644)?;
    Ok(GeneratedKey {
        private_key_file,
        public_key_file,
        key_id: key_id(&signing.verifying_key()),
    })
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let write_error = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write_error)?;
    file.write_all(contents).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("staff-keys-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn generated_keys_load_by_their_id() {
        let dir = temp_dir();
        let generated = generate(&dir, "county-1").unwrap();
        let keys = StaffKeys::load_dir(&dir).unwrap();
        assert_eq!(
            keys.ids().collect::<Vec<_>>(),
            vec![generated.key_id.as_str()]
        );
        let signing = read_signing_key(&generated.private_key_file).unwrap();
        assert_eq!(key_id(&signing.verifying_key()), generated.key_id);

        let mode = std::fs::metadata(&generated.private_key_file)
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert!(generate(&dir, "county-1").is_err(), "never overwrites");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_holds_no_keys_and_a_bad_file_is_named() {
        let dir = temp_dir();
        assert!(StaffKeys::load_dir(&dir).unwrap().is_empty());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("broken.pub.pem"), "not a key").unwrap();
        let error = StaffKeys::load_dir(&dir).unwrap_err().to_string();
        assert!(error.contains("broken.pub.pem"), "{error}");
        assert!(generate(&dir, "bad name").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
