//! `residence review` and `residence decide`: the manual review queue and the deciding
//! officer's desk for window staff, over gRPC with a staff token.
//!
//! Only `review show` prints personal data (the holder's name and address, the ID number
//! masked), as a reviewer needs it; the service records every such read.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use residence_proto::v1 as pb;
use residence_proto::v1::decision_service_client::DecisionServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;

use crate::staff::{StaffChannel, TokenArgs, channel};

/// The review service's gRPC address when none is given.
pub const DEFAULT_REVIEW_URL: &str = "http://127.0.0.1:50052";
/// The decision service's gRPC address when none is given.
pub const DEFAULT_DECISION_URL: &str = "http://127.0.0.1:50053";

/// Where the review service answers, and the token to show it.
#[derive(Debug, Args)]
pub struct ReviewConnection {
    /// gRPC URL of the review service.
    #[arg(long, env = "RESIDENCE_REVIEW_URL", default_value = DEFAULT_REVIEW_URL)]
    pub review_url: String,

    #[command(flatten)]
    pub token: TokenArgs,
}

/// Where the decision service answers, and the token to show it.
#[derive(Debug, Args)]
pub struct DecisionConnection {
    /// gRPC URL of the decision service.
    #[arg(long, env = "RESIDENCE_DECISION_URL", default_value = DEFAULT_DECISION_URL)]
    pub decision_url: String,

    #[command(flatten)]
    pub token: TokenArgs,
}

/// `residence review ...`
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List the cases under manual review in your town (or an area of your scope).
    Queue(QueueArgs<ReviewConnection>),
    /// Show one case's review with the application (personal data; the read is recorded).
    Show(CaseArgs<ReviewConnection>),
    /// Take a waiting case.
    Claim(CaseArgs<ReviewConnection>),
    /// Put a case you hold back in the queue.
    Release(ReleaseArgs),
    /// Clear the findings of a case you hold; the decision follows by itself.
    Approve(NoteArgs<ReviewConnection>),
    /// Return a case you hold to the applicant with one notice of what is missing (补正).
    Return(ReturnArgs),
    /// Refer a case you hold with findings to the deciding officer.
    Refer(ReferArgs),
}

/// `residence decide ...`
#[derive(Debug, Subcommand)]
pub enum DecideCommand {
    /// List the referred cases waiting for the deciding officer.
    Pending(QueueArgs<DecisionConnection>),
    /// Show one case's decision.
    Show(CaseArgs<DecisionConnection>),
    /// Approve a referred case despite its findings.
    Approve(NoteArgs<DecisionConnection>),
    /// Deny a referred case with the legal basis.
    Deny(DenyArgs),
}

/// A listing.
#[derive(Debug, Args)]
pub struct QueueArgs<C: Args> {
    #[command(flatten)]
    pub connection: C,

    /// A town (9 digits) or the county (6 digits); your whole scope when left out.
    #[arg(long, value_name = "CODE", default_value = "")]
    pub area: String,

    /// Rows to list, oldest first (1 to 500).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
}

/// A command on one case.
#[derive(Debug, Args)]
pub struct CaseArgs<C: Args> {
    #[command(flatten)]
    pub connection: C,

    /// The case number.
    pub case_number: String,
}

/// A command on one case with a note saying why.
#[derive(Debug, Args)]
pub struct NoteArgs<C: Args> {
    #[command(flatten)]
    pub connection: C,

    /// The case number.
    pub case_number: String,

    /// Why, 2 to 500 characters.
    #[arg(long)]
    pub note: String,
}

/// `residence review release`
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub connection: ReviewConnection,

    /// The case number.
    pub case_number: String,

    /// Why, up to 500 characters.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `residence review return`
#[derive(Debug, Args)]
pub struct ReturnArgs {
    #[command(flatten)]
    pub connection: ReviewConnection,

    /// The case number.
    pub case_number: String,

    /// Every material missing, comma-separated: residence_permit, id_card,
    /// proof_of_residence, proof_of_employment, proof_of_study, agent_id_card,
    /// proof_of_relationship.
    #[arg(long, value_delimiter = ',', required = true, value_parser = material_kind)]
    pub missing: Vec<pb::MaterialKind>,

    /// What is wrong, for the applicant, 2 to 500 characters.
    #[arg(long)]
    pub note: String,
}

/// `residence review refer`
#[derive(Debug, Args)]
pub struct ReferArgs {
    #[command(flatten)]
    pub connection: ReviewConnection,

    /// The case number.
    pub case_number: String,

    /// A finding as `code=message`, such as `address_outside_jurisdiction=居住地址不在本县`;
    /// repeat for each, 1 to 10.
    #[arg(long = "finding", required = true, value_parser = finding)]
    pub findings: Vec<pb::Finding>,
}

/// `residence decide deny`
#[derive(Debug, Args)]
pub struct DenyArgs {
    #[command(flatten)]
    pub connection: DecisionConnection,

    /// The case number.
    pub case_number: String,

    /// The provisions the denial rests on, such as `《居住证暂行条例》第十条`.
    #[arg(long)]
    pub legal_basis: String,

    /// A reason for the applicant; repeat for each, 1 to 10.
    #[arg(long = "reason", required = true)]
    pub reasons: Vec<String>,
}

fn review_client(connection: &ReviewConnection) -> Result<ReviewServiceClient<StaffChannel>> {
    let channel = channel(&connection.review_url, connection.token.bearer()?)?;
    Ok(ReviewServiceClient::new(channel))
}

fn decision_client(connection: &DecisionConnection) -> Result<DecisionServiceClient<StaffChannel>> {
    let channel = channel(&connection.decision_url, connection.token.bearer()?)?;
    Ok(DecisionServiceClient::new(channel))
}

/// Runs a `review` command.
pub fn run_review(command: &ReviewCommand, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(review(command, out))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a `decide` command.
pub fn run_decide(command: &DecideCommand, out: &mut impl Write) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(decide(command, out))?;
    Ok(ExitCode::SUCCESS)
}

async fn review(command: &ReviewCommand, out: &mut impl Write) -> Result<()> {
    let task = match command {
        ReviewCommand::Queue(args) => {
            let request = pb::ListReviewQueueRequest {
                area_code: args.area.clone(),
                limit: args.limit,
            };
            let mut client = review_client(&args.connection)?;
            let tasks = answer(client.list_review_queue(request).await)?.tasks;
            for task in &tasks {
                write_task(out, task)?;
            }
            writeln!(out, "{} cases", tasks.len())?;
            return Ok(());
        }
        ReviewCommand::Show(args) => {
            let request = pb::GetReviewRequest {
                case_number: args.case_number.clone(),
            };
            let mut client = review_client(&args.connection)?;
            let review = answer(client.get_review(request).await)?;
            return write_review(out, &review);
        }
        ReviewCommand::Claim(args) => {
            let request = pb::ClaimReviewRequest {
                case_number: args.case_number.clone(),
            };
            answer(review_client(&args.connection)?.claim_review(request).await)?
        }
        ReviewCommand::Release(args) => {
            let request = pb::ReleaseReviewRequest {
                case_number: args.case_number.clone(),
                reason: args.reason.clone(),
            };
            answer(
                review_client(&args.connection)?
                    .release_review(request)
                    .await,
            )?
        }
        ReviewCommand::Approve(args) => {
            let request = pb::ApproveReviewRequest {
                case_number: args.case_number.clone(),
                note: args.note.clone(),
            };
            answer(
                review_client(&args.connection)?
                    .approve_review(request)
                    .await,
            )?
        }
        ReviewCommand::Return(args) => {
            let request = pb::ReturnForSupplementRequest {
                case_number: args.case_number.clone(),
                missing_materials: args.missing.iter().map(|kind| *kind as i32).collect(),
                note: args.note.clone(),
            };
            let mut client = review_client(&args.connection)?;
            answer(client.return_for_supplement(request).await)?
        }
        ReviewCommand::Refer(args) => {
            let request = pb::ReferReviewRequest {
                case_number: args.case_number.clone(),
                findings: args.findings.clone(),
            };
            answer(review_client(&args.connection)?.refer_review(request).await)?
        }
    };
    write_task(out, &task)
}

async fn decide(command: &DecideCommand, out: &mut impl Write) -> Result<()> {
    let decision = match command {
        DecideCommand::Pending(args) => {
            let request = pb::ListPendingDecisionsRequest {
                area_code: args.area.clone(),
                limit: args.limit,
            };
            let mut client = decision_client(&args.connection)?;
            let pending = answer(client.list_pending_decisions(request).await)?.pending;
            for case in &pending {
                let codes: Vec<&str> = case.findings.iter().map(|f| f.code.as_str()).collect();
                writeln!(
                    out,
                    "{}  town {}  referred {}  findings {}",
                    case.case_number,
                    case.town_code,
                    case.referred_at,
                    codes.join(",")
                )?;
            }
            writeln!(out, "{} cases", pending.len())?;
            return Ok(());
        }
        DecideCommand::Show(args) => {
            let request = pb::GetDecisionRequest {
                case_number: args.case_number.clone(),
            };
            answer(
                decision_client(&args.connection)?
                    .get_decision(request)
                    .await,
            )?
        }
        DecideCommand::Approve(args) => {
            let request = pb::ApproveDecisionRequest {
                case_number: args.case_number.clone(),
                note: args.note.clone(),
            };
            answer(
                decision_client(&args.connection)?
                    .approve_decision(request)
                    .await,
            )?
        }
        DecideCommand::Deny(args) => {
            let request = pb::DenyDecisionRequest {
                case_number: args.case_number.clone(),
                legal_basis: args.legal_basis.clone(),
                reasons: args.reasons.clone(),
            };
            answer(
                decision_client(&args.connection)?
                    .deny_decision(request)
                    .await,
            )?
        }
    };
    write_decision(out, &decision)
}

/// The answer, or an error saying what the service refused and why.
pub(crate) fn answer<T>(response: Result<tonic::Response<T>, tonic::Status>) -> Result<T> {
    match response {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => bail!("refused ({:?}): {}", status.code(), status.message()),
    }
}

fn write_task(out: &mut impl Write, task: &pb::ReviewTask) -> Result<()> {
    let codes: Vec<&str> = task.findings.iter().map(|f| f.code.as_str()).collect();
    let holder = if task.claimed_by.is_empty() {
        String::new()
    } else {
        format!("  held by {}", task.claimed_by)
    };
    writeln!(
        out,
        "{}  town {}  {}{holder}  findings {}  queued {}",
        task.case_number,
        task.town_code,
        task.state()
            .as_str_name()
            .trim_start_matches("REVIEW_TASK_STATE_"),
        codes.join(","),
        task.queued_at
    )?;
    Ok(())
}

fn write_review(out: &mut impl Write, review: &pb::GetReviewResponse) -> Result<()> {
    let outcome = review.outcome().as_str_name();
    writeln!(
        out,
        "{}  {}",
        review.case_number,
        outcome.trim_start_matches("REVIEW_OUTCOME_")
    )?;
    if let Some(details) = &review.details {
        writeln!(
            out,
            "  holder {} ({}, {} years)  {}",
            details.holder_name,
            details.masked_id_number,
            details.holder_age,
            details.residence_address
        )?;
        if !details.agent_name.is_empty() {
            writeln!(
                out,
                "  agent {} ({})",
                details.agent_name, details.agent_relation
            )?;
        }
    }
    for finding in &review.findings {
        writeln!(out, "  finding {}: {}", finding.code, finding.message)?;
    }
    if let Some(task) = &review.task {
        write_task(out, task)?;
    }
    Ok(())
}

fn write_decision(out: &mut impl Write, decision: &pb::GetDecisionResponse) -> Result<()> {
    let outcome = decision.outcome().as_str_name();
    let by = if decision.decided_by.is_empty() {
        "the rules"
    } else {
        &decision.decided_by
    };
    writeln!(
        out,
        "{}  {}  by {by}  {}",
        decision.case_number,
        outcome.trim_start_matches("DECISION_OUTCOME_"),
        decision.decided_at
    )?;
    if let Some(endorsement) = &decision.endorsement {
        writeln!(out, "  valid until {}", endorsement.valid_until)?;
    }
    if !decision.legal_basis.is_empty() {
        writeln!(out, "  legal basis {}", decision.legal_basis)?;
    }
    for reason in &decision.reasons {
        writeln!(out, "  reason {reason}")?;
    }
    Ok(())
}

fn material_kind(text: &str) -> Result<pb::MaterialKind, String> {
    let name = format!("MATERIAL_KIND_{}", text.trim().to_ascii_uppercase());
    pb::MaterialKind::from_str_name(&name)
        .filter(|kind| *kind != pb::MaterialKind::Unspecified)
        .ok_or_else(|| format!("unknown material {text:?}"))
}

fn finding(text: &str) -> Result<pb::Finding, String> {
    let (code, message) = text
        .split_once('=')
        .ok_or_else(|| format!("expected code=message, got {text:?}"))?;
    Ok(pb::Finding {
        code: code.trim().to_owned(),
        message: message.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn materials_and_findings_parse_from_their_codes() {
        assert_eq!(
            material_kind("proof_of_residence").unwrap(),
            pb::MaterialKind::ProofOfResidence
        );
        assert!(material_kind("unspecified").is_err());
        assert!(material_kind("passport").is_err());
        let parsed = finding("address_outside_jurisdiction=居住地址不在本县").unwrap();
        assert_eq!(parsed.code, "address_outside_jurisdiction");
        assert_eq!(parsed.message, "居住地址不在本县");
        assert!(finding("no message").is_err());
    }
}
