//! Checking the chains: every case's records in order, each one's hash recomputed and its
//! link to the one before checked, up to the first broken link of each case.

use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm::{QueryOrder, QuerySelect};

use crate::chain::{Fields, GENESIS};
use crate::entity::audit_record;

/// Records read per query.
const PAGE: u64 = 1_000;

/// The first link of a case's chain that does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    pub case_number: String,
    pub seq: i64,
    /// What is wrong, such as "hash does not match the record's fields".
    pub problem: String,
}

/// What a check of one database found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Cases with at least one record.
    pub chains: u64,
    /// Records read.
    pub records: u64,
    /// The first broken link of every broken chain, by case number.
    pub broken: Vec<BrokenLink>,
}

impl Report {
    /// Whether every chain holds.
    pub fn is_intact(&self) -> bool {
        self.broken.is_empty()
    }
}

/// The chain being walked.
struct Walk {
    case_number: String,
    last_seq: i64,
    last_hash: String,
    broken: bool,
}

/// Checks every chain in `db`'s `audit_records`.
pub async fn verify<C: ConnectionTrait>(db: &C) -> Result<Report, DbErr> {
    let mut report = Report::default();
    let mut walk: Option<Walk> = None;
    let mut after: Option<(String, i64)> = None;
    loop {
        let page = next_page(db, after.as_ref()).await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = Some((last.case_number.clone(), last.seq));
        for record in &page {
            report.records += 1;
            let same_chain = walk
                .as_ref()
                .is_some_and(|w| w.case_number == record.case_number);
            if !same_chain {
                report.chains += 1;
                walk = Some(Walk {
                    case_number: record.case_number.clone(),
                    last_seq: 0,
                    last_hash: GENESIS.to_owned(),
                    broken: false,
                });
            }
            let Some(current) = walk.as_mut() else {
                continue;
            };
            if current.broken {
                continue;
            }
            if let Some(problem) = problem(current, record) {
                current.broken = true;
                report.broken.push(BrokenLink {
                    case_number: record.case_number.clone(),
                    seq: record.seq,
                    problem,
                });
            }
            current.last_seq = record.seq;
            current.last_hash = record.hash.clone();
        }
    }
}

/// What is wrong with `record` following the walk so far, if anything.
fn problem(walk: &Walk, record: &audit_record::Model) -> Option<String> {
    let expected_seq = walk.last_seq + 1;
    if record.seq != expected_seq {
        return Some(if walk.last_seq == 0 {
            format!(
                "the chain starts at seq {}: earlier records are missing",
                record.seq
            )
        } else {
            format!(
                "seq {} follows seq {}: records in between are missing",
                record.seq, walk.last_seq
            )
        });
    }
    if record.prev_hash != walk.last_hash {
        return Some(if walk.last_seq == 0 {
            "prev_hash of the first record is not the genesis value".to_owned()
        } else {
            format!(
                "prev_hash does not match the hash of seq {}: that record was changed or \
                 replaced",
                walk.last_seq
            )
        });
    }
    if record.hash != Fields::of(record).hash() {
        return Some("hash does not match the record's fields: the record was changed".to_owned());
    }
    None
}

async fn next_page<C: ConnectionTrait>(
    db: &C,
    after: Option<&(String, i64)>,
) -> Result<Vec<audit_record::Model>, DbErr> {
    let mut query = audit_record::Entity::find()
        .order_by_asc(audit_record::Column::CaseNumber)
        .order_by_asc(audit_record::Column::Seq)
        .limit(PAGE);
    if let Some((case_number, seq)) = after {
        query = query.filter(
            Condition::any()
                .add(audit_record::Column::CaseNumber.gt(case_number.as_str()))
                .add(
                    audit_record::Column::CaseNumber
                        .eq(case_number.as_str())
                        .and(audit_record::Column::Seq.gt(*seq)),
                ),
        );
    }
    query.all(db).await
}
