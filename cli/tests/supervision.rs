//! `residence track`, `withdraw`, `rate`, `follow-ups` and `report` as window staff run them: the built
//! binary against the whole system started on this machine.

use std::path::Path;
use std::process::Output;

use anyhow::{Context, Result, ensure};
use residence_cli::synthetic::{self, Scenario, SyntheticApplication};
use residence_cli::system::{Service, System, SystemOptions};
use residence_proto::v1 as pb;
use residence_runtime::time::china_today;
use residence_staff::Role;
use serde_json::Value;
use tokio::process::Command;

/// The first synthetic application of `scenario`.
fn application(scenario: Scenario) -> SyntheticApplication {
    synthetic::applications(5, china_today(), 20)
        .into_iter()
        .find(|application| application.scenario == scenario)
        .expect("every deck holds every scenario")
}

/// Runs `residence ARGS --intake-url <the system's intake>`.
async fn residence(system: &System, arguments: &[&str]) -> Result<Output> {
    let output = Command::new(env!("CARGO_BIN_EXE_residence"))
        .args(arguments)
        .args(["--intake-url", &system.grpc_url(Service::Intake)])
        .env_remove("RESIDENCE_INTAKE_URL")
        .env_remove("RESIDENCE_STAFF_TOKEN_FILE")
        .output()
        .await?;
    Ok(output)
}

/// Standard output of a run that must succeed.
fn succeeded(output: &Output) -> Result<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "exit {}: {stderr}", output.status);
    Ok(String::from_utf8(output.stdout.clone())?)
}

/// Standard error of a run that must fail.
fn failed(output: &Output) -> Result<String> {
    ensure!(!output.status.success(), "expected a failure");
    Ok(String::from_utf8(output.stderr.clone())?)
}

async fn submit(system: &System, scenario: Scenario) -> Result<pb::SubmitApplicationResponse> {
    let request = application(scenario).request;
    let mut intake = system.intake_client()?;
    Ok(intake.submit_application(request).await?.into_inner())
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test]
async fn staff_withdraw_rate_follow_up_and_report() -> Result<()> {
    let system = System::start(SystemOptions {
        run_prefix: "cli-supervision".into(),
        ..SystemOptions::default()
    })
    .await?;
    let operator = system.staff_token_file(Role::Operator, system.county(), "clerk-1")?;
    let operator = path_text(&operator);

    // A case waiting on its first supplement notice is withdrawn at once.
    let waiting = submit(&system, Scenario::MissingProof).await?;
    let (case, code) = (waiting.case_number.as_str(), waiting.access_code.as_str());
    let wrong = ["withdraw", case, "--code", "WRONG1", "--reason", "不办了"];
    let stderr = failed(&residence(&system, &wrong).await?)?;
    ensure!(stderr.contains("NotFound"), "{stderr}");
    let withdraw = [
        "withdraw",
        case,
        "--code",
        code,
        "--reason",
        "已在原居住地办理",
    ];
    let stdout = succeeded(&residence(&system, &withdraw).await?)?;
    ensure!(stdout.trim() == format!("{case}  WITHDRAWN"), "{stdout}");

    // Tracking shows it, to the applicant with the code and to staff with a token.
    let stdout = succeeded(&residence(&system, &["track", case, "--code", code]).await?)?;
    ensure!(
        stdout.starts_with(&format!("{case}  WITHDRAWN (final)")),
        "{stdout}"
    );
    ensure!(stdout.contains("申请人撤回申请，终止办理"), "{stdout}");
    ensure!(stdout.contains("invited to rate"), "{stdout}");
    let as_staff = ["track", case, "--token-file", &operator];
    let stdout = succeeded(&residence(&system, &as_staff).await?)?;
    ensure!(stdout.contains("WITHDRAWN"), "{stdout}");
    let stderr = failed(&residence(&system, &["track", case]).await?)?;
    ensure!(stderr.contains("--token-file"), "{stderr}");

    // A refused case is closed and may be rated; a dissatisfied rating opens a follow-up.
    let refused = submit(&system, Scenario::TooEarly).await?;
    let (case, code) = (refused.case_number.as_str(), refused.access_code.as_str());
    let rate = [
        "rate",
        case,
        "--code",
        code,
        "--channel",
        "hotline",
        "--level",
        "2",
    ];
    let stderr = failed(&residence(&system, &rate).await?)?;
    ensure!(stderr.contains("comment"), "{stderr}");
    let complaint = ["--comment", "不予受理的原因没有讲清楚"];
    let rated = residence(&system, &[&rate[..], &complaint[..]].concat()).await?;
    let stdout = succeeded(&rated)?;
    let follow_up = format!("FU-{case}-hotline");
    ensure!(
        stdout.contains("rated 2 不满意 through hotline") && stdout.contains(&follow_up),
        "{stdout}"
    );

    let list = ["follow-ups", "list", "--open", "--token-file", &operator];
    let stdout = succeeded(&residence(&system, &list).await?)?;
    ensure!(
        stdout.contains(&follow_up) && stdout.contains("comment: 不予受理的原因没有讲清楚"),
        "{stdout}"
    );
    let outcome = "已电话回访，说明不予受理的原因，申请人表示理解";
    let close = [
        "follow-ups",
        "close",
        &follow_up,
        "--outcome",
        outcome,
        "--token-file",
        &operator,
    ];
    let stdout = succeeded(&residence(&system, &close).await?)?;
    ensure!(stdout.contains("by clerk-1"), "{stdout}");
    let stdout = succeeded(&residence(&system, &list).await?)?;
    ensure!(stdout.trim() == "0 follow-ups", "{stdout}");

    let report = ["report", "--token-file", &operator];
    let stdout = succeeded(&residence(&system, &report).await?)?;
    ensure!(
        stdout.contains("closed 2, withdrawn 1") && stdout.contains("合计"),
        "{stdout}"
    );
    let json = succeeded(&residence(&system, &[&report[..], &["--json"][..]].concat()).await?)?;
    let json: Value = serde_json::from_str(&json)?;
    let total = json["towns"]
        .as_array()
        .and_then(|towns| towns.last())
        .context("no county total")?;
    ensure!(total["withdrawn"] == 1, "{total}");
    ensure!(total["ratings"]["by_level"][1] == 1, "{total}");
    ensure!(total["ratings"]["follow_ups_closed"] == 1, "{total}");

    let stderr = failed(&residence(&system, &["report"]).await?)?;
    ensure!(stderr.contains("needs a staff token"), "{stderr}");
    system.stop().await
}
