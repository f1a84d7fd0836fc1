//! Reading and replaying the events consumers gave up on (dead letters).
//!
//! Reads are gets by stream sequence, so listing creates no consumer and changes nothing. A
//! replay publishes the parked event to its original subject, waits for the stream to store
//! it, and then deletes it from the dead-letter stream, so the same parking is never replayed
//! twice. An event that fails again is parked again by its consumer, with a new sequence.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::StreamMessage, stream};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::envelope::header;
use crate::streams::DEADLETTER;

/// Headers a consumer adds when it parks an event.
pub mod parked_header {
    /// Why the consumer gave up.
    pub const REASON: &str = "x-dead-letter-reason";
    /// The durable name of the consumer that gave up.
    pub const CONSUMER: &str = "x-dead-letter-consumer";
    /// The subject the event was first published on.
    pub const ORIGINAL_SUBJECT: &str = "x-original-subject";
    /// The event id the consumer saw: its inbox key.
    pub const ORIGINAL_ID: &str = "x-original-id";
    /// How many times the event had been delivered.
    pub const DELIVERIES: &str = "x-deliveries";
}

/// What went wrong reading or replaying dead letters.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot open the dead-letter stream {DEADLETTER}")]
    Open(#[source] async_nats::Error),
    #[error("expected a consumer's durable name (no dots, wildcards or spaces), got {0:?}")]
    ConsumerName(String),
    #[error("cannot read dead letter {sequence}")]
    Read {
        sequence: u64,
        #[source]
        source: async_nats::Error,
    },
    #[error("dead letter {sequence} has no x-original-subject header, so it cannot be replayed")]
    NoOriginalSubject { sequence: u64 },
    #[error("cannot republish dead letter {sequence} to {subject}")]
    Publish {
        sequence: u64,
        subject: String,
        #[source]
        source: async_nats::Error,
    },
    #[error(
        "dead letter {sequence} was republished but not removed; replaying it again is harmless"
    )]
    Remove {
        sequence: u64,
        #[source]
        source: async_nats::Error,
    },
}

/// One parked event, as an operator sees it.
#[derive(Clone, Debug)]
pub struct ParkedEvent {
    /// Its sequence in the dead-letter stream: how an operator names it.
    pub sequence: u64,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
    /// The consumer that gave up on it.
    pub consumer: String,
    /// The subject it was first published on.
    pub original_subject: Option<String>,
    /// Its event id (`x-original-id`, else `ce-id`), the consumers' inbox key.
    pub original_id: Option<String>,
    /// `ce-subject`: the case number, when the publisher set it.
    pub case_number: Option<String>,
    /// How many times it had been delivered when it was parked.
    pub deliveries: Option<i64>,
    /// Why the consumer gave up.
    pub reason: String,
    /// The headers as parked: the original ones and the dead-letter ones.
    pub headers: HeaderMap,
    /// The payload. It may hold personal data: never log it, and mask it for display.
    pub payload: Bytes,
}

impl ParkedEvent {
    fn from_stored(message: StreamMessage) -> Self {
        let header = |name: &str| message.headers.get(name).map(|value| value.to_string());
        let subject = message.subject.to_string();
        let consumer_from_subject = subject.rsplit('.').next().unwrap_or_default().to_owned();
        Self {
            sequence: message.sequence,
            parked_at: to_chrono(message.time),
            consumer: header(parked_header::CONSUMER).unwrap_or(consumer_from_subject),
            original_subject: header(parked_header::ORIGINAL_SUBJECT),
            original_id: header(parked_header::ORIGINAL_ID).or_else(|| header(header::ID)),
            case_number: header(header::SUBJECT),
            deliveries: header(parked_header::DELIVERIES).and_then(|text| text.parse().ok()),
            reason: header(parked_header::REASON).unwrap_or_default(),
            headers: message.headers,
            payload: message.payload,
        }
    }

    /// The `Nats-Msg-Id` of its replay: new for every parking, so the stream's duplicate
    /// window does not drop it, and the same for every attempt to replay this parking.
    pub fn replay_message_id(&self) -> String {
        match &self.original_id {
            Some(id) => format!("replay:{}:{id}", self.sequence),
            None => format!("replay:{}", self.sequence),
        }
    }

    /// The headers to replay it with: the original ones without the dead-letter headers and
    /// without the server directives of the parking (`Nats-*`), a fresh `Nats-Msg-Id`, and
    /// `ce-id` set to the original event id so the consumers' inbox still recognises it.
    pub fn replay_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, values) in self.headers.iter() {
            if is_parking_header(name.as_ref()) {
                continue;
            }
            for value in values {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(header::MSG_ID, self.replay_message_id().as_str());
        if let Some(id) = &self.original_id {
            headers.insert(header::ID, id.as_str());
        }
        headers
    }
}

/// What one replay did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// The dead letter's sequence, now deleted.
    pub sequence: u64,
    /// The subject it was published on again.
    pub subject: String,
    /// The `Nats-Msg-Id` it was published with.
    pub message_id: String,
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in that stream.
    pub stream_sequence: u64,
    /// The stream already held this replay from an earlier attempt that could not delete the
    /// dead letter, so nothing was stored twice.
    pub duplicate: bool,
}

/// The dead-letter stream, `RESIDENCE_DEADLETTER`.
pub struct DeadLetters {
    jetstream: jetstream::Context,
    stream: stream::Stream,
}

impl DeadLetters {
    /// Opens the dead-letter stream; fails when it does not exist.
    pub async fn open(jetstream: jetstream::Context) -> Result<Self, DeadLetterError> {
        let stream = jetstream
            .get_stream(DEADLETTER)
            .await
            .map_err(|error| DeadLetterError::Open(error.into()))?;
        Ok(Self { jetstream, stream })
    }

    /// Every parked event, oldest first; only those of `consumer` when given.
    pub async fn list(&self, consumer: Option<&str>) -> Result<Vec<ParkedEvent>, DeadLetterError> {
        if let Some(name) = consumer
            && !is_durable_name(name)
        {
            return Err(DeadLetterError::ConsumerName(name.to_owned()));
        }
        let filter = residence_events::dead_letter_subject(consumer.unwrap_or(">"));
        let mut parked = Vec::new();
        let mut next = 1;
        while let Some(message) = self.next_stored(next, &filter).await? {
            next = message.sequence + 1;
            parked.push(ParkedEvent::from_stored(message));
        }
        Ok(parked)
    }

    /// The parked event at `sequence`, or `None` when there is none (any more).
    pub async fn get(&self, sequence: u64) -> Result<Option<ParkedEvent>, DeadLetterError> {
        match self.stream.get_raw_message(sequence).await {
            Ok(message) => Ok(Some(ParkedEvent::from_stored(message))),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(DeadLetterError::Read {
                sequence,
                source: error.into(),
            }),
        }
    }

    /// Publishes `parked` to its original subject with [`ParkedEvent::replay_headers`], waits
    /// for the stream to store it, then deletes the dead letter.
    pub async fn replay(&self, parked: &ParkedEvent) -> Result<Replayed, DeadLetterError> {
        let sequence = parked.sequence;
        let subject = parked
            .original_subject
            .clone()
            .ok_or(DeadLetterError::NoOriginalSubject { sequence })?;
        let publish_error = |source: async_nats::Error| DeadLetterError::Publish {
            sequence,
            subject: subject.clone(),
            source,
        };

        let headers = parked.replay_headers();
        let stored = self
            .jetstream
            .publish_with_headers(subject.clone(), headers, parked.payload.clone())
            .await
            .map_err(|error| publish_error(error.into()))?
            .await
            .map_err(|error| publish_error(error.into()))?;

        self.stream
            .delete_message(sequence)
            .await
            .map_err(|error| DeadLetterError::Remove {
                sequence,
                source: error.into(),
            })?;
        Ok(Replayed {
            sequence,
            subject,
            message_id: parked.replay_message_id(),
            stream: stored.stream,
            stream_sequence: stored.sequence,
            duplicate: stored.duplicate,
        })
    }

    /// The first message on `filter` at or after sequence `from`.
    async fn next_stored(
        &self,
        from: u64,
        filter: &str,
    ) -> Result<Option<StreamMessage>, DeadLetterError> {
        let found = self
            .stream
            .raw_message_builder()
            .sequence(from)
            .next_by_subject(filter)
            .send()
            .await;
        match found {
            Ok(message) => Ok(Some(message)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(DeadLetterError::Read {
                sequence: from,
                source: error.into(),
            }),
        }
    }
}

fn is_not_found(error: &stream::RawMessageError) -> bool {
    error.kind() == stream::RawMessageErrorKind::NoMessageFound
}

/// Whether `name` can be a durable name, and so one token of a subject.
fn is_durable_name(name: &str) -> bool {
    let forbidden = |c: char| matches!(c, '.' | '*' | '>') || c.is_whitespace();
    !name.is_empty() && !name.contains(forbidden)
}

/// Headers that describe the parking rather than the event.
fn is_parking_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-dead-letter-")
        || name.starts_with("x-original-")
        || name == parked_header::DELIVERIES
        || name.starts_with("nats-")
}

fn to_chrono(time: async_nats::datetime::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(headers: &[(&str, &str)]) -> ParkedEvent {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, *value);
        }
        ParkedEvent {
            sequence: 7,
            parked_at: Utc::now(),
            consumer: "review-accepted".into(),
            original_subject: Some("residence.v1.application.accepted".into()),
            original_id: Some("event-1".into()),
            case_number: None,
            deliveries: Some(1),
            reason: "bad".into(),
            headers: map,
            payload: Bytes::new(),
        }
    }

    #[test]
    fn replay_headers_drop_the_parking_and_keep_the_event() {
        let event = parked(&[
            ("ce-id", "event-1"),
            ("ce-type", "residence.v1.application.accepted"),
            ("traceparent", "00-abc-def-01"),
            ("Nats-Msg-Id", "deadletter:review-accepted:event-1:3"),
            ("x-dead-letter-reason", "bad"),
            ("x-dead-letter-consumer", "review-accepted"),
            ("x-original-subject", "residence.v1.application.accepted"),
            ("x-original-id", "event-1"),
            ("x-deliveries", "1"),
        ]);
        let headers = event.replay_headers();
        let value = |name: &str| headers.get(name).map(|value| value.to_string());

        assert_eq!(value("ce-id").as_deref(), Some("event-1"));
        assert_eq!(value("traceparent").as_deref(), Some("00-abc-def-01"));
        assert_eq!(value("Nats-Msg-Id").as_deref(), Some("replay:7:event-1"));
        let names: Vec<String> = headers.iter().map(|(name, _)| name.to_string()).collect();
        assert!(
            names.iter().all(|name| !name.starts_with("x-")),
            "parking headers left: {names:?}"
        );
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn consumer_names_are_single_subject_tokens() {
        assert!(is_durable_name("courier-partner-status"));
        for name in ["", "a.b", "*", ">", "a b"] {
            assert!(!is_durable_name(name), "{name:?}");
        }
    }

    #[test]
    fn replay_keeps_the_inbox_key_of_events_without_ce_id() {
        let mut event = parked(&[("x-original-id", "LOGISTICS:12")]);
        event.original_id = Some("LOGISTICS:12".into());
        let headers = event.replay_headers();
        assert_eq!(headers.get("ce-id").unwrap().as_str(), "LOGISTICS:12");
    }
}
