//! `residence bench`: the whole pipeline under load, and in the same run the limits of the
//! broker and the database underneath it.
//!
//! Every service runs as its own process against a real nats-server and SQLite or PostgreSQL,
//! as in the demo. Applications are on-time endorsements delivered by courier, the path most
//! cases take; the logistics partner delivers at once and never fails, so a case closes as fast
//! as the system allows. Every instant comes from the database of the service that made it
//! happen (review's review, decision's decision, delivery's delivery, e-license's license), so
//! a stage's latency is the time from one service's commit to the next one's. CPU time and
//! memory come from `/proc`.

mod limits;
mod load;
mod measure;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::system::{Database, Service, System, SystemOptions};

pub use limits::Limits;
pub use measure::{Percentiles, ProcessUsage, StageLatency};

/// `residence bench`
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Applications to submit.
    #[arg(long, default_value_t = 3000)]
    pub applications: usize,

    /// Applications offered per second; left out, as fast as intake takes them.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Submissions in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,

    /// Where the services keep their state.
    #[arg(long, value_enum, default_value_t = Database::Sqlite)]
    pub database: Database,

    /// End standard output with the figures as one JSON object on one line.
    #[arg(long)]
    pub json: bool,

    /// Seed of the synthetic applicants.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Seconds allowed for every case to close with its license.
    #[arg(long, default_value_t = 240)]
    pub timeout_seconds: u64,
}

impl BenchArgs {
    /// The run these flags ask for.
    pub fn options(&self) -> BenchOptions {
        BenchOptions {
            applications: self.applications,
            rate: self.rate.filter(|rate| *rate > 0.0),
            concurrency: usize::from(self.concurrency),
            database: self.database,
            json: self.json,
            seed: self.seed,
            timeout: Duration::from_secs(self.timeout_seconds),
        }
    }
}

/// Runs `residence bench` and prints the figures; fails when cases did not complete.
pub fn run_command(args: &BenchArgs) -> Result<std::process::ExitCode> {
    let options = args.options();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(run(options.clone()))?;
    print(&report, options.json)?;
    Ok(if report.completed == report.applications {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Applications to submit.
    pub applications: usize,
    /// Applications offered per second; `None` submits as fast as the system takes them.
    pub rate: Option<f64>,
    /// Submissions in flight at once.
    pub concurrency: usize,
    pub database: Database,
    /// Print the figures as one JSON object on the last line.
    pub json: bool,
    /// Seed of the synthetic applicants.
    pub seed: u64,
    /// Time allowed for every case to close with its license.
    pub timeout: Duration,
}

/// The figures of one run.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub database: String,
    pub applications: usize,
    /// Offered load in applications per second, or `null` when unbounded.
    pub offered_per_s: Option<f64>,
    /// Cases closed with their license issued.
    pub completed: usize,
    /// Completed cases per second, from the first submission to the last completion.
    pub throughput_per_s: f64,
    /// Submission to case closed with its license issued.
    pub end_to_end: Percentiles,
    /// Per stage, from the previous step to this one.
    pub stages: Vec<StageLatency>,
    /// Per service process: CPU seconds used during the run, peak and idle resident memory.
    pub processes: Vec<ProcessUsage>,
    /// The broker and the database measured alone, on the same servers.
    pub limits: Limits,
    /// Published messages and database commits one application costs, counted from the run.
    pub messages_per_application: f64,
    pub commits_per_application: f64,
    /// The throughput the limits allow for that cost: the smaller of the two bounds.
    pub bound_per_s: f64,
    /// `throughput_per_s / bound_per_s`.
    pub ratio_to_bound: f64,
    pub wall_seconds: f64,
}

/// Runs the benchmark.
pub async fn run(options: BenchOptions) -> Result<BenchReport> {
    let started = Instant::now();
    let system_options = SystemOptions {
        database: options.database,
        courier_failure_share: 0.0,
        run_prefix: "bench".into(),
        partner_seed: options.seed,
        ..SystemOptions::default()
    };
    eprintln!("starting nats, {} and the services", options.database);
    let system = System::start(system_options)
        .await
        .context("start the system")?;
    // Let start-up work (migrations, stream set-up) settle before reading idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = measure::usage_now(&system);

    let applications = load::applications(options.seed, options.applications);
    eprintln!(
        "submitting {} applications{}",
        applications.len(),
        options.rate.map_or_else(
            || " as fast as they are taken".to_owned(),
            |rate| format!(" at {rate}/s")
        )
    );
    let submitted = load::submit(&system, applications, options.rate, options.concurrency).await?;
    let completed = measure::wait_for_completion(&system, submitted, options.timeout).await?;
    let busy = measure::usage_now(&system);
    let cases = measure::read_cases(&system).await?;
    let costs = measure::costs(&system, submitted).await?;

    eprintln!("measuring the broker and the database alone");
    let limits = limits::measure(&system, &costs).await?;
    system.stop().await?;

    let processes = measure::usage_between(&idle, &busy);
    let end_to_end = measure::end_to_end(&cases);
    let throughput_per_s = measure::throughput(&cases);
    let stages = measure::stage_latencies(&cases);
    let bound_per_s = limits.bound(&costs, options.database);
    Ok(BenchReport {
        database: options.database.to_string(),
        applications: submitted,
        offered_per_s: options.rate,
        completed,
        throughput_per_s,
        end_to_end,
        stages,
        processes,
        limits,
        messages_per_application: costs.messages_per_application,
        commits_per_application: costs.commits_per_application,
        bound_per_s,
        ratio_to_bound: if bound_per_s > 0.0 {
            throughput_per_s / bound_per_s
        } else {
            0.0
        },
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let offered = self.offered_per_s.map_or_else(
            || "as fast as it goes".to_owned(),
            |rate| format!("{rate:.0}/s"),
        );
        writeln!(
            f,
            "residence bench: {}, offered load {offered}",
            self.database
        )?;
        writeln!(
            f,
            "  completed {} of {} in {:.1} s wall time",
            self.completed, self.applications, self.wall_seconds
        )?;
        writeln!(
            f,
            "  throughput            {:>10.1} applications/s",
            self.throughput_per_s
        )?;
        writeln!(f, "\n  latency (ms)              p50        p99        max")?;
        let row = |f: &mut std::fmt::Formatter<'_>, name: &str, p: &Percentiles| {
            writeln!(
                f,
                "  {name:<20} {:>10} {:>10} {:>10}",
                p.p50_ms, p.p99_ms, p.max_ms
            )
        };
        for stage in &self.stages {
            row(f, &stage.stage, &stage.latency)?;
        }
        row(f, "end to end", &self.end_to_end)?;
        writeln!(f, "\n  process                CPU s   peak MiB   idle MiB")?;
        for process in &self.processes {
            writeln!(
                f,
                "  {:<20} {:>7.2} {:>10.1} {:>10.1}",
                process.name, process.cpu_seconds, process.peak_mib, process.idle_mib
            )?;
        }
        let limits = &self.limits;
        writeln!(f, "\n  limits measured on the same servers")?;
        writeln!(
            f,
            "  jetstream publish     {:>10.0} messages/s ({} bytes)",
            limits.jetstream_publish_per_s, limits.message_bytes
        )?;
        writeln!(
            f,
            "  jetstream consume     {:>10.0} messages/s",
            limits.jetstream_consume_per_s
        )?;
        writeln!(
            f,
            "  database commits      {:>10.0} commits/s ({})",
            limits.database_commits_per_s, limits.database_method
        )?;
        writeln!(
            f,
            "  one application costs {:.1} messages and {:.1} commits ({:.1} in its busiest database)",
            self.messages_per_application,
            self.commits_per_application,
            limits.busiest_database_commits
        )?;
        writeln!(
            f,
            "  bound                 {:>10.1} applications/s",
            self.bound_per_s
        )?;
        writeln!(f, "  ratio to bound        {:>10.3}", self.ratio_to_bound)
    }
}

/// The services in the order the report lists them.
pub(crate) const SERVICES: [Service; 6] = [
    Service::Intake,
    Service::Review,
    Service::Decision,
    Service::Delivery,
    Service::Courier,
    Service::Elicense,
];

/// Prints `report` for people, and as JSON when asked.
pub fn print(report: &BenchReport, json: bool) -> Result<()> {
    println!("{report}");
    if json {
        println!("{}", serde_json::to_string(report)?);
    }
    Ok(())
}

/// Where the run's databases and records are.
pub(crate) fn sources(system: &System) -> crate::summary::Sources {
    system.summary_sources()
}
