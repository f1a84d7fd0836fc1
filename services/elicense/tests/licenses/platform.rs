//! The service's consumers, outbox relay and acknowledgement watch against a real
//! nats-server, with the platform simulator on the other side verifying signatures with the
//! public key document the service wrote: issuance to registration, replays, a platform that
//! never answers, one that rejects, and revocation.

use std::time::Duration;

use anyhow::{Context, Result};
use residence_elicense::acknowledgement::{self, AcknowledgementHandler};
use residence_elicense::entity::message_state;
use residence_elicense::issuance::{self, IssuanceHandler};
use residence_elicense::platform::{AckPolicy, AckWatch};
use residence_elicense::revocation::{self, RevocationHandler};
use residence_elicense_platform_simulator as simulator;
use residence_eventing::{ConsumerSpec, OutboxWriter, Relay, streams};
use residence_events::partner::LicenseRevokedMessage;
use residence_events::{self as events, elicense};
use residence_launcher::RunDir;
use residence_license::{PublicKeys, verify};
use residence_proto::v1 as pb;
use residence_test_support::{Background, Broker, DEADLINE, wait_until};
use tokio::task::JoinHandle;

use crate::app::*;

const PLATFORM: &str = "henan-elicense";

/// The service's background work and the simulator, running against one nats-server.
struct Running {
    app: TestApp,
    broker: Broker,
    background: Background,
    simulator: JoinHandle<Result<()>>,
    run: RunDir,
}

/// How the simulated platform behaves.
#[derive(Clone, Copy, Default)]
struct Platform {
    reject_share: f64,
    unanswered_share: f64,
}

async fn start(policy: AckPolicy, platform: Platform) -> Result<Running> {
    let run = RunDir::new("elicense-platform-test")?;
    let broker = Broker::start(&run).await?;
    let jetstream = broker.jetstream();

    let app = spawn_app(policy).await;
    let mut background = Background::new();
    let relay = Relay::new(app.db.clone(), jetstream.clone());
    let relay_handle = relay.handle();
    background.spawn(|shutdown| relay.run(shutdown));
    let outbox = OutboxWriter::new("elicense");
    let issuance = IssuanceHandler {
        db: app.db.clone(),
        outbox: outbox.clone(),
        relay: relay_handle.clone(),
        issuer: issuer(),
        keys: app.keys.clone(),
        acks: policy,
    };
    let spec = ConsumerSpec::new(issuance::CONSUMER, streams::RESIDENCE, issuance::SUBJECTS);
    background.consume(jetstream, spec, issuance);
    let revocations = RevocationHandler {
        db: app.db.clone(),
        outbox: outbox.clone(),
        relay: relay_handle.clone(),
        keys: app.keys.clone(),
        acks: policy,
    };
    let spec = ConsumerSpec::new(
        revocation::CONSUMER,
        streams::RESIDENCE,
        revocation::SUBJECTS,
    );
    background.consume(jetstream, spec, revocations);
    let acks = AcknowledgementHandler {
        db: app.db.clone(),
        outbox: outbox.clone(),
        relay: relay_handle.clone(),
        platforms: vec!["henan-elicense".to_owned()],
    };
    let subjects = acknowledgement::SUBJECTS;
    let spec = ConsumerSpec::new(acknowledgement::CONSUMER, streams::ELICENSE, subjects);
    background.consume(jetstream, spec, acks);
    let watch = AckWatch {
        db: app.db.clone(),
        outbox,
        relay: relay_handle,
        policy,
    };
    background.spawn(|shutdown| watch.run(shutdown));

    let args = simulator::Args {
        reject_share: platform.reject_share,
        unanswered_share: platform.unanswered_share,
        record_file: Some(run.path().join("platform.jsonl")),
        ..simulator::Args::new(&broker.url(), PLATFORM, app.dir.join("public-keys.json"))
    };
    let simulator = tokio::spawn(simulator::run(args, background.shutdown().clone()));
    Ok(Running {
        app,
        broker,
        background,
        simulator,
        run,
    })
}

impl Running {
    /// Publishes an internal event as the decision service would.
    async fn publish<T: serde::Serialize>(
        &self,
        event_type: events::EventType,
        case_number: &str,
        event_id: &str,
        payload: &T,
    ) -> Result<()> {
        let source = "/residence/decision";
        let broker = &self.broker;
        broker
            .publish(event_type, source, case_number, event_id, payload)
            .await
    }

    /// Waits until the message asking the platforms to do `action` is in `state`.
    async fn wait_for_state(&self, action: &str, state: &str) -> Result<()> {
        wait_until(&format!("a {action} message {state}"), || async {
            let messages = self.app.messages().await;
            messages
                .iter()
                .any(|message| message.action == action && message.state == state)
        })
        .await
    }

    /// Waits until one license incident has been published for the operators.
    async fn wait_for_incident(&self) -> Result<()> {
        let subject = events::LICENSE_INCIDENT.subject;
        wait_until("the incident published", || async {
            let stored = self.broker.stored(streams::RESIDENCE, subject).await;
            stored.unwrap_or(0) == 1
        })
        .await
    }

    /// The simulator's record lines.
    fn records(&self) -> Result<Vec<serde_json::Value>> {
        let text = std::fs::read_to_string(self.run.path().join("platform.jsonl"))?;
        Ok(text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    }

    async fn stop(self) -> Result<()> {
        self.background.stop().await?;
        tokio::time::timeout(DEADLINE, self.simulator)
            .await
            .context("simulator did not stop")???;
        Ok(())
    }
}

fn one_second_policy(resends: u32) -> AckPolicy {
    AckPolicy {
        timeout: Duration::from_secs(1),
        resends,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licenses_reach_the_platform_once_and_versions_are_registered() -> Result<()> {
    let running = start(minute_policy(), Platform::default()).await?;
    let first = approval("CASE-1", date("2027-12-10"));
    let subject = events::DECISION_APPROVED;
    running
        .publish(subject, "CASE-1", "event-1", &first)
        .await?;
    running
        .wait_for_state("issued", message_state::ACCEPTED)
        .await?;

    // Replays: the same event id (dropped by the stream) and a new one (ignored by the case).
    running
        .publish(subject, "CASE-1", "event-1", &first)
        .await?;
    running
        .publish(subject, "CASE-1", "event-1b", &first)
        .await?;
    running
        .broker
        .wait_consumed(streams::RESIDENCE, issuance::CONSUMER)
        .await?;
    assert_eq!(running.app.licenses().await.len(), 1);
    assert_eq!(
        running
            .broker
            .stored(streams::ELICENSE, elicense::LICENSE_ISSUED)
            .await?,
        1
    );

    // The holder's next endorsement: version 2, registered too.
    let second = approval("CASE-2", date("2028-12-10"));
    running
        .publish(subject, "CASE-2", "event-2", &second)
        .await?;
    wait_until("both versions registered", || async {
        let messages = running.app.messages().await;
        messages.len() == 2 && messages.iter().all(|m| m.state == message_state::ACCEPTED)
    })
    .await?;
    let licenses = running.app.licenses().await;
    assert_eq!(licenses[0].status, "superseded");
    assert_eq!(
        licenses[1].supersedes.as_ref(),
        Some(&licenses[0].identifier)
    );
    assert!(licenses.iter().all(|l| l.acknowledged_at.is_some()));

    let records = running.records()?;
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|record| record["verified"] == true),
        "{records:?}"
    );
    assert_eq!(
        running
            .broker
            .stored(streams::ELICENSE, elicense::LICENSE_ACKNOWLEDGED)
            .await?,
        2
    );
    running.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswering_platform_gets_the_license_again_then_an_incident_is_raised() -> Result<()> {
    let platform = Platform {
        unanswered_share: 1.0,
        ..Platform::default()
    };
    let running = start(one_second_policy(1), platform).await?;
    let approval = approval("CASE-1", date("2027-12-10"));
    let subject = events::DECISION_APPROVED;
    running
        .publish(subject, "CASE-1", "event-1", &approval)
        .await?;
    running
        .wait_for_state("issued", message_state::UNACKNOWLEDGED)
        .await?;

    // Sent twice, as one event: the same ce-id, each with its own Nats-Msg-Id.
    let sends = running
        .broker
        .read(streams::ELICENSE, elicense::LICENSE_ISSUED)
        .await?;
    assert_eq!(sends.len(), 2);
    let header = |index: usize, name: &str| {
        let headers = sends[index].headers.as_ref().unwrap();
        headers.get(name).unwrap().as_str().to_owned()
    };
    assert_eq!(header(0, "ce-id"), header(1, "ce-id"));
    assert_eq!(
        header(1, "Nats-Msg-Id"),
        format!("resend:2:{}", header(0, "ce-id"))
    );
    assert_eq!(sends[0].payload, sends[1].payload);
    // The platform took both in, and keeps the license once.
    assert_eq!(running.records()?.len(), 1);

    running.wait_for_incident().await?;
    let [problem] = running.app.problems().await.try_into().unwrap();
    assert_eq!(problem.state, "unacknowledged");
    assert_eq!(problem.sends, 2);
    running.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_recorded_with_its_reason_for_operators() -> Result<()> {
    let platform = Platform {
        reject_share: 1.0,
        ..Platform::default()
    };
    let running = start(minute_policy(), platform).await?;
    let approval = approval("CASE-1", date("2027-12-10"));
    let subject = events::DECISION_APPROVED;
    running
        .publish(subject, "CASE-1", "event-1", &approval)
        .await?;
    running
        .wait_for_state("issued", message_state::REJECTED)
        .await?;

    let [problem]: [pb::PlatformProblem; 1] = running.app.problems().await.try_into().unwrap();
    assert_eq!(problem.state, "rejected");
    assert_eq!(problem.platform, PLATFORM);
    assert!(!problem.reason.is_empty());
    let license = running.app.licenses().await.remove(0);
    assert_eq!(
        license.rejected_reason.as_deref(),
        Some(problem.reason.as_str())
    );
    running.wait_for_incident().await?;
    running.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversed_decision_revokes_the_license_at_the_platform() -> Result<()> {
    let running = start(minute_policy(), Platform::default()).await?;
    let approval = approval("CASE-1", date("2027-12-10"));
    running
        .publish(events::DECISION_APPROVED, "CASE-1", "event-1", &approval)
        .await?;
    running
        .wait_for_state("issued", message_state::ACCEPTED)
        .await?;

    let reversal = reversal("CASE-1");
    running
        .publish(events::DECISION_REVERSED, "CASE-1", "event-2", &reversal)
        .await?;
    running
        .wait_for_state("revoked", message_state::ACCEPTED)
        .await?;

    let license = running.app.licenses().await.remove(0);
    assert_eq!(license.status, "revoked");
    let response = running.app.verify(&license.identifier).await;
    assert_eq!(response.status, pb::LicenseStatus::Revoked as i32);

    let [revoked] = running
        .broker
        .read(streams::ELICENSE, elicense::LICENSE_REVOKED)
        .await?
        .try_into()
        .unwrap();
    let revoked: LicenseRevokedMessage = serde_json::from_slice(&revoked.payload)?;
    let keys = PublicKeys::read(&running.app.dir.join("public-keys.json"))?;
    assert_eq!(verify::revocation(&revoked, &keys), Ok(()));
    let internal = events::LICENSE_REVOKED.subject;
    assert_eq!(
        running.broker.stored(streams::RESIDENCE, internal).await?,
        1
    );
    running.stop().await
}
