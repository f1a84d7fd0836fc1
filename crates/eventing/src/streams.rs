//! The JetStream streams the system uses, created on start by every service that needs them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// Internal events, `residence.v1.>`.
pub const RESIDENCE: &str = "RESIDENCE";
/// Events consumers gave up on, `residence.deadletter.v1.>`.
pub const DEADLETTER: &str = "RESIDENCE_DEADLETTER";
/// Waybill requests to the logistics partners, `logistics.v1.*.waybill.>`. Each partner's
/// status reports have a stream of their own, see [`logistics_status`].
pub const LOGISTICS: &str = "LOGISTICS";
/// The e-license platforms' feed, `elicense.v1.>`.
pub const ELICENSE: &str = "ELICENSE";

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The largest message any stream stores, in bytes. The services' events are a few KiB; the
/// limit keeps a partner account, which may publish on its own subjects, from filling the
/// store with large messages (a dead-lettered copy included).
pub const MAX_MESSAGE_BYTES: i32 = 256 * 1024;

/// Copies of each stream a JetStream cluster keeps, set once at start-up from the service's
/// configuration: 1 on a single server, 3 on a three-node cluster.
static REPLICAS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many copies of each stream are kept when a stream is created; existing streams
/// keep theirs (an operator changes them with `nats stream edit --replicas`).
pub fn set_replicas(replicas: usize) {
    REPLICAS.store(replicas.max(1), Ordering::Relaxed);
}

/// How many copies of each stream are kept when a stream is created.
pub fn replicas() -> usize {
    REPLICAS.load(Ordering::Relaxed)
}

/// Every stream with its subjects and how long it keeps messages.
pub fn definitions() -> Vec<stream::Config> {
    [
        (RESIDENCE, "residence.v1.>", 30 * DAY),
        (DEADLETTER, "residence.deadletter.v1.>", 90 * DAY),
        (LOGISTICS, "logistics.v1.*.waybill.>", 30 * DAY),
        (ELICENSE, "elicense.v1.>", 30 * DAY),
    ]
    .into_iter()
    .map(|(name, subjects, max_age)| stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age,
        // Long enough to cover a relay re-publishing after a restart.
        duplicate_window: Duration::from_secs(10 * 60),
        max_message_size: MAX_MESSAGE_BYTES,
        num_replicas: replicas(),
        ..Default::default()
    })
    .collect()
}

/// The stream of one logistics partner's status reports, `logistics.v1.<partner>.status.>`,
/// named by [`residence_events::logistics::status_stream`]. One per partner, because
/// JetStream drops a message whose `Nats-Msg-Id` it saw within the duplicate window anywhere
/// in the same stream: in a shared stream, one partner could suppress another's reports by
/// sending their ids first. The courier service creates these.
pub fn logistics_status(partner: &str) -> stream::Config {
    stream::Config {
        name: residence_events::logistics::status_stream(partner),
        subjects: vec![residence_events::logistics::status(partner, ">")],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: 30 * DAY,
        duplicate_window: Duration::from_secs(10 * 60),
        max_message_size: MAX_MESSAGE_BYTES,
        num_replicas: replicas(),
        ..Default::default()
    }
}

/// Creates the streams that do not exist yet; existing ones are left as they are.
pub async fn ensure_all(jetstream: &jetstream::Context) -> Result<(), async_nats::Error> {
    for config in definitions() {
        jetstream.get_or_create_stream(config).await?;
    }
    Ok(())
}

/// The stream `name`, created from its definition (or, for a partner's status stream, from
/// [`logistics_status`]) if it does not exist.
pub async fn ensure(
    jetstream: &jetstream::Context,
    name: &str,
) -> Result<jetstream::stream::Stream, async_nats::Error> {
    let partner = name
        .strip_prefix("LOGISTICS_STATUS_")
        .map(|code| logistics_status(&code.to_ascii_lowercase()));
    match definitions()
        .into_iter()
        .find(|config| config.name == name)
        .or(partner)
    {
        Some(config) => Ok(jetstream.get_or_create_stream(config).await?),
        None => Ok(jetstream.get_stream(name).await?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partner_reports_into_a_stream_of_its_own() {
        let ems = logistics_status("ems");
        assert_eq!(ems.name, "LOGISTICS_STATUS_EMS");
        assert_eq!(ems.subjects, ["logistics.v1.ems.status.>"]);
        let shared = definitions();
        let requests = shared
            .iter()
            .find(|config| config.name == LOGISTICS)
            .unwrap();
        assert_eq!(requests.subjects, ["logistics.v1.*.waybill.>"]);
    }
}
