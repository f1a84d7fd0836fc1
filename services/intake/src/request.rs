//! Turning a gRPC submission into a checked [`Submission`], naming every bad field.

use std::collections::HashMap;

use chrono::NaiveDate;
use residence_events::{Channel, DeliveryMethod, DeliveryRequest, Recipient};
use residence_item::ServiceItem;
use residence_proto::v1 as pb;
use residence_rules::address_change::MoveScope;
use residence_rules::id_number::{IdNumber, IdNumberError};
use residence_rules::materials::{AgentRelation, MaterialKind};
use residence_runtime::grpc::{self, Violations};
use residence_runtime::validate;
use serde::{Deserialize, Serialize};

/// The most materials one request may list.
const MAX_MATERIALS: usize = 32;

/// The longest material reference, in characters.
const MAX_REFERENCE_LENGTH: usize = 128;

/// The longest access code accepted; the codes handed out have 8 characters.
const MAX_ACCESS_CODE_LENGTH: usize = 32;

impl Submission {
    /// The holder's ID number, or why it is not a valid one on `today` (a holder not born yet
    /// has no valid number).
    pub fn holder_id(&self, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        IdNumber::parse_on(&self.id_number, today)
    }
}

impl AgentInput {
    /// The agent's ID number, or why it is not a valid one on `today`.
    pub fn id(&self, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        IdNumber::parse_on(&self.id_number, today)
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

    let (name, id_number, phone) = match &request.applicant {
        None => {
            v.add("applicant", "is required");
            (None, String::new(), None)
        }
        Some(applicant) => applicant_fields(applicant, &mut v),
    };

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

/// Checks the case number and access code that open a case; returns the trimmed number.
pub fn case_access(number: &str, code: &str, v: &mut Violations) -> String {
    let number = grpc::case_number("case_number", number, v);
    let code = validate::trim(code);
    if code.is_empty() {
        v.add("access_code", "must not be empty");
    } else if validate::has_full_width_digit(code) {
        v.add("access_code", validate::HALF_WIDTH_DIGITS);
    } else if code.len() > MAX_ACCESS_CODE_LENGTH
        || !code.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        v.add(
            "access_code",
            format!("must be up to {MAX_ACCESS_CODE_LENGTH} letters and digits"),
        );
    }
    number
}

/// Checks the materials of a supplement, adding every problem to `v`.
pub fn supplement_materials(materials: &[pb::Material], v: &mut Violations) -> Vec<MaterialKind> {
    if materials.is_empty() {
        v.add("materials", "must list at least one material");
    }
    self::materials(materials, "materials", v)
}

fn check<T>(v: &mut Violations, field: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|problem| v.add(field, problem)).ok()
}

fn client_request_id(value: &str, v: &mut Violations) -> String {
    if value.is_empty() {
        v.add("client_request_id", "is required");
        return String::new();
    }
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

fn applicant_fields(
    applicant: &pb::Applicant,
    v: &mut Violations,
) -> (Option<String>, String, Option<String>) {
    let name = check(v, "applicant.name", validate::person_name(&applicant.name));
    let id_number = id_number("applicant.id_number", &applicant.id_number, v);
    let phone = check(
        v,
        "applicant.phone",
        validate::mobile_phone(&applicant.phone),
    );
    (name, id_number, phone)
}

/// An ID number that is not even shaped like one is a malformed request; one that is shaped
/// right but fails a rule (check character, region, birth date, 15 digits) is refused later.
fn id_number(field: &str, raw: &str, v: &mut Violations) -> String {
    let trimmed = validate::trim(raw).to_owned();
    if trimmed.is_empty() {
        v.add(field, "is required");
    } else if validate::has_full_width_digit(&trimmed) {
        v.add(field, validate::HALF_WIDTH_DIGITS);
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
        no_recipient_for_pickup(delivery, v);
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

/// The recipient is for the courier; a pickup that names one is a confused request.
fn no_recipient_for_pickup(delivery: &pb::Delivery, v: &mut Violations) {
    let recipient = [
        ("delivery.recipient_name", &delivery.recipient_name),
        ("delivery.recipient_phone", &delivery.recipient_phone),
        ("delivery.recipient_address", &delivery.recipient_address),
    ];
    for (field, value) in recipient {
        if !validate::trim(value).is_empty() {
            v.add(field, "must be empty unless delivery.method is courier");
        }
    }
}

fn materials(materials: &[pb::Material], field: &str, v: &mut Violations) -> Vec<MaterialKind> {
    if materials.len() > MAX_MATERIALS {
        v.add(
            field,
            format!(
                "must list at most {MAX_MATERIALS} materials, got {}",
                materials.len()
            ),
        );
        return Vec::new();
    }
    let mut kinds = Vec::with_capacity(materials.len());
    let mut references: HashMap<String, usize> = HashMap::new();
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
        let reference_field = format!("{field}[{index}].reference");
        match validate::line(&material.reference, 1, MAX_REFERENCE_LENGTH) {
            Err(problem) => v.add(reference_field, problem),
            Ok(reference) => {
                if let Some(first) = references.get(&reference) {
                    v.add(
                        reference_field,
                        format!("repeats {field}[{first}].reference; list each document once"),
                    );
                } else {
                    references.insert(reference, index);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> ServiceItem {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/service-item.toml"
        );
        ServiceItem::load(std::path::Path::new(path)).unwrap()
    }

    fn material(kind: pb::MaterialKind, reference: &str) -> pb::Material {
        pb::Material {
            kind: kind as i32,
            reference: reference.into(),
        }
    }

    /// A well-formed application for a synthetic holder.
    fn application() -> pb::SubmitApplicationRequest {
        pb::SubmitApplicationRequest {
            client_request_id: "request-0001".into(),
            channel: pb::Channel::Window as i32,
            applicant: Some(pb::Applicant {
                name: "测试申请人".into(),
                id_number: "411721199001011237".into(),
                phone: "13800000000".into(),
            }),
            permit: Some(pb::Permit {
                valid_until: "2026-03-10".into(),
            }),
            residence_address: "河南省驻马店市西平县五沟营镇东街村三组12号".into(),
            address_change: None,
            delivery: Some(pb::Delivery {
                method: pb::DeliveryMethod::Pickup as i32,
                ..Default::default()
            }),
            materials: vec![
                material(pb::MaterialKind::ResidencePermit, "scan-1"),
                material(pb::MaterialKind::IdCard, "scan-2"),
            ],
            agent: None,
        }
    }

    /// The fields an invalid request was refused for, from the status message.
    fn refused_fields(request: &pb::SubmitApplicationRequest) -> String {
        let status = submission(request, &item()).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        status.message().to_owned()
    }

    #[test]
    fn a_well_formed_application_passes() {
        let checked = submission(&application(), &item()).unwrap();
        assert_eq!(checked.name, "测试申请人");
        assert_eq!(checked.materials.len(), 2);
    }

    #[test]
    fn a_missing_applicant_is_one_violation() {
        let mut request = application();
        request.applicant = None;
        assert_eq!(
            refused_fields(&request),
            "invalid request: applicant: is required"
        );
    }

    #[test]
    fn a_pickup_names_no_recipient() {
        let mut request = application();
        request.delivery = Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            recipient_name: "李四".into(),
            recipient_phone: "\u{3000}".into(),
            recipient_address: "\u{200B}".into(),
        });
        let message = refused_fields(&request);
        assert!(message.contains("delivery.recipient_name"), "{message}");
        assert!(!message.contains("delivery.recipient_phone"), "{message}");
        assert!(message.contains("delivery.recipient_address"), "{message}");
    }

    #[test]
    fn a_document_is_listed_once() {
        let mut request = application();
        request.materials.push(material(
            pb::MaterialKind::ProofOfResidence,
            " scan-1\u{3000}",
        ));
        let message = refused_fields(&request);
        assert!(
            message.contains("materials[2].reference: repeats materials[0].reference"),
            "{message}"
        );
    }

    #[test]
    fn too_many_materials_are_refused_with_the_limit() {
        let mut request = application();
        request.materials = (0..1_000)
            .map(|i| material(pb::MaterialKind::IdCard, &format!("scan-{i}")))
            .collect();
        let message = refused_fields(&request);
        assert!(
            message.contains("materials: must list at most 32 materials, got 1000"),
            "{message}"
        );
    }

    #[test]
    fn full_width_digits_and_impossible_dates_are_named() {
        let mut request = application();
        let applicant = request.applicant.as_mut().unwrap();
        applicant.id_number = "４１１７２１１９９００１０１１２３７".into();
        request.permit = Some(pb::Permit {
            valid_until: "0000-01-01".into(),
        });
        let message = refused_fields(&request);
        assert!(
            message.contains("applicant.id_number: must use half-width digits"),
            "{message}"
        );
        assert!(message.contains("permit.valid_until"), "{message}");
    }

    #[test]
    fn case_access_checks_both_arguments() {
        let mut v = Violations::default();
        case_access("１１４１-20261204-000001-X", "AB\u{0}CD", &mut v);
        let message = v.into_result().unwrap_err().message().to_owned();
        assert!(
            message.contains("case_number: must use half-width"),
            "{message}"
        );
        assert!(message.contains("access_code"), "{message}");

        let mut v = Violations::default();
        case_access(" 1141-20261204-000001-X ", " abcd2345 ", &mut v);
        assert!(v.is_empty());
    }
}
