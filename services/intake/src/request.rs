//! Turning a gRPC submission into a checked [`Submission`], naming every bad field.

use chrono::NaiveDate;
use residence_events::{Channel, DeliveryMethod, DeliveryRequest, Recipient};
use residence_item::ServiceItem;
use residence_proto::v1 as pb;
use residence_rules::address_change::MoveScope;
use residence_rules::id_number::{IdNumber, IdNumberError};
use residence_rules::materials::{AgentRelation, MaterialKind};
use residence_runtime::grpc::Violations;
use residence_runtime::validate;
use serde::{Deserialize, Serialize};

impl Submission {
    /// The holder's ID number, or why it is not a valid one.
    pub fn holder_id(&self) -> Result<IdNumber, IdNumberError> {
        IdNumber::parse(&self.id_number)
    }
}

impl AgentInput {
    /// The agent's ID number, or why it is not a valid one.
    pub fn id(&self) -> Result<IdNumber, IdNumberError> {
        IdNumber::parse(&self.id_number)
    }
}

/// A submission whose fields are each well formed. Whether it can be accepted is the verdict's
/// business, not this module's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Submission {
    pub client_request_id: String,
    pub channel: Channel,
    pub name: String,
    /// The ID number as given, trimmed. Whether it is valid is decided by the verdict.
    pub id_number: String,
    pub phone: String,
    pub permit_valid_until: NaiveDate,
    pub residence_address: String,
    pub address_change: Option<(NaiveDate, MoveScope)>,
    pub delivery: DeliveryRequest,
    pub materials: Vec<MaterialKind>,
    pub agent: Option<AgentInput>,
}

/// Someone submitting on the holder's behalf.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentInput {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub relation: AgentRelation,
}

/// Checks every field of `request`; collects all problems before answering.
pub fn submission(
    request: &pb::SubmitApplicationRequest,
    item: &ServiceItem,
) -> Result<Submission, tonic::Status> {
    let mut v = Violations::default();
    let client_request_id = client_request_id(&request.client_request_id, &mut v);
    let channel = channel(request.channel, item, &mut v);

    let applicant = request.applicant.clone().unwrap_or_default();
    if request.applicant.is_none() {
        v.add("applicant", "is required");
    }
    let name = check(
        &mut v,
        "applicant.name",
        validate::person_name(&applicant.name),
    );
    let id_number = id_number("applicant.id_number", &applicant.id_number, &mut v);
    let phone = check(
        &mut v,
        "applicant.phone",
        validate::mobile_phone(&applicant.phone),
    );

    let permit_valid_until = match &request.permit {
        None => {
            v.add("permit", "is required");
            None
        }
        Some(permit) => check(
            &mut v,
            "permit.valid_until",
            validate::date(&permit.valid_until),
        ),
    };
    let residence_address = check(
        &mut v,
        "residence_address",
        validate::line(&request.residence_address, 5, 120),
    );
    let address_change = request
        .address_change
        .as_ref()
        .and_then(|c| address_change(c, &mut v));
    let delivery = delivery(request.delivery.as_ref(), item, &mut v);
    let materials = materials(&request.materials, "materials", &mut v);
    let agent = request
        .agent
        .as_ref()
        .and_then(|agent| agent_input(agent, &mut v));

    v.into_result()?;
    // Every Option below is Some once there are no violations.
    let missing = || tonic::Status::internal("validated field missing");
    Ok(Submission {
        client_request_id,
        channel: channel.ok_or_else(missing)?,
        name: name.ok_or_else(missing)?,
        id_number,
        phone: phone.ok_or_else(missing)?,
        permit_valid_until: permit_valid_until.ok_or_else(missing)?,
        residence_address: residence_address.ok_or_else(missing)?,
        address_change,
        delivery: delivery.ok_or_else(missing)?,
        materials,
        agent,
    })
}

/// Checks the materials of a supplement.
pub fn supplement_materials(
    request: &pb::SupplementMaterialsRequest,
) -> Result<Vec<MaterialKind>, tonic::Status> {
    let mut v = Violations::default();
    if request.materials.is_empty() {
        v.add("materials", "must list at least one material");
    }
    let materials = materials(&request.materials, "materials", &mut v);
    v.into_result()?;
    Ok(materials)
}

fn check<T>(v: &mut Violations, field: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|problem| v.add(field, problem)).ok()
}

fn client_request_id(value: &str, v: &mut Violations) -> String {
    let ok = (8..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        v.add(
            "client_request_id",
            "must be 8 to 64 characters of A-Z, a-z, 0-9, '-' and '_'",
        );
    }
    value.to_owned()
}

fn channel(value: i32, item: &ServiceItem, v: &mut Violations) -> Option<Channel> {
    let channel = match pb::Channel::try_from(value) {
        Ok(pb::Channel::Window) => Channel::Window,
        Ok(pb::Channel::Online) => Channel::Online,
        Ok(pb::Channel::SelfServiceTerminal) => Channel::SelfServiceTerminal,
        Ok(pb::Channel::Unspecified) => {
            v.add("channel", "is required");
            return None;
        }
        Err(_) => {
            v.add("channel", format!("unknown value {value}"));
            return None;
        }
    };
    let offered = match channel {
        Channel::Window => item.channels.window,
        Channel::Online => item.channels.online,
        Channel::SelfServiceTerminal => item.channels.self_service_terminal,
    };
    if !offered {
        v.add(
            "channel",
            format!("{} is not offered for this service", channel.code()),
        );
        return None;
    }
    Some(channel)
}

/// An ID number that is not even shaped like one is a malformed request; one that is shaped
/// right but fails a rule (check character, region, birth date, 15 digits) is refused later.
fn id_number(field: &str, raw: &str, v: &mut Violations) -> String {
    let trimmed = raw.trim().to_owned();
    if trimmed.is_empty() {
        v.add(field, "is required");
    } else if trimmed
        .chars()
        .any(|c| c.is_numeric() && !c.is_ascii_digit())
    {
        v.add(field, "must use ASCII digits, not full-width ones");
    } else if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || c == 'x' || c == 'X')
    {
        v.add(field, "must contain only digits and a final X");
    } else if trimmed.len() != 18 && trimmed.len() != 15 {
        v.add(
            field,
            format!("must be 18 characters, got {}", trimmed.len()),
        );
    }
    trimmed
}

fn address_change(
    change: &pb::AddressChange,
    v: &mut Violations,
) -> Option<(NaiveDate, MoveScope)> {
    let moved_on = check(
        v,
        "address_change.moved_on",
        validate::date(&change.moved_on),
    );
    let scope = match pb::MoveScope::try_from(change.scope) {
        Ok(pb::MoveScope::WithinCounty) => Some(MoveScope::WithinCounty),
        Ok(pb::MoveScope::CrossCounty) => Some(MoveScope::CrossCounty),
        Ok(pb::MoveScope::Unspecified) => {
            v.add("address_change.scope", "is required");
            None
        }
        Err(_) => {
            v.add(
                "address_change.scope",
                format!("unknown value {}", change.scope),
            );
            None
        }
    };
    Some((moved_on?, scope?))
}

fn delivery(
    delivery: Option<&pb::Delivery>,
    item: &ServiceItem,
    v: &mut Violations,
) -> Option<DeliveryRequest> {
    let Some(delivery) = delivery else {
        v.add("delivery", "is required");
        return None;
    };
    let method = match pb::DeliveryMethod::try_from(delivery.method) {
        Ok(pb::DeliveryMethod::Pickup) if item.delivery.pickup => DeliveryMethod::Pickup,
        Ok(pb::DeliveryMethod::Courier) if item.delivery.courier => DeliveryMethod::Courier,
        Ok(pb::DeliveryMethod::Pickup | pb::DeliveryMethod::Courier) => {
            v.add(
                "delivery.method",
                "this delivery method is not offered for this service",
            );
            return None;
        }
        Ok(pb::DeliveryMethod::Unspecified) => {
            v.add("delivery.method", "is required");
            return None;
        }
        Err(_) => {
            v.add(
                "delivery.method",
                format!("unknown value {}", delivery.method),
            );
            return None;
        }
    };
    if method == DeliveryMethod::Pickup {
        return Some(DeliveryRequest {
            method,
            recipient: None,
        });
    }
    let name = check(
        v,
        "delivery.recipient_name",
        validate::person_name(&delivery.recipient_name),
    );
    let phone = check(
        v,
        "delivery.recipient_phone",
        validate::mobile_phone(&delivery.recipient_phone),
    );
    let address = check(
        v,
        "delivery.recipient_address",
        validate::line(&delivery.recipient_address, 5, 120),
    );
    let recipient = Recipient {
        name: name?,
        phone: phone?,
        address: address?,
    };
    Some(DeliveryRequest {
        method,
        recipient: Some(recipient),
    })
}

fn materials(materials: &[pb::Material], field: &str, v: &mut Violations) -> Vec<MaterialKind> {
    if materials.len() > 32 {
        v.add(field, "must list at most 32 materials");
        return Vec::new();
    }
    let mut kinds = Vec::with_capacity(materials.len());
    for (index, material) in materials.iter().enumerate() {
        let kind = match pb::MaterialKind::try_from(material.kind) {
            Ok(pb::MaterialKind::ResidencePermit) => Some(MaterialKind::ResidencePermit),
            Ok(pb::MaterialKind::IdCard) => Some(MaterialKind::IdCard),
            Ok(pb::MaterialKind::ProofOfResidence) => Some(MaterialKind::ProofOfResidence),
            Ok(pb::MaterialKind::ProofOfEmployment) => Some(MaterialKind::ProofOfEmployment),
            Ok(pb::MaterialKind::ProofOfStudy) => Some(MaterialKind::ProofOfStudy),
            Ok(pb::MaterialKind::AgentIdCard) => Some(MaterialKind::AgentIdCard),
            Ok(pb::MaterialKind::ProofOfRelationship) => Some(MaterialKind::ProofOfRelationship),
            Ok(pb::MaterialKind::Unspecified) => {
                v.add(format!("{field}[{index}].kind"), "is required");
                None
            }
            Err(_) => {
                v.add(
                    format!("{field}[{index}].kind"),
                    format!("unknown value {}", material.kind),
                );
                None
            }
        };
        let reference = validate::line(&material.reference, 1, 128);
        if let Err(problem) = &reference {
            v.add(format!("{field}[{index}].reference"), problem.clone());
        }
        if let Some(kind) = kind
            && !kinds.contains(&kind)
        {
            kinds.push(kind);
        }
    }
    kinds
}

fn agent_input(agent: &pb::Agent, v: &mut Violations) -> Option<AgentInput> {
    let name = check(v, "agent.name", validate::person_name(&agent.name));
    let id_number = id_number("agent.id_number", &agent.id_number, v);
    let phone = check(v, "agent.phone", validate::mobile_phone(&agent.phone));
    let relation = match pb::AgentRelation::try_from(agent.relation) {
        Ok(pb::AgentRelation::Guardian) => Some(AgentRelation::Guardian),
        Ok(pb::AgentRelation::CloseRelative) => Some(AgentRelation::CloseRelative),
        Ok(pb::AgentRelation::Other) => Some(AgentRelation::Other),
        Ok(pb::AgentRelation::Unspecified) => {
            v.add("agent.relation", "is required");
            None
        }
        Err(_) => {
            v.add(
                "agent.relation",
                format!("unknown value {}", agent.relation),
            );
            None
        }
    };
    Some(AgentInput {
        name: name?,
        id_number,
        phone: phone?,
        relation: relation?,
    })
}
