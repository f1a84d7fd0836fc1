//! Stopping child processes and reading the tails of their log files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::Child;

/// How much of a log file's end is read to find its last lines.
const TAIL_BYTES: u64 = 64 * 1024;

/// Asks `child` to exit with SIGTERM and waits up to `grace` before sending SIGKILL.
pub(crate) async fn terminate(child: &mut Child, grace: Duration) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        // The child may exit between the check above and the signal; that is fine.
        let _ = signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
    }

    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => Ok(status?),
        Err(_) => {
            tracing::warn!(
                grace_ms = grace.as_millis(),
                "child ignored SIGTERM, killing it"
            );
            kill(child).await
        }
    }
}

/// Sends SIGKILL to `child` unless it has already exited, and reaps it.
pub(crate) async fn kill(child: &mut Child) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    child.kill().await.context("send SIGKILL")?;
    Ok(child.wait().await?)
}

/// Opens `path` for appending, creating it and its parent folders.
pub(crate) fn open_log(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("create log folder {}", parent.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open log file {}", path.display()))
}

/// Returns the last `lines` lines of the file at `path`, or an empty string if it cannot be
/// read.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let start = length.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }

    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
