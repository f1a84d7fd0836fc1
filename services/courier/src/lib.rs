//! Courier dispatch: turns courier deliveries into waybill requests to the county's logistics
//! partner, carrying only what a courier needs, asks again for waybills the partner does not
//! accept in time, and turns the partner's parcel reports back into delivered or failed
//! events for the delivery service.

pub mod acceptance;
pub mod dispatch;
pub mod entity;
pub mod feeds;
pub mod migration;
pub mod parcel;
pub mod partner;
pub mod privacy;
pub mod tracking;

use std::time::Duration;

use chrono::TimeDelta;
use residence_eventing::{ConsumerSpec, streams};
use residence_events::partner::Party;
use residence_runtime::{CommonArgs, Service};
use residence_sealing::SealedColumn;

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

    /// Seconds a partner may take to accept a waybill (its first status report) before the
    /// waybill is requested again, 1 to 604800.
    #[arg(
        long,
        env = "RESIDENCE_COURIER_ACCEPTANCE_TIMEOUT_SECS",
        default_value_t = 1800,
        value_parser = clap::value_parser!(u64).range(1..=604_800)
    )]
    pub acceptance_timeout_secs: u64,

    /// How many times a waybill is requested in all, the first included, before a partner
    /// that does not accept it is raised as an incident (`residence.v1.courier.incident`),
    /// 1 to 20.
    #[arg(
        long,
        env = "RESIDENCE_COURIER_WAYBILL_REQUESTS",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=20)
    )]
    pub waybill_requests: u32,

    /// Seconds between two checks for waybills waiting too long for acceptance, 1 to 3600;
    /// each check also creates any missing partner consumer or stream (after the broker lost
    /// its store, say).
    #[arg(
        long,
        env = "RESIDENCE_COURIER_ACCEPTANCE_CHECK_SECS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub acceptance_check_secs: u64,
}

impl Args {
    /// How long partners have to accept waybills, and how often they are asked.
    pub fn acceptance_policy(&self) -> acceptance::Policy {
        let seconds = i64::try_from(self.acceptance_timeout_secs).unwrap_or(i64::MAX);
        acceptance::Policy {
            timeout: TimeDelta::seconds(seconds),
            max_requests: self.waybill_requests,
        }
    }
}

/// Runs the service until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be wrong with the configuration fails here, before any port is bound.
    let item = args.common.load_item()?;
    let partner = item.courier_partner().map(|partner| partner.code.clone());
    // Every configured partner keeps its feed, enabled or not, for the parcels in flight.
    let partners: Vec<String> = item
        .delivery
        .partners
        .iter()
        .map(|partner| partner.code.clone())
        .collect();
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
    service.seal_legacy_rows(&[SealedColumn::of(
        entity::waybill::Entity,
        entity::waybill::Column::ParcelReference,
        entity::waybill::Column::SignedBy,
    )]);
    let deliveries = ConsumerSpec::new(dispatch::CONSUMER, streams::RESIDENCE, dispatch::SUBJECTS);
    let dispatch_handler = dispatch::DispatchHandler {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        partner: partner.clone(),
        sender,
    };
    service.consume(deliveries, dispatch_handler);

    let jetstream = service.jetstream();
    if let Err(error) = feeds::ensure(&jetstream, &partners).await {
        tracing::warn!(%error, "could not create the partners' feeds yet; will retry");
    }
    for partner in &partners {
        let statuses = tracking::spec(partner);
        let tracking_handler = tracking::TrackingHandler {
            db: service.db().clone(),
            outbox: service.outbox(),
            relay: service.relay(),
            consumer: statuses.durable.clone(),
        };
        service.consume(statuses, tracking_handler);
    }
    let watch = acceptance::Watch {
        db: service.db().clone(),
        outbox: service.outbox(),
        relay: service.relay(),
        policy: args.acceptance_policy(),
    };
    let every = Duration::from_secs(args.acceptance_check_secs);
    service.spawn(|shutdown| {
        watch.run(every, shutdown, move || {
            let jetstream = jetstream.clone();
            let partners = partners.clone();
            async move {
                if let Err(error) = feeds::ensure(&jetstream, &partners).await {
                    tracing::debug!(%error, "could not check the partners' consumers");
                }
            }
        })
    });

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

    #[test]
    fn acceptance_flags_default_and_are_bounded() {
        let parse = |flags: &[&str]| {
            let mut argv = vec!["residence-courier"];
            argv.extend_from_slice(flags);
            Args::try_parse_from(argv)
        };
        let defaults = parse(&[]).unwrap().acceptance_policy();
        assert_eq!(defaults.timeout, TimeDelta::minutes(30));
        assert_eq!(defaults.max_requests, 3);
        let quick = parse(&["--acceptance-timeout-secs", "2", "--waybill-requests", "1"]);
        assert_eq!(quick.unwrap().acceptance_policy().max_requests, 1);
        assert!(parse(&["--waybill-requests", "0"]).is_err());
        assert!(parse(&["--acceptance-timeout-secs", "0"]).is_err());
        assert!(parse(&["--acceptance-check-secs", "3601"]).is_err());
    }
}
