//! Whether an application can be accepted: the rules applied to one submission.
//!
//! Pre-review and submission call the same function, so they can never disagree.

use chrono::NaiveDate;
use residence_events::{AddressChange, ReasonItem, Timeliness};
use residence_rules::address_change::{self, MoveOutcome};
use residence_rules::calendar::Calendar;
use residence_rules::endorsement::{self, Outcome, PermitKind, Switches};
use residence_rules::id_number::{IdNumber, IdNumberError};
use residence_rules::materials::{self, AgentInfo, MissingItem};

use crate::request::Submission;

/// The verdict on one application on one day.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Why it cannot be accepted; empty when it can.
    pub refusals: Vec<ReasonItem>,
    /// Everything still missing, for one notice (一次性告知); empty when complete.
    pub missing: Vec<MissingItem>,
    /// Inside the window or late, when the ID number could be read.
    pub timeliness: Option<Timeliness>,
    /// The endorsement window, when the ID number could be read.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// The new validity if endorsed now.
    pub new_valid_until: Option<NaiveDate>,
    pub address_change: Option<AddressChange>,
}

impl Verdict {
    /// Accepted now: nothing refused, nothing missing.
    pub fn is_acceptable(&self) -> bool {
        self.refusals.is_empty() && self.missing.is_empty()
    }

    /// The missing materials as reasons for the one notice.
    pub fn missing_reasons(&self) -> Vec<ReasonItem> {
        self.missing
            .iter()
            .map(|item| ReasonItem {
                code: "material_missing".into(),
                field: "materials".into(),
                message: format!("缺少材料：{}", item.name_zh()),
            })
            .collect()
    }
}

/// Applies every acceptance rule to `submission` on `today`.
pub fn assess(
    submission: &Submission,
    today: NaiveDate,
    calendar: &Calendar,
    switches: &Switches,
) -> Verdict {
    let mut verdict = Verdict {
        refusals: Vec::new(),
        missing: Vec::new(),
        timeliness: None,
        window: None,
        new_valid_until: None,
        address_change: None,
    };

    let holder = check_id(
        &submission.holder_id(today),
        "applicant.id_number",
        &mut verdict.refusals,
    );
    if let Some(holder) = &holder {
        assess_window(submission, holder, today, switches, &mut verdict);
        if let Some(agent) = &submission.agent {
            check_agent(holder, agent, today, switches, &mut verdict.refusals);
        }
    }
    if let Some((moved_on, scope)) = submission.address_change {
        let moved = address_change::assess(moved_on, today, scope, calendar);
        if let Some(refusal) = moved.refusal {
            verdict
                .refusals
                .push(refusal_reason(refusal, "address_change.scope"));
        }
        if moved.outcome != MoveOutcome::Refused {
            verdict.address_change = Some(AddressChange {
                moved_on,
                deadline: moved.deadline.date,
                late: moved.outcome == MoveOutcome::Late,
            });
        }
    }

    let agent = submission.agent.as_ref().map(|agent| AgentInfo {
        relation: agent.relation,
    });
    verdict.missing = materials::missing(&submission.materials, agent.as_ref());
    verdict
}

fn assess_window(
    submission: &Submission,
    holder: &IdNumber,
    today: NaiveDate,
    switches: &Switches,
    verdict: &mut Verdict,
) {
    let kind = PermitKind::of_holder(holder.holder_kind());
    let assessment = endorsement::assess_with(submission.permit_valid_until, today, kind, switches);
    verdict.window = Some((assessment.window_opens, assessment.window_closes));
    verdict.new_valid_until = assessment.new_valid_until;
    match assessment.outcome {
        Outcome::OnTime => verdict.timeliness = Some(Timeliness::OnTime),
        Outcome::Late => verdict.timeliness = Some(Timeliness::Late),
        Outcome::TooEarly => verdict.refusals.push(ReasonItem {
            code: "too_early".into(),
            field: "permit.valid_until".into(),
            message: format!(
                "尚未到签注期限：居住证有效期至{}，请于{}至{}期间办理签注。",
                assessment.window_closes, assessment.window_opens, assessment.window_closes
            ),
        }),
        Outcome::Refused => {
            let refusal = assessment
                .refusal
                .unwrap_or(endorsement::Refusal::NoAnnualEndorsement);
            let field = match refusal {
                endorsement::Refusal::NoAnnualEndorsement => "applicant.id_number",
                _ => "permit.valid_until",
            };
            verdict.refusals.push(refusal_reason(refusal, field));
        }
    }
}

fn check_agent(
    holder: &IdNumber,
    agent: &crate::request::AgentInput,
    today: NaiveDate,
    switches: &Switches,
    refusals: &mut Vec<ReasonItem>,
) {
    check_id(&agent.id(today), "agent.id_number", refusals);
    let age = holder.age_on(today);
    if let Err(refusal) = materials::agent_allowed(age, agent.relation, switches) {
        refusals.push(refusal_reason(refusal, "agent.relation"));
    }
}

fn check_id(
    id: &Result<IdNumber, IdNumberError>,
    field: &str,
    refusals: &mut Vec<ReasonItem>,
) -> Option<IdNumber> {
    match id {
        Ok(id) => Some(id.clone()),
        Err(error) => {
            refusals.push(ReasonItem {
                code: format!("invalid_id_number_{}", error.code()),
                field: field.into(),
                message: id_error_zh(error).into(),
            });
            None
        }
    }
}

fn id_error_zh(error: &IdNumberError) -> &'static str {
    match error {
        IdNumberError::Format => "公民身份号码格式不正确，应为18位。",
        IdNumberError::Region => "公民身份号码的地区码不正确。",
        IdNumberError::BirthDate => "公民身份号码中的出生日期不正确。",
        IdNumberError::Checksum => "公民身份号码校验位不正确，请核对后重新填写。",
        IdNumberError::Legacy15 => {
            "15位身份证号码已于2013年1月1日停止使用，请使用18位居民身份证号码。"
        }
    }
}

fn refusal_reason(refusal: endorsement::Refusal, field: &str) -> ReasonItem {
    ReasonItem {
        code: refusal.code().into(),
        field: field.into(),
        message: refusal.explanation_zh().into(),
    }
}
