//! The applicant notifications a run produced, read as the county's SMS gateway reads them:
//! pulled from the gateway's durable consumer, counted per kind once per notification id, and
//! acknowledged. Only the kind and the id are looked at; the texts and phone numbers are not.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result};
use async_nats::jetstream;
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;
use residence_events::{NotificationKind, NotificationRequested};
use residence_intake::notify::GATEWAY_CONSUMER;
use serde_json::{Value, json};

/// Messages asked for per pull.
const BATCH: usize = 500;

/// How long one pull waits for messages before it counts as the last.
const PULL_WAIT: Duration = Duration::from_secs(1);

/// Notifications per kind, by the kind's code, such as `accepted`; kinds with none are left
/// out. Messages that are not notifications count under `unreadable`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    /// Distinct notifications per kind code.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Messages whose payload was not a notification.
    pub unreadable: u64,
}

impl NotificationCounts {
    /// Every notification counted.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// Counts one message's payload, once per notification id.
    fn add(&mut self, payload: &[u8], seen: &mut HashSet<String>) {
        match serde_json::from_slice::<NotificationRequested>(payload) {
            Ok(notification) => {
                if seen.insert(notification.notification_id) {
                    *self.by_kind.entry(notification.kind.code()).or_default() += 1;
                }
            }
            Err(_) => self.unreadable += 1,
        }
    }

    /// `received 60, accepted 51, ...`, in the order of a case's life.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = NotificationKind::ALL
            .iter()
            .filter_map(|kind| {
                let count = self.by_kind.get(kind.code())?;
                Some(format!("{} {count}", kind.code()))
            })
            .collect();
        if self.unreadable > 0 {
            parts.push(format!("unreadable {}", self.unreadable));
        }
        parts.join(", ")
    }

    /// The counts as one JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "total": self.total(),
            "by_kind": self.by_kind,
            "unreadable": self.unreadable,
        })
    }
}

/// Pulls every notification waiting on the gateway's consumer at `nats_url`, acknowledging
/// each, and counts them.
pub async fn drain(nats_url: &str) -> Result<NotificationCounts> {
    let client = async_nats::connect(nats_url)
        .await
        .with_context(|| format!("cannot connect to the broker at {nats_url}"))?;
    let jetstream = jetstream::new(client);
    let stream = jetstream
        .get_stream(residence_eventing::streams::RESIDENCE)
        .await
        .context("cannot open the event stream")?;
    let consumer: PullConsumer = stream
        .get_consumer(GATEWAY_CONSUMER)
        .await
        .map_err(|error| anyhow::anyhow!("cannot open the consumer {GATEWAY_CONSUMER}: {error}"))?;

    let mut counts = NotificationCounts::default();
    let mut seen = HashSet::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(PULL_WAIT)
            .messages()
            .await
            .context("cannot pull notifications")?;
        let mut pulled = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|error| anyhow::anyhow!(error))?;
            pulled += 1;
            counts.add(&message.payload, &mut seen);
            message
                .ack()
                .await
                .map_err(|error| anyhow::anyhow!(error))?;
        }
        if pulled == 0 {
            return Ok(counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use residence_events::Channel;

    use super::*;

    fn payload(id: &str, kind: NotificationKind) -> Vec<u8> {
        let notification = NotificationRequested {
            schema: residence_events::NOTIFICATION_SCHEMA.to_owned(),
            notification_id: id.to_owned(),
            case_number: "C1".to_owned(),
            kind,
            channel: Channel::Online,
            phone: "13800000000".to_owned(),
            text: "…".to_owned(),
            requested_at: Utc::now(),
        };
        serde_json::to_vec(&notification).unwrap()
    }

    #[test]
    fn each_notification_counts_once_under_its_kind() {
        let mut counts = NotificationCounts::default();
        let mut seen = HashSet::new();
        counts.add(
            &payload("C1-received", NotificationKind::Received),
            &mut seen,
        );
        counts.add(
            &payload("C1-received", NotificationKind::Received),
            &mut seen,
        );
        counts.add(
            &payload("C1-withdrawn", NotificationKind::Withdrawn),
            &mut seen,
        );
        counts.add(
            &payload("C2-received", NotificationKind::Received),
            &mut seen,
        );
        counts.add(b"{\"not\": \"a notification\"}", &mut seen);

        assert_eq!(counts.total(), 3);
        assert_eq!(counts.describe(), "received 2, withdrawn 1, unreadable 1");
        assert_eq!(counts.to_json()["by_kind"]["received"], 2);
    }
}
