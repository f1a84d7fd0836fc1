//! Nothing lost and nothing doubled under faults: services killed with SIGKILL, the broker
//! away for half a minute or back with an empty store, PostgreSQL restarted, SQLite under many
//! writers at once. Each test starts its own system, drives synthetic applications through it
//! with the demo's driver while the fault happens, and checks the end state the services
//! themselves recorded.
//!
//! The tests take turns: on a small machine two fault runs at once starve each other. Every
//! random choice comes from one seed per test, printed with any failure; set
//! `RESIDENCE_FAULT_SEED` to repeat a run. The service binaries must be built first
//! (`cargo build --workspace --bins`).

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use residence_cli::demo::{
    ChaosOptions, Clients, DriveOptions, DriveReport, Ledger, Progress, conclude,
    drive_under_chaos, drive_with_ledger,
};
use residence_cli::synthetic::{self, SyntheticApplication};
use residence_cli::system::{Database, Service, System, SystemOptions};
use residence_proto::v1 as pb;
use residence_runtime::time::china_today;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Endpoint;

/// Names a seed to use instead of a fresh one.
const SEED_ENV: &str = "RESIDENCE_FAULT_SEED";

/// Time allowed for every case to become final, from the first submission.
const DRIVE_TIMEOUT: Duration = Duration::from_secs(240);

/// Rounds of kills in the kill test; each round kills every kind of service once.
const KILL_ROUNDS: usize = 3;

/// How long the broker stays away in the outage test.
const BROKER_OUTAGE: Duration = Duration::from_secs(30);

/// How long PostgreSQL stays away when it is restarted.
const POSTGRES_OUTAGE: Duration = Duration::from_secs(5);

/// How long a fault may wait for the applications it should strike among.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Stage budget for intake's sweeper: a case stuck this many seconds is sent again.
const STAGE_BUDGET_SECS: &str = "5";

/// One fault run at a time.
static TAKE_TURNS: Mutex<()> = Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_killed_at_random_lose_and_double_nothing() -> Result<()> {
    fault_test("kills", async |seed| {
        let count = 120;
        let mut system = start("kills", Database::Sqlite, seed, Vec::new()).await?;
        let chaos = ChaosOptions {
            pause_between: Duration::from_millis(1_000)..Duration::from_millis(2_500),
            down_for: Duration::from_millis(100)..Duration::from_millis(1_500),
            broker_restart: false,
            min_faults: KILL_ROUNDS * Service::ALL.len(),
            ..ChaosOptions::demo(seed)
        };
        let applications = applications(seed, count);
        let options = drive_options(Duration::from_millis(400));
        let (drive, chaos) = drive_under_chaos(&mut system, applications, options, &chaos).await?;
        eprintln!("kills: {}, {}", chaos.describe(), chaos.kills_by_service());

        let mut problems = chaos.problems.clone();
        for service in Service::ALL {
            let kills = chaos.kills.get(&service).copied().unwrap_or(0);
            if kills < KILL_ROUNDS {
                problems.push(format!(
                    "{service} was killed {kills} times, expected at least {KILL_ROUNDS}"
                ));
            }
        }
        conclude_and_check(system, count, &drive, problems).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_accepts_while_the_broker_is_away_and_everything_drains() -> Result<()> {
    fault_test("broker-outage", async |seed| {
        let count = 100;
        let mut system = start("broker-outage", Database::Sqlite, seed, Vec::new()).await?;
        let applications = applications(seed, count);
        let options = drive_options(Duration::from_millis(300));
        let (drive, outage) = drive_beside(
            &mut system,
            applications,
            options,
            async |system, ledger| {
                wait_until_submitted(ledger, count / 5).await?;
                system.nats_server().stop().await;
                let before = ledger.progress();
                tokio::time::sleep(BROKER_OUTAGE).await;
                let during = ledger.progress();
                system.nats_server().start_again().await?;
                Ok((before, during))
            },
        )
        .await?;

        let (before, during) = outage;
        let submitted = during.submitted - before.submitted;
        eprintln!("broker-outage: {submitted} applications submitted while the broker was away");
        let mut problems = Vec::new();
        if submitted == 0 {
            problems.push("no application was submitted while the broker was away".into());
        }
        if during.failed != before.failed || during.retried != before.retried {
            problems.push(format!(
                "calls failed while the broker was away: {} submissions failed, {} calls \
                 retried",
                during.failed - before.failed,
                during.retried - before.retried
            ));
        }
        conclude_and_check(system, count, &drive, problems).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_back_with_an_empty_store_loses_nothing() -> Result<()> {
    fault_test("empty-store", async |seed| {
        let count = 80;
        // A waybill or a parcel status the broker lost is asked for again by the courier's
        // acceptance watch and by intake's sweeper; in production after half an hour and six
        // hours, here within seconds.
        let budget = [
            ("RESIDENCE_STAGE_BUDGET_SECS", STAGE_BUDGET_SECS),
            ("RESIDENCE_COURIER_BUDGET_SECS", "15"),
            ("RESIDENCE_COURIER_ACCEPTANCE_TIMEOUT_SECS", "15"),
            ("RESIDENCE_COURIER_ACCEPTANCE_CHECK_SECS", "2"),
            ("RESIDENCE_COURIER_WAYBILL_REQUESTS", "20"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .to_vec();
        let mut system = start("empty-store", Database::Sqlite, seed, budget).await?;
        let applications = applications(seed, count);
        let options = drive_options(Duration::from_millis(50));
        let (drive, at_fault) = drive_beside(
            &mut system,
            applications,
            options,
            async |system, ledger| {
                wait_until_submitted(ledger, count / 3).await?;
                system.nats_server().restart_with_empty_store().await?;
                Ok(ledger.progress())
            },
        )
        .await?;
        let problems = struck_mid_run(at_fault, count).into_iter().collect();
        conclude_and_check(system, count, &drive, problems).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_ride_out_a_postgres_restart() -> Result<()> {
    fault_test("postgres-restart", async |seed| {
        let count = 80;
        let mut system = start("postgres-restart", Database::Postgres, seed, Vec::new()).await?;
        let applications = applications(seed, count);
        let options = drive_options(Duration::from_millis(100));
        let (drive, at_fault) = drive_beside(
            &mut system,
            applications,
            options,
            async |system, ledger| {
                wait_until_submitted(ledger, count / 3).await?;
                let postgres = system
                    .postgres_mut()
                    .context("no postgres in this system")?;
                postgres.stop().await;
                ensure!(!postgres.is_running(), "postgres did not stop");
                let at_fault = ledger.progress();
                tokio::time::sleep(POSTGRES_OUTAGE).await;
                postgres.start_again().await?;
                Ok(at_fault)
            },
        )
        .await?;
        eprintln!(
            "postgres-restart: {} calls retried in the run",
            drive.retried
        );
        let problems = struck_mid_run(at_fault, count).into_iter().collect();
        conclude_and_check(system, count, &drive, problems).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_takes_many_writers_at_once() -> Result<()> {
    fault_test("concurrent-writers", async |seed| {
        let count = 64;
        let mut system = start("writers", Database::Sqlite, seed, Vec::new()).await?;
        let applications = applications(seed, count);
        let failures = submit_at_once(&system, &applications).await?;

        // Driving the same applications again replays each submission (same request id) and
        // takes every case to its end, with as many writers at once as before.
        let options = DriveOptions {
            concurrency: count,
            ..drive_options(Duration::ZERO)
        };
        let (drive, ()) =
            drive_beside(&mut system, applications, options, async |_, _| Ok(())).await?;
        conclude_and_check(system, count, &drive, failures).await
    })
    .await
}

/// Submits every application at the same moment, each over its own connection, and returns
/// a line for each call that did not succeed.
async fn submit_at_once(
    system: &System,
    applications: &[SyntheticApplication],
) -> Result<Vec<String>> {
    let endpoint = Endpoint::from_shared(system.grpc_url(Service::Intake))?;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(applications.len()));
    let mut calls = JoinSet::new();
    for application in applications {
        let channel = endpoint.connect().await?;
        let mut intake = pb::intake_service_client::IntakeServiceClient::new(channel);
        let request = application.request.clone();
        let start = start.clone();
        calls.spawn(async move {
            start.wait().await;
            let id = request.client_request_id.clone();
            (id, intake.submit_application(request).await)
        });
    }

    let mut failures = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (id, response) = joined?;
        if let Err(status) = response {
            failures.push(format!(
                "concurrent submission {id} failed: {:?}: {}",
                status.code(),
                status.message()
            ));
        }
    }
    Ok(failures)
}

/// Runs `body` with this test's seed while no other fault test runs, and says how long it
/// took and, on failure, how to repeat it.
async fn fault_test(name: &str, body: impl AsyncFnOnce(u64) -> Result<()>) -> Result<()> {
    let _turn = TAKE_TURNS.lock().await;
    let seed = seed()?;
    eprintln!("{name}: seed {seed}");
    let started = Instant::now();
    let result = body(seed).await;
    eprintln!("{name}: took {:.1} s", started.elapsed().as_secs_f64());
    result.with_context(|| format!("{name} failed with seed {seed}; repeat with {SEED_ENV}={seed}"))
}

fn seed() -> Result<u64> {
    match std::env::var(SEED_ENV) {
        Ok(text) => text
            .parse()
            .with_context(|| format!("{SEED_ENV} must be a whole number, got {text:?}")),
        Err(_) => Ok(rand_seed()),
    }
}

/// A fresh seed, so that every run tries other choices.
fn rand_seed() -> u64 {
    // The standard library keys every `RandomState` at random.
    RandomState::new().build_hasher().finish()
}

async fn start(
    name: &str,
    database: Database,
    seed: u64,
    extra_env: Vec<(String, String)>,
) -> Result<System> {
    let options = SystemOptions {
        database,
        extra_env,
        partner_seed: seed,
        run_prefix: format!("faults-{name}"),
        ..SystemOptions::default()
    };
    System::start(options).await
}

fn applications(seed: u64, count: usize) -> Vec<SyntheticApplication> {
    synthetic::applications(seed, china_today(), count)
}

/// Eight submissions in flight, started at least `submit_interval` apart.
fn drive_options(submit_interval: Duration) -> DriveOptions {
    DriveOptions {
        concurrency: 8,
        submit_interval,
        timeout: DRIVE_TIMEOUT,
        show_progress: false,
    }
}

/// Drives `applications` through `system` while `fault` runs beside, with the system and the
/// driver's ledger to time itself by. A fault that fails ends the run at once.
async fn drive_beside<T>(
    system: &mut System,
    applications: Vec<SyntheticApplication>,
    options: DriveOptions,
    fault: impl AsyncFnOnce(&mut System, &Ledger) -> Result<T>,
) -> Result<(DriveReport, T)> {
    let clients = Clients::for_system(system)?;
    let ledger = Ledger::default();
    let driving = async {
        let report = drive_with_ledger(clients, applications, options, &ledger).await;
        Ok::<_, anyhow::Error>(report)
    };
    tokio::try_join!(driving, fault(system, &ledger))
}

/// Waits until the driver got case numbers for `count` applications.
async fn wait_until_submitted(ledger: &Ledger, count: usize) -> Result<Progress> {
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    loop {
        let progress = ledger.progress();
        if progress.submitted >= count {
            return Ok(progress);
        }
        ensure!(
            Instant::now() < deadline,
            "only {} of {count} applications submitted after {ARRIVAL_TIMEOUT:?}",
            progress.submitted
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A problem if every case was already final when the fault came, which would prove nothing.
fn struck_mid_run(at_fault: Progress, count: usize) -> Option<String> {
    eprintln!(
        "fault came with {} of {count} applications submitted, {} cases final",
        at_fault.submitted, at_fault.finals
    );
    (at_fault.finals >= count).then(|| "the fault came after every case was final".to_owned())
}

/// Lets the run settle, stops the system and checks what the services recorded: every
/// application a case, every case final, no effect twice, a license for every approval.
/// `problems` seen earlier in the test fail it as well. The run folder is kept on failure.
async fn conclude_and_check(
    mut system: System,
    count: usize,
    drive: &DriveReport,
    mut problems: Vec<String>,
) -> Result<()> {
    let conclusion = conclude(&mut system, drive).await;
    let summary = &conclusion.summary;
    eprintln!(
        "summary: {} submitted, {} approved, {} licenses, {} not final, {} duplicate effects, \
         {} calls retried",
        summary.submitted,
        summary.approved,
        summary.licenses_issued,
        summary.not_final,
        summary.duplicate_effects,
        drive.retried
    );

    let expected = u64::try_from(count)?;
    if summary.submitted != expected {
        problems.push(format!(
            "{} cases for {count} applications",
            summary.submitted
        ));
    }
    if summary.not_final != 0 {
        let open: Vec<&str> = drive
            .open_cases
            .iter()
            .take(10)
            .map(String::as_str)
            .collect();
        problems.push(format!(
            "{} cases not final, such as {}",
            summary.not_final,
            open.join(", ")
        ));
    }
    if summary.duplicate_effects != 0 {
        problems.push(format!("duplicate effects: {:?}", summary.duplicates));
    }
    if summary.approved == 0 || summary.licenses_issued != summary.approved {
        problems.push(format!(
            "{} licenses issued for {} approvals",
            summary.licenses_issued, summary.approved
        ));
    }
    problems.extend(
        summary
            .problems
            .iter()
            .map(|problem| format!("summary: {problem}")),
    );
    problems.extend(drive.submit_failures.iter().cloned());
    problems.extend(
        conclusion
            .exited_processes
            .iter()
            .map(|name| format!("{name} exited during the run")),
    );

    if !problems.is_empty() {
        system.keep_run_dir();
        eprintln!("{summary}");
    }
    let run_dir = system.run_dir().to_path_buf();
    system.stop().await?;
    ensure!(
        problems.is_empty(),
        "{}\nrun folder kept: {}",
        problems.join("\n"),
        run_dir.display()
    );
    Ok(())
}
