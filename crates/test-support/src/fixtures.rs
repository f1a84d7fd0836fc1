//! Data the services' tests start from: the deployed service item and a synthetic applicant.

use std::sync::Arc;

use chrono::NaiveDate;
use residence_events::{Application, Channel, DeliveryMethod, DeliveryRequest, Holder, Timeliness};
use residence_item::ServiceItem;

/// The ID number of the synthetic holder: it passes the GB 11643 check yet belongs to no
/// real person.
pub const ID_NUMBER: &str = "411721199001011237";

/// The county's service item exactly as `deploy/service-item.toml` ships it.
pub fn service_item() -> Arc<ServiceItem> {
    let text = include_str!("../../../deploy/service-item.toml");
    Arc::new(ServiceItem::parse(text).expect("the shipped service item parses"))
}

/// An on-time application made at the window by the synthetic adult holder living at
/// `address`, who collects the permit in person.
pub fn application(case_number: &str, address: &str) -> Application {
    let date = |text: &str| text.parse::<NaiveDate>().expect("a valid date");
    Application {
        case_number: case_number.into(),
        channel: Channel::Window,
        holder: Holder {
            name: "测试人".into(),
            id_number: ID_NUMBER.into(),
            phone: "13800000000".into(),
        },
        permit_valid_until: date("2026-03-10"),
        applied_on: date("2026-02-10"),
        timeliness: Timeliness::OnTime,
        residence_address: address.into(),
        address_change: None,
        delivery: DeliveryRequest {
            method: DeliveryMethod::Pickup,
            recipient: None,
        },
        agent: None,
    }
}
