//! The review gRPC API.

use residence_events::Finding;
use residence_proto::v1::{self as pb, review_service_server::ReviewService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use sea_orm::{DatabaseConnection, EntityTrait};
use tonic::{Request, Response, Status};

use crate::entity::review;

/// Serves `residence.v1.ReviewService`.
#[derive(Debug, Clone)]
pub struct ReviewApi {
    pub db: DatabaseConnection,
}

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    async fn get_review(
        &self,
        request: Request<pb::GetReviewRequest>,
    ) -> Result<Response<pb::GetReviewResponse>, Status> {
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.get_ref().case_number, &mut v);
        v.into_result()?;
        let found = review::Entity::find_by_id(number)
            .one(&self.db)
            .await
            .map_err(internal)?;
        let review = found.ok_or_else(|| Status::not_found("this case has not been reviewed"))?;
        let findings: Vec<Finding> = serde_json::from_str(&review.findings).unwrap_or_default();
        let outcome = match review.outcome.as_str() {
            "passed" => pb::ReviewOutcome::Passed,
            "failed" => pb::ReviewOutcome::Failed,
            _ => pb::ReviewOutcome::Unspecified,
        };
        Ok(Response::new(pb::GetReviewResponse {
            case_number: review.case_number,
            outcome: outcome as i32,
            findings: findings
                .into_iter()
                .map(|f| pb::Finding {
                    code: f.code,
                    message: f.message,
                })
                .collect(),
            reviewed_at: china_rfc3339(review.reviewed_at),
        }))
    }
}
