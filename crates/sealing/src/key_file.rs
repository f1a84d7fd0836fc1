//! Secret key files: read, or made on first start, readable by the service's user only.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

/// The shortest secret accepted, in bytes of the file's text.
const MIN_SECRET_BYTES: usize = 32;

/// Reads the secret in `path` (its text, trimmed), first making it if the file does not
/// exist: 32 random bytes as 64 hex characters, mode 0600. Two processes starting at once
/// agree on one secret: the file appears whole or not at all, and the loser reads the
/// winner's.
pub fn read_or_create_key(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    if !path.exists() {
        create(path, what)?;
    }
    read_key(path, what)
}

/// Reads the secret in `path` (its text, trimmed), which must exist: for tools that read a
/// service's data and must never make a key of their own.
pub fn read_key(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    let secret = text.trim().as_bytes().to_vec();
    if secret.len() < MIN_SECRET_BYTES {
        bail!(
            "the {what} {} is too short: {MIN_SECRET_BYTES} characters at least",
            path.display()
        );
    }
    Ok(secret)
}

fn create(path: &Path, what: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("cannot create the folder of the {what} {}", path.display())
        })?;
    }
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let draft = path.with_extension(format!("new-{:08x}", rand::random::<u32>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&draft)
        .with_context(|| format!("cannot write the {what} {}", draft.display()))?;
    file.write_all(hex.as_bytes())?;
    file.sync_all()?;
    drop(file);
    // A hard link never replaces an existing file: whoever links first wins.
    let linked = std::fs::hard_link(&draft, path);
    let _ = std::fs::remove_file(&draft);
    match linked {
        Ok(()) => {
            tracing::warn!(
                file = %path.display(),
                "made a new {what}; back it up, apart from the database backups"
            );
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => {
            Err(error).with_context(|| format!("cannot write the {what} {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_made_once_and_read_after() {
        let dir = std::env::temp_dir().join(format!("sealing-key-{}", std::process::id()));
        let path = dir.join("keys").join("data.key");
        let first = read_or_create_key(&path, "data key").unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(read_or_create_key(&path, "data key").unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        let error = read_or_create_key(&path, "data key").unwrap_err();
        assert!(error.to_string().contains("too short"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn racing_starts_agree_on_one_key() {
        let dir = std::env::temp_dir().join(format!("sealing-race-{}", std::process::id()));
        let path = dir.join("data.key");
        let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| read_or_create_key(&path, "data key").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|pair| pair[0] == pair[1]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
