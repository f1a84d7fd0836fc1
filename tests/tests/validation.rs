//! Malformed requests get INVALID_ARGUMENT naming every bad field, and change nothing.
//!
//! Every kind of bad input (empty and whitespace-only text, control, zero-width and
//! bidirectional characters, full-width digits, impossible dates, absurd lengths, unknown enum
//! values, duplicates, oversize messages) goes to every API of the running system. Then the
//! services' own databases must show that nothing was recorded, and a valid application after
//! all of it must get the first case number.
//!
//! The service binaries must be built first (`cargo build --workspace --bins`).

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use residence_cli::staff::StaffChannel;
use residence_cli::system::{Service, System, SystemOptions};
use residence_proto::v1 as pb;
use residence_proto::v1::decision_service_client::DecisionServiceClient;
use residence_proto::v1::delivery_service_client::DeliveryServiceClient;
use residence_proto::v1::elicense_service_client::ElicenseServiceClient;
use residence_proto::v1::intake_service_client::IntakeServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_runtime::grpc::MAX_REQUEST_BYTES;
use residence_runtime::time::china_today;
use residence_system_tests::system::finish;
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// Synthetic people: valid GB 11643 numbers of no real person.
const HOLDER: &str = "411721199001011237";
const AGENT: &str = "41172119880517108X";
const IN_COUNTY: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";
/// Shaped like a case number, but no case has it.
const UNKNOWN_CASE: &str = "1141282400596722961000709005000-20261204-000001-X";
const FULL_WIDTH_CASE: &str = "１１４１-20261204-000001-X";
const FULL_WIDTH_DIGITS: &str = "half-width digits";
/// Far more than any field allows, yet the whole message stays under the size limit.
const ABSURD: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_field_by_field_and_changes_nothing() -> Result<()> {
    let options = SystemOptions {
        run_prefix: "validation".into(),
        ..SystemOptions::default()
    };
    let mut system = System::start(options).await?;
    let result = check(&mut system).await;
    finish(system, result).await
}

async fn check(system: &mut System) -> Result<()> {
    let mut clients = Clients::new(system)?;
    clients
        .intake
        .pre_review_application(application())
        .await
        .context("the application every bad one is made from must be valid")?;
    clients
        .intake
        .pre_review_application(largest_application())
        .await
        .context("the largest valid application must fit the size limit")?;

    let mut failures = Vec::new();
    for bad in bad_requests() {
        if let Err(error) = clients.expect_refused(&bad).await {
            failures.push(format!("{}: {error:#}", bad.what));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));

    let exited = system.exited_processes();
    ensure!(
        exited.is_empty(),
        "processes exited on bad input: {exited:?}"
    );
    nothing_recorded(system).await?;

    // The first valid application after all of that gets the first sequence number.
    let mut pickup = application();
    pickup.delivery = Some(pb::Delivery {
        method: pb::DeliveryMethod::Pickup as i32,
        ..Default::default()
    });
    let accepted = clients
        .intake
        .submit_application(pickup)
        .await?
        .into_inner();
    assert_eq!(accepted.status(), pb::CaseStatus::Accepted, "{accepted:?}");
    ensure!(
        accepted.case_number.contains("-000001-"),
        "a refused request used up a case number: {}",
        accepted.case_number
    );
    collection_refusals_record_nothing(system, &mut clients, &accepted.case_number).await
}

/// The services' own databases, read directly: no case, no event to publish, no delivery.
async fn nothing_recorded(system: &System) -> Result<()> {
    let intake = count_rows(system, Service::Intake, &["cases", "case_steps", "outbox"]).await?;
    ensure!(intake == [0, 0, 0], "intake recorded {intake:?}");
    let delivery = count_rows(system, Service::Delivery, &["deliveries", "outbox"]).await?;
    ensure!(delivery == [0, 0], "delivery recorded {delivery:?}");

    let summary = system.summary().await;
    assert_eq!(summary.submitted, 0, "{summary:?}");
    assert_eq!(summary.collected_in_person, 0, "{summary:?}");
    Ok(())
}

/// Row counts of `tables` in `service`'s SQLite file, opened read-only.
async fn count_rows(system: &System, service: Service, tables: &[&str]) -> Result<Vec<i64>> {
    let url = format!("{}?mode=ro", system.database_url(service));
    let db = Database::connect(url).await?;
    let mut counts = Vec::new();
    for table in tables {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?
            .with_context(|| format!("no count from {service} {table}"))?;
        counts.push(row.try_get::<i64>("", "n")?);
    }
    db.close().await?;
    Ok(counts)
}

/// A permit waiting at the window stays there when the collection request is malformed.
async fn collection_refusals_record_nothing(
    system: &System,
    clients: &mut Clients,
    case_number: &str,
) -> Result<()> {
    wait_for_state(clients, case_number, pb::DeliveryState::AwaitingCollection).await?;
    let collect = |clerk_id: &str, collected_by: &str| pb::RecordCollectionRequest {
        case_number: case_number.to_owned(),
        clerk_id: clerk_id.to_owned(),
        collected_by: collected_by.to_owned(),
    };
    let refused = [
        Bad::new(
            "clerk id with a zero-width space",
            Call::Collect(collect("窗口\u{200B}03", "holder")),
        )
        .fields(&["clerk_id"]),
        Bad::new(
            "collector neither holder nor agent",
            Call::Collect(collect("窗口03", "neighbour")),
        )
        .fields(&["collected_by"]),
        Bad::new(
            "oversize collection",
            Call::Collect(collect(&oversize(), "holder")),
        )
        .oversize(),
    ];
    for bad in &refused {
        clients
            .expect_refused(bad)
            .await
            .context(bad.what.clone())?;
    }
    let delivery = clients.delivery_state(case_number).await?;
    assert_eq!(delivery, Some(pb::DeliveryState::AwaitingCollection));
    assert_eq!(system.summary().await.collected_in_person, 0);

    // The same request, well formed, is recorded.
    let collected = clients
        .delivery
        .record_collection(collect("窗口03", "holder"))
        .await?
        .into_inner();
    assert_eq!(collected.state(), pb::DeliveryState::Collected);
    Ok(())
}

async fn wait_for_state(
    clients: &mut Clients,
    case_number: &str,
    wanted: pb::DeliveryState,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = clients.delivery_state(case_number).await?;
        if state == Some(wanted) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("case {case_number} never reached {wanted:?}; last {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One request to one API.
#[derive(Clone)]
enum Call {
    Submit(Box<pb::SubmitApplicationRequest>),
    PreReview(Box<pb::SubmitApplicationRequest>),
    Track(pb::TrackCaseRequest),
    Supplement(pb::SupplementMaterialsRequest),
    Review(pb::GetReviewRequest),
    Decision(pb::GetDecisionRequest),
    Delivery(pb::GetDeliveryRequest),
    Collect(pb::RecordCollectionRequest),
    ListAwaiting(pb::ListAwaitingCollectionRequest),
    Verify(pb::VerifyLicenseRequest),
    License(pb::GetLicenseByCaseRequest),
}

/// What a refusal must look like.
#[derive(Clone)]
enum Refusal {
    /// `INVALID_ARGUMENT` whose BadRequest names exactly these fields, each description
    /// containing `mentions`.
    Fields {
        fields: Vec<String>,
        mentions: &'static str,
    },
    /// A message over the size limit, refused by tonic before decoding.
    Oversize,
}

/// One bad request and how it must be refused.
struct Bad {
    what: String,
    call: Call,
    refusal: Refusal,
}

impl Bad {
    fn new(what: impl Into<String>, call: Call) -> Self {
        Self {
            what: what.into(),
            call,
            refusal: Refusal::Oversize,
        }
    }

    fn fields(self, fields: &[&str]) -> Self {
        self.fields_mentioning(fields, "")
    }

    fn fields_mentioning(mut self, fields: &[&str], mentions: &'static str) -> Self {
        let fields = fields.iter().map(|f| (*f).to_owned()).collect();
        self.refusal = Refusal::Fields { fields, mentions };
        self
    }

    fn oversize(mut self) -> Self {
        self.refusal = Refusal::Oversize;
        self
    }
}

/// The applicant's client, and staff clients carrying tokens of the roles that may make the
/// calls, so that bad input is what gets refused.
struct Clients {
    intake: IntakeServiceClient<Channel>,
    review: ReviewServiceClient<StaffChannel>,
    decision: DecisionServiceClient<StaffChannel>,
    delivery: DeliveryServiceClient<StaffChannel>,
    elicense: ElicenseServiceClient<StaffChannel>,
}

impl Clients {
    fn new(system: &System) -> Result<Self> {
        Ok(Self {
            intake: system.intake_client()?,
            review: system.review_client()?,
            decision: system.decision_client()?,
            delivery: system.delivery_client()?,
            elicense: system.elicense_client()?,
        })
    }

    async fn send(&mut self, call: &Call) -> Result<(), tonic::Status> {
        match call.clone() {
            Call::Submit(r) => self.intake.submit_application(*r).await.map(drop),
            Call::PreReview(r) => self.intake.pre_review_application(*r).await.map(drop),
            Call::Track(r) => self.intake.track_case(r).await.map(drop),
            Call::Supplement(r) => self.intake.supplement_materials(r).await.map(drop),
            Call::Review(r) => self.review.get_review(r).await.map(drop),
            Call::Decision(r) => self.decision.get_decision(r).await.map(drop),
            Call::Delivery(r) => self.delivery.get_delivery(r).await.map(drop),
            Call::Collect(r) => self.delivery.record_collection(r).await.map(drop),
            Call::ListAwaiting(r) => self.delivery.list_awaiting_collection(r).await.map(drop),
            Call::Verify(r) => self.elicense.verify_license(r).await.map(drop),
            Call::License(r) => self.elicense.get_license_by_case(r).await.map(drop),
        }
    }

    async fn expect_refused(&mut self, bad: &Bad) -> Result<()> {
        let Err(status) = self.send(&bad.call).await else {
            bail!("was accepted");
        };
        match &bad.refusal {
            Refusal::Oversize => {
                ensure!(
                    status.code() == Code::OutOfRange && status.message().contains("too large"),
                    "expected OUT_OF_RANGE for an oversize message, got {status:?}"
                );
            }
            Refusal::Fields { fields, mentions } => {
                ensure!(
                    status.code() == Code::InvalidArgument,
                    "expected INVALID_ARGUMENT, got {:?}: {}",
                    status.code(),
                    status.message()
                );
                let details = status.get_error_details();
                let violations = &details
                    .bad_request()
                    .context("no BadRequest detail")?
                    .field_violations;
                let mut named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let mut expected: Vec<&str> = fields.iter().map(String::as_str).collect();
                named.sort_unstable();
                expected.sort_unstable();
                ensure!(named == expected, "named {named:?}, expected {expected:?}");
                for violation in violations {
                    ensure!(
                        violation.description.contains(mentions),
                        "{}: {:?} does not mention {mentions:?}",
                        violation.field,
                        violation.description
                    );
                }
            }
        }
        Ok(())
    }

    async fn delivery_state(&mut self, case_number: &str) -> Result<Option<pb::DeliveryState>> {
        let request = pb::GetDeliveryRequest {
            case_number: case_number.to_owned(),
        };
        match self.delivery.get_delivery(request).await {
            Ok(response) => Ok(Some(response.into_inner().state())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }
}

/// Every bad request, to every API.
fn bad_requests() -> Vec<Bad> {
    let mut all = Vec::new();
    for (what, change, refusal) in bad_applications() {
        let mut request = application();
        change(&mut request);
        for submit in [true, false] {
            let (rpc, call) = if submit {
                ("submit", Call::Submit(Box::new(request.clone())))
            } else {
                ("pre-review", Call::PreReview(Box::new(request.clone())))
            };
            all.push(Bad {
                what: format!("{rpc}: {what}"),
                call,
                refusal: refusal.clone(),
            });
        }
    }
    all.extend(bad_tracking());
    all.extend(bad_supplements());
    all.extend(bad_case_numbers());
    all.extend(bad_collections());
    all.extend(bad_identifiers());
    all
}

type Change = Box<dyn Fn(&mut pb::SubmitApplicationRequest)>;

fn refuse(fields: &[&str]) -> Refusal {
    refuse_mentioning(fields, "")
}

fn refuse_mentioning(fields: &[&str], mentions: &'static str) -> Refusal {
    Refusal::Fields {
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        mentions,
    }
}

/// Changes that each make [`application`] invalid, with the fields they must be refused for.
fn bad_applications() -> Vec<(&'static str, Change, Refusal)> {
    vec![
        (
            "empty strings",
            Box::new(|r| {
                r.client_request_id.clear();
                let applicant = applicant(r);
                applicant.name.clear();
                applicant.id_number.clear();
                applicant.phone.clear();
                permit(r).valid_until.clear();
                r.residence_address.clear();
                r.materials[0].reference.clear();
            }),
            refuse(&[
                "client_request_id",
                "applicant.name",
                "applicant.id_number",
                "applicant.phone",
                "permit.valid_until",
                "residence_address",
                "materials[0].reference",
            ]),
        ),
        (
            "whitespace only, with ideographic and no-break spaces",
            Box::new(|r| {
                let applicant = applicant(r);
                applicant.name = "\u{3000}\u{3000}".into();
                applicant.id_number = "  ".into();
                applicant.phone = "\u{00A0}".into();
                permit(r).valid_until = " \u{3000}".into();
                r.residence_address = "\u{3000} \u{00A0}".into();
                delivery(r).recipient_name = "\u{3000}".into();
                delivery(r).recipient_address = "   ".into();
                r.materials[1].reference = "\u{00A0}\u{3000}".into();
            }),
            refuse(&[
                "applicant.name",
                "applicant.id_number",
                "applicant.phone",
                "permit.valid_until",
                "residence_address",
                "delivery.recipient_name",
                "delivery.recipient_address",
                "materials[1].reference",
            ]),
        ),
        (
            "C0, DEL and C1 control characters",
            Box::new(|r| {
                applicant(r).name = "张\u{0007}三".into();
                r.residence_address = format!("{IN_COUNTY}\u{007F}");
                delivery(r).recipient_address = format!("\u{0085}{IN_COUNTY}");
                r.materials[1].reference = "scan\u{0000}1".into();
                r.agent = Some(agent());
                agent_of(r).name = "王\u{001B}五".into();
            }),
            refuse_mentioning(
                &[
                    "applicant.name",
                    "residence_address",
                    "delivery.recipient_address",
                    "materials[1].reference",
                    "agent.name",
                ],
                "control or invisible",
            ),
        ),
        (
            "a tab or newline at the edge of a name or address",
            Box::new(|r| {
                applicant(r).name = "张三\n".into();
                r.residence_address = format!("\t{IN_COUNTY}");
            }),
            refuse_mentioning(
                &["applicant.name", "residence_address"],
                "control or invisible",
            ),
        ),
        (
            "zero-width and bidirectional formatting characters",
            Box::new(|r| {
                applicant(r).name = "张\u{200B}三".into();
                r.residence_address = format!("{IN_COUNTY}\u{202E}");
                delivery(r).recipient_name = "\u{FEFF}李四".into();
                delivery(r).recipient_address = format!("{IN_COUNTY}\u{2066}");
                r.materials[0].reference = "scan\u{200D}0".into();
                r.agent = Some(agent());
                agent_of(r).name = "王\u{2060}五".into();
            }),
            refuse_mentioning(
                &[
                    "applicant.name",
                    "residence_address",
                    "delivery.recipient_name",
                    "delivery.recipient_address",
                    "materials[0].reference",
                    "agent.name",
                ],
                "control or invisible",
            ),
        ),
        (
            "full-width digits in ID numbers, phones and dates",
            Box::new(|r| {
                let applicant = applicant(r);
                applicant.id_number = "４１１７２１１９９００１０１１２３７".into();
                applicant.phone = "１３８００００００００".into();
                permit(r).valid_until = "２０２６-０３-１０".into();
                delivery(r).recipient_phone = "１３８００００００００".into();
                r.address_change = Some(pb::AddressChange {
                    moved_on: "２０２６-１２-０１".into(),
                    scope: pb::MoveScope::WithinCounty as i32,
                });
                r.agent = Some(agent());
                agent_of(r).id_number = "４１１７２１１９８８０５１７１０８X".into();
                agent_of(r).phone = "13８00000000".into();
            }),
            refuse_mentioning(
                &[
                    "applicant.id_number",
                    "applicant.phone",
                    "permit.valid_until",
                    "delivery.recipient_phone",
                    "address_change.moved_on",
                    "agent.id_number",
                    "agent.phone",
                ],
                FULL_WIDTH_DIGITS,
            ),
        ),
        (
            "impossible dates",
            Box::new(|r| {
                permit(r).valid_until = "2026-02-30".into();
                r.address_change = Some(pb::AddressChange {
                    moved_on: "2026-13-01".into(),
                    scope: pb::MoveScope::WithinCounty as i32,
                });
            }),
            refuse(&["permit.valid_until", "address_change.moved_on"]),
        ),
        (
            "year zero",
            Box::new(|r| permit(r).valid_until = "0000-01-01".into()),
            refuse(&["permit.valid_until"]),
        ),
        (
            "dates not written YYYY-MM-DD",
            Box::new(|r| {
                permit(r).valid_until = "2026-1-1".into();
                r.address_change = Some(pb::AddressChange {
                    moved_on: "2026/12/01".into(),
                    scope: pb::MoveScope::WithinCounty as i32,
                });
            }),
            refuse_mentioning(
                &["permit.valid_until", "address_change.moved_on"],
                "YYYY-MM-DD",
            ),
        ),
        (
            "absurd lengths in names, addresses and references",
            Box::new(|r| {
                applicant(r).name = "张".repeat(ABSURD);
                r.residence_address = "b".repeat(ABSURD);
                r.materials[2].reference = "d".repeat(ABSURD);
            }),
            refuse_mentioning(
                &[
                    "applicant.name",
                    "residence_address",
                    "materials[2].reference",
                ],
                "got 10000",
            ),
        ),
        (
            "absurd lengths in identifiers and the other names and addresses",
            Box::new(|r| {
                r.client_request_id = "e".repeat(ABSURD);
                applicant(r).id_number = "1".repeat(ABSURD);
                applicant(r).phone = "1".repeat(ABSURD);
                delivery(r).recipient_address = "c".repeat(ABSURD);
                r.agent = Some(agent());
                agent_of(r).name = "a".repeat(ABSURD);
            }),
            refuse(&[
                "client_request_id",
                "applicant.id_number",
                "applicant.phone",
                "delivery.recipient_address",
                "agent.name",
            ]),
        ),
        (
            "a thousand materials",
            Box::new(|r| {
                r.materials = (0..1_000)
                    .map(|i| material(pb::MaterialKind::IdCard, &format!("scan-{i}")))
                    .collect();
            }),
            refuse_mentioning(&["materials"], "at most 32"),
        ),
        (
            "every one of 32 materials bad twice",
            Box::new(|r| {
                r.materials = (0..32)
                    .map(|_| pb::Material {
                        kind: 99,
                        reference: "\u{0}".into(),
                    })
                    .collect();
            }),
            Refusal::Fields {
                fields: (0..32)
                    .flat_map(|i| {
                        [
                            format!("materials[{i}].kind"),
                            format!("materials[{i}].reference"),
                        ]
                    })
                    .collect(),
                mentions: "",
            },
        ),
        (
            "unknown enum values",
            Box::new(|r| {
                r.channel = 99;
                r.materials[0].kind = 99;
                r.address_change = Some(pb::AddressChange {
                    moved_on: "2026-12-01".into(),
                    scope: 99,
                });
                r.agent = Some(agent());
                agent_of(r).relation = -1;
                delivery(r).method = 99;
            }),
            refuse_mentioning(
                &[
                    "channel",
                    "materials[0].kind",
                    "address_change.scope",
                    "agent.relation",
                    "delivery.method",
                ],
                "unknown value",
            ),
        ),
        (
            "unspecified enum values",
            Box::new(|r| {
                r.channel = 0;
                r.materials[1].kind = 0;
                delivery(r).method = 0;
            }),
            refuse(&["channel", "materials[1].kind", "delivery.method"]),
        ),
        (
            "the same document listed twice",
            Box::new(|r| {
                let first = r.materials[0].reference.clone();
                r.materials[2].reference = first;
            }),
            refuse_mentioning(&["materials[2].reference"], "materials[0].reference"),
        ),
        (
            "missing parts",
            Box::new(|r| {
                r.applicant = None;
                r.permit = None;
                r.delivery = None;
            }),
            refuse(&["applicant", "permit", "delivery"]),
        ),
        (
            "a recipient for a pickup",
            Box::new(|r| delivery(r).method = pb::DeliveryMethod::Pickup as i32),
            refuse(&[
                "delivery.recipient_name",
                "delivery.recipient_phone",
                "delivery.recipient_address",
            ]),
        ),
        (
            "every field bad at once",
            Box::new(|r| {
                r.client_request_id = "short".into();
                r.channel = 42;
                let applicant = applicant(r);
                applicant.name = "张\u{200B}三".into();
                applicant.id_number = "４１１７２１１９９００１０１１２３７".into();
                applicant.phone = "   ".into();
                permit(r).valid_until = "2026-02-30".into();
                r.residence_address = "\u{0007}".into();
                delivery(r).method = 0;
                r.materials = vec![material_kind(99, "")];
            }),
            refuse(&[
                "client_request_id",
                "channel",
                "applicant.name",
                "applicant.id_number",
                "applicant.phone",
                "permit.valid_until",
                "residence_address",
                "delivery.method",
                "materials[0].kind",
                "materials[0].reference",
            ]),
        ),
        (
            "the worst request: every field bad, and 32 materials bad twice",
            Box::new(|r| {
                r.client_request_id = "\u{0}".repeat(64);
                r.channel = i32::MIN;
                let applicant = applicant(r);
                applicant.name = "张\u{202E}三".into();
                applicant.id_number = "41172119900101123\u{0}".into();
                applicant.phone = "1380000000\u{200B}".into();
                permit(r).valid_until = "2026-02-30\u{0}".into();
                r.residence_address = format!("{IN_COUNTY}\u{FEFF}");
                r.address_change = Some(pb::AddressChange {
                    moved_on: "0000-00-00".into(),
                    scope: i32::MIN,
                });
                let delivery = delivery(r);
                delivery.recipient_name = "李\u{2066}四".into();
                delivery.recipient_phone = "１".into();
                delivery.recipient_address = format!("{IN_COUNTY}\u{2069}");
                r.materials = (0..32).map(|_| material_kind(i32::MIN, "\u{0}")).collect();
                r.agent = Some(pb::Agent {
                    name: "王\u{200F}五".into(),
                    id_number: "\u{3000}".into(),
                    phone: "\u{0}".into(),
                    relation: i32::MIN,
                });
            }),
            Refusal::Fields {
                fields: [
                    "client_request_id",
                    "channel",
                    "applicant.name",
                    "applicant.id_number",
                    "applicant.phone",
                    "permit.valid_until",
                    "residence_address",
                    "address_change.moved_on",
                    "address_change.scope",
                    "delivery.recipient_name",
                    "delivery.recipient_phone",
                    "delivery.recipient_address",
                    "agent.name",
                    "agent.id_number",
                    "agent.phone",
                    "agent.relation",
                ]
                .map(String::from)
                .into_iter()
                .chain((0..32).flat_map(|i| {
                    [
                        format!("materials[{i}].kind"),
                        format!("materials[{i}].reference"),
                    ]
                }))
                .collect(),
                mentions: "",
            },
        ),
        (
            "an oversize message",
            Box::new(|r| r.residence_address = oversize()),
            Refusal::Oversize,
        ),
    ]
}

fn bad_tracking() -> Vec<Bad> {
    let track = |case_number: &str, access_code: &str| {
        Call::Track(pb::TrackCaseRequest {
            case_number: case_number.into(),
            access_code: access_code.into(),
        })
    };
    vec![
        Bad::new("track: empty", track("", "")).fields(&["case_number", "access_code"]),
        Bad::new("track: whitespace only", track("\u{3000}", "\u{00A0} "))
            .fields(&["case_number", "access_code"]),
        Bad::new(
            "track: full-width case number",
            track(FULL_WIDTH_CASE, "ABCDEFGH"),
        )
        .fields_mentioning(&["case_number"], FULL_WIDTH_DIGITS),
        Bad::new(
            "track: absurd case number",
            track(&"1".repeat(ABSURD), "ABCDEFGH"),
        )
        .fields(&["case_number"]),
        Bad::new(
            "track: control character in code",
            track(UNKNOWN_CASE, "ABCD\u{0}EFG"),
        )
        .fields(&["access_code"]),
        Bad::new(
            "track: zero-width space in code",
            track(UNKNOWN_CASE, "ABCD\u{200B}EFG"),
        )
        .fields(&["access_code"]),
        Bad::new(
            "track: absurd code",
            track(UNKNOWN_CASE, &"A".repeat(ABSURD)),
        )
        .fields(&["access_code"]),
        Bad::new("track: oversize", track(UNKNOWN_CASE, &oversize())).oversize(),
    ]
}

fn bad_supplements() -> Vec<Bad> {
    let supplement = |case_number: &str, materials: Vec<pb::Material>| {
        Call::Supplement(pb::SupplementMaterialsRequest {
            case_number: case_number.into(),
            access_code: "ABCDEFGH".into(),
            materials,
        })
    };
    let empty = pb::SupplementMaterialsRequest::default();
    let thousand = (0..1_000)
        .map(|i| material(pb::MaterialKind::ProofOfResidence, &format!("scan-{i}")))
        .collect();
    let twice = vec![
        material(pb::MaterialKind::ProofOfResidence, "lease-1"),
        material(pb::MaterialKind::ProofOfEmployment, "lease-1"),
    ];
    vec![
        Bad::new("supplement: empty", Call::Supplement(empty)).fields(&[
            "case_number",
            "access_code",
            "materials",
        ]),
        // The materials are checked before the case is looked up: not NOT_FOUND.
        Bad::new(
            "supplement: unknown kind, empty reference",
            supplement(UNKNOWN_CASE, vec![material_kind(99, " ")]),
        )
        .fields(&["materials[0].kind", "materials[0].reference"]),
        Bad::new(
            "supplement: full-width case number",
            supplement(
                FULL_WIDTH_CASE,
                vec![material(pb::MaterialKind::IdCard, "x")],
            ),
        )
        .fields_mentioning(&["case_number"], FULL_WIDTH_DIGITS),
        Bad::new(
            "supplement: a thousand materials",
            supplement(UNKNOWN_CASE, thousand),
        )
        .fields_mentioning(&["materials"], "at most 32"),
        Bad::new(
            "supplement: a document twice",
            supplement(UNKNOWN_CASE, twice),
        )
        .fields(&["materials[1].reference"]),
    ]
}

/// Bad case numbers to every API that reads one case.
fn bad_case_numbers() -> Vec<Bad> {
    let numbers = [
        ("empty", String::new()),
        ("whitespace only", "\u{3000}\u{00A0}".to_owned()),
        (
            "zero-width space",
            "1141-20261204\u{200B}-000001-X".to_owned(),
        ),
        (
            "control character",
            "1141-20261204-000001-X\u{0}".to_owned(),
        ),
        ("full-width digits", FULL_WIDTH_CASE.to_owned()),
        ("absurd length", "1".repeat(ABSURD)),
    ];
    let mut all = Vec::new();
    for (what, number) in numbers {
        let calls = [
            (
                "review",
                Call::Review(pb::GetReviewRequest {
                    case_number: number.clone(),
                }),
            ),
            (
                "decision",
                Call::Decision(pb::GetDecisionRequest {
                    case_number: number.clone(),
                }),
            ),
            (
                "delivery",
                Call::Delivery(pb::GetDeliveryRequest {
                    case_number: number.clone(),
                }),
            ),
            (
                "license",
                Call::License(pb::GetLicenseByCaseRequest {
                    case_number: number.clone(),
                }),
            ),
        ];
        for (api, call) in calls {
            all.push(Bad::new(format!("{api}: {what} case number"), call).fields(&["case_number"]));
        }
    }
    all.push(
        Bad::new(
            "review: oversize",
            Call::Review(pb::GetReviewRequest {
                case_number: oversize(),
            }),
        )
        .oversize(),
    );
    all
}

fn bad_collections() -> Vec<Bad> {
    let collect = |case_number: &str, clerk_id: &str, collected_by: &str| {
        Call::Collect(pb::RecordCollectionRequest {
            case_number: case_number.into(),
            clerk_id: clerk_id.into(),
            collected_by: collected_by.into(),
        })
    };
    let list = |limit| Call::ListAwaiting(pb::ListAwaitingCollectionRequest { limit });
    vec![
        Bad::new(
            "collect: every field bad",
            collect("", "a\u{200B}b", "neighbour"),
        )
        .fields(&["case_number", "clerk_id", "collected_by"]),
        Bad::new(
            "collect: whitespace only",
            collect("\u{3000}", "\u{3000}", "\u{00A0}"),
        )
        .fields(&["case_number", "clerk_id", "collected_by"]),
        Bad::new(
            "collect: control character",
            collect(UNKNOWN_CASE, "窗口\u{0007}03", "holder"),
        )
        .fields(&["clerk_id"]),
        Bad::new(
            "collect: absurd clerk id",
            collect(UNKNOWN_CASE, &"7".repeat(ABSURD), "agent"),
        )
        .fields_mentioning(&["clerk_id"], "1 to 64"),
        Bad::new(
            "collect: invisible collector",
            collect(UNKNOWN_CASE, "窗口03", "holder\u{200B}"),
        )
        .fields(&["collected_by"]),
        Bad::new(
            "collect: oversize",
            collect(UNKNOWN_CASE, &oversize(), "holder"),
        )
        .oversize(),
        Bad::new("list: limit over 500", list(501)).fields_mentioning(&["limit"], "500"),
        Bad::new("list: absurd limit", list(u32::MAX)).fields(&["limit"]),
    ]
}

fn bad_identifiers() -> Vec<Bad> {
    let verify = |identifier: &str| {
        Call::Verify(pb::VerifyLicenseRequest {
            identifier: identifier.into(),
        })
    };
    vec![
        Bad::new("verify: empty", verify("")).fields(&["identifier"]),
        Bad::new("verify: whitespace only", verify("\u{3000} ")).fields(&["identifier"]),
        Bad::new("verify: absurd length", verify(&"1".repeat(ABSURD)))
            .fields_mentioning(&["identifier"], "128"),
        Bad::new("verify: control character", verify("1.2.156.3005.2\u{0}.1"))
            .fields(&["identifier"]),
        Bad::new(
            "verify: bidirectional override",
            verify("1.2.156.3005.2.\u{202E}1"),
        )
        .fields(&["identifier"]),
        Bad::new(
            "verify: full-width digits",
            verify("１.2.156.3005.2.1.1.1.001.X"),
        )
        .fields_mentioning(&["identifier"], FULL_WIDTH_DIGITS),
        Bad::new("verify: oversize", verify(&oversize())).oversize(),
    ]
}

/// Text that makes any request larger than the size limit.
fn oversize() -> String {
    "x".repeat(MAX_REQUEST_BYTES + 1)
}

/// A valid application by courier for a synthetic holder, with three documents.
fn application() -> pb::SubmitApplicationRequest {
    let valid_until = (china_today() + chrono::Duration::days(10)).to_string();
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".into(),
            id_number: HOLDER.into(),
            phone: "13800000000".into(),
        }),
        permit: Some(pb::Permit { valid_until }),
        residence_address: IN_COUNTY.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Courier as i32,
            recipient_name: "测试申请人".into(),
            recipient_phone: "13800000000".into(),
            recipient_address: IN_COUNTY.into(),
        }),
        materials: vec![
            material(pb::MaterialKind::ResidencePermit, "scan-0"),
            material(pb::MaterialKind::IdCard, "scan-1"),
            material(pb::MaterialKind::ProofOfResidence, "scan-2"),
        ],
        agent: None,
    }
}

/// A valid application with every text at its longest: 32 materials with 128-character
/// references and a 120-character address, in three-byte characters.
fn largest_application() -> pb::SubmitApplicationRequest {
    let mut request = application();
    request.residence_address = format!(
        "{IN_COUNTY}{}",
        "号".repeat(120 - IN_COUNTY.chars().count())
    );
    request.materials = (0..32)
        .map(|i| {
            material(
                pb::MaterialKind::IdCard,
                &format!("{i:03}{}", "扫".repeat(125)),
            )
        })
        .collect();
    request
}

fn agent() -> pb::Agent {
    pb::Agent {
        name: "测试代办人".into(),
        id_number: AGENT.into(),
        phone: "13900000000".into(),
        relation: pb::AgentRelation::CloseRelative as i32,
    }
}

fn material(kind: pb::MaterialKind, reference: &str) -> pb::Material {
    material_kind(kind as i32, reference)
}

fn material_kind(kind: i32, reference: &str) -> pb::Material {
    pb::Material {
        kind,
        reference: reference.into(),
    }
}

fn applicant(request: &mut pb::SubmitApplicationRequest) -> &mut pb::Applicant {
    request.applicant.get_or_insert_default()
}

fn permit(request: &mut pb::SubmitApplicationRequest) -> &mut pb::Permit {
    request.permit.get_or_insert_default()
}

fn delivery(request: &mut pb::SubmitApplicationRequest) -> &mut pb::Delivery {
    request.delivery.get_or_insert_default()
}

fn agent_of(request: &mut pb::SubmitApplicationRequest) -> &mut pb::Agent {
    request.agent.get_or_insert_with(agent)
}
