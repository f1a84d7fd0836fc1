//! The CloudEvents 1.0 envelope, carried as NATS headers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// `ce-specversion`.
pub const SPEC_VERSION: &str = "1.0";
/// Header names of the envelope.
pub mod header {
    pub const ID: &str = "ce-id";
    pub const SPEC_VERSION: &str = "ce-specversion";
    pub const TYPE: &str = "ce-type";
    pub const SOURCE: &str = "ce-source";
    pub const TIME: &str = "ce-time";
    pub const SUBJECT: &str = "ce-subject";
    pub const CONTENT_TYPE: &str = "content-type";
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
}

/// Who, what and when of one event. No personal data: the subject is the case number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Unique event id (UUID v7, time-ordered).
    pub id: String,
    /// Event type, identical to its NATS subject.
    pub event_type: String,
    /// The emitting service, e.g. `/residence/intake`.
    pub source: String,
    pub time: DateTime<Utc>,
    /// The case number.
    pub subject: String,
}

impl Envelope {
    /// A new envelope with a fresh id, stamped now.
    pub fn new(event_type: &str, source: &str, case_number: &str) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            event_type: event_type.to_owned(),
            source: source.to_owned(),
            time: Utc::now(),
            subject: case_number.to_owned(),
        }
    }

    /// The headers to publish: the envelope, `Nats-Msg-Id` and the current trace context.
    pub fn headers(&self) -> BTreeMap<String, String> {
        let mut headers: BTreeMap<String, String> = crate::trace::current_context_headers()
            .into_iter()
            .collect();
        headers.insert(header::ID.into(), self.id.clone());
        headers.insert(header::MSG_ID.into(), self.id.clone());
        headers.insert(header::SPEC_VERSION.into(), SPEC_VERSION.into());
        headers.insert(header::TYPE.into(), self.event_type.clone());
        headers.insert(header::SOURCE.into(), self.source.clone());
        headers.insert(header::TIME.into(), self.time.to_rfc3339());
        headers.insert(header::SUBJECT.into(), self.subject.clone());
        headers.insert(header::CONTENT_TYPE.into(), "application/json".into());
        headers
    }
}

/// Builds a NATS header map from stored string pairs.
pub fn to_header_map(headers: &BTreeMap<String, String>) -> async_nats::HeaderMap {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers {
        map.insert(name.as_str(), value.as_str());
    }
    map
}
