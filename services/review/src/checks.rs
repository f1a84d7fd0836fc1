//! The automatic checks (自动审核). Pure: the application and the service item in, findings
//! out. Any finding sends the case to a reviewer of its town; a case with none goes on to the
//! decision by itself.

use residence_events::{Application, Finding};
use residence_item::ServiceItem;
use residence_rules::IdNumber;
use residence_rules::materials::AGENT_ALWAYS_ALLOWED_UNDER_AGE;

// TODO(review): a holder's name that does not match their ID number cannot be detected: that
// needs the population register (人口信息核查), which the system cannot query yet.

/// Every check that fails on `application`; empty when it passes.
pub fn run(application: &Application, item: &ServiceItem) -> Vec<Finding> {
    let mut findings = Vec::new();
    if !within_jurisdiction(&application.residence_address, item) {
        findings.push(Finding {
            code: "address_outside_jurisdiction".into(),
            message: format!(
                "居住地址不在{}管辖范围内（{}），应向实际居住地办理签注。",
                item.implementing_body.name,
                item.implementing_body.jurisdiction.join("、")
            ),
        });
    }
    match IdNumber::parse(&application.holder.id_number) {
        Err(_) => findings.push(Finding {
            code: "id_number_invalid".into(),
            message: "公民身份号码未通过校验。".into(),
        }),
        Ok(id) => {
            let age = id.age_on(application.applied_on);
            if age < AGENT_ALWAYS_ALLOWED_UNDER_AGE && application.agent.is_some() {
                findings.push(Finding {
                    code: "agent_for_minor".into(),
                    message: format!(
                        "持证人未满{AGENT_ALWAYS_ALLOWED_UNDER_AGE}周岁（{age}岁），由代办人申请，\
                         需人工核对监护关系证明。"
                    ),
                });
            }
        }
    }
    if application.permit_valid_until > application.applied_on + chrono::Months::new(2) {
        findings.push(Finding {
            code: "validity_inconsistent".into(),
            message: "居住证有效期与签注期限不符。".into(),
        });
    }
    findings
}

fn within_jurisdiction(address: &str, item: &ServiceItem) -> bool {
    item.implementing_body
        .jurisdiction
        .iter()
        .any(|place| address.contains(place.as_str()))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use residence_events::{
        AgentSummary, Channel, DeliveryMethod, DeliveryRequest, Holder, Timeliness,
    };

    use super::*;

    fn item() -> ServiceItem {
        ServiceItem::parse(include_str!("../../../deploy/service-item.toml")).unwrap()
    }

    fn application(address: &str) -> Application {
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        Application {
            case_number: "C-1".into(),
            channel: Channel::Online,
            holder: Holder {
                name: "测试人".into(),
                id_number: "411721199001011237".into(),
                phone: "13800000000".into(),
            },
            permit_valid_until: day + chrono::Days::new(10),
            applied_on: day,
            timeliness: Timeliness::OnTime,
            residence_address: address.into(),
            address_change: None,
            delivery: DeliveryRequest {
                method: DeliveryMethod::Pickup,
                recipient: None,
            },
            agent: None,
        }
    }

    #[test]
    fn an_address_in_the_county_passes() {
        assert!(run(&application("河南省驻马店市西平县五沟营镇东街1号"), &item()).is_empty());
    }

    #[test]
    fn an_address_elsewhere_fails_with_its_finding() {
        let findings = run(&application("河南省驻马店市遂平县车站街3号"), &item());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "address_outside_jurisdiction");
    }

    #[test]
    fn an_agent_for_a_minor_goes_to_a_person_and_an_adult_holder_does_not() {
        let guardian = AgentSummary {
            name: "测试监护人".into(),
            relation: "guardian".into(),
        };
        // Born 2015-03-07: eleven years old on the day of application.
        let mut child = application("河南省驻马店市西平县五沟营镇东街1号");
        child.holder.id_number = "41172120150307123X".into();
        child.agent = Some(guardian.clone());
        let findings = run(&child, &item());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, "agent_for_minor");
        assert!(
            findings[0].message.contains("11岁"),
            "{}",
            findings[0].message
        );

        let mut adult = application("河南省驻马店市西平县五沟营镇东街1号");
        adult.agent = Some(guardian);
        assert!(run(&adult, &item()).is_empty());
    }
}
