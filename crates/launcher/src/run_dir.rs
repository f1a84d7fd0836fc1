//! A folder per demo or test run for logs and data, removed afterwards unless kept.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::paths::project_root;

/// Names a folder to create run folders in instead of `<project root>/target/runs`.
const RUN_DIR_ENV: &str = "RESIDENCE_RUN_DIR";

/// Set to `1` to keep every run folder, for looking at logs afterwards.
const KEEP_RUNS_ENV: &str = "RESIDENCE_KEEP_RUNS";

/// A uniquely named folder for one run's logs and data, deleted on drop unless kept.
///
/// Created under `$RESIDENCE_RUN_DIR` if set, else under `<project root>/target/runs`, else
/// (outside a checkout) under the system temporary folder.
pub struct RunDir {
    path: PathBuf,
    keep: bool,
}

impl RunDir {
    /// Creates `<base>/<prefix>-<local time>-<random>`.
    pub fn new(prefix: &str) -> Result<RunDir> {
        let base = base_dir();
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let path = base.join(format!("{prefix}-{stamp}-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("create run folder {}", path.display()))?;

        let keep = std::env::var(KEEP_RUNS_ENV).is_ok_and(|value| value == "1");
        Ok(RunDir { path, keep })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the folder in place when this value is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Whether the folder will be left in place on drop.
    pub fn is_kept(&self) -> bool {
        self.keep
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep {
            tracing::info!(path = %self.path.display(), "keeping run folder");
            return;
        }
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove run folder");
        }
    }
}

fn base_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(RUN_DIR_ENV) {
        return PathBuf::from(dir);
    }
    match project_root() {
        Ok(root) => root.join("target").join("runs"),
        Err(_) => std::env::temp_dir().join("residence-runs"),
    }
}
