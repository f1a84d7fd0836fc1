//! What applicants see of their case besides its status, across the running system: one
//! message for every step they care about, read through the gateway's durable consumer;
//! withdrawing an application before it is decided, at once or through the deciding service;
//! rating a closed case (好差评), the follow-up tasks (差评整改) dissatisfied ratings open and
//! town staff close; and the supervision report that counts it all per town and stage. A
//! template file with a placeholder its step does not offer stops intake before it binds its
//! port; an edited file takes effect on SIGHUP, and a broken edit leaves the texts in use.
//!
//! The binaries must be built first (`cargo build --workspace --bins`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use async_nats::jetstream::consumer::PullConsumer;
use chrono::NaiveDate;
use futures::StreamExt;
use residence_cli::staff::StaffChannel;
use residence_cli::system::{Service, System, SystemOptions};
use residence_events::NotificationRequested;
use residence_launcher::{binary_path, free_port, project_root};
use residence_proto::v1 as pb;
use residence_proto::v1::intake_service_client::IntakeServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_proto::v1::supervision_service_client::SupervisionServiceClient;
use residence_runtime::time::china_today;
use residence_staff::{BearerToken, Role};
use residence_system_tests::asyncapi::Contract;
use residence_system_tests::system::{finish, start, wait_for_status};
use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Synthetic people: valid GB 11643 numbers of no real person.
const HOLDER: &str = "411721199001011237";
const OTHER_HOLDER: &str = "412824198507153217";
const CHILD: &str = "41172120150307123X";
const GUARDIAN: &str = "41172119880517108X";
const PEOPLE: [&str; 4] = [HOLDER, OTHER_HOLDER, CHILD, GUARDIAN];
const HOLDER_PHONE: &str = "13800000000";
const GUARDIAN_PHONE: &str = "13900000000";

const TOWN_A: &str = "412824101";
const TOWN_B: &str = "412824102";
const IN_TOWN_A: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";
const IN_TOWN_B: &str = "河南省驻马店市西平县权寨镇南街村二组5号";

/// What the shipped service item and templates put into the messages.
const SIGNATURE: &str = "【西平县居住证签注】";
const BODY: &str = "西平县五沟营镇人民政府";
const PICKUP_PLACE: &str = "驻马店市西平县五沟营镇";
const PARTNER: &str = "中国邮政速递物流（EMS）";
/// The step a withdrawal ends a case with.
const WITHDRAWN_NOTE: &str = "申请人撤回申请，终止办理";
/// The shipped service item's `time_limits.follow_up_working_days`.
const FOLLOW_UP_WORKING_DAYS: u32 = 5;

/// The durable consumer intake creates for the county's SMS or app gateway.
const GATEWAY_CONSUMER: &str = "applicant-notifications";
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applicants_hear_of_every_step_and_may_withdraw_until_the_decision() -> Result<()> {
    let system = start("applicants-notified").await?;
    let result = notified_and_withdrawn(&system).await;
    finish(system, result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_cases_are_rated_followed_up_and_counted_per_town() -> Result<()> {
    let system = start("applicants-rated").await?;
    let result = rated_and_supervised(&system).await;
    finish(system, result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_templates_take_effect_on_sighup_and_a_broken_edit_changes_nothing() -> Result<()> {
    let root = project_root()?;
    let shipped = std::fs::read_to_string(root.join("deploy/notifications.toml"))?;
    let dir = std::env::temp_dir().join(format!("residence-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let templates = dir.join("notifications.toml");
    std::fs::write(&templates, &shipped)?;
    let options = SystemOptions {
        courier_failure_share: 0.0,
        run_prefix: "applicants-sighup".into(),
        extra_env: vec![(
            "RESIDENCE_NOTIFICATION_TEMPLATES".into(),
            templates.display().to_string(),
        )],
        ..SystemOptions::default()
    };
    let system = System::start(options).await?;
    let result = templates_reloaded(&system, &templates, &shipped).await;
    std::fs::remove_dir_all(&dir)?;
    finish(system, result).await
}

async fn templates_reloaded(
    system: &System,
    templates: &std::path::Path,
    shipped: &str,
) -> Result<()> {
    const SHIPPED: &str = "已收件，办件编号";
    const EDITED: &str = "已收到（编辑后），办件编号";
    let mut gateway = Gateway::bind(system).await?;
    let mut intake = system.intake_client()?;
    let before = submit(&mut intake, too_early(HOLDER), pb::CaseStatus::Refused).await?;
    let text = gateway.received_text(&before).await?;
    ensure!(text.contains(SHIPPED), "{text}");

    // A broken edit is refused and the texts in use stay.
    let broken = shipped.replacen("办件编号{case_number}", "办件编号{case_no}", 1);
    ensure!(broken != shipped, "the received template changed");
    std::fs::write(templates, broken)?;
    hang_up(system, "notification templates not reloaded").await?;
    let during = submit(&mut intake, too_early(HOLDER), pb::CaseStatus::Refused).await?;
    let text = gateway.received_text(&during).await?;
    ensure!(
        text.contains(SHIPPED),
        "a broken file changed the text: {text}"
    );

    let edited = shipped.replacen(SHIPPED, EDITED, 1);
    ensure!(
        edited != shipped,
        "the received template no longer says {SHIPPED}"
    );
    std::fs::write(templates, edited)?;
    hang_up(system, "notification templates reloaded on SIGHUP").await?;
    let after = submit(&mut intake, too_early(HOLDER), pb::CaseStatus::Refused).await?;
    let text = gateway.received_text(&after).await?;
    ensure!(text.contains(EDITED), "the edit was not applied: {text}");
    ensure!(text.starts_with(SIGNATURE), "no signature: {text}");
    Ok(())
}

/// Sends SIGHUP to intake and waits until its log shows `outcome` once more than before.
async fn hang_up(system: &System, outcome: &str) -> Result<()> {
    let log = system.log_file("intake");
    let count = || std::fs::read_to_string(&log).map_or(0, |text| text.matches(outcome).count());
    let before = count();
    let pid = system
        .process("intake")
        .and_then(|process| process.pid())
        .context("intake is not running")?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP)?;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while count() <= before {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "intake never logged {outcome:?} after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[test]
fn a_template_with_a_placeholder_its_step_does_not_offer_stops_intake() -> Result<()> {
    let root = project_root()?;
    let shipped = std::fs::read_to_string(root.join("deploy/notifications.toml"))?;
    let broken = shipped.replacen("将于{due_on}前办结", "将于{decision_day}前办结", 1);
    ensure!(
        broken != shipped,
        "the accepted template no longer names {{due_on}}"
    );
    let dir = std::env::temp_dir().join(format!("residence-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let templates = dir.join("notifications.toml");
    std::fs::write(&templates, broken)?;

    let port = free_port()?;
    let output = Command::new(binary_path("residence-intake")?)
        .args(["--grpc-addr", &format!("127.0.0.1:{port}")])
        .args(["--nats-url", "nats://127.0.0.1:1"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--service-item")
        .arg(root.join("deploy/service-item.toml"))
        .arg("--calendar-dir")
        .arg(root.join("deploy/calendars"))
        .arg("--notification-templates")
        .arg(&templates)
        .output()
        .context("run residence-intake")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "intake started: {stderr}");
    let problem = "templates.accepted: {decision_day} is not offered for this step";
    ensure!(
        stderr.contains(problem),
        "the problem is not named: {stderr}"
    );
    let file = templates.display().to_string();
    ensure!(stderr.contains(&file), "the file is not named: {stderr}");
    // Nothing was bound: the port is still free.
    std::net::TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("intake left port {port} bound"))?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

async fn notified_and_withdrawn(system: &System) -> Result<()> {
    let mut gateway = Gateway::bind(system).await?;
    let mut intake = system.intake_client()?;
    let courier = by_courier(adult(HOLDER, IN_TOWN_A));
    let courier = submit(&mut intake, courier, pb::CaseStatus::Accepted).await?;
    let pickup = adult(OTHER_HOLDER, IN_TOWN_A);
    let pickup = submit(&mut intake, pickup, pb::CaseStatus::Accepted).await?;
    let early = submit(&mut intake, too_early(HOLDER), pb::CaseStatus::Refused).await?;
    let incomplete = without_proof(adult(OTHER_HOLDER, IN_TOWN_A));
    let incomplete = submit(&mut intake, incomplete, pb::CaseStatus::SupplementRequired).await?;
    let minor = submit(&mut intake, minor(IN_TOWN_A), pb::CaseStatus::Accepted).await?;

    withdrawals_are_checked(&mut intake, &pickup, &courier).await?;
    withdrawn_at_once(system, &incomplete).await?;

    // Decided cases cannot be withdrawn, whether on their way or closed.
    let approved = wait_for_status(system, &pickup, pb::CaseStatus::ReadyForPickup).await?;
    too_late_to_withdraw(&mut intake, &pickup).await?;
    collect(system, &pickup).await?;
    let shipped = wait_for_status(system, &courier, pb::CaseStatus::Delivered).await?;
    too_late_to_withdraw(&mut intake, &courier).await?;
    too_late_to_withdraw(&mut intake, &early).await?;
    wait_for_status(system, &pickup, pb::CaseStatus::Collected).await?;

    let online = Recipient {
        phone: HOLDER_PHONE,
        channel: "online",
    };
    let courier_steps = [
        step("received", &[]),
        step("accepted", &["已受理，将于", &courier.due_on]),
        step(
            "approved",
            &["已准予签注，有效期至", &shipped.new_valid_until],
        ),
        step(
            "shipped",
            &[PARTNER, "寄出，运单号", &shipped.parcel_reference],
        ),
        step("delivered", &["已签收"]),
        step("rating_invitation", &[BODY, "好差评"]),
    ];
    gateway.expect(&courier, online, &courier_steps).await?;
    let pickup_steps = [
        step("received", &[]),
        step("accepted", &["已受理，将于", &pickup.due_on]),
        step(
            "approved",
            &["已准予签注，有效期至", &approved.new_valid_until],
        ),
        step("ready_for_pickup", &["可到", PICKUP_PLACE, "领取"]),
        step("collected", &["已领取"]),
        step("rating_invitation", &[BODY, "好差评"]),
    ];
    gateway.expect(&pickup, online, &pickup_steps).await?;
    let mut refusal = vec!["不予受理："];
    refusal.extend(messages(&early.reasons));
    let early_steps = [
        step("received", &[]),
        step("refused", &refusal),
        step("rating_invitation", &[BODY, "好差评"]),
    ];
    gateway.expect(&early, online, &early_steps).await?;
    let mut notice = vec!["需补正材料（一次性告知）"];
    notice.extend(messages(&incomplete.reasons));
    let withdrawn = step("withdrawn", &["已按您的要求撤回，终止办理"]);
    let incomplete_steps = [
        step("received", &[]),
        step("supplement_required", &notice),
        withdrawn.clone(),
        step("rating_invitation", &[BODY, "好差评"]),
    ];
    gateway
        .expect(&incomplete, online, &incomplete_steps)
        .await?;

    // Last, as it needs the deciding service: a case under manual review is withdrawn.
    withdrawn_in_review(system, &minor).await?;
    let guardian = Recipient {
        phone: GUARDIAN_PHONE,
        channel: "window",
    };
    let minor_steps = [
        step("received", &[]),
        step("accepted", &["已受理，将于", &minor.due_on]),
        withdrawn,
        step("rating_invitation", &[BODY, "好差评"]),
    ];
    gateway.expect(&minor, guardian, &minor_steps).await?;
    gateway.nothing_more().await
}

/// A wrong access code finds nothing; bad fields are named; nothing changes.
async fn withdrawals_are_checked(
    intake: &mut IntakeServiceClient<Channel>,
    case: &pb::SubmitApplicationResponse,
    other: &pb::SubmitApplicationResponse,
) -> Result<()> {
    let wrong_code = pb::WithdrawApplicationRequest {
        case_number: case.case_number.clone(),
        access_code: other.access_code.clone(),
        reason: "已在其他地方办理".into(),
    };
    let refused = intake.withdraw_application(wrong_code).await;
    ensure!(
        code(&refused) == Code::NotFound,
        "wrong access code: {refused:?}"
    );

    let too_short = pb::WithdrawApplicationRequest {
        case_number: case.case_number.clone(),
        access_code: case.access_code.clone(),
        reason: "撤".into(),
    };
    let refused = intake.withdraw_application(too_short).await;
    ensure_fields(&refused, &["reason"])?;
    let without_code = pb::WithdrawApplicationRequest {
        case_number: case.case_number.clone(),
        access_code: String::new(),
        reason: String::new(),
    };
    let refused = intake.withdraw_application(without_code).await;
    ensure_fields(&refused, &["access_code", "reason"])?;

    let tracked = track(intake, case).await?;
    ensure!(
        !tracked.withdrawal_requested && tracked.status() != pb::CaseStatus::Withdrawn,
        "a refused withdrawal changed the case: {tracked:?}"
    );
    Ok(())
}

/// A case waiting for materials at acceptance ends at once, and says so again when asked
/// again.
async fn withdrawn_at_once(system: &System, case: &pb::SubmitApplicationResponse) -> Result<()> {
    let mut intake = system.intake_client()?;
    let answer = withdraw(&mut intake, case, "材料不全，待补齐后重新申请").await?;
    ensure!(
        answer.status() == pb::CaseStatus::Withdrawn && !answer.withdrawal_requested,
        "{answer:?}"
    );
    let tracked = track(&mut intake, case).await?;
    ensure!(tracked.status() == pb::CaseStatus::Withdrawn && tracked.is_final);
    ensure!(!tracked.withdrawal_requested, "{tracked:?}");
    ensure_withdrawn_step(&tracked)?;

    let again = withdraw(&mut intake, case, "材料不全，待补齐后重新申请").await?;
    ensure!(
        again == answer,
        "a repeat answered {again:?}, first {answer:?}"
    );
    let supplement = pb::SupplementMaterialsRequest {
        case_number: case.case_number.clone(),
        access_code: case.access_code.clone(),
        materials: materials(&[pb::MaterialKind::ProofOfResidence]),
    };
    let late = intake.supplement_materials(supplement).await;
    ensure!(code(&late) == Code::FailedPrecondition, "{late:?}");
    Ok(())
}

/// A reviewer holds the case when its applicant withdraws it: the deciding service confirms,
/// the case leaves the queue, and nothing decides, endorses or delivers it any more.
async fn withdrawn_in_review(system: &System, case: &pb::SubmitApplicationResponse) -> Result<()> {
    wait_for_status(system, case, pb::CaseStatus::InManualReview).await?;
    let mut review = reviewer_of_town_a(system)?;
    let claim = pb::ClaimReviewRequest {
        case_number: case.case_number.clone(),
    };
    review.claim_review(claim.clone()).await?;
    let queue = pb::ListReviewQueueRequest::default();
    let tasks = review.list_review_queue(queue).await?.into_inner().tasks;
    let queued = tasks
        .iter()
        .any(|task| task.case_number == case.case_number);
    ensure!(queued, "the claimed case is not in the queue: {tasks:?}");

    let mut intake = system.intake_client()?;
    let reason = "孩子已随父母迁回原籍，不再需要签注";
    let answer = withdraw(&mut intake, case, reason).await?;
    ensure!(answer.withdrawal_requested, "{answer:?}");
    ensure!(
        answer.status() == pb::CaseStatus::InManualReview,
        "{answer:?}"
    );
    let tracked = wait_for_status(system, case, pb::CaseStatus::Withdrawn).await?;
    ensure!(
        tracked.is_final && !tracked.withdrawal_requested,
        "{tracked:?}"
    );
    ensure_withdrawn_step(&tracked)?;
    let again = withdraw(&mut intake, case, reason).await?;
    ensure!(
        again.status() == pb::CaseStatus::Withdrawn && !again.withdrawal_requested,
        "{again:?}"
    );

    wait_until_unqueued(&mut review, &case.case_number).await?;
    let request = pb::GetReviewRequest {
        case_number: case.case_number.clone(),
    };
    let reviewed = review.get_review(request).await?.into_inner();
    let task = reviewed.task.as_ref().map(pb::ReviewTask::state);
    ensure!(
        reviewed.outcome() == pb::ReviewOutcome::Withdrawn
            && task == Some(pb::ReviewTaskState::Withdrawn),
        "{reviewed:?}"
    );
    let approve = pb::ApproveReviewRequest {
        case_number: case.case_number.clone(),
        note: "监护关系证明已核对".into(),
    };
    let approved = review.approve_review(approve).await;
    ensure!(
        code(&approved) == Code::FailedPrecondition,
        "the reviewer approved a withdrawn case: {approved:?}"
    );
    let claimed = review.claim_review(claim).await;
    ensure!(code(&claimed) == Code::FailedPrecondition, "{claimed:?}");

    let request = pb::GetDecisionRequest {
        case_number: case.case_number.clone(),
    };
    let decision = system.decision_client()?.get_decision(request).await?;
    let decision = decision.into_inner();
    ensure!(
        decision.outcome() == pb::DecisionOutcome::Withdrawn,
        "{decision:?}"
    );
    ensure!(decision.endorsement.is_none() && decision.legal_basis.is_empty());

    let request = pb::GetLicenseByCaseRequest {
        case_number: case.case_number.clone(),
    };
    let license = system.elicense_client()?.get_license_by_case(request).await;
    ensure!(code(&license) == Code::NotFound, "a license: {license:?}");
    let request = pb::GetDeliveryRequest {
        case_number: case.case_number.clone(),
    };
    let delivery = system.delivery_client()?.get_delivery(request).await;
    ensure!(
        code(&delivery) == Code::NotFound,
        "a delivery: {delivery:?}"
    );
    Ok(())
}

async fn too_late_to_withdraw(
    intake: &mut IntakeServiceClient<Channel>,
    case: &pb::SubmitApplicationResponse,
) -> Result<()> {
    let request = pb::WithdrawApplicationRequest {
        case_number: case.case_number.clone(),
        access_code: case.access_code.clone(),
        reason: "不想要了".into(),
    };
    let refused = intake.withdraw_application(request).await;
    ensure!(
        code(&refused) == Code::FailedPrecondition,
        "case {} was withdrawn after its decision: {refused:?}",
        case.case_number
    );
    Ok(())
}

fn ensure_withdrawn_step(tracked: &pb::TrackCaseResponse) -> Result<()> {
    let last = tracked.history.last().context("no steps")?;
    ensure!(
        last.status() == pb::CaseStatus::Withdrawn && last.note == WITHDRAWN_NOTE,
        "last step {last:?}"
    );
    Ok(())
}

async fn wait_until_unqueued(
    review: &mut ReviewServiceClient<StaffChannel>,
    case_number: &str,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let queue = pb::ListReviewQueueRequest::default();
        let tasks = review.list_review_queue(queue).await?.into_inner().tasks;
        if tasks.iter().all(|task| task.case_number != case_number) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the withdrawn case {case_number} stayed in the review queue");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn reviewer_of_town_a(system: &System) -> Result<ReviewServiceClient<StaffChannel>> {
    let token = system.staff_token(Role::Reviewer, TOWN_A, "reviewer-a")?;
    let channel = system.staff_channel(Service::Review, BearerToken::new(&token)?)?;
    Ok(ReviewServiceClient::new(channel))
}

/// Who a case's messages go to.
#[derive(Clone, Copy, Debug)]
struct Recipient {
    phone: &'static str,
    /// How the application came in, as the message names it.
    channel: &'static str,
}

/// One message a case should bring: its kind and what its text must show besides the
/// signature and the case number.
#[derive(Clone, Debug)]
struct Step {
    kind: &'static str,
    shows: Vec<String>,
}

fn step(kind: &'static str, shows: &[&str]) -> Step {
    Step {
        kind,
        shows: shows.iter().map(|part| (*part).to_owned()).collect(),
    }
}

/// One message as the gateway read it.
#[derive(Debug)]
struct Notice {
    message: NotificationRequested,
    payload: Value,
    headers: Value,
    /// Everything that travelled: the payload as sent and every header.
    raw: String,
}

/// The county's SMS gateway as the tests play it: bound to the durable consumer intake
/// created, it acknowledges every message it reads and keeps each `notification_id` once.
struct Gateway {
    consumer: PullConsumer,
    contract: Contract,
    seen: BTreeSet<String>,
    by_case: BTreeMap<String, Vec<Notice>>,
}

impl Gateway {
    /// Binds to the consumer once intake has created it; it never creates one.
    async fn bind(system: &System) -> Result<Self> {
        let client = async_nats::connect(system.nats_url()).await?;
        let jetstream = async_nats::jetstream::new(client);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let consumer = loop {
            let bound = jetstream
                .get_consumer_from_stream(GATEWAY_CONSUMER, "RESIDENCE")
                .await;
            match bound {
                Ok(consumer) => break consumer,
                Err(error) if tokio::time::Instant::now() > deadline => {
                    bail!("intake never created {GATEWAY_CONSUMER}: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let contract = Contract::load(&project_root()?.join("deploy/asyncapi.yaml"))?;
        Ok(Self {
            consumer,
            contract,
            seen: BTreeSet::new(),
            by_case: BTreeMap::new(),
        })
    }

    /// Reads and acknowledges what has arrived, waiting up to `wait` for it; returns how many
    /// new messages there were.
    async fn read(&mut self, wait: Duration) -> Result<usize> {
        let mut batch = self
            .consumer
            .batch()
            .max_messages(100)
            .expires(wait)
            .messages()
            .await?;
        let mut new = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(anyhow::Error::from_boxed)?;
            let mut headers = serde_json::Map::new();
            let mut raw = String::from_utf8_lossy(&message.payload).into_owned();
            for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
                for value in values {
                    raw.push_str(&format!("\n{name}: {value}"));
                }
                if let Some(value) = values.last() {
                    headers.insert(name.to_string(), Value::String(value.to_string()));
                }
            }
            let payload: Value = serde_json::from_slice(&message.payload)
                .with_context(|| format!("not JSON: {raw}"))?;
            let notice: NotificationRequested = serde_json::from_value(payload.clone())
                .with_context(|| format!("not a notification: {raw}"))?;
            message.ack().await.map_err(anyhow::Error::from_boxed)?;
            // The same message may come twice; the gateway sends each id once.
            if !self.seen.insert(notice.notification_id.clone()) {
                continue;
            }
            new += 1;
            self.by_case
                .entry(notice.case_number.clone())
                .or_default()
                .push(Notice {
                    message: notice,
                    payload,
                    headers: Value::Object(headers),
                    raw,
                });
        }
        Ok(new)
    }

    /// Waits for the messages of `case` and checks them, in order, against `steps`.
    async fn expect(
        &mut self,
        case: &pb::SubmitApplicationResponse,
        to: Recipient,
        steps: &[Step],
    ) -> Result<()> {
        let number = &case.case_number;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.by_case.get(number).map_or(0, Vec::len) < steps.len() {
            if tokio::time::Instant::now() > deadline {
                bail!("case {number} brought only {:?}", self.kinds(number));
            }
            self.read(Duration::from_secs(1)).await?;
        }
        let wanted: Vec<&str> = steps.iter().map(|step| step.kind).collect();
        ensure!(
            self.kinds(number) == wanted,
            "case {number}: messages {:?}, expected {wanted:?}",
            self.kinds(number)
        );
        let notices = self
            .by_case
            .get(number)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (notice, step) in notices.iter().zip(steps) {
            self.check(notice, to, step)
                .with_context(|| format!("case {number}, {}", step.kind))?;
        }
        Ok(())
    }

    fn check(&self, notice: &Notice, to: Recipient, step: &Step) -> Result<()> {
        let message = &notice.message;
        let text = &message.text;
        ensure!(text.starts_with(SIGNATURE), "no signature: {text}");
        ensure!(
            text.contains(&message.case_number),
            "no case number: {text}"
        );
        for part in &step.shows {
            ensure!(text.contains(part.as_str()), "{text} does not show {part}");
        }
        ensure!(message.phone == to.phone, "sent to {}", message.phone);
        let channel = serde_json::to_value(message.channel)?;
        ensure!(channel == to.channel, "channel {channel}");
        for id_number in PEOPLE {
            ensure!(
                !notice.raw.contains(id_number),
                "an ID number travels: {}",
                notice.raw
            );
        }
        let kind = "applicantNotification";
        let mut problems = self.contract.payload_problems(kind, &notice.payload)?;
        problems.extend(self.contract.header_problems(kind, &notice.headers)?);
        ensure!(
            problems.is_empty(),
            "not as the contract says: {problems:?}"
        );
        Ok(())
    }

    /// Waits for the received message of `case` and returns its text.
    async fn received_text(&mut self, case: &pb::SubmitApplicationResponse) -> Result<String> {
        let number = &case.case_number;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let received = self
                .by_case
                .get(number)
                .into_iter()
                .flatten()
                .find(|notice| notice.message.kind.code() == "received");
            if let Some(notice) = received {
                return Ok(notice.message.text.clone());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "case {number} brought only {:?}",
                self.kinds(number)
            );
            self.read(Duration::from_secs(1)).await?;
        }
    }

    fn kinds(&self, case_number: &str) -> Vec<&'static str> {
        let notices = self.by_case.get(case_number).into_iter().flatten();
        notices.map(|notice| notice.message.kind.code()).collect()
    }

    /// Nothing else arrives: no case has a message beyond those expected.
    async fn nothing_more(&mut self) -> Result<()> {
        let counts: BTreeMap<String, usize> = self
            .by_case
            .iter()
            .map(|(case, notices)| (case.clone(), notices.len()))
            .collect();
        self.read(Duration::from_secs(2)).await?;
        let mut extra = Vec::new();
        for (case, notices) in &self.by_case {
            let expected = counts.get(case).copied().unwrap_or(0);
            for notice in notices.iter().skip(expected) {
                extra.push(format!("{case}: {}", notice.message.kind.code()));
            }
        }
        ensure!(extra.is_empty(), "messages nobody expected: {extra:?}");
        Ok(())
    }
}

async fn rated_and_supervised(system: &System) -> Result<()> {
    let mut intake = system.intake_client()?;
    let collected = adult(HOLDER, IN_TOWN_A);
    let collected = submit(&mut intake, collected, pb::CaseStatus::Accepted).await?;
    let in_review = submit(&mut intake, minor(IN_TOWN_A), pb::CaseStatus::Accepted).await?;
    let early = too_early(OTHER_HOLDER);
    let early = submit(&mut intake, early, pb::CaseStatus::Refused).await?;
    let withdrawn = without_proof(adult(HOLDER, IN_TOWN_B));
    let withdrawn = submit(&mut intake, withdrawn, pb::CaseStatus::SupplementRequired).await?;
    let waiting = without_proof(adult(OTHER_HOLDER, IN_TOWN_B));
    submit(&mut intake, waiting, pb::CaseStatus::SupplementRequired).await?;
    let answer = withdraw(&mut intake, &withdrawn, "搬离本镇，不再办理").await?;
    ensure!(answer.status() == pb::CaseStatus::Withdrawn, "{answer:?}");

    // Open cases cannot be rated.
    wait_for_status(system, &in_review, pb::CaseStatus::InManualReview).await?;
    wait_for_status(system, &collected, pb::CaseStatus::ReadyForPickup).await?;
    for open in [&in_review, &collected] {
        let level = pb::RatingLevel::VerySatisfied;
        let refused = rate(&mut intake, open, pb::RatingChannel::Web, level, "").await;
        ensure!(code(&refused) == Code::FailedPrecondition, "{refused:?}");
    }
    collect(system, &collected).await?;
    wait_for_status(system, &collected, pb::CaseStatus::Collected).await?;

    let town_a = rated(&mut intake, &collected).await?;
    let comment = "撤回后仍多次接到催办电话";
    let level = pb::RatingLevel::Dissatisfied;
    let channel = pb::RatingChannel::Hotline;
    let town_b = rate(&mut intake, &withdrawn, channel, level, comment).await?;
    let town_b_task = town_b.into_inner().follow_up_id;
    ensure!(
        !town_b_task.is_empty(),
        "a dissatisfied rating opened no task"
    );

    let tracked = track(&mut intake, &early).await?;
    ensure!(
        tracked.rating_invited && tracked.ratings.is_empty(),
        "{tracked:?}"
    );
    followed_up(system, &town_a, &town_b_task).await?;
    reported(system).await
}

/// Ratings of the collected case: once per channel, repeated, and one dissatisfied; returns
/// the answer to that one, which opened a follow-up task.
async fn rated(
    intake: &mut IntakeServiceClient<Channel>,
    case: &pb::SubmitApplicationResponse,
) -> Result<pb::RateCaseResponse> {
    use pb::RatingChannel::{App, Sms, Web};
    use pb::RatingLevel::{Dissatisfied, Satisfied, VeryDissatisfied, VerySatisfied};
    let first = rate(intake, case, Web, VerySatisfied, "")
        .await?
        .into_inner();
    ensure!(first.level() == VerySatisfied && first.channel() == Web);
    ensure!(first.follow_up_id.is_empty() && first.follow_up_due_on.is_empty());
    ensure!(!first.replayed);

    let changed = rate(intake, case, Web, Satisfied, "").await;
    ensure!(code(&changed) == Code::AlreadyExists, "{changed:?}");
    let again = rate(intake, case, Web, VerySatisfied, "")
        .await?
        .into_inner();
    ensure!(
        again.replayed && again.rated_at == first.rated_at,
        "{again:?}"
    );
    let silent = rate(intake, case, App, Dissatisfied, "").await;
    ensure_fields(&silent, &["comment"])?;

    let comment = "窗口等候时间过长，工作人员未说明原因";
    let unhappy = rate(intake, case, Sms, VeryDissatisfied, comment).await?;
    let unhappy = unhappy.into_inner();
    ensure!(!unhappy.follow_up_id.is_empty(), "{unhappy:?}");
    let rated_on: NaiveDate = unhappy.rated_at.get(..10).unwrap_or_default().parse()?;
    let calendar = project_root()?.join("deploy/calendars");
    let calendar = residence_runtime::calendar::load_calendar(&calendar)?;
    let due = calendar.add_working_days(rated_on, FOLLOW_UP_WORKING_DAYS);
    ensure!(
        unhappy.follow_up_due_on == due.date.to_string(),
        "due {}, expected {}",
        unhappy.follow_up_due_on,
        due.date
    );

    let tracked = track(intake, case).await?;
    ensure!(tracked.rating_invited, "{tracked:?}");
    let ratings: Vec<(pb::RatingChannel, pb::RatingLevel)> = tracked
        .ratings
        .iter()
        .map(|rating| (rating.channel(), rating.level()))
        .collect();
    let expected = [(Web, VerySatisfied), (Sms, VeryDissatisfied)];
    ensure!(ratings == expected, "{ratings:?}");
    Ok(unhappy)
}

/// Who may see and close the follow-up tasks, and what closing one records.
async fn followed_up(
    system: &System,
    town_a: &pb::RateCaseResponse,
    town_b_task: &str,
) -> Result<()> {
    let town_a_task = town_a.follow_up_id.as_str();
    let county = system.county();
    let mut supervisor = supervision(system, Role::Supervisor, county, "supervisor-1")?;
    let mut operator_a = supervision(system, Role::Operator, TOWN_A, "operator-a")?;
    let mut operator_b = supervision(system, Role::Operator, TOWN_B, "operator-b")?;

    let listed = list_follow_ups(&mut supervisor, "", false).await?;
    let ids: Vec<&str> = listed
        .iter()
        .map(|task| task.follow_up_id.as_str())
        .collect();
    ensure!(
        ids == [town_a_task, town_b_task],
        "the supervisor sees {ids:?}"
    );
    let task = &listed[0];
    ensure!(task.town_code == TOWN_A && task.level() == pb::RatingLevel::VeryDissatisfied);
    ensure!(task.channel() == pb::RatingChannel::Sms && !task.comment.is_empty());
    ensure!(task.due_on == town_a.follow_up_due_on, "{task:?}");
    ensure!(task.outcome.is_empty() && task.closed_by.is_empty() && !task.overdue);

    let own = list_follow_ups(&mut operator_a, "", false).await?;
    let own: Vec<&str> = own.iter().map(|task| task.follow_up_id.as_str()).collect();
    ensure!(own == [town_a_task], "town A's operator sees {own:?}");
    let own = list_follow_ups(&mut operator_b, "", false).await?;
    let own: Vec<&str> = own.iter().map(|task| task.follow_up_id.as_str()).collect();
    ensure!(own == [town_b_task], "town B's operator sees {own:?}");
    let other_town = list_follow_ups(&mut operator_b, TOWN_A, false).await;
    ensure!(
        code(&other_town) == Code::PermissionDenied,
        "{other_town:?}"
    );
    let mut reviewer = supervision(system, Role::Reviewer, county, "reviewer-1")?;
    let refused = list_follow_ups(&mut reviewer, "", false).await;
    ensure!(code(&refused) == Code::PermissionDenied, "{refused:?}");
    let channel = system.staff_channel(Service::Intake, BearerToken::none())?;
    let mut anonymous = SupervisionServiceClient::new(channel);
    let refused = list_follow_ups(&mut anonymous, "", false).await;
    ensure!(code(&refused) == Code::Unauthenticated, "{refused:?}");

    let outcome = "已电话回访申请人，说明窗口高峰时段安排并致歉，申请人表示理解";
    let close = |outcome: &str| pb::CloseFollowUpRequest {
        follow_up_id: town_a_task.to_owned(),
        outcome: outcome.to_owned(),
    };
    let refused = supervisor.close_follow_up(close(outcome)).await;
    ensure!(code(&refused) == Code::PermissionDenied, "{refused:?}");
    let refused = operator_b.close_follow_up(close(outcome)).await;
    ensure!(code(&refused) == Code::PermissionDenied, "{refused:?}");
    let closed = operator_a
        .close_follow_up(close(outcome))
        .await?
        .into_inner();
    ensure!(closed.outcome == outcome && closed.closed_by == "operator-a");
    ensure!(
        !closed.closed_at.is_empty() && !closed.overdue,
        "{closed:?}"
    );
    let repeated = operator_a
        .close_follow_up(close(outcome))
        .await?
        .into_inner();
    ensure!(
        repeated == closed,
        "a repeat changed the task: {repeated:?}"
    );
    let conflicting = operator_a.close_follow_up(close("另行处理完毕")).await;
    ensure!(
        code(&conflicting) == Code::FailedPrecondition,
        "{conflicting:?}"
    );

    let open = list_follow_ups(&mut supervisor, county, true).await?;
    let open: Vec<&str> = open.iter().map(|task| task.follow_up_id.as_str()).collect();
    ensure!(open == [town_b_task], "still open: {open:?}");
    Ok(())
}

/// What the supervision report should say of one town, or of the county.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    /// Open cases per stage, in stage order.
    open: [u32; 5],
    /// Cases that left each stage, all before their time limit ran out.
    left: [u32; 5],
    closed: u32,
    withdrawn: u32,
    decided: u32,
    by_level: [u32; 5],
    invited: u32,
    rated: u32,
    follow_ups_open: u32,
    follow_ups_closed: u32,
}

/// The report counts what the cases above did, per town and for the county; a town's staff
/// see their own town only.
async fn reported(system: &System) -> Result<()> {
    let county = system.county();
    let mut supervisor = supervision(system, Role::Supervisor, county, "supervisor-1")?;
    let report = supervisor
        .get_supervision_report(pb::GetSupervisionReportRequest::default())
        .await?
        .into_inner();
    let codes: Vec<&str> = report.towns.iter().map(|t| t.town_code.as_str()).collect();
    let all = ["412824101", "412824102", "412824103", "412824104", county];
    ensure!(codes == all, "rows {codes:?}");

    // Town A: collected (approved by the rules), under manual review, refused at acceptance.
    let town_a = Figures {
        open: [0, 0, 1, 0, 0],
        left: [3, 0, 1, 1, 1],
        closed: 2,
        decided: 1,
        by_level: [1, 0, 0, 0, 1],
        invited: 2,
        rated: 1,
        follow_ups_closed: 1,
        ..Figures::default()
    };
    // Town B: withdrawn while waiting for materials, and still waiting for them.
    let town_b = Figures {
        open: [0, 1, 0, 0, 0],
        left: [2, 1, 0, 0, 0],
        closed: 1,
        withdrawn: 1,
        by_level: [0, 1, 0, 0, 0],
        invited: 1,
        rated: 1,
        follow_ups_open: 1,
        ..Figures::default()
    };
    let whole = Figures {
        open: [0, 1, 1, 0, 0],
        left: [5, 1, 1, 1, 1],
        closed: 3,
        withdrawn: 1,
        decided: 1,
        by_level: [1, 1, 0, 0, 1],
        invited: 3,
        rated: 2,
        follow_ups_open: 1,
        follow_ups_closed: 1,
    };
    ensure_figures(&report, TOWN_A, &town_a)?;
    ensure_figures(&report, TOWN_B, &town_b)?;
    ensure_figures(&report, "412824103", &Figures::default())?;
    ensure_figures(&report, county, &whole)?;
    let ratings = town(&report, county)?.ratings.as_ref();
    let satisfaction = ratings.context("no ratings")?.satisfaction_ratio;
    ensure!(
        (satisfaction - 1.0 / 3.0).abs() < 1e-9,
        "satisfaction {satisfaction}"
    );

    // A period before the cases: open cases and tasks count as of now, nothing else does.
    let yesterday = (china_today() - chrono::Duration::days(1)).to_string();
    let earlier = pb::GetSupervisionReportRequest {
        area_code: county.to_owned(),
        from: yesterday.clone(),
        to: yesterday,
    };
    let earlier = supervisor
        .get_supervision_report(earlier)
        .await?
        .into_inner();
    let before = Figures {
        open: whole.open,
        follow_ups_open: 1,
        ..Figures::default()
    };
    ensure_figures(&earlier, county, &before)?;

    // A town's operator sees the town; the county is out of reach.
    let mut operator = supervision(system, Role::Operator, TOWN_A, "operator-a")?;
    let own = pb::GetSupervisionReportRequest::default();
    let own = operator.get_supervision_report(own).await?.into_inner();
    let codes: Vec<&str> = own.towns.iter().map(|t| t.town_code.as_str()).collect();
    ensure!(codes == [TOWN_A], "town A's operator sees {codes:?}");
    ensure_figures(&own, TOWN_A, &town_a)?;
    let whole_county = pb::GetSupervisionReportRequest {
        area_code: county.to_owned(),
        ..Default::default()
    };
    let refused = operator.get_supervision_report(whole_county.clone()).await;
    ensure!(code(&refused) == Code::PermissionDenied, "{refused:?}");
    let mut reviewer = supervision(system, Role::Reviewer, county, "reviewer-1")?;
    let refused = reviewer.get_supervision_report(whole_county).await;
    ensure!(code(&refused) == Code::PermissionDenied, "{refused:?}");
    Ok(())
}

fn town<'a>(report: &'a pb::SupervisionReport, code: &str) -> Result<&'a pb::TownFigures> {
    report
        .towns
        .iter()
        .find(|town| town.town_code == code)
        .with_context(|| format!("no row for {code}"))
}

fn ensure_figures(report: &pb::SupervisionReport, code: &str, expected: &Figures) -> Result<()> {
    let row = town(report, code)?;
    let ratings = row.ratings.clone().context("no ratings")?;
    let stages: Vec<pb::Stage> = row.stages.iter().map(pb::StageFigures::stage).collect();
    let order = [
        pb::Stage::Receive,
        pb::Stage::Accept,
        pb::Stage::Review,
        pb::Stage::Decide,
        pb::Stage::Deliver,
    ];
    ensure!(stages == order, "{code}: stages {stages:?}");
    let open: Vec<u32> = row.stages.iter().map(|s| s.open).collect();
    let left: Vec<u32> = row.stages.iter().map(|s| s.left).collect();
    let on_time: Vec<u32> = row.stages.iter().map(|s| s.left_on_time).collect();
    let late: u32 = row.stages.iter().map(|s| s.due_today + s.overdue).sum();
    let actual = Figures {
        open: open.try_into().unwrap_or_default(),
        left: left.clone().try_into().unwrap_or_default(),
        closed: row.closed,
        withdrawn: row.withdrawn,
        decided: row.decided,
        by_level: ratings.by_level.clone().try_into().unwrap_or_default(),
        invited: ratings.invited,
        rated: ratings.rated,
        follow_ups_open: ratings.follow_ups_open,
        follow_ups_closed: ratings.follow_ups_closed,
    };
    ensure!(
        actual == *expected,
        "{code}: {actual:?}\nexpected {expected:?}\nrow {row:?}"
    );
    ensure!(
        on_time == left && late == 0,
        "{code}: late cases in {row:?}"
    );
    ensure!(
        row.decided_on_time == row.decided && (row.on_time_ratio - 1.0).abs() < 1e-9,
        "{code}: decisions late in {row:?}"
    );
    ensure!(ratings.total == ratings.by_level.iter().sum::<u32>());
    ensure!(ratings.follow_ups_overdue == 0, "{code}: {ratings:?}");
    Ok(())
}

fn supervision(
    system: &System,
    role: Role,
    scope: &str,
    subject: &str,
) -> Result<SupervisionServiceClient<StaffChannel>> {
    let token = system.staff_token(role, scope, subject)?;
    let channel = system.staff_channel(Service::Intake, BearerToken::new(&token)?)?;
    Ok(SupervisionServiceClient::new(channel))
}

async fn list_follow_ups(
    client: &mut SupervisionServiceClient<StaffChannel>,
    area_code: &str,
    open_only: bool,
) -> Result<Vec<pb::FollowUp>, Status> {
    let request = pb::ListFollowUpsRequest {
        area_code: area_code.to_owned(),
        open_only,
        limit: 0,
    };
    let listed = client.list_follow_ups(request).await?;
    Ok(listed.into_inner().follow_ups)
}

async fn rate(
    intake: &mut IntakeServiceClient<Channel>,
    case: &pb::SubmitApplicationResponse,
    channel: pb::RatingChannel,
    level: pb::RatingLevel,
    comment: &str,
) -> Result<tonic::Response<pb::RateCaseResponse>, Status> {
    let request = pb::RateCaseRequest {
        case_number: case.case_number.clone(),
        access_code: case.access_code.clone(),
        channel: channel as i32,
        level: level as i32,
        comment: comment.to_owned(),
    };
    intake.rate_case(request).await
}

async fn withdraw(
    intake: &mut IntakeServiceClient<Channel>,
    case: &pb::SubmitApplicationResponse,
    reason: &str,
) -> Result<pb::WithdrawApplicationResponse> {
    let request = pb::WithdrawApplicationRequest {
        case_number: case.case_number.clone(),
        access_code: case.access_code.clone(),
        reason: reason.to_owned(),
    };
    Ok(intake.withdraw_application(request).await?.into_inner())
}

/// A window operator of the county records that the holder collected the permit.
async fn collect(system: &System, case: &pb::SubmitApplicationResponse) -> Result<()> {
    let request = pb::RecordCollectionRequest {
        case_number: case.case_number.clone(),
        clerk_id: "窗口03".into(),
        collected_by: "holder".into(),
    };
    system.delivery_client()?.record_collection(request).await?;
    Ok(())
}

async fn submit(
    intake: &mut IntakeServiceClient<Channel>,
    request: pb::SubmitApplicationRequest,
    wanted: pb::CaseStatus,
) -> Result<pb::SubmitApplicationResponse> {
    let response = intake.submit_application(request).await?.into_inner();
    ensure!(response.status() == wanted, "{response:?}");
    Ok(response)
}

async fn track(
    intake: &mut IntakeServiceClient<Channel>,
    case: &pb::SubmitApplicationResponse,
) -> Result<pb::TrackCaseResponse> {
    let request = pb::TrackCaseRequest {
        case_number: case.case_number.clone(),
        access_code: case.access_code.clone(),
    };
    Ok(intake.track_case(request).await?.into_inner())
}

/// The reasons as a message shows them, each without its full stop.
fn messages(reasons: &[pb::Reason]) -> impl Iterator<Item = &str> {
    reasons
        .iter()
        .map(|reason| reason.message.trim_end_matches('。'))
}

fn code<T>(result: &Result<T, Status>) -> Code {
    result.as_ref().map_or_else(Status::code, |_| Code::Ok)
}

/// INVALID_ARGUMENT naming exactly `fields`.
fn ensure_fields<T: std::fmt::Debug>(result: &Result<T, Status>, fields: &[&str]) -> Result<()> {
    let status = match result {
        Err(status) if status.code() == Code::InvalidArgument => status,
        other => bail!("expected INVALID_ARGUMENT on {fields:?}, got {other:?}"),
    };
    let details = status.get_error_details();
    let violations = &details
        .bad_request()
        .context("no BadRequest detail")?
        .field_violations;
    let mut named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    named.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    ensure!(named == expected, "named {named:?}, expected {expected:?}");
    Ok(())
}

fn adult(id_number: &str, address: &str) -> pb::SubmitApplicationRequest {
    let valid_until = (china_today() + chrono::Duration::days(5)).to_string();
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".into(),
            id_number: id_number.into(),
            phone: HOLDER_PHONE.into(),
        }),
        permit: Some(pb::Permit { valid_until }),
        residence_address: address.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            ..Default::default()
        }),
        materials: materials(&[
            pb::MaterialKind::ResidencePermit,
            pb::MaterialKind::IdCard,
            pb::MaterialKind::ProofOfResidence,
        ]),
        agent: None,
    }
}

fn by_courier(mut request: pb::SubmitApplicationRequest) -> pb::SubmitApplicationRequest {
    request.delivery = Some(pb::Delivery {
        method: pb::DeliveryMethod::Courier as i32,
        recipient_name: "测试申请人".into(),
        recipient_phone: HOLDER_PHONE.into(),
        recipient_address: IN_TOWN_A.into(),
    });
    request
}

/// Months before the permit runs out: refused at acceptance.
fn too_early(id_number: &str) -> pb::SubmitApplicationRequest {
    let mut request = adult(id_number, IN_TOWN_A);
    let valid_until = (china_today() + chrono::Duration::days(90)).to_string();
    request.permit = Some(pb::Permit { valid_until });
    request
}

/// Without the proof of residence: one supplement notice at acceptance.
fn without_proof(mut request: pb::SubmitApplicationRequest) -> pb::SubmitApplicationRequest {
    request.materials = materials(&[pb::MaterialKind::ResidencePermit, pb::MaterialKind::IdCard]);
    request
}

/// A guardian applies at the window for a child: the case goes to manual review.
fn minor(address: &str) -> pb::SubmitApplicationRequest {
    let mut request = adult(CHILD, address);
    if let Some(applicant) = request.applicant.as_mut() {
        applicant.name = "测试儿童".into();
    }
    request.channel = pb::Channel::Window as i32;
    request.agent = Some(pb::Agent {
        name: "测试监护人".into(),
        id_number: GUARDIAN.into(),
        phone: GUARDIAN_PHONE.into(),
        relation: pb::AgentRelation::Guardian as i32,
    });
    request.materials = materials(&[
        pb::MaterialKind::ResidencePermit,
        pb::MaterialKind::IdCard,
        pb::MaterialKind::ProofOfStudy,
        pb::MaterialKind::AgentIdCard,
        pb::MaterialKind::ProofOfRelationship,
    ]);
    request
}

fn materials(kinds: &[pb::MaterialKind]) -> Vec<pb::Material> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| pb::Material {
            kind: *kind as i32,
            reference: format!("scan-{i}"),
        })
        .collect()
}
