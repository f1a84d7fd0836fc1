//! Staff identity against the running services: each role (reviewer, decider, operator,
//! supervisor) can make its own calls and gets PERMISSION_DENIED for every other staff call; a
//! reviewer of one town cannot touch another town's case; a missing, expired, forged or
//! foreign-key token is UNAUTHENTICATED; an applicant reaches only their own case with its
//! access code; health stays open.
//!
//! The binaries must be built first (`cargo build --workspace --bins`).

use anyhow::{Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use residence_cli::staff::StaffChannel;
use residence_cli::system::{Service, System};
use residence_proto::v1 as pb;
use residence_proto::v1::decision_service_client::DecisionServiceClient;
use residence_proto::v1::delivery_service_client::DeliveryServiceClient;
use residence_proto::v1::elicense_service_client::ElicenseServiceClient;
use residence_proto::v1::intake_service_client::IntakeServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_runtime::time::china_today;
use residence_staff::{BearerToken, Claims, Role, Scope};
use residence_system_tests::system::{finish, start, wait_for_license, wait_for_status};
use tonic::{Code, Status};

/// Synthetic people: valid GB 11643 numbers of no real person.
const CHILD: &str = "41172120150307123X";
const GUARDIAN: &str = "41172119880517108X";
const ADULT: &str = "411721199001011237";
const OTHER_ADULT: &str = "412824198507153217";

const TOWN_A: &str = "412824101";
const TOWN_B: &str = "412824102";
const IN_TOWN_A: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";
const IN_TOWN_B: &str = "河南省驻马店市西平县权寨镇南街村二组5号";
const OUTSIDE: &str = "河南省驻马店市遂平县车站街道建设路8号";

/// Clients of every staff-facing service, all sending one token.
struct Desk {
    review: ReviewServiceClient<StaffChannel>,
    decision: DecisionServiceClient<StaffChannel>,
    delivery: DeliveryServiceClient<StaffChannel>,
    elicense: ElicenseServiceClient<StaffChannel>,
    intake: IntakeServiceClient<StaffChannel>,
}

impl Desk {
    fn with(system: &System, token: &str) -> Result<Self> {
        let channel = |service| system.staff_channel(service, BearerToken::new(token)?);
        Ok(Self {
            review: ReviewServiceClient::new(channel(Service::Review)?),
            decision: DecisionServiceClient::new(channel(Service::Decision)?),
            delivery: DeliveryServiceClient::new(channel(Service::Delivery)?),
            elicense: ElicenseServiceClient::new(channel(Service::Elicense)?),
            intake: IntakeServiceClient::new(channel(Service::Intake)?),
        })
    }

    fn as_role(system: &System, role: Role, scope: &str) -> Result<Self> {
        let token = system.staff_token(role, scope, &format!("{}-1", role.code()))?;
        Self::with(system, &token)
    }
}

/// Every staff call this suite makes, on the cases it set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    ListQueue,
    GetReview,
    Claim,
    Approve,
    ListPending,
    GetDecision,
    Deny,
    Reverse,
    ListAwaiting,
    GetDelivery,
    Collect,
    LicenseByCase,
    PlatformProblems,
    TrackAsStaff,
}

/// The cases the calls act on.
struct Cases {
    /// A child's case in town A, under manual review.
    minor_a: pb::SubmitApplicationResponse,
    /// A child's case in town B, under manual review.
    minor_b: pb::SubmitApplicationResponse,
    /// An adult's case decided by the rules, waiting at the window.
    approved: pb::SubmitApplicationResponse,
    /// An address outside the jurisdiction, referred to the deciding officer.
    referred: pb::SubmitApplicationResponse,
}

impl Desk {
    /// Makes `call` on `cases` and returns its status code (`Ok` when it succeeded).
    async fn make(&mut self, call: Call, cases: &Cases) -> Code {
        let a = cases.minor_a.case_number.clone();
        let approved = cases.approved.case_number.clone();
        let referred = cases.referred.case_number.clone();
        let result: Result<(), Status> = match call {
            Call::ListQueue => self
                .review
                .list_review_queue(pb::ListReviewQueueRequest::default())
                .await
                .map(drop),
            Call::GetReview => self
                .review
                .get_review(pb::GetReviewRequest { case_number: a })
                .await
                .map(drop),
            Call::Claim => self
                .review
                .claim_review(pb::ClaimReviewRequest { case_number: a })
                .await
                .map(drop),
            Call::Approve => self
                .review
                .approve_review(pb::ApproveReviewRequest {
                    case_number: a,
                    note: "监护关系证明已核对".into(),
                })
                .await
                .map(drop),
            Call::ListPending => self
                .decision
                .list_pending_decisions(pb::ListPendingDecisionsRequest::default())
                .await
                .map(drop),
            Call::GetDecision => self
                .decision
                .get_decision(pb::GetDecisionRequest {
                    case_number: approved,
                })
                .await
                .map(drop),
            Call::Deny => self
                .decision
                .deny_decision(pb::DenyDecisionRequest {
                    case_number: referred,
                    legal_basis: "《居住证暂行条例》第二条、第十条".into(),
                    reasons: vec!["居住地址不在本县管辖范围内".into()],
                })
                .await
                .map(drop),
            Call::Reverse => self
                .decision
                .reverse_decision(pb::ReverseDecisionRequest {
                    case_number: approved,
                    reason: "经复查，居住证明材料不实".into(),
                })
                .await
                .map(drop),
            Call::ListAwaiting => self
                .delivery
                .list_awaiting_collection(pb::ListAwaitingCollectionRequest::default())
                .await
                .map(drop),
            Call::GetDelivery => self
                .delivery
                .get_delivery(pb::GetDeliveryRequest {
                    case_number: approved,
                })
                .await
                .map(drop),
            Call::Collect => self
                .delivery
                .record_collection(pb::RecordCollectionRequest {
                    case_number: approved,
                    clerk_id: "窗口03".into(),
                    collected_by: "holder".into(),
                })
                .await
                .map(drop),
            Call::LicenseByCase => self
                .elicense
                .get_license_by_case(pb::GetLicenseByCaseRequest {
                    case_number: approved,
                })
                .await
                .map(drop),
            Call::PlatformProblems => self
                .elicense
                .list_platform_problems(pb::ListPlatformProblemsRequest::default())
                .await
                .map(drop),
            Call::TrackAsStaff => self
                .intake
                .track_case(pb::TrackCaseRequest {
                    case_number: a,
                    access_code: String::new(),
                })
                .await
                .map(drop),
        };
        match result {
            Ok(()) => Code::Ok,
            Err(status) => status.code(),
        }
    }
}

const ALL_CALLS: [Call; 14] = [
    Call::ListQueue,
    Call::GetReview,
    Call::Claim,
    Call::Approve,
    Call::ListPending,
    Call::GetDecision,
    Call::Deny,
    Call::Reverse,
    Call::ListAwaiting,
    Call::GetDelivery,
    Call::Collect,
    Call::LicenseByCase,
    Call::PlatformProblems,
    Call::TrackAsStaff,
];

/// Makes every call as `desk`: those in `allowed`, in that order, must succeed; every other
/// must be refused with PERMISSION_DENIED, and is made first, so that it would find the cases
/// still open.
async fn only(desk: &mut Desk, role: &str, allowed: &[Call], cases: &Cases) -> Result<()> {
    let mut wrong = Vec::new();
    for call in ALL_CALLS.into_iter().filter(|c| !allowed.contains(c)) {
        let code = desk.make(call, cases).await;
        if code != Code::PermissionDenied {
            wrong.push(format!(
                "{role} {call:?}: expected PERMISSION_DENIED, got {code:?}"
            ));
        }
    }
    for call in allowed {
        let code = desk.make(*call, cases).await;
        if code != Code::Ok {
            wrong.push(format!("{role} {call:?}: expected OK, got {code:?}"));
        }
    }
    ensure!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_makes_its_own_calls_and_no_other() -> Result<()> {
    let system = start("staff").await?;
    let result = check(&system).await;
    finish(system, result).await
}

async fn check(system: &System) -> Result<()> {
    let cases = open_cases(system).await?;
    tokens_are_checked(system, &cases).await?;
    applicants_reach_their_own_case_only(system, &cases).await?;
    health_stays_open(system).await?;

    // A reviewer of town A: the queue, the review and the manual review steps of town A only.
    let mut reviewer = Desk::as_role(system, Role::Reviewer, TOWN_A)?;
    let b = cases.minor_b.case_number.clone();
    let other_town = reviewer
        .review
        .claim_review(pb::ClaimReviewRequest { case_number: b })
        .await;
    ensure!(
        other_town.as_ref().err().map(Status::code) == Some(Code::PermissionDenied),
        "a reviewer of town A claimed town B's case: {other_town:?}"
    );
    let town_b_queue = pb::ListReviewQueueRequest {
        area_code: TOWN_B.into(),
        limit: 0,
    };
    let listed = reviewer.review.list_review_queue(town_b_queue).await;
    ensure!(listed.err().map(|s| s.code()) == Some(Code::PermissionDenied));
    let reviewer_calls = [
        Call::ListQueue,
        Call::GetReview,
        Call::Claim,
        Call::Approve,
        Call::TrackAsStaff,
    ];
    only(&mut reviewer, "reviewer", &reviewer_calls, &cases).await?;

    // The supervisor reads everything and changes nothing.
    let mut supervisor = Desk::as_role(system, Role::Supervisor, system.county())?;
    let supervisor_calls = [
        Call::ListQueue,
        Call::GetReview,
        Call::ListPending,
        Call::GetDecision,
        Call::ListAwaiting,
        Call::GetDelivery,
        Call::LicenseByCase,
        Call::PlatformProblems,
        Call::TrackAsStaff,
    ];
    only(&mut supervisor, "supervisor", &supervisor_calls, &cases).await?;

    // The operator hands the approved permit over and follows up the platforms.
    let mut operator = Desk::as_role(system, Role::Operator, system.county())?;
    let operator_calls = [
        Call::ListAwaiting,
        Call::GetDelivery,
        Call::Collect,
        Call::LicenseByCase,
        Call::PlatformProblems,
        Call::TrackAsStaff,
    ];
    only(&mut operator, "operator", &operator_calls, &cases).await?;

    // The deciding officer denies the referred case and reverses the approval.
    let mut decider = Desk::as_role(system, Role::Decider, system.county())?;
    let decider_calls = [
        Call::ListQueue,
        Call::ListPending,
        Call::GetReview,
        Call::GetDecision,
        Call::LicenseByCase,
        Call::Deny,
        Call::Reverse,
        Call::TrackAsStaff,
    ];
    only(&mut decider, "decider", &decider_calls, &cases).await
}

/// Opens the cases the calls act on and brings each where the calls need it.
async fn open_cases(system: &System) -> Result<Cases> {
    let mut intake = system.intake_client()?;
    let mut submit = async |request| -> Result<pb::SubmitApplicationResponse> {
        let response = intake.submit_application(request).await?.into_inner();
        ensure!(
            response.status() == pb::CaseStatus::Accepted,
            "{response:?}"
        );
        Ok(response)
    };
    let cases = Cases {
        minor_a: submit(minor(IN_TOWN_A)).await?,
        minor_b: submit(minor(IN_TOWN_B)).await?,
        approved: submit(adult(ADULT, IN_TOWN_A)).await?,
        referred: submit(adult(OTHER_ADULT, OUTSIDE)).await?,
    };
    for case in [&cases.minor_a, &cases.minor_b, &cases.referred] {
        wait_for_status(system, case, pb::CaseStatus::InManualReview).await?;
    }
    wait_for_status(system, &cases.approved, pb::CaseStatus::ReadyForPickup).await?;
    wait_for_license(system, &cases.approved.case_number).await?;

    // The county's reviewer refers the outside address to the deciding officer.
    let mut review = system.review_client()?;
    let case_number = cases.referred.case_number.clone();
    let claimed = review
        .claim_review(pb::ClaimReviewRequest {
            case_number: case_number.clone(),
        })
        .await?
        .into_inner();
    let refer = pb::ReferReviewRequest {
        case_number,
        findings: claimed.findings,
    };
    review.refer_review(refer).await?;
    wait_for_status(system, &cases.referred, pb::CaseStatus::AwaitingDecision).await?;
    Ok(cases)
}

/// Missing, malformed, expired, forged, foreign-key and other-county tokens.
async fn tokens_are_checked(system: &System, cases: &Cases) -> Result<()> {
    let run_key = system.run_dir().join("staff-signing/system.key.pem");
    let run_key = residence_staff::keys::read_signing_key(&run_key)?;
    let now = chrono::Utc::now().timestamp();
    let claims = |role, scope: &str, iat: i64, exp: i64| Claims {
        sub: "staff-9".into(),
        role,
        scope: Scope::parse(scope).unwrap(),
        iat,
        exp,
    };
    let expired = claims(Role::Supervisor, system.county(), now - 7_200, now - 3_600);
    let expired = residence_staff::token::issue(&expired, &run_key)?;

    // A reviewer's token with the payload swapped for a decider's: the signature no longer
    // matches.
    let reviewer = claims(Role::Reviewer, system.county(), now, now + 600);
    let reviewer = residence_staff::token::issue(&reviewer, &run_key)?;
    let parts: Vec<&str> = reviewer.split('.').collect();
    let decider = claims(Role::Decider, system.county(), now, now + 600);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&decider)?);
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);

    // A well-formed token signed by a key no service trusts.
    let foreign_dir = system.run_dir().join("foreign-key");
    let foreign = residence_staff::keys::generate(&foreign_dir, "foreign")?;
    let foreign = residence_staff::keys::read_signing_key(&foreign.private_key_file)?;
    let foreign = residence_staff::token::issue(&decider, &foreign)?;

    let unauthenticated = [
        ("malformed", "not-a-token".to_owned()),
        ("expired", expired),
        ("forged", forged),
        ("signed with an unknown key", foreign),
    ];
    for (what, token) in &unauthenticated {
        let mut desk = Desk::with(system, token)?;
        for call in [Call::ListPending, Call::GetReview, Call::Collect] {
            let code = desk.make(call, cases).await;
            ensure!(
                code == Code::Unauthenticated,
                "{what} token, {call:?}: {code:?}"
            );
        }
        // A bad token is refused even beside the right access code.
        let track = pb::TrackCaseRequest {
            case_number: cases.minor_a.case_number.clone(),
            access_code: cases.minor_a.access_code.clone(),
        };
        let tracked = desk.intake.track_case(track).await;
        ensure!(tracked.err().map(|s| s.code()) == Some(Code::Unauthenticated));
    }

    let mut missing = anonymous(system)?;
    for call in [
        Call::ListQueue,
        Call::GetDecision,
        Call::Collect,
        Call::Reverse,
    ] {
        let code = missing.make(call, cases).await;
        ensure!(
            code == Code::Unauthenticated,
            "no token, {call:?}: {code:?}"
        );
    }

    let elsewhere = system.staff_token(Role::Supervisor, "412825", "staff-9")?;
    let mut elsewhere = Desk::with(system, &elsewhere)?;
    let code = elsewhere.make(Call::ListQueue, cases).await;
    ensure!(code == Code::PermissionDenied, "another county: {code:?}");
    Ok(())
}

/// Clients that send no token at all, as an applicant's would.
fn anonymous(system: &System) -> Result<Desk> {
    let channel = |service| system.staff_channel(service, BearerToken::none());
    Ok(Desk {
        review: ReviewServiceClient::new(channel(Service::Review)?),
        decision: DecisionServiceClient::new(channel(Service::Decision)?),
        delivery: DeliveryServiceClient::new(channel(Service::Delivery)?),
        elicense: ElicenseServiceClient::new(channel(Service::Elicense)?),
        intake: IntakeServiceClient::new(channel(Service::Intake)?),
    })
}

/// The access code opens its own case and no other; without it an applicant sees nothing.
async fn applicants_reach_their_own_case_only(system: &System, cases: &Cases) -> Result<()> {
    let mut intake = system.intake_client()?;
    let own = pb::TrackCaseRequest {
        case_number: cases.minor_a.case_number.clone(),
        access_code: cases.minor_a.access_code.clone(),
    };
    let tracked = intake.track_case(own).await?.into_inner();
    ensure!(tracked.case_number == cases.minor_a.case_number);
    let other = pb::TrackCaseRequest {
        case_number: cases.minor_b.case_number.clone(),
        access_code: cases.minor_a.access_code.clone(),
    };
    let refused = intake.track_case(other).await;
    ensure!(refused.err().map(|s| s.code()) == Some(Code::NotFound));
    let without = pb::TrackCaseRequest {
        case_number: cases.minor_a.case_number.clone(),
        access_code: String::new(),
    };
    let refused = intake.track_case(without).await;
    ensure!(refused.err().map(|s| s.code()) == Some(Code::InvalidArgument));
    Ok(())
}

/// Health checks need no token.
async fn health_stays_open(system: &System) -> Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    for service in [Service::Review, Service::Decision, Service::Delivery] {
        let mut health = HealthClient::new(system.channel(service)?);
        let answer = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?
            .into_inner();
        ensure!(answer.status() == ServingStatus::Serving, "{service}");
    }
    Ok(())
}

fn minor(address: &str) -> pb::SubmitApplicationRequest {
    let mut request = adult(CHILD, address);
    request.applicant.as_mut().unwrap().name = "测试儿童".into();
    request.channel = pb::Channel::Window as i32;
    request.agent = Some(pb::Agent {
        name: "测试监护人".into(),
        id_number: GUARDIAN.into(),
        phone: "13900000000".into(),
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

fn adult(id_number: &str, address: &str) -> pb::SubmitApplicationRequest {
    let valid_until = (china_today() + chrono::Duration::days(5)).to_string();
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".into(),
            id_number: id_number.into(),
            phone: "13800000000".into(),
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
