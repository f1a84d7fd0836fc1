//! Required materials (申请材料) and who may submit them for the applicant.
//!
//! Missing materials are reported all at once, as one notice (一次性告知), never one at a time.

use serde::{Deserialize, Serialize};

pub use crate::endorsement::{AgentPolicy, Refusal, Switches};

/// Below this age a guardian or close relative may always act for the principal (条例 Art. 9).
pub const AGENT_ALWAYS_ALLOWED_UNDER_AGE: u32 = 16;

/// A document the application needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaterialKind {
    /// The residence permit: the card, or its data for online cases.
    ResidencePermit,
    /// The principal's citizen identity card.
    IdCard,
    /// Proof of lawful stable residence: lease or property certificate.
    ProofOfResidence,
    /// Proof of lawful stable employment: labour contract or social insurance record.
    ProofOfEmployment,
    /// Proof of continuous study: enrolment certificate.
    ProofOfStudy,
    /// The agent's own identity card.
    AgentIdCard,
    /// Proof of the agent's relationship: household register or birth certificate.
    ProofOfRelationship,
}

/// Any one of these proves the ground for residence.
pub const PROOFS_OF_GROUND: [MaterialKind; 3] = [
    MaterialKind::ProofOfResidence,
    MaterialKind::ProofOfEmployment,
    MaterialKind::ProofOfStudy,
];

impl MaterialKind {
    /// Stable snake_case code, e.g. `proof_of_residence`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ResidencePermit => "residence_permit",
            Self::IdCard => "id_card",
            Self::ProofOfResidence => "proof_of_residence",
            Self::ProofOfEmployment => "proof_of_employment",
            Self::ProofOfStudy => "proof_of_study",
            Self::AgentIdCard => "agent_id_card",
            Self::ProofOfRelationship => "proof_of_relationship",
        }
    }

    /// The name shown to applicants.
    pub fn name_zh(&self) -> &'static str {
        match self {
            Self::ResidencePermit => "居住证",
            Self::IdCard => "居民身份证",
            Self::ProofOfResidence => "合法稳定住所证明（租赁合同、房屋产权证明等）",
            Self::ProofOfEmployment => "合法稳定就业证明（劳动合同、社会保险缴纳记录等）",
            Self::ProofOfStudy => "连续就读证明（在校就读证明等）",
            Self::AgentIdCard => "代办人居民身份证",
            Self::ProofOfRelationship => "代办人与申请人关系证明（户口簿、出生医学证明等）",
        }
    }
}

/// One line of the missing-materials notice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingItem {
    /// This document is required.
    Material(MaterialKind),
    /// Any one of these documents is required; render them as a single line.
    OneOf(Vec<MaterialKind>),
}

impl MissingItem {
    /// The line shown to applicants; alternatives are joined with 或.
    pub fn name_zh(&self) -> String {
        match self {
            Self::Material(kind) => kind.name_zh().to_owned(),
            Self::OneOf(kinds) => {
                let names: Vec<_> = kinds.iter().map(MaterialKind::name_zh).collect();
                format!("{}（任选其一）", names.join("或"))
            }
        }
    }
}

/// Who the agent is to the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRelation {
    /// 监护人
    Guardian,
    /// 近亲属
    CloseRelative,
    /// Anyone else.
    Other,
}

/// The person submitting on the principal's behalf (代办人).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Who the agent is to the principal.
    pub relation: AgentRelation,
}

/// Everything still missing, for one notice, in a fixed order.
///
/// Returns [`MissingItem`]s rather than bare kinds so that "one of three proofs" stays a single
/// item. Required: the residence permit, the ID card and one proof of residence, employment or
/// study; with an agent, also the agent's ID card and proof of relationship. Empty when
/// complete.
pub fn missing(provided: &[MaterialKind], agent: Option<&AgentInfo>) -> Vec<MissingItem> {
    let lacks = |kind: &MaterialKind| !provided.contains(kind);
    let principal = [MaterialKind::ResidencePermit, MaterialKind::IdCard];
    let mut items: Vec<_> = principal
        .into_iter()
        .filter(lacks)
        .map(MissingItem::Material)
        .collect();
    if PROOFS_OF_GROUND.iter().all(lacks) {
        items.push(MissingItem::OneOf(PROOFS_OF_GROUND.to_vec()));
    }
    if agent.is_some() {
        let agent_documents = [MaterialKind::AgentIdCard, MaterialKind::ProofOfRelationship];
        items.extend(
            agent_documents
                .into_iter()
                .filter(lacks)
                .map(MissingItem::Material),
        );
    }
    items
}

/// Whether an agent with this `relation` may submit for a principal aged `principal_age`.
///
/// Under 16, a guardian or close relative may always act (条例 Art. 9); from 16 on, the
/// deployment's [`AgentPolicy`] decides.
pub fn agent_allowed(
    principal_age: u32,
    relation: AgentRelation,
    switches: &Switches,
) -> Result<(), Refusal> {
    let family = matches!(
        relation,
        AgentRelation::Guardian | AgentRelation::CloseRelative
    );
    let policy = if principal_age < AGENT_ALWAYS_ALLOWED_UNDER_AGE {
        AgentPolicy::GuardianOrCloseRelative
    } else {
        switches.agent_for_adults
    };
    match policy {
        AgentPolicy::AnyAgent => Ok(()),
        AgentPolicy::GuardianOrCloseRelative if family => Ok(()),
        AgentPolicy::GuardianOrCloseRelative => Err(Refusal::AgentNotAllowed),
        AgentPolicy::InPersonOnly => Err(Refusal::InPersonRequired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MaterialKind::*;

    const GUARDIAN: AgentInfo = AgentInfo {
        relation: AgentRelation::Guardian,
    };

    #[test]
    fn complete_application_misses_nothing() {
        assert_eq!(missing(&[ResidencePermit, IdCard, ProofOfStudy], None), []);
        let with_agent = [
            ProofOfRelationship,
            AgentIdCard,
            ProofOfEmployment,
            IdCard,
            ResidencePermit,
        ];
        assert_eq!(missing(&with_agent, Some(&GUARDIAN)), []);
    }

    #[test]
    fn lists_everything_missing_at_once() {
        let expected = [
            MissingItem::Material(ResidencePermit),
            MissingItem::Material(IdCard),
            MissingItem::OneOf(PROOFS_OF_GROUND.to_vec()),
            MissingItem::Material(AgentIdCard),
            MissingItem::Material(ProofOfRelationship),
        ];
        assert_eq!(missing(&[], Some(&GUARDIAN)), expected);
    }

    #[test]
    fn proofs_are_one_item_after_the_principal_documents() {
        let items = missing(&[IdCard, AgentIdCard], Some(&GUARDIAN));
        assert_eq!(
            items,
            [
                MissingItem::Material(ResidencePermit),
                MissingItem::OneOf(PROOFS_OF_GROUND.to_vec()),
                MissingItem::Material(ProofOfRelationship),
            ]
        );
        let line = items.get(1).unwrap().name_zh();
        assert!(
            line.starts_with("合法稳定住所证明") && line.ends_with("（任选其一）"),
            "{line}"
        );
    }

    #[test]
    fn minors_may_use_a_guardian_or_close_relative_only() {
        let open = Switches {
            agent_for_adults: AgentPolicy::AnyAgent,
            ..Switches::default()
        };
        assert_eq!(agent_allowed(15, AgentRelation::Guardian, &open), Ok(()));
        assert_eq!(
            agent_allowed(15, AgentRelation::CloseRelative, &Switches::default()),
            Ok(())
        );
        assert_eq!(
            agent_allowed(15, AgentRelation::Other, &open),
            Err(Refusal::AgentNotAllowed)
        );
    }

    #[test]
    fn adults_follow_the_switch() {
        let default = Switches::default();
        assert_eq!(
            agent_allowed(16, AgentRelation::CloseRelative, &default),
            Ok(())
        );
        assert_eq!(
            agent_allowed(40, AgentRelation::Other, &default),
            Err(Refusal::AgentNotAllowed)
        );
        let strict = Switches {
            agent_for_adults: AgentPolicy::InPersonOnly,
            ..default
        };
        assert_eq!(agent_allowed(15, AgentRelation::Guardian, &strict), Ok(()));
        assert_eq!(
            agent_allowed(16, AgentRelation::Guardian, &strict),
            Err(Refusal::InPersonRequired)
        );
        let open = Switches {
            agent_for_adults: AgentPolicy::AnyAgent,
            ..default
        };
        assert_eq!(agent_allowed(40, AgentRelation::Other, &open), Ok(()));
    }

    #[test]
    fn codes_are_snake_case() {
        assert_eq!(ProofOfRelationship.code(), "proof_of_relationship");
        assert_eq!(
            serde_json::to_value(AgentIdCard).unwrap(),
            AgentIdCard.code()
        );
    }
}
