//! The e-license gRPC API: verifying a license by its identifier or as presented (signed
//! document or QR payload), finding the license of a case, publishing the signing keys, and
//! listing what the platforms refused or never answered.

use std::sync::Arc;

use residence_audit::Entry;
use residence_license::identifier::Identifier;
use residence_license::qr::QrClaims;
use residence_license::verify::{self, DocumentError};
use residence_license::{PublicKeys, Verification, canonical, mask_name};
use residence_proto::v1::verify_license_document_request::Document;
use residence_proto::v1::{self as pb, elicense_service_server::ElicenseService};
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::china_rfc3339;
use residence_runtime::validate;
use residence_staff::{Action, Staff, StaffAuth};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tonic::{Request, Response, Status};

use crate::document;
use crate::entity::{license, message_state, platform_message, status};

/// Longest identifier a caller may send.
const MAX_IDENTIFIER_LENGTH: usize = 128;

/// Longest license document a caller may send, in bytes.
const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// Longest QR payload a caller may send, in characters.
const MAX_QR_LENGTH: usize = 2048;

/// Serves `residence.v1.ElicenseService`.
#[derive(Debug, Clone)]
pub struct ElicenseApi {
    pub db: DatabaseConnection,
    /// The public halves of the signing keys: what records and presented licenses are
    /// checked with.
    pub keys: Arc<PublicKeys>,
    /// Checks the tokens of staff calls, and names staff who check a license.
    pub staff: StaffAuth,
}

#[tonic::async_trait]
impl ElicenseService for ElicenseApi {
    async fn verify_license(
        &self,
        request: Request<pb::VerifyLicenseRequest>,
    ) -> Result<Response<pb::VerifyLicenseResponse>, Status> {
        let checker = self.staff.optional(&request, Action::ReadCase)?;
        let identifier = identifier_argument(&request.into_inner().identifier)?;
        if let Err(problem) = Identifier::parse(&identifier) {
            let problem = format!("identifier: {problem}");
            return Ok(Response::new(not_valid(identifier, vec![problem])));
        }
        let response = match self.find(&identifier).await? {
            Some(license) => self.describe(&license, Vec::new()).await?,
            None => not_issued_here(identifier, true),
        };
        self.record_check(checker.as_ref(), &response).await?;
        Ok(Response::new(response))
    }

    async fn verify_license_document(
        &self,
        request: Request<pb::VerifyLicenseDocumentRequest>,
    ) -> Result<Response<pb::VerifyLicenseResponse>, Status> {
        let checker = self.staff.optional(&request, Action::ReadCase)?;
        let response = match document_argument(request.into_inner().document)? {
            Document::LicenseJson(json) => self.verify_document(&json).await?,
            Document::QrPayload(text) => self.verify_qr(&text).await?,
        };
        self.record_check(checker.as_ref(), &response).await?;
        Ok(Response::new(response))
    }

    /// The license issued for the case, whatever its status now: a superseded license says so.
    async fn get_license_by_case(
        &self,
        request: Request<pb::GetLicenseByCaseRequest>,
    ) -> Result<Response<pb::VerifyLicenseResponse>, Status> {
        let staff = self.staff.require(&request, Action::ReadLicenses)?;
        let mut v = Violations::default();
        let case_number =
            grpc::case_number("case_number", &request.into_inner().case_number, &mut v);
        v.into_result()?;
        let found = license::Entity::find()
            .filter(license::Column::CaseNumber.eq(&case_number))
            .one(&self.db)
            .await
            .map_err(internal)?;
        let license =
            found.ok_or_else(|| Status::not_found("no license has been issued for this case"))?;
        let read = Entry::new(&case_number, &staff.id, staff.role.code(), "license.read").because(
            format!("license {} shown, holder masked", license.identifier),
        );
        residence_audit::record(&self.db, &read)
            .await
            .map_err(internal)?;
        Ok(Response::new(self.describe(&license, Vec::new()).await?))
    }

    async fn list_signing_keys(
        &self,
        _request: Request<pb::ListSigningKeysRequest>,
    ) -> Result<Response<pb::ListSigningKeysResponse>, Status> {
        let document = self.keys.document();
        let active = document.active_key_id.clone().unwrap_or_default();
        let keys = document
            .keys
            .iter()
            .map(|key| pb::SigningKey {
                key_id: key.kid.clone(),
                active: key.kid == active,
                public_key_pem: key.public_key_pem.clone(),
            })
            .collect();
        Ok(Response::new(pb::ListSigningKeysResponse {
            algorithm: document.algorithm.clone(),
            distinguishing_id: document.distinguishing_id.clone(),
            keys,
            key_document_json: serde_json::to_string_pretty(&document).map_err(internal)?,
        }))
    }

    async fn list_platform_problems(
        &self,
        request: Request<pb::ListPlatformProblemsRequest>,
    ) -> Result<Response<pb::ListPlatformProblemsResponse>, Status> {
        let staff = self.staff.require(&request, Action::ReadPlatformProblems)?;
        let mut v = Violations::default();
        let limit = grpc::list_limit(request.into_inner().limit, &mut v);
        v.into_result()?;
        let states = [message_state::REJECTED, message_state::UNACKNOWLEDGED];
        let rows = platform_message::Entity::find()
            .filter(platform_message::Column::State.is_in(states))
            .order_by_desc(platform_message::Column::UpdatedAt)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(internal)?;
        // A platform's reason may quote the holder's data: each listed case records the read.
        let cases: std::collections::BTreeSet<&str> =
            rows.iter().map(|row| row.case_number.as_str()).collect();
        for case_number in cases {
            let read = Entry::new(
                case_number,
                &staff.id,
                staff.role.code(),
                "license.problems_read",
            )
            .because("platform problems listed with their reasons");
            residence_audit::record(&self.db, &read)
                .await
                .map_err(internal)?;
        }
        let problems = rows.into_iter().map(to_problem).collect();
        Ok(Response::new(pb::ListPlatformProblemsResponse { problems }))
    }
}

impl ElicenseApi {
    /// Records in the license's case that someone checked it: the masked holder data was
    /// shown. A check that found no license on record names no case and records nothing.
    async fn record_check(
        &self,
        checker: Option<&Staff>,
        response: &pb::VerifyLicenseResponse,
    ) -> Result<(), Status> {
        if response.case_number.is_empty() {
            return Ok(());
        }
        let (actor, role) = match checker {
            Some(staff) => (staff.id.as_str(), staff.role.code()),
            None => (residence_audit::PUBLIC, residence_audit::PUBLIC),
        };
        let checked =
            Entry::new(&response.case_number, actor, role, "license.verified").because(format!(
                "license {} checked, holder masked; valid {}",
                response.identifier, response.valid
            ));
        residence_audit::record(&self.db, &checked)
            .await
            .map_err(internal)
    }

    async fn find(&self, identifier: &str) -> Result<Option<license::Model>, Status> {
        license::Entity::find_by_id(identifier.to_owned())
            .one(&self.db)
            .await
            .map_err(internal)
    }

    /// A presented license document: offline checks, then the record.
    async fn verify_document(&self, json: &str) -> Result<pb::VerifyLicenseResponse, Status> {
        let presented = match verify::parse_document(json.as_bytes()) {
            Ok(presented) => presented,
            Err(problem) => return Ok(not_a_document(&problem)),
        };
        let offline = verify::document(&presented, &self.keys);
        let Some(record) = self.find(&presented.license.identifier).await? else {
            return Ok(offline_only(&offline));
        };
        let mut problems = offline.problems();
        let unchanged = canonical::license(&presented.license)
            == canonical::license(&document::license_of(&record))
            && Some(&presented.signature) == document::signature_of(&record).as_ref();
        if !unchanged {
            problems.push("the document differs from the license on record".to_owned());
        }
        let mut response = self.describe(&record, problems).await?;
        response.check_character_valid = offline.check_character.is_ok();
        response.signature_valid &= offline.signature.is_ok();
        Ok(response)
    }

    /// A presented QR payload: offline checks, then the record.
    async fn verify_qr(&self, text: &str) -> Result<pb::VerifyLicenseResponse, Status> {
        let (claims, offline) = match verify::qr_payload(text, &self.keys) {
            Ok(checked) => checked,
            Err(problem) => {
                let problems = vec![format!("qr payload: {problem}")];
                return Ok(not_valid(String::new(), problems));
            }
        };
        let Some(record) = self.find(&claims.id).await? else {
            return Ok(offline_only(&offline));
        };
        let mut problems = offline.problems();
        if !describes(&claims, &record) {
            problems.push("the QR payload does not match the license on record".to_owned());
        }
        let mut response = self.describe(&record, problems).await?;
        response.check_character_valid = offline.check_character.is_ok();
        response.signature_valid &= offline.signature.is_ok();
        Ok(response)
    }

    /// A license as anyone holding its identifier may see it: the holder's data masked. The
    /// record's own signature is checked too, so a record changed behind the service's back
    /// does not verify.
    async fn describe(
        &self,
        license: &license::Model,
        mut problems: Vec<String>,
    ) -> Result<pb::VerifyLicenseResponse, Status> {
        let record = document::check_record(license, &self.keys);
        if let Err(problem) = &record {
            problems.push(format!("license on record: {problem}"));
        }
        let superseded_by = license::Entity::find()
            .filter(license::Column::Supersedes.eq(&license.identifier))
            .one(&self.db)
            .await
            .map_err(internal)?
            .map(|later| later.identifier)
            .unwrap_or_default();
        let issued = document::license_of(license);
        Ok(pb::VerifyLicenseResponse {
            valid: problems.is_empty(),
            problem: problems.join("; "),
            identifier: license.identifier.clone(),
            status: status_to_proto(&license.status) as i32,
            license_name: license.license_name.clone(),
            issuing_authority: license.issuing_authority.clone(),
            issued_on: license.issued_on.to_string(),
            valid_until: license.valid_until.to_string(),
            masked_holder_name: mask_name(&license.holder_name),
            masked_id_number: license.masked_id_number.clone(),
            version: issued.version,
            case_number: license.case_number.clone(),
            check_character_valid: Identifier::parse(&license.identifier).is_ok(),
            signature_valid: record.is_ok(),
            key_id: license.key_id.clone().unwrap_or_default(),
            license_type_code: issued.license_type_code,
            issuing_authority_code: license.issuer_code.clone(),
            valid_from: issued.valid_from.to_string(),
            supersedes: license.supersedes.clone().unwrap_or_default(),
            superseded_by,
            revoked_at: license.revoked_at.map(china_rfc3339).unwrap_or_default(),
            problems,
        })
    }
}

fn describes(claims: &QrClaims, record: &license::Model) -> bool {
    claims.describe(&document::license_of(record))
}

/// The identifier argument, trimmed and in capitals (identifiers hold no lower-case letters).
/// Text that cannot be typed from an identifier is a bad argument; text that merely is not a
/// well-formed identifier gets a "not valid" answer.
fn identifier_argument(value: &str) -> Result<String, Status> {
    let mut v = Violations::default();
    let value = validate::trim(value);
    let length = value.chars().count();
    if value.is_empty() {
        v.add("identifier", "must not be empty");
    } else if length > MAX_IDENTIFIER_LENGTH {
        v.add(
            "identifier",
            format!("must be at most {MAX_IDENTIFIER_LENGTH} characters, got {length}"),
        );
    } else if let Some(bad) = value
        .chars()
        .find(|c| validate::is_control_or_invisible(*c))
    {
        v.add(
            "identifier",
            format!(
                "must not contain control or invisible characters (found U+{:04X})",
                bad as u32
            ),
        );
    } else if validate::has_full_width_digit(value) {
        v.add("identifier", validate::HALF_WIDTH_DIGITS);
    }
    v.into_result()?;
    Ok(value.to_ascii_uppercase())
}

/// The presented document, bounded; it is checked exactly as sent, never trimmed.
fn document_argument(document: Option<Document>) -> Result<Document, Status> {
    let mut v = Violations::default();
    match &document {
        None => v.add("document", "set license_json or qr_payload"),
        Some(Document::LicenseJson(json)) if json.trim().is_empty() => {
            v.add("license_json", "must not be empty");
        }
        Some(Document::LicenseJson(json)) if json.len() > MAX_DOCUMENT_BYTES => v.add(
            "license_json",
            format!(
                "must be at most {MAX_DOCUMENT_BYTES} bytes, got {}",
                json.len()
            ),
        ),
        Some(Document::QrPayload(text)) if text.trim().is_empty() => {
            v.add("qr_payload", "must not be empty");
        }
        Some(Document::QrPayload(text)) if text.chars().count() > MAX_QR_LENGTH => v.add(
            "qr_payload",
            format!("must be at most {MAX_QR_LENGTH} characters"),
        ),
        Some(_) => {}
    }
    v.into_result()?;
    document.ok_or_else(|| Status::internal("document checked above"))
}

fn not_valid(identifier: String, problems: Vec<String>) -> pb::VerifyLicenseResponse {
    pb::VerifyLicenseResponse {
        valid: false,
        problem: problems.join("; "),
        identifier,
        problems,
        ..Default::default()
    }
}

fn not_issued_here(identifier: String, check_character_valid: bool) -> pb::VerifyLicenseResponse {
    pb::VerifyLicenseResponse {
        check_character_valid,
        ..not_valid(identifier, vec!["not issued here".to_owned()])
    }
}

fn not_a_document(problem: &DocumentError) -> pb::VerifyLicenseResponse {
    not_valid(String::new(), vec![problem.to_string()])
}

/// What the offline checks found about a license that was not issued here.
fn offline_only(offline: &Verification) -> pb::VerifyLicenseResponse {
    let mut problems = offline.problems();
    problems.push("not issued here".to_owned());
    pb::VerifyLicenseResponse {
        check_character_valid: offline.check_character.is_ok(),
        signature_valid: offline.signature.is_ok(),
        key_id: offline.key_id.clone(),
        ..not_valid(offline.identifier.clone(), problems)
    }
}

fn to_problem(row: platform_message::Model) -> pb::PlatformProblem {
    pb::PlatformProblem {
        identifier: row.identifier,
        case_number: row.case_number,
        action: row.action,
        state: row.state,
        platform: row.platform.unwrap_or_default(),
        reason: row.reason.unwrap_or_default(),
        sends: u32::try_from(row.sends).unwrap_or_default(),
        created_at: china_rfc3339(row.created_at),
        updated_at: china_rfc3339(row.updated_at),
    }
}

fn status_to_proto(code: &str) -> pb::LicenseStatus {
    match code {
        status::CURRENT => pb::LicenseStatus::Current,
        status::SUPERSEDED => pb::LicenseStatus::Superseded,
        status::REVOKED => pb::LicenseStatus::Revoked,
        _ => pb::LicenseStatus::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_trimmed_capitalised_and_bounded() {
        assert_eq!(
            identifier_argument(" 1.2.156.3005.2.ab ").unwrap(),
            "1.2.156.3005.2.AB"
        );
        let empty = identifier_argument("  ").unwrap_err();
        assert_eq!(empty.code(), tonic::Code::InvalidArgument);
        assert!(empty.message().contains("identifier"));
        let long = identifier_argument(&"1".repeat(129)).unwrap_err();
        assert_eq!(long.code(), tonic::Code::InvalidArgument);
        for bad in ["1.2.156\u{200B}.3005", "1.2.156\u{0}", "１.2.156.3005.2"] {
            let status = identifier_argument(bad).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn documents_must_be_given_and_bounded() {
        let field_of = |document| {
            document_argument(document)
                .unwrap_err()
                .message()
                .to_owned()
        };
        assert!(field_of(None).contains("document"));
        let empty = Some(Document::QrPayload(" ".to_owned()));
        assert!(field_of(empty).contains("qr_payload"));
        let huge = Some(Document::LicenseJson("x".repeat(MAX_DOCUMENT_BYTES + 1)));
        assert!(field_of(huge).contains("license_json"));
        let fine = Some(Document::QrPayload("RP1.a.b.c".to_owned()));
        assert!(document_argument(fine).is_ok());
    }
}
