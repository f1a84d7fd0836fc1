//! `residence demo`: starts the whole system, feeds it synthetic applications, plays the
//! applicants (who also withdraw and rate some cases), a reviewer, the deciding officer, the
//! window clerk and an operator following up complaints (the staff with tokens) until every
//! case is final, and then reports what the services themselves recorded, with the county's
//! supervision report.

mod chaos;
mod desks;
mod drive;
mod feedback;
mod ledger;
mod notifications;
mod progress;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use tokio::time::Instant;

pub use chaos::{ChaosOptions, ChaosReport, drive_under_chaos, drive_under_chaos_with_ledger};
pub use drive::{CLERK_ID, Clients, DriveOptions, DriveReport, drive, drive_with_ledger};
pub use feedback::Feedback;
pub use ledger::{Ledger, Progress, is_final};
pub use notifications::NotificationCounts;

use crate::summary::Summary;
use crate::synthetic;
use crate::synthetic::feedback::Plan;
use crate::system::{Database, System, SystemOptions};

/// How long the e-license service and platform may lag behind the last final case.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Time between two looks at the databases while they settle.
const SETTLE_INTERVAL: Duration = Duration::from_secs(1);

/// Log lines shown for a process that exited during the run.
const CRASH_LOG_LINES: usize = 30;

/// Time between two submissions under chaos: applicants arrive over a while, so that the
/// faults strike cases at every stage rather than after the last one closed.
const CHAOS_SUBMIT_INTERVAL: Duration = Duration::from_millis(200);

/// What `residence demo` was asked to do.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Applications to submit.
    pub applications: usize,
    /// Where the services keep their state.
    pub database: Database,
    /// End standard output with the summary as one JSON line.
    pub json: bool,
    /// Share of parcels the logistics partner fails to deliver, 0.0 to 1.0.
    pub courier_failure_share: f64,
    /// Submissions in flight at once.
    pub concurrency: usize,
    /// Keep the run folder afterwards.
    pub keep: bool,
    /// Time allowed for every case to become final; `None` for 120 s plus 0.5 s per
    /// application.
    pub timeout: Option<Duration>,
    /// Seed of the synthetic applications and the logistics partner.
    pub seed: u64,
    /// Kill services and restart the broker while the demo runs, choices drawn from `seed`.
    pub chaos: bool,
}

impl DemoOptions {
    /// The timeout, or its default for this many applications.
    pub fn effective_timeout(&self) -> Duration {
        let per_application_ms = 500_u64.saturating_mul(self.applications as u64);
        self.timeout.unwrap_or_else(|| {
            Duration::from_millis(120_000_u64.saturating_add(per_application_ms))
        })
    }
}

/// How a demo run ended.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// What was asked for.
    pub options: DemoOptions,
    /// What the services and simulators recorded.
    pub summary: Summary,
    /// What the demo saw through the APIs.
    pub drive: DriveReport,
    /// Processes that exited before the demo stopped them.
    pub exited_processes: Vec<String>,
    /// The faults caused, when the demo ran with chaos.
    pub chaos: Option<ChaosReport>,
    /// The supervision report and the notifications at the end.
    pub feedback: Feedback,
    /// The run folder, when it was kept.
    pub kept_run_dir: Option<PathBuf>,
}

impl DemoReport {
    /// Every application submitted, every case final, no duplicate effect, nothing unread,
    /// no process lost, every fault caused on purpose undone, and every withdrawal, rating and
    /// follow-up done and reported as the databases count them.
    pub fn succeeded(&self) -> bool {
        self.summary.is_clean()
            && self.feedback_problems().is_empty()
            && self.drive.submit_failures.is_empty()
            && self.drive.submitted == self.options.applications
            && self.exited_processes.is_empty()
            && self
                .chaos
                .as_ref()
                .is_none_or(|chaos| chaos.problems.is_empty())
    }

    /// Where withdrawals, ratings and the supervision report went wrong.
    pub fn feedback_problems(&self) -> Vec<String> {
        self.feedback.problems(&self.summary, &self.drive)
    }

    /// The summary with the run's settings, as one JSON object.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(&self.summary).unwrap_or_else(|_| json!({}));
        let feedback = self.feedback.to_json();
        if let Some(object) = value.as_object_mut() {
            let extra = json!({
                "applications": self.options.applications,
                "database": self.options.database.code(),
                "seed": self.options.seed,
                "submit_failures": self.drive.submit_failures.len(),
                "retried_calls": self.drive.retried,
                "withdrawals_asked": self.drive.withdrawals,
                "ratings_given": self.drive.ratings,
                "supervision": feedback["supervision"],
                "notifications": feedback["notifications"],
                "feedback_problems": self.feedback_problems(),
                "exited_processes": self.exited_processes,
                "chaos": self.chaos.as_ref().map(ChaosReport::to_json),
                "run_dir": self.kept_run_dir.as_ref().map(|dir| dir.display().to_string()),
                "succeeded": self.succeeded(),
            });
            if let Value::Object(extra) = extra {
                object.extend(extra);
            }
        }
        value
    }
}

/// How [`run`] ended.
#[derive(Clone, Debug)]
pub enum DemoOutcome {
    /// The run finished and was summarised.
    Finished(Box<DemoReport>),
    /// Ctrl-C or SIGTERM arrived; everything was stopped.
    Interrupted,
}

/// Runs the demo: start, drive, settle, stop the processes, summarise, stop the rest, print.
///
/// The run folder is kept when asked for or when the run did not succeed, so its logs can be
/// read. Progress and notes go to stderr; the table (and the JSON line) to stdout.
pub async fn run(options: DemoOptions) -> Result<DemoOutcome> {
    let today = residence_runtime::time::china_today();
    let applications = synthetic::applications(options.seed, today, options.applications);
    let plan = Plan::new(options.seed, &applications);
    let system_options = SystemOptions {
        database: options.database,
        courier_failure_share: options.courier_failure_share,
        keep_run_dir: options.keep,
        extra_env: Vec::new(),
        partner_seed: options.seed,
        run_prefix: "demo".into(),
        ..SystemOptions::default()
    };

    eprintln!("starting nats, {} and the services", options.database);
    let started = tokio::select! {
        started = System::start(system_options) => started?,
        () = shutdown_signal() => return Ok(DemoOutcome::Interrupted),
    };
    let mut system = started;
    eprintln!("system running in {}", system.run_dir().display());

    let exercised = tokio::select! {
        exercised = exercise(&mut system, applications, plan, &options) => Some(exercised),
        () = shutdown_signal() => None,
    };
    let Some(exercised) = exercised else {
        eprintln!("interrupted, stopping every process");
        system.stop().await?;
        return Ok(DemoOutcome::Interrupted);
    };
    let mut report = match exercised {
        Ok(report) => report,
        Err(error) => {
            system.keep_run_dir();
            eprintln!("run folder kept: {}", system.run_dir().display());
            system.stop().await?;
            return Err(error);
        }
    };

    if !report.succeeded() {
        system.keep_run_dir();
    }
    if system.is_run_dir_kept() {
        report.kept_run_dir = Some(system.run_dir().to_path_buf());
    }
    system.stop().await?;
    print(&report);
    Ok(DemoOutcome::Finished(Box::new(report)))
}

/// Drives the system (under chaos if asked) with applicants following `plan`, reads the
/// supervision report, then concludes the run and reads the notifications.
async fn exercise(
    system: &mut System,
    applications: Vec<synthetic::SyntheticApplication>,
    plan: Plan,
    options: &DemoOptions,
) -> Result<DemoReport> {
    let drive_options = DriveOptions {
        concurrency: options.concurrency,
        submit_interval: if options.chaos {
            CHAOS_SUBMIT_INTERVAL
        } else {
            Duration::ZERO
        },
        timeout: options.effective_timeout(),
        show_progress: true,
    };
    let ledger = Ledger::with_plan(plan);
    let (report, chaos) = if options.chaos {
        let chaos = ChaosOptions::demo(options.seed);
        let (report, chaos) =
            drive_under_chaos_with_ledger(system, applications, drive_options, &chaos, &ledger)
                .await?;
        (report, Some(chaos))
    } else {
        let clients = Clients::for_system(system)?;
        let report = drive_with_ledger(clients, applications, drive_options, &ledger).await;
        (report, None)
    };
    if report.timed_out {
        eprintln!(
            "{} cases not final after {:.0} s",
            report.open_cases.len(),
            drive_options.timeout.as_secs_f64()
        );
    }

    // The report is read while intake runs, the notifications once every service stopped.
    let supervision = feedback::supervision_report(system).await;
    let conclusion = conclude(system, &report).await;
    let notifications = feedback::notifications(system).await;
    Ok(DemoReport {
        options: options.clone(),
        summary: conclusion.summary,
        drive: report,
        exited_processes: conclusion.exited_processes,
        chaos,
        feedback: Feedback {
            supervision,
            notifications,
        },
        kept_run_dir: None,
    })
}

/// What the services and simulators recorded once a run was over.
#[derive(Clone, Debug)]
pub struct Conclusion {
    /// Counted from the databases and the simulators' records.
    pub summary: Summary,
    /// Processes that had exited before they were stopped.
    pub exited_processes: Vec<String>,
}

/// Ends a run that `drive` reported on: waits for the e-licenses to settle (unless driving
/// timed out), notes processes that exited, stops every service and simulator, and reads the
/// summary while NATS and the databases are still up.
pub async fn conclude(system: &mut System, drive: &DriveReport) -> Conclusion {
    if !drive.timed_out {
        settle(system).await;
    }

    let exited_processes = system.exited_processes();
    for name in &exited_processes {
        eprintln!(
            "{name} exited during the run; last lines of its log:\n{}",
            system.log_tail(name, CRASH_LOG_LINES)
        );
    }
    if let Err(error) = system.stop_processes().await {
        eprintln!("{error:#}");
    }
    let summary = system.summary().await;
    Conclusion {
        summary,
        exited_processes,
    }
}

/// Waits until every approved case has its e-license and the platform acknowledged each,
/// or [`SETTLE_TIMEOUT`] passes; those steps run beside the case, not before it closes.
async fn settle(system: &System) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let summary = system.summary().await;
        let settled = summary.licenses_issued >= summary.approved
            && summary.licenses_acknowledged >= summary.licenses_issued;
        if settled {
            return;
        }
        if Instant::now() + SETTLE_INTERVAL >= deadline {
            eprintln!(
                "e-licenses did not settle within {} s: {} approved, {} issued, {} acknowledged",
                SETTLE_TIMEOUT.as_secs(),
                summary.approved,
                summary.licenses_issued,
                summary.licenses_acknowledged
            );
            return;
        }
        tokio::time::sleep(SETTLE_INTERVAL).await;
    }
}

fn print(report: &DemoReport) {
    let options = &report.options;
    println!(
        "residence demo: {} applications on {}, seed {}",
        options.applications, options.database, options.seed
    );
    print!("{}", report.summary);
    let drive = &report.drive;
    println!(
        "  {:<26}{:>10}",
        "collections at the window", drive.collections
    );
    println!("  {:<26}{:>10}", "supplements answered", drive.supplements);
    println!("  {:<26}{:>10}", "withdrawals asked for", drive.withdrawals);
    println!("  {:<26}{:>10}", "ratings given", drive.ratings);
    println!("  {:<26}{:>10}", "calls retried", drive.retried);
    for line in report.feedback.lines() {
        println!("{line}");
    }
    for problem in report.feedback_problems() {
        println!("  feedback problem: {problem}");
    }
    if let Some(chaos) = &report.chaos {
        println!("  {:<26}{}", "chaos", chaos.describe());
        if chaos.total_kills() > 0 {
            println!("    killed: {}", chaos.kills_by_service());
        }
        for problem in &chaos.problems {
            println!("  chaos problem: {problem}");
        }
    }
    for failure in drive.submit_failures.iter().take(10) {
        println!("  submit failed: {failure}");
    }
    for case in drive.open_cases.iter().take(10) {
        println!("  not final: {case}");
    }
    if let Some(dir) = &report.kept_run_dir {
        println!("  run folder kept: {}", dir.display());
    }
    println!(
        "{}",
        if report.succeeded() {
            "result: ok"
        } else {
            "result: FAILED"
        }
    );
    if options.json {
        println!("{}", report.to_json());
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}
