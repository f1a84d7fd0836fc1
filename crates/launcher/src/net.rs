//! Loopback ports and waiting for servers to accept connections.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// How long one connection attempt may take before it counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Asks the kernel for a currently unused TCP port on 127.0.0.1.
///
/// The port is released before returning, so another process could take it in between; the
/// launchers that use it retry with a new port when a server cannot bind.
pub fn free_port() -> Result<u16> {
    let listener = bind_loopback().context("bind an ephemeral port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Returns `count` distinct unused TCP ports on 127.0.0.1.
///
/// # Panics
///
/// Panics if the loopback interface cannot be bound, which leaves nothing to test against.
pub fn free_ports(count: usize) -> Vec<u16> {
    // Every listener stays bound until all are taken, so the kernel never hands out one twice.
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| bind_loopback().expect("bind an ephemeral port on 127.0.0.1"))
        .collect();
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .expect("bound listener has an address")
                .port()
        })
        .collect()
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

fn bind_loopback() -> std::io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
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
