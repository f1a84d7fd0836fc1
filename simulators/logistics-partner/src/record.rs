//! The record file: one JSON line per waybill request received, for the demo and the tests to
//! check what the partner saw.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

/// One line of the record file.
#[derive(Debug, Serialize)]
pub(crate) struct Received<'a> {
    pub(crate) parcel_reference: &'a str,
    pub(crate) received_at: DateTime<Utc>,
    /// The broker had delivered this request before (its delivery count is above one).
    pub(crate) redelivered: bool,
}

/// Appends to the record file, or does nothing when none was asked for.
#[derive(Debug)]
pub(crate) struct Recorder {
    path: Option<PathBuf>,
}

impl Recorder {
    /// Creates the file and its folders if needed, so a bad path fails at start-up.
    pub(crate) async fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
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
    pub(crate) async fn append(&self, entry: &Received<'_>) -> anyhow::Result<()> {
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
