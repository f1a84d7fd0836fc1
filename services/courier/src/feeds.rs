//! The partners' feeds: the durable consumer each logistics partner reads its waybill requests
//! through, and the stream each one's status reports land in.
//!
//! The courier service creates them, for every partner in the service item, enabled or not: a
//! disabled partner still carries parcels and may be asked for them again. A partner's NATS
//! credentials let it pull from its own consumer and nothing more, so it cannot create one.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::pull};
use residence_eventing::streams;
use residence_events::logistics;

/// How long the server waits for a partner's ack (or progress report) on a waybill request
/// before delivering it again.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// Waybill requests a partner may hold unacknowledged at once.
pub const MAX_ACK_PENDING: i64 = 1000;

/// The consumer `partner-<partner>-waybills` on `logistics.v1.<partner>.waybill.requested`:
/// explicit acks, redelivered without limit.
pub fn consumer_config(partner: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(logistics::waybill_consumer(partner)),
        description: Some(format!("waybill requests for logistics partner {partner}")),
        filter_subject: logistics::waybill_requested(partner),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    }
}

/// Creates what `partners` need and does not exist yet: the waybill stream, each partner's
/// consumer on it and each partner's status stream. Existing ones are left as they are.
pub async fn ensure(
    jetstream: &jetstream::Context,
    partners: &[String],
) -> Result<(), async_nats::Error> {
    let requests = streams::ensure(jetstream, streams::LOGISTICS).await?;
    for partner in partners {
        let name = logistics::waybill_consumer(partner);
        requests
            .get_or_create_consumer(&name, consumer_config(partner))
            .await?;
        jetstream
            .get_or_create_stream(streams::logistics_status(partner))
            .await?;
    }
    Ok(())
}
