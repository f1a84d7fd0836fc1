//! The summary read from fixture databases and record files shaped like the services' own.

use residence_launcher::RunDir;
use sea_orm::{ConnectionTrait, Database};

use super::*;

const INTAKE: &str = "
    CREATE TABLE cases (
        case_number TEXT PRIMARY KEY, status TEXT NOT NULL, is_final INTEGER NOT NULL,
        channel TEXT NOT NULL, delivery_method TEXT NOT NULL, received_at TEXT NOT NULL,
        accepted_at TEXT, closed_at TEXT, reasons TEXT NOT NULL DEFAULT '[]');
    INSERT INTO cases (case_number, status, is_final, channel, delivery_method, received_at,
        accepted_at, closed_at) VALUES
        ('C1', 'collected', 1, 'window', 'pickup', '2026-12-04 08:00:00.000000+00:00',
         '2026-12-04 08:00:00.500000+00:00', '2026-12-04 08:00:02.000000+00:00'),
        ('C2', 'refused', 1, 'online', 'pickup', '2026-12-04 08:00:01.000000+00:00',
         NULL, '2026-12-04 08:00:01.100000+00:00'),
        ('C3', 'delivered', 1, 'online', 'courier', '2026-12-04 08:00:01+00:00',
         '2026-12-04 08:00:01.200000+00:00', '2026-12-04T08:00:05Z'),
        ('C4', 'denied', 1, 'window', 'pickup', '2026-12-04 08:00:02.000000+00:00',
         '2026-12-04 08:00:02.100000+00:00', '2026-12-04 08:00:03.000000+00:00'),
        ('C5', 'shipped', 0, 'self_service_terminal', 'courier',
         '2026-12-04 08:00:03.000000+00:00', '2026-12-04 08:00:03.100000+00:00', NULL);
    UPDATE cases SET reasons =
        '[{\"code\":\"too_early\",\"field\":\"permit.valid_until\"},
          {\"code\":\"agent_not_allowed\",\"field\":\"agent.relation\"}]'
        WHERE case_number = 'C2';
    CREATE TABLE case_steps (
        id INTEGER PRIMARY KEY, case_number TEXT NOT NULL, status TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '');
    INSERT INTO case_steps (case_number, status) VALUES
        ('C1', 'received'), ('C1', 'accepted'), ('C1', 'accepted'), ('C1', 'collected'),
        ('C2', 'received'), ('C2', 'refused'), ('C3', 'received'),
        ('C3', 'supplement_required'), ('C3', 'accepted');
    INSERT INTO case_steps (case_number, status, note) VALUES
        ('C4', 'in_manual_review', '转人工审核'), ('C4', 'in_manual_review', '已补正材料');
    CREATE TABLE audit_records (
        id INTEGER PRIMARY KEY, case_number TEXT NOT NULL, action TEXT NOT NULL);
    INSERT INTO audit_records (case_number, action) VALUES
        ('C1', 'case.received'), ('C2', 'case.received');
    CREATE TABLE case_ratings (
        case_number TEXT NOT NULL, channel TEXT NOT NULL, level INTEGER NOT NULL,
        PRIMARY KEY (case_number, channel));
    INSERT INTO case_ratings VALUES ('C1', 'window', 5), ('C1', 'sms', 4), ('C2', 'hotline', 2);
    CREATE TABLE follow_ups (id TEXT PRIMARY KEY, case_number TEXT NOT NULL, closed_at TEXT);
    INSERT INTO follow_ups VALUES ('FU-C2-hotline', 'C2', '2026-12-04 09:00:00+00:00');
";

/// Two withdrawn cases, one before and one after acceptance, and a withdrawal that came after
/// the decision; the one withdrawn after acceptance was wrongly delivered and licensed.
const WITHDRAWALS: [(&str, &str); 4] = [
    (
        "intake",
        "INSERT INTO cases (case_number, status, is_final, channel, delivery_method,
            received_at, accepted_at, closed_at) VALUES
            ('C6', 'withdrawn', 1, 'online', 'pickup', '2026-12-04 08:00:04+00:00', NULL,
             '2026-12-04 08:00:05+00:00'),
            ('C7', 'withdrawn', 1, 'window', 'courier', '2026-12-04 08:00:04+00:00',
             '2026-12-04 08:00:04.500000+00:00', '2026-12-04 08:00:06+00:00'),
            ('C8', 'approved', 0, 'window', 'pickup', '2026-12-04 08:00:04+00:00',
             '2026-12-04 08:00:04.500000+00:00', NULL);
        INSERT INTO audit_records (case_number, action) VALUES
            ('C6', 'case.withdrawal_requested'), ('C7', 'case.withdrawal_requested'),
            ('C8', 'case.withdrawal_requested');",
    ),
    (
        "decision",
        "INSERT INTO decisions VALUES ('C7', 'withdrawn', NULL), ('C8', 'approved', NULL);",
    ),
    (
        "delivery",
        "INSERT INTO deliveries VALUES ('C7', 'courier', 'shipped');",
    ),
    (
        "elicense",
        "INSERT INTO licenses VALUES ('L7', 'C7', 1), ('L7b', 'C7', 2);",
    ),
];

const REVIEW: &str = "
    CREATE TABLE review_tasks (
        case_number TEXT PRIMARY KEY, state TEXT NOT NULL, returned_once INTEGER NOT NULL);
    INSERT INTO review_tasks VALUES ('C4', 'referred', 1), ('C5', 'approved', 0);
";

const DECISION: &str = "
    CREATE TABLE decisions (
        case_number TEXT PRIMARY KEY, outcome TEXT NOT NULL, decided_by TEXT);
    INSERT INTO decisions VALUES
        ('C1', 'approved', NULL), ('C3', 'approved', NULL), ('C4', 'denied', 'officer-1'),
        ('C5', 'approved', NULL);
";

const DELIVERY: &str = "
    CREATE TABLE deliveries (case_number TEXT PRIMARY KEY, method TEXT, state TEXT);
    INSERT INTO deliveries VALUES
        ('C1', 'pickup', 'collected'), ('C3', 'courier', 'delivered'),
        ('C5', 'courier', 'shipped');
";

const COURIER: &str = "
    CREATE TABLE waybills (parcel_reference TEXT PRIMARY KEY, case_number TEXT);
    INSERT INTO waybills VALUES ('P-3', 'C3'), ('P-5', 'C5'), ('P-5b', 'C5');
";

const ELICENSE: &str = "
    CREATE TABLE licenses (identifier TEXT PRIMARY KEY, case_number TEXT, version INTEGER);
    INSERT INTO licenses VALUES ('L1', 'C1', 1), ('L3', 'C3', 1), ('L5', 'C5', 1),
        ('L5b', 'C5', 1);
";

async fn fixture_database(data_dir: &std::path::Path, service: &str, sql: &str) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        data_dir.join(format!("{service}.db")).display()
    );
    let connection = Database::connect(url).await.unwrap();
    connection.execute_unprepared(sql).await.unwrap();
    connection.close().await.unwrap();
}

fn fixture_records(records_dir: &std::path::Path) {
    std::fs::create_dir_all(records_dir).unwrap();
    let logistics = [
        r#"{"parcel_reference": "P-3", "status": "delivered"}"#,
        r#"{"parcel_reference": "P-5", "status": "accepted"}"#,
        r#"{"parcel_reference": "P-5", "status": "accepted"}"#,
    ];
    std::fs::write(
        records_dir.join("logistics-partner.jsonl"),
        logistics.join("\n"),
    )
    .unwrap();
    let platform = [
        r#"{"identifier": "L1", "accepted": true}"#,
        r#"{"identifier": "L3", "accepted": true}"#,
        r#"{"identifier": "L3", "accepted": true}"#,
    ];
    std::fs::write(
        records_dir.join("elicense-platform.jsonl"),
        platform.join("\n"),
    )
    .unwrap();
}

/// Every service's fixture database, each with the `extra` SQL for it, and the record files.
async fn fixtures(run: &RunDir, extra: &[(&str, &str)]) -> Sources {
    let data_dir = run.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    for (service, sql) in [
        ("intake", INTAKE),
        ("review", REVIEW),
        ("decision", DECISION),
        ("delivery", DELIVERY),
        ("courier", COURIER),
        ("elicense", ELICENSE),
    ] {
        let more = extra.iter().filter(|(name, _)| *name == service);
        let sql = std::iter::once(sql)
            .chain(more.map(|(_, sql)| *sql))
            .collect::<Vec<_>>()
            .join("\n");
        fixture_database(&data_dir, service, &sql).await;
    }
    fixture_records(&run.path().join("records"));
    Sources {
        databases: Databases::Sqlite { data_dir },
        records_dir: run.path().join("records"),
    }
}

#[tokio::test]
async fn counts_come_from_the_databases_and_record_files() {
    let run = RunDir::new("cli-summary").unwrap();
    let sources = fixtures(&run, &[]).await;

    let summary = Summary::collect(&sources).await;

    let expected = Summary {
        submitted: 5,
        accepted: 4,
        refused: 1,
        refusals_by_reason: [
            ("agent_not_allowed".to_owned(), 1),
            ("too_early".to_owned(), 1),
        ]
        .into_iter()
        .collect(),
        supplement_round_trips: 1,
        withdrawals_requested: 0,
        withdrawn: 0,
        withdrawn_before_acceptance: 0,
        manual_reviews: 2,
        returned_by_review: 1,
        referred_to_officer: 1,
        decided_by_officer: 1,
        approved: 3,
        denied: 1,
        delivered_by_courier: 1,
        collected_in_person: 1,
        licenses_issued: 3,
        licenses_acknowledged: 2,
        ratings: 3,
        ratings_by_level: [("1", 0), ("2", 1), ("3", 0), ("4", 1), ("5", 1)]
            .into_iter()
            .map(|(level, count)| (level.to_owned(), count))
            .collect(),
        follow_ups_opened: 1,
        follow_ups_closed: 1,
        not_final: 1,
        duplicate_effects: 5,
        duplicates: Duplicates {
            waybills: 1,
            licenses: 1,
            case_steps: 1,
            logistics_records: 1,
            platform_records: 1,
        },
        withdrawn_with_effects: 0,
        elapsed_ms: 5_000,
        throughput_per_s: 0.8,
        latency_p50_ms: 1_000,
        latency_p99_ms: 4_000,
        problems: Vec::new(),
    };
    assert_eq!(summary, expected);
    assert!(!summary.is_clean());
    assert_eq!(summary.final_cases(), 4);

    let json = serde_json::to_value(&summary).unwrap();
    for key in [
        "submitted",
        "accepted",
        "refused",
        "supplement_round_trips",
        "manual_reviews",
        "decided_by_officer",
        "approved",
        "denied",
        "delivered_by_courier",
        "collected_in_person",
        "licenses_issued",
        "licenses_acknowledged",
        "withdrawals_requested",
        "withdrawn",
        "ratings",
        "follow_ups_opened",
        "follow_ups_closed",
        "withdrawn_with_effects",
        "not_final",
        "duplicate_effects",
        "elapsed_ms",
        "throughput_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
    ] {
        assert!(json[key].is_number(), "{key} missing from {json}");
    }
    assert!(json["ratings_by_level"]["2"].is_number(), "{json}");
    let text = summary.to_string();
    assert!(text.contains("duplicate effects"));
    assert!(text.contains("by level: 非常不满意 0, 不满意 1, 基本满意 0, 满意 1, 非常满意 1"));
    let refused = format!(
        "  {:<26}{:>10}\n    refused for: agent_not_allowed 1, too_early 1\n",
        "refused", 1
    );
    assert!(text.contains(&refused), "{text}");
    let duplicates = format!("  {:<26}{:>10}\n    waybills 1,", "duplicate effects", 5);
    assert!(text.contains(&duplicates), "{text}");
}

#[tokio::test]
async fn withdrawn_cases_are_counted_and_must_have_no_effects() {
    let run = RunDir::new("cli-summary-withdrawals").unwrap();
    let sources = fixtures(&run, &WITHDRAWALS).await;

    let summary = Summary::collect(&sources).await;

    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    assert_eq!(summary.withdrawals_requested, 3);
    assert_eq!(summary.withdrawn, 2);
    assert_eq!(summary.withdrawn_before_acceptance, 1);
    // C7's delivery and its license; its `withdrawn` decision row is no effect.
    assert_eq!(summary.withdrawn_with_effects, 2);
    assert_eq!(summary.approved, 4);
    assert!(!summary.is_clean());
    assert!(summary.to_string().contains("withdrawn with effects"));
}

#[tokio::test]
async fn unreadable_sources_are_problems_not_zeros() {
    let run = RunDir::new("cli-summary-empty").unwrap();
    let sources = Sources {
        databases: Databases::Sqlite {
            data_dir: run.path().join("data"),
        },
        records_dir: run.path().join("records"),
    };

    let summary = Summary::collect(&sources).await;

    assert_eq!(summary.problems.len(), 6, "{:?}", summary.problems);
    assert!(summary.problems[0].starts_with("intake database"));
    assert!(!summary.is_clean());
}
