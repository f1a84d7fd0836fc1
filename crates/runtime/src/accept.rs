//! Accepting gRPC connections without spinning when the process runs out of descriptors.
//!
//! An accept that fails for want of file descriptors or memory fails again at once until a
//! connection closes; retried in a tight loop it burns a core and starves the calls in flight
//! of the very time they need to finish and free a descriptor. Here such an error pauses
//! accepting briefly and is logged, while an error that concerns one connection only (the
//! client gave up before it was accepted) is skipped at once.

use std::future::Future;
use std::io;
use std::time::Duration;

use futures::Stream;
use tokio::net::{TcpListener, TcpStream};

/// How long accepting pauses after an error that is not about one connection.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// How many paused accepts go by between two warnings, so that a long shortage does not flood
/// the log.
const WARN_EVERY: u64 = 100;

/// The connections `listener` accepts, with Nagle's algorithm off (a gRPC reply is a few small
/// frames that must not wait for the client's acknowledgement), for tonic's server.
pub fn incoming(listener: TcpListener) -> impl Stream<Item = io::Result<TcpStream>> + Send {
    futures::stream::unfold(listener, |listener| async move {
        let stream = accept_patiently(|| async {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
        .await;
        Some((Ok(stream), listener))
    })
}

/// Calls `accept` until it yields a connection, pausing [`ACCEPT_PAUSE`] after each error that
/// is not about a single connection.
pub async fn accept_patiently<T, F, A>(mut accept: F) -> T
where
    F: FnMut() -> A,
    A: Future<Output = io::Result<T>>,
{
    let mut paused: u64 = 0;
    loop {
        match accept().await {
            Ok(connection) => {
                if paused > 0 {
                    tracing::info!(paused, "accepting connections again");
                }
                return connection;
            }
            Err(error) if concerns_one_connection(&error) => {
                tracing::debug!(%error, "a connection went away before it was accepted");
            }
            Err(error) => {
                if paused.is_multiple_of(WARN_EVERY) {
                    tracing::warn!(
                        %error,
                        paused,
                        pause_ms = ACCEPT_PAUSE.as_millis() as u64,
                        "cannot accept connections; pausing"
                    );
                }
                paused += 1;
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

fn concerns_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn too_many_open_files() -> io::Error {
        io::Error::from_raw_os_error(24)
    }

    #[tokio::test(start_paused = true)]
    async fn running_out_of_descriptors_pauses_instead_of_spinning() {
        let calls = Cell::new(0);
        let started = tokio::time::Instant::now();
        let accepted = accept_patiently(|| {
            calls.set(calls.get() + 1);
            let result = if calls.get() <= 3 {
                Err(too_many_open_files())
            } else {
                Ok("connection")
            };
            async move { result }
        })
        .await;
        assert_eq!(accepted, "connection");
        assert_eq!(calls.get(), 4);
        assert_eq!(started.elapsed(), ACCEPT_PAUSE * 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_gave_up_is_skipped_at_once() {
        let calls = Cell::new(0);
        let started = tokio::time::Instant::now();
        let accepted = accept_patiently(|| {
            calls.set(calls.get() + 1);
            let result = if calls.get() == 1 {
                Err(io::Error::from(io::ErrorKind::ConnectionAborted))
            } else {
                Ok(7)
            };
            async move { result }
        })
        .await;
        assert_eq!(accepted, 7);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        use futures::StreamExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = Box::pin(incoming(listener));
        let _client = TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
