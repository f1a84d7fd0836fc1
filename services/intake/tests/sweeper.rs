//! The sweeper against a real SQLite database: which cases count as stuck, how often it asks,
//! and what a resend request re-publishes.

use residence_launcher::RunDir;

use chrono::{DateTime, TimeDelta, Utc};
use residence_eventing::entity::outbox;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_intake::entity::case;
use residence_intake::migration::Migrator;
use residence_intake::sweeper::{Budgets, Sweeper};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sea_orm_migration::MigratorTrait;

async fn database(scratch: &RunDir) -> DatabaseConnection {
    let url = format!(
        "sqlite://{}?mode=rwc",
        scratch.path().join("intake.db").display()
    );
    let db = residence_runtime::database::connect("intake", &url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A case last changed at `updated_at`; the columns the sweeper does not read are filler.
async fn case(
    db: &DatabaseConnection,
    number: &str,
    status: &str,
    license: Option<&str>,
    updated_at: DateTime<Utc>,
) {
    case::ActiveModel {
        case_number: Set(number.to_owned()),
        client_request_id: Set(format!("request-{number}")),
        request_digest: Set(String::new()),
        channel: Set("online".to_owned()),
        status: Set(status.to_owned()),
        is_final: Set(matches!(
            status,
            "delivered" | "collected" | "denied" | "refused"
        )),
        delivery_method: Set("pickup".to_owned()),
        masked_id_number: Set("411721********1237".to_owned()),
        application: Set("{}".into()),
        materials: Set("[]".to_owned()),
        reasons: Set("[]".to_owned()),
        received_at: Set(updated_at),
        accepted_at: Set(Some(updated_at)),
        due_on: Set(None),
        due_on_confirmed: Set(true),
        closed_at: Set(None),
        new_valid_until: Set(None),
        parcel_reference: Set(None),
        license_identifier: Set(license.map(str::to_owned)),
        updated_at: Set(updated_at),
        town_code: Set(Some("411721101".to_owned())),
        withdrawal_requested_at: Set(None),
        rating_invited_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
}

fn sweeper(db: &DatabaseConnection) -> Sweeper {
    Sweeper {
        db: db.clone(),
        outbox: OutboxWriter::new("intake"),
        relay: RelayHandle::default(),
        budgets: Budgets {
            stage: TimeDelta::minutes(2),
            courier: TimeDelta::hours(6),
            staff: TimeDelta::days(1),
        },
    }
}

/// Case numbers of the resend requests in the outbox, oldest first.
async fn requested(db: &DatabaseConnection) -> Vec<String> {
    outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.subject == "residence.v1.case.resend_requested")
        .map(|row| row.case_number)
        .collect()
}

#[tokio::test]
async fn only_cases_waiting_on_the_services_beyond_their_budget_are_asked_for() {
    let scratch = RunDir::new("intake-test-which").unwrap();
    let db = database(&scratch).await;
    let long_ago = at("2026-03-02T02:00:00Z");
    let now = at("2026-03-02T02:10:00Z");
    case(&db, "A-reviewed", "reviewed", None, long_ago).await;
    case(
        &db,
        "B-recent",
        "reviewed",
        None,
        now - TimeDelta::seconds(30),
    )
    .await;
    case(&db, "C-no-license", "collected", None, long_ago).await;
    case(&db, "D-licensed", "ready_for_pickup", Some("L"), long_ago).await;
    case(
        &db,
        "E-waits-on-applicant",
        "supplement_required",
        None,
        long_ago,
    )
    .await;
    case(&db, "F-denied", "denied", None, long_ago).await;
    case(&db, "G-with-courier", "shipped", Some("L"), long_ago).await;
    case(
        &db,
        "H-courier-late",
        "shipped",
        Some("L"),
        now - TimeDelta::hours(7),
    )
    .await;

    assert_eq!(sweeper(&db).pass(now).await.unwrap(), 3);
    let mut asked = requested(&db).await;
    asked.sort();
    assert_eq!(asked, ["A-reviewed", "C-no-license", "H-courier-late"]);
}

#[tokio::test]
async fn a_case_that_stays_stuck_is_asked_for_less_and_less_often() {
    let scratch = RunDir::new("intake-test-spacing").unwrap();
    let db = database(&scratch).await;
    let start = at("2026-03-02T02:00:00Z");
    case(&db, "A", "approved", None, start).await;
    let sweeper = sweeper(&db);
    let after = |seconds| start + TimeDelta::seconds(seconds);

    assert_eq!(sweeper.pass(after(121)).await.unwrap(), 1);
    assert_eq!(sweeper.pass(after(200)).await.unwrap(), 0);
    // Second request one budget after the first, third two budgets after the second.
    assert_eq!(sweeper.pass(after(241)).await.unwrap(), 1);
    assert_eq!(sweeper.pass(after(300)).await.unwrap(), 0);
    assert_eq!(sweeper.pass(after(481)).await.unwrap(), 1);
    let payloads: Vec<serde_json::Value> = outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect();
    let attempts: Vec<u64> = payloads
        .iter()
        .map(|p| p["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(payloads[0]["status"], "approved");
}

#[tokio::test]
async fn a_resend_request_queues_the_cases_events_again_but_not_itself() {
    let scratch = RunDir::new("intake-test-republish").unwrap();
    let db = database(&scratch).await;
    let writer = OutboxWriter::new("intake");
    let payload = serde_json::json!({"case_number": "A"});
    for (event, case_number) in [
        (residence_events::APPLICATION_RECEIVED, "A"),
        (residence_events::APPLICATION_ACCEPTED, "A"),
        (residence_events::APPLICATION_ACCEPTED, "B"),
        (residence_events::CASE_RESEND_REQUESTED, "A"),
    ] {
        writer
            .enqueue(&db, event, case_number, &payload)
            .await
            .unwrap();
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
        .exec(&db)
        .await
        .unwrap();

    let queued = residence_eventing::resend::republish(&db, "A")
        .await
        .unwrap();
    assert_eq!(queued, 2);
    let unpublished: Vec<(String, String)> = outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.published_at.is_none())
        .map(|row| (row.case_number, row.subject))
        .collect();
    assert_eq!(
        unpublished,
        [
            (
                "A".to_owned(),
                "residence.v1.application.received".to_owned()
            ),
            (
                "A".to_owned(),
                "residence.v1.application.accepted".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn an_unanswered_withdrawal_is_asked_for_at_the_services_pace() {
    let scratch = RunDir::new("intake-test-withdrawal").unwrap();
    let db = database(&scratch).await;
    let now = at("2026-03-02T02:10:00Z");
    let ten_minutes_ago = now - TimeDelta::minutes(10);
    // Both wait on a reviewer, well within the staff budget.
    case(
        &db,
        "A-withdrawing",
        "in_manual_review",
        None,
        ten_minutes_ago,
    )
    .await;
    case(
        &db,
        "B-in-review",
        "in_manual_review",
        None,
        ten_minutes_ago,
    )
    .await;
    case::Entity::update_many()
        .col_expr(
            case::Column::WithdrawalRequestedAt,
            Expr::value(ten_minutes_ago),
        )
        .filter(case::Column::CaseNumber.eq("A-withdrawing"))
        .exec(&db)
        .await
        .unwrap();

    assert_eq!(sweeper(&db).pass(now).await.unwrap(), 1);
    assert_eq!(requested(&db).await, ["A-withdrawing"]);
}
