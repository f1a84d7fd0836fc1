//! Logistics partners isolated by the NATS accounts shipped in `deploy/nats/accounts.conf`:
//! nats-server runs that file unchanged, the courier service connects as the services'
//! account and each partner as its own account. A partner reaches its own waybill requests
//! and status subjects and nothing else; the courier asks again for a waybill nobody accepts,
//! then raises an incident; a status on a parcel of another partner is rejected and logged.
//! The county's SMS gateway reads the applicant notifications and nothing else; the e-license
//! platform reads its licenses and revocations, answers, and reaches nothing else.
//!
//! The service binaries must be built first (`cargo build --workspace --bins`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, Message};
use async_nats::{Client, HeaderMap};
use futures::StreamExt;
use residence_events::partner::{PARCEL_STATUS_SCHEMA, ParcelStatus, WaybillRequest};
use residence_events::{self as events, CourierIncident, DeliveryStarted, logistics};
use residence_launcher::{
    ConfiguredNatsServer, RunDir, ServiceProcess, ServiceSpec, binary_path, ensure_nats_server,
    free_port, project_root,
};
use residence_logistics_partner_simulator as simulator;
use residence_system_tests::asyncapi::{Contract, ensure_none};
use residence_system_tests::capture;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

/// How long any one expected thing may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// The accounts' users and the test passwords their variables are set to.
const SERVICES: Account = Account {
    user: "residence",
    variable: "RESIDENCE_NATS_SERVICES_PASSWORD",
    password: "services-test-password",
};
const EMS: Account = Account {
    user: "ems",
    variable: "RESIDENCE_NATS_EMS_PASSWORD",
    password: "ems-test-password",
};
const ZTO: Account = Account {
    user: "zto",
    variable: "RESIDENCE_NATS_ZTO_PASSWORD",
    password: "zto-test-password",
};
const GATEWAY: Account = Account {
    user: "gateway",
    variable: "RESIDENCE_NATS_GATEWAY_PASSWORD",
    password: "gateway-test-password",
};
const PLATFORM: Account = Account {
    user: "henan-elicense",
    variable: "RESIDENCE_NATS_PLATFORM_PASSWORD",
    password: "platform-test-password",
};

#[derive(Clone, Copy)]
struct Account {
    user: &'static str,
    variable: &'static str,
    password: &'static str,
}

/// Where a partner account reaches the services' JetStream API (deploy/nats/accounts.conf).
const PARTNER_API_PREFIX: &str = "JS.SERVICES.API";

/// A connection as one account's user, with the errors the server sent it.
struct Session {
    client: Client,
    jetstream: jetstream::Context,
    errors: mpsc::UnboundedReceiver<String>,
}

impl Session {
    /// Waits for the server to report a permissions violation naming `what`.
    async fn violation(&mut self, what: &str) -> Result<()> {
        let until = Instant::now() + DEADLINE;
        loop {
            let error = tokio::time::timeout_at(until, self.errors.recv())
                .await
                .with_context(|| format!("no permissions violation for {what}"))?
                .context("connection closed")?;
            if error.contains("Permissions Violation") && error.contains(what) {
                return Ok(());
            }
        }
    }
}

/// nats-server on the shipped accounts, and the courier service in the services' account.
struct Deployment {
    nats: ConfiguredNatsServer,
    courier: ServiceProcess,
    dir: RunDir,
}

impl Deployment {
    /// Starts both; `item` is the service item text and `flags` go to the courier.
    async fn start(prefix: &str, item: &str, flags: &[&str]) -> Result<Self> {
        let root = project_root()?;
        let dir = RunDir::new(prefix)?;
        let binary = ensure_nats_server(&root).await?;
        let env: Vec<(String, String)> = [SERVICES, EMS, ZTO, GATEWAY, PLATFORM]
            .iter()
            .map(|account| (account.variable.to_owned(), account.password.to_owned()))
            .collect();
        let accounts = root.join("deploy/nats/accounts.conf");
        let nats_dir = dir.path().join("nats");
        let nats = ConfiguredNatsServer::start(&binary, &nats_dir, &accounts, &env).await?;

        let item_file = dir.path().join("service-item.toml");
        std::fs::write(&item_file, item)?;
        let password_file = password_file(dir.path(), SERVICES)?;
        let grpc_addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut args: Vec<String> = [
            "--grpc-addr",
            &grpc_addr.to_string(),
            "--nats-url",
            &nats.url(),
            "--nats-user",
            SERVICES.user,
            "--nats-password-file",
            &path_arg(&password_file),
            "--data-dir",
            &path_arg(&dir.path().join("data")),
            "--service-item",
            &path_arg(&item_file),
            "--calendar-dir",
            &path_arg(&root.join("deploy/calendars")),
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(flags.iter().map(|flag| (*flag).to_owned()));
        let courier = ServiceProcess::spawn(ServiceSpec {
            name: "courier".to_owned(),
            binary: binary_path("residence-courier")?,
            args,
            env: Vec::new(),
            log_file: dir.path().join("logs").join("courier.log"),
            ready_addr: Some(grpc_addr),
        })
        .await?;
        Ok(Self { nats, courier, dir })
    }

    /// Connects as `account`'s user.
    async fn connect(&self, account: Account) -> Result<Session> {
        let (sender, errors) = mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::new()
            .user_and_password(account.user.to_owned(), account.password.to_owned())
            .event_callback(move |event| {
                let sender = sender.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        let _ = sender.send(error.to_string());
                    }
                }
            })
            .connect(self.nats.url())
            .await?;
        let jetstream = if account.user == SERVICES.user {
            jetstream::new(client.clone())
        } else {
            jetstream::with_prefix(client.clone(), PARTNER_API_PREFIX)
        };
        Ok(Session {
            jetstream,
            client,
            errors,
        })
    }

    /// Waits until the courier service created the consumer `partner` reads from.
    async fn waybill_consumer(&self, session: &Session, partner: &str) -> Result<PullConsumer> {
        let until = Instant::now() + DEADLINE;
        loop {
            let name = logistics::waybill_consumer(partner);
            match session
                .jetstream
                .get_consumer_from_stream(&name, "LOGISTICS")
                .await
            {
                Ok(consumer) => return Ok(consumer),
                Err(error) if Instant::now() >= until => bail!("no consumer {name}: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits until the courier's log holds a line with every one of `parts`.
    async fn courier_logged(&self, parts: &[&str]) -> Result<()> {
        let file = self.dir.path().join("logs").join("courier.log");
        let until = Instant::now() + DEADLINE;
        loop {
            let log = std::fs::read_to_string(&file).unwrap_or_default();
            if log
                .lines()
                .any(|line| parts.iter().all(|part| line.contains(part)))
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < until,
                "the courier never logged {parts:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) -> Result<()> {
        self.courier.stop().await?;
        self.nats.stop().await;
        Ok(())
    }
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

fn password_file(dir: &Path, account: Account) -> Result<PathBuf> {
    let file = dir.join(format!("{}.password", account.user));
    std::fs::write(&file, format!("{}\n", account.password))?;
    Ok(file)
}

/// The shipped service item with the example second partner first: new parcels go to it.
fn item_preferring_zto(root: &Path) -> Result<String> {
    let shipped = std::fs::read_to_string(root.join("deploy/service-item.toml"))?;
    let preferring = shipped
        .replacen("enabled = false", "enabled = true", 1)
        .replacen("enabled = true", "enabled = false", 1);
    ensure!(
        preferring != shipped,
        "the shipped item lists ems, then zto"
    );
    Ok(preferring)
}

/// Publishes `delivery.started` for a courier delivery of `case_number`, as the delivery
/// service does.
async fn start_delivery(services: &Session, case_number: &str) -> Result<()> {
    let started = DeliveryStarted {
        case_number: case_number.to_owned(),
        method: events::DeliveryMethod::Courier,
        recipient: Some(events::Recipient {
            name: "测试收件人".to_owned(),
            phone: "13800000000".to_owned(),
            address: "河南省驻马店市西平县五沟营镇测试路1号".to_owned(),
        }),
        started_at: chrono::Utc::now(),
    };
    let event_id = uuid::Uuid::now_v7().to_string();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", event_id.as_str());
    headers.insert("ce-id", event_id.as_str());
    headers.insert("ce-type", events::DELIVERY_STARTED.name());
    headers.insert("ce-subject", case_number);
    let subject = events::DELIVERY_STARTED.subject;
    services
        .jetstream
        .publish_with_headers(subject, headers, serde_json::to_vec(&started)?.into())
        .await?
        .await?;
    Ok(())
}

/// The first message on `subject` of `stream` whose payload satisfies `wanted`, read by
/// the services' user.
async fn first_where(
    services: &Session,
    stream: &str,
    subject: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> Result<Message> {
    let config = pull::Config {
        filter_subject: subject.to_owned(),
        ack_policy: AckPolicy::None,
        ..Default::default()
    };
    let stream = services.jetstream.get_stream(stream).await?;
    let mut messages = stream.create_consumer(config).await?.messages().await?;
    let until = Instant::now() + DEADLINE;
    loop {
        let message = tokio::time::timeout_at(until, messages.next())
            .await
            .with_context(|| format!("nothing wanted arrived on {subject}"))?
            .context("message stream ended")??;
        let payload: serde_json::Value = serde_json::from_slice(&message.payload)?;
        if wanted(&payload) {
            return Ok(message);
        }
    }
}

/// Pulls the next waybill request of a partner's consumer and acknowledges it.
async fn next_request(consumer: &PullConsumer) -> Result<(WaybillRequest, HeaderMap)> {
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(DEADLINE)
        .messages()
        .await?;
    let message = batch
        .next()
        .await
        .context("no waybill request arrived")?
        .map_err(anyhow::Error::from_boxed)?;
    message.ack().await.map_err(anyhow::Error::from_boxed)?;
    let request = serde_json::from_slice(&message.payload)?;
    Ok((request, message.headers.clone().unwrap_or_default()))
}

/// Publishes a partner's status report the way the guide says and waits for the stream.
async fn report(session: &Session, partner: &str, status: ParcelStatus) -> Result<()> {
    let mut headers = HeaderMap::new();
    let message_id = format!("{}:{}", status.parcel_reference, status.status);
    headers.insert("Nats-Msg-Id", message_id.as_str());
    let subject = logistics::status(partner, &status.status);
    session
        .jetstream
        .publish_with_headers(subject, headers, serde_json::to_vec(&status)?.into())
        .await?
        .await?;
    Ok(())
}

fn status(reference: &str, name: &str) -> ParcelStatus {
    ParcelStatus {
        schema: PARCEL_STATUS_SCHEMA.to_owned(),
        parcel_reference: reference.to_owned(),
        status: name.to_owned(),
        at: chrono::Utc::now(),
        signed_by: (name == "delivered").then(|| "测试收件人".to_owned()),
        reason: None,
    }
}

#[tokio::test]
async fn the_shipped_server_configuration_is_valid() -> Result<()> {
    let root = project_root()?;
    let binary = ensure_nats_server(&root).await?;
    let output = tokio::process::Command::new(binary)
        .arg("-t")
        .arg("-c")
        .arg(root.join("deploy/nats/server.conf"))
        .envs(
            [SERVICES, EMS, ZTO, GATEWAY, PLATFORM]
                .map(|account| (account.variable, account.password)),
        )
        .env("RESIDENCE_NATS_JETSTREAM_KEY", "jetstream-test-key")
        .output()
        .await?;
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    ensure!(output.status.success(), "{report}");

    // Without its password variables the server refuses the configuration.
    let unset = tokio::process::Command::new(ensure_nats_server(&root).await?)
        .args(["-t", "-c"])
        .arg(root.join("deploy/nats/server.conf"))
        .env_remove(EMS.variable)
        .output()
        .await?;
    ensure!(!unset.status.success(), "started without a password");
    Ok(())
}

#[tokio::test]
async fn a_partner_reaches_only_its_own_subjects() -> Result<()> {
    let root = project_root()?;
    let deployment =
        Deployment::start("partners-isolation", &item_preferring_zto(&root)?, &[]).await?;
    let services = deployment.connect(SERVICES).await?;
    let mut ems = deployment.connect(EMS).await?;
    let mut own = deployment.waybill_consumer(&ems, "ems").await?;

    // Credentials go in the connect options: the client ignores them in the URL.
    let in_url = deployment
        .nats
        .url()
        .replace("nats://", &format!("nats://{}:{}@", EMS.user, EMS.password));
    ensure!(
        async_nats::connect(in_url).await.is_err(),
        "connected without credentials"
    );
    start_delivery(&services, "CASE-ISOLATION-1").await?;

    // The services' events and another partner's feed are out of reach.
    let _internal = ems.client.subscribe("residence.v1.>").await?;
    ems.violation("Subscription to \"residence.v1.>\"").await?;
    let _other = ems.client.subscribe("logistics.v1.zto.>").await?;
    ems.violation("Subscription to \"logistics.v1.zto.>\"")
        .await?;
    let other_status = logistics::status("zto", "accepted");
    ems.client
        .publish(other_status.clone(), "{}".into())
        .await?;
    ems.violation(&format!("Publish to \"{other_status}\""))
        .await?;
    let other_consumer = "JS.SERVICES.API.CONSUMER.INFO.LOGISTICS.partner-zto-waybills";
    ems.client.publish(other_consumer, "".into()).await?;
    ems.violation(&format!("Publish to \"{other_consumer}\""))
        .await?;
    let stream_info = "JS.SERVICES.API.STREAM.INFO.LOGISTICS";
    ems.client.publish(stream_info, "".into()).await?;
    ems.violation(&format!("Publish to \"{stream_info}\""))
        .await?;

    // The waybill went to zto; nothing of it reaches ems's own consumer.
    let zto = deployment.connect(ZTO).await?;
    let (request, _) = next_request(&deployment.waybill_consumer(&zto, "zto").await?).await?;
    assert!(request.parcel_reference.starts_with("XP"));
    assert_eq!(own.info().await?.num_pending, 0);
    deployment.stop().await
}

#[tokio::test]
async fn an_unaccepted_waybill_is_asked_again_then_raised_and_forged_statuses_are_refused()
-> Result<()> {
    let root = project_root()?;
    let flags = [
        "--acceptance-timeout-secs",
        "1",
        "--waybill-requests",
        "2",
        "--acceptance-check-secs",
        "1",
    ];
    let deployment =
        Deployment::start("partners-acceptance", &item_preferring_zto(&root)?, &flags).await?;
    let services = deployment.connect(SERVICES).await?;
    let ems = deployment.connect(EMS).await?;
    let zto = deployment.connect(ZTO).await?;
    let feed = deployment.waybill_consumer(&zto, "zto").await?;
    let case_number = "CASE-ACCEPTANCE-1";
    start_delivery(&services, case_number).await?;

    // Taken but never answered: the courier asks again, under a new event id.
    let (first, first_headers) = next_request(&feed).await?;
    let (again, again_headers) = next_request(&feed).await?;
    let reference = first.parcel_reference.clone();
    assert_eq!(again, first, "the same request again");
    assert_ne!(first_headers.get("ce-id"), again_headers.get("ce-id"));

    // Then an operator is told, without personal data.
    let raised = first_where(
        &services,
        "RESIDENCE",
        events::COURIER_INCIDENT.subject,
        |payload| payload["case_number"] == case_number,
    )
    .await?;
    let incident: CourierIncident = serde_json::from_slice(&raised.payload)?;
    assert_eq!(incident.parcel_reference, reference);
    assert_eq!((incident.partner.as_str(), incident.requests), ("zto", 2));
    let text = String::from_utf8_lossy(&raised.payload).into_owned();
    assert!(
        !text.contains("13800000000") && !text.contains("测试"),
        "{text}"
    );

    // ems reports on zto's parcel from its own subject: stored, then rejected and logged.
    report(&ems, "ems", status(&reference, "delivered")).await?;
    let forged_subject = logistics::status("ems", "delivered");
    let parked = first_where(
        &services,
        "RESIDENCE_DEADLETTER",
        "residence.deadletter.v1.courier-status-ems",
        |payload| payload["parcel_reference"] == reference.as_str(),
    )
    .await?;
    let headers = parked.headers.clone().unwrap_or_default();
    let header = |name: &str| headers.get(name).map(|value| value.to_string());
    assert_eq!(header("x-original-subject"), Some(forged_subject));
    let reason = header("x-dead-letter-reason").unwrap_or_default();
    assert!(reason.contains("rejected as forged"), "{reason}");
    deployment
        .courier_logged(&["event dead-lettered", "rejected as forged"])
        .await?;

    // zto takes it after all and delivers it: the case completes. Its `delivered` carries
    // the message id the forged one had, and still counts: each partner's reports are
    // deduplicated in a stream of their own.
    report(&zto, "zto", status(&reference, "accepted")).await?;
    report(&zto, "zto", status(&reference, "delivered")).await?;
    let delivered = first_where(
        &services,
        "RESIDENCE",
        events::COURIER_DELIVERED.subject,
        |payload| payload["case_number"] == case_number,
    )
    .await?;
    let delivered: events::CourierDelivered = serde_json::from_slice(&delivered.payload)?;
    assert_eq!(delivered.partner, "zto");
    deployment.stop().await
}

#[tokio::test]
async fn the_simulator_delivers_with_its_partner_credentials() -> Result<()> {
    let root = project_root()?;
    let shipped = std::fs::read_to_string(root.join("deploy/service-item.toml"))?;
    let deployment = Deployment::start("partners-round-trip", &shipped, &[]).await?;
    let services = deployment.connect(SERVICES).await?;

    let password_file = password_file(deployment.dir.path(), EMS)?;
    let args = simulator::Args {
        login: simulator::Login {
            nats_user: Some(EMS.user.to_owned()),
            nats_password_file: Some(password_file),
            js_api_prefix: PARTNER_API_PREFIX.to_owned(),
        },
        failure_share: 0.0,
        ..simulator::Args::new(&deployment.nats.url(), "ems")
    };
    let shutdown = CancellationToken::new();
    let partner = tokio::spawn(simulator::run(args, shutdown.clone()));

    let case_number = "CASE-ROUND-TRIP-1";
    start_delivery(&services, case_number).await?;
    let delivered = first_where(
        &services,
        "RESIDENCE",
        events::COURIER_DELIVERED.subject,
        |payload| payload["case_number"] == case_number,
    )
    .await?;
    let delivered: events::CourierDelivered = serde_json::from_slice(&delivered.payload)?;
    assert_eq!(delivered.partner, "ems");
    assert_eq!(delivered.signed_by, "测试收件人");

    // What went each way matches the contract and carries only the allowed fields.
    let mut messages = Vec::new();
    for stream in ["LOGISTICS", "RESIDENCE", "LOGISTICS_STATUS_EMS"] {
        messages.extend(capture::stored(&services.jetstream, stream).await?);
    }
    let statuses = messages
        .iter()
        .filter(|message| message.stream == "LOGISTICS_STATUS_EMS")
        .count();
    assert_eq!(statuses, 4, "accepted, picked up, in transit, delivered");
    let contract = Contract::load(&project_root()?.join("deploy/asyncapi.yaml"))?;
    ensure_none(
        "logistics messages",
        &capture::logistics_problems(&contract, &messages)?,
    )?;

    shutdown.cancel();
    timeout(DEADLINE, partner).await???;
    deployment.stop().await
}

#[tokio::test]
async fn the_sms_gateway_reads_applicant_notifications_and_nothing_else() -> Result<()> {
    let root = project_root()?;
    let deployment =
        Deployment::start("partners-gateway", &item_preferring_zto(&root)?, &[]).await?;
    let services = deployment.connect(SERVICES).await?;
    residence_intake::notify::ensure_gateway_feed(&services.jetstream)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    // An internal event with personal data, and a notification, on the same stream.
    start_delivery(&services, "CASE-GATEWAY-1").await?;
    let notification = events::NotificationRequested {
        schema: events::NOTIFICATION_SCHEMA.to_owned(),
        notification_id: "CASE-GATEWAY-1-accepted-1".to_owned(),
        case_number: "CASE-GATEWAY-1".to_owned(),
        kind: events::NotificationKind::Accepted,
        channel: events::Channel::Online,
        phone: "13800000000".to_owned(),
        text: "【西平县居住证签注】您的居住证签注申请CASE-GATEWAY-1已受理。".to_owned(),
        requested_at: chrono::Utc::now(),
    };
    services
        .jetstream
        .publish(
            events::NOTIFICATION_REQUESTED.subject,
            serde_json::to_vec(&notification)?.into(),
        )
        .await?
        .await?;

    let mut gateway = deployment.connect(GATEWAY).await?;
    let consumer: PullConsumer = gateway
        .jetstream
        .get_consumer_from_stream(residence_intake::notify::GATEWAY_CONSUMER, "RESIDENCE")
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut batch = consumer.fetch().max_messages(10).messages().await?;
    let message = timeout(DEADLINE, batch.next())
        .await?
        .context("no notification")?
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    // The delivery event went first: the gateway's first message is the notification only
    // because the consumer filters everything else out.
    let read: events::NotificationRequested = serde_json::from_slice(&message.payload)?;
    assert_eq!(read, notification);
    message
        .ack()
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;

    // The other events and every other consumer are out of reach.
    let _internal = gateway.client.subscribe("residence.v1.>").await?;
    gateway
        .violation("Subscription to \"residence.v1.>\"")
        .await?;
    let waybills = "JS.SERVICES.API.CONSUMER.INFO.LOGISTICS.partner-ems-waybills";
    gateway.client.publish(waybills, "".into()).await?;
    gateway
        .violation(&format!("Publish to \"{waybills}\""))
        .await?;
    let progress = "JS.SERVICES.API.CONSUMER.MSG.NEXT.RESIDENCE.intake-case-progress";
    gateway.client.publish(progress, "".into()).await?;
    gateway
        .violation(&format!("Publish to \"{progress}\""))
        .await?;
    deployment.stop().await
}

#[tokio::test]
async fn the_elicense_platform_reads_its_licenses_answers_and_nothing_else() -> Result<()> {
    use residence_elicense::feeds;
    use residence_events::elicense;
    let root = project_root()?;
    let deployment =
        Deployment::start("partners-platform", &item_preferring_zto(&root)?, &[]).await?;
    let services = deployment.connect(SERVICES).await?;
    feeds::ensure(&services.jetstream, &[PLATFORM.user.to_owned()])
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    // An internal event with personal data, then a license and a revocation as the e-license
    // service publishes them (their content does not matter to the broker).
    start_delivery(&services, "CASE-PLATFORM-1").await?;
    let issued = r#"{"schema":"elicense.v1.license_issued","identifier":"synthetic-1"}"#;
    let revoked = r#"{"schema":"elicense.v1.license_revoked","identifier":"synthetic-1"}"#;
    for (subject, payload) in [
        (elicense::LICENSE_ISSUED, issued),
        (elicense::LICENSE_REVOKED, revoked),
    ] {
        services
            .jetstream
            .publish(subject, payload.into())
            .await?
            .await?;
    }

    let mut platform = deployment.connect(PLATFORM).await?;
    for (name, payload) in [
        (feeds::licenses_consumer(PLATFORM.user), issued),
        (feeds::revocations_consumer(PLATFORM.user), revoked),
    ] {
        let consumer: PullConsumer = platform
            .jetstream
            .get_consumer_from_stream(&name, "ELICENSE")
            .await
            .map_err(|error| anyhow::anyhow!("{name}: {error}"))?;
        let mut batch = consumer.fetch().max_messages(10).messages().await?;
        let message = timeout(DEADLINE, batch.next())
            .await?
            .with_context(|| format!("nothing on {name}"))?
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        assert_eq!(std::str::from_utf8(&message.payload)?, payload, "{name}");
        message
            .ack()
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
    }

    // Its answer is stored with the county and confirmed with a publish ack.
    let answer = r#"{"schema":"elicense.v1.license_acknowledged","identifier":"synthetic-1"}"#;
    let stored = platform
        .jetstream
        .publish(elicense::LICENSE_ACKNOWLEDGED, answer.into())
        .await?
        .await?;
    assert_eq!(stored.stream, "ELICENSE");
    // A message larger than any answer is refused, so the account cannot fill the store.
    let large = "x".repeat(300 * 1024);
    let refused = platform
        .jetstream
        .publish(elicense::LICENSE_ACKNOWLEDGED, large.into())
        .await?
        .await;
    ensure!(refused.is_err(), "a 300 KiB answer was stored");

    // Nothing else: not the services' events, not another consumer, no forged license.
    let _internal = platform.client.subscribe("residence.v1.>").await?;
    platform
        .violation("Subscription to \"residence.v1.>\"")
        .await?;
    let notifications = "JS.SERVICES.API.CONSUMER.MSG.NEXT.RESIDENCE.applicant-notifications";
    platform.client.publish(notifications, "".into()).await?;
    platform
        .violation(&format!("Publish to \"{notifications}\""))
        .await?;
    platform
        .client
        .publish(elicense::LICENSE_ISSUED, issued.into())
        .await?;
    platform
        .violation(&format!("Publish to \"{}\"", elicense::LICENSE_ISSUED))
        .await?;
    let stream_info = "JS.SERVICES.API.STREAM.INFO.ELICENSE";
    platform.client.publish(stream_info, "".into()).await?;
    platform
        .violation(&format!("Publish to \"{stream_info}\""))
        .await?;
    deployment.stop().await
}

#[tokio::test]
async fn the_dead_letter_commands_log_in_as_the_services_user() -> Result<()> {
    let root = project_root()?;
    let deployment = Deployment::start("partners-dlq", &item_preferring_zto(&root)?, &[]).await?;
    let password = password_file(deployment.dir.path(), SERVICES)?;
    let dlq = |credentials: bool| {
        let mut command = std::process::Command::new(binary_path("residence")?);
        command
            .args(["dlq", "list", "--nats-url", &deployment.nats.url()])
            .env_remove("NATS_USER")
            .env_remove("NATS_PASSWORD_FILE");
        if credentials {
            command
                .args(["--nats-user", SERVICES.user, "--nats-password-file"])
                .arg(&password);
        }
        anyhow::Ok(command.output()?)
    };
    let logged_in = dlq(true)?;
    ensure!(
        logged_in.status.success(),
        "{}",
        String::from_utf8_lossy(&logged_in.stderr)
    );
    let anonymous = dlq(false)?;
    ensure!(!anonymous.status.success(), "listed without credentials");
    deployment.stop().await
}
