//! A partner's durable pull consumer, and the one place where a message's outcome becomes an
//! ack or a nak.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind, Message};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How long to wait before asking again for a stream or consumer that is not there yet.
const REOPEN_DELAY: Duration = Duration::from_millis(250);

/// How long the server waits for an ack or a progress report before delivering again.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// How long a message that could not be handled waits before it is delivered again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Where a partner reads its messages: one durable consumer on one stream the services create.
#[derive(Clone, Debug)]
pub struct Feed {
    /// The stream, such as `LOGISTICS`.
    pub stream: &'static str,
    /// The durable consumer's name, kept across restarts.
    pub durable_name: String,
    /// The one subject the consumer reads.
    pub filter_subject: String,
}

impl Feed {
    /// Explicit acks on the feed's subject, redelivered without limit after a 30-second ack
    /// wait.
    pub fn consumer_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.durable_name.clone()),
            filter_subject: self.filter_subject.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            ..Default::default()
        }
    }
}

/// Who creates a feed's durable consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// The partner creates the consumer when it is missing.
    CreateIfMissing,
    /// The services create the consumer and the partner only binds to it, as its NATS
    /// credentials allow no more; the partner waits while it does not exist.
    Existing,
}

/// What became of one message.
#[derive(Debug)]
pub enum Outcome {
    /// The answer is stored: acknowledge.
    Done,
    /// The message can never be handled (undecodable, wrong schema): acknowledge it so that
    /// it does not come back, and log why.
    Invalid(String),
    /// A transient failure (broker unreachable, record file unwritable): deliver again.
    Retry(String),
}

/// One delivery of a message, as the broker numbers it.
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    /// The message's sequence in its stream.
    pub stream_sequence: u64,
    /// How many times the message has been delivered, this time included.
    pub count: i64,
}

impl Delivery {
    fn of(message: &Message) -> Self {
        message
            .info()
            .map(|info| Self {
                stream_sequence: info.stream_sequence,
                count: info.delivered,
            })
            .unwrap_or(Self {
                stream_sequence: 0,
                count: 1,
            })
    }

    /// The broker had delivered this message before.
    pub fn is_redelivery(&self) -> bool {
        self.count > 1
    }
}

/// How a partner answers one kind of message. Implementations must be idempotent: a message
/// may be delivered more than once and must then give the same answer.
pub trait Handler: Sync {
    /// The span the message is handled in, named after the message kind.
    fn span(&self, delivery: Delivery) -> tracing::Span;

    /// Handles one delivery of a message.
    fn handle(&self, message: &Message, delivery: Delivery)
    -> impl Future<Output = Outcome> + Send;
}

/// Handles messages one at a time until `shutdown` is cancelled, reopening the consumer
/// whenever the stream or the connection goes away.
pub(crate) async fn serve(
    jetstream: &jetstream::Context,
    feed: &Feed,
    binding: Binding,
    handler: &impl Handler,
    shutdown: &CancellationToken,
) {
    while let Some(consumer) = open(jetstream, feed, binding, shutdown).await {
        consume(&consumer, feed, handler, shutdown).await;
        if !pause(shutdown).await {
            return;
        }
    }
}

/// Gets (or, with [`Binding::CreateIfMissing`], creates) the durable consumer, retrying every
/// 250 ms until it can. Returns `None` once `shutdown` is cancelled.
async fn open(
    jetstream: &jetstream::Context,
    feed: &Feed,
    binding: Binding,
    shutdown: &CancellationToken,
) -> Option<PullConsumer> {
    let mut attempt = 1_u32;
    loop {
        let opened = tokio::select! {
            () = shutdown.cancelled() => return None,
            opened = try_open(jetstream, feed, binding) => opened,
        };
        let stream = feed.stream;
        match opened {
            Ok(consumer) => {
                tracing::info!(stream, consumer = %feed.durable_name, "waiting for messages");
                return Some(consumer);
            }
            Err(error) if attempt == 1 || attempt.is_multiple_of(40) => {
                tracing::info!(stream, attempt, %error, "feed not ready, retrying");
            }
            Err(error) => tracing::debug!(stream, attempt, %error, "feed not ready"),
        }
        if !pause(shutdown).await {
            return None;
        }
        attempt = attempt.saturating_add(1);
    }
}

async fn try_open(
    jetstream: &jetstream::Context,
    feed: &Feed,
    binding: Binding,
) -> Result<PullConsumer, async_nats::Error> {
    if binding == Binding::Existing {
        // Reads the consumer's info only: no stream-level request a partner may not make.
        let consumer = jetstream
            .get_consumer_from_stream(&feed.durable_name, feed.stream)
            .await?;
        return Ok(consumer);
    }
    let stream = jetstream.get_stream(feed.stream).await?;
    let consumer = stream
        .get_or_create_consumer(&feed.durable_name, feed.consumer_config())
        .await?;
    Ok(consumer)
}

/// Pulls and handles one message at a time. Returns when `shutdown` is cancelled, after the
/// message in flight is settled, or when pulling fails.
async fn consume(
    consumer: &PullConsumer,
    feed: &Feed,
    handler: &impl Handler,
    shutdown: &CancellationToken,
) {
    let messages = consumer.stream().max_messages_per_batch(1).messages().await;
    let mut messages = match messages {
        Ok(messages) => messages,
        Err(error) => {
            tracing::warn!(
                consumer = %feed.durable_name,
                %error,
                "could not pull messages, reopening the consumer"
            );
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
            Some(Ok(message)) => process(&message, handler).await,
            Some(Err(error)) => {
                tracing::warn!(
                    consumer = %feed.durable_name,
                    %error,
                    "pulling messages failed, reopening the consumer"
                );
                return;
            }
            None => return,
        }
    }
}

/// Handles one message inside the handler's span and settles it.
async fn process(message: &Message, handler: &impl Handler) {
    let delivery = Delivery::of(message);
    async {
        let outcome = handler.handle(message, delivery).await;
        settle(message, outcome).await;
    }
    .instrument(handler.span(delivery))
    .await;
}

/// Turns an outcome into an ack or a nak; the only place that does.
async fn settle(message: &Message, outcome: Outcome) {
    let settled = match outcome {
        Outcome::Done => message.ack().await,
        Outcome::Invalid(reason) => {
            tracing::warn!(%reason, "dropping a message that cannot be handled");
            message.ack().await
        }
        Outcome::Retry(reason) => {
            let retry_in_ms = RETRY_DELAY.as_millis();
            tracing::warn!(%reason, retry_in_ms, "handling failed, delivering the message again");
            message.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await
        }
    };
    if let Err(error) = settled {
        tracing::warn!(%error, "could not settle a message, it will be delivered again");
    }
}

/// Tells the server the message in hand is still being worked on, restarting its ack wait.
pub async fn report_progress(message: &Message) {
    if let Err(error) = message.ack_with(AckKind::Progress).await {
        tracing::debug!(%error, "could not report progress on a message");
    }
}

/// Waits [`REOPEN_DELAY`]; returns `false` at once if `shutdown` is cancelled.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(REOPEN_DELAY) => true,
    }
}
