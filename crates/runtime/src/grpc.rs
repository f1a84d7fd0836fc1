//! The gRPC edge: field-level validation errors, health and reflection, and serving until
//! shutdown.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic_health::server::HealthReporter;
use tonic_types::{ErrorDetails, StatusExt};

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

    /// `Ok` when nothing was wrong, else `INVALID_ARGUMENT` listing every field.
    pub fn into_result(self) -> Result<(), Status> {
        if self.fields.is_empty() {
            return Ok(());
        }
        let summary: Vec<String> = self
            .fields
            .iter()
            .map(|(field, reason)| format!("{field}: {reason}"))
            .collect();
        let mut details = ErrorDetails::new();
        for (field, reason) in &self.fields {
            details.add_bad_request_violation(field.clone(), reason.clone());
        }
        Err(Status::with_error_details(
            tonic::Code::InvalidArgument,
            format!("invalid request: {}", summary.join("; ")),
            details,
        ))
    }
}

/// Health service reporting the service named `name` as serving, and the reporter to change
/// that.
pub async fn health(
    name: &str,
) -> (
    HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (reporter, server) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(name, tonic_health::ServingStatus::Serving)
        .await;
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

/// A case number argument: non-empty, at most 64 ASCII letters and digits and '-'.
pub fn case_number(field: &str, value: &str, violations: &mut Violations) -> String {
    let value = value.trim();
    if value.is_empty() {
        violations.add(field, "must not be empty");
    } else if value.len() > 64
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
