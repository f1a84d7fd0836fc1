//! The platform's durable pull consumer on the `ELICENSE` stream, and the one place where a
//! license's outcome becomes an ack or a nak.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use residence_events::elicense;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::platform::Platform;

/// The stream the services create for the e-license platforms' feed.
const STREAM: &str = "ELICENSE";

/// How long to wait before asking again for a stream or consumer that is not there yet.
const REOPEN_DELAY: Duration = Duration::from_millis(250);

/// How long the server waits for an ack before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// How long a license that could not be handled waits before it is delivered again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What became of one issued-license message.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The acknowledgement is stored: acknowledge the message.
    Done,
    /// The message can never be handled (undecodable, wrong schema): acknowledge it so that
    /// it does not come back, and log why.
    Invalid(String),
    /// A transient failure (broker unreachable, record file unwritable): deliver again.
    Retry(String),
}

/// The durable consumer name for `platform`: `platform-<platform>-licenses`.
pub fn durable_name(platform: &str) -> String {
    format!("platform-{platform}-licenses")
}

/// The configuration of `platform`'s durable consumer: explicit acks on the issued-license
/// subject, redelivered without limit after a 30-second ack wait.
pub fn consumer_config(platform: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(durable_name(platform)),
        filter_subject: elicense::LICENSE_ISSUED.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        ..Default::default()
    }
}

/// Handles licenses one at a time until `shutdown` is cancelled, reopening the consumer
/// whenever the stream or the connection goes away.
pub(crate) async fn serve(
    jetstream: &jetstream::Context,
    platform_name: &str,
    platform: &Platform,
    shutdown: &CancellationToken,
) {
    while let Some(consumer) = open(jetstream, platform_name, shutdown).await {
        consume(&consumer, platform, shutdown).await;
        if !pause(shutdown).await {
            return;
        }
    }
}

/// Gets or creates the durable consumer, retrying every 250 ms until the stream exists.
/// Returns `None` once `shutdown` is cancelled.
async fn open(
    jetstream: &jetstream::Context,
    platform: &str,
    shutdown: &CancellationToken,
) -> Option<PullConsumer> {
    let mut attempt = 1_u32;
    loop {
        let opened = tokio::select! {
            () = shutdown.cancelled() => return None,
            opened = try_open(jetstream, platform) => opened,
        };
        match opened {
            Ok(consumer) => {
                tracing::info!(consumer = %durable_name(platform), "waiting for issued licenses");
                return Some(consumer);
            }
            Err(error) if attempt == 1 || attempt.is_multiple_of(40) => {
                tracing::info!(stream = STREAM, attempt, %error, "stream not ready, retrying");
            }
            Err(error) => tracing::debug!(stream = STREAM, attempt, %error, "stream not ready"),
        }
        if !pause(shutdown).await {
            return None;
        }
        attempt = attempt.saturating_add(1);
    }
}

async fn try_open(
    jetstream: &jetstream::Context,
    platform: &str,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = jetstream.get_stream(STREAM).await?;
    let consumer = stream
        .get_or_create_consumer(&durable_name(platform), consumer_config(platform))
        .await?;
    Ok(consumer)
}

/// Pulls and handles one license at a time. Returns when `shutdown` is cancelled, after the
/// license in flight is settled, or when pulling fails.
async fn consume(consumer: &PullConsumer, platform: &Platform, shutdown: &CancellationToken) {
    let messages = consumer.stream().max_messages_per_batch(1).messages().await;
    let mut messages = match messages {
        Ok(messages) => messages,
        Err(error) => {
            tracing::warn!(%error, "could not pull issued licenses, reopening the consumer");
            return;
        }
    };

    loop {
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            next = messages.next() => next,
        };
        match next {
            Some(Ok(message)) => process(&message, platform).await,
            Some(Err(error)) => {
                tracing::warn!(%error, "pulling issued licenses failed, reopening the consumer");
                return;
            }
            None => return,
        }
    }
}

/// Handles one license inside its own span and settles it.
async fn process(message: &jetstream::Message, platform: &Platform) {
    let (sequence, delivered) = message
        .info()
        .map(|info| (info.stream_sequence, info.delivered))
        .unwrap_or((0, 1));
    let span = tracing::info_span!(
        "issued_license",
        stream.sequence = sequence,
        delivered,
        license.identifier = tracing::field::Empty,
    );
    async {
        let outcome = platform.handle(message).await;
        settle(message, outcome).await;
    }
    .instrument(span)
    .await;
}

/// Turns an outcome into an ack or a nak; the only place that does.
async fn settle(message: &jetstream::Message, outcome: Outcome) {
    let settled = match outcome {
        Outcome::Done => message.ack().await,
        Outcome::Invalid(reason) => {
            tracing::warn!(%reason, "dropping an issued license that cannot be handled");
            message.ack().await
        }
        Outcome::Retry(reason) => {
            let retry_in_ms = RETRY_DELAY.as_millis();
            tracing::warn!(%reason, retry_in_ms, "issued license failed, delivering it again");
            message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await
        }
    };
    if let Err(error) = settled {
        tracing::warn!(%error, "could not settle an issued license, it will be delivered again");
    }
}

/// Waits [`REOPEN_DELAY`]; returns `false` at once if `shutdown` is cancelled.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(REOPEN_DELAY) => true,
    }
}
