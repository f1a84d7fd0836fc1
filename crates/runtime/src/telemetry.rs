//! Logging and tracing: structured logs on standard error and OpenTelemetry spans whose W3C
//! trace context travels in gRPC metadata and NATS headers.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// Keeps the tracer provider alive; flushes and exports the spans in hand when dropped.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Nothing useful can be done with a flush error while exiting.
        let _ = self.provider.shutdown();
    }
}

/// Log filter when `RUST_LOG` is not set: our state changes at info, chatty dependencies quiet.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,\
async_nats=warn,h2=warn,hyper=warn,tower=warn";

/// Spans recorded for tracing; kept separate from the log filter so that a quiet log level never
/// switches off the spans that carry trace context.
const SPAN_FILTER: &str = "info,sqlx=off,sea_orm=off,h2=off,hyper=off,tower=off";

/// Where to export spans: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT`; none (no export) when neither is set or `OTEL_SDK_DISABLED`
/// is `true`. `variable` reads one environment variable.
fn otlp_endpoint(variable: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| variable(name).filter(|value| !value.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// An OTLP/gRPC span exporter to `endpoint` (`http://host:4317`). It reads the other standard
/// `OTEL_EXPORTER_OTLP_*` variables (timeout, headers, compression) itself.
fn otlp_exporter(endpoint: &str) -> anyhow::Result<opentelemetry_otlp::SpanExporter> {
    use opentelemetry_otlp::WithExportConfig;

    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|error| anyhow::anyhow!("cannot export spans to {endpoint}: {error}"))
}

/// Installs the global subscriber and propagator for `service`, exporting its spans over
/// OTLP/gRPC in batches when an OTLP endpoint is configured (see [`otlp_endpoint`]); the
/// batch in hand is sent when the returned [`Telemetry`] is dropped.
pub fn init(service: &str, format: LogFormat) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_owned());
    let mut provider = SdkTracerProvider::builder().with_resource(resource.build());
    if let Some(endpoint) = otlp_endpoint(|name| std::env::var(name).ok()) {
        provider = provider.with_batch_exporter(otlp_exporter(&endpoint)?);
    }
    let provider = provider.build();
    let tracer = provider.tracer(service.to_owned());

    let log_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(EnvFilter::new(SPAN_FILTER));
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()?;
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(variables: &[(&str, &str)]) -> Option<String> {
        otlp_endpoint(|name| {
            variables
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn spans_are_exported_only_when_an_endpoint_is_set() {
        assert_eq!(endpoint(&[]), None);
        assert_eq!(endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
        let general = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        assert_eq!(
            endpoint(&[general]).as_deref(),
            Some("http://127.0.0.1:4317")
        );
        let traces = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9");
        assert_eq!(
            endpoint(&[general, traces]).as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(endpoint(&[general, ("OTEL_SDK_DISABLED", "true")]), None);
    }
}
