//! The generator keeps its promises: valid numbers, designed shares, repeatable output.

use std::collections::{HashMap, HashSet};

use chrono::Datelike;
use residence_rules::endorsement::{self, Outcome, PermitKind};
use residence_rules::{HolderKind, IdNumber, IdNumberError, Sex};

use super::*;

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn today() -> NaiveDate {
    day("2026-12-04")
}

fn applicant(application: &SyntheticApplication) -> &pb::Applicant {
    application.request.applicant.as_ref().unwrap()
}

fn valid_until(application: &SyntheticApplication) -> NaiveDate {
    day(&application.request.permit.as_ref().unwrap().valid_until)
}

#[test]
fn every_id_number_parses_as_its_scenario_expects() {
    for application in applications(7, today(), 400) {
        let number = &applicant(&application).id_number;
        match application.scenario {
            Scenario::InvalidIdNumber => {
                assert_eq!(IdNumber::parse(number), Err(IdNumberError::Checksum));
            }
            Scenario::HongKongResident => {
                assert!(number.starts_with(HONG_KONG_PREFIX));
                let parsed = IdNumber::parse(number).unwrap();
                assert_eq!(parsed.holder_kind(), HolderKind::HongKong);
            }
            _ => {
                let parsed = IdNumber::parse_on(number, today()).unwrap();
                assert_eq!(parsed.holder_kind(), HolderKind::Citizen);
                assert!(REGION_CODES.contains(&&number[..6]), "{number}");
                assert_eq!(parsed.as_str(), number);
            }
        }
        if let Some(agent) = &application.request.agent {
            let agent_age = IdNumber::parse_on(&agent.id_number, today())
                .unwrap()
                .age_on(today());
            match application.scenario {
                Scenario::MinorWithGuardian => assert!(agent_age >= 30),
                Scenario::UnrelatedAgent => assert!(agent_age >= 25),
                other => panic!("{other:?} has an agent"),
            }
        }
    }
}

#[test]
fn names_match_the_sex_in_the_id_number_and_minors_are_under_16() {
    for application in applications(8, today(), 400) {
        let holder = applicant(&application);
        assert!(
            (2..=4).contains(&holder.name.chars().count()),
            "{}",
            holder.name
        );
        if application.scenario == Scenario::InvalidIdNumber {
            continue;
        }
        let parsed = IdNumber::parse(&holder.id_number).unwrap();
        let age = parsed.age_on(today());
        match application.scenario {
            Scenario::MinorWithGuardian => {
                assert!(age < 16, "{age}");
                let agent = application.request.agent.as_ref().unwrap();
                assert_eq!(agent.relation, i32::from(pb::AgentRelation::Guardian));
                assert_eq!(agent.name.chars().next(), holder.name.chars().next());
            }
            Scenario::UnrelatedAgent => {
                assert!((18..=65).contains(&age), "{age}");
                let agent = application.request.agent.as_ref().unwrap();
                assert_eq!(agent.relation, i32::from(pb::AgentRelation::Other));
            }
            _ => assert!((18..=65).contains(&age), "{age}"),
        }
        let given: String = holder.name.chars().skip(1).collect();
        let male_name = person::is_male_given_name(&given);
        assert_eq!(male_name, parsed.sex() == Sex::Male, "{}", holder.name);
    }
}

#[test]
fn each_block_of_twenty_holds_the_deck() {
    let all = applications(9, today(), DECK_SIZE * 50);
    for block in all.chunks(DECK_SIZE) {
        let mut counts: HashMap<Scenario, usize> = HashMap::new();
        for application in block {
            *counts.entry(application.scenario).or_default() += 1;
        }
        for (scenario, count) in DECK {
            assert_eq!(
                counts.get(&scenario).copied().unwrap_or(0),
                count,
                "{scenario:?}"
            );
        }
    }
    assert_eq!(
        DECK.iter().map(|(_, count)| count).sum::<usize>(),
        DECK_SIZE
    );
}

#[test]
fn courier_and_channel_shares_are_as_designed() {
    let all = applications(10, today(), 4_000);
    let eligible: Vec<_> = all
        .iter()
        .filter(|a| a.scenario != Scenario::MinorWithGuardian)
        .collect();
    let courier = eligible
        .iter()
        .filter(|a| a.delivery_method() == pb::DeliveryMethod::Courier)
        .count();
    let share = courier as f64 / eligible.len() as f64;
    assert!(
        (share - COURIER_SHARE).abs() < 0.03,
        "courier share {share}"
    );

    let mut channels: HashMap<i32, usize> = HashMap::new();
    for application in &all {
        *channels.entry(application.request.channel).or_default() += 1;
    }
    let window = channels[&pb::Channel::Window.into()] as f64 / all.len() as f64;
    let online = channels[&pb::Channel::Online.into()] as f64 / all.len() as f64;
    let terminal = channels[&pb::Channel::SelfServiceTerminal.into()] as f64 / all.len() as f64;
    assert!((window - 0.35).abs() < 0.03, "window {window}");
    assert!((online - 0.50).abs() < 0.03, "online {online}");
    assert!((terminal - 0.15).abs() < 0.03, "terminal {terminal}");
}

#[test]
fn valid_until_puts_each_scenario_where_it_belongs_on_any_day() {
    let mut date = day("2026-01-01");
    while date <= day("2028-12-31") {
        for application in applications(date.num_days_from_ce() as u64, date, DECK_SIZE) {
            let assessed =
                endorsement::assess(valid_until(&application), date, PermitKind::Residence);
            let expected = match application.scenario {
                Scenario::TooEarly => Outcome::TooEarly,
                Scenario::Late => Outcome::Late,
                _ => Outcome::OnTime,
            };
            assert_eq!(
                assessed.outcome, expected,
                "{:?} on {date}",
                application.scenario
            );
            let gap = (valid_until(&application) - date).num_days();
            match application.scenario {
                Scenario::Late => assert!((-90..=-1).contains(&gap)),
                Scenario::TooEarly => assert!(gap > 30),
                _ => assert!((0..=30).contains(&gap)),
            }
        }
        date = date + Days::new(1);
    }
}

#[test]
fn requests_carry_the_materials_and_addresses_of_their_scenario() {
    for application in applications(11, today(), 200) {
        let request = &application.request;
        let kinds: HashSet<i32> = request.materials.iter().map(|m| m.kind).collect();
        assert!(kinds.contains(&pb::MaterialKind::ResidencePermit.into()));
        assert!(kinds.contains(&pb::MaterialKind::IdCard.into()));
        let has_proof = [
            pb::MaterialKind::ProofOfResidence,
            pb::MaterialKind::ProofOfEmployment,
            pb::MaterialKind::ProofOfStudy,
        ]
        .iter()
        .any(|kind| kinds.contains(&(*kind).into()));
        assert_eq!(has_proof, application.scenario != Scenario::MissingProof);
        assert_eq!(
            application.supplement.len(),
            usize::from(application.scenario == Scenario::MissingProof)
        );
        for material in request.materials.iter().chain(&application.supplement) {
            assert!(
                material.reference.starts_with("scan-"),
                "{}",
                material.reference
            );
        }
        assert_eq!(
            kinds.contains(&pb::MaterialKind::AgentIdCard.into()),
            application.has_agent()
        );

        let in_county = request
            .residence_address
            .starts_with("河南省驻马店市西平县五沟营镇");
        assert_eq!(
            in_county,
            application.scenario != Scenario::OutsideJurisdiction
        );
        assert!(request.residence_address.ends_with('号'));

        let change = request.address_change.as_ref().map(|change| change.scope);
        let expected_change = match application.scenario {
            Scenario::WithinCountyMove => Some(pb::MoveScope::WithinCounty.into()),
            Scenario::CrossCountyMove => Some(pb::MoveScope::CrossCounty.into()),
            _ => None,
        };
        assert_eq!(change, expected_change);

        let delivery = request.delivery.as_ref().unwrap();
        if application.delivery_method() == pb::DeliveryMethod::Courier {
            let holder = applicant(&application);
            assert_eq!(delivery.recipient_name, holder.name);
            assert_eq!(delivery.recipient_phone, holder.phone);
            assert_eq!(delivery.recipient_address, request.residence_address);
        }
    }
}

#[test]
fn phones_and_request_ids_are_well_formed_and_unique() {
    let all = applications(12, today(), 2_000);
    let ids: HashSet<&str> = all
        .iter()
        .map(|a| a.request.client_request_id.as_str())
        .collect();
    assert_eq!(ids.len(), all.len());
    for application in &all {
        let phone = &applicant(application).phone;
        assert_eq!(phone.len(), 11);
        assert!(phone.bytes().all(|b| b.is_ascii_digit()));
        assert!(["13", "15", "18"].contains(&&phone[..2]), "{phone}");
        assert!(uuid::Uuid::parse_str(&application.request.client_request_id).is_ok());
    }
}

#[test]
fn the_same_seed_gives_the_same_applications() {
    let first = applications(2026, today(), 60);
    assert_eq!(first, applications(2026, today(), 60));
    assert_ne!(first, applications(2027, today(), 60));
    assert_eq!(applications(2026, today(), 20), first[..20]);
}
