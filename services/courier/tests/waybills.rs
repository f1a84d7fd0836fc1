//! Dispatch, partners' status reports and the acceptance watch against a real SQLite
//! database, with events handed to the handlers directly (no broker needed): which partner a
//! case gets, reports twice, late and out of order, forged reports, waybills asked for again
//! and raised as incidents, and what every published message may carry.

use chrono::{DateTime, TimeDelta, Utc};
use residence_courier::acceptance::{self, Pass, Policy};
use residence_courier::dispatch::DispatchHandler;
use residence_courier::entity::{acceptance as watch, waybill};
use residence_courier::migration::Migrator;
use residence_courier::privacy;
use residence_courier::tracking::TrackingHandler;
use residence_eventing::entity::outbox;
use residence_eventing::{Handler, Incoming, OutboxWriter, Outcome, RelayHandle};
use residence_events::partner::{PARCEL_STATUS_SCHEMA, ParcelStatus, Party, WaybillRequest};
use residence_events::{self as events, DeliveryMethod, DeliveryStarted, Recipient, logistics};
use residence_item::ServiceItem;
use residence_launcher::RunDir;
use residence_test_support::{database, incoming};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

const SHIPPED_ITEM: &str = include_str!("../../../deploy/service-item.toml");

struct TestApp {
    db: DatabaseConnection,
    tracking: TrackingHandler,
    /// The run folder of the database, removed with the app.
    _run: RunDir,
}

async fn spawn_app() -> TestApp {
    let run = RunDir::new("courier-test").unwrap();
    let db = database::sqlite::<Migrator>(&run, "courier").await.unwrap();
    TestApp {
        tracking: TrackingHandler {
            db: db.clone(),
            outbox: OutboxWriter::new("courier"),
            relay: RelayHandle::default(),
            consumer: residence_courier::tracking::consumer("ems"),
        },
        db,
        _run: run,
    }
}

/// The partner the shipped service item gives new cases, or the one `item` gives.
fn partner_of(item: &str) -> String {
    let item = ServiceItem::parse(item).unwrap();
    item.courier_partner().unwrap().code.clone()
}

/// The shipped item after an operator disabled ems and enabled zto.
fn item_switched_to_zto() -> String {
    SHIPPED_ITEM
        .replacen("enabled = false", "enabled = true", 1)
        .replacen("enabled = true", "enabled = false", 1)
}

fn delivery_started(case_number: &str) -> Incoming {
    let started = DeliveryStarted {
        case_number: case_number.to_owned(),
        method: DeliveryMethod::Courier,
        recipient: Some(Recipient {
            name: "王小明".to_owned(),
            phone: "13800000000".to_owned(),
            address: "河南省驻马店市西平县五沟营镇人民路18号".to_owned(),
        }),
        started_at: Utc::now(),
    };
    let id = format!("started-{case_number}");
    incoming(&id, events::DELIVERY_STARTED.subject, &started)
}

fn report(partner: &str, reference: &str, status: &str) -> Incoming {
    let parcel_status = ParcelStatus {
        schema: PARCEL_STATUS_SCHEMA.to_owned(),
        parcel_reference: reference.to_owned(),
        status: status.to_owned(),
        at: Utc::now(),
        signed_by: (status == "delivered").then(|| "王小明".to_owned()),
        reason: matches!(status, "failed" | "returned").then(|| "收件人拒收".to_owned()),
    };
    let id = format!("{reference}:{status}:{}", uuid::Uuid::new_v4());
    incoming(&id, &logistics::status(partner, status), &parcel_status)
}

impl TestApp {
    fn dispatcher(&self, item: &str) -> DispatchHandler {
        DispatchHandler {
            db: self.db.clone(),
            outbox: OutboxWriter::new("courier"),
            relay: RelayHandle::default(),
            partner: Some(partner_of(item)),
            sender: Party {
                name: "西平县五沟营镇人民政府".to_owned(),
                phone: "0396-6000000".to_owned(),
                address: "驻马店市西平县五沟营镇".to_owned(),
            },
        }
    }

    fn watch(&self, timeout: TimeDelta, max_requests: u32) -> acceptance::Watch {
        acceptance::Watch {
            db: self.db.clone(),
            outbox: OutboxWriter::new("courier"),
            relay: RelayHandle::default(),
            policy: Policy {
                timeout,
                max_requests,
            },
        }
    }

    /// Dispatches a courier delivery of `case_number` under `item` and returns its waybill.
    async fn dispatch(&self, item: &str, case_number: &str) -> waybill::Model {
        let outcome = self
            .dispatcher(item)
            .handle(&delivery_started(case_number))
            .await;
        assert_eq!(outcome, Outcome::Done);
        waybill::Entity::find()
            .filter(waybill::Column::CaseNumber.eq(case_number))
            .one(&self.db)
            .await
            .unwrap()
            .unwrap()
    }

    async fn track(&self, event: &Incoming) -> Outcome {
        self.tracking.handle(event).await
    }

    async fn waybill(&self, reference: &str) -> waybill::Model {
        waybill::Entity::find_by_id(reference.to_owned())
            .one(&self.db)
            .await
            .unwrap()
            .unwrap()
    }

    async fn outbox(&self) -> Vec<outbox::Model> {
        outbox::Entity::find()
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await
            .unwrap()
    }

    async fn outbox_on(&self, subject: &str) -> Vec<outbox::Model> {
        let rows = self.outbox().await;
        rows.into_iter()
            .filter(|row| row.subject == subject)
            .collect()
    }
}

#[tokio::test]
async fn a_case_keeps_its_partner_even_after_the_partner_is_disabled() {
    let app = spawn_app().await;
    let first = app.dispatch(SHIPPED_ITEM, "CASE-1").await;
    assert_eq!(first.partner, "ems", "the first enabled partner");
    let requests = app.outbox_on(&logistics::waybill_requested("ems")).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].case_number, first.parcel_reference,
        "no case number for partners"
    );
    let dispatched = app.outbox_on(events::COURIER_DISPATCHED.subject).await;
    let dispatched: events::CourierDispatched =
        serde_json::from_str(&dispatched[0].payload).unwrap();
    assert_eq!(dispatched.partner, "ems");

    // The operator disables ems: new cases go to zto, ems finishes what it carries.
    let switched = item_switched_to_zto();
    let second = app.dispatch(&switched, "CASE-2").await;
    assert_eq!(second.partner, "zto");
    let reference = first.parcel_reference.as_str();
    for status in ["accepted", "delivered"] {
        assert_eq!(
            app.track(&report("ems", reference, status)).await,
            Outcome::Done
        );
    }
    assert_eq!(app.waybill(reference).await.state, "delivered");
    let delivered = app.outbox_on(events::COURIER_DELIVERED.subject).await;
    let delivered: events::CourierDelivered = serde_json::from_str(&delivered[0].payload).unwrap();
    assert_eq!(
        (delivered.case_number.as_str(), delivered.partner.as_str()),
        ("CASE-1", "ems")
    );

    // The same delivery event again changes nothing.
    let again = app
        .dispatcher(&switched)
        .handle(&delivery_started("CASE-1"))
        .await;
    assert_eq!(again, Outcome::Done);
    assert_eq!(
        app.outbox_on(events::COURIER_DISPATCHED.subject)
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn reports_twice_late_or_out_of_order_end_in_the_right_state() {
    let app = spawn_app().await;
    let reference = app.dispatch(SHIPPED_ITEM, "CASE-1").await.parcel_reference;
    let delivered = report("ems", &reference, "delivered");
    let arrivals = [
        report("ems", &reference, "picked_up"),
        delivered.clone_for_test(),
        report("ems", &reference, "accepted"),
        delivered.clone_for_test(),
        report("ems", &reference, "delivered"),
        report("ems", &reference, "in_transit"),
        report("ems", &reference, "failed"),
    ];
    for event in &arrivals {
        assert_eq!(app.track(event).await, Outcome::Done, "{}", event.subject);
    }
    let waybill = app.waybill(&reference).await;
    assert_eq!(waybill.state, "delivered");
    assert_eq!(waybill.signed_by.as_deref(), Some("王小明"));
    assert_eq!(
        app.outbox_on(events::COURIER_DELIVERED.subject).await.len(),
        1
    );
    assert!(
        app.outbox_on(events::COURIER_FAILED.subject)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn failed_and_returned_parcels_are_reported_once_with_the_reason() {
    let app = spawn_app().await;
    let returned = app.dispatch(SHIPPED_ITEM, "CASE-R").await.parcel_reference;
    let failed = app.dispatch(SHIPPED_ITEM, "CASE-F").await.parcel_reference;
    for event in [
        report("ems", &returned, "returned"),
        report("ems", &returned, "delivered"),
        report("ems", &failed, "in_transit"),
        report("ems", &failed, "failed"),
        report("ems", &failed, "returned"),
    ] {
        assert_eq!(app.track(&event).await, Outcome::Done);
    }
    let reports = app.outbox_on(events::COURIER_FAILED.subject).await;
    let cases: Vec<events::CourierFailed> = reports
        .iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect();
    let summary: Vec<(&str, &str)> = cases
        .iter()
        .map(|failed| (failed.case_number.as_str(), failed.reason.as_str()))
        .collect();
    assert_eq!(
        summary,
        [("CASE-R", "收件人拒收"), ("CASE-F", "收件人拒收")]
    );
    assert_eq!(app.waybill(&returned).await.state, "returned");
    assert!(
        app.outbox_on(events::COURIER_DELIVERED.subject)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_report_on_another_partners_parcel_is_rejected_as_forged() {
    let app = spawn_app().await;
    let reference = app.dispatch(SHIPPED_ITEM, "CASE-1").await.parcel_reference;
    let Outcome::Poison(reason) = app.track(&report("zto", &reference, "delivered")).await else {
        panic!("a forged report must be poison");
    };
    assert!(reason.contains("rejected as forged"), "{reason}");
    let Outcome::Poison(unknown) = app
        .track(&report("ems", "XPNOSUCHPARCEL", "accepted"))
        .await
    else {
        panic!("a report on an unknown parcel must be poison");
    };
    assert!(unknown.contains("unknown parcel reference"), "{unknown}");
    assert_eq!(app.waybill(&reference).await.state, "requested");
    assert!(
        app.outbox_on(events::COURIER_DELIVERED.subject)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_unaccepted_waybill_is_requested_again_then_raised_as_an_incident() {
    let app = spawn_app().await;
    let waybill = app.dispatch(SHIPPED_ITEM, "CASE-1").await;
    let reference = waybill.parcel_reference.as_str();
    let watch = app.watch(TimeDelta::minutes(10), 3);
    let after = |minutes: i64| waybill.requested_at + TimeDelta::minutes(minutes);

    assert_eq!(watch.pass(after(5)).await.unwrap(), Pass::default());
    let again = Pass {
        requested_again: 1,
        incidents: 0,
    };
    assert_eq!(watch.pass(after(11)).await.unwrap(), again);
    assert_eq!(watch.pass(after(15)).await.unwrap(), Pass::default());
    assert_eq!(watch.pass(after(22)).await.unwrap(), again);
    let raised = Pass {
        requested_again: 0,
        incidents: 1,
    };
    assert_eq!(watch.pass(after(33)).await.unwrap(), raised);
    assert_eq!(watch.pass(after(90)).await.unwrap(), Pass::default());

    let requests = app.outbox_on(&logistics::waybill_requested("ems")).await;
    assert_eq!(requests.len(), 3);
    let payloads: Vec<WaybillRequest> = requests
        .iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect();
    assert!(
        payloads.iter().all(|payload| *payload == payloads[0]),
        "the same request"
    );
    let ids: std::collections::BTreeSet<&str> =
        requests.iter().map(|row| row.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "each under its own event id");

    let incidents = app.outbox_on(events::COURIER_INCIDENT.subject).await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].case_number, "CASE-1");
    let incident: events::CourierIncident = serde_json::from_str(&incidents[0].payload).unwrap();
    assert_eq!(
        incident.kind,
        events::CourierIncidentKind::WaybillNotAccepted
    );
    assert_eq!((incident.partner.as_str(), incident.requests), ("ems", 3));
    assert_eq!(incident.parcel_reference, reference);

    // The partner takes it after all: the watch ends and the parcel goes on.
    assert_eq!(
        app.track(&report("ems", reference, "accepted")).await,
        Outcome::Done
    );
    assert!(watched(&app, reference).await.is_none());
    assert_eq!(app.waybill(reference).await.state, "accepted");
}

#[tokio::test]
async fn an_accepted_waybill_is_never_requested_again() {
    let app = spawn_app().await;
    let waybill = app.dispatch(SHIPPED_ITEM, "CASE-1").await;
    let reference = waybill.parcel_reference.as_str();
    assert!(watched(&app, reference).await.is_some());
    assert_eq!(
        app.track(&report("ems", reference, "picked_up")).await,
        Outcome::Done
    );
    assert!(watched(&app, reference).await.is_none());
    let watch = app.watch(TimeDelta::seconds(1), 1);
    let much_later = waybill.requested_at + TimeDelta::days(2);
    assert_eq!(watch.pass(much_later).await.unwrap(), Pass::default());
    assert_eq!(
        app.outbox_on(&logistics::waybill_requested("ems"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn every_message_the_courier_publishes_stays_within_the_allowed_fields() {
    let app = spawn_app().await;
    let delivered = app.dispatch(SHIPPED_ITEM, "CASE-D").await.parcel_reference;
    let failed = app.dispatch(SHIPPED_ITEM, "CASE-F").await.parcel_reference;
    let ignored = app.dispatch(SHIPPED_ITEM, "CASE-I").await;
    for event in [
        report("ems", &delivered, "accepted"),
        report("ems", &delivered, "delivered"),
        report("ems", &failed, "returned"),
    ] {
        assert_eq!(app.track(&event).await, Outcome::Done);
    }
    let watch = app.watch(TimeDelta::seconds(1), 1);
    let later: DateTime<Utc> = ignored.requested_at + TimeDelta::minutes(1);
    assert_eq!(watch.pass(later).await.unwrap().incidents, 1);

    let rows = app.outbox().await;
    let subjects: std::collections::BTreeSet<&str> =
        rows.iter().map(|row| row.subject.as_str()).collect();
    assert_eq!(subjects.len(), 5, "every kind of message: {subjects:?}");
    for row in &rows {
        let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
        let problems = privacy::problems(&payload);
        assert!(problems.is_empty(), "{}: {problems:?}", row.subject);
    }
}

async fn watched(app: &TestApp, reference: &str) -> Option<watch::Model> {
    watch::Entity::find_by_id(reference.to_owned())
        .one(&app.db)
        .await
        .unwrap()
}

/// A copy of an event with the same id, as a redelivery brings it.
trait CloneForTest {
    fn clone_for_test(&self) -> Incoming;
}

impl CloneForTest for Incoming {
    fn clone_for_test(&self) -> Incoming {
        Incoming {
            id: self.id.clone(),
            subject: self.subject.clone(),
            case_number: self.case_number.clone(),
            payload: self.payload.clone(),
            headers: self.headers.clone(),
            delivered: self.delivered + 1,
        }
    }
}
