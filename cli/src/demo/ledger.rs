//! The demo's own notes on the cases it submitted: enough to track, supplement, withdraw,
//! rate and collect them, and to show progress. The summary never reads these.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use residence_proto::v1 as pb;
use tokio::time::Instant;

use crate::synthetic::SyntheticApplication;
use crate::synthetic::feedback::{Intent, Plan, PlannedRating, WithdrawAt};

/// A case the demo submitted.
#[derive(Clone, Debug)]
struct Tracked {
    access_code: String,
    submitted_at: Instant,
    last_checked: Option<Instant>,
    status: pb::CaseStatus,
    final_after: Option<Duration>,
    collected_by: &'static str,
    supplement: Vec<pb::Material>,
    supplement_claimed: bool,
    intent: Intent,
    withdrawal: Withdrawal,
    ratings_claimed: bool,
}

/// Where the withdrawal an applicant means to make stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Withdrawal {
    /// The applicant does not withdraw.
    NotPlanned,
    /// Waiting for the moment the plan names.
    Planned,
    /// Being sent.
    Claimed,
    /// Intake passed it on; the deciding service has yet to confirm it.
    Requested,
    /// Withdrawn, or answered otherwise.
    Settled,
}

/// Counts for the progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Applications that got a case number.
    pub submitted: usize,
    /// Applications intake could not take.
    pub failed: usize,
    /// Cases seen in a final status.
    pub finals: usize,
    /// Collections recorded at the window.
    pub collections: usize,
    /// Supplements answered.
    pub supplements: usize,
    /// Calls sent again after failing for a reason that may pass, such as a service down.
    pub retried: usize,
    /// Withdrawals intake took, done at once or passed on.
    pub withdrawals: usize,
    /// Ratings intake recorded.
    pub ratings: usize,
    /// Follow-up tasks the operator closed.
    pub follow_ups_closed: usize,
}

/// Case number and access code, what tracking a case needs.
pub type CaseKey = (String, String);

/// What the demo knows, shared by its tasks.
#[derive(Debug, Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    plan: Plan,
    cases: HashMap<String, Tracked>,
    failures: Vec<String>,
    feedback_failures: Vec<String>,
    follow_ups_opened: BTreeSet<String>,
    follow_ups_closed: BTreeSet<String>,
    progress: Progress,
}

impl Ledger {
    /// A ledger whose applicants act on `plan` besides submitting and answering supplement
    /// notices; [`Ledger::default`] has them do nothing more.
    pub fn with_plan(plan: Plan) -> Self {
        let inner = Inner {
            plan,
            ..Inner::default()
        };
        Self {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The notes stay usable even if a task panicked while holding the lock.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes a submission intake answered.
    pub fn submitted(
        &self,
        application: &SyntheticApplication,
        response: &pb::SubmitApplicationResponse,
        submitted_at: Instant,
    ) {
        let status = pb::CaseStatus::try_from(response.status).unwrap_or_default();
        let mut inner = self.lock();
        let intent = inner.plan.intent(&application.request.client_request_id);
        let withdrawal = if intent.withdrawal.is_some() {
            Withdrawal::Planned
        } else {
            Withdrawal::NotPlanned
        };
        let tracked = Tracked {
            access_code: response.access_code.clone(),
            submitted_at,
            last_checked: None,
            status,
            final_after: is_final(status).then(|| submitted_at.elapsed()),
            collected_by: if application.has_agent() {
                "agent"
            } else {
                "holder"
            },
            supplement: application.supplement.clone(),
            supplement_claimed: false,
            intent,
            withdrawal,
            ratings_claimed: false,
        };
        if tracked.final_after.is_some() {
            inner.progress.finals += 1;
        }
        inner.progress.submitted += 1;
        inner.cases.insert(response.case_number.clone(), tracked);
    }

    /// Notes an application intake could not take.
    pub fn failed(&self, problem: String) {
        let mut inner = self.lock();
        inner.progress.failed += 1;
        inner.failures.push(problem);
    }

    /// Notes a case's status as tracked.
    pub fn observed(&self, case_number: &str, status: i32, final_status: bool) {
        let mut inner = self.lock();
        let Some(tracked) = inner.cases.get_mut(case_number) else {
            return;
        };
        tracked.last_checked = Some(Instant::now());
        tracked.status = pb::CaseStatus::try_from(status).unwrap_or_default();
        let newly_final = final_status && tracked.final_after.is_none();
        if newly_final {
            tracked.final_after = Some(tracked.submitted_at.elapsed());
            inner.progress.finals += 1;
        }
    }

    /// Up to `limit` cases not yet final, those checked longest ago first.
    pub fn due_for_tracking(&self, limit: usize) -> Vec<CaseKey> {
        let inner = self.lock();
        let mut open: Vec<(&String, &Tracked)> = inner
            .cases
            .iter()
            .filter(|(_, tracked)| tracked.final_after.is_none())
            .collect();
        open.sort_by_key(|(_, tracked)| tracked.last_checked);
        open.into_iter()
            .take(limit)
            .map(|(case, tracked)| (case.clone(), tracked.access_code.clone()))
            .collect()
    }

    /// Claims the supplement of `case_number` if it waits for materials the demo can send
    /// and nobody claimed it yet, so that it is answered exactly once.
    pub fn claim_supplement(&self, case_number: &str) -> Option<(CaseKey, Vec<pb::Material>)> {
        let mut inner = self.lock();
        let tracked = inner.cases.get_mut(case_number)?;
        claim(tracked).then(|| {
            let key = (case_number.to_owned(), tracked.access_code.clone());
            (key, tracked.supplement.clone())
        })
    }

    /// Claims every supplement waiting to be answered; see [`Ledger::claim_supplement`].
    pub fn claim_waiting_supplements(&self) -> Vec<(CaseKey, Vec<pb::Material>)> {
        let mut inner = self.lock();
        inner
            .cases
            .iter_mut()
            .filter_map(|(case, tracked)| {
                claim(tracked).then(|| {
                    let key = (case.clone(), tracked.access_code.clone());
                    (key, tracked.supplement.clone())
                })
            })
            .collect()
    }

    /// Notes that a claimed supplement was sent, with the case's new status when intake took
    /// it.
    pub fn supplemented(&self, case_number: &str, status: Option<i32>) {
        let mut inner = self.lock();
        let Some(tracked) = inner.cases.get_mut(case_number) else {
            return;
        };
        if let Some(status) = status.and_then(|status| pb::CaseStatus::try_from(status).ok()) {
            tracked.status = status;
            inner.progress.supplements += 1;
        }
    }

    /// Claims the withdrawals due: cases whose applicant means to withdraw at the step the
    /// case is now at, each once, with the applicant's reason.
    pub fn claim_withdrawals(&self) -> Vec<(CaseKey, String)> {
        let mut inner = self.lock();
        let mut due = Vec::new();
        for (case, tracked) in &mut inner.cases {
            let Some(planned) = &tracked.intent.withdrawal else {
                continue;
            };
            let moment = match planned.at {
                WithdrawAt::SupplementNotice => pb::CaseStatus::SupplementRequired,
                WithdrawAt::ManualReview => pb::CaseStatus::InManualReview,
            };
            if tracked.withdrawal == Withdrawal::Planned && tracked.status == moment {
                tracked.withdrawal = Withdrawal::Claimed;
                let key = (case.clone(), tracked.access_code.clone());
                due.push((key, planned.reason.clone()));
            }
        }
        due
    }

    /// Notes intake's answer to a claimed withdrawal, or why it refused.
    pub fn withdrawal_answered(
        &self,
        case_number: &str,
        answer: Result<&pb::WithdrawApplicationResponse, String>,
    ) {
        let mut inner = self.lock();
        let Some(tracked) = inner.cases.get_mut(case_number) else {
            return;
        };
        match answer {
            Ok(response) if response.withdrawal_requested => {
                tracked.withdrawal = Withdrawal::Requested;
                inner.progress.withdrawals += 1;
            }
            Ok(_) => {
                tracked.withdrawal = Withdrawal::Settled;
                inner.progress.withdrawals += 1;
            }
            Err(problem) => {
                tracked.withdrawal = Withdrawal::Settled;
                let problem = format!("withdrawal of {case_number}: {problem}");
                inner.feedback_failures.push(problem);
            }
        }
    }

    /// Notes whether tracking still shows the case's withdrawal waiting for confirmation; once
    /// it does not, the withdrawal is settled (withdrawn, or the decision came first).
    pub fn withdrawal_pending(&self, case_number: &str, pending: bool) {
        let mut inner = self.lock();
        if let Some(tracked) = inner.cases.get_mut(case_number)
            && tracked.withdrawal == Withdrawal::Requested
            && !pending
        {
            tracked.withdrawal = Withdrawal::Settled;
        }
    }

    /// Whether staff should leave `case_number` alone for now: its applicant means to
    /// withdraw it and the withdrawal is not settled yet. The demo's reviewer waits, so that
    /// the withdrawal surely comes before anyone acts on the case.
    pub fn held_for_withdrawal(&self, case_number: &str) -> bool {
        self.lock().cases.get(case_number).is_some_and(|tracked| {
            matches!(
                tracked.withdrawal,
                Withdrawal::Planned | Withdrawal::Claimed | Withdrawal::Requested
            )
        })
    }

    /// Claims the ratings of every closed case whose applicant means to rate it, each case
    /// once.
    pub fn claim_ratings(&self) -> Vec<(CaseKey, Vec<PlannedRating>)> {
        let mut inner = self.lock();
        let mut due = Vec::new();
        for (case, tracked) in &mut inner.cases {
            let rateable = tracked.final_after.is_some() && !tracked.ratings_claimed;
            if rateable && !tracked.intent.ratings.is_empty() {
                tracked.ratings_claimed = true;
                let key = (case.clone(), tracked.access_code.clone());
                due.push((key, tracked.intent.ratings.clone()));
            }
        }
        due
    }

    /// Notes intake's answer to one rating, or why it refused.
    pub fn rated(&self, case_number: &str, answer: Result<&pb::RateCaseResponse, String>) {
        let mut inner = self.lock();
        match answer {
            Ok(response) => {
                inner.progress.ratings += 1;
                if !response.follow_up_id.is_empty() {
                    inner
                        .follow_ups_opened
                        .insert(response.follow_up_id.clone());
                }
            }
            Err(problem) => {
                let problem = format!("rating of {case_number}: {problem}");
                inner.feedback_failures.push(problem);
            }
        }
    }

    /// Notes a follow-up task the operator closed.
    pub fn follow_up_closed(&self, follow_up_id: &str) {
        let mut inner = self.lock();
        if inner.follow_ups_closed.insert(follow_up_id.to_owned()) {
            inner.progress.follow_ups_closed += 1;
        }
    }

    /// Whether the applicants did all they meant to with their closed cases: every rating
    /// sent, and every follow-up task it opened closed.
    pub fn feedback_settled(&self) -> bool {
        let inner = self.lock();
        let unrated = inner.cases.values().any(|tracked| {
            tracked.final_after.is_some()
                && !tracked.ratings_claimed
                && !tracked.intent.ratings.is_empty()
        });
        !unrated && inner.follow_ups_opened.is_subset(&inner.follow_ups_closed)
    }

    /// What went wrong with withdrawals and ratings.
    pub fn feedback_failures(&self) -> Vec<String> {
        self.lock().feedback_failures.clone()
    }

    /// Who collects the permit of `case_number` at the window: the agent if one applied.
    pub fn collected_by(&self, case_number: &str) -> &'static str {
        self.lock()
            .cases
            .get(case_number)
            .map_or("holder", |tracked| tracked.collected_by)
    }

    /// Notes a collection recorded at the window.
    pub fn collected(&self) {
        self.lock().progress.collections += 1;
    }

    /// Notes a call about to be sent again after a transient failure.
    pub fn retried(&self) {
        self.lock().progress.retried += 1;
    }

    /// Whether every submitted case was seen final.
    pub fn all_final(&self) -> bool {
        self.lock()
            .cases
            .values()
            .all(|tracked| tracked.final_after.is_some())
    }

    /// Counts so far.
    pub fn progress(&self) -> Progress {
        self.lock().progress
    }

    /// Case numbers not seen final, sorted.
    pub fn open_cases(&self) -> Vec<String> {
        let inner = self.lock();
        let mut open: Vec<String> = inner
            .cases
            .iter()
            .filter(|(_, tracked)| tracked.final_after.is_none())
            .map(|(case, _)| case.clone())
            .collect();
        open.sort();
        open
    }

    /// Time from submission to the final status as the demo saw it, per final case.
    pub fn observed_latencies(&self) -> Vec<Duration> {
        self.lock()
            .cases
            .values()
            .filter_map(|tracked| tracked.final_after)
            .collect()
    }

    /// Why applications could not be submitted.
    pub fn failures(&self) -> Vec<String> {
        self.lock().failures.clone()
    }
}

/// Marks `tracked`'s supplement as being answered, if it waits for one the demo can send and
/// the applicant does not mean to withdraw instead.
fn claim(tracked: &mut Tracked) -> bool {
    let withdraws_instead = tracked
        .intent
        .withdrawal
        .as_ref()
        .is_some_and(|planned| planned.at == WithdrawAt::SupplementNotice);
    let claimable = tracked.status == pb::CaseStatus::SupplementRequired
        && !tracked.supplement_claimed
        && !tracked.supplement.is_empty()
        && !withdraws_instead;
    if claimable {
        tracked.supplement_claimed = true;
    }
    claimable
}

/// Final statuses: refused, denied, delivered, collected, withdrawn.
pub fn is_final(status: pb::CaseStatus) -> bool {
    matches!(
        status,
        pb::CaseStatus::Refused
            | pb::CaseStatus::Denied
            | pb::CaseStatus::Delivered
            | pb::CaseStatus::Collected
            | pb::CaseStatus::Withdrawn
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::synthetic::{Expected, Scenario, applications};

    fn missing_proof() -> SyntheticApplication {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        applications(1, today, 20)
            .into_iter()
            .find(|application| application.scenario == Scenario::MissingProof)
            .unwrap()
    }

    fn response(case_number: &str, status: pb::CaseStatus) -> pb::SubmitApplicationResponse {
        pb::SubmitApplicationResponse {
            case_number: case_number.into(),
            access_code: "code".into(),
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_supplement_is_claimed_exactly_once() {
        let ledger = Ledger::default();
        let application = missing_proof();
        let waiting = response("C1", pb::CaseStatus::SupplementRequired);
        ledger.submitted(&application, &waiting, Instant::now());

        let (key, materials) = ledger.claim_supplement("C1").unwrap();
        assert_eq!(key, ("C1".to_owned(), "code".to_owned()));
        assert_eq!(materials, application.supplement);
        assert!(ledger.claim_supplement("C1").is_none());
        assert!(ledger.claim_waiting_supplements().is_empty());

        ledger.supplemented("C1", Some(pb::CaseStatus::Accepted.into()));
        assert_eq!(ledger.progress().supplements, 1);
    }

    #[test]
    fn cases_count_as_final_once() {
        let ledger = Ledger::default();
        let application = missing_proof();
        ledger.submitted(
            &application,
            &response("C1", pb::CaseStatus::Accepted),
            Instant::now(),
        );
        ledger.submitted(
            &application,
            &response("C2", pb::CaseStatus::Refused),
            Instant::now(),
        );
        assert_eq!(ledger.progress().finals, 1);
        assert_eq!(ledger.open_cases(), ["C1"]);

        let collected = pb::CaseStatus::Collected.into();
        ledger.observed("C1", collected, true);
        ledger.observed("C1", collected, true);
        assert_eq!(ledger.progress().finals, 2);
        assert!(ledger.all_final());
        assert_eq!(ledger.observed_latencies().len(), 2);
        assert!(ledger.due_for_tracking(10).is_empty());
    }

    #[test]
    fn withdrawn_is_final() {
        assert!(is_final(pb::CaseStatus::Withdrawn));
        assert!(!is_final(pb::CaseStatus::InManualReview));
    }

    /// The first application missing a proof, and a ledger whose plan withdraws it.
    fn withdrawing() -> (SyntheticApplication, Ledger) {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let all = applications(1, today, 20);
        let application = all
            .iter()
            .find(|application| application.scenario == Scenario::MissingProof)
            .unwrap()
            .clone();
        (application, Ledger::with_plan(Plan::new(1, &all)))
    }

    #[test]
    fn a_planned_withdrawal_replaces_the_supplement_and_holds_the_case() {
        let (application, ledger) = withdrawing();
        let waiting = response("C1", pb::CaseStatus::SupplementRequired);
        ledger.submitted(&application, &waiting, Instant::now());
        assert!(ledger.held_for_withdrawal("C1"));
        assert!(ledger.claim_supplement("C1").is_none());

        let due = ledger.claim_withdrawals();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, ("C1".to_owned(), "code".to_owned()));
        assert!(ledger.claim_withdrawals().is_empty());

        let requested = pb::WithdrawApplicationResponse {
            case_number: "C1".into(),
            status: pb::CaseStatus::SupplementRequired.into(),
            withdrawal_requested: true,
        };
        ledger.withdrawal_answered("C1", Ok(&requested));
        ledger.withdrawal_pending("C1", true);
        assert!(ledger.held_for_withdrawal("C1"));
        ledger.withdrawal_pending("C1", false);
        assert!(!ledger.held_for_withdrawal("C1"));
        assert_eq!(ledger.progress().withdrawals, 1);
        assert!(ledger.feedback_failures().is_empty());
    }

    #[test]
    fn ratings_wait_for_the_final_status_and_follow_ups_for_the_operator() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let all = applications(1, today, 20);
        let ledger = Ledger::with_plan(Plan::new(1, &all));
        let refused = all
            .iter()
            .find(|application| application.scenario.expected() == Expected::Refused)
            .unwrap();
        let on_time = all
            .iter()
            .find(|application| application.scenario == Scenario::OnTime)
            .unwrap();
        let accepted = response("C0", pb::CaseStatus::Accepted);
        ledger.submitted(on_time, &accepted, Instant::now());
        let refusal = response("C1", pb::CaseStatus::Refused);
        ledger.submitted(refused, &refusal, Instant::now());
        assert!(!ledger.feedback_settled());

        let due = ledger.claim_ratings();
        assert_eq!(due.len(), 1, "only the closed case is rated");
        assert_eq!(due[0].1[0].channel, pb::RatingChannel::Hotline);
        assert!(ledger.claim_ratings().is_empty());
        assert!(ledger.feedback_settled());

        ledger.rated(
            "C1",
            Ok(&pb::RateCaseResponse {
                follow_up_id: "FU-C1-hotline".into(),
                ..Default::default()
            }),
        );
        assert!(!ledger.feedback_settled());
        ledger.follow_up_closed("FU-C1-hotline");
        ledger.follow_up_closed("FU-C1-hotline");
        assert!(ledger.feedback_settled());
        assert_eq!(ledger.progress().follow_ups_closed, 1);
        ledger.rated("C2", Err("NotFound: no case".into()));
        assert_eq!(
            ledger.feedback_failures(),
            ["rating of C2: NotFound: no case"]
        );
    }
}
