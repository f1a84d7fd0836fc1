//! Waiting for something a test cannot be told about directly, with a deadline instead of a
//! guessed sleep.

use std::future::Future;
use std::time::Duration;

use anyhow::{Result, bail};

/// How long any one expected thing may take before a test gives up on it.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often a condition is checked again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Checks `condition` until it holds; fails naming `what` if it still does not after
/// [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, condition: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        if tokio::time::Instant::now() > deadline {
            bail!("waited {DEADLINE:?} for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(())
}
