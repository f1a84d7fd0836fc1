//! The smallest logistics partner that follows docs/partners/logistics.md: it binds to its
//! waybill consumer, answers every request with `accepted` and acknowledges the request once
//! the county's stream has stored the status. Run it with `NATS_URL`, `NATS_USER`,
//! `NATS_PASSWORD` and `PARTNER` (your code, such as `ems`) set in its environment.

use async_nats::jetstream::{self, consumer::PullConsumer};
use async_nats::{ConnectOptions, HeaderMap};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// The fields of a waybill request this example uses; a real partner also reads `recipient`
/// and `sender` (name, phone, address) to print its waybill.
#[derive(Deserialize)]
struct WaybillRequest {
    schema: String,
    parcel_reference: String,
}

#[derive(Serialize)]
struct ParcelStatus<'a> {
    schema: &'a str,
    parcel_reference: &'a str,
    status: &'a str,
    at: String,
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let setting = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let partner = setting("PARTNER")?;
    let client =
        ConnectOptions::with_user_and_password(setting("NATS_USER")?, setting("NATS_PASSWORD")?)
            .connect(setting("NATS_URL")?)
            .await?;
    // The county's JetStream API, as your account sees it.
    let county = jetstream::with_prefix(client, "JS.SERVICES.API");
    let consumer: PullConsumer = county
        .get_consumer_from_stream(format!("partner-{partner}-waybills"), "LOGISTICS")
        .await?;

    let mut requests = consumer.messages().await?;
    while let Some(request) = requests.next().await {
        let request = request?;
        let waybill: WaybillRequest = match serde_json::from_slice(&request.payload) {
            Ok(waybill) => waybill,
            // Never decodable: acknowledge it so it does not come back, and tell the county.
            Err(_) => {
                request.ack().await?;
                continue;
            }
        };
        if waybill.schema != "logistics.v1.waybill_request" {
            request.ack().await?;
            continue;
        }

        // Book the parcel in your own system here, keyed by its parcel reference; a repeated
        // request for a known reference is answered with the latest status again.
        let status = ParcelStatus {
            schema: "logistics.v1.parcel_status",
            parcel_reference: &waybill.parcel_reference,
            status: "accepted",
            at: chrono::Utc::now().to_rfc3339(),
        };
        let mut headers = HeaderMap::new();
        let message_id = format!("{}:{}", status.parcel_reference, status.status);
        headers.insert("Nats-Msg-Id", message_id.as_str());
        let subject = format!("logistics.v1.{partner}.status.{}", status.status);
        let payload = serde_json::to_vec(&status)?;
        // The second await is the county's publish ack: the status is stored.
        county
            .publish_with_headers(subject, headers, payload.into())
            .await?
            .await?;
        request.ack().await?;
    }
    Ok(())
}
