//! Issuing a license for every approved endorsement: the `elicense-approvals` consumer.
//!
//! Idempotent twice over: the event is claimed in the inbox, and a case that already has a
//! license never gets a second one, whatever event id a replayed approval carries. A holder's
//! new license is the next version of their earlier one, which becomes superseded. Each
//! license is signed with the active key when it is issued, and the platform message is
//! tracked until the platform acknowledges it (see [`crate::platform`]).

use std::sync::Arc;

use chrono::Utc;
use residence_eventing::consumer::claim;
use residence_eventing::db::begin_write;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::LicenseAction;
use residence_events::{self as events, DecisionApproved, LicenseIssued};
use residence_license::identifier::{Identifier, MAX_VERSION};
use residence_license::{SigningKeys, canonical, qr};
use residence_runtime::time::china_date;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder,
};

use crate::document;
use crate::entity::{license, status};
use crate::holder;
use crate::platform::{self, AckPolicy};

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
    /// Signs every license issued.
    pub keys: Arc<SigningKeys>,
    /// How long the platform has to acknowledge, and how often the license is re-sent.
    pub acks: AckPolicy,
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

        let id_number = &approval.application.holder.id_number;
        // The keyed hash, and the plain one licenses issued before it carry.
        let holder_keys = [holder::key(id_number), holder::legacy_key(id_number)];
        let identifier = match self.next_identifier(&txn, &holder_keys).await? {
            Ok(identifier) => identifier,
            Err(problem) => return Ok(Outcome::Poison(problem)),
        };
        let supersedes = supersede_current(&txn, &holder_keys).await?;
        let [holder_key, _] = holder_keys;
        let unsigned = self.new_license(approval, &identifier, holder_key, supersedes)?;
        let license = sign(unsigned, &self.keys)
            .into_active_model()
            .reset_all()
            .insert(&txn)
            .await?;
        self.enqueue(&txn, &license).await?;
        txn.commit().await?;

        self.relay.notify();
        tracing::info!(
            case.number = %case_number,
            license.identifier = %license.identifier,
            license.version = license.version,
            key.id = license.key_id.as_deref().unwrap_or_default(),
            "license issued"
        );
        Ok(Outcome::Done)
    }

    /// The identifier of the holder's next version, or why there can be none.
    async fn next_identifier(
        &self,
        txn: &DatabaseTransaction,
        holder_keys: &[String],
    ) -> Result<Result<Identifier, String>, DbErr> {
        let latest = license::Entity::find()
            .filter(license::Column::HolderKey.is_in(holder_keys.iter().cloned()))
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
    ) -> Result<license::Model, DbErr> {
        let application = &approval.application;
        let endorsement = &approval.endorsement;
        let id_number = application.holder.id_number.trim().to_ascii_uppercase();
        let version = i32::try_from(identifier.version())
            .map_err(|_| DbErr::Custom("license version does not fit the column".into()))?;
        Ok(license::Model {
            identifier: identifier.to_string(),
            case_number: application.case_number.clone(),
            holder_key,
            version,
            supersedes,
            status: status::CURRENT.to_owned(),
            license_name: self.issuer.license_name.clone(),
            masked_id_number: residence_rules::mask_id_number(&id_number),
            license_number: id_number.into(),
            holder_name: application.holder.name.trim().into(),
            issuing_authority: endorsement.issuing_authority.clone(),
            issuer_code: self.issuer.issuer_code.clone(),
            issued_on: china_date(approval.decided_at),
            valid_until: endorsement.valid_until,
            residence_address: endorsement.residence_address.clone().into(),
            acknowledged_at: None,
            ack_platform: None,
            rejected_reason: None,
            created_at: Utc::now(),
            signature: None,
            key_id: None,
            qr_payload: None,
            revoked_at: None,
            revocation_reason: None,
        })
    }

    /// The internal event for the other services and the signed license for the e-license
    /// platform, a government system that receives the holder's ID number (the license number).
    async fn enqueue(
        &self,
        txn: &DatabaseTransaction,
        license: &license::Model,
    ) -> Result<(), DbErr> {
        let message = document::issued_message(license)
            .ok_or_else(|| DbErr::Custom("a license is enqueued before it is signed".into()))?;
        let issued = LicenseIssued {
            case_number: license.case_number.clone(),
            identifier: license.identifier.clone(),
            version: message.license.version,
            issued_on: license.issued_on,
        };
        self.outbox
            .enqueue(txn, events::LICENSE_ISSUED, &license.case_number, &issued)
            .await?;
        let sent = self
            .outbox
            .enqueue_on(
                txn,
                events::elicense::LICENSE_ISSUED,
                &license.case_number,
                &message,
            )
            .await?;
        platform::track(
            txn,
            &sent,
            &license.identifier,
            LicenseAction::Issued,
            &self.acks,
        )
        .await
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
    holder_keys: &[String],
) -> Result<Option<String>, DbErr> {
    let current = license::Entity::find()
        .filter(license::Column::HolderKey.is_in(holder_keys.iter().cloned()))
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
        .filter(license::Column::HolderKey.is_in(holder_keys.iter().cloned()))
        .filter(license::Column::Status.eq(status::CURRENT))
        .exec(txn)
        .await?;
    Ok(Some(current.identifier))
}

/// `license` with its signature and QR payload, made with the active key.
fn sign(mut license: license::Model, keys: &SigningKeys) -> license::Model {
    let document = document::license_of(&license);
    let signature = keys.sign(canonical::LICENSE_FORM, &canonical::license(&document));
    license.qr_payload = Some(qr::encode(&document, keys));
    license.key_id = Some(signature.key_id);
    license.signature = Some(signature.value);
    license
}
