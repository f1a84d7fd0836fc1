//! The review gRPC API: reading reviews and working the manual review queue. Every call is a
//! staff call; see `proto/residence/v1/review.proto` for who may make which.

use residence_audit::Entry;
use residence_events::{Application, Finding};
use residence_proto::v1::{self as pb, review_service_server::ReviewService};
use residence_rules::IdNumber;
use residence_rules::materials::MaterialKind;
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use residence_runtime::validate;
use residence_staff::{Action as Permission, Staff, StaffAuth};
use sea_orm::{DatabaseConnection, EntityTrait};
use tonic::{Request, Response, Status};

use crate::entity::{outcome, review, task, task_state};
use crate::store::{Action, Queue, from_json};

/// Shortest and longest note, reason or finding message, in characters.
const NOTE_LENGTH: (usize, usize) = (2, 500);

/// The most findings one referral carries.
const MAX_FINDINGS: usize = 10;

/// Every material kind the API knows, as the proto and the rules name it.
const MATERIAL_KINDS: [(pb::MaterialKind, MaterialKind); 7] = [
    (
        pb::MaterialKind::ResidencePermit,
        MaterialKind::ResidencePermit,
    ),
    (pb::MaterialKind::IdCard, MaterialKind::IdCard),
    (
        pb::MaterialKind::ProofOfResidence,
        MaterialKind::ProofOfResidence,
    ),
    (
        pb::MaterialKind::ProofOfEmployment,
        MaterialKind::ProofOfEmployment,
    ),
    (pb::MaterialKind::ProofOfStudy, MaterialKind::ProofOfStudy),
    (pb::MaterialKind::AgentIdCard, MaterialKind::AgentIdCard),
    (
        pb::MaterialKind::ProofOfRelationship,
        MaterialKind::ProofOfRelationship,
    ),
];

/// Serves `residence.v1.ReviewService`.
#[derive(Debug, Clone)]
pub struct ReviewApi {
    pub db: DatabaseConnection,
    pub queue: Queue,
    pub staff: StaffAuth,
}

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    async fn get_review(
        &self,
        request: Request<pb::GetReviewRequest>,
    ) -> Result<Response<pb::GetReviewResponse>, Status> {
        let staff = self.staff.require(&request, Permission::ReadReviews)?;
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.get_ref().case_number, &mut v);
        v.into_result()?;
        let found = review::Entity::find_by_id(number.clone())
            .one(&self.db)
            .await
            .map_err(internal)?;
        let review = found.ok_or_else(|| Status::not_found("this case has not been reviewed"))?;
        if let Some(town) = &review.town_code {
            staff.require_area(town)?;
        }
        let task = task::Entity::find_by_id(number.clone())
            .one(&self.db)
            .await
            .map_err(internal)?;
        let details = match &task {
            Some(task) => {
                let read = Entry::new(&number, &staff.id, staff.role.code(), "review.read")
                    .because("holder name, address and agent shown");
                residence_audit::record(&self.db, &read)
                    .await
                    .map_err(internal)?;
                Some(details(&from_json(&task.application).map_err(internal)?))
            }
            None => None,
        };
        Ok(Response::new(pb::GetReviewResponse {
            case_number: review.case_number.clone(),
            outcome: outcome_to_proto(&review.outcome) as i32,
            findings: findings_to_proto(&review.findings),
            reviewed_at: if review.outcome == outcome::PENDING {
                String::new()
            } else {
                china_rfc3339(review.reviewed_at)
            },
            task: task.as_ref().map(task_to_proto),
            details,
        }))
    }

    async fn list_review_queue(
        &self,
        request: Request<pb::ListReviewQueueRequest>,
    ) -> Result<Response<pb::ListReviewQueueResponse>, Status> {
        let staff = self.staff.require(&request, Permission::ReadReviews)?;
        let request = request.get_ref();
        let (area, limit) = grpc::list_scope(&staff, &request.area_code, request.limit)?;
        let tasks = self
            .queue
            .open_tasks(area.as_str(), u64::from(limit))
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::ListReviewQueueResponse {
            tasks: tasks.iter().map(task_to_proto).collect(),
        }))
    }

    async fn claim_review(
        &self,
        request: Request<pb::ClaimReviewRequest>,
    ) -> Result<Response<pb::ReviewTask>, Status> {
        let staff = self.staff.require(&request, Permission::WorkReviews)?;
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.get_ref().case_number, &mut v);
        v.into_result()?;
        self.act(&staff, &number, Action::Claim).await
    }

    async fn release_review(
        &self,
        request: Request<pb::ReleaseReviewRequest>,
    ) -> Result<Response<pb::ReviewTask>, Status> {
        let staff = self.staff.require(&request, Permission::WorkReviews)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.case_number, &mut v);
        let reason = if validate::trim(&request.reason).is_empty() {
            String::new()
        } else {
            note("reason", &request.reason, &mut v)
        };
        v.into_result()?;
        self.act(&staff, &number, Action::Release { reason }).await
    }

    async fn approve_review(
        &self,
        request: Request<pb::ApproveReviewRequest>,
    ) -> Result<Response<pb::ReviewTask>, Status> {
        let staff = self.staff.require(&request, Permission::WorkReviews)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.case_number, &mut v);
        let note = note("note", &request.note, &mut v);
        v.into_result()?;
        self.act(&staff, &number, Action::Approve { note }).await
    }

    async fn return_for_supplement(
        &self,
        request: Request<pb::ReturnForSupplementRequest>,
    ) -> Result<Response<pb::ReviewTask>, Status> {
        let staff = self.staff.require(&request, Permission::WorkReviews)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.case_number, &mut v);
        let missing = missing_materials(&request.missing_materials, &mut v);
        let note = note("note", &request.note, &mut v);
        v.into_result()?;
        self.act(&staff, &number, Action::Return { missing, note })
            .await
    }

    async fn refer_review(
        &self,
        request: Request<pb::ReferReviewRequest>,
    ) -> Result<Response<pb::ReviewTask>, Status> {
        let staff = self.staff.require(&request, Permission::WorkReviews)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let number = grpc::case_number("case_number", &request.case_number, &mut v);
        let findings = referral_findings(&request.findings, &mut v);
        v.into_result()?;
        self.act(&staff, &number, Action::Refer { findings }).await
    }
}

impl ReviewApi {
    async fn act(
        &self,
        staff: &Staff,
        case_number: &str,
        action: Action,
    ) -> Result<Response<pb::ReviewTask>, Status> {
        let task = self.queue.act(staff, case_number, action).await?;
        Ok(Response::new(task_to_proto(&task)))
    }
}

/// A checked note or reason: 2 to 500 characters of plain text.
fn note(field: &str, value: &str, v: &mut Violations) -> String {
    let (min, max) = NOTE_LENGTH;
    validate::free_text(value, min, max).unwrap_or_else(|problem| {
        v.add(field, problem);
        String::new()
    })
}

fn missing_materials(kinds: &[i32], v: &mut Violations) -> Vec<MaterialKind> {
    if kinds.is_empty() || kinds.len() > MATERIAL_KINDS.len() {
        v.add(
            "missing_materials",
            format!("must list 1 to {} kinds", MATERIAL_KINDS.len()),
        );
        return Vec::new();
    }
    let mut missing = Vec::new();
    for (index, value) in kinds.iter().enumerate() {
        let field = format!("missing_materials[{index}]");
        let known = MATERIAL_KINDS
            .iter()
            .find(|(proto, _)| *proto as i32 == *value);
        match known {
            Some((_, kind)) if missing.contains(kind) => v.add(field, "is listed twice"),
            Some((_, kind)) => missing.push(*kind),
            None if *value == 0 => v.add(field, "is required"),
            None => v.add(field, format!("unknown value {value}")),
        }
    }
    missing
}

fn referral_findings(findings: &[pb::Finding], v: &mut Violations) -> Vec<Finding> {
    if findings.is_empty() || findings.len() > MAX_FINDINGS {
        v.add(
            "findings",
            format!("must list 1 to {MAX_FINDINGS} findings"),
        );
        return Vec::new();
    }
    let mut checked = Vec::new();
    for (index, finding) in findings.iter().enumerate() {
        let code = validate::trim(&finding.code);
        let code_ok = (1..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !code_ok {
            v.add(
                format!("findings[{index}].code"),
                "must be 1 to 64 lowercase letters, digits or '_'",
            );
        }
        let message = note(&format!("findings[{index}].message"), &finding.message, v);
        checked.push(Finding {
            code: code.to_owned(),
            message,
        });
    }
    checked
}

fn outcome_to_proto(stored: &str) -> pb::ReviewOutcome {
    match stored {
        outcome::PASSED => pb::ReviewOutcome::Passed,
        outcome::REFERRED | outcome::FAILED => pb::ReviewOutcome::Referred,
        outcome::PENDING => pb::ReviewOutcome::Pending,
        outcome::WITHDRAWN => pb::ReviewOutcome::Withdrawn,
        _ => pb::ReviewOutcome::Unspecified,
    }
}

fn findings_to_proto(stored: &str) -> Vec<pb::Finding> {
    let findings: Vec<Finding> = serde_json::from_str(stored).unwrap_or_default();
    findings
        .into_iter()
        .map(|f| pb::Finding {
            code: f.code,
            message: f.message,
        })
        .collect()
}

fn task_to_proto(task: &task::Model) -> pb::ReviewTask {
    let state = match task.state.as_str() {
        task_state::WAITING => pb::ReviewTaskState::Waiting,
        task_state::CLAIMED => pb::ReviewTaskState::Claimed,
        task_state::RETURNED => pb::ReviewTaskState::Returned,
        task_state::APPROVED => pb::ReviewTaskState::Approved,
        task_state::REFERRED => pb::ReviewTaskState::Referred,
        task_state::WITHDRAWN => pb::ReviewTaskState::Withdrawn,
        _ => pb::ReviewTaskState::Unspecified,
    };
    let supplied: Vec<String> = serde_json::from_str(&task.supplied).unwrap_or_default();
    let supplied_materials = supplied
        .iter()
        .filter_map(|code| {
            MATERIAL_KINDS
                .iter()
                .find(|(_, kind)| kind.code() == code)
                .map(|(proto, _)| *proto as i32)
        })
        .collect();
    pb::ReviewTask {
        case_number: task.case_number.clone(),
        town_code: task.town_code.clone(),
        state: state as i32,
        findings: findings_to_proto(&task.findings),
        claimed_by: task.claimed_by.clone().unwrap_or_default(),
        queued_at: china_rfc3339(task.queued_at),
        returned_once: task.returned_once,
        supplied_materials,
        decided_by: task.decided_by.clone().unwrap_or_default(),
        note: task.note.clone().unwrap_or_default(),
    }
}

/// The application as the reviewer sees it, the ID number masked.
fn details(application: &Application) -> pb::CaseDetails {
    let holder_age = IdNumber::parse(&application.holder.id_number)
        .map(|id| id.age_on(application.applied_on))
        .unwrap_or_default();
    let channel = match application.channel {
        residence_events::Channel::Window => pb::Channel::Window,
        residence_events::Channel::Online => pb::Channel::Online,
        residence_events::Channel::SelfServiceTerminal => pb::Channel::SelfServiceTerminal,
    };
    let agent = application.agent.as_ref();
    pb::CaseDetails {
        holder_name: application.holder.name.clone(),
        masked_id_number: residence_rules::mask_id_number(&application.holder.id_number),
        holder_age,
        residence_address: application.residence_address.clone(),
        channel: channel as i32,
        permit_valid_until: application.permit_valid_until.to_string(),
        applied_on: application.applied_on.to_string(),
        timeliness: application.timeliness.code().to_owned(),
        agent_name: agent.map(|a| a.name.clone()).unwrap_or_default(),
        agent_relation: agent.map(|a| a.relation.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_names_every_bad_material_at_once() {
        let mut v = Violations::default();
        let kinds = [
            pb::MaterialKind::ProofOfResidence as i32,
            pb::MaterialKind::ProofOfResidence as i32,
            0,
            99,
        ];
        let missing = missing_materials(&kinds, &mut v);
        assert_eq!(missing, vec![MaterialKind::ProofOfResidence]);
        let message = v.into_result().unwrap_err().message().to_owned();
        for field in [
            "missing_materials[1]",
            "missing_materials[2]",
            "missing_materials[3]",
        ] {
            assert!(message.contains(field), "{message}");
        }
    }

    #[test]
    fn referral_findings_are_checked_field_by_field() {
        let mut v = Violations::default();
        let findings = [pb::Finding {
            code: "Bad Code".into(),
            message: "x".into(),
        }];
        referral_findings(&findings, &mut v);
        let message = v.into_result().unwrap_err().message().to_owned();
        assert!(message.contains("findings[0].code"), "{message}");
        assert!(message.contains("findings[0].message"), "{message}");
        let mut v = Violations::default();
        referral_findings(&[], &mut v);
        assert!(!v.is_empty());
    }
}
