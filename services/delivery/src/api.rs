//! The delivery gRPC API: where a delivery stands, collections at the window, and the list of
//! permits waiting there.

use chrono::Utc;
use residence_eventing::RelayHandle;
use residence_proto::v1::{self as pb, delivery_service_server::DeliveryService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use residence_runtime::validate;
use residence_staff::{Action, StaffAuth};
use tonic::{Request, Response, Status};

use crate::entity::delivery;
use crate::rules;
use crate::store::{Collected, Collection, Store};

/// The longest clerk staff id, in characters.
const MAX_CLERK_ID_LENGTH: usize = 64;

/// Serves `residence.v1.DeliveryService`.
#[derive(Debug, Clone)]
pub struct DeliveryApi {
    pub store: Store,
    pub relay: RelayHandle,
    pub staff: StaffAuth,
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn get_delivery(
        &self,
        request: Request<pb::GetDeliveryRequest>,
    ) -> Result<Response<pb::GetDeliveryResponse>, Status> {
        self.staff.require(&request, Action::ReadDeliveries)?;
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.get_ref().case_number, &mut v);
        v.into_result()?;
        let delivery = self
            .store
            .by_case(&number)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)?;
        Ok(Response::new(to_response(&delivery)))
    }

    async fn record_collection(
        &self,
        request: Request<pb::RecordCollectionRequest>,
    ) -> Result<Response<pb::GetDeliveryResponse>, Status> {
        let staff = self.staff.require(&request, Action::RecordCollections)?;
        let collection = collection(request.get_ref())?;
        let collected = self
            .store
            .record_collection(&collection, &staff, Utc::now())
            .await
            .map_err(internal)?;
        let delivery = match collected {
            Collected::Now(delivery) => {
                self.relay.notify();
                tracing::info!(
                    case.number = %delivery.case_number,
                    collected_by = collection.collected_by,
                    "permit collected"
                );
                delivery
            }
            Collected::Before(delivery) => delivery,
            Collected::NotFound => return Err(not_found()),
            Collected::Refused(reason) => return Err(Status::failed_precondition(reason)),
            Collected::Raced => {
                return Err(Status::aborted(
                    "the delivery changed while the collection was recorded; retry",
                ));
            }
        };
        Ok(Response::new(to_response(&delivery)))
    }

    async fn list_awaiting_collection(
        &self,
        request: Request<pb::ListAwaitingCollectionRequest>,
    ) -> Result<Response<pb::ListAwaitingCollectionResponse>, Status> {
        self.staff.require(&request, Action::ReadDeliveries)?;
        let mut v = Violations::default();
        let limit = grpc::list_limit(request.get_ref().limit, &mut v);
        v.into_result()?;
        let case_numbers = self
            .store
            .awaiting_collection(u64::from(limit))
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::ListAwaitingCollectionResponse {
            case_numbers,
        }))
    }
}

fn not_found() -> Status {
    Status::not_found("no delivery for this case; it starts once the case is approved")
}

/// Validates a collection request; every bad field is reported at once.
fn collection(request: &pb::RecordCollectionRequest) -> Result<Collection, Status> {
    let mut v = Violations::default();
    let case_number = grpc::case_number("case_number", &request.case_number, &mut v);
    let clerk_id =
        validate::line(&request.clerk_id, 1, MAX_CLERK_ID_LENGTH).unwrap_or_else(|problem| {
            v.add("clerk_id", problem);
            String::new()
        });
    let collected_by = rules::COLLECTORS
        .into_iter()
        .find(|who| *who == validate::trim(&request.collected_by));
    if collected_by.is_none() {
        v.add("collected_by", "must be \"holder\" or \"agent\"");
    }
    v.into_result()?;
    Ok(Collection {
        case_number,
        clerk_id,
        collected_by: collected_by.unwrap_or(rules::COLLECTORS[0]),
    })
}

fn to_response(delivery: &delivery::Model) -> pb::GetDeliveryResponse {
    pb::GetDeliveryResponse {
        case_number: delivery.case_number.clone(),
        method: method_to_proto(&delivery.method) as i32,
        state: state_to_proto(&delivery.state) as i32,
        parcel_reference: delivery.parcel_reference.clone().unwrap_or_default(),
        fallback_reason: delivery.fallback_reason.clone().unwrap_or_default(),
        completed_at: delivery.completed_at.map(china_rfc3339).unwrap_or_default(),
    }
}

fn method_to_proto(code: &str) -> pb::DeliveryMethod {
    match code {
        "pickup" => pb::DeliveryMethod::Pickup,
        "courier" => pb::DeliveryMethod::Courier,
        _ => pb::DeliveryMethod::Unspecified,
    }
}

fn state_to_proto(state: &str) -> pb::DeliveryState {
    match state {
        rules::SHIPPED => pb::DeliveryState::Shipped,
        rules::AWAITING_COLLECTION => pb::DeliveryState::AwaitingCollection,
        rules::DELIVERED => pb::DeliveryState::Delivered,
        rules::COLLECTED => pb::DeliveryState::Collected,
        _ => pb::DeliveryState::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(case_number: &str, clerk_id: &str, by: &str) -> pb::RecordCollectionRequest {
        pb::RecordCollectionRequest {
            case_number: case_number.into(),
            clerk_id: clerk_id.into(),
            collected_by: by.into(),
        }
    }

    #[test]
    fn collections_are_validated_field_by_field() {
        let ok = collection(&request("1141-20261204-000123-K", " 窗口03 ", "agent")).unwrap();
        assert_eq!(ok.clerk_id, "窗口03");
        assert_eq!(ok.collected_by, "agent");

        let bad = collection(&request("", "a\u{200B}b", "neighbour")).unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        for field in ["case_number", "clerk_id", "collected_by"] {
            assert!(bad.message().contains(field), "{}", bad.message());
        }
        let long = collection(&request("CASE-1", &"x".repeat(65), "holder")).unwrap_err();
        assert!(long.message().contains("clerk_id"));
    }
}
