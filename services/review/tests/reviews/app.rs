//! The harness: the service's handlers and API over a fresh SQLite database in a run folder,
//! staff tokens, and the events they are fed.

use chrono::Utc;
use residence_eventing::{Handler, OutboxWriter, Outcome, RelayHandle};
use residence_events::{self as events, ApplicationAccepted, DecisionWithdrawn};
use residence_launcher::RunDir;
use residence_proto::v1::{self as pb, review_service_server::ReviewService};
use residence_review::api::ReviewApi;
use residence_review::entity::{review, task};
use residence_review::handler::ReviewHandler;
use residence_review::migration::Migrator;
use residence_review::store::Queue;
use residence_review::withdrawal::WithdrawalHandler;
use residence_staff::Role;
use residence_test_support::{database, fixtures, records, staff};
use sea_orm::{DatabaseConnection, EntityTrait};
use tonic::Request;

pub use residence_test_support::incoming;

/// The staff id every test token names.
pub const REVIEWER: &str = "reviewer-1";

/// An address the checks send to a person: it lies outside the county.
pub const ADDRESS_ELSEWHERE: &str = "河南省驻马店市遂平县车站街3号";

/// An address in the county, which the checks pass.
pub const ADDRESS_HERE: &str = "河南省驻马店市西平县五沟营镇东街1号";

/// The service's handlers and API over one fresh database, driven by the tests directly.
pub struct TestApp {
    pub db: DatabaseConnection,
    pub api: ReviewApi,
    pub accepted: ReviewHandler,
    pub withdrawals: WithdrawalHandler,
    /// The run folder of the database, removed with the app.
    _run: RunDir,
}

/// A fresh app over a new SQLite database.
pub async fn spawn_app() -> TestApp {
    let run = RunDir::new("review-test").unwrap();
    let db = database::sqlite::<Migrator>(&run, "review").await.unwrap();
    let outbox = OutboxWriter::new("review");
    TestApp {
        api: ReviewApi {
            db: db.clone(),
            queue: Queue {
                db: db.clone(),
                outbox: outbox.clone(),
                relay: RelayHandle::default(),
            },
            staff: staff::auth(),
        },
        accepted: ReviewHandler {
            db: db.clone(),
            outbox,
            relay: RelayHandle::default(),
            item: fixtures::service_item(),
        },
        withdrawals: WithdrawalHandler { db: db.clone() },
        db,
        _run: run,
    }
}

/// `message` as sent by [`REVIEWER`] in `role`, scoped to the whole county.
pub fn as_staff<T>(role: Role, message: T) -> Request<T> {
    staff::request(REVIEWER, role, message)
}

/// The decision service's answer to the withdrawal of `case_number`.
pub fn withdrawn(case_number: &str) -> DecisionWithdrawn {
    DecisionWithdrawn {
        case_number: case_number.into(),
        reason: "已在外地办理，申请撤回".into(),
        withdrawn_at: Utc::now(),
    }
}

impl TestApp {
    /// Intake accepted `case_number` of a holder living at `address`.
    pub async fn accept(&self, case_number: &str, address: &str) {
        let accepted = ApplicationAccepted {
            application: fixtures::application(case_number, address),
            accepted_at: Utc::now(),
            due_on: "2026-02-11".parse().unwrap(),
            due_on_confirmed: true,
        };
        let id = format!("accepted-{case_number}");
        let event = incoming(&id, events::APPLICATION_ACCEPTED.subject, &accepted);
        assert_eq!(self.accepted.handle(&event).await, Outcome::Done);
    }

    /// Hands `residence.v1.decision.withdrawn` of `case_number` to the handler, as `event_id`.
    pub async fn withdraw(&self, event_id: &str, case_number: &str) -> Outcome {
        let payload = withdrawn(case_number);
        let event = incoming(event_id, events::DECISION_WITHDRAWN.subject, &payload);
        self.withdrawals.handle(&event).await
    }

    /// The case numbers in the county's queue, oldest first.
    pub async fn queue(&self) -> Vec<String> {
        let message = pb::ListReviewQueueRequest::default();
        let listed = self
            .api
            .list_review_queue(as_staff(Role::Reviewer, message))
            .await;
        let tasks = listed.unwrap().into_inner().tasks;
        tasks.into_iter().map(|task| task.case_number).collect()
    }

    /// The review task of `case_number`, whatever its state, if any.
    pub async fn task(&self, case_number: &str) -> Option<task::Model> {
        task::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
            .unwrap()
    }

    /// The recorded review of `case_number`, if any.
    pub async fn review(&self, case_number: &str) -> Option<review::Model> {
        review::Entity::find_by_id(case_number.to_owned())
            .one(&self.db)
            .await
            .unwrap()
    }

    /// The subjects of every event enqueued for `case_number`, oldest first.
    pub async fn events_of(&self, case_number: &str) -> Vec<String> {
        records::outbox_subjects(&self.db, case_number)
            .await
            .unwrap()
    }

    /// The actions in the case's audit trail, oldest first.
    pub async fn actions(&self, case_number: &str) -> Vec<String> {
        let trail = records::audit_trail(&self.db, case_number).await.unwrap();
        trail.into_iter().map(|record| record.action).collect()
    }
}
