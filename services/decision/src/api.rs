//! The decision gRPC API: reading a decision, and reversing an approval.

use chrono::{DateTime, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_events::{self as events, DecisionReversed, Endorsement};
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use residence_runtime::validate;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use tonic::{Request, Response, Status};

use crate::entity::decision;

/// Shortest and longest reason for a reversal, in characters.
const REASON_LENGTH: (usize, usize) = (2, 500);

/// Longest officer id.
const MAX_OFFICER_ID_LENGTH: usize = 32;

/// Serves `residence.v1.DecisionService`.
#[derive(Debug, Clone)]
pub struct DecisionApi {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
}

/// A checked reversal request.
#[derive(Debug, PartialEq, Eq)]
struct Reversal {
    case_number: String,
    reason: String,
    officer_id: String,
}

#[tonic::async_trait]
impl DecisionService for DecisionApi {
    async fn get_decision(
        &self,
        request: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.get_ref().case_number, &mut v);
        v.into_result()?;
        let found = decision::Entity::find_by_id(number)
            .one(&self.db)
            .await
            .map_err(internal)?;
        let decision = found.ok_or_else(|| Status::not_found("this case has not been decided"))?;
        Ok(Response::new(to_response(decision)))
    }

    /// Idempotent: a reversed decision is returned as it is, whatever the new request says.
    async fn reverse_decision(
        &self,
        request: Request<pb::ReverseDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        // TODO(auth): any caller may reverse a decision; it should take an authenticated
        // deciding officer, and the officer id should come from that identity.
        let reversal = reversal(request.get_ref())?;
        let txn = begin_write(&self.db).await.map_err(internal)?;
        let found = decision::Entity::find_by_id(reversal.case_number.clone())
            .one(&txn)
            .await
            .map_err(internal)?;
        let decision = found.ok_or_else(|| Status::not_found("this case has not been decided"))?;
        if decision.outcome != "approved" {
            return Err(Status::failed_precondition(
                "only an approval can be reversed; this case was denied",
            ));
        }
        if decision.reversed_at.is_some() {
            return Ok(Response::new(to_response(decision)));
        }

        let now = whole_seconds(Utc::now());
        let mut active = decision.into_active_model();
        active.reversed_at = Set(Some(now));
        active.reversal_reason = Set(Some(reversal.reason.clone()));
        active.reversed_by = Set(Some(reversal.officer_id.clone()));
        let reversed = active.update(&txn).await.map_err(internal)?;
        let event = DecisionReversed {
            case_number: reversal.case_number.clone(),
            reason: reversal.reason,
            officer_id: reversal.officer_id.clone(),
            reversed_at: now,
        };
        self.outbox
            .enqueue(&txn, events::DECISION_REVERSED, &event.case_number, &event)
            .await
            .map_err(internal)?;
        txn.commit().await.map_err(internal)?;

        self.relay.notify();
        // The reason stays out of the log: an officer may have written personal data in it.
        tracing::info!(
            case.number = %reversal.case_number,
            officer.id = %reversal.officer_id,
            "approval reversed"
        );
        Ok(Response::new(to_response(reversed)))
    }
}

/// The request's fields, checked all at once.
fn reversal(request: &pb::ReverseDecisionRequest) -> Result<Reversal, Status> {
    let mut v = Violations::default();
    let case_number = grpc::case_number("case_number", &request.case_number, &mut v);
    let (min, max) = REASON_LENGTH;
    let reason = validate::line(&request.reason, min, max).unwrap_or_else(|problem| {
        v.add("reason", problem);
        String::new()
    });
    let officer_id = validate::trim(&request.officer_id);
    let well_formed = (1..=MAX_OFFICER_ID_LENGTH).contains(&officer_id.len())
        && officer_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        v.add(
            "officer_id",
            format!("must be 1 to {MAX_OFFICER_ID_LENGTH} ascii letters, digits, `-` or `_`"),
        );
    }
    v.into_result()?;
    Ok(Reversal {
        case_number,
        reason,
        officer_id: officer_id.to_owned(),
    })
}

/// Times in events are whole seconds, so that every copy of them reads the same.
fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
}

fn to_response(decision: decision::Model) -> pb::GetDecisionResponse {
    let endorsement: Option<Endorsement> = decision
        .endorsement
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    let outcome = match decision.outcome.as_str() {
        "approved" => pb::DecisionOutcome::Approved,
        "denied" => pb::DecisionOutcome::Denied,
        _ => pb::DecisionOutcome::Unspecified,
    };
    pb::GetDecisionResponse {
        case_number: decision.case_number,
        outcome: outcome as i32,
        endorsement: endorsement.map(|e| pb::Endorsement {
            residence_address: e.residence_address,
            valid_until: e.valid_until.to_string(),
            issuing_authority: e.issuing_authority,
            timeliness: e.timeliness.code().to_owned(),
        }),
        legal_basis: decision.legal_basis.unwrap_or_default(),
        reasons: serde_json::from_str(&decision.reasons).unwrap_or_default(),
        decided_at: china_rfc3339(decision.decided_at),
        reversed_at: decision.reversed_at.map(china_rfc3339).unwrap_or_default(),
        reversal_reason: decision.reversal_reason.unwrap_or_default(),
        reversed_by: decision.reversed_by.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(case_number: &str, reason: &str, officer_id: &str) -> pb::ReverseDecisionRequest {
        pb::ReverseDecisionRequest {
            case_number: case_number.to_owned(),
            reason: reason.to_owned(),
            officer_id: officer_id.to_owned(),
        }
    }

    #[test]
    fn a_reversal_names_every_bad_field_at_once() {
        let status = reversal(&request("", "x", "officer 7")).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        for field in ["case_number", "reason", "officer_id"] {
            assert!(status.message().contains(field), "{}", status.message());
        }
        let status = reversal(&request("", "材料\u{200B}不实", "o-7")).unwrap_err();
        assert!(status.message().contains("reason"), "{}", status.message());
    }

    #[test]
    fn times_are_cut_to_whole_seconds() {
        let time = DateTime::parse_from_rfc3339("2026-12-05T08:00:00.987Z").unwrap();
        let cut = whole_seconds(time.with_timezone(&Utc));
        assert_eq!(cut.to_rfc3339(), "2026-12-05T08:00:00+00:00");
    }
}
