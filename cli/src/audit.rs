//! `residence audit verify`: walks every case's audit chain in the services' databases and
//! names the first broken link of each. Reads the databases directly, so it works on a
//! stopped system too (the run folder `residence demo --keep` leaves, say).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::system::Service;

/// The services that keep an audit trail: every one with a staff or applicant API.
pub const AUDITED: [Service; 5] = [
    Service::Intake,
    Service::Review,
    Service::Decision,
    Service::Delivery,
    Service::Elicense,
];

/// `residence audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every case's hash chain; exits with status 0 only when all hold.
    Verify(VerifyArgs),
}

/// `residence audit verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only this service's trail [default: every service that keeps one].
    #[arg(long, value_parser = audited_service)]
    pub service: Option<Service>,

    /// The data directory holding the services' SQLite files, as their `--data-dir`.
    #[arg(long, env = "RESIDENCE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// A PostgreSQL URL instead, where each service keeps its tables in the schema named
    /// after it.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Runs an `audit` command.
pub fn run(command: &AuditCommand, out: &mut impl Write) -> Result<ExitCode> {
    let AuditCommand::Verify(args) = command;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let intact = runtime.block_on(verify(args, out))?;
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks the trails `args` name, one line per service and one per broken chain; true when
/// every chain holds.
pub async fn verify(args: &VerifyArgs, out: &mut impl Write) -> Result<bool> {
    let services: Vec<Service> = match args.service {
        Some(service) => vec![service],
        None => AUDITED.to_vec(),
    };
    let mut intact = true;
    for service in services {
        let db = open(args, service).await?;
        let report = residence_audit::verify(&db)
            .await
            .with_context(|| format!("cannot read the {service} audit trail"))?;
        // Nothing was written, so a failed close loses nothing.
        let _ = db.close().await;
        let state = if report.is_intact() {
            "intact".to_owned()
        } else {
            format!("{} broken", report.broken.len())
        };
        writeln!(
            out,
            "{service}: {} chains, {} records, {state}",
            report.chains, report.records
        )?;
        for link in &report.broken {
            writeln!(
                out,
                "  case {} seq {}: {}",
                link.case_number, link.seq, link.problem
            )?;
        }
        intact &= report.is_intact();
    }
    Ok(intact)
}

async fn open(args: &VerifyArgs, service: Service) -> Result<DatabaseConnection> {
    let mut options = match &args.database_url {
        Some(url) => {
            let mut options = ConnectOptions::new(url.clone());
            options.set_schema_search_path(service.name().replace('-', "_"));
            options
        }
        None => {
            let file = args.data_dir.join(format!("{}.db", service.name()));
            anyhow::ensure!(
                file.is_file(),
                "no {service} database at {}: give --data-dir or --database-url",
                file.display()
            );
            ConnectOptions::new(format!("sqlite://{}?mode=ro", file.display()))
        }
    };
    options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .with_context(|| format!("cannot open the {service} database"))
}

fn audited_service(text: &str) -> Result<Service, String> {
    AUDITED
        .into_iter()
        .find(|service| service.name() == text.trim())
        .ok_or_else(|| {
            let names: Vec<&str> = AUDITED.iter().map(|s| s.name()).collect();
            format!("expected one of {}, got {text:?}", names.join(", "))
        })
}
