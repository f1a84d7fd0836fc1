//! The annual endorsement (年度签注): when it may be done and what validity it gives.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::dates::{add_months, add_year, sub_months};
use crate::id_number::HolderKind;

/// Which permit the application concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitKind {
    /// 居住证, endorsed once a year.
    #[default]
    Residence,
    /// 港澳台居民居住证, valid 5 years with no annual endorsement.
    HongKongMacaoTaiwan,
}

impl PermitKind {
    /// Stable code: `residence` or `hong_kong_macao_taiwan`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Residence => "residence",
            Self::HongKongMacaoTaiwan => "hong_kong_macao_taiwan",
        }
    }

    /// The permit a holder of this kind carries.
    pub fn of_holder(holder: HolderKind) -> Self {
        if holder.is_hong_kong_macao_taiwan() {
            Self::HongKongMacaoTaiwan
        } else {
            Self::Residence
        }
    }

    /// Years of validity from issue or from the last endorsement.
    pub fn validity_years(&self) -> u32 {
        match self {
            Self::Residence => 1,
            Self::HongKongMacaoTaiwan => 5,
        }
    }
}

/// Where an application stands against the endorsement window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Before the window opens: refused at pre-review (预审), with the opening date.
    TooEarly,
    /// Inside the window: validity extends from the old `valid_until`.
    OnTime,
    /// After `valid_until`: accepted as a late endorsement (补办) that restarts residence.
    Late,
    /// Not an endorsement this system can grant; see the [`Refusal`].
    Refused,
}

impl Outcome {
    /// Stable code: `too_early`, `on_time`, `late` or `refused`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooEarly => "too_early",
            Self::OnTime => "on_time",
            Self::Late => "late",
            Self::Refused => "refused",
        }
    }
}

/// Why an application is refused, with a code for machines and a sentence for the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// A Hong Kong, Macao or Taiwan residents' permit has no annual endorsement.
    NoAnnualEndorsement,
    /// Moving to another county is a new residence registration, not an endorsement.
    CrossCountyMove,
    /// Too long overdue under the deployment's re-registration switch.
    ReregistrationRequired,
    /// The agent is neither guardian nor close relative where one of those is required.
    AgentNotAllowed,
    /// The deployment requires adults to apply in person.
    InPersonRequired,
}

impl Refusal {
    /// Stable code, e.g. `no_annual_endorsement` or `cross_county_move`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoAnnualEndorsement => "no_annual_endorsement",
            Self::CrossCountyMove => "cross_county_move",
            Self::ReregistrationRequired => "reregistration_required",
            Self::AgentNotAllowed => "agent_not_allowed",
            Self::InPersonRequired => "in_person_required",
        }
    }

    /// A short explanation in Chinese for the applicant.
    pub fn explanation_zh(&self) -> &'static str {
        match self {
            Self::NoAnnualEndorsement => {
                "港澳台居民居住证有效期5年，无需年度签注；居住地址变更的，请申请换领新证。"
            }
            Self::CrossCountyMove => {
                "跨县（市、区）迁居不办理签注，请到新居住地办理居住登记，居住满半年后再办理。"
            }
            Self::ReregistrationRequired => {
                "居住证逾期未签注时间超过本地规定期限，请重新办理居住登记。"
            }
            Self::AgentNotAllowed => "代办人须为申请人的监护人或近亲属。",
            Self::InPersonRequired => "本地规定成年申请人须本人办理，不接受代办。",
        }
    }
}

/// Who may submit for an adult principal (16 or over): a per-deployment decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentPolicy {
    /// Adults apply in person.
    InPersonOnly,
    /// A guardian or close relative may act for an adult (条例 Art. 9).
    #[default]
    GuardianOrCloseRelative,
    /// Anyone may act for an adult.
    AnyAgent,
}

/// Per-deployment switches for rules that differ between places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Switches {
    /// Who may act for an adult; default guardian or close relative only.
    pub agent_for_adults: AgentPolicy,
    /// Refuse a late endorsement more than this many months after `valid_until` and ask for a
    /// new residence registration, as some Henan cities do; default off (`None`).
    pub reregister_after_months_late: Option<u32>,
}

/// The result of checking an application against the endorsement window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Assessment {
    /// Where the application stands.
    pub outcome: Outcome,
    /// First day of the window: `valid_until` minus one month, clamped to the month end.
    pub window_opens: NaiveDate,
    /// Last day of the window: `valid_until` itself.
    pub window_closes: NaiveDate,
    /// The validity after endorsement, when it can be endorsed.
    pub new_valid_until: Option<NaiveDate>,
    /// When continuous residence counts from again, for a late endorsement.
    pub residence_counted_from: Option<NaiveDate>,
    /// Why it was refused, when the outcome is `Refused`.
    pub refusal: Option<Refusal>,
}

/// The first `valid_until` of a permit issued on `issued_on`: one year on, clamped to the month
/// end, so a permit issued 2024-02-29 is valid until 2025-02-28.
pub fn first_valid_until(issued_on: NaiveDate) -> NaiveDate {
    add_year(issued_on)
}

/// The day a permit's use is suspended (使用功能中止) when not endorsed: the day after
/// `valid_until`.
pub fn suspended_from(valid_until: NaiveDate) -> NaiveDate {
    valid_until
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX)
}

/// Assesses an application made on `applied_on` with the default [`Switches`].
pub fn assess(valid_until: NaiveDate, applied_on: NaiveDate, kind: PermitKind) -> Assessment {
    assess_with(valid_until, applied_on, kind, &Switches::default())
}

/// Assesses an application made on `applied_on` under the deployment's `switches`.
///
/// The window is `[valid_until − 1 month, valid_until]`, both ends included. On time, the new
/// validity runs one year from the old `valid_until`; late, one year from `applied_on`, and
/// residence counts again from `applied_on`.
pub fn assess_with(
    valid_until: NaiveDate,
    applied_on: NaiveDate,
    kind: PermitKind,
    switches: &Switches,
) -> Assessment {
    let window = Assessment {
        outcome: Outcome::OnTime,
        window_opens: sub_months(valid_until, 1),
        window_closes: valid_until,
        new_valid_until: None,
        residence_counted_from: None,
        refusal: None,
    };
    if kind == PermitKind::HongKongMacaoTaiwan {
        return window.refused(Refusal::NoAnnualEndorsement);
    }
    if applied_on < window.window_opens {
        return Assessment {
            outcome: Outcome::TooEarly,
            ..window
        };
    }
    if applied_on <= valid_until {
        return Assessment {
            new_valid_until: Some(add_year(valid_until)),
            ..window
        };
    }
    if is_too_late(valid_until, applied_on, switches) {
        return window.refused(Refusal::ReregistrationRequired);
    }
    Assessment {
        outcome: Outcome::Late,
        new_valid_until: Some(add_year(applied_on)),
        residence_counted_from: Some(applied_on),
        ..window
    }
}

impl Assessment {
    fn refused(self, refusal: Refusal) -> Self {
        Self {
            outcome: Outcome::Refused,
            refusal: Some(refusal),
            ..self
        }
    }
}

/// True when the re-registration switch is on and `applied_on` is past its limit.
fn is_too_late(valid_until: NaiveDate, applied_on: NaiveDate, switches: &Switches) -> bool {
    switches
        .reregister_after_months_late
        .is_some_and(|months| applied_on > add_months(valid_until, months))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn window_is_one_month_before_valid_until_inclusive() {
        let valid_until = date(2026, 3, 10);
        let opening = assess(valid_until, date(2026, 2, 10), PermitKind::Residence);
        assert_eq!(opening.outcome, Outcome::OnTime);
        assert_eq!(
            (opening.window_opens, opening.window_closes),
            (date(2026, 2, 10), valid_until)
        );
        assert_eq!(opening.new_valid_until, Some(date(2027, 3, 10)));
        let closing = assess(valid_until, valid_until, PermitKind::Residence);
        assert_eq!(closing.outcome, Outcome::OnTime);
        assert_eq!(closing.residence_counted_from, None);
    }

    #[test]
    fn too_early_reports_the_opening_date() {
        let early = assess(date(2026, 3, 10), date(2026, 2, 9), PermitKind::Residence);
        assert_eq!(early.outcome, Outcome::TooEarly);
        assert_eq!(early.window_opens, date(2026, 2, 10));
        assert_eq!((early.new_valid_until, early.refusal), (None, None));
    }

    #[test]
    fn window_opening_clamps_to_the_month_end() {
        assert_eq!(
            assess(date(2026, 3, 31), date(2026, 3, 1), PermitKind::Residence).window_opens,
            date(2026, 2, 28)
        );
        assert_eq!(
            assess(date(2024, 3, 31), date(2024, 3, 1), PermitKind::Residence).window_opens,
            date(2024, 2, 29)
        );
    }

    #[test]
    fn late_endorsement_restarts_residence() {
        let late = assess(date(2026, 3, 10), date(2026, 5, 20), PermitKind::Residence);
        assert_eq!(late.outcome, Outcome::Late);
        assert_eq!(late.new_valid_until, Some(date(2027, 5, 20)));
        assert_eq!(late.residence_counted_from, Some(date(2026, 5, 20)));
        assert_eq!(suspended_from(date(2026, 3, 10)), date(2026, 3, 11));
    }

    #[test]
    fn hong_kong_macao_taiwan_permits_are_refused() {
        let refused = assess(
            date(2026, 3, 10),
            date(2026, 3, 1),
            PermitKind::HongKongMacaoTaiwan,
        );
        assert_eq!(refused.outcome, Outcome::Refused);
        assert_eq!(refused.refusal, Some(Refusal::NoAnnualEndorsement));
        assert_eq!(refused.new_valid_until, None);
        assert_eq!(
            PermitKind::of_holder(HolderKind::Macao),
            PermitKind::HongKongMacaoTaiwan
        );
        assert_eq!(PermitKind::HongKongMacaoTaiwan.validity_years(), 5);
    }

    #[test]
    fn reregistration_switch_is_off_by_default() {
        let years_late = assess(date(2024, 3, 10), date(2026, 5, 20), PermitKind::Residence);
        assert_eq!(years_late.outcome, Outcome::Late);
        assert_eq!(
            Switches::default().agent_for_adults,
            AgentPolicy::GuardianOrCloseRelative
        );
    }

    #[test]
    fn reregistration_switch_refuses_more_than_its_months_late() {
        let switches = Switches {
            reregister_after_months_late: Some(6),
            ..Switches::default()
        };
        let valid_until = date(2026, 3, 31);
        let at_limit = assess_with(
            valid_until,
            date(2026, 9, 30),
            PermitKind::Residence,
            &switches,
        );
        assert_eq!(at_limit.outcome, Outcome::Late);
        let over = assess_with(
            valid_until,
            date(2026, 10, 1),
            PermitKind::Residence,
            &switches,
        );
        assert_eq!(over.outcome, Outcome::Refused);
        assert_eq!(over.refusal, Some(Refusal::ReregistrationRequired));
        assert_eq!(over.residence_counted_from, None);
    }

    #[test]
    fn first_validity_is_one_year_clamped() {
        assert_eq!(first_valid_until(date(2024, 2, 29)), date(2025, 2, 28));
        assert_eq!(first_valid_until(date(2025, 6, 1)), date(2026, 6, 1));
    }

    #[test]
    fn every_refusal_has_a_code_and_explanation() {
        let all = [
            Refusal::NoAnnualEndorsement,
            Refusal::CrossCountyMove,
            Refusal::ReregistrationRequired,
            Refusal::AgentNotAllowed,
            Refusal::InPersonRequired,
        ];
        for refusal in all {
            let json = serde_json::to_value(refusal).unwrap();
            assert_eq!(json, refusal.code());
            assert!(!refusal.explanation_zh().is_empty());
        }
    }

    #[test]
    fn switches_deserialize_with_defaults() {
        let switches: Switches =
            serde_json::from_str(r#"{"reregister_after_months_late": 6}"#).unwrap();
        assert_eq!(
            switches.agent_for_adults,
            AgentPolicy::GuardianOrCloseRelative
        );
        assert_eq!(switches.reregister_after_months_late, Some(6));
    }
}
