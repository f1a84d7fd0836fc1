//! `residence dlq` as an operator runs it: the built binary against a real nats-server.

use std::process::Output;

use anyhow::{Result, ensure};
use async_nats::HeaderMap;
use async_nats::jetstream;
use residence_eventing::streams;
use residence_launcher::{NatsServer, RunDir, ensure_nats_server, project_root};
use serde_json::Value;
use tokio::process::Command;

const SUBJECT: &str = "residence.v1.test.happened";

/// A made-up identity number with a valid check character.
const ID_NUMBER: &str = "411721199001011237";
const MASKED_ID_NUMBER: &str = "411721********1237";

/// A nats-server with the system's streams.
struct Broker {
    jetstream: jetstream::Context,
    nats: NatsServer,
    _dir: RunDir,
}

impl Broker {
    async fn start(prefix: &str) -> Result<Self> {
        let binary = ensure_nats_server(&project_root()?).await?;
        let dir = RunDir::new(prefix)?;
        let nats = NatsServer::start(&binary, &dir.path().join("nats")).await?;
        let jetstream = jetstream::new(async_nats::connect(nats.url()).await?);
        streams::ensure_all(&jetstream)
            .await
            .map_err(anyhow::Error::from_boxed)?;
        Ok(Self {
            jetstream,
            nats,
            _dir: dir,
        })
    }

    /// Parks an event the way a consumer does and returns its dead-letter sequence.
    async fn park(&self, consumer: &str, event_id: &str, payload: &str) -> Result<u64> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            format!("deadletter:{consumer}:{event_id}:1").as_str(),
        );
        headers.insert("ce-id", event_id);
        headers.insert("ce-type", SUBJECT);
        headers.insert("ce-subject", "XP-2026-000042");
        headers.insert("x-dead-letter-reason", "payload is not a valid Happened");
        headers.insert("x-dead-letter-consumer", consumer);
        headers.insert("x-original-subject", SUBJECT);
        headers.insert("x-original-id", event_id);
        headers.insert("x-deliveries", "1");
        let subject = format!("residence.deadletter.v1.{consumer}");
        let stored = self
            .jetstream
            .publish_with_headers(subject, headers, payload.to_owned().into())
            .await?
            .await?;
        Ok(stored.sequence)
    }

    /// Runs `residence dlq ARGS --nats-url <this server>`.
    async fn residence(&self, arguments: &[&str]) -> Result<Output> {
        let output = Command::new(env!("CARGO_BIN_EXE_residence"))
            .arg("dlq")
            .args(arguments)
            .args(["--nats-url", &self.nats.url()])
            .env_remove("NATS_URL")
            .output()
            .await?;
        Ok(output)
    }

    /// Runs `residence dlq list --json ARGS` and decodes its lines.
    async fn list_json(&self, arguments: &[&str]) -> Result<Vec<Value>> {
        let mut all = vec!["list", "--json"];
        all.extend(arguments);
        let stdout = succeeded(self.residence(&all).await?)?;
        Ok(stdout
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    }
}

/// The standard output of a run that must have succeeded.
fn succeeded(output: Output) -> Result<String> {
    ensure!(
        output.status.success(),
        "residence failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[tokio::test]
async fn dlq_list_shows_parked_events_and_masks_payloads() -> Result<()> {
    let broker = Broker::start("cli-dlq-list").await?;
    let payload = format!(r#"{{"id_number":"{ID_NUMBER}","n":1}}"#);
    let first = broker.park("review-accepted", "event-1", &payload).await?;
    let second = broker
        .park("courier-partner-status", "event-2", "{}")
        .await?;

    let listed = broker.list_json(&[]).await?;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["sequence"], first);
    assert_eq!(listed[1]["sequence"], second);
    assert_eq!(listed[0]["consumer"], "review-accepted");
    assert_eq!(listed[0]["original_subject"], SUBJECT);
    assert_eq!(listed[0]["original_id"], "event-1");
    assert_eq!(listed[0]["case_number"], "XP-2026-000042");
    assert_eq!(listed[0]["deliveries"], 1);
    assert_eq!(listed[0]["reason"], "payload is not a valid Happened");
    assert!(listed[0]["parked_at"].is_string());
    assert!(listed.iter().all(|line| line.get("payload").is_none()));

    let only_courier = broker
        .list_json(&["--consumer", "courier-partner-status"])
        .await?;
    assert_eq!(only_courier.len(), 1);
    assert_eq!(only_courier[0]["original_id"], "event-2");

    let with_payload = broker.list_json(&["--show-payload"]).await?;
    let shown = with_payload[0]["payload"].as_str().unwrap_or_default();
    assert_eq!(
        shown,
        format!(r#"{{"id_number":"{MASKED_ID_NUMBER}","n":1}}"#)
    );

    let table = succeeded(broker.residence(&["list", "--show-payload"]).await?)?;
    assert!(table.starts_with("SEQ"), "{table}");
    assert!(table.contains(MASKED_ID_NUMBER), "{table}");
    assert!(!table.contains(ID_NUMBER), "{table}");

    // Listing changed nothing.
    assert_eq!(broker.list_json(&[]).await?, listed);
    Ok(())
}

#[tokio::test]
async fn dlq_replay_republishes_with_the_original_event_id_once() -> Result<()> {
    let broker = Broker::start("cli-dlq-replay").await?;
    let sequence = broker
        .park("review-accepted", "event-1", r#"{"n":1}"#)
        .await?;
    let sequence_text = sequence.to_string();

    let dry_run = succeeded(broker.residence(&["replay", "--all", "--dry-run"]).await?)?;
    assert!(
        dry_run.starts_with(&format!("would replay #{sequence} {SUBJECT}")),
        "{dry_run}"
    );
    assert_eq!(broker.list_json(&[]).await?.len(), 1);

    let replay = succeeded(
        broker
            .residence(&["replay", "--seq", &sequence_text])
            .await?,
    )?;
    assert!(
        replay.starts_with(&format!("replayed #{sequence} {SUBJECT}")),
        "{replay}"
    );
    assert!(replay.contains("-> RESIDENCE #1"), "{replay}");
    assert!(broker.list_json(&[]).await?.is_empty());

    let stream = broker.jetstream.get_stream(streams::RESIDENCE).await?;
    let replayed = stream.get_last_raw_message_by_subject(SUBJECT).await?;
    let header = |name: &str| replayed.headers.get(name).map(|value| value.to_string());
    assert_eq!(header("ce-id").as_deref(), Some("event-1"));
    assert_eq!(header("ce-subject").as_deref(), Some("XP-2026-000042"));
    let message_id = format!("replay:{sequence}:event-1");
    assert_eq!(header("Nats-Msg-Id"), Some(message_id));
    assert_eq!(header("x-original-id"), None);
    assert_eq!(header("x-dead-letter-reason"), None);
    assert_eq!(&replayed.payload[..], br#"{"n":1}"#);

    // The same parking cannot be replayed twice.
    let again = broker
        .residence(&["replay", "--seq", &sequence_text])
        .await?;
    assert!(!again.status.success());
    let problems = String::from_utf8(again.stderr)?;
    assert!(problems.contains("no such parked event"), "{problems}");
    Ok(())
}
