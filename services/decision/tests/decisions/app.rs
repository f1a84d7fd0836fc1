//! The harness: the service's handlers and API over a fresh database (SQLite in a run folder
//! unless a test brings PostgreSQL), staff tokens, and the events they are fed.

use std::sync::Arc;

use chrono::Utc;
use residence_audit::audit_record;
use residence_decision::api::DecisionApi;
use residence_decision::entity::decision;
use residence_decision::handler::DecisionHandler;
use residence_decision::migration::Migrator;
use residence_decision::store::Officer;
use residence_decision::withdrawal::WithdrawalHandler;
use residence_eventing::entity::outbox;
use residence_eventing::{Incoming, OutboxWriter, RelayHandle};
use residence_events::{
    self as events, Application, CaseWithdrawalRequested, Finding, ReviewCompleted, ReviewOutcome,
};
use residence_item::ServiceItem;
use residence_launcher::RunDir;
use residence_staff::Role;
use residence_test_support::{database, fixtures, records, staff};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use tonic::Request;

pub use residence_test_support::incoming;

/// The staff id every test token names.
pub const OFFICER: &str = "officer-7";

/// The town the addresses of [`application`] lie in.
pub const TOWN: &str = "412824101";

/// The service's handlers and API over one fresh database, driven by the tests directly.
pub struct TestApp {
    pub db: DatabaseConnection,
    pub api: DecisionApi,
    pub reviewed: DecisionHandler,
    pub withdrawals: WithdrawalHandler,
    /// The run folder [`spawn_app`] made for the database, removed with the app.
    _run: Option<RunDir>,
}

/// A fresh app over a new SQLite database.
pub async fn spawn_app() -> TestApp {
    let run = RunDir::new("decision-test").unwrap();
    let db = database::sqlite::<Migrator>(&run, "decision")
        .await
        .unwrap();
    let mut app = app_with(db);
    app._run = Some(run);
    app
}

/// A fresh app over the empty database at `url`, migrated first.
pub async fn app_at(url: &str) -> TestApp {
    let db = database::migrated::<Migrator>("decision", url)
        .await
        .unwrap();
    app_with(db)
}

/// The county's service item, as deployed.
pub fn item() -> Arc<ServiceItem> {
    fixtures::service_item()
}

/// The handlers and API over `db`, migrated already.
pub fn app_with(db: DatabaseConnection) -> TestApp {
    let item = item();
    let outbox = OutboxWriter::new("decision");
    TestApp {
        api: DecisionApi {
            officer: Officer {
                db: db.clone(),
                outbox: outbox.clone(),
                relay: RelayHandle::default(),
                item: Arc::clone(&item),
            },
            staff: staff::auth(),
        },
        reviewed: DecisionHandler {
            db: db.clone(),
            outbox: outbox.clone(),
            relay: RelayHandle::default(),
            item,
        },
        withdrawals: WithdrawalHandler {
            db: db.clone(),
            outbox,
            relay: RelayHandle::default(),
        },
        db,
        _run: None,
    }
}

/// `message` as sent by [`OFFICER`] in `role`, scoped to the whole county.
pub fn as_staff<T>(role: Role, message: T) -> Request<T> {
    staff::request(OFFICER, role, message)
}

/// An on-time application of a synthetic holder in [`TOWN`]: the rules approve it.
pub fn application(case_number: &str) -> Application {
    fixtures::application(case_number, "河南省驻马店市西平县五沟营镇东街1号")
}

/// Review passed `case_number` on to the rules.
pub fn passed(case_number: &str) -> ReviewCompleted {
    ReviewCompleted {
        application: application(case_number),
        outcome: ReviewOutcome::Passed,
        findings: Vec::new(),
        reviewed_at: Utc::now(),
    }
}

/// A reviewer referred `case_number` with a finding to the deciding officer.
pub fn referred(case_number: &str) -> ReviewCompleted {
    let finding = Finding {
        code: "address_outside_jurisdiction".into(),
        message: "居住地址需人工核实。".into(),
    };
    ReviewCompleted {
        outcome: ReviewOutcome::Failed,
        findings: vec![finding],
        ..passed(case_number)
    }
}

/// The applicant of `case_number` asks to withdraw it.
pub fn withdrawal(case_number: &str) -> CaseWithdrawalRequested {
    CaseWithdrawalRequested {
        case_number: case_number.into(),
        reason: "已在外地办理，申请撤回".into(),
        requested_at: Utc::now(),
    }
}

pub fn review_completed(id: &str, review: &ReviewCompleted) -> Incoming {
    incoming(id, events::REVIEW_COMPLETED.subject, review)
}

pub fn withdrawal_requested(id: &str, request: &CaseWithdrawalRequested) -> Incoming {
    incoming(id, events::CASE_WITHDRAWAL_REQUESTED.subject, request)
}

impl TestApp {
    /// Records `outcome` on `case_number` as if decided earlier by the rules.
    pub async fn insert_decision(&self, case_number: &str, outcome: &str) {
        decision::ActiveModel {
            case_number: Set(case_number.to_owned()),
            outcome: Set(outcome.to_owned()),
            endorsement: Set(None),
            legal_basis: Set(None),
            reasons: Set("[]".to_owned()),
            decided_at: Set(Utc::now()),
            reversed_at: Set(None),
            reversal_reason: Set(None),
            reversed_by: Set(None),
            decided_by: Set(None),
            town_code: Set(Some(TOWN.to_owned())),
        }
        .insert(&self.db)
        .await
        .unwrap();
    }

    /// The outbox rows of `case_number` on `subject`, oldest first.
    pub async fn outbox_on(&self, subject: &str, case_number: &str) -> Vec<outbox::Model> {
        let mut rows = records::outbox_on(&self.db, subject).await.unwrap();
        rows.retain(|row| row.case_number == case_number);
        rows
    }

    /// The subjects of every event enqueued for `case_number`, oldest first.
    pub async fn events_of(&self, case_number: &str) -> Vec<String> {
        records::outbox_subjects(&self.db, case_number)
            .await
            .unwrap()
    }

    /// The case's audit trail, oldest first.
    pub async fn trail(&self, case_number: &str) -> Vec<audit_record::Model> {
        records::audit_trail(&self.db, case_number).await.unwrap()
    }

    /// Marks every outbox row published, as the relay would.
    pub async fn mark_published(&self) {
        records::mark_published(&self.db).await.unwrap();
    }

    /// The decision on `case_number`, if any.
    pub async fn decision(&self, case_number: &str) -> Option<decision::Model> {
        decision::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
            .unwrap()
    }
}
