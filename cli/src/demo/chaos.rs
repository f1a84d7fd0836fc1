//! Crashes on purpose while the system works (`residence demo --chaos`): every few seconds a
//! service is killed with SIGKILL and started again after a short pause, and once the broker
//! is restarted. Every choice comes from a seed, so a run that went wrong can be repeated.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::drive::{Clients, DriveOptions, DriveReport, drive_with_ledger};
use super::ledger::Ledger;
use crate::synthetic::SyntheticApplication;
use crate::system::{Service, System};

/// Attempts at starting a killed service or the stopped broker before giving up on it.
const START_ATTEMPTS: usize = 3;

/// Which faults to cause, and how often.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    /// Seed of every choice: which service, when, and for how long.
    pub seed: u64,
    /// Services that may be killed. They are killed in rounds, each once per round in a
    /// seeded order, so that every kind is hit before any is hit twice.
    pub services: Vec<Service>,
    /// Time between the end of one fault and the start of the next.
    pub pause_between: Range<Duration>,
    /// How long a killed service stays down before it is started again.
    pub down_for: Range<Duration>,
    /// Whether to stop and start the broker once, as one of the first three faults.
    pub broker_restart: bool,
    /// How long the broker stays down when it is restarted.
    pub broker_down_for: Range<Duration>,
    /// Faults to cause even if told to stop earlier, so that a short run still sees them.
    pub min_faults: usize,
}

impl ChaosOptions {
    /// What `residence demo --chaos` does: a fault every 1 to 3 s, a killed service down for
    /// 0.2 to 2 s, the broker restarted once and down for 1 to 3 s, and at least every
    /// service killed once and the broker restarted however short the run.
    pub fn demo(seed: u64) -> Self {
        Self {
            seed,
            services: Service::ALL.to_vec(),
            pause_between: Duration::from_secs(1)..Duration::from_secs(3),
            down_for: Duration::from_millis(200)..Duration::from_secs(2),
            broker_restart: true,
            broker_down_for: Duration::from_secs(1)..Duration::from_secs(3),
            min_faults: Service::ALL.len() + 1,
        }
    }
}

/// The faults a chaos run caused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChaosReport {
    /// SIGKILLs per service; each was followed by a start.
    pub kills: BTreeMap<Service, usize>,
    /// Times the broker was stopped and started again.
    pub broker_restarts: usize,
    /// Faults that could not be undone: a service or the broker that did not come back.
    pub problems: Vec<String>,
}

impl ChaosReport {
    /// Services killed, all kinds together.
    pub fn total_kills(&self) -> usize {
        self.kills.values().sum()
    }

    /// `14 kills, 1 broker restart`.
    pub fn describe(&self) -> String {
        let kills = self.total_kills();
        let restarts = self.broker_restarts;
        format!(
            "{kills} {}, {restarts} broker {}",
            plural(kills, "kill", "kills"),
            plural(restarts, "restart", "restarts")
        )
    }

    /// `intake 3, review 2, ...`: kills per service, in pipeline order.
    pub fn kills_by_service(&self) -> String {
        let kills: Vec<String> = self
            .kills
            .iter()
            .map(|(service, count)| format!("{service} {count}"))
            .collect();
        kills.join(", ")
    }

    /// The report as a JSON object.
    pub fn to_json(&self) -> Value {
        let kills: serde_json::Map<String, Value> = self
            .kills
            .iter()
            .map(|(service, count)| (service.name().to_owned(), json!(count)))
            .collect();
        json!({
            "kills": self.total_kills(),
            "kills_by_service": kills,
            "broker_restarts": self.broker_restarts,
            "problems": self.problems,
        })
    }
}

fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

/// Drives `applications` through `system` while `chaos` causes its faults; the faults end
/// once driving is done (and at least `chaos.min_faults` happened), with every killed
/// service running again.
pub async fn drive_under_chaos(
    system: &mut System,
    applications: Vec<SyntheticApplication>,
    drive_options: DriveOptions,
    chaos: &ChaosOptions,
) -> anyhow::Result<(DriveReport, ChaosReport)> {
    let ledger = Ledger::default();
    drive_under_chaos_with_ledger(system, applications, drive_options, chaos, &ledger).await
}

/// [`drive_under_chaos`], keeping the notes in `ledger`, whose plan the applicants follow.
pub async fn drive_under_chaos_with_ledger(
    system: &mut System,
    applications: Vec<SyntheticApplication>,
    drive_options: DriveOptions,
    chaos: &ChaosOptions,
    ledger: &Ledger,
) -> anyhow::Result<(DriveReport, ChaosReport)> {
    let clients = Clients::for_system(system)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let driving = async {
        let report = drive_with_ledger(clients, applications, drive_options, ledger).await;
        stop_tx.send_replace(true);
        report
    };
    Ok(tokio::join!(driving, run(system, chaos, stop_rx)))
}

/// Causes faults until `stop` turns true (or its sender is dropped); the fault in progress
/// is finished first, so nothing is left down.
pub async fn run(
    system: &mut System,
    options: &ChaosOptions,
    mut stop: watch::Receiver<bool>,
) -> ChaosReport {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut report = ChaosReport::default();
    let broker_fault = options.broker_restart.then(|| rng.gen_range(0..3_usize));
    let mut round: Vec<Service> = Vec::new();
    let mut stopping = false;

    for fault in 0.. {
        let pause = rng.gen_range(options.pause_between.clone());
        if stopping {
            tokio::time::sleep(pause).await;
        } else {
            stopping = told_to_stop(&mut stop, pause).await;
        }
        if stopping && fault >= options.min_faults {
            break;
        }
        if broker_fault == Some(fault) {
            let down_for = rng.gen_range(options.broker_down_for.clone());
            restart_broker(system, down_for, &mut report).await;
            continue;
        }
        if round.is_empty() {
            round = options.services.clone();
            round.shuffle(&mut rng);
        }
        let Some(service) = round.pop() else {
            // No service to kill and the broker restart is done: nothing left to cause.
            if broker_fault.is_none_or(|at| fault > at) {
                break;
            }
            continue;
        };
        let down_for = rng.gen_range(options.down_for.clone());
        crash(system, service, down_for, &mut report).await;
    }
    report
}

/// Waits `pause` and returns `false`, or returns `true` as soon as `stop` turns true or its
/// sender is dropped (nobody drives any more).
async fn told_to_stop(stop: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => false,
        _ = stop.wait_for(|stopped| *stopped) => true,
    }
}

/// Kills `service`, leaves it down for `down_for` and starts it again.
async fn crash(
    system: &mut System,
    service: Service,
    down_for: Duration,
    report: &mut ChaosReport,
) {
    tracing::info!(
        service = service.name(),
        down_ms = down_for.as_millis(),
        "chaos: killing service"
    );
    if let Err(error) = system.kill(service.name()).await {
        report
            .problems
            .push(format!("could not kill {service}: {error:#}"));
        return;
    }
    *report.kills.entry(service).or_default() += 1;
    tokio::time::sleep(down_for).await;

    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        match system.respawn(service.name()).await {
            Ok(()) => return,
            Err(error) => last_error = Some(error),
        }
    }
    if let Some(error) = last_error {
        report
            .problems
            .push(format!("{service} did not start again: {error:#}"));
    }
}

/// Stops the broker, leaves it down for `down_for` and starts it again on the same port and
/// store.
async fn restart_broker(system: &mut System, down_for: Duration, report: &mut ChaosReport) {
    tracing::info!(down_ms = down_for.as_millis(), "chaos: stopping the broker");
    system.nats_server().stop().await;
    tokio::time::sleep(down_for).await;

    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        match system.nats_server().start_again().await {
            Ok(()) => {
                report.broker_restarts += 1;
                return;
            }
            Err(error) => last_error = Some(error),
        }
    }
    if let Some(error) = last_error {
        report
            .problems
            .push(format!("the broker did not start again: {error:#}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_alone() {
        let mut report = ChaosReport::default();
        assert_eq!(report.describe(), "0 kills, 0 broker restarts");
        report.kills.insert(Service::Review, 2);
        report.kills.insert(Service::Intake, 1);
        report.broker_restarts = 1;
        assert_eq!(report.describe(), "3 kills, 1 broker restart");
        assert_eq!(report.kills_by_service(), "intake 1, review 2");
        assert_eq!(report.to_json()["kills_by_service"]["review"], 2);
    }
}
