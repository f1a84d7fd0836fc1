//! What the synthetic applicants do besides submitting and answering supplement notices: two
//! withdraw their application (撤回申请), and most rate their closed case (好差评), a few of
//! them dissatisfied, with a comment saying why. Seeded like the applications.
//!
//! Every plan holds, given the applications to make it:
//! - the first application missing a proof is withdrawn on its supplement notice instead of
//!   answered, so it ends before acceptance;
//! - the first guardian's application for a child is withdrawn while it waits in a reviewer's
//!   queue, so it ends after acceptance, before anyone decided it;
//! - the first application meant to be refused is rated 不满意 through the 12345 hotline, so
//!   that a follow-up task (差评整改) opens;
//! - the first on-time application is rated through two channels.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use residence_proto::v1 as pb;

use super::{Expected, Scenario, SyntheticApplication};

/// Share of applicants who rate their closed case.
pub const RATING_SHARE: f64 = 0.6;

/// Weights of the five levels, 非常不满意 to 非常满意, in percent.
const LEVEL_WEIGHTS: [u32; 5] = [3, 4, 10, 25, 58];

/// Added to the seed, so that the plan does not repeat the applications' random choices.
const SEED_OFFSET: u64 = 0x0FEE_DBAC;

/// Why an applicant gives up waiting for materials they do not have.
const WITHDRAWN_AT_NOTICE: &str = "已在原居住地办理，不再需要在本地签注。";

/// Why a guardian withdraws a child's application.
const WITHDRAWN_IN_REVIEW: &str = "孩子已随父母回原籍就读，不再需要签注。";

/// Comments of dissatisfied applicants.
const COMPLAINTS: [&str; 4] = [
    "窗口排队时间太长，工作人员解释不够耐心。",
    "补正材料的要求没有一次说清楚，多跑了一趟。",
    "网上办理页面提示不明确，不知道进度。",
    "邮寄送达比承诺的时间晚了。",
];

/// What the refused applicant of the plan says on the hotline.
const REFUSAL_COMPLAINT: &str = "不予受理的原因没有讲清楚，白跑了一趟。";

/// Comments of satisfied applicants, who often leave none.
const PRAISE: [&str; 3] = [
    "办理很快，工作人员很热情。",
    "网上就能办，省了跑腿。",
    "短信提醒很及时。",
];

/// When an applicant withdraws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithdrawAt {
    /// On the supplement notice at acceptance, instead of supplying the materials.
    SupplementNotice,
    /// While the case waits in a reviewer's queue (人工审核).
    ManualReview,
}

/// A withdrawal an applicant means to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedWithdrawal {
    /// When.
    pub at: WithdrawAt,
    /// Why, in the applicant's words.
    pub reason: String,
}

/// A rating an applicant means to give once the case is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRating {
    /// Where the rating comes from.
    pub channel: pb::RatingChannel,
    /// How satisfied the applicant is.
    pub level: pb::RatingLevel,
    /// What they say; never empty for the two dissatisfied levels.
    pub comment: String,
}

impl PlannedRating {
    /// Whether the rating opens a follow-up task: 不满意 or 非常不满意.
    pub fn is_dissatisfied(&self) -> bool {
        matches!(
            self.level,
            pb::RatingLevel::VeryDissatisfied | pb::RatingLevel::Dissatisfied
        )
    }
}

/// What one applicant does with their case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intent {
    /// The withdrawal, for the few who withdraw.
    pub withdrawal: Option<PlannedWithdrawal>,
    /// The ratings, at most one per channel; empty for those who do not rate.
    pub ratings: Vec<PlannedRating>,
}

/// Every applicant's intent, by the application's `client_request_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    intents: HashMap<String, Intent>,
}

impl Plan {
    /// The plan for `applications`, drawn from `seed`.
    pub fn new(seed: u64, applications: &[SyntheticApplication]) -> Self {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(SEED_OFFSET));
        let mut intents: Vec<Intent> = applications
            .iter()
            .map(|application| Intent {
                withdrawal: None,
                ratings: random_rating(&mut rng, application).into_iter().collect(),
            })
            .collect();

        let first =
            |wanted: fn(&SyntheticApplication) -> bool| applications.iter().position(wanted);
        if let Some(index) = first(|a| a.scenario == Scenario::MissingProof) {
            intents[index].withdrawal = Some(PlannedWithdrawal {
                at: WithdrawAt::SupplementNotice,
                reason: WITHDRAWN_AT_NOTICE.to_owned(),
            });
        }
        if let Some(index) = first(|a| a.scenario == Scenario::MinorWithGuardian) {
            intents[index].withdrawal = Some(PlannedWithdrawal {
                at: WithdrawAt::ManualReview,
                reason: WITHDRAWN_IN_REVIEW.to_owned(),
            });
        }
        if let Some(index) = first(|a| a.scenario.expected() == Expected::Refused) {
            intents[index].ratings = vec![PlannedRating {
                channel: pb::RatingChannel::Hotline,
                level: pb::RatingLevel::Dissatisfied,
                comment: REFUSAL_COMPLAINT.to_owned(),
            }];
        }
        if let Some(index) = first(|a| a.scenario == Scenario::OnTime) {
            intents[index].ratings = vec![
                PlannedRating {
                    channel: pb::RatingChannel::Web,
                    level: pb::RatingLevel::VerySatisfied,
                    comment: PRAISE[1].to_owned(),
                },
                PlannedRating {
                    channel: pb::RatingChannel::Sms,
                    level: pb::RatingLevel::Satisfied,
                    comment: String::new(),
                },
            ];
        }

        let intents = applications
            .iter()
            .map(|application| application.request.client_request_id.clone())
            .zip(intents)
            .collect();
        Self { intents }
    }

    /// What the applicant of the application with `client_request_id` does; nothing beyond
    /// submitting for an application the plan does not know.
    pub fn intent(&self, client_request_id: &str) -> Intent {
        self.intents
            .get(client_request_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every intent, in no particular order.
    pub fn intents(&self) -> impl Iterator<Item = &Intent> {
        self.intents.values()
    }
}

/// A rating for [`RATING_SHARE`] of applicants, through a channel that fits how they applied.
fn random_rating(rng: &mut StdRng, application: &SyntheticApplication) -> Option<PlannedRating> {
    if !rng.gen_bool(RATING_SHARE) {
        return None;
    }
    let channel = match pb::Channel::try_from(application.request.channel) {
        Ok(pb::Channel::Window) if rng.gen_bool(0.7) => pb::RatingChannel::Window,
        Ok(pb::Channel::Online) if rng.gen_bool(0.5) => pb::RatingChannel::Web,
        Ok(pb::Channel::Online) => pb::RatingChannel::App,
        Ok(pb::Channel::SelfServiceTerminal) if rng.gen_bool(0.3) => pb::RatingChannel::Hotline,
        _ => pb::RatingChannel::Sms,
    };
    let level = level(rng);
    let mut rating = PlannedRating {
        channel,
        level,
        comment: String::new(),
    };
    if rating.is_dissatisfied() {
        rating.comment = pick(rng, &COMPLAINTS);
    } else if rng.gen_bool(0.3) {
        rating.comment = pick(rng, &PRAISE);
    }
    Some(rating)
}

fn level(rng: &mut StdRng) -> pb::RatingLevel {
    let mut draw = rng.gen_range(0..LEVEL_WEIGHTS.iter().sum::<u32>());
    for (weight, level) in LEVEL_WEIGHTS.iter().zip(1..) {
        if draw < *weight {
            return pb::RatingLevel::try_from(level).unwrap_or_default();
        }
        draw -= weight;
    }
    pb::RatingLevel::VerySatisfied
}

fn pick(rng: &mut StdRng, texts: &[&str]) -> String {
    texts.choose(rng).copied().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::synthetic::applications;

    fn plan_for(count: usize) -> (Vec<SyntheticApplication>, Plan) {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let applications = applications(3, today, count);
        let plan = Plan::new(3, &applications);
        (applications, plan)
    }

    #[test]
    fn one_withdrawal_before_and_one_after_acceptance() {
        let (applications, plan) = plan_for(60);
        let withdrawals: Vec<(Scenario, WithdrawAt)> = applications
            .iter()
            .filter_map(|application| {
                let intent = plan.intent(&application.request.client_request_id);
                Some((application.scenario, intent.withdrawal?.at))
            })
            .collect();
        assert_eq!(withdrawals.len(), 2, "{withdrawals:?}");
        assert!(withdrawals.contains(&(Scenario::MissingProof, WithdrawAt::SupplementNotice)));
        assert!(withdrawals.contains(&(Scenario::MinorWithGuardian, WithdrawAt::ManualReview)));
    }

    #[test]
    fn ratings_come_through_several_channels_and_complaints_say_why() {
        let (applications, plan) = plan_for(60);
        let ratings: Vec<&PlannedRating> = plan.intents().flat_map(|i| &i.ratings).collect();
        assert!(ratings.len() >= 20, "{}", ratings.len());
        let channels: std::collections::HashSet<pb::RatingChannel> =
            ratings.iter().map(|rating| rating.channel).collect();
        assert!(channels.len() >= 4, "{channels:?}");
        assert!(ratings.iter().any(|rating| rating.is_dissatisfied()));
        for rating in &ratings {
            assert!(!rating.is_dissatisfied() || rating.comment.chars().count() >= 2);
        }

        let refused = applications
            .iter()
            .find(|a| a.scenario.expected() == Expected::Refused)
            .unwrap();
        let intent = plan.intent(&refused.request.client_request_id);
        assert_eq!(intent.ratings[0].channel, pb::RatingChannel::Hotline);
        assert!(intent.ratings[0].is_dissatisfied());
        for intent in plan.intents() {
            let mut channels: Vec<i32> = intent.ratings.iter().map(|r| r.channel as i32).collect();
            channels.dedup();
            assert_eq!(
                channels.len(),
                intent.ratings.len(),
                "one rating per channel"
            );
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_plan() {
        let (applications, plan) = plan_for(40);
        assert_eq!(Plan::new(3, &applications), plan);
        assert_ne!(Plan::new(4, &applications), plan);
        assert_eq!(plan.intent("unknown"), Intent::default());
    }
}
