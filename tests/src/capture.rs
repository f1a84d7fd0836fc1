//! Reading back what the system published, to check it against the partner contract and the
//! courier's allow-list of fields.

use anyhow::{Context, Result};
use async_nats::jetstream;
use serde_json::Value;

use crate::asyncapi::Contract;

/// One message as a stream stored it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub stream: String,
    pub subject: String,
    /// The headers as a JSON object of strings (the last value of a repeated header).
    pub headers: Value,
    pub payload: Value,
}

impl Stored {
    /// The value of header `name`, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

/// Every message `stream` holds now, oldest first; a missing stream holds none.
pub async fn stored(jetstream: &jetstream::Context, stream: &str) -> Result<Vec<Stored>> {
    let Ok(mut handle) = jetstream.get_stream(stream).await else {
        return Ok(Vec::new());
    };
    let state = handle.info().await?.state.clone();
    let mut messages = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        // Removed sequences have nothing to read.
        let Ok(message) = handle.get_raw_message(sequence).await else {
            continue;
        };
        let mut headers = serde_json::Map::new();
        for (name, values) in message.headers.iter() {
            if let Some(value) = values.last() {
                headers.insert(name.to_string(), Value::String(value.to_string()));
            }
        }
        let payload = serde_json::from_slice(&message.payload)
            .with_context(|| format!("{stream} #{sequence} is not JSON"))?;
        messages.push(Stored {
            stream: stream.to_owned(),
            subject: message.subject.to_string(),
            headers: Value::Object(headers),
            payload,
        });
    }
    Ok(messages)
}

/// What is wrong with the logistics messages among `messages`: every message the courier
/// service published (its `ce-source`) must carry only allowed fields; every waybill request
/// and every partner's status report must match the contract, headers included.
pub fn logistics_problems(contract: &Contract, messages: &[Stored]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for message in messages {
        let mut found = Vec::new();
        if message.header("ce-source") == Some("/residence/courier") {
            found.extend(residence_courier::privacy::problems(&message.payload));
        }
        let kind = match message.subject.split('.').nth(3) {
            _ if !message.subject.starts_with("logistics.v1.") => None,
            Some("waybill") => Some("waybillRequest"),
            Some("status") => Some("parcelStatus"),
            _ => Some("unknown"),
        };
        if let Some(kind) = kind {
            found.extend(contract.payload_problems(kind, &message.payload)?);
            found.extend(contract.header_problems(kind, &message.headers)?);
        }
        problems.extend(
            found
                .into_iter()
                .map(|problem| format!("{} on {}: {problem}", message.stream, message.subject)),
        );
    }
    Ok(problems)
}
