//! Courier dispatch: turns courier deliveries into waybill requests to the logistics partner,
//! carrying only what a courier needs, and turns the partner's parcel reports back into
//! delivered or failed events for the delivery service.

pub mod dispatch;
pub mod entity;
pub mod migration;
pub mod parcel;
pub mod partner;
pub mod tracking;

use residence_eventing::{ConsumerSpec, streams};
use residence_events::partner::Party;
use residence_runtime::{CommonArgs, Service};

/// Default gRPC port.
pub const DEFAULT_PORT: u16 = 50055;

/// The name this service reports in `grpc.health.v1`.
pub const HEALTH_SERVICE_NAME: &str = "residence.v1.CourierService";

/// Command-line flags of the courier dispatch service.
#[derive(Debug, clap::Parser)]
#[command(name = "residence-courier", about = "courier dispatch for 居住证签注")]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Telephone number printed as the sender's on every waybill: the implementing body's
    /// office line. The sender's name and address come from the service item. Empty leaves
    /// the sender phone blank on waybills.
    #[arg(
        long,
        env = "RESIDENCE_COURIER_SENDER_PHONE",
        default_value = "",
        value_parser = parse_sender_phone
    )]
    pub sender_phone: String,
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = args.common.load_item()?;
    let partner = item
        .offers_courier()
        .then(|| item.delivery.courier_partner.clone());
    let sender = Party {
        name: item.implementing_body.name.clone(),
        phone: args.sender_phone.clone(),
        address: item.implementing_body.address.clone(),
    };
    if sender.phone.is_empty() {
        tracing::warn!("no sender phone configured; waybills leave it blank");
    }

    let mut service =
        Service::start::<migration::Migrator>("courier", &args.common, DEFAULT_PORT).await?;
    let deliveries = ConsumerSpec::new(dispatch::CONSUMER, streams::RESIDENCE, dispatch::SUBJECTS);
    let dispatch_handler = dispatch::DispatchHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        partner: partner.clone(),
        sender,
    };
    service.consume(deliveries, dispatch_handler);
    let statuses = ConsumerSpec::new(tracking::CONSUMER, streams::LOGISTICS, tracking::SUBJECTS);
    let tracking_handler = tracking::TrackingHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
    };
    service.consume(statuses, tracking_handler);

    let partner = partner.as_deref().unwrap_or("");
    tracing::info!(addr = %service.local_addr(), partner, "courier serving");
    service.serve_health_only(HEALTH_SERVICE_NAME).await
}

/// A telephone number as printed on a waybill: empty, or 5 to 20 digits, spaces, '-' or '+'.
fn parse_sender_phone(value: &str) -> Result<String, String> {
    let phone = value.trim();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | ' ');
    let valid = phone.is_empty()
        || ((5..=20).contains(&phone.len())
            && phone.chars().all(allowed)
            && phone.chars().any(|c| c.is_ascii_digit()));
    if valid {
        Ok(phone.to_owned())
    } else {
        Err("expected 5 to 20 ASCII digits, spaces, '-' or '+'".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn sender_phone_is_optional_and_checked() {
        let parse = |flags: &[&str]| {
            let mut argv = vec!["residence-courier"];
            argv.extend_from_slice(flags);
            Args::try_parse_from(argv)
        };
        let office = parse(&["--sender-phone", "0396-6123456"]).unwrap();
        assert_eq!(office.sender_phone, "0396-6123456");
        assert!(parse(&["--sender-phone", "call us"]).is_err());
        assert!(parse(&["--sender-phone", "１２３４５"]).is_err());
        assert!(parse(&["--sender-phone", "123"]).is_err());
    }
}
