//! JSON payloads of the internal events and of the partner-facing feeds.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Channel an application came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 窗口办理.
    Window,
    /// 网上办理.
    Online,
    /// 自助终端.
    SelfServiceTerminal,
}

impl Channel {
    /// Stable lowercase code, as stored and logged.
    pub fn code(self) -> &'static str {
        match self {
            Self::Window => "window",
            Self::Online => "online",
            Self::SelfServiceTerminal => "self_service_terminal",
        }
    }
}

/// How the endorsed permit reaches the holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// Collected at the window.
    Pickup,
    /// Delivered by a logistics partner.
    Courier,
}

impl DeliveryMethod {
    /// Stable lowercase code, as stored and logged.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pickup => "pickup",
            Self::Courier => "courier",
        }
    }
}

/// Whether the endorsement came inside its window or after it (补办).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Inside the month before the anniversary.
    OnTime,
    /// After the anniversary: continuous residence restarts on the endorsement day.
    Late,
}

impl Timeliness {
    /// Stable lowercase code.
    pub fn code(self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::Late => "late",
        }
    }
}

/// The permit holder. Carries personal data: internal streams only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub name: String,
    pub id_number: String,
    pub phone: String,
}

/// Who receives a courier parcel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub name: String,
    pub phone: String,
    pub address: String,
}

/// The requested delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRequest {
    pub method: DeliveryMethod,
    /// Present for courier deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient>,
}

/// A within-county move declared with the application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddressChange {
    pub moved_on: NaiveDate,
    /// The day by which the holder should have endorsed at the new address.
    pub deadline: NaiveDate,
    /// Endorsed after the deadline: accepted, but flagged.
    pub late: bool,
}

/// Who submitted on the holder's behalf (代办), without their ID number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub name: String,
    /// `guardian`, `close_relative` or `other`.
    pub relation: String,
}

/// What the later stages need to know about an accepted application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub case_number: String,
    pub channel: Channel,
    pub holder: Holder,
    /// The anniversary the permit carries before this endorsement.
    pub permit_valid_until: NaiveDate,
    /// The day the application was made (China time).
    pub applied_on: NaiveDate,
    pub timeliness: Timeliness,
    /// The residence address to endorse.
    pub residence_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_change: Option<AddressChange>,
    pub delivery: DeliveryRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentSummary>,
}

/// A reason for a refusal, machine-readable with a Chinese explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReasonItem {
    pub code: String,
    #[serde(default)]
    pub field: String,
    pub message: String,
}

/// `residence.v1.application.received`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationReceived {
    pub case_number: String,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
}

/// `residence.v1.application.accepted`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationAccepted {
    pub application: Application,
    pub accepted_at: DateTime<Utc>,
    /// End of the legal time limit.
    pub due_on: NaiveDate,
    /// False when `due_on` depends on a year without a loaded holiday calendar.
    pub due_on_confirmed: bool,
}

/// `residence.v1.case.deadline_approaching` and `residence.v1.case.overdue`. Carries no
/// personal data: supervisors look the case up by its number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseTimeLimit {
    pub case_number: String,
    /// `legal` (法定办理时限) or `promised` (承诺办理时限).
    pub limit: String,
    /// The limit in working days.
    pub working_days: u32,
    /// The working day the limit ends with; moved later by any time spent waiting on the
    /// applicant.
    pub due_on: NaiveDate,
    /// False when `due_on` depends on a year without a loaded holiday calendar.
    pub due_on_confirmed: bool,
    /// The instant the limit runs out: midnight at the end of `due_on`, China time.
    pub deadline: DateTime<Utc>,
    /// Where the case stands, a case status in snake case such as `accepted`.
    pub status: String,
}

/// `residence.v1.case.resend_requested`. Carries no personal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResendRequested {
    pub case_number: String,
    /// The status the case has been in too long, in snake case such as `reviewed`.
    pub status: String,
    /// When the case last changed.
    pub stuck_since: DateTime<Utc>,
    /// How many times intake has asked for this case, this request included.
    pub attempt: u32,
}

/// `residence.v1.case.withdrawal_requested`. The reason is the applicant's own words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseWithdrawalRequested {
    pub case_number: String,
    pub reason: String,
    pub requested_at: DateTime<Utc>,
}

/// `residence.v1.decision.withdrawn`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionWithdrawn {
    pub case_number: String,
    pub reason: String,
    pub withdrawn_at: DateTime<Utc>,
}

/// What an applicant notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// 已收件.
    Received,
    /// 已受理, with the due date.
    Accepted,
    /// 不予受理, with the reasons.
    Refused,
    /// 补正: the materials still needed, in one notice.
    SupplementRequired,
    /// 准予签注.
    Approved,
    /// 不予签注, with the legal basis.
    Denied,
    /// Handed to the courier, with the partner and tracking number.
    Shipped,
    /// Waiting at the window.
    ReadyForPickup,
    /// Delivered by the courier.
    Delivered,
    /// Collected at the window.
    Collected,
    /// Withdrawn at the applicant's request.
    Withdrawn,
    /// The withdrawal came too late: the case was decided first.
    WithdrawalTooLate,
    /// The one invitation to rate a closed case (好差评).
    RatingInvitation,
}

impl NotificationKind {
    /// Every kind, in the order of a case's life.
    pub const ALL: [NotificationKind; 13] = [
        Self::Received,
        Self::Accepted,
        Self::Refused,
        Self::SupplementRequired,
        Self::Approved,
        Self::Denied,
        Self::Shipped,
        Self::ReadyForPickup,
        Self::Delivered,
        Self::Collected,
        Self::Withdrawn,
        Self::WithdrawalTooLate,
        Self::RatingInvitation,
    ];

    /// Stable snake-case code, as sent and as the template file names it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::SupplementRequired => "supplement_required",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Shipped => "shipped",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Delivered => "delivered",
            Self::Collected => "collected",
            Self::Withdrawn => "withdrawn",
            Self::WithdrawalTooLate => "withdrawal_too_late",
            Self::RatingInvitation => "rating_invitation",
        }
    }
}

/// The `schema` of applicant notifications.
pub const NOTIFICATION_SCHEMA: &str = "residence.v1.notification";

/// `residence.v1.notification.requested`: one message for one applicant. The gateway sends
/// `text` to `phone` once per `notification_id` (the same id may arrive more than once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationRequested {
    /// Always [`NOTIFICATION_SCHEMA`].
    pub schema: String,
    /// Stable per case and kind (and per notice, for repeated kinds): the gateway's
    /// de-duplication key.
    pub notification_id: String,
    pub case_number: String,
    pub kind: NotificationKind,
    /// How the applicant applied: `online` applicants also get it in the app.
    pub channel: Channel,
    /// Mainland mobile number the text goes to. Personal data: the gateway must not log it.
    pub phone: String,
    /// The message, in Chinese, from the county's template.
    pub text: String,
    pub requested_at: DateTime<Utc>,
}

/// `residence.v1.rating.submitted`. The applicant's comment stays in intake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatingSubmitted {
    pub case_number: String,
    /// 9-digit code of the case's town.
    pub town_code: String,
    /// `web`, `app`, `sms`, `window` or `hotline`.
    pub channel: String,
    /// 1 (非常不满意) to 5 (非常满意).
    pub level: u8,
    pub rated_at: DateTime<Utc>,
}

/// `residence.v1.follow_up.opened` and `residence.v1.follow_up.closed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowUpChanged {
    pub follow_up_id: String,
    pub case_number: String,
    pub town_code: String,
    /// The rating level that opened it: 1 or 2.
    pub level: u8,
    pub due_on: NaiveDate,
    pub opened_at: DateTime<Utc>,
    /// When closed: when, and the staff id who closed it. The outcome text stays in intake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
}

/// `residence.v1.application.refused`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationRefused {
    pub case_number: String,
    pub reasons: Vec<ReasonItem>,
    pub refused_at: DateTime<Utc>,
}

/// Outcome of a review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// Nothing stands in the way: the automatic checks found nothing, or a reviewer cleared
    /// what they found. The decision follows by itself.
    Passed,
    /// Findings stand: a reviewer referred the case with them, and the deciding officer
    /// approves or denies it.
    Failed,
}

/// `residence.v1.review.queued`: the case waits for a reviewer of its town. Carries no
/// personal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewQueued {
    pub case_number: String,
    /// Division code of the town whose reviewers work the case.
    pub town_code: String,
    /// Codes of what the automatic checks found, such as `agent_for_minor`.
    pub findings: Vec<String>,
    pub queued_at: DateTime<Utc>,
}

/// `residence.v1.review.supplement_requested`: one notice (一次性告知) of everything the
/// reviewer still needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewSupplementRequested {
    pub case_number: String,
    /// Every missing item, and the reviewer's note, as the applicant reads them.
    pub missing: Vec<ReasonItem>,
    /// The reviewer's staff id.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

/// `residence.v1.application.supplemented`: the applicant answered a reviewer's notice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationSupplemented {
    pub case_number: String,
    /// Codes of the materials supplied, such as `proof_of_residence`.
    pub materials: Vec<String>,
    /// The legal time limit's new due date, moved by the days spent waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_on: Option<NaiveDate>,
    pub supplemented_at: DateTime<Utc>,
}

/// One result of a review check that did not pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub message: String,
}

/// `residence.v1.review.completed`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewCompleted {
    pub application: Application,
    pub outcome: ReviewOutcome,
    pub findings: Vec<Finding>,
    pub reviewed_at: DateTime<Utc>,
}

/// What is written on the permit (签注内容).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endorsement {
    pub residence_address: String,
    pub valid_until: NaiveDate,
    pub issuing_authority: String,
    pub issuing_authority_code: String,
    pub timeliness: Timeliness,
    /// Set for late endorsements: continuous residence counts from this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_counted_from: Option<NaiveDate>,
}

/// `residence.v1.decision.approved`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionApproved {
    pub application: Application,
    pub endorsement: Endorsement,
    pub decided_at: DateTime<Utc>,
}

/// `residence.v1.decision.denied`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionDenied {
    pub case_number: String,
    pub legal_basis: String,
    pub reasons: Vec<String>,
    pub decided_at: DateTime<Utc>,
}

/// `residence.v1.delivery.started`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStarted {
    pub case_number: String,
    pub method: DeliveryMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient>,
    pub started_at: DateTime<Utc>,
}

/// `residence.v1.delivery.rerouted`: the courier could not deliver, the permit waits at the
/// window, and the applicant is told so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRerouted {
    pub case_number: String,
    /// The logistics partner's reason, in Chinese.
    pub reason: String,
    pub rerouted_at: DateTime<Utc>,
    /// What the applicant is told, in Chinese: why the parcel did not arrive and where to
    /// collect the permit instead. Ready to send as it is; empty in events from before it
    /// was added.
    #[serde(default)]
    pub notice: String,
}

/// How a delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The courier delivered it.
    Delivered,
    /// Collected at the window.
    Collected,
}

/// `residence.v1.delivery.completed`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryCompleted {
    pub case_number: String,
    pub outcome: DeliveryOutcome,
    pub completed_at: DateTime<Utc>,
}

/// `residence.v1.courier.dispatched`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourierDispatched {
    pub case_number: String,
    pub partner: String,
    pub parcel_reference: String,
    pub dispatched_at: DateTime<Utc>,
}

/// `residence.v1.courier.delivered`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourierDelivered {
    pub case_number: String,
    pub partner: String,
    pub parcel_reference: String,
    pub delivered_at: DateTime<Utc>,
    pub signed_by: String,
}

/// `residence.v1.courier.failed`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourierFailed {
    pub case_number: String,
    pub partner: String,
    pub parcel_reference: String,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

/// What needs an operator about a parcel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourierIncidentKind {
    /// The partner did not accept the waybill, however often it was requested.
    WaybillNotAccepted,
}

impl CourierIncidentKind {
    /// Stable lowercase code, as logged.
    pub fn code(self) -> &'static str {
        match self {
            Self::WaybillNotAccepted => "waybill_not_accepted",
        }
    }
}

/// `residence.v1.courier.incident`: a parcel an operator has to look after. Carries no
/// personal data: the operator looks the case up by its number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourierIncident {
    pub case_number: String,
    pub partner: String,
    pub parcel_reference: String,
    pub kind: CourierIncidentKind,
    /// How many times the waybill was requested from the partner.
    pub requests: u32,
    /// When the waybill was first requested.
    pub first_requested_at: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
}

/// `residence.v1.license.issued`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LicenseIssued {
    pub case_number: String,
    pub identifier: String,
    pub version: u32,
    pub issued_on: NaiveDate,
}

/// `residence.v1.decision.reversed`: an officer withdrew an approval (撤销决定). Carries no
/// personal data of the holder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionReversed {
    pub case_number: String,
    /// Why, as the officer recorded it.
    pub reason: String,
    /// The officer who reversed the decision.
    pub officer_id: String,
    pub reversed_at: DateTime<Utc>,
}

/// `residence.v1.license.revoked`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LicenseRevoked {
    pub case_number: String,
    pub identifier: String,
    pub revoked_at: DateTime<Utc>,
}

/// What went wrong with a license at the e-license platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseIncidentKind {
    /// No acknowledgement came after the message was sent and re-sent.
    Unacknowledged,
    /// The platform refused the message; the reason is on the license, not in the event.
    Rejected,
}

impl LicenseIncidentKind {
    /// Stable lowercase code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unacknowledged => "unacknowledged",
            Self::Rejected => "rejected",
        }
    }
}

/// `residence.v1.license.incident`: a license did not reach the platform as it should, for an
/// operator to follow up. Carries no personal data (a platform's reason may quote some, so it
/// stays in the e-license service).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LicenseIncident {
    pub case_number: String,
    pub identifier: String,
    /// The message concerned: `issued` or `revoked`.
    pub action: partner::LicenseAction,
    pub kind: LicenseIncidentKind,
    /// How many times the message was sent.
    pub sends: u32,
    /// The platform that answered, for a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub raised_at: DateTime<Utc>,
}

/// Partner-facing JSON messages. Field names are part of the published contract.
pub mod partner {
    use chrono::{DateTime, NaiveDate, Utc};
    use serde::{Deserialize, Serialize};

    /// Schema name and version of a waybill request.
    pub const WAYBILL_REQUEST_SCHEMA: &str = "logistics.v1.waybill_request";
    /// Schema name and version of a parcel status report.
    pub const PARCEL_STATUS_SCHEMA: &str = "logistics.v1.parcel_status";
    /// Schema name and version of an issued-license message.
    pub const LICENSE_ISSUED_SCHEMA: &str = "elicense.v1.license_issued";
    /// Schema name and version of a revoked-license message.
    pub const LICENSE_REVOKED_SCHEMA: &str = "elicense.v1.license_revoked";
    /// Schema name and version of a platform acknowledgement.
    pub const LICENSE_ACKNOWLEDGED_SCHEMA: &str = "elicense.v1.license_acknowledged";

    /// A postal party: name, phone and address only.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Party {
        pub name: String,
        pub phone: String,
        pub address: String,
    }

    /// `logistics.v1.{partner}.waybill.requested`: the minimum a courier needs (快递暂行条例
    /// Art. 22): no ID number, birth date or permit data.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct WaybillRequest {
        pub schema: String,
        pub parcel_reference: String,
        pub recipient: Party,
        pub sender: Party,
        pub requested_at: DateTime<Utc>,
    }

    /// `logistics.v1.{partner}.status.{status}`: a partner's report on a parcel.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct ParcelStatus {
        pub schema: String,
        pub parcel_reference: String,
        /// One of `accepted`, `picked_up`, `in_transit`, `delivered`, `failed`, `returned`;
        /// must match the subject's last token.
        pub status: String,
        pub at: DateTime<Utc>,
        /// Who signed for the parcel; required for `delivered`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub signed_by: Option<String>,
        /// Why; required for `failed` and `returned`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }

    /// The holder as an e-license platform registers it.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct LicenseHolder {
        pub name: String,
        pub id_number: String,
    }

    /// One version of an electronic license (电子证照): every field its signature covers.
    /// The field names are the contract; the canonical form that is signed is defined in
    /// `residence-license` and in `docs/partners/elicense.md`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct License {
        /// 证照标识: `1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}`.
        pub identifier: String,
        /// 1 for a holder's first license, one more for each endorsement after it.
        pub version: u32,
        /// The identifier of the version this one replaces; absent on version 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub supersedes: Option<String>,
        /// 证照名称.
        pub license_name: String,
        /// 证照类型代码.
        pub license_type_code: String,
        /// 证照编号: for a residence permit, the holder's ID number.
        pub license_number: String,
        /// 发证机构 (签发机关).
        pub issuing_authority: String,
        /// 发证机构代码: the issuing body's unified social credit code.
        pub issuing_authority_code: String,
        /// 发证日期, China time.
        pub issued_on: NaiveDate,
        /// 有效期起始: the day the license takes effect (its issue date).
        pub valid_from: NaiveDate,
        /// 有效期截止: the permit's new anniversary.
        pub valid_until: NaiveDate,
        /// 持证人.
        pub holder: LicenseHolder,
        /// The endorsed residence address.
        pub residence_address: String,
        /// 办件编号: the case the license was issued for.
        pub case_number: String,
    }

    /// An SM2 signature over a canonical form, with the key that made it.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LicenseSignature {
        /// `SM2-SM3`: SM2 (GB/T 32918) over an SM3 digest, as GB/T 35276 specifies.
        pub algorithm: String,
        /// The canonical form signed, such as `residence-license/1`.
        pub form: String,
        /// The signing key, found in the published key document.
        pub key_id: String,
        /// `r || s`, 32 bytes each, big-endian, in standard base64 with padding.
        pub value: String,
    }

    /// `elicense.v1.license.issued`: what a platform needs to register and verify a license.
    /// The license fields sit at the top level, beside the schema and the signature.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct LicenseIssuedMessage {
        pub schema: String,
        #[serde(flatten)]
        pub license: License,
        /// Signature over the license's canonical form.
        pub signature: LicenseSignature,
        /// The compact signed payload for the license's QR code (`RP1.…`).
        pub qr_payload: String,
    }

    /// `elicense.v1.license.revoked`: the issuing authority withdrew a license (吊销/撤销).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct LicenseRevokedMessage {
        pub schema: String,
        pub identifier: String,
        pub version: u32,
        /// Why, as the deciding officer recorded it.
        pub reason: String,
        /// When, UTC, in whole seconds.
        pub revoked_at: DateTime<Utc>,
        pub case_number: String,
        /// Signature over the revocation's canonical form.
        pub signature: LicenseSignature,
    }

    /// What a platform message asked for, and so what an acknowledgement answers.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum LicenseAction {
        /// Register an issued license (`elicense.v1.license.issued`).
        #[default]
        Issued,
        /// Mark a license revoked (`elicense.v1.license.revoked`).
        Revoked,
    }

    impl LicenseAction {
        /// Stable lowercase code, as stored and sent.
        pub fn code(self) -> &'static str {
            match self {
                Self::Issued => "issued",
                Self::Revoked => "revoked",
            }
        }
    }

    /// `elicense.v1.license.acknowledged`: a platform registered (or rejected) a license.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct LicenseAcknowledged {
        pub schema: String,
        pub identifier: String,
        /// The message answered; `issued` when left out, as before revocations existed.
        #[serde(default)]
        pub action: LicenseAction,
        pub platform: String,
        pub accepted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
        pub at: DateTime<Utc>,
    }
}
