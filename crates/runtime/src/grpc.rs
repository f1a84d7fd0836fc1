//! The gRPC edge: field-level validation errors, health and reflection, and serving until
//! shutdown.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic_health::server::HealthReporter;
use tonic_types::{ErrorDetails, StatusExt};

use crate::validate;

/// The largest request message any API accepts, in bytes. The largest valid request, an
/// application with 32 materials and every text at its longest, needs under 20 KiB; a larger
/// message is refused before it is decoded, with `OUT_OF_RANGE` (tonic's code for it, which
/// carries no field details).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The most bytes of field names and reasons one `INVALID_ARGUMENT` carries. The details
/// travel base64-encoded in the HTTP/2 trailers, which clients cap (16 KiB in hyper and so in
/// tonic); the worst request the APIs can be sent, 32 materials each bad twice and every other
/// field bad too, stays within it.
pub const MAX_DETAIL_BYTES: usize = 8 * 1024;

/// How often a server pings a connection that has been quiet, and how long it waits for the
/// answer before it closes the connection.
pub const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
pub const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Roughly what protobuf adds around each violation's field and reason.
const VIOLATION_OVERHEAD_BYTES: usize = 8;

/// How many violations the status message quotes; the details list them all.
const MESSAGE_VIOLATIONS: usize = 5;

/// The longest case number an argument may hold.
const MAX_CASE_NUMBER_LENGTH: usize = 64;

/// Field violations collected while validating one request.
#[derive(Debug, Default)]
pub struct Violations {
    fields: Vec<(String, String)>,
}

impl Violations {
    /// Records that `field` is invalid for `reason`.
    pub fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.fields.push((field.into(), reason.into()));
    }

    /// Whether nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `Ok` when nothing was wrong, else `INVALID_ARGUMENT` with a BadRequest detail listing
    /// every field (within [`MAX_DETAIL_BYTES`]) and a message quoting the first few.
    pub fn into_result(self) -> Result<(), Status> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let mut details = ErrorDetails::new();
        let mut budget = MAX_DETAIL_BYTES;
        let mut listed = 0;
        for (field, reason) in &self.fields {
            let size = field.len() + reason.len() + VIOLATION_OVERHEAD_BYTES;
            let Some(left) = budget.checked_sub(size) else {
                break;
            };
            budget = left;
            details.add_bad_request_violation(field.clone(), reason.clone());
            listed += 1;
        }
        Err(Status::with_error_details(
            tonic::Code::InvalidArgument,
            self.summary(listed),
            details,
        ))
    }

    /// "invalid request: " and the first few violations, saying how many more there are.
    fn summary(&self, listed: usize) -> String {
        let quoted: Vec<String> = self
            .fields
            .iter()
            .take(MESSAGE_VIOLATIONS)
            .map(|(field, reason)| format!("{field}: {reason}"))
            .collect();
        let mut message = format!("invalid request: {}", quoted.join("; "));
        let more = self.fields.len() - quoted.len();
        if more > 0 {
            message.push_str(&format!("; and {more} more in the details"));
        }
        let unlisted = self.fields.len() - listed;
        if unlisted > 0 {
            message.push_str(&format!(" ({unlisted} left out: too many to send)"));
        }
        message
    }
}

/// Health service reporting the services named in `names` as serving, and the reporter to change
/// that.
pub async fn health(
    names: &[&str],
) -> (
    HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (reporter, server) = tonic_health::server::health_reporter();
    for name in names {
        reporter
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    (reporter, server)
}

/// Server reflection over every `residence.v1` service.
pub fn reflection() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(residence_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?)
}

/// Binds `addr` (before anything else starts listening, so a taken port fails start-up).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {addr}: {error}"))
}

/// The future that resolves when the server should stop accepting calls.
pub fn until(shutdown: &CancellationToken) -> impl Future<Output = ()> + use<> {
    let token = shutdown.clone();
    async move { token.cancelled().await }
}

/// Maps a database error at the API edge: logged once here, `UNAVAILABLE` to the caller.
pub fn internal(error: impl std::fmt::Display) -> Status {
    tracing::error!(%error, "request failed");
    Status::unavailable("the service could not complete the request; retry later")
}

/// Rows a list call returns when its `limit` is 0.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

/// The most rows a list call returns; a larger `limit` is refused.
pub const MAX_LIST_LIMIT: u32 = 500;

/// A list call's `limit`: 0 means [`DEFAULT_LIST_LIMIT`], more than [`MAX_LIST_LIMIT`] is a
/// violation.
pub fn list_limit(requested: u32, violations: &mut Violations) -> u32 {
    if requested > MAX_LIST_LIMIT {
        violations.add(
            "limit",
            format!("must be at most {MAX_LIST_LIMIT}, got {requested}"),
        );
    }
    if requested == 0 {
        DEFAULT_LIST_LIMIT
    } else {
        requested.min(MAX_LIST_LIMIT)
    }
}

/// An `area_code` argument: empty (the caller's whole scope), or a 6-digit county or 9-digit
/// town code.
pub fn area_code(value: &str, violations: &mut Violations) -> Option<residence_staff::Scope> {
    let value = validate::trim(value);
    if value.is_empty() {
        return None;
    }
    residence_staff::Scope::parse(value)
        .map_err(|error| violations.add("area_code", error.to_string()))
        .ok()
}

/// The area and row limit of a staff list call: the `area_code` asked for, else the whole
/// scope of the caller's token, which must cover it; and the `limit`. Both are checked
/// together.
pub fn list_scope(
    staff: &residence_staff::Staff,
    area_code: &str,
    limit: u32,
) -> Result<(residence_staff::Scope, u32), Status> {
    let mut violations = Violations::default();
    let area = self::area_code(area_code, &mut violations);
    let limit = list_limit(limit, &mut violations);
    violations.into_result()?;
    let area = area.unwrap_or_else(|| staff.scope.clone());
    staff.require_area(area.as_str())?;
    Ok((area, limit))
}

/// A case number argument: non-empty, at most 64 half-width letters, digits and '-'.
pub fn case_number(field: &str, value: &str, violations: &mut Violations) -> String {
    let value = validate::trim(value);
    if value.is_empty() {
        violations.add(field, "must not be empty");
    } else if validate::has_full_width_digit(value) {
        violations.add(field, validate::HALF_WIDTH_DIGITS);
    } else if value.len() > MAX_CASE_NUMBER_LENGTH
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        violations.add(
            field,
            "must be a case number: up to 64 letters, digits and '-'",
        );
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(violations: Violations) -> Status {
        violations.into_result().unwrap_err()
    }

    #[test]
    fn list_arguments_default_and_cap_and_name_their_field() {
        let mut v = Violations::default();
        assert_eq!(area_code("", &mut v), None);
        assert_eq!(
            area_code(" 412824101 ", &mut v).map(|scope| scope.as_str().to_owned()),
            Some("412824101".to_owned())
        );
        assert_eq!(list_limit(0, &mut v), DEFAULT_LIST_LIMIT);
        assert_eq!(list_limit(7, &mut v), 7);
        assert_eq!(list_limit(MAX_LIST_LIMIT, &mut v), MAX_LIST_LIMIT);
        assert!(v.is_empty());
        area_code("西平县", &mut v);
        assert_eq!(list_limit(501, &mut v), MAX_LIST_LIMIT);
        let message = refused(v).message().to_owned();
        assert!(message.contains("area_code"), "{message}");
        assert!(message.contains("limit: must be at most 500"), "{message}");
    }

    #[test]
    fn every_field_is_in_the_details_and_the_first_few_in_the_message() {
        let mut violations = Violations::default();
        for index in 0..8 {
            violations.add(format!("materials[{index}].kind"), "unknown value 99");
        }
        let status = refused(violations);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let listed = &details.bad_request().unwrap().field_violations;
        assert_eq!(listed.len(), 8);
        assert!(status.message().contains("materials[4].kind"));
        assert!(!status.message().contains("materials[5].kind"));
        assert!(status.message().ends_with("and 3 more in the details"));
    }

    #[test]
    fn an_error_with_very_many_fields_still_fits_in_the_trailers() {
        let mut violations = Violations::default();
        for index in 0..1_000 {
            violations.add(
                format!("materials[{index}].reference"),
                "must not contain control or invisible characters (found U+0000)",
            );
        }
        let status = refused(violations);
        let mut trailers = tonic::codegen::http::HeaderMap::new();
        status.add_header(&mut trailers).unwrap();
        // How HTTP/2 counts a header list against the peer's limit.
        let size: usize = trailers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        assert!(size < 14 * 1024, "{size} bytes of trailers");
        let listed = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .len();
        assert!(listed > 64, "{listed}");
        assert!(
            status
                .message()
                .contains(&format!("{} left out", 1_000 - listed))
        );
    }
}
