//! A database made before licenses were signed: the migration adds what signing, revocation
//! and platform tracking need, its licenses stay readable, and verification says they are
//! unsigned rather than failing.

use residence_elicense::migration::Migrator;
use residence_eventing::Handler;
use residence_eventing::Outcome;
use residence_launcher::RunDir;
use residence_test_support::database;
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;

use crate::app::*;

/// The licenses table as the first release created it.
const OLD_LICENSES: &str = r#"CREATE TABLE "licenses" (
    "identifier" varchar NOT NULL PRIMARY KEY,
    "case_number" varchar NOT NULL UNIQUE,
    "holder_key" varchar NOT NULL,
    "version" integer NOT NULL,
    "supersedes" varchar NULL,
    "status" varchar NOT NULL,
    "license_name" varchar NOT NULL,
    "license_number" varchar NOT NULL,
    "holder_name" varchar NOT NULL,
    "masked_id_number" varchar NOT NULL,
    "issuing_authority" varchar NOT NULL,
    "issuer_code" varchar NOT NULL,
    "issued_on" date_text NOT NULL,
    "valid_until" date_text NOT NULL,
    "residence_address" text NOT NULL,
    "acknowledged_at" timestamp_with_timezone_text NULL,
    "ack_platform" varchar NULL,
    "rejected_reason" varchar NULL,
    "created_at" timestamp_with_timezone_text NOT NULL
)"#;

#[tokio::test]
async fn a_database_of_unsigned_licenses_is_upgraded_in_place() {
    let run = RunDir::new("elicense-upgrade").unwrap();
    let dir = run.path().to_owned();
    let url = database::sqlite_url(&dir, "elicense");
    let db = residence_runtime::database::connect("elicense", &url)
        .await
        .unwrap();
    Migrator::up(&db, Some(1)).await.unwrap();
    let identifier =
        residence_elicense::identifier::Identifier::new(TYPE_CODE, ISSUER_CODE, "0123456789AB", 1)
            .unwrap()
            .to_string();
    let holder_key = residence_elicense::holder::key(ID_NUMBER);
    let statements = [
        OLD_LICENSES.to_owned(),
        "INSERT INTO seaql_migrations (version, applied_at) \
         VALUES ('m20261201_000002_create_licenses', 0)"
            .to_owned(),
        format!(
            "INSERT INTO licenses VALUES ('{identifier}', 'CASE-0', '{holder_key}', 1, NULL, 'current', \
             '居住证', '{ID_NUMBER}', '王小明', '411721********1237', '西平县公安局', \
             '{ISSUER_CODE}', '2025-12-02', '2026-12-10', '人民路1号', NULL, NULL, NULL, \
             '2025-12-02T01:30:00+00:00')"
        ),
    ];
    for sql in statements {
        db.execute_unprepared(&sql).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();

    let keys = std::sync::Arc::new(
        residence_elicense::keys::load(&key_settings(&dir, FIRST_KEY)).unwrap(),
    );
    let app = app_with(db, keys, minute_policy(), dir);
    let old = app.verify(&identifier).await;
    assert!(!old.valid);
    assert!(old.problem.contains("not signed"), "{}", old.problem);

    // The holder's next endorsement: version 2, signed, superseding the unsigned one.
    let event = approved("event-1", &approval("CASE-1", date("2027-12-10")));
    assert_eq!(app.issuance.handle(&event).await, Outcome::Done);
    let licenses = app.licenses().await;
    assert_eq!(licenses.len(), 2);
    assert_eq!(licenses[0].status, "superseded");
    let new = app.verify(&licenses[1].identifier).await;
    assert!(new.valid, "{}", new.problem);
    assert_eq!(new.supersedes, identifier);
}
