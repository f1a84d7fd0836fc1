//! The hash chain: each record's hash covers its own fields and the hash of the record before
//! it in the same case, so changing, removing or reordering a record breaks every link after.

use chrono::{DateTime, SecondsFormat, Utc};
use sm3::{Digest, Sm3};

use crate::entity::audit_record;

/// Name and version of the canonical form hashed.
pub const FORM: &str = "residence-audit/1";

/// The `prev_hash` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields a hash covers.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    pub case_number: &'a str,
    pub seq: i64,
    pub actor: &'a str,
    pub role: &'a str,
    pub action: &'a str,
    pub reason: &'a str,
    pub trace_id: &'a str,
    pub at: DateTime<Utc>,
    pub prev_hash: &'a str,
}

impl<'a> Fields<'a> {
    /// The fields of a stored record.
    pub fn of(record: &'a audit_record::Model) -> Self {
        Self {
            case_number: &record.case_number,
            seq: record.seq,
            actor: &record.actor,
            role: &record.role,
            action: &record.action,
            reason: &record.reason,
            trace_id: &record.trace_id,
            at: record.at,
            prev_hash: &record.prev_hash,
        }
    }

    /// The canonical form: a JSON array of the form name and every field in a fixed order,
    /// the time as RFC 3339 UTC with microseconds, so that any two writers agree on it.
    pub fn canonical(&self) -> String {
        let at = self.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        serde_json::json!([
            FORM,
            self.case_number,
            self.seq,
            self.actor,
            self.role,
            self.action,
            self.reason,
            self.trace_id,
            at,
            self.prev_hash,
        ])
        .to_string()
    }

    /// SM3 (GB/T 32905) over the canonical form, as 64 lowercase hex characters.
    pub fn hash(&self) -> String {
        let digest = Sm3::digest(self.canonical().as_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// `at` cut to whole microseconds, the finest time every database keeps unchanged.
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(reason: &str) -> Fields<'_> {
        Fields {
            case_number: "C-1",
            seq: 1,
            actor: "clerk-1",
            role: "reviewer",
            action: "review.claimed",
            reason,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            prev_hash: GENESIS,
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_is_stable() {
        let base = fields("核对居住地址");
        assert_eq!(base.hash().len(), 64);
        assert_eq!(base.hash(), fields("核对居住地址").hash());
        assert_ne!(base.hash(), fields("核对居住地址 ").hash());
        let mut moved = base;
        moved.seq = 2;
        assert_ne!(base.hash(), moved.hash());
        assert!(
            base.canonical().contains("2026-09-21T14:13:20.123456Z"),
            "{}",
            base.canonical()
        );
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let mut a = fields("x");
        a.actor = "ab";
        a.role = "c";
        let mut b = fields("x");
        b.actor = "a";
        b.role = "bc";
        assert_ne!(a.hash(), b.hash());
    }
}
