//! What the relay and the consumers count: events published and consumed by type, handler
//! time and dead letters. Labels are subjects, consumers and outcomes; never a case number.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::consumer::{ConsumerSpec, Incoming, Outcome};

/// Distinct event types counted before further new ones share the type `other`: partners
/// choose the last part of their status subjects, and a label per typo would grow forever.
const MAX_EVENT_TYPES: usize = 256;

/// `subject` as an event type label, or `other` once [`MAX_EVENT_TYPES`] are in use.
fn event_type(subject: &str) -> String {
    static SEEN: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if seen.contains(subject) {
        return subject.to_owned();
    }
    if seen.len() >= MAX_EVENT_TYPES {
        return "other".to_owned();
    }
    seen.insert(subject.to_owned());
    subject.to_owned()
}

/// Counts one event published to `subject`.
pub(crate) fn published(subject: &str) {
    let metrics = residence_metrics::global();
    let event_type = event_type(subject);
    metrics
        .events_published
        .with_label_values(&[event_type.as_str()])
        .inc();
}

/// Counts one event `spec`'s handler finished with `outcome` after `took`.
pub(crate) fn handled(spec: &ConsumerSpec, event: &Incoming, outcome: &Outcome, took: Duration) {
    let metrics = residence_metrics::global();
    let event_type = event_type(&event.subject);
    let labels = [spec.durable.as_str(), event_type.as_str()];
    metrics
        .handler_duration
        .with_label_values(&labels)
        .observe(took.as_secs_f64());
    let outcome = match outcome {
        Outcome::Done => "done",
        Outcome::Retry(_) => "retry",
        Outcome::Poison(_) => "poison",
    };
    metrics
        .events_consumed
        .with_label_values(&[labels[0], labels[1], outcome])
        .inc();
}

/// Shows `spec`'s dead letters as 0 from the start, rather than nothing until the first.
pub(crate) fn consumer_started(spec: &ConsumerSpec) {
    let metrics = residence_metrics::global();
    metrics
        .dead_letters
        .with_label_values(&[spec.durable.as_str()])
        .inc_by(0);
}

/// Counts one event `spec`'s consumer parked on the dead-letter stream.
pub(crate) fn dead_lettered(spec: &ConsumerSpec) {
    let metrics = residence_metrics::global();
    metrics
        .dead_letters
        .with_label_values(&[spec.durable.as_str()])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_beyond_the_limit_share_one_label() {
        for n in 0..MAX_EVENT_TYPES {
            event_type(&format!("logistics.v1.ems.status.typo{n}"));
        }
        assert_eq!(
            event_type("logistics.v1.ems.status.typo0"),
            "logistics.v1.ems.status.typo0"
        );
        assert_eq!(event_type("logistics.v1.ems.status.one_more"), "other");
    }
}
