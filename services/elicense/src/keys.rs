//! The signing keys at start-up: read from the key directory (the active one made on first
//! start when missing), and the public key document written for operators to hand out.

use std::path::{Path, PathBuf};

use anyhow::Context;
use residence_license::keys::Loaded;
use residence_license::{KeyId, SigningKeys};

/// Where the keys are and which one signs.
#[derive(Clone, Debug)]
pub struct KeySettings {
    /// One PKCS#8 PEM file per key, `<key id>.pem`.
    pub dir: PathBuf,
    /// The key that signs new licenses.
    pub active: KeyId,
    /// Where the public key document is written at every start.
    pub document_file: PathBuf,
}

/// Reads the signing keys and writes the public key document. Never logs key material.
pub fn load(settings: &KeySettings) -> anyhow::Result<SigningKeys> {
    let Loaded { keys, created } = SigningKeys::load(&settings.dir, &settings.active, true)
        .context("--signing-key-dir (RESIDENCE_ELICENSE_SIGNING_KEY_DIR) is not usable")?;
    if let Some(path) = created {
        tracing::warn!(
            key.id = %settings.active,
            path = %path.display(),
            "signing key was missing and a new one was made; hand the new public key document \
             to the e-license platforms, and back the key up"
        );
    }
    write_document(&keys, &settings.document_file)?;
    let key_ids: Vec<String> = keys.public_keys().key_ids().map(KeyId::to_string).collect();
    tracing::info!(
        key.id = %keys.active(),
        keys = %key_ids.join(","),
        document = %settings.document_file.display(),
        "signing keys loaded; public key document written"
    );
    Ok(keys)
}

/// Writes the public key document through a temporary file, so a reader never sees half of it.
fn write_document(keys: &SigningKeys, path: &Path) -> anyhow::Result<()> {
    let document = serde_json::to_string_pretty(&keys.public_keys().document())?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, document + "\n")
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write the public key document {}", path.display()))
}
