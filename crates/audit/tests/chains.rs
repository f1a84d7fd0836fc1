//! Audit chains in a real SQLite database: appended records verify, the database refuses to
//! change them, and a record changed behind its back is named with its case and seq.

use chrono::Utc;
use residence_audit::{CreateAuditRecords, Entry, append, audit_record, chain, verify};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateAuditRecords)]
    }
}

async fn database() -> (DatabaseConnection, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("audit-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("audit.db").display());
    let db = Database::connect(url).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    (db, dir)
}

async fn write_chains(db: &DatabaseConnection) {
    for case in ["CASE-A", "CASE-B"] {
        for (actor, action) in [("intake", "case.submitted"), ("r-1", "review.claimed")] {
            let entry = Entry::new(case, actor, "reviewer", action).because("核对居住地址");
            append(db, &entry, Utc::now()).await.unwrap();
        }
    }
    let entry = Entry::system("CASE-A", "review", "review.approved");
    append(db, &entry, Utc::now()).await.unwrap();
}

#[tokio::test]
async fn appended_chains_verify() {
    let (db, dir) = database().await;
    write_chains(&db).await;
    let report = verify(&db).await.unwrap();
    assert_eq!((report.chains, report.records), (2, 5));
    assert!(report.is_intact(), "{report:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_database_refuses_changes_and_verify_names_the_first_broken_link() {
    let (db, dir) = database().await;
    write_chains(&db).await;
    let changed = db
        .execute_unprepared("UPDATE audit_records SET reason = 'x' WHERE seq = 2")
        .await;
    assert!(changed.unwrap_err().to_string().contains("append-only"));
    let deleted = db.execute_unprepared("DELETE FROM audit_records").await;
    assert!(deleted.is_err());

    // Someone who can drop the trigger changes a reason: that record is named.
    db.execute_unprepared("DROP TRIGGER audit_records_no_update")
        .await
        .unwrap();
    db.execute_unprepared(
        "UPDATE audit_records SET reason = '无' WHERE case_number = 'CASE-A' AND seq = 2",
    )
    .await
    .unwrap();
    let report = verify(&db).await.unwrap();
    assert_eq!(report.broken.len(), 1, "{report:?}");
    let broken = &report.broken[0];
    assert_eq!((broken.case_number.as_str(), broken.seq), ("CASE-A", 2));
    assert!(broken.problem.contains("was changed"), "{}", broken.problem);

    // Rewriting that record's hash as well moves the break to the next link.
    let second = audit_record::Entity::find()
        .filter(audit_record::Column::CaseNumber.eq("CASE-A"))
        .filter(audit_record::Column::Seq.eq(2))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let rehashed = chain::Fields::of(&second).hash();
    db.execute_unprepared(&format!(
        "UPDATE audit_records SET hash = '{rehashed}' WHERE case_number = 'CASE-A' AND seq = 2"
    ))
    .await
    .unwrap();
    let report = verify(&db).await.unwrap();
    let broken = &report.broken[0];
    assert_eq!((broken.case_number.as_str(), broken.seq), ("CASE-A", 3));
    assert!(broken.problem.contains("seq 2"), "{}", broken.problem);
    std::fs::remove_dir_all(dir).unwrap();
}
