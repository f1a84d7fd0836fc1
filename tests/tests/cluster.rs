//! Many machines, tested on one: the pipeline on a three-node JetStream cluster started from
//! the shipped `deploy/nats/cluster/` files, losing the stream leader mid-run and getting it
//! back later; and two replicas of every
//! service sharing their database and durable consumers. Nothing may be lost or doubled, and
//! the replicas must share the work.
//!
//! The tests take turns; the service binaries must be built first
//! (`cargo build --workspace --bins`).

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use residence_cli::demo::{
    Clients, DriveOptions, DriveReport, Ledger, conclude, drive_with_ledger,
};
use residence_cli::synthetic;
use residence_cli::system::{Database, Service, System, SystemOptions};
use residence_eventing::streams;
use residence_launcher::{NatsCluster, RunDir, ensure_nats_server, project_root};
use residence_runtime::time::china_today;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Seed of the synthetic applications and of the logistics partner's choices.
const SEED: u64 = 20_261_204;

/// Time allowed for every case to become final, from the first submission.
const DRIVE_TIMEOUT: Duration = Duration::from_secs(150);

/// How long the node loss may wait for the applications it should strike among.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(60);

/// The consumer's debug line for each event it handled, counted per replica.
const HANDLED: &str = "event handled";

/// One system at a time: on a small machine two at once starve each other.
static TAKE_TURNS: Mutex<()> = Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_nats_node_mid_run_loses_nothing() -> Result<()> {
    let _turn = TAKE_TURNS.lock().await;
    let started = Instant::now();
    let root = project_root()?;
    let binary = ensure_nats_server(&root).await?;
    let mut cluster_dir = RunDir::new("cluster-nats")?;
    let mut cluster = NatsCluster::start(&binary, cluster_dir.path(), &root).await?;

    let options = SystemOptions {
        nats_urls: Some(cluster.url_list()),
        stream_replicas: 3,
        partner_seed: SEED,
        run_prefix: "cluster".into(),
        ..SystemOptions::default()
    };
    let mut system = System::start(options).await?;
    let count = 60;
    let applications = synthetic::applications(SEED, china_today(), count);
    let clients = Clients::for_system(&system)?;
    let ledger = Ledger::default();
    let driving = async {
        let options = drive_options(Duration::from_millis(200));
        Ok(drive_with_ledger(clients, applications, options, &ledger).await)
    };
    let losing_a_node = async {
        wait_until_submitted(&ledger, count / 3).await?;
        let leader = stream_leader(&cluster.url_list()).await?;
        let node = cluster
            .node_mut(&leader)
            .with_context(|| format!("no node named {leader}"))?;
        node.kill().await;
        let at_fault = ledger.progress();
        eprintln!(
            "cluster: killed {leader}, the RESIDENCE stream's leader, with {} of {count} \
             submitted and {} final",
            at_fault.submitted, at_fault.finals
        );
        ensure!(
            at_fault.finals < count,
            "every case was final before the node was lost"
        );

        // The node comes back while work goes on and catches up from the others.
        wait_until_submitted(&ledger, 2 * count / 3).await?;
        node.start_again().await?;
        eprintln!("cluster: {leader} is back and current");
        Ok(())
    };
    let (drive, ()) = tokio::try_join!(driving, losing_a_node)?;

    let result = check(&mut system, count, &drive, Vec::new()).await;
    if result.is_err() {
        cluster_dir.keep();
        eprintln!("nats cluster folder kept: {}", cluster_dir.path().display());
    }
    cluster.stop().await;
    eprintln!("cluster: took {:.1} s", started.elapsed().as_secs_f64());
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_every_service_share_the_work_without_duplicates() -> Result<()> {
    let _turn = TAKE_TURNS.lock().await;
    let started = Instant::now();
    let log_filter = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,async_nats=warn,\
                      h2=warn,hyper=warn,tower=warn,residence_eventing::consumer=debug";
    let options = SystemOptions {
        database: Database::Postgres,
        replicas: 2,
        extra_env: vec![("RUST_LOG".to_owned(), log_filter.to_owned())],
        partner_seed: SEED,
        run_prefix: "replicas".into(),
        ..SystemOptions::default()
    };
    let mut system = System::start(options).await?;
    let count = 80;
    let applications = synthetic::applications(SEED, china_today(), count);
    let clients = Clients::for_system(&system)?;
    let options = drive_options(Duration::from_millis(100));
    let drive = drive_with_ledger(clients, applications, options, &Ledger::default()).await;

    // Read after the processes stopped, in `check`, so every log is complete.
    let spread = |system: &System| {
        let mut problems = Vec::new();
        for service in Service::ALL {
            let handled: Vec<(String, usize)> = system
                .replica_names(service)
                .into_iter()
                .map(|name| {
                    let log = std::fs::read_to_string(system.log_file(&name)).unwrap_or_default();
                    let lines = log.lines().filter(|line| line.contains(HANDLED)).count();
                    (name, lines)
                })
                .collect();
            eprintln!("replicas: {service} handled {handled:?}");
            let total: usize = handled.iter().map(|(_, lines)| lines).sum();
            if handled.len() != 2 {
                problems.push(format!("{service} ran {} processes, not 2", handled.len()));
            }
            // A service that handled a fair number of events must have had both replicas
            // take part; one with few (intake only answers resend requests) proves nothing.
            let idle = handled.iter().filter(|(_, lines)| *lines == 0);
            if total >= 20 {
                problems.extend(idle.map(|(name, _)| format!("{name} handled no event")));
            }
        }
        problems
    };
    let result = check_with(&mut system, count, &drive, spread).await;
    eprintln!("replicas: took {:.1} s", started.elapsed().as_secs_f64());
    result
}

/// The node that leads the RESIDENCE stream, after checking the stream keeps three copies.
async fn stream_leader(urls: &str) -> Result<String> {
    let servers: Vec<&str> = urls.split(',').collect();
    let client = async_nats::connect(servers).await?;
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream
        .get_stream(streams::RESIDENCE)
        .await
        .map_err(|error| anyhow::anyhow!("read the RESIDENCE stream: {error}"))?;
    let info = stream
        .info()
        .await
        .map_err(|error| anyhow::anyhow!("read the RESIDENCE stream: {error}"))?;
    ensure!(
        info.config.num_replicas == 3,
        "the RESIDENCE stream keeps {} copies, expected 3",
        info.config.num_replicas
    );
    info.cluster
        .as_ref()
        .and_then(|cluster| cluster.leader.clone())
        .context("the RESIDENCE stream has no leader")
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

/// Waits until the driver got case numbers for `count` applications.
async fn wait_until_submitted(ledger: &Ledger, count: usize) -> Result<()> {
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    while ledger.progress().submitted < count {
        ensure!(
            Instant::now() < deadline,
            "only {} of {count} applications submitted after {ARRIVAL_TIMEOUT:?}",
            ledger.progress().submitted
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn check(
    system: &mut System,
    count: usize,
    drive: &DriveReport,
    problems: Vec<String>,
) -> Result<()> {
    check_with(system, count, drive, move |_| problems.clone()).await
}

/// Stops the services and checks what they recorded: every application a case, every case
/// final, no effect twice, a license for every approval, no process lost, and whatever
/// `more` finds once the processes have stopped. The run folder is kept on failure.
async fn check_with(
    system: &mut System,
    count: usize,
    drive: &DriveReport,
    more: impl Fn(&System) -> Vec<String>,
) -> Result<()> {
    let conclusion = conclude(system, drive).await;
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

    let mut problems = more(system);
    if summary.submitted != u64::try_from(count)? {
        problems.push(format!(
            "{} cases for {count} applications",
            summary.submitted
        ));
    }
    if summary.not_final != 0 {
        let open = drive
            .open_cases
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>();
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
    problems.extend(summary.problems.iter().map(|p| format!("summary: {p}")));
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
    ensure!(
        problems.is_empty(),
        "{}\nrun folder kept: {}",
        problems.join("\n"),
        run_dir.display()
    );
    Ok(())
}
