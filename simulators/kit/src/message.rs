//! Reading a partner message and publishing the answer to it.
//!
//! Messages carry personal data, so no error here ever quotes a payload.

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, Message, publish::PublishAck};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Longest key accepted; it becomes part of a `Nats-Msg-Id` header value.
const MAX_KEY_LEN: usize = 128;

/// Decodes a JSON payload; `what` names the expected message in the error, such as
/// "a waybill request". The error gives the kind and place of the fault, never the payload.
pub fn decode<T: DeserializeOwned>(payload: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|error| {
        format!(
            "payload is not {what}: {:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
    })
}

/// Checks a message's `schema` field, quoting at most 64 characters of a wrong one.
pub fn check_schema(schema: &str, expected: &str) -> Result<(), String> {
    if schema == expected {
        return Ok(());
    }
    let schema: String = schema.chars().take(64).collect();
    Err(format!("expected schema {expected}, got {schema:?}"))
}

/// Checks that the key `field` of a message can go into a header value: 1 to 128 visible
/// ASCII characters.
pub fn check_key(field: &str, key: &str) -> Result<(), String> {
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|byte| byte.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "expected {field} to be 1 to 128 visible ascii characters"
        ))
    }
}

/// Publishes `answer` as JSON on `subject` and waits for the stream to store it.
///
/// `message_id` becomes `Nats-Msg-Id`, so the stream drops an answer given twice; the answer
/// carries the trace context of `cause`, the message it answers.
pub async fn publish_answer(
    jetstream: &jetstream::Context,
    cause: &Message,
    subject: String,
    message_id: &str,
    answer: &impl Serialize,
) -> anyhow::Result<PublishAck> {
    let payload = serde_json::to_vec(answer).context("encode")?;

    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", message_id);
    headers.insert("content-type", "application/json");
    if let Some(traceparent) = cause.headers.as_ref().and_then(|h| h.get("traceparent")) {
        headers.insert("traceparent", traceparent.clone());
    }

    let stored = jetstream
        .publish_with_headers(subject, headers, payload.into())
        .await
        .context("publish")?;
    stored.await.context("store")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_never_quote_the_payload() {
        let payload = br#"{"schema": "x.v1.request", "phone": 13800000000}"#;
        let error = decode::<Vec<u8>>(payload, "a list").unwrap_err();
        assert!(error.starts_with("payload is not a list"), "{error}");
        assert!(!error.contains("13800000000"), "{error}");
    }

    #[test]
    fn refuses_another_schema() {
        assert!(check_schema("x.v1.request", "x.v1.request").is_ok());
        let error = check_schema("x.v2.request", "x.v1.request").unwrap_err();
        assert_eq!(error, r#"expected schema x.v1.request, got "x.v2.request""#);
    }

    #[test]
    fn keys_must_fit_in_a_header() {
        assert!(check_key("parcel_reference", "XP-1").is_ok());
        assert!(check_key("parcel_reference", "").is_err());
        assert!(check_key("parcel_reference", "XP 1").is_err());
        assert!(check_key("parcel_reference", "XP-1\n").is_err());
        assert!(check_key("parcel_reference", &"X".repeat(129)).is_err());
    }
}
