//! Roles, the actions staff calls perform, and which role may perform which.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a member of staff does. A token names exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 审核人员: works the manual review queue of their town.
    Reviewer,
    /// 决定人员, the deciding officer: approves or denies referred cases, reverses approvals.
    Decider,
    /// Window and operations staff: hands permits over at the window and follows up what the
    /// e-license platforms refused.
    Operator,
    /// 监督人员: reads everything in their scope and changes nothing.
    Supervisor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Self::Reviewer,
        Self::Decider,
        Self::Operator,
        Self::Supervisor,
    ];

    /// Stable lowercase code, as tokens carry it and audit records show it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Decider => "decider",
            Self::Operator => "operator",
            Self::Supervisor => "supervisor",
        }
    }

    /// Whether this role may perform `action`: the one table every service consults.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            Self::Reviewer => matches!(action, ReadCase | ReadReviews | WorkReviews),
            Self::Decider => matches!(
                action,
                ReadCase
                    | ReadReviews
                    | ReadDecisions
                    | Decide
                    | ReverseDecisions
                    | ReadLicenses
                    | ReadReports
            ),
            Self::Operator => matches!(
                action,
                ReadCase
                    | ReadDeliveries
                    | RecordCollections
                    | ReadLicenses
                    | ReadPlatformProblems
                    | ReadReports
                    | ReadFollowUps
                    | WorkFollowUps
            ),
            Self::Supervisor => matches!(
                action,
                ReadCase
                    | ReadReviews
                    | ReadDecisions
                    | ReadDeliveries
                    | ReadLicenses
                    | ReadPlatformProblems
                    | ReadReports
                    | ReadFollowUps
            ),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a staff call does. Every staff-facing gRPC method performs exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read a case as staff, without the applicant's access code (`TrackCase`).
    ReadCase,
    /// See the review queues and reviews (`ListReviewQueue`, `GetReview`).
    ReadReviews,
    /// Claim, release, approve, return for supplement or refer a case under manual review.
    WorkReviews,
    /// See decisions and the referred cases waiting for one.
    ReadDecisions,
    /// Approve or deny a referred case.
    Decide,
    /// Reverse an approval (撤销).
    ReverseDecisions,
    /// See deliveries and the permits waiting at the window.
    ReadDeliveries,
    /// Record that a permit was collected at the window.
    RecordCollections,
    /// Look a license up by its case.
    ReadLicenses,
    /// List what the e-license platforms rejected or never acknowledged.
    ReadPlatformProblems,
    /// See the supervision report: time limits and ratings per town and stage.
    ReadReports,
    /// See the follow-up tasks of dissatisfied ratings.
    ReadFollowUps,
    /// Record the outcome of a follow-up task and close it.
    WorkFollowUps,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 13] = [
        Self::ReadCase,
        Self::ReadReviews,
        Self::WorkReviews,
        Self::ReadDecisions,
        Self::Decide,
        Self::ReverseDecisions,
        Self::ReadDeliveries,
        Self::RecordCollections,
        Self::ReadLicenses,
        Self::ReadPlatformProblems,
        Self::ReadReports,
        Self::ReadFollowUps,
        Self::WorkFollowUps,
    ];

    /// What the action does, for refusals: "a reviewer may not decide cases".
    pub fn describe(self) -> &'static str {
        match self {
            Self::ReadCase => "read cases",
            Self::ReadReviews => "read reviews",
            Self::WorkReviews => "work the review queue",
            Self::ReadDecisions => "read decisions",
            Self::Decide => "decide cases",
            Self::ReverseDecisions => "reverse decisions",
            Self::ReadDeliveries => "read deliveries",
            Self::RecordCollections => "record collections",
            Self::ReadLicenses => "read licenses",
            Self::ReadPlatformProblems => "read e-license platform problems",
            Self::ReadReports => "read supervision reports",
            Self::ReadFollowUps => "read rating follow-ups",
            Self::WorkFollowUps => "close rating follow-ups",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_cases_and_only_supervisors_change_nothing() {
        let writes = [
            Action::WorkReviews,
            Action::Decide,
            Action::ReverseDecisions,
            Action::RecordCollections,
            Action::WorkFollowUps,
        ];
        for role in Role::ALL {
            assert!(role.may(Action::ReadCase), "{role}");
        }
        for action in writes {
            assert!(!Role::Supervisor.may(action), "{action:?}");
            let allowed: Vec<Role> = Role::ALL.into_iter().filter(|r| r.may(action)).collect();
            assert_eq!(
                allowed.len(),
                1,
                "{action:?} is one role's job: {allowed:?}"
            );
        }
    }

    #[test]
    fn roles_keep_to_their_own_stage() {
        assert!(Role::Reviewer.may(Action::WorkReviews));
        assert!(!Role::Reviewer.may(Action::Decide));
        assert!(!Role::Reviewer.may(Action::RecordCollections));
        assert!(Role::Decider.may(Action::Decide));
        assert!(!Role::Decider.may(Action::WorkReviews));
        assert!(Role::Operator.may(Action::RecordCollections));
        assert!(!Role::Operator.may(Action::ReadReviews));
        assert!(Role::Supervisor.may(Action::ReadPlatformProblems));
    }
}
