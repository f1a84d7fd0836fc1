//! A `nats-server` started from a configuration file, such as the accounts an operator ships
//! in `deploy/nats/`, on free loopback ports with a throwaway JetStream store.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::net::{Poll, free_ports};
use crate::process;

/// How long a fresh server may take to report JetStream healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server may take to shut down after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A `nats-server` child process running a configuration file, listening on 127.0.0.1 only.
///
/// The process is killed when this value is dropped.
pub struct ConfiguredNatsServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl ConfiguredNatsServer {
    /// Starts `binary` with a generated `<dir>/server.conf` that listens on free loopback
    /// ports, keeps JetStream data in `<dir>/jetstream` and then includes `config`, unchanged.
    /// `env` is the server's environment on top of the inherited one: the variables the
    /// configuration reads its passwords from. Waits until JetStream reports healthy.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        config: &Path,
        env: &[(String, String)],
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create nats folder {}", dir.display()))?;
        let [port, monitor_port] = free_ports(2)[..] else {
            bail!("no free ports for nats-server");
        };
        let wrapper = dir.join("server.conf");
        std::fs::write(&wrapper, wrapper_config(dir, config, port, monitor_port)?)
            .with_context(|| format!("write {}", wrapper.display()))?;

        let log_file = dir.join("nats.log");
        let log = process::open_log(&log_file)?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&wrapper)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let mut server = Self {
            dir: dir.to_path_buf(),
            port,
            child: Some(child),
        };
        server.wait_ready(monitor_port).await?;
        Ok(server)
    }

    /// The client URL, `nats://127.0.0.1:PORT`, without credentials.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("nats.log")
    }

    /// Stops the server with SIGTERM, killing it if it has not exited after 10 s.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(error) = process::terminate(&mut child, STOP_GRACE).await
        {
            tracing::warn!(%error, "could not stop nats-server");
        }
    }

    async fn wait_ready(&mut self, monitor_port: u16) -> Result<()> {
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
            if jetstream_healthy(monitor_port).await {
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
}

/// The generated configuration: listen addresses and store, then `config` included. The
/// server resolves an include relative to the including file, so the path is made relative.
fn wrapper_config(dir: &Path, config: &Path, port: u16, monitor_port: u16) -> Result<String> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolve {}", dir.display()))?;
    let config = config
        .canonicalize()
        .with_context(|| format!("resolve nats configuration {}", config.display()))?;
    let include = relative_to(&dir, &config);
    let store = dir.join("jetstream");
    Ok(format!(
        "host: 127.0.0.1\nport: {port}\nhttp: \"127.0.0.1:{monitor_port}\"\n\
         jetstream {{ store_dir: {store:?} }}\ninclude {include:?}\n"
    ))
}

/// `target` as a path relative to the folder `from`; both absolute.
fn relative_to(from: &Path, target: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let target: Vec<Component> = target.components().collect();
    let shared = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in shared..from.len() {
        relative.push("..");
    }
    for component in &target[shared..] {
        relative.push(component.as_os_str());
    }
    relative.display().to_string()
}

/// Asks the monitoring endpoint whether JetStream is up, with a bare HTTP/1.0 request.
async fn jetstream_healthy(monitor_port: u16) -> bool {
    let request = async {
        let mut stream = TcpStream::connect(("127.0.0.1", monitor_port)).await?;
        stream
            .write_all(b"GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    match tokio::time::timeout(Duration::from_secs(2), request).await {
        Ok(Ok(response)) => {
            response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_relative_to_the_generated_file() {
        let relative = relative_to(Path::new("/tmp/run/nats"), Path::new("/work/deploy/a.conf"));
        assert_eq!(relative, "../../../work/deploy/a.conf");
        let sibling = relative_to(Path::new("/work/run"), Path::new("/work/deploy/a.conf"));
        assert_eq!(sibling, "../deploy/a.conf");
    }
}
