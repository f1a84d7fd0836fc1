//! The audit trail (审计日志): every action on a case, reads of personal data included, with
//! who, when, what, why and the trace id. Records are append-only and chained per case with
//! SM3, so a changed or removed record is found by [`verify::verify`], which names the first
//! broken link of each case.

pub mod chain;
pub mod entity;
pub mod migration;
pub mod record;
pub mod verify;

pub use entity::audit_record;
pub use migration::CreateAuditRecords;
pub use record::{APPLICANT, Entry, PUBLIC, SYSTEM, append, current_trace_id, record};
pub use verify::{BrokenLink, Report, verify};
