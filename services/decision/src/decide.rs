//! The decision itself. Pure: the application and the service item in, approval or denial
//! out.

use residence_events::{Application, Endorsement, Timeliness};
use residence_item::ServiceItem;
use residence_rules::endorsement::{self, Outcome, PermitKind};

/// Approve with this endorsement, or deny on this basis.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// 准予签注.
    Approve(Endorsement),
    /// 不予签注.
    Deny {
        legal_basis: String,
        reasons: Vec<String>,
    },
}

/// Decides a case that passed review by the rules alone.
pub fn decide(application: &Application, item: &ServiceItem) -> Decision {
    match endorse(application, item) {
        Ok(endorsement) => Decision::Approve(endorsement),
        Err(reason) => Decision::Deny {
            legal_basis: item.legal_basis.denial.clone(),
            reasons: vec![reason],
        },
    }
}

/// The endorsement the rules give `application`, or why they give none. Its validity is one
/// year after the old anniversary when on time, one year after the application day when late
/// (补办). The deciding officer's approval of a referred case gets the same endorsement.
pub fn endorse(application: &Application, item: &ServiceItem) -> Result<Endorsement, String> {
    let assessment = endorsement::assess(
        application.permit_valid_until,
        application.applied_on,
        PermitKind::Residence,
    );
    let timeliness = match assessment.outcome {
        Outcome::OnTime => Timeliness::OnTime,
        Outcome::Late => Timeliness::Late,
        Outcome::TooEarly | Outcome::Refused => return Err("申请不在签注期限内。".to_owned()),
    };
    let Some(valid_until) = assessment.new_valid_until else {
        return Err("无法计算签注后的有效期限。".to_owned());
    };
    Ok(Endorsement {
        residence_address: application.residence_address.clone(),
        valid_until,
        issuing_authority: item.implementing_body.issuing_authority.clone(),
        issuing_authority_code: item.implementing_body.credit_code.clone(),
        timeliness,
        residence_counted_from: assessment.residence_counted_from,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use residence_events::{Channel, DeliveryMethod, DeliveryRequest, Holder};

    use super::*;

    fn item() -> ServiceItem {
        ServiceItem::parse(include_str!("../../../deploy/service-item.toml")).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn application(valid_until: &str, applied_on: &str) -> Application {
        Application {
            case_number: "C-1".into(),
            channel: Channel::Window,
            holder: Holder {
                name: "测试人".into(),
                id_number: "411721199001011237".into(),
                phone: "13800000000".into(),
            },
            permit_valid_until: date(valid_until),
            applied_on: date(applied_on),
            timeliness: Timeliness::OnTime,
            residence_address: "河南省驻马店市西平县五沟营镇东街1号".into(),
            address_change: None,
            delivery: DeliveryRequest {
                method: DeliveryMethod::Pickup,
                recipient: None,
            },
            agent: None,
        }
    }

    #[test]
    fn on_time_adds_a_year_to_the_old_anniversary() {
        let Decision::Approve(e) = decide(&application("2026-03-10", "2026-02-10"), &item()) else {
            panic!("expected approval");
        };
        assert_eq!(e.valid_until, date("2027-03-10"));
        assert_eq!(e.timeliness, Timeliness::OnTime);
        assert_eq!(e.issuing_authority, "西平县公安局");
    }

    #[test]
    fn late_restarts_from_the_application_day() {
        let Decision::Approve(e) = decide(&application("2026-03-10", "2026-05-20"), &item()) else {
            panic!("expected approval");
        };
        assert_eq!(e.valid_until, date("2027-05-20"));
        assert_eq!(e.residence_counted_from, Some(date("2026-05-20")));
    }

    #[test]
    fn too_early_is_denied_with_the_legal_basis() {
        let decision = decide(&application("2026-06-10", "2026-02-10"), &item());
        let Decision::Deny {
            legal_basis,
            reasons,
        } = decision
        else {
            panic!("expected denial")
        };
        assert!(legal_basis.contains("居住证暂行条例"));
        assert_eq!(reasons, vec!["申请不在签注期限内。".to_owned()]);
        assert!(endorse(&application("2026-06-10", "2026-02-10"), &item()).is_err());
    }
}
