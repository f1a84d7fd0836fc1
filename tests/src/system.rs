//! The whole system for one test: starting it, waiting for a case or a license to get where
//! the test expects, and stopping it in a way that leaves a failure readable.

use std::time::Duration;

use anyhow::{Result, bail};
use residence_cli::system::{System, SystemOptions};
use residence_proto::v1 as pb;
use tonic::Code;

/// How much of each process's log a failed test prints: enough to show the cause.
const LOG_LINES_ON_FAILURE: usize = 20;

/// How long a case may take to reach a status it is expected to reach, on a busy machine.
const CASE_DEADLINE: Duration = Duration::from_secs(90);

/// How long a license may take to appear after its case was approved, on a busy machine.
const LICENSE_DEADLINE: Duration = Duration::from_secs(60);

/// How often a case or a license is looked up again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Every service, simulator and server in a run folder named after `run_prefix`, with a
/// logistics partner that delivers every parcel, so that no test meets a failed delivery it
/// did not ask for.
pub async fn start(run_prefix: &str) -> Result<System> {
    let options = SystemOptions {
        courier_failure_share: 0.0,
        run_prefix: run_prefix.into(),
        ..SystemOptions::default()
    };
    System::start(options).await
}

/// Stops `system` and hands back the test's `result`. When the test failed, the end of every
/// process's log is printed first, since the cause usually shows there.
pub async fn finish(system: System, result: Result<()>) -> Result<()> {
    if result.is_err() {
        for name in system.process_names() {
            let tail = system.log_tail(&name, LOG_LINES_ON_FAILURE);
            eprintln!("--- {name}\n{tail}");
        }
    }
    system.stop().await?;
    result
}

/// Tracks `case` as its applicant would until it reaches `wanted`, and returns what the
/// applicant then sees; fails naming the last status if it has not after [`CASE_DEADLINE`].
pub async fn wait_for_status(
    system: &System,
    case: &pb::SubmitApplicationResponse,
    wanted: pb::CaseStatus,
) -> Result<pb::TrackCaseResponse> {
    let mut intake = system.intake_client()?;
    let deadline = tokio::time::Instant::now() + CASE_DEADLINE;
    loop {
        let request = pb::TrackCaseRequest {
            case_number: case.case_number.clone(),
            access_code: case.access_code.clone(),
        };
        let tracked = intake.track_case(request).await?.into_inner();
        if tracked.status() == wanted {
            return Ok(tracked);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "case {} never became {wanted:?}; last {:?}",
                case.case_number,
                tracked.status()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The license of `case_number` once the e-license service has issued it; fails if it has
/// not after [`LICENSE_DEADLINE`] or the service answers with anything but "not found".
pub async fn wait_for_license(
    system: &System,
    case_number: &str,
) -> Result<pb::VerifyLicenseResponse> {
    let mut elicense = system.elicense_client()?;
    let deadline = tokio::time::Instant::now() + LICENSE_DEADLINE;
    loop {
        let request = pb::GetLicenseByCaseRequest {
            case_number: case_number.to_owned(),
        };
        match elicense.get_license_by_case(request).await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => return Err(status.into()),
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no license for case {case_number}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
