//! Case statuses as stored (snake case) and as the API shows them.

use residence_proto::v1::CaseStatus;

/// 收件.
pub const RECEIVED: &str = "received";
/// 受理.
pub const ACCEPTED: &str = "accepted";
/// 不予受理. Final.
pub const REFUSED: &str = "refused";
/// 补正: waiting for materials.
pub const SUPPLEMENT_REQUIRED: &str = "supplement_required";
/// 审核: a reviewer of the case's town examines it (人工审核).
pub const IN_MANUAL_REVIEW: &str = "in_manual_review";
/// 审核 done.
pub const REVIEWED: &str = "reviewed";
/// 决定: referred with findings; the deciding officer decides.
pub const AWAITING_DECISION: &str = "awaiting_decision";
/// 决定: approved.
pub const APPROVED: &str = "approved";
/// 决定: denied. Final.
pub const DENIED: &str = "denied";
/// 送达: with the courier.
pub const SHIPPED: &str = "shipped";
/// 送达: at the window.
pub const READY_FOR_PICKUP: &str = "ready_for_pickup";
/// 送达: delivered. Final.
pub const DELIVERED: &str = "delivered";
/// 送达: collected. Final.
pub const COLLECTED: &str = "collected";

/// 撤回: withdrawn by the applicant before the decision. Final.
pub const WITHDRAWN: &str = "withdrawn";

/// Whether a case in `status` is finished.
pub fn is_final(status: &str) -> bool {
    matches!(status, REFUSED | DENIED | DELIVERED | COLLECTED | WITHDRAWN)
}

/// Whether a case in `status` has been decided (approved or denied): it can no longer be
/// withdrawn.
pub fn is_decided(status: &str) -> bool {
    matches!(
        status,
        APPROVED | DENIED | SHIPPED | READY_FOR_PICKUP | DELIVERED | COLLECTED
    )
}

/// The API value of a stored status.
pub fn to_proto(status: &str) -> CaseStatus {
    match status {
        RECEIVED => CaseStatus::Received,
        ACCEPTED => CaseStatus::Accepted,
        REFUSED => CaseStatus::Refused,
        SUPPLEMENT_REQUIRED => CaseStatus::SupplementRequired,
        IN_MANUAL_REVIEW => CaseStatus::InManualReview,
        REVIEWED => CaseStatus::Reviewed,
        AWAITING_DECISION => CaseStatus::AwaitingDecision,
        APPROVED => CaseStatus::Approved,
        DENIED => CaseStatus::Denied,
        SHIPPED => CaseStatus::Shipped,
        READY_FOR_PICKUP => CaseStatus::ReadyForPickup,
        DELIVERED => CaseStatus::Delivered,
        COLLECTED => CaseStatus::Collected,
        WITHDRAWN => CaseStatus::Withdrawn,
        _ => CaseStatus::Unspecified,
    }
}

/// Chinese note for a step.
pub fn note(status: &str) -> &'static str {
    match status {
        RECEIVED => "已收件",
        ACCEPTED => "已受理",
        REFUSED => "不予受理",
        SUPPLEMENT_REQUIRED => "需补正材料（一次性告知）",
        IN_MANUAL_REVIEW => "转人工审核",
        REVIEWED => "审核完成",
        AWAITING_DECISION => "审核完成，待决定人员决定",
        APPROVED => "准予签注",
        DENIED => "不予签注",
        SHIPPED => "已交寄快递",
        READY_FOR_PICKUP => "待窗口领取",
        DELIVERED => "快递已签收",
        COLLECTED => "已窗口领取",
        WITHDRAWN => "申请人撤回申请，终止办理",
        _ => "",
    }
}

/// The stage a case in `status` is in, for supervision; `None` once it is closed.
pub fn stage(status: &str) -> Option<residence_proto::v1::Stage> {
    use residence_proto::v1::Stage;
    Some(match status {
        RECEIVED => Stage::Receive,
        SUPPLEMENT_REQUIRED => Stage::Accept,
        ACCEPTED | IN_MANUAL_REVIEW => Stage::Review,
        REVIEWED | AWAITING_DECISION => Stage::Decide,
        APPROVED | SHIPPED | READY_FOR_PICKUP => Stage::Deliver,
        _ => return None,
    })
}
