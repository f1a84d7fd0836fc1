//! Every hand-checked rule case that concerns an application goes through intake's gRPC
//! handlers twice, as a pre-review (预审) and as a submission, on the case's own date: both
//! must agree with each other and with the case's expected answer.
//!
//! The handlers run in-process against a real SQLite database; only the transport is left out,
//! so the date can be the case's instead of today's.

use residence_launcher::RunDir;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use residence_eventing::{OutboxWriter, RelayHandle};
use residence_intake::access::AccessCodes;
use residence_intake::api::IntakeApi;
use residence_intake::migration::Migrator;
use residence_intake::notify::{Notifier, SharedTemplates};
use residence_intake::store::Store;
use residence_item::ServiceItem;
use residence_proto::v1::{self as pb, intake_service_server::IntakeService};
use residence_runtime::calendar::SharedCalendar;
use residence_runtime::time::TimeSource;
use sea_orm_migration::MigratorTrait;
use serde_json::Value;
use tonic::Request;

/// A synthetic holder: a valid number no real person is known to carry.
const HOLDER_ID: &str = "411721199001011237";
/// A synthetic Hong Kong resident's permit number.
const HONG_KONG_ID: &str = "810000199503150046";

/// Rules that describe no application, so neither pre-review nor submission applies them.
const NOT_AN_APPLICATION: &[&str] = &["first_valid_until"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared hand-checked cases beside the project when present, else the copy in the
/// repository.
fn cases() -> Vec<Value> {
    let shared = root().join("../shared/cases/rules.jsonl");
    let path = if shared.exists() {
        shared
    } else {
        root().join("tests/cases/rules.jsonl")
    };
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Intake's handlers on their own database, living on `today` at 10:00 China time.
async fn intake(scratch: &Path, today: NaiveDate, item: ServiceItem) -> IntakeApi {
    let url = format!("sqlite://{}?mode=rwc", scratch.join("intake.db").display());
    let db = residence_runtime::database::connect("intake", &url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let ten_in_china = NaiveTime::from_hms_opt(2, 0, 0).unwrap();
    let now = today.and_time(ten_in_china).and_utc();
    let item = std::sync::Arc::new(item);
    IntakeApi {
        store: Store {
            db,
            outbox: OutboxWriter::new("intake"),
            item: std::sync::Arc::clone(&item),
            calendar: SharedCalendar::load(&root().join("deploy/calendars")).unwrap(),
            warning_ahead: residence_intake::clock::DEFAULT_WARNING_AHEAD,
            notifier: Notifier {
                templates: SharedTemplates::load(None).unwrap(),
                outbox: OutboxWriter::new("intake"),
                item,
            },
        },
        access: std::sync::Arc::new(
            AccessCodes::from_key_file(&scratch.join("access.key")).unwrap(),
        ),
        relay: RelayHandle::default(),
        now: TimeSource::fixed(now),
        staff: residence_staff::StaffAuth::new(residence_staff::StaffKeys::default(), "412824"),
    }
}

fn item() -> ServiceItem {
    ServiceItem::load(&root().join("deploy/service-item.toml")).unwrap()
}

fn date(value: &Value) -> NaiveDate {
    value.as_str().unwrap().parse().unwrap()
}

/// A complete application by the synthetic holder, for a permit expiring `valid_until`.
fn application(id: &str, id_number: &str, valid_until: NaiveDate) -> pb::SubmitApplicationRequest {
    let material = |kind: pb::MaterialKind, reference: &str| pb::Material {
        kind: kind as i32,
        reference: reference.to_owned(),
    };
    pb::SubmitApplicationRequest {
        client_request_id: format!("rule-case-{id}"),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".to_owned(),
            id_number: id_number.to_owned(),
            phone: "13800000000".to_owned(),
        }),
        permit: Some(pb::Permit {
            valid_until: valid_until.to_string(),
        }),
        residence_address: "河南省驻马店市西平县五沟营镇人民路1号".to_owned(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            ..pb::Delivery::default()
        }),
        materials: vec![
            material(pb::MaterialKind::ResidencePermit, "scan-permit"),
            material(pb::MaterialKind::IdCard, "scan-id"),
            material(pb::MaterialKind::ProofOfResidence, "scan-lease"),
        ],
        agent: None,
    }
}

/// What one path answered, in a form both paths share.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Rejected before any rule ran: the gRPC code and message.
    Invalid(tonic::Code, String),
    Verdict {
        acceptable: bool,
        /// `(code, field)` of every refusal and every missing material.
        reasons: Vec<(String, String)>,
        due_on: String,
        due_on_confirmed: bool,
    },
}

impl Answer {
    fn codes(&self) -> Vec<&str> {
        match self {
            Self::Invalid(..) => Vec::new(),
            Self::Verdict { reasons, .. } => {
                reasons.iter().map(|(code, _)| code.as_str()).collect()
            }
        }
    }

    fn acceptable(&self) -> bool {
        matches!(
            self,
            Self::Verdict {
                acceptable: true,
                ..
            }
        )
    }
}

fn pairs(reasons: &[pb::Reason]) -> Vec<(String, String)> {
    reasons
        .iter()
        .map(|reason| (reason.code.clone(), reason.field.clone()))
        .collect()
}

/// Runs one application through pre-review and then submission.
async fn both(
    api: &IntakeApi,
    request: pb::SubmitApplicationRequest,
) -> (
    Answer,
    Answer,
    Option<pb::PreReviewApplicationResponse>,
    Option<pb::SubmitApplicationResponse>,
) {
    let pre = api
        .pre_review_application(Request::new(request.clone()))
        .await
        .map(tonic::Response::into_inner);
    let submitted = api
        .submit_application(Request::new(request))
        .await
        .map(tonic::Response::into_inner);
    let pre_answer = match &pre {
        Err(status) => Answer::Invalid(status.code(), status.message().to_owned()),
        Ok(pre) => Answer::Verdict {
            acceptable: pre.acceptable,
            reasons: [pairs(&pre.reasons), pairs(&pre.missing_materials)].concat(),
            due_on: pre.due_on.clone(),
            due_on_confirmed: pre.due_on_confirmed,
        },
    };
    let submit_answer = match &submitted {
        Err(status) => Answer::Invalid(status.code(), status.message().to_owned()),
        Ok(case) => Answer::Verdict {
            acceptable: case.status == pb::CaseStatus::Accepted as i32,
            reasons: pairs(&case.reasons),
            due_on: case.due_on.clone(),
            due_on_confirmed: case.due_on_confirmed,
        },
    };
    (pre_answer, submit_answer, pre.ok(), submitted.ok())
}

/// Checks one case; returns what disagreed.
async fn check(case: &Value) -> Vec<String> {
    let id = case["id"].as_str().unwrap();
    let input = &case["input"];
    let expect = &case["expect"];
    let mut item = item();
    let scratch = RunDir::new(&format!("intake-test-verdict-{id}")).unwrap();
    let mut problems = Vec::new();

    let (today, request) = match case["rule"].as_str().unwrap() {
        "id_number" | "mask" => {
            // Today, as `rules eval` judges a birth date against it.
            let today = residence_runtime::time::china_today();
            let id_number = input["id_number"].as_str().unwrap();
            (
                today,
                application(id, id_number, today + chrono::Days::new(10)),
            )
        }
        "due" => {
            let today = date(&input["accepted_on"]);
            let days = input["working_days"].as_u64().unwrap();
            item.time_limits.legal_working_days = u32::try_from(days).unwrap();
            item.time_limits.promised_working_days = item.time_limits.legal_working_days;
            (
                today,
                application(id, HOLDER_ID, today + chrono::Days::new(10)),
            )
        }
        "endorsement" => {
            let holder = match input["permit_kind"].as_str() {
                Some("hong_kong_macao_taiwan") => HONG_KONG_ID,
                _ => HOLDER_ID,
            };
            let today = date(&input["applied_on"]);
            (today, application(id, holder, date(&input["valid_until"])))
        }
        "address_change" => {
            let today = date(&input["applied_on"]);
            let mut request = application(id, HOLDER_ID, today + chrono::Days::new(10));
            let scope = match input["scope"].as_str().unwrap() {
                "within_county" => pb::MoveScope::WithinCounty,
                _ => pb::MoveScope::CrossCounty,
            };
            request.address_change = Some(pb::AddressChange {
                moved_on: input["moved_on"].as_str().unwrap().to_owned(),
                scope: scope as i32,
            });
            (today, request)
        }
        rule => {
            // `rules eval` answers every rule; a rule new to this test needs its mapping here.
            eprintln!("{id}: rule {rule} is not mapped to an application; skipped");
            return Vec::new();
        }
    };

    let api = intake(scratch.path(), today, item).await;
    let (pre, submitted, pre_response, created) = both(&api, request).await;
    if pre != submitted {
        problems.push(format!(
            "{id}: pre-review {pre:?} but submission {submitted:?}"
        ));
    }

    let want_refusal = expect["reason"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| match expect["outcome"].as_str() {
            Some("too_early") => Some("too_early".to_owned()),
            _ => None,
        })
        .or_else(|| {
            // Hong Kong, Macao and Taiwan residents' permits are never endorsed.
            let resident_elsewhere = expect["holder_kind"]
                .as_str()
                .is_some_and(|kind| kind != "citizen");
            resident_elsewhere.then(|| "no_annual_endorsement".to_owned())
        })
        .or_else(|| {
            (expect["valid"] == false)
                .then(|| format!("invalid_id_number_{}", expect["error"].as_str().unwrap()))
        });
    match &want_refusal {
        Some(code) if !submitted.codes().contains(&code.as_str()) => {
            problems.push(format!("{id}: want refusal {code}, got {submitted:?}"));
        }
        None if !submitted.acceptable() => {
            problems.push(format!("{id}: want acceptance, got {submitted:?}"));
        }
        _ => {}
    }

    let pre_response = pre_response.unwrap_or_default();
    for (key, got) in [
        ("window_opens", &pre_response.window_opens),
        ("window_closes", &pre_response.window_closes),
        ("new_valid_until", &pre_response.new_valid_until),
        ("due_on", &pre_response.due_on),
    ] {
        if let Some(want) = expect[key].as_str()
            && want != got
        {
            problems.push(format!("{id}: {key} want {want}, pre-review says {got}"));
        }
    }
    if let Some(outcome @ ("on_time" | "late")) = expect["outcome"].as_str()
        && case["rule"] == "endorsement"
        && pre_response.timeliness != outcome
    {
        problems.push(format!(
            "{id}: timeliness want {outcome}, got {}",
            pre_response.timeliness
        ));
    }
    if let Some(confirmed) = expect["confirmed"].as_bool()
        && pre_response.due_on_confirmed != confirmed
    {
        problems.push(format!("{id}: due date confirmed want {confirmed}"));
    }
    if let (Some(masked), Some(created)) = (expect["masked"].as_str(), &created) {
        let tracked = api
            .track_case(Request::new(pb::TrackCaseRequest {
                case_number: created.case_number.clone(),
                access_code: created.access_code.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
        if tracked.masked_id_number != masked {
            problems.push(format!("{id}: masked {}", tracked.masked_id_number));
        }
    }
    problems
}

#[tokio::test]
async fn every_rule_case_gets_the_same_verdict_from_pre_review_and_submission() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for case in cases() {
        if NOT_AN_APPLICATION.contains(&case["rule"].as_str().unwrap()) {
            continue;
        }
        problems.extend(check(&case).await);
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} cases checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The one answer a date-bound time source must give; guards the harness itself.
#[test]
fn the_harness_lives_on_the_cases_date() {
    let now: DateTime<Utc> = "2026-02-13T02:00:00Z".parse().unwrap();
    let date = residence_runtime::time::china_date(TimeSource::fixed(now).now());
    assert_eq!(date.to_string(), "2026-02-13");
}

#[tokio::test]
async fn a_holder_not_born_yet_is_refused_on_both_paths() {
    let today: NaiveDate = "2026-03-02".parse().unwrap();
    let scratch = RunDir::new("intake-test-verdict-unborn").unwrap();
    let api = intake(scratch.path(), today, item()).await;
    // A valid check character for a birth date one day after `today`.
    let unborn = "41172120260303123";
    let id_number = "0123456789X"
        .chars()
        .map(|check| format!("{unborn}{check}"))
        .find(|number| residence_rules::IdNumber::parse(number).is_ok())
        .unwrap();
    let request = application("unborn", &id_number, today + chrono::Days::new(10));
    let (pre, submitted, _, _) = both(&api, request).await;
    assert_eq!(pre, submitted);
    assert_eq!(submitted.codes(), ["invalid_id_number_birth_date"]);
}
