//! The JetStream streams the system uses, created on start by every service that needs them.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// Internal events, `residence.v1.>`.
pub const RESIDENCE: &str = "RESIDENCE";
/// Events consumers gave up on, `residence.deadletter.v1.>`.
pub const DEADLETTER: &str = "RESIDENCE_DEADLETTER";
/// The logistics partners' feed, `logistics.v1.>`.
pub const LOGISTICS: &str = "LOGISTICS";
/// The e-license platforms' feed, `elicense.v1.>`.
pub const ELICENSE: &str = "ELICENSE";

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Every stream with its subjects and how long it keeps messages.
pub fn definitions() -> Vec<stream::Config> {
    [
        (RESIDENCE, "residence.v1.>", 30 * DAY),
        (DEADLETTER, "residence.deadletter.v1.>", 90 * DAY),
        (LOGISTICS, "logistics.v1.>", 30 * DAY),
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
        ..Default::default()
    })
    .collect()
}

/// Creates the streams that do not exist yet; existing ones are left as they are.
pub async fn ensure_all(jetstream: &jetstream::Context) -> Result<(), async_nats::Error> {
    for config in definitions() {
        jetstream.get_or_create_stream(config).await?;
    }
    Ok(())
}
