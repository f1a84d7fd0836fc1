//! The e-license gRPC API: verifying a license and finding the license of a case.

use residence_proto::v1::{self as pb, elicense_service_server::ElicenseService};
use residence_runtime::grpc::{self, Violations, internal};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tonic::{Request, Response, Status};

use crate::entity::{license, status};
use crate::holder;
use crate::identifier::Identifier;

/// Longest identifier a caller may send.
const MAX_IDENTIFIER_LENGTH: usize = 128;

/// Serves `residence.v1.ElicenseService`.
#[derive(Debug, Clone)]
pub struct ElicenseApi {
    pub db: DatabaseConnection,
}

#[tonic::async_trait]
impl ElicenseService for ElicenseApi {
    async fn verify_license(
        &self,
        request: Request<pb::VerifyLicenseRequest>,
    ) -> Result<Response<pb::VerifyLicenseResponse>, Status> {
        let identifier = identifier_argument(&request.into_inner().identifier)?;
        if let Err(problem) = Identifier::parse(&identifier) {
            return Ok(Response::new(not_valid(identifier, problem.to_string())));
        }
        let found = license::Entity::find_by_id(identifier.clone())
            .one(&self.db)
            .await
            .map_err(internal)?;
        let response = match found {
            Some(license) => describe(&license),
            None => not_valid(identifier, "not issued here".to_owned()),
        };
        Ok(Response::new(response))
    }

    /// The license issued for the case, whatever its status now: a superseded license says so.
    async fn get_license_by_case(
        &self,
        request: Request<pb::GetLicenseByCaseRequest>,
    ) -> Result<Response<pb::VerifyLicenseResponse>, Status> {
        let mut v = Violations::default();
        let case_number =
            grpc::case_number("case_number", &request.into_inner().case_number, &mut v);
        v.into_result()?;
        let found = license::Entity::find()
            .filter(license::Column::CaseNumber.eq(&case_number))
            .one(&self.db)
            .await
            .map_err(internal)?;
        found
            .map(|license| Response::new(describe(&license)))
            .ok_or_else(|| Status::not_found("no license has been issued for this case"))
    }
}

/// The identifier argument, trimmed and in capitals (identifiers hold no lower-case letters).
fn identifier_argument(value: &str) -> Result<String, Status> {
    let mut v = Violations::default();
    let value = value.trim();
    if value.is_empty() {
        v.add("identifier", "must not be empty");
    } else if value.chars().count() > MAX_IDENTIFIER_LENGTH {
        v.add(
            "identifier",
            format!("must be at most {MAX_IDENTIFIER_LENGTH} characters"),
        );
    }
    v.into_result()?;
    Ok(value.to_ascii_uppercase())
}

fn not_valid(identifier: String, problem: String) -> pb::VerifyLicenseResponse {
    pb::VerifyLicenseResponse {
        valid: false,
        problem,
        identifier,
        ..Default::default()
    }
}

/// A license as anyone holding its identifier may see it: the holder's data masked.
fn describe(license: &license::Model) -> pb::VerifyLicenseResponse {
    pb::VerifyLicenseResponse {
        valid: true,
        problem: String::new(),
        identifier: license.identifier.clone(),
        status: status_to_proto(&license.status) as i32,
        license_name: license.license_name.clone(),
        issuing_authority: license.issuing_authority.clone(),
        issued_on: license.issued_on.to_string(),
        valid_until: license.valid_until.to_string(),
        masked_holder_name: holder::mask_name(&license.holder_name),
        masked_id_number: license.masked_id_number.clone(),
        version: u32::try_from(license.version).unwrap_or_default(),
        case_number: license.case_number.clone(),
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
    }
}
