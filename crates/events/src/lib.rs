//! The events the services exchange: subjects, type names and JSON payloads.
//!
//! Every state change is one event, named in the past tense, on its own subject. The subject
//! carries the version (`residence.v1.…`), so a breaking change gets a new subject tree. Payloads
//! are JSON; unknown fields are ignored so that adding a field is never breaking.

mod payload;

pub use payload::*;

/// Where an event type is published, and what it is called in the `ce-type` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventType {
    /// The NATS subject, which is also the CloudEvents type.
    pub subject: &'static str,
}

impl EventType {
    const fn new(subject: &'static str) -> Self {
        Self { subject }
    }

    /// The CloudEvents `ce-type`, identical to the subject.
    pub fn name(&self) -> &'static str {
        self.subject
    }
}

/// 收件: an application arrived and got a case number.
pub const APPLICATION_RECEIVED: EventType = EventType::new("residence.v1.application.received");
/// 受理: an application was accepted; the time-limit clock starts.
pub const APPLICATION_ACCEPTED: EventType = EventType::new("residence.v1.application.accepted");
/// 不予受理: an application was refused with reasons. Final.
pub const APPLICATION_REFUSED: EventType = EventType::new("residence.v1.application.refused");
/// The applicant answered a reviewer's supplement notice on an accepted case: the time-limit
/// clock runs again and the case goes back to its reviewer's queue.
pub const APPLICATION_SUPPLEMENTED: EventType =
    EventType::new("residence.v1.application.supplemented");
/// 审核: the automatic checks found something a person must look at; the case waits in its
/// town's review queue.
pub const REVIEW_QUEUED: EventType = EventType::new("residence.v1.review.queued");
/// 补正: a reviewer returned an accepted case to the applicant with one notice of what is
/// missing; the time-limit clock stands still until they answer.
pub const REVIEW_SUPPLEMENT_REQUESTED: EventType =
    EventType::new("residence.v1.review.supplement_requested");
/// 审核: the case passed (by the automatic checks or a reviewer), or a reviewer referred it
/// with findings to the deciding officer.
pub const REVIEW_COMPLETED: EventType = EventType::new("residence.v1.review.completed");
/// 决定: the endorsement was approved.
pub const DECISION_APPROVED: EventType = EventType::new("residence.v1.decision.approved");
/// 决定: the endorsement was denied with a legal basis. Final.
pub const DECISION_DENIED: EventType = EventType::new("residence.v1.decision.denied");
/// An officer reversed an approval; its electronic license is revoked.
pub const DECISION_REVERSED: EventType = EventType::new("residence.v1.decision.reversed");
/// 送达 started: the permit goes to a courier or waits at the window.
pub const DELIVERY_STARTED: EventType = EventType::new("residence.v1.delivery.started");
/// A courier delivery failed and the permit now waits at the window.
pub const DELIVERY_REROUTED: EventType = EventType::new("residence.v1.delivery.rerouted");
/// 送达 completed: delivered by courier or collected at the window. Final.
pub const DELIVERY_COMPLETED: EventType = EventType::new("residence.v1.delivery.completed");
/// The courier service handed a waybill to a logistics partner.
pub const COURIER_DISPATCHED: EventType = EventType::new("residence.v1.courier.dispatched");
/// The logistics partner reported the parcel delivered.
pub const COURIER_DELIVERED: EventType = EventType::new("residence.v1.courier.delivered");
/// The logistics partner reported that it could not deliver the parcel.
pub const COURIER_FAILED: EventType = EventType::new("residence.v1.courier.failed");
/// A parcel needs an operator: its partner did not accept the waybill however often it was
/// requested. Carries no personal data.
pub const COURIER_INCIDENT: EventType = EventType::new("residence.v1.courier.incident");
/// An electronic license was issued for an approval.
pub const LICENSE_ISSUED: EventType = EventType::new("residence.v1.license.issued");
/// An electronic license was revoked after its decision was reversed.
pub const LICENSE_REVOKED: EventType = EventType::new("residence.v1.license.revoked");
/// A license message went unacknowledged or was rejected by the e-license platform.
pub const LICENSE_INCIDENT: EventType = EventType::new("residence.v1.license.incident");
/// A case's time limit runs out soon and the case is not decided yet.
pub const CASE_DEADLINE_APPROACHING: EventType =
    EventType::new("residence.v1.case.deadline_approaching");
/// A case's time limit ran out before its decision.
pub const CASE_OVERDUE: EventType = EventType::new("residence.v1.case.overdue");
/// A case did not advance within its stage budget: every service publishes its events for the
/// case again. Published by intake, which owns the case.
pub const CASE_RESEND_REQUESTED: EventType = EventType::new("residence.v1.case.resend_requested");

/// The applicant asked to withdraw an accepted case before its decision. Published by intake;
/// the decision service answers with `residence.v1.decision.withdrawn` unless it decided first.
pub const CASE_WITHDRAWAL_REQUESTED: EventType =
    EventType::new("residence.v1.case.withdrawal_requested");
/// The decision service ended an undecided case at its applicant's request (终止办理): it will
/// never be approved or denied.
pub const DECISION_WITHDRAWN: EventType = EventType::new("residence.v1.decision.withdrawn");
/// A message for the applicant, for the county's SMS or app gateway to send. Carries the
/// applicant's mobile number and the Chinese text; never the ID number.
pub const NOTIFICATION_REQUESTED: EventType = EventType::new("residence.v1.notification.requested");
/// An applicant rated a closed case (好差评). Carries no personal data.
pub const RATING_SUBMITTED: EventType = EventType::new("residence.v1.rating.submitted");
/// A dissatisfied rating opened a follow-up task (差评整改). Carries no personal data.
pub const FOLLOW_UP_OPENED: EventType = EventType::new("residence.v1.follow_up.opened");
/// Staff recorded the outcome of a follow-up task and closed it.
pub const FOLLOW_UP_CLOSED: EventType = EventType::new("residence.v1.follow_up.closed");

/// Every internal event type, for stream set-up and documentation.
pub const ALL_INTERNAL: &[EventType] = &[
    APPLICATION_RECEIVED,
    APPLICATION_ACCEPTED,
    APPLICATION_REFUSED,
    APPLICATION_SUPPLEMENTED,
    REVIEW_QUEUED,
    REVIEW_SUPPLEMENT_REQUESTED,
    REVIEW_COMPLETED,
    DECISION_APPROVED,
    DECISION_DENIED,
    DECISION_REVERSED,
    DELIVERY_STARTED,
    DELIVERY_REROUTED,
    DELIVERY_COMPLETED,
    COURIER_DISPATCHED,
    COURIER_DELIVERED,
    COURIER_FAILED,
    COURIER_INCIDENT,
    LICENSE_ISSUED,
    LICENSE_REVOKED,
    LICENSE_INCIDENT,
    CASE_DEADLINE_APPROACHING,
    CASE_OVERDUE,
    CASE_RESEND_REQUESTED,
    CASE_WITHDRAWAL_REQUESTED,
    DECISION_WITHDRAWN,
    NOTIFICATION_REQUESTED,
    RATING_SUBMITTED,
    FOLLOW_UP_OPENED,
    FOLLOW_UP_CLOSED,
];

/// Partner-facing subjects for logistics partners (JSON, documented in the AsyncAPI file).
pub mod logistics {
    /// Subject a partner receives waybill requests on.
    pub fn waybill_requested(partner: &str) -> String {
        format!("logistics.v1.{partner}.waybill.requested")
    }

    /// Subject a partner publishes a parcel status on; `status` is one of [`STATUSES`].
    pub fn status(partner: &str, status: &str) -> String {
        format!("logistics.v1.{partner}.status.{status}")
    }

    /// Wildcard for every partner's status reports.
    pub const ALL_STATUS: &str = "logistics.v1.*.status.>";

    /// The stream holding `partner`'s status reports, such as `LOGISTICS_STATUS_EMS`.
    pub fn status_stream(partner: &str) -> String {
        format!("LOGISTICS_STATUS_{}", partner.to_ascii_uppercase())
    }

    /// The durable consumer a partner reads its waybill requests through. The courier
    /// service creates it; a partner only binds to it.
    pub fn waybill_consumer(partner: &str) -> String {
        format!("partner-{partner}-waybills")
    }

    /// Statuses a partner may report.
    pub const STATUSES: &[&str] = &[
        "accepted",
        "picked_up",
        "in_transit",
        "delivered",
        "failed",
        "returned",
    ];
}

/// Partner-facing subjects for e-license platforms (JSON, documented in the AsyncAPI file).
pub mod elicense {
    /// An issued license a platform should register.
    pub const LICENSE_ISSUED: &str = "elicense.v1.license.issued";
    /// A license a platform should mark revoked.
    pub const LICENSE_REVOKED: &str = "elicense.v1.license.revoked";
    /// A platform's acknowledgement of a license it registered or revoked.
    pub const LICENSE_ACKNOWLEDGED: &str = "elicense.v1.license.acknowledged";
}

/// Subject an event lands on when a consumer gives up on it; the suffix names the consumer.
pub fn dead_letter_subject(consumer: &str) -> String {
    format!("residence.deadletter.v1.{consumer}")
}
