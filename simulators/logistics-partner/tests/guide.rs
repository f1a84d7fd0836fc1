//! The partner guide shows the minimal consumer exactly as it is compiled, and names the
//! subjects, consumer and schemas the simulator uses.

use residence_events::logistics;
use residence_events::partner::{PARCEL_STATUS_SCHEMA, WAYBILL_REQUEST_SCHEMA};

const GUIDE: &str = include_str!("../../../docs/partners/logistics.md");
const EXAMPLE: &str = include_str!("../examples/minimal_partner.rs");

#[test]
fn the_guide_shows_the_minimal_consumer_as_compiled() {
    let block = format!("```rust\n{EXAMPLE}```");
    assert!(
        GUIDE.contains(&block),
        "docs/partners/logistics.md must quote examples/minimal_partner.rs verbatim"
    );
}

#[test]
fn the_guide_names_what_the_simulator_uses() {
    let feed = residence_logistics_partner_simulator::feed("ems");
    for name in [
        feed.stream,
        "partner-<code>-waybills",
        "logistics.v1.<code>.waybill.requested",
        "logistics.v1.<code>.status.<status>",
        WAYBILL_REQUEST_SCHEMA,
        PARCEL_STATUS_SCHEMA,
        "JS.SERVICES.API",
        "<parcel_reference>:<status>",
    ] {
        assert!(GUIDE.contains(name), "the guide does not mention {name}");
    }
    assert_eq!(feed.durable_name, logistics::waybill_consumer("ems"));
    for status in logistics::STATUSES {
        assert!(GUIDE.contains(&format!("`{status}`")), "{status}");
    }
}
