//! The handlers, the acknowledgement watch and the API against a real SQLite database, with
//! events handed to them directly and time moved on by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use residence_elicense::entity::{message_state, status};
use residence_elicense::identifier::Identifier;
use residence_elicense::keys;
use residence_eventing::{Handler, Outcome};
use residence_events::partner::{self, LicenseAction, LicenseIssuedMessage, LicenseRevokedMessage};
use residence_events::{self as events, LicenseIncident, LicenseIncidentKind};
use residence_license::{PublicKeys, verify};
use residence_proto::v1::verify_license_document_request::Document;
use residence_proto::v1::{self as pb, elicense_service_server::ElicenseService};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use tonic::Request;

use crate::app::*;

async fn issue(app: &TestApp, event_id: &str, case_number: &str, valid_until: &str) {
    let event = approved(event_id, &approval(case_number, date(valid_until)));
    assert_eq!(app.issuance.handle(&event).await, Outcome::Done);
}

/// The issued-license messages in the outbox, decoded.
async fn issued_messages(app: &TestApp) -> Vec<LicenseIssuedMessage> {
    let rows = app.outbox_on(events::elicense::LICENSE_ISSUED).await;
    rows.iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect()
}

/// The keys in the public key document the app wrote for operators.
fn published_keys(app: &TestApp) -> PublicKeys {
    PublicKeys::read(&app.dir.join("public-keys.json")).unwrap()
}

#[tokio::test]
async fn an_approval_issues_a_signed_license_with_every_field() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;

    let licenses = app.licenses().await;
    assert_eq!(licenses.len(), 1);
    let first = &licenses[0];
    assert_eq!(first.version, 1);
    assert_eq!(first.status, status::CURRENT);
    assert_eq!(first.supersedes, None);
    assert_eq!(first.key_id.as_deref(), Some(FIRST_KEY));
    assert!(
        first
            .identifier
            .starts_with("1.2.156.3005.2.340101.114128240059672296.")
    );
    assert!(first.identifier.contains(".001."));
    assert!(!first.identifier.contains(ID_NUMBER));

    let internal = app.outbox_on(events::LICENSE_ISSUED.subject).await;
    assert_eq!(internal.len(), 1);
    assert!(!internal[0].payload.contains(ID_NUMBER));

    let [message] = issued_messages(&app).await.try_into().unwrap();
    assert_eq!(message.schema, partner::LICENSE_ISSUED_SCHEMA);
    let license = &message.license;
    assert_eq!(license.identifier, first.identifier);
    assert_eq!(license.version, 1);
    assert_eq!(license.license_name, "居住证");
    assert_eq!(license.license_type_code, TYPE_CODE);
    assert_eq!(license.license_number, ID_NUMBER);
    assert_eq!(license.issuing_authority, "西平县公安局");
    assert_eq!(license.issuing_authority_code, ISSUER_CODE);
    assert_eq!(license.issued_on, date("2026-12-02"));
    assert_eq!(license.valid_from, date("2026-12-02"));
    assert_eq!(license.valid_until, date("2027-12-10"));
    assert_eq!(license.holder.name, "王小明");
    assert_eq!(license.holder.id_number, ID_NUMBER);
    assert_eq!(
        license.residence_address,
        "河南省驻马店市西平县五沟营镇人民路1号"
    );
    assert_eq!(license.case_number, "CASE-1");
    assert_eq!(message.signature.algorithm, "SM2-SM3");
    assert_eq!(message.signature.form, "residence-license/1");
    assert_eq!(message.signature.key_id, FIRST_KEY);
    assert!(message.qr_payload.starts_with("RP1."));

    // Anyone holding the published key document can check it offline.
    let verification = verify::document(&message, &published_keys(&app));
    assert!(verification.is_authentic(), "{:?}", verification.problems());

    let verified = app.verify(&first.identifier.to_lowercase()).await;
    assert!(verified.valid, "{}", verified.problem);
    assert!(verified.signature_valid && verified.check_character_valid);
    assert_eq!(verified.status, pb::LicenseStatus::Current as i32);
    assert_eq!(verified.masked_holder_name, "王**");
    assert_eq!(verified.masked_id_number, "411721********1237");
    assert_eq!(verified.key_id, FIRST_KEY);
    assert_eq!(verified.version, 1);
    assert_eq!(verified.valid_from, "2026-12-02");
    assert_eq!(verified.valid_until, "2027-12-10");
    assert_eq!(verified.license_type_code, TYPE_CODE);
    assert_eq!(verified.issuing_authority_code, ISSUER_CODE);
}

#[tokio::test]
async fn a_replayed_approval_never_issues_a_second_license() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    issue(&app, "event-2", "CASE-1", "2027-12-10").await;

    assert_eq!(app.licenses().await.len(), 1);
    assert_eq!(app.outbox_on(events::LICENSE_ISSUED.subject).await.len(), 1);
    assert_eq!(issued_messages(&app).await.len(), 1);
    assert_eq!(app.messages().await.len(), 1);
}

#[tokio::test]
async fn the_next_endorsement_supersedes_the_earlier_license() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    issue(&app, "event-2", "CASE-2", "2028-12-10").await;

    let licenses = app.licenses().await;
    let [old, new] = licenses.as_slice() else {
        panic!("expected two licenses, got {}", licenses.len());
    };
    assert_eq!(old.status, status::SUPERSEDED);
    assert_eq!(new.status, status::CURRENT);
    assert_eq!(new.version, 2);
    assert_eq!(new.supersedes.as_deref(), Some(old.identifier.as_str()));
    let serial = |identifier: &str| identifier.split('.').nth(7).unwrap().to_owned();
    assert_eq!(serial(&old.identifier), serial(&new.identifier));
    assert!(new.identifier.contains(".002."));

    let messages = issued_messages(&app).await;
    let supersedes = messages[1].license.supersedes.as_deref();
    assert_eq!(supersedes, Some(old.identifier.as_str()));
    for message in &messages {
        assert!(verify::document(message, &published_keys(&app)).is_authentic());
    }

    // The old version still verifies: it is authentic, only no longer current.
    let old_case = app.by_case("CASE-1").await.unwrap();
    assert!(old_case.valid, "{}", old_case.problem);
    assert_eq!(old_case.status, pb::LicenseStatus::Superseded as i32);
    assert_eq!(old_case.superseded_by, new.identifier);
    let new_case = app.by_case("CASE-2").await.unwrap();
    assert_eq!(new_case.identifier, new.identifier);
    assert_eq!(new_case.supersedes, old.identifier);
}

#[tokio::test]
async fn presented_documents_and_qr_payloads_verify_and_tampering_is_caught() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    let [message] = issued_messages(&app).await.try_into().unwrap();
    let json = serde_json::to_string_pretty(&message).unwrap();

    let response = app
        .verify_document(Document::LicenseJson(json.clone()))
        .await;
    assert!(response.valid, "{}", response.problem);
    assert_eq!(response.masked_holder_name, "王**");
    let response = app
        .verify_document(Document::QrPayload(message.qr_payload.clone()))
        .await;
    assert!(response.valid, "{}", response.problem);
    assert!(!format!("{response:?}").contains(ID_NUMBER));

    // Every field of the document is covered.
    let original: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fields = [
        "/identifier",
        "/version",
        "/license_name",
        "/license_type_code",
        "/license_number",
        "/issuing_authority",
        "/issuing_authority_code",
        "/issued_on",
        "/valid_from",
        "/valid_until",
        "/holder/name",
        "/holder/id_number",
        "/residence_address",
        "/case_number",
        "/signature/key_id",
        "/signature/value",
        "/qr_payload",
    ];
    for field in fields {
        let mut changed = original.clone();
        let value = changed.pointer_mut(field).unwrap();
        *value = match value {
            serde_json::Value::Number(n) => (n.as_u64().unwrap() + 1).into(),
            serde_json::Value::String(text) if text.starts_with("20") => "2030-01-01".into(),
            serde_json::Value::String(text) => {
                let mut chars: Vec<char> = text.chars().collect();
                let last = chars.pop().unwrap();
                chars.push(if last == '1' { '2' } else { '1' });
                chars.into_iter().collect::<String>().into()
            }
            _ => unreachable!(),
        };
        let response = app
            .verify_document(Document::LicenseJson(changed.to_string()))
            .await;
        assert!(!response.valid, "a change to {field} went unnoticed");
    }

    let mut qr = message.qr_payload.clone();
    qr.insert(10, 'A');
    assert!(!app.verify_document(Document::QrPayload(qr)).await.valid);
}

#[tokio::test]
async fn a_record_changed_behind_the_services_back_no_longer_verifies() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    let row = app.licenses().await.remove(0);
    let identifier = row.identifier.clone();
    let mut active = row.into_active_model();
    active.valid_until = Set(date("2099-12-31"));
    active.update(&app.db).await.unwrap();

    let response = app.verify(&identifier).await;
    assert!(!response.valid);
    assert!(!response.signature_valid);
    assert!(
        response.problem.contains("signature"),
        "{}",
        response.problem
    );
}

#[tokio::test]
async fn verification_explains_what_is_wrong() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    let identifier = app.licenses().await[0].identifier.clone();

    let mut tampered = identifier.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let response = app.verify(&tampered).await;
    assert!(!response.valid);
    assert!(!response.check_character_valid);
    assert!(
        response.problem.contains("check character"),
        "{}",
        response.problem
    );

    let foreign = Identifier::new(TYPE_CODE, "ABC", "DEF", 1)
        .unwrap()
        .to_string();
    let response = app.verify(&foreign).await;
    assert!(!response.valid);
    assert_eq!(response.problem, "not issued here");

    let response = app.verify("not an identifier").await;
    assert!(!response.valid);
    assert!(response.problem.contains("1.2.156.3005.2."));

    let response = app
        .verify_document(Document::LicenseJson("{\"schema\": 1}".to_owned()))
        .await;
    assert!(!response.valid);
    assert!(
        response.problem.contains("not a license document"),
        "{}",
        response.problem
    );

    let empty = app
        .api
        .verify_license(Request::new(pb::VerifyLicenseRequest::default()))
        .await;
    assert_eq!(empty.unwrap_err().code(), tonic::Code::InvalidArgument);
    let nothing = app
        .api
        .verify_license_document(Request::new(pb::VerifyLicenseDocumentRequest::default()))
        .await;
    assert_eq!(nothing.unwrap_err().code(), tonic::Code::InvalidArgument);
    assert_eq!(
        app.by_case("CASE-9").await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}

#[tokio::test]
async fn rotating_the_key_keeps_earlier_licenses_verifying() {
    let first_app = spawn_app(minute_policy()).await;
    issue(&first_app, "event-1", "CASE-1", "2027-12-10").await;

    // The operator switches to a new key id: a key is made for it, the old one stays.
    let settings = key_settings(&first_app.dir, "k2027");
    let rotated_keys = Arc::new(keys::load(&settings).unwrap());
    let dir = first_app.dir.join("rotated");
    let app = app_with(first_app.db.clone(), rotated_keys, minute_policy(), dir);
    issue(&app, "event-2", "CASE-2", "2028-12-10").await;

    let licenses = app.licenses().await;
    assert_eq!(licenses[0].key_id.as_deref(), Some(FIRST_KEY));
    assert_eq!(licenses[1].key_id.as_deref(), Some("k2027"));
    for license in &licenses {
        let response = app.verify(&license.identifier).await;
        assert!(
            response.valid,
            "{}: {}",
            license.identifier, response.problem
        );
    }

    let published = published_keys(&first_app);
    assert_eq!(published.active().map(|k| k.as_str()), Some("k2027"));
    for message in issued_messages(&app).await {
        assert!(verify::document(&message, &published).is_authentic());
    }
    let listed = app
        .api
        .list_signing_keys(Request::new(pb::ListSigningKeysRequest {}))
        .await
        .unwrap()
        .into_inner();
    let ids: BTreeMap<String, bool> = listed
        .keys
        .iter()
        .map(|k| (k.key_id.clone(), k.active))
        .collect();
    assert_eq!(
        ids,
        BTreeMap::from([(FIRST_KEY.into(), false), ("k2027".into(), true)])
    );
    assert_eq!(listed.distinguishing_id, "1234567812345678");
    assert!(!listed.key_document_json.contains("PRIVATE"));
}

#[tokio::test]
async fn an_unanswered_license_is_sent_again_then_raises_an_incident() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    let minute = app.policy.timeout;

    // Before it is even published, time does not count against the platform.
    let round = app.watch_after(minute * 2).await;
    assert_eq!((round.resent, round.postponed), (0, 1));
    app.publish_outbox().await;
    assert_eq!(app.watch_after(minute / 2).await.resent, 0);

    // Published and unanswered a minute later: sent again, same event, new message id.
    let round = app.watch_after(minute * 3 + minute / 10).await;
    assert_eq!(round.resent, 1);
    let sends = app.outbox_on(events::elicense::LICENSE_ISSUED).await;
    assert_eq!(sends.len(), 2);
    let headers = |index: usize| -> BTreeMap<String, String> {
        serde_json::from_str(&sends[index].headers).unwrap()
    };
    assert_eq!(headers(1)["ce-id"], headers(0)["ce-id"]);
    assert_eq!(
        headers(1)["Nats-Msg-Id"],
        format!("resend:2:{}", headers(0)["ce-id"])
    );
    assert_eq!(sends[1].payload, sends[0].payload);
    assert!(
        app.outbox_on(events::LICENSE_INCIDENT.subject)
            .await
            .is_empty()
    );

    // Still unanswered after the one re-send allowed: given up on, with an incident.
    app.publish_outbox().await;
    let round = app.watch_after(minute * 5).await;
    assert_eq!(round.given_up, 1);
    let [message] = app.messages().await.try_into().unwrap();
    assert_eq!(message.state, message_state::UNACKNOWLEDGED);
    assert_eq!(message.sends, 2);
    let incidents = app.outbox_on(events::LICENSE_INCIDENT.subject).await;
    let [incident] = incidents.try_into().unwrap();
    assert!(!incident.payload.contains(ID_NUMBER));
    let incident: LicenseIncident = serde_json::from_str(&incident.payload).unwrap();
    assert_eq!(incident.kind, LicenseIncidentKind::Unacknowledged);
    assert_eq!(incident.action, LicenseAction::Issued);
    assert_eq!(incident.sends, 2);
    assert_eq!(app.watch_after(minute * 10).await, Default::default());

    let [problem] = app.problems().await.try_into().unwrap();
    assert_eq!(problem.state, "unacknowledged");
    assert_eq!(problem.case_number, "CASE-1");

    // A late answer is still recorded.
    let identifier = &message.identifier;
    let late = acknowledgement(identifier, LicenseAction::Issued, true);
    let subject = events::elicense::LICENSE_ACKNOWLEDGED;
    assert_eq!(
        app.acks.handle(&incoming("ack-1", subject, &late)).await,
        Outcome::Done
    );
    assert_eq!(app.messages().await[0].state, message_state::ACCEPTED);
    assert!(app.problems().await.is_empty());
}

#[tokio::test]
async fn acknowledgements_settle_messages_and_rejections_are_kept_for_operators() {
    let app = spawn_app(minute_policy()).await;
    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    let identifier = app.licenses().await[0].identifier.clone();
    let subject = events::elicense::LICENSE_ACKNOWLEDGED;

    let rejected = acknowledgement(&identifier, LicenseAction::Issued, false);
    assert_eq!(
        app.acks
            .handle(&incoming("ack-1", subject, &rejected))
            .await,
        Outcome::Done
    );
    let license = &app.licenses().await[0];
    assert_eq!(
        license.rejected_reason.as_deref(),
        Some("证照类型代码未登记")
    );
    assert_eq!(license.acknowledged_at, None);
    let [problem] = app.problems().await.try_into().unwrap();
    assert_eq!(problem.state, "rejected");
    assert_eq!(problem.action, "issued");
    assert_eq!(problem.platform, "henan-elicense");
    assert_eq!(problem.reason, "证照类型代码未登记");
    let incidents = app.outbox_on(events::LICENSE_INCIDENT.subject).await;
    assert_eq!(incidents.len(), 1);
    assert!(!incidents[0].payload.contains("证照类型代码未登记"));
    // Answered: the watch leaves it alone.
    app.publish_outbox().await;
    assert_eq!(
        app.watch_after(app.policy.timeout * 10).await,
        Default::default()
    );

    let accepted = acknowledgement(&identifier, LicenseAction::Issued, true);
    assert_eq!(
        app.acks
            .handle(&incoming("ack-2", subject, &accepted))
            .await,
        Outcome::Done
    );
    let license = &app.licenses().await[0];
    assert_eq!(license.rejected_reason, None);
    assert_eq!(license.ack_platform.as_deref(), Some("henan-elicense"));
    assert!(license.acknowledged_at.is_some());
    assert!(app.problems().await.is_empty());

    let unknown = acknowledgement(
        "1.2.156.3005.2.340101.X.Y.001.Z",
        LicenseAction::Issued,
        true,
    );
    let outcome = app.acks.handle(&incoming("ack-3", subject, &unknown)).await;
    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");

    // An answer in the name of a platform licenses are not sent to changes nothing.
    let mut foreign = acknowledgement(&identifier, LicenseAction::Issued, false);
    foreign.platform = "some-other-platform".to_owned();
    let outcome = app.acks.handle(&incoming("ack-4", subject, &foreign)).await;
    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");
    let license = &app.licenses().await[0];
    assert_eq!(license.rejected_reason, None);
    assert_eq!(license.ack_platform.as_deref(), Some("henan-elicense"));
}

#[tokio::test]
async fn a_reversed_decision_revokes_its_license_and_tells_the_platform() {
    let app = spawn_app(minute_policy()).await;
    let reversal = reversal("CASE-1");

    // Reversed before the approval was processed: tried again later, nothing claimed.
    let early = app.revocations.handle(&reversed("rev-1", &reversal)).await;
    assert!(matches!(early, Outcome::Retry(_)), "{early:?}");

    issue(&app, "event-1", "CASE-1", "2027-12-10").await;
    assert_eq!(
        app.revocations.handle(&reversed("rev-1", &reversal)).await,
        Outcome::Done
    );
    assert_eq!(
        app.revocations.handle(&reversed("rev-2", &reversal)).await,
        Outcome::Done
    );

    let license = app.licenses().await.remove(0);
    assert_eq!(license.status, status::REVOKED);
    assert_eq!(license.revoked_at, Some(reversal.reversed_at));
    let rows = app.outbox_on(events::elicense::LICENSE_REVOKED).await;
    let [row] = rows.try_into().unwrap();
    let revoked: LicenseRevokedMessage = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(revoked.identifier, license.identifier);
    assert_eq!(revoked.reason, reversal.reason);
    assert_eq!(verify::revocation(&revoked, &published_keys(&app)), Ok(()));
    assert_eq!(
        app.outbox_on(events::LICENSE_REVOKED.subject).await.len(),
        1
    );

    let response = app.verify(&license.identifier).await;
    assert!(response.valid, "{}", response.problem);
    assert_eq!(response.status, pb::LicenseStatus::Revoked as i32);
    assert!(!response.revoked_at.is_empty());

    // The revocation waits for its own acknowledgement.
    let messages = app.messages().await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].action, "revoked");
    assert_eq!(messages[1].state, message_state::AWAITING);
    let ack = acknowledgement(&license.identifier, LicenseAction::Revoked, true);
    let subject = events::elicense::LICENSE_ACKNOWLEDGED;
    assert_eq!(
        app.acks.handle(&incoming("ack-r", subject, &ack)).await,
        Outcome::Done
    );
    let messages = app.messages().await;
    assert_eq!(messages[1].state, message_state::ACCEPTED);
    assert_eq!(messages[0].state, message_state::AWAITING);
}

#[tokio::test]
async fn approvals_without_a_holder_are_poison() {
    let app = spawn_app(minute_policy()).await;
    let mut approval = approval("CASE-1", date("2027-12-10"));
    approval.application.holder.id_number = " ".to_owned();

    let outcome = app.issuance.handle(&approved("event-1", &approval)).await;

    assert!(matches!(outcome, Outcome::Poison(_)), "{outcome:?}");
    assert!(app.licenses().await.is_empty());
}
