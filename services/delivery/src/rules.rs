//! The delivery rules, free of storage: how a delivery starts, and what a courier report or a
//! collection at the window does to it.

use residence_events::{DeliveryMethod, DeliveryRequest, Recipient};

/// With a logistics partner.
pub const SHIPPED: &str = "shipped";
/// At the window, waiting for the holder or an agent.
pub const AWAITING_COLLECTION: &str = "awaiting_collection";
/// Delivered by the courier. Final.
pub const DELIVERED: &str = "delivered";
/// Collected at the window. Final.
pub const COLLECTED: &str = "collected";

/// Who may collect a permit at the window.
pub const COLLECTORS: [&str; 2] = ["holder", "agent"];

/// Whether a delivery in `state` is finished.
pub fn is_final(state: &str) -> bool {
    matches!(state, DELIVERED | COLLECTED)
}

/// How a delivery starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    pub method: DeliveryMethod,
    pub state: &'static str,
    /// Set for courier deliveries only.
    pub recipient: Option<Recipient>,
    /// Why courier delivery was asked for but the permit waits at the window.
    pub fallback_reason: Option<&'static str>,
}

/// Decides how the delivery of an approved case starts. The applicant's choice counts only
/// when the service item offers courier delivery and the application names a recipient.
pub fn start(requested: &DeliveryRequest, offers_courier: bool) -> Start {
    match (requested.method, &requested.recipient) {
        (DeliveryMethod::Pickup, _) => pickup(None),
        (DeliveryMethod::Courier, _) if !offers_courier => {
            pickup(Some("本事项未开通快递送达，请到窗口领取"))
        }
        (DeliveryMethod::Courier, None) => pickup(Some("申请未提供收件信息，请到窗口领取")),
        (DeliveryMethod::Courier, Some(recipient)) => Start {
            method: DeliveryMethod::Courier,
            state: SHIPPED,
            recipient: Some(recipient.clone()),
            fallback_reason: None,
        },
    }
}

fn pickup(fallback_reason: Option<&'static str>) -> Start {
    Start {
        method: DeliveryMethod::Pickup,
        state: AWAITING_COLLECTION,
        recipient: None,
        fallback_reason,
    }
}

/// What a logistics partner reported through the courier service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Delivered,
    Failed,
}

/// What a courier report does to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportEffect {
    /// Shipped and now delivered: the delivery is complete.
    Deliver,
    /// Shipped and the courier gave up: the permit goes back to the window.
    Reroute,
    /// Already final or already back at the window: a late or repeated report.
    Ignore,
}

/// Applies a courier report to a delivery started with `method` and now in `state`. A report
/// on a delivery that never went to a courier is an error.
pub fn on_report(method: &str, state: &str, report: Report) -> Result<ReportEffect, String> {
    if method != DeliveryMethod::Courier.code() {
        return Err(format!(
            "courier report for a delivery by {method}, which never went to a courier"
        ));
    }
    Ok(match (state, report) {
        (SHIPPED, Report::Delivered) => ReportEffect::Deliver,
        (SHIPPED, Report::Failed) => ReportEffect::Reroute,
        _ => ReportEffect::Ignore,
    })
}

/// Where a permit that could not be delivered waits: the implementing body's office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Office {
    pub name: String,
    pub address: String,
}

/// What the applicant is told when the courier gave up (`reason`, from the partner) and the
/// permit waits at the window instead.
pub fn reroute_notice(reason: &str, office: &Office) -> String {
    let reason = reason.trim();
    let why = if reason.is_empty() {
        String::new()
    } else {
        format!("（{reason}）")
    };
    format!(
        "您的居住证快递未能送达{why}，已改为窗口领取。请本人或代办人到{}领取，地址：{}。",
        office.name, office.address
    )
}

/// What recording a collection does to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectionEffect {
    /// Waiting at the window: now collected.
    Collect,
    /// Collected before: nothing changes.
    AlreadyCollected,
}

/// Whether a delivery in `state` can be collected at the window; the error says why not.
pub fn on_collection(state: &str) -> Result<CollectionEffect, &'static str> {
    match state {
        AWAITING_COLLECTION => Ok(CollectionEffect::Collect),
        COLLECTED => Ok(CollectionEffect::AlreadyCollected),
        SHIPPED => Err(
            "the permit is with the courier; it can be collected only after the \
             courier reports that delivery failed",
        ),
        DELIVERED => Err("the permit was delivered by courier; there is nothing to collect"),
        _ => Err("the delivery is in an unknown state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: DeliveryMethod, with_recipient: bool) -> DeliveryRequest {
        DeliveryRequest {
            method,
            recipient: with_recipient.then(|| Recipient {
                name: "王小明".into(),
                phone: "13800000000".into(),
                address: "驻马店市西平县五沟营镇某村1号".into(),
            }),
        }
    }

    #[test]
    fn courier_is_used_only_when_asked_offered_and_addressed() {
        let courier = start(&request(DeliveryMethod::Courier, true), true);
        assert_eq!(courier.method, DeliveryMethod::Courier);
        assert_eq!(courier.state, SHIPPED);
        assert!(courier.recipient.is_some());
        assert_eq!(courier.fallback_reason, None);

        let pickup = start(&request(DeliveryMethod::Pickup, false), true);
        assert_eq!(pickup.state, AWAITING_COLLECTION);
        assert_eq!(pickup.fallback_reason, None);

        let not_offered = start(&request(DeliveryMethod::Courier, true), false);
        assert_eq!(not_offered.method, DeliveryMethod::Pickup);
        assert_eq!(not_offered.state, AWAITING_COLLECTION);
        assert!(not_offered.recipient.is_none());
        assert!(not_offered.fallback_reason.is_some());

        let unaddressed = start(&request(DeliveryMethod::Courier, false), true);
        assert_eq!(unaddressed.method, DeliveryMethod::Pickup);
        assert!(unaddressed.fallback_reason.is_some());
    }

    #[test]
    fn reports_move_shipped_deliveries_only() {
        let courier = "courier";
        assert_eq!(
            on_report(courier, SHIPPED, Report::Delivered),
            Ok(ReportEffect::Deliver)
        );
        assert_eq!(
            on_report(courier, SHIPPED, Report::Failed),
            Ok(ReportEffect::Reroute)
        );
        for state in [AWAITING_COLLECTION, DELIVERED, COLLECTED] {
            for report in [Report::Delivered, Report::Failed] {
                assert_eq!(on_report(courier, state, report), Ok(ReportEffect::Ignore));
            }
        }
        assert!(on_report("pickup", AWAITING_COLLECTION, Report::Delivered).is_err());
    }

    #[test]
    fn a_reroute_tells_the_applicant_why_and_where_to_collect() {
        let office = Office {
            name: "西平县五沟营镇人民政府".into(),
            address: "驻马店市西平县五沟营镇".into(),
        };
        let notice = reroute_notice(" 收件人拒收 ", &office);
        assert!(notice.contains("（收件人拒收）"), "{notice}");
        assert!(notice.contains(&office.name) && notice.contains(&office.address));
        assert!(!reroute_notice("", &office).contains("（"));
    }

    #[test]
    fn only_waiting_permits_can_be_collected() {
        assert_eq!(
            on_collection(AWAITING_COLLECTION),
            Ok(CollectionEffect::Collect)
        );
        assert_eq!(
            on_collection(COLLECTED),
            Ok(CollectionEffect::AlreadyCollected)
        );
        assert!(on_collection(SHIPPED).unwrap_err().contains("courier"));
        assert!(on_collection(DELIVERED).is_err());
        assert!(is_final(DELIVERED) && is_final(COLLECTED));
        assert!(!is_final(SHIPPED) && !is_final(AWAITING_COLLECTION));
    }
}
