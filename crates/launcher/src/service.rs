//! Workspace service binaries run as child processes with their output in a log file.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use crate::net::{Poll, connect};
use crate::process;

/// How long a service may take to accept connections on its ready address.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a service may take to shut down after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// How many log lines an error about a failed start shows.
const ERROR_LOG_LINES: usize = 20;

/// Prefix of the project's own environment variables, which children never inherit.
const PROJECT_ENV_PREFIX: &str = "RESIDENCE_";

/// What to run for one service and how to tell that it is ready.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Short name used in logs and errors, such as `intake`.
    pub name: String,
    /// The executable to run.
    pub binary: PathBuf,
    /// Command-line arguments.
    pub args: Vec<String>,
    /// Environment variables set for the child, on top of the inherited ones.
    ///
    /// Inherited variables starting with `RESIDENCE_` are removed first, so only the ones
    /// listed here reach the child.
    pub env: Vec<(String, String)>,
    /// File that receives the child's stdout and stderr, appended to across respawns.
    pub log_file: PathBuf,
    /// Address that accepts TCP connections once the service is ready; `None` means ready as
    /// soon as the process runs.
    pub ready_addr: Option<SocketAddr>,
}

/// A running service child process, killed when this value is dropped.
pub struct ServiceProcess {
    spec: ServiceSpec,
    child: Child,
}

impl ServiceProcess {
    /// Starts the service and waits up to 60 s for its `ready_addr`, if it has one.
    ///
    /// Fails with the tail of the service's log if it exits before it is ready.
    pub async fn spawn(spec: ServiceSpec) -> Result<ServiceProcess> {
        let child = start(&spec).await?;
        Ok(ServiceProcess { spec, child })
    }

    /// The service's short name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The process id, or `None` once the process has been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What this service was started with.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// Asks the service to exit with SIGTERM, killing it if it has not exited after 15 s.
    pub async fn stop(&mut self) -> Result<()> {
        let status = process::terminate(&mut self.child, STOP_GRACE)
            .await
            .with_context(|| format!("stop {}", self.spec.name))?;
        tracing::debug!(service = %self.spec.name, %status, "service stopped");
        Ok(())
    }

    /// Kills the service with SIGKILL, as a crash would.
    pub async fn kill(&mut self) {
        if let Err(error) = process::kill(&mut self.child).await {
            tracing::warn!(service = %self.spec.name, %error, "could not kill service");
        }
    }

    /// Starts the service again with the same spec, stopping it first if it still runs.
    pub async fn respawn(&mut self) -> Result<()> {
        self.stop().await?;
        self.child = start(&self.spec).await?;
        Ok(())
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of the service's log file.
    pub fn log_tail(&self, lines: usize) -> String {
        process::tail(&self.spec.log_file, lines)
    }
}

async fn start(spec: &ServiceSpec) -> Result<Child> {
    let mut child = command(spec)?
        .spawn()
        .with_context(|| format!("start {} from {}", spec.name, spec.binary.display()))?;
    tracing::debug!(service = %spec.name, pid = child.id(), "service started");

    if let Some(addr) = spec.ready_addr {
        wait_ready(spec, &mut child, addr).await?;
    }
    Ok(child)
}

fn command(spec: &ServiceSpec) -> Result<Command> {
    let log = process::open_log(&spec.log_file)?;
    let mut command = Command::new(&spec.binary);
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);

    // Settings left in the environment by an earlier run must not leak into this one.
    for key in project_variables(std::env::vars_os().map(|(key, _)| key)) {
        command.env_remove(key);
    }
    // A service that gives up says why in one line, which the start-up error shows, instead
    // of a backtrace that pushes the reason out of the log's tail.
    command.env("RUST_LIB_BACKTRACE", "0");
    command.envs(spec.env.iter().map(|(key, value)| (key, value)));
    Ok(command)
}

async fn wait_ready(spec: &ServiceSpec, child: &mut Child, addr: SocketAddr) -> Result<()> {
    let mut poll = Poll::new(READY_TIMEOUT);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited with {status} before accepting connections on {addr}; {}",
                spec.name,
                log_excerpt(&spec.log_file)
            );
        }
        if connect(addr).await.is_ok() {
            return Ok(());
        }
        if !poll.wait().await {
            bail!(
                "{} did not accept connections on {addr} within {READY_TIMEOUT:?}; {}",
                spec.name,
                log_excerpt(&spec.log_file)
            );
        }
    }
}

fn project_variables(keys: impl Iterator<Item = OsString>) -> Vec<OsString> {
    keys.filter(|key| key.as_bytes().starts_with(PROJECT_ENV_PREFIX.as_bytes()))
        .collect()
}

fn log_excerpt(log_file: &Path) -> String {
    format!(
        "last lines of {}:\n{}",
        log_file.display(),
        process::tail(log_file, ERROR_LOG_LINES)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_project_variables_are_withheld() {
        let keys = [
            "PATH",
            "RESIDENCE_DATABASE_URL",
            "RUST_LOG",
            "HOME",
            "RESIDENCE_NATS_URL",
        ];
        let withheld = project_variables(keys.into_iter().map(OsString::from));
        assert_eq!(withheld, ["RESIDENCE_DATABASE_URL", "RESIDENCE_NATS_URL"]);
    }
}
