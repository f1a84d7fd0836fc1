//! What the applicants' withdrawals and ratings came to: the supervision report the county's
//! supervisor reads at the end of a run, the notifications the applicants were sent, and the
//! checks that these agree with what the services recorded and what the applicants did.

use std::time::Duration;

use residence_proto::v1 as pb;
use residence_proto::v1::supervision_service_client::SupervisionServiceClient;
use residence_staff::{BearerToken, Role};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::drive::{DriveReport, with_retry};
use super::ledger::Ledger;
use super::notifications::{self, NotificationCounts};
use crate::summary::Summary;
use crate::supervision::{open_line, outcome_lines, town_json};
use crate::system::{Service, System};

/// Time allowed for fetching the supervision report, retries included.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// The supervisor whose token fetches the report.
const SUPERVISOR_ID: &str = "supervisor-1";

/// What the end of a run showed about withdrawals, ratings and notifications.
#[derive(Clone, Debug)]
pub struct Feedback {
    /// The supervision report of the whole county, or why it could not be fetched.
    pub supervision: Result<pb::SupervisionReport, String>,
    /// The notifications the gateway's consumer held, or why they could not be read.
    pub notifications: Result<NotificationCounts, String>,
}

impl Default for Feedback {
    fn default() -> Self {
        let not_read = || "not read".to_owned();
        Self {
            supervision: Err(not_read()),
            notifications: Err(not_read()),
        }
    }
}

impl Feedback {
    /// The county's total row of the report: the last one, named after the county.
    pub fn county_total(&self) -> Option<&pb::TownFigures> {
        self.supervision.as_ref().ok()?.towns.last()
    }

    /// Where the figures disagree with each other or with what the applicants did; empty when
    /// every withdrawal was confirmed, every rating recorded, every follow-up task closed and
    /// the report counts as the databases do. Unreadable notifications are no problem: they
    /// are only shown.
    pub fn problems(&self, summary: &Summary, drive: &DriveReport) -> Vec<String> {
        let mut problems: Vec<String> = drive
            .feedback_failures
            .iter()
            .map(|failure| format!("applicant: {failure}"))
            .collect();
        let mut expect = |what: &str, found: u64, expected: u64| {
            if found != expected {
                problems.push(format!("{what}: {found}, expected {expected}"));
            }
        };
        expect(
            "withdrawals requested",
            summary.withdrawals_requested,
            drive.withdrawals as u64,
        );
        expect(
            "withdrawn",
            summary.withdrawn,
            summary.withdrawals_requested,
        );
        expect("ratings", summary.ratings, drive.ratings as u64);
        expect(
            "follow-ups closed",
            summary.follow_ups_closed,
            summary.follow_ups_opened,
        );
        match (&self.supervision, self.county_total()) {
            (Err(error), _) => problems.push(format!("supervision report: {error}")),
            (Ok(_), None) => problems.push("supervision report: no county total".to_owned()),
            (Ok(_), Some(total)) => problems.extend(disagreements(total, summary)),
        }
        problems
    }

    /// Lines for people, indented like the summary table.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.notifications {
            Ok(counts) => {
                lines.push(format!("  {:<26}{:>10}", "notifications", counts.total()));
                lines.push(format!("    {}", counts.describe()));
            }
            Err(error) => lines.push(format!("  notifications not read: {error}")),
        }
        if let (Ok(report), Some(total)) = (&self.supervision, self.county_total()) {
            lines.push(format!(
                "  supervision report {} to {}, {} {}",
                report.from, report.to, total.town_code, total.town_name
            ));
            lines.push(format!("    {}", open_line(total)));
            lines.extend(
                outcome_lines(total)
                    .iter()
                    .map(|line| format!("    {line}")),
            );
        }
        lines
    }

    /// The county's total and the notification counts, as JSON.
    pub fn to_json(&self) -> Value {
        let supervision = self.supervision.as_ref().ok().map(|report| {
            json!({
                "from": report.from,
                "to": report.to,
                "as_of": report.as_of,
                "total": self.county_total().map(town_json),
            })
        });
        json!({
            "supervision": supervision,
            "notifications": self.notifications.as_ref().ok().map(NotificationCounts::to_json),
        })
    }
}

/// Where the report's county total counts otherwise than the databases.
fn disagreements(total: &pb::TownFigures, summary: &Summary) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |what: &str, reported: u64, counted: u64| {
        if reported != counted {
            problems.push(format!(
                "supervision report: {what} {reported}, the databases count {counted}"
            ));
        }
    };
    let ratings = total.ratings.clone().unwrap_or_default();
    let open: u32 = total.stages.iter().map(|stage| stage.open).sum();
    expect("open cases", open.into(), summary.not_final);
    expect("withdrawn", total.withdrawn.into(), summary.withdrawn);
    expect("ratings", ratings.total.into(), summary.ratings);
    for (count, level) in ratings.by_level.iter().zip(1..=5_u8) {
        let counted = summary.ratings_by_level.get(&level.to_string());
        expect(
            &format!("ratings of level {level}"),
            (*count).into(),
            counted.copied().unwrap_or(0),
        );
    }
    expect(
        "follow-ups closed",
        ratings.follow_ups_closed.into(),
        summary.follow_ups_closed,
    );
    let still_open = summary
        .follow_ups_opened
        .saturating_sub(summary.follow_ups_closed);
    expect(
        "follow-ups open",
        ratings.follow_ups_open.into(),
        still_open,
    );
    problems
}

/// The county's supervision report as its supervisor sees it, while intake still runs.
pub async fn supervision_report(system: &System) -> Result<pb::SupervisionReport, String> {
    let token = system
        .staff_token(Role::Supervisor, system.county(), SUPERVISOR_ID)
        .map_err(|error| format!("{error:#}"))?;
    let bearer = BearerToken::new(&token).map_err(|error| error.to_string())?;
    let channel = system
        .staff_channel(Service::Intake, bearer)
        .map_err(|error| format!("{error:#}"))?;
    let client = SupervisionServiceClient::new(channel);
    let request = pb::GetSupervisionReportRequest::default();
    // Only the retries are noted in this ledger; the run's own is done with.
    let ledger = Ledger::default();
    let report = with_retry(&ledger, Instant::now() + REPORT_TIMEOUT, || {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.get_supervision_report(request).await }
    });
    report
        .await
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

/// The notifications of the run, read off the gateway's consumer while the broker still runs.
pub async fn notifications(system: &System) -> Result<NotificationCounts, String> {
    notifications::drain(&system.nats_url())
        .await
        .map_err(|error| format!("{error:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            withdrawals_requested: 2,
            withdrawn: 2,
            withdrawn_before_acceptance: 1,
            ratings: 3,
            ratings_by_level: [("1", 0), ("2", 1), ("3", 0), ("4", 0), ("5", 2)]
                .into_iter()
                .map(|(level, count)| (level.to_owned(), count))
                .collect(),
            follow_ups_opened: 1,
            follow_ups_closed: 1,
            ..Summary::default()
        }
    }

    fn total() -> pb::TownFigures {
        pb::TownFigures {
            town_code: "412824".into(),
            town_name: "合计".into(),
            withdrawn: 2,
            ratings: Some(pb::RatingFigures {
                by_level: vec![0, 1, 0, 0, 2],
                total: 3,
                follow_ups_closed: 1,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn drive() -> DriveReport {
        DriveReport {
            withdrawals: 2,
            ratings: 3,
            ..DriveReport::default()
        }
    }

    fn feedback(total: pb::TownFigures) -> Feedback {
        Feedback {
            supervision: Ok(pb::SupervisionReport {
                towns: vec![total],
                ..Default::default()
            }),
            notifications: Err("not read".into()),
        }
    }

    #[test]
    fn agreeing_figures_are_no_problem() {
        let problems = feedback(total()).problems(&summary(), &drive());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn an_unconfirmed_withdrawal_and_a_miscounted_report_are_problems() {
        let unconfirmed = Summary {
            withdrawn: 1,
            not_final: 1,
            ..summary()
        };
        let problems = feedback(total()).problems(&unconfirmed, &drive());
        assert!(
            problems.contains(&"withdrawn: 1, expected 2".to_owned()),
            "{problems:?}"
        );
        assert!(
            problems
                .contains(&"supervision report: open cases 0, the databases count 1".to_owned()),
            "{problems:?}"
        );

        let mut miscounted = total();
        miscounted.ratings.as_mut().unwrap().by_level = vec![1, 0, 0, 0, 2];
        let problems = feedback(miscounted).problems(&summary(), &drive());
        assert_eq!(problems.len(), 2, "{problems:?}");

        let missing = Feedback::default().problems(&summary(), &drive());
        assert_eq!(missing, ["supervision report: not read"]);
    }
}
