//! Signing keys and the published public keys.
//!
//! Licenses are signed with SM2 over SM3 (GB/T 32918, GB/T 35276): the digest is SM3 of
//! `Z || message`, where `Z` binds the signer's public key and the distinguishing identifier
//! [`DISTINGUISHING_ID`], the default of GB/T 35276. A signature is `r || s`, 32 bytes each.
//!
//! Private keys live in a directory, one PKCS#8 PEM file per key, named `<key id>.pem`. One key
//! is active and signs; the others stay to be published, so that licenses they signed keep
//! verifying after a rotation. Every signature names its key id. The public keys are handed
//! out as a JSON key document ([`KeyDocument`], schema `elicense.v1.signing_keys`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use residence_events::partner::LicenseSignature;
use serde::{Deserialize, Serialize};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sm2::{PublicKey, SecretKey};

/// The signature algorithm named in every signature and in the key document.
pub const ALGORITHM: &str = "SM2-SM3";

/// The SM2 distinguishing identifier (user ID) every key signs with: the default of GB/T 35276.
pub const DISTINGUISHING_ID: &str = "1234567812345678";

/// Schema name and version of the public key document.
pub const KEY_DOCUMENT_SCHEMA: &str = "elicense.v1.signing_keys";

/// Longest key id.
const MAX_KEY_ID_LENGTH: usize = 32;

/// Bytes in a signature: `r || s`.
const SIGNATURE_LENGTH: usize = 64;

/// What is wrong with a key, a key file or a key document. Never quotes key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key id must be 1 to {MAX_KEY_ID_LENGTH} ascii letters, digits, `-` or `_`, got {0:?}")]
    KeyId(String),
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
    #[error("{0} is not a PKCS#8 PEM SM2 private key")]
    PrivateKey(PathBuf),
    #[error("{0} holds a private key: give the public key document instead")]
    NotPublic(PathBuf),
    #[error("{0}: not an SM2 public key in SPKI PEM")]
    PublicKey(String),
    #[error("key document: {0}")]
    Document(String),
    #[error("no signing key {0} in the key directory")]
    MissingActive(String),
}

/// A key id: 1 to 32 ASCII letters, digits, `-` or `_`, so it fits a file name, a QR payload
/// and a header.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Checks `text` as a key id.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let well_formed = (1..=MAX_KEY_ID_LENGTH).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(Self(text.to_owned()))
        } else {
            Err(KeyError::KeyId(text.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a signature does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("the signature algorithm must be {ALGORITHM}, got {0:?}")]
    Algorithm(String),
    #[error("the signature must cover the canonical form {expected}, got {got:?}")]
    Form { expected: String, got: String },
    #[error("the signing key {0:?} is not among the published keys")]
    UnknownKey(String),
    #[error("the signature value is not {SIGNATURE_LENGTH} bytes of base64")]
    Encoding,
    #[error("the signature does not match the content: it was changed or signed by another key")]
    Mismatch,
    #[error("the license is not signed")]
    Unsigned,
}

/// The private keys of this issuer, one of them active. Debug output shows key ids only.
#[derive(Clone)]
pub struct SigningKeys {
    active: KeyId,
    keys: BTreeMap<KeyId, SigningKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The keys read from a key directory, and the key file made because the active one was
/// missing.
#[derive(Debug)]
pub struct Loaded {
    pub keys: SigningKeys,
    pub created: Option<PathBuf>,
}

impl SigningKeys {
    /// Reads every `<key id>.pem` in `dir`. When `active` has no file and `create_missing` is
    /// set, makes a fresh key for it first (the directory too, readable by the owner only).
    pub fn load(dir: &Path, active: &KeyId, create_missing: bool) -> Result<Loaded, KeyError> {
        let active_file = key_file(dir, active);
        let mut created = None;
        if create_missing && !active_file.exists() {
            create_key_file(dir, active)?;
            created = Some(active_file);
        }

        let mut keys = BTreeMap::new();
        for (key_id, path) in pem_files(dir)? {
            let text = fs::read_to_string(&path).map_err(|source| KeyError::Read {
                path: path.clone(),
                source,
            })?;
            let secret =
                SecretKey::from_pkcs8_pem(&text).map_err(|_| KeyError::PrivateKey(path.clone()))?;
            keys.insert(key_id, signing_key(&secret));
        }
        if !keys.contains_key(active) {
            return Err(KeyError::MissingActive(active.to_string()));
        }
        let keys = Self {
            active: active.clone(),
            keys,
        };
        Ok(Loaded { keys, created })
    }

    /// Fresh keys held in memory only, `active` among them: for tests and examples.
    pub fn generate(active: &KeyId, others: &[KeyId]) -> Self {
        let keys = others
            .iter()
            .chain(std::iter::once(active))
            .map(|key_id| (key_id.clone(), signing_key(&SecretKey::generate())))
            .collect();
        Self {
            active: active.clone(),
            keys,
        }
    }

    /// The key that signs.
    pub fn active(&self) -> &KeyId {
        &self.active
    }

    /// Signs `bytes`, the canonical form `form`, with the active key.
    pub fn sign(&self, form: &str, bytes: &[u8]) -> LicenseSignature {
        LicenseSignature {
            algorithm: ALGORITHM.to_owned(),
            form: form.to_owned(),
            key_id: self.active.to_string(),
            value: STANDARD.encode(self.sign_raw(bytes)),
        }
    }

    /// The raw `r || s` signature of `bytes` by the active key.
    pub fn sign_raw(&self, bytes: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        let signature: Signature = self.keys[&self.active].sign(bytes);
        let mut raw = [0; SIGNATURE_LENGTH];
        raw.copy_from_slice(signature.to_bytes().as_slice());
        raw
    }

    /// Every key's public half, the active one marked.
    pub fn public_keys(&self) -> PublicKeys {
        let keys = self
            .keys
            .iter()
            .map(|(key_id, key)| (key_id.clone(), key.verifying_key().clone()))
            .collect();
        PublicKeys {
            active: Some(self.active.clone()),
            keys,
        }
    }
}

fn signing_key(secret: &SecretKey) -> SigningKey {
    SigningKey::new(DISTINGUISHING_ID, secret)
        .expect("a parsed secret key is a non-zero scalar and the identifier is short")
}

/// `<dir>/<key id>.pem`.
pub fn key_file(dir: &Path, key_id: &KeyId) -> PathBuf {
    dir.join(format!("{key_id}.pem"))
}

/// Writes a fresh key as `<dir>/<key id>.pem`, never over an existing file. On Unix the file
/// is readable by its owner only, as is a directory made for it.
pub fn create_key_file(dir: &Path, key_id: &KeyId) -> Result<PathBuf, KeyError> {
    let path = key_file(dir, key_id);
    let write_error = |source| KeyError::Write {
        path: path.clone(),
        source,
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(write_error)?;
    }
    let pem = SecretKey::generate()
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|error| write_error(std::io::Error::other(error.to_string())))?;

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(write_error)?;
    file.write_all(pem.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(path)
}

/// The `.pem` files of `dir` with the key id each one's name gives.
fn pem_files(dir: &Path) -> Result<Vec<(KeyId, PathBuf)>, KeyError> {
    let read_error = |source| KeyError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pem") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        files.push((KeyId::parse(stem)?, path));
    }
    files.sort();
    Ok(files)
}

/// Public keys a verifier trusts, by key id.
#[derive(Clone, Debug, Default)]
pub struct PublicKeys {
    active: Option<KeyId>,
    keys: BTreeMap<KeyId, VerifyingKey>,
}

impl PublicKeys {
    /// Reads public keys from `path`: a key document (JSON), an SPKI PEM public key named
    /// `<key id>.pem`, or a directory of either.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let mut keys = Self::default();
        if path.is_dir() {
            let entries = fs::read_dir(path).map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|file| matches!(extension(file), Some("json" | "pem")))
                .collect();
            files.sort();
            for file in files {
                keys.extend(Self::read_file(&file)?);
            }
        } else {
            keys = Self::read_file(path)?;
        }
        Ok(keys)
    }

    fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim_start().starts_with('{') {
            let document: KeyDocument = serde_json::from_str(&text)
                .map_err(|error| KeyError::Document(format!("{}: {error}", path.display())))?;
            return Self::from_document(&document);
        }
        if text.contains("PRIVATE KEY-----") {
            return Err(KeyError::NotPublic(path.to_owned()));
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let key_id = KeyId::parse(stem.trim_end_matches(".pub"))?;
        let public = PublicKey::from_public_key_pem(&text)
            .map_err(|_| KeyError::PublicKey(path.display().to_string()))?;
        let mut keys = Self::default();
        keys.insert(key_id, verifying_key(DISTINGUISHING_ID, public)?);
        Ok(keys)
    }

    /// The keys of a key document.
    pub fn from_document(document: &KeyDocument) -> Result<Self, KeyError> {
        let problem = |text: String| Err(KeyError::Document(text));
        if document.schema != KEY_DOCUMENT_SCHEMA {
            return problem(format!("schema must be {KEY_DOCUMENT_SCHEMA}"));
        }
        if document.algorithm != ALGORITHM {
            return problem(format!("algorithm must be {ALGORITHM}"));
        }
        let mut keys = Self {
            active: None,
            keys: BTreeMap::new(),
        };
        for published in &document.keys {
            let key_id = KeyId::parse(&published.kid)?;
            let key = published.verifying_key(&document.distinguishing_id)?;
            keys.insert(key_id, key);
        }
        if let Some(active) = &document.active_key_id {
            keys.active = Some(KeyId::parse(active)?);
        }
        Ok(keys)
    }

    /// Adds `key` under `key_id`, replacing a key of that id.
    pub fn insert(&mut self, key_id: KeyId, key: VerifyingKey) {
        self.keys.insert(key_id, key);
    }

    /// Adds every key of `other`; its active key becomes this one's if it has one.
    pub fn extend(&mut self, other: Self) {
        self.keys.extend(other.keys);
        if other.active.is_some() {
            self.active = other.active;
        }
    }

    /// The key ids, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// The key that signs new licenses, when known.
    pub fn active(&self) -> Option<&KeyId> {
        self.active.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `signature` over `bytes`, which must be the canonical form `form`.
    pub fn verify(
        &self,
        form: &str,
        bytes: &[u8],
        signature: &LicenseSignature,
    ) -> Result<(), SignatureProblem> {
        if signature.algorithm != ALGORITHM {
            return Err(SignatureProblem::Algorithm(short(&signature.algorithm)));
        }
        if signature.form != form {
            return Err(SignatureProblem::Form {
                expected: form.to_owned(),
                got: short(&signature.form),
            });
        }
        let raw = STANDARD
            .decode(&signature.value)
            .map_err(|_| SignatureProblem::Encoding)?;
        self.verify_raw(&signature.key_id, bytes, &raw)
    }

    /// Checks a raw `r || s` signature by `key_id` over `bytes`.
    pub fn verify_raw(
        &self,
        key_id: &str,
        bytes: &[u8],
        raw: &[u8],
    ) -> Result<(), SignatureProblem> {
        let key = KeyId::parse(key_id)
            .ok()
            .and_then(|key_id| self.keys.get(&key_id))
            .ok_or_else(|| SignatureProblem::UnknownKey(short(key_id)))?;
        if raw.len() != SIGNATURE_LENGTH {
            return Err(SignatureProblem::Encoding);
        }
        let signature = Signature::from_slice(raw).map_err(|_| SignatureProblem::Mismatch)?;
        key.verify(bytes, &signature)
            .map_err(|_| SignatureProblem::Mismatch)
    }

    /// The key document to hand out to platforms and verifiers.
    pub fn document(&self) -> KeyDocument {
        let keys = self
            .keys
            .iter()
            .map(|(key_id, key)| PublishedKey::of(key_id, key))
            .collect();
        KeyDocument {
            schema: KEY_DOCUMENT_SCHEMA.to_owned(),
            algorithm: ALGORITHM.to_owned(),
            distinguishing_id: DISTINGUISHING_ID.to_owned(),
            active_key_id: self.active.as_ref().map(KeyId::to_string),
            keys,
        }
    }
}

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

fn verifying_key(distinguishing_id: &str, public: PublicKey) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::new(distinguishing_id, public)
        .map_err(|_| KeyError::Document("distinguishing id is too long".into()))
}

/// At most 40 characters of untrusted text, for error messages.
fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The public key document (`elicense.v1.signing_keys`): every key a verifier needs, shaped
/// like a JSON Web Key Set, with each key also in SPKI PEM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDocument {
    pub schema: String,
    /// `SM2-SM3`.
    pub algorithm: String,
    /// The SM2 distinguishing identifier the keys sign with.
    pub distinguishing_id: String,
    /// The key that signs new licenses; older keys stay listed for older licenses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_key_id: Option<String>,
    pub keys: Vec<PublishedKey>,
}

/// One public key, as a JWK (`kty` `EC`, `crv` `SM2`) with its SPKI PEM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    /// The key id signatures name.
    pub kid: String,
    pub kty: String,
    pub crv: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub usage: String,
    /// The point's x coordinate, 32 bytes, base64url without padding.
    pub x: String,
    /// The point's y coordinate, 32 bytes, base64url without padding.
    pub y: String,
    /// The same key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

impl PublishedKey {
    fn of(key_id: &KeyId, key: &VerifyingKey) -> Self {
        let point = key.to_sec1_bytes();
        let (x, y) = coordinates(&point);
        let pem = PublicKey::from(key)
            .to_public_key_pem(LineEnding::LF)
            .expect("an SM2 public key encodes as SPKI");
        Self {
            kid: key_id.to_string(),
            kty: "EC".to_owned(),
            crv: "SM2".to_owned(),
            alg: ALGORITHM.to_owned(),
            usage: "sig".to_owned(),
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
            public_key_pem: pem,
        }
    }

    fn verifying_key(&self, distinguishing_id: &str) -> Result<VerifyingKey, KeyError> {
        let bad = |what: &str| KeyError::Document(format!("key {:?}: {what}", short(&self.kid)));
        if self.kty != "EC" || self.crv != "SM2" {
            return Err(bad("kty must be EC and crv SM2"));
        }
        let coordinate = |text: &str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .filter(|bytes| bytes.len() == 32)
                .ok_or_else(|| bad("x and y must be 32 bytes of base64url"))
        };
        let mut point = vec![0x04];
        point.extend(coordinate(&self.x)?);
        point.extend(coordinate(&self.y)?);
        let public = PublicKey::from_sec1_bytes(&point).map_err(|_| bad("not a curve point"))?;
        if !self.public_key_pem.trim().is_empty() {
            let from_pem = PublicKey::from_public_key_pem(&self.public_key_pem)
                .map_err(|_| bad("public_key_pem is not an SM2 SPKI PEM"))?;
            if from_pem != public {
                return Err(bad("public_key_pem and x, y are different keys"));
            }
        }
        verifying_key(distinguishing_id, public)
    }
}

/// x and y of an uncompressed SEC1 point (`04 || x || y`).
fn coordinates(point: &[u8]) -> (&[u8], &[u8]) {
    assert_eq!(point.len(), 65, "SM2 points are encoded uncompressed");
    point[1..].split_at(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_id(text: &str) -> KeyId {
        KeyId::parse(text).unwrap()
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("license-keys-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn key_ids_fit_file_names_and_payloads() {
        assert!(KeyId::parse("key-1").is_ok());
        assert!(KeyId::parse("2027_A").is_ok());
        for bad in ["", "a.b", "a/b", "钥匙", &"k".repeat(33)] {
            assert!(KeyId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_only() {
        let keys = SigningKeys::generate(&key_id("k1"), &[]);
        let signature = keys.sign("form/1", b"content");
        assert_eq!(signature.algorithm, "SM2-SM3");
        assert_eq!(signature.key_id, "k1");
        let public = keys.public_keys();
        assert_eq!(public.verify("form/1", b"content", &signature), Ok(()));
        assert_eq!(
            public.verify("form/1", b"Content", &signature),
            Err(SignatureProblem::Mismatch)
        );
        assert!(matches!(
            public.verify("form/2", b"content", &signature),
            Err(SignatureProblem::Form { .. })
        ));
    }

    #[test]
    fn another_key_or_a_damaged_value_does_not_verify() {
        let keys = SigningKeys::generate(&key_id("k1"), &[]);
        let impostor = SigningKeys::generate(&key_id("k1"), &[]);
        let forged = impostor.sign("f", b"content");
        assert_eq!(
            keys.public_keys().verify("f", b"content", &forged),
            Err(SignatureProblem::Mismatch)
        );

        let mut signature = keys.sign("f", b"content");
        signature.value.replace_range(0..1, "A");
        signature.value.replace_range(1..2, "B");
        assert!(
            keys.public_keys()
                .verify("f", b"content", &signature)
                .is_err()
        );
        signature.value = "not base64!".to_owned();
        assert_eq!(
            keys.public_keys().verify("f", b"content", &signature),
            Err(SignatureProblem::Encoding)
        );
        let mut signature = keys.sign("f", b"content");
        signature.key_id = "k9".to_owned();
        assert!(matches!(
            keys.public_keys().verify("f", b"content", &signature),
            Err(SignatureProblem::UnknownKey(_))
        ));
    }

    #[test]
    fn the_key_document_round_trips_and_keeps_every_key() {
        let keys = SigningKeys::generate(&key_id("k2"), &[key_id("k1")]);
        let document = keys.public_keys().document();
        assert_eq!(document.active_key_id.as_deref(), Some("k2"));
        assert_eq!(document.distinguishing_id, "1234567812345678");
        assert_eq!(document.keys.len(), 2);
        assert!(
            document.keys[0]
                .public_key_pem
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );

        let json = serde_json::to_string(&document).unwrap();
        assert!(!json.contains("PRIVATE"));
        let read = PublicKeys::from_document(&serde_json::from_str(&json).unwrap()).unwrap();
        let signature = keys.sign("f", b"x");
        assert_eq!(read.verify("f", b"x", &signature), Ok(()));
        assert_eq!(read.active(), Some(&key_id("k2")));
    }

    #[test]
    fn a_document_whose_pem_and_point_disagree_is_refused() {
        let one = SigningKeys::generate(&key_id("k1"), &[])
            .public_keys()
            .document();
        let two = SigningKeys::generate(&key_id("k1"), &[])
            .public_keys()
            .document();
        let mut mixed = one.clone();
        mixed.keys[0].public_key_pem = two.keys[0].public_key_pem.clone();
        assert!(PublicKeys::from_document(&mixed).is_err());
        let mut other_schema = one;
        other_schema.schema = "elicense.v2.signing_keys".to_owned();
        assert!(PublicKeys::from_document(&other_schema).is_err());
    }

    #[test]
    fn a_missing_active_key_is_created_once_and_rotation_keeps_old_keys() {
        let dir = temp_dir();
        let first = SigningKeys::load(&dir, &key_id("2026"), true).unwrap();
        assert_eq!(first.created, Some(dir.join("2026.pem")));
        let old_signature = first.keys.sign("f", b"license of 2026");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("2026.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file must be private, mode {mode:o}");
        }

        let again = SigningKeys::load(&dir, &key_id("2026"), true).unwrap();
        assert_eq!(again.created, None);
        assert_eq!(again.keys.sign("f", b"x"), first.keys.sign("f", b"x"));

        let rotated = SigningKeys::load(&dir, &key_id("2027"), true).unwrap();
        assert_eq!(rotated.keys.active(), &key_id("2027"));
        let public = rotated.keys.public_keys();
        assert_eq!(
            public.verify("f", b"license of 2026", &old_signature),
            Ok(())
        );
        let new_signature = rotated.keys.sign("f", b"license of 2027");
        assert_eq!(new_signature.key_id, "2027");
        assert_eq!(
            public.verify("f", b"license of 2027", &new_signature),
            Ok(())
        );

        let missing = SigningKeys::load(&dir, &key_id("2028"), false).unwrap_err();
        assert!(matches!(missing, KeyError::MissingActive(_)), "{missing}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn verifiers_read_documents_pem_files_and_directories_but_no_private_keys() {
        let dir = temp_dir();
        let keys = SigningKeys::load(&dir, &key_id("k1"), true).unwrap().keys;
        let public_dir = dir.join("public");
        fs::create_dir_all(&public_dir).unwrap();
        let document = keys.public_keys().document();
        fs::write(public_dir.join("k1.pem"), &document.keys[0].public_key_pem).unwrap();
        let json = serde_json::to_string_pretty(&document).unwrap();
        fs::write(dir.join("keys.json"), json).unwrap();

        let signature = keys.sign("f", b"x");
        for source in [
            public_dir.clone(),
            public_dir.join("k1.pem"),
            dir.join("keys.json"),
        ] {
            let read = PublicKeys::read(&source).unwrap();
            assert_eq!(read.verify("f", b"x", &signature), Ok(()), "{source:?}");
        }
        let private = PublicKeys::read(&dir.join("k1.pem")).unwrap_err();
        assert!(matches!(private, KeyError::NotPublic(_)), "{private}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let keys = SigningKeys::generate(&key_id("k1"), &[]);
        let debug = format!("{keys:?}");
        assert_eq!(
            debug,
            r#"SigningKeys { active: KeyId("k1"), key_ids: [KeyId("k1")] }"#
        );
    }
}
