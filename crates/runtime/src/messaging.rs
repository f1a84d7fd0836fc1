//! The NATS connection of a service.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;

/// A connected client and its JetStream context.
#[derive(Clone, Debug)]
pub struct Messaging {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
}

/// Connects to `url` as `service`, retrying until the server answers, and makes sure the
/// streams exist. The client reconnects by itself afterwards.
pub async fn connect(url: &str, service: &str) -> anyhow::Result<Messaging> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("residence-{service}"))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("disconnected from nats"),
                async_nats::Event::Connected => tracing::info!("connected to nats"),
                other => tracing::debug!(event = %other, "nats event"),
            }
        })
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to nats at {url}"))?;
    let jetstream = jetstream::new(client.clone());
    let mut attempt = 0;
    loop {
        match residence_eventing_streams(&jetstream).await {
            Ok(()) => break,
            Err(error) if attempt < 30 => {
                attempt += 1;
                tracing::debug!(%error, attempt, "jetstream not ready");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(anyhow::anyhow!("cannot set up jetstream streams: {error}")),
        }
    }
    Ok(Messaging { client, jetstream })
}

async fn residence_eventing_streams(
    jetstream: &jetstream::Context,
) -> Result<(), async_nats::Error> {
    residence_eventing::streams::ensure_all(jetstream).await
}
