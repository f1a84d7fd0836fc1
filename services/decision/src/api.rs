//! The decision gRPC API.

use residence_events::Endorsement;
use residence_proto::v1::{self as pb, decision_service_server::DecisionService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use sea_orm::{DatabaseConnection, EntityTrait};
use tonic::{Request, Response, Status};

use crate::entity::decision;

/// Serves `residence.v1.DecisionService`.
#[derive(Debug, Clone)]
pub struct DecisionApi {
    pub db: DatabaseConnection,
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
        let endorsement: Option<Endorsement> = decision
            .endorsement
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        let outcome = match decision.outcome.as_str() {
            "approved" => pb::DecisionOutcome::Approved,
            "denied" => pb::DecisionOutcome::Denied,
            _ => pb::DecisionOutcome::Unspecified,
        };
        Ok(Response::new(pb::GetDecisionResponse {
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
        }))
    }
}
