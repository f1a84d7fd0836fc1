//! The intake gRPC API.

use std::sync::Arc;

use prost::Message;
use residence_audit::Entry;
use residence_eventing::RelayHandle;
use residence_proto::v1::{self as pb, intake_service_server::IntakeService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::{TimeSource, china_date, china_rfc3339};
use residence_runtime::validate;
use residence_staff::{Action, Staff, StaffAuth};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::access::AccessCodes;
use crate::entity::case;
use crate::feedback::{Rated, Rating, Withdrawal};
use crate::request;
use crate::status;
use crate::store::{self, Created, Store};

/// Serves `residence.v1.IntakeService`.
#[derive(Debug, Clone)]
pub struct IntakeApi {
    pub store: Store,
    pub access: Arc<AccessCodes>,
    pub relay: RelayHandle,
    /// The clock every handler reads "now" from.
    pub now: TimeSource,
    /// Checks the tokens of staff who track a case without its access code.
    pub staff: StaffAuth,
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::SubmitApplicationResponse>, Status> {
        let request = request.into_inner();
        let submission = request::submission(&request, &self.store.item)?;
        let digest = hex(&Sha256::digest(request.encode_to_vec()));
        let now = self.now.now();
        let switches = self.store.item.rules;
        let verdict = crate::verdict::assess(
            &submission,
            china_date(now),
            &self.store.calendar.current(),
            &switches,
        );

        let created = self
            .store
            .create(&submission, &verdict, &digest, now)
            .await
            .map_err(internal)?;
        let (case, replayed) = match created {
            Created::New(case) => {
                self.relay.notify();
                tracing::info!(case.number = %case.case_number, status = %case.status, "application received");
                (case, false)
            }
            Created::Replayed(case) => (case, true),
            Created::Conflict => {
                return Err(Status::already_exists(
                    "client_request_id was already used for a different application",
                ));
            }
        };
        Ok(Response::new(self.submit_response(&case, replayed)))
    }

    async fn pre_review_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::PreReviewApplicationResponse>, Status> {
        let submission = request::submission(request.get_ref(), &self.store.item)?;
        let today = china_date(self.now.now());
        let switches = self.store.item.rules;
        let verdict = crate::verdict::assess(
            &submission,
            today,
            &self.store.calendar.current(),
            &switches,
        );
        let due = self.store.due_date(today);
        let to_proto = |reasons: Vec<residence_events::ReasonItem>| -> Vec<pb::Reason> {
            reasons
                .into_iter()
                .map(|r| pb::Reason {
                    code: r.code,
                    field: r.field,
                    message: r.message,
                })
                .collect()
        };
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        Ok(Response::new(pb::PreReviewApplicationResponse {
            acceptable: verdict.is_acceptable(),
            reasons: to_proto(verdict.refusals.clone()),
            missing_materials: to_proto(verdict.missing_reasons()),
            window_opens: date(verdict.window.map(|w| w.0)),
            window_closes: date(verdict.window.map(|w| w.1)),
            timeliness: verdict
                .timeliness
                .map(|t| t.code().to_owned())
                .unwrap_or_default(),
            new_valid_until: date(verdict.new_valid_until),
            due_on: if verdict.is_acceptable() {
                due.date.to_string()
            } else {
                String::new()
            },
            due_on_confirmed: verdict.is_acceptable() && due.confirmed,
        }))
    }

    async fn track_case(
        &self,
        request: Request<pb::TrackCaseRequest>,
    ) -> Result<Response<pb::TrackCaseResponse>, Status> {
        let staff = self.staff.optional(&request, Action::ReadCase)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let number = match staff {
            Some(_) => grpc::case_number("case_number", &request.case_number, &mut v),
            None => request::case_access(&request.case_number, &request.access_code, &mut v),
        };
        v.into_result()?;
        let case = match &staff {
            Some(staff) => self.staff_case(staff, &number).await?,
            None => self.authorised_case(&number, &request.access_code).await?,
        };
        let steps = self
            .store
            .steps(&case.case_number)
            .await
            .map_err(internal)?;
        let ratings = self
            .store
            .ratings(&case.case_number)
            .await
            .map_err(internal)?;
        let history = steps
            .iter()
            .map(|step| pb::CaseStep {
                status: status::to_proto(&step.status) as i32,
                at: china_rfc3339(step.at),
                note: step.note.clone(),
            })
            .collect();
        Ok(Response::new(pb::TrackCaseResponse {
            case_number: case.case_number.clone(),
            status: status::to_proto(&case.status) as i32,
            is_final: case.is_final,
            channel: channel_to_proto(&case.channel) as i32,
            delivery_method: method_to_proto(&case.delivery_method) as i32,
            masked_id_number: case.masked_id_number.clone(),
            received_at: china_rfc3339(case.received_at),
            due_on: case.due_on.map(|d| d.to_string()).unwrap_or_default(),
            reasons: reasons_to_proto(&case),
            history,
            new_valid_until: case
                .new_valid_until
                .map(|d| d.to_string())
                .unwrap_or_default(),
            parcel_reference: case.parcel_reference.clone().unwrap_or_default(),
            license_identifier: case.license_identifier.clone().unwrap_or_default(),
            withdrawal_requested: case.withdrawal_requested_at.is_some(),
            rating_invited: case.rating_invited_at.is_some(),
            ratings: ratings
                .iter()
                .map(|rating| pb::CaseRating {
                    channel: rating_channel_to_proto(&rating.channel) as i32,
                    level: rating.level,
                    rated_at: china_rfc3339(rating.rated_at),
                })
                .collect(),
        }))
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::WithdrawApplicationResponse>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let number = request::case_access(&request.case_number, &request.access_code, &mut v);
        let reason = validate::free_text(&request.reason, 2, 200).unwrap_or_else(|problem| {
            v.add("reason", problem);
            String::new()
        });
        v.into_result()?;
        let case = self.authorised_case(&number, &request.access_code).await?;
        let now = self.now.now();
        let withdrawal = self
            .store
            .withdraw(&case.case_number, &reason, now)
            .await
            .map_err(internal)?;
        let (case, requested) = match withdrawal {
            Withdrawal::Done(case) => (case, false),
            Withdrawal::Requested(case) => (case, true),
            Withdrawal::Refused(why) => return Err(Status::failed_precondition(why)),
        };
        self.relay.notify();
        tracing::info!(case.number = %case.case_number, status = %case.status, requested, "withdrawal");
        Ok(Response::new(pb::WithdrawApplicationResponse {
            case_number: case.case_number.clone(),
            status: status::to_proto(&case.status) as i32,
            withdrawal_requested: requested,
        }))
    }

    async fn rate_case(
        &self,
        request: Request<pb::RateCaseRequest>,
    ) -> Result<Response<pb::RateCaseResponse>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let number = request::case_access(&request.case_number, &request.access_code, &mut v);
        let rating = rating(&request, &mut v);
        v.into_result()?;
        let rating = rating.ok_or_else(|| internal("rating checked without a violation"))?;
        let case = self.authorised_case(&number, &request.access_code).await?;
        let rated = self
            .store
            .rate(&case, &rating, self.now.now())
            .await
            .map_err(internal)?;
        let (model, task, replayed) = match rated {
            Rated::New(model, task) => {
                self.relay.notify();
                (model, task, false)
            }
            Rated::Replayed(model, task) => (model, task, true),
            Rated::AlreadyRated => {
                return Err(Status::already_exists(format!(
                    "case was already rated through {}",
                    rating.channel
                )));
            }
            Rated::Open(why) => return Err(Status::failed_precondition(why)),
        };
        tracing::info!(case.number = %model.case_number, level = model.level, channel = %model.channel, "case rated");
        Ok(Response::new(pb::RateCaseResponse {
            case_number: model.case_number.clone(),
            channel: rating_channel_to_proto(&model.channel) as i32,
            level: model.level,
            rated_at: china_rfc3339(model.rated_at),
            follow_up_id: task.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
            follow_up_due_on: task
                .as_ref()
                .map(|t| t.due_on.to_string())
                .unwrap_or_default(),
            replayed,
        }))
    }

    async fn supplement_materials(
        &self,
        request: Request<pb::SupplementMaterialsRequest>,
    ) -> Result<Response<pb::SubmitApplicationResponse>, Status> {
        let request = request.into_inner();
        let mut v = Violations::default();
        let number = request::case_access(&request.case_number, &request.access_code, &mut v);
        let supplied = request::supplement_materials(&request.materials, &mut v);
        v.into_result()?;
        let case = self.authorised_case(&number, &request.access_code).await?;
        if case.status != status::SUPPLEMENT_REQUIRED {
            return Err(Status::failed_precondition(format!(
                "case is {}, not waiting for materials",
                case.status
            )));
        }
        let now = self.now.now();
        let case = self
            .store
            .supplement(case, &supplied, china_date(now), now)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                Status::failed_precondition("case is no longer waiting for materials")
            })?;
        self.relay.notify();
        tracing::info!(case.number = %case.case_number, status = %case.status, "materials supplemented");
        Ok(Response::new(self.submit_response(&case, false)))
    }
}

impl IntakeApi {
    /// The case, if the access code opens it; both arguments were checked with
    /// [`request::case_access`]. A wrong code and an unknown case look the same.
    async fn authorised_case(&self, number: &str, code: &str) -> Result<case::Model, Status> {
        let not_found = || Status::not_found("no case with this number and access code");
        if !self.access.verify(number, code) {
            return Err(not_found());
        }
        self.store
            .by_number(number)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)
    }

    /// The case, for staff whose scope reaches its town; the read goes into its audit trail.
    async fn staff_case(&self, staff: &Staff, number: &str) -> Result<case::Model, Status> {
        let not_found = || Status::not_found("no case with this number");
        let case = self
            .store
            .by_number(number)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)?;
        let submission: request::Submission =
            store::from_json(&case.application).map_err(internal)?;
        let town = self.store.item.town_for(&submission.residence_address);
        staff.require_area(&town.code)?;
        let read = Entry::new(number, &staff.id, staff.role.code(), "case.read")
            .because("tracked by staff without the access code");
        residence_audit::record(&self.store.db, &read)
            .await
            .map_err(internal)?;
        Ok(case)
    }

    fn submit_response(&self, case: &case::Model, replayed: bool) -> pb::SubmitApplicationResponse {
        pb::SubmitApplicationResponse {
            case_number: case.case_number.clone(),
            access_code: self.access.code_for(&case.case_number),
            status: status::to_proto(&case.status) as i32,
            reasons: reasons_to_proto(case),
            due_on: case.due_on.map(|d| d.to_string()).unwrap_or_default(),
            due_on_confirmed: case.due_on_confirmed,
            replayed,
        }
    }
}

fn reasons_to_proto(case: &case::Model) -> Vec<pb::Reason> {
    store::reasons(case)
        .into_iter()
        .map(|reason| pb::Reason {
            code: reason.code,
            field: reason.field,
            message: reason.message,
        })
        .collect()
}

/// The rating a request asks for, with every problem of its fields in `v`.
fn rating(request: &pb::RateCaseRequest, v: &mut Violations) -> Option<Rating> {
    let channel = match pb::RatingChannel::try_from(request.channel) {
        Ok(pb::RatingChannel::Web) => Some("web"),
        Ok(pb::RatingChannel::App) => Some("app"),
        Ok(pb::RatingChannel::Sms) => Some("sms"),
        Ok(pb::RatingChannel::Window) => Some("window"),
        Ok(pb::RatingChannel::Hotline) => Some("hotline"),
        Ok(pb::RatingChannel::Unspecified) | Err(_) => {
            v.add("channel", "must be one of WEB, APP, SMS, WINDOW, HOTLINE");
            None
        }
    };
    let level = match pb::RatingLevel::try_from(request.level) {
        Ok(pb::RatingLevel::Unspecified) | Err(_) => {
            v.add(
                "level",
                "must be one of the five levels, VERY_DISSATISFIED to VERY_SATISFIED",
            );
            None
        }
        Ok(level) => u8::try_from(level as i32).ok(),
    };
    let trimmed = validate::trim(&request.comment);
    let dissatisfied = level.is_some_and(|level| level <= 2);
    let comment = if trimmed.is_empty() && !dissatisfied {
        String::new()
    } else {
        let min = if dissatisfied { 2 } else { 1 };
        match validate::free_text(&request.comment, min, 500) {
            Ok(comment) => comment,
            Err(problem) if dissatisfied && trimmed.is_empty() => {
                v.add(
                    "comment",
                    format!("{problem}: a dissatisfied rating says what went wrong"),
                );
                String::new()
            }
            Err(problem) => {
                v.add("comment", problem);
                String::new()
            }
        }
    };
    Some(Rating {
        channel: channel?,
        level: level?,
        comment,
    })
}

/// The API value of a stored rating channel.
pub fn rating_channel_to_proto(code: &str) -> pb::RatingChannel {
    match code {
        "web" => pb::RatingChannel::Web,
        "app" => pb::RatingChannel::App,
        "sms" => pb::RatingChannel::Sms,
        "window" => pb::RatingChannel::Window,
        "hotline" => pb::RatingChannel::Hotline,
        _ => pb::RatingChannel::Unspecified,
    }
}

fn channel_to_proto(code: &str) -> pb::Channel {
    match code {
        "window" => pb::Channel::Window,
        "online" => pb::Channel::Online,
        "self_service_terminal" => pb::Channel::SelfServiceTerminal,
        _ => pb::Channel::Unspecified,
    }
}

fn method_to_proto(code: &str) -> pb::DeliveryMethod {
    match code {
        "pickup" => pb::DeliveryMethod::Pickup,
        "courier" => pb::DeliveryMethod::Courier,
        _ => pb::DeliveryMethod::Unspecified,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
