//! Driving the running system as its users would: applicants submit, answer supplement
//! notices, withdraw and rate their cases as the ledger's plan says, a reviewer works the manual
//! review queue, the deciding officer decides referred cases, the window clerk hands over
//! permits, an operator closes the follow-ups of dissatisfied ratings, and everyone tracks their
//! case.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use residence_proto::v1 as pb;
use residence_proto::v1::decision_service_client::DecisionServiceClient;
use residence_proto::v1::delivery_service_client::DeliveryServiceClient;
use residence_proto::v1::intake_service_client::IntakeServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_proto::v1::supervision_service_client::SupervisionServiceClient;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::desks;
use super::ledger::{CaseKey, Ledger};
use super::progress;
use crate::staff::StaffChannel;
use crate::synthetic::SyntheticApplication;
use crate::synthetic::feedback::PlannedRating;
use crate::system::System;

/// The clerk's staff id on every collection.
pub const CLERK_ID: &str = "clerk-001";

/// How long one gRPC call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Cases tracked per round, so a large run does not flood intake.
const TRACK_BATCH: usize = 200;

/// Track calls in flight at once.
const TRACK_CONCURRENCY: usize = 16;

/// Shortest time between the starts of two tracking rounds.
const TRACK_INTERVAL: Duration = Duration::from_millis(500);

/// Time between two looks at the cases waiting for collection.
const CLERK_INTERVAL: Duration = Duration::from_millis(500);

/// Cases asked for per look at the window.
const CLERK_BATCH: u32 = 100;

/// First wait before retrying a call that failed for a transient reason; it doubles.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Longest wait between two retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// The clients the demo's actors use.
#[derive(Clone, Debug)]
pub struct Clients {
    /// For applicants: submit, supplement, withdraw, rate, track.
    pub intake: IntakeServiceClient<Channel>,
    /// For the window clerk: list and record collections.
    pub delivery: DeliveryServiceClient<StaffChannel>,
    /// For the reviewer: the manual review queue.
    pub review: ReviewServiceClient<StaffChannel>,
    /// For the deciding officer: referred cases.
    pub decision: DecisionServiceClient<StaffChannel>,
    /// For the window operator: the follow-up tasks of dissatisfied ratings.
    pub supervision: SupervisionServiceClient<StaffChannel>,
}

impl Clients {
    /// Clients of `system`'s services, each as the staff member who uses it.
    pub fn for_system(system: &System) -> anyhow::Result<Clients> {
        Ok(Clients {
            intake: system.intake_client()?,
            delivery: system.delivery_client()?,
            review: system.review_client()?,
            decision: system.decision_client()?,
            supervision: system.supervision_client()?,
        })
    }
}

/// How hard and how long to drive.
#[derive(Clone, Copy, Debug)]
pub struct DriveOptions {
    /// Submissions in flight at once.
    pub concurrency: usize,
    /// Shortest time between the starts of two submissions, so that applicants arrive over a
    /// while; zero submits as fast as `concurrency` allows.
    pub submit_interval: Duration,
    /// Time allowed for every case to reach a final status, from the first submission.
    pub timeout: Duration,
    /// Show progress on stderr.
    pub show_progress: bool,
}

/// What driving achieved, as the demo saw it through the APIs.
#[derive(Clone, Debug, Default)]
pub struct DriveReport {
    /// Applications that got a case number.
    pub submitted: usize,
    /// Why some applications got no case number.
    pub submit_failures: Vec<String>,
    /// Cases seen in a final status.
    pub finals: usize,
    /// Cases still not final when driving stopped.
    pub open_cases: Vec<String>,
    /// Collections recorded at the window.
    pub collections: usize,
    /// Supplement notices answered.
    pub supplements: usize,
    /// Withdrawals intake took from applicants, done at once or passed on.
    pub withdrawals: usize,
    /// Ratings intake recorded.
    pub ratings: usize,
    /// Follow-up tasks of dissatisfied ratings the operator closed.
    pub follow_ups_closed: usize,
    /// Withdrawals and ratings the applicants could not make, and why.
    pub feedback_failures: Vec<String>,
    /// Calls sent again after failing for a reason that may pass, such as a service down.
    pub retried: usize,
    /// Time from submission to the final status, per final case, as tracking saw it.
    pub observed_latencies: Vec<Duration>,
    /// Time from the first submission to the end of driving.
    pub elapsed: Duration,
    /// Whether driving stopped at the timeout rather than because every case was final.
    pub timed_out: bool,
}

/// Submits `applications` with up to `options.concurrency` in flight, answers supplement
/// notices, records collections at the window, and tracks every case until all are final or
/// the timeout passes. The applicants do nothing more; see [`drive_with_ledger`].
///
/// Calls that fail for a reason that may pass (a service restarting, a connection lost) are
/// sent again, unchanged: a submission keeps its `client_request_id`, so intake answers a
/// repeat with the case it already opened.
pub async fn drive(
    clients: Clients,
    applications: Vec<SyntheticApplication>,
    options: DriveOptions,
) -> DriveReport {
    drive_with_ledger(clients, applications, options, &Ledger::default()).await
}

/// [`drive`], keeping its notes in `ledger`, so that another task can follow the progress
/// (to cause a fault once some applications are in, say). The applicants withdraw and rate as
/// the ledger's plan says, and driving goes on until every rating is given and every follow-up
/// task a rating opened is closed.
pub async fn drive_with_ledger(
    clients: Clients,
    applications: Vec<SyntheticApplication>,
    options: DriveOptions,
    ledger: &Ledger,
) -> DriveReport {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let total = applications.len();
    let (submitted_tx, submitted_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);

    let submitting = async {
        submit_all(&clients.intake, applications, &options, ledger, deadline).await;
        submitted_tx.send_replace(true);
    };
    let tracking = async {
        let finished = track(&clients.intake, ledger, submitted_rx, deadline).await;
        done_tx.send_replace(true);
        finished
    };
    let clerk = clerk(&clients.delivery, ledger, done_rx.clone(), deadline);
    let reviewer = desks::reviewer(&clients.review, ledger, done_rx.clone(), deadline);
    let officer = desks::officer(&clients.decision, ledger, done_rx.clone(), deadline);
    let operator = desks::operator(&clients.supervision, ledger, done_rx.clone(), deadline);
    let progress = async {
        if options.show_progress {
            progress::report(ledger, total, started, done_rx.clone()).await;
        }
    };
    let ((), finished, (), (), (), (), ()) = tokio::join!(
        submitting, tracking, clerk, reviewer, officer, operator, progress
    );

    let counts = ledger.progress();
    DriveReport {
        submitted: counts.submitted,
        submit_failures: ledger.failures(),
        finals: counts.finals,
        open_cases: ledger.open_cases(),
        collections: counts.collections,
        supplements: counts.supplements,
        withdrawals: counts.withdrawals,
        ratings: counts.ratings,
        follow_ups_closed: counts.follow_ups_closed,
        feedback_failures: ledger.feedback_failures(),
        retried: counts.retried,
        observed_latencies: ledger.observed_latencies(),
        elapsed: started.elapsed(),
        timed_out: !finished,
    }
}

async fn submit_all(
    intake: &IntakeServiceClient<Channel>,
    applications: Vec<SyntheticApplication>,
    options: &DriveOptions,
    ledger: &Ledger,
    deadline: Instant,
) {
    let started = Instant::now();
    stream::iter(applications)
        .enumerate()
        .map(|(index, application)| async move {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let starts_at = started + options.submit_interval.saturating_mul(index);
            tokio::time::sleep_until(starts_at).await;
            submit(intake, application, ledger, deadline).await;
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect::<()>()
        .await;
}

async fn submit(
    intake: &IntakeServiceClient<Channel>,
    application: SyntheticApplication,
    ledger: &Ledger,
    deadline: Instant,
) {
    let submitted_at = Instant::now();
    let request = &application.request;
    let response = with_retry(ledger, deadline, || {
        let mut intake = intake.clone();
        let request = request.clone();
        async move { intake.submit_application(request).await }
    })
    .await;
    match response {
        Ok(response) => {
            ledger.submitted(&application, &response, submitted_at);
            if let Some((key, materials)) = ledger.claim_supplement(&response.case_number) {
                supplement(intake, key, materials, ledger, deadline).await;
            }
        }
        Err(status) => ledger.failed(format!(
            "{:?} application {}: {}: {}",
            application.scenario,
            request.client_request_id,
            status.code(),
            status.message()
        )),
    }
}

/// Answers a claimed supplement notice (补正) with the materials the applicant left out.
async fn supplement(
    intake: &IntakeServiceClient<Channel>,
    (case_number, access_code): CaseKey,
    materials: Vec<pb::Material>,
    ledger: &Ledger,
    deadline: Instant,
) {
    let request = pb::SupplementMaterialsRequest {
        case_number: case_number.clone(),
        access_code,
        materials,
    };
    let answered = with_retry(ledger, deadline, || {
        let mut intake = intake.clone();
        let request = request.clone();
        async move { intake.supplement_materials(request).await }
    })
    .await;
    // Any refusal is final too (FAILED_PRECONDITION: the case no longer waits for materials);
    // tracking shows where the case went.
    ledger.supplemented(&case_number, answered.ok().map(|response| response.status));
}

/// Withdraws a claimed case at its applicant's request (撤回申请).
async fn withdraw(
    intake: &IntakeServiceClient<Channel>,
    (case_number, access_code): CaseKey,
    reason: String,
    ledger: &Ledger,
    deadline: Instant,
) {
    let request = pb::WithdrawApplicationRequest {
        case_number: case_number.clone(),
        access_code,
        reason,
    };
    let answered = with_retry(ledger, deadline, || {
        let mut intake = intake.clone();
        let request = request.clone();
        async move { intake.withdraw_application(request).await }
    })
    .await;
    ledger.withdrawal_answered(&case_number, answered.as_ref().map_err(refusal));
}

/// Rates a closed case (好差评) through every channel its applicant means to.
async fn rate(
    intake: &IntakeServiceClient<Channel>,
    (case_number, access_code): CaseKey,
    ratings: Vec<PlannedRating>,
    ledger: &Ledger,
    deadline: Instant,
) {
    for rating in ratings {
        let request = pb::RateCaseRequest {
            case_number: case_number.clone(),
            access_code: access_code.clone(),
            channel: rating.channel.into(),
            level: rating.level.into(),
            comment: rating.comment,
        };
        // A repeat after a lost answer returns the first rating, marked as replayed.
        let answered = with_retry(ledger, deadline, || {
            let mut intake = intake.clone();
            let request = request.clone();
            async move { intake.rate_case(request).await }
        })
        .await;
        ledger.rated(&case_number, answered.as_ref().map_err(refusal));
    }
}

/// `FailedPrecondition: case is approved: ...`.
fn refusal(status: &Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// Tracks open cases in rounds, and has the applicants withdraw and rate as their plan says,
/// until every case is final and every rating given and followed up (returns `true`) or the
/// deadline passes (returns `false`).
async fn track(
    intake: &IntakeServiceClient<Channel>,
    ledger: &Ledger,
    submitted: watch::Receiver<bool>,
    deadline: Instant,
) -> bool {
    loop {
        let round_started = Instant::now();
        let all_submitted = *submitted.borrow();
        stream::iter(ledger.due_for_tracking(TRACK_BATCH))
            .map(|(case_number, access_code)| async move {
                let request = pb::TrackCaseRequest {
                    case_number: case_number.clone(),
                    access_code,
                };
                let mut intake = intake.clone();
                (case_number, call(intake.track_case(request)).await)
            })
            .buffer_unordered(TRACK_CONCURRENCY)
            .for_each(|(case_number, tracked)| async move {
                if let Ok(tracked) = tracked {
                    ledger.observed(&case_number, tracked.status, tracked.is_final);
                    ledger.withdrawal_pending(&case_number, tracked.withdrawal_requested);
                }
            })
            .await;
        for (key, materials) in ledger.claim_waiting_supplements() {
            supplement(intake, key, materials, ledger, deadline).await;
        }
        for (key, reason) in ledger.claim_withdrawals() {
            withdraw(intake, key, reason, ledger, deadline).await;
        }
        stream::iter(ledger.claim_ratings())
            .for_each_concurrent(TRACK_CONCURRENCY, |(key, ratings)| {
                rate(intake, key, ratings, ledger, deadline)
            })
            .await;

        if all_submitted && ledger.all_final() && ledger.feedback_settled() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep_until((round_started + TRACK_INTERVAL).min(deadline)).await;
    }
}

/// The window clerk: hands over every permit waiting for collection until told to stop.
async fn clerk(
    delivery: &DeliveryServiceClient<StaffChannel>,
    ledger: &Ledger,
    mut done: watch::Receiver<bool>,
    deadline: Instant,
) {
    while !*done.borrow() {
        let request = pb::ListAwaitingCollectionRequest { limit: CLERK_BATCH };
        let waiting = call(delivery.clone().list_awaiting_collection(request)).await;
        for case_number in waiting.map(|list| list.case_numbers).unwrap_or_default() {
            let request = pb::RecordCollectionRequest {
                collected_by: ledger.collected_by(&case_number).to_owned(),
                case_number,
                clerk_id: CLERK_ID.to_owned(),
            };
            // Recording a collection twice hands the permit over once; a case that stopped
            // waiting meanwhile is simply not handed over.
            let recorded = with_retry(ledger, deadline, || {
                let mut delivery = delivery.clone();
                let request = request.clone();
                async move { delivery.record_collection(request).await }
            });
            if recorded.await.is_ok() {
                ledger.collected();
            }
        }
        tokio::select! {
            () = tokio::time::sleep(CLERK_INTERVAL) => {}
            _ = done.changed() => {}
        }
    }
}

/// One call with [`CALL_TIMEOUT`].
pub(super) async fn call<T>(
    request: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(CALL_TIMEOUT, request).await {
        Ok(response) => response.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(
            "no answer within the call timeout",
        )),
    }
}

/// Repeats `attempt` while it fails for a reason that may pass (the service restarting, a
/// timeout), with a doubling back-off, until `deadline`; counts each repeat in `ledger`.
pub(super) async fn with_retry<T, F, Fut>(
    ledger: &Ledger,
    deadline: Instant,
    mut attempt: F,
) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let status = match call(attempt()).await {
            Ok(response) => return Ok(response),
            Err(status) => status,
        };
        if !is_transient(&status) || Instant::now() + delay >= deadline {
            return Err(status);
        }
        tracing::debug!(code = ?status.code(), message = status.message(), "call retried");
        ledger.retried();
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// Whether a call that failed with `status` may succeed when sent again: the service said so
/// (UNAVAILABLE, ABORTED, ...), or the connection broke before it could answer, which tonic
/// reports as UNKNOWN, INTERNAL or CANCELLED with the transport error attached.
fn is_transient(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted => {
            true
        }
        Code::Unknown | Code::Internal | Code::Cancelled => is_transport_failure(status),
        _ => false,
    }
}

/// A status made on the client side from a broken connection rather than sent by the
/// service: it carries the transport error as its source, or h2's description of it.
fn is_transport_failure(status: &Status) -> bool {
    let message = status.message();
    std::error::Error::source(status).is_some()
        || message.starts_with("h2 protocol error")
        || message.starts_with("transport error")
}
