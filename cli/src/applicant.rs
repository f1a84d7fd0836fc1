//! `residence track`, `residence withdraw` and `residence rate`: what an applicant does with a
//! case besides submitting it, for window staff acting at the applicant's request. The case
//! number and the access code from the applicant's receipt prove the case is theirs; staff may
//! track a case with their token instead, which the case's audit trail records.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use residence_proto::v1 as pb;
use residence_proto::v1::intake_service_client::IntakeServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::desk::answer;

/// The intake service's gRPC address when none is given.
pub const DEFAULT_INTAKE_URL: &str = "http://127.0.0.1:50051";

/// Where the intake service answers.
#[derive(Debug, Args)]
pub struct IntakeConnection {
    /// gRPC URL of the intake service.
    #[arg(long, env = "RESIDENCE_INTAKE_URL", default_value = DEFAULT_INTAKE_URL)]
    pub intake_url: String,
}

impl IntakeConnection {
    /// A lazily connecting channel to the intake service; made inside the async runtime.
    pub fn channel(&self) -> Result<Channel> {
        let url = &self.intake_url;
        let endpoint =
            Endpoint::from_shared(url.clone()).with_context(|| format!("bad url {url:?}"))?;
        Ok(endpoint.connect_lazy())
    }
}

/// `residence track`
#[derive(Debug, Args)]
pub struct TrackArgs {
    #[command(flatten)]
    pub connection: IntakeConnection,

    /// The case number.
    pub case_number: String,

    /// The access code on the applicant's receipt; leave it out when tracking with a staff
    /// token.
    #[arg(
        long = "code",
        value_name = "ACCESS",
        env = "RESIDENCE_ACCESS_CODE",
        hide_env_values = true
    )]
    pub access_code: Option<String>,

    #[command(flatten)]
    pub token: crate::staff::TokenArgs,
}

/// The case an applicant acts on, and the access code that proves it is theirs.
#[derive(Debug, Args)]
pub struct CaseAccess {
    #[command(flatten)]
    pub connection: IntakeConnection,

    /// The case number.
    pub case_number: String,

    /// The access code on the applicant's receipt. Prefer the environment variable on a
    /// shared machine: other users can read a command line.
    #[arg(
        long = "code",
        value_name = "ACCESS",
        env = "RESIDENCE_ACCESS_CODE",
        hide_env_values = true
    )]
    pub access_code: String,
}

/// `residence withdraw`
#[derive(Debug, Args)]
pub struct WithdrawArgs {
    #[command(flatten)]
    pub case: CaseAccess,

    /// Why, in the applicant's words: 2 to 200 characters.
    #[arg(long)]
    pub reason: String,
}

/// `residence rate`
#[derive(Debug, Args)]
pub struct RateArgs {
    #[command(flatten)]
    pub case: CaseAccess,

    /// Where the rating comes from: web, app, sms, window (the rating device at the window)
    /// or hotline (12345).
    #[arg(long, value_parser = rating_channel)]
    pub channel: pb::RatingChannel,

    /// 1 非常不满意, 2 不满意, 3 基本满意, 4 满意, 5 非常满意.
    #[arg(long, value_parser = rating_level)]
    pub level: pb::RatingLevel,

    /// What the applicant said, up to 500 characters; required for levels 1 and 2, whose
    /// follow-up needs to know what went wrong.
    #[arg(long, default_value = "")]
    pub comment: String,
}

/// Runs `residence track`.
pub fn run_track(args: &TrackArgs, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let response = runtime.block_on(track(args))?;
    write_case(out, &response)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `residence withdraw`.
pub fn run_withdraw(args: &WithdrawArgs, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let response = runtime.block_on(withdraw(args))?;
    write_withdrawal(out, &response)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `residence rate`.
pub fn run_rate(args: &RateArgs, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let response = runtime.block_on(rate(args))?;
    write_rating(out, &response)?;
    Ok(ExitCode::SUCCESS)
}

async fn track(args: &TrackArgs) -> Result<pb::TrackCaseResponse> {
    let request = pb::TrackCaseRequest {
        case_number: args.case_number.clone(),
        access_code: args.access_code.clone().unwrap_or_default(),
    };
    if args.access_code.is_some() {
        let mut client = IntakeServiceClient::new(args.connection.channel()?);
        return answer(client.track_case(request).await);
    }
    let channel = crate::staff::channel(&args.connection.intake_url, args.token.bearer()?)?;
    let mut client = IntakeServiceClient::new(channel);
    answer(client.track_case(request).await)
}

async fn withdraw(args: &WithdrawArgs) -> Result<pb::WithdrawApplicationResponse> {
    let request = pb::WithdrawApplicationRequest {
        case_number: args.case.case_number.clone(),
        access_code: args.case.access_code.clone(),
        reason: args.reason.clone(),
    };
    let mut client = IntakeServiceClient::new(args.case.connection.channel()?);
    answer(client.withdraw_application(request).await)
}

async fn rate(args: &RateArgs) -> Result<pb::RateCaseResponse> {
    let request = pb::RateCaseRequest {
        case_number: args.case.case_number.clone(),
        access_code: args.case.access_code.clone(),
        channel: args.channel.into(),
        level: args.level.into(),
        comment: args.comment.clone(),
    };
    let mut client = IntakeServiceClient::new(args.case.connection.channel()?);
    answer(client.rate_case(request).await)
}

/// The case as tracking shows it: status, dates, what it waits for, and every step.
fn write_case(out: &mut impl Write, case: &pb::TrackCaseResponse) -> Result<()> {
    let last = if case.is_final { " (final)" } else { "" };
    writeln!(
        out,
        "{}  {}{last}",
        case.case_number,
        status_name(case.status)
    )?;
    writeln!(
        out,
        "  holder {}  received {}",
        case.masked_id_number, case.received_at
    )?;
    let optional = [
        ("due on", &case.due_on),
        ("valid until", &case.new_valid_until),
        ("parcel", &case.parcel_reference),
        ("license", &case.license_identifier),
    ];
    for (label, value) in optional {
        if !value.is_empty() {
            writeln!(out, "  {label} {value}")?;
        }
    }
    if case.withdrawal_requested {
        writeln!(
            out,
            "  withdrawal requested, waiting for the deciding service"
        )?;
    }
    for reason in &case.reasons {
        writeln!(out, "  reason {}: {}", reason.code, reason.message)?;
    }
    for step in &case.history {
        writeln!(
            out,
            "  {}  {:<20} {}",
            step.at,
            status_name(step.status),
            step.note
        )?;
    }
    for rating in &case.ratings {
        writeln!(
            out,
            "  rated {} {} through {} at {}",
            rating.level,
            level_name(rating.level),
            channel_code(rating.channel),
            rating.rated_at
        )?;
    }
    if case.rating_invited && case.ratings.is_empty() {
        writeln!(out, "  invited to rate (好差评), not rated yet")?;
    }
    Ok(())
}

/// `CASE  WITHDRAWN`, or the status the case keeps until the withdrawal is confirmed.
fn write_withdrawal(
    out: &mut impl Write,
    response: &pb::WithdrawApplicationResponse,
) -> Result<()> {
    let status = status_name(response.status);
    if response.withdrawal_requested {
        writeln!(
            out,
            "{}  withdrawal requested, still {status}: the deciding service confirms it unless \
             the case was decided first; `residence track` shows WITHDRAWN",
            response.case_number
        )?;
    } else {
        writeln!(out, "{}  {status}", response.case_number)?;
    }
    Ok(())
}

/// `CASE  rated 2 不满意 through hotline at ...`, and the follow-up task it opened.
fn write_rating(out: &mut impl Write, response: &pb::RateCaseResponse) -> Result<()> {
    let repeated = if response.replayed {
        "  (the same rating was recorded before)"
    } else {
        ""
    };
    writeln!(
        out,
        "{}  rated {} {} through {} at {}{repeated}",
        response.case_number,
        response.level,
        level_name(response.level),
        channel_code(response.channel),
        response.rated_at
    )?;
    if !response.follow_up_id.is_empty() {
        writeln!(
            out,
            "  follow-up {} due {}",
            response.follow_up_id, response.follow_up_due_on
        )?;
    }
    Ok(())
}

/// `WITHDRAWN` for `CASE_STATUS_WITHDRAWN`.
pub(crate) fn status_name(status: i32) -> &'static str {
    let status = pb::CaseStatus::try_from(status).unwrap_or_default();
    status.as_str_name().trim_start_matches("CASE_STATUS_")
}

/// The Chinese name of a rating level: 1 非常不满意 to 5 非常满意.
pub(crate) fn level_name(level: i32) -> &'static str {
    match pb::RatingLevel::try_from(level).unwrap_or_default() {
        pb::RatingLevel::VeryDissatisfied => "非常不满意",
        pb::RatingLevel::Dissatisfied => "不满意",
        pb::RatingLevel::FairlySatisfied => "基本满意",
        pb::RatingLevel::Satisfied => "满意",
        pb::RatingLevel::VerySatisfied => "非常满意",
        pb::RatingLevel::Unspecified => "?",
    }
}

/// `hotline` for `RATING_CHANNEL_HOTLINE`.
pub(crate) fn channel_code(channel: i32) -> String {
    let channel = pb::RatingChannel::try_from(channel).unwrap_or_default();
    channel
        .as_str_name()
        .trim_start_matches("RATING_CHANNEL_")
        .to_ascii_lowercase()
}

/// `web`, `app`, `sms`, `window` or `hotline`.
pub(crate) fn rating_channel(text: &str) -> Result<pb::RatingChannel, String> {
    let name = format!("RATING_CHANNEL_{}", text.trim().to_ascii_uppercase());
    pb::RatingChannel::from_str_name(&name)
        .filter(|channel| *channel != pb::RatingChannel::Unspecified)
        .ok_or_else(|| format!("expected web, app, sms, window or hotline, got {text:?}"))
}

/// `1` (非常不满意) to `5` (非常满意).
pub(crate) fn rating_level(text: &str) -> Result<pb::RatingLevel, String> {
    let expected = || format!("expected a level from 1 to 5, got {text:?}");
    let level: i32 = text.trim().parse().map_err(|_| expected())?;
    pb::RatingLevel::try_from(level)
        .ok()
        .filter(|level| *level != pb::RatingLevel::Unspecified)
        .ok_or_else(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_levels_parse_from_their_codes() {
        assert_eq!(
            rating_channel("hotline").unwrap(),
            pb::RatingChannel::Hotline
        );
        assert_eq!(rating_channel(" SMS ").unwrap(), pb::RatingChannel::Sms);
        assert!(rating_channel("unspecified").is_err());
        assert!(rating_channel("email").is_err());
        assert_eq!(rating_level("2").unwrap(), pb::RatingLevel::Dissatisfied);
        assert_eq!(rating_level("5").unwrap(), pb::RatingLevel::VerySatisfied);
        for bad in ["0", "6", "-1", "two", ""] {
            assert!(rating_level(bad).is_err(), "{bad:?}");
        }
        assert_eq!(channel_code(pb::RatingChannel::Window.into()), "window");
        assert_eq!(level_name(2), "不满意");
    }

    #[test]
    fn answers_read_alone() {
        let mut out = Vec::new();
        let requested = pb::WithdrawApplicationResponse {
            case_number: "C-1".into(),
            status: pb::CaseStatus::InManualReview.into(),
            withdrawal_requested: true,
        };
        write_withdrawal(&mut out, &requested).unwrap();
        let done = pb::WithdrawApplicationResponse {
            case_number: "C-2".into(),
            status: pb::CaseStatus::Withdrawn.into(),
            withdrawal_requested: false,
        };
        write_withdrawal(&mut out, &done).unwrap();
        let rated = pb::RateCaseResponse {
            case_number: "C-2".into(),
            channel: pb::RatingChannel::Hotline.into(),
            level: pb::RatingLevel::Dissatisfied.into(),
            rated_at: "2026-12-04T10:00:00+08:00".into(),
            follow_up_id: "FU-C-2-hotline".into(),
            follow_up_due_on: "2026-12-09".into(),
            replayed: false,
        };
        write_rating(&mut out, &rated).unwrap();

        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("C-1  withdrawal requested, still IN_MANUAL_REVIEW"));
        assert_eq!(lines[1], "C-2  WITHDRAWN");
        assert_eq!(
            lines[2],
            "C-2  rated 2 不满意 through hotline at 2026-12-04T10:00:00+08:00"
        );
        assert_eq!(lines[3], "  follow-up FU-C-2-hotline due 2026-12-09");
    }
}
