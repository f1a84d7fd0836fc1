//! Messages to the e-license platforms until they are answered.
//!
//! Every issued or revoked license sent to the platforms is tracked. If no acknowledgement
//! comes within the ack timeout, the message is sent again, up to the configured number of
//! re-sends; then it is given up on and `residence.v1.license.incident` is raised. A rejection
//! raises the same incident at once (see [`crate::acknowledgement`]).
//!
//! A re-send copies the latest send from the outbox: the same payload and `ce-id`, so the
//! platform sees the same message, with `Nats-Msg-Id` `resend:{send}:{ce-id}`, so that
//! JetStream's duplicate window does not drop it as a repeat of the first send. The timeout
//! counts from publication: a message still waiting in the outbox (the broker down) is not
//! re-sent, its due time moves on.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use residence_eventing::db::begin_write;
use residence_eventing::entity::outbox;
use residence_eventing::envelope::header;
use residence_eventing::{Envelope, OutboxWriter, RelayHandle};
use residence_events::partner::LicenseAction;
use residence_events::{self as events, LicenseIncident, LicenseIncidentKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio_util::sync::CancellationToken;

use crate::entity::{message_state, platform_message};

/// Overdue messages handled per round.
const BATCH: u64 = 100;

/// How long the platforms have to answer, and how often a message is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckPolicy {
    /// Time from publishing a message to its acknowledgement before it is sent again.
    pub timeout: Duration,
    /// Re-sends after the first send before an incident is raised; 0 raises it at the first
    /// timeout.
    pub resends: u32,
}

impl AckPolicy {
    /// When an answer to a message sent at `sent_at` is due.
    fn due(&self, sent_at: DateTime<Utc>) -> DateTime<Utc> {
        sent_at + chrono::Duration::from_std(self.timeout).unwrap_or(chrono::Duration::MAX)
    }

    /// How often the watch looks for overdue answers: a quarter of the timeout, between
    /// 100 ms and 30 s.
    fn check_interval(&self) -> Duration {
        (self.timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }
}

/// Starts tracking `envelope`, the message just enqueued asking the platforms to act on
/// `identifier`.
pub async fn track(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    identifier: &str,
    action: LicenseAction,
    policy: &AckPolicy,
) -> Result<(), DbErr> {
    let now = Utc::now();
    platform_message::ActiveModel {
        message_id: Set(envelope.id.clone()),
        identifier: Set(identifier.to_owned()),
        case_number: Set(envelope.subject.clone()),
        action: Set(action.code().to_owned()),
        state: Set(message_state::AWAITING.to_owned()),
        sends: Set(1),
        last_outbox_event_id: Set(envelope.id.clone()),
        ack_due_at: Set(Some(policy.due(now))),
        platform: Set(None),
        reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// The latest message asking the platforms to do `action` on `identifier`.
pub async fn find(
    db: &impl ConnectionTrait,
    identifier: &str,
    action: LicenseAction,
) -> Result<Option<platform_message::Model>, DbErr> {
    platform_message::Entity::find()
        .filter(platform_message::Column::Identifier.eq(identifier))
        .filter(platform_message::Column::Action.eq(action.code()))
        .order_by_desc(platform_message::Column::CreatedAt)
        .one(db)
        .await
}

/// Enqueues `residence.v1.license.incident` about `message`.
pub async fn raise_incident(
    txn: &DatabaseTransaction,
    outbox: &OutboxWriter,
    message: &platform_message::Model,
    kind: LicenseIncidentKind,
) -> Result<(), DbErr> {
    let action = match message.action.as_str() {
        "revoked" => LicenseAction::Revoked,
        _ => LicenseAction::Issued,
    };
    let incident = LicenseIncident {
        case_number: message.case_number.clone(),
        identifier: message.identifier.clone(),
        action,
        kind,
        sends: u32::try_from(message.sends).unwrap_or_default(),
        platform: message.platform.clone(),
        raised_at: Utc::now(),
    };
    outbox
        .enqueue(
            txn,
            events::LICENSE_INCIDENT,
            &message.case_number,
            &incident,
        )
        .await?;
    Ok(())
}

/// What one round of the watch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages sent again.
    pub resent: u32,
    /// Messages not yet published, whose due time moved on.
    pub postponed: u32,
    /// Messages given up on, each with an incident.
    pub given_up: u32,
}

/// Finds messages whose answer is overdue and sends them again or gives up on them.
#[derive(Debug)]
pub struct AckWatch {
    pub db: DatabaseConnection,
    pub outbox: OutboxWriter,
    pub relay: RelayHandle,
    pub policy: AckPolicy,
}

/// What to do with one overdue message.
enum Step {
    Postpone,
    Resend(outbox::Model),
    GiveUp { outbox_row_missing: bool },
}

impl AckWatch {
    /// Checks for overdue answers until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = self.policy.check_interval();
        loop {
            match self.check(Utc::now()).await {
                Ok(round) if round.resent + round.given_up > 0 => self.relay.notify(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not check for unacknowledged licenses");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// One round: every message whose answer was due by `now`.
    pub async fn check(&self, now: DateTime<Utc>) -> Result<Round, DbErr> {
        let overdue = platform_message::Entity::find()
            .filter(platform_message::Column::State.eq(message_state::AWAITING))
            .filter(platform_message::Column::AckDueAt.lte(now))
            .order_by_asc(platform_message::Column::AckDueAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let mut round = Round::default();
        for message in overdue {
            self.handle(&message.message_id, now, &mut round).await?;
        }
        Ok(round)
    }

    async fn handle(
        &self,
        message_id: &str,
        now: DateTime<Utc>,
        round: &mut Round,
    ) -> Result<(), DbErr> {
        let txn = begin_write(&self.db).await?;
        // Read again inside the transaction: another replica may have handled it.
        let message = platform_message::Entity::find_by_id(message_id.to_owned())
            .one(&txn)
            .await?;
        let Some(message) = message.filter(|m| is_overdue(m, now)) else {
            return txn.commit().await;
        };
        match self.next_step(&txn, &message).await? {
            Step::Postpone => {
                let mut active = message.into_active_model();
                active.ack_due_at = Set(Some(self.policy.due(now)));
                active.update(&txn).await?;
                round.postponed += 1;
            }
            Step::Resend(latest) => {
                let send = message.sends + 1;
                let copy = resend_copy(&latest, &message.message_id, send, now)?;
                let event_id = copy.event_id.clone().unwrap();
                copy.insert(&txn).await?;
                log_resend(&message, send);
                let mut active = message.into_active_model();
                active.sends = Set(send);
                active.last_outbox_event_id = Set(event_id);
                active.ack_due_at = Set(Some(self.policy.due(now)));
                active.updated_at = Set(now);
                active.update(&txn).await?;
                round.resent += 1;
            }
            Step::GiveUp { outbox_row_missing } => {
                let mut active = message.clone().into_active_model();
                active.state = Set(message_state::UNACKNOWLEDGED.to_owned());
                active.ack_due_at = Set(None);
                active.updated_at = Set(now);
                let given_up = active.update(&txn).await?;
                raise_incident(
                    &txn,
                    &self.outbox,
                    &given_up,
                    LicenseIncidentKind::Unacknowledged,
                )
                .await?;
                log_given_up(&given_up, outbox_row_missing);
                round.given_up += 1;
            }
        }
        txn.commit().await
    }

    async fn next_step(
        &self,
        txn: &DatabaseTransaction,
        message: &platform_message::Model,
    ) -> Result<Step, DbErr> {
        let latest = outbox::Entity::find()
            .filter(outbox::Column::EventId.eq(&message.last_outbox_event_id))
            .one(txn)
            .await?;
        let Some(latest) = latest else {
            return Ok(Step::GiveUp {
                outbox_row_missing: true,
            });
        };
        if latest.published_at.is_none() {
            return Ok(Step::Postpone);
        }
        let resends_done = u32::try_from(message.sends - 1).unwrap_or(0);
        if resends_done < self.policy.resends {
            Ok(Step::Resend(latest))
        } else {
            Ok(Step::GiveUp {
                outbox_row_missing: false,
            })
        }
    }
}

fn is_overdue(message: &platform_message::Model, now: DateTime<Utc>) -> bool {
    message.state == message_state::AWAITING && message.ack_due_at.is_some_and(|due| due <= now)
}

/// The outbox row of send number `send` of `message_id`: `latest` with a new row id and
/// `Nats-Msg-Id`, the same `ce-id` and payload.
fn resend_copy(
    latest: &outbox::Model,
    message_id: &str,
    send: i32,
    now: DateTime<Utc>,
) -> Result<outbox::ActiveModel, DbErr> {
    let event_id = format!("resend:{send}:{message_id}");
    let mut headers: BTreeMap<String, String> = serde_json::from_str(&latest.headers)
        .map_err(|error| DbErr::Custom(format!("stored headers do not decode: {error}")))?;
    headers.insert(header::MSG_ID.to_owned(), event_id.clone());
    let headers = serde_json::to_string(&headers)
        .map_err(|error| DbErr::Custom(format!("headers do not encode: {error}")))?;
    Ok(outbox::ActiveModel {
        event_id: Set(event_id),
        subject: Set(latest.subject.clone()),
        case_number: Set(latest.case_number.clone()),
        headers: Set(headers),
        payload: Set(latest.payload.clone()),
        created_at: Set(now),
        published_at: Set(None),
        ..Default::default()
    })
}

fn log_resend(message: &platform_message::Model, send: i32) {
    tracing::warn!(
        case.number = %message.case_number,
        license.identifier = %message.identifier,
        license.action = %message.action,
        send,
        "no acknowledgement from the e-license platform in time; sending the license again"
    );
}

fn log_given_up(message: &platform_message::Model, outbox_row_missing: bool) {
    tracing::error!(
        case.number = %message.case_number,
        license.identifier = %message.identifier,
        license.action = %message.action,
        sends = message.sends,
        outbox_row_missing,
        "the e-license platform never acknowledged the license; incident raised"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_looks_often_enough_but_not_too_often() {
        let policy = |seconds| AckPolicy {
            timeout: Duration::from_secs(seconds),
            resends: 3,
        };
        assert_eq!(policy(1).check_interval(), Duration::from_millis(250));
        assert_eq!(policy(60).check_interval(), Duration::from_secs(15));
        assert_eq!(policy(3600).check_interval(), Duration::from_secs(30));
        let tiny = AckPolicy {
            timeout: Duration::from_millis(10),
            resends: 0,
        };
        assert_eq!(tiny.check_interval(), Duration::from_millis(100));
    }

    #[test]
    fn a_resend_keeps_the_event_id_and_gets_its_own_message_id() {
        let latest = outbox::Model {
            id: 7,
            event_id: "e-1".to_owned(),
            subject: "elicense.v1.license.issued".to_owned(),
            case_number: "CASE-1".to_owned(),
            headers: r#"{"ce-id":"e-1","Nats-Msg-Id":"e-1","traceparent":"t"}"#.to_owned(),
            payload: "{}".into(),
            created_at: Utc::now(),
            published_at: Some(Utc::now()),
        };
        let copy = resend_copy(&latest, "e-1", 2, Utc::now()).unwrap();
        assert_eq!(copy.event_id.clone().unwrap(), "resend:2:e-1");
        assert_eq!(copy.published_at.clone().unwrap(), None);
        assert!(copy.id.is_not_set());
        let headers: BTreeMap<String, String> =
            serde_json::from_str(&copy.headers.clone().unwrap()).unwrap();
        assert_eq!(headers["ce-id"], "e-1");
        assert_eq!(headers["Nats-Msg-Id"], "resend:2:e-1");
        assert_eq!(headers["traceparent"], "t");
        assert_eq!(copy.payload.clone().unwrap(), latest.payload);
    }
}
