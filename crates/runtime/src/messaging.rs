//! The NATS connection of a service.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;

/// A connected client and its JetStream context.
#[derive(Clone, Debug)]
pub struct Messaging {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
}

/// A NATS user and its password, read from a file. The password never prints.
#[derive(Clone)]
pub struct NatsCredentials {
    user: String,
    password: String,
}

impl NatsCredentials {
    /// `user` with the password on the first line of `password_file`.
    pub fn read(user: &str, password_file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(password_file).with_context(|| {
            format!("cannot read nats password file {}", password_file.display())
        })?;
        let password = text.lines().next().unwrap_or_default().trim().to_owned();
        if user.trim().is_empty() || password.is_empty() {
            anyhow::bail!(
                "nats credentials need a user and a password on the first line of {}",
                password_file.display()
            );
        }
        Ok(Self {
            user: user.trim().to_owned(),
            password,
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Connection options that log in as this user.
    pub fn connect_options(&self) -> async_nats::ConnectOptions {
        async_nats::ConnectOptions::new()
            .user_and_password(self.user.clone(), self.password.clone())
    }
}

impl std::fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Connects to `url` as `service`, with `credentials` when the server requires them, retrying
/// until the server answers, and makes sure the streams exist. The client reconnects by itself
/// afterwards.
pub async fn connect(
    url: &str,
    credentials: Option<&NatsCredentials>,
    service: &str,
) -> anyhow::Result<Messaging> {
    let options = credentials.map_or_else(
        async_nats::ConnectOptions::new,
        NatsCredentials::connect_options,
    );
    let client = options
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
        .connect(server_list(url).as_slice())
        .await
        .with_context(|| format!("cannot connect to nats at {url}"))?;
    let jetstream = jetstream::new(client.clone());
    // A cluster that is still electing its leaders answers JetStream calls with errors for a
    // while; wait for it rather than exit, up to a limit a supervisor would notice.
    let give_up = tokio::time::Instant::now() + JETSTREAM_PATIENCE;
    let mut pause = Duration::from_millis(200);
    let mut attempt = 0_u32;
    loop {
        match residence_eventing_streams(&jetstream).await {
            Ok(()) => break,
            Err(error) if tokio::time::Instant::now() < give_up => {
                attempt += 1;
                if attempt.is_multiple_of(10) {
                    tracing::info!(%error, attempt, "jetstream not ready yet; waiting");
                } else {
                    tracing::debug!(%error, attempt, "jetstream not ready");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(error) => return Err(anyhow::anyhow!("cannot set up jetstream streams: {error}")),
        }
    }
    Ok(Messaging { client, jetstream })
}

/// How long a starting service waits for JetStream to create its streams before it gives up.
const JETSTREAM_PATIENCE: Duration = Duration::from_secs(60);

/// The servers of `url`, which may list several separated by commas (a cluster's nodes).
fn server_list(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .collect()
}

async fn residence_eventing_streams(
    jetstream: &jetstream::Context,
) -> Result<(), async_nats::Error> {
    residence_eventing::streams::ensure_all(jetstream).await
}
