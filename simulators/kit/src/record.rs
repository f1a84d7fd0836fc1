//! The record file: one JSON line per thing the partner took on (a parcel, a license), for the
//! demo and the tests to check what the partner saw.
//!
//! Messages may arrive more than once (redelivery, or a publisher sending again after the broker
//! lost its store), so the record is keyed, as the partner guides tell real partners to key
//! their own records: a key already on file is not recorded again.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// Appends to the record file, or does nothing when none was asked for.
#[derive(Debug)]
pub struct Recorder {
    path: Option<PathBuf>,
    /// Keys already on file, read back at start so a restarted partner remembers them.
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Recorder {
    /// Creates the file and its folders if needed, so a bad path fails at start-up, and reads
    /// back the `key` field of the lines already there.
    pub async fn open(path: Option<PathBuf>, key: &str) -> anyhow::Result<Self> {
        let mut seen = std::collections::HashSet::new();
        if let Some(path) = &path {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                tokio::fs::create_dir_all(parent)
                    .await
                    .with_context(|| format!("create folder {}", parent.display()))?;
            }
            open_for_append(path).await?;
            let text = tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("read record file {}", path.display()))?;
            for line in text.lines() {
                let value: Option<serde_json::Value> = serde_json::from_str(line).ok();
                if let Some(found) = value.as_ref().and_then(|value| value[key].as_str()) {
                    seen.insert(found.to_owned());
                }
            }
        }
        Ok(Self {
            path,
            seen: std::sync::Mutex::new(seen),
        })
    }

    /// Appends `entry` unless `key` is on file already; returns whether it was new.
    pub async fn append_new(&self, key: &str, entry: &impl Serialize) -> anyhow::Result<bool> {
        let fresh = {
            let seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            !seen.contains(key)
        };
        if !fresh {
            return Ok(false);
        }
        self.append(entry).await?;
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned());
        Ok(true)
    }

    /// Appends `entry` as one line, written in a single call so lines never interleave.
    async fn append(&self, entry: &impl Serialize) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(entry).context("encode record line")?;
        line.push(b'\n');

        let mut file = open_for_append(path).await?;
        file.write_all(&line)
            .await
            .with_context(|| format!("append to {}", path.display()))?;
        file.flush()
            .await
            .with_context(|| format!("flush {}", path.display()))
    }
}

async fn open_for_append(path: &Path) -> anyhow::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .with_context(|| format!("open record file {}", path.display()))
}
