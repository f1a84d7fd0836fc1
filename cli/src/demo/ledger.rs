//! The demo's own notes on the cases it submitted: enough to track, supplement and collect
//! them, and to show progress. The summary never reads these.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use residence_proto::v1 as pb;
use tokio::time::Instant;

use crate::synthetic::SyntheticApplication;

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
    cases: HashMap<String, Tracked>,
    failures: Vec<String>,
    progress: Progress,
}

impl Ledger {
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
        };
        let mut inner = self.lock();
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

/// Marks `tracked`'s supplement as being answered, if it waits for one the demo can send.
fn claim(tracked: &mut Tracked) -> bool {
    let claimable = tracked.status == pb::CaseStatus::SupplementRequired
        && !tracked.supplement_claimed
        && !tracked.supplement.is_empty();
    if claimable {
        tracked.supplement_claimed = true;
    }
    claimable
}

/// Final statuses: refused, denied, delivered, collected.
pub fn is_final(status: pb::CaseStatus) -> bool {
    matches!(
        status,
        pb::CaseStatus::Refused
            | pb::CaseStatus::Denied
            | pb::CaseStatus::Delivered
            | pb::CaseStatus::Collected
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::synthetic::{Scenario, applications};

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
}
