//! The record file: one JSON line per message received, for the demo and the tests to check
//! what the partner saw.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// Appends to the record file, or does nothing when none was asked for.
#[derive(Debug)]
pub struct Recorder {
    path: Option<PathBuf>,
}

impl Recorder {
    /// Creates the file and its folders if needed, so a bad path fails at start-up.
    pub async fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
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
        }
        Ok(Self { path })
    }

    /// Appends `entry` as one line, written in a single call so lines never interleave.
    pub async fn append(&self, entry: &impl Serialize) -> anyhow::Result<()> {
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
