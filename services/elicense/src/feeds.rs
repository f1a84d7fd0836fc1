//! The durable consumers e-license platforms read licenses and revocations through. The
//! service creates them, and creates them again should the broker lose them, so that a
//! platform needs no right beyond pulling from its own two consumers and acknowledging what
//! it pulled (the platform account in deploy/nats/accounts.conf).

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, pull},
};
use residence_eventing::streams;
use residence_events::elicense;

/// The platform the shipped configuration reports to.
pub const DEFAULT_PLATFORMS: &str = "henan-elicense";

/// How long a platform has to acknowledge a pulled message before it is delivered again
/// (it may extend this with a progress report, `+WPI`).
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// Messages a platform may hold unacknowledged on each consumer.
const MAX_ACK_PENDING: i64 = 1000;

/// The consumer `platform` reads issued licenses through.
pub fn licenses_consumer(platform: &str) -> String {
    format!("platform-{platform}-licenses")
}

/// The consumer `platform` reads revocations through.
pub fn revocations_consumer(platform: &str) -> String {
    format!("platform-{platform}-revocations")
}

/// The two consumers of `platform`: explicit acks, kept without limit while unacknowledged.
pub fn consumer_configs(platform: &str) -> [pull::Config; 2] {
    let config = |durable: String, subject: &str, what: &str| pull::Config {
        durable_name: Some(durable),
        description: Some(format!("{what} for e-license platform {platform}")),
        filter_subject: subject.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    };
    [
        config(
            licenses_consumer(platform),
            elicense::LICENSE_ISSUED,
            "issued licenses",
        ),
        config(
            revocations_consumer(platform),
            elicense::LICENSE_REVOKED,
            "revoked licenses",
        ),
    ]
}

/// Creates each of `platforms`' consumers that does not exist yet; existing ones are left as
/// they are.
pub async fn ensure(
    jetstream: &jetstream::Context,
    platforms: &[String],
) -> Result<(), async_nats::Error> {
    let stream = streams::ensure(jetstream, streams::ELICENSE).await?;
    for platform in platforms {
        for config in consumer_configs(platform) {
            let name = config.durable_name.clone().unwrap_or_default();
            stream.get_or_create_consumer(&name, config).await?;
        }
    }
    Ok(())
}

/// Reads a comma-separated list of platform codes: each 1 to 32 ASCII letters, digits, `-` or
/// `_`, as they appear in consumer names.
pub fn parse_platforms(text: &str) -> Result<Vec<String>, String> {
    let codes: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::to_owned)
        .collect();
    if codes.is_empty() {
        return Err("expected at least one platform code".to_owned());
    }
    for code in &codes {
        let valid = code.len() <= 32
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "platform code {code:?}: expected 1 to 32 ASCII letters, digits, `-` or `_`"
            ));
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_lists_are_checked() {
        assert_eq!(
            parse_platforms(" henan-elicense, gov_2 ").unwrap(),
            ["henan-elicense", "gov_2"]
        );
        assert!(parse_platforms("").is_err());
        assert!(parse_platforms(" , ").is_err());
        assert!(parse_platforms("henan.elicense").is_err());
        assert!(parse_platforms(&"x".repeat(33)).is_err());
    }

    #[test]
    fn each_platform_has_its_own_two_consumers() {
        let [licenses, revocations] = consumer_configs("henan-elicense");
        assert_eq!(
            licenses.durable_name.as_deref(),
            Some("platform-henan-elicense-licenses")
        );
        assert_eq!(licenses.filter_subject, elicense::LICENSE_ISSUED);
        assert_eq!(
            revocations.durable_name.as_deref(),
            Some("platform-henan-elicense-revocations")
        );
        assert_eq!(revocations.filter_subject, elicense::LICENSE_REVOKED);
    }
}
