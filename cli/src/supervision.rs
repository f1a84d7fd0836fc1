//! `residence report` and `residence follow-ups`: the supervision report (监督) per town and
//! stage, and the follow-up tasks (差评整改) that dissatisfied ratings open, over gRPC with a
//! staff token. The intake service, which owns every case, serves both.
//!
//! Only `follow-ups list` prints an applicant's words (the rating's comment), as the operator
//! following it up needs them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use residence_proto::v1 as pb;
use residence_proto::v1::supervision_service_client::SupervisionServiceClient;
use serde_json::{Value, json};

use crate::applicant::{IntakeConnection, channel_code, level_name};
use crate::desk::answer;
use crate::staff::{StaffChannel, TokenArgs, channel};

/// Where supervision answers (the intake service), and the token to show it.
#[derive(Debug, Args)]
pub struct SupervisionConnection {
    #[command(flatten)]
    pub intake: IntakeConnection,

    #[command(flatten)]
    pub token: TokenArgs,
}

/// `residence report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub connection: SupervisionConnection,

    /// A town (9 digits) or the county (6 digits); your whole scope when left out.
    #[arg(long, value_name = "CODE", default_value = "")]
    pub area: String,

    /// First day of the period, YYYY-MM-DD [default: 1 January of this year].
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub from: Option<NaiveDate>,

    /// Last day of the period, YYYY-MM-DD [default: today].
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub to: Option<NaiveDate>,

    /// One JSON object on one line instead of the tables.
    #[arg(long)]
    pub json: bool,
}

impl ReportArgs {
    /// The request the arguments make.
    pub fn request(&self) -> pb::GetSupervisionReportRequest {
        let day = |date: Option<NaiveDate>| date.map(|d| d.to_string()).unwrap_or_default();
        pb::GetSupervisionReportRequest {
            area_code: self.area.clone(),
            from: day(self.from),
            to: day(self.to),
        }
    }
}

/// `residence follow-ups ...`
#[derive(Debug, Subcommand)]
pub enum FollowUpCommand {
    /// List the follow-up tasks of your town (or an area of your scope), oldest first
    /// (supervisors and operators). Shows the applicants' comments.
    List(FollowUpListArgs),
    /// Record what was done about a dissatisfied rating and close its task (operators).
    Close(FollowUpCloseArgs),
}

/// `residence follow-ups list`
#[derive(Debug, Args)]
pub struct FollowUpListArgs {
    #[command(flatten)]
    pub connection: SupervisionConnection,

    /// A town (9 digits) or the county (6 digits); your whole scope when left out.
    #[arg(long, value_name = "CODE", default_value = "")]
    pub area: String,

    /// Open tasks only.
    #[arg(long)]
    pub open: bool,

    /// Rows to list (1 to 500).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
}

/// `residence follow-ups close`
#[derive(Debug, Args)]
pub struct FollowUpCloseArgs {
    #[command(flatten)]
    pub connection: SupervisionConnection,

    /// The follow-up id, as `follow-ups list` shows it (`FU-...`).
    pub follow_up_id: String,

    /// What was done (整改情况) and how the applicant responded: 5 to 1000 characters.
    #[arg(long)]
    pub outcome: String,
}

fn supervision_client(
    connection: &SupervisionConnection,
) -> Result<SupervisionServiceClient<StaffChannel>> {
    let channel = channel(&connection.intake.intake_url, connection.token.bearer()?)?;
    Ok(SupervisionServiceClient::new(channel))
}

/// Runs `residence report`.
pub fn run_report(args: &ReportArgs, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let mut client = supervision_client(&args.connection)?;
        answer(client.get_supervision_report(args.request()).await)
    })?;
    if args.json {
        writeln!(out, "{}", report_json(&report))?;
    } else {
        write_report(out, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `follow-ups` command.
pub fn run_follow_ups(command: &FollowUpCommand, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let tasks = runtime.block_on(follow_ups(command))?;
    for task in &tasks {
        write_follow_up(out, task)?;
    }
    if matches!(command, FollowUpCommand::List(_)) {
        let noun = if tasks.len() == 1 {
            "follow-up"
        } else {
            "follow-ups"
        };
        writeln!(out, "{} {noun}", tasks.len())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The tasks listed, or the one closed.
async fn follow_ups(command: &FollowUpCommand) -> Result<Vec<pb::FollowUp>> {
    match command {
        FollowUpCommand::List(args) => {
            let request = pb::ListFollowUpsRequest {
                area_code: args.area.clone(),
                open_only: args.open,
                limit: args.limit,
            };
            let mut client = supervision_client(&args.connection)?;
            Ok(answer(client.list_follow_ups(request).await)?.follow_ups)
        }
        FollowUpCommand::Close(args) => {
            let request = pb::CloseFollowUpRequest {
                follow_up_id: args.follow_up_id.clone(),
                outcome: args.outcome.clone(),
            };
            let mut client = supervision_client(&args.connection)?;
            Ok(vec![answer(client.close_follow_up(request).await)?])
        }
    }
}

/// The report as tables for people: per town (the county's total last) one row per stage,
/// then the decisions, closings, ratings and follow-ups.
pub fn write_report(out: &mut impl Write, report: &pb::SupervisionReport) -> Result<()> {
    writeln!(
        out,
        "supervision report {} to {}, as of {}",
        report.from, report.to, report.as_of
    )?;
    for town in &report.towns {
        writeln!(out)?;
        writeln!(out, "{} {}", town.town_code, town.town_name)?;
        writeln!(
            out,
            "  {:<9}{:>6}{:>11}{:>9}{:>7}{:>9}{:>9}",
            "stage", "open", "due today", "overdue", "left", "on time", "ratio"
        )?;
        for stage in &town.stages {
            writeln!(
                out,
                "  {:<9}{:>6}{:>11}{:>9}{:>7}{:>9}{:>9}",
                stage_name(stage.stage),
                stage.open,
                stage.due_today,
                stage.overdue,
                stage.left,
                stage.left_on_time,
                percent(stage.on_time_ratio)
            )?;
        }
        for line in outcome_lines(town) {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// A town's decisions, closings, ratings and follow-ups, one line each.
pub fn outcome_lines(town: &pb::TownFigures) -> [String; 3] {
    let ratings = town.ratings.clone().unwrap_or_default();
    [
        format!(
            "decided {}, on time {} ({}); closed {}, withdrawn {}",
            town.decided,
            town.decided_on_time,
            share(town.on_time_ratio, town.decided),
            town.closed,
            town.withdrawn
        ),
        ratings_line(&ratings),
        format!(
            "follow-ups open {}, overdue {}, closed {}",
            ratings.follow_ups_open, ratings.follow_ups_overdue, ratings.follow_ups_closed
        ),
    ]
}

/// `open 3, due today 1, overdue 0`: a town's open cases over every stage.
pub fn open_line(town: &pb::TownFigures) -> String {
    let sum =
        |figure: fn(&pb::StageFigures) -> u32| -> u32 { town.stages.iter().map(figure).sum() };
    format!(
        "open {}, due today {}, overdue {}",
        sum(|stage| stage.open),
        sum(|stage| stage.due_today),
        sum(|stage| stage.overdue)
    )
}

/// `ratings 12 (非常不满意 0, 不满意 1, ...), satisfaction 91.7%; invited 20, rated 11`.
pub fn ratings_line(ratings: &pb::RatingFigures) -> String {
    let levels: Vec<String> = ratings
        .by_level
        .iter()
        .zip(1..)
        .map(|(count, level)| format!("{} {count}", level_name(level)))
        .collect();
    format!(
        "ratings {} ({}), satisfaction {}; invited {}, rated {}",
        ratings.total,
        levels.join(", "),
        share(ratings.satisfaction_ratio, ratings.total),
        ratings.invited,
        ratings.rated
    )
}

/// The report as one JSON object: stages by name, ratios as fractions.
pub fn report_json(report: &pb::SupervisionReport) -> Value {
    let towns: Vec<Value> = report.towns.iter().map(town_json).collect();
    json!({
        "as_of": report.as_of,
        "today": report.today,
        "from": report.from,
        "to": report.to,
        "towns": towns,
    })
}

/// One town's figures (or the county's total) as a JSON object.
pub fn town_json(town: &pb::TownFigures) -> Value {
    let stages: Vec<Value> = town
        .stages
        .iter()
        .map(|stage| {
            json!({
                "stage": stage_name(stage.stage),
                "open": stage.open,
                "due_today": stage.due_today,
                "overdue": stage.overdue,
                "left": stage.left,
                "left_on_time": stage.left_on_time,
                "on_time_ratio": stage.on_time_ratio,
            })
        })
        .collect();
    let ratings = town.ratings.clone().unwrap_or_default();
    json!({
        "town_code": town.town_code,
        "town_name": town.town_name,
        "stages": stages,
        "decided": town.decided,
        "decided_on_time": town.decided_on_time,
        "on_time_ratio": town.on_time_ratio,
        "closed": town.closed,
        "withdrawn": town.withdrawn,
        "ratings": {
            "by_level": ratings.by_level,
            "total": ratings.total,
            "satisfaction_ratio": ratings.satisfaction_ratio,
            "invited": ratings.invited,
            "rated": ratings.rated,
            "follow_ups_open": ratings.follow_ups_open,
            "follow_ups_overdue": ratings.follow_ups_overdue,
            "follow_ups_closed": ratings.follow_ups_closed,
        },
    })
}

/// One task: its line, then the applicant's comment and, once closed, the outcome.
fn write_follow_up(out: &mut impl Write, task: &pb::FollowUp) -> Result<()> {
    let state = if !task.closed_at.is_empty() {
        format!("closed {} by {}", task.closed_at, task.closed_by)
    } else if task.overdue {
        "OVERDUE".to_owned()
    } else {
        "open".to_owned()
    };
    writeln!(
        out,
        "{}  case {}  town {}  {}  {} {}  due {}  {state}",
        task.follow_up_id,
        task.case_number,
        task.town_code,
        channel_code(task.channel),
        task.level,
        level_name(task.level),
        task.due_on
    )?;
    writeln!(out, "  comment: {}", task.comment)?;
    if !task.outcome.is_empty() {
        writeln!(out, "  outcome: {}", task.outcome)?;
    }
    Ok(())
}

/// `receive` for `STAGE_RECEIVE`.
fn stage_name(stage: i32) -> String {
    let stage = pb::Stage::try_from(stage).unwrap_or_default();
    stage
        .as_str_name()
        .trim_start_matches("STAGE_")
        .to_ascii_lowercase()
}

/// `91.7%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A ratio as a percentage, or `-` when it is of nothing (the report gives 1 then).
fn share(ratio: f64, whole: u32) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        percent(ratio)
    }
}

fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("expected a date as YYYY-MM-DD, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn stage(stage: pb::Stage, open: u32, left: u32, left_on_time: u32) -> pb::StageFigures {
        pb::StageFigures {
            stage: stage.into(),
            open,
            due_today: open.min(1),
            overdue: 0,
            left,
            left_on_time,
            on_time_ratio: if left == 0 {
                1.0
            } else {
                f64::from(left_on_time) / f64::from(left)
            },
        }
    }

    fn sample() -> pb::SupervisionReport {
        let town = pb::TownFigures {
            town_code: "412824101".into(),
            town_name: "五沟营镇".into(),
            stages: vec![
                stage(pb::Stage::Receive, 0, 20, 20),
                stage(pb::Stage::Accept, 1, 2, 2),
                stage(pb::Stage::Review, 2, 15, 15),
                stage(pb::Stage::Decide, 0, 14, 13),
                stage(pb::Stage::Deliver, 3, 9, 9),
            ],
            decided: 14,
            decided_on_time: 13,
            on_time_ratio: 13.0 / 14.0,
            closed: 15,
            withdrawn: 2,
            ratings: Some(pb::RatingFigures {
                by_level: vec![1, 1, 2, 3, 5],
                total: 12,
                satisfaction_ratio: 10.0 / 12.0,
                invited: 15,
                rated: 11,
                follow_ups_open: 1,
                follow_ups_overdue: 0,
                follow_ups_closed: 1,
            }),
        };
        pb::SupervisionReport {
            as_of: "2026-12-04T10:00:00+08:00".into(),
            today: "2026-12-04".into(),
            from: "2026-01-01".into(),
            to: "2026-12-04".into(),
            towns: vec![town],
        }
    }

    #[test]
    fn the_report_reads_as_a_table_per_town() {
        let mut out = Vec::new();
        write_report(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "supervision report 2026-01-01 to 2026-12-04, as of 2026-12-04T10:00:00+08:00"
        );
        assert_eq!(lines[2], "412824101 五沟营镇");
        assert_eq!(
            lines[3],
            "  stage      open  due today  overdue   left  on time    ratio"
        );
        assert_eq!(
            lines[7],
            "  decide        0          0        0     14       13    92.9%"
        );
        assert_eq!(
            lines[9],
            "  decided 14, on time 13 (92.9%); closed 15, withdrawn 2"
        );
        assert_eq!(
            lines[10],
            "  ratings 12 (非常不满意 1, 不满意 1, 基本满意 2, 满意 3, 非常满意 5), \
             satisfaction 83.3%; invited 15, rated 11"
        );
        assert_eq!(lines[11], "  follow-ups open 1, overdue 0, closed 1");
        let town = &sample().towns[0];
        assert_eq!(open_line(town), "open 6, due today 3, overdue 0");
    }

    #[test]
    fn the_json_names_stages_and_keeps_fractions() {
        let json = report_json(&sample());
        let town = &json["towns"][0];
        assert_eq!(town["stages"][1]["stage"], "accept");
        assert_eq!(town["stages"][1]["due_today"], 1);
        assert_eq!(town["withdrawn"], 2);
        assert_eq!(town["ratings"]["by_level"], json!([1, 1, 2, 3, 5]));
        let ratio = town["ratings"]["satisfaction_ratio"].as_f64().unwrap();
        assert!((ratio - 10.0 / 12.0).abs() < 1e-9);
        assert_eq!(json["from"], "2026-01-01");
    }

    #[test]
    fn a_follow_up_shows_its_state() {
        let mut task = pb::FollowUp {
            follow_up_id: "FU-C-1-hotline".into(),
            case_number: "C-1".into(),
            town_code: "412824101".into(),
            channel: pb::RatingChannel::Hotline.into(),
            level: 1,
            comment: "等了很久".into(),
            due_on: "2026-12-09".into(),
            overdue: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        write_follow_up(&mut out, &task).unwrap();
        task.overdue = false;
        task.outcome = "已回访，申请人表示理解".into();
        task.closed_at = "2026-12-05T09:00:00+08:00".into();
        task.closed_by = "clerk-1".into();
        write_follow_up(&mut out, &task).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "FU-C-1-hotline  case C-1  town 412824101  hotline  1 非常不满意  due 2026-12-09  \
             OVERDUE"
        );
        assert_eq!(lines[1], "  comment: 等了很久");
        assert!(lines[2].ends_with("closed 2026-12-05T09:00:00+08:00 by clerk-1"));
        assert_eq!(lines[4], "  outcome: 已回访，申请人表示理解");
    }

    #[test]
    fn report_and_follow_up_arguments_parse() {
        let cli = Cli::try_parse_from([
            "residence",
            "report",
            "--area",
            "412824101",
            "--from",
            "2026-11-01",
            "--json",
            "--token-file",
            "t",
        ])
        .unwrap();
        let Command::Report(args) = cli.command else {
            panic!("expected the report command");
        };
        let request = args.request();
        assert_eq!(request.area_code, "412824101");
        assert_eq!(
            (request.from.as_str(), request.to.as_str()),
            ("2026-11-01", "")
        );
        assert!(args.json);
        assert!(Cli::try_parse_from(["residence", "report", "--from", "2026-13-01"]).is_err());

        let cli =
            Cli::try_parse_from(["residence", "follow-ups", "list", "--open", "--limit", "5"])
                .unwrap();
        let Command::FollowUps(FollowUpCommand::List(args)) = cli.command else {
            panic!("expected follow-ups list");
        };
        assert!(args.open);
        assert_eq!((args.limit, args.area.as_str()), (5, ""));

        let close = [
            "residence",
            "follow-ups",
            "close",
            "FU-C-1-web",
            "--outcome",
        ];
        let cli = Cli::try_parse_from(close.iter().chain(&["已回访"])).unwrap();
        let Command::FollowUps(FollowUpCommand::Close(args)) = cli.command else {
            panic!("expected follow-ups close");
        };
        assert_eq!(args.follow_up_id, "FU-C-1-web");
        assert!(Cli::try_parse_from(close).is_err());
    }
}
