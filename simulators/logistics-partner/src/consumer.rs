//! The partner's durable pull consumer on the `LOGISTICS` stream, and the one place where a
//! request's outcome becomes an ack or a nak.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use residence_events::logistics;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::courier::Courier;

/// The stream the services create for the logistics partners' feed.
const STREAM: &str = "LOGISTICS";

/// How long to wait before asking again for a stream or consumer that is not there yet.
const REOPEN_DELAY: Duration = Duration::from_millis(250);

/// How long the server waits for an ack or a progress report before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// How long a request that could not be handled waits before it is delivered again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What became of one waybill request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every status is published: acknowledge.
    Done,
    /// The request can never be handled (undecodable, wrong schema): acknowledge it so that
    /// it does not come back, and log why.
    Invalid(String),
    /// A transient failure (broker unreachable, record file unwritable): deliver again.
    Retry(String),
}

/// The durable consumer name for `partner`: `partner-<partner>-waybills`.
pub fn durable_name(partner: &str) -> String {
    format!("partner-{partner}-waybills")
}

/// The configuration of `partner`'s durable consumer: explicit acks on the partner's waybill
/// subject, redelivered without limit after a 30-second ack wait.
pub fn consumer_config(partner: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(durable_name(partner)),
        filter_subject: logistics::waybill_requested(partner),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        ..Default::default()
    }
}

/// Handles requests one at a time until `shutdown` is cancelled, reopening the consumer
/// whenever the stream or the connection goes away.
pub(crate) async fn serve(
    jetstream: &jetstream::Context,
    partner: &str,
    courier: &Courier,
    shutdown: &CancellationToken,
) {
    while let Some(consumer) = open(jetstream, partner, shutdown).await {
        consume(&consumer, courier, shutdown).await;
        if !pause(shutdown).await {
            return;
        }
    }
}

/// Gets or creates the durable consumer, retrying every 250 ms until the stream exists.
/// Returns `None` once `shutdown` is cancelled.
async fn open(
    jetstream: &jetstream::Context,
    partner: &str,
    shutdown: &CancellationToken,
) -> Option<PullConsumer> {
    let mut attempt = 1_u32;
    loop {
        let opened = tokio::select! {
            () = shutdown.cancelled() => return None,
            opened = try_open(jetstream, partner) => opened,
        };
        match opened {
            Ok(consumer) => {
                tracing::info!(consumer = %durable_name(partner), "waiting for waybill requests");
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
    partner: &str,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = jetstream.get_stream(STREAM).await?;
    let consumer = stream
        .get_or_create_consumer(&durable_name(partner), consumer_config(partner))
        .await?;
    Ok(consumer)
}

/// Pulls and handles one request at a time. Returns when `shutdown` is cancelled, after the
/// request in flight is settled, or when pulling fails.
async fn consume(consumer: &PullConsumer, courier: &Courier, shutdown: &CancellationToken) {
    let messages = consumer.stream().max_messages_per_batch(1).messages().await;
    let mut messages = match messages {
        Ok(messages) => messages,
        Err(error) => {
            tracing::warn!(%error, "could not pull waybill requests, reopening the consumer");
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
            Some(Ok(message)) => process(&message, courier).await,
            Some(Err(error)) => {
                tracing::warn!(%error, "pulling waybill requests failed, reopening the consumer");
                return;
            }
            None => return,
        }
    }
}

/// Handles one request inside its own span and settles it.
async fn process(message: &jetstream::Message, courier: &Courier) {
    let (sequence, delivered) = message
        .info()
        .map(|info| (info.stream_sequence, info.delivered))
        .unwrap_or((0, 1));
    let span = tracing::info_span!(
        "waybill_request",
        stream.sequence = sequence,
        delivered,
        parcel.reference = tracing::field::Empty,
    );
    async {
        let outcome = courier.handle(message, delivered > 1).await;
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
            tracing::warn!(%reason, "dropping a waybill request that cannot be handled");
            message.ack().await
        }
        Outcome::Retry(reason) => {
            let retry_in_ms = RETRY_DELAY.as_millis();
            tracing::warn!(%reason, retry_in_ms, "waybill request failed, delivering it again");
            message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await
        }
    };
    if let Err(error) = settled {
        tracing::warn!(%error, "could not settle a waybill request, it will be delivered again");
    }
}

/// Tells the server the request in hand is still being worked on, restarting its ack wait.
pub(crate) async fn report_progress(message: &jetstream::Message) {
    if let Err(error) = message.ack_with(AckKind::Progress).await {
        tracing::debug!(%error, "could not report progress on a waybill request");
    }
}

/// Waits [`REOPEN_DELAY`]; returns `false` at once if `shutdown` is cancelled.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(REOPEN_DELAY) => true,
    }
}
