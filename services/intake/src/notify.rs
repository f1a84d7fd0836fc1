//! Applicant notifications: one message per step the applicant cares about, in Chinese from
//! the county's editable templates, written to the outbox in the transaction that records the
//! step, for the county's SMS or app gateway to send.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use residence_eventing::OutboxWriter;
use residence_events::{self as events, NotificationKind, NotificationRequested};
use residence_item::ServiceItem;
use sea_orm::{ConnectionTrait, DbErr};
use serde::Deserialize;

use crate::entity::case;
use crate::request::Submission;
use crate::store::from_json;

/// The durable consumer the county's SMS or app gateway reads notifications through. Intake
/// creates it; the gateway only binds to it and acknowledges what it sent.
pub const GATEWAY_CONSUMER: &str = "applicant-notifications";

/// Creates the gateway's consumer unless it exists: explicit acks, redelivered after 60 s
/// without one, without limit, so that a message waits for a gateway that is down.
pub async fn ensure_gateway_feed(
    jetstream: &async_nats::jetstream::Context,
) -> Result<(), async_nats::Error> {
    use async_nats::jetstream::consumer::{AckPolicy, pull};
    let stream =
        residence_eventing::streams::ensure(jetstream, residence_eventing::streams::RESIDENCE)
            .await?;
    let config = pull::Config {
        durable_name: Some(GATEWAY_CONSUMER.to_owned()),
        description: Some("applicant notifications for the county's SMS or app gateway".into()),
        filter_subject: events::NOTIFICATION_REQUESTED.subject.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: std::time::Duration::from_secs(60),
        max_ack_pending: 1000,
        ..Default::default()
    };
    stream
        .get_or_create_consumer(GATEWAY_CONSUMER, config)
        .await?;
    Ok(())
}

/// The templates deploy/notifications.toml ships with; a county edits its own copy.
pub const DEFAULT_TEMPLATES: &str = include_str!("../../../deploy/notifications.toml");

/// Placeholders every template may use.
const COMMON: &[&str] = &["case_number", "body"];

/// The placeholders a kind's template may use besides [`COMMON`].
fn placeholders(kind: NotificationKind) -> &'static [&'static str] {
    use NotificationKind::*;
    match kind {
        Accepted => &["due_on"],
        Refused | SupplementRequired => &["reasons"],
        Denied => &["reasons", "legal_basis"],
        Approved => &["new_valid_until"],
        Shipped => &["partner", "parcel_reference"],
        ReadyForPickup => &["pickup_place", "notice"],
        Received | Delivered | Collected | Withdrawn | WithdrawalTooLate | RatingInvitation => &[],
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    #[serde(default)]
    signature: String,
    templates: BTreeMap<String, String>,
}

/// Every kind's template, checked.
#[derive(Clone, Debug)]
pub struct Templates {
    signature: String,
    by_kind: BTreeMap<&'static str, String>,
}

impl Templates {
    /// Reads and checks a template file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))?;
        Self::parse(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
    }

    /// Checks template text: every kind has a template, no unknown kind is named, and each
    /// template uses only the placeholders its kind offers. All problems are reported at once.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: TemplateFile = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut problems = Vec::new();
        if file.signature.contains(['{', '}']) {
            problems.push("signature: takes no placeholders".to_owned());
        }
        if let Err(problem) = plain_text(&file.signature) {
            problems.push(format!("signature: {problem}"));
        }
        let mut by_kind = BTreeMap::new();
        for name in file.templates.keys() {
            if !NotificationKind::ALL.iter().any(|kind| kind.code() == name) {
                problems.push(format!("templates.{name}: no such step"));
            }
        }
        for kind in NotificationKind::ALL {
            let Some(template) = file.templates.get(kind.code()) else {
                problems.push(format!("templates.{}: missing", kind.code()));
                continue;
            };
            if template.trim().is_empty() {
                problems.push(format!("templates.{}: empty", kind.code()));
                continue;
            }
            if let Err(problem) = plain_text(template) {
                problems.push(format!("templates.{}: {problem}", kind.code()));
            }
            match names(template) {
                Ok(used) => {
                    for name in used {
                        if !COMMON.contains(&name) && !placeholders(kind).contains(&name) {
                            problems.push(format!(
                                "templates.{}: {{{name}}} is not offered for this step",
                                kind.code()
                            ));
                        }
                    }
                }
                Err(problem) => problems.push(format!("templates.{}: {problem}", kind.code())),
            }
            by_kind.insert(kind.code(), template.clone());
        }
        if problems.is_empty() {
            Ok(Self {
                signature: file.signature,
                by_kind,
            })
        } else {
            Err(problems.join("; "))
        }
    }

    /// The message for `kind` with `values` filled in; a placeholder without a value becomes
    /// empty.
    pub fn render(&self, kind: NotificationKind, values: &[(&str, &str)]) -> String {
        let template = self.by_kind.get(kind.code()).map_or("", String::as_str);
        let mut text = self.signature.clone();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            // Templates were checked on load: every brace is closed.
            let close = after.find('}').unwrap_or(after.len());
            let name = &after[..close];
            if let Some((_, value)) = values.iter().find(|(key, _)| *key == name) {
                text.push_str(value);
            }
            rest = after.get(close + 1..).unwrap_or("");
        }
        text.push_str(rest);
        text
    }
}

/// The placeholder names a template uses, or why it is malformed.
fn names(template: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("'}' without '{'".to_owned());
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "'{' without '}'".to_owned())?;
        let name = &after[..close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(format!("{{{name}}} is not a placeholder name"));
        }
        found.push(name);
        rest = &after[close + 1..];
    }
    Ok(found)
}

/// The templates in use, which an operator may replace while intake runs: [`reload`] reads the
/// file again and keeps the templates in use when the new ones do not pass the checks.
///
/// [`reload`]: SharedTemplates::reload
#[derive(Clone, Debug)]
pub struct SharedTemplates {
    path: Option<PathBuf>,
    current: Arc<RwLock<Arc<Templates>>>,
}

impl SharedTemplates {
    /// The templates in `path`, or the shipped ones when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let templates = match path {
            Some(path) => Templates::load(path)?,
            None => Templates::parse(DEFAULT_TEMPLATES)
                .map_err(|problem| anyhow::anyhow!("shipped templates: {problem}"))?,
        };
        Ok(Self {
            path: path.map(Path::to_path_buf),
            current: Arc::new(RwLock::new(Arc::new(templates))),
        })
    }

    /// The templates in use.
    pub fn current(&self) -> Arc<Templates> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&current)
    }

    /// Reads the file again; on any problem the templates in use stay and the problem is
    /// returned. The shipped templates never change.
    pub fn reload(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let fresh = Arc::new(Templates::load(path)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Reloads on every SIGHUP until `shutdown`, logging the outcome.
    pub async fn reload_on_hangup(self, shutdown: tokio_util::sync::CancellationToken) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; templates change on restart");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = hangup.recv() => if received.is_none() { return },
            }
            match self.reload() {
                Ok(()) => tracing::info!("notification templates reloaded on SIGHUP"),
                Err(error) => {
                    tracing::error!(%error, "notification templates not reloaded; the old ones stay");
                }
            }
        }
    }
}

/// The longest template or signature, in characters: a message is a few SMS long at most.
const MAX_TEMPLATE_CHARS: usize = 500;

/// Text a phone shows as written: no control characters, no characters that reorder what
/// follows (bidirectional overrides and isolates), and not longer than a few SMS.
fn plain_text(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(format!("longer than {MAX_TEMPLATE_CHARS} characters"));
    }
    let reordering = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    match text.chars().find(|c| c.is_control() || reordering(*c)) {
        Some(c) => Err(format!("holds the character U+{:04X}", u32::from(c))),
        None => Ok(()),
    }
}

/// Writes notifications to the outbox.
#[derive(Clone, Debug)]
pub struct Notifier {
    pub templates: SharedTemplates,
    pub outbox: OutboxWriter,
    pub item: Arc<ServiceItem>,
}

impl Notifier {
    /// Enqueues the `kind` message for `case`'s applicant (or the agent who applied for them)
    /// in `txn`, with `values` besides the case number and the body's name.
    pub async fn send<C: ConnectionTrait>(
        &self,
        txn: &C,
        case: &case::Model,
        kind: NotificationKind,
        values: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let submission: Submission = from_json(&case.application)?;
        let phone = submission
            .agent
            .as_ref()
            .map_or(submission.phone.as_str(), |agent| agent.phone.as_str());
        let mut all = vec![
            ("case_number", case.case_number.as_str()),
            ("body", self.item.implementing_body.name.as_str()),
        ];
        all.extend_from_slice(values);
        let message = NotificationRequested {
            schema: events::NOTIFICATION_SCHEMA.to_owned(),
            notification_id: format!(
                "{}-{}-{}",
                case.case_number,
                kind.code(),
                now.timestamp_micros()
            ),
            case_number: case.case_number.clone(),
            kind,
            channel: submission.channel,
            phone: phone.to_owned(),
            text: self.templates.current().render(kind, &all),
            requested_at: now,
        };
        self.outbox
            .enqueue(
                txn,
                events::NOTIFICATION_REQUESTED,
                &case.case_number,
                &message,
            )
            .await?;
        Ok(())
    }

    /// After `case` closed: its one rating invitation (好差评), unless it had one already.
    pub async fn invite_rating<C: ConnectionTrait>(
        &self,
        txn: &C,
        case: &case::Model,
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let invited = case::Entity::update_many()
            .col_expr(case::Column::RatingInvitedAt, Expr::value(now))
            .filter(case::Column::CaseNumber.eq(case.case_number.as_str()))
            .filter(case::Column::RatingInvitedAt.is_null())
            .exec(txn)
            .await?;
        if invited.rows_affected == 1 {
            self.send(txn, case, NotificationKind::RatingInvitation, &[], now)
                .await?;
        }
        Ok(())
    }

    /// The pickup place applicants are sent to: the implementing body's address.
    pub fn pickup_place(&self) -> &str {
        &self.item.implementing_body.address
    }
}

/// Reasons as one line of the message.
pub fn reasons_text(reasons: &[events::ReasonItem]) -> String {
    join(reasons.iter().map(|reason| reason.message.as_str()))
}

/// Lines joined for a message: each ends with a full stop.
pub fn join<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        text.push_str(line);
        if !line.ends_with(['。', '；', '！', '.']) {
            text.push('。');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_templates_cover_every_step() {
        let templates = Templates::parse(DEFAULT_TEMPLATES).unwrap();
        let text = templates.render(
            NotificationKind::Accepted,
            &[("case_number", "C-1"), ("due_on", "2026-12-07")],
        );
        assert_eq!(
            text,
            "【西平县居住证签注】您的居住证签注申请C-1已受理，将于2026-12-07前办结。"
        );
    }

    #[test]
    fn control_and_reordering_characters_and_overlong_texts_are_refused() {
        let nul = DEFAULT_TEMPLATES.replacen("已收件", "已收\\u0000件", 1);
        let error = Templates::parse(&nul).unwrap_err();
        assert!(
            error.contains("templates.received: holds the character U+0000"),
            "{error}"
        );
        let flipped = DEFAULT_TEMPLATES.replacen("【西平县", "【\u{202E}西平县", 1);
        let error = Templates::parse(&flipped).unwrap_err();
        assert!(
            error.contains("signature: holds the character U+202E"),
            "{error}"
        );
        let long = DEFAULT_TEMPLATES.replacen("已收件", &"长".repeat(600), 1);
        let error = Templates::parse(&long).unwrap_err();
        assert!(
            error.contains("templates.received: longer than 500"),
            "{error}"
        );
    }

    #[test]
    fn unknown_steps_missing_templates_and_foreign_placeholders_are_all_reported() {
        let text = r#"
            [templates]
            received = "{case_number} {due_on}"
            nonsense = "x"
            accepted = "{due_on"
        "#;
        let problems = Templates::parse(text).unwrap_err();
        assert!(
            problems.contains("templates.nonsense: no such step"),
            "{problems}"
        );
        assert!(
            problems.contains("templates.received: {due_on} is not offered"),
            "{problems}"
        );
        assert!(
            problems.contains("templates.accepted: '{' without '}'"),
            "{problems}"
        );
        assert!(
            problems.contains("templates.refused: missing"),
            "{problems}"
        );
        let signed = DEFAULT_TEMPLATES.replacen("【西平县居住证签注】", "【{case_number}】", 1);
        let problems = Templates::parse(&signed).unwrap_err();
        assert!(
            problems.contains("signature: takes no placeholders"),
            "{problems}"
        );
    }

    #[test]
    fn a_placeholder_without_a_value_renders_empty() {
        let templates = Templates::parse(DEFAULT_TEMPLATES).unwrap();
        let text = templates.render(
            NotificationKind::ReadyForPickup,
            &[("case_number", "C-2"), ("pickup_place", "镇便民服务中心")],
        );
        assert!(text.ends_with("可到镇便民服务中心领取。"), "{text}");
    }

    #[test]
    fn a_reload_takes_good_templates_and_keeps_the_old_ones_over_bad() {
        let dir = std::env::temp_dir().join(format!("templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notifications.toml");
        std::fs::write(&path, DEFAULT_TEMPLATES).unwrap();
        let shared = SharedTemplates::load(Some(&path)).unwrap();
        let values = [("case_number", "C-3")];
        let render = || {
            shared
                .current()
                .render(NotificationKind::Delivered, &values)
        };
        assert!(render().contains("已签收"));

        let edited = DEFAULT_TEMPLATES.replace("已签收，感谢您的配合", "已由您本人签收");
        std::fs::write(&path, edited).unwrap();
        shared.reload().unwrap();
        assert!(render().contains("已由您本人签收"), "{}", render());

        std::fs::write(&path, "[templates]\ndelivered = \"{oops\"\n").unwrap();
        assert!(shared.reload().is_err());
        assert!(
            render().contains("已由您本人签收"),
            "the old templates stay"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(
            join(["证件已过期", "缺少材料。", " "].into_iter()),
            "证件已过期。缺少材料。"
        );
    }
}
