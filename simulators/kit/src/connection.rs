//! The simulator's one connection to NATS, from connecting to the last flushed ack.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use tokio_util::sync::CancellationToken;

use crate::consumer::{self, Binding, Feed, Handler};

/// How long shutting down waits for the last acks to reach the broker.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The JetStream API prefix of an account that has JetStream itself.
pub const DEFAULT_API_PREFIX: &str = "$JS.API";

/// How a partner logs in to the county's NATS server: the flags every simulator takes.
#[derive(Clone, Debug, clap::Args)]
pub struct Login {
    /// The partner's NATS user, when the county's server requires credentials. Needs
    /// `--nats-password-file`.
    #[arg(long, env = "NATS_USER", requires = "nats_password_file")]
    pub nats_user: Option<String>,

    /// File holding the NATS user's password on its first line.
    #[arg(long, env = "NATS_PASSWORD_FILE", requires = "nats_user")]
    pub nats_password_file: Option<PathBuf>,

    /// Prefix of the JetStream API calls: `JS.SERVICES.API` in a partner account of the
    /// county's server (deploy/nats/accounts.conf), `$JS.API` on a server without accounts.
    #[arg(long, env = "NATS_JS_API_PREFIX", default_value = DEFAULT_API_PREFIX)]
    pub js_api_prefix: String,
}

impl Default for Login {
    /// No credentials, the plain JetStream API: a server without accounts.
    fn default() -> Self {
        Self {
            nats_user: None,
            nats_password_file: None,
            js_api_prefix: DEFAULT_API_PREFIX.to_owned(),
        }
    }
}

impl Login {
    /// The NATS credentials, reading the password file; none without `--nats-user`.
    pub fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        match (&self.nats_user, &self.nats_password_file) {
            (Some(user), Some(file)) => Credentials::read(user, file).map(Some),
            _ => Ok(None),
        }
    }

    /// Connects to `url` as `client_name` with these settings.
    pub async fn connect(&self, url: &str, client_name: &str) -> anyhow::Result<Connection> {
        let credentials = self.credentials()?;
        Connection::open_as(url, client_name, credentials.as_ref(), &self.js_api_prefix).await
    }
}

/// A NATS user and its password, read from a file. The password never prints.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    password: String,
}

impl Credentials {
    /// `user` with the password on the first line of `password_file`.
    pub fn read(user: &str, password_file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(password_file)
            .with_context(|| format!("read nats password file {}", password_file.display()))?;
        let password = text.lines().next().unwrap_or_default().trim().to_owned();
        anyhow::ensure!(
            !user.trim().is_empty() && !password.is_empty(),
            "nats credentials need a user and a password on the first line of {}",
            password_file.display()
        );
        Ok(Self {
            user: user.trim().to_owned(),
            password,
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A NATS connection and its JetStream context.
#[derive(Debug)]
pub struct Connection {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl Connection {
    /// Connects to `url` as `client_name`, retrying in the background while the server is not
    /// up yet.
    pub async fn open(url: &str, client_name: &str) -> anyhow::Result<Self> {
        Self::open_as(url, client_name, None, DEFAULT_API_PREFIX).await
    }

    /// Connects like [`Connection::open`], as the user of `credentials` when given, calling
    /// the JetStream API under `api_prefix` ([`DEFAULT_API_PREFIX`] in the services' own
    /// account; another when the API is imported from there).
    pub async fn open_as(
        url: &str,
        client_name: &str,
        credentials: Option<&Credentials>,
        api_prefix: &str,
    ) -> anyhow::Result<Self> {
        let mut options = async_nats::ConnectOptions::new();
        if let Some(credentials) = credentials {
            options =
                options.user_and_password(credentials.user.clone(), credentials.password.clone());
        }
        let client = options
            .name(client_name)
            .retry_on_initial_connect()
            .connect(url)
            .await
            .with_context(|| format!("connect to nats at {url}"))?;
        let jetstream = jetstream::with_prefix(client.clone(), api_prefix);
        Ok(Self { client, jetstream })
    }

    /// The JetStream context, for publishing answers.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Hands every message of `feed` to `handler` until `shutdown` is cancelled, then finishes
    /// the message in flight and flushes the last acks. Waits for the stream if the services
    /// have not created it yet.
    pub async fn serve(&self, feed: &Feed, handler: &impl Handler, shutdown: &CancellationToken) {
        self.serve_with(feed, Binding::CreateIfMissing, handler, shutdown)
            .await;
    }

    /// Serves like [`Connection::serve`], but only binds to a consumer the services created
    /// and waits while it does not exist: what a partner whose credentials allow no more does.
    pub async fn serve_existing(
        &self,
        feed: &Feed,
        handler: &impl Handler,
        shutdown: &CancellationToken,
    ) {
        self.serve_with(feed, Binding::Existing, handler, shutdown)
            .await;
    }

    async fn serve_with(
        &self,
        feed: &Feed,
        binding: Binding,
        handler: &impl Handler,
        shutdown: &CancellationToken,
    ) {
        let durable_name = &feed.durable_name;
        tracing::info!(stream = feed.stream, consumer = %durable_name, "simulator started");
        consumer::serve(&self.jetstream, feed, binding, handler, shutdown).await;

        self.flush().await;
        tracing::info!(consumer = %durable_name, "simulator stopped");
    }

    /// Sends the last acks, without hanging on a broker that is gone.
    async fn flush(&self) {
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not flush the last acks to nats"),
            Err(_) => tracing::warn!("nats did not take the last acks in time"),
        }
    }
}
