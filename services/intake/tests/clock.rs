//! The time-limit clocks against a real SQLite database: warnings, overdue events, pauses while
//! the case waits on the applicant, and due dates corrected when a holiday calendar arrives.

use residence_launcher::RunDir;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use residence_eventing::entity::outbox;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_intake::clock::{self, Pass, Watcher};
use residence_intake::migration::Migrator;
use residence_item::ServiceItem;
use residence_rules::calendar::{Calendar, YearSchedule};
use residence_runtime::calendar::SharedCalendar;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, TransactionTrait};
use sea_orm_migration::MigratorTrait;

const CASE: &str = "114128240059672296100070900020260306000017";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn item() -> ServiceItem {
    ServiceItem::load(&root().join("deploy/service-item.toml")).unwrap()
}

fn schedule(year: i32) -> YearSchedule {
    let text = std::fs::read_to_string(root().join(format!("deploy/calendars/{year}.toml")));
    YearSchedule::from_toml(&text.unwrap()).unwrap()
}

fn calendar() -> Calendar {
    Calendar::new(vec![schedule(2025), schedule(2026)]).unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

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

/// A calendar directory in `scratch` holding the shipped files of `years`.
fn calendar_dir(scratch: &RunDir, years: &[i32]) -> SharedCalendar {
    let dir = scratch.path().join("calendars");
    std::fs::create_dir_all(&dir).unwrap();
    for year in years {
        let file = format!("{year}.toml");
        std::fs::copy(root().join("deploy/calendars").join(&file), dir.join(&file)).unwrap();
    }
    SharedCalendar::load(&dir).unwrap()
}

fn watcher(db: &DatabaseConnection, calendar: SharedCalendar) -> Watcher {
    Watcher {
        db: db.clone(),
        outbox: OutboxWriter::new("intake"),
        relay: RelayHandle::default(),
        calendar,
        warning_ahead: clock::DEFAULT_WARNING_AHEAD,
    }
}

async fn accept(db: &DatabaseConnection, calendar: &Calendar, on: &str) -> NaiveDate {
    let txn = db.begin().await.unwrap();
    let due = clock::start(
        &txn,
        CASE,
        &item(),
        calendar,
        date(on),
        clock::DEFAULT_WARNING_AHEAD,
        Utc::now(),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    due.date
}

/// The events in the outbox, as (subject, payload).
async fn raised(db: &DatabaseConnection) -> Vec<(String, serde_json::Value)> {
    outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.subject, serde_json::from_str(&row.payload).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_case_gets_one_warning_then_one_overdue_event_per_limit() {
    let scratch = RunDir::new("intake-test-warn").unwrap();
    let db = database(&scratch).await;
    // Accepted on a Friday: both one-day limits end with Monday, China time.
    assert_eq!(
        accept(&db, &calendar(), "2026-03-06").await,
        date("2026-03-09")
    );
    let watcher = watcher(&db, calendar_dir(&scratch, &[2025, 2026]));

    let quiet = watcher.pass(at("2026-03-09T07:59:59Z")).await.unwrap();
    assert_eq!(quiet, Pass::default());
    let warned = watcher.pass(at("2026-03-09T08:00:00Z")).await.unwrap();
    assert_eq!(warned.warnings, 2);
    assert_eq!(
        watcher.pass(at("2026-03-09T12:00:00Z")).await.unwrap(),
        Pass::default()
    );
    let overdue = watcher.pass(at("2026-03-09T16:00:00Z")).await.unwrap();
    assert_eq!(overdue.overdue, 2);
    assert_eq!(
        watcher.pass(at("2026-03-12T00:00:00Z")).await.unwrap(),
        Pass::default()
    );

    let events = raised(&db).await;
    let subjects: Vec<&str> = events.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "residence.v1.case.deadline_approaching",
            "residence.v1.case.deadline_approaching",
            "residence.v1.case.overdue",
            "residence.v1.case.overdue",
        ]
    );
    for (_, payload) in &events {
        let mut keys: Vec<&str> = payload
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        // Only the case number and the clock: no personal data.
        assert_eq!(
            keys,
            [
                "case_number",
                "deadline",
                "due_on",
                "due_on_confirmed",
                "limit",
                "status",
                "working_days"
            ]
        );
        assert_eq!(payload["case_number"], CASE);
        assert_eq!(payload["due_on"], "2026-03-09");
        assert_eq!(payload["deadline"], "2026-03-09T16:00:00Z");
    }
}

#[tokio::test]
async fn an_overdue_case_never_gets_a_late_warning() {
    let scratch = RunDir::new("intake-test-late").unwrap();
    let db = database(&scratch).await;
    accept(&db, &calendar(), "2026-03-06").await;
    let pass = watcher(&db, calendar_dir(&scratch, &[2025, 2026]))
        .pass(at("2026-03-10T09:00:00Z"))
        .await
        .unwrap();
    assert_eq!((pass.warnings, pass.overdue), (0, 2));
    let subjects: Vec<String> = raised(&db).await.into_iter().map(|(s, _)| s).collect();
    assert!(subjects.iter().all(|s| s == "residence.v1.case.overdue"));
}

#[tokio::test]
async fn the_clock_stands_still_while_the_applicant_is_asked_for_materials() {
    let scratch = RunDir::new("intake-test-pause").unwrap();
    let db = database(&scratch).await;
    let calendar = calendar();
    // Accepted Monday, due Tuesday; on Tuesday the case goes back to the applicant.
    accept(&db, &calendar, "2026-03-02").await;
    let txn = db.begin().await.unwrap();
    clock::pause(&txn, CASE, &calendar, date("2026-03-03"), Utc::now())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let watcher = watcher(&db, calendar_dir(&scratch, &[2025, 2026]));
    // Long past the original deadline, nothing is raised while the case waits.
    assert_eq!(
        watcher.pass(at("2026-03-05T12:00:00Z")).await.unwrap(),
        Pass::default()
    );

    // The applicant answers on Saturday: the day left ends with Monday.
    let txn = db.begin().await.unwrap();
    let due = clock::resume(
        &txn,
        CASE,
        &calendar,
        date("2026-03-07"),
        clock::DEFAULT_WARNING_AHEAD,
        Utc::now(),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(due.map(|due| due.date), Some(date("2026-03-09")));
    assert_eq!(
        watcher.pass(at("2026-03-08T12:00:00Z")).await.unwrap(),
        Pass::default()
    );
    assert_eq!(
        watcher
            .pass(at("2026-03-09T08:00:00Z"))
            .await
            .unwrap()
            .warnings,
        2
    );
}

#[tokio::test]
async fn a_decided_case_raises_nothing() {
    let scratch = RunDir::new("intake-test-stop").unwrap();
    let db = database(&scratch).await;
    accept(&db, &calendar(), "2026-03-06").await;
    let txn = db.begin().await.unwrap();
    clock::stop(&txn, CASE, Utc::now()).await.unwrap();
    txn.commit().await.unwrap();
    let pass = watcher(&db, calendar_dir(&scratch, &[2025, 2026]))
        .pass(at("2026-03-20T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(pass, Pass::default());
    assert!(raised(&db).await.is_empty());
}

#[tokio::test]
async fn loading_next_years_calendar_corrects_unconfirmed_due_dates() {
    let scratch = RunDir::new("intake-test-redate").unwrap();
    let db = database(&scratch).await;
    // Without a 2026 schedule, 2025-12-31 plus one working day counts weekends only: Jan 1.
    let without_2026 = Calendar::new(vec![schedule(2025)]).unwrap();
    assert_eq!(
        accept(&db, &without_2026, "2025-12-31").await,
        date("2026-01-01")
    );

    // The operator adds the 2026 file: Jan 1 to 3 is a holiday and Sunday Jan 4 a make-up
    // working day, so the limit now ends with Jan 4, confirmed.
    let shared = calendar_dir(&scratch, &[2025]);
    let watcher = watcher(&db, shared.clone());
    assert_eq!(
        watcher.pass(at("2025-12-31T12:00:00Z")).await.unwrap(),
        Pass::default()
    );
    calendar_dir(&scratch, &[2026]);
    shared.reload().unwrap();
    let pass = watcher.pass(at("2025-12-31T12:05:00Z")).await;
    assert_eq!(pass.unwrap().redated, 2);
    let events = raised(&db).await;
    assert!(events.is_empty(), "{events:?}");
    let warned = watcher.pass(at("2026-01-04T08:00:00Z")).await.unwrap();
    assert_eq!((warned.redated, warned.warnings), (0, 2));
    for (_, payload) in raised(&db).await {
        assert_eq!(payload["due_on"], "2026-01-04");
        assert_eq!(payload["due_on_confirmed"], true);
    }
}
