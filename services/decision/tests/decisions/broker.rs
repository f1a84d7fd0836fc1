//! Withdrawals against real PostgreSQL and nats-server processes. On PostgreSQL a withdrawal
//! and a decision of the same case can overlap: exactly one of them stands and exactly one
//! event tells the rest of the system. Over the broker, a referred case's withdrawal comes out
//! as one `residence.v1.decision.withdrawn`, however often the request arrives.

use anyhow::{Context, Result};
use futures::future::join_all;
use residence_decision::entity::{pending, pending_state};
use residence_decision::handler::{self, DecisionHandler};
use residence_decision::store;
use residence_decision::withdrawal::{self, WithdrawalHandler};
use residence_eventing::envelope::header;
use residence_eventing::{ConsumerSpec, Handler, OutboxWriter, Outcome, Relay, streams};
use residence_events::{self as events, DecisionWithdrawn};
use residence_launcher::{Postgres, RunDir};
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_staff::Role;
use residence_test_support::{Background, Broker, wait_until};
use sea_orm::EntityTrait;
use tonic::Code;

use crate::app::*;

/// Cases raced per path.
const RACES: usize = 12;

/// A fresh PostgreSQL server with one database for the app.
async fn postgres_app(run: &RunDir) -> Result<(TestApp, Postgres)> {
    let postgres = Postgres::start(&run.path().join("postgres")).await?;
    let url = postgres.create_database("decision_test").await?;
    Ok((app_at(&url).await, postgres))
}

fn approval(case_number: &str) -> pb::ApproveDecisionRequest {
    pb::ApproveDecisionRequest {
        case_number: case_number.to_owned(),
        note: "经核实，居住地址属实".to_owned(),
    }
}

/// What stands for `case_number`: its outcome and the subjects of its events.
async fn standing(app: &TestApp, case_number: &str) -> (String, Vec<String>) {
    let decided = app
        .decision(case_number)
        .await
        .expect("a decision or a withdrawal");
    (decided.outcome, app.events_of(case_number).await)
}

fn subject_of(outcome: &str) -> &'static str {
    match outcome {
        store::APPROVED => events::DECISION_APPROVED.subject,
        store::DENIED => events::DECISION_DENIED.subject,
        _ => events::DECISION_WITHDRAWN.subject,
    }
}

/// Approves `case_number` and withdraws it at the same time.
async fn race_officer(
    app: &TestApp,
    case_number: &str,
) -> (
    String,
    Result<tonic::Response<pb::GetDecisionResponse>, tonic::Status>,
    Outcome,
) {
    let request = withdrawal_requested(&format!("w-{case_number}"), &withdrawal(case_number));
    let approve = app
        .api
        .approve_decision(as_staff(Role::Decider, approval(case_number)));
    let (approved, withdrawn) = tokio::join!(approve, app.withdrawals.handle(&request));
    (case_number.to_owned(), approved, withdrawn)
}

/// Lets the rules decide `case_number` and withdraws it at the same time.
async fn race_rules(app: &TestApp, case_number: &str) -> (String, (Outcome, Outcome)) {
    let review = review_completed(&format!("review-{case_number}"), &passed(case_number));
    let request = withdrawal_requested(&format!("w-{case_number}"), &withdrawal(case_number));
    let outcomes = tokio::join!(
        app.reviewed.handle(&review),
        app.withdrawals.handle(&request)
    );
    (case_number.to_owned(), outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawal_and_a_decision_overlapping_on_postgres_leave_one_outcome() -> Result<()> {
    let run = RunDir::new("decision-race-test")?;
    let (app, _postgres) = postgres_app(&run).await?;
    let referred_cases: Vec<String> = (0..RACES).map(|i| format!("REF-{i}")).collect();
    let passed_cases: Vec<String> = (0..RACES).map(|i| format!("AUTO-{i}")).collect();
    for case_number in &referred_cases {
        let event = review_completed(&format!("review-{case_number}"), &referred(case_number));
        assert_eq!(app.reviewed.handle(&event).await, Outcome::Done);
    }

    // The officer approves each referred case while its applicant withdraws it.
    let races = referred_cases.iter().map(|case| race_officer(&app, case));
    for (case_number, approved, withdrawn) in join_all(races).await {
        assert_eq!(withdrawn, Outcome::Done);
        let (outcome, subjects) = standing(&app, &case_number).await;
        assert_eq!(subjects, [subject_of(&outcome)], "{case_number}");
        match approved {
            Ok(_) => assert_eq!(outcome, store::APPROVED, "{case_number}"),
            Err(status) => {
                assert_eq!(outcome, store::WITHDRAWN, "{case_number}");
                assert_eq!(status.code(), Code::FailedPrecondition);
            }
        }
        let waiting = pending::Entity::find_by_id(case_number.clone())
            .one(&app.db)
            .await?
            .context("the referral")?;
        assert_ne!(waiting.state, pending_state::PENDING, "{case_number}");
    }

    // The rules decide each passed case while its applicant withdraws it.
    let races = passed_cases.iter().map(|case| race_rules(&app, case));
    for (case_number, outcomes) in join_all(races).await {
        assert_eq!(outcomes, (Outcome::Done, Outcome::Done), "{case_number}");
        let (outcome, subjects) = standing(&app, &case_number).await;
        assert_eq!(subjects, [subject_of(&outcome)], "{case_number}");
    }
    let listed = app
        .api
        .list_pending_decisions(as_staff(Role::Decider, Default::default()))
        .await;
    assert!(listed.unwrap().into_inner().pending.is_empty());
    Ok(())
}

/// The consumers and relay of the service, running against one nats-server.
struct Running {
    app: TestApp,
    broker: Broker,
    background: Background,
    _postgres: Postgres,
    _run: RunDir,
}

async fn start() -> Result<Running> {
    let run = RunDir::new("decision-broker-test")?;
    let broker = Broker::start(&run).await?;
    let jetstream = broker.jetstream();
    let (app, postgres) = postgres_app(&run).await?;

    let mut background = Background::new();
    let relay = Relay::new(app.db.clone(), jetstream.clone());
    let relay_handle = relay.handle();
    background.spawn(|shutdown| relay.run(shutdown));
    let outbox = OutboxWriter::new("decision");
    let reviewed = DecisionHandler {
        db: app.db.clone(),
        outbox: outbox.clone(),
        relay: relay_handle.clone(),
        item: item(),
    };
    let spec = ConsumerSpec::new(handler::CONSUMER, streams::RESIDENCE, handler::SUBJECTS);
    background.consume(jetstream, spec, reviewed);
    let withdrawals = WithdrawalHandler {
        db: app.db.clone(),
        outbox,
        relay: relay_handle,
    };
    let spec = ConsumerSpec::new(
        withdrawal::CONSUMER,
        streams::RESIDENCE,
        withdrawal::SUBJECTS,
    );
    background.consume(jetstream, spec, withdrawals);
    Ok(Running {
        app,
        broker,
        background,
        _postgres: postgres,
        _run: run,
    })
}

impl Running {
    /// Waits until `durable` has nothing pending or unacknowledged.
    async fn wait_consumed(&self, durable: &str) -> Result<()> {
        self.broker.wait_consumed(streams::RESIDENCE, durable).await
    }

    /// The messages the stream holds on `subject`.
    async fn read(&self, subject: &str) -> Result<Vec<async_nats::jetstream::Message>> {
        self.broker.read(streams::RESIDENCE, subject).await
    }

    async fn stop(self) -> Result<()> {
        self.background.stop().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referred_case_withdrawn_over_the_broker_is_announced_once() -> Result<()> {
    let running = start().await?;
    let app = &running.app;
    let review = referred("CASE-1");
    running
        .broker
        .publish(
            events::REVIEW_COMPLETED,
            "/residence/review",
            "CASE-1",
            "review-1",
            &review,
        )
        .await?;
    wait_until("the referral to wait for the officer", || async {
        let found = pending::Entity::find_by_id("CASE-1".to_owned())
            .one(&app.db)
            .await;
        found.is_ok_and(|waiting| waiting.is_some())
    })
    .await?;

    // The request, the same request again, and a second one from the applicant.
    let request = withdrawal("CASE-1");
    let intake = "/residence/intake";
    let subject = events::CASE_WITHDRAWAL_REQUESTED;
    for event_id in ["withdrawal-1", "withdrawal-1", "withdrawal-2"] {
        running
            .broker
            .publish(subject, intake, "CASE-1", event_id, &request)
            .await?;
    }
    running.wait_consumed(withdrawal::CONSUMER).await?;
    wait_until("the withdrawal to be published", || async {
        let rows = app
            .outbox_on(events::DECISION_WITHDRAWN.subject, "CASE-1")
            .await;
        rows.iter().all(|row| row.published_at.is_some()) && !rows.is_empty()
    })
    .await?;

    let [message] = running
        .read(events::DECISION_WITHDRAWN.subject)
        .await?
        .try_into()
        .map_err(|messages: Vec<_>| anyhow::anyhow!("{} messages", messages.len()))?;
    let headers = message.headers.clone().context("headers")?;
    assert_eq!(
        headers
            .get(header::SUBJECT)
            .map(|v| v.to_string())
            .as_deref(),
        Some("CASE-1")
    );
    let withdrawn: DecisionWithdrawn = serde_json::from_slice(&message.payload)?;
    assert_eq!(withdrawn.case_number, "CASE-1");
    assert_eq!(withdrawn.reason, request.reason);

    let refused = app
        .api
        .approve_decision(as_staff(Role::Decider, approval("CASE-1")))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::FailedPrecondition);
    running.stop().await
}
