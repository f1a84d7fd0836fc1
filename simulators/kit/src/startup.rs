//! Start-up: the flag values both simulators check, logging, and shutdown on a signal.

use std::future::Future;
use std::io::IsTerminal;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Reads a partner or platform code, which becomes a subject token or part of a consumer
/// name: 1 to 32 ASCII letters, digits, `-` or `_`.
pub fn parse_code(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(value.to_owned())
    } else {
        Err("expected 1 to 32 ascii letters, digits, `-` or `_`".to_owned())
    }
}

/// Reads a share of messages, from 0.0 to 1.0.
pub fn parse_share(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("expected a number from 0.0 to 1.0".to_owned()),
    }
}

/// Logs to stderr (`RUST_LOG`, default `info`) and runs `simulator` with a token that SIGTERM
/// or Ctrl-C cancels; the simulator then finishes the message in flight and returns.
pub async fn run_until_signal<F, Run>(simulator: F) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Run,
    Run: Future<Output = anyhow::Result<()>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let shutdown = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).context("listen for sigterm")?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down after the message in flight");
        on_signal.cancel();
    });

    simulator(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_subject_tokens() {
        assert_eq!(parse_code("sf-express_2").as_deref(), Ok("sf-express_2"));
        assert!(parse_code("").is_err());
        assert!(parse_code("ems.cn").is_err());
        assert!(parse_code("*").is_err());
        assert!(parse_code(&"x".repeat(33)).is_err());
    }

    #[test]
    fn shares_run_from_zero_to_one() {
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert_eq!(parse_share("1"), Ok(1.0));
        assert!(parse_share("1.5").is_err());
        assert!(parse_share("-0.1").is_err());
        assert!(parse_share("abc").is_err());
    }
}
