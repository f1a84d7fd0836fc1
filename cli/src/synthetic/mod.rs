//! Seeded synthetic applications from made-up residents of 西平县, in a realistic mix that
//! includes the cases intake must refuse, review must deny and intake must send back for a
//! missing proof (补正).
//!
//! Every block of 20 applications holds exactly the [`DECK`]; the order within a block, the
//! people, channels and delivery methods come from the seed. What the applicants do later, such
//! as withdrawing or rating their case, is in [`feedback`].

pub mod feedback;
mod id_number;
mod person;

use chrono::{Days, Months, NaiveDate};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use residence_proto::v1 as pb;

pub use id_number::check_character;
pub use person::{HONG_KONG_PREFIX, Person, REGION_CODES};

/// What an application is meant to exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Inside the endorsement window, everything in order.
    OnTime,
    /// Up to 90 days after `valid_until`: a late endorsement (补办), still accepted.
    Late,
    /// Moved within the county a few days ago.
    WithinCountyMove,
    /// A holder under 16, submitted by a guardian with the agent's materials.
    MinorWithGuardian,
    /// No proof of residence, employment or study at first; supplied when asked.
    MissingProof,
    /// Lives in 遂平县, outside the jurisdiction: accepted, then denied.
    OutsideJurisdiction,
    /// More than a month before `valid_until`: refused.
    TooEarly,
    /// A Hong Kong residents' permit, which has no annual endorsement: refused.
    HongKongResident,
    /// Moved across counties: not an endorsement, refused.
    CrossCountyMove,
    /// An ID number with a wrong check character: refused.
    InvalidIdNumber,
    /// An adult holder represented by someone outside the family: refused under the shipped
    /// rule that only a guardian or close relative may act for an adult.
    UnrelatedAgent,
}

/// How an application should end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// Accepted, approved and delivered or collected.
    Approved,
    /// Accepted, then denied by review and decision.
    Denied,
    /// Refused at acceptance (不予受理).
    Refused,
}

impl Scenario {
    /// How an application of this scenario should end.
    pub fn expected(self) -> Expected {
        match self {
            Self::OnTime
            | Self::Late
            | Self::WithinCountyMove
            | Self::MinorWithGuardian
            | Self::MissingProof => Expected::Approved,
            Self::OutsideJurisdiction => Expected::Denied,
            Self::TooEarly
            | Self::HongKongResident
            | Self::CrossCountyMove
            | Self::InvalidIdNumber
            | Self::UnrelatedAgent => Expected::Refused,
        }
    }
}

/// How many of every 20 applications follow each scenario.
pub const DECK: [(Scenario, usize); 11] = [
    (Scenario::OnTime, 8),
    (Scenario::Late, 3),
    (Scenario::WithinCountyMove, 1),
    (Scenario::MinorWithGuardian, 1),
    (Scenario::MissingProof, 1),
    (Scenario::OutsideJurisdiction, 1),
    (Scenario::TooEarly, 1),
    (Scenario::HongKongResident, 1),
    (Scenario::CrossCountyMove, 1),
    (Scenario::InvalidIdNumber, 1),
    (Scenario::UnrelatedAgent, 1),
];

/// Applications per deck.
pub const DECK_SIZE: usize = 20;

/// Share of applicants, other than minors, who ask for courier delivery.
pub const COURIER_SHARE: f64 = 0.45;

/// One synthetic application and what to send if intake asks for more.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticApplication {
    /// What the application is meant to exercise.
    pub scenario: Scenario,
    /// The request to submit.
    pub request: pb::SubmitApplicationRequest,
    /// Materials to supply when intake asks for them (补正); empty unless left out on purpose.
    pub supplement: Vec<pb::Material>,
}

impl SyntheticApplication {
    /// Whether someone submits on the holder's behalf.
    pub fn has_agent(&self) -> bool {
        self.request.agent.is_some()
    }

    /// How the holder asked to receive the endorsed permit.
    pub fn delivery_method(&self) -> pb::DeliveryMethod {
        self.request
            .delivery
            .as_ref()
            .and_then(|delivery| pb::DeliveryMethod::try_from(delivery.method).ok())
            .unwrap_or(pb::DeliveryMethod::Unspecified)
    }
}

/// `count` applications for `today` from `seed`.
pub fn applications(seed: u64, today: NaiveDate, count: usize) -> Vec<SyntheticApplication> {
    Generator::new(seed, today).take(count).collect()
}

/// An endless, seeded stream of applications; the same seed and day give the same stream.
#[derive(Clone, Debug)]
pub struct Generator {
    rng: StdRng,
    today: NaiveDate,
    issued: usize,
    deck: Vec<Scenario>,
}

impl Generator {
    /// A generator for applications submitted on `today` (China time).
    pub fn new(seed: u64, today: NaiveDate) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            today,
            issued: 0,
            deck: Vec::new(),
        }
    }

    fn next_scenario(&mut self) -> Scenario {
        if self.deck.is_empty() {
            self.deck = DECK
                .iter()
                .flat_map(|&(scenario, count)| std::iter::repeat_n(scenario, count))
                .collect();
            self.deck.shuffle(&mut self.rng);
        }
        self.deck.pop().unwrap_or(Scenario::OnTime)
    }

    fn application(&mut self, scenario: Scenario) -> SyntheticApplication {
        let today = self.today;
        let rng = &mut self.rng;
        let holder = match scenario {
            Scenario::MinorWithGuardian => person::person(rng, today, 6..=14, None),
            Scenario::HongKongResident => person::hong_kong_resident(rng, today),
            _ => person::person(rng, today, 18..=65, None),
        };
        let address = match scenario {
            Scenario::OutsideJurisdiction => person::neighbouring_county_address(rng),
            _ => person::home_address(rng),
        };
        let id_number = match scenario {
            Scenario::InvalidIdNumber => id_number::with_wrong_check(&holder.id_number),
            _ => holder.id_number.clone(),
        };
        let agent = match scenario {
            Scenario::MinorWithGuardian => {
                let surname: String = holder.name.chars().take(1).collect();
                let guardian = person::person(rng, today, 30..=50, Some(&surname));
                Some(agent(guardian, pb::AgentRelation::Guardian))
            }
            Scenario::UnrelatedAgent => {
                let stranger = person::person(rng, today, 25..=60, None);
                Some(agent(stranger, pb::AgentRelation::Other))
            }
            _ => None,
        };

        let scan = self.issued + 1;
        let proof = proof(rng, scenario, scan);
        let mut materials = vec![
            material(pb::MaterialKind::ResidencePermit, scan, 1),
            material(pb::MaterialKind::IdCard, scan, 2),
        ];
        let supplement = if scenario == Scenario::MissingProof {
            vec![proof]
        } else {
            materials.push(proof);
            Vec::new()
        };
        if agent.is_some() {
            materials.push(material(pb::MaterialKind::AgentIdCard, scan, 4));
            materials.push(material(pb::MaterialKind::ProofOfRelationship, scan, 5));
        }

        // A guardian collects a child's permit at the window.
        let courier = scenario != Scenario::MinorWithGuardian && rng.gen_bool(COURIER_SHARE);
        let delivery = delivery(courier, &holder, &address);
        let request = pb::SubmitApplicationRequest {
            client_request_id: uuid::Builder::from_random_bytes(rng.r#gen())
                .into_uuid()
                .to_string(),
            channel: channel(rng).into(),
            applicant: Some(pb::Applicant {
                name: holder.name,
                id_number,
                phone: holder.phone,
            }),
            permit: Some(pb::Permit {
                valid_until: iso(valid_until(rng, scenario, today)),
            }),
            residence_address: address,
            address_change: address_change(rng, scenario, today),
            delivery: Some(delivery),
            materials,
            agent,
        };
        SyntheticApplication {
            scenario,
            request,
            supplement,
        }
    }
}

fn agent(person: person::Person, relation: pb::AgentRelation) -> pb::Agent {
    pb::Agent {
        name: person.name,
        id_number: person.id_number,
        phone: person.phone,
        relation: relation.into(),
    }
}

impl Iterator for Generator {
    type Item = SyntheticApplication;

    fn next(&mut self) -> Option<SyntheticApplication> {
        let scenario = self.next_scenario();
        let application = self.application(scenario);
        self.issued += 1;
        Some(application)
    }
}

/// The permit's `valid_until`: inside the window for most, after it for late ones, and more
/// than a month ahead for the too-early ones.
fn valid_until(rng: &mut StdRng, scenario: Scenario, today: NaiveDate) -> NaiveDate {
    match scenario {
        Scenario::Late => today - Days::new(rng.gen_range(1..=90)),
        Scenario::TooEarly => {
            // Month arithmetic clamps to the month's end, which can take back up to 3 days;
            // starting 4 or more days out keeps the window's opening after today.
            let start = today + Days::new(rng.gen_range(4..=10));
            start.checked_add_months(Months::new(1)).unwrap_or(start)
        }
        // A month is never shorter than 28 days, so this always lies inside the window.
        _ => today + Days::new(rng.gen_range(0..=27)),
    }
}

fn address_change(
    rng: &mut StdRng,
    scenario: Scenario,
    today: NaiveDate,
) -> Option<pb::AddressChange> {
    let scope = match scenario {
        Scenario::WithinCountyMove => pb::MoveScope::WithinCounty,
        Scenario::CrossCountyMove => pb::MoveScope::CrossCounty,
        _ => return None,
    };
    Some(pb::AddressChange {
        moved_on: iso(today - Days::new(rng.gen_range(1..=10))),
        scope: scope.into(),
    })
}

fn channel(rng: &mut StdRng) -> pb::Channel {
    match rng.gen_range(0..100) {
        0..35 => pb::Channel::Window,
        35..85 => pb::Channel::Online,
        _ => pb::Channel::SelfServiceTerminal,
    }
}

fn delivery(courier: bool, holder: &Person, address: &str) -> pb::Delivery {
    if !courier {
        return pb::Delivery {
            method: pb::DeliveryMethod::Pickup.into(),
            ..pb::Delivery::default()
        };
    }
    pb::Delivery {
        method: pb::DeliveryMethod::Courier.into(),
        recipient_name: holder.name.clone(),
        recipient_phone: holder.phone.clone(),
        recipient_address: address.to_owned(),
    }
}

/// One proof: of study for children, otherwise of residence or of employment.
fn proof(rng: &mut StdRng, scenario: Scenario, scan: usize) -> pb::Material {
    let kind = match scenario {
        Scenario::MinorWithGuardian => pb::MaterialKind::ProofOfStudy,
        _ if rng.gen_bool(0.6) => pb::MaterialKind::ProofOfResidence,
        _ => pb::MaterialKind::ProofOfEmployment,
    };
    material(kind, scan, 3)
}

fn material(kind: pb::MaterialKind, scan: usize, page: u32) -> pb::Material {
    pb::Material {
        kind: kind.into(),
        reference: format!("scan-{scan:06}-{page}"),
    }
}

fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests;
