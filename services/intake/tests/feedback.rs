//! What applicants hear and do after submitting, in intake's own handlers against a real SQLite
//! database: the notifications each step writes to the outbox, withdrawal before and after
//! acceptance (and too late), ratings with their follow-up tasks, and the supervision report
//! over the same cases. The events other services would send are handed to intake's progress
//! handler as they would arrive from the broker.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use ed25519_dalek::SigningKey;
use residence_eventing::entity::outbox;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::{self as events, NotificationRequested};
use residence_intake::access::AccessCodes;
use residence_intake::api::IntakeApi;
use residence_intake::migration::Migrator;
use residence_intake::notify::{Notifier, SharedTemplates};
use residence_intake::progress::ProgressHandler;
use residence_intake::store::Store;
use residence_intake::supervision::SupervisionApi;
use residence_item::ServiceItem;
use residence_launcher::RunDir;
use residence_proto::v1::{
    self as pb, intake_service_server::IntakeService,
    supervision_service_server::SupervisionService,
};
use residence_runtime::calendar::SharedCalendar;
use residence_runtime::time::TimeSource;
use residence_staff::{BearerToken, Claims, Role, Scope, StaffAuth, StaffKeys};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use sea_orm_migration::MigratorTrait;
use tonic::service::Interceptor;
use tonic::{Code, Request};

/// A synthetic holder: a valid number no real person is known to carry.
const HOLDER_ID: &str = "411721199001011237";
const TOWN: &str = "412824101";
const LEGAL_BASIS: &str = "《居住证暂行条例》第九条";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Friday 2026-12-04, 10:00 China time.
fn now() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 12, 4)
        .unwrap()
        .and_time(NaiveTime::from_hms_opt(2, 0, 0).unwrap())
        .and_utc()
}

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

struct Intake {
    api: IntakeApi,
    supervision: SupervisionApi,
    progress: ProgressHandler,
    db: DatabaseConnection,
    _scratch: RunDir,
}

async fn intake(prefix: &str) -> Intake {
    let scratch = RunDir::new(prefix).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        scratch.path().join("intake.db").display()
    );
    intake_at(scratch, &url).await
}

async fn intake_at(scratch: RunDir, url: &str) -> Intake {
    let db = residence_runtime::database::connect("intake", url)
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    let item = Arc::new(ServiceItem::load(&root().join("deploy/service-item.toml")).unwrap());
    let calendar = SharedCalendar::load(&root().join("deploy/calendars")).unwrap();
    let notifier = Notifier {
        templates: SharedTemplates::load(None).unwrap(),
        outbox: OutboxWriter::new("intake"),
        item: Arc::clone(&item),
    };
    let store = Store {
        db: db.clone(),
        outbox: OutboxWriter::new("intake"),
        item: Arc::clone(&item),
        calendar: calendar.clone(),
        warning_ahead: residence_intake::clock::DEFAULT_WARNING_AHEAD,
        notifier: notifier.clone(),
    };
    let mut keys = StaffKeys::default();
    keys.insert(signing_key().verifying_key());
    let staff = StaffAuth::new(keys, "412824");
    Intake {
        api: IntakeApi {
            store: store.clone(),
            access: Arc::new(
                AccessCodes::from_key_file(&scratch.path().join("access.key")).unwrap(),
            ),
            relay: RelayHandle::default(),
            now: TimeSource::fixed(now()),
            staff: staff.clone(),
        },
        supervision: SupervisionApi {
            store,
            staff,
            now: TimeSource::fixed(now()),
        },
        progress: ProgressHandler {
            db: db.clone(),
            item,
            calendar,
            notifier,
        },
        db,
        _scratch: scratch,
    }
}

/// A complete pickup application by the synthetic holder, or one without its proof of
/// residence.
fn application(id: &str, complete: bool) -> pb::SubmitApplicationRequest {
    let material = |kind: pb::MaterialKind, reference: &str| pb::Material {
        kind: kind as i32,
        reference: reference.to_owned(),
    };
    let mut materials = vec![
        material(pb::MaterialKind::ResidencePermit, "scan-permit"),
        material(pb::MaterialKind::IdCard, "scan-id"),
    ];
    if complete {
        materials.push(material(pb::MaterialKind::ProofOfResidence, "scan-lease"));
    }
    pb::SubmitApplicationRequest {
        client_request_id: format!("feedback-{id}"),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: "测试申请人".to_owned(),
            id_number: HOLDER_ID.to_owned(),
            phone: "13800000000".to_owned(),
        }),
        permit: Some(pb::Permit {
            valid_until: "2026-12-14".to_owned(),
        }),
        residence_address: "河南省驻马店市西平县五沟营镇人民路1号".to_owned(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Pickup as i32,
            ..pb::Delivery::default()
        }),
        materials,
        agent: None,
    }
}

impl Intake {
    async fn submit(&self, id: &str, complete: bool) -> pb::SubmitApplicationResponse {
        self.api
            .submit_application(Request::new(application(id, complete)))
            .await
            .unwrap()
            .into_inner()
    }

    /// Hands intake an event as another service would publish it.
    async fn deliver<T: serde::Serialize>(&self, event: events::EventType, payload: &T) {
        let incoming = Incoming {
            id: uuid::Uuid::now_v7().to_string(),
            subject: event.subject.to_owned(),
            case_number: None,
            payload: serde_json::to_vec(payload).unwrap().into(),
            headers: None,
            delivered: 1,
        };
        let outcome = self.progress.handle(&incoming).await;
        assert!(matches!(outcome, Outcome::Done), "{outcome:?}");
    }

    async fn deny(&self, case_number: &str) {
        let denied = events::DecisionDenied {
            case_number: case_number.to_owned(),
            legal_basis: LEGAL_BASIS.to_owned(),
            reasons: vec!["居住地址无法核实".to_owned()],
            decided_at: now(),
        };
        self.deliver(events::DECISION_DENIED, &denied).await;
    }

    async fn confirm_withdrawal(&self, case_number: &str) {
        let withdrawn = events::DecisionWithdrawn {
            case_number: case_number.to_owned(),
            reason: "不再需要".to_owned(),
            withdrawn_at: now(),
        };
        self.deliver(events::DECISION_WITHDRAWN, &withdrawn).await;
    }

    async fn withdraw(
        &self,
        case: &pb::SubmitApplicationResponse,
    ) -> Result<pb::WithdrawApplicationResponse, tonic::Status> {
        let request = pb::WithdrawApplicationRequest {
            case_number: case.case_number.clone(),
            access_code: case.access_code.clone(),
            reason: "已在外地办理，不再需要".to_owned(),
        };
        self.api
            .withdraw_application(Request::new(request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn rate(
        &self,
        case: &pb::SubmitApplicationResponse,
        channel: pb::RatingChannel,
        level: pb::RatingLevel,
        comment: &str,
    ) -> Result<pb::RateCaseResponse, tonic::Status> {
        let request = pb::RateCaseRequest {
            case_number: case.case_number.clone(),
            access_code: case.access_code.clone(),
            channel: channel as i32,
            level: level as i32,
            comment: comment.to_owned(),
        };
        self.api
            .rate_case(Request::new(request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn track(&self, case: &pb::SubmitApplicationResponse) -> pb::TrackCaseResponse {
        let request = pb::TrackCaseRequest {
            case_number: case.case_number.clone(),
            access_code: case.access_code.clone(),
        };
        self.api
            .track_case(Request::new(request))
            .await
            .unwrap()
            .into_inner()
    }

    /// The notifications written for `case_number`, oldest first.
    async fn notifications(&self, case_number: &str) -> Vec<NotificationRequested> {
        self.outbox(case_number, events::NOTIFICATION_REQUESTED)
            .await
            .into_iter()
            .map(|payload| serde_json::from_str(&payload).unwrap())
            .collect()
    }

    async fn outbox(&self, case_number: &str, event: events::EventType) -> Vec<String> {
        outbox::Entity::find()
            .filter(outbox::Column::CaseNumber.eq(case_number))
            .filter(outbox::Column::Subject.eq(event.subject))
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.payload.into_inner())
            .collect()
    }
}

fn kinds(notifications: &[NotificationRequested]) -> Vec<&'static str> {
    notifications.iter().map(|n| n.kind.code()).collect()
}

/// A request carrying a token for `role` in `scope`.
fn staff_request<T>(message: T, role: Role, scope: &str) -> Request<T> {
    let issued = now().timestamp();
    let claims = Claims {
        sub: format!("{role}-1"),
        role,
        scope: Scope::parse(scope).unwrap(),
        iat: issued,
        exp: chrono::Utc::now().timestamp() + 3600,
    };
    let token = residence_staff::token::issue(&claims, &signing_key()).unwrap();
    let mut bearer = BearerToken::new(&token).unwrap();
    let carrier = bearer.call(Request::new(())).unwrap();
    let mut request = Request::new(message);
    *request.metadata_mut() = carrier.metadata().clone();
    request
}

#[tokio::test]
async fn every_step_the_applicant_cares_about_sends_one_message() {
    let intake = intake("intake-test-notifications").await;
    let incomplete = intake.submit("incomplete", false).await;
    assert_eq!(incomplete.status, pb::CaseStatus::SupplementRequired as i32);
    let denied = intake.submit("denied", true).await;
    assert_eq!(denied.status, pb::CaseStatus::Accepted as i32);
    intake.deny(&denied.case_number).await;

    let messages = intake.notifications(&incomplete.case_number).await;
    assert_eq!(kinds(&messages), ["received", "supplement_required"]);
    assert!(
        messages[1].text.contains("住所证明"),
        "{}",
        messages[1].text
    );

    let messages = intake.notifications(&denied.case_number).await;
    assert_eq!(
        kinds(&messages),
        ["received", "accepted", "denied", "rating_invitation"]
    );
    let accepted = &messages[1].text;
    assert!(accepted.starts_with("【西平县居住证签注】"), "{accepted}");
    assert!(accepted.contains(&denied.due_on), "{accepted}");
    assert!(
        messages[2].text.contains(LEGAL_BASIS),
        "{}",
        messages[2].text
    );
    assert!(messages[2].text.contains("居住地址无法核实。"));
    for message in &messages {
        assert_eq!(message.phone, "13800000000");
        assert_eq!(message.case_number, denied.case_number);
        assert!(!message.text.contains(HOLDER_ID), "{}", message.text);
    }
    let ids: std::collections::HashSet<&str> = messages
        .iter()
        .map(|m| m.notification_id.as_str())
        .collect();
    assert_eq!(ids.len(), messages.len(), "one id per message");

    // The decision arriving again (a redelivery under a new id) sends nothing twice.
    intake.deny(&denied.case_number).await;
    assert_eq!(intake.notifications(&denied.case_number).await.len(), 4);
    assert!(intake.track(&denied).await.rating_invited);
}

#[tokio::test]
async fn a_case_is_withdrawn_at_once_before_acceptance_and_through_the_decision_after() {
    let intake = intake("intake-test-withdrawal").await;

    // Not yet accepted: withdrawn here and now.
    let waiting = intake.submit("waiting", false).await;
    let answer = intake.withdraw(&waiting).await.unwrap();
    assert_eq!(answer.status, pb::CaseStatus::Withdrawn as i32);
    assert!(!answer.withdrawal_requested);
    let tracked = intake.track(&waiting).await;
    assert!(tracked.is_final);
    assert_eq!(
        tracked.history.last().unwrap().note,
        "申请人撤回申请，终止办理"
    );
    assert!(
        intake
            .outbox(&waiting.case_number, events::CASE_WITHDRAWAL_REQUESTED)
            .await
            .is_empty()
    );
    assert_eq!(
        kinds(&intake.notifications(&waiting.case_number).await),
        [
            "received",
            "supplement_required",
            "withdrawn",
            "rating_invitation"
        ]
    );
    // Again: the same answer, nothing more sent.
    let again = intake.withdraw(&waiting).await.unwrap();
    assert_eq!(again.status, pb::CaseStatus::Withdrawn as i32);
    assert_eq!(intake.notifications(&waiting.case_number).await.len(), 4);

    // Accepted: the decision service has the last word.
    let accepted = intake.submit("accepted", true).await;
    let answer = intake.withdraw(&accepted).await.unwrap();
    assert!(answer.withdrawal_requested);
    assert_eq!(answer.status, pb::CaseStatus::Accepted as i32);
    intake.withdraw(&accepted).await.unwrap();
    let requests = intake
        .outbox(&accepted.case_number, events::CASE_WITHDRAWAL_REQUESTED)
        .await;
    assert_eq!(
        requests.len(),
        1,
        "asked once however often the applicant asks"
    );
    assert!(intake.track(&accepted).await.withdrawal_requested);
    intake.confirm_withdrawal(&accepted.case_number).await;
    let tracked = intake.track(&accepted).await;
    assert_eq!(tracked.status, pb::CaseStatus::Withdrawn as i32);
    assert!(!tracked.withdrawal_requested);
    assert_eq!(
        kinds(&intake.notifications(&accepted.case_number).await),
        ["received", "accepted", "withdrawn", "rating_invitation"]
    );

    // Decided first: the applicant hears that the withdrawal came too late.
    let late = intake.submit("late", true).await;
    intake.withdraw(&late).await.unwrap();
    intake.deny(&late.case_number).await;
    let tracked = intake.track(&late).await;
    assert_eq!(tracked.status, pb::CaseStatus::Denied as i32);
    assert!(!tracked.withdrawal_requested);
    assert_eq!(
        kinds(&intake.notifications(&late.case_number).await),
        [
            "received",
            "accepted",
            "denied",
            "withdrawal_too_late",
            "rating_invitation"
        ]
    );
    let refused = intake.withdraw(&late).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    // Bad input names its field; a wrong access code finds nothing.
    let mut short = pb::WithdrawApplicationRequest {
        case_number: late.case_number.clone(),
        access_code: late.access_code.clone(),
        reason: "x".to_owned(),
    };
    let invalid = intake
        .api
        .withdraw_application(Request::new(short.clone()))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(
        invalid.message().contains("reason"),
        "{}",
        invalid.message()
    );
    short.reason = "不需要了".to_owned();
    short.access_code = "WRONG1234".to_owned();
    let unknown = intake
        .api
        .withdraw_application(Request::new(short))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn ratings_open_follow_ups_and_the_report_counts_them() {
    use pb::{RatingChannel as Channel, RatingLevel as Level};
    let intake = intake("intake-test-ratings").await;
    let open = intake.submit("open", true).await;
    let closed = intake.submit("closed", true).await;
    intake.deny(&closed.case_number).await;
    let withdrawn = intake.submit("withdrawn", false).await;
    intake.withdraw(&withdrawn).await.unwrap();

    let early = intake
        .rate(&open, Channel::Web, Level::VerySatisfied, "")
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);

    let good = intake
        .rate(&closed, Channel::Web, Level::VerySatisfied, "")
        .await
        .unwrap();
    assert!(good.follow_up_id.is_empty());
    let different = intake
        .rate(&closed, Channel::Web, Level::Satisfied, "")
        .await
        .unwrap_err();
    assert_eq!(different.code(), Code::AlreadyExists);
    let same = intake
        .rate(&closed, Channel::Web, Level::VerySatisfied, "")
        .await
        .unwrap();
    assert!(same.replayed);

    let silent = intake
        .rate(&closed, Channel::Sms, Level::Dissatisfied, " ")
        .await
        .unwrap_err();
    assert_eq!(silent.code(), Code::InvalidArgument);
    assert!(silent.message().contains("comment"), "{}", silent.message());
    let bad = intake
        .rate(
            &closed,
            Channel::Sms,
            Level::VeryDissatisfied,
            &format!("等了很久没有人回复电话，证号{HOLDER_ID}"),
        )
        .await
        .unwrap();
    assert!(!bad.follow_up_id.is_empty());
    // Five working days from Friday 2026-12-04: Monday 7th to Friday 11th.
    assert_eq!(bad.follow_up_due_on, "2026-12-11");
    assert_eq!(
        intake
            .outbox(&closed.case_number, events::FOLLOW_UP_OPENED)
            .await
            .len(),
        1
    );
    let tracked = intake.track(&closed).await;
    assert_eq!(tracked.ratings.len(), 2);

    // The supervisor sees it; only an operator closes it.
    let list = pb::ListFollowUpsRequest {
        area_code: String::new(),
        open_only: true,
        limit: 0,
    };
    let listed = intake
        .supervision
        .list_follow_ups(staff_request(list.clone(), Role::Supervisor, "412824"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.follow_ups.len(), 1);
    assert_eq!(listed.follow_ups[0].follow_up_id, bad.follow_up_id);
    let comment = &listed.follow_ups[0].comment;
    assert!(comment.ends_with("证号411721********1237"), "{comment}");
    let reviewer = intake
        .supervision
        .list_follow_ups(staff_request(list, Role::Reviewer, TOWN))
        .await
        .unwrap_err();
    assert_eq!(reviewer.code(), Code::PermissionDenied);
    let close = pb::CloseFollowUpRequest {
        follow_up_id: bad.follow_up_id.clone(),
        outcome: "已电话回访，说明办理进度，申请人表示理解".to_owned(),
    };
    let supervisor = intake
        .supervision
        .close_follow_up(staff_request(close.clone(), Role::Supervisor, "412824"))
        .await
        .unwrap_err();
    assert_eq!(supervisor.code(), Code::PermissionDenied);
    let other_town = intake
        .supervision
        .close_follow_up(staff_request(close.clone(), Role::Operator, "412824102"))
        .await
        .unwrap_err();
    assert_eq!(other_town.code(), Code::PermissionDenied);
    let done = intake
        .supervision
        .close_follow_up(staff_request(close.clone(), Role::Operator, TOWN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.closed_by, "operator-1");
    let mut changed = close;
    changed.outcome = "另一种说法的整改结果".to_owned();
    let conflict = intake
        .supervision
        .close_follow_up(staff_request(changed, Role::Operator, TOWN))
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::FailedPrecondition);

    let report = intake
        .supervision
        .get_supervision_report(staff_request(
            // The progress handler records the decision at the wall clock's time.
            pb::GetSupervisionReportRequest {
                to: "2099-12-31".to_owned(),
                ..Default::default()
            },
            Role::Supervisor,
            "412824",
        ))
        .await
        .unwrap()
        .into_inner();
    let town = report
        .towns
        .iter()
        .find(|town| town.town_code == TOWN)
        .unwrap();
    let review = &town.stages[2];
    assert_eq!(review.stage, pb::Stage::Review as i32);
    assert_eq!(review.open, 1, "the open case waits for review");
    assert_eq!(town.closed, 2);
    assert_eq!(town.withdrawn, 1);
    assert_eq!(town.decided, 1);
    let ratings = town.ratings.as_ref().unwrap();
    assert_eq!(ratings.by_level, [1, 0, 0, 0, 1]);
    assert_eq!(ratings.invited, 2);
    assert_eq!(ratings.rated, 1);
    assert_eq!(ratings.follow_ups_open, 0);
    assert_eq!(ratings.follow_ups_closed, 1);
    assert!((ratings.satisfaction_ratio - 0.5).abs() < 1e-9);
    let county = report.towns.last().unwrap();
    assert_eq!(county.town_code, "412824");
    assert_eq!(county.closed, 2);

    let town_asks_county = intake
        .supervision
        .get_supervision_report(staff_request(
            pb::GetSupervisionReportRequest {
                area_code: "412824".to_owned(),
                ..Default::default()
            },
            Role::Supervisor,
            TOWN,
        ))
        .await
        .unwrap_err();
    assert_eq!(town_asks_county.code(), Code::PermissionDenied);

    let unknown = intake
        .supervision
        .get_supervision_report(staff_request(
            pb::GetSupervisionReportRequest {
                area_code: "412824999".to_owned(),
                ..Default::default()
            },
            Role::Supervisor,
            "412824",
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
}

#[tokio::test]
async fn a_step_overtaken_by_a_later_event_still_reaches_the_applicant() {
    let intake = intake("intake-test-late").await;
    let case = intake.submit("late-shipment", true).await;
    let number = case.case_number.clone();
    // The courier's dispatch was not acknowledged before a crash and comes back after the
    // delivery it led to.
    let completed = events::DeliveryCompleted {
        case_number: number.clone(),
        outcome: events::DeliveryOutcome::Delivered,
        completed_at: now(),
    };
    intake.deliver(events::DELIVERY_COMPLETED, &completed).await;
    let dispatched = events::CourierDispatched {
        case_number: number.clone(),
        partner: "ems".to_owned(),
        parcel_reference: "XP0000000001".to_owned(),
        dispatched_at: now(),
    };
    intake
        .deliver(events::COURIER_DISPATCHED, &dispatched)
        .await;
    // Redelivered once more: owed once.
    intake
        .deliver(events::COURIER_DISPATCHED, &dispatched)
        .await;

    let tracked = intake.track(&case).await;
    assert_eq!(
        tracked.status,
        pb::CaseStatus::Delivered as i32,
        "never moves back"
    );
    assert_eq!(tracked.parcel_reference, "XP0000000001");
    let shipped: Vec<_> = tracked
        .history
        .iter()
        .filter(|step| step.status == pb::CaseStatus::Shipped as i32)
        .collect();
    assert_eq!(shipped.len(), 1, "{:?}", tracked.history);
    let messages = intake.notifications(&number).await;
    assert_eq!(
        kinds(&messages),
        [
            "received",
            "accepted",
            "delivered",
            "rating_invitation",
            "shipped"
        ]
    );
    assert!(
        messages[4].text.contains("XP0000000001"),
        "{}",
        messages[4].text
    );
}

/// On PostgreSQL, where transactions run side by side: an applicant's withdrawal and their
/// answer to a supplement notice, sent at the same instant, and a burst of repeated
/// withdrawals, each leave one outcome, one step and one message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_withdrawals_and_supplements_on_postgres_leave_one_outcome() {
    let scratch = RunDir::new("intake-test-races").unwrap();
    let postgres = residence_launcher::Postgres::start(&scratch.path().join("postgres"))
        .await
        .unwrap();
    let url = postgres.create_database("intake_races").await.unwrap();
    let intake = Arc::new(intake_at(scratch, &url).await);

    for round in 0..8 {
        let case = intake.submit(&format!("race-{round}"), false).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let supplement = pb::SupplementMaterialsRequest {
            case_number: case.case_number.clone(),
            access_code: case.access_code.clone(),
            materials: vec![pb::Material {
                kind: pb::MaterialKind::ProofOfResidence as i32,
                reference: "scan-lease".to_owned(),
            }],
        };
        let (withdrawn, supplemented) = tokio::join!(
            {
                let (intake, barrier, case) =
                    (Arc::clone(&intake), Arc::clone(&barrier), case.clone());
                async move {
                    barrier.wait().await;
                    intake.withdraw(&case).await
                }
            },
            {
                let (intake, barrier) = (Arc::clone(&intake), Arc::clone(&barrier));
                async move {
                    barrier.wait().await;
                    intake
                        .api
                        .supplement_materials(Request::new(supplement))
                        .await
                }
            }
        );
        let withdrawn = withdrawn.unwrap();
        let tracked = intake.track(&case).await;
        let kinds = kinds(&intake.notifications(&case.case_number).await);
        if withdrawn.status == pb::CaseStatus::Withdrawn as i32 {
            // The withdrawal came first: the answer to the notice is refused.
            let refused = supplemented.unwrap_err();
            assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
            assert_eq!(tracked.status, pb::CaseStatus::Withdrawn as i32);
            assert_eq!(
                kinds,
                [
                    "received",
                    "supplement_required",
                    "withdrawn",
                    "rating_invitation"
                ]
            );
        } else {
            // The answer came first: the case was accepted, and its withdrawal now waits
            // for the deciding service.
            supplemented.unwrap();
            assert!(withdrawn.withdrawal_requested);
            assert_eq!(tracked.status, pb::CaseStatus::Accepted as i32);
            assert_eq!(kinds, ["received", "supplement_required", "accepted"]);
        }
    }

    let case = intake.submit("burst", false).await;
    let attempts = (0..6).map(|_| {
        let (intake, case) = (Arc::clone(&intake), case.clone());
        async move { intake.withdraw(&case).await }
    });
    for answer in futures::future::join_all(attempts).await {
        assert_eq!(answer.unwrap().status, pb::CaseStatus::Withdrawn as i32);
    }
    let tracked = intake.track(&case).await;
    let withdrawn_steps = tracked
        .history
        .iter()
        .filter(|step| step.status == pb::CaseStatus::Withdrawn as i32)
        .count();
    assert_eq!(withdrawn_steps, 1);
    assert_eq!(
        kinds(&intake.notifications(&case.case_number).await),
        [
            "received",
            "supplement_required",
            "withdrawn",
            "rating_invitation"
        ]
    );
    drop(postgres);
}
