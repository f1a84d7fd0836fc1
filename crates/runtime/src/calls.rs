//! Every gRPC call across a service's edge: on the server, a span that continues the caller's
//! trace (W3C `traceparent` in the request metadata) and the call's metrics; on the client,
//! the current trace context put into the request metadata.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::propagation::{Extractor, Injector};
use tonic::codegen::http;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The layer that wraps a gRPC server in [`TracedCall`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TracedCallLayer;

impl<S> tower::Layer<S> for TracedCallLayer {
    type Service = TracedCall<S>;

    fn layer(&self, inner: S) -> TracedCall<S> {
        TracedCall { inner }
    }
}

/// Runs each call in a server span whose parent is the caller's trace context, and counts it
/// by method and status code.
#[derive(Clone, Debug)]
pub struct TracedCall<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for TracedCall<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let span = server_span(&method, request.headers());
        let started = Instant::now();
        let answered = self.inner.call(request);
        let call = async move {
            let response = answered.await;
            let code = match &response {
                Ok(response) => status_code(response.headers()),
                Err(_) => tonic::Code::Unknown,
            };
            tracing::Span::current().record("rpc.grpc.status_code", code as i32);
            record(&method, code, started);
            response
        };
        Box::pin(call.instrument(span))
    }
}

/// The span of one call: `residence.v1.IntakeService/SubmitApplication`, a child of the
/// caller's span when the metadata carries one. Health checks and reflection get none.
fn server_span(method: &str, headers: &http::HeaderMap) -> tracing::Span {
    let name = method.trim_start_matches('/');
    if name.starts_with("grpc.") {
        return tracing::Span::none();
    }
    let (service, rpc) = name.split_once('/').unwrap_or((name, ""));
    let span = tracing::info_span!(
        "grpc call",
        otel.name = name,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = rpc,
        rpc.grpc.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HttpHeaders(headers))
    });
    // A span that is not recorded has no parent to set.
    let _ = span.set_parent(parent);
    span
}

/// The status in the response headers (a call refused before any message: "trailers only"),
/// else `OK`; a failure after a response message (none of our unary APIs) counts as `OK`.
fn status_code(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

fn record(method: &str, code: tonic::Code, started: Instant) {
    let metrics = residence_metrics::global();
    // Unknown methods are whatever a caller typed: one label for all of them.
    let method = if code == tonic::Code::Unimplemented {
        "unknown"
    } else {
        method
    };
    let code = code_name(code);
    metrics
        .grpc_requests
        .with_label_values(&[method, code])
        .inc();
    if code != "OK" {
        metrics.grpc_errors.with_label_values(&[method, code]).inc();
    }
    metrics
        .grpc_duration
        .with_label_values(&[method])
        .observe(started.elapsed().as_secs_f64());
}

/// The canonical name of a status code, as gRPC documents it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Puts the current span's trace context into `metadata`, so the server's span continues it.
pub fn inject_trace_context(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut Metadata(metadata));
    });
}

/// A client interceptor that sends the current trace context with every call:
/// `IntakeServiceClient::with_interceptor(channel, TraceContext)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContext;

impl tonic::service::Interceptor for TraceContext {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_trace_context(request.metadata_mut());
        Ok(request)
    }
}

struct HttpHeaders<'a>(&'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

struct Metadata<'a>(&'a mut MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        let key = MetadataKey::from_bytes(key.as_bytes());
        let value = MetadataValue::try_from(value.as_str());
        if let (Ok(key), Ok(value)) = (key, value) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt;

    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_status_comes_from_trailers_only_responses() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_code(&headers), tonic::Code::Ok);
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        assert_eq!(status_code(&headers), tonic::Code::InvalidArgument);
        assert_eq!(code_name(status_code(&headers)), "INVALID_ARGUMENT");
    }

    #[test]
    fn the_trace_context_travels_in_metadata() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
        let context = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HttpHeaders(&headers))
        });
        let remote = context.span().span_context().clone();
        assert_eq!(
            remote.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );

        let mut metadata = MetadataMap::new();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut Metadata(&mut metadata));
        });
        let sent = metadata.get("traceparent").and_then(|v| v.to_str().ok());
        assert_eq!(sent, Some(TRACEPARENT));
    }
}
