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
/// 审核: the automatic checks ran on an accepted case.
pub const REVIEW_COMPLETED: EventType = EventType::new("residence.v1.review.completed");
/// 决定: the endorsement was approved.
pub const DECISION_APPROVED: EventType = EventType::new("residence.v1.decision.approved");
/// 决定: the endorsement was denied with a legal basis. Final.
pub const DECISION_DENIED: EventType = EventType::new("residence.v1.decision.denied");
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
/// An electronic license was issued for an approval.
pub const LICENSE_ISSUED: EventType = EventType::new("residence.v1.license.issued");
/// A case's time limit runs out soon and the case is not decided yet.
pub const CASE_DEADLINE_APPROACHING: EventType =
    EventType::new("residence.v1.case.deadline_approaching");
/// A case's time limit ran out before its decision.
pub const CASE_OVERDUE: EventType = EventType::new("residence.v1.case.overdue");

/// Every internal event type, for stream set-up and documentation.
pub const ALL_INTERNAL: &[EventType] = &[
    APPLICATION_RECEIVED,
    APPLICATION_ACCEPTED,
    APPLICATION_REFUSED,
    REVIEW_COMPLETED,
    DECISION_APPROVED,
    DECISION_DENIED,
    DELIVERY_STARTED,
    DELIVERY_REROUTED,
    DELIVERY_COMPLETED,
    COURIER_DISPATCHED,
    COURIER_DELIVERED,
    COURIER_FAILED,
    LICENSE_ISSUED,
    CASE_DEADLINE_APPROACHING,
    CASE_OVERDUE,
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
    /// A platform's acknowledgement of a license it registered.
    pub const LICENSE_ACKNOWLEDGED: &str = "elicense.v1.license.acknowledged";
}

/// Subject an event lands on when a consumer gives up on it; the suffix names the consumer.
pub fn dead_letter_subject(consumer: &str) -> String {
    format!("residence.deadletter.v1.{consumer}")
}
