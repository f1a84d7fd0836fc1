//! Events as a consumer hands them to a handler, for tests that call handlers directly and
//! need no broker.

use residence_eventing::Incoming;
use serde::Serialize;

/// `payload` as the consumer passes it to a handler on its first delivery: `id` is the event
/// id the handler deduplicates on and `subject` the subject it arrived on.
pub fn incoming<T: Serialize>(id: &str, subject: &str, payload: &T) -> Incoming {
    let payload = serde_json::to_vec(payload).expect("test payloads serialise");
    Incoming {
        id: id.to_owned(),
        subject: subject.to_owned(),
        case_number: None,
        payload: bytes::Bytes::from(payload),
        headers: None,
        delivered: 1,
    }
}
