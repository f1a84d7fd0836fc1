//! The decision gRPC API: reading decisions, the deciding officer's rulings on referred cases,
//! and reversing an approval. Every call is a staff call; see
//! `proto/residence/v1/decision.proto` for who may make which.

use chrono::{DateTime, Utc};
use residence_audit::Entry;
use residence_eventing::db::begin_write;
use residence_events::{self as events, DecisionReversed, Endorsement, Finding};
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use residence_runtime::validate;
use residence_staff::{Action, Staff, StaffAuth};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use tonic::{Request, Response, Status};

use crate::entity::{decision, pending};
use crate::store::{self, Officer, Ruling};

/// Shortest and longest reason, note or legal basis, in characters.
const TEXT_LENGTH: (usize, usize) = (2, 500);

/// The most reasons one denial gives.
const MAX_REASONS: usize = 10;

/// Serves `residence.v1.DecisionService`.
#[derive(Debug, Clone)]
pub struct DecisionApi {
    pub officer: Officer,
    pub staff: StaffAuth,
}

/// A checked reversal request.
#[derive(Debug, PartialEq, Eq)]
struct Reversal {
    case_number: String,
    reason: String,
}

#[tonic::async_trait]
impl DecisionService for DecisionApi {
    async fn get_decision(
        &self,
        request: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let staff = self.staff.require(&request, Action::ReadDecisions)?;
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.get_ref().case_number, &mut v);
        v.into_result()?;
        let found = decision::Entity::find_by_id(number.clone())
            .one(self.db())
            .await
            .map_err(internal)?;
        let decision = found.ok_or_else(|| Status::not_found("this case has not been decided"))?;
        if let Some(town) = &decision.town_code {
            staff.require_area(town)?;
        }
        // An endorsement shows the residence address; a denial's reasons may quote it.
        let read = Entry::new(&number, &staff.id, staff.role.code(), "decision.read");
        residence_audit::record(self.db(), &read)
            .await
            .map_err(internal)?;
        Ok(Response::new(to_response(decision)))
    }

    async fn list_pending_decisions(
        &self,
        request: Request<pb::ListPendingDecisionsRequest>,
    ) -> Result<Response<pb::ListPendingDecisionsResponse>, Status> {
        let staff = self.staff.require(&request, Action::ReadDecisions)?;
        let request = request.get_ref();
        let (area, limit) = grpc::list_scope(&staff, &request.area_code, request.limit)?;
        let waiting = self
            .officer
            .waiting(area.as_str(), u64::from(limit))
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::ListPendingDecisionsResponse {
            pending: waiting.iter().map(pending_to_proto).collect(),
        }))
    }

    async fn approve_decision(
        &self,
        request: Request<pb::ApproveDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let staff = self.staff.require(&request, Action::Decide)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.case_number, &mut v);
        let note = text("note", &request.note, &mut v);
        v.into_result()?;
        self.rule(&staff, &number, Ruling::Approve { note }).await
    }

    async fn deny_decision(
        &self,
        request: Request<pb::DenyDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let staff = self.staff.require(&request, Action::Decide)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.case_number, &mut v);
        let legal_basis = text("legal_basis", &request.legal_basis, &mut v);
        if request.reasons.is_empty() || request.reasons.len() > MAX_REASONS {
            v.add("reasons", format!("must give 1 to {MAX_REASONS} reasons"));
        }
        let reasons = request
            .reasons
            .iter()
            .take(MAX_REASONS)
            .enumerate()
            .map(|(index, reason)| text(&format!("reasons[{index}]"), reason, &mut v))
            .collect();
        v.into_result()?;
        let ruling = Ruling::Deny {
            legal_basis,
            reasons,
        };
        self.rule(&staff, &number, ruling).await
    }

    /// Idempotent: a reversed decision is returned as it is, whatever the new request says.
    async fn reverse_decision(
        &self,
        request: Request<pb::ReverseDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let staff = self.staff.require(&request, Action::ReverseDecisions)?;
        let reversal = reversal(request.get_ref())?;
        let txn = begin_write(self.db()).await.map_err(internal)?;
        let found = decision::Entity::find_by_id(reversal.case_number.clone())
            .one(&txn)
            .await
            .map_err(internal)?;
        let decision = found.ok_or_else(|| Status::not_found("this case has not been decided"))?;
        if let Some(town) = &decision.town_code {
            staff.require_area(town)?;
        }
        if decision.outcome != store::APPROVED {
            return Err(Status::failed_precondition(format!(
                "only an approval can be reversed; this case was {}",
                decision.outcome
            )));
        }
        if decision.reversed_at.is_some() {
            return Ok(Response::new(to_response(decision)));
        }

        let now = whole_seconds(Utc::now());
        let mut active = decision.into_active_model();
        active.reversed_at = Set(Some(now));
        active.reversal_reason = Set(Some(reversal.reason.clone()));
        active.reversed_by = Set(Some(staff.id.clone()));
        let reversed = active.update(&txn).await.map_err(internal)?;
        let event = DecisionReversed {
            case_number: reversal.case_number.clone(),
            reason: reversal.reason.clone(),
            officer_id: staff.id.clone(),
            reversed_at: now,
        };
        let outbox = &self.officer.outbox;
        outbox
            .enqueue(&txn, events::DECISION_REVERSED, &event.case_number, &event)
            .await
            .map_err(internal)?;
        let entry = Entry::new(
            &reversal.case_number,
            &staff.id,
            staff.role.code(),
            "decision.reversed",
        );
        residence_audit::append(&txn, &entry.because(reversal.reason), now)
            .await
            .map_err(internal)?;
        txn.commit().await.map_err(internal)?;

        self.officer.relay.notify();
        // The reason stays out of the log: an officer may have written personal data in it.
        tracing::info!(
            case.number = %reversal.case_number,
            officer.id = %staff.id,
            "approval reversed"
        );
        Ok(Response::new(to_response(reversed)))
    }
}

impl DecisionApi {
    fn db(&self) -> &DatabaseConnection {
        &self.officer.db
    }

    async fn rule(
        &self,
        staff: &Staff,
        case_number: &str,
        ruling: Ruling,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let made = self.officer.rule(staff, case_number, ruling).await?;
        Ok(Response::new(to_response(made)))
    }
}

/// The request's fields, checked all at once.
fn reversal(request: &pb::ReverseDecisionRequest) -> Result<Reversal, Status> {
    let mut v = Violations::default();
    let case_number = grpc::case_number("case_number", &request.case_number, &mut v);
    let reason = text("reason", &request.reason, &mut v);
    v.into_result()?;
    Ok(Reversal {
        case_number,
        reason,
    })
}

/// A checked line of text: 2 to 500 characters.
fn text(field: &str, value: &str, v: &mut Violations) -> String {
    let (min, max) = TEXT_LENGTH;
    validate::free_text(value, min, max).unwrap_or_else(|problem| {
        v.add(field, problem);
        String::new()
    })
}

/// Times in events are whole seconds, so that every copy of them reads the same.
fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
}

fn pending_to_proto(waiting: &pending::Model) -> pb::PendingDecision {
    let findings: Vec<Finding> = serde_json::from_str(&waiting.findings).unwrap_or_default();
    pb::PendingDecision {
        case_number: waiting.case_number.clone(),
        town_code: waiting.town_code.clone(),
        findings: findings
            .into_iter()
            .map(|f| pb::Finding {
                code: f.code,
                message: f.message,
            })
            .collect(),
        referred_at: china_rfc3339(waiting.referred_at),
    }
}

fn to_response(decision: decision::Model) -> pb::GetDecisionResponse {
    let endorsement: Option<Endorsement> = decision
        .endorsement
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    let outcome = match decision.outcome.as_str() {
        store::APPROVED => pb::DecisionOutcome::Approved,
        store::DENIED => pb::DecisionOutcome::Denied,
        store::WITHDRAWN => pb::DecisionOutcome::Withdrawn,
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
        decided_by: decision.decided_by.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(case_number: &str, reason: &str) -> pb::ReverseDecisionRequest {
        pb::ReverseDecisionRequest {
            case_number: case_number.to_owned(),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn a_reversal_names_every_bad_field_at_once() {
        let status = reversal(&request("", "x")).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        for field in ["case_number", "reason"] {
            assert!(status.message().contains(field), "{}", status.message());
        }
        let status = reversal(&request("", "材料\u{200B}不实")).unwrap_err();
        assert!(status.message().contains("reason"), "{}", status.message());
    }

    #[test]
    fn times_are_cut_to_whole_seconds() {
        let time = DateTime::parse_from_rfc3339("2026-12-05T08:00:00.987Z").unwrap();
        let cut = whole_seconds(time.with_timezone(&Utc));
        assert_eq!(cut.to_rfc3339(), "2026-12-05T08:00:00+00:00");
    }

    #[test]
    fn a_withdrawal_reads_as_withdrawn_with_nothing_decided() {
        let withdrawn = decision::Model {
            case_number: "C-1".into(),
            outcome: store::WITHDRAWN.into(),
            endorsement: None,
            legal_basis: None,
            reasons: "[]".into(),
            decided_at: Utc::now(),
            reversed_at: None,
            reversal_reason: None,
            reversed_by: None,
            decided_by: None,
            town_code: None,
        };
        let read = to_response(withdrawn);
        assert_eq!(read.outcome, pb::DecisionOutcome::Withdrawn as i32);
        assert_eq!(read.endorsement, None);
        assert!(read.legal_basis.is_empty() && read.reasons.is_empty());
        assert!(read.decided_by.is_empty() && !read.decided_at.is_empty());
    }
}
