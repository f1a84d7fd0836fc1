//! 收件 and 受理: the intake service receives applications over gRPC, accepts or refuses them
//! by the rules, owns each case's number, access code, status and history, and follows the
//! case through the later stages by their events.

pub mod access;
pub mod api;
pub mod case_number;
pub mod clock;
pub mod entity;
pub mod feedback;
pub mod metrics;
pub mod migration;
pub mod notify;
pub mod progress;
pub mod request;
pub mod status;
pub mod store;
pub mod supervision;
pub mod sweeper;
pub mod verdict;

use std::path::PathBuf;
use std::sync::Arc;

use residence_eventing::{ConsumerSpec, streams};
use residence_proto::v1::intake_service_server::IntakeServiceServer;
use residence_proto::v1::supervision_service_server::SupervisionServiceServer;
use residence_runtime::{CommonArgs, Service};
use residence_sealing::SealedColumn;
use residence_staff::StaffArgs;

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50051;

/// Command-line flags of the intake service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-intake", about = "收件 and 受理 for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub staff: StaffArgs,

    /// File holding the secret that derives applicants' access codes; created on first start.
    /// Every intake replica must read the same file.
    #[arg(long, env = "RESIDENCE_ACCESS_CODE_KEY_FILE")]
    pub access_code_key_file: Option<PathBuf>,

    /// Hours before a case's time limit runs out (midnight China time at the end of its due
    /// date) that its warning event goes out; never earlier than the due date itself.
    #[arg(
        long,
        env = "RESIDENCE_DEADLINE_WARNING_HOURS",
        default_value_t = 8,
        value_parser = clap::value_parser!(u32).range(0..=24)
    )]
    pub deadline_warning_hours: u32,

    /// Seconds between checks of the time-limit clocks for warnings and overdue cases.
    #[arg(
        long,
        env = "RESIDENCE_CLOCK_CHECK_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub clock_check_secs: u64,

    /// Seconds a case may wait on review, decision, the start of delivery or its license
    /// before intake asks every service to publish its events again.
    #[arg(
        long,
        env = "RESIDENCE_STAGE_BUDGET_SECS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u32).range(1..=86_400)
    )]
    pub stage_budget_secs: u32,

    /// Seconds a case may wait on a person (a reviewer, the deciding officer) before the
    /// same happens: a reviewer's answer the broker lost shows up after this.
    #[arg(
        long,
        env = "RESIDENCE_STAFF_BUDGET_SECS",
        default_value_t = 86_400,
        value_parser = clap::value_parser!(u32).range(1..=2_592_000)
    )]
    pub staff_budget_secs: u32,

    /// The applicants' message templates (TOML, as deploy/notifications.toml); the shipped
    /// templates when not given. Read again on SIGHUP.
    #[arg(long, env = "RESIDENCE_NOTIFICATION_TEMPLATES")]
    pub notification_templates: Option<PathBuf>,

    /// Seconds a case may wait with the courier before the same happens.
    #[arg(
        long,
        env = "RESIDENCE_COURIER_BUDGET_SECS",
        default_value_t = 21_600,
        value_parser = clap::value_parser!(u32).range(1..=2_592_000)
    )]
    pub courier_budget_secs: u32,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = Arc::new(args.common.load_item()?);
    let templates = notify::SharedTemplates::load(args.notification_templates.as_deref())?;
    let key_file = args
        .access_code_key_file
        .clone()
        .unwrap_or_else(|| args.common.data_dir.join("intake-access-code.key"));
    let access = Arc::new(access::AccessCodes::from_key_file(&key_file)?);
    let staff = args
        .staff
        .load(&args.common.data_dir, &item.implementing_body.region_code)?;

    let mut service =
        Service::start::<migration::Migrator>("intake", &args.common, DEFAULT_PORT).await?;
    service.seal_legacy_rows(&[SealedColumn::of(
        entity::case::Entity,
        entity::case::Column::CaseNumber,
        entity::case::Column::Application,
    )]);
    service.spawn({
        let templates = templates.clone();
        |shutdown| templates.reload_on_hangup(shutdown)
    });
    let notifier = notify::Notifier {
        templates,
        outbox: service.outbox(),
        item: Arc::clone(&item),
    };
    let jetstream = service.jetstream();
    service.spawn(|shutdown| async move {
        // The gateway's consumer, created again should the broker lose it.
        loop {
            if let Err(error) = notify::ensure_gateway_feed(&jetstream).await {
                tracing::warn!(%error, "could not create the notification gateway's consumer yet");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            }
        }
    });
    let progress = ConsumerSpec::new(progress::CONSUMER, streams::RESIDENCE, progress::SUBJECTS);
    let progress_handler = progress::ProgressHandler {
        db: service.db().clone(),
        item: Arc::clone(&item),
        calendar: service.calendar(),
        notifier: notifier.clone(),
    };
    service.consume(progress, progress_handler);

    let warning_ahead = chrono::TimeDelta::hours(i64::from(args.deadline_warning_hours));
    let watcher = clock::Watcher {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        calendar: service.calendar(),
        warning_ahead,
    };
    let every = std::time::Duration::from_secs(args.clock_check_secs);
    service.spawn(|shutdown| watcher.run(every, shutdown));

    let sweeper = sweeper::Sweeper {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        budgets: sweeper::Budgets {
            stage: chrono::TimeDelta::seconds(i64::from(args.stage_budget_secs)),
            courier: chrono::TimeDelta::seconds(i64::from(args.courier_budget_secs)),
            staff: chrono::TimeDelta::seconds(i64::from(args.staff_budget_secs)),
        },
    };
    // Often enough that a stuck case waits little more than its budget.
    let sweep_every =
        std::time::Duration::from_secs(u64::from(args.stage_budget_secs / 4).clamp(1, 30));
    service.spawn(|shutdown| sweeper.run(sweep_every, shutdown));
    let db = service.db().clone();
    service.spawn(|shutdown| metrics::run(db, shutdown));

    let store = store::Store {
        db: service.db().clone(),
        outbox: service.outbox(),
        item,
        calendar: service.calendar(),
        warning_ahead,
        notifier,
    };
    let supervision = supervision::SupervisionApi {
        store: store.clone(),
        staff: staff.clone(),
        now: residence_runtime::time::TimeSource::system(),
    };
    let api = api::IntakeApi {
        store,
        access,
        relay: service.relay(),
        now: residence_runtime::time::TimeSource::system(),
        staff,
    };
    tracing::info!(addr = %service.local_addr(), "intake serving");
    service
        .serve_two(
            IntakeServiceServer::new(api),
            SupervisionServiceServer::new(supervision),
        )
        .await
}
