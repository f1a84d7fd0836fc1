//! Issuing a license for every approved endorsement: the `elicense-approvals` consumer.
//!
//! Idempotent twice over: the event is claimed in the inbox, and a case that already has a
//! license never gets a second one, whatever event id a replayed approval carries. A holder's
//! new license is the next version of their earlier one, which becomes superseded.

use std::sync::Arc;

use chrono::Utc;
use residence_eventing::consumer::claim;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::{LICENSE_ISSUED_SCHEMA, LicenseHolder, LicenseIssuedMessage};
use residence_events::{self as events, DecisionApproved, LicenseIssued};
use residence_runtime::time::china_date;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};

use crate::entity::{license, status};
use crate::holder;
use crate::identifier::{Identifier, MAX_VERSION};

/// Durable consumer name.
pub const CONSUMER: &str = "elicense-approvals";

/// Subjects this consumer follows.
pub const SUBJECTS: &[&str] = &[events::DECISION_APPROVED.subject];

/// What every license of this deployment carries, fixed at start.
#[derive(Clone, Debug)]
pub struct Issuer {
    /// 证照类型代码 assigned by the e-license platform.
    pub license_type_code: String,
    /// The implementing body's credit code: the issuer segment of identifiers.
    pub issuer_code: String,
    /// 证照名称: the service item's result name.
    pub license_name: String,
}

/// Issues licenses for approvals. Idempotent: see the module documentation.
#[derive(Debug)]
pub struct IssuanceHandler {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub issuer: Arc<Issuer>,
}

impl Handler for IssuanceHandler {
    async fn handle(&self, event: &Incoming) -> Outcome {
        let approval: DecisionApproved = match event.json() {
            Ok(approval) => approval,
            Err(outcome) => return outcome,
        };
        if let Err(problem) = check(&approval) {
            return Outcome::Poison(problem.to_owned());
        }
        match self.issue(event, &approval).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}

impl IssuanceHandler {
    async fn issue(&self, event: &Incoming, approval: &DecisionApproved) -> Result<Outcome, DbErr> {
        let case_number = approval.application.case_number.as_str();
        let txn = begin_write(&self.db).await?;
        if !claim(&txn, CONSUMER, &event.id).await? || already_issued(&txn, case_number).await? {
            txn.commit().await?;
            return Ok(Outcome::Done);
        }

        let holder_key = holder::key(&approval.application.holder.id_number);
        let identifier = match self.next_identifier(&txn, &holder_key).await? {
            Ok(identifier) => identifier,
            Err(problem) => return Ok(Outcome::Poison(problem)),
        };
        let supersedes = supersede_current(&txn, &holder_key).await?;
        let license = self
            .new_license(approval, &identifier, holder_key, supersedes)?
            .insert(&txn)
            .await?;
        self.enqueue(&txn, &license).await?;
        txn.commit().await?;

        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            license.identifier = %license.identifier,
            license.version = license.version,
            "license issued"
        );
        Ok(Outcome::Done)
    }

    /// The identifier of the holder's next version, or why there can be none.
    async fn next_identifier(
        &self,
        txn: &DatabaseTransaction,
        holder_key: &str,
    ) -> Result<Result<Identifier, String>, DbErr> {
        let latest = license::Entity::find()
            .filter(license::Column::HolderKey.eq(holder_key))
            .order_by_desc(license::Column::Version)
            .one(txn)
            .await?;
        let earlier = match latest.map(|latest| Identifier::parse(&latest.identifier)) {
            None => None,
            Some(Ok(earlier)) => Some(earlier),
            Some(Err(problem)) => {
                return Ok(Err(format!(
                    "the holder's latest license is malformed: {problem}"
                )));
            }
        };
        let serial = holder::serial(earlier.as_ref().map(Identifier::serial));
        let version = earlier.map_or(1, |earlier| earlier.version() + 1);
        let issuer = &self.issuer;
        Ok(Identifier::new(
            &issuer.license_type_code,
            &issuer.issuer_code,
            &serial,
            version,
        )
        .map_err(|problem| {
            if version > MAX_VERSION {
                format!("the holder already has {MAX_VERSION} versions of their license")
            } else {
                format!("cannot build a license identifier: {problem}")
            }
        }))
    }

    fn new_license(
        &self,
        approval: &DecisionApproved,
        identifier: &Identifier,
        holder_key: String,
        supersedes: Option<String>,
    ) -> Result<license::ActiveModel, DbErr> {
        let application = &approval.application;
        let endorsement = &approval.endorsement;
        let id_number = application.holder.id_number.trim().to_ascii_uppercase();
        let version = i32::try_from(identifier.version())
            .map_err(|_| DbErr::Custom("license version does not fit the column".into()))?;
        Ok(license::ActiveModel {
            identifier: Set(identifier.to_string()),
            case_number: Set(application.case_number.clone()),
            holder_key: Set(holder_key),
            version: Set(version),
            supersedes: Set(supersedes),
            status: Set(status::CURRENT.to_owned()),
            license_name: Set(self.issuer.license_name.clone()),
            masked_id_number: Set(residence_rules::mask_id_number(&id_number)),
            license_number: Set(id_number),
            holder_name: Set(application.holder.name.trim().to_owned()),
            issuing_authority: Set(endorsement.issuing_authority.clone()),
            issuer_code: Set(self.issuer.issuer_code.clone()),
            issued_on: Set(china_date(approval.decided_at)),
            valid_until: Set(endorsement.valid_until),
            residence_address: Set(endorsement.residence_address.clone()),
            acknowledged_at: Set(None),
            ack_platform: Set(None),
            rejected_reason: Set(None),
            created_at: Set(Utc::now()),
        })
    }

    /// The internal event for the other services and the message for the e-license platform.
    async fn enqueue(
        &self,
        txn: &DatabaseTransaction,
        license: &license::Model,
    ) -> Result<(), DbErr> {
        let message = platform_message(license, &self.issuer.license_type_code);
        let issued = LicenseIssued {
            case_number: license.case_number.clone(),
            identifier: license.identifier.clone(),
            version: message.version,
            issued_on: license.issued_on,
        };
        self.outbox
            .enqueue(txn, events::LICENSE_ISSUED, &license.case_number, &issued)
            .await?;
        self.outbox
            .enqueue_on(
                txn,
                events::elicense::LICENSE_ISSUED,
                &license.case_number,
                &message,
            )
            .await?;
        Ok(())
    }
}

/// What an approval must carry for a license to be issued; anything else is poison.
fn check(approval: &DecisionApproved) -> Result<(), &'static str> {
    let application = &approval.application;
    if application.case_number.trim().is_empty() {
        return Err("approval has no case number");
    }
    if application.holder.id_number.trim().is_empty() {
        return Err("approval has no holder id number");
    }
    if application.holder.name.trim().is_empty() {
        return Err("approval has no holder name");
    }
    if approval.endorsement.issuing_authority.trim().is_empty() {
        return Err("approval has no issuing authority");
    }
    Ok(())
}

async fn already_issued(txn: &DatabaseTransaction, case_number: &str) -> Result<bool, DbErr> {
    let existing = license::Entity::find()
        .filter(license::Column::CaseNumber.eq(case_number))
        .one(txn)
        .await?;
    Ok(existing.is_some())
}

/// Marks the holder's current license superseded; returns its identifier.
async fn supersede_current(
    txn: &DatabaseTransaction,
    holder_key: &str,
) -> Result<Option<String>, DbErr> {
    let current = license::Entity::find()
        .filter(license::Column::HolderKey.eq(holder_key))
        .filter(license::Column::Status.eq(status::CURRENT))
        .order_by_desc(license::Column::Version)
        .one(txn)
        .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    // Every current row of the holder, should an earlier run have left more than one.
    license::Entity::update_many()
        .col_expr(license::Column::Status, Expr::value(status::SUPERSEDED))
        .filter(license::Column::HolderKey.eq(holder_key))
        .filter(license::Column::Status.eq(status::CURRENT))
        .exec(txn)
        .await?;
    Ok(Some(current.identifier))
}

/// `elicense.v1.license.issued`. The platform is a government system and receives the holder's
/// ID number, which is also the license number.
fn platform_message(license: &license::Model, license_type_code: &str) -> LicenseIssuedMessage {
    LicenseIssuedMessage {
        schema: LICENSE_ISSUED_SCHEMA.to_owned(),
        identifier: license.identifier.clone(),
        version: u32::try_from(license.version).unwrap_or_default(),
        supersedes: license.supersedes.clone(),
        license_name: license.license_name.clone(),
        license_type_code: license_type_code.to_owned(),
        license_number: license.license_number.clone(),
        issuing_authority: license.issuing_authority.clone(),
        issuing_authority_code: license.issuer_code.clone(),
        issued_on: license.issued_on,
        valid_until: license.valid_until,
        holder: LicenseHolder {
            name: license.holder_name.clone(),
            id_number: license.license_number.clone(),
        },
        residence_address: license.residence_address.clone(),
        case_number: license.case_number.clone(),
    }
}
