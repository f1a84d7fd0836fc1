//! Settings shared by every service: flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use residence_item::ServiceItem;

use crate::calendar::{CalendarLoadError, SharedCalendar};
use crate::messaging::NatsCredentials;

/// Flags every service accepts. Each flag can also come from the environment variable named.
#[derive(Clone, Debug, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file: a `[common]` table and one per service, between the
    /// built-in defaults and the environment variables (see `docs/operations.md`).
    #[arg(long, env = "RESIDENCE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address the gRPC server listens on.
    #[arg(long, env = "RESIDENCE_GRPC_ADDR")]
    pub grpc_addr: Option<SocketAddr>,

    /// NATS server URL; several, separated by commas, for the nodes of a cluster.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// Copies of each JetStream stream kept when the service creates it: 1 on a single
    /// server, 3 on a three-node cluster (1 to 5). Streams that exist keep theirs.
    #[arg(
        long,
        env = "RESIDENCE_STREAM_REPLICAS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(1..=5)
    )]
    pub stream_replicas: u8,

    /// Migrate the service's database, then exit without connecting to NATS or binding a
    /// port: for a migration job that runs before the new version is rolled out.
    #[arg(long, env = "RESIDENCE_MIGRATE_ONLY")]
    pub migrate_only: bool,

    /// NATS user to connect as, when the server requires credentials (the services' account
    /// in `deploy/nats/accounts.conf`). Needs `--nats-password-file`.
    #[arg(long, env = "NATS_USER", requires = "nats_password_file")]
    pub nats_user: Option<String>,

    /// File holding the NATS user's password on its first line, read once at start so the
    /// password is never in a flag, the environment or a log line.
    #[arg(long, env = "NATS_PASSWORD_FILE", requires = "nats_user")]
    pub nats_password_file: Option<PathBuf>,

    /// Database URL (`sqlite://…` or `postgres://…`). A per-service variable
    /// `RESIDENCE_<SERVICE>_DATABASE_URL` wins over this one. Without either, a SQLite file
    /// named after the service in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// File holding the database URL, password included, on its first line, read once at
    /// start so the password is never in a flag or the environment. Wins over
    /// `--database-url`; a per-service variable still wins over it.
    #[arg(long, env = "DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,

    /// File holding the secret that seals personal data in the database (at least 32
    /// characters; made on first start, mode 0600) [default: <data-dir>/data.key]. Every
    /// replica of a service must read the same file, and a database cannot be read without the
    /// key it was written with: back the file up, apart from the database backups.
    #[arg(long, env = "RESIDENCE_DATA_KEY_FILE")]
    pub data_key_file: Option<PathBuf>,

    /// Directory for SQLite files and other local state.
    #[arg(long, env = "RESIDENCE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The service item definition.
    #[arg(
        long,
        env = "RESIDENCE_SERVICE_ITEM",
        default_value = "deploy/service-item.toml"
    )]
    pub service_item: PathBuf,

    /// Directory of holiday calendars, one `YYYY.toml` per year.
    #[arg(
        long,
        env = "RESIDENCE_CALENDAR_DIR",
        default_value = "deploy/calendars"
    )]
    pub calendar_dir: PathBuf,

    /// Seconds between two readings of the calendar directory while the service runs, 1 to
    /// 86400 (the missing-year warning is checked at each reading); SIGHUP reads it at once.
    #[arg(
        long,
        env = "RESIDENCE_CALENDAR_RELOAD_SECS",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub calendar_reload_secs: u64,

    /// Log format: `text` or `json`.
    #[arg(long, env = "RESIDENCE_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::telemetry::LogFormat,
}

impl CommonArgs {
    /// The gRPC address, or the service's default port on loopback.
    pub fn grpc_addr_or(&self, default_port: u16) -> SocketAddr {
        self.grpc_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)))
    }

    /// Loads and validates the service item; an error names the bad field.
    pub fn load_item(&self) -> anyhow::Result<ServiceItem> {
        ServiceItem::load(&self.service_item)
            .with_context(|| format!("service item {} is not usable", self.service_item.display()))
    }

    /// The keys that seal personal data, from `--data-key-file`, made on first start.
    pub fn load_data_keys(&self) -> anyhow::Result<residence_sealing::DataKeys> {
        let path = self
            .data_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("data.key"));
        let secret = residence_sealing::read_or_create_key(&path, "data key")?;
        residence_sealing::DataKeys::new(&secret)
            .with_context(|| format!("data key {} is not usable", path.display()))
    }

    /// The NATS credentials, reading the password file; none without `--nats-user`.
    pub fn nats_credentials(&self) -> anyhow::Result<Option<NatsCredentials>> {
        let (Some(user), Some(file)) = (&self.nats_user, &self.nats_password_file) else {
            return Ok(None);
        };
        NatsCredentials::read(user, file).map(Some)
    }

    /// Loads every `YYYY.toml` in the calendar directory, as a calendar that can be reloaded.
    pub fn load_calendar(&self) -> Result<SharedCalendar, CalendarLoadError> {
        SharedCalendar::load(&self.calendar_dir)
    }

    /// How often the calendar directory is read again.
    pub fn calendar_reload_interval(&self) -> Duration {
        Duration::from_secs(self.calendar_reload_secs)
    }

    /// The database URL for `service`: the per-service variable, then the URL file, then
    /// `--database-url`, then a SQLite file in the data directory.
    pub fn database_url(&self, service: &str) -> anyhow::Result<String> {
        let variable = format!("RESIDENCE_{}_DATABASE_URL", service.to_uppercase());
        if let Ok(url) = std::env::var(variable)
            && !url.trim().is_empty()
        {
            return Ok(url);
        }
        if let Some(file) = &self.database_url_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the database URL file {}", file.display()))?;
            let url = text.lines().next().unwrap_or_default().trim();
            anyhow::ensure!(
                !url.is_empty(),
                "database URL file {} is empty",
                file.display()
            );
            return Ok(url.to_owned());
        }
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let file = self.data_dir.join(format!("{service}.db"));
        Ok(format!("sqlite://{}?mode=rwc", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn parse(flags: &[&str]) -> Result<CommonArgs, clap::Error> {
        let argv = std::iter::once("service").chain(flags.iter().copied());
        Flags::try_parse_from(argv).map(|flags| flags.common)
    }

    #[test]
    fn nats_credentials_need_a_user_and_a_password_file() {
        assert!(parse(&[]).unwrap().nats_credentials().unwrap().is_none());
        assert!(parse(&["--nats-user", "residence"]).is_err());
        assert!(parse(&["--nats-password-file", "/run/secrets/nats"]).is_err());

        let file = std::env::temp_dir().join(format!("nats-password-{}", std::process::id()));
        std::fs::write(&file, "s3cret-Pa55\n").unwrap();
        let path = file.display().to_string();
        let args = parse(&["--nats-user", "residence", "--nats-password-file", &path]).unwrap();
        let credentials = args.nats_credentials().unwrap().unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(credentials.user(), "residence");
        assert!(!format!("{credentials:?}").contains("s3cret"));
        assert!(args.nats_credentials().is_err(), "the file is gone");
    }

    #[test]
    fn the_calendar_reload_interval_is_checked() {
        let minute = parse(&["--calendar-reload-secs", "60"]).unwrap();
        assert_eq!(minute.calendar_reload_interval(), Duration::from_secs(60));
        assert!(parse(&["--calendar-reload-secs", "0"]).is_err());
        assert!(parse(&["--calendar-reload-secs", "86401"]).is_err());
        assert!(parse(&["--calendar-reload-secs", "hourly"]).is_err());
    }
}
