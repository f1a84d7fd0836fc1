//! Writing audit records: one append per action, in the transaction of the action itself, so
//! that an action and its record commit together or not at all.

use chrono::{DateTime, Utc};
use opentelemetry::trace::TraceContextExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, Set, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::chain::{Fields, GENESIS, to_micros};
use crate::entity::audit_record;

/// The role of an applicant acting on their own case with its access code.
pub const APPLICANT: &str = "applicant";
/// The role of anyone checking a license, who needs no identity.
pub const PUBLIC: &str = "public";
/// The role of a service acting by itself on an event.
pub const SYSTEM: &str = "system";

/// Times a read's record is tried when concurrent appends to the same case collide.
const ATTEMPTS: usize = 3;

/// Arbitrary first key of the advisory locks that serialise appends per case on PostgreSQL.
const LOCK_CLASS: i32 = 7_302;

/// What happened to a case, by whom and why; the time and trace are added on append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub case_number: String,
    /// A staff id, `applicant`, `public`, or the service's name.
    pub actor: String,
    /// A staff role, or [`APPLICANT`], [`PUBLIC`] or [`SYSTEM`].
    pub role: String,
    /// A stable dotted code, such as `review.claimed`.
    pub action: String,
    /// Why, or what it concerned.
    pub reason: String,
}

impl Entry {
    /// `actor` in `role` did `action` to `case_number`.
    pub fn new(
        case_number: impl Into<String>,
        actor: impl Into<String>,
        role: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            case_number: case_number.into(),
            actor: actor.into(),
            role: role.into(),
            action: action.into(),
            reason: String::new(),
        }
    }

    /// The service `service` did `action` by itself.
    pub fn system(case_number: impl Into<String>, service: &str, action: &str) -> Self {
        Self::new(case_number, format!("residence-{service}"), SYSTEM, action)
    }

    /// The same entry, saying why.
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
}

/// Appends `entry` to its case's chain inside `txn`, a transaction that writes, at `at` and
/// in the current trace. On PostgreSQL concurrent appends to one case wait for each other; on
/// SQLite the write transaction already does.
pub async fn append<C: ConnectionTrait>(
    txn: &C,
    entry: &Entry,
    at: DateTime<Utc>,
) -> Result<audit_record::Model, DbErr> {
    lock_chain(txn, &entry.case_number).await?;
    let last = audit_record::Entity::find()
        .filter(audit_record::Column::CaseNumber.eq(&entry.case_number))
        .order_by_desc(audit_record::Column::Seq)
        .one(txn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(last) => (last.seq + 1, last.hash),
        None => (1, GENESIS.to_owned()),
    };
    let trace_id = current_trace_id();
    let at = to_micros(at);
    let hash = Fields {
        case_number: &entry.case_number,
        seq,
        actor: &entry.actor,
        role: &entry.role,
        action: &entry.action,
        reason: &entry.reason,
        trace_id: &trace_id,
        at,
        prev_hash: &prev_hash,
    }
    .hash();
    audit_record::ActiveModel {
        case_number: Set(entry.case_number.clone()),
        seq: Set(seq),
        actor: Set(entry.actor.clone()),
        role: Set(entry.role.clone()),
        action: Set(entry.action.clone()),
        reason: Set(entry.reason.clone()),
        trace_id: Set(trace_id),
        at: Set(at),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
        ..Default::default()
    }
    .insert(txn)
    .await
}

/// Appends `entry` in a transaction of its own: for reads, which change nothing else. A
/// collision with a concurrent append to the same case is tried again.
pub async fn record(db: &DatabaseConnection, entry: &Entry) -> Result<(), DbErr> {
    let mut attempt = 1;
    loop {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = db.begin_with_options(options).await?;
        let appended = append(&txn, entry, Utc::now()).await;
        let result = match appended {
            Ok(_) => txn.commit().await,
            Err(error) => Err(error),
        };
        match result {
            Err(error) if attempt < ATTEMPTS && is_collision(&error) => attempt += 1,
            other => return other,
        }
    }
}

fn is_collision(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Takes the transaction-scoped lock of `case_number`'s chain on PostgreSQL.
async fn lock_chain<C: ConnectionTrait>(txn: &C, case_number: &str) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        [LOCK_CLASS.into(), case_number.into()],
    );
    txn.execute_raw(statement).await?;
    Ok(())
}

/// The W3C trace id of the current span, or empty outside any trace.
pub fn current_trace_id() -> String {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        span_context.trace_id().to_string()
    } else {
        String::new()
    }
}
