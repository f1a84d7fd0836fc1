//! Manual review across the running system: a guardian applying for a child sends the case to
//! its town's review queue; the reviewer returns it for supplement once (intake's time-limit
//! clocks stand still until the applicant answers, then run again), refers it with findings,
//! and the deciding officer denies it with the legal basis; another case is approved by a
//! reviewer at the window with the CLI. Every step lands in the services' audit trails, which
//! `residence audit verify` finds intact, and then names the link changed behind its back.
//!
//! The binaries must be built first (`cargo build --workspace --bins`).

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use residence_cli::staff::StaffChannel;
use residence_cli::system::{Service, System};
use residence_launcher::binary_path;
use residence_proto::v1 as pb;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_runtime::time::china_today;
use residence_staff::{BearerToken, Role};
use residence_system_tests::system::{finish, start, wait_for_status};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tonic::Code;

/// Synthetic people: valid GB 11643 numbers of no real person.
const CHILD: &str = "41172120150307123X";
const GUARDIAN: &str = "41172119880517108X";

const TOWN_A: &str = "412824101";
const IN_TOWN_A: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";
const LEGAL_BASIS: &str = "《居住证暂行条例》第九条";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_case_pauses_its_clock_and_a_referred_case_is_denied_by_the_officer()
-> Result<()> {
    let mut system = start("manual-review").await?;
    let result = exercise(&mut system).await;
    finish(system, result).await
}

async fn exercise(system: &mut System) -> Result<()> {
    let mut intake = system.intake_client()?;
    let returned = intake.submit_application(minor()).await?.into_inner();
    let approved = intake.submit_application(minor()).await?.into_inner();
    for case in [&returned, &approved] {
        wait_for_status(system, case, pb::CaseStatus::InManualReview).await?;
    }

    let token = system.staff_token(Role::Reviewer, TOWN_A, "reviewer-a")?;
    let channel = system.staff_channel(Service::Review, BearerToken::new(&token)?)?;
    let mut review = ReviewServiceClient::new(channel);
    return_supplement_and_refer(system, &mut review, &returned).await?;
    deny_as_officer(system, &returned).await?;
    let token_file = system.staff_token_file(Role::Reviewer, TOWN_A, "reviewer-a")?;
    approve_at_the_window(system, &token_file.display().to_string(), &approved).await?;
    audit_trails(system, &returned).await
}

/// The reviewer sees the case, returns it once, sees it again with what was supplied, and
/// refers it; intake's clocks stand still in between.
async fn return_supplement_and_refer(
    system: &System,
    review: &mut ReviewServiceClient<StaffChannel>,
    case: &pb::SubmitApplicationResponse,
) -> Result<()> {
    let number = || case.case_number.clone();
    let seen = review
        .get_review(pb::GetReviewRequest {
            case_number: number(),
        })
        .await?
        .into_inner();
    ensure!(seen.outcome() == pb::ReviewOutcome::Pending, "{seen:?}");
    let details = seen.details.context("the reviewer sees the application")?;
    ensure!(details.holder_age < 16 && details.agent_relation == "guardian");
    ensure!(!details.masked_id_number.contains("20150307"));
    ensure!(seen.findings.iter().any(|f| f.code == "agent_for_minor"));

    review
        .claim_review(pb::ClaimReviewRequest {
            case_number: number(),
        })
        .await?;
    let notice = pb::ReturnForSupplementRequest {
        case_number: number(),
        missing_materials: vec![pb::MaterialKind::ProofOfRelationship as i32],
        note: "户口簿复印件不清晰，请补交清晰的监护关系证明".into(),
    };
    let task = review
        .return_for_supplement(notice.clone())
        .await?
        .into_inner();
    ensure!(task.state() == pb::ReviewTaskState::Returned);

    // The applicant gets one notice, and the clocks stand still.
    let waiting = wait_for_status(system, case, pb::CaseStatus::SupplementRequired).await?;
    let codes: Vec<&str> = waiting.reasons.iter().map(|r| r.code.as_str()).collect();
    ensure!(codes == ["material_missing", "review_note"], "{codes:?}");
    let paused = clocks(system, &case.case_number).await?;
    ensure!(paused.len() == 2, "{paused:?}");
    ensure!(
        paused
            .iter()
            .all(|c| c.state == "paused" && c.paused_on.is_some()),
        "{paused:?}"
    );
    let again = review
        .claim_review(pb::ClaimReviewRequest {
            case_number: number(),
        })
        .await;
    ensure!(again.err().map(|s| s.code()) == Some(Code::FailedPrecondition));

    // The applicant answers: the clocks run again and the case goes back to the queue.
    let answer = pb::SupplementMaterialsRequest {
        case_number: number(),
        access_code: case.access_code.clone(),
        materials: vec![pb::Material {
            kind: pb::MaterialKind::ProofOfRelationship as i32,
            reference: "scan-household-register".into(),
        }],
    };
    let answered = system
        .intake_client()?
        .supplement_materials(answer)
        .await?
        .into_inner();
    ensure!(
        answered.status() == pb::CaseStatus::InManualReview,
        "{answered:?}"
    );
    let running = clocks(system, &case.case_number).await?;
    ensure!(
        running
            .iter()
            .all(|c| c.state == "running" && c.paused_on.is_none()),
        "{running:?}"
    );
    let back = wait_for_task(review, &case.case_number, pb::ReviewTaskState::Waiting).await?;
    let supplied = pb::MaterialKind::ProofOfRelationship as i32;
    ensure!(back.supplied_materials == [supplied], "{back:?}");
    ensure!(back.returned_once);

    // One notice lists everything: a second return is refused; the reviewer refers instead.
    review
        .claim_review(pb::ClaimReviewRequest {
            case_number: number(),
        })
        .await?;
    let twice = review.return_for_supplement(notice).await;
    ensure!(twice.err().map(|s| s.code()) == Some(Code::FailedPrecondition));
    let finding = pb::Finding {
        code: "guardianship_unproven".into(),
        message: "补交的户口簿未显示监护关系".into(),
    };
    let refer = pb::ReferReviewRequest {
        case_number: number(),
        findings: vec![finding],
    };
    let referred = review.refer_review(refer).await?.into_inner();
    ensure!(referred.state() == pb::ReviewTaskState::Referred);
    wait_for_status(system, case, pb::CaseStatus::AwaitingDecision).await?;
    Ok(())
}

/// The deciding officer finds the case waiting and denies it with the legal basis, with the
/// CLI; the decision names the officer.
async fn deny_as_officer(system: &System, case: &pb::SubmitApplicationResponse) -> Result<()> {
    let token = system.staff_token_file(Role::Decider, system.county(), "officer-7")?;
    let token = token.display().to_string();
    let url = system.grpc_url(Service::Decision);
    let connection = [
        "--decision-url",
        url.as_str(),
        "--token-file",
        token.as_str(),
    ];
    let pending = residence(&[&["decide", "pending"][..], &connection].concat()).await?;
    ensure!(pending.success && pending.stdout.contains(&case.case_number));
    let deny = [
        "decide",
        "deny",
        &case.case_number,
        "--legal-basis",
        LEGAL_BASIS,
        "--reason",
        "未能证明代办人与持证人的监护关系",
    ];
    let denied = residence(&[&deny[..], &connection].concat()).await?;
    ensure!(denied.success, "{}", denied.stdout);
    ensure!(
        denied.stdout.contains("DENIED  by officer-7"),
        "{}",
        denied.stdout
    );

    let final_status = wait_for_status(system, case, pb::CaseStatus::Denied).await?;
    ensure!(final_status.is_final);
    let decision = system
        .decision_client()?
        .get_decision(pb::GetDecisionRequest {
            case_number: case.case_number.clone(),
        })
        .await?
        .into_inner();
    ensure!(decision.legal_basis == LEGAL_BASIS && decision.decided_by == "officer-7");
    Ok(())
}

/// A reviewer at the window works the queue with the CLI and clears the other case, which
/// the rules then approve.
async fn approve_at_the_window(
    system: &System,
    token_file: &str,
    case: &pb::SubmitApplicationResponse,
) -> Result<()> {
    let url = system.grpc_url(Service::Review);
    let connection = ["--review-url", url.as_str(), "--token-file", token_file];
    let queue = residence(&[&["review", "queue"][..], &connection].concat()).await?;
    ensure!(
        queue.success && queue.stdout.contains(&case.case_number),
        "{}",
        queue.stdout
    );
    let claim = ["review", "claim", &case.case_number];
    let claimed = residence(&[&claim[..], &connection].concat()).await?;
    ensure!(
        claimed.stdout.contains("held by reviewer-a"),
        "{}",
        claimed.stdout
    );
    let approve = [
        "review",
        "approve",
        &case.case_number,
        "--note",
        "监护人身份证明及户口簿已核对",
    ];
    let approved = residence(&[&approve[..], &connection].concat()).await?;
    ensure!(approved.success, "{}", approved.stdout);
    wait_for_status(system, case, pb::CaseStatus::ReadyForPickup).await?;
    Ok(())
}

/// The trails hold every step with who did it and in which trace; they verify, and a record
/// changed behind the database's back is named.
async fn audit_trails(system: &mut System, case: &pb::SubmitApplicationResponse) -> Result<()> {
    let review_db = open(system, Service::Review, "ro").await?;
    let review_trail = trail(&review_db, &case.case_number).await?;
    review_db.close().await?;
    // Every GetReview is a read of personal data; the polling above made several.
    let actions: Vec<&str> = review_trail.iter().map(|r| r.action.as_str()).collect();
    ensure!(actions[1] == "review.read", "{actions:?}");
    let changes: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|action| *action != "review.read")
        .collect();
    let expected = [
        "review.checked",
        "review.claimed",
        "review.returned",
        "review.requeued",
        "review.claimed",
        "review.referred",
    ];
    ensure!(changes == expected, "{actions:?}");
    let claimed = &review_trail[2];
    ensure!(claimed.actor == "reviewer-a" && claimed.role == "reviewer");
    let traced = claimed.trace_id.len() == 32 && claimed.trace_id != "0".repeat(32);
    ensure!(traced, "no trace id: {claimed:?}");

    let intake_db = open(system, Service::Intake, "ro").await?;
    let intake_trail = trail(&intake_db, &case.case_number).await?;
    intake_db.close().await?;
    let actions: Vec<&str> = intake_trail.iter().map(|r| r.action.as_str()).collect();
    ensure!(
        actions == ["case.submitted", "case.clock_paused", "case.supplemented"],
        "{actions:?}"
    );

    let data_dir = system.data_dir().display().to_string();
    let verify = ["audit", "verify", "--data-dir", data_dir.as_str()];
    let intact = residence(&verify).await?;
    ensure!(intact.success, "{}", intact.stdout);
    ensure!(intact.stdout.contains("review: "), "{}", intact.stdout);

    // Someone with the database's rights drops the guard and rewrites a reason.
    system.stop_processes().await?;
    let db = open(system, Service::Review, "rw").await?;
    db.execute_unprepared("DROP TRIGGER audit_records_no_update")
        .await?;
    let tamper = format!(
        "UPDATE audit_records SET reason = '材料齐全' WHERE case_number = '{}' AND seq = 4",
        case.case_number
    );
    db.execute_unprepared(&tamper).await?;
    db.close().await?;
    let broken = residence(&verify).await?;
    ensure!(!broken.success, "{}", broken.stdout);
    let named = format!("case {} seq 4: hash does not match", case.case_number);
    ensure!(broken.stdout.contains(&named), "{}", broken.stdout);
    Ok(())
}

/// One row of `audit_records`.
#[derive(Debug)]
struct Record {
    action: String,
    actor: String,
    role: String,
    trace_id: String,
}

async fn trail(db: &DatabaseConnection, case_number: &str) -> Result<Vec<Record>> {
    let sql = "SELECT action, actor, role, trace_id FROM audit_records \
               WHERE case_number = ? ORDER BY seq";
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [case_number.into()]);
    let mut records = Vec::new();
    for row in db.query_all_raw(statement).await? {
        records.push(Record {
            action: row.try_get("", "action")?,
            actor: row.try_get("", "actor")?,
            role: row.try_get("", "role")?,
            trace_id: row.try_get("", "trace_id")?,
        });
    }
    Ok(records)
}

/// One row of intake's `case_clocks`.
#[derive(Debug)]
struct ClockRow {
    state: String,
    paused_on: Option<String>,
}

async fn clocks(system: &System, case_number: &str) -> Result<Vec<ClockRow>> {
    let db = open(system, Service::Intake, "ro").await?;
    let sql = "SELECT state, CAST(paused_on AS TEXT) AS paused_on FROM case_clocks \
               WHERE case_number = ?";
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [case_number.into()]);
    let mut rows = Vec::new();
    for row in db.query_all_raw(statement).await? {
        rows.push(ClockRow {
            state: row.try_get("", "state")?,
            paused_on: row.try_get("", "paused_on")?,
        });
    }
    db.close().await?;
    Ok(rows)
}

async fn open(system: &System, service: Service, mode: &str) -> Result<DatabaseConnection> {
    let url = format!("{}?mode={mode}", system.database_url(service));
    Ok(Database::connect(url).await?)
}

async fn wait_for_task(
    review: &mut ReviewServiceClient<StaffChannel>,
    case_number: &str,
    wanted: pb::ReviewTaskState,
) -> Result<pb::ReviewTask> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let request = pb::GetReviewRequest {
            case_number: case_number.to_owned(),
        };
        let task = review.get_review(request).await?.into_inner().task;
        if let Some(task) = task.filter(|t| t.state() == wanted) {
            return Ok(task);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the review task of {case_number} never became {wanted:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `residence` printed and whether it succeeded.
struct Run {
    success: bool,
    stdout: String,
}

async fn residence(arguments: &[&str]) -> Result<Run> {
    let output = tokio::process::Command::new(binary_path("residence")?)
        .args(arguments)
        .env_remove("RESIDENCE_STAFF_TOKEN_FILE")
        .output()
        .await
        .context("run residence")?;
    if !output.stderr.is_empty() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    })
}

/// A guardian applies at the window for a child of town A.
fn minor() -> pb::SubmitApplicationRequest {
    let valid_until = (china_today() + chrono::Duration::days(5)).to_string();
    let kinds = [
        pb::MaterialKind::ResidencePermit,
        pb::MaterialKind::IdCard,
        pb::MaterialKind::ProofOfStudy,
        pb::MaterialKind::AgentIdCard,
        pb::MaterialKind::ProofOfRelationship,
    ];
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Window as i32,
        applicant: Some(pb::Applicant {
            name: "测试儿童".into(),
            id_number: CHILD.into(),
            phone: "13800000000".into(),
        }),
        permit: Some(pb::Permit { valid_until }),
        residence_address: IN_TOWN_A.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            ..Default::default()
        }),
        materials: kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| pb::Material {
                kind: kind as i32,
                reference: format!("scan-{i}"),
            })
            .collect(),
        agent: Some(pb::Agent {
            name: "测试监护人".into(),
            id_number: GUARDIAN.into(),
            phone: "13900000000".into(),
            relation: pb::AgentRelation::Guardian as i32,
        }),
    }
}
