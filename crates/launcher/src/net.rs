//! Loopback ports and waiting for servers to accept connections.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// How long one connection attempt may take before it counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Returns a TCP port on 127.0.0.1 that nothing listens on and that this machine will not hand
/// out on its own.
///
/// Asking the kernel for port 0 and releasing it is not enough: the kernel picks such ports
/// from its ephemeral range, the same range it draws the source ports of outgoing connections
/// from, so a service's connection to NATS or PostgreSQL can take the port before the server it
/// was meant for binds it. Ports here come from outside that range instead, are never handed out
/// twice by one process, and are claimed with a lock file for as long as this process lives, so
/// that parallel test binaries and launchers on one machine do not pick the same one.
pub fn free_port() -> Result<u16> {
    PORTS.take(1).map(|ports| ports[0])
}

/// Returns `count` distinct ports, each as [`free_port`] describes.
///
/// # Panics
///
/// Panics if no port can be found, which leaves nothing to test against.
pub fn free_ports(count: usize) -> Vec<u16> {
    PORTS
        .take(count)
        .expect("find unused TCP ports on 127.0.0.1")
}

static PORTS: PortPool = PortPool::new();

/// The ports this process has handed out, with the lock files that claim them.
struct PortPool {
    claimed: Mutex<Claimed>,
}

struct Claimed {
    ports: BTreeSet<u16>,
    // Open for the life of the process: the lock goes when the process does, crash or not.
    locks: Vec<File>,
}

impl PortPool {
    /// Candidates tried per port wanted before giving up.
    const ATTEMPTS_PER_PORT: usize = 200;

    const fn new() -> Self {
        Self {
            claimed: Mutex::new(Claimed {
                ports: BTreeSet::new(),
                locks: Vec::new(),
            }),
        }
    }

    fn take(&self, count: usize) -> Result<Vec<u16>> {
        let range = unassigned_range();
        let lock_dir = std::env::temp_dir().join("residence-ports");
        std::fs::create_dir_all(&lock_dir)
            .with_context(|| format!("create port lock folder {}", lock_dir.display()))?;
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ports = Vec::with_capacity(count);
        let mut attempts = 0;
        while ports.len() < count {
            attempts += 1;
            if attempts > count * Self::ATTEMPTS_PER_PORT {
                bail!(
                    "found only {} of {count} unused ports in {}..={} on 127.0.0.1",
                    ports.len(),
                    range.start(),
                    range.end()
                );
            }
            let port = rand::thread_rng().gen_range(range.clone());
            if claimed.ports.contains(&port) {
                continue;
            }
            let Some(lock) = lock_port(&lock_dir, port) else {
                continue;
            };
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                continue;
            }
            claimed.ports.insert(port);
            claimed.locks.push(lock);
            ports.push(port);
        }
        Ok(ports)
    }
}

/// Claims `port` for this process, or `None` if another process holds it.
fn lock_port(dir: &Path, port: u16) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{port}.lock")))
        .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// Ports the kernel does not use for outgoing connections: those below its ephemeral range if
/// there is room there, else those above it.
fn unassigned_range() -> RangeInclusive<u16> {
    const LOWEST: u16 = 10_000;
    const ENOUGH: u16 = 5_000;
    let (first, last) = ephemeral_range().unwrap_or((32_768, 60_999));
    if first.saturating_sub(LOWEST) >= ENOUGH {
        LOWEST..=first - 1
    } else if u16::MAX - last >= ENOUGH {
        last + 1..=u16::MAX
    } else {
        // The whole space is ephemeral: collisions stay possible, and the lock files at least
        // keep this project's own launchers apart.
        LOWEST..=u16::MAX
    }
}

/// The kernel's ephemeral port range, on Linux.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text
        .split_whitespace()
        .map(|bound| bound.parse::<u16>().ok());
    Some((bounds.next()??, bounds.next()??))
}

/// Polls `addr` with a short back-off until it accepts a TCP connection or `deadline` passes.
pub async fn wait_for_tcp(addr: SocketAddr, deadline: Duration) -> Result<()> {
    let mut poll = Poll::new(deadline);
    loop {
        let error = match connect(addr).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if !poll.wait().await {
            bail!("{addr} did not accept connections within {deadline:?}: {error}");
        }
    }
}

/// Makes one connection attempt to `addr`, closing the connection again on success.
pub(crate) async fn connect(addr: SocketAddr) -> Result<()> {
    match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => bail!("connection attempt timed out after {CONNECT_TIMEOUT:?}"),
    }
}

/// Paces a polling loop: a doubling back-off from 10 ms up to 250 ms, until a deadline.
pub(crate) struct Poll {
    until: Instant,
    delay: Duration,
}

impl Poll {
    const FIRST_DELAY: Duration = Duration::from_millis(10);
    const MAX_DELAY: Duration = Duration::from_millis(250);

    pub(crate) fn new(deadline: Duration) -> Self {
        Self {
            until: Instant::now() + deadline,
            delay: Self::FIRST_DELAY,
        }
    }

    /// Waits before the next attempt; returns `false`, without waiting, once the deadline
    /// has passed.
    pub(crate) async fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.until {
            return false;
        }
        tokio::time::sleep_until((now + self.delay).min(self.until)).await;
        self.delay = (self.delay * 2).min(Self::MAX_DELAY);
        true
    }
}
